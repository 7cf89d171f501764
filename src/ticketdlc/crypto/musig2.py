"""BIP-327 MuSig2 over libsecp256k1 points, with the adaptor hook the musig2 crate uses.

The public functions keep the names, argument order and byte-string conventions of the BIP-327
reference implementation so that the official vector files run against them unchanged:
``key_sort``, ``key_agg``, ``get_xonly_pk``, ``apply_tweak``, ``nonce_gen``,
``nonce_gen_internal``, ``nonce_agg``, ``SessionContext``, ``get_session_values``, ``sign``,
``partial_sig_verify``, ``partial_sig_verify_internal``, ``partial_sig_agg``,
``deterministic_sign``. Invalid contributions raise :class:`InvalidContributionError` with the
signer index and the contribution kind; other bad arguments raise ``ValueError``.

Differences from the reference, all deliberate:

* Secret nonces are :class:`SecNonce` objects that can be used for exactly one signature; a
  ``bytearray`` secnonce (the reference form) is zeroed in place on use and refused afterwards.
  Immutable ``bytes`` are refused because they could be reused.
* ``partial_sig_agg`` verifies the aggregate signature before returning it.
* Key aggregation, tweaking and per-session values are cached (all inputs are immutable byte
  strings), so signing or verifying many partial signatures of one session costs one
  nonce-combination, not one per call.

The shared machinery (also used by :mod:`ticketdlc.crypto.adaptor` and the bulk engine) lives in
:mod:`ticketdlc.crypto.musig_core`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ticketdlc.crypto import bip340
from ticketdlc.crypto.musig_core import (
    InvalidContributionError,
    KeyGenContext,
    NonceReuseError,
    PlainPk,
    SecNonce,
    SessionContext,
    SessionValues,
    XonlyPk,
    aggregate_partials,
    apply_tweak,
    get_session_key_agg_coeff,
    get_session_values,
    get_xonly_pk,
    individual_pk,
    key_agg,
    key_agg_and_tweak,
    key_agg_coeff,
    key_sort,
    n,
    nonce_agg,
    nonce_gen,
    nonce_gen_crate_compat,
    nonce_gen_internal,
    pubnonce_of,
    session_values,
    sign_partial,
    verify_partial,
    verify_partial_of_signer,
)
from ticketdlc.crypto.secp import tagged_hash, xor_bytes

__all__ = [
    "InvalidContributionError",
    "KeyGenContext",
    "NonceReuseError",
    "PlainPk",
    "SecNonce",
    "SessionContext",
    "SessionValues",
    "XonlyPk",
    "apply_tweak",
    "deterministic_sign",
    "get_session_key_agg_coeff",
    "get_session_values",
    "get_xonly_pk",
    "individual_pk",
    "key_agg",
    "key_agg_and_tweak",
    "key_agg_coeff",
    "key_sort",
    "n",
    "nonce_agg",
    "nonce_gen",
    "nonce_gen_crate_compat",
    "nonce_gen_internal",
    "partial_sig_agg",
    "partial_sig_verify",
    "partial_sig_verify_internal",
    "session_values",
    "sign",
]


def sign(secnonce: SecNonce | bytearray, sk: bytes, session_ctx: SessionContext) -> bytes:
    """BIP-327 Sign: the 32-byte partial signature. Consumes ``secnonce``."""
    return sign_partial(secnonce, sk, session_ctx, None)


def partial_sig_verify_internal(
    psig: bytes, pubnonce: bytes, pk: PlainPk, session_ctx: SessionContext
) -> bool:
    """Verify one signer's partial signature against an existing session."""
    return verify_partial(psig, pubnonce, pk, session_ctx, None)


def partial_sig_verify(
    psig: bytes,
    pubnonces: Sequence[bytes],
    pubkeys: Sequence[PlainPk],
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    i: int,
) -> bool:
    """BIP-327 PartialSigVerify of signer ``i``."""
    return verify_partial_of_signer(psig, pubnonces, pubkeys, tweaks, is_xonly, msg, i, None)


def partial_sig_agg(psigs: Sequence[bytes], session_ctx: SessionContext) -> bytes:
    """BIP-327 PartialSigAgg: the 64-byte BIP-340 signature, verified before it is returned."""
    values, s = aggregate_partials(psigs, session_ctx, None)
    sig = values.R.xonly() + s.to_bytes(32, "big")
    if not bip340.verify(values.Q.xonly(), session_ctx.msg, sig):
        raise ValueError(
            "The aggregate signature is invalid: verify the partial signatures to find the signer."
        )
    return sig


def deterministic_sign(
    sk: bytes,
    aggothernonce: bytes,
    pubkeys: Sequence[PlainPk],
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    rand: bytes | None,
) -> tuple[bytes, bytes]:
    """BIP-327 DeterministicSign for the last signer: ``(pubnonce, psig)``."""
    sk_ = xor_bytes(sk, tagged_hash("MuSig/aux", rand)) if rand is not None else sk
    aggpk = get_xonly_pk(key_agg_and_tweak(pubkeys, tweaks, is_xonly))

    def det_nonce_hash(i: int) -> int:
        buf = sk_ + aggothernonce + aggpk + len(msg).to_bytes(8, "big") + msg + bytes((i,))
        return int.from_bytes(tagged_hash("MuSig/deterministic/nonce", buf), "big") % n

    k1, k2 = det_nonce_hash(0), det_nonce_hash(1)
    if k1 == 0 or k2 == 0:  # negligible probability
        raise ValueError("nonce derivation produced zero")
    pubnonce = pubnonce_of(k1, k2)
    secnonce = SecNonce(k1, k2, individual_pk(sk))
    try:
        aggnonce = nonce_agg([pubnonce, aggothernonce])
    except InvalidContributionError:
        raise InvalidContributionError(None, "aggothernonce") from None
    session_ctx = SessionContext(aggnonce, pubkeys, tweaks, is_xonly, msg)
    return pubnonce, sign(secnonce, sk, session_ctx)
