"""Opening HDF5 files: errors that name the file, and slice reads without a chunk cache."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.readers._h5 import get_node, open_h5, slice_reader


def test_not_hdf5_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.nwb"
    bad.write_text("hello")
    with pytest.raises(ReaderError, match="not an HDF5 file"):
        get_reader("nwb-units").open_session(bad)
    empty = tmp_path / "empty.nwb"
    empty.touch()
    with pytest.raises(ReaderError, match="empty"):
        get_reader("nwb-units").open_session(empty)
    with pytest.raises(ReaderError, match=f"{tmp_path / 'none.h5'}: file does not exist"):
        with open_h5(tmp_path / "none.h5"):
            pass


def test_a_missing_node_names_the_file_and_the_path(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["a/b"] = np.zeros(3)
    with open_h5(tmp_path / "d.h5") as f:
        assert get_node(f, "a/b", "dataset").shape == (3,)
        with pytest.raises(ReaderError, match=r"d.h5: no spike_times column at /a/c$"):
            get_node(f, "/a/c", "spike_times column")
    assert not f.id.valid  # closed when the block ends


def test_slice_reader_drops_the_chunk_cache_only_for_unfiltered_chunks(tmp_path):
    data = np.arange(100_000, dtype=np.float64)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("plain", data=data, chunks=(50_000,))
        f.create_dataset("gzip", data=data, chunks=(50_000,), compression="gzip")
        f.create_dataset("contiguous", data=data)
    with h5py.File(tmp_path / "d.h5", "r") as f:
        caches = {}
        for name in ("plain", "gzip", "contiguous"):
            ds = slice_reader(f, name, "dataset")
            assert np.array_equal(ds[1234:5678], data[1234:5678])
            caches[name] = ds.id.get_access_plist().get_chunk_cache()[1]
    assert caches["plain"] == 0  # no cache: ~7x faster small slices of big chunks
    assert caches["gzip"] > 0 and caches["contiguous"] > 0
