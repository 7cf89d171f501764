"""The real Nitro document of ``vectors/nitro/attestation.json`` and its verification inputs."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator_core.nitro import PcrPolicy


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
