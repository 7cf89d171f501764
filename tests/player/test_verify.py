"""A player verifies its own payout paths from the public contract."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.player.verify import ExpectedTerms, verify_payout_paths, verify_signed_contract
from tests.conftest import free_port
from tests.player.contracts import LocalCompetition, build_competition
from tests.support.chain import ChainHandle, running_chain
from ticketdlc.contract import ContractSignatures, Outcome
from ticketdlc.contract.types import Player
from ticketdlc.crypto.secp import Point

EARLIEST = uuid.UUID(int=(7 << 76) | (2 << 62))  # a version-7 id older than every other


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


@pytest.fixture(scope="module")
def comp(chain: ChainHandle) -> LocalCompetition:
    return build_competition(chain, 4, 2, delta=3, anchor_sats=240)


def expected(comp: LocalCompetition, **changes: object) -> ExpectedTerms:
    terms = ExpectedTerms(
        entries=4,
        places=2,
        funding_value=comp.signed.params.funding_value,
        relative_locktime_block_delta=3,
        entry_ids=[k.entry_id for k in reversed(comp.keys)],
        oracle_pubkey=comp.oracle_pubkey,
        nonce_point=comp.nonce_point,
        expiry=comp.expiry,
    )
    return dataclasses.replace(terms, **changes)  # type: ignore[arg-type]


def player_args(comp: LocalCompetition, index: int) -> dict[str, object]:
    import hashlib

    keys = comp.keys[index]
    return {
        "entry_id": keys.entry_id,
        "entry_pubkey": keys.pubkey,
        "ticket_hash": hashlib.sha256(comp.tickets[index]).digest(),
        "payout_hash": keys.payout_hash,
    }


def test_honest_contract_passes_every_check(comp: LocalCompetition) -> None:
    signed = comp.signed
    report = verify_signed_contract(
        signed.to_json(), **player_args(comp, 1), expected=expected(comp),
        funding_tx=comp.funding_tx,
    )  # fmt: skip
    assert report.ok, report.render()
    names = [c.name for c in report.checks]
    assert names == [
        "contract rebuilds", "player key in contract", "ticket hash", "payout hash",
        "player order", "funding value", "relative timelock", "anchor", "players",
        "outcome space",
        "payout weights", "locking points", "expiry", "outcome and split transactions",
        "signatures", "funding transaction",
    ]  # fmt: skip
    # Player 1 wins in every ranking that names it (first or second), refund-all and expiry.
    rankings = [r for r in comp.space.rankings() if 1 in r[:2] and len(r) == 2]
    assert len(report.payouts) == len(rankings) + 2
    by_outcome = {p.outcome: p for p in report.payouts}
    first = Outcome.attestation(comp.space.index_of((1, 0)))
    second = Outcome.attestation(comp.space.index_of((0, 1)))
    assert (by_outcome[first].weight, by_outcome[second].weight) == (60, 40)
    assert by_outcome[first].split_value > by_outcome[second].split_value
    text = report.render()
    assert "all checks passed" in text and "weight 60/100" in text


def test_tampered_terms_are_named(comp: LocalCompetition) -> None:
    signed = comp.signed
    params = signed.params
    args = player_args(comp, 0)
    # A coordinator that swapped the weights of one outcome.
    payouts = {o: dict(w) for o, w in params.outcome_payouts.items()}
    swapped = Outcome.attestation(0)
    payouts[swapped] = {player: 100 - weight for player, weight in payouts[swapped].items()}
    tampered = dataclasses.replace(params, outcome_payouts=payouts)
    report = verify_payout_paths(
        tampered, str(signed.dlc.funding_outpoint), signed.signatures, **args,
        expected=expected(comp),
    )  # fmt: skip
    failed = {c.name for c in report.failures()}
    assert "payout weights" in failed and "signatures" in failed
    # Another payout hash for this player.
    players = list(params.players)
    players[0] = Player(players[0].pubkey, players[0].ticket_hash, b"\x01" * 32)
    report = verify_payout_paths(
        dataclasses.replace(params, players=tuple(players)), str(signed.dlc.funding_outpoint),
        signed.signatures, **args, expected=expected(comp),
    )  # fmt: skip
    assert "payout hash" in {c.name for c in report.failures()}
    # Locking points of another oracle nonce.
    report = verify_payout_paths(
        params, str(signed.dlc.funding_outpoint), signed.signatures, **args,
        expected=expected(comp, nonce_point=Point.from_secret(12345)),
    )  # fmt: skip
    assert {c.name for c in report.failures()} == {"locking points"}
    # Wrong pool, Δ and a player order that puts this entry elsewhere.
    report = verify_payout_paths(
        params, str(signed.dlc.funding_outpoint), signed.signatures, **args,
        expected=expected(
            comp, funding_value=1, relative_locktime_block_delta=4,
            entry_ids=[EARLIEST, *(k.entry_id for k in comp.keys[:3])],
        ),
    )  # fmt: skip
    assert {c.name for c in report.failures()} == {
        "funding value",
        "relative timelock",
        "player order",
    }


def test_bad_signature_and_foreign_funding(comp: LocalCompetition, chain: ChainHandle) -> None:
    signed = comp.signed
    sigs = signed.signatures
    wins = signed.params.win_conditions_claimable_by(comp.keys[2].pubkey) or []
    target = wins[0]
    broken = dict(sigs.split_tx_signatures)
    broken[target] = bytes(reversed(broken[target][:32])) + broken[target][32:]
    bad = ContractSignatures(sigs.expiry_tx_signature, sigs.outcome_tx_signatures, broken)
    other = build_competition(chain, 4, 2, delta=3)
    report = verify_payout_paths(
        signed.params, str(signed.dlc.funding_outpoint), bad, **player_args(comp, 2),
        expected=expected(comp), funding_tx=other.funding_tx,
    )  # fmt: skip
    failures = {c.name: c.detail for c in report.failures()}
    assert set(failures) == {"signatures", "funding transaction"}
    assert str(target) in failures["signatures"]
    # Not in the contract at all.
    stranger = other.keys[0]
    report = verify_payout_paths(
        signed.params, str(signed.dlc.funding_outpoint), sigs, entry_id=stranger.entry_id,
        entry_pubkey=stranger.pubkey, ticket_hash=b"\x00" * 32,
        payout_hash=stranger.payout_hash, expected=expected(comp),
    )  # fmt: skip
    assert not report.ok and report.player_index is None
    assert "not one of the contract's players" in report.render()
