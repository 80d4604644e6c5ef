"""Properties of binning, rebinning, saturation, segmenting and the split (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neuralbench.binning import bin_spike_times, count_bins, rebin_dense, saturate
from neuralbench.merge import split_rows
from neuralbench.segments import segment_bounds

settings.register_profile("neuralbench", max_examples=150, deadline=None)
settings.load_profile("neuralbench")

times = arrays(np.float64, st.integers(1, 400), elements=st.floats(-1.0, 30.0, allow_nan=False))
widths = st.sampled_from([0.001, 0.02, 0.05, 0.1])


@given(times, st.integers(1, 5), widths, st.data())
def test_counts_equal_the_histogram_and_blocks_rejoin(t, n_units, w, data):
    units = data.draw(arrays(np.int64, t.shape, elements=st.integers(0, n_units - 1)))
    t0 = data.draw(st.sampled_from([0.0, float(np.min(t))]))
    n_bins = count_bins(t0, float(t.max()), w)
    counts = bin_spike_times(t, units, n_units, t0=t0, bin_size_s=w, n_bins=n_bins)
    edges = np.arange(t0, float(t.max()) + w, w)
    want = np.stack([np.histogram(t[units == u], edges)[0] for u in range(n_units)])
    assert np.array_equal(counts, want)
    in_range = np.count_nonzero((t >= edges[0]) & (t <= edges[-1])) if n_bins else 0
    assert int(counts.sum()) == in_range
    cut = data.draw(st.integers(0, n_bins))
    parts = [
        bin_spike_times(t, units, n_units, t0=t0, bin_size_s=w, n_bins=n_bins, start=a, stop=b)
        for a, b in ((0, cut), (cut, n_bins))
    ]
    assert np.array_equal(np.concatenate(parts, axis=1), counts)


@given(arrays(np.uint16, st.tuples(st.integers(1, 4), st.integers(0, 60)), elements=st.integers(0, 600)))
def test_saturation_keeps_counts_up_to_255_and_counts_what_it_clips(counts):
    sat, clipped = saturate(counts)
    assert sat.dtype == np.uint8
    assert clipped == np.count_nonzero(counts > 255)
    excess = int(np.maximum(counts.astype(np.int64) - 255, 0).sum())
    assert int(sat.sum(dtype=np.int64)) == int(counts.sum(dtype=np.int64)) - excess
    assert np.array_equal(sat[counts <= 255], counts[counts <= 255])


@given(
    arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(0, 200)), elements=st.integers(0, 50)),
    st.integers(1, 25),
)
def test_rebinning_sums_whole_windows(samples, factor):
    out = rebin_dense(samples, factor)
    n = samples.shape[1] // factor
    assert out.shape == (samples.shape[0], n)
    assert int(out.sum()) == int(samples[:, : n * factor].sum())


@given(st.integers(0, 300), st.integers(0, 100_000), st.integers(1, 50_000))
def test_segments_rejoin_into_the_session(n_units, n_bins, limit):
    bounds = segment_bounds(n_units, n_bins, limit)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_bins
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(stop > start for start, stop in bounds) or n_bins == 0
    assert sum(n_units * (b - a) for a, b in bounds) == n_units * n_bins
    if n_units * n_bins > limit:
        k = math.ceil(n_units * n_bins / limit)
        size = math.ceil(n_bins / k)
        # k segments of ceil(T/k) bins, the last shorter; an empty trailing one is dropped
        # (e.g. n=2, T=4, L=3: k=3, size 2 -> two segments), so there may be fewer than k
        assert len(bounds) == len([i for i in range(k) if i * size < n_bins])
        assert all(b - a == size for a, b in bounds[:-1]) and bounds[-1][1] - bounds[-1][0] <= size
    else:
        assert len(bounds) == 1


@given(
    st.lists(st.integers(0, 12), min_size=0, max_size=80),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["session", "row"]),
)
def test_split_keeps_every_row_exactly_once(sessions, seed, split_by):
    train, test = split_rows(sessions, seed=seed, test_size=0.2, split_by=split_by)
    assert sorted([*train.tolist(), *test.tolist()]) == list(range(len(sessions)))
    if split_by == "session":
        assert not {sessions[i] for i in train} & {sessions[i] for i in test}
