"""Building every transaction of a ticketed DLC from its parameters and funding outpoint.

:class:`TicketedDLC` validates the parameters (limits first), then builds the outcome and
expiry transactions (§7.1), the split transactions (§7.2, §7.3) and every sighash the signers
sign (§8.1), in ``BTreeMap`` order. The same parameters and outpoint always give the same bytes.

With an anchor (dlctix 0.2), every outcome, expiry and split transaction ends with a
pay-to-anchor output; its value and its 52 WU of fee come out of the contract (the outcome
output pays both for the outcome transaction, and the winners bear the split's pro rata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ticketdlc.bitcoin.anchor import P2A_SCRIPT_PUBKEY_SIZE
from ticketdlc.bitcoin.fees import (
    P2TR_DUST_VALUE,
    P2TR_KEY_SPEND,
    P2TR_SCRIPT_PUBKEY_LEN,
    InputWeightPrediction,
    predict_weight,
)
from ticketdlc.bitcoin.sighash import SIGHASH_DEFAULT, SighashCache
from ticketdlc.bitcoin.taproot import leaf_hash
from ticketdlc.bitcoin.tx import (
    SEQUENCE_LOCKTIME_ENABLED,
    OutPoint,
    Transaction,
    TxIn,
    TxOut,
)
from ticketdlc.contract.errors import ContractBuildError
from ticketdlc.contract.spend_info import (
    FundingSpendInfo,
    KeyContext,
    OutcomeSpendInfo,
    SplitSpendInfo,
)
from ticketdlc.contract.types import (
    U64_MAX,
    ContractParameters,
    Outcome,
    PayoutWeights,
    PlayerIndex,
    WinCondition,
)
from ticketdlc.contract.validation import (
    DEFAULT_LIMITS,
    ContractLimits,
    check_limits,
    validate,
    validate_stored,
)
from ticketdlc.crypto.secp import Point

TX_VERSION: Final = 2


def fee_for_weight(fee_rate: int, weight: int) -> int:
    """``ceil(fee_rate · weight / 1000)``; refuses u64 overflow as rust-bitcoin does."""
    if fee_rate * weight + 999 > U64_MAX:
        raise ContractBuildError("WeightOverflow", "the fee overflows")
    return (fee_rate * weight + 999) // 1000


def fee_for(fee_rate: int, inputs: list[InputWeightPrediction], output_spk_lens: list[int]) -> int:
    """The fee of a transaction of the predicted weight (:func:`fee_for_weight`)."""
    return fee_for_weight(fee_rate, predict_weight(inputs, output_spk_lens))


def subtract_fee(available: int, fee: int, dust_limit: int = P2TR_DUST_VALUE) -> int:
    """``available − fee``, refusing a fee that eats everything and results ``≤ dust_limit``."""
    if fee >= available:
        raise ContractBuildError("InsufficientFunds", f"fee {fee} is not below {available}")
    value = available - fee
    if value <= dust_limit:
        raise ContractBuildError("DustAmount", f"output of {value} sats is dust")
    return value


def _anchor_spk_lens(params: ContractParameters) -> list[int]:
    return [] if params.anchor is None else [P2A_SCRIPT_PUBKEY_SIZE]


def outcome_output_value(params: ContractParameters) -> int:
    """Value of every outcome transaction's output: the funding value minus the fee (444 WU,
    496 with an anchor) and minus the anchor's value."""
    fee = fee_for(
        params.fee_rate, [P2TR_KEY_SPEND], [P2TR_SCRIPT_PUBKEY_LEN, *_anchor_spk_lens(params)]
    )
    if fee + params.anchor_value > U64_MAX:
        raise ContractBuildError("InvalidFeeAmount", "the fee plus the anchor overflows")
    return subtract_fee(params.funding_value, fee + params.anchor_value)


def split_payouts(
    outcome_value: int,
    fee_rate: int,
    split_input: InputWeightPrediction,
    weights: PayoutWeights,
    anchor_value: int | None = None,
) -> dict[PlayerIndex, int]:
    """Each winner's split output: its weighted share minus an equal share of the fee.

    With an anchor (``anchor_value`` given), the anchor's value comes off the outcome value
    before weighting (so winners bear it pro rata, as dlctix does) and the fee covers the
    anchor output too.
    """
    anchor_lens = [] if anchor_value is None else [P2A_SCRIPT_PUBKEY_SIZE]
    available = outcome_value - (anchor_value or 0)
    if available < 0:
        raise ContractBuildError("InsufficientFunds", "the anchor exceeds the outcome value")
    fee_total = fee_for(
        fee_rate, [split_input], [P2TR_SCRIPT_PUBKEY_LEN] * len(weights) + anchor_lens
    )
    fee_share = fee_total // len(weights)
    total_weight = sum(weights.values())
    return {
        player: subtract_fee(available * weight // total_weight, fee_share)
        for player, weight in weights.items()
    }


def funding_output(params: ContractParameters) -> TxOut:
    """The output the funding transaction must pay (known before the funding outpoint)."""
    return FundingSpendInfo.build(params.market_maker, params.players, params.funding_value).output


@dataclass(frozen=True, slots=True)
class SigningEntry:
    """One aggregated signature the contract needs: what is signed, by whom, and how.

    ``keys`` is the signer set (sorted). ``adaptor`` is the locking point for attestation
    outcomes and ``None`` for the expiry transaction and for split leaves.
    """

    key: Outcome | WinCondition
    sighash: bytes
    keys: KeyContext
    adaptor: Point | None


@dataclass(frozen=True)
class SigningPlan:
    """The contract's signing entries in order (outcomes, then win conditions), their
    key-aggregation contexts (deduplicated) and each signer's entries."""

    entries: list[SigningEntry]
    index: dict[Outcome | WinCondition, int]
    contexts: list[tuple[bytes, ...]]
    entry_contexts: list[int]

    @classmethod
    def of(cls, dlc: TicketedDLC) -> SigningPlan:
        """Collect the entries of ``dlc``."""
        event = dlc.params.event
        entries: list[SigningEntry] = []
        for outcome, sighash in dlc.outcome_sighashes.items():
            adaptor = None if outcome.is_expiry else event.locking_points[outcome.code]
            entries.append(SigningEntry(outcome, sighash, dlc.funding.keys, adaptor))
        for win, sighash in dlc.split_sighashes.items():
            entries.append(SigningEntry(win, sighash, dlc.outcome_infos[win.outcome].keys, None))
        context_ids: dict[tuple[bytes, ...], int] = {}
        entry_contexts = [
            context_ids.setdefault(entry.keys.pubkeys, len(context_ids)) for entry in entries
        ]
        index: dict[Outcome | WinCondition, int] = {e.key: i for i, e in enumerate(entries)}
        return cls(entries, index, list(context_ids), entry_contexts)

    def entries_of(self, pubkey: bytes) -> list[int]:
        """Indices of the entries ``pubkey`` signs (its sigmap), in order."""
        member = [pubkey in keys for keys in self.contexts]
        return [i for i, ctx in enumerate(self.entry_contexts) if member[ctx]]


class TicketedDLC:
    """Every transaction of a ticketed DLC, built from parameters and a funding outpoint.

    Use :meth:`new` for parameters being agreed now (all validation rules) and
    :meth:`rebuild` for stored, already agreed contracts (every rule except the legacy
    shared-winners rule, so contracts signed before it still rebuild).
    """

    def __init__(
        self,
        params: ContractParameters,
        funding_outpoint: OutPoint,
        *,
        strict: bool = True,
        limits: ContractLimits = DEFAULT_LIMITS,
    ) -> None:
        check_limits(params, limits)
        if strict:
            validate(params)
        else:
            validate_stored(params)
        self.params = params
        self.funding_outpoint = funding_outpoint
        self.funding = FundingSpendInfo.build(
            params.market_maker, params.players, params.funding_value
        )
        self.outcome_value = outcome_output_value(params)
        anchor = params.anchor_output()
        self._anchor_outputs: tuple[TxOut, ...] = () if anchor is None else (anchor,)
        self._input_values: dict[OutPoint, int] | None = None
        self.outcome_infos: dict[Outcome, OutcomeSpendInfo] = {}
        self.outcome_txs: dict[Outcome, Transaction] = {}
        self.split_infos: dict[PlayerIndex, SplitSpendInfo] = {}
        self.split_txs: dict[Outcome, Transaction] = {}
        self.outcome_sighashes: dict[Outcome, bytes] = {}
        self.split_sighashes: dict[WinCondition, bytes] = {}
        self._plan: SigningPlan | None = None
        self._build()

    @classmethod
    def new(
        cls,
        params: ContractParameters,
        funding_outpoint: OutPoint,
        limits: ContractLimits = DEFAULT_LIMITS,
    ) -> TicketedDLC:
        """Validate with every rule and build."""
        return cls(params, funding_outpoint, strict=True, limits=limits)

    @classmethod
    def rebuild(
        cls,
        params: ContractParameters,
        funding_outpoint: OutPoint,
        limits: ContractLimits = DEFAULT_LIMITS,
    ) -> TicketedDLC:
        """Rebuild a stored contract (all rules except the legacy shared-winners rule)."""
        return cls(params, funding_outpoint, strict=False, limits=limits)

    # -- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        params = self.params
        delta = params.relative_locktime_block_delta
        bound = params.outcome_bound_splits
        funding_input = TxIn(self.funding_outpoint, b"", SEQUENCE_LOCKTIME_ENABLED)
        key_contexts: dict[tuple[PlayerIndex, ...], KeyContext] = {}
        shared_infos: dict[tuple[PlayerIndex, ...], OutcomeSpendInfo] = {}
        for outcome, weights in params.outcome_payouts.items():
            winners = params.winners(outcome)
            info = None if bound else shared_infos.get(winners)
            if info is None:
                keys = key_contexts.get(winners)
                if keys is None:
                    keys = KeyContext.of(
                        [params.market_maker.pubkey, *(params.players[i].pubkey for i in winners)]
                    )
                    key_contexts[winners] = keys
                info = OutcomeSpendInfo.build(
                    outcome,
                    keys,
                    {i: params.players[i] for i in winners},
                    params.market_maker,
                    self.outcome_value,
                    delta,
                    bound,
                )
                shared_infos[winners] = info
            self.outcome_infos[outcome] = info
            locktime = 0 if not outcome.is_expiry else params.event.expiry or 0
            outcome_tx = Transaction(
                TX_VERSION, (funding_input,), (info.output, *self._anchor_outputs), locktime
            )
            self.outcome_txs[outcome] = outcome_tx
            self.outcome_sighashes[outcome] = self.funding.sighash_outcome_tx(outcome_tx)
            self._build_split(outcome, weights, info, outcome_tx)

    def _split_info(self, player: PlayerIndex) -> SplitSpendInfo:
        info = self.split_infos.get(player)
        if info is None:
            params = self.params
            info = SplitSpendInfo.build(
                player,
                params.players[player],
                params.market_maker,
                params.relative_locktime_block_delta,
            )
            self.split_infos[player] = info
        return info

    def _build_split(
        self,
        outcome: Outcome,
        weights: PayoutWeights,
        info: OutcomeSpendInfo,
        outcome_tx: Transaction,
    ) -> None:
        params = self.params
        anchor_value = None if params.anchor is None else params.anchor.value
        payouts = split_payouts(
            self.outcome_value, params.fee_rate, info.split_input_weight(), weights, anchor_value
        )
        outputs = [
            TxOut(value, self._split_info(player).script_pubkey)
            for player, value in payouts.items()
        ]
        outputs.extend(self._anchor_outputs)
        split_input = TxIn(
            OutPoint(outcome_tx.txid(), 0), b"", params.relative_locktime_block_delta
        )
        split_tx = Transaction(TX_VERSION, (split_input,), outputs, 0)
        self.split_txs[outcome] = split_tx
        cache = SighashCache(split_tx, (info.output,))
        for player in payouts:
            leaf = leaf_hash(info.split_leaves[player])
            self.split_sighashes[WinCondition(outcome, player)] = cache.taproot(
                0, SIGHASH_DEFAULT, leaf_hash=leaf
            )

    # -- accessors -----------------------------------------------------------------------

    @property
    def funding_output(self) -> TxOut:
        """The output the funding transaction must pay (value and script)."""
        return self.funding.output

    def split_info(self, win: WinCondition) -> SplitSpendInfo:
        """The split output spend info of a win condition."""
        if win not in self.split_sighashes:
            raise KeyError(f"no win condition {win}")
        return self.split_infos[win.player_index]

    def split_output_index(self, win: WinCondition) -> int:
        """Position of the winner's output in its split transaction."""
        return self.params.winners(win.outcome).index(win.player_index)

    def presigned_input_value(self, outpoint: OutPoint) -> int | None:
        """Value of the contract output a pre-signed transaction spends: the funding output,
        or an outcome transaction's output 0; ``None`` for any other outpoint."""
        if self._input_values is None:
            values = {self.funding_outpoint: self.params.funding_value}
            for tx in self.outcome_txs.values():
                values[OutPoint(tx.txid(), 0)] = tx.outputs[0].value
            self._input_values = values
        return self._input_values.get(outpoint)

    def signing_plan(self) -> SigningPlan:
        """Every aggregated signature of the contract, indexed for the signing engine."""
        if self._plan is None:
            self._plan = SigningPlan.of(self)
        return self._plan
