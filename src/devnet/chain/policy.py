"""Mempool acceptance rules with Bitcoin Core's reject reasons.

:func:`check_transaction` runs the context-free consensus checks and the standardness rules;
:func:`check_inputs` the contextual ones once the spent coins are known. Scripts are verified
separately by the kernel (all flags, all spent outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from devnet.chain import locks
from devnet.chain.blocks import COINBASE_MATURITY, MAX_BLOCK_WEIGHT
from devnet.chain.model import ChainTx, Coin
from devnet.chain.scripts import is_push_only, is_standard_output, is_unspendable
from ticketdlc.bitcoin.encoding import compact_size_len
from ticketdlc.bitcoin.script import witness_program
from ticketdlc.bitcoin.tx import MAX_MONEY

MAX_STANDARD_TX_WEIGHT: Final = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE: Final = 65
MAX_STANDARD_SCRIPTSIG_SIZE: Final = 1650
DUST_RELAY_FEE_PER_KVB: Final = 3000
MIN_RELAY_FEE_PER_KVB: Final = 100  # Bitcoin Core 30: 0.1 sat/vB
MAX_FEE_RATE_PER_KVB: Final = 10_000_000  # sendrawtransaction's default maxfeerate: 0.1 BTC/kvB
MAX_ANCESTORS: Final = 25


class TxRejectedError(Exception):
    """The mempool refused a transaction; ``reason`` is Bitcoin Core's reject reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}, {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def dust_threshold(script_pubkey: bytes) -> int:
    """Smallest standard value of an output (Bitcoin Core's ``GetDustThreshold`` at 3 sat/vB)."""
    if is_unspendable(script_pubkey):
        return 0
    size = 8 + compact_size_len(len(script_pubkey)) + len(script_pubkey)
    if witness_program(script_pubkey) is not None:
        size += 32 + 4 + 1 + 107 // 4 + 4
    else:
        size += 32 + 4 + 1 + 107 + 4
    return size * DUST_RELAY_FEE_PER_KVB // 1000


def check_transaction(ctx: ChainTx) -> None:
    """Context-free consensus checks and standardness (no spent coins needed)."""
    tx = ctx.tx
    if not tx.outputs:
        raise TxRejectedError("bad-txns-vout-empty")
    stripped = len(tx.serialize(include_witness=False))
    if stripped * 4 > MAX_BLOCK_WEIGHT:
        raise TxRejectedError("bad-txns-oversize")
    if sum(out.value for out in tx.outputs) > MAX_MONEY:
        raise TxRejectedError("bad-txns-txouttotal-toolarge")
    if len({txin.prevout for txin in tx.inputs}) != len(tx.inputs):
        raise TxRejectedError("bad-txns-inputs-duplicate")
    if ctx.is_coinbase:
        raise TxRejectedError("coinbase")
    if any(
        txin.prevout.txid == bytes(32) and txin.prevout.vout == 0xFFFF_FFFF for txin in tx.inputs
    ):
        raise TxRejectedError("bad-txns-prevout-null")
    if not 1 <= tx.version <= 3:
        raise TxRejectedError("version")
    if ctx.weight > MAX_STANDARD_TX_WEIGHT:
        raise TxRejectedError("tx-size")
    if stripped < MIN_STANDARD_TX_NONWITNESS_SIZE:
        raise TxRejectedError("tx-size-small")
    for txin in tx.inputs:
        if len(txin.script_sig) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise TxRejectedError("scriptsig-size")
        if not is_push_only(txin.script_sig):
            raise TxRejectedError("scriptsig-not-pushonly")
    for out in tx.outputs:
        if not is_standard_output(out.script_pubkey):
            raise TxRejectedError("scriptpubkey")
        if out.value < dust_threshold(out.script_pubkey):
            raise TxRejectedError("dust")


def check_final(ctx: ChainTx, next_height: int, tip_median_time: int) -> None:
    """Absolute locktime against the next block (BIP113: the tip's median time past)."""
    sequences = [txin.sequence for txin in ctx.tx.inputs]
    if not locks.is_final(ctx.tx.locktime, sequences, next_height, tip_median_time):
        raise TxRejectedError("non-final")


def check_inputs(
    ctx: ChainTx,
    coins: Sequence[Coin],
    next_height: int,
    median_time_past: Callable[[int], int],
) -> int:
    """Relative locks, coinbase maturity, amounts and fee rate. Returns the fee."""
    tx = ctx.tx
    sequences = [txin.sequence for txin in tx.inputs]
    if not locks.sequence_locks_satisfied(
        tx.version, sequences, [coin.height for coin in coins], next_height, median_time_past
    ):
        raise TxRejectedError("non-BIP68-final")
    for coin in coins:
        depth = next_height - coin.height
        if coin.is_coinbase and depth < COINBASE_MATURITY:
            raise TxRejectedError(
                "bad-txns-premature-spend-of-coinbase", f"tried to spend coinbase at depth {depth}"
            )
    value_in = sum(coin.value for coin in coins)
    value_out = sum(out.value for out in tx.outputs)
    if value_in > MAX_MONEY:
        raise TxRejectedError("bad-txns-inputvalues-outofrange")
    if value_in < value_out:
        raise TxRejectedError(
            "bad-txns-in-belowout", f"value in ({value_in}) < value out ({value_out})"
        )
    fee = value_in - value_out
    if fee * 1000 < MIN_RELAY_FEE_PER_KVB * ctx.vsize:
        minimum = -(-MIN_RELAY_FEE_PER_KVB * ctx.vsize // 1000)
        raise TxRejectedError("min relay fee not met", f"{fee} < {minimum}")
    if fee * 1000 > MAX_FEE_RATE_PER_KVB * ctx.vsize:
        raise TxRejectedError(
            "max-fee-exceeded",
            "fee exceeds the maximum fee rate (0.1 BTC/kvB) of sendrawtransaction",
        )
    return fee
