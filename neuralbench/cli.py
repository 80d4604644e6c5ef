"""The ``neuralbench`` command: thin click commands over the library functions.

Exit status: 0 when everything was built, 1 when a session (or a stage) failed,
2 for usage errors (bad arguments, a missing folder, an unknown component).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from neuralbench.errors import NeuralbenchError
from neuralbench.layout import BuildLayout

logger = logging.getLogger("neuralbench")


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class _Usage(click.UsageError):
    """A NeuralbenchError about the arguments (unknown name, missing folder): exit 2."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="neuralbench")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Build a corpus of primate spike counts for foundation models, on a Dask cluster."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    click.get_current_context().obj = {"log_level": level}


@cli.command()
@click.argument("raw", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", help="Comma-separated component names (default: every synthetic layout).")
@click.option("--seed", type=int, default=0, show_default=True)
def synth(raw: Path, only: str | None, seed: int) -> None:
    """Write a synthetic raw tree RAW/<component>/... in the sources' own layouts."""
    from neuralbench.synth import write_raw_tree

    try:
        written = write_raw_tree(raw, _names(only), seed=seed)
    except (NeuralbenchError, KeyError) as exc:
        raise _Usage(str(exc)) from exc
    for name, files in written.items():
        click.echo(f"{name}: {len(files)} files")


class _BadCluster(click.ClickException):
    """A cluster profile or size that cannot work (unknown key, ``jobs: 0``): one line, exit 2."""

    exit_code = 2


def _client(
    workers: int | None, scheduler: str | None, kind: str = "local", jobs=None, profile=None, timeout=None
):
    """A Client from the cluster options: a scheduler address, or a local/slurm/pbs cluster."""
    from neuralbench.cluster import make_client, resolve

    _quiet_libraries()
    try:
        if scheduler:
            client = make_client(scheduler)
        elif kind == "local":
            resolve("local", profile, n_workers=workers, worker_timeout=timeout)  # usage errors first
            client = make_client("local", profile, n_workers=workers, worker_timeout=timeout)
        else:
            resolve(kind, profile, jobs=jobs, worker_timeout=timeout)
            client = make_client(kind, profile, jobs=jobs, worker_timeout=timeout)
    except (NeuralbenchError, ValueError, TypeError) as exc:
        raise _BadCluster(str(exc)) from exc
    return client


def _quiet_libraries() -> None:
    """Give distributed's and the hub's loggers the CLI's level (WARNING unless ``-v``).

    distributed sets its loggers to INFO when imported (about 15 lines at every
    cluster start), so it is imported, then set, before any cluster starts; the
    environment carries the level to worker processes, which import it afresh.
    """
    import distributed  # noqa: F401  (its import configures its loggers)

    level = click.get_current_context().find_root().obj["log_level"]
    for name in ("distributed", "huggingface_hub"):
        logging.getLogger(name).setLevel(level)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", logging.getLevelName(level).lower())


def _close(client) -> None:
    from neuralbench.cluster import release

    release(client)


def _run_build(
    raw: Path,
    out: Path,
    only: list[str] | None,
    workers,
    scheduler,
    cluster=("local", None, None),
    **options: Any,
) -> int:
    from neuralbench.catalog import MERGE_ORDER
    from neuralbench.pipeline import resolve_components

    try:
        resolve_components(raw, list(only or MERGE_ORDER) if options.get("download") else only)
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    client, line = None, None
    with _signals_interrupt():
        try:
            client = _client(workers, scheduler, *cluster)
            return _build_on(client, raw, out, only, **options)
        except _Interrupted as stop:
            _quiet_dask()
            line = _interrupted_line(stop, client, out)
            return stop.exit_code
        finally:
            if client is not None:
                _close(client)
            if line is not None:  # last, after whatever the closing workers logged
                click.echo(line, err=True)


def _build_on(client, raw: Path, out: Path, only: list[str] | None, **options: Any) -> int:
    from neuralbench.pipeline import build_all
    from neuralbench.progress import make_display

    click.echo(f"Dask dashboard: {client.dashboard_link}", err=True)
    display = make_display(click.get_text_stream("stderr"), every_s=_progress_every_s())
    try:
        try:
            report = build_all(raw, out, only, client, progress=display, **options)
        finally:
            display.close()
    except NeuralbenchError as exc:  # an unwritable output folder, or no worker within the bound
        click.echo(f"Error: {exc}", err=True)
        return 1
    _summary(report, out)
    return 0 if report["ok"] else 1


def _plural(n: int, word: str) -> str:
    """``1 problem``, ``2 problems``."""
    return f"{n:,} {word}{'s' * (n != 1)}"


def _progress_every_s() -> float:
    """Seconds between progress lines without a terminal: NEURALBENCH_PROGRESS_EVERY_S, else 30."""
    value = os.environ.get("NEURALBENCH_PROGRESS_EVERY_S", "30")
    try:
        return max(0.0, float(value))
    except ValueError:
        raise _Usage(f"NEURALBENCH_PROGRESS_EVERY_S={value!r} is not a number of seconds") from None


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a build; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.exit_code = signum, 128 + signum


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (``scancel`` of the head job) raise :class:`_Interrupted`.

    The first one only: a second signal acts as it normally does (kills at once, leaving
    whatever cleanup was under way). The previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise _Interrupted(signum)

    for signum in previous:
        signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _quiet_dask() -> None:
    """Workers and comms closing under a signal log errors that are expected: keep one line."""
    for name in ("distributed", "dask_jobqueue", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _interrupted_line(stop: _Interrupted, client, out: Path) -> str:
    """The one line a signal leaves: what stopped, what was cancelled, what is done."""
    from neuralbench.cluster import cancel_jobs

    jobs = cancel_jobs(client) if client is not None else []
    stopped = f"cancelled worker jobs {' '.join(jobs)}" if jobs else "stopped the workers"
    try:
        report = BuildLayout(out).report
        sessions = json.loads(report.read_text())["sessions"]
        done = sum(s["status"] in ("built", "skipped") for s in sessions)
        progress = f"{done} of {len(sessions)} sessions done, report {report}"
    except (OSError, ValueError, KeyError, TypeError):
        progress = "no session done yet"
    name = signal.Signals(stop.signum).name
    return f"interrupted by {name}: {stopped}; {progress}; rerun the same command to finish"


def _summary(report: dict, out: Path) -> None:
    statuses = [s["status"] for s in report["sessions"]]
    click.echo(
        f"{len(statuses)} sessions: {statuses.count('built')} built, "
        f"{statuses.count('skipped')} already done, {statuses.count('failed')} failed"
    )
    for name, comp in report["components"].items():
        line = f"  {name:<20} {comp.get('sessions', 0):>5} sessions {comp.get('tokens', 0):>15,} tokens"
        click.echo(line + (f"  ERROR {comp['error']}" if comp.get("error") else ""))
    corpus = report.get("corpus", {})
    if "rows" in corpus:
        click.echo(f"corpus: {_corpus_sentence(corpus)} -> {BuildLayout(out).corpus_dir}")
    elif corpus.get("error"):
        click.echo(f"corpus: ERROR {corpus['error']}")
    click.echo(f"report: {BuildLayout(out).report}")


def _corpus_sentence(corpus: dict) -> str:
    """``46 rows (45 train, 1 test), 463,000 tokens; test holds 1.2 % of the tokens (aim 1 %)``."""
    rows = corpus["rows"]
    splits = [s for s in ("train", "test") if s in rows] + sorted(set(rows) - {"train", "test"})
    per_split = ", ".join(f"{rows[s]:,} {s}" for s in splits)
    text = f"{_plural(sum(rows.values()), 'row')} ({per_split}), {corpus['tokens']:,} tokens"
    share = corpus.get("test_share")
    if share:
        text += f"; test holds {100 * share['share']:.2g} % of the tokens (aim {100 * share['target']:.2g} %)"
    return text


_build_options = [
    click.option("--only", help="Comma-separated component names (default: all with a raw folder)."),
    click.option(
        "--workers", type=click.IntRange(min=1), help="Workers of the LocalCluster (default: one per core)."
    ),
    click.option(
        "--scheduler", help="Address of a running dask scheduler (tcp://host:8786) or scheduler.json."
    ),
    click.option(
        "--cluster",
        "cluster_kind",
        type=click.Choice(["local", "slurm", "pbs"]),
        default="local",
        show_default=True,
        help="Where the workers run: this machine, or batch jobs via dask-jobqueue.",
    ),
    click.option("--jobs", type=click.IntRange(min=1), help="slurm/pbs: number of worker jobs to submit."),
    click.option(
        "--worker-timeout",
        type=click.FloatRange(min=0, min_open=True),
        help="Seconds with no worker (none yet, or all lost) before the build stops with exit 1 "
        "(default: worker-timeout of the cluster kind, neuralbench/cluster.yaml).",
    ),
    click.option(
        "--profile",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A cluster profile YAML (see cluster/slurm.yaml, cluster/pbs.yaml).",
    ),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the merge shuffle."),
    click.option("--download", is_flag=True, help="Fetch the raw files first (see `neuralbench download`)."),
    click.option(
        "--split-by",
        type=click.Choice(["session", "row"]),
        default="session",
        show_default=True,
        help="Test split by whole sessions, or by rows as the published corpus.",
    ),
]


def _with_build_options(func):
    for option in reversed(_build_options):
        func = option(func)
    return func


@cli.command()
@click.argument("raw", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@_with_build_options
def build(
    raw: Path,
    out: Path,
    only,
    workers,
    scheduler,
    cluster_kind,
    jobs,
    worker_timeout,
    profile,
    seed,
    download,
    split_by,
) -> None:
    """Build RAW/<component>/... into OUT: zarr, parquet components, merged corpus.

    \b
    Examples:
      neuralbench build raw out --only churchland,h2 --workers 2
      neuralbench build raw out --cluster slurm --jobs 20 --profile cluster/slurm.yaml
      neuralbench build raw out --scheduler tcp://10.0.0.5:8786
    """
    cluster = (cluster_kind, jobs, profile, worker_timeout)
    options = {"seed": seed, "split_by": split_by, "download": download, "worker_timeout": worker_timeout}
    sys.exit(_run_build(raw, out, _names(only), workers, scheduler, cluster, **options))


@cli.command()
@click.argument("raw", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", help="Comma-separated component names (default: all 23).")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Download on a LocalCluster with this many workers."
)
@click.option("--scheduler", help="Download on a running dask scheduler (tcp://host:8786).")
@click.option("--max-concurrent", type=int, default=4, show_default=True, help="Parallel downloads.")
@click.option("--verify-existing", is_flag=True, help="Re-hash files already in place.")
def download(raw: Path, only, workers, scheduler, max_concurrent: int, verify_existing: bool) -> None:
    """Fetch the recipes' raw files into RAW/<component>/..., verified and resumable.

    DANDI assets come at the recipe's pinned version (only the selected ones);
    archive files are checked against their published digests. Base URLs come
    from NEURALBENCH_DANDI_API_URL, NEURALBENCH_ZENODO_URL, ... (see the README).
    """
    from neuralbench.pipeline import download as fetch
    from neuralbench.sources import FetchOptions

    options = FetchOptions(max_concurrent=max_concurrent, verify_existing=verify_existing)
    client = _client(workers, scheduler) if (workers or scheduler) else None
    try:
        report = fetch(raw, _names(only), client, options=options)
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    finally:
        if client is not None:
            _close(client)
    for name, files in report.files.items():
        click.echo(f"{name}: {len(files)} files")
    for name, exc in report.errors.items():
        click.echo(f"{name}: ERROR {exc}", err=True)
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--workers", type=click.IntRange(min=1), help="Workers of the LocalCluster (default: one per core)."
)
def demo(out: Path, workers: int | None) -> None:
    """Synthesize a small raw tree in OUT/raw and build it into OUT (offline)."""
    from neuralbench.synth import write_raw_tree

    raw = out / "raw"
    write_raw_tree(raw)
    code = _run_build(raw, out, None, workers, None)
    click.echo(f"open it: python -c \"import neuralbench; print(neuralbench.open_corpus('{out}'))\"")
    sys.exit(code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def catalog(as_json: bool) -> None:
    """The 23 recipes: source, reader, published sessions and tokens."""
    from neuralbench.plan import catalog_table, format_table

    rows = catalog_table()
    click.echo(json.dumps(rows, indent=1) if as_json else format_table(rows))


@cli.command()
@click.argument("name")
@click.option(
    "--listing",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A dandiset asset listing (JSON), e.g. ../shared/real-data/dandi-listings/000950.json.",
)
@click.option("--files", "show_files", is_flag=True, help="List every selected file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plan(name: str, listing: Path, show_files: bool, as_json: bool) -> None:
    """What building NAME from a listing would download and build: files, bytes, sessions."""
    from neuralbench.plan import format_table
    from neuralbench.plan import plan as make_plan

    try:
        result = make_plan(name, listing)
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(format_table([result["summary"]]))
    if show_files:
        click.echo(format_table(result["files"]))


@cli.command()
@click.argument("source")
@click.option("--component", help="Only rows of this component.")
@click.option("--n", "n", type=int, default=6, show_default=True, help="How many random segments.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--split", default="train", show_default=True)
@click.option(
    "--from", "prefer", type=click.Choice(["parquet", "zarr"]), default="parquet", show_default=True
)
@click.option("--dpi", type=int, default=100, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Image file (.png/.jpg).")
def show(
    source: str, component, n: int, seed: int, split: str, prefer: str, dpi: int, out: Path | None
) -> None:
    """Draw random segments of SOURCE as raster images (units x 20 ms bins).

    SOURCE is a build's OUT folder, a hub folder (data/*.parquet) or a hub
    repository id (owner/name, streamed; needs the network).
    """
    from neuralbench.viz import show as show_rasters

    out = out or Path(f"{component or Path(source).name or 'corpus'}.png")
    try:
        path = show_rasters(
            source, out, component=component, n=n, seed=seed, split=split, prefer=prefer, dpi=dpi
        )
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    click.echo(str(path))


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--only", help="Comma-separated component names (default: all in OUT/zarr).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(out: Path, only: str | None, as_json: bool) -> None:
    """Per component: sessions, segments, units, tokens, spikes, mean rate, clipped bins,
    beside the published sessions and tokens (from the zarr attrs; loads no data)."""

    from neuralbench.stats import corpus_stats, format_stats

    rows = corpus_stats(out, _names(only))
    if not rows:
        raise _Usage(f"{out}: no component in {BuildLayout(out).zarr_dir}")
    click.echo(json.dumps(rows, indent=1) if as_json else format_stats(rows))


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--component", help="Push OUT/components/NAME instead of OUT/corpus.")
@click.option("--private/--public", default=None, help="Visibility of a repository created now.")
@click.option("--revision", help="Branch to push to (default: main).")
@click.option("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co).")
def push(folder: Path, repo_id: str, component, private, revision, endpoint) -> None:
    """Upload FOLDER (OUT, OUT/corpus or a component folder) to the dataset repo REPO_ID.

    Resumable: run it again after an interruption and only what the hub lacks
    is sent. The token comes from HF_TOKEN or `hf auth login`.
    """
    from neuralbench.push import push_folder

    try:
        result = push_folder(
            folder, repo_id, component=component, private=private, revision=revision, endpoint=endpoint
        )
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    click.echo(f"{result['folder']} -> {result['repo_id']}: {result['files']} files, {result['commit']}")


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-values", is_flag=True, help="Check ids, shapes and tokens only, not every count.")
def verify(out: Path, no_values: bool) -> None:
    """Recheck a finished build in OUT: report, zarr arrays, parquet rows and corpus agree."""
    from neuralbench.verify import verify_build

    result = verify_build(out, values=not no_values)
    for problem in result.problems:
        click.echo(problem, err=True)
    click.echo(
        f"{out}: {result.sessions} sessions, {result.rows} corpus rows, {result.tokens:,} tokens: "
        + ("OK" if result.ok else _plural(len(result.problems), "problem"))
    )
    sys.exit(0 if result.ok else 1)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status instead of raising SystemExit."""
    try:
        cli.main(args=argv, prog_name="neuralbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:  # Ctrl-C outside a build: the shell's code for SIGINT
        click.echo("Aborted!", err=True)
        return 130
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
