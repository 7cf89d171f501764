"""Payout weights per outcome: ranked places, or an equal split for refund-all and expiry.

Weights are integer percentages summing to 100, keyed by canonical player index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ticketdlc.competition.outcomes import InvalidRankingError, OutcomeSpace

WEIGHT_TOTAL = 100

PLACE_WEIGHTS: Mapping[int, tuple[int, ...]] = {
    1: (100,),
    2: (60, 40),
    3: (45, 35, 20),
    4: (42, 30, 18, 10),
    5: (40, 27, 16, 9, 8),
}
"""Weights by rank (first place first) for each number of paid places."""


def rank_weights(places: int) -> tuple[int, ...]:
    """Weights of ranks 1..``places``."""
    try:
        return PLACE_WEIGHTS[places]
    except KeyError:
        raise InvalidRankingError(f"no payout table for {places} places") from None


def equal_split(players: int) -> dict[int, int]:
    """``100 // n`` each; the first ``100 % n`` players get one more."""
    if not 1 <= players <= WEIGHT_TOTAL:
        raise InvalidRankingError(f"cannot split {WEIGHT_TOTAL} between {players} players")
    share, extra = divmod(WEIGHT_TOTAL, players)
    return {player: share + (1 if player < extra else 0) for player in range(players)}


def ranking_weights(ranking: Sequence[int]) -> dict[int, int]:
    """Weights of a ranked outcome: player ``ranking[r]`` gets the weight of rank ``r + 1``."""
    return dict(zip(ranking, rank_weights(len(ranking)), strict=True))


def outcome_weights(space: OutcomeSpace, index: int) -> dict[int, int]:
    """Weights of the attested outcome ``index``."""
    if space.is_refund(index):
        return equal_split(space.entries)
    return ranking_weights(space.ranking(index))


def expiry_weights(space: OutcomeSpace) -> dict[int, int]:
    """Weights when no attestation arrives before expiry: an equal split."""
    return equal_split(space.entries)
