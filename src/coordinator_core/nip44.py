"""NIP-44 version 2: encrypted payloads between two nostr keys (and from a key to itself).

* conversation key = HKDF-extract(salt ``"nip44-v2"``, x-coordinate of the ECDH point);
* per message: a 32-byte nonce; HKDF-expand(conversation key, nonce, 76) gives the ChaCha20
  key (32), ChaCha20 nonce (12) and HMAC key (32);
* plaintext (1–65535 bytes) padded as ``u16 length ‖ plaintext ‖ zeros`` to the NIP's sizes,
  encrypted with ChaCha20 (counter 0);
* payload = base64(``0x02 ‖ nonce ‖ ciphertext ‖ HMAC-SHA256(hmac key, nonce ‖ ciphertext)``).

The ECDH point is computed by libsecp256k1 (through ``ticketdlc.crypto.secp``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from ticketdlc.crypto.secp import CURVE_ORDER, Point

VERSION: Final = 2
SALT: Final = b"nip44-v2"
MIN_PLAINTEXT: Final = 1
MAX_PLAINTEXT: Final = 65535
MAX_PAYLOAD_CHARS: Final = 87472


class Nip44Error(ValueError):
    """A payload is malformed or does not authenticate under the conversation key."""


def conversation_key(secret: bytes, peer_xonly: bytes) -> bytes:
    """The shared key of ``secret`` and the x-only public key ``peer_xonly``."""
    scalar = int.from_bytes(secret, "big")
    if len(secret) != 32 or not 0 < scalar < CURVE_ORDER:
        raise Nip44Error("not a valid secret key")
    if len(peer_xonly) != 32:
        raise Nip44Error("the peer's public key must be 32 bytes (x-only)")
    try:
        shared = Point.from_xonly(peer_xonly) * scalar
    except ValueError as exc:
        raise Nip44Error(f"the peer's public key is not on the curve: {exc}") from None
    return hmac.new(SALT, shared.xonly(), hashlib.sha256).digest()


def _message_keys(key: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    # HKDF-expand (RFC 5869) with L = 76: three SHA-256 blocks.
    okm, block = b"", b""
    for counter in range(1, 4):
        block = hmac.new(key, block + nonce + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:32], okm[32:44], okm[44:76]


def padded_length(length: int) -> int:
    """The padded size of a plaintext of ``length`` bytes (without the 2-byte prefix)."""
    if length <= 32:
        return 32
    next_power = 1 << (length - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((length - 1) // chunk + 1)


def _chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    # cryptography's ChaCha20 takes a 16-byte nonce: the 32-bit block counter (little-endian),
    # then the 96-bit nonce.
    cipher = Cipher(algorithms.ChaCha20(key, b"\x00\x00\x00\x00" + nonce), mode=None)
    return cipher.encryptor().update(data)


def encrypt(plaintext: str, key: bytes, nonce: bytes | None = None) -> str:
    """Encrypt under the conversation ``key``; ``nonce`` only for test vectors."""
    raw = plaintext.encode()
    if not MIN_PLAINTEXT <= len(raw) <= MAX_PLAINTEXT:
        raise Nip44Error(f"plaintext must be {MIN_PLAINTEXT}–{MAX_PLAINTEXT} bytes")
    nonce = os.urandom(32) if nonce is None else nonce
    if len(nonce) != 32 or len(key) != 32:
        raise Nip44Error("the key and the nonce are 32 bytes")
    chacha_key, chacha_nonce, hmac_key = _message_keys(key, nonce)
    padded = len(raw).to_bytes(2, "big") + raw + bytes(padded_length(len(raw)) - len(raw))
    ciphertext = _chacha20(chacha_key, chacha_nonce, padded)
    mac = hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest()
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode()


def decrypt(payload: str, key: bytes) -> str:
    """Check and decrypt a payload made under the conversation ``key``."""
    if not isinstance(payload, str) or not 132 <= len(payload) <= MAX_PAYLOAD_CHARS:
        raise Nip44Error("payload has an invalid size")
    if payload.startswith("#"):
        raise Nip44Error("unknown payload version")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Nip44Error("payload is not base64") from None
    if not 99 <= len(data) <= 65603 or data[0] != VERSION:
        raise Nip44Error("unknown payload version or size")
    nonce, ciphertext, mac = data[1:33], data[33:-32], data[-32:]
    chacha_key, chacha_nonce, hmac_key = _message_keys(key, nonce)
    expected = hmac.new(hmac_key, nonce + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Nip44Error("payload does not authenticate (wrong key or altered)")
    padded = _chacha20(chacha_key, chacha_nonce, ciphertext)
    length = int.from_bytes(padded[:2], "big")
    if (
        not MIN_PLAINTEXT <= length <= MAX_PLAINTEXT
        or len(padded) != 2 + padded_length(length)
        or any(padded[2 + length :])
    ):
        raise Nip44Error("payload has invalid padding")
    try:
        return padded[2 : 2 + length].decode()
    except UnicodeDecodeError:
        raise Nip44Error("plaintext is not UTF-8") from None


def encrypt_to_self(secret: bytes, plaintext: str) -> str:
    """Encrypt so that only the holder of ``secret`` can read it (the NIP-07 self-encryption)."""
    return encrypt(plaintext, conversation_key(secret, Point.from_secret(secret).xonly()))


def decrypt_from_self(secret: bytes, payload: str) -> str:
    return decrypt(payload, conversation_key(secret, Point.from_secret(secret).xonly()))
