"""Where :func:`neuralbench.windowing.windows` reads segments: a build's zarr store, or parquet.

A source lists its segments in a fixed order (the same in every worker process),
reads one segment's counts, and fills in the shapes a plan needs. The zarr store
knows every shape from its attributes, so an epoch's length costs a few JSON
reads; a parquet row's shape is known only once it is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from neuralbench.errors import SourceError
from neuralbench.layout import BuildLayout, SegmentKey, SessionKey
from neuralbench.schema import ID_COLUMNS
from neuralbench.segments import segment_ids
from neuralbench.shards import parquet_rows
from neuralbench.windowing import Segment, UnitPolicy, windows_per_segment

__all__ = ["ParquetSource", "ZarrSource", "open_source"]


class ZarrSource:
    """The stored sessions of a build, one :class:`Segment` per zarr chunk (segment)."""

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        split: str | None,
        components: Sequence[str] | None,
        units: int,
        bins: int,
        policy: UnitPolicy,
    ) -> None:
        from neuralbench.catalog import MERGE_ORDER

        self.out_dir = str(out_dir)
        layout = BuildLayout.of(out_dir)
        keep = _split_of(layout, split)
        self.segments: list[Segment] = []
        for name in components or MERGE_ORDER:
            for key in _sessions(self.out_dir, name):
                if keep is not None and keep.get(key) != split:
                    continue
                self.segments.extend(self._segments(key, units, bins, policy))
        if not self.segments:
            raise SourceError(layout.zarr_dir, f"no stored segment{_in(split, components)}")

    def _segments(self, key: SessionKey, units: int, bins: int, policy: UnitPolicy):
        from neuralbench.store import session_array, session_attrs

        attrs = session_attrs(self.out_dir, *key) or {}
        if "n_units" in attrs and "n_bins" in attrs:
            n_units, n_bins = int(attrs["n_units"]), int(attrs["n_bins"])
        else:  # a store written before these attrs: the array's shape
            n_units, n_bins = session_array(self.out_dir, *key).shape
        bounds = attrs.get("segment_bins") or [[0, n_bins]]
        for seg_id, (a, b) in zip(segment_ids(len(bounds)), bounds, strict=True):
            yield _segment(
                SegmentKey(key, seg_id),
                tokens=n_units * (b - a),
                weight=windows_per_segment(n_units, b - a, units, bins, policy),
                n_units=n_units,
                n_bins=b - a,
                start=a,
            )

    def read(self, segment: Segment) -> tuple[Segment, np.ndarray]:
        """The segment's counts: exactly its one zarr chunk."""
        from neuralbench.store import session_array

        start = segment.start or 0
        try:
            arr = session_array(self.out_dir, *segment.key[:3])
            return segment, np.asarray(arr[:, start : start + (segment.n_bins or 0)])
        except Exception as exc:  # zarr and its codecs raise many kinds (RuntimeError from blosc)
            session = "/".join(segment.key[:3])
            raise SourceError(
                self.out_dir, f"stored {session} {segment.segment_id}: unreadable ({exc})"
            ) from exc

    def shapes(self, segments: list[Segment]) -> list[Segment]:
        return segments


def _segment(key: SegmentKey, **fields: Any) -> Segment:
    """The plan's :class:`Segment` of the row ``key``."""
    component, subject, session = key.session
    return Segment(component, subject, session, key.segment, **fields)


def _sessions(out_dir: str, name: str) -> list[SessionKey]:
    from neuralbench.store import stored_sessions

    return stored_sessions(out_dir, name)


def _split_of(out: BuildLayout, split: str | None) -> dict[tuple[str, str, str], str] | None:
    """The corpus' split per session, or None when every session is wanted."""
    from neuralbench.merge import corpus_split

    if split is None:
        return None
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    table = corpus_split(out.corpus_dir)
    if "mixed" in table.values():
        raise SourceError(
            out.corpus_dir,
            "the corpus was split by row (split_by='row'): a session's rows are in both splits; "
            "read the corpus' parquet (windows(OUT/corpus, ...)) to keep to one split",
        )
    return table


def _in(split: str | None, components: Sequence[str] | None) -> str:
    where = f" in the {split} split" if split else ""
    return where + (f" of {', '.join(components)}" if components else "")


class ParquetSource:
    """The rows of a hub folder (``data/<split>-*.parquet``), local or a hub repository.

    One row is one segment; its shape and its first bin in the session are known
    once decoded (the segment rule: every segment but the last has segment_0's bins).
    """

    def __init__(
        self,
        files: list[str],
        opener: Callable[[str], Any],
        *,
        split: str | None,
        components: Sequence[str] | None,
        label: str,
    ) -> None:
        import pyarrow.parquet as pq

        self.files, self.opener = files, opener
        self._cache: dict[str, Any] = {}
        self._shape: dict[tuple[str, ...], tuple[int, int, int]] = {}
        self.first: dict[tuple[str, ...], tuple[int, int, int]] = {}  # session -> where is segment_0
        self.segments: list[Segment] = []
        for f, path in enumerate(files):
            wanted = split is None or Path(path).name.startswith(f"{split}-")
            for rg, r, ids, tokens in parquet_rows(pq.ParquetFile(opener(path)), ID_COLUMNS):
                key = SegmentKey.from_columns(*ids)
                if key.segment == "segment_0":
                    self.first[key.session] = (f, rg, r)
                if wanted and (not components or key.session.component in components):
                    self.segments.append(_segment(key, tokens=tokens, weight=tokens, where=(f, rg, r)))
        self.segments.sort(key=lambda s: s.key)
        if not self.segments:
            raise SourceError(label, f"no parquet row{_in(split, components)}")

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _cache={})  # open files stay in their process

    def _row(self, where: tuple[int, int, int]) -> np.ndarray:
        from neuralbench.viz import list_to_array

        f, rg, r = where
        path = self.files[f]
        if path not in self._cache:
            import pyarrow.parquet as pq

            self._cache[path] = pq.ParquetFile(self.opener(path))
        table = self._cache[path].read_row_group(rg, columns=["spike_counts"]).slice(r, 1)
        try:
            return list_to_array(table.column(0))
        except ValueError as exc:
            raise SourceError(
                path, f"row group {rg} row {r}: spike_counts is not units x bins ({exc})"
            ) from exc

    def read(self, segment: Segment) -> tuple[Segment, np.ndarray]:
        """Decode the segment's row; its shape and first bin filled in."""
        counts = self._row(segment.where)
        n_units, n_bins = counts.shape
        self._shape[segment.key] = (n_units, n_bins, self._start(segment, n_units, n_bins))
        return self._shaped(segment), counts

    def _start(self, segment: Segment, n_units: int, n_bins: int) -> int:
        index = int(segment.segment_id.rsplit("_", 1)[-1])
        if index == 0:
            return 0
        key0 = (*segment.key[:3], "segment_0")
        if key0 not in self._shape:
            first = self.first.get(segment.key[:3])
            if first is None:
                raise SourceError(
                    self.files[segment.where[0]], f"{segment.session_id}: no segment_0 to place it"
                )
            self._shape[key0] = (*self._row(first).shape, 0)
        return index * self._shape[key0][1]

    def _shaped(self, segment: Segment) -> Segment:
        n_units, n_bins, start = self._shape[segment.key]
        return replace(segment, n_units=n_units, n_bins=n_bins, start=start)

    def shapes(self, segments: list[Segment]) -> list[Segment]:
        """The segments with their shapes: each row not yet seen is decoded once (parquet has
        no shape metadata)."""
        for s in segments:
            if s.key not in self._shape:
                self.read(s)
        return [self._shaped(s) for s in segments]


def open_source(
    source: str | os.PathLike[str],
    *,
    split: str | None,
    components: Sequence[str] | None,
    units: int,
    bins: int,
    policy: UnitPolicy,
) -> ZarrSource | ParquetSource:
    """The source behind a build folder, a hub folder or a hub repository id."""
    path = Path(source)
    if path.is_dir():
        build = BuildLayout(path)
        if build.zarr_dir.is_dir():
            return ZarrSource(path, split=split, components=components, units=units, bins=bins, policy=policy)
        folder = path if (path / "data").is_dir() else build.corpus_dir
        files = sorted(str(p) for p in (folder / "data").glob("*.parquet"))
        if not files:
            raise SourceError(path, "neither a build (zarr/) nor a hub folder (data/*.parquet)")
        return ParquetSource(files, str, split=split, components=components, label=str(folder))
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise SourceError(path, "no such folder, and not a hub repository id (owner/name)")
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem()
    files = sorted(fs.glob(f"datasets/{source}/data/*.parquet"))
    if not files:
        raise SourceError(str(source), "no data/*.parquet files in this hub repository")
    return ParquetSource(files, fs.open, split=split, components=components, label=str(source))
