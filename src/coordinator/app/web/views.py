"""What the pages show, as plain records, and the rules that turn lifecycle facts into labels.

The page routes read these records through :class:`coordinator.app.web.data.PageData`; the
templates only format them. Keeping the records free of I/O makes every page renderable from
known inputs (the benchmark and the rendering tests do that).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from coordinator.domain.scoring import EntryScoreCard
from coordinator_core.observations import Forecast, Observation, Station
from coordinator_core.scoring import PickResult

#: Lifecycle states whose label does not depend on the clock.
_FINISHED_STATES: Final = frozenset(
    {"attested", "outcome_broadcasted", "delta_broadcasted", "expiry_broadcasted", "completed"}
)
#: States in which the competition's contract is signed.
_SIGNED_STATES: Final = frozenset(
    {
        "signing_complete", "funding_broadcasted", "funding_confirmed", "funding_settled",
        "awaiting_attestation", "attested", "outcome_broadcasted", "delta_broadcasted",
        "expiry_broadcasted", "completed",
    }
)  # fmt: skip
#: States of a competition whose contract is being set up (entries closed, not yet funded).
_SETUP_STATES: Final = frozenset(
    {
        "entries_collected",
        "event_created",
        "entries_submitted",
        "contract_created",
        "awaiting_signatures",
    }
)


class StatusLabel(StrEnum):
    """The status shown to players in the competitions table and on the leaderboard."""

    REGISTRATION = "Registration"
    SETUP = "Setup"
    SIGNING = "Signing"
    LIVE = "Live"
    AWAITING_RESULTS = "Awaiting Results"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True)
class CompetitionView:
    """One competition as the public pages show it."""

    id: uuid.UUID
    state: str
    start: dt.datetime  # entries close, observations start
    end: dt.datetime
    signing: dt.datetime
    entry_fee_sats: int
    pool_sats: int
    total_entries: int
    total_allowed_entries: int
    places_win: int
    values_per_entry: int
    locations: tuple[str, ...]
    coordinator_fee_percentage: int = 0
    funding_txid: str | None = None
    errors: tuple[str, ...] = ()

    @property
    def has_contract(self) -> bool:
        """True once the contract is signed (its payout paths can be checked)."""
        return self.state in _SIGNED_STATES

    @property
    def is_full(self) -> bool:
        return self.total_entries >= self.total_allowed_entries

    @property
    def seats_left(self) -> int:
        return max(0, self.total_allowed_entries - self.total_entries)

    @property
    def price_sats(self) -> int:
        """What a player pays: the entry fee plus the coordinator's fee (rounded)."""
        return self.entry_fee_sats + round(
            self.entry_fee_sats * self.coordinator_fee_percentage / 100
        )

    def label(self, now: dt.datetime) -> StatusLabel:
        return status_label(self.state, now, self.start, self.end)

    def accepts_entries(self, now: dt.datetime) -> bool:
        return self.label(now) is StatusLabel.REGISTRATION and not self.is_full


def status_label(state: str, now: dt.datetime, start: dt.datetime, end: dt.datetime) -> StatusLabel:
    """Terminal states by name; setup states by name; otherwise by the clock."""
    if state == "failed":
        return StatusLabel.FAILED
    if state == "cancelled":
        return StatusLabel.CANCELLED
    if state in _FINISHED_STATES:
        return StatusLabel.COMPLETED
    if state in _SETUP_STATES and now >= start:
        return StatusLabel.SETUP
    if state == "signing_complete" and now >= start:
        return StatusLabel.SIGNING
    if now < start:
        return StatusLabel.REGISTRATION
    if now < end:
        return StatusLabel.LIVE
    return StatusLabel.AWAITING_RESULTS


@dataclass(frozen=True)
class StationWeather:
    """A station on the map with the forecast the picks compare against, and what was seen."""

    station: Station
    forecast: Forecast | None = None
    observation: Observation | None = None
    located: bool = True  # False when the oracle does not know where the station is

    @classmethod
    def unknown(cls, station_id: str) -> StationWeather:
        """A station the oracle told nothing about (still pickable, not on the map)."""
        station = Station(station_id=station_id, station_name=station_id, latitude=0, longitude=0)
        return cls(station, located=False)


@dataclass(frozen=True)
class EntryView:
    """An entry on the leaderboard, on "my entries" or in the detail dialog."""

    id: uuid.UUID
    competition_id: uuid.UUID
    owner: str  # username, or the first 8 hex digits of the nostr key
    card: EntryScoreCard | None = None  # picks with forecast, observed value and points
    rank: int | None = None
    oracle_score: int | None = None
    status: str = "Entered"

    @property
    def picks(self) -> tuple[PickResult, ...]:
        return self.card.picks if self.card else ()

    @property
    def points(self) -> int | None:
        """Display points, once any pick is decided."""
        if self.card is None or not any(p.decided for p in self.card.picks):
            return None
        return self.card.base_score


@dataclass(frozen=True)
class PayoutView:
    """An entry that won something, with what the player can do about it."""

    competition_id: uuid.UUID
    entry_id: uuid.UUID
    ticket_id: uuid.UUID
    amount_sats: int
    status: str  # "Eligible", "Pending", "Paid", "Failed: …", "Claim on chain"
    can_request: bool
    can_claim: bool


METRIC_NAMES: Final = {"temp_high": "High temp", "temp_low": "Low temp", "wind_speed": "Wind speed"}
METRIC_UNITS: Final = {"temp_high": "°F", "temp_low": "°F", "wind_speed": "mph"}
