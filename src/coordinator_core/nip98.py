"""NIP-98 HTTP authentication: build the ``Authorization: Nostr …`` header, and verify it.

A client signs a kind-27235 event with empty content and the tags ``u`` (absolute request URL),
``method`` and ``payload`` (sha256 hex of the body). The verifier checks, in the noaa-oracle's
order, header shape, event shape, kind, freshness, URL and method, content, id and signature,
and additionally that ``payload`` matches the exact body and that the event was not used before.

Hostile headers are bounded before they are parsed: the header length, then the JSON nesting
depth (so ``[[[…]]]`` never reaches the recursive JSON parser). The ``u`` tag is compared as a
whole URL, fragment included, with the URLs the server expects (built from configured origins
by :mod:`coordinator_core.http_origin`, never from the request's ``Host`` alone).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import re
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from coordinator_core.errors import AuthError
from coordinator_core.nostr import NostrEvent, NostrEventError, sign_event, verify_event

KIND_HTTP_AUTH = 27235
SCHEME = "Nostr "
MAX_SKEW_SECS = 60
MAX_HEADER_CHARS = 8192
MAX_JSON_DEPTH = 4  # event object → tags list → tag list (one level to spare)
DEFAULT_REPLAY_CAPACITY = 100_000
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


class Nip98Error(AuthError):
    """The request is not authenticated; ``status`` and ``code`` follow the noaa-oracle."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(status, code, detail)


class ReplayedEventError(Nip98Error):
    """401 ``replayed_event``: the authorization event was accepted before."""

    def __init__(self) -> None:
        super().__init__(401, "replayed_event", "this authorization was already used")


class ReplayGuardFullError(Nip98Error):
    """503 ``replay_guard_full``: a replay guard holds its capacity of fresh events."""

    def __init__(self) -> None:
        super().__init__(503, "replay_guard_full", "too many recent requests; retry later")


@dataclass(frozen=True)
class Nip98Auth:
    """A verified request signer."""

    pubkey: str  # x-only, hex
    event_id: str
    created_at: int


class ReplayGuard(Protocol):
    """Remembers accepted auth events for the freshness window."""

    def first_use(self, event_id: str, created_at: int, now: int) -> bool:
        """Record ``event_id``; False if it was already used."""
        ...


class MemoryReplayGuard:
    """A process-local :class:`ReplayGuard` with bounded memory.

    An event id is remembered until its ``created_at`` leaves the freshness window (after that
    the timestamp check refuses it anyway). At most ``capacity`` ids are held; when that many
    fresh ids are held, new events are refused with 503 rather than forgetting a live one.
    A restart forgets everything: the coordinator's API uses the users.db guard instead
    (``coordinator.adapters.sqlite.replay``); :meth:`consume` is the same check for callers
    that await it.
    """

    def __init__(
        self, window_secs: int = MAX_SKEW_SECS, capacity: int = DEFAULT_REPLAY_CAPACITY
    ) -> None:
        if capacity < 1:
            raise ValueError("replay guard capacity must be positive")
        self._window = window_secs
        self._capacity = capacity
        self._seen: set[str] = set()
        self._expiry: list[tuple[int, str]] = []  # heap of (last second it can pass, id)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, event_id: str, created_at: int, now: int) -> bool:
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if event_id in self._seen:
                return False
            if len(self._seen) >= self._capacity:
                raise ReplayGuardFullError()
            self._seen.add(event_id)
            heapq.heappush(self._expiry, (created_at + self._window, event_id))
            return True

    async def consume(self, event_id: str, created_at: int, now: int) -> bool:
        """:meth:`first_use`, awaitable (the coordinator's ``ReplayGuard`` port)."""
        return self.first_use(event_id, created_at, now)


def payload_hash(body: bytes) -> str:
    """The ``payload`` tag value: sha256 hex of the body."""
    return hashlib.sha256(body).hexdigest()


def build_auth_header(
    secret: bytes,
    url: str,
    method: str,
    body: bytes | None = None,
    now: int | None = None,
    nonce: bytes | None = None,
) -> str:
    """``Nostr <base64(event JSON)>`` for one request; make a new one per request. Without a
    ``nonce`` (a ``nonce`` tag) the same request signed twice in one second is the same event,
    which a replay guard refuses: a client that retries passes a random one."""
    tags = [["u", url], ["method", method.upper()]]
    if body:
        tags.append(["payload", payload_hash(body)])
    if nonce is not None:
        tags.append(["nonce", nonce.hex()])
    created_at = int(time.time()) if now is None else now
    event = sign_event(secret, created_at, KIND_HTTP_AUTH, tags, "")
    encoded = json.dumps(event.to_json(), separators=(",", ":")).encode()
    return SCHEME + base64.b64encode(encoded).decode()


UrlKey = tuple[str, str, str, int | None, str, str | None, str | None]


def url_key(url: str) -> UrlKey:
    """A URL as compared by the verifier: scheme and host case-folded, default port dropped;
    user info, path, query and fragment kept exactly (query and fragment are ``None`` when
    there is no ``?`` or ``#``, so ``…/x?`` and ``…/x#`` differ from ``…/x``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    port = parts.port
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    before_fragment, has_fragment, fragment = url.partition("#")
    query = parts.query if "?" in before_fragment else None
    host = parts.hostname.lower()
    return (
        scheme,
        userinfo,
        host,
        port,
        parts.path or "/",
        query,
        fragment if has_fragment else None,
    )


def json_depth(raw: bytes) -> int:
    """Maximum nesting depth of arrays and objects in ``raw`` (strings skipped), without
    parsing it; unbalanced closers count as depth 0."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def parse_auth_event(header: str | None) -> NostrEvent:
    """The event of an ``Authorization: Nostr …`` header, shape-checked and bounded."""
    if not header:
        raise Nip98Error(401, "no_auth_header", "Authorization header missing")
    if len(header) > MAX_HEADER_CHARS:
        raise Nip98Error(400, "header_too_large", f"Authorization over {MAX_HEADER_CHARS} chars")
    if not header.startswith(SCHEME):
        raise Nip98Error(400, "invalid_auth_format", "Authorization must start with 'Nostr '")
    try:
        raw = base64.b64decode(header[len(SCHEME) :].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Nip98Error(400, "invalid_base_64", "Authorization is not valid base64") from None
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise Nip98Error(400, "invalid_event_json", "event JSON is nested too deeply")
    try:
        return NostrEvent.from_json(json.loads(raw))
    except (ValueError, NostrEventError) as exc:
        raise Nip98Error(400, "invalid_event_json", f"not a nostr event: {exc}") from None


def verify_auth_header(
    header: str | None,
    url: str | Collection[str],
    method: str,
    body: bytes,
    *,
    now: int | None = None,
    replay_guard: ReplayGuard | None = None,
) -> Nip98Auth:
    """Check a NIP-98 header for a request with ``method`` and ``body`` whose URL is ``url``
    (or any one of several URLs the server answers to: an empty collection matches nothing).

    Raises :class:`Nip98Error` with the status and code of the first failed check. The replay
    check comes last; a caller whose guard is awaited (the coordinator's users.db guard) passes
    none and consumes :attr:`Nip98Auth.event_id` after this returns.
    """
    now = int(time.time()) if now is None else now
    event = parse_auth_event(header)
    if event.kind != KIND_HTTP_AUTH:
        raise Nip98Error(401, "invalid_event_kind", f"kind must be {KIND_HTTP_AUTH}")
    if abs(now - event.created_at) > MAX_SKEW_SECS:
        raise Nip98Error(401, "expired_timestamp", "created_at is more than 60 s from now")
    signed_url, signed_method, signed_payload = _http_tags(event)
    try:
        signed_key = url_key(signed_url)
    except ValueError:
        raise Nip98Error(401, "invalid_url", "the u tag is not an absolute http(s) URL") from None
    expected = [url] if isinstance(url, str) else list(url)
    url_matches = any(_same_url(signed_key, candidate) for candidate in expected)
    if signed_method.upper() not in KNOWN_METHODS:
        raise Nip98Error(401, "invalid_method", f"unknown method {signed_method!r}")
    if not url_matches or signed_method.upper() != method.upper():
        raise Nip98Error(401, "url_method_mismatch", "u or method tag does not match the request")
    if event.content:
        raise Nip98Error(400, "non_empty_content", "content must be empty")
    try:
        verify_event(event)
    except NostrEventError as exc:
        raise Nip98Error(403, "invalid_signature", str(exc)) from None
    if (body or signed_payload is not None) and signed_payload != payload_hash(body):
        detail = "payload tag missing" if signed_payload is None else "payload tag is not the body"
        raise Nip98Error(400, "invalid_payload", f"{detail} hash")
    if replay_guard is not None and not replay_guard.first_use(event.id, event.created_at, now):
        raise ReplayedEventError()
    return Nip98Auth(event.pubkey, event.id, event.created_at)


def _same_url(signed: UrlKey, candidate: str) -> bool:
    try:
        return signed == url_key(candidate)
    except ValueError:
        return False


def _http_tags(event: NostrEvent) -> tuple[str, str, str | None]:
    values: dict[str, str] = {}
    for tag in event.tags:
        if len(tag) >= 2 and tag[0] in ("u", "method", "payload"):
            if tag[0] in values:
                raise Nip98Error(400, "invalid_http_data", f"more than one {tag[0]} tag")
            values[tag[0]] = tag[1]
    if "u" not in values or "method" not in values:
        raise Nip98Error(400, "invalid_http_data", "tags must include u and method")
    return values["u"], values["method"], values.get("payload")
