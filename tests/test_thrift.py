"""neuralbench._thrift: real pyarrow footers decode and encode back byte for byte; bad bytes are named."""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neuralbench._thrift import BOOL, I16, I32, I64, LIST, STRUCT, Field, decode_struct, encode_struct, get
from neuralbench.schema import segment_table

# parquet.thrift (apache/parquet-format): FileMetaData and RowGroup field ids
FM_VERSION, FM_SCHEMA, FM_NUM_ROWS, FM_ROW_GROUPS, FM_KV, FM_CREATED_BY = 1, 2, 3, 4, 5, 6
RG_NUM_ROWS = 3
SE_NAME = 4
KV_KEY, KV_VALUE = 1, 2


def _footer(path) -> bytes:
    """The thrift bytes of a parquet file's footer (before its length and ``PAR1``)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[-8:-4])
    assert data[-4:] == b"PAR1"
    return data[-8 - n : -8]


@pytest.fixture
def parquet_file(tmp_path):
    """A real file: three row groups of segments, key-value metadata, statistics, a dictionary column."""
    rng = np.random.default_rng(0)
    rows = [
        segment_table(
            rng.integers(0, 5, (3 + i, 20 + 7 * i), dtype=np.uint8), "S1", f"s{i}", "segment_0", "h2"
        )
        for i in range(6)
    ]
    table = pa.concat_tables(rows).replace_schema_metadata({"origin": "neuralbench tests", "n": "6"})
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=2, write_statistics=True, use_dictionary=["subject_id"])
    return path


def test_a_real_footer_round_trips_byte_for_byte(parquet_file):
    footer = _footer(parquet_file)
    fields, end = decode_struct(footer)
    assert end == len(footer)
    assert encode_struct(fields) == footer
    meta = pq.ParquetFile(parquet_file).metadata
    assert get(fields, FM_NUM_ROWS) == meta.num_rows == 6
    groups = get(fields, FM_ROW_GROUPS)
    assert groups[0] == STRUCT and len(groups[1]) == meta.num_row_groups == 3
    assert [get(g, RG_NUM_ROWS) for g in groups[1]] == [2, 2, 2]
    assert get(fields, FM_CREATED_BY).decode() == meta.created_by
    names = [get(element, SE_NAME).decode() for element in get(fields, FM_SCHEMA)[1]]
    assert {"spike_counts", "subject_id", "source_dataset"} <= set(names)
    assert get(fields, 999, "absent") == "absent"


def test_an_edited_field_changes_only_itself_and_pyarrow_reads_the_result(parquet_file, tmp_path):
    data = parquet_file.read_bytes()
    footer = _footer(parquet_file)
    fields, _ = decode_struct(footer)
    kv = next(f for f in fields if f.id == FM_KV)
    for pair in kv.value[1]:
        if get(pair, KV_KEY) == b"origin":
            next(f for f in pair if f.id == KV_VALUE).value = b"edited"
    new = encode_struct(fields)
    assert len(new) == len(footer) + len(b"edited") - len(b"neuralbench tests")
    edited = tmp_path / "edited.parquet"
    edited.write_bytes(data[: -8 - len(footer)] + new + struct.pack("<I", len(new)) + b"PAR1")
    kv_read = pq.read_metadata(edited).metadata  # parquet's own key-value map, as pyarrow reads it
    assert kv_read[b"origin"] == b"edited" and kv_read[b"n"] == b"6"
    assert pq.read_table(edited).equals(pq.read_table(parquet_file))  # every row group still found


def test_every_wire_type_round_trips():
    fields = [
        Field(1, I32, -7),
        Field(2, BOOL, True),
        Field(3, BOOL, False),
        Field(20, I64, -(2**62)),  # a jump over 15 ids: the long field header
        Field(21, I16, 300),
        Field(22, 3, -128),  # i8
        Field(23, 7, 0.25),  # double
        Field(24, 8, b"\x00bytes\xff"),  # binary
        Field(25, LIST, (I32, list(range(-10, 10)))),  # 20 elements: the long list header
        Field(26, LIST, (BOOL, [True, False, True])),
        Field(27, 10, (I32, [1, 2])),  # set
        Field(28, 11, (8, I64, [(b"a", 1), (b"b", -2)])),  # map
        Field(29, 11, (0, 0, [])),  # empty map
        Field(30, STRUCT, [Field(1, 8, b"inner"), Field(2, STRUCT, [])]),
        Field(5, I32, 1),  # ids need not increase
    ]
    data = encode_struct(fields)
    back, end = decode_struct(b"junk" + data, 4)
    assert end == 4 + len(data)
    assert back == fields
    assert encode_struct(back) == data


def test_truncated_bytes_say_where_they_end(parquet_file):
    footer = _footer(parquet_file)
    with pytest.raises(ValueError, match=r"truncated thrift struct \(byte \d+\)"):
        decode_struct(footer[: len(footer) // 2])
    with pytest.raises(ValueError, match=r"truncated thrift struct \(byte 0\)"):
        decode_struct(b"")


def test_an_unknown_wire_type_is_named():
    with pytest.raises(ValueError, match="unknown thrift compact type 13 at byte 1"):
        decode_struct(bytes([0x1D, 0x00]))  # field 1, wire type 13: no such type
    with pytest.raises(ValueError, match="unknown thrift compact type 14"):
        encode_struct([Field(1, 14, 0)])
