"""Competition contracts: canonical player order, payouts by rank, and the oracle vectors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.bitcoin.kernel import verify_input
from tests.dlc.conftest import FUNDING, competition_entries, make_competition, make_party
from ticketdlc.competition import Announcement, EntryOrderError, OutcomeSpace, outcome_weights
from ticketdlc.competition.attestation import attest
from ticketdlc.contract import (
    EXPIRY,
    CompetitionContractError,
    CompetitionEntry,
    ContractLayout,
    Outcome,
    TicketedDLC,
    competition_contract_parameters,
    sign_contract_locally,
)
from ticketdlc.crypto.secp import Point


def entries_for(ids: list[uuid.UUID]) -> list[CompetitionEntry]:
    return competition_entries(make_party(len(ids), offset=500), ids)


def announcement(entries: int, places: int) -> Announcement:
    return Announcement.derive(
        OutcomeSpace(entries, places), Point.from_secret(0x11), Point.from_secret(0x22)
    )


def test_players_follow_entry_id_order() -> None:
    ids = [uuid.UUID(int=v) for v in (30, 10, 20)]
    entries = entries_for(ids)
    params = competition_contract_parameters(
        entries, announcement(3, 2), 900_000, 2, Point.from_secret(9), 300_000, 500, 6
    )
    by_id = sorted(entries, key=lambda e: e.entry_id.int)
    assert [p.pubkey for p in params.players] == [e.pubkey for e in by_id]
    assert params.layout is ContractLayout.OUTCOME_BOUND
    assert params.event.expiry == 900_000
    # Outcome 2 is the ranking [1, 0]: entry id 20 first, entry id 10 second.
    assert params.outcome_payouts[Outcome.attestation(2)] == {1: 60, 0: 40}
    refund = params.outcome_payouts[Outcome.attestation(6)]
    assert refund == {0: 34, 1: 33, 2: 33} == params.outcome_payouts[EXPIRY]
    assert len(params.outcome_payouts) == 7 + 1


def test_mismatched_entries_are_refused() -> None:
    ids = [uuid.UUID(int=v) for v in (1, 2, 3)]
    mm = Point.from_secret(9)
    with pytest.raises(CompetitionContractError, match="entries"):
        competition_contract_parameters(
            entries_for(ids), announcement(4, 2), None, 2, mm, 300_000, 500, 6
        )
    with pytest.raises(CompetitionContractError, match="places"):
        competition_contract_parameters(
            entries_for(ids), announcement(3, 2), None, 1, mm, 300_000, 500, 6
        )
    with pytest.raises(EntryOrderError):
        competition_contract_parameters(
            entries_for([ids[0], ids[0], ids[1]]), announcement(3, 2), None, 2, mm, 300_000, 500, 6
        )
    params = competition_contract_parameters(
        entries_for(ids), announcement(3, 2), None, 2, mm, 300_000, 500, 6
    )
    assert EXPIRY not in params.outcome_payouts


@pytest.mark.parametrize("layout", list(ContractLayout), ids=lambda layout: layout.value)
def test_competition_contract_signs_and_settles(layout: ContractLayout) -> None:
    comp = make_competition(4, 2, layout)
    signed = sign_contract_locally(comp.dlc, comp.party.all_secrets)
    index = comp.space.index_of((3, 1))
    attestation = attest(comp.oracle_secret, comp.nonce_secret, comp.space.message(index))
    assert signed.outcome_of_attestation(attestation) == Outcome.attestation(index)
    outcome_tx = signed.signed_outcome_tx(index, attestation)
    assert verify_input(outcome_tx, 0, [comp.dlc.funding_output])


@pytest.fixture(scope="module")
def oracle_vector(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "oracle" / "attestation.json").read_text())
    return data


def test_oracle_vectors_agree_with_the_contract(oracle_vector: dict[str, Any]) -> None:
    """Locking points from the announcement become the contract's event; the vector's
    attestation unlocks exactly the attested outcome's transaction."""
    oracle_pubkey = Point.from_bytes(bytes.fromhex(oracle_vector["oracle_pubkey"]))
    nonce_point = Point.from_bytes(bytes.fromhex(oracle_vector["nonce_point"]))
    for case in oracle_vector["cases"]:
        entries, places = case["entries"], case["places"]
        space = OutcomeSpace(entries, places)
        announced = Announcement.derive(space, oracle_pubkey, nonce_point)
        party = make_party(entries, offset=700)
        ids = [uuid.UUID(int=i + 1) for i in range(entries)]
        comp_entries = competition_entries(party, ids)
        params = competition_contract_parameters(
            comp_entries,
            announced,
            1_723_604_400,
            places,
            Point.from_secret(party.mm_secret),
            funding_value=entries * 100_000,
            fee_rate=500,
            relative_locktime_block_delta=6,
        )
        assert [p.hex() for p in params.event.locking_points if p is not None] == [
            o["locking_point"] for o in case["outcomes"]
        ]
        dlc = TicketedDLC.new(params, FUNDING)
        signed = sign_contract_locally(dlc, party.all_secrets)
        attestation = bytes.fromhex(case["attestation_scalar"])
        index = case["attested_index"]
        assert signed.outcome_of_attestation(int.from_bytes(attestation, "big")) == (
            Outcome.attestation(index)
        )
        assert space.ranking(index) == tuple(case["attested_ranking"])
        weights = params.outcome_payouts[Outcome.attestation(index)]
        assert dict(weights) == outcome_weights(space, index)
        outcome_tx = signed.signed_outcome_tx(index, attestation)
        assert verify_input(outcome_tx, 0, [dlc.funding_output])
