"""Competition scoring: the one set of rules used by the oracle and by the coordinator's pages.

Rules (noaa-oracle §6.3): for each event location in order, the entry's first pick set for that
station is scored if both a forecast and an observation exist. For each metric that the event
scores and the entry picked, a hit on ``Over`` or ``Under`` is worth 10 points and on ``Par``
20. Temperatures compare the integer forecast with the observation rounded half away from zero;
a missing forecast or observation value counts as 0. The ranking score adds a tie-break:
``max(10000, base·10000) − (uuid7_ms mod 10000)``. If every base score is 0 the refund-all
outcome wins.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from coordinator_core.ids import uuid7_timestamp_ms
from coordinator_core.observations import Comparison, Forecast, Metric, Observation, StationPicks

OVER_UNDER_POINTS = 10
PAR_POINTS = 20
SCORE_SCALE = 10_000
TIE_BREAK_MODULUS = 10_000

WIND_DIRECTION_PAR_DEGREES = 22
RAIN_PAR_INCHES = 0.1
SNOW_PAR_INCHES = 0.5
HUMIDITY_PAR_PERCENT = 5


def round_half_away_from_zero(value: float) -> int:
    """Round like Rust's ``f64::round`` (2.5 → 3, −2.5 → −3); Python's ``round`` differs."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    rounded = whole + (1 if magnitude - whole >= 0.5 else 0)
    return int(math.copysign(rounded, value)) if rounded else 0


@dataclass(frozen=True)
class PickResult:
    """How one pick fared: the values compared, and the points it earned."""

    station: str
    metric: Metric
    pick: Comparison
    forecast: float | None
    observed: float | None
    points: int

    @property
    def decided(self) -> bool:
        """False while the forecast or the observation is still missing."""
        return self.forecast is not None and self.observed is not None


def _compared_values(
    metric: Metric, forecast: Forecast, observation: Observation
) -> tuple[float, float]:
    if metric is Metric.TEMP_HIGH:
        return forecast.temp_high, round_half_away_from_zero(observation.temp_high)
    if metric is Metric.TEMP_LOW:
        return forecast.temp_low, round_half_away_from_zero(observation.temp_low)
    if metric is Metric.WIND_SPEED:
        return forecast.wind_speed or 0, observation.wind_speed
    if metric is Metric.WIND_DIRECTION:
        return forecast.wind_direction or 0, observation.wind_direction or 0
    if metric is Metric.RAIN_AMT:
        return forecast.rain_amt or 0.0, observation.rain_amt or 0.0
    if metric is Metric.SNOW_AMT:
        return forecast.snow_amt or 0.0, observation.snow_amt or 0.0
    return forecast.humidity_max or 0, observation.humidity or 0


def _is_par(metric: Metric, forecast: float, observed: float) -> bool:
    if metric is Metric.WIND_DIRECTION:
        difference = abs(forecast - observed) % 360
        return min(difference, 360 - difference) <= WIND_DIRECTION_PAR_DEGREES
    if metric is Metric.RAIN_AMT:
        return abs(observed - forecast) <= RAIN_PAR_INCHES
    if metric is Metric.SNOW_AMT:
        return abs(observed - forecast) <= SNOW_PAR_INCHES
    if metric is Metric.HUMIDITY:
        return abs(observed - forecast) <= HUMIDITY_PAR_PERCENT
    return forecast == observed


def pick_points(metric: Metric, pick: Comparison, forecast: float, observed: float) -> int:
    """Points for one pick given the compared forecast and observed values."""
    if pick is Comparison.PAR:
        return PAR_POINTS if _is_par(metric, forecast, observed) else 0
    if pick is Comparison.OVER:
        return OVER_UNDER_POINTS if observed > forecast else 0
    return OVER_UNDER_POINTS if observed < forecast else 0


def score_picks(
    picks: Sequence[StationPicks],
    locations: Sequence[str],
    metrics: Iterable[Metric],
    forecasts: Mapping[str, Forecast],
    observations: Mapping[str, Observation],
) -> list[PickResult]:
    """Every scored pick of one entry, in location then metric order.

    Picks at stations that are not event locations, on metrics the event does not score, or in
    a second pick set for the same station are not scored and not listed. A pick whose forecast
    or observation is missing is listed undecided with 0 points.
    """
    scored_metrics = set(metrics)
    first_by_station: dict[str, StationPicks] = {}
    for station_picks in picks:
        first_by_station.setdefault(station_picks.station, station_picks)
    results: list[PickResult] = []
    for location in locations:
        chosen = first_by_station.get(location)
        if chosen is None:
            continue
        forecast = forecasts.get(location)
        observation = observations.get(location)
        for metric, pick in chosen.picks().items():
            if metric not in scored_metrics:
                continue
            if forecast is None or observation is None:
                results.append(PickResult(location, metric, pick, None, None, 0))
                continue
            f, o = _compared_values(metric, forecast, observation)
            results.append(
                PickResult(location, metric, pick, f, o, pick_points(metric, pick, f, o))
            )
    return results


def base_score(results: Iterable[PickResult]) -> int:
    """Sum of the points of scored picks."""
    return sum(result.points for result in results)


def ranking_score(base: int, entry_id: uuid.UUID) -> int:
    """``max(10000, base·10000) − (ms mod 10000)``: higher base first, then the earlier entry
    within the same 10-second window (the oracle's tie-break)."""
    return max(SCORE_SCALE, base * SCORE_SCALE) - uuid7_timestamp_ms(entry_id) % TIE_BREAK_MODULUS


@dataclass(frozen=True)
class ScoredEntry:
    """An entry's base score and ranking score."""

    entry_id: uuid.UUID
    base_score: int
    score: int


def score_entry(
    entry_id: uuid.UUID,
    picks: Sequence[StationPicks],
    locations: Sequence[str],
    metrics: Iterable[Metric],
    forecasts: Mapping[str, Forecast],
    observations: Mapping[str, Observation],
) -> ScoredEntry:
    """Base and ranking score of one entry."""
    base = base_score(score_picks(picks, locations, metrics, forecasts, observations))
    return ScoredEntry(entry_id, base, ranking_score(base, entry_id))


def rank(entries: Sequence[ScoredEntry]) -> list[ScoredEntry]:
    """Entries by ranking score, highest first; equal scores keep their given order."""
    return sorted(entries, key=lambda entry: -entry.score)


def select_winners(entries: Sequence[ScoredEntry], places: int) -> list[uuid.UUID] | None:
    """The top ``places`` entry ids in rank order, or ``None`` for the refund-all outcome.

    ``entries`` must be in submission order, which breaks exact ties. Refund-all is chosen when
    every base score is 0.
    """
    if not entries:
        raise ValueError("cannot pick winners among no entries")
    if all(entry.base_score == 0 for entry in entries):
        return None
    return [entry.entry_id for entry in rank(entries)[:places]]


def event_forecasts(
    rows: Iterable[Forecast], locations: Iterable[str], start: dt.datetime
) -> dict[str, Forecast]:
    """The forecast used for each location: the row for the UTC date of the window start.

    (The original oracle takes whichever row its query returns first; this choice is defined.)
    """
    wanted = set(locations)
    day = start.astimezone(dt.UTC).date()
    chosen: dict[str, Forecast] = {}
    for row in rows:
        if row.station_id in wanted and row.date == day:
            chosen.setdefault(row.station_id, row)
    return chosen


def event_observations(
    rows: Iterable[Observation], locations: Iterable[str]
) -> dict[str, Observation]:
    """The observation used for each location: the first row for that station."""
    wanted = set(locations)
    chosen: dict[str, Observation] = {}
    for row in rows:
        if row.station_id in wanted:
            chosen.setdefault(row.station_id, row)
    return chosen
