"""Kazakhstan's regions and cities of republican significance, with a centre for each.

An alert's region is the nearest centre to its location (great-circle distance). Centres are
the administrative seats, rounded to two decimals: close enough to pick the right lawyers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    key: str
    name: str  # English name; passed through the translation function when shown
    lat: float
    lon: float


REGIONS: tuple[Region, ...] = (
    Region("astana", "Astana", 51.17, 71.45),
    Region("almaty", "Almaty", 43.24, 76.89),
    Region("shymkent", "Shymkent", 42.34, 69.59),
    Region("abai", "Abai Region", 50.41, 80.25),
    Region("akmola", "Akmola Region", 53.28, 69.40),
    Region("aktobe", "Aktobe Region", 50.28, 57.17),
    Region("almaty_region", "Almaty Region", 43.87, 77.06),
    Region("atyrau", "Atyrau Region", 47.11, 51.88),
    Region("east_kz", "East Kazakhstan Region", 49.95, 82.61),
    Region("zhambyl", "Zhambyl Region", 42.90, 71.37),
    Region("zhetisu", "Zhetisu Region", 45.02, 78.37),
    Region("west_kz", "West Kazakhstan Region", 51.23, 51.37),
    Region("karaganda", "Karaganda Region", 49.81, 73.09),
    Region("kostanay", "Kostanay Region", 53.21, 63.62),
    Region("kyzylorda", "Kyzylorda Region", 44.85, 65.51),
    Region("mangystau", "Mangystau Region", 43.65, 51.17),
    Region("pavlodar", "Pavlodar Region", 52.29, 76.97),
    Region("north_kz", "North Kazakhstan Region", 54.87, 69.15),
    Region("turkistan", "Turkistan Region", 43.30, 68.25),
    Region("ulytau", "Ulytau Region", 47.78, 67.71),
)
BY_KEY = {r.key: r for r in REGIONS}


def region_name(key: str | None) -> str:
    region = BY_KEY.get(key or "")
    return region.name if region else "Unknown region"


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def nearest_region(lat: float, lon: float) -> str:
    """The key of the region whose centre is nearest to the point."""
    return min(REGIONS, key=lambda r: distance_km(lat, lon, r.lat, r.lon)).key
