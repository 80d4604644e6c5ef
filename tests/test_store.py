"""The zarr store in xarray's own terms: sessions as Datasets, components as DataTrees, no warnings."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr
import zarr

from neuralbench import build_all, open_corpus, store
from neuralbench.catalog import RECIPES
from neuralbench.errors import SourceError
from neuralbench.layout import BuildLayout, SessionKey


def _rows(out, name):
    """``{(subject, session, segment): counts}`` of a component's parquet rows."""
    rows = {}
    for path in sorted((out / "components" / name / "data").glob("*.parquet")):
        for r in pq.read_table(path).to_pylist():
            key = (r["subject_id"], r["session_id"], r["segment_id"])
            rows[key] = np.asarray(r["spike_counts"], dtype=np.uint8)
    return rows


def _open_tree(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not consolidated, unknown codec, dtype: each would warn
        return xr.open_datatree(path, engine="zarr")


@pytest.mark.parametrize("name", list(RECIPES))
def test_open_datatree_gives_the_parquet_rows(built, name):
    _, out, report = built
    tree = _open_tree(store.component_path(out, name))
    rows = _rows(out, name)
    entries = [e for e in report["sessions"] if e["component"] == name and e["status"] != "failed"]
    assert entries and tree.attrs["source_dataset"] == name
    for entry in entries:
        node = tree[f"{entry['subject_id']}/{entry['session_id']}"]
        counts = node["spike_counts"]
        assert counts.dims == ("unit", "time") and counts.dtype == np.uint8
        assert node.attrs["session_id"] == entry["session_id"]
        spans = store.segment_spans(node.attrs)
        assert len(spans) == entry["segments"]
        for seg_id, (start, stop) in spans.items():
            want = rows.pop((entry["subject_id"], entry["session_id"], seg_id))
            np.testing.assert_array_equal(counts.isel(time=slice(start, stop)).values, want)
    assert not rows, f"parquet rows with no zarr segment: {sorted(rows)[:3]}"


@pytest.mark.parametrize("name", list(RECIPES))
def test_open_zarr_on_a_session_group(built, name):
    _, out, report = built
    entry = next(e for e in report["sessions"] if e["component"] == name and e["status"] != "failed")
    path = store.component_path(out, name) / entry["subject_id"] / entry["session_id"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(path)
    attrs, n_units, n_bins = ds.attrs, entry["units"], entry["tokens"] // entry["units"]
    assert ds["spike_counts"].shape == (n_units, n_bins) and ds["spike_counts"].chunks is not None
    assert ds.sizes == {"unit": n_units, "time": n_bins}
    assert ds.indexes["unit"].is_unique and ds["unit"].attrs["long_name"]
    k = np.arange(n_bins)
    np.testing.assert_allclose(ds["time"].values, attrs["t0_s"] + attrs["bin_size_s"] * k, rtol=0, atol=1e-9)
    assert ds["time"].attrs["units"] == "s" and ds["spike_counts"].attrs["bin_size_s"] == attrs["bin_size_s"]
    assert attrs["recipe"] == name and len(attrs["source_sha256"]) == 64
    # selecting by seconds works as xarray users expect
    t1 = float(ds["time"][min(9, n_bins - 1)])
    assert ds.sel(time=slice(attrs["t0_s"], t1)).sizes["time"] == min(10, n_bins)


def test_unit_ids_are_the_sources_ids(built):
    import pynwb

    raw, out, report = built
    entry = next(e for e in report["sessions"] if e["component"] == "churchland")
    with pynwb.NWBHDF5IO(str(raw / "churchland" / entry["source_file"]), "r") as io:
        ids = np.asarray(io.read().units.id[:])
    ds = store.open_session(out, "churchland", entry["subject_id"], entry["session_id"])
    np.testing.assert_array_equal(ds["unit"].values, ids)
    params = RECIPES["lanzarini"].params
    entry = next(e for e in report["sessions"] if e["component"] == "lanzarini")
    ds = store.open_session(out, "lanzarini", entry["subject_id"], entry["session_id"])
    fmt = params.get("name_format", "Spk_{:03d}a_sh")
    assert list(ds["unit"].values) == [fmt.format(i) for i in range(ds.sizes["unit"])]


def test_open_corpus_joins_the_component_trees(built):
    _, out, report = built
    tree = open_corpus(out)
    assert set(tree.children) == {e["component"] for e in report["sessions"]}
    entry = report["sessions"][-1]
    node = tree[f"{entry['component']}/{entry['subject_id']}/{entry['session_id']}"]
    assert node["spike_counts"].dims == ("unit", "time") and "time" in node.coords


def _consolidated(root):
    meta = json.loads((root / "zarr.json").read_text()).get("consolidated_metadata") or {}
    names = meta.get("metadata", {})
    return sorted(k[: -len("/spike_counts")] for k in names if k.endswith("/spike_counts"))


def test_consolidated_metadata_stays_true_across_partial_rebuilds(raw_tree, cluster_client, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(raw_tree / "h2", raw / "h2")
    out = tmp_path / "out"
    first = build_all(raw, out, client=cluster_client)
    root = store.component_path(out, "h2")
    stored = [f"{k.subject}/{k.session}" for k in store.stored_sessions(out, "h2")]
    assert _consolidated(root) == stored and len(stored) > 1
    # a session lost from the store, another whose raw file is gone: the rebuild says so
    shutil.rmtree(root / stored[0])
    last = first["sessions"][-1]
    assert f"{last['subject_id']}/{last['session_id']}" != stored[0]
    (raw / "h2" / last["source_file"]).unlink()
    report = build_all(raw, out, client=cluster_client)
    assert "built" in {s["status"] for s in report["sessions"]}
    now = [f"{k.subject}/{k.session}" for k in store.stored_sessions(out, "h2")]
    assert _consolidated(root) == now
    assert {g.lstrip("/") for g in _open_tree(root).groups} >= set(now)
    # between builds nothing is stale either: a build that stops after init leaves none
    store.init_component(BuildLayout(out), "h2", [])
    assert _consolidated(root) == []


def _layout_1(root):
    old = zarr.open_group(str(root), mode="w")  # what neuralbench 0.1 wrote: bare arrays
    old.attrs["source_dataset"] = "kim"
    old.require_group("sub-X").create_array("ses-1", shape=(2, 3), dtype="uint8")


def test_a_layout_1_store_is_refused_then_rebuilt(raw_tree, cluster_client, tmp_path, caplog):
    raw = tmp_path / "raw"
    shutil.copytree(raw_tree / "kim", raw / "kim")
    out = tmp_path / "out"
    root = store.component_path(out, "kim")
    _layout_1(root)
    with pytest.raises(SourceError, match=r"layout 1 .*neuralbench build RAW OUT --only kim"):
        store.stored_sessions(out, "kim")
    with pytest.raises(SourceError, match="layout 1"):
        open_corpus(out)
    report = build_all(raw, out, client=cluster_client)
    assert report["ok"] and not (root / "sub-X").exists()
    assert store.stored_sessions(out, "kim") and _open_tree(root).attrs["neuralbench_layout"] == store.LAYOUT
    shutil.rmtree(root)
    _layout_1(root)
    store.init_component(BuildLayout(out), "kim", ["sub-Y"])
    assert "layout 1 (one array per session); rebuilding it" in caplog.text
    assert sorted(p.name for p in root.iterdir()) == ["sub-Y", "zarr.json"]


def test_session_metadata_is_what_zarr_consolidates(built, tmp_path):
    _, out, report = built
    entry = next(e for e in report["sessions"] if e["component"] == "lanzarini")  # string unit ids
    path = store.component_path(out, "lanzarini") / entry["subject_id"] / entry["session_id"]
    ours = json.loads((path / "zarr.json").read_text())
    shutil.copytree(path, tmp_path / "copy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(tmp_path / "copy"))
    theirs = json.loads((tmp_path / "copy" / "zarr.json").read_text())
    assert ours == theirs
    assert set(ours["consolidated_metadata"]["metadata"]) == {"spike_counts", "time", "unit"}


def test_stored_components_and_sessions_are_session_keys(tmp_path):
    layout = BuildLayout(tmp_path)
    counts = xr.DataArray(
        np.arange(12, dtype=np.uint8).reshape(2, 6),
        dims=("unit", "time"),
        attrs={"segment_bins": [[0, 6]], "bin_size_s": 0.02},
    )
    keys = [SessionKey("kim", "sub-1", "ses-a"), SessionKey("h2", "sub-0", "ses-b")]
    for key in keys:
        store.init_component(layout, key.component, [key.subject])
        store.create_partial(layout, key, counts)[:] = counts.values
        store.commit_session(layout, key, {"n_units": 2, "n_bins": 6, "segment_bins": [[0, 6]]})
        store.consolidate_component(layout, key.component)
    assert store.stored_components(tmp_path) == ["h2", "kim"]
    assert store.stored_sessions(layout, "kim") == [keys[0]]
    assert layout.session_group(keys[1]).is_dir() and not layout.zarr_partial_dir.exists()
    # the notebook functions take the folder as a path or as its layout, and a key unpacks
    for where in (tmp_path, str(tmp_path), layout):
        ds = store.open_session(where, *keys[1])
        np.testing.assert_array_equal(ds["spike_counts"].values, counts.values)
        assert store.session_attrs(where, *keys[0])["n_bins"] == 6
    assert sorted(open_corpus(layout).children) == ["h2", "kim"]
