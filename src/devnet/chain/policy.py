"""Mempool acceptance rules with Bitcoin Core's (30) reject reasons.

:func:`check_transaction` runs the context-free consensus checks and the standardness rules;
:func:`check_inputs` the contextual ones once the spent coins are known, and
:func:`check_witness_standard` the policy on what spends what (pay-to-anchor spends carry no
witness; other unknown witness programs stay reserved for soft forks). Scripts are verified
separately by the kernel (all consensus flags, all spent outputs). Fee floors:
:func:`check_mempool_min_fee` (the mempool's minimum, raised to simulate a fee spike).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from devnet.chain import locks
from devnet.chain.blocks import COINBASE_MATURITY, MAX_BLOCK_WEIGHT
from devnet.chain.model import ChainTx, Coin
from devnet.chain.scripts import is_push_only, is_standard_output, is_unspendable
from ticketdlc.bitcoin.anchor import is_anchor_script
from ticketdlc.bitcoin.fees import minimal_non_dust
from ticketdlc.bitcoin.script import witness_program
from ticketdlc.bitcoin.tx import MAX_MONEY

MAX_STANDARD_TX_WEIGHT: Final = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE: Final = 65
MAX_STANDARD_SCRIPTSIG_SIZE: Final = 1650
MIN_RELAY_FEE_PER_KVB: Final = 100  # Bitcoin Core 30: 0.1 sat/vB
INCREMENTAL_RELAY_FEE_PER_KVB: Final = 100  # Bitcoin Core 30: what a replacement adds per vB
DEFAULT_BLOCK_MIN_FEE_PER_KVB: Final = 1  # Bitcoin Core 30's -blockmintxfee
MAX_FEE_RATE_PER_KVB: Final = 10_000_000  # sendrawtransaction's default maxfeerate: 0.1 BTC/kvB
MAX_ANCESTORS: Final = 25
COIN: Final = 100_000_000
UPGRADABLE_WITNESS: Final = (
    "non-mandatory-script-verify-flag (Witness version reserved for soft-fork upgrades)"
)


class TxRejectedError(Exception):
    """The mempool refused a transaction; ``reason`` is Bitcoin Core's reject reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}, {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def dust_threshold(script_pubkey: bytes) -> int:
    """Smallest standard value of an output (Bitcoin Core's ``GetDustThreshold`` at 3 sat/vB)."""
    return 0 if is_unspendable(script_pubkey) else minimal_non_dust(script_pubkey)


def fee_at_rate(rate_per_kvb: int, vsize: int) -> int:
    """Bitcoin Core's ``CFeeRate::GetFee``: the fee of ``vsize`` vbytes, rounded up."""
    return -(-rate_per_kvb * vsize // 1000)


def format_money(sats: int) -> str:
    """Bitcoin Core's ``FormatMoney``: BTC with trailing zeros trimmed to two decimals."""
    sign = "-" if sats < 0 else ""
    whole, frac = divmod(abs(sats), COIN)
    digits = f"{frac:08d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def format_fee_rate(fee: int, vsize: int) -> str:
    """Bitcoin Core's ``CFeeRate(fee, vsize).ToString()``: ``"0.00012345 BTC/kvB"``."""
    per_kvb = fee * 1000 // vsize if vsize else 0
    return f"{per_kvb // COIN}.{per_kvb % COIN:08d} BTC/kvB"


def check_mempool_min_fee(fee: int, vsize: int, floor_per_kvb: int) -> None:
    """The mempool's minimum fee rate (0: none); a package may meet it as a whole."""
    required = fee_at_rate(floor_per_kvb, vsize)
    if required > 0 and fee < required:
        raise TxRejectedError("mempool min fee not met", f"{fee} < {required}")


def check_witness_standard(ctx: ChainTx, coins: Sequence[Coin]) -> None:
    """What an input may carry for the output it spends (Bitcoin Core's ``IsWitnessStandard``
    for pay-to-anchor, and its discouragement of witness versions reserved for upgrades)."""
    for txin, coin in zip(ctx.tx.inputs, coins, strict=True):
        if is_anchor_script(coin.script_pubkey):
            if txin.witness:
                raise TxRejectedError("bad-witness-nonstandard")
            continue
        program = witness_program(coin.script_pubkey)
        if program is None:
            continue
        version, data = program
        if version > 1 or (version == 1 and len(data) != 32):
            raise TxRejectedError(UPGRADABLE_WITNESS)


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
    max_fee_rate_per_kvb: int | None = MAX_FEE_RATE_PER_KVB,
) -> int:
    """Relative locks, coinbase maturity, amounts, the minimum relay fee (never waived, not
    even in a package) and ``sendrawtransaction``'s maximum fee rate. Returns the fee."""
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
    check_witness_standard(ctx, coins)
    minimum = fee_at_rate(MIN_RELAY_FEE_PER_KVB, ctx.vsize)
    if fee < minimum:
        raise TxRejectedError("min relay fee not met", f"{fee} < {minimum}")
    if max_fee_rate_per_kvb is not None and fee * 1000 > max_fee_rate_per_kvb * ctx.vsize:
        raise TxRejectedError(
            "max-fee-exceeded",
            "fee exceeds the maximum fee rate (0.1 BTC/kvB) of sendrawtransaction",
        )
    return fee
