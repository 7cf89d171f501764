"""JSON shapes of the noaa-oracle HTTP API, shared by the oracle client and the devnet oracle.

Field names, key order and enum spellings follow the oracle (spec §2, §3). Unknown fields are
ignored when parsing, as the oracle's serde does. One deliberate difference: events carry the
public ``nonce_point`` (R) and never the secret ``nonce`` the original oracle leaks; parsing an
original event simply ignores its ``nonce``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from coordinator_core.observations import Metric, StationPicks
from coordinator_core.validation import MAX_UINT32, Index64, Int64

MAX_LOCATIONS = 50
MAX_EVENT_ENTRIES = 25
MAX_LOCKING_POINTS = 1_000_000
#: One pick per metric and station is the most an entry can hold.
MAX_VALUES_PER_ENTRY = MAX_LOCATIONS * len(Metric)


def rfc3339(value: dt.datetime) -> str:
    """RFC 3339 in UTC with ``Z``; fractional seconds only when non-zero, without trailing 0s."""
    utc = value.astimezone(dt.UTC)
    text = utc.replace(microsecond=0, tzinfo=None).isoformat()
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


UtcDatetime = Annotated[AwareDatetime, PlainSerializer(rfc3339, return_type=str)]
"""An aware datetime, written as RFC 3339 in UTC with a ``Z`` suffix."""

Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PointHex = Annotated[str, Field(pattern=r"^0[23][0-9a-f]{64}$")]


class EventStatus(StrEnum):
    LIVE = "Live"
    RUNNING = "Running"
    COMPLETED = "Completed"
    SIGNED = "Signed"


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CreateEvent(_Wire):
    """Body of ``POST /oracle/events``."""

    id: uuid.UUID
    signing_date: UtcDatetime
    start_observation_date: UtcDatetime
    end_observation_date: UtcDatetime
    locations: list[str] = Field(max_length=MAX_LOCATIONS)
    number_of_values_per_entry: int = Field(ge=0, le=MAX_VALUES_PER_ENTRY)
    total_allowed_entries: Index64
    number_of_places_win: Int64
    scoring_fields: list[Metric] | None = Field(None, max_length=len(Metric))


class AddEventEntry(_Wire):
    """One entry of ``POST /oracle/events/{id}/entries``."""

    id: uuid.UUID
    event_id: uuid.UUID
    expected_observations: list[StationPicks] = Field(max_length=MAX_LOCATIONS)


class AddEventEntries(_Wire):
    """Body of ``POST /oracle/events/{id}/entries``: every entry, once."""

    event_id: uuid.UUID
    entries: list[AddEventEntry] = Field(max_length=MAX_EVENT_ENTRIES)


class WeatherEntry(_Wire):
    """An entry as the oracle returns it; a score of 0 is returned as null."""

    id: uuid.UUID
    event_id: uuid.UUID
    expected_observations: list[StationPicks] = Field(max_length=MAX_LOCATIONS)
    score: Int64 | None = None
    base_score: Int64 | None = None


class Observed(_Wire):
    date: UtcDatetime
    temp_low: Int64
    temp_high: Int64
    wind_speed: Int64


class Forecasted(_Wire):
    date: UtcDatetime
    temp_low: Int64
    temp_high: Int64
    wind_speed: Int64 | None = None


class Weather(_Wire):
    """The weather an event was last scored with, per station."""

    station_id: str
    observed: Observed | None = None
    forecasted: Forecasted


class EventAnnouncement(_Wire):
    locking_points: list[PointHex] = Field(max_length=MAX_LOCKING_POINTS)
    expiry: int | None = Field(None, ge=0, le=MAX_UINT32)


class Event(_Wire):
    """``GET /oracle/events/{id}`` and the answer of ``POST /oracle/events``."""

    id: uuid.UUID
    signing_date: UtcDatetime
    start_observation_date: UtcDatetime
    end_observation_date: UtcDatetime
    locations: list[str] = Field(max_length=MAX_LOCATIONS)
    number_of_values_per_entry: Index64
    status: EventStatus
    total_allowed_entries: Index64
    entry_ids: list[uuid.UUID] = Field(max_length=MAX_EVENT_ENTRIES)
    number_of_places_win: Int64
    entries: list[WeatherEntry] = Field(max_length=MAX_EVENT_ENTRIES)
    weather: list[Weather] = Field(default_factory=list, max_length=10 * MAX_LOCATIONS)
    nonce_point: PointHex | None = None
    event_announcement: EventAnnouncement
    attestation: Hex32 | None = None
    coordinator_pubkey: str = ""
    scoring_fields: list[Metric] = Field(default_factory=list, max_length=len(Metric))


class EventSummary(_Wire):
    """Item of ``GET /oracle/events``."""

    id: uuid.UUID
    signing_date: UtcDatetime
    start_observation_date: UtcDatetime
    end_observation_date: UtcDatetime
    locations: list[str]
    number_of_values_per_entry: Index64
    status: EventStatus
    total_allowed_entries: Index64
    total_entries: Index64
    number_of_places_win: Int64
    weather: list[Weather]
    attestation: Hex32 | None = None
    nonce_point: PointHex | None = None


class KeyResponse(_Wire):
    """``GET /oracle/pubkey`` (base64 of the compressed key) and ``GET /oracle/npub``."""

    key: str = Field(max_length=200)
