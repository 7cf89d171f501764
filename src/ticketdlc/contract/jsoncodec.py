"""dlctix's JSON (serde, human-readable form): byte-compatible encoding and strict decoding.

Encoders return plain ``dict``/``list`` objects in serde field order with map keys in
``BTreeMap`` order, so ``json.dumps(obj, indent=2)`` equals ``serde_json::to_string_pretty`` and
``json.dumps(obj, separators=(",", ":"))`` equals ``serde_json::to_string``.

Decoders treat their input as untrusted: sizes are checked against :class:`ContractLimits`
before elements are parsed, duplicate keys and unknown fields are refused, and every error is a
:class:`ContractDecodeError` (or :class:`ContractLimitError`) naming the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from ticketdlc.bitcoin.encoding import is_hex
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.contract.errors import ContractDecodeError, ContractLimitError
from ticketdlc.contract.sigmap import SigMap
from ticketdlc.contract.types import (
    U32_MAX,
    U64_MAX,
    AnchorParams,
    ContractParameters,
    EventLockingConditions,
    MarketMaker,
    Outcome,
    Player,
    WinCondition,
)
from ticketdlc.contract.validation import DEFAULT_LIMITS, ContractLimits, check_limits
from ticketdlc.crypto.secp import INFINITY_BYTES, Point

T = TypeVar("T")
JsonObj = dict[str, Any]

MAX_JSON_BYTES: Final = 64 * 1024 * 1024
"""Default size bound for JSON text given to :func:`loads`."""

_PARAM_FIELDS: Final = (
    "market_maker",
    "players",
    "event",
    "outcome_payouts",
    "fee_rate",
    "funding_value",
    "relative_locktime_block_delta",
)
_OPTIONAL_PARAM_FIELDS: Final = ("anchor", "outcome_bound_splits")


# ---------------------------------------------------------------------------------------------
# Text


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ContractDecodeError(f"duplicate JSON key {key!r}")
        obj[key] = value
    return obj


def loads(text: str | bytes, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse JSON text of at most ``max_bytes``, refusing duplicate object keys."""
    if len(text) > max_bytes:
        raise ContractLimitError(f"JSON input of {len(text)} bytes exceeds {max_bytes}")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except ContractDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ContractDecodeError(f"invalid JSON: {exc}") from None


def dumps_pretty(obj: Any) -> str:
    """``serde_json::to_string_pretty`` form."""
    return json.dumps(obj, indent=2)


def dumps_compact(obj: Any) -> str:
    """``serde_json::to_string`` form."""
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Scalars and byte strings


def hex_bytes(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ContractDecodeError(f"{what}: expected {2 * size} hex characters")
    if not is_hex(value):
        raise ContractDecodeError(f"{what}: not hex")
    return bytes.fromhex(value)


def decode_point(value: Any, what: str) -> Point:
    """A 33-byte compressed point in hex."""
    data = hex_bytes(value, 33, what)
    try:
        return Point.from_bytes(data)
    except ValueError:
        raise ContractDecodeError(f"{what}: not a valid point") from None


def decode_maybe_point(value: Any, what: str) -> Point | None:
    """A point, or 66 zeros for the point at infinity (``None``)."""
    data = hex_bytes(value, 33, what)
    if data == INFINITY_BYTES:
        return None
    try:
        return Point.from_bytes(data)
    except ValueError:
        raise ContractDecodeError(f"{what}: not a valid point") from None


def encode_maybe_point(point: Point | None) -> str:
    """Hex of the compressed point, 66 zeros for infinity."""
    return INFINITY_BYTES.hex() if point is None else point.hex()


def decode_hash(value: Any, what: str) -> bytes:
    """A 32-byte hash in hex."""
    return hex_bytes(value, 32, what)


def decode_pubnonce(value: Any, what: str) -> bytes:
    """A 66-byte public nonce (two valid points)."""
    data = hex_bytes(value, 66, what)
    try:
        Point.from_bytes(data[:33])
        Point.from_bytes(data[33:])
    except ValueError:
        raise ContractDecodeError(f"{what}: not a valid public nonce") from None
    return data


def decode_uint(value: Any, what: str, maximum: int = U64_MAX) -> int:
    """A JSON integer in ``0..=maximum`` (booleans and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ContractDecodeError(f"{what}: expected an integer in 0..={maximum}")
    return value


def index_key(key: str, what: str) -> int:
    if not key.isdigit() or not key.isascii() or (len(key) > 1 and key[0] == "0") or len(key) > 20:
        raise ContractDecodeError(f"{what}: invalid index key {key!r}")
    value = int(key)
    if value > U64_MAX:
        raise ContractDecodeError(f"{what}: invalid index key {key!r}")
    return value


def json_object(
    value: Any, what: str, fields: tuple[str, ...], optional: tuple[str, ...] = ()
) -> JsonObj:
    if not isinstance(value, dict):
        raise ContractDecodeError(f"{what}: expected an object")
    missing = [name for name in fields if name not in value]
    if missing:
        raise ContractDecodeError(f"{what}: missing field {missing[0]!r}")
    unknown = [name for name in value if name not in fields and name not in optional]
    if unknown:
        raise ContractDecodeError(f"{what}: unknown field {unknown[0]!r}")
    return value


def bounded_list(value: Any, what: str, maximum: int) -> list[Any]:
    if not isinstance(value, list):
        raise ContractDecodeError(f"{what}: expected a list")
    if len(value) > maximum:
        raise ContractLimitError(f"{what}: {len(value)} items exceed the limit of {maximum}")
    return value


def bounded_map(value: Any, what: str, maximum: int) -> JsonObj:
    if not isinstance(value, dict):
        raise ContractDecodeError(f"{what}: expected an object")
    if len(value) > maximum:
        raise ContractLimitError(f"{what}: {len(value)} entries exceed the limit of {maximum}")
    return value


# ---------------------------------------------------------------------------------------------
# Outpoints


def encode_outpoint(outpoint: OutPoint) -> str:
    """``"<display txid>:<vout>"``."""
    return str(outpoint)


def decode_outpoint(value: Any, what: str = "funding_outpoint") -> OutPoint:
    """Parse ``"<display txid>:<vout>"``."""
    if not isinstance(value, str):
        raise ContractDecodeError(f"{what}: expected 'txid:vout'")
    try:
        return OutPoint.parse(value)
    except ValueError as exc:
        raise ContractDecodeError(f"{what}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Contract parameters


def _encode_weights(weights: Mapping[int, int]) -> JsonObj:
    return {str(player): weight for player, weight in sorted(weights.items())}


def params_to_json(params: ContractParameters) -> JsonObj:
    """ContractParameters as serde emits it (``anchor`` and ``outcome_bound_splits`` only when
    set, in that order after ``relative_locktime_block_delta``)."""
    obj: JsonObj = {
        "market_maker": {"pubkey": params.market_maker.pubkey.hex()},
        "players": [
            {
                "pubkey": player.pubkey.hex(),
                "ticket_hash": player.ticket_hash.hex(),
                "payout_hash": player.payout_hash.hex(),
            }
            for player in params.players
        ],
        "event": {
            "locking_points": [encode_maybe_point(p) for p in params.event.locking_points],
            "expiry": params.event.expiry,
        },
        "outcome_payouts": {
            str(outcome): _encode_weights(weights)
            for outcome, weights in sorted(params.outcome_payouts.items())
        },
        "fee_rate": params.fee_rate,
        "funding_value": params.funding_value,
        "relative_locktime_block_delta": params.relative_locktime_block_delta,
    }
    if params.anchor is not None:
        obj["anchor"] = {"value": params.anchor.value}
    if params.outcome_bound_splits:
        obj["outcome_bound_splits"] = True
    return obj


def _decode_anchor(value: Any) -> AnchorParams | None:
    """``{"value": sats}``; ``null`` (like a missing field) means no anchor."""
    if value is None:
        return None
    obj = json_object(value, "anchor", ("value",))
    return AnchorParams(decode_uint(obj["value"], "anchor.value"))


def _decode_player(value: Any, what: str) -> Player:
    obj = json_object(value, what, ("pubkey", "ticket_hash", "payout_hash"))
    return Player(
        decode_point(obj["pubkey"], f"{what}.pubkey"),
        decode_hash(obj["ticket_hash"], f"{what}.ticket_hash"),
        decode_hash(obj["payout_hash"], f"{what}.payout_hash"),
    )


def _decode_event(value: Any, limits: ContractLimits) -> EventLockingConditions:
    obj = json_object(value, "event", ("locking_points", "expiry"))
    raw_points = bounded_list(
        obj["locking_points"], "event.locking_points", limits.max_locking_points
    )
    points = tuple(
        decode_maybe_point(item, f"event.locking_points[{i}]") for i, item in enumerate(raw_points)
    )
    expiry = obj["expiry"]
    return EventLockingConditions(
        points, None if expiry is None else decode_uint(expiry, "event.expiry", U32_MAX)
    )


def params_from_json(value: Any, limits: ContractLimits = DEFAULT_LIMITS) -> ContractParameters:
    """Decode ContractParameters (not validated: call ``validate`` on untrusted parameters)."""
    obj = json_object(value, "params", _PARAM_FIELDS, _OPTIONAL_PARAM_FIELDS)
    mm = json_object(obj["market_maker"], "market_maker", ("pubkey",))
    raw_players = bounded_list(obj["players"], "players", limits.max_players)
    players = tuple(_decode_player(item, f"players[{i}]") for i, item in enumerate(raw_players))
    event = _decode_event(obj["event"], limits)
    raw_payouts = bounded_map(obj["outcome_payouts"], "outcome_payouts", limits.max_outcomes)
    payouts: dict[Outcome, dict[int, int]] = {}
    for key, raw_weights in raw_payouts.items():
        outcome = Outcome.parse(key)
        what = f"outcome_payouts.{key}"
        weights_obj = bounded_map(raw_weights, what, limits.max_players)
        payouts[outcome] = {
            index_key(player, what): decode_uint(weight, f"{what}.{player}")
            for player, weight in weights_obj.items()
        }
    bound = obj.get("outcome_bound_splits", False)
    if not isinstance(bound, bool):
        raise ContractDecodeError("outcome_bound_splits: expected a boolean")
    params = ContractParameters(
        MarketMaker(decode_point(mm["pubkey"], "market_maker.pubkey")),
        players,
        event,
        payouts,
        decode_uint(obj["fee_rate"], "fee_rate"),
        decode_uint(obj["funding_value"], "funding_value"),
        decode_uint(obj["relative_locktime_block_delta"], "relative_locktime_block_delta", 0xFFFF),
        bound,
        anchor=_decode_anchor(obj.get("anchor")),
    )
    check_limits(params, limits)
    return params


# ---------------------------------------------------------------------------------------------
# SigMaps


def sigmap_to_json(sigmap: SigMap[T], encode: Callable[[T], str]) -> JsonObj:
    """``{"by_outcome": {...}, "by_win_condition": {...}}`` in BTreeMap order."""
    return {
        "by_outcome": {str(k): encode(v) for k, v in sorted(sigmap.by_outcome.items())},
        "by_win_condition": {str(k): encode(v) for k, v in sorted(sigmap.by_win_condition.items())},
    }


def sigmap_from_json(value: Any, decode: Callable[[Any, str], T], max_entries: int) -> SigMap[T]:
    """Decode a SigMap whose values ``decode(value, what)`` parses (at most ``max_entries``)."""
    obj = json_object(value, "sigmap", ("by_outcome", "by_win_condition"))
    by_outcome_raw = bounded_map(obj["by_outcome"], "by_outcome", max_entries)
    by_win_raw = bounded_map(obj["by_win_condition"], "by_win_condition", max_entries)
    by_outcome = {
        Outcome.parse(key): decode(item, f"by_outcome.{key}")
        for key, item in by_outcome_raw.items()
    }
    by_win = {
        WinCondition.parse(key): decode(item, f"by_win_condition.{key}")
        for key, item in by_win_raw.items()
    }
    return SigMap(by_outcome, by_win)
