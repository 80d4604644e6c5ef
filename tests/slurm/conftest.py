"""A real one-node SLURM for the tests marked ``slurm``: started here when none is running.

``cluster/ci/slurm.sh`` installs Debian's packages (if missing and we are root) and starts
munged, slurmctld and slurmd with every file in a temporary folder, on free ports, so a
SLURM already on the machine is left alone; the fixture stops exactly those daemons. The
tests skip, naming the reason, only when the packages cannot be installed, and not even
then under ``NEURALBENCH_REQUIRE_SLURM=1`` (set by ``.ci/run``): there they must run.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "cluster" / "ci" / "slurm.sh"
NOT_INSTALLABLE = 3  # slurm.sh's exit status when the packages cannot be had


@dataclass(frozen=True)
class Slurm:
    """A running SLURM: its config file and the node's size as ``slurmd -C`` reports it."""

    conf: Path
    cpus: int
    memory_mb: int

    @property
    def env(self) -> dict[str, str]:
        """The environment for a subprocess that uses it (sbatch, squeue, neuralbench)."""
        return {**os.environ, "SLURM_CONF": str(self.conf), "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=env)


def _node_size() -> tuple[int, int]:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=60, check=True).stdout
    return int(re.search(r"\bCPUs=(\d+)", out)[1]), int(re.search(r"RealMemory=(\d+)", out)[1])


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    installed = _run("install")
    if installed.returncode == NOT_INSTALLABLE and not os.environ.get("NEURALBENCH_REQUIRE_SLURM"):
        pytest.skip(f"no SLURM: {installed.stderr.strip().splitlines()[-1]}")
    assert installed.returncode == 0, installed.stderr
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "NEURALBENCH_SLURMCTLD_PORT": str(_free_port()),
           "NEURALBENCH_SLURMD_PORT": str(_free_port())}  # fmt: skip
    started = _run("start", str(state), env=env)
    try:
        assert started.returncode == 0, started.stderr
        cpus, memory_mb = _node_size()
        yield Slurm(state / "slurm.conf", cpus, memory_mb)
    finally:
        stopped = _run("stop", str(state))
        assert stopped.returncode == 0, stopped.stderr
