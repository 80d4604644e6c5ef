"""NWB readers as the catalog uses them: real units tables, and the synth dandiset layouts.

Expected counts are computed here from the raw datasets (h5py / pynwb + numpy
histogram against the published ``np.arange(0, max + 0.02, 0.02)`` edges).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from neuralbench.catalog import RECIPES, get_recipe
from neuralbench.session import open_file
from neuralbench.synth import Scale, write_raw_tree

REAL = Path(__file__).parents[2] / ".." / "shared" / "real-data" / "nwb"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real-data not present")

REAL_UNITS = [
    ("dandi-cli/sub-anm369963_ses-20170228.nwb", "units"),
    ("dandi-cli/sub-anm372793_ses-20170508.nwb", "units"),
    ("pynapple/sub-4_ses-4_ecephys+image.nwb", "units"),
    ("pynapple/A8604-211122.nwb", "units"),
    ("edge_cases/nwb-explorer_test_Units.nwb", "acquisition/UnitsTest"),
]


def _trains_h5(path, group):
    with h5py.File(path, "r") as f:
        times = f[f"{group}/spike_times"][()]
        ends = f[f"{group}/spike_times_index"][()]
    starts = np.concatenate([[0], ends[:-1]])
    return [times[a:b] for a, b in zip(starts, ends, strict=True)]


def _published_histogram(trains):
    t_max = max(t.max() for t in trains if t.size)
    edges = np.arange(0, t_max + 0.02, 0.02)
    return np.vstack([np.histogram(t, bins=edges)[0] for t in trains])


@needs_real
@pytest.mark.parametrize("rel, group", REAL_UNITS)
@pytest.mark.parametrize("max_tokens", [10_000_000, 200_000])
def test_real_units_tables(rel, group, max_tokens):
    path = REAL / rel
    trains = _trains_h5(path, group)
    da = open_file("nwb-units", path, group=group, max_tokens=max_tokens)
    counts = da.values
    expected = _published_histogram(trains)
    assert counts.shape == expected.shape
    for u, t in enumerate(trains):
        assert counts[u].sum() == np.count_nonzero(t >= 0)
    assert np.array_equal(counts, np.minimum(expected, np.iinfo(np.uint16).max))


@needs_real
def test_dandi_cli_files_have_unsorted_spike_times():
    # the real-data quirk the reader must survive: spikes not sorted within the unit
    for rel, group in REAL_UNITS[:2]:
        (t,) = _trains_h5(REAL / rel, group)
        assert np.any(np.diff(t) < 0)
        da = open_file("nwb-units", REAL / rel, group=group)
        assert da.attrs["unsorted_units"] == 1


UNITS_COMPONENTS = sorted(n for n, r in RECIPES.items() if r.reader == "nwb-units")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    names = [*UNITS_COMPONENTS, "athalye", "temmar"]
    write_raw_tree(root, only=names, seed=5, scale=Scale(seconds=30.0, units=5, sessions=2))
    return root


def _sessions(raw, name):
    files = [p.relative_to(raw / name).as_posix() for p in (raw / name).rglob("*.nwb")]
    return get_recipe(name).select(f for f in files if not f.rsplit("/", 1)[-1].startswith("."))


@pytest.mark.parametrize("name", UNITS_COMPONENTS)
def test_units_components_on_synth_layouts(raw, name):
    from pynwb import NWBHDF5IO

    recipe = get_recipe(name)
    for rel in _sessions(raw, name):
        with NWBHDF5IO(str(raw / name / rel), "r") as io:
            nwb = io.read()
            table = nwb.units if recipe.params["group"] == "units" else nwb.processing["ecephys"]["units"]
            trains = [np.asarray(table.get_unit_spike_times(i)) for i in range(len(table))]
        da = open_file(
            recipe.reader, raw / name / rel, max_tokens=recipe.max_tokens, **recipe.params_for(rel)
        )
        assert np.array_equal(da.values, _published_histogram(trains))


def _series(path, where):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        if where == "analysis":
            ts = nwb.analysis["ThresholdCrossings"]
        else:
            module, name = where.split("/")
            ts = nwb.processing[module][name]
        return np.asarray(ts.data[:]), float(ts.rate)


def test_athalye_per_subject_rates(raw):
    recipe = get_recipe("athalye")
    seen = set()
    for rel in _sessions(raw, "athalye"):
        data, rate = _series(raw / "athalye" / rel, "behavior/spike_counts")
        da = open_file(
            recipe.reader, raw / "athalye" / rel, max_tokens=recipe.max_tokens, **recipe.params_for(rel)
        )
        if "monk-j" in rel:  # 200 Hz summed x4 into 20 ms, trailing partial window dropped
            assert rate == 200.0
            n = data.shape[0] // 4
            expected = data[: n * 4].reshape(n, 4, -1).sum(axis=1).T
            assert da.attrs["bin_size_s"] == 0.02
            assert expected.max() > 255  # saturated later, never wrapped here
        else:  # 60 Hz kept
            assert rate == 60.0
            expected = data.T
            assert da.attrs["bin_size_s"] == pytest.approx(1 / 60)
        assert np.array_equal(da.values, expected)
        seen.add(rel.split("/")[1])
    assert seen == {"sub-monk-g", "sub-monk-j"}


def test_temmar_accepts_both_layouts_and_records_which(raw):
    recipe = get_recipe("temmar")
    used = []
    for rel in _sessions(raw, "temmar"):
        da = open_file(
            recipe.reader, raw / "temmar" / rel, max_tokens=recipe.max_tokens, **recipe.params_for(rel)
        )
        group = da.attrs["source_group"]
        used.append(group)
        where = "analysis" if group.startswith("analysis") else "ecephys/ThresholdCrossings"
        data, _ = _series(raw / "temmar" / rel, where)
        assert np.array_equal(da.values, data.T)
    assert sorted(used) == ["analysis/ThresholdCrossings", "processing/ecephys/ThresholdCrossings"]
