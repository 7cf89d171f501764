"""Minimal Nostr (NIP-01) events and ``npub`` keys: build, sign, parse and verify.

Event ids are ``sha256`` of the canonical JSON array ``[0, pubkey, created_at, kind, tags,
content]``; signatures are BIP-340 by the x-only ``pubkey`` over the 32-byte id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embit import bech32

from coordinator_core.validation import is_hex
from ticketdlc.crypto import bip340

NPUB_HRP = "npub"
MAX_TAGS = 32
MAX_TAG_ITEMS = 8
MAX_TAG_ITEM_CHARS = 2048
MAX_CONTENT_CHARS = 65536


class NostrEventError(ValueError):
    """An event is malformed, or its id or signature is wrong."""


@dataclass(frozen=True)
class NostrEvent:
    """A signed Nostr event."""

    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: tuple[tuple[str, ...], ...]
    content: str
    sig: str

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(tag) for tag in self.tags],
            "content": self.content,
            "sig": self.sig,
        }

    @staticmethod
    def from_json(data: Any) -> NostrEvent:
        """Parse and bound a JSON object; does not check the id or signature."""
        if not isinstance(data, dict):
            raise NostrEventError("event is not a JSON object")
        try:
            event_id, pubkey, sig = data["id"], data["pubkey"], data["sig"]
            created_at, kind = data["created_at"], data["kind"]
            tags, content = data["tags"], data["content"]
        except KeyError as exc:
            raise NostrEventError(f"event lacks field {exc.args[0]!r}") from None
        if not all(isinstance(v, str) for v in (event_id, pubkey, sig, content)):
            raise NostrEventError("id, pubkey, sig and content must be strings")
        hex_fields = ((event_id, 32), (pubkey, 32), (sig, 64))
        if not all(is_hex(value, size, lowercase=True) for value, size in hex_fields):
            raise NostrEventError("id, pubkey or sig is not lower-case hex of the right size")
        for number in (created_at, kind):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise NostrEventError("created_at and kind must be non-negative integers")
        if len(content) > MAX_CONTENT_CHARS:
            raise NostrEventError("content too long")
        return NostrEvent(event_id, pubkey, created_at, kind, _parse_tags(tags), content, sig)


def _parse_tags(tags: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise NostrEventError(f"tags must be a list of at most {MAX_TAGS} tags")
    parsed: list[tuple[str, ...]] = []
    for tag in tags:
        if (
            not isinstance(tag, list)
            or not 1 <= len(tag) <= MAX_TAG_ITEMS
            or not all(isinstance(item, str) and len(item) <= MAX_TAG_ITEM_CHARS for item in tag)
        ):
            raise NostrEventError("each tag must be a short list of short strings")
        parsed.append(tuple(tag))
    return tuple(parsed)


def compute_event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> str:
    """NIP-01 event id (hex)."""
    serialized = json.dumps(
        [0, pubkey, created_at, kind, [list(tag) for tag in tags], content],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serialized.encode()).hexdigest()


def sign_event(
    secret: bytes, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> NostrEvent:
    """Build and BIP-340-sign an event with ``secret`` (the signature is verified by bip340)."""
    pubkey = bip340.xonly_pubkey(secret).hex()
    event_id = compute_event_id(pubkey, created_at, kind, tags, content)
    sig = bip340.sign(secret, bytes.fromhex(event_id), secrets.token_bytes(32))
    return NostrEvent(
        event_id, pubkey, created_at, kind, tuple(tuple(t) for t in tags), content, sig.hex()
    )


def verify_event(event: NostrEvent) -> None:
    """Raise :class:`NostrEventError` unless the id and the signature are correct."""
    expected = compute_event_id(
        event.pubkey, event.created_at, event.kind, event.tags, event.content
    )
    if expected != event.id:
        raise NostrEventError("event id does not match its content")
    if not bip340.verify(
        bytes.fromhex(event.pubkey), bytes.fromhex(event.id), bytes.fromhex(event.sig)
    ):
        raise NostrEventError("event signature is invalid")


def npub_encode(xonly_pubkey: bytes) -> str:
    """Bech32 ``npub1…`` form of a 32-byte x-only public key."""
    if len(xonly_pubkey) != 32:
        raise ValueError("an x-only public key is 32 bytes")
    words = bech32.convertbits(list(xonly_pubkey), 8, 5)
    return str(bech32.bech32_encode(bech32.Encoding.BECH32, NPUB_HRP, words))


def npub_decode(text: str) -> bytes:
    """The 32-byte x-only public key of an ``npub1…`` string."""
    encoding, hrp, words = bech32.bech32_decode(text)
    if hrp != NPUB_HRP or encoding != bech32.Encoding.BECH32 or words is None:
        raise ValueError(f"not an npub: {text!r}")
    data = bech32.convertbits(words, 5, 8, False)
    if data is None or len(data) != 32:
        raise ValueError(f"npub does not hold a 32-byte key: {text!r}")
    return bytes(data)


def pubkey_from_text(text: str) -> str:
    """An x-only public key given as ``npub1…`` or 64 hex digits, as lower-case hex."""
    value = text.strip().lower()
    if is_hex(value, 32, lowercase=True):
        return value
    return npub_decode(value).hex()


NSEC_HRP = "nsec"


def nsec_encode(secret: bytes) -> str:
    """Bech32 ``nsec1…`` form of a 32-byte secret key."""
    if len(secret) != 32:
        raise ValueError("a secret key is 32 bytes")
    words = bech32.convertbits(list(secret), 8, 5)
    return str(bech32.bech32_encode(bech32.Encoding.BECH32, NSEC_HRP, words))


def nsec_decode(text: str) -> bytes:
    """The 32-byte secret key of an ``nsec1…`` string."""
    encoding, hrp, words = bech32.bech32_decode(text)
    if hrp != NSEC_HRP or encoding != bech32.Encoding.BECH32 or words is None:
        raise ValueError("not an nsec")
    data = bech32.convertbits(words, 5, 8, False)
    if data is None or len(data) != 32:
        raise ValueError("nsec does not hold a 32-byte key")
    return bytes(data)
