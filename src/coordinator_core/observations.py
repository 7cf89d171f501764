"""Observation types shared by competitions, the oracle client, the devnet oracle and scoring.

A competition asks players to predict how an observed value will compare with a forecast of it
(``Over``, ``Par`` or ``Under``) for some metrics at some locations. Weather at airport stations
is the only data source so far. Field names and enum spellings are the noaa-oracle's wire format.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DataSource(StrEnum):
    """Where observations come from."""

    WEATHER = "weather"


class Metric(StrEnum):
    """A measured quantity a pick can be about (the oracle's ``ScoringField``)."""

    TEMP_HIGH = "temp_high"
    TEMP_LOW = "temp_low"
    WIND_SPEED = "wind_speed"
    WIND_DIRECTION = "wind_direction"
    RAIN_AMT = "rain_amt"
    SNOW_AMT = "snow_amt"
    HUMIDITY = "humidity"


DEFAULT_METRICS: tuple[Metric, ...] = (Metric.TEMP_HIGH, Metric.TEMP_LOW, Metric.WIND_SPEED)
"""Metrics scored when an event names none (the oracle's default ``scoring_fields``)."""


class Comparison(StrEnum):
    """A pick: the observed value compared with the forecast."""

    OVER = "Over"
    PAR = "Par"
    UNDER = "Under"


STATION_ID_PATTERN = r"^[A-Z0-9]{3,8}$"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Station(_Record):
    """A weather station (``GET /stations`` item)."""

    station_id: str = Field(pattern=STATION_ID_PATTERN)
    station_name: str = Field(max_length=200)
    state: str | None = Field(None, max_length=10)
    iata_id: str | None = Field(None, max_length=10)
    elevation_m: float | None = None
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Forecast(_Record):
    """A station's forecast for one UTC day (``GET /stations/forecasts`` item), in °F and knots."""

    station_id: str = Field(pattern=STATION_ID_PATTERN)
    date: dt.date
    start_time: dt.datetime
    end_time: dt.datetime
    temp_low: int
    temp_high: int
    wind_speed: int | None = None
    wind_direction: int | None = None
    humidity_max: int | None = None
    humidity_min: int | None = None
    temp_unit_code: str = "fahrenheit"
    precip_chance: int | None = None
    rain_amt: float | None = None
    snow_amt: float | None = None
    ice_amt: float | None = None


class Observation(_Record):
    """A station's observed extremes over a window (``GET /stations/observations`` item)."""

    station_id: str = Field(pattern=STATION_ID_PATTERN)
    start_time: dt.datetime
    end_time: dt.datetime
    temp_low: float
    temp_high: float
    wind_speed: int
    temp_unit_code: str = "fahrenheit"
    wind_direction: int | None = None
    humidity: int | None = None
    rain_amt: float | None = None
    snow_amt: float | None = None
    ice_amt: float | None = None


class StationPicks(_Record):
    """One entry's picks at one station (the oracle's ``WeatherChoices``)."""

    stations: str = Field(pattern=STATION_ID_PATTERN)
    temp_high: Comparison | None = None
    temp_low: Comparison | None = None
    wind_speed: Comparison | None = None
    wind_direction: Comparison | None = None
    rain_amt: Comparison | None = None
    snow_amt: Comparison | None = None
    humidity: Comparison | None = None

    @property
    def station(self) -> str:
        """The station id (the wire name ``stations`` is singular in meaning)."""
        return self.stations

    def picks(self) -> dict[Metric, Comparison]:
        """The non-null picks by metric, in metric declaration order."""
        chosen: dict[Metric, Comparison] = {}
        for metric in Metric:
            value = getattr(self, metric.value)
            if value is not None:
                chosen[metric] = value
        return chosen

    def pick_count(self) -> int:
        """Number of non-null picks."""
        return len(self.picks())
