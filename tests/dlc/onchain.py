"""Helpers of the on-chain scenarios: a funded, signed contract on a devnet chain."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.dlc.conftest import Party, make_params
from tests.support.chain import Broadcast, ChainHandle, TaprootKey
from ticketdlc.bitcoin.script import p2tr_script
from ticketdlc.bitcoin.tx import Transaction, TxIn, TxOut
from ticketdlc.competition.attestation import attest, locking_point
from ticketdlc.contract import ContractParameters, SignedContract, TicketedDLC
from ticketdlc.contract.build import funding_output
from ticketdlc.contract.signing import CoordinatorSession, SignerSession
from ticketdlc.crypto.secp import Point

FEE = 2_000
SINK = p2tr_script(Point.from_secret(424242).xonly())


@dataclass
class Oracle:
    """An oracle key and event nonce; attests one message per event."""

    secret: int
    nonce: int

    @classmethod
    def random(cls) -> Oracle:
        return cls(secrets.randbelow(2**255) + 1, secrets.randbelow(2**255) + 1)

    @property
    def pubkey(self) -> Point:
        return Point.from_secret(self.secret)

    def locking_point(self, message: bytes) -> Point:
        return locking_point(self.pubkey, Point.from_secret(self.nonce), message)

    def attest(self, message: bytes) -> int:
        return attest(self.secret, self.nonce, message)


def sign_with_every_party(dlc: TicketedDLC, party: Party) -> SignedContract:
    """The market maker coordinates; every player signs with its own session; every partial
    signature is verified one by one, as dlctix's regtest suite does."""
    coordinator = CoordinatorSession(dlc, [party.mm_secret])
    players = [SignerSession(dlc, [sk]) for sk in party.player_secrets]
    nonces = {}
    for session in players:
        nonces.update(session.public_nonces())
    aggnonces = coordinator.aggregate_nonces(nonces)
    psigs = {}
    for session in players:
        psigs.update(session.partial_signatures(aggnonces))
    return coordinator.aggregate_signatures(psigs, verify_each=True)


def fund_and_sign(
    chain: ChainHandle, party: Party, build_params: ContractParameters, *, stored: bool = False
) -> SignedContract:
    """Faucet the market maker, build the funding transaction (unsigned, for its outpoint),
    sign the contract, then sign, broadcast and confirm the funding transaction.

    ``stored`` builds with the stored-contract rules (a legacy contract with shared winners).
    """
    wallet = TaprootKey(secrets.token_bytes(32))
    funding_value = build_params.funding_value
    utxo = chain.faucet(wallet.script_pubkey, funding_value + FEE)
    funding_tx = Transaction(2, [TxIn(utxo.outpoint)], [funding_output(build_params)], 0)
    build = TicketedDLC.rebuild if stored else TicketedDLC.new
    dlc = build(build_params, funding_tx.outpoint(0))
    signed = sign_with_every_party(dlc, party)
    # The funding transaction goes out only once the signature set is verified.
    accepted = chain.broadcast(wallet.sign(funding_tx, [utxo.txout]).serialize())
    assert accepted.accepted, accepted.reason
    chain.mine(1)
    return signed


def spend(txin: TxIn, prevout: TxOut) -> Transaction:
    """A one-input, one-output template paying the prevout minus a fee to a sink."""
    return Transaction(2, [txin], [TxOut(prevout.value - FEE, SINK)], 0)


def accept(chain: ChainHandle, tx: Transaction) -> None:
    """Broadcast ``tx``, which must be accepted, and confirm it."""
    result = chain.broadcast(tx.serialize())
    assert result.accepted, result.reason
    chain.mine(1)


def reject(chain: ChainHandle, tx: Transaction, reason: str, consensus_reason: str) -> Broadcast:
    """Broadcast ``tx``, which the mempool must refuse for ``reason``; a block holding it must be
    refused by the kernel's consensus checks with ``consensus_reason`` in the verdict."""
    result = chain.broadcast(tx.serialize())
    assert not result.accepted and result.reason is not None
    assert result.reason.startswith(reason), result.reason
    block = chain.mine_transactions([tx.serialize()])
    assert block.status_code == 400, block.text
    assert consensus_reason in block.text, block.text
    return result


__all__ = [
    "FEE",
    "SINK",
    "Oracle",
    "accept",
    "fund_and_sign",
    "make_params",
    "reject",
    "sign_with_every_party",
    "spend",
]
