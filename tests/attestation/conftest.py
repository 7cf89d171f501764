"""Attestation test inputs: the real Nitro document of ``vectors/nitro/attestation.json``, and
enclaves whose documents the devnet issuer makes under a fresh test root."""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey

from coordinator_core.nitro import (
    AttestationError,
    PcrPolicy,
    VerifiedAttestation,
    verify_attestation,
)
from devnet.signer.attestation import DEVNET_PCR0, AttestationIssuer


@dataclass(frozen=True)
class RealDocument:
    document: bytes
    root_pem: str
    root_sha256: str
    valid_at_ms: int
    timestamp_ms: int
    module_id: str
    public_key: bytes
    pcrs: dict[int, bytes]

    @property
    def policy(self) -> PcrPolicy:
        return PcrPolicy({0: self.pcrs[0]})


@pytest.fixture(scope="session")
def real_document(vectors_dir: Path) -> RealDocument:
    data = json.loads((vectors_dir / "nitro" / "attestation.json").read_text())
    expected = data["expected"]
    valid_at = datetime.datetime.fromisoformat(data["valid_at"].replace("Z", "+00:00"))
    return RealDocument(
        document=base64.b64decode(data["attestation_document_b64"]),
        root_pem=data["aws_nitro_root_g1_pem"],
        root_sha256=data["aws_nitro_root_g1_der_sha256"],
        valid_at_ms=int(valid_at.timestamp()) * 1000,
        timestamp_ms=expected["timestamp_ms"],
        module_id=expected["module_id"],
        public_key=bytes.fromhex(expected["public_key_hex"]),
        pcrs={int(index): bytes.fromhex(value) for index, value in expected["pcrs_hex"].items()},
    )


@dataclass
class DevnetEnclave:
    """An enclave key, a challenge and a devnet issuer; verification defaults to now."""

    issuer: AttestationIssuer
    key: bytes
    challenge: bytes

    @property
    def policy(self) -> PcrPolicy:
        return PcrPolicy({0: DEVNET_PCR0})

    def document(self, **changes: Any) -> bytes:
        arguments: dict[str, Any] = {"public_key": self.key, "nonce": self.challenge}
        arguments.update(changes)
        return self.issuer.issue(**arguments)

    def verify(self, document: bytes | str, **changes: Any) -> VerifiedAttestation:
        arguments: dict[str, Any] = {
            "challenge": self.challenge,
            "expected_public_key": self.key,
            "policy": self.policy,
            "trust_root": self.issuer.trust_root,
            "now_ms": now_ms(),
        }
        arguments.update(changes)
        return verify_attestation(document, **arguments)

    def refused(self, document: bytes | str, check: str, **changes: Any) -> AttestationError:
        with pytest.raises(AttestationError) as caught:
            self.verify(document, **changes)
        assert caught.value.check == check, caught.value.message
        return caught.value


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def enclave_key() -> bytes:
    return bytes(PrivateKey().public_key.format(compressed=True))


@pytest.fixture(scope="session")
def devnet_issuer() -> AttestationIssuer:
    return AttestationIssuer.create()


@pytest.fixture
def enclave(devnet_issuer: AttestationIssuer) -> DevnetEnclave:
    return DevnetEnclave(devnet_issuer, enclave_key(), os.urandom(32))
