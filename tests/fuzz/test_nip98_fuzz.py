"""The NIP-98 verifier against its format: freshly signed headers verify for exactly the
request they were made for; mutated headers and events, and any other request, are refused
with :class:`Nip98Error` and never another exception."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator_core.nip98 import (
    MemoryReplayGuard,
    Nip98Error,
    build_auth_header,
    verify_auth_header,
)
from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_json, mutated_text

NOW = 1_800_000_000
SECRET = bytes.fromhex("66" * 32)
URL = "https://coordinator.example/api/v1/competitions/0190/entries?x=1"
BODY = b'{"ticket_id":"0190"}'
HEADER = build_auth_header(SECRET, URL, "POST", BODY, now=NOW)
EVENT: dict[str, Any] = json.loads(base64.b64decode(HEADER.removeprefix("Nostr ")))
BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= "

paths = st.from_regex(r"/[a-z0-9/_-]{0,30}", fullmatch=True)
queries = st.one_of(st.just(""), st.from_regex(r"\?[a-z0-9=&]{0,20}", fullmatch=True))


def header_of(document: Any) -> str:
    return "Nostr " + base64.b64encode(json.dumps(document).encode()).decode()


def refused(header: str, url: str = URL, method: str = "POST", body: bytes = BODY) -> bool:
    """Whether the verifier refuses (with its own error); any other exception propagates."""
    try:
        verify_auth_header(header, url, method, body, now=NOW, replay_guard=MemoryReplayGuard())
    except Nip98Error:
        return True
    return False


@settings(max_examples=examples(60), deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32).filter(
        lambda s: 0 < int.from_bytes(s, "big") < 2**255
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=paths,
    query=queries,
    body=st.binary(max_size=200),
    skew=st.integers(-60, 60),
)
def test_signed_headers_verify_for_their_request_only(
    secret: bytes, method: str, path: str, query: str, body: bytes, skew: int
) -> None:
    url = f"http://127.0.0.1:9990{path}{query}"
    header = build_auth_header(secret, url, method, body, now=NOW + skew)
    guard = MemoryReplayGuard()
    auth = verify_auth_header(header, url, method, body, now=NOW, replay_guard=guard)
    assert auth.created_at == NOW + skew
    assert refused(header, url + "#fragment", method, body)
    assert refused(header, url.replace("127.0.0.1", "evil.example"), method, body)
    assert refused(header, url, "PATCH", body)
    assert refused(header, url, method, body + b"x")
    with pytest.raises(Nip98Error, match="replayed_event"):
        verify_auth_header(header, url, method, body, now=NOW, replay_guard=guard)


@settings(max_examples=examples(200), deadline=None)
@given(header=st.one_of(mutated_text(HEADER, BASE64_CHARS), st.text(max_size=300)))
@example(header="Nostr " + base64.b64encode(b"[" * 3000 + b"]" * 3000).decode())
@example(header="Nostr " + base64.b64encode(b'{"a":' * 1500 + b"1" + b"}" * 1500).decode())
@example(header="Nostr " + "A" * 20_000)
@example(header="Bearer x")
def test_mutated_headers_are_refused(header: str) -> None:
    assert header == HEADER or refused(header)


@settings(max_examples=examples(200), deadline=None)
@given(document=mutated_json(EVENT))
def test_mutated_events_are_refused(document: Any) -> None:
    if not refused(header_of(document)):
        # Only a change outside the signed fields (an extra top-level key) can keep it valid.
        assert isinstance(document, dict)
        assert {key: document[key] for key in EVENT} == EVENT
