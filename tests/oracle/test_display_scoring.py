"""Display scores agree with the devnet oracle's scores (one set of rules)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from coordinator.adapters.oracle import NoaaOracleClient
from coordinator.domain.ports.oracle import OracleEntry
from coordinator.domain.scoring import ScoringRules, leaderboard, score_card
from coordinator_core.ids import uuid7
from coordinator_core.observations import Forecast, Metric, Observation, StationPicks
from tests.oracle.conftest import COORDINATOR_SECRET, example_weather
from tests.oracle.test_client import FAST_RETRY, entries_of, spec_of
from tests.support.oracle import OracleHandle


def rules_of(example: dict[str, Any]) -> ScoringRules:
    event = example["event"]
    return ScoringRules(
        locations=tuple(event["locations"]),
        metrics=tuple(Metric(m) for m in event["scoring_fields"]),
        start_observation_date=dt.datetime.fromisoformat(event["start_observation_date"]),
    )


async def test_display_matches_the_oracle_over_http(
    devnet_oracle: OracleHandle, scoring_example: dict[str, Any]
) -> None:
    spec = spec_of(scoring_example)
    # Fresh ids: entry ids are unique across events.
    entries = [OracleEntry(uuid7(), entry.picks) for entry in entries_of(scoring_example)]
    async with NoaaOracleClient(devnet_oracle.url, COORDINATOR_SECRET, retry=FAST_RETRY) as c:
        await c.create_event(spec)
        await c.submit_entries(spec.id, entries)
        devnet_oracle.put_weather(**example_weather(scoring_example))
        # The pages read the same public weather routes the oracle scores from.
        forecasts = await c.forecasts(
            spec.locations, spec.start_observation_date, spec.end_observation_date
        )
        observations = await c.observations(
            spec.locations, spec.start_observation_date, spec.end_observation_date
        )
        rules = rules_of(scoring_example)
        cards = [score_card(e.id, e.picks, rules, forecasts, observations) for e in entries]
        unsigned = leaderboard(cards, {})
        assert devnet_oracle.attest(spec.id).status_code == 200
        event = await c.get_event(spec.id)

    oracle_scores = {entry.id: entry.score for entry in event.entries}
    assert [card.base_score for card in cards] == scoring_example["expected"]["base_scores"]
    assert [card.ranking_score for card in cards] == [oracle_scores[e.id] for e in entries]
    assert all(card.decided for card in cards)
    board = leaderboard(cards, oracle_scores)
    assert [row.entry_id for row in board] == [entries[i].id for i in (0, 2, 1, 3)]
    assert [row.rank for row in board] == [1, 2, 3, 4]
    assert [row.base_score for row in board] == [40, 40, 30, 10]
    assert [row.entry_id for row in unsigned] == [row.entry_id for row in board]


def test_rounded_temperatures_fix_the_display_mismatch() -> None:
    """The original display compared 9.4 with 9 and missed a Par the oracle awarded."""
    start = dt.datetime(2024, 8, 12, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    rules = ScoringRules(("PFNO",), (Metric.TEMP_LOW,), start)
    forecast = Forecast(
        station_id="PFNO", date=start.date(), start_time=start, end_time=end,
        temp_low=9, temp_high=35,
    )  # fmt: skip
    observation = Observation(
        station_id="PFNO", start_time=start, end_time=end, temp_low=9.4, temp_high=35.0,
        wind_speed=11,
    )  # fmt: skip
    entry = uuid.UUID("01913ebc-1864-7000-8000-000000000001")
    card = score_card(
        entry, [StationPicks(stations="PFNO", temp_low="Par")], rules, [forecast], [observation]
    )
    assert card.base_score == 20
    pending = score_card(
        entry, [StationPicks(stations="PFNO", temp_low="Par")], rules, [forecast], []
    )
    assert (pending.base_score, pending.decided) == (0, False)
