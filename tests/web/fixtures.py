"""Competitions and entries for the page tests, in a real competitions.db, and an app that
serves the pages over it.

The records are written through the lifecycle's SQLite store (create, reserve, mark paid,
insert entry, milestones) and read back by the pages' ``StoreReader``; weather comes from a
devnet oracle over HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from coordinator.adapters.sqlite.competitions import SqliteCompetitionStore
from coordinator.adapters.sqlite.database import Database
from coordinator.adapters.sqlite.migrations import migrate
from coordinator.app.auth.nostr import RawBodyMiddleware
from coordinator.app.web.site import attach_page_data, install_public_pages
from coordinator.app.web.store_reader import StoreReader
from coordinator.config import DbSettings, Settings
from coordinator.domain.competitions.records import Entry, Milestone, NewTicket
from coordinator.domain.competitions.terms import CompetitionTerms
from coordinator.domain.ports.oracle import OraclePort
from coordinator_core.http_origin import OriginPolicy
from coordinator_core.ids import uuid7
from coordinator_core.observations import Comparison, StationPicks

STATIONS = ("KORD", "KJFK", "KLAX")


def terms(now: dt.datetime, *, start_in: dt.timedelta, allowed: int, places: int,
          values: int = 9) -> CompetitionTerms:  # fmt: skip
    start = now + start_in
    return CompetitionTerms(
        id=uuid7(),
        signing_date=start + dt.timedelta(hours=2),
        start_observation_date=start,
        end_observation_date=start + dt.timedelta(hours=1),
        locations=STATIONS,
        number_of_values_per_entry=values,
        number_of_places_win=places,
        total_allowed_entries=allowed,
        entry_fee=1000,
        coordinator_fee_percentage=10,
        total_competition_pool=1000 * allowed,
        relative_locktime_block_delta=144,
    )


def _rotate(_: uuid.UUID) -> tuple[bytes, str]:
    preimage = os.urandom(32)
    return hashlib.sha256(preimage).digest(), "sealed:" + preimage.hex()


def tickets(count: int) -> list[NewTicket]:
    return [NewTicket(uuid7(), uuid7(), *_rotate(uuid7())) for _ in range(count)]


PICKS = (
    StationPicks(stations="KORD", temp_high=Comparison.OVER, temp_low=Comparison.PAR),
    StationPicks(stations="KJFK", wind_speed=Comparison.UNDER),
)


async def add_entry(store: SqliteCompetitionStore, competition_id: uuid.UUID, owner: str,
                    now: dt.datetime) -> uuid.UUID:  # fmt: skip
    ticket = await store.reserve(competition_id, owner, now, _rotate)
    assert ticket is not None
    await store.mark_paid(ticket.id, now)
    await store.insert_entry(
        Entry(
            id=ticket.entry_id,
            competition_id=competition_id,
            ticket_id=ticket.id,
            owner=owner,
            ephemeral_pubkey=b"\x02" + os.urandom(32),
            ephemeral_privatekey_encrypted="enc",
            payout_hash=os.urandom(32),
            payout_preimage_encrypted="enc",
            picks=PICKS,
            created_at=now,
        )
    )
    return ticket.entry_id


@dataclass
class Seeded:
    """Ids of what :func:`seed` wrote."""

    open_id: str = ""
    finished_id: str = ""
    live_id: str = ""
    entry_id: str = ""
    extra_ids: list[str] = field(default_factory=list)


async def seed(store: SqliteCompetitionStore, now: dt.datetime, player: str, out: Seeded,
               extra: int = 0) -> None:  # fmt: skip
    """An open competition, a live one and a finished (attested) one with three entries."""
    finished = terms(now, start_in=dt.timedelta(hours=-3), allowed=3, places=1)
    live = terms(now, start_in=dt.timedelta(minutes=-20), allowed=5, places=3)
    open_one = terms(now, start_in=dt.timedelta(hours=1), allowed=10, places=3)
    for t in (finished, live, open_one):
        await store.create(t, tickets(t.total_allowed_entries), now - dt.timedelta(hours=4))
    for _ in range(extra):
        t = terms(now, start_in=dt.timedelta(hours=5), allowed=10, places=3)
        await store.create(t, tickets(t.total_allowed_entries), now)
        out.extra_ids.append(str(t.id))
    at = now - dt.timedelta(hours=4)
    out.entry_id = str(await add_entry(store, finished.id, player, at))
    await add_entry(store, finished.id, "cd" * 32, at)
    await add_entry(store, finished.id, "ef" * 32, at)
    for name in ("event_created_at", "entries_submitted_at", "contracted_at", "signed_at",
                 "funding_broadcasted_at", "funding_confirmed_at", "attested_at"):  # fmt: skip
        await store.advance(finished.id, Milestone(name, now - dt.timedelta(minutes=30)))
    out.open_id, out.finished_id, out.live_id = str(open_one.id), str(finished.id), str(live.id)


def pages_app(settings: Settings, data_dir: Path, oracle: OraclePort | None, player: str,
              seeded: Seeded, now: dt.datetime, extra: int = 0) -> FastAPI:  # fmt: skip
    """The public pages alone, over a fresh competitions.db seeded by :func:`seed`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        path = data_dir / "competitions.db"
        migrate("competitions", path)
        db = Database("competitions", path, DbSettings(read_connections=4))
        db.open()
        store = SqliteCompetitionStore(db)
        await seed(store, now, player, seeded, extra)
        attach_page_data(app, settings, oracle, StoreReader(store, settings.bitcoin.network))
        try:
            yield
        finally:
            db.close()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(RawBodyMiddleware)
    app.state.origin_policy = OriginPolicy.from_config(
        settings.api.nip98_origins, settings.api.trusted_proxies, settings.api.client_ip_header
    )
    install_public_pages(app, settings)
    return app
