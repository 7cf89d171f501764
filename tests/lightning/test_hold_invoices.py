"""Entry fees: hold invoices paid by a player, then settled, cancelled or expired."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable

import pytest

from coordinator.adapters.lightning import LndRestClient
from coordinator.domain.ports.lightning import Invoice, InvoiceState, PaymentFailure, PaymentStatus
from coordinator_core.bolt11 import decode_invoice
from coordinator_core.errors import ConflictError, ValidationError
from tests.lightning.conftest import Collect, Nodes, eventually

ENTRY_SATS = 5_000
FEE_MSAT = 1_000 + ENTRY_SATS * 1_000 * 1_000 // 1_000_000  # devnet default fee policy
PLAYER_SATS = 100_000
COORDINATOR_SATS = 10_000


def ticket() -> tuple[bytes, bytes]:
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


async def accepted(client: LndRestClient, payment_hash: bytes) -> bool:
    return (await client.lookup_invoice(payment_hash)).state is InvoiceState.HELD


def state_of(payment_hash: bytes, state: InvoiceState) -> Callable[[Invoice], bool]:
    return lambda invoice: invoice.payment_hash == payment_hash and invoice.state is state


async def test_settle_path_pays_the_coordinator_and_reveals_the_preimage(
    nodes: Nodes, collect: Collect
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", PLAYER_SATS)
    invoices = collect(coordinator.subscribe_invoices())
    await nodes.listening(coordinator_node)
    preimage, payment_hash = ticket()

    created = await coordinator.create_hold_invoice(
        payment_hash, ENTRY_SATS * 1000, 600, "c:test;r:"
    )
    decoded = decode_invoice(created.payment_request)
    assert (decoded.payment_hash, decoded.amount_msat) == (payment_hash, ENTRY_SATS * 1000)
    assert decoded.payee == coordinator_node.pubkey and decoded.network == "regtest"
    assert (await coordinator.lookup_invoice(payment_hash)).state is InvoiceState.OPEN

    paying = asyncio.create_task(
        player.send_payment(
            created.payment_request,
            amount_msat=ENTRY_SATS * 1000,
            fee_limit_msat=50 * 1000,
            timeout_secs=20,
        )
    )
    await eventually(lambda: accepted(coordinator, payment_hash))
    held = await invoices.wait_for(state_of(payment_hash, InvoiceState.HELD))
    assert held.amount_paid_msat == ENTRY_SATS * 1000 and held.preimage is None

    # While held: the player's payment is in flight, the money is on neither side.
    assert not paying.done()
    assert (await player.track_payment(payment_hash)).status is PaymentStatus.IN_FLIGHT
    player_balance = await player.channel_balance()
    assert player_balance.local_msat == PLAYER_SATS * 1000 - ENTRY_SATS * 1000 - FEE_MSAT
    assert player_balance.unsettled_local_msat == ENTRY_SATS * 1000 + FEE_MSAT
    coordinator_balance = await coordinator.channel_balance()
    assert coordinator_balance.local_msat == COORDINATOR_SATS * 1000
    assert coordinator_balance.unsettled_remote_msat == ENTRY_SATS * 1000

    await coordinator.settle_invoice(preimage)
    payment = await asyncio.wait_for(paying, 10)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.preimage == preimage
    assert payment.fee_msat == FEE_MSAT
    settled = await invoices.wait_for(state_of(payment_hash, InvoiceState.SETTLED))
    assert settled.preimage == preimage
    assert (await player.track_payment(payment_hash)).preimage == preimage

    player_balance = await player.channel_balance()
    coordinator_balance = await coordinator.channel_balance()
    assert player_balance.local_msat == PLAYER_SATS * 1000 - ENTRY_SATS * 1000 - FEE_MSAT
    assert player_balance.unsettled_local_msat == 0
    assert coordinator_balance.local_msat == (COORDINATOR_SATS + ENTRY_SATS) * 1000
    assert coordinator_balance.unsettled_remote_msat == 0

    await coordinator.settle_invoice(preimage)  # idempotent
    with pytest.raises(ConflictError):
        await coordinator.cancel_invoice(payment_hash)


@pytest.mark.parametrize("ending", ["cancel", "expiry"])
async def test_cancel_and_expiry_fail_the_payment_and_refund_the_player(
    nodes: Nodes, collect: Collect, ending: str
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    player_node, player = await nodes.new("player", PLAYER_SATS)
    invoices = collect(coordinator.subscribe_invoices())
    payments = collect(player.subscribe_payments())
    await nodes.listening(coordinator_node)
    await nodes.listening(player_node)
    preimage, payment_hash = ticket()
    expiry = 600 if ending == "cancel" else 3
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, expiry)

    paying = asyncio.create_task(
        player.send_payment(
            created.payment_request,
            amount_msat=ENTRY_SATS * 1000,
            fee_limit_msat=50 * 1000,
            timeout_secs=20,
        )
    )
    await invoices.wait_for(state_of(payment_hash, InvoiceState.HELD))
    await payments.wait_for(lambda p: p.status is PaymentStatus.IN_FLIGHT)
    if ending == "cancel":
        await coordinator.cancel_invoice(payment_hash)
        await coordinator.cancel_invoice(payment_hash)  # idempotent

    payment = await asyncio.wait_for(paying, 15)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure == PaymentFailure.REJECTED_BY_PAYEE
    assert payment.preimage is None
    await invoices.wait_for(state_of(payment_hash, InvoiceState.CANCELED))
    streamed = await payments.wait_for(lambda p: p.status is PaymentStatus.FAILED)
    assert streamed.payment_hash == payment_hash
    assert (await coordinator.lookup_invoice(payment_hash)).state is InvoiceState.CANCELED
    assert (await player.track_payment(payment_hash)).status is PaymentStatus.FAILED

    player_balance = await player.channel_balance()
    coordinator_balance = await coordinator.channel_balance()
    assert (player_balance.local_msat, player_balance.unsettled_local_msat) == (
        PLAYER_SATS * 1000,
        0,
    )
    assert (coordinator_balance.local_msat, coordinator_balance.unsettled_remote_msat) == (
        COORDINATOR_SATS * 1000,
        0,
    )
    with pytest.raises(ConflictError):
        await coordinator.settle_invoice(preimage)


async def test_unpaid_hold_invoice_expires_and_cannot_be_paid(
    nodes: Nodes, collect: Collect
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", PLAYER_SATS)
    invoices = collect(coordinator.subscribe_invoices())
    await nodes.listening(coordinator_node)
    _, payment_hash = ticket()
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 2)
    await invoices.wait_for(state_of(payment_hash, InvoiceState.CANCELED))
    with pytest.raises(ValidationError, match="expired"):
        await player.send_payment(
            created.payment_request,
            amount_msat=ENTRY_SATS * 1000,
            fee_limit_msat=50 * 1000,
            timeout_secs=5,
        )
    assert (await player.channel_balance()).local_msat == PLAYER_SATS * 1000


async def test_send_timeout_is_reported_in_flight_never_as_success(nodes: Nodes) -> None:
    _, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", PLAYER_SATS)
    preimage, payment_hash = ticket()
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 600)

    payment = await player.send_payment(
        created.payment_request,
        amount_msat=ENTRY_SATS * 1000,
        fee_limit_msat=50 * 1000,
        timeout_secs=1,
    )
    assert payment.status is PaymentStatus.IN_FLIGHT
    assert payment.preimage is None
    # Sending again does not pay twice: LND refuses and the client reports the payment.
    again = await player.send_payment(
        created.payment_request,
        amount_msat=ENTRY_SATS * 1000,
        fee_limit_msat=50 * 1000,
        timeout_secs=1,
    )
    assert again.status is PaymentStatus.IN_FLIGHT
    assert again.created_at_ns == payment.created_at_ns

    await coordinator.settle_invoice(preimage)
    tracked = await player.track_payment(payment_hash)
    assert (tracked.status, tracked.preimage) == (PaymentStatus.SUCCEEDED, preimage)
    assert (await player.channel_balance()).local_msat == (
        PLAYER_SATS * 1000 - ENTRY_SATS * 1000 - FEE_MSAT
    )


async def test_single_invoice_stream_follows_one_invoice_to_its_end(nodes: Nodes) -> None:
    _, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, player = await nodes.new("player", PLAYER_SATS)
    preimage, payment_hash = ticket()
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 600)
    states: list[InvoiceState] = []

    async def follow() -> None:
        update: Invoice
        async for update in coordinator.subscribe_single_invoice(payment_hash):
            states.append(update.state)
            if update.state is InvoiceState.HELD:
                await coordinator.settle_invoice(preimage)

    following = asyncio.create_task(follow())
    await eventually(lambda: _has_open(states))
    await player.send_payment(
        created.payment_request,
        amount_msat=ENTRY_SATS * 1000,
        fee_limit_msat=50 * 1000,
        timeout_secs=10,
    )
    await asyncio.wait_for(following, 10)
    assert states == [InvoiceState.OPEN, InvoiceState.HELD, InvoiceState.SETTLED]


async def _has_open(states: list[InvoiceState]) -> bool:
    return InvoiceState.OPEN in states


async def test_hold_invoice_creation_is_idempotent(nodes: Nodes) -> None:
    _, coordinator = await nodes.new("coordinator", COORDINATOR_SATS)
    _, payment_hash = ticket()
    first = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 600)
    again = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, 600)
    assert again.payment_request == first.payment_request
    with pytest.raises(ConflictError):
        await coordinator.create_hold_invoice(payment_hash, (ENTRY_SATS + 1) * 1000, 600)
    with pytest.raises(ValidationError):
        await coordinator.create_hold_invoice(b"short", ENTRY_SATS * 1000, 600)
