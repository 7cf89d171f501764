"""BIP-340 Schnorr signatures through libsecp256k1 (coincurve's bundled build).

``sign`` and ``sign_deterministic`` verify every signature they produce before returning it.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from ticketdlc.crypto.secp import CURVE_ORDER, scalar_reduce, tagged_hash
from ticketdlc.typed_bytes import XOnlyPubkey

_CTX: Final = GLOBAL_CONTEXT.ctx
_EXTRAPARAMS_MAGIC: Final = b"\xda\x6f\xb3\x8c"


class SigningError(RuntimeError):
    """libsecp256k1 refused to sign, or the produced signature did not verify."""


def _keypair(secret: bytes) -> Any:
    if len(secret) != 32:
        raise ValueError("a secret key is 32 bytes")
    keypair = ffi.new("secp256k1_keypair *")
    if not lib.secp256k1_keypair_create(_CTX, keypair, secret):
        raise ValueError("secret key out of range")
    return keypair


@lru_cache(maxsize=4096)
def _parse_xonly(xonly: bytes) -> Any:
    parsed = ffi.new("secp256k1_xonly_pubkey *")
    if not lib.secp256k1_xonly_pubkey_parse(_CTX, parsed, xonly):
        return None
    return parsed


def xonly_pubkey(secret: bytes) -> XOnlyPubkey:
    """32-byte x-only public key of a 32-byte secret key."""
    keypair = _keypair(secret)
    xonly = ffi.new("secp256k1_xonly_pubkey *")
    lib.secp256k1_keypair_xonly_pub(_CTX, xonly, ffi.NULL, keypair)
    out = ffi.new("unsigned char[32]")
    lib.secp256k1_xonly_pubkey_serialize(_CTX, out, xonly)
    return XOnlyPubkey(bytes(out))


def verify(xonly_pubkey: bytes, msg: bytes, sig: bytes) -> bool:
    """BIP-340 verification of a 64-byte signature over a message of any length."""
    if len(xonly_pubkey) != 32 or len(sig) != 64:
        return False
    parsed = _parse_xonly(bytes(xonly_pubkey))
    if parsed is None:
        return False
    return bool(lib.secp256k1_schnorrsig_verify(_CTX, bytes(sig), msg, len(msg), parsed))


def sign(secret: bytes, msg: bytes, aux_rand: bytes) -> bytes:
    """BIP-340 signature (64 bytes) with the given 32 bytes of auxiliary randomness."""
    if len(aux_rand) != 32:
        raise ValueError("aux_rand is 32 bytes")
    keypair = _keypair(secret)
    aux = ffi.new("unsigned char[32]", aux_rand)
    params = ffi.new("secp256k1_schnorrsig_extraparams *")
    params.magic = _EXTRAPARAMS_MAGIC
    params.noncefp = ffi.NULL
    params.ndata = aux
    out = ffi.new("unsigned char[64]")
    if not lib.secp256k1_schnorrsig_sign_custom(_CTX, out, msg, len(msg), keypair, params):
        raise SigningError("libsecp256k1 failed to sign")
    sig = bytes(out)
    xonly = ffi.new("secp256k1_xonly_pubkey *")
    lib.secp256k1_keypair_xonly_pub(_CTX, xonly, ffi.NULL, keypair)
    if not lib.secp256k1_schnorrsig_verify(_CTX, sig, msg, len(msg), xonly):
        raise SigningError("produced signature does not verify")
    return sig


def rfc6979_aux(secret: bytes, msg: bytes) -> bytes:
    """The RFC 6979 (HMAC-SHA256) nonce the musig2 crate uses as BIP-340 ``aux_rand``.

    ``h1 = SHA256(msg)`` enters the HMAC unreduced, as the crate does.
    """
    if len(secret) != 32:
        raise ValueError("a secret key is 32 bytes")
    h1 = hashlib.sha256(msg).digest()
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = hmac.digest(k, v + b"\x00" + secret + h1, "sha256")
    v = hmac.digest(k, v, "sha256")
    k = hmac.digest(k, v + b"\x01" + secret + h1, "sha256")
    v = hmac.digest(k, v, "sha256")
    while True:
        v = hmac.digest(k, v, "sha256")
        candidate = int.from_bytes(v, "big")
        if 0 < candidate < CURVE_ORDER:
            return v
        k = hmac.digest(k, v + b"\x00", "sha256")
        v = hmac.digest(k, v, "sha256")


def sign_deterministic(secret: bytes, msg: bytes) -> bytes:
    """Reproducible BIP-340 signature: ``aux_rand = rfc6979_aux(secret, msg)`` (dlctix §2.4)."""
    return sign(secret, msg, rfc6979_aux(secret, msg))


def challenge(r_xonly: bytes, p_xonly: bytes, msg: bytes) -> int:
    """BIP-340 challenge ``int(tagged_hash("BIP0340/challenge", R_x || P_x || m)) mod n``."""
    return scalar_reduce(tagged_hash("BIP0340/challenge", r_xonly + p_xonly + msg))
