"""The contract's tapscripts, byte for byte (dlctix §5)."""

from __future__ import annotations

from ticketdlc.bitcoin.script import (
    OP_CHECKSEQUENCEVERIFY,
    OP_CHECKSIG,
    OP_DROP,
    OP_EQUALVERIFY,
    OP_SHA256,
    push_int,
)


def _hashlock(hash32: bytes) -> bytes:
    # OP_SHA256 <hash> OP_EQUALVERIFY
    return bytes((OP_SHA256, 32)) + hash32 + bytes((OP_EQUALVERIFY,))


def _checksig(xonly: bytes) -> bytes:
    return bytes((32,)) + xonly + bytes((OP_CHECKSIG,))


def _csv(blocks: int) -> bytes:
    # <blocks> OP_CHECKSEQUENCEVERIFY OP_DROP
    return push_int(blocks) + bytes((OP_CHECKSEQUENCEVERIFY, OP_DROP))


def outcome_split_leaf(
    ticket_hash: bytes, outcome_key_xonly: bytes, commitment: int | None
) -> bytes:
    """Winner's split leaf of an outcome output: preimage of the ticket hash plus the joint
    signature of the outcome key. With ``commitment`` (outcome-bound layout) the leaf starts
    with ``<commitment> OP_DROP``, so its hash differs per outcome."""
    prefix = b"" if commitment is None else push_int(commitment) + bytes((OP_DROP,))
    return prefix + _hashlock(ticket_hash) + _checksig(outcome_key_xonly)


def reclaim_leaf(reclaim_delay: int, market_maker_xonly: bytes) -> bytes:
    """Market maker's reclaim leaf (outcome and split outputs): ``<2Δ> CSV DROP <mm> CHECKSIG``."""
    return _csv(reclaim_delay) + _checksig(market_maker_xonly)


def sellback_leaf(payout_hash: bytes, market_maker_xonly: bytes) -> bytes:
    """Market maker's leaf with the winner's payout preimage (after an off-chain payout)."""
    return _hashlock(payout_hash) + _checksig(market_maker_xonly)


def win_leaf(delta: int, ticket_hash: bytes, player_xonly: bytes) -> bytes:
    """Winner's leaf of a split output: ``<Δ> CSV DROP``, ticket preimage, player signature."""
    return _csv(delta) + _hashlock(ticket_hash) + _checksig(player_xonly)
