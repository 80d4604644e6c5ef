"""Dataset cards: valid hub YAML, loadable folders, every fact a user needs, a raster image."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from neuralbench import __version__
from neuralbench.card import FIXES, RASTER, _with_facts, component_table, explain_fix, set_repo_id, write_card
from neuralbench.catalog import RECIPES
from neuralbench.schema import FEATURES


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
        splits={"train": 0},
        components=[{"name": "not-in-catalog", "sessions": 1, "tokens": 5, "fixes": ["brand-new-fix"]}],
    )
    text = path.read_text()
    assert "| not-in-catalog | 20 ms | 1 |" in text and "see source" in text
    assert f"`brand-new-fix` (not-in-catalog): {explain_fix('brand-new-fix')}" in text
    assert "brand-new-fix" not in FIXES
    assert not (tmp_path / RASTER).exists()  # no rows, no picture
    data = DatasetCard.load(path).data.to_dict()
    assert data["configs"]
    assert data["license"] == ["other"] and data["license_name"] and data["license_link"]


def test_yaml_has_name_size_licenses_and_datasets_sizes(folder):
    data = DatasetCard.load(folder / "README.md").data.to_dict()
    assert data["pretty_name"].startswith("neuralbench")
    assert data["size_categories"] == ["n<1K"]
    names = [r["source_dataset"] for r in load_dataset(str(folder), split="train").select_columns(
        ["source_dataset"])]  # fmt: skip
    want = {RECIPES[n].license.lower() or "other" for n in set(names)}
    assert want <= set(data["license"])
    if "other" in data["license"]:
        assert data["license_name"] and data["license_link"]
    info = data["dataset_info"]
    assert info["features"][0] == {"name": "spike_counts", "sequence": {"sequence": "uint8"}}
    for split in info["splits"]:
        ds = load_dataset(str(folder), split=split["name"])
        assert abs(split["num_bytes"] - ds.data.nbytes) <= 0.02 * ds.data.nbytes  # in memory, as datasets
    on_disk = sum(p.stat().st_size for p in (folder / "data").glob("*.parquet"))
    assert info["download_size"] == on_disk
    assert info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"])


def test_usage_snippet_runs_and_push_fills_in_the_repo_id(folder, tmp_path):
    card = tmp_path / "README.md"
    card.write_text((folder / "README.md").read_text())
    assert "REPO_ID" not in card.read_text()
    set_repo_id(card, str(folder))  # what push does, with a repository that load_dataset finds here
    text = card.read_text()
    assert f'load_dataset("{folder}"' in text
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 - the card's own first snippet, as a user pastes it
    assert scope["counts"].dtype == np.uint8 and scope["counts"].ndim == 2


def test_bin_widths_are_stated_where_they_are_not_20_ms(tmp_path):
    table = component_table([_with_facts({"name": n, "sessions": 1, "tokens": 1}) for n in RECIPES])
    assert "| rajalingham | 50 ms |" in table
    assert "| athalye | 20 ms (sub-monk-g: 16.7 ms) |" in table
    assert "| churchland | 20 ms |" in table
    text = write_card(
        tmp_path, title="t", summary="s", splits={"train": 0},
        components=[{"name": "rajalingham", "sessions": 2, "tokens": 5}],
    ).read_text()  # fmt: skip
    assert "| spike_counts | List(List(uint8)) | units x time bins of 50 ms |" in text


def test_every_fix_of_every_recipe_is_explained():
    used = {fix for r in RECIPES.values() for fix in r.fixes}
    assert used <= set(FIXES), used - set(FIXES)
    assert "lanzarini-column-vectors-whole" in RECIPES["lanzarini"].fixes
    assert "wrapped to the end of the row" in FIXES["lanzarini-drop-negative-times"]
    assert "cast to uint8 first" in FIXES["athalye-sum-before-saturate"]


# what datasets 3.3.2 writes for Sequence(Sequence(Value("uint8"))) and four strings
# (Dataset.to_parquet of a published-like component, read with pyarrow)
DATASETS_3_METADATA = (
    '{"info": {"features": {"spike_counts": {"feature": {"feature": {"dtype": "uint8", "_type": "Value"}, '
    '"_type": "Sequence"}, "_type": "Sequence"}, "subject_id": {"dtype": "string", "_type": "Value"}, '
    '"session_id": {"dtype": "string", "_type": "Value"}, '
    '"segment_id": {"dtype": "string", "_type": "Value"}, '
    '"source_dataset": {"dtype": "string", "_type": "Value"}}}}'
)


def test_parquet_features_read_the_same_under_datasets_3_and_5(folder):
    path = next((folder / "data").glob("train-*.parquet"))
    assert pq.read_schema(path).metadata[b"huggingface"].decode() == DATASETS_3_METADATA
    assert load_dataset(str(folder), split="train").features == FEATURES  # List(List(uint8)) here
