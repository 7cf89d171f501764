"""Long-lived streams: reconnection, re-synchronisation, and devnet state across restarts."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from coordinator.adapters.lightning import LndRestClient
from coordinator.domain.ports.lightning import Invoice, InvoiceState, Payment, PaymentStatus
from coordinator_core.bolt11 import decode_invoice
from devnet.launcher import ServiceProcess
from devnet.lightning.control import DevnetNode, LightningDevnetControl
from tests.lightning.conftest import (
    TOKEN,
    Collect,
    Nodes,
    client_for,
    eventually,
    listening,
    start_devnet,
)

ENTRY_SATS = 5_000


def ticket() -> tuple[bytes, bytes]:
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


def invoice_is(payment_hash: bytes, state: InvoiceState) -> Callable[[Invoice], bool]:
    return lambda invoice: invoice.payment_hash == payment_hash and invoice.state is state


def payment_is(payment_hash: bytes, status: PaymentStatus) -> Callable[[Payment], bool]:
    return lambda payment: payment.payment_hash == payment_hash and payment.status is status


async def hold_and_pay(
    coordinator: LndRestClient, player: LndRestClient, expiry_secs: int
) -> tuple[bytes, bytes, float]:
    """A hold invoice paid by the player (left held); returns preimage, hash, expiry time."""
    preimage, payment_hash = ticket()
    created = await coordinator.create_hold_invoice(payment_hash, ENTRY_SATS * 1000, expiry_secs)
    payment = await player.send_payment(
        created.payment_request,
        amount_msat=ENTRY_SATS * 1000,
        fee_limit_msat=50 * 1000,
        timeout_secs=1,
    )
    assert payment.status is PaymentStatus.IN_FLIGHT
    return preimage, payment_hash, decode_invoice(created.payment_request).expires_at


@pytest.fixture
async def own_devnet(tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    """A devnet server this test may restart."""
    service = await asyncio.to_thread(start_devnet, tmp_path / "devnet")
    yield service
    await asyncio.to_thread(service.stop)


async def node_clients(
    service: ServiceProcess,
) -> tuple[DevnetNode, LndRestClient, DevnetNode, LndRestClient]:
    async with LightningDevnetControl(service.url, TOKEN) as control:
        coordinator_node = await control.node("coordinator")  # created at start-up
        player_node = await control.create_node("player", 100_000)
    return coordinator_node, client_for(coordinator_node), player_node, client_for(player_node)


async def test_streams_survive_a_restart_and_report_what_happened_meanwhile(
    own_devnet: ServiceProcess, collect: Collect
) -> None:
    coordinator_node, coordinator, player_node, player = await node_clients(own_devnet)
    try:
        invoices = collect(coordinator.subscribe_invoices())
        payments = collect(player.subscribe_payments())
        async with LightningDevnetControl(own_devnet.url, TOKEN) as control:
            await listening(control, coordinator_node.alias)
            await listening(control, player_node.alias)
        _, expiring, expires_at = await hold_and_pay(coordinator, player, expiry_secs=3)
        keep_preimage, kept, _ = await hold_and_pay(coordinator, player, expiry_secs=600)
        for payment_hash in (expiring, kept):
            await invoices.wait_for(invoice_is(payment_hash, InvoiceState.HELD))
            await payments.wait_for(payment_is(payment_hash, PaymentStatus.IN_FLIGHT))

        # The first invoice expires while the server is down; the restarted server cancels it
        # before it accepts connections, so only re-synchronisation can report it.
        await asyncio.to_thread(own_devnet.stop)
        await asyncio.sleep(max(0.0, expires_at - time.time() + 0.3))
        await asyncio.to_thread(own_devnet.start)
        await invoices.wait_for(invoice_is(expiring, InvoiceState.CANCELED))
        await payments.wait_for(payment_is(expiring, PaymentStatus.FAILED))

        # The same subscriptions carry live updates again.
        await coordinator.settle_invoice(keep_preimage)
        await invoices.wait_for(invoice_is(kept, InvoiceState.SETTLED))
        succeeded = await payments.wait_for(payment_is(kept, PaymentStatus.SUCCEEDED))
        assert succeeded.preimage == keep_preimage
    finally:
        await coordinator.aclose()
        await player.aclose()


async def test_restart_keeps_nodes_invoices_payments_and_balances(
    own_devnet: ServiceProcess,
) -> None:
    coordinator_node, coordinator, player_node, player = await node_clients(own_devnet)
    try:
        preimage, held, _ = await hold_and_pay(coordinator, player, expiry_secs=600)
        payout = await player.create_invoice(700 * 1000, 600)
        paid = await coordinator.send_payment(
            payout.payment_request, amount_msat=700 * 1000, fee_limit_msat=10 * 1000, timeout_secs=5
        )
        assert paid.status is PaymentStatus.SUCCEEDED
        before = (await coordinator.channel_balance(), await player.channel_balance())

        await asyncio.to_thread(own_devnet.restart)

        # Same credentials, same state.
        assert (await coordinator.get_info()).pubkey == coordinator_node.pubkey
        assert (await player.get_info()).pubkey == player_node.pubkey
        assert (await coordinator.channel_balance(), await player.channel_balance()) == before
        assert (await coordinator.lookup_invoice(held)).state is InvoiceState.HELD
        assert (await player.track_payment(held)).status is PaymentStatus.IN_FLIGHT
        assert (await coordinator.track_payment(paid.payment_hash)).preimage == paid.preimage
        assert (await player.lookup_invoice(payout.payment_hash)).state is InvoiceState.SETTLED
        # And the held payment completes after the restart.
        await coordinator.settle_invoice(preimage)
        assert (await player.track_payment(held)).status is PaymentStatus.SUCCEEDED
    finally:
        await coordinator.aclose()
        await player.aclose()


async def test_stream_resyncs_after_its_node_was_offline(
    nodes: Nodes, collect: Collect, control: LightningDevnetControl
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", 10_000)
    _, player = await nodes.new("player", 100_000)
    invoices = collect(coordinator.subscribe_invoices())
    await nodes.listening(coordinator_node)
    _, payment_hash, expires_at = await hold_and_pay(coordinator, player, expiry_secs=2)
    await invoices.wait_for(invoice_is(payment_hash, InvoiceState.HELD))

    # Offline: the node's streams end and reconnection attempts are refused (503) while the
    # held invoice expires.
    await control.set_online(coordinator_node.alias, False)
    await asyncio.sleep(max(0.0, expires_at - time.time() + 0.5))
    assert not any(invoice_is(payment_hash, InvoiceState.CANCELED)(i) for i in invoices.seen)
    await control.set_online(coordinator_node.alias, True)
    await invoices.wait_for(invoice_is(payment_hash, InvoiceState.CANCELED))


async def test_pending_items_are_checked_when_a_subscription_starts(
    nodes: Nodes, collect: Collect
) -> None:
    """A subscription started late (e.g. after a coordinator restart) catches up at once."""
    _, coordinator = await nodes.new("coordinator", 10_000)
    _, player = await nodes.new("player", 100_000)
    preimage, payment_hash, _ = await hold_and_pay(coordinator, player, expiry_secs=600)
    await coordinator.settle_invoice(preimage)

    async def pending() -> list[bytes]:
        return [payment_hash, os.urandom(32)]  # an unknown hash is skipped

    invoices = collect(coordinator.subscribe_invoices(pending))
    payments = collect(player.subscribe_payments(pending))
    await invoices.wait_for(invoice_is(payment_hash, InvoiceState.SETTLED))
    await payments.wait_for(payment_is(payment_hash, PaymentStatus.SUCCEEDED))


async def test_streams_are_released_when_clients_go_away(
    nodes: Nodes, collect: Collect, control: LightningDevnetControl
) -> None:
    coordinator_node, coordinator = await nodes.new("coordinator", 10_000)
    player_node, player = await nodes.new("player", 100_000)
    invoices = collect(coordinator.subscribe_invoices())
    await nodes.listening(coordinator_node)
    # A payment left in flight holds a send stream open until the client stops waiting.
    await hold_and_pay(coordinator, player, expiry_secs=600)
    await invoices.close()

    async def all_closed() -> bool:
        nodes_now = [await control.node(n.alias) for n in (coordinator_node, player_node)]
        return all(node.open_streams == 0 for node in nodes_now)

    await eventually(all_closed)
