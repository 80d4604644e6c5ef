"""MAT file access shared by the MAT readers: v7.3 detection, v4/v5 variables through scipy.

Its own module so that the dense block code and the readers both import it, and
neither imports the other.
"""

from __future__ import annotations

import os

import numpy as np

from neuralbench.errors import ReaderError

__all__ = ["is_mat73", "load_mat5_variable", "read_mat5"]


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
