"""Competition contracts between headless players, built and signed locally for the tests.

Each player is a :class:`PlayerIdentity`; its entry key and payout hash come from its seed and
its entry id, exactly as when it enters through a coordinator. The market maker signs with
every player (in-process MuSig2 sessions) and funds the contract from the devnet faucet.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from coordinator.player.identity import PlayerIdentity
from coordinator_core.entry_keys import EntryKeys
from coordinator_core.ids import uuid7
from tests.dlc.conftest import Party
from tests.dlc.onchain import sign_with_every_party
from tests.support.chain import ChainHandle, TaprootKey
from ticketdlc.bitcoin.tx import Transaction, TxIn
from ticketdlc.competition import Announcement, OutcomeSpace, encode_ranking
from ticketdlc.competition.attestation import attest
from ticketdlc.contract import (
    CompetitionEntry,
    SignedContract,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.contract.build import funding_output
from ticketdlc.contract.types import AnchorParams
from ticketdlc.crypto.secp import Point

FUNDING_FEE = 2_000


@dataclass
class LocalCompetition:
    """A funded, signed competition contract and everything its parties know."""

    space: OutcomeSpace
    oracle_secret: int
    nonce_secret: int
    players: list[PlayerIdentity]  # in contract (entry id) order
    keys: list[EntryKeys]
    tickets: list[bytes]
    mm_secret: bytes
    signed: SignedContract
    funding_tx: Transaction
    expiry: int

    @property
    def oracle_pubkey(self) -> Point:
        return Point.from_secret(self.oracle_secret)

    @property
    def nonce_point(self) -> Point:
        return Point.from_secret(self.nonce_secret)

    def attestation(self, ranking: tuple[int, ...]) -> int:
        """The oracle's attestation that ``ranking`` (player indices, best first) won."""
        return attest(self.oracle_secret, self.nonce_secret, encode_ranking(ranking))

    def outcome_index(self, ranking: tuple[int, ...]) -> int:
        return self.space.index_of(ranking)


def build_competition(
    chain: ChainHandle,
    entries: int,
    places: int,
    *,
    delta: int = 3,
    expiry_blocks: int = 40,
    funding_value: int = 200_000,
    fee_rate: int = 500,
    identities: list[PlayerIdentity] | None = None,
    anchor_sats: int | None = None,
) -> LocalCompetition:
    """Fund and sign a competition of ``entries`` fresh players on the devnet chain."""
    space = OutcomeSpace(entries, places)
    oracle_secret = secrets.randbelow(2**255) + 1
    nonce_secret = secrets.randbelow(2**255) + 1
    announcement = Announcement.derive(
        space, Point.from_secret(oracle_secret), Point.from_secret(nonce_secret)
    )
    players = list(identities or [])
    players += [PlayerIdentity.generate("regtest") for _ in range(entries - len(players))]
    entry_ids = [uuid7() for _ in range(entries)]  # increasing: contract order = creation order
    keys = [p.entry_keys(e) for p, e in zip(players, entry_ids, strict=True)]
    tickets = [secrets.token_bytes(32) for _ in range(entries)]
    mm_secret = secrets.token_bytes(32)
    expiry = chain.tip_height() + expiry_blocks
    params = competition_contract_parameters(
        [
            CompetitionEntry(k.entry_id, k.pubkey, hashlib.sha256(t).digest(), k.payout_hash)
            for k, t in zip(keys, tickets, strict=True)
        ],
        announcement,
        expiry,
        places,
        Point.from_secret(mm_secret),
        funding_value=funding_value,
        fee_rate=fee_rate,
        relative_locktime_block_delta=delta,
        anchor=None if anchor_sats is None else AnchorParams(anchor_sats),
    )
    wallet = TaprootKey(secrets.token_bytes(32))
    utxo = chain.faucet(wallet.script_pubkey, funding_value + FUNDING_FEE)
    unsigned = Transaction(2, [TxIn(utxo.outpoint)], [funding_output(params)], 0)
    dlc = TicketedDLC.new(params, unsigned.outpoint(0))
    party = Party(mm_secret, [k.secret for k in keys], tickets, [k.payout_preimage for k in keys])
    signed = sign_with_every_party(dlc, party)
    funding_tx = wallet.sign(unsigned, [utxo.txout])
    accepted = chain.broadcast(funding_tx.serialize())
    assert accepted.accepted, accepted.reason
    chain.mine(1)
    return LocalCompetition(
        space, oracle_secret, nonce_secret, players, keys, tickets, mm_secret, signed,
        funding_tx, expiry,
    )  # fmt: skip
