"""MAT v5 reader: one spike-time variable per channel, ``Spk_000a_sh`` ... (lanzarini).

Published binning, kept: ``n_bins = ceil(max spike time / w)`` (max over channels,
at least 0), bin index ``trunc(t / w)``, indices ``>= n_bins`` dropped (so a last
spike exactly on ``n_bins * w`` is lost). A missing variable is a silent channel.
Fixes: negative times are dropped instead of wrapping to the end of the row
(``lanzarini-drop-negative-times``), and a column vector counts whole (published
took its first element only; ``lanzarini-column-vectors-whole``).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from neuralbench.binning import COUNT_DTYPE
from neuralbench.errors import ReaderError
from neuralbench.readers._mat5 import read_mat5
from neuralbench.readers.base import Reader, SessionSource, reader_call, unit_coord

__all__ = ["MatSpikeVarsReader", "read_spike_vars"]

logger = logging.getLogger(__name__)


def read_spike_vars(path: str, name_format: str, n_channels: int) -> list[np.ndarray]:
    """Spike times of each channel (empty where the variable is missing)."""
    names = [name_format.format(i) for i in range(n_channels)]
    content = read_mat5(path, names)
    trains = []
    for name in names:
        value = content.get(name)
        if value is None:
            trains.append(np.empty(0))
            continue
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 2 and value.shape[0] > 1 and value.shape[1] > 1:
            value = value[0]  # a matrix: its first row, as published
        trains.append(value.ravel())
    if all(t.size == 0 for t in trains):
        raise ReaderError(path, f"no variable {name_format.format(0)!r} ... holds spikes")
    missing = sum(n not in content for n in names)
    if missing:
        logger.warning("%s: %d of %d channel variables missing", path, missing, n_channels)
    return trains


def trunc_bins(trains: list[np.ndarray], bin_size_s: float, n_bins: int, start: int, stop: int) -> np.ndarray:
    """Counts of bins ``[start, stop)`` by truncation ``int(t / w)``; negative times dropped."""
    out = np.zeros((len(trains), stop - start), dtype=np.int64)
    for ch, t in enumerate(trains):
        t = t[np.isfinite(t) & (t >= 0)]
        idx = (t / bin_size_s).astype(np.int64)
        idx = idx[(idx >= start) & (idx < min(stop, n_bins))] - start
        out[ch] = np.bincount(idx, minlength=stop - start)
    return np.minimum(out, np.iinfo(COUNT_DTYPE).max).astype(COUNT_DTYPE)


class MatSpikeVarsReader(Reader):
    """Spike times stored as one MAT v5 variable per channel."""

    name = "mat-spike-vars"
    description = "MAT v5 spike-time variable per channel, binned by truncation from t = 0"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        name_format: str = "Spk_{:03d}a_sh",
        n_channels: int = 128,
        bin_size_s: float = 0.02,
    ) -> SessionSource:
        """Read the spike times once to size the session; blocks re-read the (small) file."""
        path = os.fspath(path)
        trains = read_spike_vars(path, name_format, n_channels)
        finite = [t[np.isfinite(t)] for t in trains]
        max_time = max([0.0] + [float(t.max()) for t in finite if t.size])
        n_bins = math.ceil(max_time / bin_size_s)
        if n_bins == 0:
            raise ReaderError(path, "no spike after t = 0")
        read = reader_call(
            _vars_block,
            path,
            name_format=name_format,
            n_channels=n_channels,
            bin_size_s=bin_size_s,
            n_bins=n_bins,
        )
        unit = unit_coord(
            [name_format.format(i) for i in range(n_channels)], "MAT variable of the channel's spike times"
        )
        n_negative = int(sum(int((t < 0).sum()) for t in finite))
        return SessionSource(
            path=path,
            name=f"spkvars-{path}",
            n_units=n_channels,
            n_bins=n_bins,
            t0_s=0.0,
            bin_size_s=bin_size_s,
            read=read,
            unit=unit,
            attrs={"n_negative_spikes": n_negative},
        )


def _vars_block(
    path: str,
    start: int,
    stop: int,
    *,
    name_format: str,
    n_channels: int,
    bin_size_s: float,
    n_bins: int,
) -> np.ndarray:
    trains = read_spike_vars(path, name_format, n_channels)
    return trunc_bins(trains, bin_size_s, n_bins, start, stop)
