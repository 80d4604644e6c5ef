"""A session: one recipe applied to one raw file, with its provenance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from neuralbench import __version__
from neuralbench.catalog import Recipe
from neuralbench.readers import get_reader
from neuralbench.sources.local import source_sha256

__all__ = ["SessionRef", "duplicate_ids", "find_sessions", "open_session", "provenance"]


@dataclass(frozen=True)
class SessionRef:
    """Where a session comes from and what it is called."""

    component: str
    source_file: str  # relative to RAW/<component>
    subject_id: str
    session_id: str


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


def duplicate_ids(refs: list[SessionRef]) -> dict[SessionRef, str]:
    """Sessions whose (subject, session) an earlier file already has, with the error to report.

    The first file keeps the ids; a later one would overwrite its rows, so it fails.
    """
    seen: dict[tuple[str, str], str] = {}
    duplicates = {}
    for ref in refs:
        ids = (ref.subject_id, ref.session_id)
        if ids in seen:
            duplicates[ref] = f"{ref.source_file}: same subject_id/session_id as {seen[ids]}"
        else:
            seen[ids] = ref.source_file
    return duplicates


def provenance(recipe: Recipe, raw_root: str | os.PathLike[str], ref: SessionRef) -> dict[str, object] | None:
    """What a stored session must have been built from to be current (the resume check).

    The recipe, the reader's version and the raw file's name and size: cheap to know
    without reading the file (its digest is in the attrs too, but costs a read).
    ``None`` when the raw file cannot be seen: then nothing stored counts as current.
    """
    try:
        size = (Path(raw_root) / recipe.name / ref.source_file).stat().st_size
    except OSError:
        return None
    return {
        "recipe_token": recipe.token(),
        "reader_version": get_reader(recipe.reader).version,
        "source_size_bytes": size,
        "source_file": ref.source_file,
    }
