"""Tickets and entry fees: atomic reservation, one hold invoice per ticket, and what the node
reports about those invoices.

A reservation's invoice lives exactly as long as the reservation (cut at the entry deadline),
so a payment the node holds was made in time; a ticket goes to someone else only after the
node cancelled its invoice, with a fresh preimage and hash. A held payment for a competition
that no longer takes entries is cancelled (the payer gets it back at once), never kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable

from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.crash_points import crash_point
from coordinator.app.competitions.kickoff import cancel_invoice
from coordinator.domain.competitions.records import Ticket
from coordinator.domain.competitions.tickets import (
    TicketStatus,
    invoice_expiry_secs,
    is_lapsed,
)
from coordinator.domain.ports.lightning import Invoice, InvoiceState
from coordinator_core.errors import (
    ConflictError,
    CoordinatorError,
    NotFoundError,
    TransientError,
    ValidationError,
)

log = logging.getLogger(__name__)

OnPaid = Callable[[Ticket], Awaitable[None]]


async def reserve_ticket(lc: Lifecycle, competition_id: uuid.UUID, holder: str) -> Ticket:
    """The caller's ticket in the competition, with a payable hold invoice (or already paid)."""
    c = await lc.store.load(competition_id, documents=False)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    now = lc.clock()
    deadline = c.terms.start_observation_date
    if not c.state.accepts_entries or now >= deadline:
        raise ValidationError("entries are closed for this competition")
    if c.progress.keygen_opened_at is None:
        raise TransientError("the competition's signing session is being opened; retry shortly")
    expiry = invoice_expiry_secs(now, deadline, lc.settings.competitions.reservation_secs)
    if expiry is None:
        raise ValidationError("entries close too soon to pay a ticket")

    def rotate(ticket_id: uuid.UUID) -> tuple[bytes, str]:
        preimage = os.urandom(32)
        return hashlib.sha256(preimage).digest(), lc.seal_ticket_preimage(ticket_id, preimage)

    ticket = await lc.store.reserve(c.id, holder, now, rotate)
    if ticket is None:
        # A lapsed reservation frees its ticket once the node cancelled its invoice.
        lapsed = [t for t in await lc.store.tickets_of(c.id) if is_lapsed(t.facts, now)]
        if lapsed:
            await cancel_invoice(lc, lapsed[0])
            ticket = await lc.store.reserve(c.id, holder, now, rotate)
    if ticket is None:
        raise ValidationError("Competition full: no ticket is available")
    if ticket.paid_at is not None:
        return ticket
    if ticket.payment_request is not None and ticket.invoice_expires_at is not None:
        return ticket  # still payable (a live reservation): the same invoice again
    amount_msat = c.terms.ticket_price_sats * 1000
    crash_point("before_create:invoice")
    try:
        created = await lc.lightning.create_hold_invoice(
            ticket.hash, amount_msat, expiry, memo=f"c:{c.id};t:{ticket.id}"
        )
    except BaseException:
        await lc.store.release_reservation(ticket.id, holder)
        raise
    crash_point("after_create:invoice")
    return await lc.store.set_invoice(
        ticket.id, holder, created.payment_request, now + dt.timedelta(seconds=expiry)
    )


async def ticket_status(
    lc: Lifecycle, competition_id: uuid.UUID, ticket_id: uuid.UUID, caller: str
) -> TicketStatus:
    ticket = await lc.store.ticket(ticket_id)
    if ticket is None:
        raise NotFoundError(f"ticket {ticket_id} not found")
    if ticket.competition_id != competition_id:
        raise ValidationError("the ticket belongs to another competition")
    if ticket.reserved_by != caller:
        raise ValidationError("the ticket is not reserved by you")
    return ticket.status(lc.clock())


class InvoiceWatcher:
    """Applies the node's invoice states to tickets: from its stream, and by polling."""

    def __init__(self, lc: Lifecycle, on_paid: OnPaid) -> None:
        self.lc = lc
        self.on_paid = on_paid

    async def on_invoice(self, invoice: Invoice) -> None:
        ticket = await self.lc.store.ticket_by_hash(invoice.payment_hash)
        if ticket is not None:
            await self.apply(ticket, invoice)

    async def apply(self, ticket: Ticket, invoice: Invoice) -> None:
        lc = self.lc
        if invoice.state is InvoiceState.HELD:
            if ticket.paid_at is not None or ticket.invoice_cancelled_at is not None:
                return
            c = await lc.store.load(ticket.competition_id, documents=False)
            if c is not None and c.state.accepts_entries and ticket.reserved_by is not None:
                if await lc.store.mark_paid(ticket.id, lc.clock()):
                    log.info("ticket %s paid", ticket.id)
                    reloaded = await lc.store.ticket(ticket.id)
                    if reloaded is not None:
                        await self.on_paid(reloaded)
                return
            log.info("ticket %s: payment held for a closed competition; returning it", ticket.id)
            await cancel_invoice(lc, ticket)
        elif invoice.state is InvoiceState.CANCELED:
            if await lc.store.mark_invoice_cancelled(ticket.id, lc.clock()):
                log.info("ticket %s: invoice cancelled by the node", ticket.id)
        elif invoice.state is InvoiceState.SETTLED:
            await lc.store.mark_settled(ticket.id, lc.clock())

    async def poll(self) -> None:
        """Check every unpaid reservation with the node; cancel lapsed invoices."""
        lc = self.lc
        reservation = dt.timedelta(seconds=lc.settings.competitions.reservation_secs)
        for ticket in await lc.store.unpaid_reservations():
            now = lc.clock()
            try:
                invoice = await lc.lightning.lookup_invoice(ticket.hash)
            except NotFoundError:
                invoice = None
            except CoordinatorError as exc:
                log.warning("invoice of ticket %s: %s", ticket.id, exc)
                continue
            if invoice is None:
                stale = ticket.reserved_at is not None and ticket.reserved_at + reservation <= now
                if ticket.payment_request is None and stale:
                    await lc.store.release_reservation(ticket.id, ticket.reserved_by or "")
                elif ticket.payment_request is not None and is_lapsed(ticket.facts, now):
                    await lc.store.mark_invoice_cancelled(ticket.id, now)
                continue
            await self.apply(ticket, invoice)
            if invoice.state is InvoiceState.OPEN and is_lapsed(ticket.facts, now):
                await cancel_invoice(lc, ticket)

    async def pending_hashes(self) -> list[bytes]:
        return [t.hash for t in await self.lc.store.unpaid_reservations()]

    async def stream(self) -> None:
        """Follow the node's invoice stream forever (it reconnects by itself)."""
        async for invoice in self.lc.lightning.subscribe_invoices(self.pending_hashes):
            try:
                await self.on_invoice(invoice)
            except ConflictError as exc:
                log.info("invoice update ignored: %s", exc)
