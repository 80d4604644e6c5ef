"""The session: segments are cut once, here, from what the reader says the file holds."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import neuralbench.session as session
from neuralbench.catalog import RECIPES
from neuralbench.readers import get_reader
from neuralbench.readers.base import SessionSource
from neuralbench.segments import segment_bounds
from neuralbench.sources import list_files
from neuralbench.synth import Scale, write_raw_tree

KINDS = {  # one component per reader
    "churchland": "nwb-units",
    "h2": "nwb-timeseries",
    "willett": "mat-dense",
    "papale": "mat-mua-threshold",
    "wojcik": "npy-rates",
    "makin": "mat-channel-trains",
    "lanzarini": "mat-spike-vars",
    "rajalingham": "mat-conditions",
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_raw_tree(root, only=list(KINDS), seed=3, scale=Scale.tiny())
    return root


def _first(raw, name):
    recipe = RECIPES[name]
    (ref, *_) = session.find_sessions(recipe, list_files(raw / name))
    return recipe, ref


def _edges(chunks):
    return set(np.cumsum((0, *chunks)).tolist())


def test_every_reader_covers_a_kind():
    assert {RECIPES[name].reader for name in KINDS} == set(KINDS.values())


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("max_tokens", [None, 10_000_000, 100])
def test_segments_follow_the_rule_and_blocks_never_split_one(raw, name, max_tokens, monkeypatch):
    recipe, ref = _first(raw, name)
    recipe = recipe.__class__(**{**recipe.__dict__, "max_tokens": max_tokens})
    whole = session.open_session(recipe, raw, ref)
    bounds = segment_bounds(*whole.shape, max_tokens)
    assert whole.attrs["segment_bins"] == [list(b) for b in bounds]
    seg_edges = {0, *(b for _, b in bounds)}
    assert _edges(whole.data.chunks[1]) <= seg_edges  # a block is whole segments
    if max_tokens is None:
        assert len(bounds) == 1 and whole.data.numblocks[1] == 1
    if max_tokens == 100:
        assert len(bounds) > 1  # the tiny sessions still split
    monkeypatch.setattr(session, "BLOCK_TOKENS", 1)  # blocks as small as they may be
    small = session.open_session(recipe, raw, ref)
    source = get_reader(recipe.reader).open_session(raw / name / ref.source_file, **recipe.params)
    if source.read_whole:
        assert small.data.numblocks[1] == 1
    else:
        assert _edges(small.data.chunks[1]) == seg_edges  # one block per segment
    assert np.array_equal(small.values, whole.values)


def test_open_session_adds_the_provenance_to_what_the_reader_says(raw):
    recipe, ref = _first(raw, "churchland")
    counts = session.open_session(recipe, raw, ref)
    path = raw / "churchland" / ref.source_file
    source = get_reader(recipe.reader).open_session(path, **recipe.params_for(ref.source_file))
    assert counts.shape == source.shape and counts.dtype == np.uint16
    assert counts.attrs["t0_s"] == source.t0_s and counts.attrs["bin_size_s"] == source.bin_size_s
    assert counts.attrs["source_file"] == ref.source_file and counts.attrs["reader"] == "nwb-units"
    assert counts.attrs["session_id"] == ref.session_id and len(counts.attrs["source_sha256"]) == 64
    assert np.array_equal(counts.unit.values, source.unit.values)
    plain = session.open_file(recipe.reader, path, max_tokens=recipe.max_tokens, **recipe.params)
    assert np.array_equal(plain.values, counts.values) and "source_file" not in plain.attrs


def _ramp(n_units, start, stop, offset=0):
    """Counts equal to the bin index (plus the block's offset from the plan)."""
    return np.tile(np.arange(start, stop, dtype=np.uint16) + offset, (n_units, 1))


def _plan(calls, blocks):
    calls.append(list(blocks))
    return [(i,) for i in range(len(blocks))]


def test_the_plan_sees_the_blocks_and_each_block_gets_its_arguments(monkeypatch):
    calls = []
    read, plan = functools.partial(_ramp, 3), functools.partial(_plan, calls)
    source = SessionSource("toy", "toy", 3, 25, 0.0, 0.02, read, plan_blocks=plan)
    monkeypatch.setattr(session, "BLOCK_TOKENS", 30)  # two segments of 5 bins x 3 units a block
    counts = session.session_counts(source, max_tokens=15)
    segments = [[0, 5], [5, 10], [10, 15], [15, 20], [20, 25]]
    assert counts.attrs == {"bin_size_s": 0.02, "t0_s": 0.0, "segment_bins": segments}
    assert calls == [[(0, 10), (10, 20), (20, 25)]]
    want = np.concatenate([_ramp(3, a, b, i) for i, (a, b) in enumerate(calls[0])], axis=1)
    assert np.array_equal(counts.compute(scheduler="synchronous").values, want)


def test_block_task_names_are_deterministic_and_differ_between_sources():
    def keys(name):
        source = SessionSource("toy", name, 2, 40, 0.0, 0.02, functools.partial(_ramp, 2))
        return sorted(str(k) for k in dict(session.session_counts(source, max_tokens=20).__dask_graph__()))

    assert keys("units-a.nwb") == keys("units-a.nwb")
    assert set(keys("units-a.nwb")).isdisjoint(keys("units-b.nwb"))
