"""Recheck a finished build: report, zarr store, component parquet and corpus agree.

``verify_build(OUT)`` reads ``OUT/report.json`` and checks, one segment at a time:
every built session has its zarr array and exactly its rows (``segment_0`` ...
``segment_{k-1}``, each once, equal to the array's chunk), failed sessions have
neither, tokens agree from sessions to components to the corpus, the corpus holds
every component row exactly once, and nothing stray (``*.partial`` leftovers,
arrays or folders the report does not know) lies in ``OUT``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from neuralbench import store
from neuralbench.export import read_manifest
from neuralbench.layout import PARTIAL, BuildLayout, SegmentKey, SessionKey
from neuralbench.schema import ID_COLUMNS
from neuralbench.segments import segment_ids

__all__ = ["Verification", "verify_build"]

logger = logging.getLogger(__name__)

_SHARD = re.compile(r"(train|test)-\d{5}-of-\d{5}\.parquet")
_OK = ("built", "skipped")


@dataclass
class Verification:
    """What :func:`verify_build` found: ``problems`` is empty when the build is sound."""

    out_dir: Path
    problems: list[str] = field(default_factory=list)
    sessions: int = 0
    rows: int = 0
    tokens: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: str | os.PathLike[str], message: str) -> None:
        self.problems.append(f"{path}: {message}")


def verify_build(out_dir: str | os.PathLike[str] | BuildLayout, *, values: bool = True) -> Verification:
    """Recheck the build in ``out_dir`` against its ``report.json``.

    Parameters
    ----------
    out_dir
        The ``OUT`` folder of ``build_all``.
    values
        Also compare every row's counts with its zarr chunk and the corpus rows with
        the component rows (reads everything once); ``False`` checks ids, shapes
        and token counts only.

    Returns
    -------
    Verification
        ``ok`` when nothing is wrong; otherwise ``problems``, each naming a path.
    """
    out = BuildLayout.of(out_dir)
    result = Verification(out.out_dir)
    try:
        report = json.loads(out.report.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        result.add(out.report, f"no readable report ({exc})")
        return result
    entries = {
        SessionKey(s["component"], s["subject_id"], s["session_id"]): s for s in report.get("sessions", [])
    }
    digests: Counter[tuple[Any, ...]] = Counter()
    for name, comp in report.get("components", {}).items():
        mine = {k: e for k, e in entries.items() if k[0] == name}
        _check_component(result, out, name, comp, mine, digests, values)
    _check_corpus(result, out, report.get("corpus", {}), digests, values)
    _check_strays(result, out, entries, report.get("components", {}))
    for msg in result.problems:
        logger.error("%s", msg)
    return result


def _check_component(
    result, out: BuildLayout, name: str, comp: dict, entries: dict, digests: Counter, values: bool
):
    ok = {k: e for k, e in entries.items() if e.get("status") in _OK}
    for key, entry in entries.items():
        path = out.session_group(key)
        status = entry.get("status")
        if status in _OK:
            result.sessions += 1
            attrs = store.session_attrs(out, *key)
            if attrs is None:
                result.add(path, f"session is {status} in the report but has no zarr group")
                continue
            n_units, n_bins = attrs.get("n_units"), attrs.get("n_bins")
            if not (attrs.get("tokens") == entry.get("tokens") == (n_units or 0) * (n_bins or 0)):
                result.add(
                    path, f"tokens disagree: report {entry.get('tokens')}, zarr attrs {attrs.get('tokens')}"
                )
            if len(attrs.get("segment_bins", [])) != entry.get("segments"):
                result.add(
                    path, f"report says {entry.get('segments')} segments, zarr {attrs.get('segment_bins')}"
                )
        elif status == "failed":
            if not entry.get("error"):
                result.add(path, "failed in the report without a reason")
            if path.exists():
                result.add(path, "failed in the report but has a zarr array")
        else:
            result.add(path, f"session status {status!r}: the build did not finish it")
    folder = out.component_dir(name)
    manifest = read_manifest(folder)
    if not ok:
        return
    if manifest is None:
        result.add(folder, "component has built sessions but no finished parquet folder")
        return
    rows, tokens = _check_rows(result, out, name, folder, ok, digests, values)
    if (manifest.get("rows"), manifest.get("tokens"), manifest.get("sessions")) != (rows, tokens, len(ok)):
        result.add(
            folder,
            f"manifest says {manifest.get('rows')} rows, {manifest.get('tokens')} tokens, "
            f"{manifest.get('sessions')} sessions; found {rows}, {tokens}, {len(ok)}",
        )
    want = sum(e.get("tokens", 0) for e in ok.values())
    if not (tokens == want == comp.get("tokens")):
        result.add(folder, f"tokens disagree: rows {tokens}, sessions {want}, report {comp.get('tokens')}")


def _iter_rows(files: list[Path]):
    """``(file, ids dict, counts)`` for each row, one row group at a time."""
    for path in files:
        pf = pq.ParquetFile(path)
        for rg in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(rg).to_pydict()
            for i in range(len(table["session_id"])):
                ids = {k: table[k][i] for k in ("source_dataset", "subject_id", "session_id", "segment_id")}
                yield path, ids, table["spike_counts"][i]


def _as_array(path: Path, rows: list) -> np.ndarray | None:
    try:
        return np.asarray(rows, dtype=np.uint8).reshape(len(rows), -1)
    except ValueError:
        return None  # ragged: units of unequal length


def _check_rows(result, out, name, folder, ok, digests, values) -> tuple[int, int]:
    files = sorted((folder / "data").glob("*.parquet"))
    seen: dict[SessionKey, list[str]] = {k: [] for k in ok}
    rows = tokens = 0
    for path, ids, raw in _iter_rows(files):
        rows += 1
        key = SessionKey(ids["source_dataset"], ids["subject_id"], ids["session_id"])
        counts = _as_array(path, raw)
        if counts is None:
            result.add(path, f"row {ids} is ragged, not units x bins")
            continue
        tokens += counts.size
        if key not in seen:
            result.add(path, f"row {ids} belongs to no built session of {name}")
            continue
        seen[key].append(ids["segment_id"])
        digests[_row_digest(ids, counts, values)] += 1
        if values:
            _compare_chunk(result, out, key, ids["segment_id"], counts, path)
    for key, segs in seen.items():
        want = segment_ids(ok[key].get("segments", 0))
        if segs != want:
            result.add(folder, f"session {key.subject}/{key.session} has rows {segs}, expected {want}")
    return rows, tokens


def _compare_chunk(result, out, key: SessionKey, segment_id: str, counts: np.ndarray, path: Path) -> None:
    if store.session_attrs(out, *key) is None:
        return  # named already: the session has no array
    stored = store.read_segment(out, *key, segment_id)
    if stored is None:
        result.add(path, f"{key.subject}/{key.session} has no {segment_id} in the zarr store")
        return
    if not np.array_equal(stored, counts):
        result.add(path, f"{key.subject}/{key.session} {segment_id} differs from its zarr chunk")


def _row_digest(ids: dict, counts: np.ndarray, values: bool) -> tuple[Any, ...]:
    """``(segment key, shape, content)`` of a row: the same row in a component and the corpus."""
    key = SegmentKey.from_columns(*(ids[c] for c in ID_COLUMNS))
    body = hashlib.blake2b(counts.tobytes(), digest_size=16).hexdigest() if values else counts.size
    return (key, counts.shape, body)


def _check_corpus(result, out: BuildLayout, corpus: dict, digests: Counter, values: bool) -> None:
    folder = out.corpus_dir
    if "rows" not in corpus:
        if folder.exists():
            result.add(folder, "corpus folder exists but the report has no corpus")
        return
    manifest = read_manifest(folder)
    if manifest is None:
        result.add(folder, "the report lists a corpus but the folder has no manifest")
        return
    found: Counter[tuple[Any, ...]] = Counter()
    rows = {"train": 0, "test": 0}
    for split in rows:
        files = sorted((folder / "data").glob(f"{split}-*.parquet"))
        for path, ids, raw in _iter_rows(files):
            rows[split] += 1
            counts = _as_array(path, raw)
            if counts is not None:
                found[_row_digest(ids, counts, values)] += 1
    result.rows = sum(rows.values())
    result.tokens = sum(int(np.prod(d[-2])) for d in found.elements())
    if rows != corpus["rows"] or rows != manifest.get("rows"):
        result.add(folder, f"rows {rows}, report {corpus['rows']}, manifest {manifest.get('rows')}")
    doubled = [k for k, n in found.items() if n > 1]
    missing = list((digests - found).elements())
    extra = list((found - digests).elements())
    for what, items in (("twice or more", doubled), ("missing", missing), ("not in any component", extra)):
        if items:
            names = ", ".join(str(d[0]) for d in items[:5])
            result.add(folder, f"{len(items)} rows {what}: {names}")
    if not (result.tokens == corpus.get("tokens") == manifest.get("tokens")):
        result.add(
            folder,
            f"tokens {result.tokens}, report {corpus.get('tokens')}, manifest {manifest.get('tokens')}",
        )


def _check_strays(result, out: BuildLayout, entries: dict, components: dict) -> None:
    for path in sorted(out.out_dir.rglob(f"*{PARTIAL}")):
        result.add(path, "temporary file left behind")
    known = {k for k, e in entries.items() if e.get("status") in _OK}
    for name in store.stored_components(out):
        for key in store.stored_sessions(out, name):
            if key not in known:
                result.add(
                    out.session_group(key), "zarr group of a session the report does not list as built"
                )
    for folder in sorted(out.components_dir.glob("*")):
        if folder.name not in components and folder != out.staging_dir:
            result.add(folder, "component folder the report does not list")
    for data in [*out.components_dir.glob("*/data"), out.corpus_dir / "data"]:
        for path in sorted(data.glob("*")) if data.is_dir() else []:
            if not _SHARD.fullmatch(path.name) or (
                data.parent != out.corpus_dir and path.name.startswith("test")
            ):
                result.add(path, "stray file among the parquet shards")
