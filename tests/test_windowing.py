"""neuralbench.windowing on a real build: contents, segments, split, determinism, sharding, policies."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuralbench import windows
from neuralbench.export import read_manifest
from neuralbench.merge import corpus_split
from neuralbench.store import session_array, session_attrs, stored_sessions
from neuralbench.windowing import UnitPolicy, _deal, _key_hash, _unit_groups, windows_per_segment
from tests.window_keys import BINS, UNITS, copy_build, key, keys

REPO = Path(__file__).resolve().parents[1]


def test_window_equals_the_slice_of_its_stored_session(built):
    _, out, _ = built
    sessions: dict[tuple, np.ndarray] = {}
    seen = 0
    for w in windows(out, units=UNITS, bins=BINS, seed=3, split=None):
        ids = (w["source_dataset"], w["subject_id"], w["session_id"])
        if ids not in sessions:
            sessions[ids] = np.asarray(session_array(out, *ids)[:])
        stored = sessions[ids]
        counts, rows = w["spike_counts"], w["unit_index"]
        assert counts.dtype == np.uint8 and counts.shape == (UNITS, BINS) and rows.shape == (UNITS,)
        real = rows >= 0
        n = int(real.sum())
        assert (rows[n:] == -1).all() and not counts[n:].any()  # padding: last lines, zero, -1
        assert n == min(UNITS, stored.shape[0]) and len(set(rows[:n])) == n
        np.testing.assert_array_equal(counts[:n], stored[rows[:n], w["time_bin"] : w["time_bin"] + BINS])
        seen += 1
    assert seen > 100
    assert len(sessions) == sum(
        len(stored_sessions(out, c)) for c, *_ in read_manifest(out / "corpus")["inputs"]
    )


def test_window_never_crosses_a_segment(built):
    _, out, _ = built
    attrs = {}
    for w in windows(out, units=UNITS, bins=BINS, seed=0, split=None):
        ids = (w["source_dataset"], w["subject_id"], w["session_id"])
        arr = attrs.get(ids) or attrs.setdefault(ids, session_attrs(out, *ids).get("segment_bins"))
        bounds = arr or [[0, 10**12]]
        k = int(w["segment_id"].split("_")[1])
        assert bounds[k][0] <= w["time_bin"] and w["time_bin"] + BINS <= bounds[k][1]


def test_no_window_crosses_the_split(built):
    _, out, _ = built
    split = corpus_split(out / "corpus")
    test_sessions = {k for k, s in split.items() if s == "test"}
    assert test_sessions and len(test_sessions) < len(split)
    train = keys(windows(out, units=UNITS, bins=BINS, seed=1, split="train"))
    test = keys(windows(out, units=UNITS, bins=BINS, seed=1, split="test"))
    assert train and test
    assert not {k[:3] for k in train} & test_sessions
    assert {k[:3] for k in test} == test_sessions
    everything = keys(windows(out, units=UNITS, bins=BINS, seed=1, split=None))
    assert sorted(train + test) == sorted(everything)  # a session's windows do not depend on the split


def test_same_seed_same_windows_other_seed_or_epoch_others(built):
    _, out, _ = built
    first = list(windows(out, units=UNITS, bins=BINS, seed=5, split="train"))
    again = list(windows(out, units=UNITS, bins=BINS, seed=5, split="train"))
    assert keys(first) == keys(again)
    assert all(
        np.array_equal(a["spike_counts"], b["spike_counts"]) for a, b in zip(first, again, strict=True)
    )
    other = keys(windows(out, units=UNITS, bins=BINS, seed=6, split="train"))
    assert other != keys(first) and set(other) != set(keys(first))  # other offsets, not only another order
    ws = windows(out, units=UNITS, bins=BINS, seed=5, split="train")
    ws.set_epoch(1)
    assert set(keys(ws)) != set(keys(first))
    two = windows(out, units=UNITS, bins=BINS, seed=5, split="train", epochs=2)
    assert keys(two) == keys(first) + keys(ws) and len(two) == 2 * len(first)


def test_len_is_what_an_epoch_yields(built):
    _, out, _ = built
    ws = windows(out, units=UNITS, bins=BINS, seed=0, split="train")
    assert len(ws) == len(list(ws)) > 0
    for i in range(3):
        part = ws.shard(i, 3)
        assert len(part) == len(list(part))
    with pytest.raises(TypeError, match="endless"):
        len(windows(out, units=UNITS, bins=BINS, split="train", epochs=None))


def test_ranks_together_give_each_window_once(built):
    _, out, _ = built
    whole = keys(windows(out, units=UNITS, bins=BINS, seed=2, split="train"))
    parts = [
        keys(windows(out, units=UNITS, bins=BINS, seed=2, split="train", rank=r, world_size=3))
        for r in range(3)
    ]
    assert all(parts)
    assert sorted(k for p in parts for k in p) == sorted(whole)
    assert len(set(whole)) == len(whole)


def test_unit_policies(built):
    _, out, _ = built
    units = 8
    n_units = {}
    by_time: dict[tuple, list[np.ndarray]] = {}
    for w in windows(out, units=units, bins=BINS, seed=0, split=None, unit_policy="split"):
        ids = (w["source_dataset"], w["subject_id"], w["session_id"])
        if ids not in n_units:
            n_units[ids] = session_array(out, *ids).shape[0]
        by_time.setdefault((*ids, w["time_bin"]), []).append(w["unit_index"][w["unit_index"] >= 0])
    for (*ids, _), groups in by_time.items():  # every unit of the span in exactly one window
        assert sorted(np.concatenate(groups).tolist()) == list(range(n_units[tuple(ids)]))
    few = {ids for ids, n in n_units.items() if n < 30}
    assert few and len(few) < len(n_units)
    skipped = {key(w)[:3] for w in windows(out, units=30, bins=BINS, split=None, unit_policy="skip")}
    assert skipped and not skipped & few
    with pytest.raises(ValueError, match="policy|UnitPolicy|valid"):
        windows(out, units=units, bins=BINS, unit_policy="crop")


def test_core_does_not_import_torch(built):
    _, out, _ = built
    code = (
        "import sys, neuralbench\n"
        f"w = next(iter(neuralbench.windows({str(out)!r}, units=4, bins=10)))\n"
        "assert w['spike_counts'].dtype.name == 'uint8'\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_damaged_chunk_skips_its_segment_alone(built, tmp_path, caplog):
    _, out, _ = built
    out = copy_build(out, tmp_path / "out")
    good = list(windows(out, units=UNITS, bins=BINS, seed=0, split="train"))
    victim = good[0]
    ids = (victim["source_dataset"], victim["subject_id"], victim["session_id"])
    chunk = sorted((out / "zarr" / f"{ids[0]}.zarr" / ids[1] / ids[2]).rglob("c/*/*"))[0]
    chunk.write_bytes(b"not a blosc frame")
    with caplog.at_level(logging.ERROR, logger="neuralbench.windowing"):
        after = list(windows(out, units=UNITS, bins=BINS, seed=0, split="train"))
    assert 0 < len(after) < len(good)
    assert {key(w)[:3] for w in after} >= {key(w)[:3] for w in good} - {ids}
    assert ids[2] in caplog.text


# --- the epoch plan's pieces, on plain numbers ------------------------------------------------------


@pytest.mark.parametrize(
    ("n_units", "n_bins", "policy", "want"),
    [
        (10, 250, UnitPolicy.SAMPLE, 5),  # 250 // 50 time positions, one unit group each
        (40, 250, UnitPolicy.SPLIT, 15),  # ceil(40 / 16) = 3 groups at each of 5 positions
        (10, 250, UnitPolicy.SKIP, 0),  # fewer units than a window: left out
        (16, 250, UnitPolicy.SKIP, 5),
        (10, 49, UnitPolicy.SAMPLE, 0),  # shorter than one window
        (0, 250, UnitPolicy.SPLIT, 0),
    ],
)
def test_windows_per_segment(n_units, n_bins, policy, want):
    assert windows_per_segment(n_units, n_bins, UNITS, BINS, policy) == want


def test_unit_groups_partition_sample_or_pad():
    rng = np.random.default_rng(0)
    groups = _unit_groups(rng, 40, UNITS, UnitPolicy.SPLIT)
    assert [len(g) for g in groups] == [16, 16, 8]
    assert sorted(np.concatenate(groups).tolist()) == list(range(40))
    assert all((np.diff(g) > 0).all() for g in groups)  # each group in session order
    (sample,) = _unit_groups(rng, 40, UNITS, UnitPolicy.SAMPLE)
    assert len(sample) == UNITS and len(set(sample.tolist())) == UNITS and (np.diff(sample) > 0).all()
    (few,) = _unit_groups(rng, 5, UNITS, UnitPolicy.SPLIT)
    assert few.tolist() == list(range(5))


def test_deal_gives_each_segment_to_one_shard_and_balances_the_load():
    weights = [9, 1, 1, 1, 5, 5, 0, 3]
    shards = _deal(weights, 3)
    assert sorted(i for s in shards for i in s) == list(range(len(weights)))
    loads = [sum(max(weights[i], 1) for i in s) for s in shards]
    assert max(loads) - min(loads) <= max(weights)
    assert _deal(weights, 1) == [list(range(len(weights)))]


def test_segment_hash_is_the_same_in_every_process():
    ids = ("h2", "S1", "S1_ses-1", "segment_0")
    code = f"from neuralbench.windowing import _key_hash; print(_key_hash({ids!r}))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, cwd=REPO,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }  # fmt: skip
    assert seen == {str(_key_hash(ids))} and 0 <= _key_hash(ids) < 2**63
