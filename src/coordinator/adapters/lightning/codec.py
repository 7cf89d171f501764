"""LND REST JSON ↔ the Lightning port's dataclasses.

LND's vocabulary stays here: its invoice states (``ACCEPTED`` is the port's ``HELD``), payment
statuses (``UNKNOWN``/``INITIATED``/``IN_FLIGHT`` are all ``IN_FLIGHT``), ``FAILURE_REASON_*``
codes, network names and the subscription indexes.

LND encodes bytes fields as base64 (standard alphabet in JSON bodies, URL-safe in paths and
queries), 64-bit integers as decimal strings, enums by name; ``lnrpc.Payment`` is the exception
with hex ``payment_hash`` and ``payment_preimage``. Every field read is type-checked, so a
malformed answer is a clear PermanentError instead of a wrong value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from coordinator.domain.ports.lightning import (
    ChannelBalance,
    CreatedInvoice,
    Invoice,
    InvoiceState,
    NodeInfo,
    Payment,
    PaymentFailure,
    PaymentStatus,
)
from coordinator_core.bolt11 import BitcoinNetwork
from coordinator_core.errors import PermanentError
from coordinator_core.validation import is_hex

E = TypeVar("E", bound=StrEnum)

#: LND's name for each network in ``getinfo``.
LND_NETWORK_NAME: dict[BitcoinNetwork, str] = {
    "bitcoin": "mainnet",
    "testnet": "testnet",
    "signet": "signet",
    "regtest": "regtest",
}
_NETWORK_OF_LND_NAME = {name: network for network, name in LND_NETWORK_NAME.items()}

_INVOICE_STATE = {
    "OPEN": InvoiceState.OPEN,
    "ACCEPTED": InvoiceState.HELD,
    "SETTLED": InvoiceState.SETTLED,
    "CANCELED": InvoiceState.CANCELED,
}
_PAYMENT_STATUS = {"SUCCEEDED": PaymentStatus.SUCCEEDED, "FAILED": PaymentStatus.FAILED}
_FAILURE = {
    "FAILURE_REASON_TIMEOUT": PaymentFailure.TIMEOUT,
    "FAILURE_REASON_NO_ROUTE": PaymentFailure.NO_ROUTE,
    "FAILURE_REASON_INSUFFICIENT_BALANCE": PaymentFailure.INSUFFICIENT_BALANCE,
    "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS": PaymentFailure.REJECTED_BY_PAYEE,
    "FAILURE_REASON_CANCELED": PaymentFailure.CANCELED,
}


def b64(data: bytes) -> str:
    """Standard base64, as LND expects bytes in JSON bodies."""
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    """URL-safe base64, as LND expects bytes in paths and query strings."""
    return base64.urlsafe_b64encode(data).decode("ascii")


class Fields:
    """Typed access to one LND JSON object; malformed fields raise PermanentError."""

    def __init__(self, obj: Mapping[str, Any], what: str) -> None:
        self._obj = obj
        self._what = what

    def _fail(self, key: str, problem: str) -> PermanentError:
        return PermanentError(f"LND {self._what}: field {key!r} {problem}")

    def integer(self, key: str) -> int:
        value = self._obj.get(key, 0)
        if isinstance(value, bool):
            raise self._fail(key, "is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) <= 20:
            return int(value)
        raise self._fail(key, "is not an integer")

    def text(self, key: str, max_len: int = 8192) -> str:
        value = self._obj.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > max_len:
            raise self._fail(key, "is not a string")
        return value

    def flag(self, key: str) -> bool:
        value = self._obj.get(key, False)
        if not isinstance(value, bool):
            raise self._fail(key, "is not a boolean")
        return value

    def b64(self, key: str, size: int) -> bytes | None:
        """Base64 bytes of exactly ``size`` bytes; None when empty."""
        text = self.text(key, max_len=4 * size)
        if not text:
            return None
        try:
            value = base64.b64decode(
                text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
            )
        except (binascii.Error, ValueError) as exc:
            raise self._fail(key, "is not base64") from exc
        if len(value) != size:
            raise self._fail(key, f"is not {size} bytes")
        return value

    def hex_bytes(self, key: str, size: int) -> bytes | None:
        """Hex bytes of exactly ``size`` bytes; None when empty or all zero (LND's "unset")."""
        text = self.text(key, max_len=2 * size)
        if not text:
            return None
        if not is_hex(text):
            raise self._fail(key, "is not hex")
        value = bytes.fromhex(text)
        if len(value) != size:
            raise self._fail(key, f"is not {size} bytes")
        return None if value == bytes(size) else value

    def choice(self, key: str, choices: Mapping[str, E]) -> E:
        value = self.text(key, max_len=64)
        try:
            return choices[value]
        except KeyError:
            raise self._fail(key, f"has unknown value {value!r}") from None

    def obj(self, key: str) -> Fields:
        value = self._obj.get(key) or {}
        if not isinstance(value, Mapping):
            raise self._fail(key, "is not an object")
        return Fields(value, self._what)

    def items(self, key: str) -> list[Any]:
        value = self._obj.get(key) or []
        if not isinstance(value, list):
            raise self._fail(key, "is not a list")
        return value


def parse_node_info(obj: Mapping[str, Any]) -> NodeInfo:
    f = Fields(obj, "getinfo")
    pubkey = f.hex_bytes("identity_pubkey", 33)
    if pubkey is None:
        raise PermanentError("LND getinfo: no identity_pubkey")
    chains = f.items("chains")
    network = None
    if chains and isinstance(chains[0], Mapping):
        network = _NETWORK_OF_LND_NAME.get(Fields(chains[0], "getinfo").text("network", 32))
    return NodeInfo(
        pubkey=pubkey,
        alias=f.text("alias", 256),
        network=network,
        block_height=f.integer("block_height"),
        synced_to_chain=f.flag("synced_to_chain"),
        version=f.text("version", 256),
    )


def parse_channel_balance(obj: Mapping[str, Any]) -> ChannelBalance:
    f = Fields(obj, "channel balance")
    return ChannelBalance(
        local_msat=f.obj("local_balance").integer("msat"),
        remote_msat=f.obj("remote_balance").integer("msat"),
        unsettled_local_msat=f.obj("unsettled_local_balance").integer("msat"),
        unsettled_remote_msat=f.obj("unsettled_remote_balance").integer("msat"),
    )


def parse_created_invoice(
    obj: Mapping[str, Any], payment_hash: bytes, what: str = "add invoice"
) -> CreatedInvoice:
    """An AddInvoice/AddHoldInvoice answer; ``r_hash``, when present, must be ``payment_hash``."""
    f = Fields(obj, what)
    r_hash = f.b64("r_hash", 32)
    if r_hash is not None and r_hash != payment_hash:
        raise PermanentError(f"LND {what}: answered for another payment hash")
    payment_request = f.text("payment_request")
    if not payment_request:
        raise PermanentError(f"LND {what}: no payment_request")
    return CreatedInvoice(payment_hash=payment_hash, payment_request=payment_request)


def parse_invoice(obj: Mapping[str, Any]) -> Invoice:
    f = Fields(obj, "invoice")
    payment_hash = f.b64("r_hash", 32)
    if payment_hash is None:
        raise PermanentError("LND invoice: no r_hash")
    preimage = f.b64("r_preimage", 32)
    if preimage is not None and hashlib.sha256(preimage).digest() != payment_hash:
        # LND reports no preimage for an unsettled hold invoice; anything else must match.
        raise PermanentError("LND invoice: r_preimage does not match r_hash")
    state = f.choice("state", _INVOICE_STATE)
    settle_date = f.integer("settle_date")
    return Invoice(
        payment_hash=payment_hash,
        state=state,
        amount_msat=f.integer("value_msat") or f.integer("value") * 1000,
        amount_paid_msat=f.integer("amt_paid_msat"),
        memo=f.text("memo", 4096),
        payment_request=f.text("payment_request"),
        created_at=f.integer("creation_date"),
        expiry_secs=f.integer("expiry"),
        settled_at=settle_date if state is InvoiceState.SETTLED and settle_date else None,
        preimage=preimage,
    )


def invoice_indexes(obj: Mapping[str, Any]) -> tuple[int, int]:
    """``(add_index, settle_index)`` of an LND invoice message (0 when malformed)."""
    f = Fields(obj, "invoice")
    try:
        return f.integer("add_index"), f.integer("settle_index")
    except PermanentError:
        return 0, 0


def parse_payment(obj: Mapping[str, Any]) -> Payment:
    f = Fields(obj, "payment")
    payment_hash = f.hex_bytes("payment_hash", 32)
    if payment_hash is None:
        raise PermanentError("LND payment: no payment_hash")
    # A status this client does not know is not final: the payment keeps being tracked.
    status = _PAYMENT_STATUS.get(f.text("status", 64), PaymentStatus.IN_FLIGHT)
    preimage = f.hex_bytes("payment_preimage", 32) if status is PaymentStatus.SUCCEEDED else None
    if status is PaymentStatus.SUCCEEDED:
        if preimage is None:
            raise PermanentError("LND payment: SUCCEEDED without a preimage")
        if hashlib.sha256(preimage).digest() != payment_hash:
            raise PermanentError("LND payment: preimage does not match the payment hash")
    failure = None
    if status is PaymentStatus.FAILED:
        failure = _FAILURE.get(f.text("failure_reason", 64), PaymentFailure.ERROR)
    return Payment(
        payment_hash=payment_hash,
        status=status,
        amount_msat=f.integer("value_msat"),
        fee_msat=f.integer("fee_msat"),
        preimage=preimage,
        failure=failure,
        payment_request=f.text("payment_request"),
        created_at_ns=f.integer("creation_time_ns"),
    )
