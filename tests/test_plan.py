"""Catalog and plan tables, on the real DANDI listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuralbench.catalog import MERGE_ORDER
from neuralbench.errors import RecipeError
from neuralbench.plan import catalog_table, format_table, plan, source_label

LISTINGS = Path(__file__).parents[1] / ".." / "shared" / "real-data" / "dandi-listings"
needs_listings = pytest.mark.skipif(not LISTINGS.is_dir(), reason="real-data not present")


def test_catalog_table_lists_every_component_in_merge_order():
    rows = catalog_table()
    assert [r["name"] for r in rows] == list(MERGE_ORDER)
    by_name = {r["name"]: r for r in rows}
    assert by_name["xiao"]["source"] == "DANDI:000628@draft"
    assert by_name["wojcik"]["source"] == "dryad:10.5061/dryad.c2fqz61kb"
    assert by_name["papale"]["reader"] == "mat-mua-threshold"
    assert sum(r["tokens"] for r in rows) == 34_320_949_010  # the published total
    text = format_table(rows)
    assert len(text.splitlines()) == 24 and "17,695,820,059" in text


@needs_listings
def test_plan_even_chen():
    out = plan("even-chen", LISTINGS / "000121.json")
    s = out["summary"]
    assert (s["listed_files"], s["selected"], s["expected_sessions"], s["difference"]) == (
        15,
        12,
        12,
        0,
    )
    assets = json.loads((LISTINGS / "000121.json").read_text())["assets"]
    kept = {a["path"]: a["size"] for a in assets if "+image" not in a["path"]}
    assert s["total_bytes"] == sum(kept.values())
    assert [f["path"] for f in out["files"]] == sorted(kept)
    assert out["files"][0]["subject_id"] == "sub-JenkinsC"
    assert "path" in format_table(out["files"]).splitlines()[0]


@needs_listings
def test_plan_shows_the_churchland_difference():
    s = plan("churchland", LISTINGS / "000070.json")["summary"]
    assert (s["selected"], s["expected_sessions"], s["difference"]) == (9, 10, -1)


@needs_listings
def test_plan_without_asset_list():
    s = plan("kim", LISTINGS / "001357.json")["summary"]
    assert s["listed_files"] == 159 and s["selected"] is None and s["difference"] is None


@needs_listings
def test_plan_refuses_another_dandisets_listing():
    with pytest.raises(RecipeError, match="000121"):
        plan("churchland", LISTINGS / "000121.json")


def test_plan_refuses_archive_components_and_bad_files(tmp_path):
    listing = tmp_path / "l.json"
    listing.write_text(json.dumps({"assets": []}))
    with pytest.raises(RecipeError, match="not a DANDI component"):
        plan("wojcik", listing)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(RecipeError, match=str(bad)):
        plan("h2", bad)


def test_source_label_and_table_format():
    from neuralbench.catalog import get_recipe

    assert source_label(get_recipe("h2").source) == "DANDI:000950@0.241029.1403"
    text = format_table([{"a": "x", "n": 1000}, {"a": "long", "n": None}])
    assert text.splitlines() == ["a         n", "x     1,000", "long      -"]
    assert format_table([]) == ""


@needs_listings
def test_plan_says_when_the_listing_is_of_another_version():
    s = plan("h2", LISTINGS / "000950.json")["summary"]  # a draft listing; the recipe pins 0.241029.1403
    assert s["listing_version"] == "draft"
    assert s["note"].startswith("listing of version draft, not the pinned 0.241029.1403")
    same = plan("even-chen", LISTINGS / "000121.json")["summary"]  # the pinned version itself
    assert "not the pinned" not in (same["note"] or "")
