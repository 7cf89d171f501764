"""A signed contract and every transaction that settles it (dlctix §7.4, §8.3).

Pre-signed transactions come out complete: the outcome transaction from the oracle's
attestation, the expiry transaction, and a split transaction from a winner's ticket preimage.
The other spends are templates the caller completes (outputs, other inputs, fee) and then signs
with the matching ``sign_*`` method, which first checks that the input at ``index`` is exactly
the expected one (outpoint, empty scriptSig and witness, and the sequence its timelock needs)
and that ``prevouts[index]`` is the expected output.

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
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

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
from ticketdlc.contract.spend_info import sign_key_path
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

    # -- templates -----------------------------------------------------------------------

    def funding_close_input(self) -> tuple[TxIn, TxOut]:
        """Input and prevout of a funding-close transaction."""
        return TxIn(self.dlc.funding_outpoint, b"", SEQUENCE_FINAL), self.dlc.funding_output

    def _outcome_input(self, outcome: Outcome, sequence: int) -> tuple[TxIn, TxOut]:
        tx = self.dlc.outcome_txs.get(outcome)
        if tx is None:
            raise SpendError(f"outcome {outcome} has no outcome transaction")
        return TxIn(OutPoint(tx.txid(), 0), b"", sequence), tx.outputs[0]

    def outcome_close_input(self, outcome: Outcome) -> tuple[TxIn, TxOut]:
        """Input and prevout of an outcome-close transaction."""
        return self._outcome_input(outcome, 0)

    def outcome_reclaim_input(self, outcome: Outcome) -> tuple[TxIn, TxOut]:
        """Input (sequence 2Δ) and prevout of an outcome-reclaim transaction."""
        return self._outcome_input(outcome, self.params.reclaim_block_delay)

    def _split_input(self, win: WinCondition, sequence: int) -> tuple[TxIn, TxOut]:
        if win not in self.dlc.split_sighashes:
            raise SpendError(f"no win condition {win}")
        tx = self.dlc.split_txs[win.outcome]
        vout = self.dlc.split_output_index(win)
        return TxIn(OutPoint(tx.txid(), vout), b"", sequence), tx.outputs[vout]

    def split_win_input(self, win: WinCondition) -> tuple[TxIn, TxOut]:
        """Input (sequence Δ) and prevout of a split-win transaction."""
        return self._split_input(win, self.params.relative_locktime_block_delta)

    def split_reclaim_input(self, win: WinCondition) -> tuple[TxIn, TxOut]:
        """Input (sequence 2Δ) and prevout of a split-reclaim transaction."""
        return self._split_input(win, self.params.reclaim_block_delay)

    def split_sellback_input(self, win: WinCondition) -> tuple[TxIn, TxOut]:
        """Input and prevout of a split-sellback transaction."""
        return self._split_input(win, 0)

    def split_close_input(self, win: WinCondition) -> tuple[TxIn, TxOut]:
        """Input and prevout of a split-close transaction."""
        return self._split_input(win, 0)

    # -- input weights (for fee estimation) ----------------------------------------------

    def outcome_reclaim_input_weight(self, outcome: Outcome) -> InputWeightPrediction:
        """Weight of an outcome-reclaim input."""
        return self.dlc.outcome_infos[outcome].reclaim_input_weight()

    def split_win_input_weight(self, win: WinCondition) -> InputWeightPrediction:
        """Weight of a split-win input."""
        return self.dlc.split_info(win).win_input_weight()

    def split_reclaim_input_weight(self, win: WinCondition) -> InputWeightPrediction:
        """Weight of a split-reclaim input."""
        return self.dlc.split_info(win).reclaim_input_weight()

    def split_sellback_input_weight(self, win: WinCondition) -> InputWeightPrediction:
        """Weight of a split-sellback input."""
        return self.dlc.split_info(win).sellback_input_weight()

    # -- signing the spends --------------------------------------------------------------

    @staticmethod
    def _check_input(
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        expected: tuple[TxIn, TxOut],
        any_sequence: bool,
    ) -> None:
        expected_in, expected_prevout = expected
        if not 0 <= index < len(tx.inputs) or len(prevouts) != len(tx.inputs):
            raise SpendError("input index out of range, or not one prevout per input")
        txin = tx.inputs[index]
        if txin.prevout != expected_in.prevout:
            raise SpendError(f"input {index} does not spend {expected_in.prevout}")
        if txin.script_sig or txin.witness:
            raise SpendError(f"input {index} must have an empty scriptSig and witness")
        if not any_sequence and txin.sequence != expected_in.sequence:
            raise SpendError(
                f"input {index} needs sequence {expected_in.sequence}, has {txin.sequence}"
            )
        if prevouts[index] != expected_prevout:
            raise SpendError(f"prevout {index} is not the contract output it spends")

    def _check_mm(self, mm_secret: bytes) -> None:
        if _secret_scalar(mm_secret, "the market maker secret") != self.params.market_maker.pubkey:
            raise SpendError("the secret key is not the market maker's")

    def _secrets(self, mm_secret: bytes, players: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
        self._check_mm(mm_secret)
        secrets = {self.params.market_maker.pubkey.to_bytes(): mm_secret}
        secrets.update(players)
        return secrets

    def sign_funding_close(
        self,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        mm_secret: bytes,
        player_secrets: Mapping[bytes, bytes],
    ) -> Transaction:
        """Spend the funding output by key path (needs every player's secret key)."""
        self._check_input(tx, index, prevouts, self.funding_close_input(), any_sequence=True)
        secrets = self._secrets(mm_secret, player_secrets)
        group = self.dlc.funding.keys.group_secret(secrets, None, tweaked=False)
        return tx.with_witness(index, [sign_key_path(group, tx, index, prevouts)])

    def sign_outcome_close(
        self,
        outcome: Outcome,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        mm_secret: bytes,
        player_secrets: Mapping[bytes, bytes],
    ) -> Transaction:
        """Spend an outcome output by key path (needs every winner's secret key)."""
        expected = self.outcome_close_input(outcome)
        self._check_input(tx, index, prevouts, expected, any_sequence=True)
        witness = self.dlc.outcome_infos[outcome].close_witness(
            tx, index, prevouts, self._secrets(mm_secret, player_secrets)
        )
        return tx.with_witness(index, witness)

    def sign_outcome_reclaim(
        self,
        outcome: Outcome,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        mm_secret: bytes,
    ) -> Transaction:
        """The market maker takes an outcome output back after 2Δ (reclaim leaf)."""
        self._check_mm(mm_secret)
        expected = self.outcome_reclaim_input(outcome)
        self._check_input(tx, index, prevouts, expected, any_sequence=False)
        witness = self.dlc.outcome_infos[outcome].reclaim_witness(tx, index, prevouts, mm_secret)
        return tx.with_witness(index, witness)

    def sign_split_win(
        self,
        win: WinCondition,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        ticket_preimage: bytes,
        player_secret: bytes,
    ) -> Transaction:
        """A winner claims its split output after Δ with its ticket preimage."""
        player = self.params.players[win.player_index]
        if _secret_scalar(player_secret, "the player secret") != player.pubkey:
            raise SpendError("the secret key is not the winner's")
        if hashlib.sha256(ticket_preimage).digest() != player.ticket_hash:
            raise SpendError("the ticket preimage does not match the ticket hash")
        self._check_input(tx, index, prevouts, self.split_win_input(win), any_sequence=False)
        witness = self.dlc.split_info(win).win_witness(
            tx, index, prevouts, ticket_preimage, player_secret
        )
        return tx.with_witness(index, witness)

    def sign_split_reclaim(
        self,
        win: WinCondition,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        mm_secret: bytes,
    ) -> Transaction:
        """The market maker takes an unclaimed split output after 2Δ (reclaim leaf)."""
        self._check_mm(mm_secret)
        self._check_input(tx, index, prevouts, self.split_reclaim_input(win), any_sequence=False)
        witness = self.dlc.split_info(win).reclaim_witness(tx, index, prevouts, mm_secret)
        return tx.with_witness(index, witness)

    def sign_split_sellback(
        self,
        win: WinCondition,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        payout_preimage: bytes,
        mm_secret: bytes,
    ) -> Transaction:
        """The market maker takes a split output with the winner's payout preimage."""
        self._check_mm(mm_secret)
        if (
            hashlib.sha256(payout_preimage).digest()
            != self.params.players[win.player_index].payout_hash
        ):
            raise SpendError("the payout preimage does not match the payout hash")
        self._check_input(tx, index, prevouts, self.split_sellback_input(win), any_sequence=True)
        witness = self.dlc.split_info(win).sellback_witness(
            tx, index, prevouts, payout_preimage, mm_secret
        )
        return tx.with_witness(index, witness)

    def sign_split_close(
        self,
        win: WinCondition,
        tx: Transaction,
        index: int,
        prevouts: Sequence[TxOut],
        mm_secret: bytes,
        player_secret: bytes,
    ) -> Transaction:
        """Spend a split output by key path with the market maker's and the winner's keys."""
        self._check_input(tx, index, prevouts, self.split_close_input(win), any_sequence=True)
        player = self.params.players[win.player_index]
        secrets = self._secrets(mm_secret, {player.pubkey.to_bytes(): player_secret})
        witness = self.dlc.split_info(win).close_witness(tx, index, prevouts, secrets)
        return tx.with_witness(index, witness)
