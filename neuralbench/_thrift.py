"""Thrift's compact protocol, generic: enough to rewrite a parquet footer without losing a field.

Parquet's file metadata is a thrift struct in the compact protocol. Decoded here
into :class:`Field` lists (id, wire type, value) that keep every field, known or
not, in order, so that :func:`encode_struct` gives back the same bytes for an
unchanged struct and only the fields a caller edits differ. No schema: field ids
are those of ``parquet.thrift`` (apache/parquet-format), named by the caller.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["BOOL", "I16", "I32", "I64", "LIST", "STRUCT", "Field", "decode_struct", "encode_struct", "get"]

STOP, TRUE, FALSE, I8, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
BOOL = TRUE
"""A bool field's wire type carries its value (TRUE / FALSE); :class:`Field` stores ``BOOL``."""


@dataclass
class Field:
    """One field of a struct: its id, its wire type and its value.

    Values: int (i8 to i64), float, bytes, bool, a list of :class:`Field` (a
    struct), ``(element type, [values])`` (a list or set) or
    ``(key type, value type, [(key, value)])`` (a map).
    """

    id: int
    type: int
    value: Any


def get(fields: list[Field], field_id: int, default: Any = None) -> Any:
    """The value of field ``field_id`` of a decoded struct, or ``default``."""
    for f in fields:
        if f.id == field_id:
            return f.value
    return default


class _Reader:
    def __init__(self, data: bytes | memoryview, pos: int = 0):
        self.data, self.pos = memoryview(data), pos

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, wire: int) -> Any:
        if wire in (TRUE, FALSE):  # only inside a list / set / map: one byte per value
            return self.byte() == TRUE
        if wire == I8:
            return struct.unpack("b", bytes([self.byte()]))[0]
        if wire in (I16, I32, I64):
            return self.zigzag()
        if wire == DOUBLE:
            self.pos += 8
            return struct.unpack("<d", self.data[self.pos - 8 : self.pos])[0]
        if wire == BINARY:
            n = self.varint()
            self.pos += n
            return bytes(self.data[self.pos - n : self.pos])
        if wire in (LIST, SET):
            head = self.byte()
            size, elem = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return (elem, [self.value(elem) for _ in range(size)])
        if wire == MAP:
            size = self.varint()
            kinds = self.byte() if size else 0
            kt, vt = kinds >> 4, kinds & 0x0F
            return (kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)])
        if wire == STRUCT:
            return self.struct()
        raise ValueError(f"unknown thrift compact type {wire} at byte {self.pos}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while (head := self.byte()) != STOP:
            delta, wire = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            if wire in (TRUE, FALSE):
                fields.append(Field(fid, BOOL, wire == TRUE))
            else:
                fields.append(Field(fid, wire, self.value(wire)))
            last = fid
        return fields


def decode_struct(data: bytes | memoryview, pos: int = 0) -> tuple[list[Field], int]:
    """The struct encoded at ``data[pos:]`` and the position just after it."""
    reader = _Reader(data, pos)
    try:
        fields = reader.struct()
    except (IndexError, struct.error) as exc:
        raise ValueError(f"truncated thrift struct (byte {reader.pos})") from exc
    return fields, reader.pos


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int, out: bytearray) -> None:
    _varint((n << 1) ^ (n >> 63), out)


def _value(wire: int, value: Any, out: bytearray) -> None:
    if wire in (TRUE, FALSE):
        out.append(TRUE if value else FALSE)
    elif wire == I8:
        out += struct.pack("b", value)
    elif wire in (I16, I32, I64):
        _zigzag(int(value), out)
    elif wire == DOUBLE:
        out += struct.pack("<d", value)
    elif wire == BINARY:
        _varint(len(value), out)
        out += value
    elif wire in (LIST, SET):
        elem, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | elem)
        else:
            out.append(0xF0 | elem)
            _varint(len(items), out)
        for item in items:
            _value(elem, item, out)
    elif wire == MAP:
        kt, vt, items = value
        _varint(len(items), out)
        if items:
            out.append(kt << 4 | vt)
        for k, v in items:
            _value(kt, k, out)
            _value(vt, v, out)
    elif wire == STRUCT:
        _struct(value, out)
    else:
        raise ValueError(f"unknown thrift compact type {wire}")


def _struct(fields: list[Field], out: bytearray) -> None:
    last = 0
    for f in fields:
        wire = (TRUE if f.value else FALSE) if f.type == BOOL else f.type
        if 0 < f.id - last <= 15:
            out.append((f.id - last) << 4 | wire)
        else:
            out.append(wire)
            _zigzag(f.id, out)
        if f.type != BOOL:
            _value(f.type, f.value, out)
        last = f.id
    out.append(STOP)


def encode_struct(fields: list[Field]) -> bytes:
    """The compact-protocol bytes of a struct (the inverse of :func:`decode_struct`)."""
    out = bytearray()
    _struct(fields, out)
    return bytes(out)
