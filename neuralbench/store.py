"""The intermediate zarr store: one group per component, one array per session.

Layout: ``OUT/zarr/<component>.zarr/<subject_id>/<session_id>``, a uint8 array with
dims ``(unit, time)`` chunked along time by segment, its attrs the session's
provenance. A session is written under ``OUT/zarr/.partial/`` and renamed into
place when whole, so an array at its final path is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from neuralbench.binning import saturate
from neuralbench.readers.base import DIMS
from neuralbench.segments import segment_ids

__all__ = [
    "commit_session",
    "component_path",
    "create_partial",
    "discard_partial",
    "init_component",
    "iter_segments",
    "open_corpus",
    "open_session",
    "read_segment",
    "remove_partials",
    "session_array",
    "session_attrs",
    "stored_sessions",
    "write_blocks",
]

ZARR_DIR = "zarr"

COMPRESSOR = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")
"""Small counts are mostly zero high bits: bit-shuffled zstd is 40 % smaller than
zarr's default zstd and 3x faster to write (bench/micro.py)."""
_PARTIAL = ".partial"


def component_path(out_dir: str | os.PathLike[str], name: str) -> Path:
    """``OUT/zarr/<name>.zarr``."""
    return Path(out_dir) / ZARR_DIR / f"{name}.zarr"


def _partial_path(out_dir: str | os.PathLike[str], name: str, subject: str, session: str) -> Path:
    return Path(out_dir) / ZARR_DIR / _PARTIAL / name / subject / session


def session_attrs(out_dir: str | os.PathLike[str], name: str, subject: str, session: str) -> dict | None:
    """The attrs of a complete stored session, or None when it is not there."""
    meta = component_path(out_dir, name) / subject / session / "zarr.json"
    try:
        return json.loads(meta.read_text()).get("attributes", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def create_partial(
    out_dir: str | os.PathLike[str],
    name: str,
    subject: str,
    session: str,
    shape: tuple[int, int],
    segment_bins: int,
) -> zarr.Array:
    """An empty uint8 array under the partial folder, one chunk per segment.

    Any leftover of an interrupted write is removed first.
    """
    path = _partial_path(out_dir, name, subject, session)
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return zarr.create_array(
        store=str(path),
        shape=shape,
        chunks=(max(shape[0], 1), max(segment_bins, 1)),
        dtype="uint8",
        fill_value=0,
        compressors=[COMPRESSOR],
        dimension_names=list(DIMS),
        # every chunk is written whole, once: zarr's check for an all-fill chunk
        # (on by default) costs ~4 copies of the chunk and half the write time
        config={"write_empty_chunks": True},
    )


def init_component(out_dir: str | os.PathLike[str], name: str, subjects: list[str]) -> Path:
    """Create the component group and its subject groups (before sessions are written).

    Done once, up front, so that parallel session writes never race on group metadata.
    """
    root = component_path(out_dir, name)
    for meta in [root / "zarr.json", *(root / s / "zarr.json" for s in set(subjects))]:
        _drop_if_corrupt(meta)
    group = zarr.open_group(str(root), mode="a")
    if group.attrs.get("source_dataset") != name:
        group.attrs["source_dataset"] = name
    for subject in sorted(set(subjects)):
        if not (root / subject / "zarr.json").exists():
            group.require_group(subject)
    return root


def _drop_if_corrupt(meta: Path) -> None:
    """Remove a group's ``zarr.json`` that a killed run left half-written (it is rewritten)."""
    try:
        json.loads(meta.read_text())
    except FileNotFoundError:
        pass
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta.unlink()


def remove_partials(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove what interrupted runs left in ``out_dir``: every ``.partial`` folder or file.

    Run at the start of a build (never during one): the partial zarr folder, the
    ``.<name>.partial`` folders of export and merge, a half-written report.
    Returns what was removed.
    """
    out = Path(out_dir)
    found = [p for p in [out / ZARR_DIR / _PARTIAL] if p.exists()]
    for pattern in (".*.partial", "*/.*.partial"):
        found.extend(out.glob(pattern))
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def write_blocks(
    counts: xr.DataArray,
    target: zarr.Array,
    on_block: Callable[[int, np.ndarray], Any] | None = None,
) -> Any:
    """A lazy write of ``counts`` into ``target``, saturated to uint8, one task per block.

    Each task saturates its block, writes it and returns its statistics, so a
    block is read and binned exactly once (a ``da.store`` plus separate sums would
    recompute every block for each consumer). ``on_block(start, block)``, when
    given (picklable: it runs on the workers), also gets each saturated block while
    it is in memory, with its first bin: the export encodes its parquet rows there.
    Computing the result gives ``{"n_clipped_bins": ..., "n_spikes": ...}`` for the session.
    """
    import dask

    blocks = counts.data.to_delayed().ravel()
    starts = np.cumsum((0,) + counts.data.chunks[1])[:-1]
    written = [
        dask.delayed(_write_block, pure=True)(block, target, int(start), on_block)
        for block, start in zip(blocks, starts, strict=True)
    ]
    return dask.delayed(_add_stats, pure=True)(written)


def _write_block(
    block: np.ndarray,
    target: zarr.Array,
    start: int,
    on_block: Callable[[int, np.ndarray], Any] | None = None,
) -> tuple[int, int]:
    saturated, clipped = saturate(block)
    n_spikes = int(block.sum(dtype=np.int64))
    target[:, start : start + saturated.shape[1]] = saturated
    if on_block is not None:
        on_block(start, saturated)
    return clipped, n_spikes


def _add_stats(per_block: list[tuple[int, int]]) -> dict[str, int]:
    return {
        "n_clipped_bins": sum(c for c, _ in per_block),
        "n_spikes": sum(s for _, s in per_block),
    }


def discard_partial(out_dir: str | os.PathLike[str], name: str, subject: str, session: str) -> None:
    """Remove what a failed write left under the partial folder."""
    path = _partial_path(out_dir, name, subject, session)
    if path.exists():
        shutil.rmtree(path)
    for parent in (path.parent, path.parent.parent, path.parent.parent.parent):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def commit_session(
    out_dir: str | os.PathLike[str],
    name: str,
    subject: str,
    session: str,
    attrs: Mapping[str, Any],
    stats: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the provenance attrs (plus the write's ``stats``) and move the array into place.

    Idempotent, so that a worker dying mid-commit can be retried: when the
    partial array is gone and the final one holds these attrs, that was this
    commit, finished. Returns the attrs as stored.
    """
    src = _partial_path(out_dir, name, subject, session)
    final_attrs = dict(sorted({**attrs, **(stats or {})}.items()))
    dst = component_path(out_dir, name) / subject / session
    if not (src / "zarr.json").exists():
        done = session_attrs(out_dir, name, subject, session)
        if done is not None and json.loads(json.dumps(final_attrs)) == done:
            discard_partial(out_dir, name, subject, session)
            return final_attrs
    zarr.open_array(str(src), mode="r+").attrs.put(final_attrs)
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)
    discard_partial(out_dir, name, subject, session)  # tidy the emptied partial folders
    return final_attrs


def stored_sessions(out_dir: str | os.PathLike[str], name: str) -> list[tuple[str, str]]:
    """``(subject_id, session_id)`` of every complete session of a component."""
    root = component_path(out_dir, name)
    found = []
    if root.is_dir():
        for meta in sorted(root.glob("*/*/zarr.json")):
            if json.loads(meta.read_text()).get("node_type") == "array":
                found.append((meta.parent.parent.name, meta.parent.name))
    return found


def session_array(out_dir: str | os.PathLike[str], name: str, subject: str, session: str) -> zarr.Array:
    """The stored session's uint8 ``(unit, time)`` zarr array, opened read-only.

    The one place that knows where a session's counts live in the store: readers of
    the store (export, cards, windows, verify) go through it.
    """
    return zarr.open_array(str(component_path(out_dir, name) / subject / session), mode="r")


def open_session(out_dir: str | os.PathLike[str], name: str, subject: str, session: str) -> xr.DataArray:
    """A stored session as a lazy ``(unit, time)`` DataArray with its provenance attrs.

    A non-index ``time_s`` coordinate (bin start times) is lazy too.
    """
    arr = session_array(out_dir, name, subject, session)
    attrs = dict(arr.attrs)
    data = da.from_zarr(arr)
    n_bins = arr.shape[1]
    chunk = arr.chunks[1]
    time_s = attrs.get("t0_s", 0.0) + attrs.get("bin_size_s", 0.02) * da.arange(
        n_bins, chunks=chunk, dtype=np.float64
    )
    return xr.DataArray(
        data,
        dims=DIMS,
        coords={"time_s": ("time", time_s)},
        name="spike_counts",
        attrs=attrs,
    )


def iter_segments(
    out_dir: str | os.PathLike[str], name: str, subject: str, session: str
) -> Iterator[tuple[str, np.ndarray]]:
    """``(segment_id, counts)`` of a stored session, reading one segment at a time."""
    arr = session_array(out_dir, name, subject, session)
    for seg_id, (start, stop) in _segment_spans(arr).items():
        yield seg_id, np.asarray(arr[:, start:stop])


def _segment_spans(arr: zarr.Array) -> dict[str, tuple[int, int]]:
    """Segment id -> its bins ``(start, stop)`` in a stored session (one segment when unsplit)."""
    bounds = arr.attrs.get("segment_bins") or [[0, arr.shape[1]]]
    return {seg_id: (int(a), int(b)) for seg_id, (a, b) in zip(segment_ids(len(bounds)), bounds, strict=True)}


def read_segment(
    out_dir: str | os.PathLike[str],
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
    path = component_path(out_dir, name) / subject / session
    if not (path / "zarr.json").exists():
        return None
    arr = zarr.open_array(str(path), mode="r")
    span = _segment_spans(arr).get(segment_id)
    if span is None:
        return None
    start, stop = span
    if tokens is not None and arr.shape[0] * (stop - start) != tokens:
        return None
    return np.asarray(arr[:, start:stop])


def open_corpus(out_dir: str | os.PathLike[str]) -> xr.DataTree:
    """The whole zarr store as a lazy ``DataTree``: ``/<component>/<subject>/<session>``.

    Each session node holds a Dataset with ``spike_counts`` (dims unit, time) and
    the session's provenance as attrs; nothing is loaded.

    Examples
    --------
    >>> tree = open_corpus("demo-out")  # doctest: +SKIP
    >>> tree["churchland/sub-Jenkins"].children  # doctest: +SKIP
    """
    nodes: dict[str, xr.Dataset] = {}
    zroot = Path(out_dir) / ZARR_DIR
    for comp in sorted(zroot.glob("*.zarr")):
        name = comp.name[: -len(".zarr")]
        nodes[f"/{name}"] = xr.Dataset(attrs={"source_dataset": name})
        for subject, session in stored_sessions(out_dir, name):
            counts = open_session(out_dir, name, subject, session)
            nodes[f"/{name}/{subject}/{session}"] = xr.Dataset({"spike_counts": counts}, attrs=counts.attrs)
    return xr.DataTree.from_dict(nodes)
