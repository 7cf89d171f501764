"""BOLT11 checks: invalid invoices are refused before any payment is attempted."""

from __future__ import annotations

import hashlib
import os
import time

import bolt11
import pytest
from coincurve import PrivateKey

from coordinator.adapters.lightning import LndRestClient
from coordinator.domain.ports.lightning import InvoiceState
from coordinator_core.bolt11 import InvalidInvoiceError, check_invoice, decode_invoice
from coordinator_core.errors import NotFoundError, ValidationError
from devnet.lightning.invoices import encode_invoice
from tests.lightning.conftest import Nodes

AMOUNT_MSAT = 21_000_000


def make_invoice(
    key: PrivateKey | None = None,
    *,
    currency: str = "bcrt",
    amount_msat: int | None = AMOUNT_MSAT,
    created_at: int | None = None,
    expiry_secs: int = 600,
    payment_hash: bytes | None = None,
) -> str:
    return encode_invoice(
        (key or PrivateKey()).secret,
        currency=currency,
        payment_hash=payment_hash or hashlib.sha256(os.urandom(32)).digest(),
        payment_secret=os.urandom(32),
        amount_msat=amount_msat,
        description="test",
        created_at=int(time.time()) if created_at is None else created_at,
        expiry_secs=expiry_secs,
    )


def with_wrong_signature() -> str:
    """An invoice naming one payee (``n`` field) but signed by another key."""
    claimed, signer = PrivateKey(), PrivateKey()
    tags = bolt11.Tags()
    tags.add(bolt11.TagChar.payment_hash, os.urandom(32).hex())
    tags.add(bolt11.TagChar.payment_secret, os.urandom(32).hex())
    tags.add(bolt11.TagChar.description, "test")
    tags.add(bolt11.TagChar.payee, claimed.public_key.format().hex())
    invoice = bolt11.Bolt11(
        currency="bcrt",
        date=int(time.time()),
        amount_msat=bolt11.MilliSatoshi(AMOUNT_MSAT),
        tags=tags,
    )
    return str(bolt11.encode(invoice, signer.secret.hex(), keep_payee=True))


def test_decoding_recovers_the_signer_and_fields() -> None:
    key = PrivateKey()
    payment_hash = os.urandom(32)
    now = int(time.time())
    decoded = decode_invoice(make_invoice(key, payment_hash=payment_hash, created_at=now))
    assert decoded.payee == key.public_key.format()
    assert decoded.payment_hash == payment_hash
    assert (decoded.network, decoded.amount_msat) == ("regtest", AMOUNT_MSAT)
    assert (decoded.created_at, decoded.expiry_secs, decoded.expires_at) == (now, 600, now + 600)
    assert decoded.min_final_cltv_expiry == 80
    assert decode_invoice(make_invoice(key).upper()).payee == key.public_key.format()


@pytest.mark.parametrize(
    ("payment_request", "reason"),
    [
        ("", "empty"),
        ("lnbcrt1garbage", "invalid BOLT11"),
        ("x" * 5000, "longer than"),
        (with_wrong_signature(), "invalid BOLT11"),
    ],
)
def test_malformed_invoices_are_refused(payment_request: str, reason: str) -> None:
    with pytest.raises(InvalidInvoiceError, match=reason):
        decode_invoice(payment_request)


def test_tampered_invoice_is_refused() -> None:
    text = make_invoice()
    position = len(text) // 2
    tampered = text[:position] + ("q" if text[position] != "q" else "p") + text[position + 1 :]
    with pytest.raises(InvalidInvoiceError):
        decode_invoice(tampered)


def test_checks_before_paying() -> None:
    now = time.time()
    invoice = decode_invoice(make_invoice(expiry_secs=600))
    assert check_invoice(invoice, network="regtest", amount_msat=None, now=now) == AMOUNT_MSAT
    assert check_invoice(invoice, network="regtest", amount_msat=AMOUNT_MSAT, now=now)
    with pytest.raises(InvalidInvoiceError, match="for regtest, expected bitcoin"):
        check_invoice(invoice, network="bitcoin", amount_msat=None, now=now)
    with pytest.raises(InvalidInvoiceError, match="differs"):
        check_invoice(invoice, network="regtest", amount_msat=AMOUNT_MSAT - 1000, now=now)
    with pytest.raises(InvalidInvoiceError, match="expired"):
        check_invoice(invoice, network="regtest", amount_msat=None, now=now + 601)
    with pytest.raises(InvalidInvoiceError, match="expired"):
        check_invoice(invoice, network="regtest", amount_msat=None, now=now, min_remaining_secs=700)

    open_amount = decode_invoice(make_invoice(amount_msat=None))
    assert open_amount.amount_msat is None
    with pytest.raises(InvalidInvoiceError, match="amount to pay is required"):
        check_invoice(open_amount, network="regtest", amount_msat=None, now=now)
    assert check_invoice(open_amount, network="regtest", amount_msat=5000, now=now) == 5000

    for currency, network in (("bc", "bitcoin"), ("tb", "testnet"), ("tbs", "signet")):
        assert decode_invoice(make_invoice(currency=currency)).network == network


@pytest.mark.parametrize(
    ("case", "amount_sat"),
    [
        ("wrong network", 21_000),
        ("expired", 21_000),
        ("wrong amount", 20_999),
        ("bad signature", 21_000),
    ],
)
async def test_client_refuses_before_any_payment(nodes: Nodes, case: str, amount_sat: int) -> None:
    _, payer = await nodes.new("payer", 100_000)
    # A payable invoice of a real devnet node, then spoiled one way or another.
    _, receiver = await nodes.new("receiver", 0)
    good = await receiver.create_invoice(21_000 * 1000, 600)
    payment_request = {
        "wrong network": make_invoice(currency="bc", payment_hash=good.payment_hash),
        "expired": make_invoice(
            created_at=int(time.time()) - 7200, expiry_secs=3600, payment_hash=good.payment_hash
        ),
        "wrong amount": good.payment_request,
        "bad signature": with_wrong_signature(),
    }[case]
    with pytest.raises(ValidationError):
        await payer.send_payment(
            payment_request,
            amount_msat=amount_sat * 1000,
            fee_limit_msat=100 * 1000,
            timeout_secs=5,
        )
    # Nothing reached the node: no payment record, no money moved.
    with pytest.raises(NotFoundError):
        await payer.track_payment(good.payment_hash)
    assert (await payer.channel_balance()).local_msat == 100_000_000
    assert (await receiver.lookup_invoice(good.payment_hash)).state is InvoiceState.OPEN


async def test_client_refuses_invoices_about_to_expire(nodes: Nodes) -> None:
    node, _ = await nodes.new("payer", 100_000)
    _, receiver = await nodes.new("receiver", 0)
    invoice = await receiver.create_invoice(1_000 * 1000, 5)
    cautious = LndRestClient(
        node.base_url, network="regtest", macaroon=node.macaroon, min_invoice_validity_secs=30
    )
    nodes.clients.append(cautious)
    with pytest.raises(ValidationError, match="expired"):
        await cautious.send_payment(
            invoice.payment_request,
            amount_msat=1_000 * 1000,
            fee_limit_msat=10 * 1000,
            timeout_secs=5,
        )
