"""What the coordinator needs from the oracle that decides who won (the noaa-oracle in practice).

Events are announced with one locking point per outcome of the competition's outcome space
(:mod:`ticketdlc.competition`); once the observation window is over the oracle publishes one
attestation scalar, which unlocks exactly one of them. Transport failures and the oracle's
temporary unavailability raise ``TransientError``; refusals and invalid answers raise
``PermanentError`` (``NotFoundError`` for an unknown event).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator_core.observations import (
    DEFAULT_METRICS,
    DataSource,
    Forecast,
    Metric,
    Observation,
    Station,
    StationPicks,
)
from coordinator_core.oracle_api import EventStatus
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.crypto.secp import Point


@dataclass(frozen=True)
class OracleEventSpec:
    """An event to create: who may enter, what is scored, and when it is settled."""

    id: uuid.UUID
    signing_date: dt.datetime
    start_observation_date: dt.datetime
    end_observation_date: dt.datetime
    locations: tuple[str, ...]
    number_of_values_per_entry: int
    total_allowed_entries: int
    number_of_places_win: int
    scoring_fields: tuple[Metric, ...] = DEFAULT_METRICS
    data_source: DataSource = DataSource.WEATHER


@dataclass(frozen=True)
class OracleEntry:
    """An entry submitted to the oracle: its id (UUIDv7) and its picks per station."""

    id: uuid.UUID
    picks: tuple[StationPicks, ...]


@dataclass(frozen=True)
class OracleEntryScore:
    """An entry as the oracle holds it; scores are None until scored (or when 0)."""

    id: uuid.UUID
    picks: tuple[StationPicks, ...]
    score: int | None
    base_score: int | None


@dataclass(frozen=True)
class OracleEvent:
    """An event as the oracle reports it, checked against its outcome space.

    ``announcement`` holds the validated locking points; ``attested_outcome`` is the outcome
    index the attestation unlocks (None while unsigned).
    """

    id: uuid.UUID
    status: EventStatus
    signing_date: dt.datetime
    start_observation_date: dt.datetime
    end_observation_date: dt.datetime
    locations: tuple[str, ...]
    number_of_values_per_entry: int
    scoring_fields: tuple[Metric, ...]
    outcome_space: OutcomeSpace
    announcement: Announcement
    expiry: int | None
    nonce_point: Point | None
    attestation: int | None
    attested_outcome: int | None
    entries: tuple[OracleEntryScore, ...]
    coordinator_pubkey: str


class OraclePort(Protocol):
    """The oracle, as the coordinator uses it."""

    async def public_key(self) -> Point:
        """The oracle's attestation key."""
        ...

    async def create_event(self, spec: OracleEventSpec) -> OracleEvent:
        """Create (announce) an event; creating the same event again returns it."""
        ...

    async def submit_entries(self, event_id: uuid.UUID, entries: Sequence[OracleEntry]) -> None:
        """Submit every entry of the event, once (exactly ``total_allowed_entries``)."""
        ...

    async def get_event(self, event_id: uuid.UUID) -> OracleEvent:
        """The event with its entries, scores and attestation if signed."""
        ...

    async def stations(self) -> list[Station]:
        """Stations the oracle has data for."""
        ...

    async def forecasts(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[Forecast]:
        """Daily forecasts of the stations for the window."""
        ...

    async def observations(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[Observation]:
        """Observed extremes of each station over the window."""
        ...
