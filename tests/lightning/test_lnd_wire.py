"""LND's wire format as the client reads it: stream envelopes, error shapes, field checks."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from coordinator.adapters.lightning.codec import b64, invoice_indexes, parse_invoice, parse_payment
from coordinator.adapters.lightning.transport import (
    LineSplitter,
    parse_stream_line,
    response_error,
)
from coordinator.domain.ports.lightning import InvoiceState, PaymentFailure, PaymentStatus
from coordinator_core.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
)


def test_stream_lines_are_result_envelopes() -> None:
    assert parse_stream_line(b'{"result": {"state": "OPEN"}}', "x") == {"state": "OPEN"}
    assert parse_stream_line(b"  \r", "x") is None
    with pytest.raises(PermanentError, match="without a result"):
        parse_stream_line(b'{"state": "OPEN"}', "x")  # unwrapped messages are not accepted
    with pytest.raises(PermanentError, match="not JSON"):
        parse_stream_line(b"{", "x")
    with pytest.raises(ConflictError, match="invoice is already paid"):
        parse_stream_line(b'{"error": {"code": 2, "message": "invoice is already paid"}}', "x")
    with pytest.raises(TransientError):
        parse_stream_line(b'{"error": {"code": 14, "message": "unavailable"}}', "x")


def test_line_splitter_joins_chunks_and_bounds_lines() -> None:
    splitter = LineSplitter(16, "x")
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b':1}\n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert splitter.rest() == b'{"c"'
    with pytest.raises(PermanentError, match="longer than 16"):
        splitter.feed(b"x" * 17)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"code": 5, "message": "unable to locate invoice"}, NotFoundError),
        (500, {"code": 2, "message": "payment isn't initiated"}, NotFoundError),
        (500, {"error": {"code": 2, "message": "payment is in transition"}}, ConflictError),
        (500, {"code": 2, "message": "invoice with payment hash already exists"}, ConflictError),
        (500, {"code": 2, "message": "invoice expired. Valid until ..."}, PermanentError),
        (503, {"code": 14, "message": "node is offline"}, TransientError),
        (502, "<html>bad gateway</html>", TransientError),
        (401, "", PermanentError),
    ],
)
def test_error_answers_map_to_error_kinds(
    status: int, body: object, error: type[Exception]
) -> None:
    raw = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
    mapped = response_error(status, raw, "POST /v2/router/send")
    assert type(mapped) is error
    assert "POST /v2/router/send" in mapped.message


def _invoice(**fields: object) -> dict[str, object]:
    preimage = os.urandom(32)
    base: dict[str, object] = {
        "r_hash": b64(hashlib.sha256(preimage).digest()),
        "r_preimage": "",
        "value_msat": "5000000",
        "state": "ACCEPTED",
        "add_index": "7",
        "amt_paid_msat": "5000000",
    }
    return {**base, **fields}


def test_invoices_are_checked_field_by_field() -> None:
    invoice = parse_invoice(_invoice())
    assert (invoice.state, invoice.amount_msat) == (InvoiceState.HELD, 5_000_000)
    assert invoice_indexes(_invoice()) == (7, 0)
    with pytest.raises(PermanentError, match="'state' has unknown value"):
        parse_invoice(_invoice(state="MAYBE"))
    with pytest.raises(PermanentError, match="'value_msat' is not an integer"):
        parse_invoice(_invoice(value_msat="5e6"))
    with pytest.raises(PermanentError, match="'r_hash' is not 32 bytes"):
        parse_invoice(_invoice(r_hash=b64(b"short")))
    with pytest.raises(PermanentError, match="does not match"):
        parse_invoice(_invoice(r_preimage=b64(os.urandom(32))))


def test_a_succeeded_payment_must_prove_itself() -> None:
    preimage = os.urandom(32)
    payment_hash = hashlib.sha256(preimage).digest()
    base = {"payment_hash": payment_hash.hex(), "status": "SUCCEEDED", "value_msat": "1000"}
    payment = parse_payment({**base, "payment_preimage": preimage.hex()})
    assert (payment.status, payment.preimage) == (PaymentStatus.SUCCEEDED, preimage)
    with pytest.raises(PermanentError, match="without a preimage"):
        parse_payment({**base, "payment_preimage": "00" * 32})
    with pytest.raises(PermanentError, match="does not match"):
        parse_payment({**base, "payment_preimage": os.urandom(32).hex()})
    in_flight = parse_payment({**base, "status": "IN_FLIGHT", "payment_preimage": "00" * 32})
    assert (in_flight.status, in_flight.preimage) == (PaymentStatus.IN_FLIGHT, None)
    failed = parse_payment(
        {**base, "status": "FAILED", "failure_reason": "FAILURE_REASON_NO_ROUTE"}
    )
    assert failed.failure is PaymentFailure.NO_ROUTE
    unknown = parse_payment({**base, "status": "FAILED", "failure_reason": "FAILURE_REASON_NEW"})
    assert unknown.failure is PaymentFailure.ERROR
    # A status this client does not know is treated as not final.
    assert parse_payment({**base, "status": "NEWFANGLED"}).status is PaymentStatus.IN_FLIGHT
