"""XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): ChaCha20-Poly1305 with a 24-byte nonce.

HChaCha20 derives a subkey from the key and the first 16 nonce bytes; the AEAD then runs
ChaCha20-Poly1305 (from ``cryptography``) under that subkey with the nonce ``0⁴ ‖ nonce[16:]``.
"""

from __future__ import annotations

import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 24
TAG_BYTES: Final = 16
_SIGMA: Final = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
_MASK: Final = 0xFFFFFFFF


class XChaChaError(ValueError):
    """A ciphertext does not open under this key, nonce and associated data."""


def _quarter_round(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK
    s[d] ^= s[a]
    s[d] = ((s[d] << 16) | (s[d] >> 16)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    s[b] ^= s[c]
    s[b] = ((s[b] << 12) | (s[b] >> 20)) & _MASK
    s[a] = (s[a] + s[b]) & _MASK
    s[d] ^= s[a]
    s[d] = ((s[d] << 8) | (s[d] >> 24)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    s[b] ^= s[c]
    s[b] = ((s[b] << 7) | (s[b] >> 25)) & _MASK


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """The 32-byte HChaCha20 subkey of ``key`` and a 16-byte nonce."""
    if len(key) != KEY_BYTES or len(nonce16) != 16:
        raise ValueError("HChaCha20 takes a 32-byte key and a 16-byte nonce")
    state = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):
        _quarter_round(state, 0, 4, 8, 12)
        _quarter_round(state, 1, 5, 9, 13)
        _quarter_round(state, 2, 6, 10, 14)
        _quarter_round(state, 3, 7, 11, 15)
        _quarter_round(state, 0, 5, 10, 15)
        _quarter_round(state, 1, 6, 11, 12)
        _quarter_round(state, 2, 7, 8, 13)
        _quarter_round(state, 3, 4, 9, 14)
    return struct.pack("<8I", *state[0:4], *state[12:16])


def _aead(key: bytes, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    if len(nonce) != NONCE_BYTES:
        raise ValueError("XChaCha20-Poly1305 takes a 24-byte nonce")
    return ChaCha20Poly1305(hchacha20(key, nonce[:16])), b"\x00" * 4 + nonce[16:]


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """``ciphertext ‖ tag`` (16 bytes longer than the plaintext)."""
    aead, inner_nonce = _aead(key, nonce)
    return aead.encrypt(inner_nonce, plaintext, associated_data)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """The plaintext, or :class:`XChaChaError` if the tag does not verify."""
    aead, inner_nonce = _aead(key, nonce)
    try:
        return aead.decrypt(inner_nonce, ciphertext, associated_data)
    except InvalidTag:
        raise XChaChaError("ciphertext does not open with this key") from None
