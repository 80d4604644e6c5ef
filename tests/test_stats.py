"""Statistics from the zarr attrs: checked against the data itself and the build report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from neuralbench import open_corpus
from neuralbench.catalog import RECIPES
from neuralbench.stats import COLUMNS, corpus_stats, format_stats


def test_figures_match_the_stored_arrays(built):
    _, out, report = built
    rows = {r["component"]: r for r in corpus_stats(out)}
    tree = open_corpus(out)
    for name, comp in report["components"].items():
        row = rows[name]
        assert row["sessions"] == comp["sessions"]
        sessions = [leaf for leaf in tree[name].leaves if "spike_counts" in leaf.ds]
        arrays = [leaf.ds["spike_counts"] for leaf in sessions]
        assert row["tokens"] == sum(a.size for a in arrays) == comp["tokens"]
        assert row["units"] == sum(a.sizes["unit"] for a in arrays)
        if row["clipped_bins"] == 0:  # nothing saturated: the stored counts add up to the spikes
            assert row["spikes"] == sum(int(a.sum()) for a in arrays)
        seconds = sum(a.size * a.attrs["bin_size_s"] for a in arrays)
        assert np.isclose(row["mean_rate_hz"], row["spikes"] / seconds, rtol=1e-3)
        assert row["published_sessions"] == RECIPES[name].expect.sessions
        assert row["tokens_diff"] == row["tokens"] - RECIPES[name].expect.tokens


def test_total_row_and_order(built):
    _, out, _ = built
    rows = corpus_stats(out)
    assert list(rows[0]) == list(COLUMNS)
    total = rows[-1]
    assert total["component"] == "total"
    for key in ("sessions", "tokens", "spikes", "clipped_bins", "segments"):
        assert total[key] == sum(r[key] for r in rows[:-1])
    assert [r["component"] for r in rows[:2]] == ["xiao", "neupane-ppc"]  # published merge order


def test_unknown_published_figures_are_none(built):
    _, out, _ = built
    [row, total] = corpus_stats(out, ["h2"])
    assert row["component"] == "h2" and total["tokens"] == row["tokens"]


def test_table_is_aligned(built):
    _, out, _ = built
    text = format_stats(corpus_stats(out, ["xiao", "churchland"]))
    lines = text.splitlines()
    assert lines[0].split()[0] == "component" and lines[-1].startswith("total")
    rule = lines[1]
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    assert len(starts) == len(COLUMNS)
    for line in (lines[0], lines[2], lines[-1]):  # every column ends where its rule ends
        ends = [
            i for i in range(1, len(rule) + 1) if rule[i - 1] == "-" and (i == len(rule) or rule[i] == " ")
        ]
        for end in ends[1:]:
            assert line[end - 1] != " "


def test_cli_stats_json(built):
    _, out, _ = built
    proc = subprocess.run(
        [sys.executable, "-m", "neuralbench", "stats", str(out), "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows[-1]["component"] == "total" and rows[-1]["tokens"] == sum(r["tokens"] for r in rows[:-1])
    table = subprocess.run(
        [sys.executable, "-m", "neuralbench", "stats", str(out)], capture_output=True, text=True
    )
    assert table.returncode == 0 and "published tokens" in table.stdout
