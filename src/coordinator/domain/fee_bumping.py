"""Fee bumping of anchored settlement transactions by CPFP: when, how far, within what (pure).

Outcome, expiry and split transactions are signed at kickoff at one fee rate and each carries a
pay-to-anchor output. After broadcast the coordinator looks at each unconfirmed one and
:func:`plan_bump` decides, from what the chain shows, whether a child must pay for it:

- ``parent_rejected``: the mempool refused the parent alone (below its floor): a package at
  the target (1.25× the rate of a refused package);
- ``below_estimate`` / ``deadline``: parent (and child) pay less than the estimate for the
  target: the target;
- ``stuck``: unconfirmed for ``after_blocks`` blocks although paying the target: 1.25× what
  the package pays.

The target is the estimate for ``conf_target`` blocks, or for ``urgent_conf_target`` when a
competing spend becomes valid within ``urgent_within_blocks`` / ``urgent_within_secs`` (the
expiry transaction for an attested outcome, the market maker's 2Δ reclaim for a split). A
replacement of a child in the mempool needs a target of at least 1.25× its package rate (unless
stuck) and pays what it replaces plus the incremental relay fee for its own size (BIP-125 as
Core applies it). :func:`child_fee` then fixes the child's fee for its size: at most
``max_fee_percent`` of what the parent spends and at most what is left of the competition's
``budget_sats``; a child capped below the target is still sent if it raises the package.

Fee rates are in sat/kwu (1 sat/vB = 250) like the contract's; estimates in sat/vB.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Final, TypeVar

from coordinator.domain.ports.chain import fee_rate_for_target
from ticketdlc.contract.cpfp import fee_for_vsize

SAT_KWU_PER_SAT_VB: Final = 250
#: A re-bump raises the package rate by at least this factor.
REBUMP_FACTOR: Final = Fraction(5, 4)
#: What a replacement pays for its own size on top of what it replaces: Bitcoin Core's
#: incremental relay fee (1 sat/vB before 29, 0.1 since: the higher one is safe for both).
INCREMENTAL_RELAY_SAT_KWU: Final = 250


class Reason(StrEnum):
    """Why a child is sent."""

    PARENT_REJECTED = "parent_rejected"
    BELOW_ESTIMATE = "below_estimate"
    DEADLINE = "deadline"
    STUCK = "stuck"
    ADOPTED = "adopted"  # a child of ours found on chain that the database did not know


class Result(StrEnum):
    """What a fee-bumping check did (the ``result`` label of ``cpfp_bumps_total``)."""

    BROADCAST = "broadcast"  # a first child is in the mempool
    REPLACED = "replaced"  # a child paying more replaced the previous one
    CAPPED = "capped"  # sent, but the budget kept it below the target
    OVER_BUDGET = "over_budget"  # the budget allows no child that raises the package
    NO_COIN = "no_coin"  # no confirmed, unlocked coin covers the child
    REFUSED = "refused"  # the chain refused the child (or the package)
    KEPT = "kept"  # after a restart: a stored or lost child found on chain, kept
    FAILED = "failed"  # an error; retried at the next check


@dataclass(frozen=True)
class BumpSettings:
    """The ``[cpfp]`` settings the policy needs."""

    after_blocks: int = 3
    conf_target: int = 6
    urgent_conf_target: int = 1
    urgent_within_blocks: int = 36
    urgent_within_secs: int = 21_600
    max_fee_percent: int = 10
    budget_sats: int = 100_000


@dataclass(frozen=True)
class Deadline:
    """When a spend competing with the parent (or taking its outputs from the winners) becomes
    valid: in the block at ``height``, or once the median time past exceeds ``time``."""

    height: int | None = None
    time: int | None = None


@dataclass(frozen=True)
class Parent:
    """A settlement transaction as the chain shows it."""

    fee: int
    vsize: int
    input_value: int  # what it spends (the percentage cap applies to it)
    in_mempool: bool  # False: the chain does not hold it (refused alone, or lost)
    waiting_blocks: int  # blocks since it was first seen unconfirmed
    deadline: Deadline | None = None
    refused_rate: int | None = None  # package rate of the last child the chain refused


@dataclass(frozen=True)
class Child:
    """The child in the mempool spending the parent's anchor (ours or anybody's)."""

    fee: int
    vsize: int
    waiting_blocks: int  # blocks since it was broadcast


@dataclass(frozen=True)
class Market:
    """The chain's tip and fee estimates (target blocks → sat/vB)."""

    tip: int
    median_time_past: int
    estimates: Mapping[int, float]


@dataclass(frozen=True)
class Plan:
    """A child to send: the package rate wanted and the limits of its fee."""

    rate: int  # sat/kwu, for parent and child together
    reason: Reason
    urgent: bool
    current_rate: Fraction  # what the package pays now (sat/kwu)
    max_fee: int  # the child pays at most this
    replaces_fee: int | None = None  # fee of the child it replaces


@dataclass(frozen=True)
class Hold:
    """No child now, and why."""

    why: str


@dataclass(frozen=True)
class ChildFee:
    """The fee of a child of a given size, and the package rate it gives."""

    rate: int
    fee: int
    capped: bool


def package_rate(parent: Parent, child: Child | None) -> Fraction:
    """What a miner credits the parent with (sat/kwu): its own rate, or the package's if a
    child raises it."""
    own = Fraction(parent.fee * 1000, 4 * parent.vsize)
    if child is None:
        return own
    together = Fraction((parent.fee + child.fee) * 1000, 4 * (parent.vsize + child.vsize))
    return max(own, together)


def is_urgent(deadline: Deadline | None, market: Market, settings: BumpSettings) -> bool:
    """A competing spend becomes valid soon (or already is)."""
    if deadline is None:
        return False
    if deadline.height is not None and deadline.height - (market.tip + 1) <= (
        settings.urgent_within_blocks
    ):
        return True
    return (
        deadline.time is not None
        and deadline.time - market.median_time_past <= settings.urgent_within_secs
    )


def target_rate(market: Market, settings: BumpSettings, urgent: bool) -> int:
    """The estimate (sat/kwu) for the confirmation target."""
    blocks = settings.urgent_conf_target if urgent else settings.conf_target
    return fee_rate_for_target(market.estimates, blocks) * SAT_KWU_PER_SAT_VB


def fee_cap(parent: Parent, settings: BumpSettings, budget_left: int) -> int:
    """The most one child of ``parent`` may pay."""
    share = parent.input_value * settings.max_fee_percent // 100
    return max(0, min(share, budget_left))


def plan_bump(
    parent: Parent,
    child: Child | None,
    market: Market,
    settings: BumpSettings,
    budget_left: int,
) -> Plan | Hold:
    """Whether ``parent`` (with ``child``, its anchor's spender in the mempool) needs a child
    now, and at what package rate. ``budget_left`` is the competition's budget minus what the
    children of its other transactions pay."""
    urgent = is_urgent(parent.deadline, market, settings)
    target = target_rate(market, settings, urgent)
    current = package_rate(parent, child)
    waiting = child.waiting_blocks if child is not None else parent.waiting_blocks
    stuck = waiting >= settings.after_blocks
    if not parent.in_mempool:
        reason = Reason.PARENT_REJECTED
        if parent.refused_rate is not None:
            target = max(target, _ceil(parent.refused_rate * REBUMP_FACTOR))
    elif current < target:
        reason = Reason.DEADLINE if urgent else Reason.BELOW_ESTIMATE
    elif stuck:
        reason = Reason.STUCK
    else:
        return Hold("pays the target")
    step = _ceil(current * REBUMP_FACTOR)
    if reason is Reason.STUCK:
        target = max(target, step)
    elif child is not None and target < step:
        if not stuck:
            return Hold("below the re-bump step")
        target = step
    return Plan(
        rate=target,
        reason=reason,
        urgent=urgent,
        current_rate=current,
        max_fee=fee_cap(parent, settings, budget_left),
        replaces_fee=None if child is None else child.fee,
    )


def child_fee_at(rate: int, parent: Parent, child_vsize: int) -> int:
    """What a child of ``child_vsize`` vB pays for the package to reach ``rate``: the package's
    fee minus the parent's, and never less than the rate on its own size (as
    :func:`ticketdlc.contract.cpfp.cpfp_child_template` computes it)."""
    package = fee_for_vsize(rate, parent.vsize + child_vsize)
    return max(package - parent.fee, fee_for_vsize(rate, child_vsize), 0)


def child_fee(plan: Plan, parent: Parent, child_vsize: int) -> ChildFee | None:
    """The child's rate and fee for its size; ``None`` if the cap allows nothing that raises
    the package (or, for a replacement, pays what BIP-125 needs)."""
    total = parent.vsize + child_vsize
    rate = plan.rate
    floor = 0
    if plan.replaces_fee is not None:
        floor = plan.replaces_fee + fee_for_vsize(INCREMENTAL_RELAY_SAT_KWU, child_vsize)
        rate = max(rate, _ceil(Fraction((floor + parent.fee) * 1000, 4 * total)))
    fee = child_fee_at(rate, parent, child_vsize)
    if fee <= plan.max_fee:
        return ChildFee(rate, fee, capped=False)
    capped = min(
        (plan.max_fee + parent.fee) * 1000 // (4 * total),
        plan.max_fee * 1000 // (4 * child_vsize),
    )
    fee = child_fee_at(capped, parent, child_vsize)
    if capped <= plan.current_rate or fee < floor or fee > plan.max_fee:
        return None
    return ChildFee(capped, fee, capped=True)


Coin = TypeVar("Coin")


def coin_sets(
    available: Sequence[tuple[Coin, int]], reused: Sequence[Coin] = ()
) -> Iterator[list[Coin]]:
    """Coin sets to try for a child, cheapest first: what a replaced child spent (a
    replacement keeps its inputs), then with the smallest single coin of ``available``
    (``(coin, value)``) that may cover it, then with the largest coins added one by one."""
    if reused:
        yield list(reused)
    by_value = sorted(available, key=lambda item: item[1])
    for coin, _ in by_value:
        yield [*reused, coin]
    largest = [coin for coin, _ in reversed(by_value)]
    for count in range(2, len(largest) + 1):
        yield [*reused, *largest[:count]]


def _ceil(value: Fraction | int) -> int:
    return math.ceil(value)
