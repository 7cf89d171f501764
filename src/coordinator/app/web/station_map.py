"""An SVG map of a competition's stations, drawn on the server (no map tiles, no network).

Stations are placed by an equirectangular projection scaled by the cosine of the middle
latitude. A light graticule gives a sense of place; each marker carries the forecast (and the
observation, once there is one) as text and as an SVG title, and is a link to the station's
row below the map (a tap target larger than the marker itself).

An SVG scales as a whole, text included, so one drawing cannot be readable both on a desktop
and on a phone: the map is drawn twice, by layouts (``WIDE``, ``NARROW``) whose map units are
about a CSS pixel at the width each is shown at, and the style sheet shows the one that fits.
The wide one frames the contiguous United States when every station lies in it; the narrow
one (phones) is cropped to the stations themselves, with larger labels and tap targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from coordinator.app.web.views import StationWeather

#: West, south, east, north of the contiguous United States.
CONUS: Final = (-125.0, 24.0, -66.5, 49.5)


@dataclass(frozen=True)
class Layout:
    """One rendition of the map, in map units (about a CSS pixel at the width it is for)."""

    key: str  # CSS class ``map-<key>``; the SVG's id is ``stationMap`` + ``id_suffix``
    id_suffix: str
    width: int
    max_height: int
    min_height: int  # the height follows the framed area between these two
    padding: int
    font: float  # label font size
    dot: float  # marker radius
    hit: float  # radius of the tap target around a marker
    compact_above: int  # with more stations than this, labels carry only the station id
    crop: bool  # frame the stations themselves (else the contiguous US when they lie in it)

    @property
    def line(self) -> float:
        return round(self.font * 1.2, 1)


#: Desktop: 640×360, shown 640–760 px wide.
WIDE: Final = Layout("wide", "", 640, 360, 360, 28, font=11, dot=5, hit=12, compact_above=12,
                     crop=False)  # fmt: skip
#: Phones: 320 units wide, shown 270–416 px wide (so 13-unit labels stay 11–17 px).
NARROW: Final = Layout("narrow", "Phone", 320, 420, 240, 18, font=13, dot=6, hit=15,
                       compact_above=12, crop=True)  # fmt: skip
LAYOUTS: Final = (WIDE, NARROW)


@dataclass(frozen=True)
class Label:
    text: str
    kind: str  # CSS class: station-id, station-values, station-observed
    y: float  # baseline, relative to the marker


@dataclass(frozen=True)
class Marker:
    station_id: str
    name: str
    x: float
    y: float
    forecast: str
    observed: str | None
    labels: tuple[Label, ...]  # empty: no room for a label (the title still has the values)
    label_x: float
    anchor: str  # text-anchor of the labels: start (right of the marker) or end (left)
    leader: tuple[float, float] | None  # end of the line to a label moved off its place

    @property
    def title(self) -> str:
        seen = f"; observed {self.observed}" if self.observed else ""
        return f"{self.name} ({self.station_id}): forecast {self.forecast}{seen}"


@dataclass(frozen=True)
class StationMap:
    layout: Layout
    width: int
    height: int
    markers: tuple[Marker, ...]
    meridians: tuple[float, ...]
    parallels: tuple[float, ...]

    @property
    def svg_id(self) -> str:
        return "stationMap" + self.layout.id_suffix

    @property
    def observed(self) -> bool:
        return any(m.observed for m in self.markers)


#: The label lines (CSS classes) and the approximate width of one of their characters in em
#: (the station id is bold capitals, the observed values bold).
KINDS: Final = ("station-id", "station-values", "station-observed")
CHAR_EM: Final = (0.72, 0.57, 0.62)

Box = tuple[float, float, float, float]


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Placer:
    """Places label blocks next to their markers so that none overlaps a marker or another
    label and all stay inside the map."""

    def __init__(self, layout: Layout, width: int, height: int, dots: list[tuple[float, float]]):
        self.layout, self.width, self.height = layout, width, height
        r = layout.dot + 2
        self.taken: list[Box] = [(x - r, y - r, x + r, y + r) for x, y in dots]

    def _box(self, x: float, y: float, left: bool, lines: list[str], dy: float) -> Box:
        font = self.layout.font
        width = max(len(line) * em * font for line, em in zip(lines, CHAR_EM, strict=False))
        width += self.layout.dot + 5
        x0 = x - width if left else x
        return (x0, y + dy, x0 + width, y + dy + len(lines) * self.layout.line)

    def place(self, x: float, y: float, lines: list[str]) -> tuple[bool, float] | None:
        """A position (left side?, offset of the block's top) or ``None`` when there is none."""
        line = self.layout.line
        prefer_left = x > self.width * 0.7
        height = len(lines) * line
        for step in range(12):
            for dy in (-line, -line + step * height / 2, -line - step * height / 2):
                for left in (prefer_left, not prefer_left):
                    box = self._box(x, y, left, lines, dy)
                    inside = box[0] >= 0 and box[2] <= self.width
                    inside = inside and box[1] >= 0 and box[3] <= self.height
                    if inside and not any(_overlaps(box, other) for other in self.taken):
                        self.taken.append(box)
                        return left, dy
        return None


def _bounds(points: list[tuple[float, float]], crop: bool) -> tuple[float, float, float, float]:
    west, south, east, north = CONUS
    if not points:
        return CONUS
    inside = all(west <= lon <= east and south <= lat <= north for lon, lat in points)
    if inside and not crop:
        return CONUS
    lons = [lon for lon, _ in points]
    lats = [lat for _, lat in points]
    span = max(max(lons) - min(lons), max(lats) - min(lats))
    margin = max(1.5, 0.06 * span) if crop else 2.0
    return (min(lons) - margin, min(lats) - margin, max(lons) + margin, max(lats) + margin)


def _temps(high: float | int | None, low: float | int | None, wind: float | int | None) -> str:
    def fmt(value: float | int | None) -> str:
        return "?" if value is None else str(round(value))

    text = f"H {fmt(high)}° L {fmt(low)}°"
    return text if wind is None else f"{text} W {fmt(wind)}"


def _grid_step(span: float) -> int:
    return 5 if span > 15 else 2 if span > 6 else 1


def build_map(stations: list[StationWeather], layout: Layout = WIDE) -> StationMap:
    stations = [s for s in stations if s.located]
    compact = len(stations) > layout.compact_above
    points = [(s.station.longitude, s.station.latitude) for s in stations]
    west, south, east, north = _bounds(points, layout.crop)
    scale_x = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * scale_x, 1e-6)
    span_y = max(north - south, 1e-6)
    inner = layout.width - 2 * layout.padding
    fitted = inner * span_y / span_x + 2 * layout.padding
    height = round(min(layout.max_height, max(layout.min_height, fitted)))
    scale = min(inner / span_x, (height - 2 * layout.padding) / span_y)
    off_x = (layout.width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def project(lon: float, lat: float) -> tuple[float, float]:
        return off_x + (lon - west) * scale_x * scale, off_y + (north - lat) * scale

    dots = [project(lon, lat) for lon, lat in points]
    placer = _Placer(layout, layout.width, height, dots)  # markers first: no label covers one
    markers = []
    for item, (x, y) in zip(stations, dots, strict=True):
        f, o = item.forecast, item.observation
        forecast = "no forecast" if f is None else _temps(f.temp_high, f.temp_low, f.wind_speed)
        observed = None if o is None else _temps(o.temp_high, o.temp_low, o.wind_speed)
        full = [item.station.station_id, forecast] + ([f"seen {observed}"] if observed else [])
        lines: list[str] = []
        placed = None
        for candidate in ([full[0]],) if compact else (full, full[:1]):
            placed = placer.place(x, y, candidate)
            if placed is not None:
                lines = candidate
                break
        left, dy = placed if placed is not None else (False, 0.0)
        side = -1 if left else 1
        baseline = round(layout.font * 0.9, 1)
        labels = tuple(
            Label(text, kind, round(dy + i * layout.line + baseline, 1))
            for i, (text, kind) in enumerate(zip(lines, KINDS, strict=False))
        )
        leader = (side * (layout.dot + 3), round(dy + layout.font * 0.8, 1))
        moved = labels and dy != -layout.line
        markers.append(
            Marker(
                item.station.station_id,
                item.station.station_name,
                round(x, 1),
                round(y, 1),
                forecast,
                observed,
                labels=labels,
                label_x=side * (layout.dot + 4),
                anchor="end" if left else "start",
                leader=leader if moved else None,
            )
        )
    step = _grid_step(max(east - west, north - south))
    meridians = tuple(
        round(project(lon, north)[0], 1)
        for lon in range(math.ceil(west), math.floor(east) + 1)
        if lon % step == 0
    )
    parallels = tuple(
        round(project(west, lat)[1], 1)
        for lat in range(math.ceil(south), math.floor(north) + 1)
        if lat % step == 0
    )
    return StationMap(layout, layout.width, height, tuple(markers), meridians, parallels)


def build_maps(stations: list[StationWeather]) -> tuple[StationMap, ...]:
    """The map in every layout, for the page to show the one that fits its width."""
    return tuple(build_map(stations, layout) for layout in LAYOUTS)
