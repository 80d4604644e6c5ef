"""MAT v4/v5 access through scipy, and v7.3 detection: errors name the file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from neuralbench.errors import ReaderError
from neuralbench.readers._mat5 import is_mat73, load_mat5_variable, read_mat5


def test_present_variables_only(tmp_path):
    path = tmp_path / "a.mat"
    savemat(path, {"x": np.arange(6).reshape(2, 3)})
    assert list(read_mat5(str(path), ["x", "y"]).keys() & {"x", "y"}) == ["x"]
    assert load_mat5_variable(str(path), "x").tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ReaderError, match=r"a.mat: has no variable 'y'"):
        load_mat5_variable(str(path), "y")


def test_a_3d_variable_is_not_a_dense_matrix(tmp_path):
    path = tmp_path / "c.mat"
    savemat(path, {"x": np.zeros((2, 3, 4))})
    with pytest.raises(ReaderError, match=r"variable 'x' has shape \(2, 3, 4\), expected 2-D"):
        load_mat5_variable(str(path), "x")


def test_damaged_empty_and_missing_files(tmp_path):
    bad, empty = tmp_path / "bad.mat", tmp_path / "empty.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, truncated" + bytes(200))
    empty.touch()
    with pytest.raises(ReaderError, match=f"{bad}: not a readable MAT file"):
        read_mat5(str(bad), ["x"])
    with pytest.raises(ReaderError, match="empty"):
        read_mat5(str(empty), ["x"])
    with pytest.raises(ReaderError, match="does not exist"):
        read_mat5(str(tmp_path / "none.mat"), ["x"])


def test_v73_files_are_hdf5(tmp_path):
    v5, v73 = tmp_path / "v5.mat", tmp_path / "v73.mat"
    savemat(v5, {"x": np.ones((2, 2))})
    with h5py.File(v73, "w", userblock_size=512) as f:
        f["x"] = np.ones((2, 2))
    assert is_mat73(str(v73)) and not is_mat73(str(v5))
