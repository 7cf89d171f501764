"""Scores shown on the leaderboard and entry pages, computed with the oracle's own rules.

The display uses :mod:`coordinator_core.scoring`, the same functions the devnet oracle scores
with, and selects forecast and observation rows the same way, so a page never shows a score the
oracle would not give. The oracle's stored score, when it has one, decides the order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from coordinator_core.observations import Forecast, Metric, Observation, StationPicks
from coordinator_core.scoring import (
    PickResult,
    base_score,
    event_forecasts,
    event_observations,
    ranking_score,
    score_picks,
)


@dataclass(frozen=True)
class ScoringRules:
    """What a competition scores: its stations, metrics and observation window start."""

    locations: tuple[str, ...]
    metrics: tuple[Metric, ...]
    start_observation_date: dt.datetime


@dataclass(frozen=True)
class EntryScoreCard:
    """One entry's picks with their outcome, its base score and its ranking score."""

    entry_id: uuid.UUID
    picks: tuple[PickResult, ...]
    base_score: int
    ranking_score: int

    @property
    def decided(self) -> bool:
        """True once every scored pick has both a forecast and an observation."""
        return all(pick.decided for pick in self.picks)


@dataclass(frozen=True)
class LeaderboardRow:
    """A leaderboard line: rank 1 is first."""

    rank: int
    entry_id: uuid.UUID
    base_score: int
    ranking_score: int
    oracle_score: int | None


def score_card(
    entry_id: uuid.UUID,
    picks: Sequence[StationPicks],
    rules: ScoringRules,
    forecasts: Iterable[Forecast],
    observations: Iterable[Observation],
) -> EntryScoreCard:
    """Score one entry from the oracle's forecast and observation rows for the window."""
    chosen_forecasts = event_forecasts(forecasts, rules.locations, rules.start_observation_date)
    chosen_observations = event_observations(observations, rules.locations)
    results = score_picks(
        picks, rules.locations, rules.metrics, chosen_forecasts, chosen_observations
    )
    base = base_score(results)
    return EntryScoreCard(entry_id, tuple(results), base, ranking_score(base, entry_id))


def leaderboard(
    cards: Sequence[EntryScoreCard], oracle_scores: Mapping[uuid.UUID, int | None]
) -> list[LeaderboardRow]:
    """Rank entries: by the oracle's score where every entry has one, else by the local ranking
    score (they agree once the oracle has scored); equal scores by entry id."""
    use_oracle = bool(cards) and all(oracle_scores.get(c.entry_id) is not None for c in cards)

    def key(card: EntryScoreCard) -> tuple[int, int]:
        score = oracle_scores[card.entry_id] if use_oracle else card.ranking_score
        return (-(score or 0), card.entry_id.int)

    return [
        LeaderboardRow(
            rank=rank,
            entry_id=card.entry_id,
            base_score=card.base_score,
            ranking_score=card.ranking_score,
            oracle_score=oracle_scores.get(card.entry_id),
        )
        for rank, card in enumerate(sorted(cards, key=key), start=1)
    ]
