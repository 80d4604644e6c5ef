"""MAT readers: a dense count variable in a MAT v5 (scipy) or v7.3 (HDF5) file."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from neuralbench.errors import ReaderError
from neuralbench.readers._dense import DenseReader
from neuralbench.readers._h5 import get_node, open_h5
from neuralbench.segments import MAX_TOKENS

__all__ = ["MatDenseReader", "is_mat73", "load_mat5_variable", "read_mat5"]


def is_mat73(path: str) -> bool:
    """MAT v7.3 files are HDF5 files (with a 512-byte MATLAB header)."""
    import h5py

    return h5py.is_hdf5(path)


def read_mat5(path: str, variable_names: list[str]) -> dict[str, np.ndarray]:
    """The named variables of a MAT v4/v5 file (those present); a damaged file is a ReaderError."""
    from scipy.io import loadmat

    if not os.path.exists(path):
        raise ReaderError(path, "file does not exist")
    if os.path.getsize(path) == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    try:
        return loadmat(path, variable_names=variable_names)
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError for damaged files
        raise ReaderError(path, f"not a readable MAT file ({type(exc).__name__}: {exc})") from exc


def load_mat5_variable(path: str, variable: str) -> np.ndarray:
    """One variable of a MAT v4/v5 file, or a ReaderError naming what is missing."""
    content = read_mat5(path, [variable])
    if variable not in content:
        raise ReaderError(path, f"has no variable {variable!r}")
    value = np.asarray(content[variable])
    if value.ndim != 2:
        raise ReaderError(path, f"variable {variable!r} has shape {value.shape}, expected 2-D")
    return value


class MatDenseReader(DenseReader):
    """A 2-D count variable of a MAT file, (time, unit) as MATLAB shows it for ``time_axis=0``."""

    name = "mat-dense"
    suffixes = (".mat",)
    description = "MAT v5/v7.3 variable holding counts per bin"

    def open_session(
        self,
        path: str | os.PathLike[str],
        *,
        variable: str,
        time_axis: int = 0,
        native_bin_s: float = 0.02,
        bin_size_s: float = 0.02,
        max_tokens: int | None = MAX_TOKENS,
    ) -> xr.DataArray:
        """Return the variable's counts; ``time_axis`` refers to MATLAB's orientation."""
        path = os.fspath(path)
        common = dict(native_bin_s=native_bin_s, bin_size_s=bin_size_s, max_tokens=max_tokens, t0_s=0.0)
        if os.path.exists(path) and os.path.getsize(path) and is_mat73(path):
            with open_h5(path) as f:
                data = get_node(f, variable, f"variable {variable!r}")
                shape, dtype = data.shape, data.dtype
            # h5py sees MATLAB arrays transposed
            return self.dense_session(path, variable, shape, dtype, time_axis=1 - time_axis, **common)
        value = load_mat5_variable(path, variable)
        return self.dense_session(
            path, variable, value.shape, value.dtype, time_axis=time_axis, loader="mat5", **common
        )
