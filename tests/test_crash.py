"""Crashes lose nothing: kill -9 of the build, a dead worker, a full or read-only disk.

Each scenario ends with a build that is byte for byte the one an uninterrupted run
gives (report.json compared without its timings and built/skipped), no session
missing or doubled (``verify_build``), and no temporary file left.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from distributed import Client, LocalCluster, WorkerPlugin

from neuralbench import build_all
from neuralbench.synth import Scale, write_raw_tree
from neuralbench.verify import verify_build

COMPONENTS = "churchland,kim,h2"


def cli(raw: Path, out: Path, **popen) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "neuralbench", "build", str(raw), str(out), "--only", COMPONENTS]
    return subprocess.Popen([*cmd, "--workers", "2"], text=True, **popen)


def snapshot(out: Path) -> dict[str, object]:
    """Every file's bytes, and the report without timings (built and skipped are both 'done')."""
    files = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }
    report = json.loads((out / "report.json").read_text())
    for s in report["sessions"]:
        s.pop("seconds")
        s["status"] = "done" if s["status"] in ("built", "skipped") else s["status"]
    files["report.json"] = report
    return files


def assert_same_build(out: Path, reference: Path) -> None:
    got, want = snapshot(out), snapshot(reference)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    assert not [p for p in out.rglob("*") if ".partial" in p.name]
    result = verify_build(out)
    assert result.ok, result.problems


@pytest.fixture(scope="module")
def crash_raw(tmp_path_factory) -> Path:
    """A churchland tree long enough that writing it takes a while, plus two tiny components."""
    raw = tmp_path_factory.mktemp("raw-crash")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, only=["churchland"], scale=Scale(seconds=60.0, units=24, sessions=2), seed=3)
        write_raw_tree(raw, only=["kim", "h2"], scale=Scale.tiny(), seed=3)
    return raw


@pytest.fixture(scope="module")
def reference(crash_raw, tmp_path_factory, cluster_client) -> Path:
    """The uninterrupted build of ``crash_raw``."""
    out = tmp_path_factory.mktemp("out-reference")
    report = build_all(crash_raw, out, only=COMPONENTS.split(","), client=cluster_client)
    assert report["ok"] and len(report["sessions"]) == 6
    return out


def _kill_when(proc: subprocess.Popen, out: Path, trigger: str | float) -> bool:
    """SIGKILL the build's process group when ``trigger`` (a glob under out, or seconds) is met."""
    start = time.monotonic()
    while proc.poll() is None:
        hit = time.monotonic() - start >= trigger if isinstance(trigger, float) else any(out.glob(trigger))
        if hit:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


KILL_POINTS = [
    "zarr/.partial/*/*/*",  # a session being written
    "zarr/churchland.zarr/*/*/zarr.json",  # a session just committed (its group metadata)
    6.0,  # a random moment (mid-build)
    "components/.*.partial",  # a component being exported
    ".corpus.partial",  # the merge
    1.0,  # while the cluster starts
]


def test_kill_9_at_several_points_then_rerun(crash_raw, reference, tmp_path):
    out = tmp_path / "out"
    killed = []
    for trigger in KILL_POINTS:
        proc = cli(
            crash_raw, out, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if _kill_when(proc, out, trigger):
            killed.append(trigger)
        else:
            assert proc.returncode == 0  # the trigger came after the end: this run finished
    assert len(killed) >= 3, killed
    proc = cli(crash_raw, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert_same_build(out, reference)


class DieOnce(WorkerPlugin):
    """Kill the worker process (os._exit) the first time a task whose key holds ``prefix`` starts."""

    def __init__(self, prefix: str, marker: str) -> None:
        self.prefix, self.marker = prefix, marker

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing" and self.prefix in str(key) and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(key))
            os._exit(1)


@pytest.mark.parametrize(
    "prefix", ["open_session", "_write_chunk", "commit_session", "export_session", "write_shard"]
)
def test_worker_killed_mid_task(crash_raw, reference, tmp_path, prefix):
    out, marker = tmp_path / "out", tmp_path / "killed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster:
            with Client(cluster) as client:
                client.register_plugin(DieOnce(prefix, str(marker)))
                report = build_all(crash_raw, out, only=COMPONENTS.split(","), client=client)
    assert marker.exists(), "no task matched: the worker was never killed"
    assert prefix in marker.read_text()
    assert report["ok"], [s["error"] for s in report["sessions"] if s["error"]]
    assert_same_build(out, reference)


def _file_size_limit(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_file_too_large_then_rerun(crash_raw, reference, tmp_path):
    """RLIMIT_FSIZE works as root, unlike chmod: chunks over 64 kB cannot be written."""
    out = tmp_path / "out"
    proc = cli(
        crash_raw, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_file_size_limit(64_000)
    )
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    failed = [s for s in report["sessions"] if s["status"] == "failed"]
    assert failed and {s["component"] for s in failed} <= {"churchland", "h2"}
    for s in failed:
        assert s["error"].startswith(str(crash_raw / s["component"] / s["source_file"]) + ": cannot write ")
        assert "File too large [Errno 27]" in s["error"]
        assert f"failed: {s['error']}" in stderr
    assert any(s["status"] == "built" for s in report["sessions"])
    assert not [p for p in out.rglob("*") if ".partial" in p.name]
    proc = cli(crash_raw, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.wait(timeout=600) == 0
    assert_same_build(out, reference)


@pytest.fixture
def tmpfs(tmp_path):
    """A 600 kB tmpfs (needs mount privileges; skipped without them)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_then_rerun(crash_raw, reference, tmpfs, cluster_client):
    out = tmpfs / "out"
    report = build_all(crash_raw, out, only=COMPONENTS.split(","), client=cluster_client)
    assert not report["ok"]
    errors = [s["error"] for s in report["sessions"] if s["error"]]
    for name, comp in report["components"].items():
        statuses = [s["status"] for s in report["sessions"] if s["component"] == name]
        if comp.get("error") == "no session was built":  # true only when the disk took them all
            assert statuses and set(statuses) == {"failed"}
        elif comp.get("error"):
            errors.append(comp["error"])
    corpus = report["corpus"].get("error")
    if corpus == "no component was built":  # true only when no component got its rows written
        assert not [c for c in report["components"].values() if c.get("rows")]
    elif corpus is not None:
        errors.append(corpus)
    assert errors and all("No space left on device [Errno 28]" in e for e in errors), errors
    assert not [p for p in out.rglob("*") if ".partial" in p.name]
    subprocess.run(["mount", "-o", "remount,size=64m", str(tmpfs)], check=True)
    report = build_all(crash_raw, out, only=COMPONENTS.split(","), client=cluster_client)
    assert report["ok"]
    assert_same_build(out, reference)


def test_read_only_output(crash_raw, tmpfs):
    out = tmpfs / "out"
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    proc = cli(crash_raw, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1
    assert f"Error: {out}: output folder is not writable (Read-only file system [Errno 30])" in stderr
    assert not out.exists()
