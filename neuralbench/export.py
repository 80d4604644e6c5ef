"""zarr -> a Hugging Face parquet dataset folder per component, streamed segment by segment.

Two steps, so that no task holds a whole component: :func:`export_session` writes
one session's rows as parquet parts into a staging folder as soon as the session
is stored (joining the one-row files its block tasks encoded, see
:mod:`neuralbench.segment_rows`, or encoding them from zarr where there are none);
:func:`assemble_component` links the parts of every session, in build
order, into the component folder with its manifest; :func:`write_component_card`
adds the card (a task of its own, so that the merge need not wait for it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from neuralbench.card import write_card
from neuralbench.layout import BuildLayout, SegmentKey, SessionKey, partial_path
from neuralbench.rowgroups import copy_row_groups
from neuralbench.segment_rows import SegmentRows, fingerprint, row_nbytes, rows_dir, segment_files
from neuralbench.segments import segment_ids
from neuralbench.shards import DEFAULT_SHARD_BYTES, shard_name
from neuralbench.store import iter_segments, session_attrs

__all__ = [
    "MANIFEST",
    "assemble_component",
    "component_dir",
    "export_session",
    "open_partial",
    "partial_dir",
    "read_manifest",
    "read_staged",
    "segment_rows",
    "staging_dir",
    "swap_in",
    "write_component_card",
]

logger = logging.getLogger(__name__)

MANIFEST = ".neuralbench.json"
"""Hidden file beside the data: what the folder was built from (a rerun compares it)."""
STAGED = "staged.json"


def component_dir(out_dir: str | os.PathLike[str] | BuildLayout, name: str) -> Path:
    """``OUT/components/<name>``."""
    return BuildLayout.of(out_dir).component_dir(name)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a finished folder, or None."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def staging_dir(layout: BuildLayout, key: SessionKey) -> Path:
    """``OUT/components/.staging/<component>/<subject>/<session>``: a session's parquet parts."""
    return layout.session_staging(key)


def segment_rows(layout: BuildLayout, key: SessionKey, attrs: Mapping[str, Any]) -> SegmentRows:
    """What the block tasks of a session written with ``attrs`` call to encode its rows.

    Pass it to :func:`neuralbench.pipeline.graph.write_session`; :func:`export_session` then
    finds the rows, once the session is committed with the same attrs.
    """
    folder = rows_dir(layout, key, attrs)
    return SegmentRows(str(folder), *key, attrs.get("segment_bins") or [])


def export_session(
    layout: BuildLayout,
    key: SessionKey,
    *,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> dict[str, Any]:
    """Write one stored session's rows (segments in order) as bounded parquet parts.

    Runs as soon as the session is committed, so exporting overlaps the other
    sessions' writes. The rows its block tasks encoded (:func:`segment_rows`) are
    joined without decoding; a session stored without them (an earlier build) is
    read back from zarr and encoded. The parts go to :func:`staging_dir` with a
    sidecar (``staged.json``: the session's fingerprint, its rows, tokens and part
    names); the folder is written under a ``.partial`` name beside ``components/``
    and renamed into place when whole. A staged folder whose sidecar matches the
    zarr attrs is reused as is.

    Returns
    -------
    dict
        The sidecar.
    """
    final = layout.session_staging(key)
    attrs = session_attrs(layout, *key) or {}
    params = {"input": fingerprint(key.subject, key.session, attrs), "max_shard_bytes": max_shard_bytes}
    done = read_staged(final)
    if done is not None and {k: done.get(k) for k in params} == params:
        return done
    rows = rows_dir(layout, key, attrs)
    bounds = attrs.get("segment_bins") or [[0, attrs.get("n_bins", 0)]]
    tmp = layout.staged_partial(uuid.uuid4().hex)
    try:
        files = segment_files(rows, len(bounds)) or _rows_from_store(layout, key, attrs, bounds)
        n_units = attrs["n_units"]
        segments = zip(segment_ids(len(bounds)), bounds, strict=True)
        sizes = [row_nbytes(n_units, b - a, SegmentKey(key, seg).columns) for seg, (a, b) in segments]
        n_rows = _join_rows(tmp, files, sizes, max_shard_bytes)
        tokens = sum(n_units * (b - a) for a, b in bounds)
        parts = sorted(p.name for p in tmp.glob("part-*.parquet"))
        staged = dict(params, rows=n_rows, tokens=int(tokens), parts=parts)
        (tmp / STAGED).write_text(json.dumps(staged, indent=1, sort_keys=True))
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(rows, ignore_errors=True)  # joined into the parts
    return staged


def _rows_from_store(
    layout: BuildLayout, key: SessionKey, attrs: Mapping[str, Any], bounds: Sequence[Sequence[int]]
) -> list[Path]:
    """The one-row files of a session stored without them (an earlier build), encoded from zarr
    by the block tasks' encoder, one segment (one chunk) at a time."""
    if "n_units" not in attrs:
        raise FileNotFoundError(errno.ENOENT, "no stored session to export", str(layout.session_group(key)))
    encode = segment_rows(layout, key, attrs)
    for (_, counts), (start, _) in zip(iter_segments(layout, *key), bounds, strict=True):
        encode(start, counts)
    files = segment_files(Path(encode.folder), len(bounds))
    if files is None:  # a segment the store did not give back
        raise FileNotFoundError(errno.ENOENT, "not every segment was encoded", encode.folder)
    return files


def _join_rows(tmp: Path, files: list[Path], sizes: list[int], max_shard_bytes: int) -> int:
    """Parts joined from one-row files in order, each closed once it holds ``max_shard_bytes``."""
    groups: list[list[Path]] = [[]]
    filled = 0
    for path, size in zip(files, sizes, strict=True):
        if groups[-1] and filled >= max_shard_bytes:
            groups.append([])
            filled = 0
        groups[-1].append(path)
        filled += size
    tmp.mkdir(parents=True)
    for i, group in enumerate(groups):
        copy_row_groups([(f, 0) for f in group], tmp / shard_name("part", i, len(groups)))
    return len(files)


def read_staged(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar of a staged session whose parts are all there, or None."""
    try:
        staged = json.loads((Path(folder) / STAGED).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    if not all((Path(folder) / p).is_file() for p in staged.get("parts", [None])):
        return None
    return staged


def assemble_component(
    layout: BuildLayout,
    component: str,
    sessions: Sequence[SessionKey],
    *,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> dict[str, Any]:
    """Assemble ``OUT/components/<component>/`` from the staged parts of ``sessions``, in order.

    Cheap: the parts are hard-linked (copied where links fail) as
    ``data/train-{i:05d}-of-{N:05d}.parquet``, then the manifest is written and the
    folder swapped in (its card follows: :func:`write_component_card`). A session
    not staged (or staged from other zarr attrs) is exported here first, so this
    alone is also the serial export. Staged folders of sessions no longer in the
    component are removed. Nothing is rewritten when the manifest already matches
    the stored sessions. Every key of ``sessions`` is one of ``component``.
    """
    strays = [str(k) for k in sessions if k.component != component]
    if strays:
        raise ValueError(f"{component}: sessions of another component given to assemble: {strays[:3]}")
    final = layout.component_dir(component)
    inputs = [_fingerprint(layout, key) for key in sessions]
    done = read_manifest(final)
    if done is None or done.get("inputs") != inputs:
        staged = [
            (layout.session_staging(key), export_session(layout, key, max_shard_bytes=max_shard_bytes))
            for key in sessions
        ]
        with partial_dir(final) as tmp:
            done = _assemble(tmp, component, staged, inputs)
    else:
        logger.info("%s: parquet is up to date", component)
    _prune_staging(layout, component, sessions)
    return done


def _assemble(tmp: Path, name: str, staged: list[tuple[Path, dict]], inputs: list) -> dict[str, Any]:
    """Linked shards and manifest of a component, written into ``tmp``."""
    parts = [folder / p for folder, s in staged for p in s["parts"]]
    (tmp / "data").mkdir()
    for i, part in enumerate(parts):
        _link_or_copy(part, tmp / "data" / shard_name("train", i, len(parts)))
    manifest = {
        "name": name,
        "rows": sum(s["rows"] for _, s in staged),
        "tokens": sum(s["tokens"] for _, s in staged),
        "sessions": len(staged),
        "inputs": inputs,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def write_component_card(layout: BuildLayout, component: str, card: Mapping[str, Any]) -> Path:
    """The card (README.md and raster) of the assembled ``component``, unless it has one.

    An assembled folder is new whenever its data changed, so a card already there
    describes the data beside it; a card missing (its task was cut short) is
    written on the next build.
    """
    folder = layout.component_dir(component)
    path = folder / "README.md"
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(errno.ENOENT, "component not assembled (no manifest)", str(folder))
    if path.exists():
        return path
    return write_card(
        folder,
        title=f"neuralbench component: {component}",
        summary=card.get("summary", ""),
        splits={"train": manifest["rows"]},
        components=[dict(card, sessions=manifest["sessions"], tokens=manifest["tokens"])],
        built_with=card.get("built_with", "neuralbench"),
        store=layout.out_dir,
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no bytes written: parts are never rewritten in place), a copy where not allowed."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _prune_staging(layout: BuildLayout, component: str, sessions: Sequence[SessionKey]) -> None:
    """Remove staged folders of sessions the component no longer holds (failed, renamed, gone)."""
    root = layout.component_staging(component)
    keep = {layout.session_staging(key) for key in sessions}
    for folder in root.glob("*/*"):
        if folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    for subject in root.glob("*"):
        with contextlib.suppress(OSError):
            subject.rmdir()  # only when empty


@contextlib.contextmanager
def partial_dir(final: Path) -> Iterator[Path]:
    """A fresh ``.<name>.partial`` folder beside ``final``, swapped in when the block ends.

    When the block raises (a full disk, a bad row), the partial folder is removed:
    a failed stage leaves nothing half-written, and ``final`` keeps what it held.
    """
    tmp = open_partial(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, final)


def open_partial(final: str | os.PathLike[str]) -> Path:
    """A fresh, empty ``.<name>.partial`` folder beside ``final`` (a leftover is removed)."""
    tmp = partial_path(final)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def swap_in(tmp: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Replace ``final`` by the finished folder ``tmp``."""
    if Path(final).exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _fingerprint(layout: BuildLayout, key: SessionKey) -> list[Any]:
    return fingerprint(key.subject, key.session, session_attrs(layout, *key) or {})
