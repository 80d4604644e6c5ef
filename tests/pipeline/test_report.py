"""The typed build report: entries, the final and the stopped report, error texts."""

from __future__ import annotations

import dataclasses
import errno
import json

import pytest

from neuralbench.errors import SourceError
from neuralbench.pipeline.report import BuildReport, SessionEntry, error_text, os_reason, write_json
from neuralbench.session import SessionRef

REF = SessionRef("h2", "sub-T5/sub-T5_ses-1.nwb", "T5", "1")
ATTRS = {"tokens": 960, "segments": 2, "n_clipped_bins": 3, "n_spikes": 40, "n_units": 96}


def test_an_entry_keeps_the_report_keys_in_their_order():
    entry = SessionEntry.of(REF)
    assert list(entry.to_dict()) == [
        "component", "source_file", "subject_id", "session_id", "status", "tokens", "segments",
        "clipped_bins", "spikes", "seconds", "error",
    ]  # fmt: skip
    done = entry.done("built", 1.23456, ATTRS, None).to_dict()
    assert list(done)[-1] == "units"
    assert (done["status"], done["tokens"], done["clipped_bins"], done["units"], done["seconds"]) == (
        "built", 960, 3, 96, 1.235,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.status = "built"  # type: ignore[misc]


def test_a_report_records_sessions_and_components_in_build_order(tmp_path):
    report = BuildReport()
    report.add_component("h2")
    key = report.start(REF)
    other = report.start(dataclasses.replace(REF, source_file="b.nwb", session_id="2"))
    report.finish(key, "built", ATTRS)
    report.finish(other, "failed", error="b.nwb: not an NWB file")
    report.component_update("h2", sessions=1, rows=2, tokens=960)
    report.corpus = {"rows": 2}
    final = report.final(tmp_path, ["h2"])
    assert [s["status"] for s in final["sessions"]] == ["built", "failed"]
    assert final["components"] == {"h2": {"sessions": 1, "error": None, "rows": 2, "tokens": 960}}
    assert report.ok_sessions("h2") == [("h2", "T5", "1")]
    assert final["corpus"] == {"rows": 2} and final["ok"] is False  # a failed session
    report.finish(other, "skipped")
    assert report.final(tmp_path, ["h2"])["ok"] is True


def test_a_stopped_report_says_why_and_is_never_ok(tmp_path):
    report = BuildReport()
    report.add_component("h2")
    report.start(REF)
    stopped = report.final(tmp_path, ["h2"], stopped="no dask worker for 60 s")
    assert stopped["stopped"] == "no dask worker for 60 s" and stopped["ok"] is False
    assert "corpus" not in stopped and stopped["sessions"][0]["status"] == "pending"


def test_a_component_error_is_kept_in_its_entry():
    report = BuildReport()
    report.add_component("h2")
    report.component_failed("h2", "no session was built")
    assert report.to_dict()["components"]["h2"] == {"sessions": 0, "error": "no session was built"}


def test_components_of_an_earlier_run_are_carried_forward(built):
    _, out, first = built
    names = sorted(first["components"])
    carried = BuildReport().final(out, [])  # this run built nothing: every finished one is kept
    assert sorted(carried["components"]) == names
    assert len(carried["sessions"]) == len(first["sessions"])


def test_error_texts_name_the_file_then_what_is_wrong(tmp_path):
    raw = tmp_path / "raw.nwb"
    assert error_text(SourceError(raw, "not an NWB file"), raw) == f"{raw}: not an NWB file"
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "chunk"))
    assert (
        error_text(full, raw)
        == f"{raw}: cannot write {tmp_path / 'chunk'}: No space left on device [Errno 28]"
    )
    other = FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y")
    assert error_text(other, raw) == f"{raw}: /x/y: No such file or directory [Errno 2]"
    assert error_text(ValueError("bad shape"), raw) == f"{raw}: ValueError: bad shape"
    assert os_reason(OSError("plain")) == "plain"


def test_the_report_is_written_whole(tmp_path):
    path = tmp_path / "report.json"
    write_json(path, {"ok": True})
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
