"""Lightning payouts: a winner sells back its on-chain claim, inside the payout window.

A request is checked completely, its payout row is persisted (pending) together with the
revealed secrets, and only then is the payment sent, always by :class:`PayoutSender` (the only
Lightning sender). A payment is tracked until the node reports it final; it is never assumed
to have succeeded or failed. Before any send the node is asked whether it already knows the
payment, so a crash between sending and recording never leads to a second payment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass

from coordinator.app import metrics
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import entry_by_player, outcome_of, params_of
from coordinator.app.competitions.crash_points import crash_point
from coordinator.app.competitions.onchain import confirmed_height
from coordinator.domain.competitions.payouts import cltv_limit, payout_amount, window_allows
from coordinator.domain.competitions.records import (
    Competition,
    Payout,
    PayoutStatus,
    TxKind,
)
from coordinator.domain.competitions.states import State
from coordinator.domain.ports.lightning import Payment, PaymentStatus
from coordinator_core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from coordinator_core.ids import uuid7
from ticketdlc.crypto.secp import CURVE_ORDER, Point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PayoutRequest:
    """``POST …/entries/{entry_id}/payout`` (upstream ``PayoutInfo``)."""

    ticket_id: uuid.UUID
    payout_preimage: bytes
    ephemeral_private_key: bytes
    ln_invoice: str


async def window_limit(lc: Lifecycle, c: Competition) -> int | None:
    """The ``cltv_limit`` a payout of ``c`` sent now would get; ``None`` if the window is
    not open (outcome not confirmed, already split or closed, or the window is over)."""
    if c.state is not State.OUTCOME_BROADCASTED:
        return None
    outcome_tx = next((t for t in await lc.store.txs_of(c.id) if t.kind is TxKind.OUTCOME), None)
    if outcome_tx is None:
        return None
    height = await confirmed_height(lc, outcome_tx)
    if height is None:
        return None
    spend = await lc.chain.output_spend(outcome_tx.txid, 0)
    if spend is not None and spend.spent:
        return None
    limit = cltv_limit(
        height,
        c.terms.relative_locktime_block_delta,
        await lc.chain.tip_height(),
        lc.payout_rules,
    )
    return limit if limit > 0 else None


async def request_payout(
    lc: Lifecycle,
    sender: PayoutSender,
    caller: str,
    competition_id: uuid.UUID,
    entry_id: uuid.UUID,
    request: PayoutRequest,
) -> Payout:
    """Check a sell-back request, persist it, pay it; the returned payout may be pending."""
    c = await lc.store.load(competition_id)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    entry = await lc.store.entry(entry_id)
    if entry is None or entry.competition_id != c.id:
        raise NotFoundError(f"entry {entry_id} not found in this competition")
    if entry.owner != caller:
        raise ForbiddenError("this entry belongs to someone else")
    if request.ticket_id != entry.ticket_id:
        raise ValidationError("ticket_id is not this entry's ticket")
    if c.state in (State.DELTA_BROADCASTED, State.COMPLETED):
        raise ConflictError("the payout window is over: funds went to the on-chain outputs")
    if c.state is not State.OUTCOME_BROADCASTED or c.settled_outcome is None:
        raise ConflictError("payouts open once the outcome transaction is broadcast")
    params = params_of(c)
    outcome = outcome_of(c.settled_outcome)
    players = entry_by_player(await lc.store.entries_of(c.id))
    player = next(i for i, e in players.items() if e.id == entry.id)
    weights = params.outcome_payouts[outcome]
    if player not in weights:
        raise ValidationError("this entry did not win")
    key = int.from_bytes(request.ephemeral_private_key, "big")
    if not 0 < key < CURVE_ORDER or Point.from_secret(key).to_bytes() != entry.ephemeral_pubkey:
        raise ValidationError("ephemeral_private_key is not the entry's key")
    if hashlib.sha256(request.payout_preimage).digest() != entry.payout_hash:
        raise ValidationError("payout_preimage does not match the entry's payout_hash")
    holds = {h.payment_hash for h in await lc.store.holds() if h.entry_id == entry.id}
    for existing in await lc.store.payouts_of_entry(entry.id):
        if existing.status is PayoutStatus.SUCCEEDED:
            raise ConflictError("this entry was already paid out")
        if existing.status is PayoutStatus.PENDING:
            raise ConflictError("a payout of this entry is in progress")
    amount = payout_amount(params.funding_value, weights, player, len(params.players))
    limit = await window_limit(lc, c)
    if limit is None:
        raise ConflictError("the payout window is not open (outcome not confirmed, or over)")
    decoded = lc.lightning.decode_invoice(request.ln_invoice, amount * 1000)
    if holds and decoded.payment_hash not in holds:
        # Only the invoice the node already paid may be presented again (it is not paid twice).
        raise ConflictError("payouts of this entry are on hold for an operator's review")
    if not window_allows(limit, decoded.min_final_cltv_expiry):
        raise ValidationError(
            f"the invoice needs a final CLTV delta of {decoded.min_final_cltv_expiry} blocks; "
            f"the payout window allows at most {limit - 3} now"
        )
    await lc.store.reveal_secrets(
        entry.id,
        lc.seal_entry_secret("entry-key", entry.id, request.ephemeral_private_key),
        lc.seal_entry_secret("payout-preimage", entry.id, request.payout_preimage),
    )
    payout = Payout(
        id=uuid7(),
        entry_id=entry.id,
        competition_id=c.id,
        payment_request=decoded.payment_request,
        payment_hash=decoded.payment_hash,
        amount_sats=amount,
        initiated_at=lc.clock(),
        cltv_limit=limit,
        fee_limit_sats=lc.payout_rules.fee_limit_sats,
        invoice_expires_at=dt.datetime.fromtimestamp(decoded.expires_at, dt.UTC),
        min_final_cltv_expiry=decoded.min_final_cltv_expiry,
    )
    await lc.store.insert_payout(payout)
    log.info("payout %s of %d sats to entry %s requested", payout.id, amount, entry.id)
    result = await sender.send(payout.id)
    if holds and result.status is PayoutStatus.SUCCEEDED:
        await lc.store.release_hold(entry.id, lc.clock())
    return result


class PayoutSender:
    """Sends and tracks every Lightning payout; nothing else pays."""

    def __init__(self, lc: Lifecycle) -> None:
        self.lc = lc
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    def _lock(self, payout_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(payout_id, asyncio.Lock())

    async def send(self, payout_id: uuid.UUID) -> Payout:
        """Make sure a pending payout is (being) paid; returns its state."""
        lc = self.lc
        async with self._lock(payout_id):
            payout = await lc.store.payout(payout_id)
            if payout is None:
                raise NotFoundError(f"payout {payout_id} not found")
            if payout.status is not PayoutStatus.PENDING:
                return payout
            try:
                known = await lc.lightning.track_payment(payout.payment_hash)
            except NotFoundError:
                known = None
            if known is not None:
                return await self.apply(payout, known)
            c = await lc.store.load(payout.competition_id)
            limit = None if c is None else await window_limit(lc, c)
            if limit is None or not window_allows(limit, payout.min_final_cltv_expiry):
                await self._fail(payout, "the payout window closed before the payment was sent")
                return await self._reload(payout)
            if payout.invoice_expires_at <= lc.clock():
                await self._fail(payout, "the invoice expired before the payment was sent")
                return await self._reload(payout)
            await lc.store.mark_payout_sent(payout.id, lc.clock(), limit)
            crash_point("before_send:payout")
            try:
                payment = await lc.lightning.send_payment(
                    payout.payment_request,
                    amount_msat=payout.amount_sats * 1000,
                    fee_limit_msat=payout.fee_limit_sats * 1000,
                    timeout_secs=lc.payout_rules.timeout_secs,
                    cltv_limit=limit,
                )
            except TransientError as exc:
                log.warning("payout %s not sent yet: %s", payout.id, exc)
                return await self._reload(payout)
            except ValidationError as exc:
                await self._fail(payout, str(exc))
                return await self._reload(payout)
            crash_point("after_send:payout")
            return await self.apply(payout, payment)

    async def apply(self, payout: Payout, payment: Payment) -> Payout:
        """Record what the node reports about a payout's payment."""
        lc = self.lc
        if payment.status is PaymentStatus.SUCCEEDED and payment.preimage is not None:
            if await lc.store.mark_payout_succeeded(
                payout.id, lc.clock(), payment.preimage, payment.fee_msat
            ):
                metrics.PAYOUTS.inc(status="succeeded")
                log.info("payout %s succeeded", payout.id)
        elif payment.status is PaymentStatus.FAILED:
            reason = payment.failure.value if payment.failure else "failed"
            await self._fail(payout, f"payment failed: {reason}")
        return await self._reload(payout)

    async def _fail(self, payout: Payout, reason: str) -> None:
        if await self.lc.store.mark_payout_failed(payout.id, self.lc.clock(), reason):
            metrics.PAYOUTS.inc(status="failed")
            log.info("payout %s failed: %s", payout.id, reason)

    async def _reload(self, payout: Payout) -> Payout:
        found = await self.lc.store.payout(payout.id)
        assert found is not None
        return found

    async def on_payment(self, payment: Payment) -> None:
        """A payment update from the node's stream."""
        for payout in await self.lc.store.pending_payouts():
            if payout.payment_hash == payment.payment_hash:
                async with self._lock(payout.id):
                    await self.apply(payout, payment)

    async def send_pending(self) -> None:
        """The polling pass: every pending payout is tracked (or sent if it never was)."""
        for payout in await self.lc.store.pending_payouts():
            try:
                await self.send(payout.id)
            except (TransientError, ConflictError) as exc:
                log.warning("payout %s: %s", payout.id, exc)
