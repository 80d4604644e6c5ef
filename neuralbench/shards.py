"""Parquet shards of bounded size, named as the Hugging Face hub expects.

Every row is its own row group, so a row can be read back alone; rows are
grouped into shards of at most ``max_shard_bytes`` (:func:`plan_shards`) and each
shard is named ``<split>-00000-of-0000N.parquet`` once N is known
(:func:`shard_name`). The files are written by ``export`` and ``merge``, through
:func:`open_parquet`'s settings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pyarrow.parquet as pq

from neuralbench.schema import ID_COLUMNS, SCHEMA

__all__ = [
    "DEFAULT_SHARD_BYTES",
    "LEAF",
    "WRITER_OPTIONS",
    "open_parquet",
    "parquet_rows",
    "plan_shards",
    "shard_name",
]

DEFAULT_SHARD_BYTES = 500 << 20


def shard_name(split: str, i: int, n: int) -> str:
    """``<split>-0000i-of-0000n.parquet``, the hub's shard name."""
    return f"{split}-{i:05d}-of-{n:05d}.parquet"


LEAF = "spike_counts.list.element.list.element"
"""The parquet column of the counts (INT32, logical uint8) in the corpus schema."""

WRITER_OPTIONS = {"compression": "zstd", "write_statistics": list(ID_COLUMNS)}
"""How every row is encoded: dictionary + zstd (level 1), no min/max statistics for the counts.

The statistics would cost a third of the write time and say nothing (0 and 255 in
every row group); the ids keep theirs. The dictionary is the costly part of the
encode, but every cheaper option (``bench/encoding.py``: delta-packed counts
1.5-1.9x less CPU and ~80 MB less memory per 10 M tokens) gives files 19-57 %
larger that decode no faster; the files are downloaded and read far more often
than written, so the smaller ones are kept (bench/README.md).
"""


def open_parquet(path: str | os.PathLike[str]) -> pq.ParquetWriter:
    """A writer of the corpus schema, with the settings every shard shares (same bytes everywhere)."""
    return pq.ParquetWriter(path, SCHEMA, **WRITER_OPTIONS)


def plan_shards(sizes: Sequence[int], max_shard_bytes: int) -> list[list[int]]:
    """Split rows of the given sizes, in order, into the fewest balanced shards of <= ``max_shard_bytes``.

    ``n = ceil(total / max_shard_bytes)`` shards; a row goes to the shard where its
    first byte falls when the total is cut into ``n`` equal ranges, so each shard
    holds about ``total / n`` and exceeds ``max_shard_bytes`` by at most its last
    row. Balanced shards let parallel writers finish together. Always at least
    one (maybe empty) shard, as an empty split still gets one file.
    Returns the row positions of each shard.
    """
    total = int(sum(sizes))
    n = max(1, -(-total // max(max_shard_bytes, 1)))
    shards: list[list[int]] = [[] for _ in range(n)]
    start = 0
    for i, size in enumerate(sizes):
        shards[min(start * n // max(total, 1), n - 1)].append(i)
        start += size
    return [s for s in shards if s] or [[]]


def parquet_rows(pf: pq.ParquetFile, columns: Sequence[str]) -> Iterator[tuple[int, int, tuple, int]]:
    """``(row group, row in it, values of columns, tokens)`` of every row, from metadata and
    the (small) ``columns`` alone: a row's tokens are its share of its group's counts (our
    writers put one row in each group)."""
    values = pf.read(columns=list(columns)).to_pydict()
    row = 0
    for rg in range(pf.metadata.num_row_groups):
        group = pf.metadata.row_group(rg)
        tokens = group.column(0).num_values // max(group.num_rows, 1)
        for r in range(group.num_rows):
            yield rg, r, tuple(values[c][row] for c in columns), tokens
            row += 1
