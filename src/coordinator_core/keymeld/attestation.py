"""Checking an enclave's attestation before any secret is sealed to its key.

Every transfer of a secret to an enclave (the session secret, a participant's key) is preceded
by ``GET /enclaves/{id}/public-key?nonce=<fresh 32 bytes>`` and :meth:`EnclaveTrust.verify` of
the document it returns: a Nitro attestation chaining to the configured root, fresh, bound to
the challenge and to the enclave key, from a non-debug enclave with the pinned PCRs
(:mod:`coordinator_core.nitro`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from coordinator_core.nitro import AttestationError, AttestationTrust, verify_attestation

CHALLENGE_BYTES = 32


def new_challenge() -> bytes:
    """A fresh random attestation challenge."""
    return os.urandom(CHALLENGE_BYTES)


@dataclass(frozen=True)
class EnclaveTrust:
    """The PCR policy and trust root enclave attestations are verified against."""

    trust: AttestationTrust

    def verify(
        self, document: bytes, public_key: bytes, challenge: bytes, now_ms: int | None = None
    ) -> None:
        """Raise :class:`~coordinator_core.nitro.AttestationError` unless the document attests
        ``public_key`` in a trusted enclave, in answer to ``challenge``."""
        if not document:
            raise AttestationError("input", "the gateway returned no attestation document")
        verify_attestation(
            document,
            challenge=challenge,
            expected_public_key=public_key,
            policy=self.trust.policy,
            trust_root=self.trust.trust_root,
            now_ms=int(time.time() * 1000) if now_ms is None else now_ms,
        )
