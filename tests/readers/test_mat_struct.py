"""MAT struct reader (rajalingham): NaN -> 0, round(x * 50), conditions end to end, 50 ms.

The expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import numpy as np
from scipy.io import loadmat

from neuralbench.readers import get_reader
from tests.readers.conftest import check_damaged_and_missing, open_recipe, recipe_sessions


def test_rajalingham(archive_raw):
    for rel in recipe_sessions(archive_raw, "rajalingham"):
        resp = loadmat(archive_raw / "rajalingham" / rel)["neural_responses_reliable"][0, 0][0]
        n, c, b = resp.shape
        expected = np.zeros((n, c * b))
        for i in range(n):
            for k in range(c):
                x = np.where(np.isnan(resp[i, k]), 0.0, resp[i, k])
                expected[i, k * b : (k + 1) * b] = np.maximum(np.round(x * 50), 0)
        da = open_recipe(archive_raw, "rajalingham", rel)
        assert np.array_equal(da.values, expected)
        assert da.values.max() == 450 and da.values[0, 1] == 0
        assert da.attrs["bin_size_s"] == 0.05
        assert da.attrs["segment_bins"] == [[0, c * b]]


def test_damaged_and_missing_files_are_reader_errors(tmp_path):
    check_damaged_and_missing(tmp_path, "mat-conditions", ".mat")


def test_the_struct_is_read_whole_however_many_segments(archive_raw):
    # MAT v5 has no partial reads: the reader says so and the session stays one block
    rel = recipe_sessions(archive_raw, "rajalingham")[0]
    source = get_reader("mat-conditions").open_session(archive_raw / "rajalingham" / rel)
    assert source.read_whole
    da = open_recipe(archive_raw, "rajalingham", rel, max_tokens=100)
    assert len(da.attrs["segment_bins"]) > 1 and da.data.numblocks[1] == 1
    assert np.array_equal(da.values, open_recipe(archive_raw, "rajalingham", rel).values)
