"""Sign-up proof of work: the shared arithmetic of the server's check and the client's solver.

A challenge is an opaque base64url string from ``POST /api/v1/users/pow``; a solution is a
decimal u64 ``pow_nonce`` such that ``SHA-256(challenge bytes ‖ nonce as 8 bytes big-endian)``
starts with at least ``difficulty`` zero bits, where the challenge bytes are the base64url
(no padding) decoding of the challenge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

MAX_NONCE: Final = (1 << 64) - 1


class PowError(ValueError):
    """A challenge or nonce is malformed."""


def challenge_bytes(challenge: str) -> bytes:
    if not isinstance(challenge, str) or not 1 <= len(challenge) <= 128:
        raise PowError("malformed")
    try:
        return base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
    except (binascii.Error, ValueError):
        raise PowError("malformed") from None


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work_bits(challenge: str, nonce: int) -> int:
    """Leading zero bits of the hash of ``challenge`` and ``nonce``."""
    if not 0 <= nonce <= MAX_NONCE:
        raise PowError("nonce out of range")
    digest = hashlib.sha256(challenge_bytes(challenge) + nonce.to_bytes(8, "big")).digest()
    return leading_zero_bits(digest)


def solve(challenge: str, difficulty: int) -> int:
    """The smallest nonce meeting ``difficulty`` (about 2^difficulty hashes)."""
    prefix = challenge_bytes(challenge)
    for nonce in range(MAX_NONCE + 1):
        digest = hashlib.sha256(prefix + nonce.to_bytes(8, "big")).digest()
        if leading_zero_bits(digest) >= difficulty:
            return nonce
    raise PowError("no solution")  # pragma: no cover - 2^64 hashes
