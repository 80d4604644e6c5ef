"""Rows by their ids: the one place that finds a row's counts, for cards, ``show``, the merge.

Inside a build the zarr store is the hub: a row's counts are its segment's chunk
(:func:`neuralbench.store.read_segment`, which alone knows a session's segments),
much cheaper than decoding its parquet row. A hub folder with no store beside it,
or a row the store does not hold as it is in the parquet (another build), is read
from the parquet row group that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from neuralbench.layout import BuildLayout, SegmentKey
from neuralbench.store import read_segment

__all__ = ["ParquetRow", "RowSource", "list_to_array"]


class ParquetRow:
    """Where a row sits in a parquet folder: file, row group, row in it, and its size."""

    __slots__ = ("file", "group", "row", "tokens")

    def __init__(self, file: str | os.PathLike[str], group: int, row: int, tokens: int):
        self.file, self.group, self.row, self.tokens = Path(file), group, row, tokens


class RowSource:
    """Counts of rows named by their :class:`~neuralbench.layout.SegmentKey`.

    ``store`` is the build folder (``OUT``, or its layout) whose zarr store holds
    the rows, or None for a hub folder alone. Parquet files are opened once each.
    """

    def __init__(self, store: str | os.PathLike[str] | BuildLayout | None):
        self.layout = BuildLayout.of(store) if store is not None else None
        self._files: dict[Path, pq.ParquetFile] = {}

    def counts(self, key: SegmentKey, where: ParquetRow) -> np.ndarray:
        """The row's uint8 ``(unit, time)`` counts: its zarr chunk, else its parquet row."""
        if self.layout is not None:
            stored = read_segment(self.layout, *key.session, key.segment, tokens=where.tokens)
            if stored is not None:
                return stored
        return list_to_array(self.table(where).column("spike_counts"))

    def table(self, where: ParquetRow) -> pa.Table:
        """The row as a one-row table of its parquet file."""
        if where.file not in self._files:
            self._files[where.file] = pq.ParquetFile(where.file)
        return self._files[where.file].read_row_group(where.group).slice(where.row, 1)


def list_to_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A one-row ``List(List(uint8))`` column as a ``(units, bins)`` uint8 array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    rows = column.flatten()  # the units of the (single) row, offsets respected
    flat = rows.flatten().to_numpy(zero_copy_only=False).astype(np.uint8, copy=False)
    n_units = len(rows)
    return flat.reshape(n_units, -1) if n_units else np.zeros((0, 0), np.uint8)
