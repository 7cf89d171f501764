"""Known competitions and entries for the page tests, and an app that serves only the pages.

The page tests check what the pages show and how the browser module behaves; the records come
from :class:`KnownCompetitions`, a read-only list of fixed records behind the same
``CompetitionReader`` interface the lifecycle store implements. Weather comes from a real
devnet oracle over HTTP.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from fastapi import FastAPI

from coordinator.app.web.data import EntryRecord
from coordinator.app.web.site import attach_page_data, install_public_pages
from coordinator.app.web.views import CompetitionView, PayoutView
from coordinator.config import Settings
from coordinator.domain.ports.oracle import OraclePort
from coordinator_core.ids import uuid7
from coordinator_core.observations import Comparison, StationPicks

STATIONS = ("KORD", "KJFK", "KLAX")


@dataclass
class KnownCompetitions:
    """A fixed set of competitions, entries and payouts (a ``CompetitionReader``)."""

    items: list[CompetitionView] = field(default_factory=list)
    entries: list[EntryRecord] = field(default_factory=list)
    payouts: dict[str, list[PayoutView]] = field(default_factory=dict)

    async def competitions(self, limit: int) -> list[CompetitionView]:
        return sorted(self.items, key=lambda c: c.id, reverse=True)[:limit]

    async def competition(self, competition_id: uuid.UUID) -> CompetitionView | None:
        return next((c for c in self.items if c.id == competition_id), None)

    async def entries_of(self, competition_id: uuid.UUID) -> list[EntryRecord]:
        return [e for e in self.entries if e.competition_id == competition_id]

    async def entry(self, entry_id: uuid.UUID) -> EntryRecord | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    async def entries_owned_by(self, pubkey: str) -> list[EntryRecord]:
        return [e for e in self.entries if e.owner_pubkey == pubkey]

    async def payouts_owned_by(self, pubkey: str) -> list[PayoutView]:
        return self.payouts.get(pubkey, [])


def competition(
    now: dt.datetime,
    *,
    state: str = "created",
    start_in: dt.timedelta = dt.timedelta(hours=1),
    entries: int = 0,
    allowed: int = 10,
    places: int = 3,
) -> CompetitionView:
    start = now + start_in
    return CompetitionView(
        id=uuid7(),
        state=state,
        start=start,
        end=start + dt.timedelta(hours=1),
        signing=start + dt.timedelta(hours=2),
        entry_fee_sats=1000,
        pool_sats=1000 * allowed,
        total_entries=entries,
        total_allowed_entries=allowed,
        places_win=places,
        values_per_entry=9,
        locations=STATIONS,
        coordinator_fee_percentage=10,
    )


def entry(competition_id: uuid.UUID, owner: str, name: str | None = None) -> EntryRecord:
    picks = (
        StationPicks(stations="KORD", temp_high=Comparison.OVER, temp_low=Comparison.PAR),
        StationPicks(stations="KJFK", wind_speed=Comparison.UNDER),
    )
    return EntryRecord(uuid7(), competition_id, owner, name, picks)


def pages_app(settings: Settings, reader: KnownCompetitions, oracle: OraclePort | None) -> FastAPI:
    """The public pages alone, on the given records and oracle."""
    app = FastAPI()
    install_public_pages(app, settings)
    attach_page_data(app, settings, oracle, reader)
    return app
