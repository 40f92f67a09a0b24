"""Kazakhstan's regions and cities of republican significance, with a centre for each.

An alert's region is the nearest centre to its location (great-circle distance). Centres are
the administrative seats, rounded to two decimals: close enough to pick the right lawyers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.i18n import N_


@dataclass(frozen=True)
class Region:
    key: str
    name: str  # English name; passed through the translation function when shown
    lat: float
    lon: float


REGIONS: tuple[Region, ...] = (
    Region("astana", N_("Astana"), 51.17, 71.45),
    Region("almaty", N_("Almaty"), 43.24, 76.89),
    Region("shymkent", N_("Shymkent"), 42.34, 69.59),
    Region("abai", N_("Abai Region"), 50.41, 80.25),
    Region("akmola", N_("Akmola Region"), 53.28, 69.40),
    Region("aktobe", N_("Aktobe Region"), 50.28, 57.17),
    Region("almaty_region", N_("Almaty Region"), 43.87, 77.06),
    Region("atyrau", N_("Atyrau Region"), 47.11, 51.88),
    Region("east_kz", N_("East Kazakhstan Region"), 49.95, 82.61),
    Region("zhambyl", N_("Zhambyl Region"), 42.90, 71.37),
    Region("zhetisu", N_("Zhetisu Region"), 45.02, 78.37),
    Region("west_kz", N_("West Kazakhstan Region"), 51.23, 51.37),
    Region("karaganda", N_("Karaganda Region"), 49.81, 73.09),
    Region("kostanay", N_("Kostanay Region"), 53.21, 63.62),
    Region("kyzylorda", N_("Kyzylorda Region"), 44.85, 65.51),
    Region("mangystau", N_("Mangystau Region"), 43.65, 51.17),
    Region("pavlodar", N_("Pavlodar Region"), 52.29, 76.97),
    Region("north_kz", N_("North Kazakhstan Region"), 54.87, 69.15),
    Region("turkistan", N_("Turkistan Region"), 43.30, 68.25),
    Region("ulytau", N_("Ulytau Region"), 47.78, 67.71),
)
BY_KEY = {r.key: r for r in REGIONS}


def region_name(key: str | None) -> str:
    region = BY_KEY.get(key or "")
    return region.name if region else N_("Unknown region")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def nearest_region(lat: float, lon: float) -> str:
    """The key of the region whose centre is nearest to the point."""
    return min(REGIONS, key=lambda r: distance_km(lat, lon, r.lat, r.lon)).key
