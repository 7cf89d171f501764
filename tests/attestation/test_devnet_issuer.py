"""The devnet attestation authority's files, and the trust root a development profile names."""

from __future__ import annotations

import datetime
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from coordinator_core.errors import ConfigError
from coordinator_core.nitro import TrustRoot, attestation_trust, verify_attestation
from devnet.signer.attestation import (
    ATTESTATION_DIR,
    DEVNET_PCR0_HEX,
    DEVNET_PCRS,
    AttestationIssuer,
    _builder,
    _name,
)

from .conftest import enclave_key, now_ms


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_once_and_kept(tmp_path: Path) -> None:
    first = AttestationIssuer.load_or_create(tmp_path)
    folder = tmp_path / ATTESTATION_DIR
    files = {path.name for path in folder.iterdir()}
    assert files == {"root.pem", "root.key", "intermediate.pem", "intermediate.key", "pcrs.json"}
    assert _mode(folder / "root.key") == 0o600
    assert _mode(folder / "intermediate.key") == 0o600
    again = AttestationIssuer.load_or_create(tmp_path)
    assert again.root.der == first.root.der
    assert again.intermediate.der == first.intermediate.der
    assert TrustRoot.from_file(folder / "root.pem") == first.trust_root
    pcrs = json.loads((folder / "pcrs.json").read_text())
    assert pcrs["PCR0"] == DEVNET_PCR0_HEX
    assert {int(name[3:]): bytes.fromhex(value) for name, value in pcrs.items()} == dict(
        DEVNET_PCRS
    )


def test_devnet_measurements_are_fixed_and_not_debug() -> None:
    assert DEVNET_PCRS[0].hex() == DEVNET_PCR0_HEX
    assert all(any(DEVNET_PCRS[index]) for index in (0, 1, 2, 8))
    assert len(set(DEVNET_PCRS[index] for index in (0, 1, 2, 3, 4, 8))) == 6


def test_expired_intermediate_is_reissued_under_the_kept_root(tmp_path: Path) -> None:
    old = AttestationIssuer.create(
        now=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=360)
    )
    old.save(tmp_path)  # its intermediate expires within 30 days
    loaded = AttestationIssuer.load_or_create(tmp_path)
    assert loaded.root.der == old.root.der
    assert loaded.intermediate.der != old.intermediate.der
    assert AttestationIssuer.load_or_create(tmp_path).intermediate.der == loaded.intermediate.der


def test_incomplete_or_broken_authority_is_refused(tmp_path: Path) -> None:
    AttestationIssuer.load_or_create(tmp_path)
    folder = tmp_path / ATTESTATION_DIR
    (folder / "root.key").unlink()
    with pytest.raises(ConfigError, match="incomplete"):
        AttestationIssuer.load_or_create(tmp_path)
    (folder / "root.key").write_text("garbage")
    with pytest.raises(ConfigError, match="unreadable"):
        AttestationIssuer.load_or_create(tmp_path)
    other = AttestationIssuer.create()
    other.save(tmp_path / "other")
    os.replace(tmp_path / "other" / ATTESTATION_DIR / "root.key", folder / "root.key")
    with pytest.raises(ConfigError, match="does not certify"):
        AttestationIssuer.load_or_create(tmp_path)


def test_development_profile_verifies_devnet_documents_through_the_root_file(
    tmp_path: Path,
) -> None:
    issuer = AttestationIssuer.load_or_create(tmp_path)
    root_file = tmp_path / ATTESTATION_DIR / "root.pem"
    trust = attestation_trust(
        "development", pcr_pins={"PCR0": DEVNET_PCR0_HEX}, trust_root_file=root_file
    )
    key, challenge = enclave_key(), os.urandom(32)
    result = verify_attestation(
        issuer.issue(public_key=key, nonce=challenge),
        challenge=challenge,
        expected_public_key=key,
        policy=trust.policy,
        trust_root=trust.trust_root,
        now_ms=now_ms(),
    )
    assert result.public_key == key
    with pytest.raises(ConfigError, match="pinned AWS Nitro Root G1 only"):
        attestation_trust(
            "production", pcr_pins={"PCR0": DEVNET_PCR0_HEX}, trust_root_file=root_file
        )


def test_trust_root_must_be_a_self_signed_p384_ca() -> None:
    issuer = AttestationIssuer.create()
    with pytest.raises(ConfigError, match="names another issuer"):
        TrustRoot.from_der(issuer.intermediate.der)
    stamp = now_ms()
    with pytest.raises(ConfigError, match="not a CA"):
        TrustRoot.from_der(issuer.leaf("x", valid_from_ms=stamp, valid_to_ms=stamp).der)
    with pytest.raises(ConfigError, match="P-384"):
        TrustRoot.from_der(_self_signed(ec.SECP256R1(), hashes.SHA384()))
    with pytest.raises(ConfigError, match="SHA-384"):
        TrustRoot.from_der(_self_signed(ec.SECP384R1(), hashes.SHA256()))
    with pytest.raises(ConfigError, match="well-formed"):
        TrustRoot.from_der(b"\x30\x03\x02\x01\x00")


def _self_signed(curve: ec.EllipticCurve, digest: hashes.HashAlgorithm) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    key = ec.generate_private_key(curve)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        _builder(_name("root"), None, key, now, now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, digest)
    )
    return cert.public_bytes(Encoding.DER)
