"""build_all on a real 2-worker LocalCluster, checked against the raw files independently."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from datasets import load_dataset
from pynwb import NWBHDF5IO
from scipy.io import loadmat

from neuralbench import build_all
from neuralbench.catalog import RECIPES
from neuralbench.sources import list_files

L = 10_000_000


def expected_session(name: str, path) -> np.ndarray:
    """The published semantics, written from the raw file with pynwb/scipy and numpy only."""
    if name in ("churchland", "neupane-ppc"):
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            units = nwb.units if name == "churchland" else nwb.processing["ecephys"]["units"]
            trains = [np.asarray(units.get_unit_spike_times(i)) for i in range(len(units))]
        t_max = max(t.max() for t in trains if len(t))
        edges = np.arange(0.0, t_max + 0.02, 0.02)
        counts = np.stack([np.histogram(t, edges)[0] for t in trains])
    elif name == "xiao":
        with NWBHDF5IO(str(path), "r") as io:
            raster = np.asarray(io.read().processing["ecephys"]["rasters"].data[:], dtype=np.int64)
        n = raster.shape[0] // 20
        counts = raster[: n * 20].reshape(n, 20, -1).sum(axis=1).T
    elif name == "h2":
        with NWBHDF5IO(str(path), "r") as io:
            counts = np.asarray(io.read().acquisition["binned_spikes"].data[:]).T
    elif name == "willett":
        counts = loadmat(path)["tx1"].T
    else:
        raise AssertionError(name)
    return np.minimum(counts, 255).astype(np.uint8)


def rows_by_session(dataset):
    sessions: dict = {}
    for row in dataset:
        key = (row["source_dataset"], row["subject_id"], row["session_id"])
        sessions.setdefault(key, []).append(row)
    return sessions


def test_report_lists_every_session_built(built):
    raw, out, report = built
    assert report["ok"]
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["sessions"] == report["sessions"]
    n_files = sum(len(r.select(list_files(raw / name))) for name, r in RECIPES.items())
    assert len(report["sessions"]) == n_files and set(report["components"]) == set(RECIPES)
    assert {s["status"] for s in report["sessions"]} == {"built"}
    long = [s for s in report["sessions"] if s["segments"] == 2]
    assert len(long) == 1 and long[0]["component"] == "churchland"
    assert sum(s["clipped_bins"] for s in report["sessions"]) >= 4  # synth bursts saturate


@pytest.mark.parametrize("name", ["xiao", "neupane-ppc", "willett", "churchland", "h2"])
def test_component_rows_equal_independent_computation(built, name):
    raw, out, _ = built
    ds = load_dataset(str(out / "components" / name), split="train")
    assert ds.features["spike_counts"].feature.feature.dtype == "uint8"
    assert set(ds.column_names) == {
        "spike_counts",
        "subject_id",
        "session_id",
        "segment_id",
        "source_dataset",
    }
    sessions = rows_by_session(ds)
    recipe = RECIPES[name]
    files = recipe.select(list_files(raw / name))
    assert len(sessions) == len(files)
    for rel in files:
        subject, session = recipe.ids.of(rel)
        rows = sessions[(name, subject, session)]
        assert [r["segment_id"] for r in rows] == [f"segment_{i}" for i in range(len(rows))]
        got = np.concatenate([np.asarray(r["spike_counts"], dtype=np.uint8) for r in rows], axis=1)
        want = expected_session(name, raw / name / rel)
        assert got.shape == want.shape
        assert np.array_equal(got, want), rel
        n, t = want.shape
        k = math.ceil(n * t / L) if n * t > L else 1
        assert len(rows) == k
        assert all(np.asarray(r["spike_counts"]).size <= L + n for r in rows)


def test_zarr_store_layout_and_provenance(built):
    raw, out, report = built
    for entry in report["sessions"]:
        group = zarr.open_group(str(out / "zarr" / f"{entry['component']}.zarr"), mode="r")
        session = group[f"{entry['subject_id']}/{entry['session_id']}"]
        arr = session["spike_counts"]
        assert arr.dtype == np.uint8
        assert tuple(arr.metadata.dimension_names) == ("unit", "time")
        attrs = session.attrs
        assert attrs["tokens"] == arr.size == entry["tokens"]
        assert attrs["n_clipped_bins"] == entry["clipped_bins"]
        assert len(attrs["source_sha256"]) == 64 and attrs["source_file"] == entry["source_file"]
        native = RECIPES[entry["component"]].params_for(entry["source_file"]).get("bin_size_s", 0.02)
        assert attrs["bin_size_s"] == native and "t0_s" in attrs and attrs["recipe"] == entry["component"]
        seg = attrs["segment_bins"][0]
        assert arr.chunks[1] == seg[1] - seg[0]
    assert not (out / "zarr" / ".partial").exists()


def test_corpus_is_exactly_the_component_rows(built):
    raw, out, _ = built
    corpus = load_dataset(str(out / "corpus"))
    assert set(corpus) == {"train", "test"}
    key = lambda r: (r["source_dataset"], r["subject_id"], r["session_id"], r["segment_id"])  # noqa: E731
    merged = [key(r) for split in ("train", "test") for r in corpus[split]]
    components = [
        key(r) for name in RECIPES for r in load_dataset(str(out / "components" / name), split="train")
    ]
    assert sorted(merged) == sorted(components) and len(set(merged)) == len(merged)
    train_sessions = {k[:3] for k in map(key, corpus["train"])}
    test_sessions = {k[:3] for k in map(key, corpus["test"])}
    assert test_sessions and not (train_sessions & test_sessions)


def test_open_corpus_is_lazy_and_named(built):
    import dask.array as da

    from neuralbench import open_corpus

    _, out, report = built
    tree = open_corpus(out)
    entry = report["sessions"][0]
    node = tree[f"{entry['component']}/{entry['subject_id']}/{entry['session_id']}"]
    counts = node["spike_counts"]
    assert counts.dims == ("unit", "time") and isinstance(counts.data, da.Array)
    assert node.attrs["session_id"] == entry["session_id"]


def test_rerun_skips_done_sessions_and_keeps_bytes(built, cluster_client, tmp_path):
    raw, out, _ = built
    before = {p: p.read_bytes() for p in (out / "corpus" / "data").iterdir()}
    report = build_all(raw, out, client=cluster_client)
    assert {s["status"] for s in report["sessions"]} == {"skipped"}
    assert {p: p.read_bytes() for p in (out / "corpus" / "data").iterdir()} == before


def test_bad_file_fails_alone(raw_tree, cluster_client, tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(raw_tree / "h2", raw / "h2")
    bad = raw / "h2" / "000950" / "sub-T5-held-in-calib" / "sub-T5-held-in-calib_ses-20990101.nwb"
    bad.write_bytes(b"")
    report = build_all(raw, tmp_path / "out", client=cluster_client)
    assert not report["ok"]
    failed = [s for s in report["sessions"] if s["status"] == "failed"]
    assert len(failed) == 1 and str(bad) in failed[0]["error"] and "empty" in failed[0]["error"]
    assert sum(s["status"] == "built" for s in report["sessions"]) == 2
    ds = load_dataset(str(tmp_path / "out" / "components" / "h2"), split="train")
    assert len(ds) == 2


def test_sessions_of_an_older_reader_version_are_rebuilt(raw_tree, cluster_client, tmp_path, monkeypatch):
    # a reader fix raises its version: sessions stored by the old one are not kept as done
    import shutil

    from neuralbench.readers.nwb import NwbTimeSeriesReader

    raw = tmp_path / "raw"
    shutil.copytree(raw_tree / "h2", raw / "h2")
    out = tmp_path / "out"
    first = build_all(raw, out, client=cluster_client)
    assert {s["status"] for s in first["sessions"]} == {"built"}
    assert {s["status"] for s in build_all(raw, out, client=cluster_client)["sessions"]} == {"skipped"}
    monkeypatch.setattr(NwbTimeSeriesReader, "version", NwbTimeSeriesReader.version + 1)
    again = build_all(raw, out, client=cluster_client)
    assert {s["status"] for s in again["sessions"]} == {"built"}
    assert again["corpus"]["rows"] == first["corpus"]["rows"]


def test_a_card_that_fails_fails_its_component_and_a_rerun_draws_it(built, cluster_client):
    # cards are written beside the merge, not waited for by it; their errors still count
    raw, out, _ = built
    folder = out / "components" / "churchland"
    readme = folder / "README.md"
    text, png = readme.read_text(), (folder / "assets" / "raster.png").read_bytes()
    readme.unlink()
    shutil.rmtree(folder / "assets")
    (folder / "assets").write_text("a file where the raster's folder goes")
    report = build_all(raw, out, client=cluster_client)
    assert not report["ok"] and {s["status"] for s in report["sessions"]} == {"skipped"}
    error = report["components"]["churchland"]["error"]
    assert error.startswith(str(folder)) and "assets" in error
    assert "error" not in report["corpus"]  # the merge did not wait for the card, nor fail with it
    (folder / "assets").unlink()
    report = build_all(raw, out, client=cluster_client)
    assert report["ok"] and report["components"]["churchland"]["error"] is None
    assert readme.read_text() == text and (folder / "assets" / "raster.png").read_bytes() == png


def test_parquet_outputs_equal_the_digests_taken_before_the_redesign(built):
    """Issue 17: the rows of every component and corpus file are what the old pipeline wrote.

    ``tests/data/build_digests.json`` was written by ``python -m tests.golden`` on the
    code before the redesign (same synthetic tree, seed 7, 2 workers). ``rows`` digests
    the decoded rows; ``file`` the bytes, which changed with issue 14's counts encoder
    (``row_parquet``): the same rows, in the same files, encoded otherwise.
    """
    from tests.golden import build_digests

    _, out, report = built
    assert report["ok"]
    expected = json.loads((Path(__file__).parents[1] / "data" / "build_digests.json").read_text())
    got = build_digests(out)
    assert sorted(got) == sorted(expected)
    assert {p: d["rows"] for p, d in got.items()} == {p: d["rows"] for p, d in expected.items()}
