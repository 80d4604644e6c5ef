"""A session's parquet rows, encoded by the block tasks while the binned counts are in memory.

A block task bins a block, saturates it and writes it to zarr; with a
:class:`SegmentRows` it then also encodes each of the block's segments as a
one-row parquet file, so the export never reads the counts back from zarr nor
decodes anything: :func:`neuralbench.export.export_session` only joins these
files' row groups into the session's parts.

The files go to a folder named after the session's fingerprint (source digest,
recipe token, tokens, reader version), so rows left by an older build of the
session, or by a write that never committed, are never taken for this one's.
Each file is written under a partial name and renamed when whole; its counts are
encoded by :mod:`neuralbench.row_parquet` straight from the block.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralbench.layout import PARTIAL, BuildLayout, SessionKey
from neuralbench.row_parquet import write_row
from neuralbench.segments import segment_ids

__all__ = ["SegmentRows", "fingerprint", "row_nbytes", "rows_dir", "segment_files"]


def fingerprint(subject: str, session: str, attrs: Mapping[str, Any]) -> list[Any]:
    """What a session's rows depend on, from its attrs (zarr's, or those it is written with)."""
    return [
        subject,
        session,
        attrs.get("source_sha256"),
        attrs.get("recipe_token"),
        attrs.get("tokens"),
        attrs.get("reader_version", 1),
    ]


def rows_dir(layout: BuildLayout, key: SessionKey, attrs: Mapping) -> Path:
    """``OUT/components/.staging/<component>/<subject>/.<session>.rows-<fingerprint digest>``."""
    text = json.dumps(fingerprint(key.subject, key.session, attrs), sort_keys=True).encode()
    return layout.rows_dir(key, hashlib.sha256(text).hexdigest()[:16])


def segment_files(folder: Path, n_segments: int) -> list[Path] | None:
    """The session's ``n_segments`` row files in segment order, or None unless all are there."""
    files = [folder / f"{seg_id}.parquet" for seg_id in segment_ids(n_segments)]
    return files if all(f.is_file() for f in files) else None


def row_nbytes(n_units: int, n_bins: int, ids: Sequence[str]) -> int:
    """``segment_table(...).nbytes`` of a segment, without building it: what bounds a part.

    Counts, the units' int32 list offsets, and each id's UTF-8 bytes plus its offset.
    """
    return n_units * n_bins + 4 * (n_units + 1) + sum(len(s.encode()) + 4 for s in ids)


@dataclass(frozen=True)
class SegmentRows:
    """Encode a written block's segments as one-row parquet files: ``store.write_block``'s ``on_block``.

    ``segment_bins``: ``[start, stop)`` of every segment of the session, in bins; a
    block holds whole segments.
    """

    folder: str
    name: str
    subject: str
    session: str
    segment_bins: Sequence[Sequence[int]]

    def __call__(self, start: int, block: np.ndarray) -> None:
        stop = start + block.shape[1]
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        bounds = self.segment_bins or [[0, block.shape[1]]]
        for seg_id, (a, b) in zip(segment_ids(len(bounds)), bounds, strict=True):
            if start <= a < stop:
                counts = block[:, a - start : b - start]
                path = folder / f"{seg_id}.parquet"
                tmp = folder / f".{seg_id}.{uuid.uuid4().hex}{PARTIAL}"  # a retried task may overlap
                try:
                    write_row(tmp, counts, (self.subject, self.session, seg_id, self.name))
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
