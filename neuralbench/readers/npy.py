"""NPY reader: firing rates per trial (trials, units, 1 ms samples) turned into counts.

The published wojcik recipe: average each run of ``samples_per_bin`` samples, lay
the trials end to end (trial-major), and take ``ceil(count_scale * mean rate)`` as
the count of the bin. We keep that transform exactly (same dtype, same operation
order); negative rates give 0 instead of wrapping around (fix
``rates-negative-to-zero``).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from neuralbench.binning import COUNT_DTYPE
from neuralbench.errors import ReaderError
from neuralbench.readers._trials import READ_BYTES, trial_columns, trials_source
from neuralbench.readers.base import Reader, SessionSource, reader_call

__all__ = ["NpyRatesReader", "rates_to_counts"]

logger = logging.getLogger(__name__)


def rates_to_counts(rates: np.ndarray, samples_per_bin: int, count_scale: float) -> np.ndarray:
    """``(trials, units, samples)`` rates to ``(units, trials * bins)`` counts.

    The trailing partial bin of each trial is dropped; NaN and negative results
    become 0 and counts are clipped to :data:`COUNT_DTYPE`.
    """
    n_trials, n_units, n_samples = rates.shape
    n_bins = n_samples // samples_per_bin
    x = rates[:, :, : n_bins * samples_per_bin]
    mean = x.reshape(n_trials, n_units, n_bins, samples_per_bin).mean(axis=-1)
    mean = mean.transpose(1, 0, 2).reshape(n_units, n_trials * n_bins)
    counts = np.ceil(count_scale * mean)
    counts = np.nan_to_num(counts, nan=0.0, posinf=np.iinfo(COUNT_DTYPE).max, neginf=0.0)
    return np.clip(counts, 0, np.iinfo(COUNT_DTYPE).max).astype(COUNT_DTYPE)


def _load(path: str) -> np.ndarray:
    """The array memory-mapped (only its header is read), or a ReaderError."""
    if not os.path.exists(path):
        raise ReaderError(path, "file does not exist")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ReaderError(path, f"not a readable .npy file ({exc})") from exc
    if arr.ndim != 3:
        raise ReaderError(path, f"array has shape {arr.shape}, expected (trials, units, samples)")
    if arr.dtype.kind not in "fiu":
        raise ReaderError(path, f"array has dtype {arr.dtype}, not rates")
    return arr


class NpyRatesReader(Reader):
    """A ``(trials, units, samples)`` array of firing rates at 1 ms, as counts per bin."""

    name = "npy-rates"
    description = "NPY firing rates per trial: mean per bin, ceil(scale * rate), trials end to end"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        samples_per_bin: int = 20,
        count_scale: float = 0.02,
        native_bin_s: float = 0.001,
    ) -> SessionSource:
        """Describe the session; only the header is read here."""
        path = os.fspath(path)
        arr = _load(path)
        n_trials, n_units, n_samples = arr.shape
        per_trial = n_samples // samples_per_bin
        if per_trial == 0:
            raise ReaderError(path, f"{n_samples} samples per trial: not one bin of {samples_per_bin}")
        if n_samples % samples_per_bin:
            logger.warning("%s: last %d samples of each trial dropped", path, n_samples % samples_per_bin)
        block = reader_call(
            _rates_block,
            path,
            samples_per_bin=samples_per_bin,
            count_scale=count_scale,
            per_trial=per_trial,
        )
        return trials_source(
            block,
            path,
            n_units,
            n_trials,
            per_trial,
            bin_size_s=samples_per_bin * native_bin_s,
            native_bin_s=native_bin_s,
            name=f"npy-{path}",
        )


def _rates_block(
    path: str, start: int, stop: int, *, samples_per_bin: int, count_scale: float, per_trial: int
) -> np.ndarray:
    """Counts of bins ``[start, stop)``: whole trials are read a few MiB at a time."""
    arr = _load(path)
    trial_bytes = max(arr.shape[1] * arr.shape[2] * arr.dtype.itemsize, 1)
    return trial_columns(
        lambda t0, t1: rates_to_counts(np.asarray(arr[t0:t1]), samples_per_bin, count_scale),
        start,
        stop,
        per_trial=per_trial,
        trials_per_step=READ_BYTES // trial_bytes,
    )
