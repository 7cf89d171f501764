"""A player checks its own payout paths in the public contract, trusting nobody.

From the contract parameters and the funding outpoint the player rebuilds every transaction
itself (``ticketdlc``), then checks, and reports each check by name:

* the contract rebuilds under the validation rules and size limits;
* the player is in it: its entry key, its ticket hash and its payout hash, at the position its
  entry id takes in the canonical order (entries sorted by id) when the entry ids are known;
* the terms are the competition's: funding value, Δ, and for every outcome the payout weights
  the rules give (rank weights for a ranking, equal shares for refund-all and expiry);
* when the oracle's key and nonce point are given, every locking point is the one the oracle
  would attest with (so no outcome was swapped), and the expiry is the announced one;
* for every outcome that pays the player: the outcome transaction spends the funding output,
  the split transaction pays the player's own split output (its script is rebuilt from the
  player's keys) and how much it pays;
* the aggregated signatures the player relies on (each outcome it wins, the expiry, its split
  leaves) verify against the rebuilt sighashes;
* when the funding transaction is given, it pays the funding output at the outpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ticketdlc.bitcoin.tx import Transaction
from ticketdlc.competition import Announcement, OutcomeSpace, canonical_entry_order
from ticketdlc.contract import (
    EXPIRY,
    ContractError,
    ContractSignatures,
    Outcome,
    TicketedDLC,
    WinCondition,
    competition_payouts,
    verify_signatures,
)
from ticketdlc.contract.types import ContractParameters
from ticketdlc.crypto.secp import Point

#: Anchors a player accepts: enough to bump a stuck transaction, not a fee in disguise.
MIN_ANCHOR_SATS = 240
MAX_ANCHOR_SATS = 1_000


@dataclass(frozen=True)
class Check:
    """One named check and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class OutcomePayout:
    """What one outcome pays the player on chain."""

    outcome: Outcome
    weight: int
    total_weight: int
    split_value: int  # the player's split output, before the fee of its own win spend


@dataclass
class PayoutReport:
    """Every check made, and the player's payout in each outcome that pays it."""

    checks: list[Check] = field(default_factory=list)
    payouts: list[OutcomePayout] = field(default_factory=list)
    player_index: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def render(self) -> str:
        """A plain-text account: one line per check, then the payouts."""
        lines = [f"[{'ok' if c.ok else 'FAILED'}] {c.name}: {c.detail}" for c in self.checks]
        if self.payouts:
            lines.append(f"payouts to player {self.player_index} (split output, sats):")
            lines += [
                f"  {p.outcome}: weight {p.weight}/{p.total_weight} -> {p.split_value}"
                for p in self.payouts
            ]
        lines.append("all checks passed" if self.ok else f"{len(self.failures())} checks FAILED")
        return "\n".join(lines)


@dataclass(frozen=True)
class ExpectedTerms:
    """What the player agreed to, from the competition it entered (and the oracle)."""

    entries: int
    places: int
    funding_value: int
    relative_locktime_block_delta: int | None = None
    entry_ids: Sequence[uuid.UUID] | None = None  # every entry id, to check the player order
    oracle_pubkey: Point | None = None
    nonce_point: Point | None = None
    expiry: int | None = None


def verify_payout_paths(
    params: ContractParameters,
    funding_outpoint_text: str,
    signatures: ContractSignatures | None,
    *,
    entry_id: uuid.UUID,
    entry_pubkey: Point,
    ticket_hash: bytes,
    payout_hash: bytes,
    expected: ExpectedTerms,
    funding_tx: Transaction | None = None,
) -> PayoutReport:
    """Check everything that pays this player (see the module docstring)."""
    from ticketdlc.bitcoin.tx import OutPoint

    report = PayoutReport()
    try:
        dlc = TicketedDLC.rebuild(params, OutPoint.parse(funding_outpoint_text))
    except (ContractError, ValueError) as exc:
        report.add("contract rebuilds", False, str(exc))
        return report
    report.add(
        "contract rebuilds",
        True,
        f"{len(params.players)} players, {len(params.outcome_payouts)} outcomes, "
        f"{len(dlc.split_sighashes)} split leaves, funding {dlc.funding_outpoint}",
    )
    index = _check_membership(report, params, entry_id, entry_pubkey, ticket_hash, payout_hash,
                              expected)  # fmt: skip
    _check_terms(report, params, expected)
    if index is None:
        return report
    report.player_index = index
    _check_outputs(report, dlc, index)
    if signatures is None:
        report.add("signatures", False, "the contract is not signed yet")
    else:
        try:
            verify_signatures(dlc, signatures, entry_pubkey)
            wins = params.win_conditions_claimable_by(entry_pubkey) or []
            report.add(
                "signatures",
                True,
                f"{len({w.outcome for w in wins})} outcome signatures and {len(wins)} split "
                "signatures this player relies on verify",
            )
        except ContractError as exc:
            report.add("signatures", False, str(exc))
    if funding_tx is not None:
        _check_funding(report, dlc, funding_tx)
    return report


def verify_signed_contract(signed_json: object, **kwargs: object) -> PayoutReport:
    """:func:`verify_payout_paths` for a signed contract's JSON (``{"signatures", "dlc"}``)."""
    from ticketdlc.contract.jsoncodec import json_object, params_from_json

    obj = json_object(signed_json, "signed contract", ("signatures", "dlc"))
    dlc_obj = json_object(obj["dlc"], "dlc", ("params", "funding_outpoint"))
    params = params_from_json(dlc_obj["params"])
    signatures = ContractSignatures.from_json(obj["signatures"])
    return verify_payout_paths(params, str(dlc_obj["funding_outpoint"]), signatures, **kwargs)  # type: ignore[arg-type]


def _check_membership(
    report: PayoutReport,
    params: ContractParameters,
    entry_id: uuid.UUID,
    entry_pubkey: Point,
    ticket_hash: bytes,
    payout_hash: bytes,
    expected: ExpectedTerms,
) -> int | None:
    index = params.player_index(entry_pubkey)
    if not report.add(
        "player key in contract",
        index is not None,
        f"entry key {entry_pubkey.hex()[:16]}… at player index {index}"
        if index is not None
        else "the entry key is not one of the contract's players",
    ):
        return None
    assert index is not None
    player = params.players[index]
    report.add(
        "ticket hash",
        player.ticket_hash == ticket_hash,
        "the contract's ticket hash is the payment hash of this player's ticket"
        if player.ticket_hash == ticket_hash
        else f"the contract has ticket hash {player.ticket_hash.hex()}, the ticket "
        f"{ticket_hash.hex()}",
    )
    report.add(
        "payout hash",
        player.payout_hash == payout_hash,
        "the contract's payout hash is SHA256 of this player's payout preimage"
        if player.payout_hash == payout_hash
        else "the contract's payout hash is not this player's",
    )
    if expected.entry_ids is not None:
        order = canonical_entry_order(expected.entry_ids)
        position = order.index(entry_id) if entry_id in order else None
        report.add(
            "player order",
            position == index,
            f"entry {entry_id} is number {position} of {len(order)} by entry id"
            + ("" if position == index else f", but the contract has it at {index}"),
        )
    return index


def _check_terms(report: PayoutReport, params: ContractParameters, expected: ExpectedTerms) -> None:
    report.add(
        "funding value",
        params.funding_value == expected.funding_value,
        f"{params.funding_value} sats (competition pool {expected.funding_value})",
    )
    if expected.relative_locktime_block_delta is not None:
        report.add(
            "relative timelock",
            params.relative_locktime_block_delta == expected.relative_locktime_block_delta,
            f"Δ = {params.relative_locktime_block_delta} blocks "
            f"(competition: {expected.relative_locktime_block_delta})",
        )
    if params.anchor is not None:
        value = params.anchor.value
        report.add(
            "anchor",
            MIN_ANCHOR_SATS <= value <= MAX_ANCHOR_SATS,
            f"every settlement transaction carries a {value} sat pay-to-anchor output "
            f"(accepted: {MIN_ANCHOR_SATS}–{MAX_ANCHOR_SATS})",
        )
    report.add(
        "players",
        len(params.players) == expected.entries,
        f"{len(params.players)} players (competition: {expected.entries} entries)",
    )
    try:
        space = OutcomeSpace(expected.entries, expected.places)
        points = params.event.locking_points
        if any(point is None for point in points):
            raise ValueError("a locking point is the point at infinity")
        announcement = Announcement(space, [p for p in points if p is not None])
    except ValueError as exc:
        report.add("outcome space", False, str(exc))
        return
    report.add(
        "outcome space", True, f"{space.count} outcomes for {space.entries} entries, "
        f"{space.places} places",
    )  # fmt: skip
    rules = competition_payouts(announcement, params.event.expiry is not None)
    wrong = [str(o) for o, w in rules.items() if dict(params.outcome_payouts.get(o, {})) != w]
    extra = [str(o) for o in params.outcome_payouts if o not in rules]
    report.add(
        "payout weights",
        not wrong and not extra,
        "every outcome pays by the competition's rules"
        if not wrong and not extra
        else f"outcomes paying otherwise: {', '.join((wrong + extra)[:5])}",
    )
    if expected.oracle_pubkey is not None and expected.nonce_point is not None:
        honest = Announcement.derive(space, expected.oracle_pubkey, expected.nonce_point)
        report.add(
            "locking points",
            announcement.matches(honest.points),
            "every locking point is the oracle's, for its key and announced nonce"
            if announcement.matches(honest.points)
            else "the locking points are not the oracle's",
        )
    if expected.expiry is not None:
        report.add(
            "expiry",
            params.event.expiry == expected.expiry,
            f"expiry locktime {params.event.expiry} (oracle: {expected.expiry})",
        )


def _check_outputs(report: PayoutReport, dlc: TicketedDLC, index: int) -> None:
    params = dlc.params
    funding = dlc.funding_outpoint
    problems: list[str] = []
    for outcome, weights in params.outcome_payouts.items():
        outcome_tx = dlc.outcome_txs[outcome]
        if outcome_tx.inputs[0].prevout != funding or len(outcome_tx.inputs) != 1:
            problems.append(f"{outcome}: the outcome tx does not spend the funding output alone")
        if outcome.is_expiry and outcome_tx.locktime != (params.event.expiry or 0):
            problems.append("exp: the expiry tx's locktime is not the event expiry")
        if index not in weights:
            continue
        win = WinCondition(outcome, index)
        split_tx = dlc.split_txs[outcome]
        vout = dlc.split_output_index(win)
        output = split_tx.outputs[vout]
        if output.script_pubkey != dlc.split_info(win).script_pubkey:
            problems.append(f"{outcome}: the split output is not this player's")
        report.payouts.append(
            OutcomePayout(outcome, weights[index], sum(weights.values()), output.value)
        )
    wins = len(report.payouts)
    report.add(
        "outcome and split transactions",
        not problems,
        f"{wins} outcomes pay this player"
        + (" (including expiry)" if any(p.outcome == EXPIRY for p in report.payouts) else "")
        if not problems
        else "; ".join(problems[:5]),
    )


def _check_funding(report: PayoutReport, dlc: TicketedDLC, funding_tx: Transaction) -> None:
    outpoint = dlc.funding_outpoint
    ok = (
        funding_tx.txid() == outpoint.txid
        and outpoint.vout < len(funding_tx.outputs)
        and funding_tx.outputs[outpoint.vout] == dlc.funding_output
    )
    report.add(
        "funding transaction",
        ok,
        f"{outpoint} pays {dlc.funding_output.value} sats to the contract's funding key"
        if ok
        else f"{outpoint} does not pay the contract's funding output",
    )
