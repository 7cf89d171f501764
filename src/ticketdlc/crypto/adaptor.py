"""MuSig2 adaptor signatures in the convention of the conduition ``musig2`` crate.

For an adaptor point ``T`` (the oracle's locking point):

* the nonce coefficient ``b`` and final nonce ``R = R1 + b·R2`` ignore ``T``;
* ``R' = R + T`` decides the nonce negation and the challenge ``e = H(x(R'), x(Q), m)``;
* the aggregate is the 65-byte adaptor signature ``ser33(R) || s``;
* :func:`adapt` with the discrete log ``t`` of ``T`` yields the BIP-340 signature
  ``x(R + t·G) || s ± t`` and :func:`reveal_secret` recovers ``t`` from both signatures.

Sessions are the BIP-327 :class:`~ticketdlc.crypto.musig2.SessionContext`; secret nonces are
single-use exactly as in plain MuSig2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ticketdlc.crypto import bip340
from ticketdlc.crypto.musig_core import (
    PlainPk,
    SecNonce,
    SessionContext,
    aggregate_partials,
    n,
    sign_partial,
    verify_partial,
    verify_partial_of_signer,
)
from ticketdlc.crypto.secp import CURVE_ORDER, G, InfinityError, Point, generator_mul, point_sum

ADAPTOR_SIGNATURE_SIZE: Final = 65


class AdaptorError(ValueError):
    """Malformed adaptor signature or secret."""


def adaptor_point(value: Point | bytes | None) -> Point | None:
    """Normalize an adaptor point: a Point, 33 compressed bytes, or 33 zero bytes / None (none)."""
    if value is None or isinstance(value, Point):
        return value
    if bytes(value) == bytes(33):
        return None
    return Point.from_bytes(value)


def sign(
    secnonce: SecNonce | bytearray,
    sk: bytes,
    session_ctx: SessionContext,
    adaptor: Point | bytes | None,
) -> bytes:
    """Partial adaptor signature (32 bytes) under adaptor point ``adaptor``. Consumes the nonce."""
    return sign_partial(secnonce, sk, session_ctx, adaptor_point(adaptor))


def partial_sig_verify_internal(
    psig: bytes,
    pubnonce: bytes,
    pk: PlainPk,
    session_ctx: SessionContext,
    adaptor: Point | bytes | None,
) -> bool:
    """Verify one signer's partial adaptor signature against an existing session."""
    return verify_partial(psig, pubnonce, pk, session_ctx, adaptor_point(adaptor))


def partial_sig_verify(
    psig: bytes,
    pubnonces: Sequence[bytes],
    pubkeys: Sequence[PlainPk],
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    i: int,
    adaptor: Point | bytes | None,
) -> bool:
    """Partial adaptor signature verification of signer ``i`` (BIP-327 argument order)."""
    point = adaptor_point(adaptor)
    return verify_partial_of_signer(psig, pubnonces, pubkeys, tweaks, is_xonly, msg, i, point)


def partial_sig_agg(
    psigs: Sequence[bytes], session_ctx: SessionContext, adaptor: Point | bytes | None
) -> bytes:
    """Aggregate partial adaptor signatures into the 65-byte ``ser33(R) || s``, verified."""
    point = adaptor_point(adaptor)
    values, s = aggregate_partials(psigs, session_ctx, point)
    signature = values.R.to_bytes() + s.to_bytes(32, "big")
    if not verify(values.Q.xonly(), session_ctx.msg, signature, point):
        raise ValueError(
            "The aggregate adaptor signature is invalid: "
            "verify the partial signatures to find the signer."
        )
    return signature


def _split(signature: bytes) -> tuple[Point, int]:
    if len(signature) != ADAPTOR_SIGNATURE_SIZE:
        raise AdaptorError("an adaptor signature is 65 bytes")
    try:
        nonce = Point.from_bytes(signature[:33])
    except ValueError:
        raise AdaptorError("invalid nonce point in adaptor signature") from None
    s = int.from_bytes(signature[33:], "big")
    if s >= CURVE_ORDER:
        raise AdaptorError("adaptor signature scalar out of range")
    return nonce, s


def verify(
    xonly_pubkey: bytes, msg: bytes, signature: bytes, adaptor: Point | bytes | None
) -> bool:
    """Check a 65-byte adaptor signature: ``s·G == ±R + e·P`` with parity and ``e`` from R + T.

    Once adapted with the discrete log of ``adaptor`` it is a valid BIP-340 signature.
    """
    try:
        nonce, s = _split(signature)
        pubkey = Point.from_xonly(xonly_pubkey)
        point = adaptor_point(adaptor)
    except ValueError:
        return False
    adapted = point_sum((nonce, point))
    if adapted is None:
        return False
    e = bip340.challenge(adapted.xonly(), xonly_pubkey, msg)
    effective = nonce if adapted.has_even_y() else -nonce
    return generator_mul(s) == point_sum((effective, None if e == 0 else pubkey * e))


def adapt(signature: bytes, secret: bytes | int) -> bytes:
    """Complete an adaptor signature with the adaptor secret ``t``: a 64-byte BIP-340 signature.

    The result verifies under the aggregate key only if ``t·G`` is the adaptor point; verify it
    before relying on it.
    """
    nonce, s = _split(signature)
    t = int.from_bytes(secret, "big") if isinstance(secret, bytes) else secret
    if not 0 <= t < CURVE_ORDER:
        raise AdaptorError("adaptor secret out of range")
    try:
        final_nonce = nonce.add_base_mul(t)
    except InfinityError:
        raise AdaptorError("adapted nonce is infinity") from None
    s_final = (s + t) % n if final_nonce.has_even_y() else (s - t) % n
    return final_nonce.xonly() + s_final.to_bytes(32, "big")


def reveal_secret(
    signature: bytes, final_signature: bytes, adaptor: Point | bytes | None = None
) -> bytes | None:
    """Recover the adaptor secret ``t`` (32 bytes) from an adaptor signature and its completion.

    Returns ``None`` if ``final_signature`` is not a completion of ``signature`` (or, when the
    adaptor point is given, if the recovered secret does not match it).
    """
    nonce, s = _split(signature)
    if len(final_signature) != 64:
        return None
    final_x = final_signature[:32]
    s_final = int.from_bytes(final_signature[32:], "big")
    if s_final >= CURVE_ORDER:
        return None
    expected = adaptor_point(adaptor)
    for t, even in (((s_final - s) % n, True), ((s - s_final) % n, False)):
        try:
            candidate = nonce.add_base_mul(t)
        except InfinityError:
            continue
        if candidate.xonly() == final_x and candidate.has_even_y() == even:
            if expected is not None and generator_mul(t) != expected:
                return None
            return t.to_bytes(32, "big")
    return None


def solo_adaptor_point(secret: bytes) -> Point:
    """The adaptor point ``t·G`` of a 32-byte adaptor secret."""
    return G * int.from_bytes(secret, "big")
