import numpy as np
import pyarrow.parquet as pq
import pytest

from neuralbench.layout import BuildLayout, SessionKey
from neuralbench.schema import SCHEMA, segment_table
from neuralbench.segment_rows import SegmentRows, fingerprint, row_nbytes, rows_dir, segment_files

ATTRS = {"source_sha256": "ab", "recipe_token": "r1", "tokens": 120, "reader_version": 2}


@pytest.mark.parametrize("shape", [(4, 50), (9, 3), (1, 0), (100, 1000)])
@pytest.mark.parametrize("ids", [("sub-1", "ses-a", "segment_0", "kim"), ("", "séance", "segment_12", "h2")])
def test_row_nbytes_is_the_tables(shape, ids):
    assert row_nbytes(*shape, ids) == segment_table(np.zeros(shape, np.uint8), *ids).nbytes


KEY_A = SessionKey("kim", "sub-1", "ses-a")


def test_rows_dir_changes_with_whatever_the_rows_depend_on(tmp_path):
    base = rows_dir(BuildLayout(tmp_path), KEY_A, ATTRS)
    assert base.parent == tmp_path / "components" / ".staging" / "kim" / "sub-1"
    assert base.name.startswith(".ses-a.rows-")
    assert rows_dir(BuildLayout(tmp_path), KEY_A, dict(ATTRS)) == base
    for key, value in [
        ("source_sha256", "cd"),
        ("recipe_token", "r2"),
        ("tokens", 121),
        ("reader_version", 3),
    ]:
        assert rows_dir(BuildLayout(tmp_path), KEY_A, {**ATTRS, key: value}) != base
    assert rows_dir(BuildLayout(tmp_path), KEY_A._replace(session="ses-b"), ATTRS) != base
    assert fingerprint("s", "p", {})[-1] == 1  # attrs written before reader versions: version 1


def _block_rows(tmp_path, counts, bounds, block_starts):
    rows = SegmentRows(str(tmp_path / "rows"), "xiao", "sub-1", "ses-a", bounds)
    edges = list(block_starts) + [counts.shape[1]]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        rows(a, counts[:, a:b])
    return rows


def test_each_segment_of_a_block_becomes_its_one_row_file(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.binomial(20, rng.uniform(0.005, 0.1, (6, 1)), (6, 700)).astype(np.uint8)
    counts[2, 5] = 255
    bounds = [[0, 250], [250, 500], [500, 700]]
    assert segment_files(tmp_path / "rows", 3) is None
    _block_rows(tmp_path, counts, bounds, [0, 500])  # blocks of segments {0, 1} and {2}
    files = segment_files(tmp_path / "rows", 3)
    assert [f.name for f in files] == ["segment_0.parquet", "segment_1.parquet", "segment_2.parquet"]
    assert sorted(p.name for p in (tmp_path / "rows").iterdir()) == [f.name for f in files]  # no partial left
    for i, (path, (a, b)) in enumerate(zip(files, bounds, strict=True)):
        pf = pq.ParquetFile(path)
        assert pf.metadata.num_rows == pf.metadata.num_row_groups == 1
        table = pf.read()
        assert table.schema.metadata == SCHEMA.metadata
        assert table.equals(segment_table(counts[:, a:b], "sub-1", "ses-a", f"segment_{i}", "xiao"))
        assert np.array_equal(np.array(table.column("spike_counts")[0].as_py(), np.uint8), counts[:, a:b])


def test_a_missing_segment_file_means_no_rows_and_a_rerun_overwrites(tmp_path):
    counts = np.arange(3 * 40, dtype=np.uint8).reshape(3, 40)
    bounds = [[0, 20], [20, 40]]
    rows = _block_rows(tmp_path, counts, bounds, [0, 20])
    (tmp_path / "rows" / "segment_1.parquet").unlink()
    assert segment_files(tmp_path / "rows", 2) is None
    rows(20, counts[:, 20:])  # the block task run again
    files = segment_files(tmp_path / "rows", 2)
    assert pq.read_table(files[1]).equals(
        segment_table(counts[:, 20:], "sub-1", "ses-a", "segment_1", "xiao")
    )
