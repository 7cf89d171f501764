"""Signing NIP-98 requests in tests, exactly as a client does (no shortcuts in the server).

``NostrSigner(secret).headers("POST", url, body)`` gives the ``Authorization`` header of one
request; ``event_header`` builds a header from any event (for malformed-event cases).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from coordinator_core.nip98 import KIND_HTTP_AUTH, build_auth_header, payload_hash
from coordinator_core.nostr import NostrEvent, npub_encode, sign_event
from ticketdlc.crypto import bip340


def event_header(event: NostrEvent | dict[str, Any]) -> str:
    data = event.to_json() if isinstance(event, NostrEvent) else event
    return "Nostr " + base64.b64encode(json.dumps(data).encode()).decode()


class NostrSigner:
    """A nostr key that signs NIP-98 headers."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.pubkey = bip340.xonly_pubkey(secret).hex()
        self.npub = npub_encode(bytes.fromhex(self.pubkey))

    def header(
        self, method: str, url: str, body: bytes | None = None, now: int | None = None
    ) -> str:
        """A header for one request. A random ``nonce`` tag makes every event unique: two
        identical requests signed in the same second would otherwise share an event id, and
        the replay guard accepts an id once."""
        tags = [*self.tags(method, url, body), ["nonce", secrets.token_hex(8)]]
        return event_header(self.event(tags, created_at=now))

    def plain_header(self, method: str, url: str, body: bytes | None = None) -> str:
        """A header exactly as ``coordinator_core.nip98.build_auth_header`` makes it."""
        return build_auth_header(self.secret, url, method, body)

    def headers(self, method: str, url: str, body: bytes | None = None) -> dict[str, str]:
        return {"Authorization": self.header(method, url, body)}

    def event(
        self,
        tags: list[list[str]],
        *,
        kind: int = KIND_HTTP_AUTH,
        content: str = "",
        created_at: int | None = None,
    ) -> NostrEvent:
        now = int(time.time()) if created_at is None else created_at
        return sign_event(self.secret, now, kind, tags, content)

    def tags(self, method: str, url: str, body: bytes | None = None) -> list[list[str]]:
        tags = [["u", url], ["method", method]]
        if body:
            tags.append(["payload", payload_hash(body)])
        return tags
