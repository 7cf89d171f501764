"""How a contract maps onto a keymeld session: subsets, batch items, batches, quota.

* Subsets are deduplicated by participant set: every outcome with the same winners signs its
  split leaves under the same aggregate key, so a competition of n entries paying k places
  declares C(n, k) subsets, not P(n, k). Outcomes paid to every player (refund-all, expiry)
  use the full n-of-n key and need no subset.
* Every subset contains the coordinator: the gateway finalizes on the coordinator's enclave and
  silently drops any item whose subset lacks it (keymeld §4.8).
* Items are the contract's signing entries in order (outcomes, then split leaves); batches are
  consecutive chunks of at most the gateway's per-session item limit (as few as that allows,
  evenly filled), and their number must fit the signing-session quota. The keygen reserves the
  configured quota (``max_signing_sessions``) in full: the plan refuses a competition whose
  batches exceed it at creation, and what the batches leave covers sessions replaced after
  being lost at the gateway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from coordinator.domain.ports.signer import SignerCapacityError, SignerLimits, SigningPlanSummary


@dataclass(frozen=True)
class SessionShape:
    """The counts a keygen session of a competition needs."""

    participants: int
    subsets: int
    items: int
    signing_sessions: int

    def summary(self) -> SigningPlanSummary:
        return SigningPlanSummary(
            self.participants, self.subsets, self.items, self.signing_sessions
        )


def distinct_subsets(players: int, winner_sets: Sequence[frozenset[int]]) -> list[frozenset[int]]:
    """The winner sets that need a subset: distinct, in first-seen order, the full set left out."""
    everyone = frozenset(range(players))
    distinct: dict[frozenset[int], None] = {}
    for winners in winner_sets:
        if not winners or not winners <= everyone:
            raise SignerCapacityError(f"winner set {sorted(winners)} is not a set of players")
        if winners != everyone:
            distinct.setdefault(winners, None)
    return list(distinct)


def check_keygen(players: int, winner_sets: Sequence[frozenset[int]], limits: SignerLimits) -> None:
    """Refuse a keygen session the gateway cannot take: participants and distinct subsets.

    The winner sets say which subsets to declare, not how many items the contract will have
    (callers may pass each set once): items and batches are counted by :func:`competition_shape`
    at creation and again from the built contract before signing.
    """
    checks = (
        ("participants", players + 1, limits.max_participants, "max_participants"),
        ("subsets", len(distinct_subsets(players, winner_sets)), limits.max_subsets, "max_subsets"),
    )
    for what, count, limit, name in checks:
        if count > limit:
            raise SignerCapacityError(f"{what}: {count} > {limit} ({name})")


def competition_shape(players: int, places: int, limits: SignerLimits) -> SessionShape:
    """Counts for a competition: every ranking of ``places`` winners, refund-all and expiry."""
    if not 0 < places < players:
        raise SignerCapacityError(f"{places} places need more than {places} players")
    ranked = math.perm(players, places)
    combinations = math.comb(players, places)
    outcomes = ranked + 2  # rankings, refund-all, expiry
    items = outcomes + places * ranked + 2 * players
    shape = SessionShape(
        players + 1,
        combinations,
        items,
        max(1, math.ceil(items / limits.max_items_per_signing_session)),
    )
    check_capacity(shape, limits)
    return shape


def check_capacity(shape: SessionShape, limits: SignerLimits) -> None:
    """Refuse, naming the limit, a shape the gateway cannot take."""
    checks = (
        ("participants", shape.participants, limits.max_participants, "max_participants"),
        ("subsets", shape.subsets, limits.max_subsets, "max_subsets"),
        (
            "signing sessions",
            shape.signing_sessions,
            limits.max_signing_sessions,
            f"max_signing_sessions, at {limits.max_items_per_signing_session} items each",
        ),
    )
    for what, count, limit, name in checks:
        if count > limit:
            raise SignerCapacityError(f"{what}: {count} > {limit} ({name})")
