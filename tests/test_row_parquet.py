"""The one-row files of ``row_parquet``: every reader of the corpus gets pyarrow's rows back."""

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralbench.row_parquet import encode_counts, write_row
from neuralbench.rowgroups import copy_row_groups, read_footer
from neuralbench.schema import SCHEMA, segment_table
from neuralbench.shards import open_parquet

IDS = ("sub-A", "ses-1", "segment_0", "xiao")


def _pyarrow_row(path, counts, ids=IDS):
    with open_parquet(path) as writer:
        writer.write_table(segment_table(counts, *ids), row_group_size=1)


@settings(max_examples=60, deadline=None)
@given(
    n_units=st.integers(1, 12),
    n_bins=st.integers(1, 70),
    top=st.sampled_from([0, 1, 2, 3, 7, 8, 20, 127, 128, 255]),
    seed=st.integers(0, 2**16),
)
def test_rows_read_back_as_pyarrow_writes_them(tmp_path_factory, n_units, n_bins, top, seed):
    """Every bit width (1-8), single units and bins, all-zero rows: the table pyarrow reads back
    equals the one pyarrow's own writer gives for the same row, schema metadata included."""
    counts = np.random.default_rng(seed).integers(0, top + 1, (n_units, n_bins), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("rows")
    write_row(folder / "ours.parquet", counts, IDS)
    _pyarrow_row(folder / "theirs.parquet", counts)
    ours, theirs = pq.read_table(folder / "ours.parquet"), pq.read_table(folder / "theirs.parquet")
    assert ours.equals(theirs)
    assert ours.schema.metadata == theirs.schema.metadata == SCHEMA.metadata
    got = np.asarray(ours.column("spike_counts")[0].values.flatten(), dtype=np.uint8)
    assert np.array_equal(got.reshape(n_units, n_bins), counts)


def test_metadata_says_what_the_pages_hold(tmp_path):
    counts = np.random.default_rng(0).poisson(0.3, (40, 1000)).astype(np.uint8)
    write_row(tmp_path / "r.parquet", counts, IDS)
    meta = pq.ParquetFile(tmp_path / "r.parquet").metadata
    assert (meta.num_rows, meta.num_row_groups) == (1, 1)
    column = meta.row_group(0).column(0)
    assert column.num_values == counts.size
    assert column.has_dictionary_page and column.compression == "ZSTD"
    assert set(column.encodings) == {"PLAIN", "RLE", "RLE_DICTIONARY"}
    assert not column.is_stats_set  # as WRITER_OPTIONS: no statistics for the counts
    assert meta.row_group(0).column(1).is_stats_set  # the ids keep theirs (pyarrow's chunks)
    assert meta.row_group(0).total_byte_size == sum(
        meta.row_group(0).column(i).total_uncompressed_size for i in range(5)
    )


def test_a_row_larger_than_one_packing_step_and_not_a_multiple_of_8(tmp_path):
    counts = np.random.default_rng(1).integers(0, 6, (3, (1 << 20) // 3 + 5), dtype=np.uint8)
    write_row(tmp_path / "r.parquet", counts, IDS)
    got = pq.read_table(tmp_path / "r.parquet").column("spike_counts")[0].values.flatten()
    assert np.array_equal(np.asarray(got, dtype=np.uint8).reshape(counts.shape), counts)


def test_smaller_than_pyarrows_file_for_spike_counts(tmp_path):
    """The point of the encoder besides CPU: no larger files (bench/README.md has the figures)."""
    counts = np.random.default_rng(2).poisson(0.16, (100, 20_000)).astype(np.uint8)
    write_row(tmp_path / "ours.parquet", counts, IDS)
    _pyarrow_row(tmp_path / "theirs.parquet", counts)
    assert (tmp_path / "ours.parquet").stat().st_size <= (tmp_path / "theirs.parquet").stat().st_size


@pytest.mark.parametrize("shape", [(0, 10), (4, 0)])
def test_empty_segments_are_left_to_pyarrow(tmp_path, shape):
    counts = np.zeros(shape, np.uint8)
    write_row(tmp_path / "r.parquet", counts, IDS)
    _pyarrow_row(tmp_path / "theirs.parquet", counts)
    assert (tmp_path / "r.parquet").read_bytes() == (tmp_path / "theirs.parquet").read_bytes()


def test_data_page_sits_after_the_dictionary_page():
    chunk, uncompressed, data_start = encode_counts(np.ones((2, 3), np.uint8))
    assert 0 < data_start < len(chunk) and uncompressed > 0


def _rows_and_their_files(tmp_path):
    rng = np.random.default_rng(3)
    rows = [rng.integers(0, 5 + 40 * i, (3 + i, 200 + 31 * i), dtype=np.uint8) for i in range(4)]
    files = []
    for i, counts in enumerate(rows):
        files.append(tmp_path / f"{i}.parquet")
        ids = ("sub-A", f"ses-{i}", f"segment_{i}", "xiao")
        (write_row if i % 2 else _pyarrow_row)(files[-1], counts, ids)  # both writers, mixed
    return rows, files


def test_copied_row_groups_mix_both_writers(tmp_path):
    rows, files = _rows_and_their_files(tmp_path)
    assert copy_row_groups([(f, 0) for f in files], tmp_path / "shard.parquet") == 4
    table = pq.read_table(tmp_path / "shard.parquet")
    for i, counts in enumerate(rows):
        got = np.asarray(table.column("spike_counts")[i].values.flatten(), dtype=np.uint8)
        assert np.array_equal(got.reshape(counts.shape), counts)
    assert len(read_footer(tmp_path / "shard.parquet").spans) == 4


def test_read_by_datasets_streaming_and_not(tmp_path):
    from datasets import load_dataset

    rows, files = _rows_and_their_files(tmp_path)
    kept = [str(f) for f in files[1::2]]  # our writer's
    for streaming in (False, True):
        ds = load_dataset("parquet", data_files=kept, split="train", streaming=streaming)
        got = [np.asarray(r["spike_counts"], dtype=np.uint8) for r in ds]
        assert [g.shape for g in got] == [rows[1].shape, rows[3].shape]
        assert np.array_equal(got[0], rows[1]) and np.array_equal(got[1], rows[3])


def test_read_by_duckdb(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    rows, files = _rows_and_their_files(tmp_path)
    query = f"SELECT spike_counts, session_id FROM read_parquet('{files[1]}')"
    ((counts, session),) = duckdb.sql(query).fetchall()
    assert session == "ses-1" and np.array_equal(np.asarray(counts, dtype=np.uint8), rows[1])
