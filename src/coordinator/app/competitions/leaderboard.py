"""The leaderboard: every entry scored with the oracle's rules against the oracle's weather.

Picks stay private until kickoff (the oracle publishes the entries then): before the entries
are submitted to the oracle the board lists entry ids only. Weather and the oracle's own scores
are fetched at most once per ``CACHE_SECS`` per competition, so a busy board costs the oracle
nothing extra; a board is built again only after a write to the store or a new weather fetch.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from coordinator.app.competitions.context import Lifecycle
from coordinator.app.single_flight import KeyedLocks
from coordinator.domain.competitions.records import Competition
from coordinator.domain.scoring import ScoringRules, leaderboard, score_card
from coordinator_core.errors import CoordinatorError, NotFoundError
from coordinator_core.observations import Forecast, Observation

CACHE_SECS: Final = 5.0
MAX_BOARDS: Final = 256


@dataclass
class _Weather:
    fetched: float
    forecasts: list[Forecast]
    observations: list[Observation]
    oracle_scores: dict[uuid.UUID, int | None]


@dataclass(frozen=True)
class _Board:
    version: int  # the store's version it was built at
    weather: _Weather | None  # the weather it was scored with (None: picks still private)
    board: dict[str, Any]


class Leaderboard:
    def __init__(self, lc: Lifecycle) -> None:
        self.lc = lc
        self._cache: dict[uuid.UUID, _Weather] = {}
        self._boards: dict[uuid.UUID, _Board] = {}
        self._building = KeyedLocks()

    async def _weather(self, c: Competition) -> _Weather:
        cached = self._cache.get(c.id)
        now = time.monotonic()
        if cached is not None and now - cached.fetched < CACHE_SECS:
            return cached
        terms = c.terms
        forecasts: list[Forecast] = []
        observations: list[Observation] = []
        scores: dict[uuid.UUID, int | None] = {}
        try:
            start, end = terms.start_observation_date, terms.end_observation_date
            forecasts = await self.lc.oracle.forecasts(terms.locations, start, end)
            observations = await self.lc.oracle.observations(terms.locations, start, end)
            event = await self.lc.oracle.get_event(c.id)
            scores = {e.id: e.score for e in event.entries}
        except CoordinatorError:
            pass  # the board shows what is known; the oracle's scores decide once it answers
        fresh = _Weather(now, forecasts, observations, scores)
        self._cache[c.id] = fresh
        return fresh

    async def rows(self, competition_id: uuid.UUID) -> dict[str, Any]:
        """The board; built again only after a write to the store or a new weather fetch."""
        arrived = self.lc.store.version()
        current = self._current(competition_id, arrived)
        if current is not None:
            return current
        # One build at a time per competition: the requests that wait for it take its board if
        # it began after they arrived (it then includes every write they could have seen).
        async with self._building.hold(competition_id):
            current = self._current(competition_id, arrived)
            if current is not None:
                return current
            version = self.lc.store.version()
            board, used = await self._build(competition_id)
            if len(self._boards) >= MAX_BOARDS:
                self._boards.clear()
            self._boards[competition_id] = _Board(version, used, board)
            return board

    def _current(self, competition_id: uuid.UUID, version: int) -> dict[str, Any] | None:
        """The board built at ``version`` or later, while its weather is the latest fetch."""
        built = self._boards.get(competition_id)
        if built is None or built.version < version:
            return None
        weather = self._cache.get(competition_id)
        fresh = weather is not None and time.monotonic() - weather.fetched < CACHE_SECS
        if built.weather is None or (built.weather is weather and fresh):
            return built.board
        return None

    async def _build(self, competition_id: uuid.UUID) -> tuple[dict[str, Any], _Weather | None]:
        c = await self.lc.store.load(competition_id, documents=False)
        if c is None:
            raise NotFoundError(f"competition {competition_id} not found")
        entries = await self.lc.store.entries_of(c.id)
        if c.progress.entries_submitted_at is None:
            hidden = {
                "competition_id": str(c.id),
                "state": c.state.value,
                "public": False,
                "rows": [{"entry_id": str(e.id), "rank": None} for e in entries],
            }
            return hidden, None
        weather = await self._weather(c)
        terms = c.terms
        rules = ScoringRules(terms.locations, terms.scoring_fields, terms.start_observation_date)
        cards = {
            e.id: score_card(e.id, e.picks, rules, weather.forecasts, weather.observations)
            for e in entries
        }
        picks = {e.id: e.picks for e in entries}
        ranked = leaderboard(list(cards.values()), weather.oracle_scores)
        board = {
            "competition_id": str(c.id),
            "state": c.state.value,
            "public": True,
            "rows": [
                {
                    "rank": row.rank,
                    "entry_id": str(row.entry_id),
                    "base_score": row.base_score,
                    "ranking_score": row.ranking_score,
                    "oracle_score": row.oracle_score,
                    "decided": cards[row.entry_id].decided,
                    "picks": [
                        p.model_dump(mode="json", exclude_none=True) for p in picks[row.entry_id]
                    ],
                }
                for row in ranked
            ],
        }
        return board, weather
