"""neuralbench.window_sources: parquet gives the zarr store's windows; sources that are not one are named."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from neuralbench import windows
from neuralbench.errors import SourceError
from neuralbench.merge import corpus_split, finalize_merge, plan_merge, write_shard
from neuralbench.store import session_attrs
from tests.window_keys import BINS, UNITS, copy_build, keys


def test_parquet_gives_the_same_windows_as_zarr(built):
    _, out, _ = built
    from_zarr = sorted(keys(windows(out, units=UNITS, bins=BINS, seed=4, split="train")))
    corpus = windows(out / "corpus", units=UNITS, bins=BINS, seed=4, split="train")
    assert sorted(keys(corpus)) == from_zarr
    assert len(corpus) == len(from_zarr)
    component = windows(out / "components" / "h2", units=UNITS, bins=BINS, seed=4, split=None)
    want = sorted(keys(windows(out, units=UNITS, bins=BINS, seed=4, split=None, components=["h2"])))
    got = list(component)
    assert sorted(keys(got)) == want and got[0]["spike_counts"].dtype == np.uint8


def test_multi_segment_session_from_parquet_keeps_its_time_bins(built):
    _, out, _ = built
    split = [
        k for k in corpus_split(out / "corpus") if len(session_attrs(out, *k).get("segment_bins", [])) > 1
    ]
    assert split  # the synthetic tree has sessions long enough to split
    name = split[0][0]
    cut = keys(windows(out / "components" / name, units=UNITS, bins=BINS, seed=0, split=None))
    assert any(k[3] > 0 for k in cut)
    assert sorted(cut) == sorted(
        keys(windows(out, units=UNITS, bins=BINS, seed=0, split=None, components=[name]))
    )


def test_bad_sources_are_named(built, tmp_path):
    _, out, _ = built
    with pytest.raises(SourceError, match="no such folder"):
        windows(tmp_path / "missing", units=4, bins=10)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=str(empty)):
        windows(empty, units=4, bins=10)
    no_corpus = tmp_path / "zarr-only"
    shutil.copytree(out / "zarr", no_corpus / "zarr")
    with pytest.raises(SourceError, match=r"corpus.*\.neuralbench\.json"):
        windows(no_corpus, units=4, bins=10, split="train")
    assert len(windows(no_corpus, units=4, bins=10, split=None)) > 0
    with pytest.raises(ValueError, match="positive"):
        windows(out, units=0, bins=10)
    with pytest.raises(SourceError, match="no stored segment"):
        windows(out, units=4, bins=10, components=["no-such-component"])


def test_a_row_split_corpus_is_read_from_its_parquet(built, tmp_path):
    _, out, _ = built
    out = copy_build(out, tmp_path / "out")
    dirs = [
        out / "components" / c
        for c, _ in json.loads((out / "corpus" / ".neuralbench.json").read_text())["inputs"]
    ]
    shutil.rmtree(out / "corpus")
    plan = plan_merge(dirs, out / "corpus", split_by="row", test_size=0.3, seed=0)
    for split, k in plan.n_shards():
        write_shard(plan, split, k)
    finalize_merge(plan)
    with pytest.raises(SourceError, match="split by row"):
        windows(out, units=4, bins=10, split="train")
    train = {(k[0], k[1], k[2]) for k in keys(windows(out / "corpus", units=4, bins=10, split="train"))}
    assert train
