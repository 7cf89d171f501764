"""Validation of untrusted scalars: integers in their domain, whole-string hex, decimal text.

Every boundary (HTTP routes, remote responses, wire formats) uses these instead of ad-hoc
regular expressions or ``int()``/``bytes.fromhex`` calls, which accept more than they should:
``re.match(r"^…$")`` also matches before a trailing newline, ``bytes.fromhex`` skips spaces,
``int`` takes ``"+1"``, ``" 1"``, ``"1_000"`` and non-ASCII digits, and an unbounded integer
reaches SQLite as an ``OverflowError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final

from pydantic import Field

from coordinator_core.errors import ValidationError
from ticketdlc.bitcoin.encoding import is_hex as is_hex  # re-exported: the one hex check
from ticketdlc.bitcoin.tx import MAX_MONEY

#: The money supply: no amount the system handles is larger.
MAX_MONEY_SAT: Final = MAX_MONEY
MAX_MONEY_MSAT: Final = MAX_MONEY_SAT * 1000
#: The largest value a signed 64-bit integer (SQLite ``INTEGER``, LND's int64) holds.
MAX_INT64: Final = 2**63 - 1
MIN_INT64: Final = -(2**63)
MAX_UINT32: Final = 2**32 - 1

_DECIMAL: Final = re.compile(r"0|[1-9][0-9]*")

# Pydantic field types (pydantic's patterns are anchored at both ends of the whole string).
Sat = Annotated[int, Field(ge=0, le=MAX_MONEY_SAT)]
"""An amount in satoshis, at most the money supply."""
Msat = Annotated[int, Field(ge=0, le=MAX_MONEY_MSAT)]
"""An amount in millisatoshis, at most the money supply."""
Index64 = Annotated[int, Field(ge=0, le=MAX_INT64)]
"""A non-negative index or counter stored as a signed 64-bit integer."""
Int64 = Annotated[int, Field(ge=MIN_INT64, le=MAX_INT64)]
"""Any signed 64-bit integer."""


def int_in_range(value: object, low: int, high: int, what: str) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) with ``low <= value <= high``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{what} must be an integer")
    if not low <= value <= high:
        raise ValidationError(f"{what} must be between {low} and {high}")
    return value


def amount_msat(value: object, what: str = "amount") -> int:
    """A non-negative amount in msat no larger than the money supply."""
    return int_in_range(value, 0, MAX_MONEY_MSAT, f"{what} (msat)")


def amount_sat(value: object, what: str = "amount") -> int:
    """A non-negative amount in sat no larger than the money supply."""
    return int_in_range(value, 0, MAX_MONEY_SAT, f"{what} (sat)")


def hex_bytes(
    text: object,
    what: str,
    *,
    size: int | None = None,
    max_size: int | None = None,
    lowercase: bool = False,
) -> bytes:
    """The bytes of ``text``, which must be hex as a whole (no spaces, no trailing newline)."""
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be a hex string")
    if max_size is not None and len(text) > 2 * max_size:
        raise ValidationError(f"{what} is longer than {max_size} bytes")
    if not is_hex(text, size, lowercase=lowercase):
        sized = f" of {size} bytes" if size is not None else ""
        case = "lower-case " if lowercase else ""
        raise ValidationError(f"{what} must be {case}hex{sized}")
    return bytes.fromhex(text)


def decimal_int(text: str, what: str, high: int = MAX_INT64) -> int:
    """A canonical non-negative decimal (``0`` or no leading zero, ASCII digits only)."""
    if len(text) > len(str(high)) or _DECIMAL.fullmatch(text) is None:
        raise ValidationError(f"{what} must be a non-negative decimal integer")
    value = int(text)
    if value > high:
        raise ValidationError(f"{what} must be at most {high}")
    return value


MAX_ERROR_PARTS: Final = 5
_MAX_LOC_PART_CHARS: Final = 40
_MAX_MESSAGE_CHARS: Final = 200


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """A short description of pydantic validation errors that never repeats the input.

    Only each error's location (body keys truncated: a dict key is input too) and message are
    used; pydantic's ``input`` and ``ctx`` are left out, so a refused body is never echoed.
    """
    parts = []
    for error in list(errors)[:MAX_ERROR_PARTS]:
        where = ".".join(
            _truncate(str(item), _MAX_LOC_PART_CHARS)
            for item in error.get("loc", ())
            if item != "body"
        )
        message = _truncate(str(error.get("msg", "invalid")), _MAX_MESSAGE_CHARS)
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
