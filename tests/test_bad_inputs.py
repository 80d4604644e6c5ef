"""Bad inputs: each one named with its reason, the good sessions still built, exit status 1.

One build (the CLI in a subprocess, as a user runs it) of three components' tiny synth
sessions plus every damaged or unusual file of :mod:`tests.badfiles`; each test then
checks one case in ``OUT/report.json``, the zarr store and the parquet rows.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from neuralbench.catalog import RECIPES
from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.session import open_file
from neuralbench.sources import list_files
from neuralbench.synth import Scale, write_raw_tree
from tests.badfiles import CASES, DANDI_CLI, EDGE, GOOD_TRAINS, NEGATIVE_NAN, write_cases
from tests.conftest import real_data

COMPONENTS = ["kim", "h2", "willett"]


@pytest.fixture(scope="module")
def bad_build(tmp_path_factory):
    """``neuralbench build`` of good synth sessions plus every bad case: (raw, out, proc, report, cases)."""
    raw = tmp_path_factory.mktemp("raw-bad")
    out = tmp_path_factory.mktemp("out-bad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_raw_tree(raw, only=COMPONENTS, scale=Scale.tiny(), seed=11)
    cases = write_cases(raw, CASES)
    cmd = [sys.executable, "-m", "neuralbench", "build", str(raw), str(out)]
    proc = subprocess.run(
        [*cmd, "--only", ",".join(COMPONENTS), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads((out / "report.json").read_text())
    return raw, out, proc, report, {c.case: c for c in cases}


def entry_of(report, case):
    return next(
        s for s in report["sessions"] if s["component"] == case.component and s["source_file"] == case.relpath
    )


def parquet_sessions(out, name):
    folder = out / "components" / name / "data"
    keys = []
    for path in sorted(folder.glob("*.parquet")):
        t = pq.read_table(path, columns=["subject_id", "session_id"]).to_pydict()
        keys += list(zip(t["subject_id"], t["session_id"], strict=True))
    return keys


def stored_counts(out, entry):
    from neuralbench import store

    key = (out, entry["component"], entry["subject_id"], entry["session_id"])
    return np.asarray(store.session_array(*key)[:]), store.session_attrs(*key)


def test_exit_status_1_and_every_bad_file_named(bad_build):
    raw, out, proc, report, cases = bad_build
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert not report["ok"]
    failed = [c for c in cases.values() if c.error]
    assert sum(s["status"] == "failed" for s in report["sessions"]) == len(failed)
    text = proc.stdout + proc.stderr
    for case in failed:
        assert case.relpath.rsplit("/", 1)[-1] in text, case.case
    assert f"{len(failed)} failed" in proc.stdout


@pytest.mark.parametrize("case", [c.case for c in CASES])
def test_case_reported(bad_build, case):
    raw, out, _, report, cases = bad_build
    if case not in cases:
        pytest.skip("real data not available")
    bad = cases[case]
    entry = entry_of(report, bad)
    key = (entry["subject_id"], entry["session_id"])
    if bad.error:
        assert entry["status"] == "failed"
        assert entry["error"].startswith(str(raw / bad.component / bad.relpath) + ":"), entry["error"]
        assert bad.error in entry["error"]
        assert key not in parquet_sessions(out, bad.component)
        assert not (out / "zarr" / f"{bad.component}.zarr" / key[0] / key[1]).exists()
    else:
        assert entry["status"] == "built", entry["error"]
        assert parquet_sessions(out, bad.component).count(key) == entry["segments"] == 1


def test_good_sessions_all_built(bad_build):
    raw, out, _, report, cases = bad_build
    bad_paths = {(c.component, c.relpath) for c in cases.values()}
    for name in COMPONENTS:
        recipe = RECIPES[name]
        good = [p for p in recipe.select(list_files(raw / name)) if (name, p) not in bad_paths]
        assert len(good) == 2
        rows = parquet_sessions(out, name)
        for rel in good:
            entry = next(s for s in report["sessions"] if s["component"] == name and s["source_file"] == rel)
            assert entry["status"] == "built"
            assert rows.count(recipe.ids.of(rel)) == entry["segments"]
    assert not list(out.rglob("*.partial"))


def histogram(trains, n_bins, w=0.02):
    edges = np.arange(0.0, n_bins * w + w / 2, w)[: n_bins + 1]
    return np.stack([np.histogram(t, edges)[0] for t in trains]).astype(np.uint8)


def test_repaired_values(bad_build):
    """Negative and NaN times dropped, unsorted times binned as if sorted, region refs as offsets."""
    raw, out, _, report, cases = bad_build
    got, attrs = stored_counts(out, entry_of(report, cases["negative-and-nan"]))
    kept = [t[np.isfinite(t) & (t >= 0)] for t in NEGATIVE_NAN]
    assert np.array_equal(got, histogram(kept, got.shape[1]))
    assert attrs["n_nan_spikes"] == 1 and attrs["n_spikes_before_t0"] == 2
    assert attrs["n_spikes"] == sum(len(t) for t in kept)
    got, attrs = stored_counts(out, entry_of(report, cases["unsorted-synth"]))
    assert np.array_equal(got, histogram(GOOD_TRAINS, got.shape[1])) and attrs["unsorted_units"] == 2
    if "unsorted-dandi-cli" in cases:
        got, attrs = stored_counts(out, entry_of(report, cases["unsorted-dandi-cli"]))
        with h5py.File(DANDI_CLI / "sub-anm369963_ses-20170228.nwb", "r") as f:
            times = np.sort(f["units/spike_times"][()])
        assert attrs["unsorted_units"] == 1 and attrs["n_spikes"] == 1679
        assert np.array_equal(got, histogram([times], got.shape[1]))
    if "nwb20b-region-refs" in cases:
        got, _ = stored_counts(out, entry_of(report, cases["nwb20b-region-refs"]))
        with h5py.File(EDGE / "matnwb_ecephys_tutorial_nwb2.0b.nwb", "r") as f:
            st = f["units/spike_times"]
            trains = [st[ref] for ref in f["units/spike_times_index"][()]]  # h5py dereferences
        assert [len(t) for t in trains] == [4, 4, 2]
        assert np.array_equal(got, histogram(trains, got.shape[1]))


def test_repairs_warn_naming_the_file(tmp_path, caplog):
    path = tmp_path / "negnan.nwb"
    next(c for c in CASES if c.case == "negative-and-nan").write(path)
    with caplog.at_level(logging.WARNING, logger="neuralbench.readers.nwb"):
        get_reader("nwb-units").open_session(path)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(str(path)) and "1 NaN spike times ignored" in m for m in messages)
    assert any("2 spike times before t0=0.0 s dropped" in m for m in messages)


def test_units_table_at_unusual_path():
    path = real_data("nwb", "edge_cases", "nwb-explorer_test_Units.nwb")
    with pytest.raises(ReaderError, match=r"nwb-explorer_test_Units.nwb: no units table at /units$"):
        get_reader("nwb-units").open_session(path)
    counts = open_file("nwb-units", path, group="acquisition/UnitsTest")
    with h5py.File(path, "r") as f:
        st, ends = (
            f["acquisition/UnitsTest/spike_times"][()],
            f["acquisition/UnitsTest/spike_times_index"][()],
        )
    trains = np.split(st, ends[:-1])
    assert counts.shape[0] == 2 and int(counts.sum()) == 6
    assert np.array_equal(counts.values, histogram(trains, counts.shape[1]))


def test_region_index_must_be_contiguous(tmp_path):
    """A region-reference index that skips spike times is refused, not misread."""
    path = tmp_path / "gap.nwb"
    with h5py.File(path, "w") as f:
        st = f.create_dataset("units/spike_times", data=np.arange(6, dtype=np.float64))
        refs = f["units"].create_dataset("spike_times_index", (2,), dtype=h5py.regionref_dtype)
        refs[0], refs[1] = st.regionref[0:2], st.regionref[3:6]
    with pytest.raises(ReaderError, match=r"spike_times_index\[1\] selects spike_times\[3:6\]"):
        get_reader("nwb-units").open_session(path)
