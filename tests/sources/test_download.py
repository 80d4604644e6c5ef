"""The dispatcher and the per-component report the CLI uses."""

from __future__ import annotations

import pytest

from neuralbench.errors import RecipeError, SourceError
from neuralbench.sources import download_recipes
from tests.sources.fakearchive import FakeArchive, real_listing


def test_report_keeps_going_past_a_failed_component(archive: FakeArchive, real_data, tmp_path):
    # h2's listing is served, but none of its 47 blobs: every asset is a 404
    archive.serve_dandiset(real_listing(real_data, "000950"), {}, version="0.241029.1403")
    report = download_recipes(tmp_path, ["willett", "h2"])
    assert not report.ok and report.files == {}
    assert isinstance(report.errors["willett"], SourceError)
    assert str(report.errors["h2"]).startswith(f"{tmp_path / 'h2'}: 47 of 47 files failed")
    assert len([s for s in archive.seen if s.path.endswith("/download/")]) == 47


def test_unknown_component_is_refused_before_any_fetch(archive: FakeArchive, tmp_path):
    with pytest.raises(RecipeError, match="unknown component 'nope'"):
        download_recipes(tmp_path, ["willett", "nope"])
    assert archive.seen == []
