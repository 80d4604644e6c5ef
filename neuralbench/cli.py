"""The ``neuralbench`` command: thin click commands over the library functions.

Exit status: 0 when everything was built, 1 when a session (or a stage) failed,
2 for usage errors (bad arguments, a missing folder, an unknown component).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from neuralbench.errors import NeuralbenchError

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


def _client(workers: int | None, scheduler: str | None):
    from distributed import Client, LocalCluster

    # distributed sets its own loggers to INFO on import; the CLI's -v decides
    level = click.get_current_context().find_root().obj["log_level"]
    for name in ("distributed", "huggingface_hub"):
        logging.getLogger(name).setLevel(level)
    if scheduler:
        return Client(scheduler)
    import os

    n = workers or os.cpu_count() or 1
    return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True))


def _close(client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _run_build(raw: Path, out: Path, only: list[str] | None, workers, scheduler, **options: Any) -> int:
    from neuralbench.pipeline import build_all, resolve_components

    try:
        resolve_components(raw, only)
    except NeuralbenchError as exc:
        raise _Usage(str(exc)) from exc
    client = _client(workers, scheduler)
    click.echo(f"Dask dashboard: {client.dashboard_link}", err=True)
    bar = None

    def progress(done: int, total: int, entry: dict) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="sessions", file=sys.stderr)
            bar.__enter__()
        bar.update(1)
        if entry["status"] == "failed":
            click.echo(f"\nfailed: {entry['error']}", err=True)

    try:
        report = build_all(raw, out, only, client, progress=progress, **options)
    except NeuralbenchError as exc:  # the output folder cannot be written: nothing was built
        click.echo(f"Error: {exc}", err=True)
        return 1
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        _close(client)
    _summary(report, out)
    return 0 if report["ok"] else 1


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
        click.echo(f"corpus: {corpus['rows']} rows, {corpus['tokens']:,} tokens -> {out / 'corpus'}")
    elif corpus.get("error"):
        click.echo(f"corpus: ERROR {corpus['error']}")
    click.echo(f"report: {out / 'report.json'}")


_build_options = [
    click.option("--only", help="Comma-separated component names (default: all with a raw folder)."),
    click.option("--workers", type=int, help="Workers of the LocalCluster (default: one per core)."),
    click.option("--scheduler", help="Address of a running dask scheduler (tcp://host:8786)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the merge shuffle."),
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
def build(raw: Path, out: Path, only, workers, scheduler, seed, split_by) -> None:
    """Build RAW/<component>/... into OUT: zarr, parquet components, merged corpus."""
    sys.exit(_run_build(raw, out, _names(only), workers, scheduler, seed=seed, split_by=split_by))


@cli.command()
@click.argument("raw", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", help="Comma-separated component names (default: all 23).")
@click.option("--workers", type=int, help="Download on a LocalCluster with this many workers.")
@click.option("--scheduler", help="Download on a running dask scheduler (tcp://host:8786).")
@click.option("--max-concurrent", type=int, default=4, show_default=True, help="Parallel downloads.")
@click.option("--verify-existing", is_flag=True, help="Re-hash files already in place.")
def download(raw: Path, only, workers, scheduler, max_concurrent: int, verify_existing: bool) -> None:
    """Fetch the recipes' raw files into RAW/<component>/..., verified and resumable.

    DANDI assets come at the recipe's pinned version (only the selected ones);
    archive files are checked against their published digests. Base URLs come
    from NEURALBENCH_DANDI_API_URL, NEURALBENCH_ZENODO_URL, ... (see the README).
    """
    from neuralbench.sources import FetchOptions, download_recipes

    options = FetchOptions(max_concurrent=max_concurrent, verify_existing=verify_existing)
    client = _client(workers, scheduler) if (workers or scheduler) else None
    try:
        report = download_recipes(raw, _names(only), client=client, options=options)
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
@click.option("--workers", type=int, help="Workers of the LocalCluster (default: one per core).")
def demo(out: Path, workers: int | None) -> None:
    """Synthesize a small raw tree in OUT/raw and build it into OUT (offline)."""
    from neuralbench.synth import write_raw_tree

    raw = out / "raw"
    write_raw_tree(raw)
    code = _run_build(raw, out, None, workers, None)
    click.echo(f"open it: python -c \"import neuralbench; print(neuralbench.open_corpus('{out}'))\"")
    sys.exit(code)


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
        + ("OK" if result.ok else f"{len(result.problems)} problems")
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
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
