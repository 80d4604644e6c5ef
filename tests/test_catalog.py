"""The recipes: selection against the real DANDI listings, reader parameters, ids, tokens."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuralbench.catalog import MERGE_ORDER, RECIPES, Archive, Dandi, Ids, get_recipe
from neuralbench.errors import RecipeError
from neuralbench.readers import READERS

LISTINGS = Path(__file__).parents[1] / ".." / "shared" / "real-data" / "dandi-listings"
needs_listings = pytest.mark.skipif(not LISTINGS.is_dir(), reason="real-data not present")

DANDI = {r.source.dandiset: r for r in RECIPES.values() if isinstance(r.source, Dandi)}

# Published session counts that today's listing cannot give, pinned to the real figure.
ARCHIVE_DIFFERS = {
    "000070": 9,  # churchland: 9 files on the archive, the published table says 10 sessions
}


def _listing(dandiset: str) -> dict:
    return json.loads((LISTINGS / f"{dandiset}.json").read_text())


def test_every_component_has_a_recipe_in_merge_order():
    assert len(RECIPES) == 23
    assert set(MERGE_ORDER) == set(RECIPES)


@needs_listings
@pytest.mark.parametrize("dandiset", sorted(d for d in DANDI if d != "001357"))
def test_selection_gives_the_published_session_count(dandiset):
    listing = _listing(dandiset)
    recipe = DANDI[dandiset]
    picked = recipe.select(a["path"] for a in listing["assets"])
    expected = ARCHIVE_DIFFERS.get(dandiset, recipe.expect.sessions)
    assert len(picked) == expected
    assert picked == sorted(picked)


@needs_listings
def test_churchland_archive_holds_one_session_fewer_than_published():
    recipe = get_recipe("churchland")
    picked = recipe.select(a["path"] for a in _listing("000070")["assets"])
    assert (len(picked), recipe.expect.sessions) == (9, 10)
    assert "9 files" in recipe.expect.note


@needs_listings
def test_even_chen_excludes_the_raw_video_files():
    # 15 assets; the published table's 12 sessions are the files without "+image",
    # the other three are 40-55 GB raw-video assets.
    assets = _listing("000121")["assets"]
    picked = set(get_recipe("even-chen").select(a["path"] for a in assets))
    left = [a for a in assets if a["path"] not in picked]
    assert len(assets) == 15 and len(picked) == 12
    assert all("+image" in a["path"] and a["size"] > 40e9 for a in left)


@needs_listings
def test_kim_summary_file_count_matches_the_published_sessions():
    # 001357 has no asset list at hand, only its summary
    listing = _listing("001357")
    assert listing["assets"] is None
    assert listing["numberOfFiles"] == get_recipe("kim").expect.sessions
    assert get_recipe("kim").select(["sub-a/sub-a_ses-1_ecephys.nwb", "dandiset.yaml"]) == [
        "sub-a/sub-a_ses-1_ecephys.nwb"
    ]


@needs_listings
@pytest.mark.parametrize("dandiset", sorted(DANDI))
def test_dandi_version_and_license_follow_the_listing(dandiset):
    listing = _listing(dandiset)
    source = DANDI[dandiset].source
    assert listing["license"] == [f"spdx:{DANDI[dandiset].license}"]
    tags = listing.get("published_versions_tags") or []
    if source.version == "draft":
        assert source.reason
    elif tags:
        assert source.version == max(tags)
    # else: the listing predates the published version the recipe pins (perich, m1-a)


def test_archive_recipes_name_their_kind():
    for r in RECIPES.values():
        if isinstance(r.source, Archive):
            assert r.source.kind in {"dryad", "zenodo", "osf", "gin"}
            assert r.source.url.startswith("https://")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_params_are_accepted_by_the_reader_signature(name):
    recipe = RECIPES[name]
    accepted = READERS[recipe.reader].parameters()
    assert "max_tokens" not in accepted  # the segment rule is the session's, not a reader's
    for params in [recipe.params, *(extra for _, extra in recipe.overrides)]:
        assert set(params) <= set(accepted), set(params) - set(accepted)


def test_overrides_give_athalye_monkey_g_its_native_60_hz():
    r = get_recipe("athalye")
    g = r.params_for("000404/sub-monk-g/sub-monk-g_ses-session0.nwb")
    j = r.params_for("sub-monk-j/sub-monk-j_ses-session0.nwb")
    assert g["bin_size_s"] == g["native_bin_s"] == pytest.approx(1 / 60)
    assert (j["native_bin_s"], j["bin_size_s"]) == (0.005, 0.02)
    assert r.params["bin_size_s"] == 0.02  # params_for does not mutate the recipe


@pytest.mark.parametrize(
    "name, path, ids",
    [
        ("papale", "monkeyF/THINGS_MUA_trials.mat", ("monkey_F", "F_0")),
        ("papale", "monkeyN/THINGS_MUA_trials.mat", ("monkey_N", "N_0")),
        ("papale", "THINGS_MUA_trials_N.mat", ("monkey_N", "N_0")),
        ("rajalingham", "mahler_hand_dmfc_dataset_50ms.mat", ("Mahler", "M_0")),
        ("rajalingham", "perle/perle_hand_dmfc_dataset_50ms.mat", ("Perle", "P_0")),
        ("makin", "indy_20160407_02.mat", ("indy", "indy_20160407_02")),
        ("h2", "000950/sub-T5-held-in-calib/x_ses-1.nwb", ("sub-T5-held-in-calib", "x_ses-1")),
    ],
)
def test_ids(name, path, ids):
    recipe = get_recipe(name)
    assert recipe.select([path]) == [path]
    assert recipe.ids.of(path) == ids


def test_papale_does_not_select_the_normalised_mua():
    r = get_recipe("papale")
    assert r.select(["monkeyF/THINGS_normMUA.mat", "monkeyF/THINGS_MUA_trials.mat"]) == [
        "monkeyF/THINGS_MUA_trials.mat"
    ]


def test_fixed_ids_by_name_keep_working():
    assert Ids(fixed=(("a.mat", "S", "s0"),)).of("x/y/a.mat") == ("S", "s0")


def test_rajalingham_is_not_segmented():
    assert get_recipe("rajalingham").max_tokens is None
    assert all(r.max_tokens == 10_000_000 for r in RECIPES.values() if r.name != "rajalingham")


def test_every_recipe_names_its_fixes():
    for r in RECIPES.values():
        assert "saturate-uint8" in r.fixes
    assert "papale-trials-end-to-end" in get_recipe("papale").fixes
    assert "cast-uint8" in get_recipe("athalye").fixes


def test_token_is_stable_across_processes_and_tracks_changes():
    code = (
        "from neuralbench.catalog import RECIPES; "
        "print(' '.join(RECIPES[n].token() for n in sorted(RECIPES)))"
    )
    root = str(Path(__file__).parents[1])
    env_path = {**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": "random"}
    out = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env_path
        ).stdout.split()
        for _ in range(2)
    ]
    assert out[0] == out[1] == [RECIPES[n].token() for n in sorted(RECIPES)]
    assert len(set(out[0])) == 23
    r = get_recipe("perich")
    assert dataclasses.replace(r).token() == r.token()
    assert dataclasses.replace(r, params={"group": "other"}).token() != r.token()


def test_unknown_recipe_lists_the_names():
    with pytest.raises(RecipeError, match="area2-bump"):
        get_recipe("nope")
