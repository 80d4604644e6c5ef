"""MAT v7.3 reader: threshold crossings detected on a multi-unit activity array (papale).

``ALLMUA`` is ``(samples, trials, electrodes)`` as h5py sees it (MATLAB's
``electrodes x trials x samples``), 1 kHz, 300 samples per trial. Per trial and
electrode the threshold is ``mean + threshold_sd * SD`` of that trial's samples;
an event sits at sample ``t`` when ``t`` is above the threshold and ``t + 1`` is
not (the last supra-threshold sample of an excursion); events are counted per
``samples_per_bin`` samples.

Trials are laid end to end (fix ``papale-trials-end-to-end``; the published
corpus interleaved them bin-major). The array (31 GB per monkey) is never
loaded whole: each block reads the hyperslab of its own trials.
"""

from __future__ import annotations

import os

import numpy as np

from neuralbench.binning import COUNT_DTYPE
from neuralbench.errors import ReaderError
from neuralbench.readers._h5 import get_node, open_h5
from neuralbench.readers._trials import READ_BYTES, trial_columns, trials_source
from neuralbench.readers.base import Reader, SessionSource, reader_call, unit_coord

__all__ = ["MatMuaThresholdReader", "mua_events"]

_READ_BYTES = READ_BYTES  # raw MUA read per step inside a block (tests lower it)


def mua_events(mua: np.ndarray, threshold_sd: float, samples_per_bin: int) -> np.ndarray:
    """``(samples, trials, electrodes)`` MUA to ``(electrodes, trials * bins)`` event counts.

    Mean and SD (ddof 0) are taken per trial and electrode in float64; samples of
    a trailing partial bin are dropped.
    """
    x = np.asarray(mua, dtype=np.float64)
    n_samples, n_trials, n_elec = x.shape
    threshold = x.mean(axis=0) + threshold_sd * x.std(axis=0)
    above = x > threshold
    events = above[:-1] & ~above[1:]  # event at t: t above, t + 1 not
    n_bins = n_samples // samples_per_bin
    full = np.zeros((n_bins * samples_per_bin, n_trials, n_elec), dtype=bool)
    usable = min(events.shape[0], full.shape[0])
    full[:usable] = events[:usable]
    counts = full.reshape(n_bins, samples_per_bin, n_trials, n_elec).sum(axis=1, dtype=np.int64)
    return counts.transpose(2, 1, 0).reshape(n_elec, n_trials * n_bins).astype(COUNT_DTYPE)


class MatMuaThresholdReader(Reader):
    """Threshold crossings of a MAT v7.3 ``(samples, trials, electrodes)`` MUA array."""

    name = "mat-mua-threshold"
    description = "MAT v7.3 MUA per trial: mean + k*SD threshold crossings, trials end to end"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str = "ALLMUA",
        threshold_sd: float = 3.5,
        samples_per_bin: int = 20,
        native_bin_s: float = 0.001,
    ) -> SessionSource:
        """Describe the session; only the array's shape is read here."""
        path = os.fspath(path)
        with open_h5(path) as f:
            data = get_node(f, variable, f"variable {variable!r}")
            shape, dtype = data.shape, data.dtype
        if len(shape) != 3:
            raise ReaderError(path, f"{variable} has shape {shape}, expected (samples, trials, electrodes)")
        if dtype.kind not in "fiu":
            raise ReaderError(path, f"{variable} has dtype {dtype}, not MUA values")
        n_samples, n_trials, n_elec = shape
        per_trial = n_samples // samples_per_bin
        if per_trial == 0:
            raise ReaderError(path, f"{variable}: {n_samples} samples, not one bin of {samples_per_bin}")
        block = reader_call(
            _mua_block,
            path,
            variable,
            threshold_sd=threshold_sd,
            samples_per_bin=samples_per_bin,
            per_trial=per_trial,
        )
        return trials_source(
            block,
            path,
            n_elec,
            n_trials,
            per_trial,
            bin_size_s=samples_per_bin * native_bin_s,
            native_bin_s=native_bin_s,
            name=f"mua-{path}",
            extra_attrs={"threshold_sd": threshold_sd},
            unit=unit_coord(np.arange(1, n_elec + 1), f"electrode: index into {variable} (MATLAB, 1-based)"),
        )


def _mua_block(
    path: str,
    variable: str,
    start: int,
    stop: int,
    *,
    threshold_sd: float,
    samples_per_bin: int,
    per_trial: int,
) -> np.ndarray:
    """Counts of bins ``[start, stop)``, from per-trial hyperslabs a few MiB at a time."""
    with open_h5(path) as f:
        data = get_node(f, variable, f"variable {variable!r}")
        trial_bytes = max(data.shape[0] * data.shape[2] * data.dtype.itemsize, 1)
        return trial_columns(
            lambda t0, t1: mua_events(data[:, t0:t1, :], threshold_sd, samples_per_bin),
            start,
            stop,
            per_trial=per_trial,
            trials_per_step=_READ_BYTES // trial_bytes,
        )
