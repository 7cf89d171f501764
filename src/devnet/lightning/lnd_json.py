"""LND's REST JSON shapes: request bodies in, ``lnrpc`` messages out.

As LND's gateway: bytes are base64 (standard or URL-safe accepted), 64-bit integers are
decimal strings (numbers accepted in requests), enums by name, unknown request fields are
ignored, every response field is present. ``lnrpc.Payment`` carries hex hashes.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from coordinator_core.validation import Index64, Msat, Sat
from devnet.lightning.network import GRPC_INVALID_ARGUMENT, Balance, LndError
from devnet.lightning.store import InvoiceRecord, NodeRecord, PaymentRecord

LND_VERSION = "0.18.5-beta devnet"
ZERO_PREIMAGE_HEX = "00" * 32


def decode_bytes(value: object) -> bytes:
    """Bytes from LND-style base64 (standard or URL-safe, padding optional)."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str) or len(value) > 8192:
        raise ValueError("expected a base64 string")
    text = value.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"illegal base64 data: {exc}") from exc


def path_bytes(name: str, value: str) -> bytes:
    """A bytes path or query parameter, or LND's InvalidArgument error."""
    try:
        return decode_bytes(value)
    except ValueError as exc:
        raise LndError(
            GRPC_INVALID_ARGUMENT, f"type mismatch, parameter: {name}, error: {exc}"
        ) from None


B64 = Annotated[bytes, BeforeValidator(decode_bytes)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AddInvoiceRequest(_Request):
    """``lnrpc.Invoice`` as sent to ``POST /v1/invoices``."""

    memo: str = Field("", max_length=4096)
    r_preimage: B64 = b""
    value: Sat = 0
    value_msat: Msat = 0
    expiry: Index64 = 0
    cltv_expiry: Index64 = 0


class AddHoldInvoiceRequest(_Request):
    memo: str = Field("", max_length=4096)
    hash: B64
    value: Sat = 0
    value_msat: Msat = 0
    expiry: Index64 = 0
    cltv_expiry: Index64 = 0


class SettleInvoiceRequest(_Request):
    preimage: B64


class CancelInvoiceRequest(_Request):
    payment_hash: B64


class SendPaymentRequest(_Request):
    payment_request: str = Field("", max_length=8192)
    amt: Sat = 0
    amt_msat: Msat = 0
    fee_limit_sat: Sat = 0
    fee_limit_msat: Msat = 0
    timeout_seconds: Index64 = 0
    cltv_limit: Index64 = 0
    allow_self_payment: bool = False
    no_inflight_updates: bool = False


def value_msat(sat: int, msat: int) -> int:
    """LND's mutually exclusive ``value``/``value_msat`` pair, in msat."""
    if sat and msat:
        raise LndError(GRPC_INVALID_ARGUMENT, "value and value_msat are mutually exclusive")
    return msat or sat * 1000


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data or b"").decode("ascii")


def _amount(msat: int) -> dict[str, str]:
    return {"sat": str(msat // 1000), "msat": str(msat)}


def error_body(error: LndError) -> dict[str, Any]:
    """A unary call's error body."""
    return {"code": error.code, "message": error.message, "details": []}


def stream_line(result: dict[str, Any]) -> bytes:
    """One message of a server stream."""
    return json.dumps({"result": result}, separators=(",", ":")).encode() + b"\n"


def stream_error_body(error: LndError) -> dict[str, Any]:
    return {"error": error_body(error)}


def get_info(node: NodeRecord, num_peers: int) -> dict[str, Any]:
    return {
        "version": LND_VERSION,
        "commit_hash": "",
        "identity_pubkey": node.pubkey.hex(),
        "alias": node.alias,
        "color": "#3399ff",
        "num_pending_channels": 0,
        "num_active_channels": 1 if num_peers else 0,
        "num_inactive_channels": 0,
        "num_peers": num_peers,
        "block_height": 0,
        "block_hash": "",
        "best_header_timestamp": str(node.created_at),
        "synced_to_chain": True,
        "synced_to_graph": True,
        "testnet": False,
        "chains": [{"chain": "bitcoin", "network": "regtest"}],
        "uris": [],
        "features": {},
        "require_htlc_interceptor": False,
        "store_final_htlc_resolutions": False,
    }


def channel_balance(balance: Balance) -> dict[str, Any]:
    return {
        "balance": str(balance.local_msat // 1000),
        "pending_open_balance": "0",
        "local_balance": _amount(balance.local_msat),
        "remote_balance": _amount(0),
        "unsettled_local_balance": _amount(balance.unsettled_local_msat),
        "unsettled_remote_balance": _amount(balance.unsettled_remote_msat),
        "pending_open_local_balance": _amount(0),
        "pending_open_remote_balance": _amount(0),
    }


def add_invoice_response(invoice: InvoiceRecord, with_hash: bool) -> dict[str, Any]:
    """``AddInvoiceResponse`` (``with_hash``) or ``AddHoldInvoiceResp``."""
    answer: dict[str, Any] = {
        "payment_request": invoice.payment_request,
        "add_index": str(invoice.add_index),
        "payment_addr": _b64(invoice.payment_addr),
    }
    if with_hash:
        answer = {"r_hash": _b64(invoice.r_hash), **answer}
    return answer


def invoice(record: InvoiceRecord) -> dict[str, Any]:
    """``lnrpc.Invoice``."""
    htlcs = []
    if record.accept_time:
        htlcs.append(
            {
                "chan_id": "1",
                "htlc_index": str(record.add_index),
                "amt_msat": str(record.amt_paid_msat),
                "accept_height": 0,
                "accept_time": str(record.accept_time),
                "resolve_time": str(record.resolve_time),
                "expiry_height": record.cltv_expiry,
                "state": "ACCEPTED" if record.state in ("OPEN", "ACCEPTED") else record.state,
                "custom_records": {},
                "mpp_total_amt_msat": str(record.amt_paid_msat),
                "amp": None,
            }
        )
    # LND reveals a hold invoice's preimage only once it is settled.
    preimage = record.r_preimage if not record.is_hold or record.state == "SETTLED" else None
    return {
        "memo": record.memo,
        "r_preimage": _b64(preimage),
        "r_hash": _b64(record.r_hash),
        "value": str(record.value_msat // 1000),
        "value_msat": str(record.value_msat),
        "settled": record.state == "SETTLED",
        "creation_date": str(record.creation_date),
        "settle_date": str(record.settle_date),
        "payment_request": record.payment_request,
        "description_hash": "",
        "expiry": str(record.expiry),
        "fallback_addr": "",
        "cltv_expiry": str(record.cltv_expiry),
        "route_hints": [],
        "private": False,
        "add_index": str(record.add_index),
        "settle_index": str(record.settle_index),
        "amt_paid": str(record.amt_paid_msat),
        "amt_paid_sat": str(record.amt_paid_msat // 1000),
        "amt_paid_msat": str(record.amt_paid_msat),
        "state": record.state,
        "htlcs": htlcs,
        "features": {},
        "is_keysend": False,
        "payment_addr": _b64(record.payment_addr),
        "is_amp": False,
        "amp_invoice_state": {},
    }


def payment(record: PaymentRecord) -> dict[str, Any]:
    """``lnrpc.Payment``."""
    htlcs = []
    if record.htlc_status is not None:
        total = record.value_msat + record.fee_msat
        htlcs.append(
            {
                "attempt_id": str(record.payment_index),
                "status": record.htlc_status,
                "route": {
                    "total_time_lock": 0,
                    "total_fees": str(record.fee_msat // 1000),
                    "total_amt": str(total // 1000),
                    "hops": [],
                    "total_fees_msat": str(record.fee_msat),
                    "total_amt_msat": str(total),
                },
                "attempt_time_ns": str(record.creation_time_ns),
                "resolve_time_ns": str(record.resolve_time_ns),
                "failure": None,
                "preimage": _b64(record.preimage),
            }
        )
    return {
        "payment_hash": record.payment_hash.hex(),
        "value": str(record.value_msat // 1000),
        "creation_date": str(record.creation_time_ns // 1_000_000_000),
        "fee": str(record.fee_msat // 1000),
        "payment_preimage": record.preimage.hex() if record.preimage else ZERO_PREIMAGE_HEX,
        "value_sat": str(record.value_msat // 1000),
        "value_msat": str(record.value_msat),
        "payment_request": record.payment_request,
        "status": record.status,
        "fee_sat": str(record.fee_msat // 1000),
        "fee_msat": str(record.fee_msat),
        "creation_time_ns": str(record.creation_time_ns),
        "htlcs": htlcs,
        "payment_index": str(record.payment_index),
        "failure_reason": record.failure_reason,
        "first_hop_custom_records": {},
    }
