"""Opening HDF5 files (NWB, MAT v7.3) with errors that name the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import h5py

from neuralbench.errors import ReaderError

__all__ = ["get_node", "open_h5", "slice_reader"]


@contextlib.contextmanager
def open_h5(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open ``path`` read-only; a missing, empty, truncated or non-HDF5 file is a ReaderError.

    An ``http(s)://`` URL (such as a DANDI asset's download URL) is read in place
    through ``remfile``, fetching only the byte ranges h5py asks for.
    """
    path = os.fspath(path)
    if path.startswith(("http://", "https://")):
        with _open_url(path) as f:
            yield f
        return
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


@contextlib.contextmanager
def _open_url(url: str) -> Iterator[h5py.File]:
    import remfile

    try:
        remote = remfile.File(url)
    except Exception as exc:  # remfile raises bare Exceptions for HTTP errors
        raise ReaderError(url, f"cannot open the URL ({exc})") from exc
    try:
        f = h5py.File(remote, "r")
    except Exception as exc:
        remote.close()
        raise ReaderError(url, f"not a readable HDF5 file ({exc})") from exc
    try:
        yield f
    finally:
        f.close()
        remote.close()


def get_node(f: h5py.File, inner: str, what: str) -> h5py.Group | h5py.Dataset:
    """``f[inner]``, or a ReaderError saying which object is missing."""
    try:
        return f[inner]
    except (KeyError, OSError) as exc:
        raise ReaderError(f.filename, f"no {what} at /{inner.lstrip('/')}") from exc


def slice_reader(f: h5py.File, inner: str, what: str) -> h5py.Dataset:
    """Dataset ``inner`` opened for many small slice reads: without a chunk cache when
    it is chunked and unfiltered.

    A units block reads one slice per unit from chunks larger than the cache;
    HDF5 then takes ~200 us per slice against ~30 us with no cache
    (bench/README.md). Compressed chunks keep the cache, which saves decompressing
    a chunk again for each slice in it. The cache belongs to the open dataset, so
    the probe handle is closed before the dataset is opened again without one.
    """
    dataset = get_node(f, inner, what)
    if not isinstance(dataset, h5py.Dataset) or dataset.chunks is None:
        return dataset
    if dataset.id.get_create_plist().get_nfilters():
        return dataset
    name = dataset.name.encode()
    del dataset  # the last handle: HDF5 closes the dataset and its cache
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(0, 0, 1.0)
    return h5py.Dataset(h5py.h5d.open(f.id, name, dapl=dapl))
