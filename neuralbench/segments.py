"""The published segment rule: cut a session along time into rows of at most ~L tokens,
and join the segments into the blocks one task computes."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["MAX_TOKENS", "merge_blocks", "segment_bounds", "segment_ids"]

MAX_TOKENS = 10_000_000
"""Token limit of one row (units x bins) in the published corpus."""


def segment_bounds(n_units: int, n_bins: int, max_tokens: int | None = MAX_TOKENS) -> list[tuple[int, int]]:
    """Return the ``[start, stop)`` bin ranges of a session's segments.

    For ``n_units * n_bins > max_tokens`` (strictly): ``k = ceil(n*T / L)``
    segments of ``ceil(T / k)`` bins each, the last one shorter; otherwise one
    segment. Units are never split, so a segment may exceed the limit by fewer
    than ``n_units`` tokens, exactly as in the published corpus. When rounding
    leaves trailing segments empty (``(k-1) * ceil(T/k) >= T``, which needs about
    ``n_units**2 * T > max_tokens**2``: no real session comes close) they are
    dropped, where the published builder would emit rows of zero bins.
    ``max_tokens=None`` keeps the session whole.

    Examples
    --------
    >>> segment_bounds(2, 10, max_tokens=8)
    [(0, 4), (4, 8), (8, 10)]
    """
    if n_units < 0 or n_bins < 0:
        raise ValueError(f"negative session shape ({n_units}, {n_bins})")
    tokens = n_units * n_bins
    if max_tokens is None or tokens <= max_tokens or n_bins == 0:
        return [(0, n_bins)]
    k = math.ceil(tokens / max_tokens)
    size = math.ceil(n_bins / k)
    return [(i * size, min((i + 1) * size, n_bins)) for i in range(k) if i * size < n_bins]


def segment_ids(n_segments: int) -> list[str]:
    """Row ids of a session's segments: ``segment_0``, ``segment_1``, ..."""
    return [f"segment_{i}" for i in range(n_segments)]


def merge_blocks(bounds: Sequence[tuple[int, int]], n_units: int, limit: float) -> list[tuple[int, int]]:
    """Join consecutive segments into blocks of at most ``limit`` tokens (at least one each).

    Segment boundaries stay block boundaries, so each zarr chunk (= segment) is
    written by exactly one task. ``limit=math.inf`` makes the session one block.

    Examples
    --------
    >>> merge_blocks([(0, 4), (4, 8), (8, 10)], 2, limit=16)
    [(0, 8), (8, 10)]
    """
    blocks: list[tuple[int, int]] = []
    for start, stop in bounds:
        if blocks and n_units * (stop - blocks[-1][0]) <= limit:
            blocks[-1] = (blocks[-1][0], stop)
        else:
            blocks.append((start, stop))
    return blocks
