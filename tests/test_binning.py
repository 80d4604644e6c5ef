import numpy as np
import pytest

from neuralbench.binning import (
    arange_edges,
    bin_spike_times,
    count_bins,
    rebin_dense,
    saturate,
)

W = 0.02


def published(trains, t0=0.0):
    """The published recipe: np.histogram against np.arange(t0, max + w, w) edges."""
    t_max = max(t.max() for t in trains if t.size)
    edges = np.arange(t0, t_max + W, W)
    return np.stack([np.histogram(t, edges)[0] for t in trains])


def ours(trains, t0=0.0, **kw):
    times = np.concatenate(trains)
    units = np.concatenate([np.full(t.size, i) for i, t in enumerate(trains)])
    t_max = max(t.max() for t in trains if t.size)
    n_bins = count_bins(t0, t_max, W)
    return bin_spike_times(times, units, len(trains), t0=t0, bin_size_s=W, n_bins=n_bins, **kw)


def test_spike_exactly_on_an_edge_goes_right():
    trains = [np.array([0.0, 0.02, 0.04, 0.1]), np.array([0.06])]
    got = ours(trains)
    assert np.array_equal(got, published(trains))
    assert got[0, :3].tolist() == [1, 1, 1]


def test_last_spike_on_the_last_edge_is_kept():
    # max_t exactly a multiple of w: arange may give one edge fewer; the last bin is closed
    for k in (5, 50, 77, 1000, 12345):
        trains = [np.array([0.001, k * W])]
        got = ours(trains)
        ref = published(trains)
        assert got.shape == ref.shape and np.array_equal(got, ref)
        assert got.sum() == 2


def test_empty_units_give_zero_rows():
    trains = [np.array([]), np.array([0.5, 0.7]), np.array([])]
    got = ours(trains)
    assert got[0].sum() == 0 and got[2].sum() == 0 and got[1].sum() == 2


@pytest.mark.parametrize("seed", range(20))
def test_matches_published_histogram_on_random_trains(seed):
    rng = np.random.default_rng(seed)
    t0 = 0.0 if seed % 2 else float(rng.uniform(-3, 3))
    trains = [np.sort(rng.uniform(t0, t0 + 40, rng.integers(0, 500))) for _ in range(5)]
    trains[0] = np.append(trains[0], t0 + rng.integers(1, 2000) * W)
    ref = published(trains, t0)
    assert np.array_equal(ours(trains, t0), ref)


def test_blocks_concatenate_to_the_whole():
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0, 10, 300)) for _ in range(4)]
    whole = ours(trains)
    n = whole.shape[1]
    cuts = [0, 7, 100, n // 2, n]
    parts = [ours(trains, start=a, stop=b) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_spikes_before_t0_are_dropped():
    trains = [np.array([-0.5, -0.01, 0.01, 0.03])]
    assert ours(trains).sum() == 2


def test_arange_edges_equal_numpy_arange():
    rng = np.random.default_rng(0)
    for _ in range(50):
        t0 = float(rng.uniform(-100, 100))
        edges = np.arange(t0, t0 + 50, W)
        assert np.array_equal(arange_edges(t0, W, np.arange(edges.size)), edges)
        assert count_bins(t0, float(edges[-1]) - 1e-9, W) == len(np.arange(t0, edges[-1] - 1e-9 + W, W)) - 1


def test_saturation_clips_and_counts():
    counts = np.array([[0, 255, 256, 300, 1000]], dtype=np.uint16)
    sat, clipped = saturate(counts)
    assert sat.dtype == np.uint8
    assert sat.tolist() == [[0, 255, 255, 255, 255]]
    assert clipped == 3


def test_burst_of_300_spikes_saturates_not_wraps():
    trains = [np.full(300, 0.011)]
    counts = ours(trains)
    assert counts.max() == 300  # uint16 keeps the true count until saturation
    sat, clipped = saturate(counts)
    assert sat.max() == 255 and clipped == 1


def test_rebin_dense_sums_and_drops_tail():
    raster = np.ones((3, 45), dtype=np.uint8)
    out = rebin_dense(raster, 20)
    assert out.shape == (3, 2) and out.tolist() == [[20, 20]] * 3


def test_rebin_dense_bool_raster_does_not_collapse():
    raster = np.ones((2, 40), dtype=bool)
    assert rebin_dense(raster, 20).tolist() == [[20, 20], [20, 20]]


def test_out_rows_are_overwritten_in_place():
    rng = np.random.default_rng(1)
    trains = [np.sort(rng.uniform(0, 10, 300)) for _ in range(3)]
    ref = ours(trains, start=10, stop=400)
    block = np.full((5, 390), 7, dtype=np.uint16)  # stale values must not survive
    got = ours(trains, start=10, stop=400, out=block[1:4])
    assert got.base is block or got is block[1:4] or np.shares_memory(got, block)
    assert np.array_equal(block[1:4], ref) and (block[[0, 4]] == 7).all()
    with pytest.raises(ValueError, match="out is"):
        ours(trains, start=10, stop=400, out=np.zeros((3, 390), dtype=np.uint8))
