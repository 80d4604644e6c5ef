import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neuralbench.schema import ID_COLUMNS, SCHEMA, segment_table
from neuralbench.shards import LEAF, open_parquet, parquet_rows, plan_shards, shard_name


def _rows(n, seed=0, shape=(3, 40)):
    rng = np.random.default_rng(seed)
    return [
        segment_table(
            rng.poisson(0.5 + i, shape).astype(np.uint8), f"sub-{i % 2}", f"ses-{i}", "segment_0", "kim"
        )
        for i in range(n)
    ]


def _mua(units=20, bins=5_000, seed=0):
    """Counts like xiao's multi-unit activity: 20 ms bins of 1 ms samples at 5-100 Hz, one 255."""
    rng = np.random.default_rng(seed)
    counts = rng.binomial(20, rng.uniform(0.005, 0.1, (units, 1)), (units, bins)).astype(np.uint8)
    counts[0, 0] = 255
    return counts


@pytest.mark.parametrize(
    "sizes,limit,want",
    [
        ([], 10, [[]]),
        ([5] * 12, 25, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]),  # 60 bytes: 3 shards of 20
        ([30, 1, 1], 10, [[0], [1, 2]]),  # a huge row: its empty shards are dropped
        ([3, 3], 100, [[0, 1]]),
    ],
)
def test_plan_shards_balanced_and_bounded(sizes, limit, want):
    got = plan_shards(sizes, limit)
    assert got == want
    assert [i for s in got for i in s] == list(range(len(sizes)))
    assert all(sum(sizes[i] for i in s[:-1]) < limit for s in got)


def test_shard_names_are_the_hubs():
    assert [shard_name("train", i, 4) for i in range(4)] == [
        f"train-0000{i}-of-00004.parquet" for i in range(4)
    ]
    assert shard_name("test", 0, 1) == "test-00000-of-00001.parquet"


def test_open_parquet_settings_are_those_of_every_shard(tmp_path):
    counts = _mua()
    with open_parquet(tmp_path / "a.parquet") as writer:
        writer.write_table(segment_table(counts, "s", "p", "segment_0", "xiao"), row_group_size=1)
    pf = pq.ParquetFile(tmp_path / "a.parquet")
    assert pf.schema_arrow.metadata[b"huggingface"] == SCHEMA.metadata[b"huggingface"]
    group = pf.metadata.row_group(0)
    leaf = group.column(0)
    assert leaf.path_in_schema == LEAF and leaf.compression == "ZSTD"
    assert "RLE_DICTIONARY" in leaf.encodings and leaf.has_dictionary_page
    assert not leaf.is_stats_set  # 0 and 255 in every row group: no statistics
    for i, name in enumerate(ID_COLUMNS, start=1):
        assert group.column(i).path_in_schema == name and group.column(i).is_stats_set
    assert group.total_byte_size < counts.size  # compressed well below a byte per token
    got = np.array(pf.read().column("spike_counts")[0].as_py(), dtype=np.uint8)
    assert np.array_equal(got, counts)


def test_shards_read_by_datasets_and_duckdb(tmp_path):
    from datasets import load_dataset

    tables = [segment_table(_mua(seed=s), "s", f"ses-{s}", "segment_0", "xiao") for s in range(2)]
    tables.append(segment_table(np.zeros((0, 0), np.uint8), "s", "empty", "segment_0", "xiao"))
    (tmp_path / "data").mkdir()
    for i, table in enumerate(tables):  # a shard a row, the last one empty of units and bins
        with open_parquet(tmp_path / "data" / shard_name("train", i, len(tables))) as writer:
            writer.write_table(table, row_group_size=1)
    want = pa.concat_tables(tables).to_pylist()
    ds = load_dataset(str(tmp_path), split="train")
    assert ds.to_list() == want
    assert list(load_dataset(str(tmp_path), split="train", streaming=True)) == want
    duckdb = pytest.importorskip("duckdb")
    files = sorted(str(p) for p in (tmp_path / "data").glob("*.parquet"))
    got = duckdb.sql(f"SELECT * FROM read_parquet({files!r})").fetchall()
    assert sorted(got, key=str) == sorted((tuple(r.values()) for r in want), key=str)


def test_parquet_rows_gives_each_rows_tokens_from_metadata(tmp_path):
    tables = _rows(3, shape=(4, 25)) + [
        segment_table(np.zeros((2, 7), np.uint8), "a", "b", "segment_1", "kim")
    ]
    with open_parquet(tmp_path / "a.parquet") as writer:
        for t in tables:
            writer.write_table(t, row_group_size=1)
    got = list(parquet_rows(pq.ParquetFile(tmp_path / "a.parquet"), ["session_id", "segment_id"]))
    assert got == [(i, 0, (f"ses-{i}", "segment_0"), 100) for i in range(3)] + [
        (3, 0, ("b", "segment_1"), 14)
    ]
