"""One segment row as a parquet file, its counts column chunk encoded here with numpy.

pyarrow's writer is general: for the nested ``list<list<uint8>>`` counts it
builds repetition and definition levels value by value and hashes every value to
build the dictionary, ~0.3 CPU-s per 10 M tokens, 80 % of a block task
(bench/README.md). A segment's shape makes all of that known in advance: no
nulls, so the levels are two runs per unit; values are uint8, so the dictionary
can be ``0..max`` and each value is its own index, bit-packed at the width of
``max``. Those pages, zstd-compressed by pyarrow's codec, cost ~0.03 CPU-s per
10 M tokens and are 2-8 % smaller than pyarrow's (no RLE runs in the way of
zstd).

Everything else is pyarrow's: it writes the row with a one-value placeholder for
the counts, and that file's id columns, schema, ``ARROW:schema`` and
``huggingface`` keys are kept byte for byte, with its counts chunk swapped for
this one. The pages are plain parquet-format v1 (PLAIN dictionary page,
RLE_DICTIONARY data page, RLE levels), the same kinds pyarrow writes for the
row, so pyarrow, ``datasets`` and duckdb read them (tests/test_row_parquet.py).
Segments with no unit or no bin are left to pyarrow whole.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from neuralbench import _parquet_ids as pq_ids
from neuralbench._thrift import BOOL, I32, I64, LIST, STRUCT, Field, encode_struct, get
from neuralbench.rowgroups import MAGIC, chunk_span, decode_footer, moved_chunk
from neuralbench.schema import segment_table
from neuralbench.shards import open_parquet

__all__ = ["encode_counts", "write_row"]

_CODEC = pa.Codec("zstd", compression_level=1)  # the level of WRITER_OPTIONS' "zstd"
_ZSTD, _PLAIN, _RLE, _RLE_DICTIONARY = 6, 0, 3, 8  # parquet.thrift enums
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_MAX_DEF = 5  # outer list, its element, inner list, its element, the value: all nullable in the schema
_PACK_STEP = 1 << 20  # values bit-packed at a time: bounds the uint64 temporaries to 1 MiB


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _rle_run(count: int, value: int) -> bytes:
    """An RLE run of the RLE/bit-packed hybrid, for levels of bit width <= 8."""
    return _varint(count << 1) + bytes([value])


def _levels(n_units: int, n_bins: int) -> bytes:
    """Repetition then definition levels of a ``(n_units, n_bins)`` row, each length-prefixed (v1).

    Repetition: 0 starts the row, 1 each further unit, 2 each further bin of a unit.
    Definition: every value is present (the maximum level).
    """
    runs = []
    for unit in range(n_units):
        runs.append(_rle_run(1, 0 if unit == 0 else 1))
        if n_bins > 1:
            runs.append(_rle_run(n_bins - 1, 2))
    rep = b"".join(runs)
    defs = _rle_run(n_units * n_bins, _MAX_DEF)
    return struct.pack("<i", len(rep)) + rep + struct.pack("<i", len(defs)) + defs


def _bitpack(values: np.ndarray, width: int) -> bytes:
    """``values`` (uint8, each < 2**width) bit-packed LSB first in groups of 8, as parquet packs them."""
    parts = []
    for start in range(0, values.size, _PACK_STEP):
        chunk = values[start : start + _PACK_STEP]
        pad = -chunk.size % 8
        if pad:
            chunk = np.concatenate([chunk, np.zeros(pad, np.uint8)])
        groups = chunk.reshape(-1, 8)
        packed = groups[:, 0].astype(np.uint64)
        for i in range(1, 8):
            packed |= groups[:, i].astype(np.uint64) << np.uint64(width * i)
        parts.append(packed.view(np.uint8).reshape(-1, 8)[:, :width].tobytes())
    return b"".join(parts)


def _page(page_type: int, header: Field, body: bytes) -> tuple[bytes, int]:
    """A page (thrift header + zstd body) and its uncompressed size, header included."""
    compressed = _CODEC.compress(body, asbytes=True)
    head = encode_struct(
        [
            Field(pq_ids.PH_TYPE, I32, page_type),
            Field(pq_ids.PH_UNCOMPRESSED, I32, len(body)),
            Field(pq_ids.PH_COMPRESSED, I32, len(compressed)),
            header,
        ]
    )
    return head + compressed, len(head) + len(body)


def encode_counts(counts: np.ndarray) -> tuple[bytes, int, int]:
    """The dictionary and data pages of a ``(units, bins)`` uint8 row's counts column chunk.

    Returns the chunk's bytes, its uncompressed size and where its data page starts
    in it (the dictionary page comes first).
    """
    values = np.ascontiguousarray(counts, dtype=np.uint8).ravel()
    n_units, n_bins = counts.shape
    top = int(values.max())
    width = max(1, top.bit_length())
    dictionary = np.arange(top + 1, dtype="<i4").tobytes()
    dict_page, dict_size = _page(
        _DICTIONARY_PAGE,
        Field(
            pq_ids.PH_DICT_HEADER,
            STRUCT,
            [Field(1, I32, top + 1), Field(2, I32, _PLAIN), Field(3, BOOL, False)],
        ),
        dictionary,
    )
    indices = bytes([width]) + _varint((values.size + 7) // 8 << 1 | 1) + _bitpack(values, width)
    header = [  # DataPageHeader: values, their encoding, the levels' encodings
        Field(1, I32, values.size),
        Field(2, I32, _RLE_DICTIONARY),
        Field(3, I32, _RLE),
        Field(4, I32, _RLE),
    ]
    data_page, data_size = _page(
        _DATA_PAGE,
        Field(pq_ids.PH_DATA_HEADER, STRUCT, [*header, Field(5, STRUCT, [])]),
        _levels(n_units, n_bins) + indices,
    )
    return dict_page + data_page, dict_size + data_size, len(dict_page)


def _counts_meta(template: list[Field], counts: np.ndarray, sizes: tuple[int, int, int]) -> list[Field]:
    """The counts chunk's ColumnMetaData: pyarrow's for the placeholder, with this row's pages."""
    n_units, n_bins = counts.shape
    n_values = n_units * n_bins
    compressed, uncompressed, data_start = sizes
    # PageEncodingStats (page type, encoding, count) and SizeStatistics' level histograms
    stats = [Field(1, I32, _DICTIONARY_PAGE), Field(2, I32, _PLAIN), Field(3, I32, 1)]
    data_stats = [Field(1, I32, _DATA_PAGE), Field(2, I32, _RLE_DICTIONARY), Field(3, I32, 1)]
    histograms = [
        Field(2, LIST, (I64, [1, n_units - 1, n_units * (n_bins - 1)])),
        Field(3, LIST, (I64, [0] * _MAX_DEF + [n_values])),
    ]
    new = [
        Field(pq_ids.CM_ENCODINGS, LIST, (I32, [_PLAIN, _RLE, _RLE_DICTIONARY])),
        Field(pq_ids.CM_NUM_VALUES, I64, n_values),
        Field(pq_ids.CM_UNCOMPRESSED, I64, uncompressed),
        Field(pq_ids.CM_COMPRESSED, I64, compressed),
        Field(pq_ids.CM_DATA_PAGE, I64, len(MAGIC) + data_start),
        Field(pq_ids.CM_DICT_PAGE, I64, len(MAGIC)),
        Field(pq_ids.CM_ENCODING_STATS, LIST, (STRUCT, [stats, data_stats])),
        Field(pq_ids.CM_SIZE_STATS, STRUCT, histograms),
    ]
    if get(template, pq_ids.CM_CODEC) != _ZSTD:
        raise ValueError("the row writer's options no longer compress with zstd: update row_parquet")
    # the placeholder's statistics describe its one value: dropped, as the index and bloom filter
    dropped = {f.id for f in new} | {pq_ids.CM_INDEX_PAGE, pq_ids.CM_STATISTICS, *pq_ids.CM_DROPPED}
    kept = [f for f in template if f.id not in dropped]
    return sorted([*kept, *new], key=lambda f: f.id)


def _row_bytes(counts: np.ndarray, ids: Sequence[str]) -> bytes:
    """The parquet file of one row: pyarrow's file of the placeholder row, its counts chunk swapped."""
    buf = io.BytesIO()
    with open_parquet(buf) as writer:
        writer.write_table(segment_table(np.zeros((1, 1), np.uint8), *ids), row_group_size=1)
    template = buf.getvalue()
    footer = decode_footer(template, "the placeholder row")
    (group,) = footer.row_groups
    first, *rest = get(group, pq_ids.RG_COLUMNS)[1]
    old_start, old_stop = chunk_span(get(first, pq_ids.CC_META))
    ids_stop = footer.spans[0][1]
    if old_start != len(MAGIC) or any(chunk_span(get(c, pq_ids.CC_META))[0] < old_stop for c in rest):
        raise ValueError("the placeholder row's counts chunk is not first: update row_parquet")
    chunk, uncompressed, data_start = encode_counts(counts)
    delta = len(chunk) - (old_stop - old_start)
    meta = _counts_meta(get(first, pq_ids.CC_META), counts, (len(chunk), uncompressed, data_start))
    columns = [
        [Field(pq_ids.CC_META, STRUCT, meta) if f.id == pq_ids.CC_META else f for f in first],
        *(moved_chunk(c, delta) for c in rest),
    ]
    metas = [get(c, pq_ids.CC_META) for c in columns]
    group_fields = {
        pq_ids.RG_COLUMNS: Field(pq_ids.RG_COLUMNS, LIST, (STRUCT, columns)),
        pq_ids.RG_TOTAL_BYTE_SIZE: Field(
            pq_ids.RG_TOTAL_BYTE_SIZE, I64, sum(get(m, pq_ids.CM_UNCOMPRESSED) for m in metas)
        ),
        pq_ids.RG_TOTAL_COMPRESSED_SIZE: Field(
            pq_ids.RG_TOTAL_COMPRESSED_SIZE, I64, sum(get(m, pq_ids.CM_COMPRESSED) for m in metas)
        ),
    }
    new_group = [group_fields.get(f.id, f) for f in group]
    file_meta = [
        Field(pq_ids.FM_ROW_GROUPS, LIST, (STRUCT, [new_group])) if f.id == pq_ids.FM_ROW_GROUPS else f
        for f in footer.meta
    ]
    tail = encode_struct(file_meta)
    return MAGIC + chunk + template[old_stop:ids_stop] + tail + struct.pack("<i", len(tail)) + MAGIC


def write_row(path: str | os.PathLike[str], counts: np.ndarray, ids: Sequence[str]) -> None:
    """Write the one-row parquet file of a ``(units, bins)`` uint8 segment and its four ids.

    ``ids``: subject, session, segment, source dataset (``segment_table``'s order).
    """
    if counts.shape[0] == 0 or counts.shape[1] == 0 or counts.dtype != np.uint8:
        with open_parquet(path) as writer:
            writer.write_table(segment_table(counts, *ids), row_group_size=1)
        return
    if counts.size >= 2**31:
        raise ValueError(f"a segment of {counts.size} tokens is too large for one parquet row")
    Path(path).write_bytes(_row_bytes(counts, ids))
