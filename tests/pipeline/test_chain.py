"""The chains of a build, driven one at a time on a real LocalCluster over a tiny synthetic tree."""

from __future__ import annotations

import warnings

import pytest

from neuralbench import export, store
from neuralbench.catalog import get_recipe
from neuralbench.layout import BuildLayout
from neuralbench.pipeline.chain import Build, component_chain, session_chain
from neuralbench.pipeline.driver import Driver
from neuralbench.pipeline.report import BuildReport
from neuralbench.progress import StageTracker
from neuralbench.session import find_sessions
from neuralbench.sources.local import list_files
from neuralbench.synth import Scale, write_raw_tree


@pytest.fixture
def h2(tmp_path):
    raw = tmp_path / "raw"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, only=["h2"], scale=Scale.tiny())
    recipe = get_recipe("h2")
    return raw, tmp_path / "out", recipe, find_sessions(recipe, list_files(raw / "h2"))


def _build(raw, out) -> Build:
    out.mkdir(exist_ok=True)
    return Build(raw, BuildLayout(out), BuildReport(), StageTracker(None))


def _statuses(build: Build) -> list[str]:
    return [e.status for e in build.report.sessions.values()]


def test_a_component_chain_stores_exports_and_queues_its_card(cluster_client, h2):
    raw, out, recipe, refs = h2
    build = _build(raw, out)
    Driver(cluster_client).run(component_chain(build, recipe))
    assert _statuses(build) == ["built"] * len(refs)
    entry = build.report.components["h2"]
    assert entry.error is None and entry.sessions == len(refs) and entry.rows >= len(refs)
    assert (out / "components" / "h2" / "README.md").is_file()  # its card, spawned: the run waited
    assert len(list(store.stored_sessions(out, "h2"))) == len(refs)
    # a second run finds every session stored and current
    again = _build(raw, out)
    Driver(cluster_client).run(component_chain(again, recipe))
    assert _statuses(again) == ["skipped"] * len(refs)


def test_a_bad_file_fails_its_session_only_and_leaves_no_partial(cluster_client, h2):
    raw, out, recipe, refs = h2
    bad = raw / "h2" / refs[0].source_file
    bad.write_bytes(b"not an hdf5 file at all")
    build = _build(raw, out)
    Driver(cluster_client).run(component_chain(build, recipe))
    first, *rest = build.report.sessions.values()
    assert first.status == "failed" and first.error.startswith(str(bad))
    assert [e.status for e in rest] == ["built"] * len(rest)
    assert build.report.components["h2"].error is None
    assert not store.remove_partials(out)  # nothing was left half-written


def test_a_blocked_session_fails_without_a_task(cluster_client, h2):
    raw, out, recipe, refs = h2
    build = _build(raw, out)
    build.report.start(refs[0])  # as its component does
    Driver(cluster_client).run(
        session_chain(build, recipe, refs[0], "a.nwb: same subject_id/session_id as b.nwb")
    )
    (entry,) = build.report.sessions.values()
    assert entry.status == "failed" and entry.error.startswith("a.nwb: same")


def test_a_component_without_files_is_an_error_of_its_own(cluster_client, h2):
    raw, out, recipe, _ = h2
    (raw / "willett").mkdir()
    build = _build(raw, out)
    Driver(cluster_client).run(component_chain(build, get_recipe("willett")))
    assert "no session files found" in build.report.components["willett"].error
    assert not build.report.sessions


def test_a_failed_consolidation_fails_its_component_whose_parquet_is_assembled_beside_it(cluster_client, h2):
    raw, out, recipe, refs = h2
    junk = out / "zarr" / "h2.zarr" / "junk"  # a child group the consolidation cannot read
    junk.mkdir(parents=True)
    (junk / "zarr.json").write_text("{not json")
    build = _build(raw, out)
    Driver(cluster_client).run(component_chain(build, recipe))
    assert _statuses(build) == ["built"] * len(refs)
    entry = build.report.components["h2"]
    assert entry.error is not None and entry.error.startswith(str(out))
    assert export.read_manifest(export.component_dir(out, "h2"))["sessions"] == len(refs)
