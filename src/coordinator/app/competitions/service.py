"""The lifecycle's background work, started in order: reconciliation, then everything else.

At start, before the processor and the payout sender run, :func:`reconcile` compares the
database with the world and repairs the database from it: a payout the Lightning node reports
succeeded is recorded (never sent again), a settlement transaction the chain holds is recorded
as broadcast or confirmed, and every unpaid reservation's invoice is checked. This is what
makes a restart after a crash, or from an older backup, safe. Only then do the processor, the
invoice and payment watchers (node streams, with polling as the fallback) and the payout
sender start.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from coordinator.app import metrics
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import entry_by_player, outcome_of, params_of
from coordinator.app.competitions.leaderboard import Leaderboard
from coordinator.app.competitions.payouts import PayoutSender
from coordinator.app.competitions.processor import Processor
from coordinator.app.competitions.read_cache import ReadCache
from coordinator.app.competitions.registration import forward, forward_pending
from coordinator.app.competitions.tickets import InvoiceWatcher
from coordinator.app.tasks import BackgroundTasks, run_periodically
from coordinator.domain.competitions.payouts import payout_amount
from coordinator.domain.competitions.records import PayoutHold, PayoutStatus, Ticket
from coordinator.domain.competitions.states import State
from coordinator.domain.ports.lightning import PaymentStatus
from coordinator_core.errors import ConflictError, CoordinatorError, NotFoundError

log = logging.getLogger(__name__)

RECONCILE_RETRY_SECS = 5.0

PROCESSOR_TASK = "competition_processor"
TASKS = (
    "invoice_stream",
    "invoice_poll",
    "payment_stream",
    "payout_poll",
    "registration_forwarder",
)


@dataclass
class CompetitionServices:
    """The lifecycle's services, shared by the HTTP routes and the background tasks."""

    lc: Lifecycle
    processor: Processor = field(init=False)
    sender: PayoutSender = field(init=False)
    invoices: InvoiceWatcher = field(init=False)
    board: Leaderboard = field(init=False)
    lists: ReadCache = field(default_factory=ReadCache)
    reconciled: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.processor = Processor(self.lc)
        self.sender = PayoutSender(self.lc)
        self.invoices = InvoiceWatcher(self.lc, self.on_paid)
        self.board = Leaderboard(self.lc)

    async def on_paid(self, ticket: Ticket) -> None:
        """A ticket's entry fee is held: forward its signer registration, look at the
        competition again."""
        try:
            await forward(self.lc, ticket)
        except CoordinatorError as exc:
            log.warning("registration of ticket %s not forwarded yet: %s", ticket.id, exc)
        self.processor.wake()

    def start(self, tasks: BackgroundTasks) -> None:
        tasks.start(PROCESSOR_TASK, lambda: self.run(tasks))

    async def run(self, tasks: BackgroundTasks) -> None:
        """Reconcile (retried until the node and chain answer), then run everything."""
        while True:
            try:
                await reconcile(self.lc, self.invoices)
                break
            except CoordinatorError as exc:
                log.warning("start-up reconciliation failed (%s); retrying", exc)
            await asyncio.sleep(RECONCILE_RETRY_SECS)
        self.reconciled.set()
        settings = self.lc.settings
        invoice_every = settings.lightning.invoice_watch_interval_secs
        payout_every = settings.lightning.payout_watch_interval_secs
        tasks.start("invoice_stream", self.invoices.stream)
        tasks.start(
            "invoice_poll", lambda: run_periodically("invoice_poll", invoice_every, self._poll)
        )
        tasks.start("payment_stream", self._payment_stream)
        tasks.start(
            "payout_poll",
            lambda: run_periodically("payout_poll", payout_every, self.sender.send_pending),
        )
        tasks.start(
            "registration_forwarder",
            lambda: run_periodically("registration_forwarder", invoice_every, self._forward),
        )
        await self.processor.run(settings.coordinator.sync_interval_secs)

    async def _poll(self) -> None:
        await self.invoices.poll()

    async def _forward(self) -> None:
        await forward_pending(self.lc, await self.lc.store.active_ids())

    async def _payment_stream(self) -> None:
        async def pending() -> list[bytes]:
            return [p.payment_hash for p in await self.lc.store.pending_payouts()]

        async for payment in self.lc.lightning.subscribe_payments(pending):
            try:
                await self.sender.on_payment(payment)
            except ConflictError as exc:
                log.error("payment update conflicts with the database: %s", exc)


async def reconcile(lc: Lifecycle, invoices: InvoiceWatcher) -> None:
    """Repair the database from the Lightning node and the chain (see the module doc)."""
    for competition_id in await lc.store.active_ids():
        for payout in await lc.store.payouts_of(competition_id):
            if payout.status is PayoutStatus.SUCCEEDED:
                continue
            try:
                payment = await lc.lightning.track_payment(payout.payment_hash)
            except NotFoundError:
                continue
            if payment.status is PaymentStatus.SUCCEEDED and payment.preimage is not None:
                try:
                    if await lc.store.mark_payout_succeeded(
                        payout.id, lc.clock(), payment.preimage, payment.fee_msat
                    ):
                        log.warning("reconciled: payout %s had succeeded", payout.id)
                except ConflictError as exc:
                    log.error("reconciled: %s", exc)
                    metrics.SETTLEMENT_ALERTS.inc(action="reconcile_payout")
            elif payment.status is PaymentStatus.FAILED and payout.status is PayoutStatus.PENDING:
                reason = payment.failure.value if payment.failure else "failed"
                await lc.store.mark_payout_failed(
                    payout.id, lc.clock(), f"payment failed: {reason}"
                )
    for tx in await lc.store.unconfirmed_txs():
        status = await lc.chain.tx_status(tx.txid)
        if status is None:
            continue  # its step broadcasts the stored transaction again
        if status.confirmed and status.block_height is not None:
            await lc.store.mark_tx_confirmed(tx.txid, status.block_height, lc.clock())
            log.info("reconciled: %s transaction %s confirmed", tx.kind, tx.txid)
        elif tx.broadcast_at is None:
            await lc.store.mark_tx_broadcast(tx.txid, lc.clock())
            log.info("reconciled: %s transaction %s was broadcast", tx.kind, tx.txid)
    await hold_unexplained_payments(lc)
    await unlock_orphaned_coins(lc)
    await invoices.poll()


async def unlock_orphaned_coins(lc: Lifecycle) -> None:
    """Coins locked for a funding PSBT that was never recorded (a crash right after the wallet
    built it) are unlocked; the coins of every recorded, still pending funding stay locked."""
    keep = []
    for competition_id in await lc.store.active_ids():
        c = await lc.store.load(competition_id, documents=False)
        if c is None or c.funding_psbt is None:
            continue
        if c.progress.cancelled_at is None and c.progress.failed_at is None:
            keep.append(c.funding_psbt)
    freed = await lc.wallet.unlock_unclaimed(keep)
    if freed:
        log.warning("reconciled: unlocked %d coins no recorded funding spends", len(freed))


async def hold_unexplained_payments(lc: Lifecycle) -> None:
    """A node payment no payout row explains means the database is older than the node's
    record (a restore from backup). If its amount is what an unpaid winner of a settling
    competition is owed, that winner's payouts are held for an operator: paying it again
    with another invoice could pay twice. (Asking again with the same invoice is safe: the
    node's record of that payment is found and recorded.)"""
    explained = await lc.store.all_payment_hashes()
    held = {(h.entry_id, h.payment_hash) for h in await lc.store.holds(active_only=False)}
    unexplained = [
        p
        for p in await lc.lightning.list_payments()
        if p.status is not PaymentStatus.FAILED and p.payment_hash not in explained
    ]
    if not unexplained:
        return
    owed = await unpaid_winners(lc)
    for payment in unexplained:
        amount = payment.amount_msat // 1000
        for entry_id, owed_sats in owed:
            if owed_sats != amount or (entry_id, payment.payment_hash) in held:
                continue
            reason = f"a node payment of {amount} sats that no payout record explains"
            if await lc.store.insert_hold(
                PayoutHold(entry_id, payment.payment_hash, amount, reason, lc.clock())
            ):
                log.warning("payouts of entry %s held: %s", entry_id, reason)
                metrics.SETTLEMENT_ALERTS.inc(action="payout_hold")


async def unpaid_winners(lc: Lifecycle) -> list[tuple[uuid.UUID, int]]:
    """(entry id, sats owed) of every winner of a settling competition not yet paid."""
    found: list[tuple[uuid.UUID, int]] = []
    for competition_id in await lc.store.active_ids():
        c = await lc.store.load(competition_id)
        if c is None or c.state is not State.OUTCOME_BROADCASTED or c.settled_outcome is None:
            continue
        params = params_of(c)
        weights = params.outcome_payouts[outcome_of(c.settled_outcome)]
        for player, entry in entry_by_player(await lc.store.entries_of(c.id)).items():
            if player not in weights:
                continue
            payouts = await lc.store.payouts_of_entry(entry.id)
            if any(p.status is PayoutStatus.SUCCEEDED for p in payouts):
                continue
            amount = payout_amount(params.funding_value, weights, player, len(params.players))
            found.append((entry.id, amount))
    return found
