"""JSON as keymeld's serde types write it, and strict readers for JSON received from a peer.

Signed keymeld objects are hashed over ``serde_json::to_vec`` of the value (keymeld-0.10 §2.1),
so the bytes must match serde_json's compact output exactly: no whitespace, struct fields in
declaration order (``dict`` insertion order here), byte vectors as arrays of integers, UUIDs as
lowercase hyphenated strings, ``BTreeMap`` keys sorted (:func:`btree`, :func:`btree_int`).

Readers raise :class:`WireError` naming the offending field; a peer's JSON is never trusted
for type, length or range.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

from coordinator_core.errors import ValidationError
from coordinator_core.validation import is_hex

Json: TypeAlias = Any
"""A JSON value: ``dict`` (in field order), ``list``, ``str``, ``int``, ``bool`` or ``None``."""

MAX_UUID_CHARS: Final = 36
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class WireError(ValidationError):
    """A JSON value received from a peer has the wrong shape, type, size or range."""


# ---------------------------------------------------------------------------------------------
# Writing


def canonical(value: Json) -> bytes:
    """serde_json's compact encoding of ``value`` (UTF-8, fields in the order given)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def byte_list(data: bytes) -> list[int]:
    """A ``Vec<u8>`` / ``[u8; N]`` as serde writes it: an array of integers."""
    return list(data)


def btree(items: Mapping[str, Json]) -> dict[str, Json]:
    """A ``BTreeMap<String | Uuid, _>``: keys in byte order."""
    return {key: items[key] for key in sorted(items)}


def btree_int(items: Mapping[int, Json]) -> dict[str, Json]:
    """A ``BTreeMap<EnclaveId, _>``: keys written as decimal strings, sorted numerically."""
    return {str(key): items[key] for key in sorted(items)}


# ---------------------------------------------------------------------------------------------
# Reading


def as_object(value: Any, what: str) -> Mapping[str, Any]:
    """A JSON object (unknown fields are ignored, as serde does)."""
    if not isinstance(value, dict):
        raise WireError(f"{what}: expected an object")
    return value


def field(obj: Mapping[str, Any], name: str, what: str) -> Any:
    """A required field of an object."""
    if name not in obj:
        raise WireError(f"{what}: missing field `{name}`")
    return obj[name]


def optional(obj: Mapping[str, Any], name: str) -> Any:
    """An optional field (``None`` when absent or null)."""
    return obj.get(name)


def as_int(value: Any, what: str, low: int = 0, high: int = (1 << 64) - 1) -> int:
    """An integer in ``[low, high]`` (booleans are not integers)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(f"{what}: expected an integer in [{low}, {high}]")
    return value


def as_bool(value: Any, what: str) -> bool:
    """A boolean."""
    if not isinstance(value, bool):
        raise WireError(f"{what}: expected a boolean")
    return value


def as_str(value: Any, what: str, max_chars: int) -> str:
    """A string of at most ``max_chars`` characters."""
    if not isinstance(value, str):
        raise WireError(f"{what}: expected a string")
    if len(value) > max_chars:
        raise WireError(f"{what}: longer than {max_chars} characters")
    return value


def as_uuid(value: Any, what: str) -> str:
    """A hyphenated UUID, returned in canonical lowercase form."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    text = as_str(value, what, MAX_UUID_CHARS)
    if len(text) != MAX_UUID_CHARS:
        raise WireError(f"{what}: expected a hyphenated UUID")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise WireError(f"{what}: expected a hyphenated UUID") from None


def as_optional_uuid(value: Any, what: str) -> str | None:
    """A UUID or null."""
    return None if value is None else as_uuid(value, what)


def as_hex(value: Any, what: str, max_bytes: int, min_bytes: int = 0) -> bytes:
    """Lowercase or uppercase hex of ``min_bytes``..``max_bytes`` bytes."""
    text = as_str(value, what, 2 * max_bytes)
    if len(text) % 2:
        raise WireError(f"{what}: odd-length hex")
    if not is_hex(text):
        raise WireError(f"{what}: not hex")
    data = bytes.fromhex(text)
    if len(data) < min_bytes:
        raise WireError(f"{what}: shorter than {min_bytes} bytes")
    return data


def as_bytes(value: Any, what: str, size: int | None = None, max_size: int = 1 << 20) -> bytes:
    """A byte vector written as an array of integers 0–255 (exactly ``size`` long if given)."""
    if not isinstance(value, list):
        raise WireError(f"{what}: expected an array of bytes")
    limit = size if size is not None else max_size
    if len(value) > limit or (size is not None and len(value) != size):
        raise WireError(f"{what}: expected {size if size is not None else f'≤ {limit}'} bytes")
    if not set(map(type, value)) <= {int}:  # booleans are not integers here
        raise WireError(f"{what}: expected an array of integers 0–255")
    try:
        return bytes(value)
    except ValueError:
        raise WireError(f"{what}: expected an array of integers 0–255") from None


def as_list(value: Any, what: str, max_items: int) -> Sequence[Any]:
    """A JSON array of at most ``max_items`` elements."""
    if not isinstance(value, list):
        raise WireError(f"{what}: expected an array")
    if len(value) > max_items:
        raise WireError(f"{what}: more than {max_items} elements")
    return value


def as_map(value: Any, what: str, max_items: int) -> Mapping[str, Any]:
    """A JSON object used as a map, with at most ``max_items`` entries."""
    obj = as_object(value, what)
    if len(obj) > max_items:
        raise WireError(f"{what}: more than {max_items} entries")
    return obj


def loads(data: bytes, what: str, max_bytes: int) -> Any:
    """Parse JSON of at most ``max_bytes`` bytes, refusing duplicate keys and NaN."""
    if len(data) > max_bytes:
        raise WireError(f"{what}: larger than {max_bytes} bytes")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            raise WireError(f"{what}: duplicate key in an object")
        return out

    def no_constants(name: str) -> Any:
        raise WireError(f"{what}: {name} is not JSON")

    try:
        return json.loads(data, object_pairs_hook=unique, parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WireError(f"{what}: invalid JSON ({exc})") from None
