"""MAT spike variables reader (lanzarini): trunc(t / 0.02), n_bins = ceil(max / 0.02), negatives dropped.

The expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat

from tests.readers.conftest import check_damaged_and_missing, open_recipe, recipe_sessions


def _lanzarini_expected(path):
    content = loadmat(path)
    trains = [content[k][0] if (k := f"Spk_{i:03d}a_sh") in content else np.empty(0) for i in range(128)]
    max_t = max([0.0] + [t.max() for t in trains if t.size])
    n_bins = int(np.ceil(max_t / 0.02))
    out = np.zeros((128, n_bins), dtype=np.int64)
    for ch, t in enumerate(trains):
        idx = (t[t >= 0] / 0.02).astype(int)
        np.add.at(out[ch], idx[idx < n_bins], 1)
    return out, trains


@pytest.mark.parametrize("max_tokens", [10_000_000, 50_000])
def test_lanzarini(archive_raw, max_tokens, one_segment_per_block):
    for rel in recipe_sessions(archive_raw, "lanzarini"):
        expected, trains = _lanzarini_expected(archive_raw / "lanzarini" / rel)
        da = open_recipe(archive_raw, "lanzarini", rel, max_tokens=max_tokens)
        assert np.array_equal(da.values, expected)
        assert da.values[0].sum() == trains[0].size - 1  # the spike on the last edge is lost
        assert da.values[1].sum() == (trains[1] >= 0).sum()  # negative times dropped, not wrapped
        assert da.attrs["n_negative_spikes"] == 2
        assert not da.values[4].any() and not da.values[100].any()  # missing variables


def test_damaged_and_missing_files_are_reader_errors(tmp_path):
    check_damaged_and_missing(tmp_path, "mat-spike-vars", ".mat")
