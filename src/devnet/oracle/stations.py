"""The devnet oracle's bundled station list: real US ICAO stations with their coordinates."""

from __future__ import annotations

from coordinator_core.observations import Station

# (ICAO id, name, state, IATA id, elevation in metres, latitude, longitude)
_STATIONS: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    ("KABQ", "Albuquerque Intl Sunport", "NM", "ABQ", 1631.0, 35.0402, -106.6092),
    ("KATL", "Atlanta Hartsfield-Jackson Intl", "GA", "ATL", 308.0, 33.6367, -84.4281),
    ("KAUS", "Austin-Bergstrom Intl", "TX", "AUS", 165.0, 30.1945, -97.6699),
    ("KBIS", "Bismarck Muni", "ND", "BIS", 503.0, 46.7727, -100.7468),
    ("KBNA", "Nashville Intl", "TN", "BNA", 183.0, 36.1245, -86.6782),
    ("KBOI", "Boise Air Terminal", "ID", "BOI", 874.0, 43.5644, -116.2228),
    ("KBOS", "Boston Logan Intl", "MA", "BOS", 6.0, 42.3656, -71.0096),
    ("KBTV", "Burlington Intl", "VT", "BTV", 102.0, 44.4720, -73.1533),
    ("KBWI", "Baltimore/Washington Intl", "MD", "BWI", 44.0, 39.1754, -76.6683),
    ("KCHS", "Charleston Intl", "SC", "CHS", 14.0, 32.8986, -80.0405),
    ("KCLE", "Cleveland Hopkins Intl", "OH", "CLE", 241.0, 41.4117, -81.8498),
    ("KCLT", "Charlotte Douglas Intl", "NC", "CLT", 228.0, 35.2140, -80.9431),
    ("KDCA", "Washington Reagan National", "VA", "DCA", 5.0, 38.8521, -77.0377),
    ("KDEN", "Denver Intl", "CO", "DEN", 1656.0, 39.8561, -104.6737),
    ("KDFW", "Dallas/Fort Worth Intl", "TX", "DFW", 185.0, 32.8968, -97.0380),
    ("KDTW", "Detroit Metropolitan Wayne County", "MI", "DTW", 195.0, 42.2124, -83.3534),
    ("KIAH", "Houston George Bush Intercontinental", "TX", "IAH", 29.0, 29.9844, -95.3414),
    ("KJFK", "New York John F Kennedy Intl", "NY", "JFK", 4.0, 40.6398, -73.7789),
    ("KLAS", "Las Vegas Harry Reid Intl", "NV", "LAS", 665.0, 36.0840, -115.1537),
    ("KLAX", "Los Angeles Intl", "CA", "LAX", 38.0, 33.9425, -118.4081),
    ("KMCI", "Kansas City Intl", "MO", "MCI", 313.0, 39.2976, -94.7139),
    ("KMIA", "Miami Intl", "FL", "MIA", 3.0, 25.7959, -80.2870),
    ("KMKE", "Milwaukee Mitchell Intl", "WI", "MKE", 220.0, 42.9472, -87.8966),
    ("KMSP", "Minneapolis-St Paul Intl", "MN", "MSP", 256.0, 44.8820, -93.2218),
    ("KMSY", "New Orleans Louis Armstrong Intl", "LA", "MSY", 1.0, 29.9934, -90.2580),
    ("KOKC", "Oklahoma City Will Rogers World", "OK", "OKC", 395.0, 35.3931, -97.6007),
    ("KORD", "Chicago O'Hare Intl", "IL", "ORD", 205.0, 41.9786, -87.9048),
    ("KPDX", "Portland Intl", "OR", "PDX", 9.0, 45.5887, -122.5975),
    ("KPHL", "Philadelphia Intl", "PA", "PHL", 11.0, 39.8719, -75.2411),
    ("KPHX", "Phoenix Sky Harbor Intl", "AZ", "PHX", 337.0, 33.4343, -112.0116),
    ("KPIT", "Pittsburgh Intl", "PA", "PIT", 367.0, 40.4915, -80.2329),
    ("KPWM", "Portland Intl Jetport", "ME", "PWM", 23.0, 43.6462, -70.3093),
    ("KSAN", "San Diego Intl", "CA", "SAN", 5.0, 32.7336, -117.1897),
    ("KSAW", "Sawyer Intl", "MI", "MQT", 372.0, 46.3536, -87.3954),
    ("KSEA", "Seattle-Tacoma Intl", "WA", "SEA", 132.0, 47.4502, -122.3088),
    ("KSFO", "San Francisco Intl", "CA", "SFO", 4.0, 37.6188, -122.3750),
    ("KSLC", "Salt Lake City Intl", "UT", "SLC", 1288.0, 40.7884, -111.9778),
    ("KSTL", "St Louis Lambert Intl", "MO", "STL", 185.0, 38.7487, -90.3700),
    ("KTPA", "Tampa Intl", "FL", "TPA", 8.0, 27.9755, -82.5332),
    ("KWMC", "Winnemucca Muni", "NV", "WMC", 1310.0, 40.8966, -117.8059),
    ("PANC", "Anchorage Ted Stevens Intl", "AK", "ANC", 46.0, 61.1744, -149.9964),
    ("PAPG", "Petersburg James A Johnson", "AK", "PSG", 33.0, 56.8017, -132.9453),
    ("PFNO", "Noorvik Robert Curtis Memorial", "AK", "ORV", 17.0, 66.8175, -161.0192),
    ("PHNL", "Honolulu Daniel K Inouye Intl", "HI", "HNL", 4.0, 21.3187, -157.9225),
)

STATIONS: tuple[Station, ...] = tuple(
    Station(
        station_id=icao,
        station_name=name,
        state=state,
        iata_id=iata,
        elevation_m=elevation,
        latitude=latitude,
        longitude=longitude,
    )
    for icao, name, state, iata, elevation, latitude, longitude in _STATIONS
)

STATION_IDS: frozenset[str] = frozenset(station.station_id for station in STATIONS)
