"""Opening HDF5 files (NWB, MAT v7.3) with errors that name the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import h5py

from neuralbench.errors import ReaderError

__all__ = ["get_node", "open_h5"]


@contextlib.contextmanager
def open_h5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open ``path`` read-only; a missing, empty, truncated or non-HDF5 file is a ReaderError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ReaderError(path, "file does not exist")
    if os.path.getsize(path) == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        what = "not an HDF5 file" if not h5py.is_hdf5(path) else "unreadable HDF5 file"
        raise ReaderError(path, f"{what} ({exc})") from exc
    try:
        yield f
    finally:
        f.close()


def get_node(f: h5py.File, inner: str, what: str) -> h5py.Group | h5py.Dataset:
    """``f[inner]``, or a ReaderError saying which object is missing."""
    try:
        return f[inner]
    except (KeyError, OSError) as exc:
        raise ReaderError(f.filename, f"no {what} at /{inner.lstrip('/')}") from exc
