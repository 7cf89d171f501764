"""The real AWS Nitro document of the shared vector, against the pinned AWS Nitro Root G1."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from coordinator_core.nitro import (
    AWS_NITRO_ROOT_G1,
    AWS_NITRO_ROOT_G1_SHA256,
    AttestationError,
    PcrPolicy,
    TrustRoot,
    VerifiedAttestation,
    verify_attestation,
)

from .conftest import RealDocument


def _verify(
    real: RealDocument, document: bytes | str | None = None, **changes: object
) -> VerifiedAttestation:
    arguments: dict[str, object] = {
        "challenge": None,
        "expected_public_key": real.public_key,
        "policy": real.policy,
        "trust_root": AWS_NITRO_ROOT_G1,
        "now_ms": real.valid_at_ms,
    }
    arguments.update(changes)
    return verify_attestation(real.document if document is None else document, **arguments)  # type: ignore[arg-type]


def _refused(
    real: RealDocument, check: str, document: bytes | None = None, **changes: object
) -> AttestationError:
    with pytest.raises(AttestationError) as caught:
        _verify(real, document, **changes)
    assert caught.value.check == check, caught.value.message
    return caught.value


def test_bundled_root_is_the_published_aws_nitro_root_g1(real_document: RealDocument) -> None:
    assert AWS_NITRO_ROOT_G1.sha256 == AWS_NITRO_ROOT_G1_SHA256 == real_document.root_sha256
    assert AWS_NITRO_ROOT_G1.der == TrustRoot.from_pem(real_document.root_pem).der
    assert AWS_NITRO_ROOT_G1.is_aws_nitro_root


def test_real_document_verifies_at_its_instant(real_document: RealDocument) -> None:
    result = _verify(real_document)
    assert result.module_id == real_document.module_id
    assert result.timestamp_ms == real_document.timestamp_ms
    assert result.public_key == real_document.public_key
    assert dict(result.pcrs) == real_document.pcrs
    assert result.nonce is None and result.user_data is None


def test_real_document_as_hex_and_tagged(real_document: RealDocument) -> None:
    assert _verify(real_document, real_document.document.hex()).module_id
    assert _verify(real_document, real_document.document.hex().upper()).module_id
    tagged = b"\xd2" + real_document.document  # tag 18 (COSE_Sign1)
    assert _verify(real_document, tagged).public_key == real_document.public_key


def test_uncompressed_expected_key_is_the_same_key(real_document: RealDocument) -> None:
    from coincurve import PublicKey

    uncompressed = PublicKey(real_document.public_key).format(compressed=False)
    assert _verify(real_document, expected_public_key=uncompressed).module_id


@pytest.mark.parametrize(
    ("instant", "check"),
    [
        ("2025-09-09T18:05:00Z", "timestamp"),  # leaf still valid, document 318 s old
        ("2025-09-09T17:59:00Z", "chain"),  # before the leaf certificate
        ("2025-09-10T12:00:00Z", "chain"),  # leaf certificate expired
        ("2049-10-29T00:00:00Z", "chain"),  # after the root certificate
    ],
)
def test_real_document_refused_at_another_instant(
    real_document: RealDocument, instant: str, check: str
) -> None:
    when = datetime.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    _refused(real_document, check, now_ms=int(when.timestamp() * 1000))


def test_timestamp_window_edges(real_document: RealDocument) -> None:
    stamp = real_document.timestamp_ms
    assert _verify(real_document, now_ms=stamp + 300_000).module_id
    _refused(real_document, "timestamp", now_ms=stamp + 300_001)
    # the leaf certificate starts 3.958 s before the timestamp (bounds are inclusive)
    assert _verify(real_document, now_ms=stamp - 3_958).module_id
    _refused(real_document, "chain", now_ms=stamp - 3_959)


def test_flipped_payload_byte_is_refused(real_document: RealDocument) -> None:
    document = bytearray(real_document.document)
    position = document.index(real_document.module_id.encode()) + 3  # inside module_id
    document[position] ^= 0x01
    _refused(real_document, "signature", bytes(document))


def test_flipped_signature_byte_is_refused(real_document: RealDocument) -> None:
    document = bytearray(real_document.document)
    document[-1] ^= 0x01
    _refused(real_document, "signature", bytes(document))


def test_pin_that_differs_is_refused(real_document: RealDocument) -> None:
    other = bytes([real_document.pcrs[0][0] ^ 1]) + real_document.pcrs[0][1:]
    error = _refused(real_document, "pcr", policy=PcrPolicy({0: other}))
    assert "PCR0" in error.message
    extra = PcrPolicy({0: real_document.pcrs[0], 4: bytes(47) + b"\x01"})
    _refused(real_document, "pcr", policy=extra)
    # PCR8 is all zero in this document (an unsigned image): a PCR8 pin cannot match
    _refused(real_document, "pcr", policy=PcrPolicy({8: b"\x01" * 48}))


def test_every_present_pin_matches(real_document: RealDocument) -> None:
    pins = {index: value for index, value in real_document.pcrs.items() if any(value)}
    assert _verify(real_document, policy=PcrPolicy(pins)).module_id


def test_another_root_is_refused(real_document: RealDocument) -> None:
    error = _refused(real_document, "chain", trust_root=_self_signed_root())
    assert "pinned trust root" in error.message


def test_missing_policy_is_refused(real_document: RealDocument) -> None:
    _refused(real_document, "policy", policy=None)


def test_wrong_public_key_is_refused(real_document: RealDocument) -> None:
    other = bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    _refused(real_document, "public-key", expected_public_key=other)
    _refused(real_document, "input", expected_public_key=b"\x02" + bytes(32))


def test_a_challenge_the_document_does_not_carry_is_refused(real_document: RealDocument) -> None:
    _refused(real_document, "nonce", challenge=bytes(range(32)))
    _refused(real_document, "input", challenge=bytes(31))


@pytest.mark.parametrize(
    "document",
    [b"", b"\x00" * (64 * 1024 + 1), "", "0" * (128 * 1024 + 2), "zz", "abc", "ab cd"],
    ids=["empty", "oversize", "empty-hex", "oversize-hex", "not-hex", "odd-hex", "spaced-hex"],
)
def test_bounded_input(real_document: RealDocument, document: bytes | str) -> None:
    _refused(real_document, "input", document)  # type: ignore[arg-type]


def test_result_is_immutable(real_document: RealDocument) -> None:
    result = _verify(real_document)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.module_id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.pcrs[0] = b""  # type: ignore[index]


def _self_signed_root() -> TrustRoot:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aws.nitro-enclaves")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    return TrustRoot.from_der(cert.public_bytes(Encoding.DER))
