"""Synthetic raw trees: every component has a layout its recipe selects and its reader opens."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from neuralbench.catalog import RECIPES
from neuralbench.session import open_file
from neuralbench.synth import LAYOUTS, Scale, write_raw_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    return raw, write_raw_tree(raw, scale=Scale.tiny(), seed=3)


def _rel(raw, name, paths):
    return [p.relative_to(raw / name).as_posix() for p in paths]


def test_every_component_has_a_layout():
    assert set(LAYOUTS) == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_layout_is_selected_and_readable(tree, name):
    raw, written = tree
    recipe = RECIPES[name]
    on_disk = sorted(
        p.relative_to(raw / name).as_posix()
        for p in (raw / name).rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    selected = recipe.select(on_disk)
    assert selected, f"{name}: no session selected from {on_disk}"
    assert set(selected) <= set(_rel(raw, name, written[name]))
    ids = {recipe.ids.of(s) for s in selected}
    assert len(ids) == len(selected)  # no two sessions share ids
    for rel in selected:
        da = open_file(
            recipe.reader, raw / name / rel, max_tokens=recipe.max_tokens, **recipe.params_for(rel)
        )
        assert da.dims == ("unit", "time") and da.dtype == np.uint16
        assert da.shape[0] > 0 and da.shape[1] > 0
        for key in ("bin_size_s", "t0_s", "segment_bins"):
            assert key in da.attrs
        assert int(da.sum()) > 0


def test_aux_files_are_not_sessions(tree):
    raw, written = tree
    for name in ("xiao", "neupane-ppc", "neupane-entorhinal", "even-chen", "papale"):
        rel = _rel(raw, name, written[name])
        assert len(RECIPES[name].select(rel)) < len(rel) or name == "papale"
    papale = sorted(p.name for p in (raw / "papale").rglob("*.mat"))
    assert papale == ["THINGS_MUA_trials.mat"] * 2 + ["THINGS_normMUA.mat"] * 2


def _digest(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        if p.suffix == ".nwb":  # pynwb stamps random object ids: compare the data instead
            with h5py.File(p, "r") as f:
                f.visititems(
                    lambda n, o: (
                        h.update(np.asarray(o[()]).tobytes())
                        if isinstance(o, h5py.Dataset) and o.dtype.kind in "iuf"
                        else None
                    )
                )
        else:
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files(tmp_path):
    names = ["wojcik", "lanzarini", "rajalingham", "moore", "makin"]
    a = write_raw_tree(tmp_path / "a", only=names, seed=7, scale=Scale.tiny())
    b = write_raw_tree(tmp_path / "b", only=names, seed=7, scale=Scale.tiny())
    c = write_raw_tree(tmp_path / "c", only=names, seed=8, scale=Scale.tiny())
    for n in ("wojcik", "lanzarini", "rajalingham", "moore"):
        assert _digest(a[n]) == _digest(b[n]) != _digest(c[n])
    # MAT v7.3 files carry no timestamps of ours: compare the arrays
    with h5py.File(a["makin"][0], "r") as fa, h5py.File(b["makin"][0], "r") as fb:
        assert np.array_equal(fa["t"][()], fb["t"][()])


def test_unknown_layout_is_an_error(tmp_path):
    with pytest.raises(Exception, match="nope"):
        write_raw_tree(tmp_path, only=["nope"])


def _units_tables(path):
    with h5py.File(path, "r") as f:
        for group in ("units", "processing/ecephys/units"):
            if group in f:
                index = f[f"{group}/spike_times_index"][:]
                return np.diff(np.concatenate([[0], index]))
    return None


def test_units_tables_have_no_silent_unit_and_even_chen_image_files_hold_units(tree):
    raw, written = tree
    for name in ("churchland", "perich", "neupane-ppc", "neupane-entorhinal", "even-chen", "kim"):
        for path in written[name]:
            counts = _units_tables(path)
            if counts is not None:
                assert counts.min() > 0, path  # as in the real files: every unit spikes
    image = [p for p in written["even-chen"] if p.name.endswith("+image.nwb")]
    assert image and _units_tables(image[0]) is not None


def test_subjects_are_described_and_humans_are_human(tree):
    raw, written = tree
    for name, species in (("h1", "Homo sapiens"), ("h2", "Homo sapiens"), ("moore", "Callithrix jacchus"),
                          ("churchland", "Macaca mulatta")):  # fmt: skip
        with h5py.File(written[name][0], "r") as f:
            assert f["general/subject/species"][()].decode() == species
            assert f["general/subject/age"][()] and f["general/subject/sex"][()]


def test_wojcik_sessions_differ_and_counts_vary(tree):
    raw, written = tree
    counts = [open_file("npy-rates", p, **RECIPES["wojcik"].params).values for p in written["wojcik"]]
    assert counts[0].shape != counts[1].shape or not np.array_equal(counts[0], counts[1])
    for c in counts:
        assert len(np.unique(c)) >= 4 and (c == 0).mean() > 0.2  # not a 1 in every bin


def test_willett_tx1_is_uint8_as_in_the_real_files(tree):
    from scipy.io import loadmat

    raw, written = tree
    assert loadmat(written["willett"][0])["tx1"].dtype == np.uint8


# nwbinspector's CRITICAL findings that the synthetic tree has on purpose: the 300 equal
# spike times of the burst that saturates one bin (the saturation test's input).
DELIBERATE_CRITICAL = {"check_ascending_spike_times"}


def test_nwbinspector_finds_nothing_critical_but_the_deliberate_cases(tree):
    nwbinspector = pytest.importorskip("nwbinspector")
    raw, written = tree
    one_per_dandiset = {
        p.relative_to(raw).parts[:2]: p for ps in written.values() for p in ps if p.suffix == ".nwb"
    }
    found = set()
    for path in one_per_dandiset.values():
        for message in nwbinspector.inspect_nwbfile(nwbfile_path=str(path)):
            if message.importance.name == "CRITICAL":
                found.add(message.check_function_name)
    assert found <= DELIBERATE_CRITICAL, found
