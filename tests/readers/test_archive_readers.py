"""Archive readers (NPY rates, MUA thresholds, MAT spike trains, MAT structs) on synth files.

Each expected array is computed here directly from the raw arrays (numpy, scipy,
h5py) following the published semantics, not with the reader's code.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from scipy.io import loadmat

from neuralbench.catalog import get_recipe
from neuralbench.readers import get_reader
from neuralbench.segments import segment_bounds
from neuralbench.synth import Scale, write_raw_tree

NAMES = ["wojcik", "papale", "makin", "lanzarini", "rajalingham"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_raw_tree(root, only=NAMES, seed=11, scale=Scale(seconds=24.0, units=7, sessions=2))
    return root


@pytest.fixture
def one_segment_per_block(monkeypatch):
    """Make every segment its own dask block, so block edges cut trials and windows."""
    import neuralbench.readers._trials
    import neuralbench.readers.mat_cells
    import neuralbench.readers.mat_vars

    for mod in (
        neuralbench.readers._trials,
        neuralbench.readers.mat_cells,
        neuralbench.readers.mat_vars,
    ):
        monkeypatch.setattr(mod, "BLOCK_TOKENS", 1)


def _open(raw, name, rel, **extra):
    r = get_recipe(name)
    params = {**r.params_for(rel), "max_tokens": r.max_tokens, **extra}
    return get_reader(r.reader).open_session(raw / name / rel, **params)


def _sessions(raw, name):
    files = [p.relative_to(raw / name).as_posix() for p in (raw / name).rglob("*") if p.is_file()]
    return get_recipe(name).select(f for f in files if not f.rsplit("/", 1)[-1].startswith("."))


# ---- wojcik: (trials, units, 1 ms rates) -> ceil(0.02 * mean of 20), trials end to end


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
def test_wojcik(raw, max_tokens, one_segment_per_block):
    for rel in _sessions(raw, "wojcik"):
        rates = np.load(raw / "wojcik" / rel)
        da = _open(raw, "wojcik", rel, max_tokens=max_tokens)
        expected = _wojcik_expected(rates)
        assert da.shape == expected.shape
        assert np.array_equal(da.values, expected)
        assert expected.max() == 400  # the burst: kept above 255 until saturation
        bounds = [list(b) for b in segment_bounds(*da.shape, max_tokens)]
        assert da.attrs["segment_bins"] == bounds
        assert len(da.data.chunks[1]) == len(bounds)
        assert da.attrs["bin_size_s"] == pytest.approx(0.02)


def test_wojcik_vectorised_matches_published_float32_arithmetic(raw):
    # the published code works in the array's own dtype: ceil(0.02 * float32 mean)
    rel = _sessions(raw, "wojcik")[0]
    rates = np.load(raw / "wojcik" / rel)
    t, u, n = rates.shape
    mean = rates[:, :, : n // 20 * 20].reshape(t, u, n // 20, 20).mean(axis=-1)
    published = np.ceil(0.02 * mean.transpose(1, 0, 2).reshape(u, -1))
    assert np.array_equal(_open(raw, "wojcik", rel).values, published)


# ---- papale: per-trial mean + 3.5 SD threshold, event at last supra sample, 20 per bin


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
def test_papale_trials_end_to_end(raw, max_tokens, one_segment_per_block):
    for rel in _sessions(raw, "papale"):
        with h5py.File(raw / "papale" / rel, "r") as f:
            mua = f["ALLMUA"][()]
        da = _open(raw, "papale", rel, max_tokens=max_tokens)
        expected = _papale_expected(mua)
        assert np.array_equal(da.values, expected)
        assert da.shape == (mua.shape[2], mua.shape[1] * 15)
        assert len(da.data.chunks[1]) == len(segment_bounds(*da.shape, max_tokens))
        assert expected.sum() > 0


def test_papale_fix_is_a_column_permutation_of_the_published_order(raw):
    rel = _sessions(raw, "papale")[0]
    ours = _open(raw, "papale", rel).values
    n_elec, cols = ours.shape
    n_trials = cols // 15
    # published: column = bin * n_trials + trial; ours: trial * 15 + bin
    published = ours.reshape(n_elec, n_trials, 15).transpose(0, 2, 1).reshape(n_elec, cols)
    assert np.array_equal(published.reshape(n_elec, 15, n_trials)[:, 3, 5], ours[:, 5 * 15 + 3])


def test_papale_reads_per_trial_hyperslabs(raw, monkeypatch):
    # with a read budget of one trial, every read is one trial's (time, 1, electrodes) slab
    import neuralbench.readers.mat_mua as mat_mua

    rel = _sessions(raw, "papale")[0]
    with h5py.File(raw / "papale" / rel, "r") as f:
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
    values = _open(raw, "papale", rel, max_tokens=2_000).compute(scheduler="synchronous").values
    assert len(reads) == mua.shape[1]
    assert all(k[1].stop - k[1].start == 1 for k in reads)
    assert np.array_equal(values, _papale_expected(mua))


# ---- makin: per-channel multi-unit trains, histogram from the first spike


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
def test_makin(raw, max_tokens, one_segment_per_block):
    for rel in _sessions(raw, "makin"):
        expected, lo = _makin_expected(raw / "makin" / rel)
        da = _open(raw, "makin", rel, max_tokens=max_tokens)
        assert da.attrs["t0_s"] == lo
        assert np.array_equal(da.values, expected)
        assert not expected[2].any()  # the silent channel stays a row


# ---- lanzarini: trunc(t / 0.02), n_bins = ceil(max / 0.02), negatives dropped


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
def test_lanzarini(raw, max_tokens, one_segment_per_block):
    for rel in _sessions(raw, "lanzarini"):
        expected, trains = _lanzarini_expected(raw / "lanzarini" / rel)
        da = _open(raw, "lanzarini", rel, max_tokens=max_tokens)
        assert np.array_equal(da.values, expected)
        assert da.values[0].sum() == trains[0].size - 1  # the spike on the last edge is lost
        assert da.values[1].sum() == (trains[1] >= 0).sum()  # negative times dropped, not wrapped
        assert da.attrs["n_negative_spikes"] == 2
        assert not da.values[4].any() and not da.values[100].any()  # missing variables


# ---- rajalingham: NaN -> 0, round(x * 50), conditions end to end, 50 ms, one segment


def test_rajalingham(raw):
    for rel in _sessions(raw, "rajalingham"):
        resp = loadmat(raw / "rajalingham" / rel)["neural_responses_reliable"][0, 0][0]
        n, c, b = resp.shape
        expected = np.zeros((n, c * b))
        for i in range(n):
            for k in range(c):
                x = np.where(np.isnan(resp[i, k]), 0.0, resp[i, k])
                expected[i, k * b : (k + 1) * b] = np.maximum(np.round(x * 50), 0)
        da = _open(raw, "rajalingham", rel)
        assert np.array_equal(da.values, expected)
        assert da.values.max() == 450 and da.values[0, 1] == 0
        assert da.attrs["bin_size_s"] == 0.05
        assert da.attrs["segment_bins"] == [[0, c * b]]


# ---- errors name the file


@pytest.mark.parametrize(
    "reader, suffix, params",
    [
        ("npy-rates", ".npy", {}),
        ("mat-mua-threshold", ".mat", {}),
        ("mat-channel-trains", ".mat", {}),
        ("mat-spike-vars", ".mat", {}),
        ("mat-conditions", ".mat", {}),
    ],
)
def test_damaged_files_raise_reader_errors(tmp_path, reader, suffix, params):
    from neuralbench.errors import ReaderError

    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"not a real file at all" * 10)
    with pytest.raises(ReaderError, match=str(bad)):
        get_reader(reader).open_session(bad, **params)
    with pytest.raises(ReaderError, match="does not exist"):
        get_reader(reader).open_session(tmp_path / f"missing{suffix}", **params)


def test_wrong_shapes_are_reader_errors(tmp_path):
    from neuralbench.errors import ReaderError

    two_d = tmp_path / "x.npy"
    np.save(two_d, np.zeros((3, 4)))
    with pytest.raises(ReaderError, match="expected \\(trials, units, samples\\)"):
        get_reader("npy-rates").open_session(two_d)
    short = tmp_path / "s.npy"
    np.save(short, np.zeros((3, 4, 10)))
    with pytest.raises(ReaderError, match="not one bin"):
        get_reader("npy-rates").open_session(short)
