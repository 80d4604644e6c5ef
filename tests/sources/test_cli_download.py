"""`neuralbench download` then `neuralbench build`, as a user runs them, against the loopback archive."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from datasets import load_dataset

from tests.sources.test_dandi import _serve


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "neuralbench", *args], capture_output=True, text=True, timeout=600
    )


def test_download_then_build_one_dandiset(archive, real_data, tmp_path):
    recipe, files, _ = _serve(archive, real_data, tmp_path, "moore", n=1)
    raw, out = tmp_path / "raw", tmp_path / "out"
    proc = run("download", str(raw), "--only", "moore")
    assert proc.returncode == 0, proc.stderr
    assert "moore: 1 files" in proc.stdout
    ((rel, data),) = files.items()
    assert hashlib.sha256((raw / "moore" / rel).read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    proc = run("build", str(raw), str(out), "--only", "moore", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(load_dataset(str(out / "components" / "moore"), split="train")) >= 1


def test_download_on_a_local_cluster(archive, real_data, tmp_path):
    """`download --workers`: the CLI hands the pipeline's bounded map on its LocalCluster to the sources."""
    _, files, _ = _serve(archive, real_data, tmp_path, "moore", n=1)
    raw = tmp_path / "raw"
    proc = run("download", str(raw), "--only", "moore", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "moore: 1 files" in proc.stdout
    ((rel, data),) = files.items()
    assert (raw / "moore" / rel).read_bytes() == data


def test_download_unknown_component_is_a_usage_error(tmp_path):
    assert run("download", str(tmp_path), "--only", "nope").returncode == 2


def test_download_404_exits_1(archive, tmp_path):
    # nothing served: the DANDI API answers 404 for the dandiset
    proc = run("download", str(tmp_path / "raw"), "--only", "h2")
    assert proc.returncode == 1
    assert "h2: ERROR" in proc.stderr


def test_build_with_download_stage(archive, real_data, tmp_path):
    """`build --download` fetches on the build's own cluster, then builds what it fetched."""
    _serve(archive, real_data, tmp_path, "moore", n=1)
    raw, out = tmp_path / "raw", tmp_path / "out"
    proc = run("build", str(raw), str(out), "--only", "moore", "--download", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert len(load_dataset(str(out / "components" / "moore"), split="train")) >= 1
    # a component whose download fails is named in the report, and the exit status is 1
    proc = run("build", str(raw), str(out), "--only", "moore,h2", "--download", "--workers", "1")
    assert proc.returncode == 1
    assert "download failed" in proc.stdout
