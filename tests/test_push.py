"""Push to a loopback fake hub (tests/hubserver.py): every file arrives, a rerun resends nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuralbench.errors import SourceError
from neuralbench.push import push_folder, resolve_folder
from tests.hubserver import FakeHub

TOKEN = "hf_loopback_test_token"


@pytest.fixture(autouse=True)
def _hub_env(tmp_path_factory, monkeypatch):
    """Token from the environment; huggingface_hub and hf_xet write under a temp HF_HOME."""
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_XET_CACHE", str(home / "xet"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


def _local_files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".neuralbench.json"
    }


def test_push_sends_every_file_with_the_token(built, hub):
    _, out, _ = built
    result = push_folder(out, "me/corpus", endpoint=hub.url)
    local = _local_files(out / "corpus")
    assert {"README.md", "assets/raster.png"} <= set(local)
    assert any(p.startswith("data/test-") for p in local)
    assert hub.repos["me/corpus"].files == local
    assert result["files"] == len(local) and result["oid"] == hub.repos["me/corpus"].commits[-1]
    assert {c.authorization for c in hub.requests} == {f"Bearer {TOKEN}"}


def test_rerun_resends_nothing_and_resumes_what_is_missing(built, hub):
    _, out, _ = built
    push_folder(out, "me/corpus", endpoint=hub.url)
    assert len(hub.calls("commit")) == 1
    push_folder(out, "me/corpus", endpoint=hub.url)
    assert len(hub.calls("commit")) == 1  # everything unchanged: no commit at all
    # an interrupted earlier push: the hub holds only the card
    repo = hub.repos["me/corpus"]
    missing = sorted(p for p in repo.files if p.startswith("data/"))
    for p in missing:
        del repo.files[p]
    push_folder(out, "me/corpus", endpoint=hub.url)
    assert sorted(hub.calls("commit")[-1].committed) == missing
    assert repo.files == _local_files(out / "corpus")


def test_push_one_component(built, hub):
    _, out, _ = built
    push_folder(out, "me/h2", component="h2", endpoint=hub.url)
    assert hub.repos["me/h2"].files == _local_files(out / "components" / "h2")


def test_resolve_folder(built, tmp_path):
    _, out, _ = built
    assert resolve_folder(out) == out / "corpus"
    assert resolve_folder(out / "corpus") == out / "corpus"
    assert resolve_folder(out, "xiao") == out / "components" / "xiao"
    with pytest.raises(SourceError, match="no components/nope"):
        resolve_folder(out, "nope")
    with pytest.raises(SourceError, match="not a finished hub folder"):
        resolve_folder(tmp_path)


def test_cli_push_end_to_end(built, hub, tmp_path):
    _, out, _ = built
    env = dict(os.environ, HF_ENDPOINT=hub.url)
    cmd = [sys.executable, "-m", "neuralbench", "push", str(out), "me/m2", "--component", "m2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "me/m2" in proc.stdout and TOKEN not in proc.stdout + proc.stderr
    assert hub.repos["me/m2"].files == _local_files(out / "components" / "m2")
    bad = subprocess.run([*cmd[:4], str(tmp_path), "me/x"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "not a finished hub folder" in bad.stderr
