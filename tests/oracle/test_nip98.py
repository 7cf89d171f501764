"""NIP-98 header construction and every verification failure (oracle spec §2.2)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from coordinator_core.nip98 import (
    KIND_HTTP_AUTH,
    MemoryReplayGuard,
    Nip98Error,
    build_auth_header,
    json_depth,
    verify_auth_header,
)
from coordinator_core.nostr import (
    NostrEvent,
    compute_event_id,
    npub_decode,
    npub_encode,
    sign_event,
)
from ticketdlc.crypto import bip340

SECRET = bytes.fromhex("11" * 32)
URL = "http://127.0.0.1:9800/oracle/events"
BODY = b'{"id":"x"}'
NOW = 1_723_600_000


def header_of(event: NostrEvent) -> str:
    return "Nostr " + base64.b64encode(json.dumps(event.to_json()).encode()).decode()


def signed(tags: list[list[str]], *, kind: int = KIND_HTTP_AUTH, content: str = "") -> str:
    return header_of(sign_event(SECRET, NOW, kind, tags, content))


def good_tags(url: str = URL, method: str = "POST", body: bytes = BODY) -> list[list[str]]:
    return [["u", url], ["method", method], ["payload", hashlib.sha256(body).hexdigest()]]


def test_npub_matches_the_oracle_vector(vectors_dir: Path) -> None:
    vector = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    xonly = bip340.xonly_pubkey(SECRET)
    assert npub_encode(xonly) == vector["oracle_npub"]
    assert npub_decode(vector["oracle_npub"]) == xonly
    with pytest.raises(ValueError, match="npub"):
        npub_decode("nsec1" + vector["oracle_npub"][5:])


def test_built_header_verifies_and_names_the_signer() -> None:
    header = build_auth_header(SECRET, URL, "post", BODY, now=NOW)
    auth = verify_auth_header(header, URL, "POST", BODY, now=NOW + 30)
    assert auth.pubkey == bip340.xonly_pubkey(SECRET).hex()
    assert auth.created_at == NOW
    # Event id cross-check with the NIP-01 serialization.
    event = NostrEvent.from_json(json.loads(base64.b64decode(header[6:])))
    assert event.id == compute_event_id(event.pubkey, NOW, KIND_HTTP_AUTH, event.tags, "")


def test_get_without_body_scheme_and_host_case_and_default_port() -> None:
    url = "https://oracle.example:443/oracle/events/1?x=1"
    header = build_auth_header(SECRET, "https://ORACLE.example/oracle/events/1?x=1", "GET", now=NOW)
    verify_auth_header(header, url, "GET", b"", now=NOW)
    verify_auth_header(header, ["http://other.example/", url], "GET", b"", now=NOW)
    with pytest.raises(Nip98Error, match="url_method_mismatch"):
        verify_auth_header(header, [], "GET", b"", now=NOW)


@pytest.mark.parametrize(
    "signed_url",
    [
        URL + "#",
        URL + "#frag",
        URL + "?",
        URL + "/",
        "http://user@127.0.0.1:9800/oracle/events",
        "http://127.0.0.1:9801/oracle/events",
        "https://127.0.0.1:9800/oracle/events",
        "http://127.0.0.1:9800/oracle/Events",
    ],
)
def test_url_is_compared_whole(signed_url: str) -> None:
    header = header_of(sign_event(SECRET, NOW, KIND_HTTP_AUTH, good_tags(url=signed_url), ""))
    with pytest.raises(Nip98Error, match="url_method_mismatch"):
        verify_auth_header(header, URL, "POST", BODY, now=NOW)


def test_nested_json_is_refused_before_parsing() -> None:
    for depth in (5, 100, 100_000):
        nested = b"[" * depth + b"]" * depth
        header = "Nostr " + base64.b64encode(nested).decode()
        with pytest.raises(Nip98Error) as caught:
            verify_auth_header(header, URL, "POST", BODY, now=NOW)
        expected = "invalid_event_json" if len(header) <= 8192 else "header_too_large"
        assert caught.value.code == expected
    assert json_depth(b'{"a": "[[[[[[[", "b": [["x"]]}') == 3
    assert json_depth(b'"\\"[]') == 1


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (None, 401, "no_auth_header"),
        ("Bearer abc", 400, "invalid_auth_format"),
        ("Nostr %%%", 400, "invalid_base_64"),
        ("Nostr " + base64.b64encode(b'{"kind": 1}').decode(), 400, "invalid_event_json"),
        (signed(good_tags(), kind=1), 401, "invalid_event_kind"),
        (signed([["method", "POST"]]), 400, "invalid_http_data"),
        (signed(good_tags(url="http://127.0.0.1:9800/oracle/other")), 401, "url_method_mismatch"),
        (signed(good_tags(method="PUT")), 401, "url_method_mismatch"),
        (signed(good_tags(method="FETCH")), 401, "invalid_method"),
        (signed(good_tags(url="not a url")), 401, "invalid_url"),
        (signed(good_tags(), content="hello"), 400, "non_empty_content"),
        (signed(good_tags(body=b"other body")), 400, "invalid_payload"),
        (signed([["u", URL], ["method", "POST"]]), 400, "invalid_payload"),
        ("Nostr " + "A" * 9000, 400, "header_too_large"),
    ],
)
def test_rejections(header: str | None, status: int, code: str) -> None:
    with pytest.raises(Nip98Error) as caught:
        verify_auth_header(header, URL, "POST", BODY, now=NOW)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_stale_and_future_timestamps_are_rejected() -> None:
    header = build_auth_header(SECRET, URL, "POST", BODY, now=NOW)
    for now in (NOW + 61, NOW - 61):
        with pytest.raises(Nip98Error, match="expired_timestamp"):
            verify_auth_header(header, URL, "POST", BODY, now=now)


def test_tampered_signature_or_id_is_rejected() -> None:
    event = sign_event(SECRET, NOW, KIND_HTTP_AUTH, good_tags(), "")
    forged_sig = NostrEvent(**{**event.__dict__, "sig": event.sig[:-2] + "00"})
    other = sign_event(bytes.fromhex("22" * 32), NOW, KIND_HTTP_AUTH, good_tags(), "")
    wrong_key = NostrEvent(**{**other.__dict__, "pubkey": event.pubkey})
    for bad in (forged_sig, wrong_key):
        with pytest.raises(Nip98Error) as caught:
            verify_auth_header(header_of(bad), URL, "POST", BODY, now=NOW)
        assert (caught.value.status, caught.value.code) == (403, "invalid_signature")


def test_replayed_header_is_rejected() -> None:
    guard = MemoryReplayGuard()
    header = build_auth_header(SECRET, URL, "POST", BODY, now=NOW)
    verify_auth_header(header, URL, "POST", BODY, now=NOW, replay_guard=guard)
    with pytest.raises(Nip98Error, match="replayed_event"):
        verify_auth_header(header, URL, "POST", BODY, now=NOW + 1, replay_guard=guard)
    # An identical request signed in another second is a different event.
    fresh = build_auth_header(SECRET, URL, "POST", BODY, now=NOW + 1)
    verify_auth_header(fresh, URL, "POST", BODY, now=NOW + 1, replay_guard=guard)


def test_a_nonce_makes_a_retry_in_the_same_second_a_new_event() -> None:
    guard = MemoryReplayGuard()
    for nonce in (b"\x01" * 16, b"\x02" * 16):
        header = build_auth_header(SECRET, URL, "POST", BODY, now=NOW, nonce=nonce)
        verify_auth_header(header, URL, "POST", BODY, now=NOW, replay_guard=guard)
    with pytest.raises(Nip98Error, match="replayed_event"):
        verify_auth_header(header, URL, "POST", BODY, now=NOW, replay_guard=guard)


def test_replay_guard_is_bounded_and_forgets_stale_events() -> None:
    guard = MemoryReplayGuard(window_secs=60, capacity=3)
    for i in range(3):
        assert guard.first_use(f"e{i}", NOW, NOW)
    with pytest.raises(Nip98Error) as caught:
        guard.first_use("e3", NOW, NOW)
    assert (caught.value.status, caught.value.code) == (503, "replay_guard_full")
    # Once the first events can no longer pass the freshness check they are forgotten.
    assert guard.first_use("e3", NOW + 61, NOW + 61)
    assert len(guard) == 1
    assert not guard.first_use("e3", NOW + 61, NOW + 62)


def test_hex_fields_with_a_trailing_newline_are_refused() -> None:
    event = sign_event(SECRET, NOW, KIND_HTTP_AUTH, good_tags(), "")
    for field in ("id", "pubkey", "sig"):
        data = {**event.to_json(), field: getattr(event, field) + "\n"}
        header = "Nostr " + base64.b64encode(json.dumps(data).encode()).decode()
        with pytest.raises(Nip98Error, match="invalid_event_json"):
            verify_auth_header(header, URL, "POST", BODY, now=NOW)
