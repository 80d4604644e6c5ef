import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neuralbench._thrift import decode_struct, encode_struct
from neuralbench.rowgroups import copy_row_groups, read_footer
from neuralbench.schema import SCHEMA, segment_table
from neuralbench.shards import LEAF, open_parquet


def _file(path, n_rows, seed, rows_per_group=1):
    rng = np.random.default_rng(seed)
    tables = [
        segment_table(rng.integers(0, 9, (3 + i, 50 + 7 * i), dtype=np.uint8), f"sub-{seed}", f"ses-{i}",
                      f"segment_{i}", "xiao")
        for i in range(n_rows)
    ]  # fmt: skip
    with open_parquet(path) as writer:
        for i in range(0, n_rows, rows_per_group):
            group = pa.concat_tables(tables[i : i + rows_per_group])
            writer.write_table(group, row_group_size=rows_per_group)
    return tables


def _footer_bytes(path):
    data = path.read_bytes()
    n = int.from_bytes(data[-8:-4], "little")
    return data[-8 - n : -8]


def test_footer_decodes_and_encodes_to_the_same_bytes(tmp_path):
    _file(tmp_path / "a.parquet", 20, 0)  # 20 row groups: a list longer than 15 items
    raw = _footer_bytes(tmp_path / "a.parquet")
    fields, end = decode_struct(raw)
    assert end == len(raw)
    assert encode_struct(fields) == raw


def test_copied_row_groups_read_back_as_the_source_rows(tmp_path):
    a = _file(tmp_path / "a.parquet", 4, 1)
    b = _file(tmp_path / "b.parquet", 3, 2)
    picks = [("b.parquet", 2), ("a.parquet", 0), ("a.parquet", 3), ("b.parquet", 0), ("a.parquet", 0)]
    tables = {"a.parquet": a, "b.parquet": b}
    assert copy_row_groups(((tmp_path / f, k) for f, k in picks), tmp_path / "out.parquet") == 5
    want = pa.concat_tables([tables[f][k] for f, k in picks])
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.equals(want)
    assert got.schema.metadata == pq.read_schema(tmp_path / "a.parquet").metadata
    pf = pq.ParquetFile(tmp_path / "out.parquet")
    assert pf.metadata.num_rows == 5 and pf.metadata.num_row_groups == 5
    for i in range(5):
        assert pf.read_row_group(i).equals(want.slice(i, 1))
    # the id columns keep their statistics, so a filter can still skip row groups
    assert pq.read_table(tmp_path / "out.parquet", filters=[("session_id", "=", "ses-3")]).num_rows == 1


def test_multi_row_groups_copy_whole(tmp_path):
    t = _file(tmp_path / "a.parquet", 6, 3, rows_per_group=3)
    copy_row_groups([(tmp_path / "a.parquet", 1)], tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").equals(pa.concat_tables(t[3:]))


def test_sources_of_another_schema_are_refused(tmp_path):
    _file(tmp_path / "a.parquet", 1, 0)
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="other.parquet: schema differs"):
        copy_row_groups([(tmp_path / "a.parquet", 0), (tmp_path / "other.parquet", 0)], tmp_path / "o.pq")


@pytest.mark.parametrize("content", [b"", b"PAR1 not really a parquet file", b"x" * 100])
def test_a_file_that_is_not_parquet_is_named(tmp_path, content):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="bad.parquet: not a parquet file"):
        read_footer(bad)


def test_a_missing_row_group_is_named(tmp_path):
    _file(tmp_path / "a.parquet", 2, 0)
    with pytest.raises(ValueError, match="a.parquet: no row group 5"):
        copy_row_groups([(tmp_path / "a.parquet", 5)], tmp_path / "o.parquet")


def test_row_groups_of_files_encoded_otherwise_join_into_one_readable_file(tmp_path):
    """Rows written with other encoder options (delta-packed counts) join dictionary-encoded ones."""
    from datasets import load_dataset

    a = _file(tmp_path / "dict.parquet", 2, 5)
    other = _file(tmp_path / "x.parquet", 2, 6)
    options = {
        "compression": "zstd",
        "use_dictionary": ["subject_id"],
        "column_encoding": {LEAF: "DELTA_BINARY_PACKED"},
    }
    with pq.ParquetWriter(tmp_path / "delta.parquet", SCHEMA, **options) as writer:
        for t in other:
            writer.write_table(t, row_group_size=1)
    leaf = pq.ParquetFile(tmp_path / "delta.parquet").metadata.row_group(0).column(0)
    assert "DELTA_BINARY_PACKED" in leaf.encodings and not leaf.has_dictionary_page
    (tmp_path / "data").mkdir()
    picks = [(tmp_path / "dict.parquet", 0), (tmp_path / "delta.parquet", 1), (tmp_path / "dict.parquet", 1)]
    copy_row_groups(picks, tmp_path / "data" / "train-00000-of-00001.parquet")
    want = pa.concat_tables([a[0], other[1], a[1]])
    assert pq.read_table(tmp_path / "data" / "train-00000-of-00001.parquet").equals(want)
    assert load_dataset(str(tmp_path / "data"), split="train").to_list() == want.to_pylist()
