"""Dense count arrays: the checks, the rebinning factor, and blocks read a few MiB at a time."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuralbench.errors import ReaderError
from neuralbench.readers._dense import DenseReader, check_counts, rebin_factor


def test_the_bin_width_must_be_a_whole_number_of_samples():
    assert rebin_factor("f", 0.001, 0.02) == 20
    assert rebin_factor("f", 1 / 60, 1 / 60) == 1
    with pytest.raises(ReaderError, match=r"f: bin width 0.025 s is not a multiple of the native 0.01 s"):
        rebin_factor("f", 0.01, 0.025)


@pytest.mark.parametrize(
    "values, message",
    [
        (np.array([1, -2]), "negative counts"),
        (np.array([1.0, np.nan]), "NaN or infinite"),
        (np.array([0.5]), "not counts"),
        (np.array(["a"]), "dtype <U1, not counts"),
    ],
)
def test_what_is_not_counts_is_refused(values, message):
    with pytest.raises(ReaderError, match=message):
        check_counts("f", "x", values)


def test_counts_pass_unchanged_and_bools_become_integers():
    assert check_counts("f", "x", np.array([True, False])).dtype == np.uint8
    ints = np.array([0, 3], dtype=np.int32)
    assert check_counts("f", "x", ints) is ints
    assert check_counts("f", "x", np.array([2.0, 0.0])).tolist() == [2.0, 0.0]


@pytest.mark.parametrize("time_axis", [0, 1])
def test_h5_blocks_read_in_small_steps_equal_the_whole(tmp_path, monkeypatch, time_axis):
    import neuralbench.readers._dense as dense

    raster = np.random.default_rng(2).integers(0, 3, (1_003, 7)).astype(np.uint8)  # (time, unit)
    stored = raster if time_axis == 0 else raster.T
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = stored
    source = DenseReader().dense_source(
        str(tmp_path / "d.h5"), "data", stored.shape, stored.dtype,
        time_axis=time_axis, native_bin_s=0.001, bin_size_s=0.02, t0_s=0.5,
    )  # fmt: skip
    assert source.shape == (7, 50) and source.native_bin_s == 0.001 and not source.read_whole
    want = raster[:1_000].reshape(50, 20, 7).sum(axis=1).T
    monkeypatch.setattr(dense, "_READ_BYTES", 7 * 40)  # 40 samples a step: 2 bins
    assert np.array_equal(source.read(0, 50), want)
    assert np.array_equal(source.read(13, 31), want[:, 13:31])


def test_shapes_that_are_not_a_session(tmp_path):
    reader = DenseReader()
    common = dict(time_axis=0, native_bin_s=0.02, bin_size_s=0.02, t0_s=0.0)
    with pytest.raises(ReaderError, match=r"/data has shape \(3,\), expected 2-D"):
        reader.dense_source("f", "data", (3,), np.dtype("u1"), **common)
    with pytest.raises(ReaderError, match="holds 0 samples"):
        reader.dense_source("f", "data", (0, 3), np.dtype("u1"), **common)
    with pytest.raises(ReaderError, match="time_axis must be 0 or 1"):
        reader.dense_source("f", "data", (4, 3), np.dtype("u1"), **{**common, "time_axis": 2})
