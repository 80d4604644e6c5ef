"""MUA threshold reader (papale): per-trial mean + 3.5 SD crossings, trials end to end.

The expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuralbench.segments import segment_bounds
from tests.readers.conftest import check_damaged_and_missing, open_recipe, recipe_sessions


def _papale_expected(mua):
    n_samples, n_trials, n_elec = mua.shape
    per = n_samples // 20
    out = np.zeros((n_elec, n_trials * per), dtype=np.int64)
    for tr in range(n_trials):
        for e in range(n_elec):
            x = mua[:, tr, e].astype(np.float64)
            thr = x.mean() + 3.5 * x.std()
            for t in np.flatnonzero((x[:-1] > thr) & (x[1:] <= thr)):
                out[e, tr * per + t // 20] += 1
    return out


@pytest.mark.parametrize("max_tokens", [10_000_000, 600])  # 600: segments of 36 bins
def test_papale_trials_end_to_end(archive_raw, max_tokens, one_segment_per_block):
    for rel in recipe_sessions(archive_raw, "papale"):
        with h5py.File(archive_raw / "papale" / rel, "r") as f:
            mua = f["ALLMUA"][()]
        da = open_recipe(archive_raw, "papale", rel, max_tokens=max_tokens)
        expected = _papale_expected(mua)
        assert np.array_equal(da.values, expected)
        assert da.shape == (mua.shape[2], mua.shape[1] * 15)
        assert len(da.data.chunks[1]) == len(segment_bounds(*da.shape, max_tokens))
        assert expected.sum() > 0


def test_papale_fix_is_a_column_permutation_of_the_published_order(archive_raw):
    rel = recipe_sessions(archive_raw, "papale")[0]
    ours = open_recipe(archive_raw, "papale", rel).values
    n_elec, cols = ours.shape
    n_trials = cols // 15
    # published: column = bin * n_trials + trial; ours: trial * 15 + bin
    published = ours.reshape(n_elec, n_trials, 15).transpose(0, 2, 1).reshape(n_elec, cols)
    assert np.array_equal(published.reshape(n_elec, 15, n_trials)[:, 3, 5], ours[:, 5 * 15 + 3])


def test_papale_reads_per_trial_hyperslabs(archive_raw, monkeypatch):
    # with a read budget of one trial, every read is one trial's (time, 1, electrodes) slab
    import neuralbench.readers.mat_mua as mat_mua

    rel = recipe_sessions(archive_raw, "papale")[0]
    with h5py.File(archive_raw / "papale" / rel, "r") as f:
        mua = f["ALLMUA"][()]
    monkeypatch.setattr(mat_mua, "_READ_BYTES", mua.shape[0] * mua.shape[2] * mua.itemsize)
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        if self.name == "/ALLMUA":
            reads.append(key)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    # in this process: a session-wide distributed Client would run the reads where the spy is not
    values = open_recipe(archive_raw, "papale", rel, max_tokens=2_000).compute(scheduler="synchronous").values
    assert len(reads) == mua.shape[1]
    assert all(k[1].stop - k[1].start == 1 for k in reads)
    assert np.array_equal(values, _papale_expected(mua))


def test_damaged_and_missing_files_are_reader_errors(tmp_path):
    check_damaged_and_missing(tmp_path, "mat-mua-threshold", ".mat")
