"""The MAT dense reader: a count variable of a MAT v5 (scipy) or v7.3 (HDF5) file."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from neuralbench.catalog import RECIPES
from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.session import open_file
from neuralbench.sources import list_files


def test_mat_dense_reader_on_willett(raw_tree):
    recipe = RECIPES["willett"]
    files = recipe.select(list_files(raw_tree / "willett"))
    assert len(files) == 2
    for rel in files:
        path = raw_tree / "willett" / rel
        counts = open_file("mat-dense", path, **recipe.params)
        ref = loadmat(path)["tx1"].T
        assert counts.shape == (256, ref.shape[1])
        assert np.array_equal(counts.values, ref)


def test_mat73_reader_reads_transposed_hdf5(tmp_path):
    import h5py

    tx1 = np.random.default_rng(0).poisson(1.0, (50, 4)).astype(np.float64)  # MATLAB (time, ch)
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["tx1"] = tx1.T  # MATLAB v7.3 stores column-major: h5py sees (ch, time)
    counts = open_file("mat-dense", path, variable="tx1")
    assert np.array_equal(counts.values, tx1.T)


def test_missing_variable_and_non_counts(tmp_path):
    path = tmp_path / "a.mat"
    savemat(path, {"other": np.ones((3, 3))})
    with pytest.raises(ReaderError, match="no variable 'tx1'"):
        get_reader("mat-dense").open_session(path, variable="tx1")
    savemat(path, {"tx1": np.full((40, 2), 0.5)})
    counts = open_file("mat-dense", path, variable="tx1")
    with pytest.raises(ReaderError, match="not counts"):
        counts.compute()


def test_a_mat5_variable_is_read_whole_in_one_block(tmp_path):
    tx1 = np.random.default_rng(1).poisson(1.0, (300, 5)).astype(np.uint8)  # MATLAB (time, ch)
    path = tmp_path / "v5.mat"
    savemat(path, {"tx1": tx1})
    assert get_reader("mat-dense").open_session(path, variable="tx1").read_whole
    counts = open_file("mat-dense", path, variable="tx1", max_tokens=100)
    assert len(counts.attrs["segment_bins"]) == 15 and counts.data.numblocks[1] == 1
    assert np.array_equal(counts.values, tx1.T)
