"""neuralbench.windows on a real build: contents, split, determinism, sharding, parquet, bad input."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuralbench import windows
from neuralbench.errors import SourceError
from neuralbench.export import read_manifest
from neuralbench.merge import corpus_split, merge_components
from neuralbench.store import session_array, session_attrs, stored_sessions

REPO = Path(__file__).resolve().parents[1]
UNITS, BINS = 16, 50


def _key(w: dict) -> tuple:
    """What makes a window itself: where it was cut, and which rows."""
    return (w["source_dataset"], w["subject_id"], w["session_id"], w["time_bin"], tuple(w["unit_index"]))


def _keys(ws) -> list[tuple]:
    return [_key(w) for w in ws]


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
    train = _keys(windows(out, units=UNITS, bins=BINS, seed=1, split="train"))
    test = _keys(windows(out, units=UNITS, bins=BINS, seed=1, split="test"))
    assert train and test
    assert not {k[:3] for k in train} & test_sessions
    assert {k[:3] for k in test} == test_sessions
    everything = _keys(windows(out, units=UNITS, bins=BINS, seed=1, split=None))
    assert sorted(train + test) == sorted(everything)  # a session's windows do not depend on the split


def test_same_seed_same_windows_other_seed_or_epoch_others(built):
    _, out, _ = built
    first = list(windows(out, units=UNITS, bins=BINS, seed=5, split="train"))
    again = list(windows(out, units=UNITS, bins=BINS, seed=5, split="train"))
    assert _keys(first) == _keys(again)
    assert all(
        np.array_equal(a["spike_counts"], b["spike_counts"]) for a, b in zip(first, again, strict=True)
    )
    other = _keys(windows(out, units=UNITS, bins=BINS, seed=6, split="train"))
    assert other != _keys(first) and set(other) != set(_keys(first))  # other offsets, not only another order
    ws = windows(out, units=UNITS, bins=BINS, seed=5, split="train")
    ws.set_epoch(1)
    assert set(_keys(ws)) != set(_keys(first))
    two = windows(out, units=UNITS, bins=BINS, seed=5, split="train", epochs=2)
    assert _keys(two) == _keys(first) + _keys(ws) and len(two) == 2 * len(first)


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
    whole = _keys(windows(out, units=UNITS, bins=BINS, seed=2, split="train"))
    parts = [
        _keys(windows(out, units=UNITS, bins=BINS, seed=2, split="train", rank=r, world_size=3))
        for r in range(3)
    ]
    assert all(parts)
    assert sorted(k for p in parts for k in p) == sorted(whole)
    assert len(set(whole)) == len(whole)


def test_parquet_gives_the_same_windows_as_zarr(built):
    _, out, _ = built
    from_zarr = sorted(_keys(windows(out, units=UNITS, bins=BINS, seed=4, split="train")))
    corpus = windows(out / "corpus", units=UNITS, bins=BINS, seed=4, split="train")
    assert sorted(_keys(corpus)) == from_zarr
    assert len(corpus) == len(from_zarr)
    component = windows(out / "components" / "h2", units=UNITS, bins=BINS, seed=4, split=None)
    want = sorted(_keys(windows(out, units=UNITS, bins=BINS, seed=4, split=None, components=["h2"])))
    got = list(component)
    assert sorted(_keys(got)) == want and got[0]["spike_counts"].dtype == np.uint8


def test_multi_segment_session_from_parquet_keeps_its_time_bins(built):
    _, out, _ = built
    split = [
        k
        for k in corpus_split(out / "corpus")
        if len(session_attrs(out, *k).get("segment_bins", [])) > 1
    ]
    assert split  # the synthetic tree has sessions long enough to split
    name = split[0][0]
    keys = _keys(windows(out / "components" / name, units=UNITS, bins=BINS, seed=0, split=None))
    assert any(k[3] > 0 for k in keys)
    assert sorted(keys) == sorted(
        _keys(windows(out, units=UNITS, bins=BINS, seed=0, split=None, components=[name]))
    )


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
    skipped = {_key(w)[:3] for w in windows(out, units=30, bins=BINS, split=None, unit_policy="skip")}
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


def _copy_build(out: Path, dst: Path) -> Path:
    for part in ("zarr", "corpus", "components"):
        shutil.copytree(out / part, dst / part)
    return dst


def test_a_damaged_chunk_skips_its_segment_alone(built, tmp_path, caplog):
    _, out, _ = built
    out = _copy_build(out, tmp_path / "out")
    good = list(windows(out, units=UNITS, bins=BINS, seed=0, split="train"))
    victim = good[0]
    ids = (victim["source_dataset"], victim["subject_id"], victim["session_id"])
    chunk = sorted((out / "zarr" / f"{ids[0]}.zarr" / ids[1] / ids[2]).rglob("c/*/*"))[0]
    chunk.write_bytes(b"not a blosc frame")
    with caplog.at_level(logging.ERROR, logger="neuralbench.windowing"):
        after = list(windows(out, units=UNITS, bins=BINS, seed=0, split="train"))
    assert 0 < len(after) < len(good)
    assert {_key(w)[:3] for w in after} >= {_key(w)[:3] for w in good} - {ids}
    assert ids[2] in caplog.text


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
    out = _copy_build(out, tmp_path / "out")
    dirs = [
        out / "components" / c
        for c, _ in json.loads((out / "corpus" / ".neuralbench.json").read_text())["inputs"]
    ]
    shutil.rmtree(out / "corpus")
    merge_components(dirs, out / "corpus", split_by="row", test_size=0.3, seed=0)
    with pytest.raises(SourceError, match="split by row"):
        windows(out, units=4, bins=10, split="train")
    train = {(k[0], k[1], k[2]) for k in _keys(windows(out / "corpus", units=4, bins=10, split="train"))}
    assert train


# --- the torch wrapper -------------------------------------------------------------------------


def test_two_workers_give_each_window_of_an_epoch_once(built):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from neuralbench.loader import WindowDataset

    _, out, _ = built
    ws = windows(out, units=UNITS, bins=BINS, seed=7, split="train")
    whole = sorted(_keys(ws))
    ds = WindowDataset(ws)
    got = []
    for batch in DataLoader(ds, batch_size=16, num_workers=2):
        assert str(batch["spike_counts"].dtype) == "torch.uint8"
        assert batch["spike_counts"].shape[1:] == (UNITS, BINS)
        got += list(
            zip(
                batch["source_dataset"],
                batch["subject_id"],
                batch["session_id"],
                batch["time_bin"].tolist(),
                map(tuple, batch["unit_index"].tolist()),
                strict=True,
            )
        )
    assert sorted(got) == whole and len(ds) == len(whole)


def test_ranks_and_workers_together_give_each_window_once(built):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from neuralbench.loader import WindowDataset

    _, out, _ = built
    whole = sorted(_keys(windows(out, units=UNITS, bins=BINS, seed=8, split="train")))
    got = []
    for rank in range(2):
        ds = WindowDataset(
            windows(out, units=UNITS, bins=BINS, seed=8, split="train"), rank=rank, world_size=2
        )
        n = 0
        for w in DataLoader(ds, batch_size=None, num_workers=2):
            got.append(
                (
                    w["source_dataset"],
                    w["subject_id"],
                    w["session_id"],
                    w["time_bin"],
                    tuple(w["unit_index"].tolist()),
                )
            )
            n += 1
        assert n == len(ds) > 0
    assert sorted(got) == whole
    with pytest.raises(ValueError, match="world_size=1"):
        WindowDataset(windows(out, units=UNITS, bins=BINS, split="train", rank=0, world_size=2))
