"""ECDSA over secp256k1 and ECDH, through libsecp256k1 (coincurve's bundled build).

Signatures are the 64-byte compact form ``r || s``. libsecp256k1 signs with RFC 6979 nonces and
always produces low-S signatures; its verification refuses high-S signatures, so a signature
that verifies here is the one canonical encoding.
"""

from __future__ import annotations

from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from ticketdlc.crypto.secp import Point

_CTX: Final = GLOBAL_CONTEXT.ctx
SIGNATURE_SIZE: Final = 64


def _secret(secret: bytes) -> bytes:
    if len(secret) != 32 or not lib.secp256k1_ec_seckey_verify(_CTX, bytes(secret)):
        raise ValueError("a secret key is 32 bytes in [1, n-1]")
    return bytes(secret)


def sign(secret: bytes, digest: bytes) -> bytes:
    """Compact low-S ECDSA signature of a 32-byte digest (RFC 6979 nonce)."""
    if len(digest) != 32:
        raise ValueError("ECDSA signs a 32-byte digest")
    signature = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_sign(_CTX, signature, digest, _secret(secret), ffi.NULL, ffi.NULL):
        raise ValueError("ECDSA signing failed")
    out = ffi.new("unsigned char[64]")
    lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, signature)
    return bytes(out)


def verify(pubkey: bytes | Point, digest: bytes, signature: bytes) -> bool:
    """True if ``signature`` (compact, low-S) signs ``digest`` under the compressed ``pubkey``."""
    if len(digest) != 32 or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        point = pubkey if isinstance(pubkey, Point) else Point.from_bytes(pubkey)
    except ValueError:
        return False
    parsed = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, parsed, bytes(signature)):
        return False
    raw: Any = point._raw
    return bool(lib.secp256k1_ecdsa_verify(_CTX, parsed, bytes(digest), raw))


def ecdh(secret: bytes, pubkey: bytes | Point) -> bytes:
    """libsecp256k1's default ECDH: ``SHA256(0x02|parity(d·P) || x(d·P))`` (32 bytes)."""
    point = pubkey if isinstance(pubkey, Point) else Point.from_bytes(pubkey)
    out = ffi.new("unsigned char[32]")
    raw: Any = point._raw
    if not lib.secp256k1_ecdh(_CTX, out, raw, _secret(secret), ffi.NULL, ffi.NULL):
        raise ValueError("ECDH failed")
    return bytes(out)
