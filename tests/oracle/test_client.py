"""The oracle HTTP client against the devnet oracle: the same flows, errors and validation."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.adapters.oracle import NoaaOracleClient, RetryPolicy
from coordinator.adapters.oracle.convert import InvalidOracleAnswerError
from coordinator.domain.ports.oracle import OracleEntry, OracleEventSpec, OraclePort
from coordinator_core.errors import NotFoundError, PermanentError, TransientError, ValidationError
from coordinator_core.ids import uuid7
from coordinator_core.observations import Metric, StationPicks
from coordinator_core.oracle_api import EventStatus
from tests.conftest import free_port
from tests.oracle.conftest import COORDINATOR_SECRET, example_weather
from tests.support.oracle import OracleHandle
from ticketdlc.competition import canonical_entry_order, outcome_weights
from ticketdlc.crypto.secp import Point

FAST_RETRY = RetryPolicy(attempts=3, first_delay_secs=0.01, max_delay_secs=0.05)


@pytest.fixture
async def client(devnet_oracle: OracleHandle) -> AsyncIterator[NoaaOracleClient]:
    async with NoaaOracleClient(devnet_oracle.url, COORDINATOR_SECRET, retry=FAST_RETRY) as c:
        yield c


def spec_of(example: dict[str, Any], **overrides: Any) -> OracleEventSpec:
    event = example["event"]
    values: dict[str, Any] = {
        "id": uuid7(),
        "signing_date": dt.datetime.fromisoformat(event["signing_date"]),
        "start_observation_date": dt.datetime.fromisoformat(event["start_observation_date"]),
        "end_observation_date": dt.datetime.fromisoformat(event["end_observation_date"]),
        "locations": tuple(event["locations"]),
        "number_of_values_per_entry": 9,
        "total_allowed_entries": event["total_allowed_entries"],
        "number_of_places_win": event["number_of_places_win"],
        "scoring_fields": tuple(Metric(m) for m in event["scoring_fields"]),
    }
    values.update(overrides)
    return OracleEventSpec(**values)


def entries_of(example: dict[str, Any]) -> list[OracleEntry]:
    return [
        OracleEntry(
            uuid.UUID(entry["id"]),
            tuple(StationPicks.model_validate(p) for p in entry["expected_observations"]),
        )
        for entry in example["entries"]
    ]


async def test_client_satisfies_the_port(client: NoaaOracleClient) -> None:
    port: OraclePort = client
    assert port is client


async def test_scoring_example_through_the_client(
    client: NoaaOracleClient,
    devnet_oracle: OracleHandle,
    scoring_example: dict[str, Any],
    vectors_dir: Path,
) -> None:
    vector = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    assert (await client.public_key()).hex() == vector["oracle_pubkey"]

    spec = spec_of(scoring_example)
    created = await client.create_event(spec)
    assert created.status is EventStatus.COMPLETED
    assert created.outcome_space.count == scoring_example["expected"]["outcome_count"]
    assert created.expiry == scoring_example["expected"]["expiry"]
    assert created.nonce_point is not None
    assert created.attestation is None
    # Creating again (e.g. a retry after a lost answer) returns the same event.
    assert (await client.create_event(spec)).announcement.points == created.announcement.points

    entries = entries_of(scoring_example)
    await client.submit_entries(spec.id, entries)
    await client.submit_entries(spec.id, entries)  # idempotent
    assert devnet_oracle.put_weather(**example_weather(scoring_example)).status_code == 200
    assert devnet_oracle.attest(spec.id).status_code == 200

    event = await client.get_event(spec.id)
    expected = scoring_example["expected"]
    assert event.status is EventStatus.SIGNED
    assert event.attested_outcome == expected["outcome_index"]
    ranking = event.outcome_space.ranking(event.attested_outcome)
    assert list(ranking) == expected["winners_by_uuid_index"]
    players = canonical_entry_order(entry.id for entry in entries)
    assert [players[i] for i in ranking] == [entries[0].id, entries[2].id, entries[1].id]
    assert outcome_weights(event.outcome_space, event.attested_outcome) == {0: 45, 2: 35, 1: 20}
    scores = {entry.id: entry.score for entry in event.entries}
    assert [scores[e.id] for e in entries] == expected["scores"]


async def test_weather_queries(client: NoaaOracleClient, devnet_oracle: OracleHandle) -> None:
    devnet_oracle.put_weather(
        forecasts=[{"station_id": "KDEN", "date": "2025-02-01", "temp_low": 5, "temp_high": 40}],
        observations=[
            {"station_id": "KDEN", "date": "2025-02-01", "temp_low": 4.4, "temp_high": 41.6}
        ],
    )
    start = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    forecasts = await client.forecasts(["KDEN"], start, end)
    assert [(f.date, f.temp_low, f.temp_high) for f in forecasts] == [(start.date(), 5, 40)]
    observations = await client.observations(["KDEN"], start, end)
    assert [(o.temp_low, o.temp_high) for o in observations] == [(4.4, 41.6)]
    stations = await client.stations()
    assert "KDEN" in {s.station_id for s in stations}
    with pytest.raises(PermanentError, match="unknown station"):
        await client.forecasts(["NOPE"], start, end)


async def test_refusals_are_permanent_and_unknown_events_not_found(
    client: NoaaOracleClient, scoring_example: dict[str, Any]
) -> None:
    with pytest.raises(NotFoundError):
        await client.get_event(uuid7())
    with pytest.raises(PermanentError, match="unknown station"):
        await client.create_event(spec_of(scoring_example, locations=("KORD", "ABCD")))
    # Refused locally, before any request: the oracle would be asked for 6.4 M points.
    with pytest.raises(ValidationError, match="6375601 outcomes"):
        await client.create_event(
            spec_of(scoring_example, total_allowed_entries=25, number_of_places_win=5)
        )
    with pytest.raises(ValidationError, match="version 7"):
        await client.create_event(spec_of(scoring_example, id=uuid.uuid4()))
    spec = spec_of(scoring_example)
    await client.create_event(spec)
    with pytest.raises(PermanentError, match="exactly 4 entries"):
        await client.submit_entries(spec.id, entries_of(scoring_example)[:3])


async def test_client_signs_with_the_coordinator_key_file(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any], tmp_path: Path
) -> None:
    key_file = tmp_path / "creds" / "coordinator.pem"
    async with NoaaOracleClient.from_key_file(
        devnet_oracle.url, key_file, retry=FAST_RETRY
    ) as client:
        event = await client.create_event(spec_of(scoring_example))
    assert key_file.exists()
    assert event.coordinator_pubkey == client.npub


async def test_pinned_oracle_key_must_match(devnet_oracle: OracleHandle) -> None:
    other = Point.from_secret(7)
    async with NoaaOracleClient(
        devnet_oracle.url, COORDINATOR_SECRET, oracle_pubkey=other, retry=FAST_RETRY
    ) as client:
        with pytest.raises(InvalidOracleAnswerError, match="not the configured"):
            await client.public_key()


async def test_unreachable_oracle_is_transient() -> None:
    async with NoaaOracleClient(
        f"http://127.0.0.1:{free_port()}", COORDINATOR_SECRET, retry=FAST_RETRY
    ) as client:
        with pytest.raises(TransientError, match="ConnectError"):
            await client.get_event(uuid7())


def _proxy(
    target: str, rewrite: Callable[[httpx.Request, httpx.Response], httpx.Response]
) -> httpx.MockTransport:
    """A transport that forwards to the devnet oracle and lets a test alter its answers."""

    async def handler(request: httpx.Request) -> httpx.Response:
        async with httpx.AsyncClient(base_url=target) as upstream:
            answer = await upstream.request(
                request.method,
                request.url.raw_path.decode(),
                content=request.content,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            )
        return rewrite(request, answer)

    return httpx.MockTransport(handler)


def _json_rewrite(change: Callable[[dict[str, Any]], None]) -> Any:
    def rewrite(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if request.url.path.startswith("/oracle/events/") and answer.status_code == 200:
            data = answer.json()
            change(data)
            return httpx.Response(200, json=data)
        return httpx.Response(answer.status_code, content=answer.content)

    return rewrite


async def _signed_event(devnet_oracle: OracleHandle, scoring_example: dict[str, Any]) -> uuid.UUID:
    spec = spec_of(scoring_example)
    async with NoaaOracleClient(devnet_oracle.url, COORDINATOR_SECRET, retry=FAST_RETRY) as c:
        await c.create_event(spec)
        fresh = [OracleEntry(uuid7(), e.picks) for e in entries_of(scoring_example)]
        await c.submit_entries(spec.id, fresh)
    devnet_oracle.put_weather(**example_weather(scoring_example))
    assert devnet_oracle.attest(spec.id).status_code == 200
    return spec.id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update(attestation=f"{12345:064x}"), "matches no announced"),
        (
            lambda e: e["event_announcement"]["locking_points"].reverse(),
            "do not match the oracle key",
        ),
        (
            lambda e: e["event_announcement"]["locking_points"].pop(),
            "expected 25",
        ),
        (lambda e: e.update(id=str(uuid7())), "asked for event"),
        (lambda e: e.update(entries="nope"), "malformed answer"),
    ],
)
async def test_inconsistent_answers_are_rejected(
    devnet_oracle: OracleHandle,
    scoring_example: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    event_id = await _signed_event(devnet_oracle, scoring_example)
    transport = _proxy(devnet_oracle.url, _json_rewrite(change))
    async with NoaaOracleClient(
        "http://oracle.test", COORDINATOR_SECRET, retry=FAST_RETRY, transport=transport
    ) as client:
        with pytest.raises(InvalidOracleAnswerError, match=message):
            await client.get_event(event_id)


async def test_original_oracle_answers_without_nonce_point_are_accepted(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    """The original oracle sends the secret ``nonce`` and no nonce point; neither is needed."""
    event_id = await _signed_event(devnet_oracle, scoring_example)

    def as_original(event: dict[str, Any]) -> None:
        del event["nonce_point"]
        event["nonce"] = "22" * 32

    transport = _proxy(devnet_oracle.url, _json_rewrite(as_original))
    async with NoaaOracleClient(
        "http://oracle.test", COORDINATOR_SECRET, retry=FAST_RETRY, transport=transport
    ) as client:
        event = await client.get_event(event_id)
    assert event.nonce_point is None
    assert event.attested_outcome == scoring_example["expected"]["outcome_index"]


async def test_transient_statuses_are_retried_then_reported(devnet_oracle: OracleHandle) -> None:
    failures = {"left": 2}

    def flaky(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
        if failures["left"]:
            failures["left"] -= 1
            return httpx.Response(503, json={"error": "deploying"})
        return httpx.Response(answer.status_code, content=answer.content)

    transport = _proxy(devnet_oracle.url, flaky)
    async with NoaaOracleClient(
        "http://oracle.test", COORDINATOR_SECRET, retry=FAST_RETRY, transport=transport
    ) as client:
        key = await client.public_key()
    assert key.to_bytes() == base64.b64decode(
        devnet_oracle.http.get("/oracle/pubkey").json()["key"]
    )

    always = _proxy(devnet_oracle.url, lambda _r, _a: httpx.Response(429))
    async with NoaaOracleClient(
        "http://oracle.test", COORDINATOR_SECRET, retry=FAST_RETRY, transport=always
    ) as client:
        with pytest.raises(TransientError, match="HTTP 429"):
            await client.public_key()


async def test_oversized_answers_are_refused(devnet_oracle: OracleHandle) -> None:
    async with NoaaOracleClient(
        devnet_oracle.url, COORDINATOR_SECRET, retry=FAST_RETRY, max_response_bytes=100
    ) as client:
        with pytest.raises(InvalidOracleAnswerError, match="size limit"):
            await client.stations()


async def test_an_unchanged_event_is_parsed_once_and_a_changed_one_checked_again(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    event_id = await _signed_event(devnet_oracle, scoring_example)
    tamper = {"on": False}

    def maybe_tamper(event: dict[str, Any]) -> None:
        if tamper["on"]:
            event["event_announcement"]["locking_points"].reverse()

    transport = _proxy(devnet_oracle.url, _json_rewrite(maybe_tamper))
    async with NoaaOracleClient(
        "http://oracle.test", COORDINATOR_SECRET, retry=FAST_RETRY, transport=transport
    ) as client:
        first = await client.get_event(event_id)
        assert await client.get_event(event_id) is first  # the same bytes: not parsed again
        tamper["on"] = True  # different bytes: parsed and checked again, and refused
        with pytest.raises(InvalidOracleAnswerError, match="do not match the oracle key"):
            await client.get_event(event_id)
        tamper["on"] = False
        assert await client.get_event(event_id) == first
