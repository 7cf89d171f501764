"""UUIDv7 generation and validation (RFC 9562).

Entry and competition ids must be version 7 so that they sort by creation time; the oracle
rejects anything else.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7; ids made by one process are strictly increasing."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or earlier) millisecond: keep the timestamp and bump the 12-bit counter,
            # borrowing the next millisecond when it overflows, so order is preserved.
            _counter += 1
            if _counter > 0xFFF:
                _counter = 0
                _last_ms += 1
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= _counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def is_uuid7(value: uuid.UUID) -> bool:
    """True if ``value`` is an RFC 9562 version-7 UUID."""
    return value.version == 7 and value.variant == uuid.RFC_4122


def parse_uuid7(text: str) -> uuid.UUID:
    """Parse ``text`` as a UUIDv7, raising ``ValueError`` with a clear reason otherwise."""
    try:
        value = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"not a UUID: {text!r}") from exc
    if not is_uuid7(value):
        raise ValueError(f"not a version 7 UUID: {text}")
    return value


def uuid7_timestamp_ms(value: uuid.UUID) -> int:
    """Unix time in milliseconds embedded in a UUIDv7."""
    return value.int >> 80
