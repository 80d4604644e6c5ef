"""The NWB readers on synthetic files, against an independent computation with pynwb."""

from __future__ import annotations

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from neuralbench.catalog import RECIPES
from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.session import open_file
from neuralbench.sources import list_files


def sessions(raw, name):
    return [raw / name / p for p in RECIPES[name].select(list_files(raw / name))]


def histogram_counts(trains, t0=0.0, w=0.02):
    t_max = max(t.max() for t in trains if len(t))
    edges = np.arange(t0, t_max + w, w)
    return np.stack([np.histogram(t, edges)[0] for t in trains])


def pynwb_trains(path, in_processing):
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        units = nwb.processing["ecephys"]["units"] if in_processing else nwb.units
        return [np.asarray(units.get_unit_spike_times(i)) for i in range(len(units))]


@pytest.mark.parametrize("name,in_processing", [("churchland", False), ("neupane-ppc", True)])
def test_units_reader_equals_histogram(raw_tree, name, in_processing):
    recipe = RECIPES[name]
    for path in sessions(raw_tree, name):
        counts = open_file("nwb-units", path, **recipe.params)
        assert counts.dims == ("unit", "time")
        ref = histogram_counts(pynwb_trains(path, in_processing))
        assert counts.shape == ref.shape
        assert np.array_equal(counts.values, ref)


@pytest.mark.parametrize("budget", [1, 5_000, 40_000])
def test_units_block_bins_groups_of_units(raw_tree, monkeypatch, budget):
    # a block task reads and bins a few units at a time (bounded memory); the
    # groups (one unit over budget, several under it) must not change the counts
    import neuralbench.readers.nwb as nwb

    path = sessions(raw_tree, "neupane-ppc")[0]
    ref = histogram_counts(pynwb_trains(path, True))
    monkeypatch.setattr(nwb, "_READ_SPIKES", budget)
    counts = open_file("nwb-units", path, **RECIPES["neupane-ppc"].params)
    # computed here: the patched budget is not on the test session's cluster workers
    assert np.array_equal(counts.data.compute(scheduler="synchronous"), ref)


def test_unsorted_unit_across_blocks_keeps_every_spike(tmp_path, monkeypatch):
    # an unsorted unit is read whole by every block; each block keeps its own bins
    import neuralbench.session
    from neuralbench.synth import new_nwbfile

    monkeypatch.setattr(neuralbench.session, "BLOCK_TOKENS", 2_000)  # blocks of one small segment

    rng = np.random.default_rng(5)
    trains = [rng.uniform(0, 100, 400), np.sort(rng.uniform(0, 100, 300))]  # unit 0 unsorted
    nwb = new_nwbfile("unsorted", "M")
    for t in trains:
        nwb.add_unit(spike_times=t)
    with NWBHDF5IO(str(tmp_path / "u.nwb"), "w") as io:
        io.write(nwb)
    counts = open_file("nwb-units", tmp_path / "u.nwb", max_tokens=2_000)
    assert counts.data.numblocks[1] > 3 and counts.attrs["unsorted_units"] == 1
    got = counts.data.compute(scheduler="synchronous")  # the session's cluster is not patched
    assert np.array_equal(got, histogram_counts([np.sort(t) for t in trains]))


def test_unit_groups_respect_the_budget():
    from neuralbench.readers.nwb import _unit_groups

    sizes = np.array([3, 3, 9, 0, 1, 1, 4])
    groups = _unit_groups(sizes, 6)
    assert groups == [(0, 2), (2, 3), (3, 7)]
    assert all(sizes[a:b].sum() <= 6 or b - a == 1 for a, b in groups)
    assert _unit_groups(np.array([], dtype=int), 6) == []


def test_units_reader_blocks_follow_segments(raw_tree):
    path = sessions(raw_tree, "churchland")[0]
    counts = open_file("nwb-units", path, group="units")
    assert counts.size > 10_000_000  # the long synthetic session
    bounds = counts.attrs["segment_bins"]
    assert len(bounds) == 2
    assert counts.data.chunks[1] == tuple(b - a for a, b in bounds)
    small = open_file("nwb-units", path, group="units", max_tokens=1_000_000)
    assert len(small.attrs["segment_bins"]) == 11
    assert np.array_equal(small.values, counts.values)


def test_units_reader_first_spike_origin(raw_tree):
    path = sessions(raw_tree, "churchland")[1]
    trains = pynwb_trains(path, False)
    t0 = min(t.min() for t in trains if len(t))
    counts = open_file("nwb-units", path, group="units", time_origin="first_spike")
    assert counts.attrs["t0_s"] == t0
    assert np.array_equal(counts.values, histogram_counts(trains, t0))


def test_units_reader_missing_table_names_file(raw_tree):
    path = sessions(raw_tree, "churchland")[0]
    with pytest.raises(ReaderError) as err:
        get_reader("nwb-units").open_session(path, group="processing/ecephys/units")
    assert str(path) in str(err.value) and "units table" in str(err.value)


def test_timeseries_reader_rebins_rasters(raw_tree):
    recipe = RECIPES["xiao"]
    for path in sessions(raw_tree, "xiao"):
        counts = open_file("nwb-timeseries", path, **recipe.params)
        with NWBHDF5IO(str(path), "r") as io:
            raster = np.asarray(io.read().processing["ecephys"]["rasters"].data[:])
        n = raster.shape[0] // 20
        ref = raster[: n * 20].reshape(n, 20, -1).sum(axis=1).T
        assert np.array_equal(counts.values, ref)


def test_timeseries_reader_prebinned(raw_tree):
    recipe = RECIPES["h2"]
    for path in sessions(raw_tree, "h2"):
        counts = open_file("nwb-timeseries", path, **recipe.params)
        with NWBHDF5IO(str(path), "r") as io:
            ref = np.asarray(io.read().acquisition["binned_spikes"].data[:]).T
        assert np.array_equal(counts.values, ref)  # unsaturated: 300 stays 300 here
        assert counts.values.max() == 300


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("step", [1, 3, 64])
def test_scan_and_block_offsets_match_a_per_unit_computation(tmp_path, monkeypatch, seed, step):
    # the streaming scan (any step size, units crossing steps) against each unit taken whole
    import h5py

    import neuralbench.readers.nwb as nwb
    from neuralbench.binning import arange_edges

    rng = np.random.default_rng(seed)
    trains = []
    for _ in range(rng.integers(1, 9)):
        t = np.sort(rng.uniform(-0.5, 20, rng.integers(0, 30)))
        if t.size > 1 and rng.random() < 0.3:
            t = t[::-1].copy()
        if t.size and rng.random() < 0.15:
            t[rng.integers(t.size)] = np.nan
        trains.append(t)
    if not sum(t.size for t in trains):
        trains[0] = np.array([1.0])
    with h5py.File(tmp_path / "u.h5", "w") as f:
        f["spike_times"] = np.concatenate(trains)
    ends = np.cumsum([t.size for t in trains])
    monkeypatch.setattr(nwb, "_SCAN", step)
    with h5py.File(tmp_path / "u.h5", "r") as f:
        t_min, t_max, n_nan, unsorted = nwb._scan_units(f["spike_times"], ends)
        blocks = [(0, 300), (300, 700), (700, 1001)]
        lo, hi = nwb._block_ranges(f["spike_times"], ends, unsorted, 0.0, 0.02, blocks)
    every = np.concatenate(trains)
    assert n_nan == np.isnan(every).sum()
    assert (t_min, t_max) == (np.nanmin(every), np.nanmax(every))
    want = [bool(np.isnan(t).any() or (np.diff(t) < 0).any()) for t in trains]
    assert unsorted.tolist() == want
    edges = arange_edges(0.0, 0.02, np.array([300, 700]))
    start = 0
    for u, t in enumerate(trains):
        if not want[u]:
            cuts = [start, *(start + np.searchsorted(t, edges)), start + t.size]
            assert lo[u].tolist() == cuts[:-1] and hi[u].tolist() == cuts[1:]
        else:  # read whole by every block
            assert lo[u].tolist() == [start] * 3 and hi[u].tolist() == [start + t.size] * 3
        start += t.size
