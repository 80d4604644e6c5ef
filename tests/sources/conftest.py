"""Fixtures for the source tests: a loopback archive server and the real DANDI listings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.fakearchive import FakeArchive, start

REAL_DATA = Path(__file__).parents[2] / ".." / "shared" / "real-data"


@pytest.fixture
def real_data() -> Path:
    """``../shared/real-data``; tests needing it skip when it is absent."""
    if not (REAL_DATA / "dandi-listings").is_dir():
        pytest.skip(f"real data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArchive]:
    """A running loopback server that every source's base URL points at."""
    fa = FakeArchive()
    server, thread = start(fa)
    monkeypatch.setenv("DANDI_NO_ET", "1")  # no version check against the internet
    monkeypatch.setenv("NEURALBENCH_DANDI_API_URL", f"{fa.url}/api")
    for key in ("ZENODO", "DRYAD", "OSF", "GIN"):
        monkeypatch.setenv(f"NEURALBENCH_{key}_URL", fa.url)
    try:
        yield fa
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
