"""The station map's layouts, as drawn on the server (no browser): the phone layout is cropped
to the competition's stations, every label stays inside its map, and a station whose values
find no room keeps at least its id. What they look like on screen is measured in Chromium by
``test_pages.py::test_station_map_is_readable_and_leads_to_the_picks``."""

from __future__ import annotations

import datetime as dt

from coordinator.app.web.station_map import NARROW, WIDE, StationMap, build_map, build_maps
from coordinator.app.web.views import StationWeather
from coordinator_core.observations import Forecast, Observation
from devnet.oracle.stations import STATIONS

DAY = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _weather(*ids: str, observed: bool = False) -> list[StationWeather]:
    chosen = [s for s in STATIONS if not ids or s.station_id in ids]
    forecast = {"date": DAY.date(), "start_time": DAY, "end_time": DAY + dt.timedelta(days=1)}
    seen = {"start_time": DAY, "end_time": DAY, "temp_low": 49.6, "temp_high": 73.4}
    return [
        StationWeather(
            s,
            Forecast(station_id=s.station_id, temp_low=50, temp_high=71, wind_speed=12, **forecast),
            Observation(station_id=s.station_id, wind_speed=9, **seen) if observed else None,
        )
        for s in chosen
    ]


def _x_spread(station_map: StationMap) -> float:
    xs = [m.x for m in station_map.markers]
    return (max(xs) - min(xs)) / station_map.width


def test_every_layout_is_drawn_with_its_own_ids() -> None:
    maps = build_maps(_weather("KORD", "KJFK", "KLAX"))
    assert [m.layout for m in maps] == [WIDE, NARROW]
    assert [m.svg_id for m in maps] == ["stationMap", "stationMapPhone"]
    assert all(len(m.markers) == 3 for m in maps)


def test_the_phone_layout_is_cropped_to_the_stations() -> None:
    north_east = _weather("KJFK", "KBOS", "KPHL")
    wide, narrow = build_map(north_east, WIDE), build_map(north_east, NARROW)
    assert (wide.width, wide.height) == (640, 360)  # the contiguous US, as before
    assert _x_spread(wide) < 0.1
    assert _x_spread(narrow) > 0.5  # zoomed in on the three stations
    assert NARROW.min_height <= narrow.height <= NARROW.max_height


def test_labels_carry_the_values_and_stay_inside_the_map() -> None:
    for station_map in build_maps(_weather("KORD", "KJFK", "KLAX", observed=True)):
        for marker in station_map.markers:
            assert [label.text for label in marker.labels] == [
                marker.station_id,
                "H 71° L 50° W 12",
                "seen H 73° L 50° W 9",
            ]
            font = station_map.layout.font
            for label in marker.labels:
                assert font <= marker.y + label.y <= station_map.height
        assert "observed H 73° L 50° W 9" in station_map.markers[0].title


def test_a_station_without_room_for_its_values_keeps_its_id() -> None:
    crowded = _weather("KJFK", "KORD", "KLAX", "KBOS", "KPHL", "KDCA", "KATL", "KMIA")
    narrow = build_map(crowded, NARROW)
    lines = {m.station_id: [label.text for label in m.labels] for m in narrow.markers}
    assert all(texts and texts[0] == station for station, texts in lines.items())
    assert {len(texts) for texts in lines.values()} == {1, 2}  # values where they fit


def test_many_stations_are_labelled_by_id_only() -> None:
    everything = _weather()
    for station_map in build_maps(everything):
        labelled = [m for m in station_map.markers if m.labels]
        assert all(len(m.labels) == 1 for m in labelled)
        assert len(labelled) >= len(everything) // 2


def test_a_station_the_oracle_cannot_place_is_left_off_the_map() -> None:
    unknown = StationWeather.unknown("KXYZ")
    placed = _weather("KORD")
    for station_map in build_maps([*placed, unknown]):
        assert [m.station_id for m in station_map.markers] == ["KORD"]


def test_no_stations_draw_an_empty_map_of_the_us() -> None:
    for station_map in build_maps([]):
        assert station_map.markers == ()
        assert station_map.meridians and station_map.parallels
