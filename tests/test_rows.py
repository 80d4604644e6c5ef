"""neuralbench.rows: a row's counts from its zarr chunk when the store holds it, else from its parquet row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from neuralbench.layout import SegmentKey, SessionKey
from neuralbench.rows import ParquetRow, RowSource, list_to_array
from neuralbench.schema import ID_COLUMNS, segment_table


def _rows(folder):
    """``(key, where, counts)`` of every row of a parquet folder."""
    for path in sorted((folder / "data").glob("*.parquet")):
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            table = file.read_row_group(group)
            for r, row in enumerate(table.to_pylist()):
                units = row["spike_counts"]
                counts = (
                    np.array(units, np.uint8).reshape(len(units), -1) if units else np.zeros((0, 0), np.uint8)
                )
                ids = SegmentKey.from_columns(*(row[c] for c in ID_COLUMNS))
                yield ids, ParquetRow(path, group, r, counts.size), counts


def test_every_row_reads_the_same_from_the_store_and_from_parquet(built):
    _, out, _ = built
    with_store, parquet_only = RowSource(out), RowSource(None)
    seen = 0
    for ids, where, counts in _rows(out / "corpus"):
        np.testing.assert_array_equal(with_store.counts(ids, where), counts)
        np.testing.assert_array_equal(parquet_only.counts(ids, where), counts)
        seen += 1
    assert seen > 5
    assert len(parquet_only._files) == len(list((out / "corpus" / "data").glob("*.parquet")))  # opened once


def test_the_store_is_read_when_it_holds_the_row_and_parquet_when_it_does_not(built, tmp_path):
    _, out, _ = built
    ids, where, counts = next(r for r in _rows(out / "components" / "churchland") if r[2].size)
    other = (255 - counts).astype(np.uint8)  # same ids and shape, other counts: another build's row
    same_shape = tmp_path / "same.parquet"
    pq.write_table(segment_table(other, *ids.columns), same_shape)
    row = ParquetRow(same_shape, 0, 0, other.size)
    np.testing.assert_array_equal(RowSource(out).counts(ids, row), counts)  # the store's chunk
    np.testing.assert_array_equal(RowSource(None).counts(ids, row), other)
    shorter = tmp_path / "shorter.parquet"
    pq.write_table(segment_table(other[:, :-1], *ids.columns), shorter)
    row = ParquetRow(shorter, 0, 0, other[:, :-1].size)  # a size the store does not hold: not its row
    np.testing.assert_array_equal(RowSource(out).counts(ids, row), other[:, :-1])
    missing = SegmentKey(SessionKey("churchland", "no-subject", "no-session"), "segment_0")
    np.testing.assert_array_equal(RowSource(out).counts(missing, row), other[:, :-1])


def test_table_is_the_one_row(tmp_path):
    tables = [segment_table(np.full((2, 3), i, np.uint8), "S", f"s{i}", "segment_0", "x") for i in range(5)]
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.concat_tables(tables), path, row_group_size=2)
    row = RowSource(None).table(ParquetRow(path, 1, 1, 6))  # group 1 holds rows 2 and 3
    assert row.num_rows == 1 and row.column("session_id").to_pylist() == ["s3"]
    assert [row.column(c)[0].as_py() for c in ID_COLUMNS] == ["S", "s3", "segment_0", "x"]


def test_list_to_array_respects_offsets_and_chunks():
    counts = [np.arange(i * 6, (i + 1) * 6, dtype=np.uint8).reshape(2, 3) for i in range(3)]
    column = pa.concat_tables(
        [segment_table(c, "S", f"s{i}", "segment_0", "x") for i, c in enumerate(counts)]
    ).column("spike_counts")
    for i, c in enumerate(counts):
        got = list_to_array(column.slice(i, 1))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, c)
    np.testing.assert_array_equal(list_to_array(column.combine_chunks().slice(2, 1)), counts[2])
    empty = segment_table(np.zeros((0, 4), np.uint8), "S", "s", "segment_0", "x").column("spike_counts")
    assert list_to_array(empty).shape == (0, 0)
