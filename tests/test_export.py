"""Per-session staging and the component finalize: order, bounded parts, reuse, atomicity."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr

from neuralbench import export, store

CARD = {"name": "kim", "summary": "test", "built_with": "neuralbench test"}


def _store_session(out, name, subject, session, counts, segment_bins, sha="a"):
    store.init_component(out, name, [subject])
    n = counts.shape[1]
    bounds = [[s, min(s + segment_bins, n)] for s in range(0, n, segment_bins)]
    lazy = xr.DataArray(counts, dims=("unit", "time"), attrs={"segment_bins": bounds, "bin_size_s": 0.02})
    target = store.create_partial(out, name, subject, session, lazy)
    target[:] = counts
    attrs = {"n_units": counts.shape[0], "n_bins": n, "segment_bins": bounds, "tokens": counts.size}
    attrs.update(source_sha256=sha, recipe_token="r")
    store.commit_session(out, name, subject, session, attrs)


@pytest.fixture
def stored(tmp_path):
    rng = np.random.default_rng(0)
    sessions = [("sub-1", "ses-b", 5), ("sub-1", "ses-a", 1), ("sub-0", "ses-c", 3)]
    for subject, session, segs in sessions:
        counts = rng.integers(0, 9, (4, 50 * segs), dtype=np.uint8)
        _store_session(tmp_path, "kim", subject, session, counts, 50)
    return tmp_path, [(s, p) for s, p, _ in sessions]


def _rows(folder):
    files = sorted((folder / "data").glob("*.parquet"))
    return [(r["session_id"], r["segment_id"]) for f in files for r in pq.read_table(f).to_pylist()]


def test_rows_in_session_order_parts_bounded_and_linked(stored):
    out, sessions = stored
    staged = [export.export_session(out, "kim", s, p, max_shard_bytes=300) for s, p in sessions]
    assert [s["rows"] for s in staged] == [5, 1, 3]
    assert len(staged[0]["parts"]) > 1  # a long session is cut into parts
    manifest = export.finalize_component(out, "kim", sessions, card=CARD, max_shard_bytes=300)
    folder = export.component_dir(out, "kim")
    want = [(p, f"segment_{i}") for (_, p), n in zip(sessions, [5, 1, 3], strict=True) for i in range(n)]
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
    export.finalize_component(out, "kim", sessions, card=CARD, max_shard_bytes=300)
    first = {p.name: p.read_bytes() for p in export.component_dir(out, "kim").rglob("*") if p.is_file()}
    # again from scratch, staging in reverse order (as tasks finishing in any order would)
    shutil.rmtree(out / "components")
    for subject, session in reversed(sessions):
        export.export_session(out, "kim", subject, session, max_shard_bytes=300)
    export.finalize_component(out, "kim", sessions, card=CARD, max_shard_bytes=300)
    again = {p.name: p.read_bytes() for p in export.component_dir(out, "kim").rglob("*") if p.is_file()}
    assert again == first


def test_rerun_reuses_staged_sessions_and_restages_a_changed_one(stored):
    out, sessions = stored
    export.finalize_component(out, "kim", sessions, card=CARD)
    parts = {k: export.staging_dir(out, "kim", *k) / "part-00000-of-00001.parquet" for k in sessions}
    inodes = {k: p.stat().st_ino for k, p in parts.items()}
    counts = np.full((4, 100), 7, dtype=np.uint8)
    _store_session(out, "kim", "sub-1", "ses-a", counts, 50, sha="changed")
    manifest = export.finalize_component(out, "kim", sessions, card=CARD)
    assert parts[("sub-1", "ses-b")].stat().st_ino == inodes[("sub-1", "ses-b")]  # reused
    assert parts[("sub-1", "ses-a")].stat().st_ino != inodes[("sub-1", "ses-a")]  # rewritten
    assert manifest["rows"] == 5 + 2 + 3
    rows = pq.read_table(parts[("sub-1", "ses-a")]).to_pylist()
    assert [r["spike_counts"][0][0] for r in rows] == [7, 7]


def test_dropped_session_leaves_the_staging_folder(stored):
    out, sessions = stored
    export.finalize_component(out, "kim", sessions, card=CARD)
    manifest = export.finalize_component(out, "kim", sessions[:2], card=CARD)
    assert manifest["sessions"] == 2
    assert not export.staging_dir(out, "kim", "sub-0", "ses-c").parent.exists()
    assert export.staging_dir(out, "kim", "sub-1", "ses-a").is_dir()


def test_failed_export_leaves_nothing(stored):
    out, sessions = stored
    with pytest.raises(FileNotFoundError):
        export.export_session(out, "kim", "sub-9", "ses-none")
    assert not export.staging_dir(out, "kim", "sub-9", "ses-none").exists()
    assert not list((out / "components").glob(".*.partial"))


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
    assert export.finalize_component(out, "kim", sessions, card=CARD) == manifest
    assert card.read_text() == text


def test_card_of_a_component_not_assembled_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not assembled"):
        export.write_component_card(tmp_path, "kim", CARD)


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
    store.init_component(out, name, [subject])
    target = store.create_partial(out, name, subject, session, lazy)
    rows = export.segment_rows(out, name, subject, session, attrs)
    (stats,) = dask.compute(store.write_blocks(lazy, target, rows), scheduler="sync")
    store.commit_session(out, name, subject, session, attrs, stats)
    return rows


def test_rows_encoded_by_the_block_tasks_are_joined_not_encoded_again(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 9, (4, 430), dtype=np.uint8)
    rows = _write_with_rows(tmp_path / "a", "kim", "sub-1", "ses-a", counts, 50)
    folder = __import__("pathlib").Path(rows.folder)
    assert sorted(p.name for p in folder.iterdir()) == [f"segment_{i}.parquet" for i in range(9)]
    joined = export.export_session(tmp_path / "a", "kim", "sub-1", "ses-a", max_shard_bytes=500)
    assert not folder.exists()  # joined into the parts, then removed
    # the same session stored without rows (an earlier build): encoded from zarr
    _store_session(tmp_path / "b", "kim", "sub-1", "ses-a", counts, 50)
    attrs = store.session_attrs(tmp_path / "a", "kim", "sub-1", "ses-a")
    zarr_attrs = store.session_attrs(tmp_path / "b", "kim", "sub-1", "ses-a")
    assert {k: attrs[k] for k in zarr_attrs} == zarr_attrs
    encoded = export.export_session(tmp_path / "b", "kim", "sub-1", "ses-a", max_shard_bytes=500)
    assert joined["parts"] == encoded["parts"] and len(joined["parts"]) > 1
    assert (joined["rows"], joined["tokens"]) == (encoded["rows"], encoded["tokens"]) == (9, counts.size)
    for part in joined["parts"]:
        a = pq.read_table(export.staging_dir(tmp_path / "a", "kim", "sub-1", "ses-a") / part)
        b = pq.read_table(export.staging_dir(tmp_path / "b", "kim", "sub-1", "ses-a") / part)
        assert a.equals(b) and a.schema.metadata == b.schema.metadata


def test_rows_of_another_build_of_the_session_are_not_used(tmp_path):
    rng = np.random.default_rng(2)
    old = rng.integers(0, 9, (3, 100), dtype=np.uint8)
    rows = _write_with_rows(tmp_path, "kim", "sub-1", "ses-a", old, 50)
    stale = __import__("pathlib").Path(rows.folder)
    assert stale.is_dir()
    new = rng.integers(0, 9, (3, 100), dtype=np.uint8)
    _store_session(tmp_path, "kim", "sub-1", "ses-a", new, 50, sha="b")  # the raw file changed
    staged = export.export_session(tmp_path, "kim", "sub-1", "ses-a")
    table = pq.read_table(export.staging_dir(tmp_path, "kim", "sub-1", "ses-a") / staged["parts"][0])
    got = np.concatenate([np.array(r) for r in table.column("spike_counts").to_pylist()], axis=1)
    assert np.array_equal(got, new)  # the segments rejoin the new session, not the old one
    export.assemble_component(tmp_path, "kim", [("sub-1", "ses-a")])
    assert not stale.exists()  # left-over rows are pruned with the staging folders
