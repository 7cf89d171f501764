"""NIP-98 HTTP authentication: build the ``Authorization: Nostr …`` header, and verify it.

A client signs a kind-27235 event with empty content and the tags ``u`` (absolute request URL),
``method`` and ``payload`` (sha256 hex of the body). The verifier checks, in the noaa-oracle's
order, header shape, event shape, kind, freshness, URL and method, content, id and signature,
and additionally that ``payload`` matches the body and that the event was not seen before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from coordinator_core.nostr import NostrEvent, NostrEventError, sign_event, verify_event

KIND_HTTP_AUTH = 27235
SCHEME = "Nostr "
MAX_SKEW_SECS = 60
MAX_HEADER_CHARS = 8192
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Nip98Error(Exception):
    """The request is not authenticated; ``status`` and ``code`` follow the noaa-oracle."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


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
    """A process-local :class:`ReplayGuard` that forgets events once they are too old to pass."""

    def __init__(self, window_secs: int = MAX_SKEW_SECS) -> None:
        self._window = window_secs
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def first_use(self, event_id: str, created_at: int, now: int) -> bool:
        with self._lock:
            horizon = now - 2 * self._window
            for old in [key for key, at in self._seen.items() if at < horizon]:
                del self._seen[old]
            if event_id in self._seen:
                return False
            self._seen[event_id] = created_at
            return True


def payload_hash(body: bytes) -> str:
    """The ``payload`` tag value: sha256 hex of the body."""
    return hashlib.sha256(body).hexdigest()


def build_auth_header(
    secret: bytes, url: str, method: str, body: bytes | None = None, now: int | None = None
) -> str:
    """``Nostr <base64(event JSON)>`` for one request; make a new one per request."""
    tags = [["u", url], ["method", method.upper()]]
    if body:
        tags.append(["payload", payload_hash(body)])
    created_at = int(time.time()) if now is None else now
    event = sign_event(secret, created_at, KIND_HTTP_AUTH, tags, "")
    encoded = json.dumps(event.to_json(), separators=(",", ":")).encode()
    return SCHEME + base64.b64encode(encoded).decode()


def request_url(host: str, path_and_query: str, forwarded_proto: bool) -> str:
    """The URL a client signs for a request: ``scheme://Host/path?query``."""
    scheme = "https" if forwarded_proto else "http"
    return f"{scheme}://{host}{path_and_query}"


def _normalise_url(url: str) -> tuple[str, str, int | None, str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    port = parts.port
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    return scheme, parts.hostname.lower(), port, parts.path or "/", parts.query


def verify_auth_header(
    header: str | None,
    url: str,
    method: str,
    body: bytes,
    *,
    now: int | None = None,
    replay_guard: ReplayGuard | None = None,
) -> Nip98Auth:
    """Check a NIP-98 header for a request to ``url`` with ``method`` and ``body``.

    Raises :class:`Nip98Error` with the status and code of the first failed check.
    """
    now = int(time.time()) if now is None else now
    if not header:
        raise Nip98Error(401, "no_auth_header", "Authorization header missing")
    if not header.startswith(SCHEME):
        raise Nip98Error(400, "invalid_auth_format", "Authorization must start with 'Nostr '")
    if len(header) > MAX_HEADER_CHARS:
        raise Nip98Error(400, "invalid_auth_format", "Authorization header too long")
    try:
        raw = base64.b64decode(header[len(SCHEME) :].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Nip98Error(400, "invalid_base_64", "Authorization is not valid base64") from None
    try:
        event = NostrEvent.from_json(json.loads(raw))
    except (ValueError, NostrEventError) as exc:
        raise Nip98Error(400, "invalid_event_json", f"not a nostr event: {exc}") from None
    if event.kind != KIND_HTTP_AUTH:
        raise Nip98Error(401, "invalid_event_kind", f"kind must be {KIND_HTTP_AUTH}")
    if abs(now - event.created_at) > MAX_SKEW_SECS:
        raise Nip98Error(401, "expired_timestamp", "created_at is more than 60 s from now")
    signed_url, signed_method, signed_payload = _http_tags(event)
    try:
        url_matches = _normalise_url(signed_url) == _normalise_url(url)
    except ValueError:
        raise Nip98Error(401, "invalid_url", "the request URL cannot be parsed") from None
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
        raise Nip98Error(401, "invalid_payload", "payload tag does not match the body hash")
    if replay_guard is not None and not replay_guard.first_use(event.id, event.created_at, now):
        raise Nip98Error(401, "replayed_event", "this authorization was already used")
    return Nip98Auth(event.pubkey, event.id, event.created_at)


def _http_tags(event: NostrEvent) -> tuple[str, str, str | None]:
    values: dict[str, str] = {}
    for tag in event.tags:
        if len(tag) >= 2 and tag[0] in ("u", "method", "payload"):
            values.setdefault(tag[0], tag[1])
    if "u" not in values or "method" not in values:
        raise Nip98Error(400, "invalid_http_data", "tags must include u and method")
    return values["u"], values["method"], values.get("payload")
