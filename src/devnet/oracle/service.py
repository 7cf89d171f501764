"""The devnet oracle's behaviour: events, entries, scoring, announcements and attestations.

It follows the noaa-oracle (spec §2.3, §3, §5, §6) and fixes its known risks: the secret nonce
never leaves the oracle (events carry the nonce point), an event is signed at most once and only
with an announced outcome, the outcome space is capped, events without entries are never signed,
and every mutation runs under one lock so two updates cannot race.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator_core.errors import NotFoundError, ValidationError
from coordinator_core.ids import is_uuid7
from coordinator_core.nostr import npub_encode
from coordinator_core.observations import DEFAULT_METRICS, Forecast, Observation, Station
from coordinator_core.oracle_api import (
    AddEventEntries,
    CreateEvent,
    Event,
    EventAnnouncement,
    EventStatus,
    EventSummary,
    Forecasted,
    Observed,
    Weather,
    WeatherEntry,
)
from coordinator_core.scoring import (
    ScoredEntry,
    event_forecasts,
    event_observations,
    round_half_away_from_zero,
    score_entry,
    select_winners,
)
from devnet.oracle.keys import OracleKeys
from devnet.oracle.stations import STATION_IDS, STATIONS
from devnet.oracle.store import EntryRow, EventRow, OracleStore
from devnet.oracle.weather import WeatherUpload, aggregate_observations
from ticketdlc.competition import (
    DEFAULT_MAX_OUTCOMES,
    InvalidOutcomeSpaceError,
    OutcomeSpace,
    attest,
    encode_ranking,
    locking_points,
    ranking_of_winners,
)
from ticketdlc.crypto.secp import Point

log = logging.getLogger(__name__)

EXPIRY_DELAY = dt.timedelta(days=1)  # the noaa-oracle's: an event expires a day after signing
MAX_ENTRIES_PER_EVENT = 25
MAX_PLACES = 5
MAX_U32 = 2**32 - 1

Clock = Callable[[], dt.datetime]


class SignerMismatchError(ValidationError):
    """The NIP-98 signer is not the coordinator that created the event."""

    code = "forbidden"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _whole_seconds(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class UpdateReport:
    """What one ETL run did."""

    scored: list[uuid.UUID]
    signed: list[uuid.UUID]

    def to_json(self) -> dict[str, list[str]]:
        return {"scored": [str(i) for i in self.scored], "signed": [str(i) for i in self.signed]}


class OracleService:
    """Events, entries, weather and signing on top of an :class:`OracleStore`."""

    def __init__(
        self,
        store: OracleStore,
        keys: OracleKeys,
        *,
        clock: Clock = utc_now,
        max_outcomes: int = DEFAULT_MAX_OUTCOMES,
        weather_dir: Path | None = None,
        expiry_delay: dt.timedelta = EXPIRY_DELAY,
    ) -> None:
        if expiry_delay.total_seconds() < 0:
            raise ValueError("the expiry delay must not be negative")
        self.store = store
        self.expiry_delay_secs = int(expiry_delay.total_seconds())
        self.keys = keys
        self.clock = clock
        self.max_outcomes = max_outcomes
        self.weather_dir = weather_dir
        self._lock = threading.Lock()
        store.check_pubkey(keys.xonly)

    # -- keys ----------------------------------------------------------------------------

    def pubkey_base64(self) -> str:
        return base64.b64encode(self.keys.pubkey.to_bytes()).decode()

    def npub(self) -> str:
        return self.keys.npub

    # -- events --------------------------------------------------------------------------

    def create_event(self, request: CreateEvent, signer_pubkey: str) -> Event:
        """Validate, announce and store an event; repeating the same request returns it."""
        space = self._validate_event(request)
        coordinator = npub_encode(bytes.fromhex(signer_pubkey))
        with self._lock:
            existing = self.store.get_event(request.id)
            if existing is not None:
                if not _same_event(existing, request, coordinator):
                    raise ValidationError(f"Invalid event: event {request.id} already exists")
                return self._event_json(existing)
            nonce = self.keys.event_nonce(request.id)
            nonce_point = Point.from_secret(nonce)
            points = locking_points(space, self.keys.pubkey, nonce_point)
            row = EventRow(
                id=request.id,
                signing_date=_whole_seconds(request.signing_date),
                start_observation_date=_whole_seconds(request.start_observation_date),
                end_observation_date=_whole_seconds(request.end_observation_date),
                locations=tuple(request.locations),
                number_of_values_per_entry=request.number_of_values_per_entry,
                total_allowed_entries=request.total_allowed_entries,
                number_of_places_win=request.number_of_places_win,
                scoring_fields=tuple(request.scoring_fields or DEFAULT_METRICS),
                coordinator_pubkey=coordinator,
                nonce_secret=nonce,
                nonce_point=nonce_point.to_bytes(),
                locking_points=tuple(p.to_bytes() for p in points),
                expiry=int(request.signing_date.timestamp()) + self.expiry_delay_secs,
            )
            self.store.insert_event(row, self.clock())
            log.info("event %s created with %d outcomes", row.id, space.count)
            return self._event_json(row)

    def _validate_event(self, request: CreateEvent) -> OutcomeSpace:
        def invalid(reason: str) -> ValidationError:
            return ValidationError(f"Invalid event: {reason}")

        if not is_uuid7(request.id):
            raise invalid(f"event id {request.id} is not a version 7 UUID")
        if request.start_observation_date > request.end_observation_date:
            raise invalid("start_observation_date is after end_observation_date")
        if request.end_observation_date > request.signing_date:
            raise invalid("end_observation_date is after signing_date")
        expiry = int(request.signing_date.timestamp()) + self.expiry_delay_secs
        if request.start_observation_date.timestamp() < 0 or expiry > MAX_U32:
            raise invalid("dates must lie between 1970 and 2106")
        if request.total_allowed_entries > MAX_ENTRIES_PER_EVENT:
            raise invalid(f"total_allowed_entries must be at most {MAX_ENTRIES_PER_EVENT}")
        if request.number_of_places_win > MAX_PLACES:
            raise invalid(f"number_of_places_win must be at most {MAX_PLACES}")
        if request.scoring_fields is not None:
            if not request.scoring_fields:
                raise invalid("scoring_fields must not be empty")
            if len(set(request.scoring_fields)) != len(request.scoring_fields):
                raise invalid("scoring_fields repeats a field")
        if not request.locations:
            raise invalid("locations must not be empty")
        if len(set(request.locations)) != len(request.locations):
            raise invalid("locations repeats a station")
        unknown = [s for s in request.locations if s not in STATION_IDS]
        if unknown:
            raise invalid(f"unknown station(s): {', '.join(unknown)}")
        if request.number_of_values_per_entry < 1:
            raise invalid("number_of_values_per_entry must be at least 1")
        try:
            return OutcomeSpace(
                request.total_allowed_entries, request.number_of_places_win, self.max_outcomes
            )
        except InvalidOutcomeSpaceError as exc:
            raise invalid(str(exc)) from None

    def get_event(self, event_id: uuid.UUID) -> Event:
        return self._event_json(self._event_row(event_id))

    def list_events(self, limit: int | None) -> list[EventSummary]:
        counts = self.store.entry_counts()
        summaries = []
        for row in self.store.list_events(limit):
            event = self._event_json(row, with_entries=False)
            summaries.append(
                EventSummary(
                    **event.model_dump(include=set(EventSummary.model_fields) - {"total_entries"}),
                    total_entries=counts.get(str(row.id), 0),
                )
            )
        return summaries

    def _event_row(self, event_id: uuid.UUID) -> EventRow:
        row = self.store.get_event(event_id)
        if row is None:
            raise NotFoundError(f"event with id {event_id} not found")
        return row

    def status(self, row: EventRow) -> EventStatus:
        """Status from the clock (spec §3.4)."""
        if row.attestation is not None:
            return EventStatus.SIGNED
        now = self.clock()
        if now < row.start_observation_date:
            return EventStatus.LIVE
        if now < row.end_observation_date:
            return EventStatus.RUNNING
        return EventStatus.COMPLETED

    def _event_json(self, row: EventRow, *, with_entries: bool = True) -> Event:
        entries = self.store.entries(row.id) if with_entries else []
        return Event(
            id=row.id,
            signing_date=row.signing_date,
            start_observation_date=row.start_observation_date,
            end_observation_date=row.end_observation_date,
            locations=list(row.locations),
            number_of_values_per_entry=row.number_of_values_per_entry,
            status=self.status(row),
            total_allowed_entries=row.total_allowed_entries,
            entry_ids=[entry.id for entry in entries],
            number_of_places_win=row.number_of_places_win,
            entries=[_entry_json(entry) for entry in entries],
            weather=[Weather.model_validate(w) for w in self.store.event_weather(row.id)],
            nonce_point=row.nonce_point.hex(),
            event_announcement=EventAnnouncement(
                locking_points=[p.hex() for p in row.locking_points], expiry=row.expiry
            ),
            attestation=f"{row.attestation:064x}" if row.attestation is not None else None,
            coordinator_pubkey=row.coordinator_pubkey,
            scoring_fields=list(row.scoring_fields),
        )

    # -- entries -------------------------------------------------------------------------

    def submit_entries(
        self, path_event_id: uuid.UUID, request: AddEventEntries, signer_pubkey: str
    ) -> list[WeatherEntry]:
        """Store the event's one batch of entries (spec §2.3); repeating it returns it."""
        event_id = request.event_id
        if not is_uuid7(event_id):
            raise ValidationError(f"event id {event_id} is not a version 7 UUID")
        if event_id != path_event_id:
            raise ValidationError("the body's event_id differs from the event in the path")
        with self._lock:
            row = self._event_row(event_id)
            if npub_encode(bytes.fromhex(signer_pubkey)) != row.coordinator_pubkey:
                raise SignerMismatchError(
                    "only the coordinator that created the event may submit its entries"
                )
            entries = [
                EntryRow(e.id, e.event_id, tuple(e.expected_observations)) for e in request.entries
            ]
            existing = self.store.entries(event_id)
            if existing:
                if [(e.id, e.expected_observations) for e in existing] == [
                    (e.id, e.expected_observations) for e in entries
                ]:
                    return [_entry_json(e) for e in existing]
                raise ValidationError(f"event {event_id} already has its entries")
            self._validate_entries(row, entries)
            if not self.store.insert_entries(event_id, entries):
                raise ValidationError(f"event {event_id} already has its entries")
            return [_entry_json(e) for e in entries]

    def _validate_entries(self, row: EventRow, entries: Sequence[EntryRow]) -> None:
        if len(entries) != row.total_allowed_entries:
            raise ValidationError(
                f"event {row.id} needs exactly {row.total_allowed_entries} entries, "
                f"got {len(entries)}"
            )
        ids = [entry.id for entry in entries]
        if len(set(ids)) != len(ids):
            raise ValidationError("entry ids must be distinct")
        in_use = self.store.entry_ids_in_use(ids)
        if in_use:
            raise ValidationError(f"entry id {in_use[0]} is already used by another event")
        for entry in entries:
            if entry.event_id != row.id:
                raise ValidationError(f"entry {entry.id} names another event")
            if not is_uuid7(entry.id):
                raise ValidationError(f"entry id {entry.id} is not a version 7 UUID")
            picks = 0
            stations = set()
            for choice in entry.expected_observations:
                if choice.station not in row.locations:
                    raise ValidationError(
                        f"entry {entry.id}: station {choice.station} is not one of the "
                        "event's locations"
                    )
                if choice.station in stations:
                    raise ValidationError(f"entry {entry.id}: station {choice.station} repeats")
                stations.add(choice.station)
                unscored = [m.value for m in choice.picks() if m not in row.scoring_fields]
                if unscored:
                    raise ValidationError(
                        f"entry {entry.id}: {', '.join(unscored)} is not scored by this event"
                    )
                picks += choice.pick_count()
            if picks > row.number_of_values_per_entry:
                raise ValidationError(
                    f"entry {entry.id} has {picks} picks, more than the event's "
                    f"{row.number_of_values_per_entry}"
                )

    def get_entry(self, event_id: uuid.UUID, entry_id: uuid.UUID) -> WeatherEntry:
        for entry in self.store.entries(event_id):
            if entry.id == entry_id:
                return _entry_json(entry)
        raise NotFoundError(f"entry with id {entry_id} not found for event {event_id}")

    # -- weather -------------------------------------------------------------------------

    def stations(self) -> list[Station]:
        return list(STATIONS)

    def put_weather(self, upload: WeatherUpload) -> dict[str, int]:
        """Replace the known weather for the uploaded stations and times."""
        items = [*upload.forecasts, *upload.observations]
        unknown = sorted({item.station_id for item in items} - STATION_IDS)
        if unknown:
            raise ValidationError(f"unknown station(s): {', '.join(unknown)}")
        forecasts = [item.to_forecast() for item in upload.forecasts]
        observations = [item.to_observation() for item in upload.observations]
        self.store.put_weather(forecasts, observations)
        return {"forecasts": len(forecasts), "observations": len(observations)}

    def import_weather_files(self) -> int:
        """Load new ``*.json`` uploads from the weather directory; returns how many."""
        if self.weather_dir is None or not self.weather_dir.is_dir():
            return 0
        imported = 0
        for path in sorted(self.weather_dir.glob("*.json")):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if self.store.weather_file_imported(digest):
                continue
            try:
                self.put_weather(WeatherUpload.model_validate_json(data))
            except (ValueError, ValidationError) as exc:
                log.error("weather file %s rejected: %s", path.name, exc)
            else:
                imported += 1
            self.store.mark_weather_file(digest, path.name)
        return imported

    def forecasts(
        self, station_ids: Sequence[str], start: dt.datetime | None, end: dt.datetime | None
    ) -> list[Forecast]:
        return self.store.forecasts(station_ids, start, end)

    def observations(
        self, station_ids: Sequence[str], start: dt.datetime | None, end: dt.datetime | None
    ) -> list[Observation]:
        return aggregate_observations(self.store.observations(station_ids, start, end), start, end)

    def _event_inputs(
        self, row: EventRow, with_observations: bool
    ) -> tuple[dict[str, Forecast], dict[str, Observation]]:
        start, end = row.start_observation_date, row.end_observation_date
        forecasts = event_forecasts(self.forecasts(row.locations, start, end), row.locations, start)
        observations = (
            event_observations(self.observations(row.locations, start, end), row.locations)
            if with_observations
            else {}
        )
        return forecasts, observations

    # -- scoring and signing ---------------------------------------------------------------

    def run_update(self) -> UpdateReport:
        """The ETL run: refresh weather, score running events, sign the finished ones."""
        with self._lock:
            self.import_weather_files()
            now = self.clock()
            scored, signed = [], []
            for row in self.store.unsigned_events():
                status = self.status(row)
                started = row.start_observation_date <= now
                forecasts, observations = self._event_inputs(row, with_observations=started)
                self._snapshot(row, forecasts, observations)
                if status not in (EventStatus.RUNNING, EventStatus.COMPLETED):
                    continue
                entries = self.store.entries(row.id)
                if not entries:
                    continue
                results = self._score(row, entries, forecasts, observations)
                scored.append(row.id)
                if status is EventStatus.COMPLETED and row.signing_date < now:
                    self._sign(row, entries, results)
                    signed.append(row.id)
            return UpdateReport(scored, signed)

    def attest_now(self, event_id: uuid.UUID) -> Event:
        """Score with the current weather and sign now, whatever the clock says."""
        with self._lock:
            row = self._event_row(event_id)
            if row.attestation is not None:
                raise ValidationError(f"event {event_id} is already signed")
            entries = self.store.entries(event_id)
            if not entries:
                raise ValidationError(f"event {event_id} has no entries; nothing to attest")
            forecasts, observations = self._event_inputs(row, with_observations=True)
            self._snapshot(row, forecasts, observations)
            results = self._score(row, entries, forecasts, observations)
            self._sign(row, entries, results)
            return self.get_event(event_id)

    def _snapshot(
        self,
        row: EventRow,
        forecasts: dict[str, Forecast],
        observations: dict[str, Observation],
    ) -> None:
        weather: list[dict[str, Any]] = []
        for station in row.locations:
            forecast = forecasts.get(station)
            if forecast is None:
                continue
            observation = observations.get(station)
            observed = None
            if observation is not None:
                observed = Observed(
                    date=observation.start_time,
                    temp_low=round_half_away_from_zero(observation.temp_low),
                    temp_high=round_half_away_from_zero(observation.temp_high),
                    wind_speed=observation.wind_speed,
                )
            item = Weather(
                station_id=station,
                observed=observed,
                forecasted=Forecasted(
                    date=dt.datetime.combine(forecast.date, dt.time(), dt.UTC),
                    temp_low=forecast.temp_low,
                    temp_high=forecast.temp_high,
                    wind_speed=forecast.wind_speed,
                ),
            )
            weather.append(json.loads(item.model_dump_json()))
        self.store.replace_event_weather(row.id, weather)

    def _score(
        self,
        row: EventRow,
        entries: Sequence[EntryRow],
        forecasts: dict[str, Forecast],
        observations: dict[str, Observation],
    ) -> list[ScoredEntry]:
        results = [
            score_entry(
                entry.id,
                entry.expected_observations,
                row.locations,
                row.scoring_fields,
                forecasts,
                observations,
            )
            for entry in entries
        ]
        self.store.set_scores((r.entry_id, r.base_score, r.score) for r in results)
        return results

    def _sign(self, row: EventRow, entries: Sequence[EntryRow], results: list[ScoredEntry]) -> None:
        space = OutcomeSpace(
            row.total_allowed_entries, row.number_of_places_win, len(row.locking_points)
        )
        winners = select_winners(results, row.number_of_places_win)
        ranking = (
            space.refund_ranking
            if winners is None
            else ranking_of_winners(winners, [entry.id for entry in entries])
        )
        index = space.index_of(ranking)
        attestation = attest(self.keys.secret, row.nonce_secret, encode_ranking(ranking))
        if Point.from_secret(attestation).to_bytes() != row.locking_points[index]:
            raise RuntimeError(f"attestation for event {row.id} unlocks no announced outcome")
        if not self.store.set_attestation(row.id, attestation, index):
            raise ValidationError(f"event {row.id} is already signed")
        log.info("event %s signed: outcome %d %s", row.id, index, list(ranking))


def _entry_json(entry: EntryRow) -> WeatherEntry:
    return WeatherEntry(
        id=entry.id,
        event_id=entry.event_id,
        expected_observations=list(entry.expected_observations),
        score=entry.score or None,
        base_score=entry.base_score or None,
    )


def _same_event(row: EventRow, request: CreateEvent, coordinator: str) -> bool:
    return (
        row.coordinator_pubkey == coordinator
        and row.signing_date == _whole_seconds(request.signing_date)
        and row.start_observation_date == _whole_seconds(request.start_observation_date)
        and row.end_observation_date == _whole_seconds(request.end_observation_date)
        and row.locations == tuple(request.locations)
        and row.number_of_values_per_entry == request.number_of_values_per_entry
        and row.total_allowed_entries == request.total_allowed_entries
        and row.number_of_places_win == request.number_of_places_win
        and row.scoring_fields == tuple(request.scoring_fields or DEFAULT_METRICS)
    )
