"""Bounded waits for workers (neuralbench.pipeline.watch) and what the build command does on a signal.

Real clusters and real processes: a LocalCluster with no worker, a `dask scheduler` whose
`dask worker` processes are killed mid-build, and `neuralbench build` subprocesses that get
a real SIGINT or SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from neuralbench import store
from neuralbench.pipeline.watch import NoWorkersError, wait_for_workers, watch_workers
from neuralbench.synth import Scale, write_raw_tree

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
WAIT_S = 300


def _parquet(out: Path) -> dict[str, str]:
    files = sorted(out.rglob("*.parquet"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "neuralbench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_S, env=ENV, cwd=cwd)


def test_wait_for_workers_is_bounded_and_says_why() -> None:
    with LocalCluster(n_workers=0, dashboard_address=":0") as cluster, Client(cluster) as client:
        start = time.monotonic()
        with pytest.raises(NoWorkersError, match="for the first worker within 2 s: the local cluster has no"):
            wait_for_workers(client, timeout=2, poll_s=0.2)
        assert time.monotonic() - start < 30
        cluster.scale(1)
        wait_for_workers(client, timeout=60, poll_s=0.2)  # returns once the worker is there
        assert len(client.nthreads()) == 1


def test_watch_stops_the_main_thread_when_every_worker_is_gone() -> None:
    with LocalCluster(n_workers=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(1, timeout=60)
        with pytest.raises(NoWorkersError, match="since the last worker left within 2 s"):
            with watch_workers(client, timeout=2, poll_s=0.2):
                cluster.scale(0)
                time.sleep(120)  # interrupted by the watch long before this ends
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # left as it was


def test_a_worker_lost_after_the_last_poll_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """A build that ends between two polls still says that a worker left during it."""
    with LocalCluster(n_workers=2, dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        with caplog.at_level("WARNING", logger="neuralbench.pipeline.watch"):
            with watch_workers(client, timeout=60, poll_s=600):  # no poll while inside
                cluster.scale(1)
                deadline = time.monotonic() + 60
                while len(client.nthreads()) > 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
        assert "lost 1 of 2 dask workers" in caplog.text


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Many short sessions (so a build runs long after its first one) and their local build."""
    root = tmp_path_factory.mktemp("signals")
    raw = root / "raw"
    scale = Scale(seconds=60.0, long_seconds=120.0, units=12, sessions=6)  # 10 sessions, ~30 s
    write_raw_tree(raw, only=["h2", "churchland", "xiao"], scale=scale)
    proc = _cli("build", str(raw), str(root / "ref"), "--workers", "1", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return raw, _parquet(root / "ref")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_a_local_build_and_a_rerun_finishes(tree, tmp_path: Path, signum, code) -> None:
    raw, digests = tree
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "neuralbench", "build", str(raw), str(out), "--workers", "1"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not store.stored_sessions(out, "h2") and not store.stored_sessions(out, "churchland"):
            assert proc.poll() is None and time.monotonic() < deadline, "no session was stored"
            time.sleep(0.1)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert "neuralbench/" not in stderr  # no traceback of ours (closing workers may log theirs)
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines()[-1].startswith(f"interrupted by {name}: stopped the workers; ")
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] is False and report["stopped"] == name
    # the signal comes once a session is stored: the others may be pending or, on a fast
    # run, all built already (the build was then stopped in its export or merge)
    assert len(report["sessions"]) == 10 and {s["status"] for s in report["sessions"]} <= {"built", "pending"}
    for entry in report["sessions"]:  # what it calls built is stored
        if entry["status"] == "built":
            key = (entry["component"], entry["subject_id"], entry["session_id"])
            assert store.session_attrs(out, *key)["recipe_token"]
    rerun = _cli("build", str(raw), str(out), "--workers", "1", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert _parquet(out) == digests
    skipped = [
        s for s in json.loads((out / "report.json").read_text())["sessions"] if s["status"] == "skipped"
    ]
    assert skipped  # the session stored before the signal was not built again


def _written(path: Path) -> bool:
    try:
        return "address" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def test_losing_every_worker_mid_build_stops_it(tree, tmp_path: Path) -> None:
    """`build --scheduler` whose two `dask worker` processes are killed: exit 1 at the bound."""
    raw, _ = tree
    scheduler_file = tmp_path / "scheduler.json"
    mod = [sys.executable, "-m"]
    procs = [subprocess.Popen([*mod, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT_S
        while not _written(scheduler_file):
            assert time.monotonic() < deadline and procs[0].poll() is None, "dask scheduler did not start"
            time.sleep(0.1)
        for i in range(2):
            procs.append(subprocess.Popen([*mod, "distributed.cli.dask_worker", "--scheduler-file",
                                           str(scheduler_file), "--nthreads", "1", "--no-nanny",
                                           "--local-directory", str(tmp_path / f"w{i}")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        out = tmp_path / "out"
        cmd = [*mod, "neuralbench", "build", str(raw), str(out), "--scheduler", str(scheduler_file),
               "--worker-timeout", "5"]  # fmt: skip
        build = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        procs.append(build)
        while not store.stored_sessions(out, "h2") and not store.stored_sessions(out, "churchland"):
            assert build.poll() is None and time.monotonic() < deadline, "no session was stored"
            time.sleep(0.1)
        for worker in procs[1:3]:
            worker.kill()
        _, stderr = build.communicate(timeout=120)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    assert build.returncode == 1, stderr
    assert "no dask worker since the last worker left within 5 s" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] is False and "since the last worker left" in report["stopped"]


@pytest.mark.parametrize(
    "args",
    [
        ["--workers", "0"],
        ["--workers", "-1"],
        ["--cluster", "slurm", "--jobs", "0"],
        ["--worker-timeout", "0"],
    ],  # fmt: skip
)
def test_impossible_sizes_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    from neuralbench.cli import main

    (tmp_path / "raw" / "h2").mkdir(parents=True)
    start = time.monotonic()
    assert main(["build", str(tmp_path / "raw"), str(tmp_path / "out"), *args]) == 2
    assert time.monotonic() - start < 30  # at once, no cluster started


def test_bad_profile_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "raw" / "h2").mkdir(parents=True)
    profile = tmp_path / "site.yaml"
    profile.write_text("neuralbench:\n  cluster:\n    slurm:\n      python_path: /opt/py\n      jobs: 0\n")
    proc = _cli("build", "raw", "out", "--cluster", "slurm", "--profile", str(profile), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"Error: {profile}: unknown key(s) python_path; valid keys: "
        + proc.stderr.split("valid keys: ")[1].strip()
    ]
    assert "python" in proc.stderr.split("valid keys: ")[1].split(", ")  # the key it meant
    profile.write_text("neuralbench:\n  cluster:\n    slurm:\n      jobs: 0\n")
    proc = _cli("build", "raw", "out", "--cluster", "slurm", "--profile", str(profile), cwd=tmp_path)
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == "Error: cluster slurm: jobs must be a whole number >= 1, got 0"
    )
