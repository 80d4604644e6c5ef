import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from neuralbench.layout import BuildLayout
from neuralbench.merge import (
    MergePlan,
    SplitBy,
    discard_plan,
    draw_corpus_raster,
    finalize_merge,
    plan_merge,
    split_rows,
    split_share,
    write_shard,
)
from neuralbench.schema import segment_table
from neuralbench.shards import open_parquet, shard_name


@pytest.mark.parametrize("n", [2, 7, 100, 1201])
def test_row_split_is_datasets_train_test_split(n):
    ds = Dataset.from_dict({"i": list(range(n))})
    ref = ds.train_test_split(test_size=0.01, shuffle=True, seed=42)
    train, test = split_rows(list(range(n)), seed=42, split_by="row")
    assert test.tolist() == ref["test"]["i"]
    assert train.tolist() == ref["train"]["i"]
    assert len(test) == math.ceil(0.01 * n)


def test_session_split_keeps_sessions_whole():
    keys = [f"s{i // 3}" for i in range(300)]  # 100 sessions of 3 rows
    train, test = split_rows(keys, seed=1)
    assert len(test) >= 3  # ceil(1 % of 300) = 3 rows: one session
    test_sessions = {keys[i] for i in test}
    train_sessions = {keys[i] for i in train}
    assert not test_sessions & train_sessions
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(300))


def test_session_split_leaves_train_nonempty():
    train, test = split_rows(["only"] * 5, seed=0)
    assert len(train) == 5 and len(test) == 0


def test_split_is_reproducible_and_seeded():
    keys = [i // 2 for i in range(1000)]
    a = split_rows(keys, seed=5)
    b = split_rows(keys, seed=5)
    c = split_rows(keys, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def _component(folder, name, sessions, rows_per_session=2):
    """A component folder of shards of ~2,000 bytes, one row group a row, as the export writes."""
    rng = np.random.default_rng(len(name))
    tables = [
        segment_table(
            rng.integers(0, 5, (3, 100), dtype=np.uint8), f"sub-{s % 2}", f"ses-{s}", f"segment_{seg}", name
        )
        for s in range(sessions)
        for seg in range(rows_per_session)
    ]
    shards, filled = [[]], 0
    for table in tables:
        if shards[-1] and filled >= 2_000:
            shards, filled = [*shards, []], 0
        shards[-1].append(table)
        filled += table.nbytes
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for i, shard in enumerate(shards):
        with open_parquet(folder / "data" / shard_name("train", i, len(shards))) as writer:
            for table in shard:
                writer.write_table(table, row_group_size=1)
    (folder / ".neuralbench.json").write_text(f'{{"inputs": [], "sessions": {sessions}, "tokens": 0}}')
    return folder


def _merge(dirs, corpus, **options):
    """The merge's stages in a row, as the pipeline runs them (it writes the shards in parallel)."""
    plan = plan_merge(dirs, corpus, **options)
    if not isinstance(plan, MergePlan):
        return plan  # up to date: the manifest
    for split, k in plan.n_shards():
        write_shard(plan, split, k)
    return finalize_merge(plan)


def _rows(folder, split):
    out = []
    for p in sorted((folder / "data").glob(f"{split}-*.parquet")):
        out += pq.read_table(p).to_pylist()
    return out


def test_merge_keeps_every_row_once_and_is_byte_reproducible(tmp_path):
    dirs = [_component(tmp_path / n, n, k) for n, k in [("xiao", 20), ("h2", 31)]]
    _merge(dirs, tmp_path / "corpus", seed=3, max_shard_bytes=5_000)
    _merge(dirs, tmp_path / "corpus2", seed=3, max_shard_bytes=5_000)
    train, test = _rows(tmp_path / "corpus", "train"), _rows(tmp_path / "corpus", "test")
    inputs = _rows(dirs[0], "train") + _rows(dirs[1], "train")
    key = lambda r: (r["source_dataset"], r["session_id"], r["segment_id"])  # noqa: E731
    assert sorted(map(key, train + test)) == sorted(map(key, inputs))
    assert {key(r)[:2] for r in train}.isdisjoint({key(r)[:2] for r in test})
    by_key = {key(r): r["spike_counts"] for r in inputs}
    assert all(r["spike_counts"] == by_key[key(r)] for r in train + test)
    assert len(list((tmp_path / "corpus" / "data").glob("train-*"))) > 1  # sharded
    for a in sorted((tmp_path / "corpus" / "data").iterdir()):
        assert a.read_bytes() == (tmp_path / "corpus2" / "data" / a.name).read_bytes()


def test_row_split_merge_mixes_sessions(tmp_path):
    dirs = [_component(tmp_path / "m2", "m2", 60, rows_per_session=5)]
    m = _merge(dirs, tmp_path / "c", seed=0, split_by=SplitBy.ROW)
    assert m["rows"] == {"train": 297, "test": 3}


def test_shards_written_in_any_order_give_the_serial_bytes(tmp_path):
    dirs = [_component(tmp_path / n, n, k) for n, k in [("xiao", 20), ("h2", 31)]]
    serial = _merge(dirs, tmp_path / "serial", seed=4, split_by="row", test_size=0.2, max_shard_bytes=3_000)
    plan = plan_merge(
        dirs, tmp_path / "parallel", seed=4, split_by="row", test_size=0.2, max_shard_bytes=3_000
    )
    assert isinstance(plan, MergePlan)
    jobs = plan.n_shards()
    assert len([j for j in jobs if j[0] == "test"]) > 1
    rng = np.random.default_rng(0)
    for split, k in (jobs[i] for i in rng.permutation(len(jobs))):
        write_shard(plan, split, k)
    write_shard(plan, *jobs[0])  # a retried task rewrites its shard whole
    assert finalize_merge(plan) == serial
    names = sorted(p.name for p in (tmp_path / "serial" / "data").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "parallel" / "data").iterdir())
    for name in names:
        assert (tmp_path / "serial" / "data" / name).read_bytes() == (
            tmp_path / "parallel" / "data" / name
        ).read_bytes()
    assert not list(tmp_path.glob(".*.partial"))
    # up to date: planning returns the manifest and writes nothing
    assert plan_merge(dirs, tmp_path / "parallel", seed=4, split_by="row", test_size=0.2) == serial


def test_planned_shards_are_bounded(tmp_path):
    dirs = [_component(tmp_path / "m2", "m2", 60, rows_per_session=5)]
    plan = plan_merge(dirs, tmp_path / "c", seed=0, max_shard_bytes=4_000)
    for shard in plan.shards["train"]:  # only the last row may cross the bound
        sizes = []
        for row in shard:
            sizes.append(
                pq.ParquetFile(plan.files[row.file]).read_row_group(row.group).slice(row.row, 1).nbytes
            )
        assert 0.9 * sum(sizes[:-1]) < 4_000
    assert sum(len(s) for s in plan.shards["train"] + plan.shards["test"]) == 300
    assert len(plan.shards["train"]) > 2
    discard_plan(plan)
    assert not (tmp_path / ".c.partial").exists()


def _decoded(folder):
    return {
        split: [pq.read_table(p) for p in sorted((folder / "data").glob(f"{split}-*.parquet"))]
        for split in ("train", "test")
    }


def test_copied_row_groups_decode_to_the_rows_written_again(built, tmp_path):
    # the merge copies each row's encoded row group; decoding and encoding every row
    # again (what it did before, and still does for multi-row groups) gives the same rows
    from datasets import load_dataset

    _raw, out, _report = built
    dirs = sorted(p for p in (out / "components").iterdir() if p.is_dir() and not p.name.startswith("."))
    copied = _merge(dirs, tmp_path / "copied", seed=0)
    plan = plan_merge(dirs, tmp_path / "encoded", seed=0)
    assert isinstance(plan, MergePlan) and plan.whole_groups
    plan.whole_groups = False
    for split, k in plan.n_shards():
        write_shard(plan, split, k)
    assert finalize_merge(plan) == copied
    want, got = _decoded(tmp_path / "encoded"), _decoded(tmp_path / "copied")
    assert [len(t) for t in got["train"]] == [len(t) for t in want["train"]]
    for split in want:
        for a, b in zip(got[split], want[split], strict=True):
            assert a.equals(b) and a.schema.metadata == b.schema.metadata  # huggingface key kept
            assert b"huggingface" in a.schema.metadata
    first = sorted((tmp_path / "copied" / "data").glob("train-*.parquet"))[0]
    pf = pq.ParquetFile(first)
    for i in range(pf.metadata.num_row_groups):  # each row alone, as the merge and viz read it
        assert pf.read_row_group(i).equals(want["train"][0].slice(i, 1))
    rows = [r for t in want["train"] for r in t.to_pylist()]
    ds = load_dataset(str(tmp_path / "copied"), split="train")
    assert ds.features == load_dataset(str(tmp_path / "encoded"), split="train").features
    assert ds.to_list() == rows
    streamed = load_dataset(str(tmp_path / "copied"), split="train", streaming=True)
    assert list(streamed) == rows


def test_copied_shards_read_by_duckdb(built, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    _raw, out, _report = built
    dirs = sorted(p for p in (out / "components").iterdir() if p.is_dir() and not p.name.startswith("."))
    _merge(dirs, tmp_path / "corpus", seed=0)
    shards = sorted(str(p) for p in (tmp_path / "corpus" / "data").glob("*.parquet"))
    got = duckdb.sql(f"SELECT * FROM read_parquet({shards!r})").fetchall()
    want = [tuple(r.values()) for p in shards for r in pq.read_table(p).to_pylist()]
    assert len(got) == len(want) > 0
    assert sorted(got, key=str) == sorted(want, key=str)


@pytest.mark.parametrize("store", [True, False])
def test_raster_drawn_beside_the_shards_is_the_finished_folders(built, tmp_path, store):
    # the pipeline draws the corpus raster from the plan while the shards are written;
    # it must show the rows `neuralbench show` picks from the finished folder
    from neuralbench.card import RASTER
    from neuralbench.viz import show

    _raw, out, _report = built
    dirs = sorted(p for p in (out / "components").iterdir() if p.is_dir() and not p.name.startswith("."))
    plan = plan_merge(dirs, tmp_path / "corpus", seed=3, layout=BuildLayout(out) if store else None)
    assert draw_corpus_raster(plan)
    drawn = Path(plan.tmp) / RASTER
    inode = drawn.stat().st_ino
    for split, k in plan.n_shards():
        write_shard(plan, split, k)
    finalize_merge(plan)
    final = tmp_path / "corpus" / RASTER
    assert final.stat().st_ino == inode  # the card used it, did not draw again
    assert f"]({RASTER})" in (tmp_path / "corpus" / "README.md").read_text()
    again = show(tmp_path / "corpus", tmp_path / "again.png", n=6, seed=0, store=out if store else None)
    assert again.read_bytes() == final.read_bytes()


def test_no_raster_for_an_empty_train_split(tmp_path):
    dirs = [_component(tmp_path / "m2", "m2", 1, rows_per_session=1)]
    plan = plan_merge(dirs, tmp_path / "c", seed=0, test_size=0.0)
    plan.shards["train"] = [[]]
    assert draw_corpus_raster(plan) is False
    discard_plan(plan)


def test_session_split_aims_at_a_share_of_tokens():
    # 200 sessions of 1 row each, sizes 1..200: 1 % of the tokens, whole sessions
    keys = list(range(200))
    tokens = [k + 1 for k in keys]
    train, test = split_rows(keys, seed=3, tokens=tokens)
    share = split_share(tokens, test, 0.01)
    assert share["target"] == 0.01 and abs(share["share"] - 0.01) < 0.002
    assert sorted([*train.tolist(), *test.tolist()]) == keys


def test_session_split_of_few_large_sessions_takes_at_most_half():
    # the case: 2 sessions of 14 rows put 20 of 28 rows in test
    keys = ["a"] * 14 + ["b"] * 14
    train, test = split_rows(keys, seed=0, tokens=[100] * 28)
    assert len(test) == 14 and len(train) == 14  # one session each: half, not more
    # one large session and a small one: the small one is the closer to 1 %
    keys = ["big"] * 20 + ["small"] * 2
    tokens = [1_000] * 20 + [50] * 2
    for seed in range(5):
        train, test = split_rows(keys, seed=seed, tokens=tokens)
        assert sorted(test.tolist()) == [20, 21]


def test_session_split_goes_by_tokens_not_rows():
    # many small rows of one session, few large rows of others
    keys = ["many"] * 50 + [f"s{i}" for i in range(99)]
    tokens = [1] * 50 + [1_000] * 99  # "many" holds 50 tokens of 99,050: 0.05 %
    train, test = split_rows(keys, seed=0, tokens=tokens)
    share = split_share(tokens, test, 0.01)
    assert 0.005 < share["share"] <= 0.0151  # one 1,000-token session (1.0 %), maybe "many" too
    assert len(test) < 0.6 * len(keys)


def test_no_test_split_for_a_zero_test_size_or_one_session():
    assert len(split_rows(["a", "b", "c"], seed=0, test_size=0.0)[1]) == 0
    assert len(split_rows(["a"] * 4, seed=0, tokens=[9] * 4)[1]) == 0
