"""A session: one recipe applied to one raw file, cut into segments, with its provenance.

The one place the segment rule is applied: a reader describes the file
(:class:`~neuralbench.readers.base.SessionSource`), :func:`session_counts` cuts
it with :func:`~neuralbench.segments.segment_bounds`, joins the segments into
blocks and builds the lazy array whose chunks are those blocks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import xarray as xr

from neuralbench import __version__
from neuralbench.binning import COUNT_DTYPE
from neuralbench.catalog import Recipe
from neuralbench.layout import SessionKey
from neuralbench.readers import get_reader
from neuralbench.readers.base import DIMS, SessionSource
from neuralbench.segments import MAX_TOKENS, merge_blocks, segment_bounds
from neuralbench.sources.local import source_sha256

__all__ = [
    "BLOCK_TOKENS",
    "SessionRef",
    "duplicate_ids",
    "find_sessions",
    "open_file",
    "open_session",
    "provenance",
    "session_counts",
]

BLOCK_TOKENS = MAX_TOKENS
"""Largest block one task computes, in tokens (about one segment)."""


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
    source = get_reader(recipe.reader).open_session(path, **recipe.params_for(ref.source_file))
    counts = session_counts(source, recipe.max_tokens)
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


def open_file(
    reader: str, path: str | os.PathLike[str], *, max_tokens: int | None = MAX_TOKENS, **params: Any
) -> xr.DataArray:
    """The lazy counts of one file read with ``reader`` and ``params``, without a recipe.

    For a notebook, a test or a benchmark: the counts, coordinate and attrs a build
    would store, less the provenance that :func:`open_session` adds.
    """
    return session_counts(get_reader(reader).open_session(path, **params), max_tokens)


def session_counts(source: SessionSource, max_tokens: int | None = MAX_TOKENS) -> xr.DataArray:
    """The lazy ``(unit, time)`` uint16 counts of ``source``, one dask chunk per block.

    The segments (``segment_bins`` attr) follow the published rule for
    ``max_tokens`` (None keeps the session whole); consecutive segments join into
    blocks of at most :data:`BLOCK_TOKENS` (one block for a source that is read
    whole), so no block splits a segment and each segment is written by one task.
    """
    bounds = segment_bounds(source.n_units, source.n_bins, max_tokens)
    limit = math.inf if source.read_whole else BLOCK_TOKENS
    blocks = merge_blocks(bounds, source.n_units, limit)
    attrs: dict[str, Any] = {"bin_size_s": source.bin_size_s, "t0_s": source.t0_s}
    if source.native_bin_s is not None:
        attrs["native_bin_s"] = source.native_bin_s
    attrs["segment_bins"] = [list(b) for b in bounds]
    attrs.update(source.attrs)
    data = _lazy_blocks(source, blocks)
    return xr.DataArray(data, dims=DIMS, coords={"unit": source.unit}, attrs=attrs)


def _lazy_blocks(source: SessionSource, blocks: Sequence[tuple[int, int]]) -> da.Array:
    """Block ``i`` is the task ``source.read(start, stop, *args_i)``, named after the source and bins."""
    per_block = source.plan_blocks(blocks) if source.plan_blocks is not None else [()] * len(blocks)
    parts = []
    for (start, stop), args in zip(blocks, per_block, strict=True):
        task = dask.delayed(source.read, pure=True, name=f"{source.name}-{start}-{stop}")(start, stop, *args)
        parts.append(da.from_delayed(task, shape=(source.n_units, stop - start), dtype=COUNT_DTYPE))
    if not parts:
        return da.zeros((source.n_units, 0), dtype=COUNT_DTYPE)
    return da.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


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
