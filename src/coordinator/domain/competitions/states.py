"""A competition's state, derived from what has been persisted about it — never stored.

Every step of the lifecycle records its result as a timestamp (or a document) on the
competition row; the state is the first row of :data:`DERIVATION` whose field is set. Crash
recovery is therefore a reload: whatever was persisted last decides where the competition
resumes, and a step whose result was not persisted is simply run again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final


class State(StrEnum):
    """The derived states, in lifecycle order (the ``state`` string of the API)."""

    CREATED = "created"
    COLLECTING_ENTRIES = "collecting_entries"
    ENTRIES_COLLECTED = "entries_collected"
    EVENT_CREATED = "event_created"
    ENTRIES_SUBMITTED = "entries_submitted"
    CONTRACT_CREATED = "contract_created"
    AWAITING_SIGNATURES = "awaiting_signatures"
    SIGNING_COMPLETE = "signing_complete"
    FUNDING_BROADCASTED = "funding_broadcasted"
    FUNDING_CONFIRMED = "funding_confirmed"
    FUNDING_SETTLED = "funding_settled"
    AWAITING_ATTESTATION = "awaiting_attestation"
    ATTESTED = "attested"
    EXPIRY_BROADCASTED = "expiry_broadcasted"
    OUTCOME_BROADCASTED = "outcome_broadcasted"
    DELTA_BROADCASTED = "delta_broadcasted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_funded(self) -> bool:
        """From the funding broadcast on, money is in a contract: the competition is never
        failed or cancelled again, only settled."""
        return self in FUNDED_STATES

    @property
    def accepts_entries(self) -> bool:
        """Tickets can be reserved and entries submitted."""
        return self in (State.CREATED, State.COLLECTING_ENTRIES)


FUNDED_STATES: Final = frozenset(
    {
        State.FUNDING_BROADCASTED,
        State.FUNDING_CONFIRMED,
        State.FUNDING_SETTLED,
        State.AWAITING_ATTESTATION,
        State.ATTESTED,
        State.EXPIRY_BROADCASTED,
        State.OUTCOME_BROADCASTED,
        State.DELTA_BROADCASTED,
        State.COMPLETED,
    }
)


@dataclass(frozen=True)
class Progress:
    """The persisted milestones of one competition (one timestamp per completed step).

    ``None`` means "not done yet". Documents that mark a step (the contract parameters, the
    attestation) are represented by the timestamp written in the same transaction.
    """

    created_at: dt.datetime
    keygen_opened_at: dt.datetime | None = None
    event_created_at: dt.datetime | None = None
    entries_submitted_at: dt.datetime | None = None
    contracted_at: dt.datetime | None = None
    keymeld_keygen_completed_at: dt.datetime | None = None
    signed_at: dt.datetime | None = None
    funding_broadcasted_at: dt.datetime | None = None
    invoices_settled_at: dt.datetime | None = None
    funding_confirmed_at: dt.datetime | None = None
    funding_settled_at: dt.datetime | None = None
    awaiting_attestation_at: dt.datetime | None = None
    attested_at: dt.datetime | None = None
    expiry_broadcasted_at: dt.datetime | None = None
    outcome_broadcasted_at: dt.datetime | None = None
    delta_broadcasted_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    invoices_released_at: dt.datetime | None = None

    def history(self) -> list[tuple[str, dt.datetime]]:
        """Every milestone reached, oldest first: ``(field name, time)``."""
        reached = [
            (f.name, value)
            for f in fields(self)
            if isinstance(value := getattr(self, f.name), dt.datetime)
        ]
        return sorted(reached, key=lambda item: item[1])


@dataclass(frozen=True)
class Roster:
    """How far entry collection got: tickets, paid tickets and entries."""

    total_tickets: int
    paid_entries: int  # entries whose ticket's hold invoice is accepted
    entries: int

    @property
    def full(self) -> bool:
        """Every ticket has an entry and every entry is paid."""
        return self.total_tickets > 0 and self.paid_entries == self.entries == self.total_tickets


#: (milestone field, state) — the first milestone set decides the state.
DERIVATION: Final[tuple[tuple[str, State], ...]] = (
    ("cancelled_at", State.CANCELLED),
    ("failed_at", State.FAILED),
    ("completed_at", State.COMPLETED),
    ("delta_broadcasted_at", State.DELTA_BROADCASTED),
    ("outcome_broadcasted_at", State.OUTCOME_BROADCASTED),
    ("expiry_broadcasted_at", State.EXPIRY_BROADCASTED),
    ("attested_at", State.ATTESTED),
    ("awaiting_attestation_at", State.AWAITING_ATTESTATION),
    ("funding_settled_at", State.FUNDING_SETTLED),
    ("funding_confirmed_at", State.FUNDING_CONFIRMED),
    ("funding_broadcasted_at", State.FUNDING_BROADCASTED),
    ("signed_at", State.SIGNING_COMPLETE),
    ("keymeld_keygen_completed_at", State.AWAITING_SIGNATURES),
    ("contracted_at", State.CONTRACT_CREATED),
    ("entries_submitted_at", State.ENTRIES_SUBMITTED),
    ("event_created_at", State.EVENT_CREATED),
)


def derive_state(progress: Progress, roster: Roster) -> State:
    """The competition's state from its milestones and its entry counts."""
    for name, state in DERIVATION:
        if getattr(progress, name) is not None:
            # A funded competition is never shown failed or cancelled (no such write exists
            # once funding was broadcast; this guards against rows an operator edited).
            if state in (State.CANCELLED, State.FAILED) and progress.funding_broadcasted_at:
                continue
            return state
    if roster.full:
        return State.ENTRIES_COLLECTED
    if roster.entries > 0:
        return State.COLLECTING_ENTRIES
    return State.CREATED
