"""MAT v7.3 reader: a cell array of spike-time vectors, one multi-unit train per channel (makin).

``spikes`` is a MATLAB ``channels x units`` cell (h5py: ``(units, channels)`` of
object references). Every non-empty cell of a channel (unsorted "hash" unit and
sorted units alike) joins that channel's train; MATLAB's empty cells come back as
1-D placeholders and are skipped, as in the published build. Rows are all
channels, silent ones included. Binning is the units-table histogram, from the
first spike of the session by default (published makin semantics).
"""

from __future__ import annotations

import os

import numpy as np

from neuralbench.binning import bin_spike_times, count_bins
from neuralbench.errors import ReaderError
from neuralbench.readers._h5 import get_node, open_h5
from neuralbench.readers.base import Reader, SessionSource, reader_call, unit_coord

__all__ = ["MatChannelTrainsReader", "read_channel_trains"]


def read_channel_trains(path: str, variable: str) -> tuple[np.ndarray, np.ndarray, int]:
    """All spike times of the file with the channel each belongs to, and the channel count."""
    with open_h5(path) as f:
        cells = get_node(f, variable, f"cell array {variable!r}")
        if cells.ndim != 2 or cells.dtype.kind != "O":
            raise ReaderError(path, f"{variable} is not a 2-D cell array (dtype {cells.dtype})")
        refs = cells[()]
        n_channels = refs.shape[1]
        times, owners = [], []
        for ch in range(n_channels):
            for slot in range(refs.shape[0]):
                try:
                    obj = f[refs[slot, ch]]
                except (ValueError, KeyError, OSError) as exc:
                    raise ReaderError(path, f"{variable}[{slot}, {ch}] is a broken reference") from exc
                if obj.ndim != 2:  # MATLAB empty cell
                    continue
                t = np.asarray(obj[()], dtype=np.float64).ravel()
                times.append(t)
                owners.append(np.full(t.size, ch, dtype=np.int64))
    if not times:
        return np.empty(0), np.empty(0, dtype=np.int64), n_channels
    return np.concatenate(times), np.concatenate(owners), n_channels


class MatChannelTrainsReader(Reader):
    """Per-channel multi-unit spike trains from a MAT v7.3 cell array, binned like a units table."""

    name = "mat-channel-trains"
    description = "MAT v7.3 cell of spike-time vectors per channel and unit, merged per channel"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str = "spikes",
        time_origin: str = "first_spike",
        bin_size_s: float = 0.02,
    ) -> SessionSource:
        """Read the trains once to size the session; blocks re-read them (files are small)."""
        path = os.fspath(path)
        if time_origin not in ("zero", "first_spike"):
            raise ReaderError(path, f"unknown time_origin {time_origin!r}")
        times, _, n_channels = read_channel_trains(path, variable)
        finite = times[np.isfinite(times)]
        if finite.size == 0:
            raise ReaderError(path, f"{variable} holds no spike times")
        t0 = 0.0 if time_origin == "zero" else float(finite.min())
        n_bins = count_bins(t0, float(finite.max()), bin_size_s)
        return SessionSource(
            path=path,
            name=f"trains-{path}",
            n_units=n_channels,
            n_bins=n_bins,
            t0_s=t0,
            bin_size_s=bin_size_s,
            read=reader_call(_trains_block, path, variable, t0=t0, bin_size_s=bin_size_s, n_bins=n_bins),
            unit=unit_coord(np.arange(1, n_channels + 1), f"channel: row of {variable} (MATLAB, 1-based)"),
            attrs={"n_nan_spikes": int(times.size - finite.size)},
        )


def _trains_block(
    path: str, variable: str, start: int, stop: int, *, t0: float, bin_size_s: float, n_bins: int
) -> np.ndarray:
    times, owners, n_channels = read_channel_trains(path, variable)
    keep = np.isfinite(times)
    return bin_spike_times(
        times[keep],
        owners[keep],
        n_channels,
        t0=t0,
        bin_size_s=bin_size_s,
        n_bins=n_bins,
        start=start,
        stop=stop,
    )
