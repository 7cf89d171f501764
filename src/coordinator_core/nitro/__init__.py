"""AWS Nitro Enclaves attestation: verify that a key belongs to a measured, non-debug enclave.

``verify_attestation`` checks a COSE_Sign1 attestation document against a pinned trust root
(the bundled AWS Nitro Root G1 in production), a fresh challenge, the expected enclave key and
a :class:`PcrPolicy`; :func:`attestation_trust` builds policy and root from configuration.
"""

from coordinator_core.nitro.errors import CHECKS, AttestationError, Check
from coordinator_core.nitro.policy import AttestationTrust, PcrPolicy, attestation_trust
from coordinator_core.nitro.trust import (
    AWS_NITRO_ROOT_G1,
    AWS_NITRO_ROOT_G1_SHA256,
    TrustRoot,
)
from coordinator_core.nitro.verify import (
    CHALLENGE_BYTES,
    MAX_DOCUMENT_BYTES,
    VerifiedAttestation,
    verify_attestation,
)

__all__ = [
    "AWS_NITRO_ROOT_G1",
    "AWS_NITRO_ROOT_G1_SHA256",
    "CHALLENGE_BYTES",
    "CHECKS",
    "MAX_DOCUMENT_BYTES",
    "AttestationError",
    "AttestationTrust",
    "Check",
    "PcrPolicy",
    "TrustRoot",
    "VerifiedAttestation",
    "attestation_trust",
    "verify_attestation",
]
