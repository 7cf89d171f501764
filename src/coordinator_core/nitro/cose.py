"""COSE_Sign1 with ES384 (RFC 9052), as AWS Nitro attestation documents use it.

A document is the CBOR array ``[protected: bstr, unprotected: map, payload: bstr,
signature: bstr]``, optionally under tag 18. The signature is ECDSA P-384 / SHA-384 over the
``Sig_structure`` ``["Signature1", protected, external_aad = b"", payload]``, encoded as the
fixed 96-byte ``r ‖ s``. Both the verifier and the devnet issuer use this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from coordinator_core.nitro.cbor_gate import CborError, decode
from coordinator_core.nitro.errors import AttestationError

COSE_SIGN1_TAG: Final = 18
HEADER_ALG: Final = 1
HEADER_CRIT: Final = 2
ES384: Final = -35
SIGNATURE_BYTES: Final = 96
_SCALAR_BYTES: Final = 48
_TAG_BYTE: Final = 0xC0 | COSE_SIGN1_TAG  # tag 18 in its one-byte head


@dataclass(frozen=True)
class CoseSign1:
    """The parts of a COSE_Sign1 message; ``protected`` is the serialized header as received."""

    protected: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The bytes the signature covers."""
        return sig_structure(self.protected, self.payload)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The ``Sig_structure`` of a COSE_Sign1 message with empty external AAD."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def es384_protected_header() -> bytes:
    """The serialized protected header ``{1: -35}`` (alg ES384)."""
    return cbor2.dumps({HEADER_ALG: ES384})


def decode_sign1(data: bytes) -> CoseSign1:
    """Parse a COSE_Sign1 message and check its headers (protected ES384, no ``crit``, no
    unprotected ``alg``). Raises :class:`AttestationError`; the signature is not checked."""
    body = data[1:] if data[:1] == bytes([_TAG_BYTE]) else data
    try:
        message = decode(body)
    except CborError as exc:
        raise AttestationError("cose", f"the document is not well-formed CBOR: {exc}") from None
    if not isinstance(message, list) or len(message) != 4:
        raise AttestationError("cose", "the document is not a COSE_Sign1 array of four items")
    protected, unprotected, payload, signature = message
    if not isinstance(protected, bytes):
        raise AttestationError("cose", "the protected header is not a byte string")
    if not isinstance(unprotected, dict):
        raise AttestationError("cose", "the unprotected header is not a map")
    if not isinstance(payload, bytes):
        raise AttestationError("cose", "the payload is not an embedded byte string")
    if not isinstance(signature, bytes):
        raise AttestationError("cose", "the signature is not a byte string")
    _check_headers(protected, unprotected)
    if len(signature) != SIGNATURE_BYTES:
        raise AttestationError(
            "cose", f"an ES384 signature is {SIGNATURE_BYTES} bytes, got {len(signature)}"
        )
    return CoseSign1(protected=protected, payload=payload, signature=signature)


def _check_headers(protected: bytes, unprotected: dict[object, object]) -> None:
    try:
        header = decode(protected) if protected else {}
    except CborError as exc:
        raise AttestationError("cose-header", f"the protected header is malformed: {exc}") from None
    if not isinstance(header, dict):
        raise AttestationError("cose-header", "the protected header is not a map")
    alg = header.get(HEADER_ALG)
    if type(alg) is not int or alg != ES384:
        raise AttestationError("cose-header", f"protected alg must be ES384 (-35), got {alg!r}")
    if HEADER_CRIT in header or HEADER_CRIT in unprotected:
        raise AttestationError("cose-header", "critical header parameters (crit) are not supported")
    if HEADER_ALG in unprotected:
        raise AttestationError("cose-header", "alg must not appear in the unprotected header")


def encode_sign1(message: CoseSign1, *, tagged: bool = True) -> bytes:
    """Serialize a COSE_Sign1 message (empty unprotected header)."""
    body = cbor2.dumps([message.protected, {}, message.payload, message.signature])
    return bytes([_TAG_BYTE]) + body if tagged else body


def verify_es384(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (96-byte ``r ‖ s``) is a valid ECDSA P-384/SHA-384 signature."""
    if len(signature) != SIGNATURE_BYTES or not isinstance(public_key.curve, ec.SECP384R1):
        return False
    r = int.from_bytes(signature[:_SCALAR_BYTES], "big")
    s = int.from_bytes(signature[_SCALAR_BYTES:], "big")
    if r == 0 or s == 0:
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        return False
    return True


def sign_es384(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA P-384/SHA-384 signature of ``message`` as 96-byte ``r ‖ s``."""
    if not isinstance(private_key.curve, ec.SECP384R1):
        raise ValueError("ES384 signs with a P-384 key")
    r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(_SCALAR_BYTES, "big") + s.to_bytes(_SCALAR_BYTES, "big")
