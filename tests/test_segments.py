import math

import pytest

from neuralbench.segments import MAX_TOKENS, merge_blocks, segment_bounds, segment_ids


def test_exactly_the_limit_is_one_segment():
    assert segment_bounds(1, MAX_TOKENS) == [(0, MAX_TOKENS)]
    assert segment_bounds(100, MAX_TOKENS // 100) == [(0, MAX_TOKENS // 100)]


def test_one_token_more_splits_in_two():
    bounds = segment_bounds(1, MAX_TOKENS + 1)
    assert bounds == [(0, 5_000_001), (5_000_001, 10_000_001)]


def test_published_overshoot_example():
    # RECIPES.md 0.4: 401 units x 49,875 bins -> k=2, s=24,938 -> 10,000,138 tokens
    bounds = segment_bounds(401, 49_875)
    assert bounds == [(0, 24_938), (24_938, 49_875)]
    assert 401 * 24_938 == 10_000_138


def test_papale_shape_gives_39_segments_last_shorter():
    bounds = segment_bounds(1024, 378_720)
    assert len(bounds) == 39
    assert {b - a for a, b in bounds[:-1]} == {9_711}
    assert bounds[-1][1] - bounds[-1][0] == 9_702


@pytest.mark.parametrize("n_units,n_bins", [(3, 7), (7, 1_000), (64, 987_654), (1, 3)])
def test_segments_tile_the_session(n_units, n_bins):
    bounds = segment_bounds(n_units, n_bins, max_tokens=50)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_bins
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    k = math.ceil(n_units * n_bins / 50) if n_units * n_bins > 50 else 1
    assert len(bounds) <= k


def test_no_limit_keeps_session_whole():
    assert segment_bounds(10, 10**9, max_tokens=None) == [(0, 10**9)]


def test_empty_trailing_segment_is_dropped():
    # 5 units, 2 bins, L=1: k=10, s=1 -> only 2 non-empty segments
    assert segment_bounds(5, 2, max_tokens=1) == [(0, 1), (1, 2)]


def test_ids():
    assert segment_ids(3) == ["segment_0", "segment_1", "segment_2"]


def test_empty_trailing_segment_with_few_units_is_dropped():
    # 2 units x 4 bins, L=3: k=3, s=2 -> the third segment would be empty
    assert segment_bounds(2, 4, max_tokens=3) == [(0, 2), (2, 4)]


@pytest.mark.parametrize("limit", [1, 7, 8, 15, 16, 40, math.inf])
def test_blocks_are_whole_segments_within_the_limit(limit):
    bounds = segment_bounds(2, 10, max_tokens=8)  # [(0, 4), (4, 8), (8, 10)]
    blocks = merge_blocks(bounds, 2, limit)
    edges = {a for a, _ in bounds} | {10}
    assert blocks[0][0] == 0 and blocks[-1][1] == 10
    assert all(a == b for (_, a), (b, _) in zip(blocks, blocks[1:], strict=False))  # no gap, no overlap
    assert {a for a, _ in blocks} <= edges  # a block never starts inside a segment
    assert all(2 * (b - a) <= limit for a, b in blocks if (a, b) not in bounds)  # joined ones fit
    assert merge_blocks(bounds, 2, math.inf) == [(0, 10)] and merge_blocks(bounds, 2, 1) == bounds
