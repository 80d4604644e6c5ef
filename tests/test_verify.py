"""``verify_build`` / ``neuralbench verify``: a sound build passes, each kind of damage is named."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import pytest
import zarr

from neuralbench import build_all
from neuralbench.synth import Scale, write_raw_tree
from neuralbench.verify import verify_build


@pytest.fixture(scope="module")
def small_build(tmp_path_factory, cluster_client):
    raw = tmp_path_factory.mktemp("raw-verify")
    out = tmp_path_factory.mktemp("out-verify")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, only=["kim", "h2"], scale=Scale.tiny(), seed=5)
    report = build_all(raw, out, client=cluster_client)
    assert report["ok"]
    return raw, out, report


def test_sound_build_verifies(small_build):
    _, out, report = small_build
    result = verify_build(out)
    assert result.ok, result.problems
    assert result.sessions == 4
    assert result.tokens == sum(s["tokens"] for s in report["sessions"])
    assert result.rows == report["corpus"]["rows"]["train"] + report["corpus"]["rows"]["test"]


def test_cli_verify(small_build, tmp_path):
    _, out, _ = small_build
    proc = subprocess.run(
        [sys.executable, "-m", "neuralbench", "verify", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr
    broken = tmp_path / "out"
    shutil.copytree(out, broken)
    (broken / "zarr" / "stray.partial").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "neuralbench", "verify", str(broken)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert f"{broken / 'zarr' / 'stray.partial'}: temporary file left behind" in proc.stderr


def _first(report, component):
    return next(s for s in report["sessions"] if s["component"] == component)


def _drop_array(out, report):
    s = _first(report, "kim")
    shutil.rmtree(out / "zarr" / "kim.zarr" / s["subject_id"] / s["session_id"])


def _change_count(out, report):
    s = _first(report, "h2")
    path = out / "zarr" / "h2.zarr" / s["subject_id"] / s["session_id"] / "spike_counts"
    arr = zarr.open_array(str(path), mode="r+")
    arr[0, 0] = (int(arr[0, 0]) + 1) % 256


def _drop_corpus_shard(out, report):
    next((out / "corpus" / "data").glob("test-*.parquet")).unlink()


def _double_component_shard(out, report):
    data = out / "components" / "kim" / "data"
    shards = sorted(data.glob("train-*.parquet"))  # one per session at least
    shutil.copyfile(shards[0], data / f"train-{len(shards):05d}-of-{len(shards):05d}.parquet")


def _edit_report(out, report):
    changed = json.loads((out / "report.json").read_text())
    changed["sessions"][0]["tokens"] += 1
    (out / "report.json").write_text(json.dumps(changed))


def _unfinished(out, report):
    changed = json.loads((out / "report.json").read_text())
    changed["sessions"][-1]["status"] = "pending"
    (out / "report.json").write_text(json.dumps(changed))


def _orphan_array(out, report):
    s = _first(report, "kim")
    src = out / "zarr" / "kim.zarr" / s["subject_id"] / s["session_id"]
    shutil.copytree(src, src.with_name("ghost"))


@pytest.mark.parametrize(
    "damage,message",
    [
        (_drop_array, "has no zarr group"),
        (_change_count, "differs from its zarr chunk"),
        (_drop_corpus_shard, "rows missing"),
        (_double_component_shard, "expected ['segment_0']"),
        (_edit_report, "tokens disagree"),
        (_unfinished, "the build did not finish it"),
        (_orphan_array, "does not list as built"),
    ],
)
def test_damage_is_named(small_build, tmp_path, damage, message):
    _, out, report = small_build
    broken = tmp_path / "out"
    shutil.copytree(out, broken)
    damage(broken, report)
    result = verify_build(broken)
    assert not result.ok
    assert any(message in p and p.startswith(str(broken)) for p in result.problems), result.problems


def test_no_report(tmp_path):
    result = verify_build(tmp_path)
    assert len(result.problems) == 1
    assert result.problems[0].startswith(f"{tmp_path / 'report.json'}: no readable report")
