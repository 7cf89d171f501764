"""Builders of competition terms and tickets for the lifecycle tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid

from coordinator.domain.competitions.records import NewTicket
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator_core.ids import uuid7

NOW = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)


def make_terms(
    entries: int = 5,
    places: int = 3,
    *,
    start_in: dt.timedelta = dt.timedelta(hours=1),
    now: dt.datetime = NOW,
    delta: int = 20,
    entry_fee: int = 10_000,
    pool: int | None = None,
    locations: tuple[str, ...] = ("KORD", "KLAX"),
    values: int = 2,
    competition_id: uuid.UUID | None = None,
) -> CompetitionTerms:
    start = now + start_in
    return CompetitionTerms(
        id=competition_id or uuid7(),
        signing_date=start + dt.timedelta(hours=2),
        start_observation_date=start,
        end_observation_date=start + dt.timedelta(hours=1),
        locations=locations,
        number_of_values_per_entry=values,
        number_of_places_win=places,
        total_allowed_entries=entries,
        entry_fee=entry_fee,
        coordinator_fee_percentage=10,
        total_competition_pool=pool if pool is not None else entry_fee * entries,
        relative_locktime_block_delta=delta,
    )


def make_tickets(count: int) -> list[NewTicket]:
    tickets = []
    for _ in range(count):
        preimage = os.urandom(32)
        tickets.append(
            NewTicket(
                uuid7(), uuid7(), hashlib.sha256(preimage).digest(), "sealed:" + preimage.hex()
            )
        )
    return tickets
