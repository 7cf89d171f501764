"""The aggregated signature set of a contract, its JSON and its verification.

A contract counts as signed only once its signature set verified (dlctix 0.0.9 skipped this).
The market maker verifies every signature; a player verifies the outcomes and split leaves it
can claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ticketdlc.contract.build import SigningEntry, TicketedDLC
from ticketdlc.contract.errors import ContractDecodeError, InvalidSignatureError
from ticketdlc.contract.jsoncodec import JsonObj, bounded_map, hex_bytes, index_key, json_object
from ticketdlc.contract.types import EXPIRY, Outcome, WinCondition
from ticketdlc.contract.validation import DEFAULT_LIMITS, ContractLimits
from ticketdlc.crypto import batch
from ticketdlc.crypto.secp import CURVE_ORDER, Point


@dataclass(frozen=True)
class ContractSignatures:
    """Aggregated signatures: expiry (64 bytes), outcomes (65-byte adaptor signatures by
    attestation index) and split leaves (64 bytes by win condition)."""

    expiry_tx_signature: bytes | None
    outcome_tx_signatures: dict[int, bytes] = field(default_factory=dict)
    split_tx_signatures: dict[WinCondition, bytes] = field(default_factory=dict)

    def signature_for(self, key: Outcome | WinCondition) -> bytes | None:
        """The signature of one entry, if present."""
        if isinstance(key, WinCondition):
            return self.split_tx_signatures.get(key)
        if key.is_expiry:
            return self.expiry_tx_signature
        return self.outcome_tx_signatures.get(key.code)

    def to_json(self) -> JsonObj:
        """dlctix JSON (hex signatures, BTreeMap key order)."""
        return {
            "expiry_tx_signature": (
                None if self.expiry_tx_signature is None else self.expiry_tx_signature.hex()
            ),
            "outcome_tx_signatures": {
                str(index): sig.hex() for index, sig in sorted(self.outcome_tx_signatures.items())
            },
            "split_tx_signatures": {
                str(win): sig.hex() for win, sig in sorted(self.split_tx_signatures.items())
            },
        }

    @classmethod
    def from_json(cls, value: Any, limits: ContractLimits = DEFAULT_LIMITS) -> ContractSignatures:
        """Decode (shapes and sizes only; verify with :func:`verify_signatures`)."""
        obj = json_object(
            value,
            "signatures",
            ("expiry_tx_signature", "outcome_tx_signatures", "split_tx_signatures"),
        )
        raw_expiry = obj["expiry_tx_signature"]
        expiry = None if raw_expiry is None else _signature(raw_expiry, 64, "expiry_tx_signature")
        outcomes_raw = bounded_map(
            obj["outcome_tx_signatures"], "outcome_tx_signatures", limits.max_outcomes
        )
        outcomes = {
            index_key(key, "outcome_tx_signatures"): _signature(
                sig, 65, f"outcome_tx_signatures.{key}"
            )
            for key, sig in outcomes_raw.items()
        }
        splits_raw = bounded_map(
            obj["split_tx_signatures"], "split_tx_signatures", limits.max_signatures
        )
        splits = {
            WinCondition.parse(key): _signature(sig, 64, f"split_tx_signatures.{key}")
            for key, sig in splits_raw.items()
        }
        return cls(expiry, outcomes, splits)

    def pruned_for(self, dlc: TicketedDLC, pubkey: Point) -> ContractSignatures:
        """The subset a player needs (everything for the market maker)."""
        params = dlc.params
        if pubkey == params.market_maker.pubkey:
            return self
        wins = params.win_conditions_claimable_by(pubkey)
        if wins is None:
            raise InvalidSignatureError("the key is not part of the contract")
        outcomes = {win.outcome for win in wins}
        claimable = set(wins)
        return ContractSignatures(
            self.expiry_tx_signature if EXPIRY in outcomes else None,
            {
                i: sig
                for i, sig in self.outcome_tx_signatures.items()
                if Outcome.attestation(i) in outcomes
            },
            {win: sig for win, sig in self.split_tx_signatures.items() if win in claimable},
        )


def _signature(value: Any, size: int, what: str) -> bytes:
    data = hex_bytes(value, size, what)
    if int.from_bytes(data[-32:], "big") >= CURVE_ORDER:
        raise ContractDecodeError(f"{what}: signature scalar out of range")
    return data


def relevant_entries(dlc: TicketedDLC, pubkey: Point) -> list[SigningEntry]:
    """Entries whose signatures ``pubkey`` relies on: all of them for the market maker."""
    entries = dlc.signing_plan().entries
    if pubkey == dlc.params.market_maker.pubkey:
        return list(entries)
    wins = dlc.params.win_conditions_claimable_by(pubkey)
    if wins is None:
        raise InvalidSignatureError("the key is not part of the contract")
    wanted: set[Outcome | WinCondition] = set(wins)
    wanted.update(win.outcome for win in wins)
    return [entry for entry in entries if entry.key in wanted]


def verify_signatures(
    dlc: TicketedDLC,
    signatures: ContractSignatures,
    pubkey: Point | None = None,
    *,
    executor: Executor | None = None,
) -> None:
    """Check every signature ``pubkey`` relies on (all of them if ``pubkey`` is None or the
    market maker). Raises :class:`InvalidSignatureError` naming missing or invalid entries."""
    entries = relevant_entries(dlc, pubkey or dlc.params.market_maker.pubkey)
    verify_entries(
        [(entry, signatures.signature_for(entry.key)) for entry in entries], executor=executor
    )


def verify_entries(
    signed: Sequence[tuple[SigningEntry, bytes | None]],
    *,
    workers: int | None = None,
    executor: Executor | None = None,
) -> None:
    """Check each signature against its entry's aggregate key, sighash and adaptor point (a part
    of a contract at a time: what :func:`verify_signatures` checks for the whole of it). Raises
    :class:`InvalidSignatureError` naming missing or invalid entries."""
    rows: list[batch.Row] = []
    missing: list[str] = []
    for entry, signature in signed:
        expected = 65 if entry.adaptor is not None else 64
        if signature is None or len(signature) != expected:
            missing.append(str(entry.key))
            continue
        if entry.adaptor is None:
            rows.append((entry.keys.xonly, entry.sighash, signature))
        else:
            rows.append((entry.keys.xonly, entry.sighash, signature, entry.adaptor))
    if missing:
        raise InvalidSignatureError(f"missing signatures for {', '.join(missing[:5])}")
    result = batch.verify_batch(rows, workers=workers, executor=executor)
    if not result.ok:
        failed = [str(signed[i][0].key) for i in result.failed]
        raise InvalidSignatureError(
            f"{len(failed)} invalid signatures: {', '.join(failed[:5])}"
            + (" …" if len(failed) > 5 else "")
        )
