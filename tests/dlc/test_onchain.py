"""dlctix's seven regtest scenarios on the devnet chain, in both layouts (dlctix spec §11).

Every transaction goes through the chain's mempool (Bitcoin Core's reject reasons) and every
premature one is also offered in a block, which the kernel's consensus checks must refuse.
Fixture as in dlctix: Alice, Bob, Carol, Dave; att0 {A:1, B:2, C:1}, att1 {B:3, C:1},
att2 {A:1}, expiry {D:1}; expiry 100 blocks ahead; 50 sat/vB; 200,000 sats; Δ = 25.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.dlc.conftest import Party, make_params, make_party
from tests.dlc.onchain import Oracle, accept, fund_and_sign, reject, spend
from tests.support.chain import ChainHandle, running_chain
from ticketdlc.bitcoin.tx import TxIn
from ticketdlc.competition.attestation import verify_attestation
from ticketdlc.contract import EXPIRY, ContractLayout, Outcome, SignedContract, Spend, WinCondition
from ticketdlc.crypto.secp import Point

pytestmark = pytest.mark.slow

ALICE, BOB, CAROL, DAVE = range(4)
MESSAGES = (b"alice, bob, and carol win", b"bob and carol win", b"alice wins")
DELTA = 25
# (mempool reject reason, the kernel's reason for refusing a block holding the transaction)
NON_FINAL = ("non-final", "bad-txns-nonfinal, non-final transaction")
NON_BIP68_FINAL = ("non-BIP68-final", "bad-txns-nonfinal, contains a non-BIP68-final transaction")
CSV_FAILED = ("mandatory-script-verify-flag-failed", "Locktime requirement not satisfied")
MAX_SEQUENCE = 0xFFFF_FFFF


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainHandle]:
    with running_chain(Path(tmp_path_factory.mktemp("chain")), free_port()) as handle:
        yield handle


@dataclass
class Simulation:
    chain: ChainHandle
    party: Party
    oracle: Oracle
    signed: SignedContract
    expiry: int

    def outcome_tx_onchain(self, index: int) -> None:
        attestation = self.oracle.attest(MESSAGES[index])
        assert verify_attestation(
            self.oracle.pubkey, Point.from_secret(self.oracle.nonce), MESSAGES[index], attestation
        )
        assert self.signed.outcome_of_attestation(attestation) == Outcome.attestation(index)
        accept(self.chain, self.signed.signed_outcome_tx(index, attestation))

    def split_tx_onchain(self, win: WinCondition) -> None:
        """Broadcast the split tx: refused until Δ blocks after the outcome tx, then mined."""
        split = self.signed.signed_split_tx(win, self.party.tickets[win.player_index])
        reject(self.chain, split, *NON_BIP68_FINAL)
        self.chain.mine(DELTA - 2)
        reject(self.chain, split, *NON_BIP68_FINAL)
        self.chain.mine(1)
        accept(self.chain, split)


@pytest.fixture(params=list(ContractLayout), ids=lambda layout: layout.value)
def sim(chain: ChainHandle, request: pytest.FixtureRequest) -> Simulation:
    party = make_party(4, offset=100)
    oracle = Oracle.random()
    expiry = chain.tip_height() + 100
    a0, a1, a2 = (Outcome.attestation(i) for i in range(3))
    payouts = {
        a0: {ALICE: 1, BOB: 2, CAROL: 1},
        a1: {BOB: 3, CAROL: 1},
        a2: {ALICE: 1},
        EXPIRY: {DAVE: 1},
    }
    params = make_params(
        party,
        payouts,
        [oracle.locking_point(m) for m in MESSAGES],
        expiry=expiry,
        fee_rate=50 * 250,
        funding_value=200_000,
        delta=DELTA,
        layout=request.param,
    )
    return Simulation(chain, party, oracle, fund_and_sign(chain, party, params), expiry)


def test_with_on_chain_resolutions(sim: Simulation) -> None:
    signed, party, chain = sim.signed, sim.party, sim.chain
    a0 = Outcome.attestation(0)
    sim.outcome_tx_onchain(0)
    sim.split_tx_onchain(WinCondition(a0, ALICE))

    # Alice sold her payout back: the market maker takes her output at once.
    alice = WinCondition(a0, ALICE)
    txin, prevout = signed.spend_input(Spend.SPLIT_SELLBACK, alice)
    accept(
        chain,
        signed.sign_spend(
            Spend.SPLIT_SELLBACK,
            alice,
            spend(txin, prevout),
            0,
            [prevout],
            preimage=party.payouts[ALICE],
            mm_secret=party.mm_secret,
        ),
    )

    # Bob's win: the script's CSV refuses a final sequence; BIP-68 holds Δ blocks.
    bob = WinCondition(a0, BOB)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, bob)
    info = signed.dlc.split_info(bob)
    bad = spend(TxIn(txin.prevout, b"", MAX_SEQUENCE), prevout)
    bad = bad.with_witness(
        0,
        info.leaf_witness(
            info.win_script, bad, 0, [prevout], party.player_secrets[BOB], party.tickets[BOB]
        ),
    )
    reject(chain, bad, *CSV_FAILED)
    win_tx = signed.sign_spend(
        Spend.SPLIT_WIN,
        bob,
        spend(txin, prevout),
        0,
        [prevout],
        preimage=party.tickets[BOB],
        player_secret=party.player_secrets[BOB],
    )
    reject(chain, win_tx, *NON_BIP68_FINAL)  # split tx confirmed 2 blocks ago
    chain.mine(DELTA - 3)
    reject(chain, win_tx, *NON_BIP68_FINAL)
    chain.mine(1)
    accept(chain, win_tx)

    # Carol never claimed: the MM reclaims after 2Δ; a Δ sequence fails the script's CSV.
    carol = WinCondition(a0, CAROL)
    txin, prevout = signed.spend_input(Spend.SPLIT_RECLAIM, carol)
    info = signed.dlc.split_info(carol)
    early = spend(TxIn(txin.prevout, b"", DELTA), prevout)
    early = early.with_witness(
        0, info.leaf_witness(info.reclaim_script, early, 0, [prevout], party.mm_secret)
    )
    reject(chain, early, *CSV_FAILED)
    reclaim = signed.sign_spend(
        Spend.SPLIT_RECLAIM, carol, spend(txin, prevout), 0, [prevout], mm_secret=party.mm_secret
    )
    reject(chain, reclaim, *NON_BIP68_FINAL)  # Δ + 1 blocks after the split tx
    chain.mine(DELTA - 2)
    reject(chain, reclaim, *NON_BIP68_FINAL)
    chain.mine(1)
    accept(chain, reclaim)


def test_individual_sellback(sim: Simulation) -> None:
    signed, party = sim.signed, sim.party
    bob = WinCondition(Outcome.attestation(1), BOB)
    sim.outcome_tx_onchain(1)
    sim.split_tx_onchain(bob)
    txin, prevout = signed.spend_input(Spend.SPLIT_CLOSE, bob)
    close = signed.sign_spend(
        Spend.SPLIT_CLOSE,
        bob,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secret=party.player_secrets[BOB],
    )
    accept(sim.chain, close)


def test_all_winners_cooperate(sim: Simulation) -> None:
    signed, party = sim.signed, sim.party
    a1 = Outcome.attestation(1)
    sim.outcome_tx_onchain(1)
    winners = {party.player_pubkey(i): party.player_secrets[i] for i in (BOB, CAROL)}
    txin, prevout = signed.spend_input(Spend.OUTCOME_CLOSE, a1)
    close = signed.sign_spend(
        Spend.OUTCOME_CLOSE,
        a1,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secrets=winners,
    )
    accept(sim.chain, close)


def test_market_maker_reclaims_outcome_tx(sim: Simulation) -> None:
    signed, party, chain = sim.signed, sim.party, sim.chain
    a2 = Outcome.attestation(2)
    sim.outcome_tx_onchain(2)
    txin, prevout = signed.spend_input(Spend.OUTCOME_RECLAIM, a2)
    info = signed.dlc.outcome_infos[a2]
    bad = spend(TxIn(txin.prevout, b"", MAX_SEQUENCE), prevout)
    bad = bad.with_witness(
        0, info.leaf_witness(info.reclaim_script, bad, 0, [prevout], party.mm_secret)
    )
    reject(chain, bad, *CSV_FAILED)
    reclaim = signed.sign_spend(
        Spend.OUTCOME_RECLAIM, a2, spend(txin, prevout), 0, [prevout], mm_secret=party.mm_secret
    )
    reject(chain, reclaim, *NON_BIP68_FINAL)
    chain.mine(DELTA)
    reject(chain, reclaim, *NON_BIP68_FINAL)
    chain.mine(DELTA - 2)
    reject(chain, reclaim, *NON_BIP68_FINAL)
    chain.mine(1)
    accept(chain, reclaim)


def expiry_onchain(sim: Simulation) -> None:
    expiry_tx = sim.signed.expiry_tx()
    assert expiry_tx is not None
    reject(sim.chain, expiry_tx, *NON_FINAL)
    sim.chain.mine(sim.expiry - 1 - sim.chain.tip_height())
    reject(sim.chain, expiry_tx, *NON_FINAL)  # the next block would be the expiry height
    sim.chain.mine(1)
    accept(sim.chain, expiry_tx)


def test_contract_expiry_on_chain_resolution(sim: Simulation) -> None:
    signed, party, chain = sim.signed, sim.party, sim.chain
    dave = WinCondition(EXPIRY, DAVE)
    expiry_onchain(sim)
    sim.split_tx_onchain(dave)
    txin, prevout = signed.spend_input(Spend.SPLIT_WIN, dave)
    info = signed.dlc.split_info(dave)
    bad = spend(TxIn(txin.prevout, b"", DELTA - 1), prevout)
    bad = bad.with_witness(
        0,
        info.leaf_witness(
            info.win_script, bad, 0, [prevout], party.player_secrets[DAVE], party.tickets[DAVE]
        ),
    )
    chain.mine(DELTA)
    reject(chain, bad, *CSV_FAILED)
    win_tx = signed.sign_spend(
        Spend.SPLIT_WIN,
        dave,
        spend(txin, prevout),
        0,
        [prevout],
        preimage=party.tickets[DAVE],
        player_secret=party.player_secrets[DAVE],
    )
    accept(chain, win_tx)


def test_contract_expiry_all_winners_cooperate(sim: Simulation) -> None:
    signed, party = sim.signed, sim.party
    expiry_onchain(sim)
    winners = {party.player_pubkey(DAVE): party.player_secrets[DAVE]}
    txin, prevout = signed.spend_input(Spend.OUTCOME_CLOSE, EXPIRY)
    close = signed.sign_spend(
        Spend.OUTCOME_CLOSE,
        EXPIRY,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secrets=winners,
    )
    accept(sim.chain, close)


def test_all_players_cooperate(sim: Simulation) -> None:
    signed, party = sim.signed, sim.party
    everyone = {party.player_pubkey(i): party.player_secrets[i] for i in range(4)}
    txin, prevout = signed.spend_input(Spend.FUNDING_CLOSE)
    close = signed.sign_spend(
        Spend.FUNDING_CLOSE,
        None,
        spend(txin, prevout),
        0,
        [prevout],
        mm_secret=party.mm_secret,
        player_secrets=everyone,
    )
    accept(sim.chain, close)
