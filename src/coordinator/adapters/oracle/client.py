"""HTTP client of the noaa-oracle API (spec §2), implementing :class:`OraclePort`.

* Event and entry submissions carry a fresh NIP-98 header signed by the coordinator's identity
  key, with the ``payload`` hash of the exact body.
* 429/502/503/504 answers and transport failures (timeouts included) are retried with
  exponential backoff, then raise ``TransientError``; 404 raises ``NotFoundError``; any other
  failure raises ``PermanentError``.
* Answers are read with a size bound and validated: the announcement must have one distinct
  locking point per outcome (and match the nonce point when the oracle publishes it), and an
  attestation must unlock exactly one announced outcome. The secret ``nonce`` the original
  oracle publishes is neither needed nor used.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from coordinator.adapters.oracle.convert import (
    InvalidOracleAnswerError,
    create_event_body,
    entries_body,
    parse_announcement,
    to_domain_event,
)
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.oracle import OracleEntry, OracleEvent, OracleEventSpec
from coordinator_core.errors import (
    CoordinatorError,
    NotFoundError,
    PermanentError,
    TransientError,
    ValidationError,
)
from coordinator_core.http_body import read_bounded
from coordinator_core.ids import is_uuid7
from coordinator_core.keyfile import load_or_create_secret
from coordinator_core.nip98 import build_auth_header
from coordinator_core.nostr import npub_encode
from coordinator_core.observations import DataSource, Forecast, Observation, Station
from coordinator_core.observed_calls import ObservedTransport
from coordinator_core.oracle_api import Event, KeyResponse, rfc3339
from ticketdlc.competition import (
    DEFAULT_MAX_OUTCOMES,
    Announcement,
    InvalidOutcomeSpaceError,
    OutcomeSpace,
)
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import Point

log = logging.getLogger(__name__)

RETRYABLE_STATUS: Final = frozenset({429, 502, 503, 504})
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
MAX_QUERY_STATIONS: Final = 50
PARSED_EVENTS: Final = 64  # events whose last parsed answer is kept

ModelT = TypeVar("ModelT", bound=BaseModel)

_STATIONS = TypeAdapter(list[Station])
_FORECASTS = TypeAdapter(list[Forecast])
_OBSERVATIONS = TypeAdapter(list[Observation])


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    attempts: int = 6
    first_delay_secs: float = 1.0
    max_delay_secs: float = 30.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay_secs, self.first_delay_secs * 2.0**attempt)
        return float(base * (1 + random.random() / 4))


class NoaaOracleClient:
    """Client of one oracle at ``base_url``, authenticating as the coordinator key."""

    def __init__(
        self,
        base_url: str,
        identity_secret: bytes,
        *,
        oracle_pubkey: Point | None = None,
        timeout_secs: float = 15.0,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_outcomes: int = DEFAULT_MAX_OUTCOMES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = identity_secret
        self.npub = npub_encode(bip340.xonly_pubkey(identity_secret))
        self._pinned_pubkey = oracle_pubkey
        self._pubkey: Point | None = None
        self.retry = retry or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self.max_outcomes = max_outcomes
        self._verified_announcements: dict[uuid.UUID, bytes] = {}
        # The last answer parsed per event (its SHA-256 and result): an event of many outcomes
        # is about a megabyte of locking points, and is polled unchanged until attested.
        self._parsed_events: OrderedDict[uuid.UUID, tuple[bytes, OracleEvent]] = OrderedDict()
        self._last_created_at = 0
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_secs, connect=min(timeout_secs, 5.0)),
            transport=ObservedTransport("oracle", transport),
            follow_redirects=False,
        )

    @classmethod
    def from_key_file(cls, base_url: str, key_file: Path, **options: Any) -> NoaaOracleClient:
        """A client signing with the identity key of the seed in ``key_file`` (created if
        missing)."""
        return cls(
            base_url, CoordinatorKeys(load_or_create_secret(key_file)).identity_secret, **options
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> NoaaOracleClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- transport ----------------------------------------------------------------------

    def _next_created_at(self) -> int:
        # NIP-98 event ids cover created_at but not the signature: two identical requests in
        # one second would share an id and the second would count as a replay.
        now = int(time.time())
        created_at = max(now, self._last_created_at + 1)
        if created_at - now > 30:
            created_at = now
        self._last_created_at = created_at
        return created_at

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
        signed: bool = False,
    ) -> bytes:
        url = str(httpx.URL(self.base_url + path, params=params))
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            if signed:
                headers["Authorization"] = build_auth_header(
                    self._secret, url, method, body, now=self._next_created_at()
                )
            try:
                status, data = await self._send_once(method, url, headers, body)
                if 200 <= status < 300:
                    return data
                if status not in RETRYABLE_STATUS:
                    raise _error_for(method, path, status, data)
                problem = f"HTTP {status}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            attempt += 1
            if attempt >= self.retry.attempts:
                raise TransientError(f"oracle {method} {path}: {problem}")
            delay = self.retry.delay(attempt - 1)
            log.info("oracle %s %s failed (%s); retry in %.1fs", method, path, problem, delay)
            await asyncio.sleep(delay)

    async def _send_once(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        async with self._http.stream(method, url, headers=headers, content=body) as response:
            data = await read_bounded(
                response, self.max_response_bytes, f"oracle {url}", InvalidOracleAnswerError
            )
            return response.status_code, data

    async def _get_model(
        self, path: str, model: type[ModelT], params: dict[str, str] | None = None
    ) -> ModelT:
        return _parse(model, await self._request("GET", path, params=params), path)

    # -- keys ---------------------------------------------------------------------------

    async def public_key(self) -> Point:
        """The oracle's key, fetched once; it must equal the pinned key if one is configured."""
        if self._pubkey is None:
            answer = await self._get_model("/oracle/pubkey", KeyResponse)
            try:
                key = Point.from_bytes(base64.b64decode(answer.key, validate=True))
            except (binascii.Error, ValueError):
                raise InvalidOracleAnswerError("oracle public key is not a valid point") from None
            if self._pinned_pubkey is not None and key != self._pinned_pubkey:
                raise InvalidOracleAnswerError(
                    f"oracle key {key.hex()} is not the configured {self._pinned_pubkey.hex()}"
                )
            self._pubkey = key
        return self._pubkey

    # -- events -------------------------------------------------------------------------

    async def create_event(self, spec: OracleEventSpec) -> OracleEvent:
        if spec.data_source is not DataSource.WEATHER:
            raise ValidationError(f"the oracle has no {spec.data_source} data")
        if not is_uuid7(spec.id):
            raise ValidationError(f"event id {spec.id} is not a version 7 UUID")
        try:
            OutcomeSpace(spec.total_allowed_entries, spec.number_of_places_win, self.max_outcomes)
        except InvalidOutcomeSpaceError as exc:
            raise ValidationError(str(exc)) from None
        body = create_event_body(spec).model_dump_json().encode()
        try:
            data = await self._request("POST", "/oracle/events", body=body, signed=True)
        except PermanentError:
            # A retried creation whose first attempt went through is refused by some oracles;
            # the event is ours if it exists with our key and parameters.
            existing = await self._existing_event(spec.id)
            if existing is None or not _matches(existing, spec, self.npub):
                raise
            return existing
        return await self._event_from(data, spec.id)

    async def _existing_event(self, event_id: uuid.UUID) -> OracleEvent | None:
        try:
            return await self.get_event(event_id)
        except CoordinatorError:
            return None

    async def submit_entries(self, event_id: uuid.UUID, entries: Sequence[OracleEntry]) -> None:
        body = entries_body(event_id, list(entries)).model_dump_json(exclude_none=True).encode()
        try:
            await self._request(
                "POST", f"/oracle/events/{event_id}/entries", body=body, signed=True
            )
        except PermanentError:
            existing = await self._existing_event(event_id)
            if existing is None or [e.id for e in existing.entries] != [e.id for e in entries]:
                raise

    async def get_event(self, event_id: uuid.UUID) -> OracleEvent:
        data = await self._request("GET", f"/oracle/events/{event_id}")
        digest = hashlib.sha256(data).digest()
        parsed = self._parsed_events.get(event_id)
        if parsed is not None and parsed[0] == digest:
            self._parsed_events.move_to_end(event_id)
            return parsed[1]  # the same bytes, already parsed and checked
        event = await self._event_from(data, event_id)
        self._parsed_events[event_id] = (digest, event)
        self._parsed_events.move_to_end(event_id)
        while len(self._parsed_events) > PARSED_EVENTS:
            self._parsed_events.popitem(last=False)
        return event

    async def _event_from(self, data: bytes, event_id: uuid.UUID) -> OracleEvent:
        event = _parse(Event, data, f"/oracle/events/{event_id}")
        if event.id != event_id:
            raise InvalidOracleAnswerError(f"asked for event {event_id}, got {event.id}")
        space, announcement = parse_announcement(event, self.max_outcomes)
        oracle_pubkey = await self.public_key()
        if event.nonce_point is not None:
            self._check_announcement(event, space, announcement, oracle_pubkey)
        return to_domain_event(event, space, announcement, oracle_pubkey)

    def _check_announcement(
        self, event: Event, space: OutcomeSpace, announcement: Announcement, oracle_pubkey: Point
    ) -> None:
        """Recompute the locking points from the nonce point (once per event and answer)."""
        assert event.nonce_point is not None
        digest = hashlib.sha256(
            event.nonce_point.encode()
            + json.dumps(event.event_announcement.locking_points).encode()
        ).digest()
        if self._verified_announcements.get(event.id) == digest:
            return
        try:
            nonce_point = Point.from_bytes(bytes.fromhex(event.nonce_point))
        except ValueError:
            raise InvalidOracleAnswerError(f"event {event.id}: invalid nonce point") from None
        expected = Announcement.derive(space, oracle_pubkey, nonce_point)
        if not expected.matches(announcement.points):
            raise InvalidOracleAnswerError(
                f"event {event.id}: locking points do not match the oracle key and nonce point"
            )
        self._verified_announcements[event.id] = digest

    # -- weather ------------------------------------------------------------------------

    async def stations(self) -> list[Station]:
        data = await self._request("GET", "/stations")
        return _parse_list(_STATIONS, data, "/stations")

    async def forecasts(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[Forecast]:
        params = _window_params(station_ids, start, end)
        data = await self._request("GET", "/stations/forecasts", params=params)
        return _parse_list(_FORECASTS, data, "/stations/forecasts")

    async def observations(
        self, station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
    ) -> list[Observation]:
        params = _window_params(station_ids, start, end)
        data = await self._request("GET", "/stations/observations", params=params)
        return _parse_list(_OBSERVATIONS, data, "/stations/observations")


def _window_params(
    station_ids: Sequence[str], start: dt.datetime, end: dt.datetime
) -> dict[str, str]:
    if not station_ids or len(station_ids) > MAX_QUERY_STATIONS:
        raise ValidationError(f"query 1 to {MAX_QUERY_STATIONS} stations")
    return {"station_ids": ",".join(station_ids), "start": rfc3339(start), "end": rfc3339(end)}


def _parse(model: type[ModelT], data: bytes, path: str) -> ModelT:
    try:
        return model.model_validate_json(data)
    except PydanticValidationError as exc:
        raise InvalidOracleAnswerError(f"oracle {path}: malformed answer: {exc}") from None


def _parse_list(adapter: TypeAdapter[list[Any]], data: bytes, path: str) -> list[Any]:
    try:
        return adapter.validate_json(data)
    except PydanticValidationError as exc:
        raise InvalidOracleAnswerError(f"oracle {path}: malformed answer: {exc}") from None


def _error_for(method: str, path: str, status: int, data: bytes) -> CoordinatorError:
    message = _error_message(data)
    text = f"oracle {method} {path}: HTTP {status}: {message}"
    if status == 404:
        return NotFoundError(text)
    return PermanentError(text)


def _error_message(data: bytes) -> str:
    try:
        error = json.loads(data).get("error")
    except (ValueError, AttributeError):
        return data[:300].decode("utf-8", "replace")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('detail')}"
    return str(error)[:300]


def _matches(event: OracleEvent, spec: OracleEventSpec, npub: str) -> bool:
    return (
        event.coordinator_pubkey == npub
        and event.locations == spec.locations
        and event.outcome_space.entries == spec.total_allowed_entries
        and event.outcome_space.places == spec.number_of_places_win
        and int(event.signing_date.timestamp()) == int(spec.signing_date.timestamp())
    )
