"""Payouts: the coordinator pays a player's invoice with a fee limit.

Each outcome must be reported the same way by ``send_payment``, ``track_payment`` and the
payments stream.
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from coordinator.adapters.lightning import LndRestClient
from coordinator.domain.ports.lightning import InvoiceState, Payment, PaymentFailure, PaymentStatus
from coordinator_core.errors import ValidationError
from devnet.lightning.control import LightningDevnetControl
from devnet.lightning.invoices import encode_invoice
from tests.lightning.conftest import Collect, Collector, Nodes

PAYOUT_SATS = 1_000
FEE_MSAT = 1_000 + PAYOUT_SATS * 1_000 * 1_000 // 1_000_000  # devnet default fee policy
COORDINATOR_SATS = 50_000


async def pay(coordinator: LndRestClient, payment_request: str, fee_limit_sat: int = 10) -> Payment:
    return await coordinator.send_payment(
        payment_request,
        amount_msat=PAYOUT_SATS * 1000,
        fee_limit_msat=fee_limit_sat * 1000,
        timeout_secs=10,
    )


async def reported_everywhere(
    coordinator: LndRestClient, stream: Collector[Payment], sent: Payment
) -> None:
    """``track_payment`` and the payments stream agree with what ``send_payment`` returned."""
    tracked = await coordinator.track_payment(sent.payment_hash)
    streamed = await stream.wait_for(
        lambda p: p.payment_hash == sent.payment_hash and p.status is sent.status
    )
    for other in (tracked, streamed):
        assert (other.status, other.failure, other.preimage) == (
            sent.status,
            sent.failure,
            sent.preimage,
        )


async def test_successful_payout(nodes: Nodes, collect: Collect) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", 0)
    stream = collect(coordinator.subscribe_payments())
    await nodes.listening(coordinator_node)
    invoice = await player.create_invoice(PAYOUT_SATS * 1000, 600, "payout")

    payment = await pay(coordinator, invoice.payment_request)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.preimage is not None
    assert hashlib.sha256(payment.preimage).digest() == invoice.payment_hash
    assert (payment.amount_msat, payment.fee_msat) == (PAYOUT_SATS * 1000, FEE_MSAT)
    await reported_everywhere(coordinator, stream, payment)
    paid = await player.lookup_invoice(invoice.payment_hash)
    assert (paid.state, paid.amount_paid_msat, paid.preimage) == (
        InvoiceState.SETTLED,
        PAYOUT_SATS * 1000,
        payment.preimage,
    )

    # Paying the same invoice again reports the payment; nothing is paid twice.
    again = await pay(coordinator, invoice.payment_request)
    assert (again.status, again.created_at_ns) == (PaymentStatus.SUCCEEDED, payment.created_at_ns)
    assert (await coordinator.channel_balance()).local_msat == (
        COORDINATOR_SATS * 1000 - PAYOUT_SATS * 1000 - FEE_MSAT
    )
    assert (await player.channel_balance()).local_msat == PAYOUT_SATS * 1000


async def test_fee_over_the_limit_fails_without_paying(nodes: Nodes, collect: Collect) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", 0)
    stream = collect(coordinator.subscribe_payments())
    await nodes.listening(coordinator_node)
    invoice = await player.create_invoice(PAYOUT_SATS * 1000, 600)

    payment = await pay(coordinator, invoice.payment_request, fee_limit_sat=1)
    assert (payment.status, payment.failure) == (
        PaymentStatus.FAILED,
        PaymentFailure.NO_ROUTE,
    )
    await reported_everywhere(coordinator, stream, payment)
    assert (await coordinator.channel_balance()).local_msat == COORDINATOR_SATS * 1000


async def test_injected_failure_then_retry(
    nodes: Nodes, collect: Collect, control: LightningDevnetControl
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", 0)
    stream = collect(coordinator.subscribe_payments())
    await nodes.listening(coordinator_node)
    invoice = await player.create_invoice(PAYOUT_SATS * 1000, 600)
    await control.fail_next_payment(coordinator_node.alias, "FAILURE_REASON_ERROR")

    failed = await pay(coordinator, invoice.payment_request)
    assert (failed.status, failed.failure) == (PaymentStatus.FAILED, PaymentFailure.ERROR)
    assert failed.preimage is None
    await reported_everywhere(coordinator, stream, failed)
    assert (await coordinator.channel_balance()).local_msat == COORDINATOR_SATS * 1000

    # The injected failure was used up: a retry of the same invoice succeeds.
    retried = await pay(coordinator, invoice.payment_request)
    assert retried.status is PaymentStatus.SUCCEEDED
    await reported_everywhere(coordinator, stream, retried)


async def test_offline_receiver(
    nodes: Nodes, collect: Collect, control: LightningDevnetControl
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    player_node, player = await nodes.new("player", 0)
    stream = collect(coordinator.subscribe_payments())
    await nodes.listening(coordinator_node)
    invoice = await player.create_invoice(PAYOUT_SATS * 1000, 600)
    await control.set_online(player_node.alias, False)

    failed = await pay(coordinator, invoice.payment_request)
    assert (failed.status, failed.failure) == (
        PaymentStatus.FAILED,
        PaymentFailure.NO_ROUTE,
    )
    await reported_everywhere(coordinator, stream, failed)

    await control.set_online(player_node.alias, True)
    assert (await pay(coordinator, invoice.payment_request)).status is PaymentStatus.SUCCEEDED


async def test_receiver_unknown_to_the_network(nodes: Nodes, collect: Collect) -> None:
    """A well-formed regtest invoice of a node nobody can route to."""
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    stream = collect(coordinator.subscribe_payments())
    await nodes.listening(coordinator_node)
    payment_request = encode_invoice(
        os.urandom(32),
        currency="bcrt",
        payment_hash=hashlib.sha256(os.urandom(32)).digest(),
        payment_secret=os.urandom(32),
        amount_msat=PAYOUT_SATS * 1000,
        description="",
        created_at=int(time.time()),
        expiry_secs=600,
    )
    failed = await pay(coordinator, payment_request)
    assert (failed.status, failed.failure) == (
        PaymentStatus.FAILED,
        PaymentFailure.NO_ROUTE,
    )
    await reported_everywhere(coordinator, stream, failed)


async def test_payer_without_enough_balance(nodes: Nodes) -> None:
    _, coordinator = await nodes.new("coordinator", PAYOUT_SATS)  # fees do not fit
    _, player = await nodes.new("player", 0)
    invoice = await player.create_invoice(PAYOUT_SATS * 1000, 600)
    failed = await pay(coordinator, invoice.payment_request)
    assert (failed.status, failed.failure) == (
        PaymentStatus.FAILED,
        PaymentFailure.INSUFFICIENT_BALANCE,
    )


async def test_cltv_limit_bounds_the_route_time_lock(nodes: Nodes) -> None:
    """A payout sent with a time-lock cap pays an invoice whose final CLTV delta fits under it,
    and is refused (before any HTLC) when it does not."""
    _, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", 0)
    short = await player.create_invoice(PAYOUT_SATS * 1000, 600, "payout", cltv_expiry=6)
    assert coordinator.decode_invoice(short.payment_request).min_final_cltv_expiry == 6
    payment = await coordinator.send_payment(
        short.payment_request,
        amount_msat=None,
        fee_limit_msat=10_000,
        timeout_secs=10,
        cltv_limit=9,
    )
    assert payment.status is PaymentStatus.SUCCEEDED
    long = await player.create_invoice(PAYOUT_SATS * 1000, 600, "payout", cltv_expiry=40)
    with pytest.raises(ValidationError, match="time lock"):
        await coordinator.send_payment(
            long.payment_request,
            amount_msat=None,
            fee_limit_msat=10_000,
            timeout_secs=10,
            cltv_limit=39,
        )
    with pytest.raises(ValidationError):
        await coordinator.send_payment(
            long.payment_request, amount_msat=None, fee_limit_msat=0, timeout_secs=1, cltv_limit=-1
        )
