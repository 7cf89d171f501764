"""Sealing secrets at rest: ChaCha20-Poly1305 under a 32-byte key, bound to what they belong to.

A sealed value is ``"s1:" + base64url(nonce[12] ‖ ciphertext ‖ tag[16])``. The associated data
names the row the secret belongs to (for example ``b"ticket-preimage:" + ticket_id``), so a
sealed value copied into another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

_VERSION: Final = "s1:"
_NONCE: Final = 12
_TAG: Final = 16
MAX_SEALED_CHARS: Final = 1 << 20


class SealError(ValueError):
    """A sealed value is malformed, or does not open under this key and associated data."""


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> str:
    """Encrypt and authenticate ``plaintext``; a fresh random nonce every call."""
    if len(key) != 32:
        raise ValueError("a sealing key is 32 bytes")
    nonce = os.urandom(_NONCE)
    body = ChaCha20Poly1305(key).encrypt(nonce, plaintext, associated_data)
    return _VERSION + base64.urlsafe_b64encode(nonce + body).decode()


def unseal(key: bytes, sealed: str, associated_data: bytes) -> bytes:
    """The plaintext of a value made by :func:`seal` with the same key and associated data."""
    if len(key) != 32:
        raise ValueError("a sealing key is 32 bytes")
    if not isinstance(sealed, str) or not sealed.startswith(_VERSION):
        raise SealError("not a sealed value")
    if len(sealed) > MAX_SEALED_CHARS:
        raise SealError("sealed value too large")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(_VERSION) :].encode())
    except (binascii.Error, ValueError):
        raise SealError("sealed value is not base64url") from None
    if len(raw) < _NONCE + _TAG:
        raise SealError("sealed value too short")
    try:
        return ChaCha20Poly1305(key).decrypt(raw[:_NONCE], raw[_NONCE:], associated_data)
    except InvalidTag:
        raise SealError("sealed value does not open with this key") from None
