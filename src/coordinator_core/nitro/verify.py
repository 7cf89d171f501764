"""Verification of an AWS Nitro Enclaves attestation document (keymeld-0.10 §5).

The checks run in this order, each failure raising :class:`AttestationError` naming it:

1. ``policy``: a :class:`PcrPolicy` is given (fail closed without one).
2. ``input``: the document is 1 B – 64 KiB (hex text: even length, hex digits only, decoded
   size bounded the same); the challenge, if any, is 32 bytes; the expected key is a
   secp256k1 point.
3. ``cose``/``cose-header``: COSE_Sign1, tagged (18) or untagged; protected alg ES384; no
   ``crit``; no unprotected alg (:mod:`coordinator_core.nitro.cose`).
4. ``payload``: the CBOR Nitro payload's shape (:func:`parse_payload`).
5. ``chain``: leaf ← CA bundle minus its root ← trust root at ``now_ms``
   (:mod:`coordinator_core.nitro.chain`).
6. ``signature``: the COSE signature under the leaf key.
7. ``timestamp``: ``now − 300 s ≤ timestamp ≤ now + 30 s``.
8. ``nonce``: equals the challenge (with no challenge: the document carries no nonce).
9. ``public-key``: present and the expected enclave key.
10. ``debug``: PCR0, PCR1, PCR2 present and not all zero.
11. ``pcr``: every pinned PCR equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import coincurve

from coordinator_core.nitro.cbor_gate import CborError, decode
from coordinator_core.nitro.chain import CertificateProblem, verify_path
from coordinator_core.nitro.cose import decode_sign1, verify_es384
from coordinator_core.nitro.errors import AttestationError
from coordinator_core.nitro.policy import MAX_PCR_INDEX, PCR_BYTES, PcrPolicy
from coordinator_core.nitro.trust import TrustRoot

MAX_DOCUMENT_BYTES: Final = 64 * 1024
CHALLENGE_BYTES: Final = 32
MAX_AGE_MS: Final = 300_000
MAX_AHEAD_MS: Final = 30_000
MAX_CERTIFICATE_BYTES: Final = 1024
MAX_CABUNDLE: Final = 10
MAX_BLOB_BYTES: Final = 1024  # public_key, user_data, nonce
DEBUG_PCRS: Final = (0, 1, 2)
_MAX_UINT64: Final = (1 << 64) - 1
_HEX = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class NitroPayload:
    """The fields of a Nitro attestation payload, shape-checked."""

    module_id: str
    digest: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    certificate: bytes
    cabundle: tuple[bytes, ...]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None


@dataclass(frozen=True)
class VerifiedAttestation:
    """What a verified document attests."""

    module_id: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    public_key: bytes  # the enclave's secp256k1 key, compressed
    nonce: bytes | None
    user_data: bytes | None


def verify_attestation(
    document: bytes | str,
    *,
    challenge: bytes | None,
    expected_public_key: bytes,
    policy: PcrPolicy | None,
    trust_root: TrustRoot,
    now_ms: int,
) -> VerifiedAttestation:
    """Verify ``document`` (raw COSE_Sign1 bytes, or their hex as gateways send them).

    Before sending a secret to an enclave, pass a fresh random 32-byte ``challenge`` that the
    gateway forwarded to the enclave. ``challenge=None`` accepts only a document without a
    nonce (a cached, unchallenged document) and must not gate a transfer of secrets.
    Raises :class:`AttestationError`; never anything else for any ``document``.
    """
    if policy is None:
        raise AttestationError(
            "policy", "no PCR policy is configured; enclaves cannot be trusted (fail closed)"
        )
    raw = _document_bytes(document)
    if challenge is not None and len(challenge) != CHALLENGE_BYTES:
        raise AttestationError("input", f"the challenge must be {CHALLENGE_BYTES} bytes")
    expected_key = _secp256k1_key(expected_public_key)
    if expected_key is None:
        raise AttestationError("input", "the expected enclave key is not a secp256k1 key")

    message = decode_sign1(raw)
    payload = parse_payload(message.payload)
    try:
        leaf_key = verify_path(payload.certificate, payload.cabundle, trust_root.der, now_ms)
    except CertificateProblem as exc:
        raise AttestationError("chain", str(exc)) from None
    if not verify_es384(leaf_key, message.to_be_signed(), message.signature):
        raise AttestationError("signature", "the COSE signature does not verify under the leaf")

    age = now_ms - payload.timestamp_ms
    if age > MAX_AGE_MS:
        raise AttestationError("timestamp", f"the document is {age / 1000:.3f} s old (max 300 s)")
    if -age > MAX_AHEAD_MS:
        raise AttestationError(
            "timestamp", f"the document is dated {-age / 1000:.3f} s ahead (max 30 s)"
        )
    if payload.nonce != challenge:
        if payload.nonce is None:
            reason = "the document carries no nonce"
        elif challenge is None:
            reason = "the document carries a nonce but no challenge was given"
        else:
            reason = "the document's nonce is not the challenge"
        raise AttestationError("nonce", reason)
    if payload.public_key is None:
        raise AttestationError("public-key", "the document binds no enclave public key")
    attested_key = _secp256k1_key(payload.public_key)
    if attested_key is None:
        raise AttestationError("public-key", "the attested public key is not a secp256k1 key")
    if attested_key != expected_key:
        raise AttestationError("public-key", "the attested key is not the enclave's key")
    for index in DEBUG_PCRS:
        value = payload.pcrs.get(index)
        if value is None or not any(value):
            raise AttestationError(
                "debug", f"PCR{index} is missing or zero (a debug-mode or unmeasured enclave)"
            )
    for index, pinned in policy.pins.items():
        if payload.pcrs.get(index) != pinned:
            raise AttestationError("pcr", f"PCR{index} does not match the pinned measurement")
    return VerifiedAttestation(
        module_id=payload.module_id,
        timestamp_ms=payload.timestamp_ms,
        pcrs=payload.pcrs,
        public_key=attested_key,
        nonce=payload.nonce,
        user_data=payload.user_data,
    )


def _document_bytes(document: bytes | str) -> bytes:
    if isinstance(document, str):
        if len(document) > 2 * MAX_DOCUMENT_BYTES:
            raise AttestationError("input", "the document is larger than 64 KiB")
        if len(document) % 2 or not _HEX.fullmatch(document):
            raise AttestationError("input", "the document is not hex")
        document = bytes.fromhex(document)
    elif not isinstance(document, bytes | bytearray | memoryview):
        raise AttestationError("input", "the document is neither bytes nor hex text")
    raw = bytes(document)
    if not raw:
        raise AttestationError("input", "the document is empty")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise AttestationError("input", "the document is larger than 64 KiB")
    return raw


def _secp256k1_key(data: bytes) -> bytes | None:
    """Compressed form of a 33-byte compressed or 65-byte uncompressed secp256k1 key."""
    if not ((len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] == 4)):
        return None
    try:
        return bytes(coincurve.PublicKey(bytes(data)).format(compressed=True))
    except ValueError:
        return None


def parse_payload(data: bytes) -> NitroPayload:
    """Shape-check a Nitro payload: a map with text keys where ``module_id`` is non-empty
    text, ``digest`` is ``"SHA384"``, ``timestamp`` a uint64 (ms), ``pcrs`` a non-empty map of
    indexes 0..31 to 48-byte values, ``certificate`` 1–1024 bytes, ``cabundle`` 1–10
    certificates of 1–1024 bytes, and ``public_key`` (1–1024 bytes), ``user_data`` and
    ``nonce`` (0–1024 bytes) byte strings, null or absent. Other keys are ignored."""
    try:
        fields = decode(data)
    except CborError as exc:
        raise AttestationError("payload", f"the payload is not well-formed CBOR: {exc}") from None
    if not isinstance(fields, dict) or not all(isinstance(key, str) for key in fields):
        raise AttestationError("payload", "the payload is not a map with text keys")
    module_id = fields.get("module_id")
    if not isinstance(module_id, str) or not module_id:
        raise AttestationError("payload", "module_id is missing or empty")
    digest = fields.get("digest")
    if digest != "SHA384":
        raise AttestationError("payload", f"digest must be SHA384, got {digest!r}")
    timestamp = fields.get("timestamp")
    if type(timestamp) is not int or not 0 <= timestamp <= _MAX_UINT64:
        raise AttestationError("payload", "timestamp is not an unsigned integer")
    certificate = fields.get("certificate")
    if not isinstance(certificate, bytes) or not _is_blob(certificate, 1, MAX_CERTIFICATE_BYTES):
        raise AttestationError("payload", "certificate must be 1–1024 bytes")
    cabundle = fields.get("cabundle")
    if (
        not isinstance(cabundle, list)
        or not 1 <= len(cabundle) <= MAX_CABUNDLE
        or not all(_is_blob(cert, 1, MAX_CERTIFICATE_BYTES) for cert in cabundle)
    ):
        raise AttestationError("payload", "cabundle must hold 1–10 certificates of 1–1024 bytes")
    return NitroPayload(
        module_id=module_id,
        digest=digest,
        timestamp_ms=timestamp,
        pcrs=_pcrs(fields.get("pcrs")),
        certificate=certificate,
        cabundle=tuple(cabundle),
        public_key=_optional_blob(fields, "public_key", 1),
        user_data=_optional_blob(fields, "user_data", 0),
        nonce=_optional_blob(fields, "nonce", 0),
    )


def _pcrs(value: Any) -> Mapping[int, bytes]:
    if not isinstance(value, dict) or not value:
        raise AttestationError("payload", "pcrs must be a non-empty map")
    for index, measurement in value.items():
        if type(index) is not int or not 0 <= index <= MAX_PCR_INDEX:
            raise AttestationError("payload", f"PCR index must be 0..{MAX_PCR_INDEX}")
        if not _is_blob(measurement, PCR_BYTES, PCR_BYTES):
            raise AttestationError("payload", f"PCR{index} is not {PCR_BYTES} bytes")
    return MappingProxyType(dict(sorted(value.items())))


def _is_blob(value: Any, smallest: int, largest: int) -> bool:
    return isinstance(value, bytes) and smallest <= len(value) <= largest


def _optional_blob(fields: Mapping[str, Any], name: str, smallest: int) -> bytes | None:
    value = fields.get(name)
    if value is None:
        return None
    if not _is_blob(value, smallest, MAX_BLOB_BYTES):
        raise AttestationError("payload", f"{name} must be {smallest}–{MAX_BLOB_BYTES} bytes")
    return bytes(value)
