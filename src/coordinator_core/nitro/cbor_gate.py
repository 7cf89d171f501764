"""A strict well-formedness gate run on attestation CBOR before ``cbor2`` decodes it.

``cbor2`` implements many semantic tags (big numbers, big floats, shared and cyclic
references, dates, string references) and indefinite lengths. None of them occurs in a Nitro
attestation document and some cost unbounded time or memory, so this walk admits only the
subset the document uses, and :func:`decode` hands ``cbor2`` nothing else:

* one data item, no trailing bytes; nesting at most :data:`MAX_DEPTH` deep;
* integers, byte strings, UTF-8 text strings, arrays, maps, ``false``/``true``/``null``;
* every head in its shortest form; definite-length strings (arrays and maps may be
  indefinite-length, as the Nitro Secure Module writes its payload map);
* map keys are integers or text strings, and no key appears twice in a map;
* no tags, no floating-point or other simple values.
"""

from __future__ import annotations

from typing import Any, Final

import cbor2

MAX_DEPTH: Final = 8

_UINT, _NEGINT, _BYTES, _TEXT, _ARRAY, _MAP, _TAG, _SIMPLE = range(8)
_FALSE, _TRUE, _NULL = 20, 21, 22
_MIN_FOR_WIDTH: Final = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}
_WIDTH: Final = {24: 1, 25: 2, 26: 4, 27: 8}
_INDEFINITE: Final = -1
_BREAK: Final = 0xFF


class CborError(ValueError):
    """The bytes are not a data item of the admitted CBOR subset (the message says why)."""


def decode(data: bytes) -> Any:
    """Check ``data`` against the admitted subset, then decode it with ``cbor2``."""
    end = _item(data, 0, 0)
    if end != len(data):
        raise CborError(f"{len(data) - end} trailing bytes after the data item")
    try:
        return cbor2.loads(data)
    except Exception as exc:  # the gate admits only what cbor2 decodes; stay fail-closed anyway
        raise CborError(f"undecodable CBOR: {exc}") from None


def _head(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """``(major type, additional info, argument, position after the head)``."""
    if pos >= len(data):
        raise CborError("truncated data item")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info == 31:
        if major not in (_ARRAY, _MAP):
            raise CborError("only arrays and maps may have an indefinite length")
        return major, info, _INDEFINITE, pos
    if info > 27:
        raise CborError(f"reserved additional information {info}")
    width = _WIDTH[info]
    if pos + width > len(data):
        raise CborError("truncated data item head")
    value = int.from_bytes(data[pos : pos + width], "big")
    if major != _SIMPLE and value < _MIN_FOR_WIDTH[info]:
        raise CborError("a data item head is not in its shortest form")
    return major, info, value, pos + width


def _item(data: bytes, pos: int, depth: int) -> int:
    """Check the data item at ``pos``; returns the position after it."""
    major, info, value, pos = _head(data, pos)
    if major in (_UINT, _NEGINT):
        return pos
    if major in (_BYTES, _TEXT):
        end = pos + value
        if end > len(data):
            raise CborError("a string runs past the end of the data")
        if major == _TEXT:
            try:
                data[pos:end].decode("utf-8")
            except UnicodeDecodeError:
                raise CborError("a text string is not valid UTF-8") from None
        return end
    if major in (_ARRAY, _MAP):
        if depth >= MAX_DEPTH:
            raise CborError(f"nesting deeper than {MAX_DEPTH}")
        if value != _INDEFINITE and value * (2 if major == _MAP else 1) > len(data) - pos:
            raise CborError("a container claims more items than the data holds")
        keys: set[bytes] = set()
        count = 0
        while value == _INDEFINITE or count < value:
            if value == _INDEFINITE:
                if pos >= len(data):
                    raise CborError("an indefinite-length container is not terminated")
                if data[pos] == _BREAK:
                    return pos + 1
            pos = _entry(data, pos, depth, keys) if major == _MAP else _item(data, pos, depth + 1)
            count += 1
        return pos
    if major == _TAG:
        raise CborError(f"tag {value} is not allowed")
    if info in (_FALSE, _TRUE, _NULL):
        return pos
    raise CborError("floating-point and simple values other than false/true/null are not allowed")


def _entry(data: bytes, pos: int, depth: int, keys: set[bytes]) -> int:
    """Check one key/value pair of a map; returns the position after it."""
    if pos >= len(data) or data[pos] >> 5 not in (_UINT, _NEGINT, _TEXT):
        raise CborError("a map key is not an integer or a text string")
    key_end = _item(data, pos, depth + 1)
    key = data[pos:key_end]
    if key in keys:
        raise CborError("a map key appears twice")
    keys.add(key)
    return _item(data, key_end, depth + 1)
