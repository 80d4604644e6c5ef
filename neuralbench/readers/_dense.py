"""Dense count arrays (NWB TimeSeries, MAT variables): checked, transposed and rebinned by block."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from neuralbench.binning import COUNT_DTYPE, rebin_dense
from neuralbench.errors import ReaderError
from neuralbench.readers._h5 import get_node, open_h5
from neuralbench.readers._mat5 import load_mat5_variable
from neuralbench.readers.base import Reader, SessionSource, reader_call

__all__ = ["DenseReader", "check_counts", "rebin_factor"]

_READ_BYTES = 2 << 20  # raw samples read per step inside a block


def rebin_factor(path: str, native_bin_s: float, bin_size_s: float) -> int:
    """How many native samples make one output bin; it must be a whole number."""
    ratio = bin_size_s / native_bin_s
    factor = round(ratio)
    if factor < 1 or not math.isclose(ratio, factor, rel_tol=1e-9):
        raise ReaderError(path, f"bin width {bin_size_s} s is not a multiple of the native {native_bin_s} s")
    return factor


def check_counts(path: str, what: str, values: np.ndarray) -> np.ndarray:
    """Counts must be non-negative whole numbers; float arrays holding such values are accepted."""
    kind = values.dtype.kind
    if kind == "b":
        return values.astype(np.uint8)
    if kind in "iu":
        if kind == "i" and values.size and values.min() < 0:
            raise ReaderError(path, f"{what} holds negative counts (min {values.min()})")
        return values
    if kind == "f":
        if values.size and not np.isfinite(values).all():
            raise ReaderError(path, f"{what} holds NaN or infinite counts")
        if values.size and (values.min() < 0 or np.any(values != np.floor(values))):
            raise ReaderError(path, f"{what} holds float values that are not counts")
        return values
    raise ReaderError(path, f"{what} has dtype {values.dtype}, not counts")


class DenseReader(Reader):
    """Shared logic of readers whose data is a (time, unit) or (unit, time) array."""

    def dense_source(
        self,
        path: str,
        inner: str,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        time_axis: int,
        native_bin_s: float,
        bin_size_s: float,
        t0_s: float,
        loader: str = "h5",
        extra_attrs: dict | None = None,
        unit: xr.Variable | None = None,
    ) -> SessionSource:
        """What the 2-D dataset ``inner`` of ``path`` holds, rebinned to ``bin_size_s``.

        ``loader="h5"`` reads hyperslabs of an HDF5 dataset per block; ``"mat5"``
        loads a MAT v5 variable whole (the format has no partial reads), so the
        session is read whole.
        """
        if len(shape) != 2:
            raise ReaderError(path, f"/{inner} has shape {shape}, expected 2-D (time, unit)")
        if np.dtype(dtype).kind not in "biuf":
            raise ReaderError(path, f"/{inner} has dtype {dtype}, not counts")
        if time_axis not in (0, 1):
            raise ReaderError(path, f"time_axis must be 0 or 1, got {time_axis}")
        factor = rebin_factor(path, native_bin_s, bin_size_s)
        n_units, n_samples = shape[1 - time_axis], shape[time_axis]
        n_bins = n_samples // factor
        if n_bins == 0:
            raise ReaderError(path, f"/{inner} holds {n_samples} samples: not one {bin_size_s} s bin")
        return SessionSource(
            path=path,
            name=f"dense-{path}-{inner}",
            n_units=n_units,
            n_bins=n_bins,
            t0_s=t0_s,
            bin_size_s=bin_size_s,
            read=reader_call(_dense_block, path, inner, time_axis=time_axis, factor=factor, loader=loader),
            unit=unit,
            native_bin_s=native_bin_s,
            attrs=dict(extra_attrs or {}),
            read_whole=loader == "mat5",
        )


def _dense_block(
    path: str, inner: str, start: int, stop: int, *, time_axis: int, factor: int, loader: str
) -> np.ndarray:
    """Counts of output bins ``[start, stop)``, reading raw samples a few MiB at a time."""
    lo, hi = start * factor, stop * factor
    if loader == "mat5":
        raw = load_mat5_variable(path, inner)
        raw = raw[lo:hi] if time_axis == 0 else raw[:, lo:hi]
        raw = check_counts(path, f"variable {inner}", raw)
        return rebin_dense(raw.T if time_axis == 0 else raw, factor)
    with open_h5(path) as f:
        data = get_node(f, inner, "dataset")
        n_units = data.shape[1 - time_axis]
        row_bytes = max(n_units * data.dtype.itemsize, 1)
        step = max(factor, (_READ_BYTES // row_bytes) // factor * factor)
        # each step is rebinned straight into its slice of the block: no list of
        # pieces and no concatenated copy, and the raw samples go to one reused buffer
        out = np.empty((n_units, (hi - lo) // factor), dtype=COUNT_DTYPE)
        buf = np.empty(min(step, hi - lo) * n_units, dtype=data.dtype)
        for s0 in range(lo, hi, step):
            s1 = min(s0 + step, hi)
            raw = _read_slab(data, buf, s0, s1, time_axis)
            raw = check_counts(path, f"/{inner}", raw)
            b0 = (s0 - lo) // factor
            out[:, b0 : b0 + (s1 - s0) // factor] = rebin_dense(raw.T if time_axis == 0 else raw, factor)
    return out


def _read_slab(data, buf: np.ndarray, s0: int, s1: int, time_axis: int) -> np.ndarray:
    """Raw samples ``[s0, s1)`` of ``data``, read into the leading part of the flat ``buf``."""
    n_units = data.shape[1 - time_axis]
    if time_axis == 0:
        dest, sel = buf[: (s1 - s0) * n_units].reshape(s1 - s0, n_units), np.s_[s0:s1]
    else:
        dest, sel = buf[: (s1 - s0) * n_units].reshape(n_units, s1 - s0), np.s_[:, s0:s1]
    if dest.size:  # h5py refuses an empty selection
        data.read_direct(dest, sel)
    return dest
