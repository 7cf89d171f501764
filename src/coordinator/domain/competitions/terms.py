"""A competition's terms and the checks that run before any ticket exists.

Creation refuses a shape the system cannot carry through to the last payout, naming the limit:
nobody may pay into a competition that cannot be announced, signed, held or settled. The
signing service's own limits (subsets, batch items, sessions) are checked by the signer port's
``plan``; this module checks everything else and the keygen session's duration.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from coordinator_core.errors import ValidationError
from coordinator_core.ids import is_uuid7
from coordinator_core.observations import DEFAULT_METRICS, Metric
from ticketdlc.competition import (
    MAX_ENTRIES,
    MAX_PLACES,
    InvalidOutcomeSpaceError,
    OutcomeSpace,
    rank_weights,
)
from ticketdlc.contract.validation import MAX_RELATIVE_LOCKTIME_BLOCK_DELTA

STATION_RE: Final = re.compile(r"^[A-Z0-9]{3,8}$")
MAX_LOCATIONS: Final = 50
MAX_ENTRY_FEE_SATS: Final = 100_000_000
MAX_POOL_SATS: Final = 21_000_000 * 100_000_000


class CreationRefusedError(ValidationError):
    """The competition cannot be created; the message names the limit."""

    code = "creation_refused"


@dataclass(frozen=True)
class CompetitionTerms:
    """What an operator asks for (the upstream ``CreateEvent``)."""

    id: uuid.UUID
    signing_date: dt.datetime
    start_observation_date: dt.datetime  # entries close
    end_observation_date: dt.datetime
    locations: tuple[str, ...]
    number_of_values_per_entry: int
    number_of_places_win: int
    total_allowed_entries: int
    entry_fee: int  # sats, into the pool's accounting
    coordinator_fee_percentage: int  # on top of the entry fee, kept off-chain
    total_competition_pool: int  # sats: the contract's funding value
    relative_locktime_block_delta: int
    scoring_fields: tuple[Metric, ...] = DEFAULT_METRICS

    @property
    def ticket_price_sats(self) -> int:
        """What a player pays: the entry fee plus the coordinator fee, rounded half up."""
        return ticket_price(self.entry_fee, self.coordinator_fee_percentage)

    @property
    def outcome_space(self) -> OutcomeSpace:
        return OutcomeSpace(self.total_allowed_entries, self.number_of_places_win)


def ticket_price(entry_fee: int, fee_percentage: int) -> int:
    """``entry_fee + round_half_up(entry_fee × pct / 100)``."""
    return entry_fee + (entry_fee * fee_percentage * 2 + 100) // 200


@dataclass(frozen=True)
class CreationLimits:
    """Bounds a new competition must respect (from the configuration)."""

    max_entries: int = MAX_ENTRIES
    max_places: int = MAX_PLACES
    max_outcomes: int = 20_000
    min_block_delta: int = 6
    max_block_delta: int = MAX_RELATIVE_LOCKTIME_BLOCK_DELTA
    min_entry_window_secs: float = 60.0  # entries must stay open at least this long
    hold_invoice_max_secs: float = 12 * 3600  # how long a hold invoice's HTLC can be held
    signing_timeout_secs: float = 2 * 3600  # after the deadline, for keygen and signing
    min_share_sats: int = 1_000  # the smallest payout of any outcome


def keygen_timeout_secs(terms: CompetitionTerms, now: dt.datetime, limits: CreationLimits) -> int:
    """How long the key-generation session must stay open: registrations until the entry
    deadline, then keygen completion and signing."""
    window = (terms.start_observation_date - now).total_seconds()
    return int(max(window, 0) + limits.signing_timeout_secs) + 1


def check_terms(terms: CompetitionTerms, now: dt.datetime, limits: CreationLimits) -> None:
    """Raise :class:`CreationRefusedError` for the first rule ``terms`` break."""

    def refuse(message: str) -> CreationRefusedError:
        return CreationRefusedError(message)

    if not is_uuid7(terms.id):
        raise refuse(f"id {terms.id} is not a version 7 UUID")
    for name in ("signing_date", "start_observation_date", "end_observation_date"):
        if getattr(terms, name).tzinfo is None:
            raise refuse(f"{name} must carry a time zone")
    window = (terms.start_observation_date - now).total_seconds()
    if window < limits.min_entry_window_secs:
        raise refuse(
            f"start_observation_date must be at least {limits.min_entry_window_secs:.0f}s "
            "from now (entries close then)"
        )
    if terms.end_observation_date < terms.start_observation_date:
        raise refuse("end_observation_date is before start_observation_date")
    if terms.signing_date < terms.end_observation_date:
        raise refuse("signing_date is before end_observation_date")
    held = window + limits.signing_timeout_secs
    if held > limits.hold_invoice_max_secs:
        raise refuse(
            f"entry window too long for hold invoices: fees would be held up to {held:.0f}s "
            f"(entry window + signing timeout), limit hold_invoice_max_secs="
            f"{limits.hold_invoice_max_secs:.0f}"
        )
    if not 1 <= len(terms.locations) <= MAX_LOCATIONS:
        raise refuse(f"locations: between 1 and {MAX_LOCATIONS} stations")
    if len(set(terms.locations)) != len(terms.locations):
        raise refuse("locations repeats a station")
    bad = [s for s in terms.locations if not STATION_RE.fullmatch(s)]
    if bad:
        raise refuse(f"invalid station id {bad[0]!r}")
    if not terms.scoring_fields or len(set(terms.scoring_fields)) != len(terms.scoring_fields):
        raise refuse("scoring_fields must be distinct and not empty")
    most_picks = len(terms.locations) * len(terms.scoring_fields)
    if not 1 <= terms.number_of_values_per_entry <= most_picks:
        raise refuse(f"number_of_values_per_entry must be between 1 and {most_picks}")
    places, entries = terms.number_of_places_win, terms.total_allowed_entries
    if not 1 <= places <= limits.max_places:
        raise refuse(f"number_of_places_win: at most {limits.max_places} places (got {places})")
    if not places < entries <= limits.max_entries:
        raise refuse(
            f"total_allowed_entries must be more than the places ({places}) and at most "
            f"max_entries={limits.max_entries} (got {entries})"
        )
    try:
        space = OutcomeSpace(entries, places, limits.max_outcomes)
    except InvalidOutcomeSpaceError as exc:
        raise refuse(f"outcome cap: {exc} (max_outcomes={limits.max_outcomes})") from None
    if not 1 <= terms.entry_fee <= MAX_ENTRY_FEE_SATS:
        raise refuse(f"entry_fee must be between 1 and {MAX_ENTRY_FEE_SATS} sats")
    if not 0 <= terms.coordinator_fee_percentage <= 100:
        raise refuse("coordinator_fee_percentage must be between 0 and 100")
    if not 1 <= terms.total_competition_pool <= MAX_POOL_SATS:
        raise refuse("total_competition_pool must be positive")
    smallest = smallest_share(terms.total_competition_pool, space)
    if smallest < limits.min_share_sats:
        raise refuse(
            f"total_competition_pool too small: the smallest payout would be {smallest} sats, "
            f"below min_share_sats={limits.min_share_sats}"
        )
    delta = terms.relative_locktime_block_delta
    if not limits.min_block_delta <= delta <= limits.max_block_delta:
        raise refuse(
            f"relative_locktime_block_delta must be between {limits.min_block_delta} and "
            f"{limits.max_block_delta} blocks (got {delta})"
        )


def smallest_share(pool: int, space: OutcomeSpace) -> int:
    """The smallest amount any winner of any outcome is owed (ranked or equal split)."""
    ranked = pool * min(rank_weights(space.places)) // 100
    return min(ranked, pool // space.entries)


def terms_to_json(terms: CompetitionTerms) -> dict[str, object]:
    """The stored and served form (the upstream ``CreateEvent`` fields, RFC 3339 dates)."""
    return {
        "id": str(terms.id),
        "signing_date": _rfc3339(terms.signing_date),
        "start_observation_date": _rfc3339(terms.start_observation_date),
        "end_observation_date": _rfc3339(terms.end_observation_date),
        "locations": list(terms.locations),
        "number_of_values_per_entry": terms.number_of_values_per_entry,
        "number_of_places_win": terms.number_of_places_win,
        "total_allowed_entries": terms.total_allowed_entries,
        "entry_fee": terms.entry_fee,
        "coordinator_fee_percentage": terms.coordinator_fee_percentage,
        "total_competition_pool": terms.total_competition_pool,
        "relative_locktime_block_delta": terms.relative_locktime_block_delta,
        "scoring_fields": [m.value for m in terms.scoring_fields],
    }


def terms_from_json(value: Mapping[str, Any]) -> CompetitionTerms:
    """Inverse of :func:`terms_to_json` (for stored terms, which were checked at creation)."""
    return CompetitionTerms(
        id=uuid.UUID(str(value["id"])),
        signing_date=dt.datetime.fromisoformat(str(value["signing_date"])),
        start_observation_date=dt.datetime.fromisoformat(str(value["start_observation_date"])),
        end_observation_date=dt.datetime.fromisoformat(str(value["end_observation_date"])),
        locations=tuple(str(s) for s in value["locations"]),
        number_of_values_per_entry=int(value["number_of_values_per_entry"]),
        number_of_places_win=int(value["number_of_places_win"]),
        total_allowed_entries=int(value["total_allowed_entries"]),
        entry_fee=int(value["entry_fee"]),
        coordinator_fee_percentage=int(value["coordinator_fee_percentage"]),
        total_competition_pool=int(value["total_competition_pool"]),
        relative_locktime_block_delta=int(value["relative_locktime_block_delta"]),
        scoring_fields=tuple(Metric(m) for m in value.get("scoring_fields") or DEFAULT_METRICS),
    )


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
