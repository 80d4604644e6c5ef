"""``build_all``: every stage on a Dask client, resumable, one bad file never stopping the rest.

This is the only module that talks to ``dask.distributed``. It wires library
functions into tasks and adds no logic of its own to the data:

1. ``session.open_session`` per session file (a task: hashes the file and scans
   its metadata; returns lazy counts);
2. ``store.create_partial`` (the session group and its coordinates), ``store.write_blocks``
   (one task per time block: bin, saturate, write, and encode its segments' parquet
   rows: ``export.segment_rows``), then ``store.commit_session``
   (attrs + rename into place); ``store.consolidate_component`` once a component's
   sessions are all done;
3. ``export.export_session`` per stored session (joins its rows into parquet parts), then
   ``export.assemble_component`` once every session of the component is done,
   then ``export.write_component_card`` (not waited for: the merge goes on);
4. ``merge.plan_merge``, ``merge.write_shard`` per output shard and
   ``merge.draw_corpus_raster`` (in parallel), then ``merge.finalize_merge``,
   over every component folder, in the published order.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from distributed import Client, Future, as_completed

from neuralbench import __version__, export, merge, store
from neuralbench.catalog import MERGE_ORDER, RECIPES, Recipe, get_recipe
from neuralbench.cluster import make_client, release
from neuralbench.errors import NeuralbenchError, SourceError
from neuralbench.pipeline.watch import wait_for_workers, watch_workers
from neuralbench.pipeline.workers import MallocThresholds
from neuralbench.progress import Progress, Stage, StageTracker
from neuralbench.readers import get_reader
from neuralbench.session import SessionRef, find_sessions, open_session
from neuralbench.shards import DEFAULT_SHARD_BYTES
from neuralbench.sources.local import list_files

__all__ = ["REPORT", "build_all", "resolve_components"]

logger = logging.getLogger(__name__)

REPORT = "report.json"
CORPUS_DIR = "corpus"

_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EDQUOT}
"""Errors of the output side (full disk, file size limit, read-only): the report says so."""


def build_all(
    raw_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    only: Iterable[str] | None = None,
    client: Client | None = None,
    *,
    seed: int = 0,
    test_size: float = 0.01,
    split_by: merge.SplitBy | str = merge.SplitBy.SESSION,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: Progress | None = None,
    download: bool = False,
    worker_timeout: float | None = None,
) -> dict[str, Any]:
    """Build components from ``raw_root`` into ``out_dir``: zarr, parquet, merged corpus.

    Parameters
    ----------
    raw_root
        ``RAW/<component>/...`` as the sources' own tools leave it.
    out_dir
        Receives ``zarr/``, ``components/``, ``corpus/`` and ``report.json``.
    only
        Component names; default every known component with a folder under ``raw_root``.
    client
        A ``distributed.Client``; ``None`` starts a LocalCluster sized to the
        machine and closes it afterwards.
    seed, test_size, split_by
        The merge's shuffle and test split (see :func:`neuralbench.merge.split_rows`).
    progress
        Called with a :class:`neuralbench.progress.ProgressEvent` (stage, done,
        total) whenever a session, a block, an export or a merge shard finishes
        and whenever a stage's total grows; a session's event carries its report
        entry. :func:`neuralbench.progress.make_display` gives one for a terminal or a log.
    download
        Fetch the components' raw files first (:func:`neuralbench.sources.download_recipes`,
        on the same client; files already in place and complete are not fetched again).
        With ``only=None`` that means all 23 components.
    worker_timeout
        Seconds the build may go with no worker (none yet, or all lost) before it stops
        with :class:`neuralbench.pipeline.watch.NoWorkersError`; default the cluster's
        ``worker-timeout`` (:func:`neuralbench.cluster.worker_timeout`).

    Returns
    -------
    dict
        The report also written to ``out_dir/report.json``: ``ok``, one entry per
        session (``sessions``), the components and the corpus.
    """
    raw_root, out_dir = Path(raw_root), Path(out_dir)
    names = resolve_components(raw_root, list(only or MERGE_ORDER) if download else only)
    _prepare_output(out_dir)
    own = client is None
    if own:
        client = make_client("local")
    logger.info("dask dashboard: %s", client.dashboard_link)
    track = StageTracker(progress)
    build = _Build(client, raw_root, out_dir, track)
    try:
        wait_for_workers(client, timeout=worker_timeout)  # bounded, says why (issue 13)
        with watch_workers(client, timeout=worker_timeout):
            client.register_plugin(MallocThresholds())  # idempotent: a plugin of that name is replaced
            fetch_errors = _download(client, raw_root, names) if download else {}
            report = build.run([get_recipe(n) for n in names])
            for name, text in fetch_errors.items():
                report["components"][name]["error"] = text
            corpus = _merge(client, out_dir, seed, test_size, split_by, max_shard_bytes, track)
            report["corpus"] = corpus
            build.wait_for_cards()
            store.remove_partials(out_dir)  # whatever a cancelled or repeated task wrote late
    except BaseException as exc:  # no worker, Ctrl-C, SIGTERM: report what was done, then stop
        _write_stopped_report(build, out_dir, names, exc)
        raise
    finally:
        if own:
            release(client)
    _carry_forward(report, out_dir, names)
    report["ok"] = (
        all(s["status"] != "failed" for s in report["sessions"])
        and all(c.get("error") is None for c in report["components"].values())
        and "error" not in report["corpus"]
    )
    try:
        _write_json(out_dir / REPORT, report)
    except OSError as exc:
        raise SourceError(out_dir / REPORT, f"cannot write the report ({_os_reason(exc)})") from exc
    return report


def _write_stopped_report(build: _Build, out_dir: Path, names: list[str], exc: BaseException) -> None:
    """``report.json`` of a build cut short: the sessions done so far, and why it stopped.

    A rerun of the same command skips what is done and finishes the rest.
    """
    reason = str(exc) or type(exc).__name__
    report = {**build.partial_report(), "stopped": reason, "ok": False}
    _carry_forward(report, out_dir, names)
    try:
        _write_json(out_dir / REPORT, report)
    except OSError as err:
        logger.error("cannot write %s: %s", out_dir / REPORT, err)


def _download(client: Client, raw_root: Path, names: list[str]) -> dict[str, str]:
    """The download stage on the build's client; the error text of each component that failed."""
    from functools import partial

    from neuralbench.pipeline.driver import map_bounded
    from neuralbench.sources import download_recipes

    fetched = download_recipes(raw_root, names, map_jobs=partial(map_bounded, client))
    return {name: f"download failed: {exc}" for name, exc in fetched.errors.items()}


def _carry_forward(report: dict[str, Any], out_dir: Path, names: list[str]) -> None:
    """Keep the previous report's entries of components this run did not touch.

    The merge takes every finished component folder in ``out_dir``, so the report
    must list their sessions too (a build ``--only a`` then ``--only b``).
    """
    try:
        old = json.loads((out_dir / REPORT).read_text())
    except (OSError, json.JSONDecodeError):
        return
    keep = [
        n
        for n in old.get("components", {})
        if n not in names and export.read_manifest(export.component_dir(out_dir, n))
    ]
    report["sessions"] += [s for s in old.get("sessions", []) if s.get("component") in keep]
    report["components"].update({n: old["components"][n] for n in keep})


def _prepare_output(out_dir: Path) -> None:
    """Create ``out_dir``, check it takes a file, and clear what an interrupted run left.

    An unwritable folder (read-only, full) fails here, before any work, with one clear error.
    """
    probe = out_dir / f".neuralbench-probe-{os.getpid()}"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"neuralbench")
        probe.unlink()
    except OSError as exc:
        raise SourceError(out_dir, f"output folder is not writable ({_os_reason(exc)})") from exc
    for path in store.remove_partials(out_dir):
        logger.info("removed %s, left by an interrupted run", path)


def resolve_components(raw_root: Path, only: Iterable[str] | None) -> list[str]:
    """Requested components in merge order; default: those with a raw folder.

    Raises a NeuralbenchError for an unknown name or a raw root with no component.
    """
    if only is not None:
        wanted = list(dict.fromkeys(only))
        for name in wanted:
            get_recipe(name)
    else:
        wanted = [n for n in RECIPES if (raw_root / n).is_dir()]
        if not wanted:
            raise SourceError(raw_root, f"no component folder found (expected some of {', '.join(RECIPES)})")
    order = {n: i for i, n in enumerate(MERGE_ORDER)}
    return sorted(wanted, key=lambda n: order.get(n, len(order)))


class _Build:
    """The per-session state machine: open -> write -> commit, then export per component."""

    def __init__(self, client: Client, raw_root: Path, out_dir: Path, track: StageTracker):
        self.client, self.raw, self.out, self.track = client, raw_root, out_dir, track
        self.entries: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.started: dict[tuple[str, str, str], float] = {}
        self.stage: dict[Future, tuple[str, tuple[str, str, str], Any]] = {}
        self.pending: dict[str, int] = {}
        self.components: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, list[SessionRef]] = {}
        self.recipes: dict[str, Recipe] = {}
        self.stage_attrs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.cards: dict[str, Future] = {}
        self.n_blocks: dict[tuple[str, str, str], int] = {}

    def run(self, recipes: list[Recipe]) -> dict[str, Any]:
        seq = as_completed()
        for recipe in recipes:
            self.recipes[recipe.name] = recipe
            self.components[recipe.name] = {"sessions": 0, "error": None}
            try:
                refs = find_sessions(recipe, list_files(self.raw / recipe.name))
                if not refs:
                    raise SourceError(self.raw / recipe.name, "no session files found")
            except NeuralbenchError as exc:
                self.components[recipe.name]["error"] = str(exc)
                continue
            self.refs[recipe.name] = refs
            self.pending[recipe.name] = len(refs)
            self.track.add(Stage.SESSIONS, len(refs))  # progress
            try:
                self.client.submit(
                    store.init_component, self.out, recipe.name, [r.subject_id for r in refs]
                ).result()
                init_error = None
            except OSError as exc:  # a full or read-only disk: no session of it can be written
                init_error = _error_text(exc, store.component_path(self.out, recipe.name))
            seen: dict[tuple[str, str], str] = {}
            for ref in refs:
                key = (recipe.name, ref.subject_id, ref.session_id)
                self.entries[key] = _entry(ref)
                self.started[key] = time.perf_counter()
                if init_error is not None:
                    self._fail(key, init_error, seq)
                    continue
                if (ref.subject_id, ref.session_id) in seen:
                    other = seen[(ref.subject_id, ref.session_id)]
                    self._fail(key, f"{ref.source_file}: same subject_id/session_id as {other}", seq)
                    continue
                seen[(ref.subject_id, ref.session_id)] = ref.source_file
                if self._is_built(recipe, ref):
                    self._finish(key, "skipped", store.session_attrs(self.out, *key), seq)
                    continue
                fut = self.client.submit(open_session, recipe, self.raw, ref, pure=False)
                self.stage[fut] = ("open", key, ref)
                seq.add(fut)
        for fut in seq:
            kind, key, ref = self.stage.pop(fut)
            if kind in ("stage", "export"):  # progress
                self.track.finish(Stage.EXPORTS)
            elif kind == "write":  # progress
                self.track.finish(Stage.BLOCKS, self.n_blocks.pop(key, 0))
            if kind == "consolidate":
                if fut.status == "error":
                    self.components[key[0]]["error"] = _error_text(fut.exception(), self.out)
            elif kind == "stage":  # a session's parquet parts; a failure fails its component
                if fut.status == "error":
                    self.components[key[0]]["error"] = _error_text(fut.exception(), self.out)
                self._count_down(key[0], seq)
            elif fut.status == "error" and kind == "export":
                self.components[key[0]]["error"] = _error_text(fut.exception(), self.out)
            elif fut.status == "error":
                self._fail(key, _error_text(fut.exception(), self.raw / key[0] / ref.source_file), seq)
                if kind != "open":
                    self.client.cancel([fut])  # no block of it may go on writing
                    self.client.submit(store.discard_partial, self.out, *key).result()
            elif kind == "open":
                self._write(key, ref, fut.result(), seq)
            elif kind == "write":
                # the stats go by value: once the write is released, a lost worker can
                # never make the scheduler recompute (rewrite) blocks of a committed session
                attrs, stats = self.stage_attrs.pop(key), fut.result()
                nxt = self.client.submit(store.commit_session, self.out, *key, attrs, stats, pure=False)
                self.stage[nxt] = ("commit", key, ref)
                seq.add(nxt)
            elif kind == "commit":
                self._finish(key, "built", fut.result(), seq)
            elif kind == "export":
                manifest = fut.result()
                self.components[key[0]].update(rows=manifest["rows"], tokens=manifest["tokens"])
                # after any task already waiting (the merge's too): nothing waits for a card
                card = _card_info(self.recipes[key[0]])
                self.cards[key[0]] = self.client.submit(
                    export.write_component_card, self.out, key[0], card, priority=-1, pure=False
                )
            fut.release()
        return self.partial_report()

    def partial_report(self) -> dict[str, Any]:
        """The report's sessions and components as they stand (all of them once ``run`` is done)."""
        return {
            "neuralbench_version": __version__,
            "sessions": list(self.entries.values()),
            "components": self.components,
        }

    def _is_built(self, recipe: Recipe, ref: SessionRef) -> bool:
        attrs = store.session_attrs(self.out, recipe.name, ref.subject_id, ref.session_id)
        if not attrs or attrs.get("recipe_token") != recipe.token():
            return False
        if attrs.get("reader_version", 1) != get_reader(recipe.reader).version:
            return False  # stored by a reader since fixed
        try:
            size = (self.raw / recipe.name / ref.source_file).stat().st_size
        except OSError:
            return False
        return attrs.get("source_size_bytes") == size and attrs.get("source_file") == ref.source_file

    def _write(self, key, ref: SessionRef, counts, seq: as_completed) -> None:
        try:
            target = store.create_partial(self.out, *key, counts)
        except OSError as exc:
            self._fail(key, _error_text(exc, self.raw / key[0] / ref.source_file), seq)
            store.discard_partial(self.out, *key)
            return
        attrs = dict(
            counts.attrs,
            n_units=int(counts.shape[0]),
            n_bins=int(counts.shape[1]),
            tokens=int(counts.size),
            segments=len(counts.attrs["segment_bins"]),
        )
        self.stage_attrs[key] = attrs
        self.n_blocks[key] = len(counts.chunks[1])
        self.track.add(Stage.BLOCKS, self.n_blocks[key])  # progress
        rows = export.segment_rows(self.out, *key, attrs)  # encoded by the block tasks
        fut = self.client.compute(store.write_blocks(counts, target, rows))
        self.stage[fut] = ("write", key, ref)
        seq.add(fut)

    def _fail(self, key, text: str, seq: as_completed) -> None:
        logger.error("%s", text)
        self.stage_attrs.pop(key, None)
        self._finish(key, "failed", None, seq, error=text)

    def _finish(
        self, key, status: str, attrs: dict | None, seq: as_completed, error: str | None = None
    ) -> None:
        entry = self.entries[key]
        entry.update(status=status, error=error, seconds=round(time.perf_counter() - self.started[key], 3))
        if attrs:
            entry.update(
                tokens=attrs.get("tokens", 0),
                segments=attrs.get("segments", 0),
                clipped_bins=attrs.get("n_clipped_bins", 0),
                spikes=attrs.get("n_spikes", 0),
                units=attrs.get("n_units", 0),
            )
        self.track.finish(Stage.SESSIONS, entry=entry)  # progress
        if status == "failed":
            self._count_down(key[0], seq)
            return
        # the session's parquet parts, written while the other sessions are still building:
        # ahead of queued blocks, so that few exports are left for the end
        fut = self.client.submit(export.export_session, self.out, *key, priority=1, pure=False)
        self.track.add(Stage.EXPORTS)  # progress
        self.stage[fut] = ("stage", key, None)
        seq.add(fut)

    def _count_down(self, name: str, seq: as_completed) -> None:
        """One session of ``name`` is done (failed, or stored and staged); the last one finalizes."""
        self.pending[name] -= 1
        if self.pending[name] != 0:
            return
        # the store's consolidated metadata, whatever became of the sessions
        fut = self.client.submit(store.consolidate_component, self.out, name, pure=False)
        self.stage[fut] = ("consolidate", (name, "", ""), None)
        seq.add(fut)
        if self.components[name]["error"] is None:
            self._export(name, seq)

    def _export(self, name: str, seq: as_completed) -> None:
        ok = [
            (r.subject_id, r.session_id)
            for r in self.refs[name]
            if self.entries[(name, r.subject_id, r.session_id)]["status"] != "failed"
        ]
        self.components[name]["sessions"] = len(ok)
        if not ok:
            self.components[name]["error"] = "no session was built"
            return
        fut = self.client.submit(export.assemble_component, self.out, name, ok, pure=False)
        self.track.add(Stage.EXPORTS)  # progress
        self.stage[fut] = ("export", (name, "", ""), None)
        seq.add(fut)

    def wait_for_cards(self) -> None:
        """Wait for the component cards, which ran beside the merge; a failed one fails its component."""
        for name, fut in self.cards.items():
            try:
                fut.result()
            except Exception as exc:
                self.components[name]["error"] = _error_text(exc, export.component_dir(self.out, name))


def _entry(ref: SessionRef) -> dict[str, Any]:
    return {
        **asdict(ref),
        "status": "pending",
        "tokens": 0,
        "segments": 0,
        "clipped_bins": 0,
        "spikes": 0,
        "seconds": 0.0,
        "error": None,
    }


def _error_text(exc: BaseException | None, path: Path) -> str:
    """The report's text for a failed stage: the file, then what is wrong.

    An OSError about another file (an output chunk on a full disk) names both.
    """
    if isinstance(exc, NeuralbenchError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        return f"{path}: cannot write {exc.filename or 'the output'}: {_os_reason(exc)}"
    if isinstance(exc, OSError) and exc.filename and os.fspath(exc.filename) != os.fspath(path):
        return f"{path}: {exc.filename}: {_os_reason(exc)}"
    return f"{path}: {type(exc).__name__}: {exc}"


def _os_reason(exc: OSError) -> str:
    """``No space left on device [Errno 28]``: the system's words and the code, for a grep."""
    if exc.errno is None:
        return str(exc)
    return f"{exc.strerror or os.strerror(exc.errno)} [Errno {exc.errno}]"


def _card_info(recipe: Recipe) -> dict[str, Any]:
    src = recipe.source
    source = f"DANDI:{src.dandiset}@{src.version}" if hasattr(src, "dandiset") else f"{src.kind}:{src.record}"
    return {
        "name": recipe.name,
        "source": source,
        "license": recipe.license,
        "cite": recipe.cite,
        "fixes": list(recipe.fixes),
        "published_sessions": recipe.expect.sessions,
        "published_tokens": recipe.expect.tokens,
        "built_with": f"neuralbench {__version__}",
        "summary": f"Spike counts of the `{recipe.name}` component, one row per segment of <= 10M tokens.",
    }


def _merge(
    client: Client, out_dir: Path, seed, test_size, split_by, max_shard_bytes, track: StageTracker
) -> dict[str, Any]:
    """Merge every finished component folder under ``out_dir`` (not only this run's)."""
    dirs = [
        export.component_dir(out_dir, n)
        for n in MERGE_ORDER
        if export.read_manifest(export.component_dir(out_dir, n))
    ]
    if not dirs:
        return {"error": "no component was built"}
    card = {
        "components": {d.name: _card_info(get_recipe(d.name)) for d in dirs},
        "built_with": f"neuralbench {__version__}",
        "summary": "Spike counts of primate neurons in 20 ms bins (units x bins, uint8), one row per "
        "segment of at most 10M tokens, shuffled with a fixed seed; the test split holds whole sessions.",
    }
    try:
        plan = client.submit(
            merge.plan_merge,
            dirs,
            out_dir / CORPUS_DIR,
            seed=seed,
            test_size=test_size,
            split_by=split_by,
            max_shard_bytes=max_shard_bytes,
            store_dir=out_dir,
            pure=False,
        ).result()
    except Exception as exc:  # the sessions stay built; the report says why the merge failed
        logger.error("merge failed: %s", exc)
        return {"error": _error_text(exc, out_dir / CORPUS_DIR)}
    if not isinstance(plan, merge.MergePlan):
        return plan  # the corpus is up to date
    running: list[Future] = []
    try:
        # the plan goes by value (it is small): scattered data dies with its worker;
        # largest shards first, the raster last, so that the workers finish together
        jobs = sorted(plan.n_shards(), key=lambda job: -sum(r.tokens for r in plan.shards[job[0]][job[1]]))
        calls = [(merge.write_shard, plan, split, k) for split, k in jobs]
        track.add(Stage.SHARDS, len(calls) + 2)  # progress: the shards, the raster, the card
        _in_slots(client, [*calls, (merge.draw_corpus_raster, plan)], running, track)
        manifest = client.submit(merge.finalize_merge, plan, card, pure=False).result()
        track.finish(Stage.SHARDS)  # progress
        return manifest
    except Exception as exc:
        logger.error("merge failed: %s", exc)
        client.cancel(running)  # no shard may go on writing into the partial folder
        with contextlib.suppress(Exception):
            client.submit(merge.discard_plan, plan, pure=False).result()
        return {"error": _error_text(exc, out_dir / CORPUS_DIR)}


def _in_slots(
    client: Client, calls: list[tuple[Any, ...]], running: list[Future], track: StageTracker | None = None
) -> None:
    """Run ``calls`` (``(function, *args)``) in order, one per worker thread at a time.

    A task is placed on a worker when it is submitted, by estimated occupancy; all
    merge tasks submitted at once could queue a shard behind a long one while
    another worker idled until work stealing moved it (1.4-2 s here). Submitting a
    call only when a thread is free leaves the scheduler little to misplace; no
    call is pinned to a worker, so a lost worker costs only its retried task.
    ``running`` receives the futures submitted, so that a caller can cancel them;
    ``track`` counts each one done as a shard; the first error raises.
    """
    pending = iter(calls)
    done = as_completed()

    def submit_next() -> None:
        if (call := next(pending, None)) is not None:
            running.append(client.submit(*call, pure=False))
            done.add(running[-1])

    for _ in range(max(1, sum(client.nthreads().values()))):
        submit_next()
    for fut in done:
        fut.result()
        if track is not None:
            track.finish(Stage.SHARDS)  # progress
        submit_next()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
