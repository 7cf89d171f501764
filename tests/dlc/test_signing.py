"""Signing sessions: per-signer sigmaps, nonce and signature aggregation, blame, verification."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.dlc.conftest import COMPAT_SECRETS, make_competition
from ticketdlc.contract import (
    EXPIRY,
    ContractLayout,
    ContractSignatures,
    CoordinatorSession,
    InvalidPartialSignatureError,
    InvalidSignatureError,
    Outcome,
    SignedContract,
    SignerSession,
    SigningError,
    TicketedDLC,
    WinCondition,
    engine,
    sigmap_keys_for,
    sign_contract_locally,
    signing_data,
)
from ticketdlc.contract.jsoncodec import dumps_compact, loads
from ticketdlc.crypto import adaptor, bip340, musig2
from ticketdlc.crypto.secp import Point

MM, P0, P1, P2 = COMPAT_SECRETS


def pub(secret: bytes) -> bytes:
    return Point.from_secret(secret).to_bytes()


def run_protocol(dlc: TicketedDLC, coordinator: list[bytes], others: list[bytes]) -> SignedContract:
    coord = CoordinatorSession(dlc, coordinator)
    signer = SignerSession(dlc, others)
    aggnonces = coord.aggregate_nonces(signer.public_nonces())
    return coord.aggregate_signatures(signer.partial_signatures(aggnonces))


def test_sigmaps_per_signer(compat_dlc: TicketedDLC) -> None:
    params = compat_dlc.params
    mm = sigmap_keys_for(params, Point.from_secret(MM))
    assert mm is not None and len(mm.by_outcome) == 3 and len(mm.by_win_condition) == 6
    player1 = sigmap_keys_for(params, Point.from_secret(P1))
    assert player1 is not None
    assert [str(w) for w in player1.by_win_condition] == [
        "att1:p1",
        "att1:p2",
        "exp:p0",
        "exp:p1",
        "exp:p2",
    ]
    assert sigmap_keys_for(params, Point.from_secret(99)) is None
    nonces = SignerSession(compat_dlc, [P1]).public_nonces()
    assert nonces[pub(P1)].is_mirror(player1)


def test_local_and_protocol_signing_give_valid_contracts(compat_dlc: TicketedDLC) -> None:
    for signed in (
        sign_contract_locally(compat_dlc, COMPAT_SECRETS),
        run_protocol(compat_dlc, [MM], [P0, P1, P2]),
        run_protocol(compat_dlc, [MM, P2], [P0, P1]),
    ):
        sigs = signed.signatures
        assert len(sigs.outcome_tx_signatures) == 2 and len(sigs.split_tx_signatures) == 6
        assert sigs.expiry_tx_signature is not None
        assert bip340.verify(
            compat_dlc.funding.keys.xonly,
            compat_dlc.outcome_sighashes[EXPIRY],
            sigs.expiry_tx_signature,
        )
        for win, sig in sigs.split_tx_signatures.items():
            keys = compat_dlc.outcome_infos[win.outcome].keys
            assert bip340.verify(keys.xonly, compat_dlc.split_sighashes[win], sig)


def test_engine_partial_signatures_equal_the_musig2_module(compat_dlc: TicketedDLC) -> None:
    """Our batched arithmetic gives exactly the partial signatures of BIP-327 ``Sign``."""
    plan = compat_dlc.signing_plan()
    seed = b"\x07" * 32
    signers = [(pub(sk), sk, seed) for sk in COMPAT_SECRETS]
    contexts = dict(enumerate(plan.contexts))
    nonce_tasks = [(i, e.sighash, plan.entry_contexts[i]) for i, e in enumerate(plan.entries)]
    pubnonces = engine.public_nonces_chunk(contexts, nonce_tasks, signers)
    aggnonces = engine.aggregate_nonces_chunk(pubnonces)
    tasks = [
        (
            i,
            e.sighash,
            plan.entry_contexts[i],
            None if e.adaptor is None else e.adaptor.to_bytes(),
            aggnonces[i],
        )
        for i, e in enumerate(plan.entries)
    ]
    results = engine.partial_signatures_chunk(contexts, tasks, signers)
    local = engine.sign_locally_chunk(
        contexts, [t[:4] for t in tasks], {pub(sk): sk for sk in COMPAT_SECRETS}, seed
    )
    for i, entry in enumerate(plan.entries):
        keys = plan.contexts[plan.entry_contexts[i]]
        members = [s for s in signers if s[0] in keys]
        aggnonce = aggnonces[i]
        assert isinstance(aggnonce, bytes)
        session = musig2.SessionContext(aggnonce, keys, (), (), entry.sighash)
        total = 0
        for (pk, sk, _), pubnonce, psig in zip(members, pubnonces[i], results[i][1], strict=True):
            k1, k2 = engine.derive_nonce(seed, sk, pk, entry.sighash, i)
            assert pubnonce == engine.public_nonce(k1, k2)
            expected = adaptor.sign(musig2.SecNonce(k1, k2, pk), sk, session, entry.adaptor)
            assert psig == expected
            assert adaptor.partial_sig_verify_internal(psig, pubnonce, pk, session, entry.adaptor)
            total += int.from_bytes(psig, "big")
        # The one-pass local signer reaches the same final nonce and aggregate scalar.
        assert local[i] == (results[i][0], total % musig2.n)


def test_tampered_partial_signature_is_blamed_on_its_signer(compat_dlc: TicketedDLC) -> None:
    coord = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    aggnonces = coord.aggregate_nonces(signer.public_nonces())
    psigs = signer.partial_signatures(aggnonces)
    victim = pub(P1)
    win = WinCondition(Outcome.attestation(1), 2)
    good = psigs[victim].by_win_condition[win]
    psigs[victim].by_win_condition[win] = ((int.from_bytes(good, "big") + 1) % musig2.n).to_bytes(
        32, "big"
    )
    with pytest.raises(InvalidPartialSignatureError) as info:
        coord.verify_partial_signatures(victim, psigs[victim])
    assert info.value.blamed == {victim: ["att1:p2"]}
    coord.verify_partial_signatures(pub(P2), psigs[pub(P2)])
    with pytest.raises(InvalidPartialSignatureError) as info:
        coord.aggregate_signatures(psigs)
    assert info.value.blamed == {victim: ["att1:p2"]}


def test_adaptor_partial_signature_tampering_is_blamed(compat_dlc: TicketedDLC) -> None:
    coord = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    psigs = signer.partial_signatures(coord.aggregate_nonces(signer.public_nonces()))
    victim = pub(P0)
    psigs[victim].by_outcome[Outcome.attestation(0)] = bytes(31) + b"\x05"
    with pytest.raises(InvalidPartialSignatureError) as info:
        coord.aggregate_signatures(psigs, verify_each=True)
    assert info.value.blamed == {victim: ["att0"]}


def test_incomplete_or_foreign_maps_are_refused(compat_dlc: TicketedDLC) -> None:
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    nonces = signer.public_nonces()
    missing_signer = {k: v for k, v in nonces.items() if k != pub(P2)}
    with pytest.raises(SigningError, match="no public nonces"):
        CoordinatorSession(compat_dlc, [MM]).aggregate_nonces(missing_signer)
    short = dict(nonces)
    short_map = short[pub(P1)]
    short[pub(P1)] = dataclasses.replace(
        short_map, by_win_condition={k: v for k, v in list(short_map.by_win_condition.items())[1:]}
    )
    with pytest.raises(SigningError, match="do not match its sigmap"):
        CoordinatorSession(compat_dlc, [MM]).aggregate_nonces(short)
    extra = dict(nonces)
    extra[pub(P0)] = dataclasses.replace(
        extra[pub(P0)],
        by_win_condition={
            **extra[pub(P0)].by_win_condition,
            WinCondition(Outcome.attestation(1), 1): bytes(66),
        },
    )
    with pytest.raises(SigningError, match="do not match its sigmap"):
        CoordinatorSession(compat_dlc, [MM]).aggregate_nonces(extra)
    with pytest.raises(SigningError, match="not a signer"):
        SignerSession(compat_dlc, [(99).to_bytes(32, "big")])
    bad_nonce = dict(nonces)
    bad_nonce[pub(P0)] = dataclasses.replace(
        bad_nonce[pub(P0)],
        by_outcome={**bad_nonce[pub(P0)].by_outcome, EXPIRY: b"\x02" + bytes(65)},
    )
    with pytest.raises(InvalidPartialSignatureError) as info:
        CoordinatorSession(compat_dlc, [MM]).aggregate_nonces(bad_nonce)
    assert list(info.value.blamed) == [pub(P0)]


def test_sessions_are_single_use(compat_dlc: TicketedDLC) -> None:
    coord = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    with pytest.raises(SigningError, match="public nonces before"):
        SignerSession(compat_dlc, [P0]).partial_signatures(coord.signer.public_nonces()[pub(MM)])
    aggnonces = coord.aggregate_nonces(signer.public_nonces())
    signer.partial_signatures(aggnonces)
    with pytest.raises(SigningError, match="already produced"):
        signer.partial_signatures(aggnonces)
    with pytest.raises(SigningError, match="already aggregated"):
        coord.aggregate_nonces(signer.public_nonces())


def test_one_wrong_aggregated_signature_is_refused(compat_dlc: TicketedDLC) -> None:
    signed = sign_contract_locally(compat_dlc, COMPAT_SECRETS)
    sigs = signed.signatures
    SignedContract.verified(compat_dlc, sigs)
    win = WinCondition(Outcome.attestation(1), 1)
    other = sigs.split_tx_signatures[WinCondition(EXPIRY, 1)]
    swapped = ContractSignatures(
        sigs.expiry_tx_signature,
        dict(sigs.outcome_tx_signatures),
        {**sigs.split_tx_signatures, win: other},
    )
    with pytest.raises(InvalidSignatureError, match="att1:p1"):
        SignedContract.verified(compat_dlc, swapped)
    # Adaptor signature of another outcome.
    crossed = ContractSignatures(
        sigs.expiry_tx_signature,
        {0: sigs.outcome_tx_signatures[1], 1: sigs.outcome_tx_signatures[1]},
        dict(sigs.split_tx_signatures),
    )
    with pytest.raises(InvalidSignatureError, match="att0"):
        SignedContract.verified(compat_dlc, crossed)
    missing = ContractSignatures(
        None, dict(sigs.outcome_tx_signatures), dict(sigs.split_tx_signatures)
    )
    with pytest.raises(InvalidSignatureError, match="missing"):
        SignedContract.verified(compat_dlc, missing)
    # A player only relies on its own outcomes: player 0 never wins att1.
    player0 = Point.from_secret(P0)
    SignedContract.verified(compat_dlc, swapped, player0)
    pruned = signed.pruned_signatures(player0)
    assert set(pruned.outcome_tx_signatures) == {0}
    assert set(pruned.split_tx_signatures) == {
        WinCondition(Outcome.attestation(0), 0),
        WinCondition(EXPIRY, 0),
    }
    SignedContract.verified(compat_dlc, pruned, player0)


def test_signed_contract_json_round_trip_verifies(compat_dlc: TicketedDLC) -> None:
    signed = sign_contract_locally(compat_dlc, COMPAT_SECRETS)
    text = dumps_compact(signed.to_json())
    again = SignedContract.from_json(loads(text))
    assert dumps_compact(again.to_json()) == text
    assert list(json.loads(text)) == ["signatures", "dlc"]
    obj = json.loads(text)
    assert list(obj["signatures"]["outcome_tx_signatures"]) == ["0", "1"]
    sig = obj["signatures"]["split_tx_signatures"]["exp:p2"]
    obj["signatures"]["split_tx_signatures"]["exp:p2"] = sig[:-2] + (
        "00" if sig[-2:] != "00" else "01"
    )
    with pytest.raises(InvalidSignatureError):
        SignedContract.from_json(obj)


def test_signing_data_for_external_signers(compat_dlc: TicketedDLC) -> None:
    data = signing_data(compat_dlc)
    assert data.total_signature_count == 9
    assert set(data.adaptor_points) == {0, 1}
    assert data.funding_agg_pubkey == compat_dlc.funding.keys.aggregate
    obj = data.to_json()
    assert list(obj) == [
        "outcome_sighashes",
        "adaptor_points",
        "split_sighashes",
        "funding_signers",
        "funding_agg_pubkey",
        "split_signers",
        "split_agg_pubkeys",
    ]
    assert obj["outcome_sighashes"]["att0"] == list(
        compat_dlc.outcome_sighashes[Outcome.attestation(0)]
    )
    assert obj["funding_signers"] == sorted(obj["funding_signers"])
    assert len(obj["split_signers"]["att1"]) == 3


def test_process_pool_signing_and_blame() -> None:
    competition = make_competition(4, 2, ContractLayout.OUTCOME_BOUND)
    with engine.process_pool(2) as pool:
        signed = sign_contract_locally(
            competition.dlc, competition.party.all_secrets, executor=pool, chunk_size=16
        )
        coord = CoordinatorSession(
            competition.dlc, [competition.party.mm_secret], executor=pool, chunk_size=16
        )
        signer = SignerSession(
            competition.dlc, competition.party.player_secrets, executor=pool, chunk_size=16
        )
        aggnonces = coord.aggregate_nonces(signer.public_nonces())
        psigs = signer.partial_signatures(aggnonces)
        protocol = coord.aggregate_signatures(psigs, verify_each=True)
        victim = competition.party.player_pubkey(3)
        outcome = Outcome.attestation(competition.space.index_of((3, 0)))
        psigs[victim].by_outcome[outcome] = bytes(32)
        with pytest.raises(InvalidPartialSignatureError) as info:
            coord.aggregate_signatures(psigs)
        assert info.value.blamed == {victim: [str(outcome)]}
    assert len(signed.signatures.outcome_tx_signatures) == competition.space.count
    assert len(protocol.signatures.split_tx_signatures) == len(competition.dlc.split_sighashes)


def test_malformed_aggregate_nonces_are_refused(compat_dlc: TicketedDLC) -> None:
    coord = CoordinatorSession(compat_dlc, [MM])
    signer = SignerSession(compat_dlc, [P0, P1, P2])
    aggnonces = coord.aggregate_nonces(signer.public_nonces())
    x = next(x for x in range(1, 100) if not _on_curve(b"\x02" + x.to_bytes(32, "big")))
    bad = dataclasses.replace(
        aggnonces,
        by_outcome={**aggnonces.by_outcome, EXPIRY: b"\x02" + x.to_bytes(32, "big") + bytes(33)},
    )
    with pytest.raises(SigningError, match="invalid aggregate nonce"):
        signer.partial_signatures(bad)
    fresh = SignerSession(compat_dlc, [P0])
    fresh.public_nonces()
    with pytest.raises(SigningError, match="missing aggregate nonce"):
        fresh.partial_signatures(dataclasses.replace(aggnonces, by_outcome={}))


def _on_curve(data: bytes) -> bool:
    try:
        Point.from_bytes(data)
    except ValueError:
        return False
    return True
