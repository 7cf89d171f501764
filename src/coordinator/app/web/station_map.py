"""An SVG map of a competition's stations, drawn on the server (no map tiles, no network).

Stations are placed by an equirectangular projection scaled by the cosine of the middle
latitude, over the contiguous United States when every station lies in it, else over the
stations' own bounding box. A light graticule every 5° gives a sense of place; each marker
carries the forecast (and the observation, once there is one) as text and as an SVG title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from coordinator.app.web.views import StationWeather

WIDTH: Final = 640
HEIGHT: Final = 360
PADDING: Final = 28
#: West, south, east, north of the contiguous United States.
CONUS: Final = (-125.0, 24.0, -66.5, 49.5)


LINE: Final = 13  # label line height in map units
CHAR: Final = 6.2  # approximate width of one label character


@dataclass(frozen=True)
class Marker:
    station_id: str
    name: str
    x: float
    y: float
    forecast: str
    observed: str | None
    label_left: bool
    label_y: float  # top of the label block, relative to the marker
    labelled: bool = True  # False: no room for a label
    compact: bool = False  # only the station id is written next to the marker


def _label_box(x: float, y: float, left: bool, lines: list[str], dy: float) -> tuple[float, ...]:
    width = max(len(line) for line in lines) * CHAR + 10
    height = len(lines) * LINE
    x0 = x - width if left else x
    return (x0, y + dy, x0 + width, y + dy + height)


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place(
    x: float, y: float, lines: list[str], taken: list[tuple[float, ...]]
) -> tuple[bool, float] | None:
    """A label position (side, vertical offset) that overlaps no label placed before, or
    ``None`` when there is no room (the marker keeps its values in its title)."""
    prefer_left = x > WIDTH * 0.7
    height = len(lines) * LINE
    for step in range(12):
        for dy in (-LINE, -LINE + step * height / 2, -LINE - step * height / 2):
            for left in (prefer_left, not prefer_left):
                box = _label_box(x, y, left, lines, dy)
                inside = box[0] >= 0 and box[2] <= WIDTH and box[1] >= 0 and box[3] <= HEIGHT
                if inside and not any(_overlaps(box, other) for other in taken):
                    taken.append(box)
                    return left, dy
    return None


@dataclass(frozen=True)
class StationMap:
    width: int
    height: int
    markers: tuple[Marker, ...]
    meridians: tuple[float, ...]
    parallels: tuple[float, ...]


def _bounds(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    west, south, east, north = CONUS
    if points and all(west <= lon <= east and south <= lat <= north for lon, lat in points):
        return CONUS
    if not points:
        return CONUS
    lons = [lon for lon, _ in points]
    lats = [lat for _, lat in points]
    margin = 2.0
    return (min(lons) - margin, min(lats) - margin, max(lons) + margin, max(lats) + margin)


def _temps(high: float | int | None, low: float | int | None, wind: float | int | None) -> str:
    def fmt(value: float | int | None) -> str:
        return "?" if value is None else str(round(value))

    text = f"H {fmt(high)}° L {fmt(low)}°"
    return text if wind is None else f"{text} W {fmt(wind)}"


#: With more stations than this, labels carry only the station id.
COMPACT_ABOVE: Final = 12


def build_map(stations: list[StationWeather]) -> StationMap:
    stations = [s for s in stations if s.located]
    compact = len(stations) > COMPACT_ABOVE
    points = [(s.station.longitude, s.station.latitude) for s in stations]
    west, south, east, north = _bounds(points)
    scale_x = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * scale_x, 1e-6)
    span_y = max(north - south, 1e-6)
    scale = min((WIDTH - 2 * PADDING) / span_x, (HEIGHT - 2 * PADDING) / span_y)
    off_x = (WIDTH - span_x * scale) / 2
    off_y = (HEIGHT - span_y * scale) / 2

    def project(lon: float, lat: float) -> tuple[float, float]:
        return off_x + (lon - west) * scale_x * scale, off_y + (north - lat) * scale

    markers = []
    # Markers first, so no label covers a marker.
    taken: list[tuple[float, ...]] = [
        (px - 7, py - 7, px + 7, py + 7) for px, py in (project(lon, lat) for lon, lat in points)
    ]
    for item in stations:
        x, y = project(item.station.longitude, item.station.latitude)
        f, o = item.forecast, item.observation
        forecast = "no forecast" if f is None else _temps(f.temp_high, f.temp_low, f.wind_speed)
        observed = None if o is None else _temps(o.temp_high, o.temp_low, o.wind_speed)
        lines = [item.station.station_id]
        if not compact:
            lines += [forecast] + ([f"seen {observed}"] if observed else [])
        placed = _place(x, y, lines, taken)
        left, dy = placed if placed is not None else (False, 0.0)
        markers.append(
            Marker(
                item.station.station_id,
                item.station.station_name,
                round(x, 1),
                round(y, 1),
                forecast,
                observed,
                label_left=left,
                label_y=round(dy, 1),
                labelled=placed is not None,
                compact=compact,
            )
        )
    meridians = tuple(
        round(project(lon, north)[0], 1)
        for lon in range(math.ceil(west / 5) * 5, math.floor(east) + 1, 5)
    )
    parallels = tuple(
        round(project(west, lat)[1], 1)
        for lat in range(math.ceil(south / 5) * 5, math.floor(north) + 1, 5)
    )
    return StationMap(WIDTH, HEIGHT, tuple(markers), meridians, parallels)
