"""A session: one recipe applied to one raw file, with its provenance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from neuralbench import __version__
from neuralbench.catalog import Recipe
from neuralbench.layout import SessionKey
from neuralbench.readers import get_reader
from neuralbench.sources.local import source_sha256

__all__ = ["SessionRef", "find_sessions", "open_session"]


@dataclass(frozen=True)
class SessionRef:
    """Where a session comes from and what it is called."""

    component: str
    source_file: str  # relative to RAW/<component>
    subject_id: str
    session_id: str

    @property
    def key(self) -> SessionKey:
        """The session's name in the build: ``(component, subject_id, session_id)``."""
        return SessionKey(self.component, self.subject_id, self.session_id)


def find_sessions(recipe: Recipe, files: list[str]) -> list[SessionRef]:
    """The recipe's sessions among ``files`` (relative paths), in build order."""
    refs = []
    for rel in recipe.select(files):
        subject, session = recipe.ids.of(rel)
        refs.append(SessionRef(recipe.name, rel, subject, session))
    return refs


def open_session(recipe: Recipe, raw_root: str | os.PathLike[str], ref: SessionRef) -> xr.DataArray:
    """Open ``ref`` with the recipe's reader: lazy uint16 counts plus provenance attrs.

    The source file's sha256 goes into the zarr attrs; it is the digest recorded
    beside the file (by the download stage, or by the first build that hashed it)
    when the file is unchanged since, else the file is hashed here, once.
    """
    path = Path(raw_root) / recipe.name / ref.source_file
    counts = get_reader(recipe.reader).open_session(
        path, max_tokens=recipe.max_tokens, **recipe.params_for(ref.source_file)
    )
    counts.attrs.update(
        source_dataset=recipe.name,
        subject_id=ref.subject_id,
        session_id=ref.session_id,
        source_file=ref.source_file,
        source_sha256=source_sha256(path),
        source_size_bytes=path.stat().st_size,
        recipe=recipe.name,
        recipe_token=recipe.token(),
        reader=recipe.reader,
        reader_version=get_reader(recipe.reader).version,
        fixes=list(recipe.fixes),
        neuralbench_version=__version__,
    )
    return counts
