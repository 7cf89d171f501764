"""The devnet oracle over HTTP: the scoring example, keys, NIP-98, control API, bad inputs."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator_core.ids import uuid7
from coordinator_core.nip98 import build_auth_header
from coordinator_core.nostr import npub_encode
from tests.oracle.conftest import COORDINATOR_SECRET, example_weather
from tests.support.oracle import OracleHandle
from ticketdlc.competition import OutcomeSpace, attestation_message_hash
from ticketdlc.crypto import bip340
from ticketdlc.crypto.secp import Point

OTHER_SECRET = bytes.fromhex("44" * 32)


def post_signed(
    oracle: OracleHandle,
    path: str,
    body: Any,
    secret: bytes = COORDINATOR_SECRET,
    *,
    later: int = 0,
) -> httpx.Response:
    """POST with a NIP-98 header; ``later`` shifts created_at so a repeat is a new event."""
    content = json.dumps(body).encode()
    now = int(time.time()) + later
    header = build_auth_header(secret, oracle.url + path, "POST", content, now=now)
    return oracle.http.post(
        path, content=content, headers={"Authorization": header, "Content-Type": "application/json"}
    )


def event_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": str(uuid7()),
        "signing_date": "2024-08-13T03:00:00Z",
        "start_observation_date": "2024-08-12T00:00:00Z",
        "end_observation_date": "2024-08-13T00:00:00Z",
        "locations": ["PFNO", "KSAW", "PAPG", "KWMC"],
        "number_of_values_per_entry": 6,
        "total_allowed_entries": 4,
        "number_of_places_win": 3,
        "scoring_fields": ["temp_high", "temp_low", "wind_speed"],
    }
    body.update(overrides)
    return body


def entries_body(event_id: str, count: int, **pick: str) -> dict[str, Any]:
    picks = pick or {"temp_high": "Over"}
    return {
        "event_id": event_id,
        "entries": [
            {
                "id": str(uuid7()),
                "event_id": event_id,
                "expected_observations": [{"stations": "PFNO", **picks}],
            }
            for _ in range(count)
        ],
    }


def example_event(example: dict[str, Any]) -> dict[str, Any]:
    return event_body(**example["event"], number_of_values_per_entry=9)


def example_entries(example: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "entries": [{**entry, "event_id": event_id} for entry in example["entries"]],
    }


def error_of(response: httpx.Response) -> Any:
    return response.json()["error"]


def test_health_and_keys_match_the_vector(devnet_oracle: OracleHandle, vectors_dir: Path) -> None:
    vector = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    assert devnet_oracle.http.get("/health").status_code == 200
    assert devnet_oracle.http.get("/oracle/pubkey").json() == {
        "key": vector["oracle_pubkey_base64"]
    }
    assert devnet_oracle.http.get("/oracle/npub").json() == {"key": vector["oracle_npub"]}


def test_scoring_example_end_to_end(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    body = example_event(scoring_example)
    created = post_signed(devnet_oracle, "/oracle/events", body)
    assert created.status_code == 200, created.text
    event = created.json()
    assert event["status"] == "Completed"
    assert "nonce" not in event
    assert event["coordinator_pubkey"] == npub_encode(bip340.xonly_pubkey(COORDINATOR_SECRET))
    points = event["event_announcement"]["locking_points"]
    assert len(points) == scoring_example["expected"]["outcome_count"]
    assert event["event_announcement"]["expiry"] == scoring_example["expected"]["expiry"]

    event_id = body["id"]
    entries = example_entries(scoring_example, event_id)
    submitted = post_signed(devnet_oracle, f"/oracle/events/{event_id}/entries", entries)
    assert submitted.status_code == 200, submitted.text
    assert [e["score"] for e in submitted.json()] == [None] * 4

    weather = example_weather(scoring_example)
    assert devnet_oracle.put_weather(**weather).status_code == 200
    attested = devnet_oracle.attest(event_id)
    assert attested.status_code == 200, attested.text
    signed = attested.json()
    assert signed["status"] == "Signed"
    expected = scoring_example["expected"]
    by_id = {e["id"]: e for e in signed["entries"]}
    ids = [e["id"] for e in scoring_example["entries"]]
    assert [by_id[i]["base_score"] for i in ids] == expected["base_scores"]
    assert [by_id[i]["score"] for i in ids] == expected["scores"]

    # The attestation unlocks locking point 2, the ranking [0, 2, 1], and is a BIP-340
    # signature by the oracle key over the tagged hash of that ranking.
    s = int(signed["attestation"], 16)
    unlocked = Point.from_secret(s).hex()
    assert points.index(unlocked) == expected["outcome_index"]
    space = OutcomeSpace(4, 3)
    assert list(space.ranking(points.index(unlocked))) == expected["winners_by_uuid_index"]
    message = space.message(expected["outcome_index"])
    assert message.hex() == expected["message_hex"]
    pubkey = Point.from_bytes(
        base64.b64decode(devnet_oracle.http.get("/oracle/pubkey").json()["key"])
    )
    nonce_point = Point.from_bytes(bytes.fromhex(signed["nonce_point"]))
    signature = nonce_point.xonly() + bytes.fromhex(signed["attestation"])
    assert bip340.verify(pubkey.xonly(), attestation_message_hash(message), signature)

    # The weather snapshot and the single-entry route agree.
    stations = {w["station_id"]: w for w in signed["weather"]}
    assert stations["PFNO"]["observed"]["temp_low"] == 9
    assert stations["KWMC"]["forecasted"]["date"] == "2024-08-12T00:00:00Z"
    entry = devnet_oracle.http.get(f"/oracle/events/{event_id}/entries/{ids[0]}").json()
    assert entry["score"] == expected["scores"][0]

    # Signed once: attesting again is refused and the attestation does not change.
    again = devnet_oracle.attest(event_id)
    assert again.status_code == 400
    assert "already signed" in error_of(again)
    assert (
        devnet_oracle.http.get(f"/oracle/events/{event_id}").json()["attestation"]
        == signed["attestation"]
    )
    listed = devnet_oracle.http.get("/oracle/events").json()
    summary = next(item for item in listed if item["id"] == event_id)
    assert summary["total_entries"] == 4
    assert "nonce" not in summary


def test_update_signs_finished_events_and_not_future_ones(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    past = example_event(scoring_example)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    future = event_body(
        start_observation_date=(now + dt.timedelta(days=1)).isoformat(),
        end_observation_date=(now + dt.timedelta(days=2)).isoformat(),
        signing_date=(now + dt.timedelta(days=2, hours=3)).isoformat(),
        number_of_values_per_entry=9,
        total_allowed_entries=4,
    )
    nonce_points = set()
    for body in (past, future):
        response = post_signed(devnet_oracle, "/oracle/events", body)
        assert response.status_code == 200
        nonce_points.add(response.json()["nonce_point"])
    assert len(nonce_points) == 2  # a fresh nonce per event
    # Entry ids are global: the future event gets fresh ones.
    entries_past = example_entries(scoring_example, past["id"])
    entries_past["entries"] = [{**e, "id": str(uuid7())} for e in entries_past["entries"]]
    for body, entries in ((past, entries_past), (future, entries_body(future["id"], 4))):
        response = post_signed(devnet_oracle, f"/oracle/events/{body['id']}/entries", entries)
        assert response.status_code == 200, response.text
    assert devnet_oracle.put_weather(**example_weather(scoring_example)).status_code == 200

    # /oracle/update requires the token.
    assert devnet_oracle.http.post("/oracle/update").status_code == 401
    report = devnet_oracle.update()
    assert report.status_code == 200, report.text
    assert past["id"] in report.json()["signed"]
    assert future["id"] not in report.json()["signed"]
    assert devnet_oracle.http.get(f"/oracle/events/{past['id']}").json()["status"] == "Signed"
    later = devnet_oracle.http.get(f"/oracle/events/{future['id']}").json()
    assert later["status"] == "Live"
    assert later["attestation"] is None


def test_racing_signers_sign_once(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    """Concurrent attest and update calls never sign an event twice (nonce reuse)."""
    body = example_event(scoring_example)
    assert post_signed(devnet_oracle, "/oracle/events", body).status_code == 200
    entries = example_entries(scoring_example, body["id"])
    entries["entries"] = [{**e, "id": str(uuid7())} for e in entries["entries"]]
    path = f"/oracle/events/{body['id']}/entries"
    assert post_signed(devnet_oracle, path, entries).status_code == 200
    devnet_oracle.put_weather(**example_weather(scoring_example))

    def attest(_: int) -> int:
        return devnet_oracle.attest(body["id"]).status_code

    def update(_: int) -> int:
        return devnet_oracle.update().status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        attests = pool.map(attest, range(4))
        updates = pool.map(update, range(2))
        statuses = sorted(attests)
        assert list(updates) == [200, 200]
    # Either an attest call or an update run signed it; every other attest call was refused.
    assert statuses.count(200) <= 1
    assert all(code in (200, 400) for code in statuses)
    event = devnet_oracle.http.get(f"/oracle/events/{body['id']}").json()
    assert event["status"] == "Signed"


def test_refund_all_when_nobody_scores(devnet_oracle: OracleHandle) -> None:
    body = event_body(total_allowed_entries=3, number_of_places_win=1)
    assert post_signed(devnet_oracle, "/oracle/events", body).status_code == 200
    entries = entries_body(body["id"], 3, temp_high="Par")  # PFNO: forecast 35, observed 35
    entries["entries"][0]["expected_observations"] = [{"stations": "KSAW", "temp_low": "Par"}]
    assert (
        post_signed(devnet_oracle, f"/oracle/events/{body['id']}/entries", entries).status_code
        == 200
    )
    devnet_oracle.put_weather(
        forecasts=[{"station_id": "KSAW", "date": "2024-08-12", "temp_low": 1, "temp_high": 5}],
        observations=[
            {"station_id": "KSAW", "date": "2024-08-12", "temp_low": 3, "temp_high": 5},
            {"station_id": "PFNO", "date": "2024-08-12", "temp_low": 3, "temp_high": 99},
        ],
    )
    signed = devnet_oracle.attest(body["id"]).json()
    points = signed["event_announcement"]["locking_points"]
    unlocked = Point.from_secret(int(signed["attestation"], 16)).hex()
    assert points.index(unlocked) == len(points) - 1  # refund-all
    assert all(e["base_score"] is None for e in signed["entries"])


def test_nip98_tampered_body_and_replay_are_rejected(devnet_oracle: OracleHandle) -> None:
    body = event_body()
    content = json.dumps(body).encode()
    header = build_auth_header(
        COORDINATOR_SECRET, devnet_oracle.url + "/oracle/events", "POST", content
    )
    headers = {"Authorization": header, "Content-Type": "application/json"}
    tampered = content.replace(b'"total_allowed_entries": 4', b'"total_allowed_entries": 5')
    assert tampered != content
    response = devnet_oracle.http.post("/oracle/events", content=tampered, headers=headers)
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_payload"
    assert devnet_oracle.http.get(f"/oracle/events/{body['id']}").status_code == 404

    assert (
        devnet_oracle.http.post("/oracle/events", content=content, headers=headers).status_code
        == 200
    )
    replay = devnet_oracle.http.post("/oracle/events", content=content, headers=headers)
    assert replay.status_code == 401
    assert error_of(replay)["type"] == "replayed_event"

    missing = devnet_oracle.http.post("/oracle/events", content=content)
    assert missing.status_code == 401
    assert error_of(missing)["type"] == "no_auth_header"
    wrong_url = build_auth_header(
        COORDINATOR_SECRET, devnet_oracle.url + "/oracle/other", "POST", content
    )
    response = devnet_oracle.http.post(
        "/oracle/events", content=content, headers={"Authorization": wrong_url}
    )
    assert (response.status_code, error_of(response)["type"]) == (401, "url_method_mismatch")


def test_only_the_creating_coordinator_submits_entries(devnet_oracle: OracleHandle) -> None:
    body = event_body(total_allowed_entries=2, number_of_places_win=1)
    assert post_signed(devnet_oracle, "/oracle/events", body).status_code == 200
    entries = entries_body(body["id"], 2)
    path = f"/oracle/events/{body['id']}/entries"
    response = post_signed(devnet_oracle, path, entries, secret=OTHER_SECRET)
    assert response.status_code == 403
    assert devnet_oracle.http.get(f"/oracle/events/{body['id']}").json()["entries"] == []
    assert post_signed(devnet_oracle, path, entries).status_code == 200
    # Repeating the same batch is idempotent; a different batch is refused.
    assert post_signed(devnet_oracle, path, entries, later=1).status_code == 200
    other = entries_body(body["id"], 2)
    response = post_signed(devnet_oracle, path, other)
    assert response.status_code == 400
    assert "already has its entries" in error_of(response)


def test_event_creation_is_idempotent(devnet_oracle: OracleHandle) -> None:
    body = event_body()
    first = post_signed(devnet_oracle, "/oracle/events", body)
    again = post_signed(devnet_oracle, "/oracle/events", body, later=1)
    assert again.status_code == 200
    assert again.json()["nonce_point"] == first.json()["nonce_point"]
    changed = post_signed(devnet_oracle, "/oracle/events", {**body, "locations": ["KORD"]})
    assert changed.status_code == 400
    assert "already exists" in error_of(changed)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"id": str(uuid.uuid4())}, "not a version 7 UUID"),
        ({"total_allowed_entries": 26}, "at most 25"),
        ({"number_of_places_win": 6}, "at most 5"),
        ({"total_allowed_entries": 25, "number_of_places_win": 5}, "6375601 outcomes"),
        ({"total_allowed_entries": 25, "number_of_places_win": 4}, "more than the maximum"),
        ({"total_allowed_entries": 3, "number_of_places_win": 3}, "more than places"),
        ({"locations": ["PFNO", "XXXX"]}, "unknown station(s): XXXX"),
        ({"locations": []}, "locations must not be empty"),
        ({"scoring_fields": []}, "scoring_fields must not be empty"),
        ({"start_observation_date": "2024-08-14T00:00:00Z"}, "start_observation_date is after"),
        ({"signing_date": "2024-08-12T12:00:00Z"}, "end_observation_date is after"),
        ({"scoring_fields": ["dew_point"]}, "scoring_fields"),
        ({"signing_date": "not a date"}, "signing_date"),
    ],
)
def test_bad_events_are_refused(
    devnet_oracle: OracleHandle, overrides: dict[str, Any], message: str
) -> None:
    before = devnet_oracle.http.get("/oracle/events").json()
    body = event_body(**overrides)
    response = post_signed(devnet_oracle, "/oracle/events", body)
    assert response.status_code == 400, response.text
    assert message in error_of(response)
    assert devnet_oracle.http.get("/oracle/events").json() == before


def _entry_case(name: str, event_id: str) -> tuple[dict[str, Any], str]:
    entries = entries_body(event_id, 2)
    first = entries["entries"][0]
    if name == "non-v7 entry id":
        first["id"] = str(uuid.uuid4())
        return entries, "not a version 7 UUID"
    if name == "too many entries":
        return entries_body(event_id, 3), "exactly 2 entries"
    if name == "too few entries":
        return entries_body(event_id, 1), "exactly 2 entries"
    if name == "unknown station":
        first["expected_observations"] = [{"stations": "KJFK", "temp_high": "Over"}]
        return entries, "not one of the event's locations"
    if name == "too many picks":
        first["expected_observations"] = [
            {"stations": "PFNO", "temp_high": "Over", "temp_low": "Par"},
            {"stations": "KSAW", "wind_speed": "Under"},
        ]
        return entries, "3 picks, more than the event's 2"
    if name == "repeated station":
        first["expected_observations"] = [
            {"stations": "PFNO", "temp_high": "Over"},
            {"stations": "PFNO", "temp_low": "Over"},
        ]
        return entries, "repeats"
    if name == "unscored metric":
        first["expected_observations"] = [{"stations": "PFNO", "humidity": "Over"}]
        return entries, "humidity is not scored"
    if name == "bad pick":
        first["expected_observations"] = [{"stations": "PFNO", "temp_high": "over"}]
        return entries, "Invalid request"
    if name == "duplicate ids":
        entries["entries"][1]["id"] = first["id"]
        return entries, "distinct"
    if name == "other event":
        first["event_id"] = str(uuid7())
        return entries, "names another event"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "case",
    [
        "non-v7 entry id",
        "too many entries",
        "too few entries",
        "unknown station",
        "too many picks",
        "repeated station",
        "unscored metric",
        "bad pick",
        "duplicate ids",
        "other event",
    ],
)
def test_bad_entries_are_refused(devnet_oracle: OracleHandle, case: str) -> None:
    body = event_body(total_allowed_entries=2, number_of_places_win=1, number_of_values_per_entry=2)
    assert post_signed(devnet_oracle, "/oracle/events", body).status_code == 200
    entries, message = _entry_case(case, body["id"])
    response = post_signed(devnet_oracle, f"/oracle/events/{body['id']}/entries", entries)
    assert response.status_code == 400, response.text
    assert message in json.dumps(error_of(response))
    assert devnet_oracle.http.get(f"/oracle/events/{body['id']}").json()["entries"] == []


def test_entries_path_and_body_must_name_the_same_event(devnet_oracle: OracleHandle) -> None:
    body = event_body(total_allowed_entries=2, number_of_places_win=1)
    assert post_signed(devnet_oracle, "/oracle/events", body).status_code == 200
    entries = entries_body(body["id"], 2)
    response = post_signed(devnet_oracle, f"/oracle/events/{uuid7()}/entries", entries)
    assert response.status_code == 400
    unknown = str(uuid7())
    response = post_signed(
        devnet_oracle, f"/oracle/events/{unknown}/entries", entries_body(unknown, 2)
    )
    assert response.status_code == 404
    assert devnet_oracle.http.get("/oracle/events/not-a-uuid").status_code == 400


def test_weather_control_api_and_queries(devnet_oracle: OracleHandle) -> None:
    assert devnet_oracle.http.post("/devnet/weather", json={}).status_code == 401
    day = {"station_id": "KORD", "date": "2025-01-10"}
    spot_1 = {"station_id": "KORD", "start_time": "2025-01-10T01:00:00Z"}
    spot_2 = {"station_id": "KORD", "start_time": "2025-01-10T13:00:00Z"}
    response = devnet_oracle.put_weather(
        forecasts=[
            {**day, "temp_low": 10, "temp_high": 20, "wind_speed": 7},
            {
                "station_id": "KORD",
                "start_time": "2025-01-11T00:00:00Z",
                "end_time": "2025-01-12T00:00:00Z",
                "temp_low": 12,
                "temp_high": 22,
            },
        ],
        observations=[
            {**spot_1, "end_time": spot_1["start_time"], "temp_low": 11.5, "temp_high": 11.5,
             "wind_speed": 5, "rain_amt": 0.1},
            {**spot_2, "end_time": spot_2["start_time"], "temp_low": 19.0, "temp_high": 19.0,
             "wind_speed": 9, "rain_amt": 0.2},
        ],
    )  # fmt: skip
    assert response.json() == {"forecasts": 2, "observations": 2}
    window = {"station_ids": "KORD", "start": "2025-01-10T00:00:00Z", "end": "2025-01-11T00:00:00Z"}
    forecasts = devnet_oracle.http.get("/stations/forecasts", params=window).json()
    assert [(f["date"], f["temp_low"], f["wind_speed"]) for f in forecasts] == [
        ("2025-01-10", 10, 7)
    ]
    assert forecasts[0]["start_time"] == "2025-01-10T00:00:00Z"
    observed = devnet_oracle.http.get("/stations/observations", params=window).json()
    assert len(observed) == 1
    row = observed[0]
    assert (row["temp_low"], row["temp_high"], row["wind_speed"]) == (11.5, 19.0, 9)
    assert row["rain_amt"] == pytest.approx(0.3)
    assert row["start_time"] == "2025-01-10T01:00:00Z"
    celsius = devnet_oracle.http.get(
        "/stations/observations", params={**window, "temperature_unit": "celsius"}
    ).json()
    assert celsius[0]["temp_high"] == pytest.approx((19.0 - 32) * 5 / 9)
    daily = devnet_oracle.http.get("/stations/daily-observations", params=window).json()
    assert [(d["date"], d["temp_high"]) for d in daily] == [("2025-01-10", 19.0)]

    # Replacing: a new observation over the same times replaces the overlapping records.
    devnet_oracle.put_weather(
        observations=[{"station_id": "KORD", "date": "2025-01-10", "temp_low": 1, "temp_high": 2}]
    )
    observed = devnet_oracle.http.get("/stations/observations", params=window).json()
    assert (observed[0]["temp_low"], observed[0]["temp_high"]) == (1.0, 2.0)

    stations = devnet_oracle.http.get("/stations").json()
    assert len(stations) >= 30
    assert {"station_id", "station_name", "latitude", "longitude"} <= set(stations[0])

    for bad, message in [
        ({"forecasts": [{**day, "station_id": "ZZZZ", "temp_low": 1, "temp_high": 2}]},
         "unknown station"),
        ({"forecasts": [{"station_id": "KORD", "temp_low": 1, "temp_high": 2}]}, "give a date"),
        ({"observations": [{**day, "temp_low": 1, "temp_high": 2, "wind": 3}]},
         "Invalid request"),
        ({"forecasts": [{**day, "temp_low": 1, "temp_high": 900}]}, "Invalid request"),
    ]:  # fmt: skip
        response = devnet_oracle.http.post("/devnet/weather", json=bad, headers=devnet_oracle.auth)
        assert response.status_code == 400, response.text
        assert message in error_of(response)
    bad_query = devnet_oracle.http.get("/stations/forecasts", params={"station_ids": "KORD,NOPE"})
    assert bad_query.status_code == 400


def test_events_persist_across_restart(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.support.oracle import running_oracle

    data_dir = tmp_path / "oracle"
    with running_oracle(data_dir, free_port()) as oracle:
        key = oracle.http.get("/oracle/pubkey").json()
        body = event_body(total_allowed_entries=2, number_of_places_win=1)
        assert post_signed(oracle, "/oracle/events", body).status_code == 200
        event = oracle.http.get(f"/oracle/events/{body['id']}").json()
        assert oracle.process is not None
        oracle.process.restart()
        assert oracle.http.get("/oracle/pubkey").json() == key
        assert oracle.http.get(f"/oracle/events/{body['id']}").json() == event
    pem = (data_dir / "oracle_private_key.pem").read_text()
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----\n")


def test_weather_files_in_the_data_dir_are_imported(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.support.oracle import running_oracle

    data_dir = tmp_path / "oracle"
    (data_dir / "weather").mkdir(parents=True)
    day = {"station_id": "KSEA", "date": "2025-03-01"}
    (data_dir / "weather" / "initial.json").write_text(
        json.dumps({"forecasts": [{**day, "temp_low": 40, "temp_high": 50}]})
    )
    window = {"station_ids": "KSEA", "start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z"}
    with running_oracle(data_dir, free_port()) as oracle:
        forecasts = oracle.http.get("/stations/forecasts", params=window).json()
        assert [f["temp_high"] for f in forecasts] == [50]
        # A file dropped later is picked up by the next update run.
        (data_dir / "weather" / "later.json").write_text(
            json.dumps({"observations": [{**day, "temp_low": 41.0, "temp_high": 52.0}]})
        )
        assert oracle.update().status_code == 200
        observed = oracle.http.get("/stations/observations", params=window).json()
        assert [o["temp_high"] for o in observed] == [52.0]


def test_oversized_body_is_refused(devnet_oracle: OracleHandle) -> None:
    big = {"forecasts": [], "observations": [], "pad": "x" * (5 * 1024 * 1024)}
    response = devnet_oracle.http.post("/devnet/weather", json=big, headers=devnet_oracle.auth)
    assert response.status_code == 413


def test_nip98_hostile_headers_found_by_fuzzing(devnet_oracle: OracleHandle) -> None:
    """Deeply nested JSON, a ``#fragment`` and a chosen ``Host`` (as found) are all refused."""
    content = json.dumps(event_body()).encode()
    json_headers = {"Content-Type": "application/json"}
    nested = "Nostr " + base64.b64encode(b"[" * 1000 + b"]" * 1000).decode()  # 2.7 kB
    response = devnet_oracle.http.post(
        "/oracle/events", content=content, headers={"Authorization": nested, **json_headers}
    )
    assert (response.status_code, error_of(response)["type"]) == (400, "invalid_event_json")
    url = devnet_oracle.url + "/oracle/events"
    for signed_url, extra in [
        (url + "#fragment", {}),
        ("http://evil.example/oracle/events", {"Host": "evil.example"}),
        (url.replace("http://", "https://"), {"X-Forwarded-Proto": "https"}),
    ]:
        header = build_auth_header(COORDINATOR_SECRET, signed_url, "POST", content)
        response = devnet_oracle.http.post(
            "/oracle/events",
            content=content,
            headers={"Authorization": header, **json_headers, **extra},
        )
        assert (response.status_code, error_of(response)["type"]) == (
            401,
            "url_method_mismatch",
        ), signed_url


def test_nip98_forwarded_headers_from_a_configured_proxy(tmp_path: Path) -> None:
    from tests.conftest import free_port
    from tests.support.oracle import running_oracle

    public = "https://oracle.example"
    extra = ["--public-url", public, "--trusted-proxy", "127.0.0.1"]
    with running_oracle(tmp_path / "oracle", free_port(), seed="11" * 32, extra=extra) as oracle:
        content = json.dumps(event_body()).encode()
        header = build_auth_header(COORDINATOR_SECRET, public + "/oracle/events", "POST", content)
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "oracle.example"}
        headers = {"Authorization": header, "Content-Type": "application/json", **forwarded}
        response = oracle.http.post("/oracle/events", content=content, headers=headers)
        assert response.status_code == 200, response.text
        direct = build_auth_header(
            COORDINATOR_SECRET, oracle.url + "/oracle/events", "POST", content
        )
        response = oracle.http.post(
            "/oracle/events",
            content=content,
            headers={"Authorization": direct, "Content-Type": "application/json"},
        )
        assert (response.status_code, error_of(response)["type"]) == (401, "url_method_mismatch")
