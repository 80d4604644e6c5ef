"""Parquet files assembled from other files' encoded row groups, without decoding a value.

Every row of the corpus is its own row group, so a shard of the merge (or a
session's part of a component) is a sequence of row groups that already exist,
encoded, in other files. :func:`copy_row_groups` copies their bytes (in the
kernel where it can: ``os.copy_file_range``) and writes a new footer: the first
source's file metadata (schema, ``ARROW:schema`` and ``huggingface`` keys,
column orders) with the copied row groups' metadata, every file offset moved to
where the bytes now are. Nothing is decoded or re-encoded, so each row is
parquet-encoded exactly once in a build, and the rows read back are the
sources' rows, bit for bit.

Field ids are those of ``parquet.thrift`` (apache/parquet-format). Page indexes
and bloom filters live outside the row groups and are not copied: their fields
are dropped from the copied metadata (the corpus writers write neither).
Encrypted files are refused.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neuralbench._parquet_ids import (
    CC_DROPPED,
    CC_ENCRYPTED,
    CC_FILE_OFFSET,
    CC_META,
    CM_COMPRESSED,
    CM_DATA_PAGE,
    CM_DICT_PAGE,
    CM_DROPPED,
    CM_INDEX_PAGE,
    FM_ENCRYPTION,
    FM_KV,
    FM_NUM_ROWS,
    FM_ROW_GROUPS,
    FM_SCHEMA,
    RG_COLUMNS,
    RG_FILE_OFFSET,
    RG_NUM_ROWS,
    RG_ORDINAL,
)
from neuralbench._thrift import I16, I64, LIST, STRUCT, Field, decode_struct, encode_struct, get

__all__ = ["Footer", "chunk_span", "copy_row_groups", "decode_footer", "moved_chunk", "read_footer"]

MAGIC = b"PAR1"


@dataclass
class Footer:
    """A parquet file's decoded footer: its file metadata and where each row group's bytes are."""

    path: Path
    meta: list[Field]
    spans: list[tuple[int, int]]  # (start, stop) of each row group's bytes

    @property
    def row_groups(self) -> list[list[Field]]:
        return get(self.meta, FM_ROW_GROUPS, (STRUCT, []))[1]

    def layout_key(self) -> bytes:
        """What every file joined into one must share: schema and key-value metadata."""
        return encode_struct([f for f in self.meta if f.id in (FM_SCHEMA, FM_KV)])


def read_footer(path: str | os.PathLike[str]) -> Footer:
    """The footer of the parquet file ``path``.

    Raises
    ------
    ValueError
        Not a parquet file, an encrypted one, or one whose footer does not decode;
        the message starts with the file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(size - (64 << 10), 0))
        data = f.read()
    return decode_footer(data, path, size)


def decode_footer(data: bytes, path: str | os.PathLike[str], size: int | None = None) -> Footer:
    """The footer at the end of ``data``: a whole parquet file, or its last ``len(data)`` of
    ``size`` bytes (a footer over 64 KiB is read again from ``path``). ``path`` names the file
    in errors."""
    path = Path(path)
    size = len(data) if size is None else size
    if size < 12:
        raise ValueError(f"{path}: not a parquet file ({size} bytes)")
    (length,) = struct.unpack("<i", data[-8:-4])
    if data[-4:] != MAGIC or not 0 < length <= size - 12:
        raise ValueError(f"{path}: not a parquet file (no plain PAR1 footer)")
    if length + 8 > len(data):
        with open(path, "rb") as f:
            f.seek(size - 8 - length)
            data = f.read(length + 8)
    try:
        meta, _ = decode_struct(data[-8 - length : -8])
    except ValueError as exc:
        raise ValueError(f"{path}: parquet footer does not decode: {exc}") from exc
    if any(get(meta, i) is not None for i in FM_ENCRYPTION):
        raise ValueError(f"{path}: encrypted parquet footers are not copied")
    footer = Footer(path, meta, [])
    footer.spans = [_span(path, rg) for rg in footer.row_groups]
    return footer


def chunk_span(meta: list[Field]) -> tuple[int, int]:
    """First and past-the-last byte of a column chunk, from its ColumnMetaData."""
    data, dictionary = get(meta, CM_DATA_PAGE), get(meta, CM_DICT_PAGE)
    start = dictionary if dictionary is not None and 0 < dictionary < data else data
    return start, start + get(meta, CM_COMPRESSED)


def _span(path: Path, group: list[Field]) -> tuple[int, int]:
    """First and past-the-last byte of a row group's column chunks."""
    starts, stops = [], []
    for chunk in get(group, RG_COLUMNS, (STRUCT, []))[1]:
        if any(get(chunk, i) is not None for i in CC_ENCRYPTED):
            raise ValueError(f"{path}: encrypted column chunks are not copied")
        meta = get(chunk, CC_META)
        if meta is None:
            raise ValueError(f"{path}: a column chunk without metadata (in another file?)")
        start, stop = chunk_span(meta)
        starts.append(start)
        stops.append(stop)
    if not starts:
        raise ValueError(f"{path}: a row group without columns")
    return min(starts), max(stops)


def _moved(group: list[Field], delta: int, ordinal: int) -> list[Field]:
    """A row group's metadata with every file offset moved by ``delta`` bytes."""
    out = []
    for f in group:
        if f.id == RG_COLUMNS:
            out.append(Field(f.id, LIST, (STRUCT, [moved_chunk(c, delta) for c in f.value[1]])))
        elif f.id == RG_FILE_OFFSET:
            out.append(Field(f.id, I64, f.value + delta))
        elif f.id == RG_ORDINAL:
            continue  # set below, for its new place
        else:
            out.append(f)
    if ordinal < 2**15:
        out.append(Field(RG_ORDINAL, I16, ordinal))
    return sorted(out, key=lambda f: f.id)


def moved_chunk(chunk: list[Field], delta: int) -> list[Field]:
    """A ColumnChunk, its file offsets moved by ``delta`` bytes, page indexes and bloom filters dropped."""
    out = []
    for f in chunk:
        if f.id in CC_DROPPED:
            continue
        if f.id == CC_FILE_OFFSET and f.value > 0:
            f = Field(f.id, I64, f.value + delta)
        elif f.id == CC_META:
            meta = [
                Field(m.id, I64, m.value + delta)
                if m.id in (CM_DATA_PAGE, CM_INDEX_PAGE, CM_DICT_PAGE) and m.value > 0
                else m
                for m in f.value
                if m.id not in CM_DROPPED
            ]
            f = Field(f.id, STRUCT, meta)
        out.append(f)
    return out


def _copy_range(src, dst, start: int, length: int) -> None:
    """``length`` bytes of ``src`` from ``start``, appended to ``dst`` (both raw file objects)."""
    copy = getattr(os, "copy_file_range", None)
    while length > 0:
        n = 0
        if copy is not None:
            try:
                n = copy(src.fileno(), dst.fileno(), length, start)
            except OSError:
                copy = None  # another filesystem, or no such system call: read and write
        if not n:
            src.seek(start)
            n = dst.write(src.read(min(length, 8 << 20)))
            if not n:
                raise OSError(f"{src.name}: file ends before byte {start + length}")
        start += n
        length -= n


def copy_row_groups(
    sources: Iterable[tuple[str | os.PathLike[str], int]],
    dest: str | os.PathLike[str],
    *,
    footers: dict[str, Footer] | None = None,
) -> int:
    """Write ``dest`` from row groups of other parquet files, ``(path, row group)``, in order.

    The files must share their schema and key-value metadata (the corpus writer's);
    ``dest``'s file metadata is the first source's with the copied row groups.
    ``footers`` caches decoded footers by path across calls. Returns the rows written.

    Raises
    ------
    ValueError
        No source, a source that is not a plain parquet file, or sources of
        different schemas; the message names the file.
    """
    footers = {} if footers is None else footers
    picked: list[tuple[Footer, int]] = []
    for path, k in sources:
        key = os.fspath(path)
        if key not in footers:
            footers[key] = read_footer(key)
        picked.append((footers[key], k))
    if not picked:
        raise ValueError(f"{dest}: no row group to copy")
    first = picked[0][0]
    layout = first.layout_key()
    for footer, _ in picked:
        if footer.layout_key() != layout:
            raise ValueError(f"{footer.path}: schema differs from {first.path}'s; its row groups cannot join")
    groups, rows = _write_groups(picked, Path(dest))
    replaced = {
        FM_NUM_ROWS: Field(FM_NUM_ROWS, I64, rows),
        FM_ROW_GROUPS: Field(FM_ROW_GROUPS, LIST, (STRUCT, groups)),
    }
    meta = [replaced.get(f.id, f) for f in first.meta]
    footer = encode_struct(meta)
    with open(dest, "ab") as out:
        out.write(footer + struct.pack("<i", len(footer)) + MAGIC)
    return rows


def _write_groups(picked: Sequence[tuple[Footer, int]], dest: Path) -> tuple[list[list[Field]], int]:
    """Copy the row groups' bytes after the magic; their moved metadata and the rows."""
    groups: list[list[Field]] = []
    rows = 0
    handles: dict[Path, object] = {}
    try:
        with open(dest, "wb", buffering=0) as out:
            out.write(MAGIC)
            pos = len(MAGIC)
            for footer, k in picked:
                if not 0 <= k < len(footer.spans):
                    raise ValueError(f"{footer.path}: no row group {k} (it has {len(footer.spans)})")
                start, stop = footer.spans[k]
                if footer.path not in handles:
                    handles[footer.path] = open(footer.path, "rb", buffering=0)  # noqa: SIM115
                _copy_range(handles[footer.path], out, start, stop - start)
                groups.append(_moved(footer.row_groups[k], pos - start, len(groups)))
                rows += get(footer.row_groups[k], RG_NUM_ROWS, 0)
                pos += stop - start
    finally:
        for handle in handles.values():
            handle.close()  # type: ignore[attr-defined]
    return groups, rows
