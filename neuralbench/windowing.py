"""Fixed-size training windows (units x bins, uint8) cut from a build's store or from parquet.

An epoch is planned from metadata alone: every segment is tiled with
``n_bins // bins`` non-overlapping windows at a seeded random offset (torch_brain's
random fixed-window sampling). Windows never cross a segment boundary: a segment
is one zarr chunk and one parquet row, so a window costs one chunk decode, and
both sources cut exactly the same windows for a seed. Segments are shuffled and
dealt to shards (DataLoader workers x distributed ranks), each segment to one
shard, so each segment is decoded once per epoch and each window is yielded
exactly once overall. Inside a shard the windows of ``shuffle_segments``
segments at a time are mixed, which bounds memory to that many decoded segments.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuralbench.errors import NeuralbenchError

__all__ = ["Segment", "UnitPolicy", "Windows", "windows", "windows_per_segment"]

logger = logging.getLogger(__name__)


class UnitPolicy(enum.StrEnum):
    """What a window does with a session of more or fewer units than ``units``.

    Fewer units are always padded with zero rows (``unit_index`` -1), except under SKIP.
    """

    SAMPLE = "sample"  # more units: a random subset of ``units`` rows per window
    SPLIT = "split"  # more units: a random partition into ceil(n / units) windows, every count used
    SKIP = "skip"  # sessions with fewer units are left out; more units: as SAMPLE


@dataclass(frozen=True)
class Segment:
    """One stored segment as the plan sees it: who it is, its shape when known, where it lives.

    ``n_units``/``n_bins``/``start`` are None for a parquet row until it is decoded;
    ``weight`` balances the shards (windows for zarr, tokens for parquet).
    """

    source_dataset: str
    subject_id: str
    session_id: str
    segment_id: str
    tokens: int
    weight: int
    n_units: int | None = None
    n_bins: int | None = None
    start: int | None = None
    where: Any = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.source_dataset, self.subject_id, self.session_id, self.segment_id)


class Windows:
    """One shard of the windows of a source: iterable, with a cheap ``len()`` for zarr.

    Built by :func:`windows`; :meth:`shard` and :meth:`set_epoch` give the views a
    DataLoader worker or a distributed rank iterates (see ``neuralbench.loader``).
    Yields dicts: ``spike_counts`` (uint8, units x bins), ``source_dataset``,
    ``subject_id``, ``session_id``, ``segment_id``, ``time_bin`` (first bin in the
    stored session), ``unit_index`` (int64 (units,), the session row of each line, -1 = padding).
    """

    def __init__(
        self,
        source: Any,
        *,
        units: int,
        bins: int,
        seed: int,
        unit_policy: UnitPolicy,
        shuffle_segments: int,
        epoch: int,
        epochs: int | None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.source = source
        self.units, self.bins, self.seed = units, bins, seed
        self.unit_policy = unit_policy
        self.shuffle_segments = max(1, shuffle_segments)
        self.epoch, self.epochs = epoch, epochs
        self.levels: tuple[tuple[int, int], ...] = () if shard == (0, 1) else (shard,)

    def shard(self, index: int, count: int) -> Windows:
        """The ``index``-th of ``count`` disjoint parts of this shard (together: all its windows)."""
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} out of range for {count} shards")
        view = _copy(self)
        view.levels = (*self.levels, (index, count))
        return view

    @property
    def count(self) -> int:
        """Into how many shards the epoch is cut (1: the whole epoch)."""
        return math.prod(n for _, n in self.levels)

    def set_epoch(self, epoch: int) -> None:
        """Plan the given epoch next (as ``DistributedSampler.set_epoch``): other offsets and order."""
        self.epoch = epoch

    def n_windows(self, segment: Segment) -> int:
        """Windows one decoded (or zarr-described) segment gives under this policy."""
        return windows_per_segment(
            segment.n_units or 0, segment.n_bins or 0, self.units, self.bins, self.unit_policy
        )

    def __len__(self) -> int:
        if self.epochs is None:
            raise TypeError("an endless window stream (epochs=None) has no length")
        total = 0
        for epoch in range(self.epoch, self.epoch + self.epochs):
            total += sum(self.n_windows(s) for s in self.source.shapes(self._segments_of(epoch)))
        return total

    def __iter__(self) -> Iterator[dict[str, Any]]:
        epoch = self.epoch
        while self.epochs is None or epoch < self.epoch + self.epochs:
            yield from self._epoch(epoch)
            epoch += 1

    def _segments_of(self, epoch: int) -> list[Segment]:
        """This shard's segments this epoch: a seeded order, dealt level by level (ranks, then
        workers), so a rank's workers together hold exactly that rank's segments."""
        segments = self.source.segments
        mine = [segments[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(segments))]
        for index, count in self.levels:
            mine = [mine[i] for i in _deal([s.weight for s in mine], count)[index]]
        return mine

    def _epoch(self, epoch: int) -> Iterator[dict[str, Any]]:
        mine = self._segments_of(epoch)
        mix = np.random.default_rng([self.seed, epoch, *(x for level in self.levels for x in level)])
        for g in range(0, len(mine), self.shuffle_segments):
            loaded = []
            for segment in mine[g : g + self.shuffle_segments]:
                try:
                    segment, counts = self.source.read(segment)
                except NeuralbenchError as exc:
                    logger.error("skipped %s: %s", "/".join(segment.key), exc)
                    continue
                loaded.append((segment, counts, self._cuts(segment, epoch)))
            cuts = [(k, start, rows) for k, (_, _, cs) in enumerate(loaded) for start, rows in cs]
            for i in mix.permutation(len(cuts)):
                k, start, rows = cuts[i]
                yield self._window(loaded[k][0], loaded[k][1], start, rows)

    def _cuts(self, segment: Segment, epoch: int) -> list[tuple[int, np.ndarray]]:
        """``(first bin in the segment, unit rows)`` of every window of a segment this epoch.

        Drawn from the segment's own generator, so the same windows whatever the shard or source.
        """
        n_units, n_bins = segment.n_units or 0, segment.n_bins or 0
        n_times = n_bins // self.bins
        if windows_per_segment(n_units, n_bins, self.units, self.bins, self.unit_policy) == 0:
            return []
        rng = np.random.default_rng([self.seed, epoch, _key_hash(segment.key)])
        offset = int(rng.integers(0, n_bins - n_times * self.bins + 1))
        cuts = []
        for t in range(n_times):
            for rows in _unit_groups(rng, n_units, self.units, self.unit_policy):
                cuts.append((offset + t * self.bins, rows))
        return cuts

    def _window(self, segment: Segment, counts: np.ndarray, start: int, rows: np.ndarray) -> dict[str, Any]:
        span = counts[:, start : start + self.bins]  # a view: take() copies the rows once
        if len(rows) == self.units:
            spike_counts, unit_index = np.take(span, rows, axis=0), rows.astype(np.int64, copy=False)
        else:
            spike_counts = np.zeros((self.units, self.bins), dtype=np.uint8)
            spike_counts[: len(rows)] = np.take(span, rows, axis=0)  # take(out=) is 5x slower
            unit_index = np.full(self.units, -1, dtype=np.int64)
            unit_index[: len(rows)] = rows
        return {
            "spike_counts": spike_counts,
            "source_dataset": segment.source_dataset,
            "subject_id": segment.subject_id,
            "session_id": segment.session_id,
            "segment_id": segment.segment_id,
            "time_bin": int(segment.start or 0) + start,
            "unit_index": unit_index,
        }


def _copy(w: Windows) -> Windows:
    view = Windows.__new__(Windows)
    view.__dict__.update(w.__dict__)
    return view


def windows_per_segment(n_units: int, n_bins: int, units: int, bins: int, policy: UnitPolicy) -> int:
    """Windows a segment of ``n_units x n_bins`` gives: ``n_bins // bins`` time positions, times
    the unit groups of each (several under SPLIT, none for a SKIPped session)."""
    if n_units == 0 or (policy is UnitPolicy.SKIP and n_units < units):
        return 0
    groups = math.ceil(n_units / units) if policy is UnitPolicy.SPLIT else 1
    return (n_bins // bins) * groups


def _unit_groups(rng: np.random.Generator, n_units: int, units: int, policy: UnitPolicy) -> list[np.ndarray]:
    """The unit rows of each window at one time position, each group in session order."""
    if n_units <= units:
        return [np.arange(n_units)]
    if policy is UnitPolicy.SPLIT:
        perm = rng.permutation(n_units)
        return [np.sort(perm[i : i + units]) for i in range(0, n_units, units)]
    return [np.sort(rng.permutation(n_units)[:units])]  # 100x faster than choice(replace=False)


def _key_hash(key: Sequence[str]) -> int:
    """A stable 63-bit number of a segment's ids (Python's ``hash`` of a str changes per process)."""
    return int.from_bytes(hashlib.sha256("\0".join(key).encode()).digest()[:8], "little") >> 1


def _deal(weights: Sequence[int], n_shards: int) -> list[list[int]]:
    """Positions of ``weights`` given to each of ``n_shards``: each, in order, to the lightest shard."""
    heap = [(0, s) for s in range(n_shards)]
    shards: list[list[int]] = [[] for _ in range(n_shards)]
    for i, weight in enumerate(weights):
        load, s = heapq.heappop(heap)
        shards[s].append(i)
        heapq.heappush(heap, (load + max(int(weight), 1), s))
    return shards


def _distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit rank and world size, else torch.distributed's when initialised, else (0, 1).

    torch is looked up only when the caller already imported it: the core never imports torch.
    """
    if rank is None or world_size is None:
        dist = getattr(sys.modules.get("torch"), "distributed", None)
        if dist is not None and dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
    return (0 if rank is None else rank), (1 if world_size is None else world_size)


def windows(
    source: str | os.PathLike[str],
    *,
    units: int = 64,
    bins: int = 100,
    seed: int = 0,
    split: str | None = "train",
    unit_policy: UnitPolicy | str = UnitPolicy.SAMPLE,
    components: Sequence[str] | None = None,
    shuffle_segments: int = 8,
    epoch: int = 0,
    epochs: int | None = 1,
    rank: int | None = None,
    world_size: int | None = None,
) -> Windows:
    """Fixed ``units x bins`` uint8 windows of a build (its zarr store) or of parquet only.

    Parameters
    ----------
    source
        A build folder ``OUT`` (windows come from ``OUT/zarr``, the split from the
        corpus manifest), a hub folder holding ``data/*.parquet``, or a hub
        repository id ``owner/name`` (its parquet files, read through ``HfFileSystem``).
    units, bins
        Window shape. A segment shorter than ``bins`` gives no window.
    split
        ``"train"``, ``"test"`` or None (every stored session). A session of the
        corpus' test split never gives a train window.
    unit_policy
        See :class:`UnitPolicy`: ``"sample"`` (default), ``"split"`` or ``"skip"``.
    shuffle_segments
        Segments whose windows are mixed together (memory: that many decoded segments).
    epoch, epochs
        First epoch planned and how many to yield (None: endless).
    rank, world_size
        This process' part of the epoch; default from ``torch.distributed`` when initialised.

    Returns
    -------
    Windows
        This process' share of the windows, as dicts of counts and ids (see :class:`Windows`).

    Examples
    --------
    >>> for w in windows("demo-out", units=64, bins=100, seed=0):  # doctest: +SKIP
    ...     w["spike_counts"].shape
    (64, 100)
    """
    src, policy = _open(source, split, components, units, bins, unit_policy)
    whole = Windows(
        src,
        units=units,
        bins=bins,
        seed=seed,
        unit_policy=policy,
        shuffle_segments=shuffle_segments,
        epoch=epoch,
        epochs=epochs,
    )
    return _share(whole, rank, world_size)


def _open(
    source: str | os.PathLike[str],
    split: str | None,
    components: Sequence[str] | None,
    units: int,
    bins: int,
    unit_policy: UnitPolicy | str,
) -> tuple[Any, UnitPolicy]:
    """The segments windows are cut from, and the unit policy, once the window shape is known valid."""
    from neuralbench.window_sources import open_source  # it imports this module

    if units < 1 or bins < 1:
        raise ValueError(f"units and bins must be positive, got units={units}, bins={bins}")
    policy = UnitPolicy(unit_policy)
    src = open_source(source, split=split, components=components, units=units, bins=bins, policy=policy)
    return src, policy


def _share(whole: Windows, rank: int | None, world_size: int | None) -> Windows:
    """This process' shard of a whole epoch plan (all of it when there is one process)."""
    rank, world_size = _distributed(rank, world_size)
    return whole if world_size == 1 else whole.shard(rank, world_size)
