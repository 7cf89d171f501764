"""The one error an attestation check raises."""

from __future__ import annotations

from typing import Final, Literal, get_args

from coordinator_core.errors import ValidationError

Check = Literal[
    "policy",  # no PCR policy: custody operations are refused (fail closed)
    "input",  # document size or hex encoding, challenge or expected key malformed
    "cose",  # not a COSE_Sign1 message
    "cose-header",  # protected alg is not ES384, crit present, unprotected alg present
    "payload",  # the Nitro payload's fields have the wrong shape
    "chain",  # the certificate chain does not lead to the trust root at this instant
    "signature",  # the COSE signature does not verify under the leaf certificate's key
    "timestamp",  # older than 300 s or more than 30 s ahead
    "nonce",  # the document's nonce is not the challenge
    "public-key",  # no public key, or not the expected enclave key
    "debug",  # PCR0, PCR1 or PCR2 missing or all zero (a debug-mode enclave)
    "pcr",  # a pinned PCR differs
]

CHECKS: Final[tuple[Check, ...]] = get_args(Check)


class AttestationError(ValidationError):
    """An enclave attestation document failed a check; ``check`` names which one."""

    code = "attestation_failed"

    def __init__(self, check: Check, message: str) -> None:
        super().__init__(f"enclave attestation refused ({check}): {message}")
        self.check: Check = check
