"""MuSig2 sessions on random keys, single-use nonces, and interop with libsecp256k1's musig."""

from __future__ import annotations

import copy
import os
import pickle

import pytest
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from tests.crypto.signers import make_signers, run_session
from ticketdlc.bitcoin.taproot import tap_tweak
from ticketdlc.crypto import bip340, musig2, musig_core
from ticketdlc.crypto.musig2 import NonceReuseError, SecNonce, SessionContext
from ticketdlc.crypto.secp import Point


@pytest.mark.parametrize("count", [1, 2, 5])
def test_plain_session_untweaked_and_taproot_tweaked(count: int) -> None:
    signers = make_signers(count)
    msg = os.urandom(32)
    sig, session = run_session(signers, msg)
    pubkeys = session.pubkeys
    assert bip340.verify(musig2.get_xonly_pk(musig2.key_agg(pubkeys)), msg, sig)

    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    tweak = tap_tweak(internal, os.urandom(32)).to_bytes(32, "big")
    sig, session = run_session(signers, msg, [tweak], [True])
    output_key = musig2.get_xonly_pk(musig2.key_agg_and_tweak(pubkeys, [tweak], [True]))
    assert bip340.verify(output_key, msg, sig)


def test_duplicate_keys_still_aggregate() -> None:
    signer = make_signers(1)[0]
    pubkeys = [signer.pk, signer.pk]
    # No second distinct key: both copies get the hashed coefficient a, so Q = 2a·P.
    a = musig2.key_agg_coeff(pubkeys, signer.pk)
    assert a != 1
    assert Point.from_bytes(signer.pk) * (2 * a) == musig2.key_agg(pubkeys).Q


def test_secnonce_is_single_use() -> None:
    signers = make_signers(2)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    signer = next(s for s in signers if s.pk == pubkeys[0])
    other = next(s for s in signers if s.pk == pubkeys[1])
    secnonce, pubnonce = musig2.nonce_gen(signer.sk, signer.pk, None, msg, None)
    _, other_pubnonce = musig2.nonce_gen(other.sk, other.pk, None, msg, None)
    session = SessionContext(musig2.nonce_agg([pubnonce, other_pubnonce]), pubkeys, [], [], msg)
    musig2.sign(secnonce, signer.sk, session)
    assert secnonce.used
    with pytest.raises(NonceReuseError):
        musig2.sign(secnonce, signer.sk, session)
    with pytest.raises(NonceReuseError):
        secnonce.to_bytes()
    # The reference form: a bytearray is zeroed on use and refused afterwards.
    fresh, fresh_pub = musig2.nonce_gen(signer.sk, signer.pk, None, msg, None)
    buffer = bytearray(fresh.to_bytes())
    session = SessionContext(musig2.nonce_agg([fresh_pub, other_pubnonce]), pubkeys, [], [], msg)
    musig2.sign(buffer, signer.sk, session)
    assert buffer[:64] == bytes(64)
    with pytest.raises(ValueError, match="out of range"):
        musig2.sign(buffer, signer.sk, session)
    # Immutable bytes cannot be consumed, so they are refused outright.
    with pytest.raises(TypeError):
        musig2.sign(bytes(97), signer.sk, session)  # type: ignore[arg-type]


def test_secnonce_cannot_be_copied() -> None:
    secnonce, _ = musig2.nonce_gen(None, make_signers(1)[0].pk, None, None, None)
    for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError):
            duplicate(secnonce)
    assert "used=False" in repr(secnonce)


def test_failed_session_does_not_burn_nonce() -> None:
    signer = make_signers(1)[0]
    secnonce, _ = musig2.nonce_gen(signer.sk, signer.pk, None, None, None)
    bad = SessionContext(b"\x04" + bytes(65), [signer.pk], [], [], b"")
    with pytest.raises(musig2.InvalidContributionError):
        musig2.sign(secnonce, signer.sk, bad)
    assert not secnonce.used


def test_wrong_secret_key_rejected() -> None:
    signer, stranger = make_signers(2)
    secnonce, pubnonce = musig2.nonce_gen(signer.sk, signer.pk, None, None, None)
    session = SessionContext(musig2.nonce_agg([pubnonce]), [signer.pk], [], [], b"m")
    with pytest.raises(ValueError, match="does not match"):
        musig2.sign(secnonce, stranger.sk, session)


def test_partial_signature_blame(verify_path: str) -> None:
    signers = make_signers(3)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    by_pk = {s.pk: s for s in signers}
    nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, None, msg, None) for pk in pubkeys]
    pairs = list(zip(nonces, pubkeys, strict=True))
    session = SessionContext(musig2.nonce_agg([p for _, p in nonces]), pubkeys, [], [], msg)
    psigs = [musig2.sign(s, by_pk[pk].sk, session) for (s, _), pk in pairs]
    forged = ((int.from_bytes(psigs[1], "big") + 1) % musig2.n).to_bytes(32, "big")
    assert not musig2.partial_sig_verify_internal(forged, nonces[1][1], pubkeys[1], session)
    assert not musig2.partial_sig_verify_internal(psigs[1], nonces[0][1], pubkeys[0], session)
    assert not musig2.partial_sig_verify_internal(psigs[1], b"\x02" * 66, pubkeys[1], session)
    with pytest.raises(ValueError, match="aggregate signature is invalid"):
        musig2.partial_sig_agg([psigs[0], forged, psigs[2]], session)


def test_crate_compatible_nonce_generation_is_deterministic() -> None:
    signer = make_signers(1)[0]
    seed = os.urandom(32)
    first, pub1 = musig2.nonce_gen_crate_compat(seed, signer.sk, signer.pk)
    second, pub2 = musig2.nonce_gen_crate_compat(seed, signer.sk, signer.pk)
    assert pub1 == pub2 and first.to_bytes() == second.to_bytes()
    assert musig2.nonce_gen_crate_compat(os.urandom(32), signer.sk, signer.pk)[1] != pub1


# -- interop with libsecp256k1's own MuSig2 module (coincurve's bundled build) -------------------

CTX = GLOBAL_CONTEXT.ctx


def _lib_pubkey(pk: bytes) -> object:
    parsed = ffi.new("secp256k1_pubkey *")
    assert lib.secp256k1_ec_pubkey_parse(CTX, parsed, pk, 33)
    return parsed


def _lib_pubnonce(data: bytes) -> object:
    parsed = ffi.new("secp256k1_musig_pubnonce *")
    assert lib.secp256k1_musig_pubnonce_parse(CTX, parsed, data)
    return parsed


def test_interop_with_libsecp256k1_musig(verify_path: str) -> None:
    ours, theirs = make_signers(2)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([ours.pk, theirs.pk])
    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    tweak = tap_tweak(internal, None).to_bytes(32, "big")

    cache = ffi.new("secp256k1_musig_keyagg_cache *")
    lib_keys = [_lib_pubkey(pk) for pk in pubkeys]
    assert lib.secp256k1_musig_pubkey_agg(
        CTX, ffi.NULL, cache, ffi.new("secp256k1_pubkey *[]", lib_keys), 2
    )
    tweaked = ffi.new("secp256k1_pubkey *")
    assert lib.secp256k1_musig_pubkey_xonly_tweak_add(CTX, tweaked, cache, tweak)
    xonly = ffi.new("secp256k1_xonly_pubkey *")
    lib.secp256k1_xonly_pubkey_from_pubkey(CTX, xonly, ffi.NULL, tweaked)
    out = ffi.new("unsigned char[32]")
    lib.secp256k1_xonly_pubkey_serialize(CTX, out, xonly)
    output_key = musig2.get_xonly_pk(musig2.key_agg_and_tweak(pubkeys, [tweak], [True]))
    assert bytes(out) == output_key

    their_secnonce = ffi.new("secp256k1_musig_secnonce *")
    their_pubnonce = ffi.new("secp256k1_musig_pubnonce *")
    assert lib.secp256k1_musig_nonce_gen(
        CTX,
        their_secnonce,
        their_pubnonce,
        os.urandom(32),
        theirs.sk,
        _lib_pubkey(theirs.pk),
        msg,
        cache,
        ffi.NULL,
    )
    pubnonce_out = ffi.new("unsigned char[66]")
    lib.secp256k1_musig_pubnonce_serialize(CTX, pubnonce_out, their_pubnonce)
    their_pubnonce_bytes = bytes(pubnonce_out)
    our_secnonce, our_pubnonce = musig2.nonce_gen(ours.sk, ours.pk, output_key, msg, None)

    by_pk = {ours.pk: our_pubnonce, theirs.pk: their_pubnonce_bytes}
    aggnonce = musig2.nonce_agg([by_pk[pk] for pk in pubkeys])
    session = SessionContext(aggnonce, pubkeys, [tweak], [True], msg)
    our_psig = musig2.sign(our_secnonce, ours.sk, session)

    lib_aggnonce = ffi.new("secp256k1_musig_aggnonce *")
    assert lib.secp256k1_musig_aggnonce_parse(CTX, lib_aggnonce, aggnonce)
    lib_session = ffi.new("secp256k1_musig_session *")
    assert lib.secp256k1_musig_nonce_process(CTX, lib_session, lib_aggnonce, msg, cache)
    keypair = ffi.new("secp256k1_keypair *")
    assert lib.secp256k1_keypair_create(CTX, keypair, theirs.sk)
    their_psig = ffi.new("secp256k1_musig_partial_sig *")
    assert lib.secp256k1_musig_partial_sign(
        CTX, their_psig, their_secnonce, keypair, cache, lib_session
    )
    psig_out = ffi.new("unsigned char[32]")
    lib.secp256k1_musig_partial_sig_serialize(CTX, psig_out, their_psig)
    their_psig_bytes = bytes(psig_out)

    # Each side verifies the other's partial signature.
    assert musig2.partial_sig_verify_internal(
        their_psig_bytes, their_pubnonce_bytes, theirs.pk, session
    )
    our_lib_psig = ffi.new("secp256k1_musig_partial_sig *")
    assert lib.secp256k1_musig_partial_sig_parse(CTX, our_lib_psig, our_psig)
    assert lib.secp256k1_musig_partial_sig_verify(
        CTX, our_lib_psig, _lib_pubnonce(our_pubnonce), _lib_pubkey(ours.pk), cache, lib_session
    )
    # Both aggregations agree and verify.
    psigs = {ours.pk: our_psig, theirs.pk: their_psig_bytes}
    ordered = [psigs[pk] for pk in pubkeys]
    sig = musig2.partial_sig_agg(ordered, session)
    lib_sig = ffi.new("unsigned char[64]")
    lib_psigs = []
    for psig in ordered:
        parsed = ffi.new("secp256k1_musig_partial_sig *")
        assert lib.secp256k1_musig_partial_sig_parse(CTX, parsed, psig)
        lib_psigs.append(parsed)
    assert lib.secp256k1_musig_partial_sig_agg(
        CTX, lib_sig, lib_session, ffi.new("secp256k1_musig_partial_sig *[]", lib_psigs), 2
    )
    assert bytes(lib_sig) == sig
    assert bip340.verify(output_key, msg, sig)


def test_secnonce_from_bytes_validates_length() -> None:
    with pytest.raises(ValueError, match="97 bytes"):
        SecNonce.from_bytes(bytes(96))


def test_libsecp256k1_session_layout_is_recognised() -> None:
    """With the pinned coincurve the fast verification path must be active."""
    assert musig_core._lib_layout_matches()


def test_both_verification_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    signers = make_signers(3)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    by_pk = {s.pk: s for s in signers}
    tweak = os.urandom(31).rjust(32, b"\x00")
    nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, None, msg, None) for pk in pubkeys]
    session = SessionContext(
        musig2.nonce_agg([p for _, p in nonces]), pubkeys, [tweak], [False], msg
    )
    psigs = [
        musig2.sign(s, by_pk[pk].sk, session) for (s, _), pk in zip(nonces, pubkeys, strict=True)
    ]
    cases = []
    for i, pk in enumerate(pubkeys):
        cases.append((psigs[i], nonces[i][1], pk, True))
        cases.append((psigs[i], nonces[(i + 1) % 3][1], pk, False))
        cases.append((psigs[(i + 1) % 3], nonces[i][1], pk, False))
    for path in (None, False):
        monkeypatch.setattr(musig_core, "_LIB_FAST_PATH", path)
        for psig, pubnonce, pk, expected in cases:
            assert musig2.partial_sig_verify_internal(psig, pubnonce, pk, session) is expected


@pytest.mark.parametrize("with_adaptor", [False, True])
def test_aggregate_session_equals_nonce_agg_then_session_values(with_adaptor: bool) -> None:
    signers = make_signers(3)
    msg = os.urandom(32)
    pubkeys = tuple(musig2.key_sort([s.pk for s in signers]))
    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    tweaks, is_xonly = (tap_tweak(internal, None).to_bytes(32, "big"),), (True,)
    pubnonces = [musig2.nonce_gen(s.sk, s.pk, None, msg, None)[1] for s in signers]
    adaptor = Point.from_secret(os.urandom(32)) if with_adaptor else None

    aggnonce, values = musig_core.aggregate_session(
        pubnonces, pubkeys, tweaks, is_xonly, msg, adaptor
    )

    assert aggnonce == musig2.nonce_agg(pubnonces)
    expected = musig2.session_values(
        SessionContext(aggnonce, pubkeys, tweaks, is_xonly, msg), adaptor
    )
    assert values == expected
    with pytest.raises(musig_core.InvalidContributionError):
        musig_core.aggregate_session([pubnonces[0][:65]], pubkeys, tweaks, is_xonly, msg)
