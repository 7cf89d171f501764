"""Settlement spends, checked by Bitcoin Core's script interpreter (py-bitcoinkernel)."""

from __future__ import annotations

import pytest

from tests.bitcoin.kernel import verify_input
from tests.dlc.conftest import FUNDING, Party, make_params, make_party
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut
from ticketdlc.contract import (
    EXPIRY,
    ContractLayout,
    Outcome,
    SignedContract,
    Spend,
    SpendError,
    TicketedDLC,
    WinCondition,
    sign_contract_locally,
)
from ticketdlc.crypto.secp import Point

A0, A1 = Outcome.attestation(0), Outcome.attestation(1)
LOCK_SECRETS = (14, 15)
SINK = p2tr_script(Point.from_secret(77).xonly())


@pytest.fixture(scope="module", params=list(ContractLayout), ids=lambda layout: layout.value)
def contract(request: pytest.FixtureRequest) -> tuple[Party, SignedContract]:
    party = make_party(3, offset=40)
    payouts = {A0: {0: 1, 1: 2, 2: 1}, A1: {1: 3, 2: 1}, EXPIRY: {0: 1}}
    points = [Point.from_secret(s) for s in LOCK_SECRETS]
    params = make_params(party, payouts, points, delta=25, layout=request.param)
    dlc = TicketedDLC.new(params, FUNDING)
    return party, sign_contract_locally(dlc, party.all_secrets)


def spend(txin: TxIn, prevout: TxOut, fee: int = 2_000) -> Transaction:
    return Transaction(2, [txin], [TxOut(prevout.value - fee, SINK)], 0)


def test_outcome_and_expiry_transactions(contract: tuple[Party, SignedContract]) -> None:
    _, signed = contract
    funding = [signed.dlc.funding_output]
    outcome_tx = signed.signed_outcome_tx(1, LOCK_SECRETS[1])
    assert verify_input(outcome_tx, 0, funding)
    assert signed.outcome_of_attestation(LOCK_SECRETS[1]) == A1
    with pytest.raises(SpendError, match="does not unlock"):
        signed.signed_outcome_tx(0, LOCK_SECRETS[1])
    expiry_tx = signed.expiry_tx()
    assert expiry_tx is not None and expiry_tx.locktime == 800_000
    assert expiry_tx.inputs[0].sequence == 0xFFFF_FFFE
    assert verify_input(expiry_tx, 0, funding)


def test_split_transaction_needs_the_ticket_preimage(
    contract: tuple[Party, SignedContract],
) -> None:
    party, signed = contract
    win = WinCondition(A0, 2)
    split = signed.signed_split_tx(win, party.tickets[2])
    assert split.inputs[0].sequence == 25
    assert verify_input(split, 0, [signed.dlc.outcome_txs[A0].outputs[0]])
    with pytest.raises(SpendError, match="ticket preimage"):
        signed.signed_split_tx(win, party.tickets[1])
    with pytest.raises(SpendError, match="no win condition"):
        signed.signed_split_tx(WinCondition(A1, 0), party.tickets[0])


def test_spends_of_the_split_outputs(contract: tuple[Party, SignedContract]) -> None:
    party, signed = contract
    win = WinCondition(A0, 1)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    assert txin.sequence == 25 and txin.prevout.vout == 1
    tx = signed.sign_spend(
        Spend.SPLIT_WIN,
        win,
        spend(txin, prevout),
        0,
        [prevout],
        preimage=party.tickets[1],
        player_secret=party.player_secrets[1],
    )
    assert verify_input(tx, 0, [prevout])
    assert len(tx.inputs[0].witness[3]) == 97

    txin, prevout = signed.spend_input(Spend.SPLIT_RECLAIM, win)
    assert txin.sequence == 50
    tx = signed.sign_spend(
        Spend.SPLIT_RECLAIM, win, spend(txin, prevout), 0, [prevout], mm_secret=party.mm_secret
    )
    assert verify_input(tx, 0, [prevout])

    txin, prevout = signed.spend_input(Spend.SPLIT_SELLBACK, win)
    tx = signed.sign_spend(
        Spend.SPLIT_SELLBACK,
        win,
        spend(txin, prevout),
        0,
        [prevout],
        preimage=party.payouts[1],
        mm_secret=party.mm_secret,
    )
    assert verify_input(tx, 0, [prevout])
    assert len(tx.inputs[0].witness[3]) == 65

    txin, prevout = signed.spend_input(Spend.SPLIT_CLOSE, win)
    tx = signed.sign_spend(
        Spend.SPLIT_CLOSE,
        win,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secret=party.player_secrets[1],
    )
    assert verify_input(tx, 0, [prevout])
    assert len(tx.inputs[0].witness) == 1


def test_spends_of_the_outcome_and_funding_outputs(contract: tuple[Party, SignedContract]) -> None:
    party, signed = contract
    txin, prevout = signed.spend_input(Spend.OUTCOME_RECLAIM, A1)
    assert txin.sequence == 50
    tx = signed.sign_spend(
        Spend.OUTCOME_RECLAIM, A1, spend(txin, prevout), 0, [prevout], mm_secret=party.mm_secret
    )
    assert verify_input(tx, 0, [prevout])

    winners = {party.player_pubkey(i): party.player_secrets[i] for i in (1, 2)}
    txin, prevout = signed.spend_input(Spend.OUTCOME_CLOSE, A1)
    tx = signed.sign_spend(
        Spend.OUTCOME_CLOSE,
        A1,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secrets=winners,
    )
    assert verify_input(tx, 0, [prevout])
    with pytest.raises(SpendError, match="missing the secret key"):
        signed.sign_spend(
            Spend.OUTCOME_CLOSE,
            A0,
            spend(*signed.spend_input(Spend.OUTCOME_CLOSE, A0)),
            0,
            [signed.spend_input(Spend.OUTCOME_CLOSE, A0)[1]],
            mm_secret=party.mm_secret,
            player_secrets=winners,
        )

    everyone = {party.player_pubkey(i): party.player_secrets[i] for i in range(3)}
    txin, prevout = signed.spend_input(Spend.FUNDING_CLOSE)
    tx = signed.sign_spend(
        Spend.FUNDING_CLOSE,
        None,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secrets=everyone,
    )
    assert verify_input(tx, 0, [prevout])


def test_wrong_inputs_are_refused(contract: tuple[Party, SignedContract]) -> None:
    party, signed = contract
    win = WinCondition(A0, 1)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    wrong_sequence = TxIn(txin.prevout, b"", 0xFFFF_FFFF)
    with pytest.raises(SpendError, match="needs sequence 25"):
        signed.sign_spend(
            Spend.SPLIT_WIN,
            win,
            spend(wrong_sequence, prevout),
            0,
            [prevout],
            preimage=party.tickets[1],
            player_secret=party.player_secrets[1],
        )
    with pytest.raises(SpendError, match="prevout 0"):
        signed.sign_spend(
            Spend.SPLIT_WIN,
            win,
            spend(txin, prevout),
            0,
            [TxOut(1, SINK)],
            preimage=party.tickets[1],
            player_secret=party.player_secrets[1],
        )
    with pytest.raises(SpendError, match="not the winner"):
        signed.sign_spend(
            Spend.SPLIT_WIN,
            win,
            spend(txin, prevout),
            0,
            [prevout],
            preimage=party.tickets[1],
            player_secret=party.player_secrets[0],
        )
    other, _ = signed.spend_input(Spend.SPLIT_WIN, WinCondition(A0, 2))
    with pytest.raises(SpendError, match="does not spend"):
        signed.sign_spend(
            Spend.SPLIT_WIN,
            win,
            spend(other, prevout),
            0,
            [prevout],
            preimage=party.tickets[1],
            player_secret=party.player_secrets[1],
        )
    with pytest.raises(SpendError, match="market maker"):
        signed.sign_spend(
            Spend.SPLIT_RECLAIM,
            win,
            spend(*signed.spend_input(Spend.SPLIT_RECLAIM, win)),
            0,
            [prevout],
            mm_secret=party.player_secrets[0],
        )
    # Sellback and the closes accept any sequence.
    txin, prevout = signed.spend_input(Spend.SPLIT_SELLBACK, win)
    tx = signed.sign_spend(
        Spend.SPLIT_SELLBACK,
        win,
        spend(TxIn(txin.prevout, b"", 7), prevout),
        0,
        [prevout],
        preimage=party.payouts[1],
        mm_secret=party.mm_secret,
    )
    assert verify_input(tx, 0, [prevout])


def test_csv_is_enforced_by_the_script(contract: tuple[Party, SignedContract]) -> None:
    """A win spend whose sequence is below Δ fails the script (OP_CHECKSEQUENCEVERIFY)."""
    party, signed = contract
    win = WinCondition(A0, 1)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, win)
    early = spend(TxIn(txin.prevout, b"", 24), prevout)
    info = signed.dlc.split_info(win)
    witness = info.leaf_witness(
        info.win_script, early, 0, [prevout], party.player_secrets[1], party.tickets[1]
    )
    assert not verify_input(early.with_witness(0, witness), 0, [prevout])
