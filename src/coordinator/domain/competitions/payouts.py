"""Lightning payouts (sell-back of a winner's on-chain claim) and the window they must fit in.

A winner asks to be paid over Lightning and reveals its payout preimage and ephemeral key; the
coordinator pays, and then takes the winner's share of the contract on-chain with those
secrets. The coordinator must be able to do that before the winner could claim the same share
on-chain with its ticket preimage: the split transaction becomes valid Δ blocks after the
outcome transaction confirmed. So every payment HTLC must be resolved ``margin`` blocks before
that: a payout is sent with ``cltv_limit = confirm_height + Δ − margin − tip`` (capped), and
only while that still leaves room for the invoice's final CLTV delta.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

CLTV_SLACK: Final = 3  # blocks of headroom above the invoice's min_final_cltv_expiry


@dataclass(frozen=True)
class PayoutRules:
    """Limits of Lightning payouts (configuration)."""

    margin_blocks: int = 13  # blocks kept between the last HTLC expiry and the split tx
    max_cltv_limit: int = 432  # cap on any payment's total time lock
    fee_limit_sats: int = 1_000
    timeout_secs: int = 60


def payout_amount(funding_value: int, weights: Mapping[int, int], player: int, players: int) -> int:
    """What ``player`` is owed over Lightning for an outcome paying ``weights``.

    Ranked outcomes pay ``floor(funding_value × weight / Σ weights)``; outcomes that pay every
    player (refund-all and expiry) pay equal shares, ``floor(funding_value / players)``.
    """
    if player not in weights:
        return 0
    if len(weights) == players:
        return funding_value // players
    return funding_value * weights[player] // sum(weights.values())


def window_end_height(confirm_height: int, delta: int, rules: PayoutRules) -> int:
    """The height by which every payout HTLC must be resolved."""
    return confirm_height + delta - rules.margin_blocks


def cltv_limit(confirm_height: int, delta: int, tip: int, rules: PayoutRules) -> int:
    """The largest total time lock a payout sent now may use (≤ 0: the window is closed)."""
    return min(window_end_height(confirm_height, delta, rules) - tip, rules.max_cltv_limit)


def window_allows(limit: int, min_final_cltv_expiry: int) -> bool:
    """Whether an invoice needing ``min_final_cltv_expiry`` fits under ``limit``."""
    return limit >= min_final_cltv_expiry + CLTV_SLACK


class CloseDecision(StrEnum):
    WAIT = "wait"
    CLOSE = "close"  # every winner paid: one cooperative close of the outcome output
    SPLIT = "split"  # the window closed with winners unpaid: the split transaction


def close_or_split(
    *,
    confirm_height: int | None,
    tip: int,
    delta: int,
    rules: PayoutRules,
    winners: Collection[int],
    paid: Collection[int],
) -> CloseDecision:
    """What to do with a confirmed outcome output now.

    Every winner paid → close at once. Otherwise wait until the window is over and the split
    transaction can be mined in the next block (Δ after the outcome confirmed), then split, so
    unpaid winners get their on-chain claim as early as the contract allows.
    """
    if confirm_height is None:
        return CloseDecision.WAIT
    if set(winners) <= set(paid):
        return CloseDecision.CLOSE
    window_over = tip >= window_end_height(confirm_height, delta, rules)
    split_final_next_block = tip + 1 >= confirm_height + delta
    if window_over and split_final_next_block:
        return CloseDecision.SPLIT
    return CloseDecision.WAIT


def reclaim_height(split_confirm_height: int, delta: int) -> int:
    """First block that can hold the market maker's reclaim of a split output (2Δ)."""
    return split_confirm_height + 2 * delta
