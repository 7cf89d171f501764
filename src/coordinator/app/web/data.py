"""Where the pages get their facts: the competition records and the oracle's weather.

:class:`CompetitionReader` is what the pages need of the competition lifecycle (read only);
the oracle port supplies stations, forecasts and observations. :class:`PageData` joins them
and turns them into the records of :mod:`coordinator.app.web.views`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coordinator.app.web.views import CompetitionView, EntryView, PayoutView, StationWeather
from coordinator.domain.ports.oracle import OraclePort
from coordinator_core.errors import CoordinatorError
from coordinator_core.observations import Forecast, Observation, Station, StationPicks
from coordinator_core.oracle_api import EventStatus

log = logging.getLogger(__name__)
SCORES_TTL_SECS = 10.0
NAMES_CACHE = 10_000


@dataclass(frozen=True)
class EntryRecord:
    """An entry as the lifecycle stores it (the parts the pages show)."""

    id: uuid.UUID
    competition_id: uuid.UUID
    owner_pubkey: str  # x-only hex
    owner_name: str | None
    picks: tuple[StationPicks, ...]
    paid_out: bool = False
    oracle_score: int | None = None  # the oracle's ranking score, once scored
    status: str = "Entered"  # where the entry stands (see store_reader.entry_status)


class CompetitionReader(Protocol):
    """Read access to competitions, entries and payouts (the lifecycle's store)."""

    async def competitions(self, limit: int) -> list[CompetitionView]: ...

    async def competition(self, competition_id: uuid.UUID) -> CompetitionView | None: ...

    async def entries_of(self, competition_id: uuid.UUID) -> list[EntryRecord]: ...

    async def entry(self, entry_id: uuid.UUID) -> EntryRecord | None: ...

    async def entries_owned_by(self, pubkey: str) -> list[EntryRecord]: ...

    async def payouts_owned_by(self, pubkey: str) -> list[PayoutView]: ...


class OwnerNames(Protocol):
    """Usernames of accounts (users.db), by x-only nostr key in hex."""

    async def username(self, pubkey: str) -> str | None: ...


class NoCompetitions:
    """The reader of a coordinator whose competition store is not wired: nothing to list."""

    async def competitions(self, limit: int) -> list[CompetitionView]:
        return []

    async def competition(self, competition_id: uuid.UUID) -> CompetitionView | None:
        return None

    async def entries_of(self, competition_id: uuid.UUID) -> list[EntryRecord]:
        return []

    async def entry(self, entry_id: uuid.UUID) -> EntryRecord | None:
        return None

    async def entries_owned_by(self, pubkey: str) -> list[EntryRecord]:
        return []

    async def payouts_owned_by(self, pubkey: str) -> list[PayoutView]:
        return []


@dataclass
class _Cached:
    value: object
    at: float


@dataclass
class WeatherSource:
    """Stations, forecasts and observations from the oracle, cached for a short while.

    The oracle is asked at most once per ``ttl_secs`` for the same question, so a page with
    a hundred competitions does not become a hundred oracle calls. An empty answer (no
    forecast or observation yet) is kept only ``empty_ttl_secs``: the rows are expected any
    moment, and a leaderboard must not show no points for a minute after the attestation.
    An oracle that cannot be reached gives an empty answer and a logged warning; the page says
    weather is unavailable.
    """

    oracle: OraclePort | None
    ttl_secs: float = 60.0
    empty_ttl_secs: float = 5.0
    timeout_secs: float = 5.0
    _cache: dict[tuple[object, ...], _Cached] = field(default_factory=dict)

    async def _cached(
        self, key: tuple[object, ...], load: Callable[[], Awaitable[object]]
    ) -> object:
        hit = self._cache.get(key)
        now = time.monotonic()
        ttl = self.ttl_secs if hit is None or hit.value != [] else self.empty_ttl_secs
        if hit is not None and now - hit.at < ttl:
            return hit.value
        try:
            value = await asyncio.wait_for(load(), self.timeout_secs)
        except (CoordinatorError, TimeoutError) as exc:
            log.warning("oracle unavailable for %s: %s", key[0], exc)
            if hit is not None:
                return hit.value
            raise WeatherUnavailableError(str(exc)) from None
        self._cache[key] = _Cached(value, now)
        return value

    async def stations(self) -> list[Station]:
        if self.oracle is None:
            raise WeatherUnavailableError("no oracle configured")
        oracle = self.oracle
        value = await self._cached(("stations",), oracle.stations)
        assert isinstance(value, list)
        return value

    async def rows(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> tuple[list[Forecast], list[Observation]]:
        """The oracle's forecast and observation rows for the stations and window."""
        if self.oracle is None:
            raise WeatherUnavailableError("no oracle configured")
        ids, oracle = tuple(station_ids), self.oracle
        forecasts, observations = await asyncio.gather(
            self._cached(("forecasts", ids, start, end), lambda: oracle.forecasts(ids, start, end)),
            self._cached(
                ("observations", ids, start, end), lambda: oracle.observations(ids, start, end)
            ),
        )
        assert isinstance(forecasts, list) and isinstance(observations, list)
        return forecasts, observations

    async def scores(
        self, event_id: uuid.UUID, attested: bool = False
    ) -> dict[uuid.UUID, int] | None:
        """The oracle's scores of an event's entries once it has scored them, else None.

        The oracle reports a score of 0 as null; once the event is completed or signed every
        entry it holds has a score. Final scores are kept; others are asked again after
        :data:`SCORES_TTL_SECS` (at once when the coordinator knows the event is attested).
        """
        if self.oracle is None:
            raise WeatherUnavailableError("no oracle configured")
        oracle = self.oracle
        key = ("scores", event_id)
        hit = self._cache.get(key)
        if hit is not None and hit.value is not None:
            return hit.value  # type: ignore[return-value]
        if hit is not None and not attested and time.monotonic() - hit.at < SCORES_TTL_SECS:
            return None
        try:
            event = await asyncio.wait_for(oracle.get_event(event_id), self.timeout_secs)
        except (CoordinatorError, TimeoutError) as exc:
            log.warning("oracle unavailable for scores of %s: %s", event_id, exc)
            return None
        scored = event.status in (EventStatus.COMPLETED, EventStatus.SIGNED)
        value = {e.id: e.score or 0 for e in event.entries} if scored else None
        self._cache[key] = _Cached(value, time.monotonic())
        return value

    async def weather(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[StationWeather]:
        """Each station (in the given order) with its forecast and observation for the window."""
        ids = tuple(station_ids)
        stations, (forecasts, observations) = await asyncio.gather(
            self.stations(), self.rows(ids, start, end)
        )
        known = {s.station_id: s for s in stations}
        by_forecast: dict[str, Forecast] = {}
        for forecast in sorted(forecasts, key=lambda f: f.date):
            by_forecast.setdefault(forecast.station_id, forecast)
        by_observation: dict[str, Observation] = {o.station_id: o for o in observations}
        out = []
        for station_id in ids:
            station = known.get(station_id)
            if station is None:
                out.append(StationWeather.unknown(station_id))
                continue
            out.append(
                StationWeather(station, by_forecast.get(station_id), by_observation.get(station_id))
            )
        return out


class WeatherUnavailableError(Exception):
    """The oracle could not tell the weather just now."""


@dataclass
class PageData:
    """Everything a page reads."""

    competitions: CompetitionReader
    weather: WeatherSource
    network: str
    names: OwnerNames | None = None
    _names: dict[str, str] = field(default_factory=dict)

    def owner_label(self, record: EntryRecord) -> str:
        return record.owner_name or self._names.get(record.owner_pubkey) or record.owner_pubkey[:8]

    async def learn_names(self, records: Sequence[EntryRecord]) -> None:
        """Look up the usernames of these entries' owners (kept: a username never changes)."""
        if self.names is None:
            return
        for pubkey in {r.owner_pubkey for r in records} - self._names.keys():
            try:
                name = await self.names.username(pubkey)
            except CoordinatorError as exc:
                log.warning("usernames unavailable: %s", exc)
                return
            if name is not None:
                if len(self._names) >= NAMES_CACHE:
                    self._names.clear()
                self._names[pubkey] = name

    def entry_view(self, record: EntryRecord) -> EntryView:
        return EntryView(
            record.id, record.competition_id, self.owner_label(record), status=record.status
        )
