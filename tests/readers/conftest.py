"""Fixtures of the reader tests: the synthetic archive layouts, and blocks of one segment."""

from __future__ import annotations

import pytest

from neuralbench.catalog import get_recipe
from neuralbench.errors import ReaderError
from neuralbench.readers import get_reader
from neuralbench.session import open_file
from neuralbench.synth import Scale, write_raw_tree

ARCHIVES = ["wojcik", "papale", "makin", "lanzarini", "rajalingham"]


@pytest.fixture(scope="session")
def archive_raw(tmp_path_factory):
    """Synthetic files of the five archive (non-NWB, non-dense) layouts, two sessions each."""
    root = tmp_path_factory.mktemp("archives")
    write_raw_tree(root, only=ARCHIVES, seed=11, scale=Scale(seconds=24.0, units=7, sessions=2))
    return root


@pytest.fixture
def one_segment_per_block(monkeypatch):
    """Make every segment its own dask block, so block edges cut trials and windows."""
    import neuralbench.session

    monkeypatch.setattr(neuralbench.session, "BLOCK_TOKENS", 1)


def open_recipe(raw, name, rel, **extra):
    """The lazy counts of ``raw/name/rel`` as the recipe reads them (``extra`` overrides)."""
    r = get_recipe(name)
    params = {**r.params_for(rel), "max_tokens": r.max_tokens, **extra}
    return open_file(r.reader, raw / name / rel, **params)


def recipe_sessions(raw, name):
    """The recipe's session files under ``raw/name``, relative to it."""
    files = [p.relative_to(raw / name).as_posix() for p in (raw / name).rglob("*") if p.is_file()]
    return get_recipe(name).select(f for f in files if not f.rsplit("/", 1)[-1].startswith("."))


def check_damaged_and_missing(tmp_path, reader, suffix):
    """A file of garbage and a missing file: ReaderErrors naming the file, from the metadata read."""
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(b"not a real file at all" * 10)
    with pytest.raises(ReaderError, match=str(bad)):
        get_reader(reader).open_session(bad)
    with pytest.raises(ReaderError, match="does not exist"):
        get_reader(reader).open_session(tmp_path / f"missing{suffix}")
