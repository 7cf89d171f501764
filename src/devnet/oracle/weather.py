"""Weather the devnet oracle knows: uploads (control API or files) and the query semantics.

Uploaded items use the field names of the oracle's own ``/stations/forecasts`` and
``/stations/observations`` rows, in °F and knots. A forecast covers one UTC day (``date``, or
``start_time``/``end_time``); an observation covers a window (``start_time``/``end_time``, or a
whole UTC ``date``). Queries aggregate the observation records inside the requested window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from coordinator_core.observations import STATION_ID_PATTERN, Forecast, Observation
from coordinator_core.scoring import round_half_away_from_zero

MAX_UPLOAD_ITEMS = 10_000
DAY = dt.timedelta(days=1)

TemperatureUnit = Literal["fahrenheit", "celsius"]


def _day_bounds(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(date, dt.time(), dt.UTC)
    return start, start + DAY


def _window(
    date: dt.date | None, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    if start is not None and end is not None:
        if end < start:
            raise ValueError("end_time is before start_time")
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if start is not None or end is not None:
        raise ValueError("give both start_time and end_time, or a date")
    if date is None:
        raise ValueError("give a date, or start_time and end_time")
    return _day_bounds(date)


class _Upload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    station_id: str = Field(pattern=STATION_ID_PATTERN)
    date: dt.date | None = None
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    temp_unit_code: Literal["fahrenheit"] = "fahrenheit"
    wind_direction: int | None = Field(None, ge=0, le=360)
    rain_amt: float | None = Field(None, ge=0, le=1000)
    snow_amt: float | None = Field(None, ge=0, le=1000)
    ice_amt: float | None = Field(None, ge=0, le=1000)

    @model_validator(mode="after")
    def _has_window(self) -> _Upload:
        _window(self.date, self.start_time, self.end_time)
        return self


class ForecastUpload(_Upload):
    """A forecast row as uploaded."""

    temp_low: int = Field(ge=-200, le=200)
    temp_high: int = Field(ge=-200, le=200)
    wind_speed: int | None = Field(None, ge=0, le=500)
    humidity_max: int | None = Field(None, ge=0, le=100)
    humidity_min: int | None = Field(None, ge=0, le=100)
    precip_chance: int | None = Field(None, ge=0, le=100)

    def to_forecast(self) -> Forecast:
        start, end = _window(self.date, self.start_time, self.end_time)
        return Forecast(
            **self.model_dump(exclude={"date", "start_time", "end_time"}),
            date=self.date or start.date(),
            start_time=start,
            end_time=end,
        )


class ObservationUpload(_Upload):
    """An observation row as uploaded."""

    temp_low: float = Field(ge=-200, le=200)
    temp_high: float = Field(ge=-200, le=200)
    wind_speed: int = Field(0, ge=0, le=500)
    humidity: int | None = Field(None, ge=0, le=100)

    def to_observation(self) -> Observation:
        start, end = _window(self.date, self.start_time, self.end_time)
        return Observation(
            **self.model_dump(exclude={"date", "start_time", "end_time"}),
            start_time=start,
            end_time=end,
        )


class WeatherUpload(BaseModel):
    """Body of ``POST /devnet/weather`` and content of a weather file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    forecasts: list[ForecastUpload] = Field(default_factory=list, max_length=MAX_UPLOAD_ITEMS)
    observations: list[ObservationUpload] = Field(default_factory=list, max_length=MAX_UPLOAD_ITEMS)


def aggregate_observations(
    records: Iterable[Observation], start: dt.datetime | None, end: dt.datetime | None
) -> list[Observation]:
    """One row per station over the window: extremes, maximum wind, summed precipitation."""
    by_station: dict[str, list[Observation]] = {}
    for record in records:
        by_station.setdefault(record.station_id, []).append(record)
    rows = []
    for station_id, items in by_station.items():
        first = min(item.start_time for item in items)
        last = max(item.end_time for item in items)
        humidities = [item.humidity for item in items if item.humidity is not None]
        directions = [item.wind_direction for item in items if item.wind_direction is not None]
        rows.append(
            Observation(
                station_id=station_id,
                start_time=max(first, start) if start else first,
                end_time=min(last, end) if end else last,
                temp_low=min(item.temp_low for item in items),
                temp_high=max(item.temp_high for item in items),
                wind_speed=max(item.wind_speed for item in items),
                wind_direction=max(directions) if directions else None,
                humidity=(
                    round_half_away_from_zero(sum(humidities) / len(humidities))
                    if humidities
                    else None
                ),
                rain_amt=_sum(item.rain_amt for item in items),
                snow_amt=_sum(item.snow_amt for item in items),
                ice_amt=_sum(item.ice_amt for item in items),
            )
        )
    return rows


def daily_observations(records: Sequence[Observation]) -> list[tuple[dt.date, Observation]]:
    """Records grouped by station and UTC date of their start, each aggregated."""
    by_day: dict[tuple[str, dt.date], list[Observation]] = {}
    for record in records:
        day = record.start_time.astimezone(dt.UTC).date()
        by_day.setdefault((record.station_id, day), []).append(record)
    return [
        (day, aggregate_observations(items, None, None)[0])
        for (_, day), items in sorted(by_day.items())
    ]


def _sum(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def forecast_in_unit(forecast: Forecast, unit: TemperatureUnit) -> Forecast:
    if unit == "fahrenheit":
        return forecast
    return forecast.model_copy(
        update={
            "temp_low": round_half_away_from_zero(fahrenheit_to_celsius(forecast.temp_low)),
            "temp_high": round_half_away_from_zero(fahrenheit_to_celsius(forecast.temp_high)),
            "temp_unit_code": "celsius",
        }
    )


def observation_in_unit(observation: Observation, unit: TemperatureUnit) -> Observation:
    if unit == "fahrenheit":
        return observation
    return observation.model_copy(
        update={
            "temp_low": fahrenheit_to_celsius(observation.temp_low),
            "temp_high": fahrenheit_to_celsius(observation.temp_high),
            "temp_unit_code": "celsius",
        }
    )
