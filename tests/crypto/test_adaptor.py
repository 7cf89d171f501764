"""MuSig2 adaptor signatures (musig2-crate convention): round trips, parities, reference math."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.crypto import reference_ec as ref
from tests.crypto.signers import make_signers, run_session
from ticketdlc.bitcoin.taproot import tap_tweak
from ticketdlc.crypto import adaptor, bip340, musig2
from ticketdlc.crypto.secp import CURVE_ORDER, G, Point


def random_secret() -> bytes:
    return (int.from_bytes(os.urandom(32), "big") % (CURVE_ORDER - 1) + 1).to_bytes(32, "big")


@pytest.mark.parametrize("count", [2, 5])
def test_round_trip_random_keys_and_parities(count: int, verify_path: str) -> None:
    parities_seen: set[tuple[bool, bool]] = set()
    # Random keys and nonces until every (key parity, effective nonce parity) combination has
    # been through the round trip: about 8 sessions; missing one after 200 has odds of 2^-80.
    for _ in range(200):
        signers = make_signers(count)
        msg = os.urandom(32)
        secret = random_secret()
        point = adaptor.solo_adaptor_point(secret)
        pre, session = run_session(signers, msg, adaptor_point=point)
        assert len(pre) == 65
        xonly = musig2.get_xonly_pk(musig2.key_agg(session.pubkeys))
        assert adaptor.verify(xonly, msg, pre, point)
        assert not adaptor.verify(xonly, msg, pre, point + G)
        # The pre-signature is not a valid BIP-340 signature.
        assert not bip340.verify(xonly, msg, pre[1:33] + pre[33:])
        final = adaptor.adapt(pre, secret)
        assert bip340.verify(xonly, msg, final)
        assert adaptor.reveal_secret(pre, final, point) == secret
        assert adaptor.reveal_secret(pre, final) == secret
        wrong = adaptor.adapt(pre, (int.from_bytes(secret, "big") + 1).to_bytes(32, "big"))
        assert not bip340.verify(xonly, msg, wrong)
        assert adaptor.reveal_secret(pre, final, point + G) is None
        values = musig2.session_values(session, point)
        parities_seen.add((values.Q.has_even_y(), values.R_eff.has_even_y()))
        if len(parities_seen) == 4:
            break
    assert len(parities_seen) == 4


def test_tweaked_context_with_adaptor() -> None:
    signers = make_signers(3)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    internal = musig2.get_xonly_pk(musig2.key_agg(pubkeys))
    tweak = tap_tweak(internal, os.urandom(32)).to_bytes(32, "big")
    secret = random_secret()
    point = adaptor.solo_adaptor_point(secret)
    pre, _ = run_session(signers, msg, [tweak], [True], adaptor_point=point)
    output_key = musig2.get_xonly_pk(musig2.key_agg_and_tweak(pubkeys, [tweak], [True]))
    assert adaptor.verify(output_key, msg, pre, point)
    assert bip340.verify(output_key, msg, adaptor.adapt(pre, secret))


def test_no_adaptor_point_is_plain_musig2() -> None:
    signers = make_signers(2)
    msg = os.urandom(32)
    pubkeys = musig2.key_sort([s.pk for s in signers])
    by_pk = {s.pk: s for s in signers}
    nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, None, msg, None) for pk in pubkeys]
    pairs = list(zip(nonces, pubkeys, strict=True))
    stored = [secnonce.to_bytes() for secnonce, _ in nonces]
    session = musig2.SessionContext(musig2.nonce_agg([p for _, p in nonces]), pubkeys, [], [], msg)
    plain = [musig2.sign(s, by_pk[pk].sk, session) for (s, _), pk in pairs]
    as_adaptor = [
        adaptor.sign(musig2.SecNonce.from_bytes(raw), by_pk[pk].sk, session, bytes(33))
        for raw, pk in zip(stored, pubkeys, strict=True)
    ]
    assert plain == as_adaptor
    pre = adaptor.partial_sig_agg(as_adaptor, session, None)
    assert adaptor.adapt(pre, 0) == musig2.partial_sig_agg(plain, session)


def test_invalid_partial_adaptor_signature_detected(verify_path: str) -> None:
    signers = make_signers(2)
    msg = os.urandom(32)
    point = adaptor.solo_adaptor_point(random_secret())
    pubkeys = musig2.key_sort([s.pk for s in signers])
    by_pk = {s.pk: s for s in signers}
    nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, None, msg, None) for pk in pubkeys]
    pairs = list(zip(nonces, pubkeys, strict=True))
    session = musig2.SessionContext(musig2.nonce_agg([p for _, p in nonces]), pubkeys, [], [], msg)
    psigs = [adaptor.sign(s, by_pk[pk].sk, session, point) for (s, _), pk in pairs]
    # A partial signature made for another adaptor point (or none) does not verify.
    assert adaptor.partial_sig_verify_internal(psigs[0], nonces[0][1], pubkeys[0], session, point)
    assert not musig2.partial_sig_verify_internal(psigs[0], nonces[0][1], pubkeys[0], session)
    assert adaptor.partial_sig_verify(
        psigs[1], [p for _, p in nonces], pubkeys, [], [], msg, 1, point.to_bytes()
    )
    with pytest.raises(ValueError, match="invalid"):
        adaptor.partial_sig_agg([psigs[0], psigs[0]], session, point)


def test_malformed_adaptor_signatures() -> None:
    assert not adaptor.verify(bytes(32), b"m", bytes(65), None)
    with pytest.raises(adaptor.AdaptorError):
        adaptor.adapt(bytes(64), 1)
    with pytest.raises(adaptor.AdaptorError):
        adaptor.adapt(G.to_bytes() + CURVE_ORDER.to_bytes(32, "big"), 1)
    assert adaptor.reveal_secret(G.to_bytes() + bytes(32), bytes(63)) is None


# -- independent check of the crate convention with pure-Python curve arithmetic ---------------


def _th(tag: str, data: bytes) -> bytes:
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def test_partial_signature_matches_spec_formulas() -> None:
    """dlctix §2.3 computed from scratch: b without T, parity and challenge from R + T."""
    for _ in range(3):
        signers = make_signers(2)
        msg = os.urandom(32)
        t = _int(random_secret())
        T_ref = ref.mul(ref.G, t)
        pubkeys = musig2.key_sort([s.pk for s in signers])
        by_pk = {s.pk: s for s in signers}
        nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, None, msg, None) for pk in pubkeys]
        k_pairs = [(_int(s.to_bytes()[:32]), _int(s.to_bytes()[32:64])) for s, _ in nonces]
        session = musig2.SessionContext(
            musig2.nonce_agg([p for _, p in nonces]), pubkeys, [], [], msg
        )
        T = Point.from_bytes(ref.compress(T_ref))
        psig0 = adaptor.sign(nonces[0][0], by_pk[pubkeys[0]].sk, session, T)

        # Reference computation.
        points = [ref.mul(ref.G, _int(by_pk[pk].sk)) for pk in pubkeys]
        list_hash = _th("KeyAgg list", b"".join(pubkeys))
        coeffs = [
            1
            if pk == pubkeys[1] and pubkeys[1] != pubkeys[0]
            else _int(_th("KeyAgg coefficient", list_hash + pk)) % ref.N
            for pk in pubkeys
        ]
        Q = None
        for point, a in zip(points, coeffs, strict=True):
            Q = ref.add(Q, ref.mul(point, a))
        R1 = ref.add(ref.mul(ref.G, k_pairs[0][0]), ref.mul(ref.G, k_pairs[1][0]))
        R2 = ref.add(ref.mul(ref.G, k_pairs[0][1]), ref.mul(ref.G, k_pairs[1][1]))
        qx = ref.compress(Q)[1:]
        b = _int(_th("MuSig/noncecoef", ref.compress(R1) + ref.compress(R2) + qx + msg)) % ref.N
        R = ref.add(R1, ref.mul(R2, b))
        R_adapted = ref.add(R, T_ref)
        assert R_adapted is not None and Q is not None
        e = _int(_th("BIP0340/challenge", ref.compress(R_adapted)[1:] + qx + msg)) % ref.N
        k = (k_pairs[0][0] + b * k_pairs[0][1]) % ref.N
        if R_adapted[1] % 2:
            k = ref.N - k
        d = _int(by_pk[pubkeys[0]].sk)
        if Q[1] % 2:
            d = ref.N - d
        expected = (k + e * coeffs[0] * d) % ref.N
        assert _int(psig0) == expected
