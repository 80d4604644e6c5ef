"""The CLI as a user runs it: in a subprocess, on synthetic data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from datasets import load_dataset

from neuralbench.catalog import RECIPES
from neuralbench.cli import main


def run(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "neuralbench", *args],
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = run("demo", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Dask dashboard: http" in proc.stderr
    report = json.loads((out / "report.json").read_text())
    n = len(report["sessions"])
    assert report["ok"] and f"{n} sessions: {n} built" in proc.stdout
    assert set(report["components"]) == set(RECIPES)  # the demo covers all 23 layouts
    corpus = load_dataset(str(out / "corpus"))
    rows = sum(c["rows"] for c in report["components"].values())
    assert corpus["train"].num_rows + corpus["test"].num_rows == rows


def test_synth_then_build_only_one_component(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert run("synth", str(raw), "--only", "h2", "--seed", "3").returncode == 0
    proc = run("build", str(raw), str(out), "--only", "h2", "--workers", "1", "--split-by", "row")
    assert proc.returncode == 0, proc.stderr
    assert (out / "components" / "h2" / "README.md").exists()
    assert not (out / "components" / "xiao").exists()
    # quiet by default: no INFO line of distributed's cluster start
    assert "INFO" not in proc.stderr, proc.stderr
    # without a terminal, progress lines to stderr; the last one covers every stage
    last = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")][-1]
    assert last == "progress: sessions 2/2 | blocks 2/2 | exports 3/3 | shards 4/4  done"
    # the corpus as a sentence, train first
    # (by row here: 1 of 2 rows is half the tokens, which the summary says)
    summary = "corpus: 2 rows (1 train, 1 test), 2,304,000 tokens; test holds 50 % of the tokens (aim 1 %)"
    assert summary in proc.stdout


def test_verbose_shows_the_cluster_log(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert run("synth", str(raw), "--only", "h2").returncode == 0
    proc = run("-v", "build", str(raw), str(out), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "INFO distributed.scheduler" in proc.stderr


def test_failed_session_exits_1(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert run("synth", str(raw), "--only", "willett").returncode == 0
    (raw / "willett" / "sentences" / "broken.mat").write_bytes(b"not a mat file")
    proc = run("build", str(raw), str(out), "--workers", "1")
    assert proc.returncode == 1
    assert "broken.mat" in proc.stdout + proc.stderr
    assert len(load_dataset(str(out / "components" / "willett"), split="train")) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["build", "/nonexistent/raw", "/tmp/x"],
        ["build", ".", "/tmp/x", "--only", "nope"],
        ["bogus"],
        ["synth"],
    ],
)
def test_usage_errors_exit_2(args):
    assert main(args) == 2


def test_help_lists_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for cmd in ("synth", "build", "demo"):
        assert cmd in proc.stdout
