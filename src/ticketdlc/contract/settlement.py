"""A signed contract and every transaction that settles it (dlctix §7.4, §8.3).

Pre-signed transactions come out complete: the outcome transaction from the oracle's
attestation, the expiry transaction, and a split transaction from a winner's ticket preimage.
The other spends are described by one table, ``SPENDS``: :meth:`SignedContract.spend_input`
gives the template input a caller completes (outputs, other inputs, fee),
:meth:`SignedContract.spend_input_weight` its weight, and :meth:`SignedContract.sign_spend`
signs it after checking the secrets and preimage, that the input at ``index`` is exactly the
expected one (outpoint, empty scriptSig and witness, and the sequence its timelock needs) and
that ``prevouts[index]`` is the expected output.

===================  ===================  ==================  ============================
spend                spends               nSequence           signed by
===================  ===================  ==================  ============================
funding-close        funding output       any                 MM + every player's key
outcome-close        outcome tx :0        any                 MM + every winner's key
outcome-reclaim      outcome tx :0        exactly 2Δ          MM (reclaim leaf)
split-win            split tx :j          exactly Δ           player j + ticket preimage
split-reclaim        split tx :j          exactly 2Δ          MM (reclaim leaf)
split-sellback       split tx :j          any                 MM + payout preimage
split-close          split tx :j          any                 MM + player j's key
===================  ===================  ==================  ============================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, InputWeightPrediction
from ticketdlc.bitcoin.tx import SEQUENCE_FINAL, OutPoint, Transaction, TxIn, TxOut
from ticketdlc.contract.build import TicketedDLC
from ticketdlc.contract.cpfp import (
    CpfpChild,
    CpfpFundingInput,
    contract_cpfp_child,
    presigned_tx_fee,
)
from ticketdlc.contract.errors import SpendError
from ticketdlc.contract.jsoncodec import (
    JsonObj,
    decode_outpoint,
    encode_outpoint,
    json_object,
    params_from_json,
    params_to_json,
)
from ticketdlc.contract.signatures import ContractSignatures, verify_signatures
from ticketdlc.contract.spend_info import TaprootOutput, sign_key_path
from ticketdlc.contract.types import EXPIRY, ContractParameters, Outcome, WinCondition
from ticketdlc.contract.validation import DEFAULT_LIMITS, ContractLimits
from ticketdlc.crypto import adaptor, bip340
from ticketdlc.crypto.secp import CURVE_ORDER, Point

CLOSE_INPUT_WEIGHT = P2TR_KEY_SPEND
"""Weight prediction of every close input (funding-, outcome- and split-close)."""


def dlc_to_json(dlc: TicketedDLC) -> JsonObj:
    """``{"params": …, "funding_outpoint": "txid:vout"}`` (dlctix ``TicketedDLC``)."""
    return {
        "params": params_to_json(dlc.params),
        "funding_outpoint": encode_outpoint(dlc.funding_outpoint),
    }


def dlc_from_json(value: Any, limits: ContractLimits = DEFAULT_LIMITS) -> TicketedDLC:
    """Decode and rebuild a stored contract (limits first, stored-contract validation)."""
    obj = json_object(value, "dlc", ("params", "funding_outpoint"))
    params = params_from_json(obj["params"], limits)
    return TicketedDLC.rebuild(params, decode_outpoint(obj["funding_outpoint"]), limits)


def _secret_scalar(secret: bytes, what: str) -> Point:
    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
        raise SpendError(f"{what} is not a valid secret key")
    return Point.from_secret(secret)


class SignedContract:
    """A contract with its verified aggregated signatures."""

    def __init__(self, dlc: TicketedDLC, signatures: ContractSignatures) -> None:
        """Use :meth:`verified` (or :meth:`unchecked` for signatures verified already)."""
        self.dlc = dlc
        self.signatures = signatures

    @classmethod
    def verified(
        cls,
        dlc: TicketedDLC,
        signatures: ContractSignatures,
        pubkey: Point | None = None,
        *,
        executor: Executor | None = None,
    ) -> SignedContract:
        """Verify the signatures ``pubkey`` relies on (all for the MM or ``None``), then wrap."""
        verify_signatures(dlc, signatures, pubkey, executor=executor)
        return cls(dlc, signatures)

    @classmethod
    def unchecked(cls, dlc: TicketedDLC, signatures: ContractSignatures) -> SignedContract:
        """Wrap signatures that were verified before (for example, loaded from our own store)."""
        return cls(dlc, signatures)

    @property
    def params(self) -> ContractParameters:
        """The contract parameters."""
        return self.dlc.params

    # -- JSON ----------------------------------------------------------------------------

    def to_json(self) -> JsonObj:
        """``{"signatures": …, "dlc": {"params": …, "funding_outpoint": …}}``."""
        return {"signatures": self.signatures.to_json(), "dlc": dlc_to_json(self.dlc)}

    @classmethod
    def from_json(
        cls,
        value: Any,
        pubkey: Point | None = None,
        *,
        limits: ContractLimits = DEFAULT_LIMITS,
        executor: Executor | None = None,
    ) -> SignedContract:
        """Decode, rebuild and verify (as ``pubkey`` relies on it; everything by default)."""
        obj = json_object(value, "signed contract", ("signatures", "dlc"))
        dlc = dlc_from_json(obj["dlc"], limits)
        signatures = ContractSignatures.from_json(obj["signatures"], limits)
        return cls.verified(dlc, signatures, pubkey, executor=executor)

    def pruned_signatures(self, pubkey: Point) -> ContractSignatures:
        """The signatures ``pubkey`` needs (all for the market maker)."""
        return self.signatures.pruned_for(self.dlc, pubkey)

    # -- pre-signed transactions ---------------------------------------------------------

    def outcome_of_attestation(self, attestation: int) -> Outcome:
        """The attestation outcome whose locking point is ``attestation·G`` (first match)."""
        if not 0 < attestation < CURVE_ORDER:
            raise SpendError("attestation scalar out of range")
        point = Point.from_secret(attestation)
        for index, locking in enumerate(self.params.event.locking_points):
            if locking == point:
                return Outcome.attestation(index)
        raise SpendError("the attestation matches no locking point")

    def signed_outcome_tx(self, outcome_index: int, attestation: int | bytes) -> Transaction:
        """The outcome transaction, its adaptor signature completed with the attestation."""
        t = int.from_bytes(attestation, "big") if isinstance(attestation, bytes) else attestation
        outcome = Outcome.attestation(outcome_index)
        points = self.params.event.locking_points
        if outcome_index >= len(points) or outcome not in self.dlc.outcome_txs:
            raise SpendError(f"outcome {outcome} has no outcome transaction")
        if not 0 < t < CURVE_ORDER or Point.from_secret(t) != points[outcome_index]:
            raise SpendError(f"the attestation does not unlock outcome {outcome}")
        adaptor_sig = self.signatures.outcome_tx_signatures.get(outcome_index)
        if adaptor_sig is None:
            raise SpendError(f"no signature for outcome {outcome}")
        signature = adaptor.adapt(adaptor_sig, t)
        sighash = self.dlc.outcome_sighashes[outcome]
        if not bip340.verify(self.dlc.funding.keys.xonly, sighash, signature):
            raise SpendError(f"the adapted signature of outcome {outcome} does not verify")
        return self.dlc.outcome_txs[outcome].with_witness(0, [signature])

    def expiry_tx(self) -> Transaction | None:
        """The signed expiry transaction (``None`` if the contract has no expiry outcome)."""
        tx = self.dlc.outcome_txs.get(EXPIRY)
        signature = self.signatures.expiry_tx_signature
        if tx is None or signature is None:
            return None
        return tx.with_witness(0, [signature])

    def signed_split_tx(self, win: WinCondition, ticket_preimage: bytes) -> Transaction:
        """The split transaction of ``win.outcome``, unlocked with winner ``win``'s ticket."""
        params = self.params
        if win not in self.dlc.split_sighashes:
            raise SpendError(f"no win condition {win}")
        if hashlib.sha256(ticket_preimage).digest() != params.players[win.player_index].ticket_hash:
            raise SpendError("the ticket preimage does not match the ticket hash")
        signature = self.signatures.split_tx_signatures.get(win)
        if signature is None:
            raise SpendError(f"no signature for {win}")
        info = self.dlc.outcome_infos[win.outcome]
        witness = info.split_witness(signature, ticket_preimage, win.player_index)
        return self.dlc.split_txs[win.outcome].with_witness(0, witness)

    # -- fee bumping (anchored contracts) ------------------------------------------------

    def presigned_tx_fee(self, tx: Transaction) -> int | None:
        """The fee a pre-signed outcome, expiry or split transaction pays (``None`` for any
        other transaction); see :func:`~ticketdlc.contract.cpfp.presigned_tx_fee`."""
        return presigned_tx_fee(self.dlc, tx)

    def cpfp_child_template(
        self,
        parent: Transaction,
        funding_inputs: Sequence[CpfpFundingInput],
        change_script: bytes,
        package_rate: int,
    ) -> CpfpChild:
        """The unsigned CPFP child bringing the signed pre-signed ``parent`` and itself to
        ``package_rate`` (sat/kwu) from the caller's confirmed coins; see
        :func:`~ticketdlc.contract.cpfp.cpfp_child_template`."""
        return contract_cpfp_child(self.dlc, parent, funding_inputs, change_script, package_rate)

    # -- spending contract outputs (table-driven, see ``SPENDS``) -------------------------

    def spend_input(self, spend: Spend, target: SpendTarget = None) -> tuple[TxIn, TxOut]:
        """Input (with the sequence its timelock needs) and prevout of a ``spend`` of the output
        ``target`` names: nothing for funding-close, an outcome for outcome spends, a win
        condition for split spends."""
        rule = SPENDS[spend]
        params = self.params
        if rule.output == "funding":
            if target is not None:
                raise SpendError("a funding-close spends the funding output: no target")
            return TxIn(self.dlc.funding_outpoint, b"", SEQUENCE_FINAL), self.dlc.funding_output
        sequence = {
            "any": 0,
            "delta": params.relative_locktime_block_delta,
            "reclaim": params.reclaim_block_delay,
        }[rule.sequence]
        if rule.output == "outcome":
            outcome = self._outcome(target)
            tx = self.dlc.outcome_txs.get(outcome)
            if tx is None:
                raise SpendError(f"outcome {outcome} has no outcome transaction")
            return TxIn(OutPoint(tx.txid(), 0), b"", sequence), tx.outputs[0]
        win = self._win(target)
        split_tx = self.dlc.split_txs[win.outcome]
        vout = self.dlc.split_output_index(win)
        return TxIn(OutPoint(split_tx.txid(), vout), b"", sequence), split_tx.outputs[vout]

    def spend_input_weight(self, spend: Spend, target: SpendTarget = None) -> InputWeightPrediction:
        """Weight of the input of a ``spend`` (for fee estimation)."""
        rule = SPENDS[spend]
        if rule.leaf is None:
            return CLOSE_INPUT_WEIGHT
        output = self._output_info(rule, target)
        return output.leaf_input_weight(rule.leaf(output), rule.preimage is not None)

    def sign_spend(
        self,
        spend: Spend,
        target: SpendTarget,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        *,
        mm_secret: bytes | None = None,
        player_secret: bytes | None = None,
        player_secrets: Mapping[bytes, bytes] | None = None,
        preimage: bytes | None = None,
    ) -> Transaction:
        """Sign input ``index`` of ``tx`` as a ``spend`` of ``target``'s output.

        The secrets and preimage each spend needs are in ``SPENDS``: they are checked first,
        then the input (outpoint, empty scriptSig and witness, sequence) and its prevout.
        """
        rule = SPENDS[spend]
        secrets = self._check_secrets(rule, target, mm_secret, player_secret, player_secrets)
        if rule.preimage is not None:
            self._check_preimage(rule.preimage, self._win(target), preimage)
        self._check_input(tx, index, prevouts, self.spend_input(spend, target), rule.sequence)
        if rule.output == "funding":
            group = self.dlc.funding.keys.group_secret(secrets, None, tweaked=False)
            return tx.with_witness(index, [sign_key_path(group, tx, index, prevouts)])
        output = self._output_info(rule, target)
        if rule.leaf is None:
            return tx.with_witness(index, output.close_witness(tx, index, prevouts, secrets))
        (secret,) = secrets.values()
        leaf = rule.leaf(output)
        witness = output.leaf_witness(leaf, tx, index, prevouts, secret, preimage)
        return tx.with_witness(index, witness)

    # -- the checks behind ``sign_spend`` ------------------------------------------------

    def _outcome(self, target: SpendTarget) -> Outcome:
        if not isinstance(target, Outcome):
            raise SpendError("an outcome spend needs the outcome whose output it spends")
        return target

    def _win(self, target: SpendTarget) -> WinCondition:
        if not isinstance(target, WinCondition) or target not in self.dlc.split_sighashes:
            raise SpendError(f"no win condition {target}")
        return target

    def _output_info(self, rule: SpendRule, target: SpendTarget) -> TaprootOutput:
        if rule.output == "outcome":
            outcome = self._outcome(target)
            if outcome not in self.dlc.outcome_infos:
                raise SpendError(f"outcome {outcome} has no outcome transaction")
            return self.dlc.outcome_infos[outcome]
        return self.dlc.split_info(self._win(target))

    def _check_secrets(
        self,
        rule: SpendRule,
        target: SpendTarget,
        mm_secret: bytes | None,
        player_secret: bytes | None,
        player_secrets: Mapping[bytes, bytes] | None,
    ) -> dict[bytes, bytes]:
        """The signers' secret keys by public key, each checked against the contract."""
        secrets: dict[bytes, bytes] = {}
        if "mm" in rule.signers:
            if mm_secret is None:
                raise SpendError(f"a {rule.name} needs the market maker's secret key")
            mm = self.params.market_maker.pubkey
            if _secret_scalar(mm_secret, "the market maker secret") != mm:
                raise SpendError("the secret key is not the market maker's")
            secrets[mm.to_bytes()] = mm_secret
        if "winner" in rule.signers:
            player = self.params.players[self._win(target).player_index]
            if player_secret is None:
                raise SpendError(f"a {rule.name} needs the winner's secret key")
            if _secret_scalar(player_secret, "the player secret") != player.pubkey:
                raise SpendError("the secret key is not the winner's")
            secrets[player.pubkey.to_bytes()] = player_secret
        if "players" in rule.signers:
            secrets.update(player_secrets or {})
        return secrets

    def _check_preimage(self, kind: str, win: WinCondition, preimage: bytes | None) -> None:
        player = self.params.players[win.player_index]
        expected = player.ticket_hash if kind == "ticket" else player.payout_hash
        if preimage is None or hashlib.sha256(preimage).digest() != expected:
            raise SpendError(f"the {kind} preimage does not match the {kind} hash")

    @staticmethod
    def _check_input(
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        expected: tuple[TxIn, TxOut],
        sequence: SequenceRule,
    ) -> None:
        expected_in, expected_prevout = expected
        if not 0 <= index < len(tx.inputs) or len(prevouts) != len(tx.inputs):
            raise SpendError("input index out of range, or not one prevout per input")
        txin = tx.inputs[index]
        if txin.prevout != expected_in.prevout:
            raise SpendError(f"input {index} does not spend {expected_in.prevout}")
        if txin.script_sig or txin.witness:
            raise SpendError(f"input {index} must have an empty scriptSig and witness")
        if sequence != "any" and txin.sequence != expected_in.sequence:
            raise SpendError(
                f"input {index} needs sequence {expected_in.sequence}, has {txin.sequence}"
            )
        if prevouts[index] != expected_prevout:
            raise SpendError(f"prevout {index} is not the contract output it spends")


SpendTarget = Outcome | WinCondition | None
"""What a spend's output is named by: nothing (funding), an outcome, or a win condition."""

SequenceRule = Literal["any", "delta", "reclaim"]
"""``any`` (template 0, or final for funding), exactly Δ, or exactly 2Δ (``reclaim``)."""


class Spend(StrEnum):
    """The ways a contract output can be spent after the pre-signed transactions."""

    FUNDING_CLOSE = "funding-close"
    OUTCOME_CLOSE = "outcome-close"
    OUTCOME_RECLAIM = "outcome-reclaim"
    SPLIT_WIN = "split-win"
    SPLIT_RECLAIM = "split-reclaim"
    SPLIT_SELLBACK = "split-sellback"
    SPLIT_CLOSE = "split-close"


@dataclass(frozen=True)
class SpendRule:
    """One row of the spend table."""

    name: str
    output: Literal["funding", "outcome", "split"]
    sequence: SequenceRule
    #: ``mm``: the market maker; ``winner``: the split output's player; ``players``: the
    #: caller's map of the other signers' keys (every player, or every winner).
    signers: tuple[Literal["mm", "winner", "players"], ...]
    #: The script leaf spent (``None``: key path by every signer's aggregate key).
    leaf: Callable[[Any], bytes] | None = None
    preimage: Literal["ticket", "payout"] | None = None


def _reclaim(output: Any) -> bytes:
    return bytes(output.reclaim_script)


SPENDS: Final[Mapping[Spend, SpendRule]] = {
    Spend.FUNDING_CLOSE: SpendRule("funding-close", "funding", "any", ("mm", "players")),
    Spend.OUTCOME_CLOSE: SpendRule("outcome-close", "outcome", "any", ("mm", "players")),
    Spend.OUTCOME_RECLAIM: SpendRule("outcome-reclaim", "outcome", "reclaim", ("mm",), _reclaim),
    Spend.SPLIT_WIN: SpendRule(
        "split-win", "split", "delta", ("winner",), lambda o: bytes(o.win_script), "ticket"
    ),
    Spend.SPLIT_RECLAIM: SpendRule("split-reclaim", "split", "reclaim", ("mm",), _reclaim),
    Spend.SPLIT_SELLBACK: SpendRule(
        "split-sellback", "split", "any", ("mm",), lambda o: bytes(o.sellback_script), "payout"
    ),
    Spend.SPLIT_CLOSE: SpendRule("split-close", "split", "any", ("mm", "winner")),
}
