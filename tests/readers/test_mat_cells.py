"""MAT channel trains reader (makin): per-channel multi-unit trains, histogram from the first spike.

The expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.readers.conftest import check_damaged_and_missing, open_recipe, recipe_sessions


def _makin_expected(path):
    with h5py.File(path, "r") as f:
        refs = f["spikes"][()]
        trains = []
        for ch in range(refs.shape[1]):
            parts = [f[refs[u, ch]][()].ravel() for u in range(refs.shape[0]) if f[refs[u, ch]].ndim == 2]
            trains.append(np.concatenate(parts) if parts else np.empty(0))
    lo = min(t.min() for t in trains if t.size)
    hi = max(t.max() for t in trains if t.size)
    edges = np.arange(lo, hi + 0.02, 0.02)
    return np.vstack([np.histogram(t, bins=edges)[0] for t in trains]), lo


@pytest.mark.parametrize("max_tokens", [10_000_000, 5_000])
def test_makin(archive_raw, max_tokens, one_segment_per_block):
    for rel in recipe_sessions(archive_raw, "makin"):
        expected, lo = _makin_expected(archive_raw / "makin" / rel)
        da = open_recipe(archive_raw, "makin", rel, max_tokens=max_tokens)
        assert da.attrs["t0_s"] == lo
        assert np.array_equal(da.values, expected)
        assert not expected[2].any()  # the silent channel stays a row


def test_damaged_and_missing_files_are_reader_errors(tmp_path):
    check_damaged_and_missing(tmp_path, "mat-channel-trains", ".mat")
