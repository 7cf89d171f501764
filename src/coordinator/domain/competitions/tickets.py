"""Tickets: one per entry slot, each with its own preimage, hash and server-assigned entry id.

A ticket's hash is the payment hash of its hold invoice and the contract's ticket hash for
that player. A reservation lasts as long as its invoice can be paid (``invoice_expires_at``); a
ticket goes to someone else only once that invoice can no longer be paid (LND cancelled it),
and then with a fresh preimage and hash, because LND refuses a second invoice for a hash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

MIN_INVOICE_SECS: Final = 30


class TicketStatus(StrEnum):
    """The ticket status string of the API (a plain JSON string)."""

    CREATED = "Created"
    RESERVED = "Reserved"
    PAID = "Paid"
    SETTLED = "Settled"
    USED = "Used"
    EXPIRED = "Expired"
    CANCELLED = "Cancelled"  # the held entry fee was returned


@dataclass(frozen=True)
class TicketFacts:
    """What the status and reservation rules look at."""

    reserved_by: str | None
    invoice_expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    settled_at: dt.datetime | None
    invoice_cancelled_at: dt.datetime | None
    has_entry: bool


def ticket_status(t: TicketFacts, now: dt.datetime) -> TicketStatus:
    if t.settled_at is not None:
        return TicketStatus.USED if t.has_entry else TicketStatus.SETTLED
    if t.invoice_cancelled_at is not None:
        return TicketStatus.CANCELLED if t.paid_at is not None else TicketStatus.EXPIRED
    if t.has_entry:
        return TicketStatus.USED
    if t.paid_at is not None:
        return TicketStatus.PAID
    if t.reserved_by is not None:
        if t.invoice_expires_at is not None and t.invoice_expires_at <= now:
            return TicketStatus.EXPIRED
        return TicketStatus.RESERVED
    return TicketStatus.CREATED


def is_free(t: TicketFacts) -> bool:
    """Reservable by anyone: never reserved, or its unpaid invoice can no longer be paid."""
    if t.has_entry or t.paid_at is not None:
        return False
    return t.reserved_by is None or t.invoice_cancelled_at is not None


def is_lapsed(t: TicketFacts, now: dt.datetime) -> bool:
    """Reserved, unpaid, and its invoice has expired, but LND has not yet cancelled it."""
    return (
        t.reserved_by is not None
        and t.paid_at is None
        and t.invoice_cancelled_at is None
        and t.invoice_expires_at is not None
        and t.invoice_expires_at <= now
    )


def is_live_reservation(t: TicketFacts, holder: str, now: dt.datetime) -> bool:
    """The holder's own reservation, still payable or already paid (and not used)."""
    if t.reserved_by != holder or t.has_entry or t.invoice_cancelled_at is not None:
        return False
    if t.paid_at is not None:
        return True
    return t.invoice_expires_at is None or t.invoice_expires_at > now


def invoice_expiry_secs(
    now: dt.datetime, entry_deadline: dt.datetime, reservation_secs: float
) -> int | None:
    """Lifetime of a new hold invoice: the reservation, cut at the entry deadline; ``None``
    if entries close too soon for anyone to pay."""
    remaining = (entry_deadline - now).total_seconds()
    secs = int(min(reservation_secs, remaining))
    return secs if secs >= MIN_INVOICE_SECS else None
