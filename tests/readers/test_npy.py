"""NPY rates reader (wojcik): ceil(0.02 * mean of 20 samples), trials end to end.

The expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.segments import segment_bounds
from tests.readers.conftest import check_damaged_and_missing, open_recipe, recipe_sessions


def _wojcik_expected(rates):
    n_trials, n_units, n = rates.shape
    out = []
    for u in range(n_units):
        row = []
        for tr in range(n_trials):
            for b in range(n // 20):
                m = rates[tr, u, b * 20 : (b + 1) * 20].mean()
                row.append(max(0.0, math.ceil(0.02 * float(m))))
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("max_tokens", [10_000_000, 999])  # 999: blocks cut trials
def test_wojcik(archive_raw, max_tokens, one_segment_per_block):
    for rel in recipe_sessions(archive_raw, "wojcik"):
        rates = np.load(archive_raw / "wojcik" / rel)
        da = open_recipe(archive_raw, "wojcik", rel, max_tokens=max_tokens)
        expected = _wojcik_expected(rates)
        assert da.shape == expected.shape
        assert np.array_equal(da.values, expected)
        assert expected.max() == 400  # the burst: kept above 255 until saturation
        bounds = [list(b) for b in segment_bounds(*da.shape, max_tokens)]
        assert da.attrs["segment_bins"] == bounds
        assert len(da.data.chunks[1]) == len(bounds)
        assert da.attrs["bin_size_s"] == pytest.approx(0.02)


def test_wojcik_vectorised_matches_published_float32_arithmetic(archive_raw):
    # the published code works in the array's own dtype: ceil(0.02 * float32 mean)
    rel = recipe_sessions(archive_raw, "wojcik")[0]
    rates = np.load(archive_raw / "wojcik" / rel)
    t, u, n = rates.shape
    mean = rates[:, :, : n // 20 * 20].reshape(t, u, n // 20, 20).mean(axis=-1)
    published = np.ceil(0.02 * mean.transpose(1, 0, 2).reshape(u, -1))
    assert np.array_equal(open_recipe(archive_raw, "wojcik", rel).values, published)


def test_damaged_and_missing_files_are_reader_errors(tmp_path):
    check_damaged_and_missing(tmp_path, "npy-rates", ".npy")


def test_wrong_shapes_are_reader_errors(tmp_path):
    two_d = tmp_path / "x.npy"
    np.save(two_d, np.zeros((3, 4)))
    with pytest.raises(ReaderError, match="expected \\(trials, units, samples\\)"):
        get_reader("npy-rates").open_session(two_d)
    short = tmp_path / "s.npy"
    np.save(short, np.zeros((3, 4, 10)))
    with pytest.raises(ReaderError, match="not one bin"):
        get_reader("npy-rates").open_session(short)
