"""Per-session staging and the component finalize: order, bounded parts, reuse, atomicity."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr

from neuralbench import export, store
from neuralbench.layout import BuildLayout, SessionKey
from neuralbench.pipeline.graph import write_session

CARD = {"name": "kim", "summary": "test", "built_with": "neuralbench test"}


def _store_session(out, name, subject, session, counts, segment_bins, sha="a"):
    out, key = BuildLayout.of(out), SessionKey(name, subject, session)
    store.init_component(out, name, [subject])
    n = counts.shape[1]
    bounds = [[s, min(s + segment_bins, n)] for s in range(0, n, segment_bins)]
    lazy = xr.DataArray(counts, dims=("unit", "time"), attrs={"segment_bins": bounds, "bin_size_s": 0.02})
    target = store.create_partial(out, key, lazy)
    target[:] = counts
    attrs = {"n_units": counts.shape[0], "n_bins": n, "segment_bins": bounds, "tokens": counts.size}
    attrs.update(source_sha256=sha, recipe_token="r")
    store.commit_session(out, key, attrs)


@pytest.fixture
def stored(tmp_path):
    rng = np.random.default_rng(0)
    sessions = [("sub-1", "ses-b", 5), ("sub-1", "ses-a", 1), ("sub-0", "ses-c", 3)]
    for subject, session, segs in sessions:
        counts = rng.integers(0, 9, (4, 50 * segs), dtype=np.uint8)
        _store_session(tmp_path, "kim", subject, session, counts, 50)
    return BuildLayout(tmp_path), [SessionKey("kim", s, p) for s, p, _ in sessions]


def _finalize(out, sessions, **options):
    """The export's last two steps as the pipeline runs them: assemble the folder, then its card."""
    manifest = export.assemble_component(out, "kim", sessions, **options)
    export.write_component_card(out, "kim", CARD)
    return manifest


def _rows(folder):
    files = sorted((folder / "data").glob("*.parquet"))
    return [(r["session_id"], r["segment_id"]) for f in files for r in pq.read_table(f).to_pylist()]


def test_rows_in_session_order_parts_bounded_and_linked(stored):
    out, sessions = stored
    staged = [export.export_session(out, key, max_shard_bytes=300) for key in sessions]
    assert [s["rows"] for s in staged] == [5, 1, 3]
    assert len(staged[0]["parts"]) > 1  # a long session is cut into parts
    manifest = _finalize(out, sessions, max_shard_bytes=300)
    folder = export.component_dir(out, "kim")
    want = [(k.session, f"segment_{i}") for k, n in zip(sessions, [5, 1, 3], strict=True) for i in range(n)]
    assert _rows(folder) == want
    assert manifest["rows"] == 9 and manifest["tokens"] == 4 * 50 * 9
    shards = sorted((folder / "data").glob("*.parquet"))
    n = sum(len(s["parts"]) for s in staged)
    assert [p.name for p in shards] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    for path in shards:  # a shard exceeds the bound by at most its last row
        table = pq.read_table(path)
        assert sum(table.slice(i, 1).nbytes for i in range(table.num_rows - 1)) < 300
    assert shards[0].stat().st_nlink == 2  # hard-linked from the staging folder, not copied
    assert (folder / "README.md").exists() and (folder / "assets" / "raster.png").exists()


def test_serial_export_equals_staged_then_finalized(stored, tmp_path_factory):
    out, sessions = stored
    _finalize(out, sessions, max_shard_bytes=300)
    first = {p.name: p.read_bytes() for p in export.component_dir(out, "kim").rglob("*") if p.is_file()}
    # again from scratch, staging in reverse order (as tasks finishing in any order would)
    shutil.rmtree(out.components_dir)
    for key in reversed(sessions):
        export.export_session(out, key, max_shard_bytes=300)
    _finalize(out, sessions, max_shard_bytes=300)
    again = {p.name: p.read_bytes() for p in export.component_dir(out, "kim").rglob("*") if p.is_file()}
    assert again == first


def test_rerun_reuses_staged_sessions_and_restages_a_changed_one(stored):
    out, sessions = stored
    _finalize(out, sessions)
    parts = {k[1:]: export.staging_dir(out, k) / "part-00000-of-00001.parquet" for k in sessions}
    inodes = {k: p.stat().st_ino for k, p in parts.items()}
    counts = np.full((4, 100), 7, dtype=np.uint8)
    _store_session(out, "kim", "sub-1", "ses-a", counts, 50, sha="changed")
    manifest = _finalize(out, sessions)
    assert parts[("sub-1", "ses-b")].stat().st_ino == inodes[("sub-1", "ses-b")]  # reused
    assert parts[("sub-1", "ses-a")].stat().st_ino != inodes[("sub-1", "ses-a")]  # rewritten
    assert manifest["rows"] == 5 + 2 + 3
    rows = pq.read_table(parts[("sub-1", "ses-a")]).to_pylist()
    assert [r["spike_counts"][0][0] for r in rows] == [7, 7]


def test_dropped_session_leaves_the_staging_folder(stored):
    out, sessions = stored
    _finalize(out, sessions)
    manifest = _finalize(out, sessions[:2])
    assert manifest["sessions"] == 2
    assert not out.session_staging(SessionKey("kim", "sub-0", "ses-c")).parent.exists()
    assert out.session_staging(SessionKey("kim", "sub-1", "ses-a")).is_dir()


def test_failed_export_leaves_nothing(stored):
    out, sessions = stored
    with pytest.raises(FileNotFoundError):
        export.export_session(out, SessionKey("kim", "sub-9", "ses-none"))
    assert not out.session_staging(SessionKey("kim", "sub-9", "ses-none")).exists()
    assert not list(out.components_dir.glob(".*.partial"))


def test_card_is_its_own_step_and_a_missing_one_is_written_again(stored):
    # the pipeline assembles, lets the merge start, and writes the card beside it
    out, sessions = stored
    manifest = export.assemble_component(out, "kim", sessions)
    folder = export.component_dir(out, "kim")
    assert export.read_manifest(folder) == manifest
    assert not (folder / "README.md").exists()
    card = export.write_component_card(out, "kim", CARD)
    text = card.read_text()
    assert "num_examples: 9" in text and (folder / "assets" / "raster.png").exists()
    stamp = card.stat().st_mtime_ns
    assert export.write_component_card(out, "kim", CARD).stat().st_mtime_ns == stamp  # kept
    card.unlink()  # a card task cut short: the next build writes it
    assert _finalize(out, sessions) == manifest
    assert card.read_text() == text


def test_card_of_a_component_not_assembled_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not assembled"):
        export.write_component_card(BuildLayout(tmp_path), "kim", CARD)


def _write_with_rows(out, name, subject, session, counts, segment_bins, block_segments=2):
    """A session written as the pipeline writes it: dask blocks that also encode their rows."""
    import dask
    import dask.array as da
    import xarray as xr

    n = counts.shape[1]
    bounds = [[s, min(s + segment_bins, n)] for s in range(0, n, segment_bins)]
    chunks = tuple(
        b[-1][1] - b[0][0]
        for b in (bounds[i : i + block_segments] for i in range(0, len(bounds), block_segments))
    )
    attrs = {"segment_bins": bounds, "tokens": counts.size, "source_sha256": "a", "recipe_token": "r",
             "n_units": counts.shape[0], "n_bins": n, "bin_size_s": 0.02}  # fmt: skip
    lazy = xr.DataArray(
        da.from_array(counts.astype(np.uint16), chunks=(counts.shape[0], chunks)),
        dims=("unit", "time"),
        attrs=attrs,
    )
    out, key = BuildLayout.of(out), SessionKey(name, subject, session)
    store.init_component(out, name, [subject])
    target = store.create_partial(out, key, lazy)
    rows = export.segment_rows(out, key, attrs)
    (stats,) = dask.compute(write_session(lazy, target, rows), scheduler="sync")
    store.commit_session(out, key, attrs, stats)
    return rows


def test_rows_encoded_by_the_block_tasks_are_joined_not_encoded_again(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 9, (4, 430), dtype=np.uint8)
    rows = _write_with_rows(tmp_path / "a", "kim", "sub-1", "ses-a", counts, 50)
    folder = __import__("pathlib").Path(rows.folder)
    assert sorted(p.name for p in folder.iterdir()) == [f"segment_{i}.parquet" for i in range(9)]
    a, b, key = BuildLayout(tmp_path / "a"), BuildLayout(tmp_path / "b"), SessionKey("kim", "sub-1", "ses-a")
    joined = export.export_session(a, key, max_shard_bytes=500)
    assert not folder.exists()  # joined into the parts, then removed
    # the same session stored without rows (an earlier build): encoded from zarr
    _store_session(tmp_path / "b", "kim", "sub-1", "ses-a", counts, 50)
    attrs = store.session_attrs(tmp_path / "a", "kim", "sub-1", "ses-a")
    zarr_attrs = store.session_attrs(tmp_path / "b", "kim", "sub-1", "ses-a")
    assert {k: attrs[k] for k in zarr_attrs} == zarr_attrs
    encoded = export.export_session(b, key, max_shard_bytes=500)
    assert joined["parts"] == encoded["parts"] and len(joined["parts"]) > 1
    assert (joined["rows"], joined["tokens"]) == (encoded["rows"], encoded["tokens"]) == (9, counts.size)
    for part in joined["parts"]:
        one = pq.read_table(export.staging_dir(a, key) / part)
        two = pq.read_table(export.staging_dir(b, key) / part)
        assert one.equals(two) and one.schema.metadata == two.schema.metadata


def test_rows_of_another_build_of_the_session_are_not_used(tmp_path):
    rng = np.random.default_rng(2)
    old = rng.integers(0, 9, (3, 100), dtype=np.uint8)
    rows = _write_with_rows(tmp_path, "kim", "sub-1", "ses-a", old, 50)
    stale = __import__("pathlib").Path(rows.folder)
    assert stale.is_dir()
    new = rng.integers(0, 9, (3, 100), dtype=np.uint8)
    _store_session(tmp_path, "kim", "sub-1", "ses-a", new, 50, sha="b")  # the raw file changed
    out, key = BuildLayout(tmp_path), SessionKey("kim", "sub-1", "ses-a")
    staged = export.export_session(out, key)
    table = pq.read_table(export.staging_dir(out, key) / staged["parts"][0])
    got = np.concatenate([np.array(r) for r in table.column("spike_counts").to_pylist()], axis=1)
    assert np.array_equal(got, new)  # the segments rejoin the new session, not the old one
    export.assemble_component(out, "kim", [key])
    assert not stale.exists()  # left-over rows are pruned with the staging folders


def test_assemble_refuses_a_session_of_another_component(stored):
    out, sessions = stored
    with pytest.raises(ValueError, match=r"kim: sessions of another component .*h2/sub-1/ses-a"):
        export.assemble_component(out, "kim", [*sessions, SessionKey("h2", "sub-1", "ses-a")])
    assert not out.component_dir("kim").exists()
