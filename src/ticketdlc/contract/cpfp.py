"""Fee bumping of pre-signed settlement transactions by CPFP through their anchor (dlctix 0.2).

Outcome, expiry and split transactions are signed before funding at one fee rate. If fees rise
before they confirm, whoever holds coins builds a child that spends the parent's pay-to-anchor
output plus its own (confirmed) coins and pays enough for the parent and child together to
reach the wanted package fee rate. :func:`cpfp_child_template` builds that child unsigned; the
caller signs its own inputs over :attr:`CpfpChild.prevouts` (the anchor's prevout first) and
leaves the anchor input's witness empty. A later, higher-fee child can replace it (BIP-125:
every input signals replaceability).

Fee rates are in sat per 1000 weight units, like the contract's (1 sat/vB = 250).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ticketdlc.bitcoin.anchor import ANCHOR_INPUT_WEIGHT, SEQUENCE_RBF, find_anchor
from ticketdlc.bitcoin.fees import InputWeightPrediction, minimal_non_dust, predict_weight
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxIn, TxOut
from ticketdlc.contract.build import TicketedDLC, fee_for_weight, subtract_fee
from ticketdlc.contract.errors import ContractBuildError
from ticketdlc.contract.types import U64_MAX

CHILD_VERSION: Final = 2
CHILD_LOCKTIME: Final = 0


@dataclass(frozen=True, slots=True)
class CpfpFundingInput:
    """A coin of the fee payer: where it is, what it holds, and the weight of its spend."""

    outpoint: OutPoint
    prevout: TxOut
    weight: InputWeightPrediction


@dataclass(frozen=True)
class CpfpChild:
    """An unsigned CPFP child and its fee figures.

    ``tx`` spends the parent's anchor (input 0) and the funding coins (inputs 1…, in the given
    order) into one change output. ``prevouts`` are the spent outputs in input order, as the
    signature hashes need them. ``child_vsize`` is predicted from the input weights, which the
    signed child must match.
    """

    tx: Transaction
    fee: int
    parent_fee: int
    parent_vsize: int
    child_vsize: int
    prevouts: tuple[TxOut, ...]

    @property
    def package_fee(self) -> int:
        """Fees of parent and child together."""
        return self.parent_fee + self.fee

    @property
    def package_vsize(self) -> int:
        """Virtual size of parent and child together."""
        return self.parent_vsize + self.child_vsize

    @property
    def change(self) -> TxOut:
        """The child's only output."""
        return self.tx.outputs[0]


def fee_for_vsize(fee_rate: int, vsize: int) -> int:
    """rust-bitcoin ``FeeRate::fee_vb``: the fee of ``vsize`` virtual bytes, rounded up."""
    return fee_for_weight(fee_rate, 4 * vsize)


def cpfp_child_template(
    parent: Transaction,
    parent_fee: int,
    funding_inputs: Sequence[CpfpFundingInput],
    change_script: bytes,
    package_rate: int,
) -> CpfpChild:
    """A child of ``parent`` that brings the package to ``package_rate`` (sat/kwu).

    ``parent`` must be the transaction as it will be broadcast (signed: its size counts), and
    ``parent_fee`` what it pays. The child pays ``max(package fee − parent fee, its own size at
    the rate)``, so it never pays less than the target rate for itself even when the parent
    overpays. The anchor's value goes to the change, which must not be dust for
    ``change_script``. Raises :class:`ContractBuildError` (``MissingAnchor``,
    ``InsufficientFunds``, ``DustAmount``, ``WeightOverflow``, ``InvalidFeeAmount``).
    """
    found = find_anchor(parent)
    if found is None:
        raise ContractBuildError("MissingAnchor", "the parent has no pay-to-anchor output")
    anchor_outpoint, anchor = found
    if parent_fee < 0:
        raise ContractBuildError("InvalidFeeAmount", "the parent fee is negative")
    child_weight = predict_weight(
        [ANCHOR_INPUT_WEIGHT, *(coin.weight for coin in funding_inputs)], [len(change_script)]
    )
    parent_vsize = parent.vsize()
    child_vsize = -(-child_weight // 4)
    package_fee = fee_for_vsize(package_rate, parent_vsize + child_vsize)
    child_min = fee_for_vsize(package_rate, child_vsize)
    child_fee = max(package_fee - parent_fee, 0, child_min)
    available = anchor.value + sum(coin.prevout.value for coin in funding_inputs)
    if available > U64_MAX:
        raise ContractBuildError("InvalidFeeAmount", "the funding inputs overflow")
    change = subtract_fee(available, child_fee, minimal_non_dust(change_script) - 1)
    inputs = [TxIn(anchor_outpoint, b"", SEQUENCE_RBF)]
    inputs += [TxIn(coin.outpoint, b"", SEQUENCE_RBF) for coin in funding_inputs]
    tx = Transaction(CHILD_VERSION, inputs, [TxOut(change, change_script)], CHILD_LOCKTIME)
    prevouts = (anchor, *(coin.prevout for coin in funding_inputs))
    return CpfpChild(tx, child_fee, parent_fee, parent_vsize, child_vsize, prevouts)


def presigned_tx_fee(dlc: TicketedDLC, tx: Transaction) -> int | None:
    """The fee a pre-signed transaction of ``dlc`` pays (signed or not: the same).

    Knows single-input transactions spending the funding output (outcome and expiry
    transactions) or an outcome transaction's output 0 (split transactions); ``None`` for any
    other transaction, or if the outputs exceed the input.
    """
    if len(tx.inputs) != 1:
        return None
    value = dlc.presigned_input_value(tx.inputs[0].prevout)
    if value is None:
        return None
    fee = value - sum(out.value for out in tx.outputs)
    return fee if fee >= 0 else None


def contract_cpfp_child(
    dlc: TicketedDLC,
    parent: Transaction,
    funding_inputs: Sequence[CpfpFundingInput],
    change_script: bytes,
    package_rate: int,
) -> CpfpChild:
    """:func:`cpfp_child_template` for a pre-signed transaction of ``dlc``, its fee taken from
    :func:`presigned_tx_fee` (``InvalidInput`` if ``parent`` is not one of the contract's)."""
    parent_fee = presigned_tx_fee(dlc, parent)
    if parent_fee is None:
        raise ContractBuildError("InvalidInput", "parent is not a transaction of this contract")
    return cpfp_child_template(parent, parent_fee, funding_inputs, change_script, package_rate)
