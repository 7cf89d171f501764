"""Bitcoin wire primitives: CompactSize integers, hashes, hex checks and a bounded byte reader."""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_COMPACT_SIZE: Final = 0xFFFF_FFFF_FFFF_FFFF

_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_LOWER_HEX: Final = re.compile(r"(?:[0-9a-f]{2})*")


class DecodeError(ValueError):
    """Malformed or out-of-bounds serialized data."""


def is_hex(text: object, size: int | None = None, *, lowercase: bool = False) -> bool:
    """True when all of ``text`` is hex digit pairs (of ``size`` bytes if given).

    Stricter than ``bytes.fromhex``, which skips whitespace, and than ``re.match(r"^…$")``,
    whose ``$`` also matches before a trailing newline.
    """
    if not isinstance(text, str) or (size is not None and len(text) != 2 * size):
        return False
    return (_LOWER_HEX if lowercase else _HEX).fullmatch(text) is not None


def compact_size(value: int) -> bytes:
    """CompactSize ("varint") encoding of a non-negative integer."""
    if value < 0 or value > MAX_COMPACT_SIZE:
        raise ValueError("compact size out of range")
    if value < 0xFD:
        return bytes((value,))
    if value <= 0xFFFF:
        return b"\xfd" + value.to_bytes(2, "little")
    if value <= 0xFFFF_FFFF:
        return b"\xfe" + value.to_bytes(4, "little")
    return b"\xff" + value.to_bytes(8, "little")


def compact_size_len(value: int) -> int:
    """Length in bytes of ``compact_size(value)``."""
    if value < 0xFD:
        return 1
    if value <= 0xFFFF:
        return 3
    if value <= 0xFFFF_FFFF:
        return 5
    return 9


def ser_bytes(data: bytes) -> bytes:
    """Length-prefixed byte string."""
    return compact_size(len(data)) + data


def sha256(data: bytes) -> bytes:
    """Single SHA-256."""
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 (txids, BIP-143 hashes)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256."""
    digest = hashlib.sha256(data).digest()
    try:
        return hashlib.new("ripemd160", digest).digest()
    except ValueError:  # OpenSSL builds without the legacy provider
        from embit.util.py_ripemd160 import ripemd160

        result: bytes = ripemd160(digest)
        return result


class ByteReader:
    """Sequential reader over a byte string that raises :class:`DecodeError` on overrun."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not yet consumed."""
        return len(self._data) - self._pos

    def peek(self, count: int) -> bytes:
        """The next ``count`` bytes without consuming them."""
        if count > self.remaining:
            raise DecodeError("unexpected end of data")
        return self._data[self._pos : self._pos + count]

    def read(self, count: int) -> bytes:
        """Consume ``count`` bytes."""
        if count < 0 or count > self.remaining:
            raise DecodeError("unexpected end of data")
        start = self._pos
        self._pos += count
        return self._data[start : self._pos]

    def read_uint(self, size: int) -> int:
        """Little-endian unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.read(size), "little")

    def read_compact_size(self) -> int:
        """A canonical CompactSize integer (non-minimal encodings are rejected)."""
        first = self.read(1)[0]
        if first < 0xFD:
            return first
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        value = self.read_uint(size)
        minimum = {0xFD: 0xFD, 0xFE: 0x1_0000, 0xFF: 0x1_0000_0000}[first]
        if value < minimum:
            raise DecodeError("non-canonical compact size")
        return value

    def read_bytes(self) -> bytes:
        """A CompactSize-prefixed byte string."""
        length = self.read_compact_size()
        if length > self.remaining:
            raise DecodeError("byte string longer than the data")
        return self.read(length)

    def expect_end(self) -> None:
        """Raise if any byte is left."""
        if self.remaining:
            raise DecodeError(f"{self.remaining} trailing bytes")
