"""Reported flights (the table of docs/dynamics.md, with public launch sites and
the impact areas Japan's Ministry of Defense announced), reconstructed by the
independent flight model: each flight is solved for its reported range and
apogee with drawn vehicles, and its flight time compared with the reported one.

Impact points are approximate readings of the announced areas ("about 250 km
west of Aomori", "inside Japan's EEZ west of Oshima-Oshima", "about 1,180 km east
of Cape Erimo"); they set the launch azimuth only (the range is the reported one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .cases import SITES
from .flight import Launch
from .vehicles import solve_design


@dataclass(frozen=True)
class Reported:
    date: str
    name: str
    site: str
    toward: tuple[float, float]  # a point on the reported path or in the impact area
    stages: int
    cls: str  # design class: IRBM (one stage) or ICBM
    range_km: float
    apogee_km: float
    minutes: float


SITES_EXTRA = {"Panghyon": (39.95, 125.02), "Pyongyang": (39.03, 125.75)}

FLIGHTS = [
    Reported(
        "2017-08-29",
        "Hwasong-12 over Hokkaido (Cape Erimo)",
        "Sunan",
        (41.92, 143.25),
        1,
        "IRBM",
        2700,
        550,
        14,
    ),
    Reported("2017-09-15", "Hwasong-12 over Hokkaido", "Sunan", (41.92, 143.25), 1, "IRBM", 3700, 770, 19),
    Reported("2017-11-29", "Hwasong-15 lofted", "Pyongsong", (40.80, 137.30), 2, "ICBM", 950, 4475, 53),
    Reported("2023-07-12", "Hwasong-18 lofted", "Pyongyang", (41.50, 136.80), 3, "ICBM", 1001, 6648, 74),
    Reported("2017-07-28", "Hwasong-14 lofted", "Mupyong-ni", (41.20, 138.00), 2, "ICBM", 1000, 3700, 45),
    Reported("2022-10-04", "Hwasong-12 over Aomori", "Mupyong-ni", (40.80, 140.70), 1, "IRBM", 4600, 970, 22),
    Reported("2022-11-18", "Hwasong-17 lofted", "Sunan", (41.50, 137.40), 2, "ICBM", 1000, 6100, 69),
    Reported("2017-05-14", "Hwasong-12 lofted", "Kusong", (39.50, 134.50), 1, "IRBM", 787, 2112, 30),
    Reported("2017-07-04", "Hwasong-14 lofted", "Panghyon", (39.80, 136.00), 2, "ICBM", 933, 2802, 39),
    Reported("2022-03-24", "Hwasong-17/15 lofted", "Sunan", (40.90, 137.50), 2, "ICBM", 1090, 6248, 71),
    Reported("2023-02-18", "Hwasong-15 lofted", "Sunan", (40.70, 137.60), 2, "ICBM", 989, 5768, 66),
    Reported("2023-03-16", "Hwasong-17 lofted", "Sunan", (40.60, 137.50), 2, "ICBM", 1000, 6045, 70),
    Reported("2023-12-18", "Hwasong-18 lofted", "Pyongyang", (41.30, 138.00), 3, "ICBM", 1002, 6518, 73),
    Reported("2024-10-31", "Hwasong-19 lofted", "Pyongyang", (40.80, 137.30), 2, "ICBM", 1001, 7688, 86),
]


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing (spherical; it only sets a launch azimuth)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def fly_reported(f: Reported, seed: int, t0: float = 1.9e9) -> dict[str, float]:
    lat, lon = {**SITES, **SITES_EXTRA}[f.site]
    az = bearing_deg(lat, lon, *f.toward)
    launch = Launch(lat, lon, az, t0)
    s = solve_design(
        [seed, 77], f.cls, launch, f.range_km * 1e3, f.apogee_km * 1e3, stages=f.stages, tol=0.01
    )
    minutes = s.flown.t_impact / 60.0
    return {
        "seed": seed,
        "azimuth_deg": az,
        "range_km": s.flown.range_m / 1e3,
        "apogee_km": s.flown.apogee_m / 1e3,
        "minutes": minutes,
        "error": minutes / f.minutes - 1.0,
        "burn_s": s.flown.ascent.t_burnout,
        "rv_beta": s.design.rv_aero.beta,
    }
