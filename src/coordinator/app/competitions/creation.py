"""Creating a competition (all checks first, then the tickets, then the signing session) and
cancelling one (before funding only, returning every held entry fee at once)."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid

from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.kickoff import open_keygen, release_invoices
from coordinator.domain.competitions.records import Competition, NewTicket
from coordinator.domain.competitions.terms import (
    CompetitionTerms,
    CreationRefusedError,
    check_terms,
    keygen_timeout_secs,
)
from coordinator_core.errors import ConflictError, CoordinatorError, NotFoundError
from coordinator_core.ids import uuid7

log = logging.getLogger(__name__)


def check_creation(lc: Lifecycle, terms: CompetitionTerms) -> None:
    """Every refusal that needs no side effect: terms, signer capacity, keygen duration."""
    now = lc.clock()
    limits = lc.creation_limits
    check_terms(terms, now, limits)
    signer = lc.required_signer
    signer.plan(terms.total_allowed_entries, terms.number_of_places_win)
    needed = keygen_timeout_secs(terms, now, limits)
    allowed = signer.limits.max_keygen_timeout_secs
    if needed > allowed:
        raise CreationRefusedError(
            f"keygen timeout: the signing session would have to stay open {needed}s (entry "
            f"window + signing timeout), the signing service allows {allowed}s"
        )


async def create_competition(lc: Lifecycle, terms: CompetitionTerms) -> Competition:
    """Check, store the competition with its tickets, and open its signing session.

    Tickets are generated in order, each with its entry id right after its own id, so ticket
    order, entry-id order and contract player order are the same. If opening the signing
    session fails, the processor retries it; tickets are not sold until it is open.
    """
    check_creation(lc, terms)
    if await lc.store.load(terms.id, documents=False) is not None:
        raise ConflictError(f"competition {terms.id} already exists")
    tickets = []
    for _ in range(terms.total_allowed_entries):
        ticket_id = uuid7()
        entry_id = uuid7()
        preimage = os.urandom(32)
        tickets.append(
            NewTicket(
                id=ticket_id,
                entry_id=entry_id,
                hash=hashlib.sha256(preimage).digest(),
                sealed_preimage=lc.seal_ticket_preimage(ticket_id, preimage),
            )
        )
    await lc.store.create(terms, tickets, lc.clock())
    log.info(
        "competition %s created: %d entries, %d places",
        terms.id,
        terms.total_allowed_entries,
        terms.number_of_places_win,
    )
    created = await lc.store.load(terms.id)
    assert created is not None
    try:
        async with lc.lock(terms.id):
            await open_keygen(lc, created)
    except CoordinatorError as exc:
        log.warning("competition %s: signing session not opened yet (%s); retrying", terms.id, exc)
    reloaded = await lc.store.load(terms.id)
    assert reloaded is not None
    return reloaded


async def cancel_competition(lc: Lifecycle, competition_id: uuid.UUID, reason: str) -> Competition:
    """Cancel before funding and return the held entry fees now."""
    c = await lc.store.load(competition_id)
    if c is None:
        raise NotFoundError(f"competition {competition_id} not found")
    if c.state.is_funded:
        raise ConflictError("a funded competition is settled, never cancelled")
    if c.progress.cancelled_at is None and not await lc.store.cancel(c.id, reason, lc.clock()):
        raise ConflictError("the competition's funding is being broadcast; it can't be cancelled")
    cancelled = await lc.store.load(c.id)
    assert cancelled is not None
    try:
        async with lc.lock(c.id):
            if cancelled.progress.invoices_released_at is None:
                await release_invoices(lc, cancelled)
    except CoordinatorError as exc:
        log.warning("competition %s: entry fees not all returned yet (%s); retrying", c.id, exc)
    reloaded = await lc.store.load(c.id)
    assert reloaded is not None
    return reloaded
