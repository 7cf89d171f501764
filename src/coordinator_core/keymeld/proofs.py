"""``v1:`` HTTP proofs: the ``X-Session-Signature`` and ``X-User-Signature`` headers.

Format ``v1:<unix seconds>:<nonce, 32 hex>:<compact ECDSA, 128 hex>`` over::

    SHA256(u64_be(len D) ‖ D ‖ u64_be(len S) ‖ S ‖ u64_be(len U) ‖ U ‖ u64_be(ts) ‖ nonce[16])

with ``D`` the header's domain, ``S`` the scope (session id, signing session id, key id) and
``U`` the user id (empty for session proofs). A proof is valid from 300 s in the past to 30 s in
the future and is single-use: the verifier remembers :func:`replay_key` (keymeld-0.10 §3).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from typing import Final

from coordinator_core.errors import ValidationError
from ticketdlc.crypto import ecdsa

SESSION_DOMAIN: Final = "keymeld-http-session-auth-v1"
USER_DOMAIN: Final = "keymeld-http-user-auth-v1"
REPLAY_PREFIX: Final = b"keymeld-http-replay-v1"
MAX_AGE_SECS: Final = 300
MAX_FUTURE_SECS: Final = 30
MAX_HEADER_CHARS: Final = 256
_PROOF_RE: Final = re.compile(r"v1:(0|[1-9][0-9]{0,19}):([0-9a-fA-F]{32}):([0-9a-fA-F]{128})")


class ProofError(ValidationError):
    """A proof header is malformed, expired, from the future or does not verify."""


@dataclass(frozen=True)
class Proof:
    """A parsed proof header."""

    timestamp: int
    nonce: bytes
    signature: bytes


def proof_digest(domain: str, scope: str, user: str, timestamp: int, nonce: bytes) -> bytes:
    """The digest a ``v1`` proof signs."""
    if len(nonce) != 16:
        raise ValueError("a proof nonce is 16 bytes")
    parts = b"".join(
        len(raw).to_bytes(8, "big") + raw
        for raw in (domain.encode(), scope.encode(), user.encode())
    )
    return hashlib.sha256(parts + timestamp.to_bytes(8, "big") + nonce).digest()


def make_proof(
    secret: bytes,
    domain: str,
    scope: str,
    user: str = "",
    *,
    timestamp: int | None = None,
    nonce: bytes | None = None,
) -> str:
    """A fresh proof header (current time and a random nonce unless given)."""
    ts = int(time.time()) if timestamp is None else timestamp
    nonce = os.urandom(16) if nonce is None else nonce
    signature = ecdsa.sign(secret, proof_digest(domain, scope, user, ts, nonce))
    return f"v1:{ts}:{nonce.hex()}:{signature.hex()}"


def session_proof(
    session_auth_secret: bytes,
    session_id: str,
    *,
    timestamp: int | None = None,
    nonce: bytes | None = None,
) -> str:
    """``X-Session-Signature`` for ``session_id`` (signed by the session auth key)."""
    return make_proof(
        session_auth_secret, SESSION_DOMAIN, session_id, "", timestamp=timestamp, nonce=nonce
    )


def user_proof(
    auth_secret: bytes,
    scope: str,
    user_id: str,
    *,
    timestamp: int | None = None,
    nonce: bytes | None = None,
) -> str:
    """``X-User-Signature`` of ``user_id`` for ``scope`` (signed by its auth key)."""
    return make_proof(auth_secret, USER_DOMAIN, scope, user_id, timestamp=timestamp, nonce=nonce)


def parse_proof(header: str) -> Proof:
    """Parse a ``v1`` header strictly (legacy ``nonce:sig`` headers are refused)."""
    if len(header) > MAX_HEADER_CHARS:
        raise ProofError("proof header too long")
    match = _PROOF_RE.fullmatch(header)
    if match is None:
        raise ProofError("malformed authentication proof (expected v1:<ts>:<nonce>:<sig>)")
    return Proof(int(match.group(1)), bytes.fromhex(match.group(2)), bytes.fromhex(match.group(3)))


def verify_proof(
    header: str,
    pubkey: bytes,
    domain: str,
    scope: str,
    user: str = "",
    *,
    now: float | None = None,
) -> str:
    """Check a proof; returns its replay key (the caller must refuse a key seen before)."""
    proof = parse_proof(header)
    current = int(time.time() if now is None else now)
    if current - proof.timestamp > MAX_AGE_SECS:
        raise ProofError("authentication proof expired")
    if proof.timestamp - current > MAX_FUTURE_SECS:
        raise ProofError("authentication proof is from the future")
    digest = proof_digest(domain, scope, user, proof.timestamp, proof.nonce)
    if not ecdsa.verify(pubkey, digest, proof.signature):
        raise ProofError("authentication proof does not verify")
    return replay_key(pubkey, digest)


def replay_key(pubkey: bytes, digest: bytes) -> str:
    """``hex(SHA256("keymeld-http-replay-v1" ‖ pubkey33 ‖ digest))``."""
    return hashlib.sha256(REPLAY_PREFIX + pubkey + digest).hexdigest()
