"""The intermediate zarr store: one zarr group per component, one group per session.

Layout (``LAYOUT`` 2): ``OUT/zarr/<component>.zarr/<subject_id>/<session_id>/`` is a
group that ``xarray.open_zarr`` opens as a Dataset: ``spike_counts`` (uint8, dims
``unit``, ``time``, one chunk per segment) with coordinates ``unit`` (the unit's id
in its source) and ``time`` (bin start in seconds from the session's origin, stored
as CF-scaled int32 bin indices that xarray decodes); the session's provenance is
the group's attrs (paths: :class:`neuralbench.layout.BuildLayout`). A session is
written under ``OUT/zarr/.partial/`` and renamed into place when whole, with its
own consolidated metadata; the component root's consolidated metadata is dropped
when a build starts changing a component and written again when it is finished
(:func:`consolidate_component`), so that
``xarray.open_datatree(store, engine="zarr")`` opens it in one read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from neuralbench.binning import saturate
from neuralbench.errors import SourceError
from neuralbench.layout import PARTIAL, BuildLayout, SessionKey
from neuralbench.readers.base import DIMS
from neuralbench.segments import segment_ids

__all__ = [
    "LAYOUT",
    "block_stats",
    "commit_session",
    "component_path",
    "consolidate_component",
    "create_partial",
    "discard_partial",
    "init_component",
    "is_stored",
    "iter_segments",
    "open_corpus",
    "open_session",
    "read_segment",
    "remove_partials",
    "segment_spans",
    "session_array",
    "session_attrs",
    "stored_components",
    "stored_sessions",
    "summary_attrs",
    "write_block",
]

logger = logging.getLogger(__name__)

COUNTS = "spike_counts"
"""The data variable of a session group."""
LAYOUT = 2
"""Store layout, in the component root's ``neuralbench_layout`` attr. 1 (no attr): one
bare array per session, which xarray cannot open as a Dataset; rebuilt, never mixed."""

COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
"""Small counts are mostly zero high bits: bit-shuffled zstd is 40 % smaller than
zarr's default zstd and 3x faster to write (bench/micro.py)."""

OutDir = str | os.PathLike[str] | BuildLayout
"""A build folder, as a path or as its :class:`~neuralbench.layout.BuildLayout`."""


def component_path(out_dir: OutDir, name: str) -> Path:
    """``OUT/zarr/<name>.zarr``."""
    return BuildLayout.of(out_dir).store(name)


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / "zarr.json").read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def session_attrs(out_dir: OutDir, name: str, subject: str, session: str) -> dict | None:
    """The attrs of a complete stored session group, or None when it is not there."""
    meta = _read_meta(BuildLayout.of(out_dir).session_group(SessionKey(name, subject, session)))
    if meta is None or meta.get("node_type") != "group":
        return None  # absent, or a layout-1 bare array
    return meta.get("attributes", {})


def is_stored(
    out_dir: str | os.PathLike[str], key: tuple[str, str, str], provenance: Mapping[str, Any] | None
) -> bool:
    """Whether the session is stored complete and built from ``provenance`` (the resume check).

    A session stored by an older reader version (``reader_version`` absent: 1), another
    recipe, or from a raw file of another name or size is not current: it is rebuilt.
    """
    attrs = session_attrs(out_dir, *key)
    if not attrs or provenance is None:
        return False
    return all(attrs.get(k, 1 if k == "reader_version" else None) == v for k, v in provenance.items())


def summary_attrs(counts: xr.DataArray) -> dict[str, Any]:
    """The attrs a session is committed with: the reader's provenance and the shape figures."""
    return dict(
        counts.attrs,
        n_units=int(counts.shape[0]),
        n_bins=int(counts.shape[1]),
        tokens=int(counts.size),
        segments=len(counts.attrs["segment_bins"]),
    )


def create_partial(layout: BuildLayout, key: SessionKey, counts: xr.DataArray) -> zarr.Array:
    """An empty session group under the partial folder, shaped and labelled like ``counts``.

    Writes the group, its ``unit`` and ``time`` coordinates (CF-scaled: bin k
    starts at ``t0_s + k * bin_size_s``, stored as the int32 k, which xarray
    decodes to float seconds) and the metadata of ``spike_counts``, one chunk per
    segment of ``counts.attrs["segment_bins"]``; nothing of ``counts`` is computed.
    Returns the empty ``spike_counts`` array, which the block tasks fill
    (:func:`write_blocks`). Any leftover of an interrupted write is removed first.
    """
    path = layout.session_partial(key)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_units, n_bins = counts.shape
    (seg_start, seg_stop), *_ = counts.attrs.get("segment_bins") or [(0, n_bins)]
    t0, width = float(counts.attrs.get("t0_s", 0.0)), float(counts.attrs["bin_size_s"])
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    # every chunk is written whole, once: zarr's check for an all-fill chunk
    # (on by default) costs ~4 copies of the chunk and half the write time
    target = group.create_array(
        COUNTS,
        shape=(n_units, n_bins),
        chunks=(max(n_units, 1), max(seg_stop - seg_start, 1)),
        dtype="uint8",
        fill_value=0,
        compressors=[COMPRESSOR],
        dimension_names=list(DIMS),
        attributes={**_COUNTS_ATTRS, "bin_size_s": width},
        config={"write_empty_chunks": True},
    )
    time_attrs = {**_TIME_ATTRS, "scale_factor": width, "add_offset": t0}
    _coordinate(group, "time", np.arange(n_bins, dtype=np.int32), time_attrs)
    unit = counts.coords["unit"] if "unit" in counts.coords else xr.Variable("unit", np.arange(n_units))
    _coordinate(group, "unit", np.asarray(unit.values), dict(unit.attrs))
    return target


def _coordinate(group: zarr.Group, name: str, values: np.ndarray, attrs: dict[str, Any]) -> None:
    """A 1-D coordinate array of the session group, one chunk, written at once."""
    strings = values.dtype.kind in "OUS"
    arr = group.create_array(
        name,
        shape=values.shape,
        chunks=(max(len(values), 1),),
        dtype=str if strings else values.dtype,
        fill_value="" if strings else 0,
        compressors=[COMPRESSOR] if not strings else "auto",
        dimension_names=[name],
        attributes=attrs,
    )
    if len(values):
        arr[:] = values.astype(str) if strings else values


_COUNTS_ATTRS = {"long_name": "spike count per bin", "units": "spikes", "saturated_at": 255}
_TIME_ATTRS = {"long_name": "bin start from the session's origin", "units": "s"}


def init_component(layout: BuildLayout, component: str, subjects: list[str]) -> Path:
    """Create the component group and its subject groups (before sessions are written).

    Done once, up front, so that parallel session writes never race on group
    metadata. The root's consolidated metadata is dropped (sessions are about to
    change; :func:`consolidate_component` writes it again). A store of an older
    layout is removed whole and rebuilt, so that no store ever mixes layouts.
    """
    root = layout.store(component)
    for meta in [root / "zarr.json", *(root / s / "zarr.json" for s in set(subjects))]:
        _drop_if_corrupt(meta)
    old = _read_meta(root)
    if old is not None and old.get("attributes", {}).get("neuralbench_layout") != LAYOUT:
        logger.warning("%s: written with zarr layout 1 (one array per session); rebuilding it", root)
        shutil.rmtree(root)
    elif old is not None and old.get("consolidated_metadata"):
        _write_meta(root, {k: v for k, v in old.items() if k != "consolidated_metadata"})
    # the layout goes into the root's first zarr.json: a reader polling a build never sees
    # a root without it (and takes it for layout 1)
    attrs = {"source_dataset": component, "neuralbench_layout": LAYOUT}
    group = zarr.open_group(str(root), mode="a", attributes=attrs)
    for subject in sorted(set(subjects)):
        if not (root / subject / "zarr.json").exists():
            group.require_group(subject)
    return root


def _write_meta(path: Path, meta: Mapping[str, Any]) -> None:
    tmp = path / f".zarr.json{PARTIAL}"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path / "zarr.json")


def consolidate_component(layout: BuildLayout, component: str) -> Path:
    """Write the component root's consolidated metadata, once its sessions are all done.

    ``xarray.open_datatree`` then reads one file instead of three per session.
    zarr warns that consolidated metadata is not yet in the v3 spec; xarray and
    zarr-python read it, and a reader that does not know it reads the plain
    metadata beside it.
    """
    root = layout.store(component)
    _consolidate(root)
    return root


def _write_session_meta(path: Path, attrs: Mapping[str, Any]) -> None:
    """The session group's ``zarr.json``: its attrs and its arrays' consolidated metadata.

    What ``zarr.consolidate_metadata`` writes, built with zarr's own metadata
    classes from the three array files; zarr's store walk costs 2-3x more per
    session, in the commit task of every session.
    """
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.group import ConsolidatedMetadata, GroupMetadata
    from zarr.core.metadata.v3 import ArrayV3Metadata

    arrays = {
        name: ArrayV3Metadata.from_dict(json.loads((path / name / "zarr.json").read_text()))
        for name in (COUNTS, "time", "unit")
    }
    meta = GroupMetadata(attributes=dict(attrs), consolidated_metadata=ConsolidatedMetadata(metadata=arrays))
    tmp = path / f".zarr.json{PARTIAL}"
    tmp.write_bytes(meta.to_buffer_dict(default_buffer_prototype())["zarr.json"].to_bytes())
    os.replace(tmp, path / "zarr.json")


def _consolidate(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))


def _drop_if_corrupt(meta: Path) -> None:
    """Remove a group's ``zarr.json`` that a killed run left half-written (it is rewritten)."""
    try:
        json.loads(meta.read_text())
    except FileNotFoundError:
        pass
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta.unlink()


def remove_partials(out_dir: OutDir) -> list[Path]:
    """Remove what interrupted runs left in ``out_dir``: every ``.partial`` folder or file.

    Run at the start of a build (never during one): the partial zarr folder, the
    ``.<name>.partial`` folders of export and merge, a half-written report.
    Returns what was removed.
    """
    layout = BuildLayout.of(out_dir)
    out = layout.out_dir
    found = [p for p in [layout.zarr_partial_dir] if p.exists()]
    for pattern in (f".*{PARTIAL}", f"*/.*{PARTIAL}"):
        found.extend(out.glob(pattern))
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def write_block(
    block: np.ndarray,
    target: zarr.Array,
    start: int,
    on_block: Callable[[int, np.ndarray], Any] | None = None,
) -> tuple[int, int]:
    """Saturate one block to uint8, write it at bin ``start``; its (clipped bins, spikes).

    ``on_block(start, block)``, when given (picklable: it runs on the workers), also
    gets the saturated block while it is in memory: the export encodes its parquet
    rows there, so a block is read and binned exactly once.
    """
    saturated, clipped = saturate(block)
    n_spikes = int(block.sum(dtype=np.int64))
    target[:, start : start + saturated.shape[1]] = saturated
    if on_block is not None:
        on_block(start, saturated)
    return clipped, n_spikes


def block_stats(per_block: Sequence[tuple[int, int]]) -> dict[str, int]:
    """A session's statistics from its blocks': what :func:`commit_session` records."""
    return {
        "n_clipped_bins": sum(c for c, _ in per_block),
        "n_spikes": sum(s for _, s in per_block),
    }


def discard_partial(layout: BuildLayout, key: SessionKey) -> None:
    """Remove what a failed write left under the partial folder."""
    path = layout.session_partial(key)
    if path.exists():
        shutil.rmtree(path)
    for parent in (path.parent, path.parent.parent, path.parent.parent.parent):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def commit_session(
    layout: BuildLayout,
    key: SessionKey,
    attrs: Mapping[str, Any],
    stats: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the provenance attrs (plus the write's ``stats``) and move the group into place.

    The group's metadata is consolidated first, so ``xarray.open_zarr`` on the
    session reads one file. Idempotent, so that a worker dying mid-commit can be
    retried: when the partial group is gone and the final one holds these attrs,
    that was this commit, finished. Returns the attrs as stored.
    """
    src = layout.session_partial(key)
    final_attrs = dict(sorted({**attrs, **(stats or {})}.items()))
    dst = layout.session_group(key)
    if not (src / "zarr.json").exists():
        done = session_attrs(layout, *key)
        if done is not None and json.loads(json.dumps(final_attrs)) == done:
            discard_partial(layout, key)
            return final_attrs
    _write_session_meta(src, final_attrs)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)
    discard_partial(layout, key)  # tidy the emptied partial folders
    return final_attrs


def stored_sessions(out_dir: OutDir, name: str) -> list[SessionKey]:
    """The :class:`~neuralbench.layout.SessionKey` of every complete session of a component.

    Raises a SourceError for a store of an older layout, naming the command that rebuilds it.
    """
    root = component_path(out_dir, name)
    found: list[SessionKey] = []
    if not root.is_dir():
        return found
    check_layout(root)
    for meta in sorted(root.glob(f"*/*/{COUNTS}/zarr.json")):
        session = meta.parent.parent
        if (_read_meta(session) or {}).get("node_type") == "group":
            found.append(SessionKey(name, session.parent.name, session.name))
    return found


def check_layout(root: Path) -> None:
    """Refuse a component store written with another layout (a reader would misread it)."""
    meta = _read_meta(root)
    layout = (meta or {}).get("attributes", {}).get("neuralbench_layout", 1)
    if meta is not None and layout != LAYOUT:
        name = BuildLayout.component_of(root)
        raise SourceError(
            root,
            f"zarr layout {layout} (an older neuralbench: one array per session), this version reads "
            f"layout {LAYOUT}; rebuild it with `neuralbench build RAW OUT --only {name}`",
        )


def session_array(out_dir: OutDir, name: str, subject: str, session: str) -> zarr.Array:
    """The stored session's uint8 ``(unit, time)`` ``spike_counts`` zarr array, read-only.

    The one place that knows where a session's counts live in the store: readers of
    the store (export, cards, windows, verify) go through it.
    """
    group = BuildLayout.of(out_dir).session_group(SessionKey(name, subject, session))
    return zarr.open_array(str(group / COUNTS), mode="r")


def open_session(out_dir: OutDir, name: str, subject: str, session: str) -> xr.Dataset:
    """A stored session as xarray opens it: ``spike_counts`` (unit, time) on dask, coords, attrs.

    The same as ``xarray.open_zarr(OUT/zarr/<name>.zarr/<subject>/<session>)``.
    """
    group = BuildLayout.of(out_dir).session_group(SessionKey(name, subject, session))
    return xr.open_zarr(group, consolidated=True)


def segment_spans(attrs: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Segment id -> its bins ``(start, stop)``, from a stored session's attrs.

    The one place that knows a session's segments (one segment when unsplit).
    """
    bounds = attrs.get("segment_bins") or [[0, attrs.get("n_bins", 0)]]
    return {seg_id: (int(a), int(b)) for seg_id, (a, b) in zip(segment_ids(len(bounds)), bounds, strict=True)}


def iter_segments(out_dir: OutDir, name: str, subject: str, session: str) -> Iterator[tuple[str, np.ndarray]]:
    """``(segment_id, counts)`` of a stored session, reading one segment (one chunk) at a time."""
    arr = session_array(out_dir, name, subject, session)
    for seg_id, (start, stop) in segment_spans(session_attrs(out_dir, name, subject, session) or {}).items():
        yield seg_id, np.asarray(arr[:, start:stop])


def read_segment(
    out_dir: OutDir,
    name: str,
    subject: str,
    session: str,
    segment_id: str,
    tokens: int | None = None,
) -> np.ndarray | None:
    """One stored segment's counts, or None when the store does not hold it.

    With ``tokens`` (the row's size as a parquet file has it), a stored segment of
    another size is taken as a different build and None is returned. Lets the
    merge and the cards read a row from its zarr chunk, much cheaper than
    decoding its parquet row.
    """
    attrs = session_attrs(out_dir, name, subject, session)
    span = segment_spans(attrs).get(segment_id) if attrs is not None else None
    if span is None:
        return None
    start, stop = span
    if tokens is not None and int(attrs.get("n_units", 0)) * (stop - start) != tokens:
        return None
    return np.asarray(session_array(out_dir, name, subject, session)[:, start:stop])


def open_corpus(out_dir: OutDir) -> xr.DataTree:
    """The whole zarr store as one lazy ``DataTree``: ``/<component>/<subject>/<session>``.

    A thin join of ``xarray.open_datatree(OUT/zarr/<name>.zarr, engine="zarr")`` per
    component: each session node is the Dataset ``xarray.open_zarr`` gives
    (``spike_counts`` with dims unit, time; coords ``unit``, ``time``; provenance
    as attrs); nothing is loaded.

    Examples
    --------
    >>> tree = open_corpus("demo-out")  # doctest: +SKIP
    >>> tree["churchland/sub-Jenkins"].children  # doctest: +SKIP
    """
    layout = BuildLayout.of(out_dir)
    trees: dict[str, xr.DataTree] = {}
    for name in stored_components(layout):
        comp = layout.store(name)
        check_layout(comp)
        trees[name] = xr.open_datatree(comp, engine="zarr", chunks={})
    return xr.DataTree(children=trees)


def stored_components(out_dir: OutDir) -> list[str]:
    """The components that have a store in ``OUT/zarr``, sorted by name."""
    layout = BuildLayout.of(out_dir)
    return sorted(layout.component_of(p) for p in layout.zarr_dir.glob(layout.STORE_GLOB))
