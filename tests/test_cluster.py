"""Tests for neuralbench.cluster: job scripts as text, a real LocalCluster, a real scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import yaml

from neuralbench import cluster
from neuralbench.cluster import connect, job_script, make_client, release, resolve
from neuralbench.errors import NeuralbenchError

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "cluster"
PACKAGED = yaml.safe_load((REPO / "neuralbench" / "cluster.yaml").read_text())
WAIT_S = 60
PACKAGED_INTERVAL = PACKAGED["neuralbench"]["cluster"]["local"]["profile-interval"]


def _profile(tmp_path: Path, kind: str, **keys: object) -> Path:
    path = tmp_path / f"{kind}-profile.yaml"
    path.write_text(yaml.safe_dump({"neuralbench": {"cluster": {kind: keys}}}))
    return path


# -- configuration layers ---------------------------------------------------------------


def test_import_registers_only_neuralbench_defaults(tmp_path: Path) -> None:
    """Importing touches no other dask key, no home folder, and not dask-jobqueue."""
    code = (
        "import copy, json, sys, dask\n"
        "before = copy.deepcopy(dask.config.config)\n"
        "import neuralbench.cluster\n"
        "after = dask.config.config\n"
        "changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))\n"
        "print(json.dumps({'changed': changed,\n"
        "  'cores': dask.config.get('neuralbench.cluster.slurm.cores'),\n"
        "  'modules': sorted(m for m in ('dask_jobqueue', 'distributed') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("DASK_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=WAIT_S
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["changed"] == ["neuralbench"]
    assert report["cores"] == PACKAGED["neuralbench"]["cluster"]["slurm"]["cores"]
    assert report["modules"] == []
    assert list(tmp_path.iterdir()) == []


def test_layers_resolve_in_order(tmp_path: Path) -> None:
    """Keyword beats profile beats dask config beats packaged default; None is 'not given'."""
    packaged = PACKAGED["neuralbench"]["cluster"]["slurm"]
    assert resolve("slurm")["cores"] == packaged["cores"]
    assert resolve("slurm")["local_directory"] == packaged["local-directory"]
    profile = _profile(tmp_path, "slurm", cores=8, queue="long")
    with dask.config.set({"neuralbench.cluster.slurm.cores": 6, "neuralbench.cluster.slurm.jobs": 3}):
        assert resolve("slurm")["cores"] == 6
        layered = resolve("slurm", profile)
        assert (layered["cores"], layered["queue"], layered["jobs"]) == (8, "long", 3)
        explicit = resolve("slurm", profile, cores=12, queue=None, local_directory="/x")
        assert (explicit["cores"], explicit["queue"], explicit["local_directory"]) == (
            12,
            "long",
            "/x",
        )
    assert resolve("slurm")["cores"] == packaged["cores"]


def test_environment_variable_reaches_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_NEURALBENCH__CLUSTER__PBS__WALLTIME", "09:00:00")
    with dask.config.set(dask.config.collect(paths=[])):
        assert resolve("pbs")["walltime"] == "09:00:00"


def test_unknown_kind_and_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local, slurm, pbs"):
        make_client("kubernetes")
    with pytest.raises(TypeError, match="unknown key.*corez.*valid keys"):
        resolve("slurm", corez=4)
    bad = _profile(tmp_path, "slurm", cores=4, wall_time="1:00:00")
    with pytest.raises(NeuralbenchError, match="wall_time") as info:
        resolve("slurm", bad)
    assert str(info.value).startswith(str(bad))
    with pytest.raises(NeuralbenchError, match="no neuralbench.cluster.pbs section"):
        resolve("pbs", _profile(tmp_path, "slurm", cores=4))
    with dask.config.set({"neuralbench.cluster.local.n-wrkers": 2}):
        with pytest.raises(ValueError, match="dask config neuralbench.cluster.local.*n_wrkers"):
            resolve("local")
    with pytest.raises(ValueError, match="slurm or pbs"):
        job_script("local")


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_shipped_profiles_use_known_keys_and_differ_from_defaults(kind: str) -> None:
    """cluster/<kind>.yaml only overrides packaged keys, so there is one list of keys."""
    path = PROFILES / f"{kind}.yaml"
    shipped = yaml.safe_load(path.read_text())["neuralbench"]["cluster"][kind]
    settings = resolve(kind, path)
    packaged = PACKAGED["neuralbench"]["cluster"][kind]
    assert set(shipped) <= set(packaged)
    for key, value in shipped.items():
        assert settings[key.replace("-", "_")] == value
    assert any(packaged[key] != value for key, value in shipped.items())


# -- rendered job scripts ---------------------------------------------------------------


def _header_and_worker(script: str, prefix: str) -> tuple[list[str], str]:
    """The directives (prefix stripped) and the worker command line of a job script."""
    lines = script.strip().splitlines()
    header = [line.removeprefix(prefix).strip() for line in lines if line.startswith(prefix)]
    return header, lines[-1]


def test_slurm_job_script_carries_settings(tmp_path: Path) -> None:
    profile = _profile(tmp_path, "slurm", cores=6, memory="24GiB", account="from-profile")
    script = job_script(
        "slurm",
        profile,
        walltime="01:30:00",
        queue="compute",
        account="abc123",
        local_directory="/local/scratch",
        log_directory=str(tmp_path / "logs"),
        job_extra_directives=["--constraint=cpu"],
        job_script_prologue=["module load hdf5"],
    )
    header, worker = _header_and_worker(script, "#SBATCH")
    wanted = ["-J nb-worker", "-p compute", "-A abc123", "--cpus-per-task=6", "--mem=24G",
              "-t 01:30:00", "--constraint=cpu"]  # fmt: skip
    wanted.append(f"-o {tmp_path / 'logs'}/nb-worker-%J.out")
    assert set(wanted) <= set(header)
    assert "from-profile" not in script
    assert "module load hdf5" in script
    assert "--nworkers 6" in worker and "--nthreads 1" in worker  # processes follow cores
    assert "--memory-limit 4.00GiB" in worker
    assert "--local-directory /local/scratch" in worker


def test_pbs_job_script_carries_settings() -> None:
    script = job_script(
        "pbs",
        cores=8,
        processes=4,
        memory="32GiB",
        walltime="12:00:00",
        queue="workq",
        account="abc123",
        job_extra_directives=["-l place=free"],
    )
    header, worker = _header_and_worker(script, "#PBS")
    wanted = ["-N nb-worker", "-q workq", "-A abc123", "-l select=1:ncpus=8:mem=32GB",
              "-l walltime=12:00:00", "-l place=free"]  # fmt: skip
    assert set(wanted) <= set(header)
    assert "--nworkers 4" in worker and "--nthreads 2" in worker  # explicit processes win
    assert "--memory-limit 8.00GiB" in worker
    assert "--local-directory ${TMPDIR:-/tmp}" in worker  # packaged default, expanded on node


def test_pbs_resource_spec_replaces_select(tmp_path: Path) -> None:
    script = job_script("pbs", _profile(tmp_path, "pbs", resource_spec="nodes=1:ppn=4,mem=16gb"))
    assert "#PBS -l nodes=1:ppn=4,mem=16gb" in script
    assert "select=" not in script


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_shipped_profile_renders(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # dask-jobqueue would create the relative log-directory here
    script = job_script(kind, PROFILES / f"{kind}.yaml")
    assert "--nworkers 8" in script and "--memory-limit 4.00GiB" in script
    assert "-e logs/dask-workers/" in script  # the profile's path, as the user wrote it
    assert list(tmp_path.iterdir()) == []  # looking at a script writes nothing


def test_profile_sets_the_workers_python_and_prologue(tmp_path: Path) -> None:
    """`python` and `job-script-prologue` from YAML reach the rendered worker script."""
    profile = tmp_path / "site.yaml"
    profile.write_text(
        "neuralbench:\n  cluster:\n    slurm:\n"
        "      python: /opt/envs/nb/bin/python\n"
        "      job-script-prologue:\n        - module load hdf5/1.14\n"
        "        - source /opt/envs/nb/bin/activate\n"
    )
    script = job_script("slurm", profile)
    lines = script.strip().splitlines()
    assert lines[-1].startswith("/opt/envs/nb/bin/python -m distributed.cli.dask_worker")
    prologue = [lines.index("module load hdf5/1.14"), lines.index("source /opt/envs/nb/bin/activate")]
    assert prologue == sorted(prologue) and prologue[-1] < len(lines) - 1  # in order, before the worker
    assert job_script("slurm").strip().splitlines()[-1].startswith(f"{sys.executable} -m ")


@pytest.mark.parametrize(
    ("kind", "keys", "match"),
    [
        ("local", {"n_workers": 0}, "n_workers must be a whole number >= 1"),
        ("local", {"n_workers": -1}, "n_workers must be a whole number >= 1"),
        ("slurm", {"jobs": 0}, "jobs must be a whole number >= 1"),
        ("slurm", {"cores": 0}, "cores must be"),
        ("pbs", {"cores": 2, "processes": 4}, r"processes \(4\) must not exceed cores \(2\)"),
        ("slurm", {"worker_timeout": 0}, "worker_timeout must be a number of seconds > 0"),
        ("slurm", {"jobs": True}, "jobs must be a whole number"),
        ("local", {"profile_interval": "often"}, "profile_interval must be a duration"),
        ("pbs", {"profile_interval": "0ms"}, "profile_interval must be a duration"),
    ],
)
def test_impossible_sizes_are_refused(kind: str, keys: dict, match: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        resolve(kind, **keys)
    with pytest.raises(ValueError, match=match):  # the same from a profile
        resolve(kind, _profile(tmp_path, kind, **keys))


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_job_exports_the_profiler_interval_after_the_users_prologue(kind: str, tmp_path: Path) -> None:
    """A worker job reads dask config from its environment: the export precedes the worker."""
    lines = job_script(kind, job_script_prologue=["module load hdf5"]).strip().splitlines()
    export = f"export DASK_DISTRIBUTED__WORKER__PROFILE__INTERVAL={PACKAGED_INTERVAL}"
    assert lines.index("module load hdf5") < lines.index(export) < len(lines) - 1
    null = _profile(tmp_path, kind, **{"profile-interval": None})  # null: dask's own interval
    assert "PROFILE__INTERVAL" not in job_script(kind, null)


def test_dask_jobqueue_import_leaves_sigint_alone() -> None:
    """dask-jobqueue 0.9.0 sets SIGINT -> sys.exit() on import; ours puts the handler back."""
    code = (
        "import signal, sys\n"
        "from neuralbench.cluster import job_script\n"
        "job_script('slurm')\n"
        "assert 'dask_jobqueue' in sys.modules\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("script", "env", "args"),
    [
        ("launch-slurm.sh", {}, ["/raw dir", "/out", "7"]),
        ("launch-pbs.sh", {"RAW": "/raw dir", "OUT": "/out", "JOBS": "7"}, []),
    ],
)
def test_launch_scripts_pass_arguments(
    script: str, env: dict[str, str], args: list[str], tmp_path: Path
) -> None:
    """The batch scripts call `neuralbench build` with the flags the CLI defines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    fake = bin_dir / "neuralbench"  # stands in for the CLI: records its argv
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    kind = "slurm" if "slurm" in script else "pbs"
    run_env = {**os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(PROFILES / script), *args], env=run_env, cwd=REPO, check=True, timeout=WAIT_S)
    argv = json.loads(record.read_text())
    assert argv == ["build", "/raw dir", "/out", "--cluster", kind, "--profile",
                    f"cluster/{kind}.yaml", "--jobs", "7"]  # fmt: skip


# -- real clusters ----------------------------------------------------------------------


def test_local_client_computes_and_closes() -> None:
    client = make_client("local", n_workers=2, dashboard_address=":0")
    local = client.cluster
    try:
        client.wait_for_workers(2, timeout=WAIT_S)
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == 2
        assert {w["nthreads"] for w in workers} == {1}
        x = da.arange(10_000, chunks=1_000, dtype=np.int64)
        assert int(x.sum().compute()) == 10_000 * 9_999 // 2
    finally:
        release(client)
    assert client.status == "closed"
    assert local.status.name == "closed"


def _profile_ms(dask_worker) -> float | None:
    """The worker's profiler period in ms (None: profiling off)."""
    callback = dask_worker.periodic_callbacks.get("profile")
    return None if callback is None else callback.callback_time


@pytest.mark.parametrize("processes", [True, False])
def test_local_workers_sample_at_the_configured_interval(processes: bool, tmp_path: Path) -> None:
    """The packaged interval reaches real workers, in processes (their Nanny) and in threads."""
    client = make_client("local", n_workers=1, processes=processes, dashboard_address=":0")
    try:
        client.wait_for_workers(1, timeout=WAIT_S)
        expected = 1000 * dask.utils.parse_timedelta(PACKAGED_INTERVAL)
        assert list(client.run(_profile_ms).values()) == [expected]
        if processes:  # a worker its Nanny starts again has it too
            client.restart(timeout=WAIT_S)
            assert list(client.run(_profile_ms).values()) == [expected]
    finally:
        release(client)
    null = _profile(tmp_path, "local", **{"profile-interval": None})
    client = make_client("local", null, n_workers=1, processes=processes, dashboard_address=":0")
    try:  # null: dask's own default
        client.wait_for_workers(1, timeout=WAIT_S)
        dasks = 1000 * dask.utils.parse_timedelta(dask.config.get("distributed.worker.profile.interval"))
        assert list(client.run(_profile_ms).values()) == [dasks] != [expected]
    finally:
        release(client)


def _written(scheduler_file: Path) -> bool:
    try:
        return "address" in json.loads(scheduler_file.read_text())
    except (OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=WAIT_S)


@pytest.fixture
def scheduler(tmp_path: Path):
    """A `dask scheduler` and two `dask worker` processes on loopback; killed afterwards."""
    scheduler_file = tmp_path / "scheduler.json"
    mod = [sys.executable, "-m"]
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [*mod, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(scheduler_file), *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT_S
        while not _written(scheduler_file):
            if time.monotonic() > deadline or procs[0].poll() is not None:
                pytest.fail("dask scheduler did not start")
            time.sleep(0.1)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [*mod, "distributed.cli.dask_worker", "--scheduler-file",
                     str(scheduler_file), "--nthreads", "1", "--no-nanny", "--name", f"w{i}",
                     "--host", "127.0.0.1", "--local-directory", str(tmp_path / f"w{i}"),
                     *common],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        yield scheduler_file
    finally:
        # Workers first, each to its end, then the scheduler: a worker told to stop while
        # its scheduler is going away can hang in distributed's close path.
        for proc in reversed(procs):
            _stop(proc)


def test_connect_to_running_scheduler(scheduler: Path) -> None:
    address = json.loads(scheduler.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    client = make_client(address)
    try:
        assert client.cluster is None
        client.wait_for_workers(2, timeout=WAIT_S)
        pids = client.run(os.getpid)
        assert len(pids) == 2
        square_and_pid = lambda i: (i * i, os.getpid())  # noqa: E731  (a lambda ships by value)
        futures = [
            client.submit(square_and_pid, i, workers=[addr], pure=False) for i, addr in enumerate(pids)
        ]
        results = client.gather(futures)
        assert [r[0] for r in results] == [0, 1]
        assert {r[1] for r in results} == set(pids.values())  # ran on both workers
        x = da.ones((400, 400), chunks=(100, 100), dtype=np.uint8)
        assert int(x.sum().compute()) == 160_000
    finally:
        release(client)
    # release() closed our client only: the scheduler and its workers are still there
    again = connect(str(scheduler), timeout=WAIT_S)
    try:
        again.wait_for_workers(2, timeout=WAIT_S)
        assert again.submit(sum, [1, 2, 3]).result(timeout=WAIT_S) == 6
    finally:
        again.close()


def test_address_takes_no_profile(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="no profile"):
        make_client("tcp://127.0.0.1:8786", profile=tmp_path / "p.yaml")
    assert cluster.KINDS == ("local", "slurm", "pbs")


def test_build_on_a_separately_started_scheduler(scheduler: Path, tmp_path: Path) -> None:
    """`neuralbench build --scheduler` on a `dask scheduler` + 2 `dask worker` processes."""
    from datasets import load_dataset

    from neuralbench.synth import Scale, write_raw_tree

    raw, out = tmp_path / "raw", tmp_path / "out"
    write_raw_tree(raw, only=["h2", "churchland"], scale=Scale.tiny())
    address = json.loads(scheduler.read_text())["address"]
    with connect(address, timeout=WAIT_S) as probe:
        probe.wait_for_workers(2, timeout=WAIT_S)
    proc = subprocess.run(
        [sys.executable, "-m", "neuralbench", "build", str(raw), str(out), "--scheduler", address],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and {s["status"] for s in report["sessions"]} == {"built"}
    assert len(load_dataset(str(out / "components" / "h2"), split="train")) == 2
    # the scheduler outlives the build: the CLI only closed its own client
    with connect(str(scheduler), timeout=WAIT_S) as again:
        assert len(again.scheduler_info()["workers"]) == 2


@pytest.mark.parametrize("script", ["launch-slurm.sh", "launch-pbs.sh"])
def test_launch_script_without_neuralbench_says_what_to_edit(script: str, tmp_path: Path) -> None:
    """No `neuralbench` on PATH in the job: exit 127 with the line to edit, not `exec: not found`."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RAW": "/raw", "OUT": "/out"}
    proc = subprocess.run(["bash", str(PROFILES / script), "/raw", "/out"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=WAIT_S)  # fmt: skip
    assert proc.returncode == 127
    assert "neuralbench is not on PATH" in proc.stderr and "set SETUP near the top" in proc.stderr
