"""What a build does, declared once: the chains the driver runs.

- a **session**: open -> create -> write blocks (each block also encodes its rows)
  -> commit -> stage its rows for the component;
- a **component**: find its sessions -> init the store -> every session -> consolidate
  the store's metadata beside assembling the component's parquet -> spawn its card (nobody waits);
- the **build**: every component side by side -> the merge.

Each step is a plain function of another module (``session``, ``store``, ``export``,
``merge``, ``card``) yielded as a :class:`~neuralbench.pipeline.driver.Task`; a new
stage is a function and one ``yield`` here. Failures are recorded in the report
where they happen: a bad file fails its session, an export its component.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralbench import card, export, merge, store
from neuralbench.catalog import MERGE_ORDER, Recipe, get_recipe
from neuralbench.errors import NeuralbenchError, SourceError
from neuralbench.layout import BuildLayout, SessionKey
from neuralbench.pipeline.driver import Chain, Group, Spawn, Task
from neuralbench.pipeline.graph import write_session
from neuralbench.pipeline.report import BuildReport, error_text
from neuralbench.progress import Stage, StageTracker
from neuralbench.session import SessionRef, duplicate_ids, find_sessions, open_session, provenance
from neuralbench.sources.local import list_files

__all__ = ["Build", "build_chain", "component_chain", "merge_chain", "session_chain"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Build:
    """What every chain of one build shares: where from, where to, what to record."""

    raw: Path
    layout: BuildLayout
    report: BuildReport
    track: StageTracker
    merge_options: dict[str, Any] = field(default_factory=dict)


def build_chain(build: Build, recipes: list[Recipe]) -> Chain:
    """Every component, then the merge (the cards run beside both); returns the corpus entry."""
    yield Group([component_chain(build, recipe) for recipe in recipes])
    return (yield from merge_chain(build))


def component_chain(build: Build, recipe: Recipe) -> Chain:
    """A component's sessions, its store's metadata, its parquet; failures go to its entry."""
    name = recipe.name
    build.report.add_component(name)
    try:
        refs = find_sessions(recipe, list_files(build.raw / name))
        if not refs:
            raise SourceError(build.raw / name, "no session files found")
    except NeuralbenchError as exc:
        build.report.component_failed(name, str(exc))
        return
    build.track.add(Stage.SESSIONS, len(refs))
    for ref in refs:  # before the first yield: the report lists sessions in build order
        build.report.start(ref)
    blocked = duplicate_ids(refs)
    try:
        yield Task.call(store.init_component, build.layout, name, [r.subject_id for r in refs])
    except OSError as exc:  # a full or read-only disk: no session of it can be written
        blocked = dict.fromkeys(refs, error_text(exc, store.component_path(build.layout, name)))
    yield Group([session_chain(build, recipe, ref, blocked.get(ref)) for ref in refs])
    # side by side (neither reads what the other writes): one after the other, a queued card of
    # another component takes the worker between them and the merge waits for that card too
    yield Group([_consolidate(build, name), _assemble(build, recipe)])


def session_chain(build: Build, recipe: Recipe, ref: SessionRef, blocked: str | None = None) -> Chain:
    """One session, stored (or found stored) and its rows staged for the component.

    Its report entry is there already (:meth:`BuildReport.start`, by its component).
    """
    key = ref.key
    if blocked is not None:
        _finish(build, key, "failed", error=blocked)
        return
    if store.is_stored(build.layout, key, provenance(recipe, build.raw, ref)):
        _finish(build, key, "skipped", store.session_attrs(build.layout, *key))
    else:
        try:
            counts = yield Task.call(open_session, recipe, build.raw, ref)
            attrs = yield from _store(build, key, counts)
        except Exception as exc:
            _finish(build, key, "failed", error=error_text(exc, build.raw / recipe.name / ref.source_file))
            return
        _finish(build, key, "built", attrs)
    # ahead of queued blocks, so that few exports are left for the end
    build.track.add(Stage.EXPORTS)
    try:
        yield Task.call(export.export_session, build.layout, key, priority=1, stage=Stage.EXPORTS)
    except Exception as exc:  # a session's parquet parts: a failure fails its component
        build.report.component_failed(key[0], error_text(exc, build.layout.out_dir))


def _store(build: Build, key: SessionKey, counts: Any) -> Chain:
    """Create the session's partial group, write its blocks (and rows), commit; discard on failure."""
    try:
        target = store.create_partial(build.layout, key, counts)
        attrs = store.summary_attrs(counts)
        n_blocks = len(counts.chunks[1])
        build.track.add(Stage.BLOCKS, n_blocks)
        rows = export.segment_rows(build.layout, key, attrs)  # encoded by the block tasks
        # the stats come back by value: once the write is released, a lost worker can
        # never make the scheduler recompute (rewrite) blocks of a committed session
        stats = yield Task.compute(write_session(counts, target, rows), stage=Stage.BLOCKS, units=n_blocks)
        return (yield Task.call(store.commit_session, build.layout, key, attrs, stats, retries=0))
    except Exception:
        with contextlib.suppress(Exception):  # the first error is the one to report
            yield Task.call(store.discard_partial, build.layout, key)
        raise


def _finish(
    build: Build, key: SessionKey, status: str, attrs: dict | None = None, error: str | None = None
) -> None:
    if error is not None:
        logger.error("%s", error)
    entry = build.report.finish(key, status, attrs, error)
    build.track.finish(Stage.SESSIONS, entry=entry.to_dict())


def _consolidate(build: Build, name: str) -> Chain:
    """The component store's consolidated metadata, whatever became of the sessions."""
    try:
        yield Task.call(store.consolidate_component, build.layout, name)
    except Exception as exc:
        build.report.component_failed(name, error_text(exc, build.layout.out_dir))


def _assemble(build: Build, recipe: Recipe) -> Chain:
    """The component's parquet from its staged sessions, unless an export failed; then its card
    is spawned (nothing waits for it)."""
    name = recipe.name
    if build.report.components[name].error is not None:
        return
    ok = build.report.ok_sessions(name)
    build.report.component_update(name, sessions=len(ok))
    if not ok:
        build.report.component_failed(name, "no session was built")
        return
    build.track.add(Stage.EXPORTS)
    try:
        manifest = yield Task.call(export.assemble_component, build.layout, name, ok, stage=Stage.EXPORTS)
    except Exception as exc:
        build.report.component_failed(name, error_text(exc, build.layout.out_dir))
        return
    build.report.component_update(name, rows=manifest["rows"], tokens=manifest["tokens"])
    if build.report.components[name].error is None:  # the consolidation may have failed meanwhile
        yield Spawn(_card(build, name, card.component_facts(recipe)))


def _card(build: Build, name: str, facts: dict[str, Any]) -> Chain:
    """The component's card, after any task already waiting (the merge's too); a failure fails it."""
    try:
        yield Task.call(export.write_component_card, build.layout, name, facts, priority=-1)
    except Exception as exc:
        build.report.component_failed(name, error_text(exc, export.component_dir(build.layout, name)))


def merge_chain(build: Build) -> Chain:
    """Merge every finished component folder under ``out`` (not only this run's); the corpus entry."""
    dirs = [
        export.component_dir(build.layout, n)
        for n in MERGE_ORDER
        if export.read_manifest(export.component_dir(build.layout, n))
    ]
    if not dirs:
        return {"error": "no component was built"}
    facts = card.corpus_facts([get_recipe(d.name) for d in dirs])
    target = build.layout.corpus_dir
    try:
        plan = yield Task.call(merge.plan_merge, dirs, target, layout=build.layout, **build.merge_options)
    except Exception as exc:  # the sessions stay built; the report says why the merge failed
        return _merge_failed(exc, target)
    if not isinstance(plan, merge.MergePlan):
        return plan  # the corpus is up to date
    try:
        return (yield from _write_corpus(build, plan, facts))
    except Exception as exc:
        with contextlib.suppress(Exception):
            yield Task.call(merge.discard_plan, plan)
        return _merge_failed(exc, target)


def _merge_failed(exc: Exception, target) -> dict[str, Any]:
    """The corpus entry of a failed merge, logged."""
    logger.error("merge failed: %s", exc)
    return {"error": error_text(exc, target)}


def _write_corpus(build: Build, plan: merge.MergePlan, facts: dict[str, Any]) -> Chain:
    """The raster, then the shards largest first, one per worker thread; then the footer of it all.

    The raster goes first: it costs as much as several shards of row groups copied, and
    drawn last it kept the other workers idle at the end of a build. The plan goes by
    value (it is small): scattered data dies with its worker.
    """
    jobs = sorted(plan.n_shards(), key=lambda job: -sum(r.tokens for r in plan.shards[job[0]][job[1]]))
    tasks = [Task.call(merge.draw_corpus_raster, plan, stage=Stage.SHARDS)]
    tasks += [Task.call(merge.write_shard, plan, split, k, stage=Stage.SHARDS) for split, k in jobs]
    build.track.add(Stage.SHARDS, len(tasks) + 1)  # progress: the shards, the raster, the card
    yield Group.of_tasks(tasks, limit="threads")
    return (yield Task.call(merge.finalize_merge, plan, facts, stage=Stage.SHARDS))
