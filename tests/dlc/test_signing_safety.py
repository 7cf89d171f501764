"""The safety rules of signing: one partial-signature formula, self-verification where it is
cheap, batch verification that catches a faulty bulk signer, and single-use sessions."""

from __future__ import annotations

import copy
import os
import pickle

import pytest

from tests.dlc.conftest import COMPAT_SECRETS
from ticketdlc.contract import (
    CoordinatorSession,
    InvalidPartialSignatureError,
    InvalidSignatureError,
    SignerSession,
    SigningError,
    TicketedDLC,
    engine,
    sign_contract_locally,
)
from ticketdlc.crypto import musig2, musig_core
from ticketdlc.crypto.secp import Point

MM, P0, P1, P2 = COMPAT_SECRETS


def _faulty_for(victim_weighted: set[int]):
    """A partial-signature primitive that is off by one for the given weighted secrets."""
    real = musig_core.partial_signature_scalar

    def faulty(k1: int, k2: int, b: int, e: int, weighted: int, negate: bool) -> int:
        s = real(k1, k2, b, e, weighted, negate)
        return (s + 1) % musig2.n if weighted in victim_weighted else s

    return faulty


def test_single_signatures_are_verified_before_they_are_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = [os.urandom(32) for _ in range(2)]
    pubkeys = musig2.key_sort([musig2.individual_pk(sk) for sk in secrets])
    msg = b"m" * 32
    nonces = [musig2.nonce_gen(sk, musig2.individual_pk(sk), None, msg, None) for sk in secrets]
    aggnonce = musig2.nonce_agg([pubnonce for _, pubnonce in nonces])
    session = musig2.SessionContext(aggnonce, pubkeys, (), (), msg)
    assert len(musig2.sign(nonces[0][0], secrets[0], session)) == 32
    monkeypatch.setattr(musig_core, "partial_signature_scalar", lambda *args: 1 + musig_core.n // 2)
    with pytest.raises(ValueError, match="does not verify"):
        musig2.sign(nonces[1][0], secrets[1], session)


def test_a_faulty_bulk_signer_is_caught_by_the_batch_verification(
    compat_dlc: TicketedDLC, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk round 2 does not check its own output; the aggregator's batch check does,
    and names the signer."""
    coordinator = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    aggnonces = coordinator.aggregate_nonces(signer.public_nonces())
    victim = Point.from_secret(P1).to_bytes()
    plan = compat_dlc.signing_plan()
    weighted = set()
    for keys in plan.contexts:
        if victim in keys:
            agg = musig2.key_agg(keys).Q
            sign = 1 if agg.has_even_y() else musig2.n - 1
            coefficient = musig2.key_agg_coeff(keys, victim)
            weighted.add(coefficient * sign * int.from_bytes(P1, "big") % musig2.n)
    monkeypatch.setattr(engine, "partial_signature_scalar", _faulty_for(weighted))
    psigs = signer.partial_signatures(aggnonces)
    with pytest.raises(InvalidPartialSignatureError) as info:
        coordinator.aggregate_signatures(psigs)
    assert list(info.value.blamed) == [victim]


def test_a_faulty_local_signer_is_caught_before_the_contract_counts_as_signed(
    compat_dlc: TicketedDLC, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = musig_core.partial_signature_scalar

    def faulty_once(*args: int) -> int:
        nonlocal calls
        calls += 1
        return real(*args) + (1 if calls == 7 else 0)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "partial_signature_scalar", faulty_once)
    with pytest.raises(InvalidSignatureError):
        sign_contract_locally(compat_dlc, COMPAT_SECRETS)
    monkeypatch.undo()
    sign_contract_locally(compat_dlc, COMPAT_SECRETS)


def test_sessions_cannot_be_serialized_or_copied(compat_dlc: TicketedDLC) -> None:
    for session in (SignerSession(compat_dlc, [P0, P1]), CoordinatorSession(compat_dlc, [MM])):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(session)
        with pytest.raises(TypeError, match="cannot be copied"):
            copy.copy(session)
        with pytest.raises(TypeError, match="cannot be copied"):
            copy.deepcopy(session)


def test_a_signer_session_signs_once(compat_dlc: TicketedDLC) -> None:
    coordinator = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    aggnonces = coordinator.aggregate_nonces(signer.public_nonces())
    signer.partial_signatures(aggnonces)
    with pytest.raises(SigningError, match="already produced"):
        signer.partial_signatures(aggnonces)
    # A new session over the same contract draws a new seed: new nonces for every entry.
    again = SignerSession(compat_dlc, [P0, P1, P2]).public_nonces()
    first = signer.public_nonces()
    for pubkey, sigmap in again.items():
        assert set(sigmap.by_outcome.values()).isdisjoint(first[pubkey].by_outcome.values())


def test_per_session_nonces_are_bound_to_seed_key_message_and_entry() -> None:
    seed, sk = os.urandom(32), os.urandom(32)
    pk = Point.from_secret(sk).to_bytes()
    msg = os.urandom(32)
    base = engine.derive_nonce(seed, sk, pk, msg, 3)
    assert engine.derive_nonce(seed, sk, pk, msg, 3) == base  # recomputable in a worker
    variants = [
        engine.derive_nonce(os.urandom(32), sk, pk, msg, 3),
        engine.derive_nonce(seed, os.urandom(32), pk, msg, 3),
        engine.derive_nonce(seed, sk, pk, os.urandom(32), 3),
        engine.derive_nonce(seed, sk, pk, msg, 4),
    ]
    values = {k for pair in [base, *variants] for k in pair}
    assert len(values) == 10
