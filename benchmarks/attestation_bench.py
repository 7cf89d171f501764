"""Cost of enclave attestation: verifying a Nitro document and issuing a devnet one.

Prints the mean time to verify the real AWS document of ``../shared/vectors/nitro`` (five
certificates: five chain signatures plus the COSE signature), to verify a devnet document (three
certificates), and to issue a devnet document (fresh P-384 leaf key, certificate, signature).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from coincurve import PrivateKey

from coordinator_core.nitro import AWS_NITRO_ROOT_G1, PcrPolicy, verify_attestation
from devnet.signer.attestation import DEVNET_PCR0, AttestationIssuer

VECTOR = Path(__file__).resolve().parents[1].parent / "shared/vectors/nitro/attestation.json"
ROUNDS = 300


def _mean_ms(action: Callable[[], object]) -> float:
    action()
    started = time.perf_counter()
    for _ in range(ROUNDS):
        action()
    return (time.perf_counter() - started) / ROUNDS * 1e3


def main() -> None:
    data = json.loads(VECTOR.read_text())
    document = base64.b64decode(data["attestation_document_b64"])
    valid_at = datetime.datetime.fromisoformat(data["valid_at"].replace("Z", "+00:00"))
    real_key = bytes.fromhex(data["expected"]["public_key_hex"])
    real_policy = PcrPolicy({0: bytes.fromhex(data["expected"]["pcrs_hex"]["0"])})

    issuer = AttestationIssuer.create()
    key = PrivateKey().public_key.format()
    challenge = os.urandom(32)
    devnet_document = issuer.issue(public_key=key, nonce=challenge)
    devnet_root = issuer.trust_root
    devnet_policy = PcrPolicy({0: DEVNET_PCR0})
    now_ms = time.time_ns() // 1_000_000

    figures = {
        "verify real AWS document": _mean_ms(
            lambda: verify_attestation(
                document,
                challenge=None,
                expected_public_key=real_key,
                policy=real_policy,
                trust_root=AWS_NITRO_ROOT_G1,
                now_ms=int(valid_at.timestamp() * 1000),
            )
        ),
        "verify devnet document": _mean_ms(
            lambda: verify_attestation(
                devnet_document,
                challenge=challenge,
                expected_public_key=key,
                policy=devnet_policy,
                trust_root=devnet_root,
                now_ms=now_ms,
            )
        ),
        "issue devnet document": _mean_ms(lambda: issuer.issue(public_key=key, nonce=challenge)),
    }
    print(
        f"{'operation':<28} {'ms':>7}   ({len(document)} B real, {len(devnet_document)} B devnet)"
    )
    for name, value in figures.items():
        print(f"{name:<28} {value:>7.2f}")


if __name__ == "__main__":
    main()
