"""zarr -> a Hugging Face parquet dataset folder per component, streamed segment by segment."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from neuralbench.card import write_card
from neuralbench.schema import segment_table
from neuralbench.shards import DEFAULT_SHARD_BYTES, ShardWriter
from neuralbench.store import iter_segments, session_attrs

__all__ = ["MANIFEST", "component_dir", "export_component", "partial_dir", "read_manifest"]

logger = logging.getLogger(__name__)

COMPONENTS_DIR = "components"
MANIFEST = ".neuralbench.json"
"""Hidden file beside the data: what the folder was built from (a rerun compares it)."""


def component_dir(out_dir: str | os.PathLike[str], name: str) -> Path:
    """``OUT/components/<name>``."""
    return Path(out_dir) / COMPONENTS_DIR / name


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a finished folder, or None."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def export_component(
    out_dir: str | os.PathLike[str],
    name: str,
    sessions: Sequence[tuple[str, str]],
    *,
    card: Mapping[str, Any],
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> dict[str, Any]:
    """Write ``OUT/components/<name>/`` from the stored sessions, in the given order.

    Only one segment is in memory at a time. The folder is built under a
    temporary name and swapped in when complete; when its manifest already
    matches the stored sessions, nothing is rewritten.

    Returns
    -------
    dict
        The manifest: rows, tokens and the fingerprint of each session.
    """
    final = component_dir(out_dir, name)
    inputs = [_fingerprint(out_dir, name, s, p) for s, p in sessions]
    done = read_manifest(final)
    if done is not None and done.get("inputs") == inputs:
        logger.info("%s: parquet is up to date", name)
        return done
    with partial_dir(final) as tmp:
        manifest = _write_component(tmp, out_dir, name, sessions, inputs, card, max_shard_bytes)
    return manifest


@contextlib.contextmanager
def partial_dir(final: Path) -> Iterator[Path]:
    """A fresh ``.<name>.partial`` folder beside ``final``, swapped in when the block ends.

    When the block raises (a full disk, a bad row), the partial folder is removed:
    a failed stage leaves nothing half-written, and ``final`` keeps what it held.
    """
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _write_component(tmp, out_dir, name, sessions, inputs, card, max_shard_bytes) -> dict[str, Any]:
    """Shards, card and manifest of a component, written into ``tmp``."""
    rows = tokens = 0
    with ShardWriter(tmp / "data", "train", max_shard_bytes) as writer:
        for subject, session in sessions:
            for seg_id, counts in iter_segments(out_dir, name, subject, session):
                writer.write(segment_table(counts, subject, session, seg_id, name))
                tokens += counts.size
        rows = writer.rows
    nbytes = sum(p.stat().st_size for p in (tmp / "data").glob("*.parquet"))
    summary = dict(card, sessions=len(sessions), tokens=tokens)
    write_card(
        tmp,
        title=f"neuralbench component: {name}",
        summary=card.get("summary", ""),
        splits={"train": (rows, nbytes)},
        components=[summary],
        built_with=card.get("built_with", "neuralbench"),
    )
    manifest = {
        "name": name,
        "rows": rows,
        "tokens": tokens,
        "sessions": len(sessions),
        "inputs": inputs,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _fingerprint(out_dir, name: str, subject: str, session: str) -> list[Any]:
    attrs = session_attrs(out_dir, name, subject, session) or {}
    return [
        subject,
        session,
        attrs.get("source_sha256"),
        attrs.get("recipe_token"),
        attrs.get("tokens"),
    ]
