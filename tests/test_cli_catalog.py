"""`neuralbench catalog` and `neuralbench plan` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from neuralbench.catalog import RECIPES
from tests.conftest import real_data


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "neuralbench", *args], capture_output=True, text=True, timeout=120
    )


def test_catalog_lists_all_23():
    proc = run("catalog", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] and {r["name"] for r in rows} == set(RECIPES)
    assert sum(r["tokens"] for r in rows) == 34_320_949_010
    table = run("catalog").stdout
    assert "xiao" in table and "17,695,820,059" in table


def test_plan_on_a_real_listing():
    listing = real_data("dandi-listings", "000950.json")
    proc = run("plan", "h2", "--listing", str(listing), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert summary["selected"] == summary["expected_sessions"] == 47
    assert summary["total_bytes"] == 1_224_956_736
    assert run("plan", "nope", "--listing", str(listing)).returncode == 2
