"""``build_all``: every stage on a Dask client, resumable, one bad file never stopping the rest.

The pipeline package is the only user of ``dask.distributed``'s client API (with
:mod:`neuralbench.cluster`, which makes the client). What a build does is declared
once, in :mod:`~neuralbench.pipeline.chain`; :mod:`~neuralbench.pipeline.driver` runs
it (submits, waits with a bound, retries, hands results back);
:mod:`~neuralbench.pipeline.report` records it; :mod:`~neuralbench.pipeline.watch`
stops a build that has no worker; :mod:`~neuralbench.pipeline.workers` sets up each
worker process. Stages are plain functions of the library's modules; none of them
sees a future.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from distributed import Client

from neuralbench import merge, store
from neuralbench.catalog import MERGE_ORDER, RECIPES, get_recipe
from neuralbench.cluster import make_client, release
from neuralbench.errors import SourceError
from neuralbench.layout import BuildLayout
from neuralbench.pipeline.chain import Build, build_chain
from neuralbench.pipeline.driver import Driver, map_bounded
from neuralbench.pipeline.report import BuildReport, os_reason, write_json
from neuralbench.pipeline.watch import wait_for_workers, watch_workers
from neuralbench.pipeline.workers import MallocThresholds
from neuralbench.progress import Progress, StageTracker
from neuralbench.shards import DEFAULT_SHARD_BYTES

__all__ = ["build_all", "download", "map_bounded", "resolve_components"]

logger = logging.getLogger(__name__)


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
        A ``distributed.Client``; ``None``: a LocalCluster sized to the machine, closed after.
    seed, test_size, split_by
        The merge's shuffle and test split (see :func:`neuralbench.merge.split_rows`).
    progress
        Called with a :class:`neuralbench.progress.ProgressEvent` whenever a session,
        block, export or shard finishes or a stage's total grows (a session's event
        carries its report entry); :func:`neuralbench.progress.make_display` makes one.
    download
        Fetch the raw files first, on the same client (:func:`download`; complete files
        are not fetched again). With ``only=None`` that means all 23 components.
    worker_timeout
        Seconds with no worker before the build stops (:class:`~.watch.NoWorkersError`);
        default the cluster's ``worker-timeout``.

    Returns
    -------
    dict
        The report also written to ``out_dir/report.json``: ``ok``, ``sessions``,
        ``components`` and ``corpus``.
    """
    raw_root, out_dir = Path(raw_root), Path(out_dir)
    names = resolve_components(raw_root, list(only or MERGE_ORDER) if download else only)
    _prepare_output(out_dir)
    merge_options = dict(seed=seed, test_size=test_size, split_by=split_by, max_shard_bytes=max_shard_bytes)
    build = Build(raw_root, BuildLayout(out_dir), BuildReport(), StageTracker(progress), merge_options)
    own = client is None
    client = make_client("local") if own else client
    try:
        _run(client, build, names, download, worker_timeout)
    finally:
        if own:
            release(client)
    report = build.report.final(out_dir, names)
    _write_report(build.layout, report)
    return report


def _run(
    client: Client, build: Build, names: list[str], download: bool, worker_timeout: float | None
) -> None:
    """Download (when asked), then the build's chain, with workers watched; a stop writes the report."""
    logger.info("dask dashboard: %s", client.dashboard_link)
    try:
        wait_for_workers(client, timeout=worker_timeout)  # bounded, says why (issue 13)
        with watch_workers(client, timeout=worker_timeout):
            client.register_plugin(MallocThresholds())  # idempotent: a plugin of that name is replaced
            fetch_errors = _download(client, build.raw, names) if download else {}
            chain = build_chain(build, [get_recipe(n) for n in names])
            build.report.corpus = Driver(client, build.track).run(chain)
            for name, text in fetch_errors.items():
                build.report.component_failed(name, text)
            store.remove_partials(build.layout)  # whatever a cancelled or repeated task wrote late
    except BaseException as exc:  # no worker, Ctrl-C, SIGTERM: report what was done, then stop
        stopped = str(exc) or type(exc).__name__
        _write_report(build.layout, build.report.final(build.layout.out_dir, names, stopped=stopped))
        raise


def _write_report(layout: BuildLayout, report: dict[str, Any]) -> None:
    try:
        write_json(layout.report, report)
    except OSError as exc:
        raise SourceError(layout.report, f"cannot write the report ({os_reason(exc)})") from exc


def download(
    raw_root: str | os.PathLike[str],
    names: Iterable[str] | None,
    client: Client | None = None,
    **options: Any,
) -> Any:
    """:func:`neuralbench.sources.download_recipes` with its downloads on ``client``'s workers.

    At most ``options["options"].max_concurrent`` at a time, through the build's own bounded
    queue (:func:`~neuralbench.pipeline.driver.map_bounded`); ``client=None``: serially here.
    """
    from neuralbench.sources import download_recipes

    map_jobs = functools.partial(map_bounded, client) if client is not None else None
    return download_recipes(raw_root, names, map_jobs=map_jobs, **options)


def _download(client: Client, raw_root: Path, names: list[str]) -> dict[str, str]:
    """The download stage of a build; the error text of each component that failed."""
    fetched = download(raw_root, names, client)
    return {name: f"download failed: {exc}" for name, exc in fetched.errors.items()}


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
        raise SourceError(out_dir, f"output folder is not writable ({os_reason(exc)})") from exc
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
