"""Size limits and validation of contract parameters (the rules of dlctix 0.2.x).

:func:`check_limits` runs first and only counts, so untrusted parameters cannot make the engine
build (or even enumerate) an oversized contract. :func:`validate_stored` is every safety rule;
:func:`validate` adds the shared-winners rule that legacy-layout contracts need (dlctix
``UnboundSharedWinners``), which contracts agreed before that rule existed may break.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ticketdlc.bitcoin.anchor import P2A_DUST_VALUE
from ticketdlc.bitcoin.tx import MAX_MONEY
from ticketdlc.contract.errors import ContractLimitError, ContractValidationError
from ticketdlc.contract.types import (
    U32_MAX,
    U64_MAX,
    ContractParameters,
    Outcome,
    PayoutWeights,
    PlayerIndex,
)

MAX_RELATIVE_LOCKTIME_BLOCK_DELTA: Final = 0x7FFF
"""Largest Δ: ``2Δ`` must still fit the 16-bit BIP-68 block field."""


@dataclass(frozen=True, slots=True)
class ContractLimits:
    """Upper bounds on a contract's size, checked before anything is built.

    The defaults admit a competition of 25 entries with 3 places (13,802 outcomes, 525,752
    partial signatures) and little more.
    """

    max_players: int = 100
    max_locking_points: int = 20_000
    max_outcomes: int = 20_001
    max_signatures: int = 100_000
    """Aggregated signatures: one per outcome plus one per win condition."""
    max_partial_signatures: int = 1_000_000
    """Partial signatures over all signers: ``O·(n+1) + Σ w·(w+1)``."""


DEFAULT_LIMITS: Final = ContractLimits()


def signature_counts(params: ContractParameters) -> tuple[int, int]:
    """``(aggregated signatures, partial signatures)`` the contract needs."""
    outcomes = len(params.outcome_payouts)
    winners = [len(weights) for weights in params.outcome_payouts.values()]
    aggregated = outcomes + sum(winners)
    partial = outcomes * (len(params.players) + 1) + sum(w * (w + 1) for w in winners)
    return aggregated, partial


def check_limits(params: ContractParameters, limits: ContractLimits = DEFAULT_LIMITS) -> None:
    """Refuse parameters larger than ``limits`` (raises :class:`ContractLimitError`)."""
    if len(params.players) > limits.max_players:
        raise ContractLimitError(
            f"{len(params.players)} players exceed the limit of {limits.max_players}"
        )
    if len(params.event.locking_points) > limits.max_locking_points:
        raise ContractLimitError(
            f"{len(params.event.locking_points)} locking points exceed the limit of "
            f"{limits.max_locking_points}"
        )
    if len(params.outcome_payouts) > limits.max_outcomes:
        raise ContractLimitError(
            f"{len(params.outcome_payouts)} outcomes exceed the limit of {limits.max_outcomes}"
        )
    aggregated, partial = signature_counts(params)
    if aggregated > limits.max_signatures:
        raise ContractLimitError(
            f"the contract needs {aggregated} signatures, more than the limit of "
            f"{limits.max_signatures}"
        )
    if partial > limits.max_partial_signatures:
        raise ContractLimitError(
            f"the contract needs {partial} partial signatures, more than the limit of "
            f"{limits.max_partial_signatures}"
        )


def _fail(rule: str, message: str) -> ContractValidationError:
    return ContractValidationError(rule, message)


def _check_players(params: ContractParameters) -> None:
    ticket_hashes: set[bytes] = set()
    payout_hashes: set[bytes] = set()
    for index, player in enumerate(params.players):
        if player.ticket_hash in ticket_hashes:
            raise _fail("DuplicateTicketHash", f"player {index} repeats a ticket hash")
        if player.payout_hash in payout_hashes:
            raise _fail("DuplicatePayoutHash", f"player {index} repeats a payout hash")
        ticket_hashes.add(player.ticket_hash)
        payout_hashes.add(player.payout_hash)
    if not ticket_hashes.isdisjoint(payout_hashes):
        raise _fail("TicketPayoutHashCollision", "a payout hash equals a ticket hash")
    pubkeys = {params.market_maker.pubkey.to_bytes()}
    for index, player in enumerate(params.players):
        key = player.pubkey.to_bytes()
        if key in pubkeys:
            raise _fail(
                "DuplicatePubkey",
                f"player {index} shares its public key with another player or the market maker",
            )
        pubkeys.add(key)


def _check_payout_map(params: ContractParameters, outcome: Outcome, weights: PayoutWeights) -> None:
    if not params.event.is_valid_outcome(outcome):
        raise _fail("UnknownOutcome", f"the event cannot produce outcome {outcome}")
    if not weights:
        raise _fail("EmptyPayoutMap", f"outcome {outcome} pays nobody")
    total = 0
    for player, weight in weights.items():
        if not 0 < weight <= U64_MAX:
            raise _fail("InvalidPayoutWeight", f"outcome {outcome}: weight {weight} of {player}")
        if not 0 <= player < len(params.players):
            raise _fail("OutOfBoundsPlayerIndex", f"outcome {outcome} pays unknown player {player}")
        total += weight
    if total > U64_MAX or params.funding_value * total > U64_MAX:
        raise _fail("PayoutWeightOverflow", f"outcome {outcome}: payout weights overflow")


def validate_stored(params: ContractParameters) -> None:
    """Every safety rule except the shared-winners rule; raises ContractValidationError."""
    if not params.outcome_payouts:
        raise _fail("EmptyOutcomePayouts", "the contract has no outcomes")
    _check_players(params)
    for index, point in enumerate(params.event.locking_points):
        if point is None:
            raise _fail("InvalidLockingPoint", f"locking point {index} is the point at infinity")
    for outcome, weights in params.outcome_payouts.items():
        _check_payout_map(params, outcome, weights)
    if not 0 < params.fee_rate <= U64_MAX:
        raise _fail("InvalidFeeRate", "the fee rate must be positive")
    if not 0 < params.relative_locktime_block_delta <= MAX_RELATIVE_LOCKTIME_BLOCK_DELTA:
        raise _fail(
            "InvalidLocktime",
            f"the relative locktime delta must be in 1..={MAX_RELATIVE_LOCKTIME_BLOCK_DELTA}",
        )
    expiry = params.event.expiry
    if expiry is not None and not 0 < expiry <= U32_MAX:
        raise _fail("InvalidExpiry", "the expiry must be a non-zero u32 locktime")
    if not 0 < params.funding_value <= MAX_MONEY:
        raise _fail("InvalidFundingValue", "the funding value must be positive and at most 21M BTC")
    anchor = params.anchor
    if anchor is not None and not P2A_DUST_VALUE <= anchor.value <= U64_MAX:
        raise _fail(
            "InvalidAnchorValue", f"the anchor value must be at least {P2A_DUST_VALUE} sats"
        )


def check_bound_splits(params: ContractParameters) -> None:
    """Legacy layout only: attestation outcomes with the same winners must pay exactly the same
    weights (dlctix 0.2.2 ``UnboundSharedWinners``; proportional maps such as ``{0:1,1:1}`` and
    ``{0:2,1:2}`` are refused too, expiry is not compared).

    Otherwise they share one outcome transaction and a split signed for one spends the other.
    """
    if params.outcome_bound_splits:
        return
    seen: dict[tuple[PlayerIndex, ...], Mapping[PlayerIndex, int]] = {}
    for outcome, weights in params.outcome_payouts.items():
        if outcome.is_expiry:
            continue  # the expiry transaction has its own locktime, so its txid differs
        winners = tuple(weights)
        existing = seen.setdefault(winners, weights)
        if existing != weights:
            raise _fail(
                "UnboundSharedWinners",
                f"outcome {outcome} shares its winners with another outcome at different "
                "weights; use the outcome-bound layout",
            )


def validate(params: ContractParameters) -> None:
    """All rules for parameters that are about to be agreed (see :func:`validate_stored`)."""
    validate_stored(params)
    check_bound_splits(params)
