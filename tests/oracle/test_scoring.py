"""The shared scoring rules (oracle spec §6.3–§6.5)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from coordinator_core.observations import (
    DEFAULT_METRICS,
    Comparison,
    Forecast,
    Metric,
    Observation,
    StationPicks,
)
from coordinator_core.scoring import (
    ScoredEntry,
    event_forecasts,
    event_observations,
    pick_points,
    ranking_score,
    round_half_away_from_zero,
    score_entry,
    score_picks,
    select_winners,
)
from ticketdlc.competition import OutcomeSpace, encode_ranking, ranking_of_winners

START = dt.datetime(2024, 8, 12, tzinfo=dt.UTC)
END = dt.datetime(2024, 8, 13, tzinfo=dt.UTC)


def example_weather(example: dict[str, Any]) -> tuple[list[Forecast], list[Observation]]:
    forecasts = [
        Forecast(station_id=s, date=START.date(), start_time=START, end_time=END, **values)
        for s, values in example["forecasts"].items()
    ]
    observations = [
        Observation(station_id=s, start_time=START, end_time=END, **values)
        for s, values in example["observations"].items()
    ]
    return forecasts, observations


@pytest.fixture(scope="module")
def example(vectors_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "oracle" / "scoring_example.json").read_text())
    return data


def test_rounding_is_half_away_from_zero() -> None:
    assert [round_half_away_from_zero(x) for x in (2.5, 3.5, -2.5, 9.4, 32.8, 34.4, -0.4)] == [
        3,
        4,
        -3,
        9,
        33,
        34,
        0,
    ]
    assert round_half_away_from_zero(0.49999999999999994) == 0
    assert round_half_away_from_zero(-0.5) == -1


def test_scoring_example_reproduced(example: dict[str, Any]) -> None:
    forecasts, observations = example_weather(example)
    locations = example["event"]["locations"]
    by_forecast = event_forecasts(forecasts, locations, START)
    by_observation = event_observations(observations, locations)
    metrics = [Metric(m) for m in example["event"]["scoring_fields"]]
    scored = [
        score_entry(
            uuid.UUID(entry["id"]),
            [StationPicks.model_validate(p) for p in entry["expected_observations"]],
            locations,
            metrics,
            by_forecast,
            by_observation,
        )
        for entry in example["entries"]
    ]
    expected = example["expected"]
    assert [s.base_score for s in scored] == expected["base_scores"]
    assert [s.score for s in scored] == expected["scores"]
    winners = select_winners(scored, example["event"]["number_of_places_win"])
    assert winners is not None
    ranking = ranking_of_winners(winners, [s.entry_id for s in scored])
    assert list(ranking) == expected["winners_by_uuid_index"]
    space = OutcomeSpace(example["event"]["total_allowed_entries"], len(ranking))
    assert space.count == expected["outcome_count"]
    assert space.index_of(ranking) == expected["outcome_index"]
    assert encode_ranking(ranking).hex() == expected["message_hex"]


def test_all_zero_base_scores_select_refund_all() -> None:
    ids = [uuid.UUID(f"01913ebc-1864-7000-8000-00000000000{i}") for i in range(3)]
    scored = [score_entry(i, [], ["KORD"], DEFAULT_METRICS, {}, {}) for i in ids]
    assert all(s.base_score == 0 and s.score > 0 for s in scored)
    assert select_winners(scored, 2) is None
    with pytest.raises(ValueError, match="no entries"):
        select_winners([], 2)


def test_tie_break_prefers_the_earlier_entry_and_wraps_every_ten_seconds() -> None:
    early = uuid.UUID("01913ebc-1864-7000-8000-000000000001")  # ms % 10000 = 100
    late = uuid.UUID("01913ebc-18c8-7000-8000-000000000002")  # 200
    assert ranking_score(3, early) == 29_900
    assert ranking_score(3, late) == 29_800
    assert ranking_score(0, early) == 9_900
    # Equal ranking scores keep submission order.
    tied = [ScoredEntry(u, 10, 100_000) for u in (late, early)]
    assert select_winners(tied, 1) == [late]


@pytest.mark.parametrize(
    ("metric", "pick", "forecast", "observed", "points"),
    [
        (Metric.TEMP_HIGH, Comparison.OVER, 70, 71, 10),
        (Metric.TEMP_HIGH, Comparison.OVER, 70, 70, 0),
        (Metric.TEMP_HIGH, Comparison.PAR, 70, 70, 20),
        (Metric.TEMP_HIGH, Comparison.UNDER, 70, 69, 10),
        (Metric.WIND_DIRECTION, Comparison.PAR, 350, 10, 20),
        (Metric.WIND_DIRECTION, Comparison.PAR, 350, 15, 0),
        (Metric.RAIN_AMT, Comparison.PAR, 0.3, 0.2, 20),
        (Metric.SNOW_AMT, Comparison.PAR, 1.0, 1.6, 0),
        (Metric.HUMIDITY, Comparison.PAR, 50, 55, 20),
        (Metric.HUMIDITY, Comparison.OVER, 50, 55, 10),
    ],
)
def test_pick_rules(
    metric: Metric, pick: Comparison, forecast: float, observed: float, points: int
) -> None:
    assert pick_points(metric, pick, forecast, observed) == points


def test_unscored_and_missing_picks() -> None:
    forecast = Forecast(
        station_id="KORD", date=START.date(), start_time=START, end_time=END,
        temp_low=50, temp_high=70, wind_speed=None,
    )  # fmt: skip
    observation = Observation(
        station_id="KORD", start_time=START, end_time=END, temp_low=49.5, temp_high=70.4,
        wind_speed=0,
    )  # fmt: skip
    picks = [
        StationPicks(stations="KORD", temp_low=Comparison.UNDER, wind_speed=Comparison.PAR),
        StationPicks(stations="KORD", temp_high=Comparison.PAR),  # second set: ignored
        StationPicks(stations="KJFK", temp_high=Comparison.PAR),  # not a location
        StationPicks(stations="KLAX", humidity=Comparison.PAR),  # metric not scored
    ]
    results = score_picks(
        picks, ["KORD", "KLAX", "KDEN"], DEFAULT_METRICS, {"KORD": forecast}, {"KORD": observation}
    )
    # 49.5 rounds to 50: Under misses; a missing wind forecast counts as 0, Par hits.
    assert [(r.station, r.metric, r.points) for r in results] == [
        ("KORD", Metric.TEMP_LOW, 0),
        ("KORD", Metric.WIND_SPEED, 20),
    ]
    pending = score_picks(picks, ["KORD"], DEFAULT_METRICS, {}, {})
    assert [r.decided for r in pending] == [False, False]
