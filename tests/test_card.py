"""Dataset cards: valid hub YAML, loadable folders, every fact a user needs, a raster image."""

from __future__ import annotations

import re

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from neuralbench import __version__
from neuralbench.card import FIXES, RASTER, explain_fix, write_card
from neuralbench.catalog import RECIPES


@pytest.fixture(params=["corpus", "components/churchland"])
def folder(request, built):
    return built[1] / request.param


def test_yaml_is_valid_and_the_folder_loads(folder):
    data = DatasetCard.load(folder / "README.md").data.to_dict()
    assert data["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train-*"}
    assert [f["name"] for f in data["dataset_info"]["features"]][0] == "spike_counts"
    ds = load_dataset(str(folder), split="train")
    assert ds.num_rows == data["dataset_info"]["splits"][0]["num_examples"]


def test_card_shows_a_raster(folder):
    text = (folder / "README.md").read_text()
    assert f"]({RASTER})" in text
    img = Image.open(folder / RASTER)
    assert img.size[0] >= 400 and img.size[1] == 300 * (1 if "components" in str(folder) else 2)


def test_card_lists_sources_licenses_citations_fixes_and_command(built):
    _, out, report = built
    text = (out / "corpus" / "README.md").read_text()
    for name in report["components"]:
        recipe = RECIPES[name]
        assert f"| {name} |" in text
        assert f"]({recipe.source.url})" in text
        if recipe.cite:
            assert recipe.cite in text
        for fix in recipe.fixes:
            assert re.search(rf"- `{re.escape(fix)}` \([^)]*\): {re.escape(explain_fix(fix))}", text)
    assert f"neuralbench {__version__}" in text
    assert "neuralbench build raw out --seed 0 --split-by session" in text
    assert "`split-by-session`" in text
    component = (out / "components" / "churchland" / "README.md").read_text()
    assert "neuralbench build raw out --only churchland" in component


def test_unknown_names_are_handled(tmp_path):
    path = write_card(
        tmp_path,
        title="t",
        summary="s",
        splits={"train": (0, 0)},
        components=[{"name": "not-in-catalog", "sessions": 1, "tokens": 5, "fixes": ["brand-new-fix"]}],
    )
    text = path.read_text()
    assert "| not-in-catalog | 1 |" in text and "see source" in text
    assert f"`brand-new-fix` (not-in-catalog): {explain_fix('brand-new-fix')}" in text
    assert "brand-new-fix" not in FIXES
    assert not (tmp_path / RASTER).exists()  # no rows, no picture
    assert DatasetCard.load(path).data.to_dict()["configs"]
