"""``neuralbench build --cluster slurm`` on a real one-node SLURM (tests/slurm/conftest.py).

Every build here is compared byte for byte with a local build of the same synthetic tree.
The node is as big as ``slurmd -C`` says: worker jobs of one core each, and a profile one
core larger than the node for a job that can never start.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from neuralbench import store
from neuralbench.synth import Scale, write_raw_tree
from tests.slurm.conftest import REPO, Slurm

pytestmark = pytest.mark.slurm

COMPONENTS = ["h2", "churchland"]
WAIT_S = 300  # a bound on each wait for SLURM; a build here takes about a minute


def _parquet(out: Path) -> dict[str, str]:
    """sha256 of every parquet file of a build, by path under ``out``."""
    files = sorted(out.rglob("*.parquet"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The synthetic raw tree and the parquet digests of its local build."""
    root = tmp_path_factory.mktemp("slurm-ref")
    raw, out = root / "raw", root / "out"
    write_raw_tree(raw, only=COMPONENTS, scale=Scale(seconds=40.0, long_seconds=90.0, units=8, sessions=3))
    cmd = [sys.executable, "-m", "neuralbench", "build", str(raw), str(out), "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_S, cwd=root)
    assert proc.returncode == 0, proc.stderr
    digests = _parquet(out)
    assert len(digests) >= 4  # component shards and corpus shards
    return raw, digests


def _profile(tmp_path: Path, name: str, **keys: object) -> Path:
    """A profile of one-core, 1 GiB worker jobs with their own job name and log folder."""
    settings = {"cores": 1, "memory": "1GiB", "walltime": "00:30:00", "job-name": name,
                "log-directory": str(tmp_path / "logs"), "worker-timeout": 240, **keys}  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"neuralbench": {"cluster": {"slurm": settings}}}))
    return path


def _jobs(slurm: Slurm, name: str, states: str = "PENDING,RUNNING,CONFIGURING,COMPLETING") -> list[str]:
    """Ids of this test's jobs (by name) in the given states."""
    cmd = ["squeue", "--noheader", "--name", name, "--states", states, "--format", "%i"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=slurm.env, check=True)
    return out.stdout.split()


def _until(what: str, check, timeout: float = WAIT_S, proc: subprocess.Popen | None = None):
    """Poll ``check()`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the build ended ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.5)
    return value


def _run(slurm: Slurm, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=WAIT_S, env=slurm.env, cwd=cwd)


def _build(slurm: Slurm, raw: Path, out: Path, profile: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "neuralbench", "build", str(raw), str(out), "--cluster", "slurm",
            "--profile", str(profile), *extra]  # fmt: skip


def _after_first_session(slurm: Slurm, cmd: list[str], out: Path, cwd: Path, act) -> tuple:
    """Run a build, ``act(proc)`` once it has stored a session, and wait for its end."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=slurm.env, cwd=cwd
    )
    try:
        _until("a stored session", lambda: store.stored_sessions(out, "h2")
               or store.stored_sessions(out, "churchland"), proc=proc)  # fmt: skip
        act(proc)
        _, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, stderr


def test_build_on_slurm_equals_local(slurm: Slurm, reference, tmp_path: Path) -> None:
    raw, digests = reference
    profile = _profile(tmp_path, "nb-t-build")
    proc = _run(slurm, _build(slurm, raw, tmp_path / "out", profile, "--jobs", "2"), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _parquet(tmp_path / "out") == digests
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert len([n for n in logs if n.endswith(".out")]) == 2  # two worker jobs ran, logged there
    assert _jobs(slurm, "nb-t-build") == []  # and none is left behind


def _sbatch_launch(slurm: Slurm, tmp_path: Path, raw: Path, out: Path, jobs: int, profile: Path) -> str:
    script = REPO / "cluster" / "launch-slurm.sh"
    cmd = ["sbatch", "--parsable", f"--output={tmp_path}/head-%j.out", "--job-name", f"{profile.stem}-head",
           str(script), str(raw), str(out), str(jobs), str(profile)]  # fmt: skip
    proc = _run(slurm, cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def _job_state(slurm: Slurm, job: str) -> str:
    cmd = ["scontrol", "show", "job", job]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=slurm.env).stdout
    return out.split("JobState=")[1].split()[0] if "JobState=" in out else "GONE"


def test_launch_script_via_sbatch_equals_local(slurm: Slurm, reference, tmp_path: Path) -> None:
    """The shipped launch script as a user submits it: a one-core head job plus one worker."""
    raw, digests = reference
    profile = _profile(tmp_path, "nb-t-launch")
    head = _sbatch_launch(slurm, tmp_path, raw, tmp_path / "out", 1, profile)
    done = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "GONE")
    state = _until("the head job's end", lambda: (s := _job_state(slurm, head)) in done and s)
    log = (tmp_path / f"head-{head}.out").read_text()
    assert state == "COMPLETED", log
    assert _parquet(tmp_path / "out") == digests
    assert _jobs(slurm, "nb-t-launch") == []


def test_cancelled_head_job_takes_its_workers(slurm: Slurm, reference, tmp_path: Path) -> None:
    raw, _ = reference
    profile = _profile(tmp_path, "nb-t-head")
    head = _sbatch_launch(slurm, tmp_path, raw, tmp_path / "out", 1, profile)
    workers = _until("a worker job", lambda: _jobs(slurm, "nb-t-head", "RUNNING"))
    subprocess.run(["scancel", head], timeout=60, env=slurm.env, check=True)
    _until("the worker jobs' end", lambda: not _jobs(slurm, "nb-t-head"), timeout=60)
    log = _until("the head job's last line", lambda: "interrupted by SIGTERM" in (
        text := (tmp_path / f"head-{head}.out").read_text()) and text)  # fmt: skip
    assert f"cancelled worker jobs {workers[0]}" in log
    assert json.loads((tmp_path / "out" / "report.json").read_text())["ok"] is False


def test_cancelled_worker_job_build_still_equals_local(slurm: Slurm, reference, tmp_path: Path) -> None:
    """`scancel` of a worker mid-build: a warning, a replacement (or one worker less), same output."""
    raw, digests = reference
    out = tmp_path / "out"
    profile = _profile(tmp_path, "nb-t-lose")

    def cancel_one_worker(proc: subprocess.Popen) -> None:
        running = _jobs(slurm, "nb-t-lose", "RUNNING")
        assert len(running) == 2, running  # both workers were there before the first session
        subprocess.run(["scancel", running[0]], timeout=60, env=slurm.env, check=True)

    cmd = _build(slurm, raw, out, profile, "--jobs", "2")
    proc, stderr = _after_first_session(slurm, cmd, out, tmp_path, cancel_one_worker)
    assert proc.returncode == 0, stderr
    assert "lost 1 of 2 dask workers" in stderr
    assert _parquet(out) == digests
    assert _jobs(slurm, "nb-t-lose") == []


def test_job_larger_than_the_node_stops_with_the_reason(slurm: Slurm, reference, tmp_path: Path) -> None:
    """A profile one core larger than the node: squeue's PartitionConfig, exit 1, no job left."""
    raw, _ = reference
    profile = _profile(tmp_path, "nb-t-huge", cores=slurm.cpus + 1)
    start = time.monotonic()
    proc = _run(slurm, _build(slurm, raw, tmp_path / "out", profile, "--jobs", "2"), tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - start < 200  # well before the profile's worker-timeout of 240 s
    assert "PartitionConfig" in proc.stderr and "more cores or memory than a node" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _jobs(slurm, "nb-t-huge") == []
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["ok"] is False and "PartitionConfig" in report["stopped"]


def test_no_free_node_is_a_bounded_wait(slurm: Slurm, reference, tmp_path: Path) -> None:
    """Jobs pending for Resources (the node is taken): the build waits --worker-timeout, then says why."""
    raw, _ = reference
    cmd = ["sbatch", "--parsable", "--job-name", "nb-t-blocker", "-c", str(slurm.cpus), "--mem=100M",
           "--output=/dev/null", "--wrap", "sleep 600"]  # fmt: skip
    blocker = _run(slurm, cmd, tmp_path)
    assert blocker.returncode == 0, blocker.stderr
    try:
        _until("the blocking job running", lambda: _jobs(slurm, "nb-t-blocker", "RUNNING"))
        profile = _profile(tmp_path, "nb-t-wait")
        cmd = _build(slurm, raw, tmp_path / "out", profile, "--jobs", "1", "--worker-timeout", "15")
        proc = _run(slurm, cmd, tmp_path)
    finally:
        subprocess.run(["scancel", blocker.stdout.strip()], timeout=60, env=slurm.env)
    assert proc.returncode == 1, proc.stderr
    assert "within 15 s" in proc.stderr and "PENDING (Resources)" in proc.stderr
    assert _jobs(slurm, "nb-t-wait") == []


def test_ctrl_c_cancels_jobs_and_a_rerun_finishes(slurm: Slurm, reference, tmp_path: Path) -> None:
    import signal

    raw, digests = reference
    out = tmp_path / "out"
    profile = _profile(tmp_path, "nb-t-int")
    cmd = _build(slurm, raw, out, profile, "--jobs", "1")
    proc, stderr = _after_first_session(slurm, cmd, out, tmp_path, lambda p: p.send_signal(signal.SIGINT))
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted by SIGINT: cancelled worker jobs"), stderr
    assert _jobs(slurm, "nb-t-int") == []
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] is False and report["stopped"]
    rerun = _run(slurm, _build(slurm, raw, out, profile, "--jobs", "1"), tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert _parquet(out) == digests
