"""Ballistic coefficients of simulated objects: documented class ranges, seeded draws.

The ballistic coefficient ``beta = m / (Cd * A)`` (kg/m^2) sets how hard the air
slows an object (:func:`tocsin.dynamics.forces.accel_ecef`). Real objects of one
class differ by a factor of two to four, and a tracker is never told the true
value, so the simulator draws each object's beta from the range of its kind
instead of giving every warhead one number. The ranges, and how each was derived
from public mass and size figures and textbook drag coefficients, are in
``docs/dynamics.md`` ("Ballistic coefficients").

Draws are log-uniform within ``[lo, hi]`` (beta is a ratio: a factor of two
either way is equally likely) from a caller-supplied ``numpy.random.Generator``,
so a seeded scenario gives the same objects every run.

A flight given only by range and apogee gets the re-entry class of the missile
that could fly it: :func:`equivalent_range_m` is the minimum-energy range of the
burnout speed the flight needs (a lofted 1,000 km shot to 6,000 km needs an
ICBM's speed), and :func:`rv_class` maps that range to the usual classes
(SRBM < 1,000 km <= MRBM < 3,000 km <= IRBM < 5,500 km <= ICBM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tocsin.geo.wgs84 import GM, WGS84_A

__all__ = [
    "BETA_RANGES",
    "RV_CLASSES",
    "BetaKind",
    "BetaRange",
    "draw_beta",
    "equivalent_range_m",
    "range_class",
    "rv_class",
]

BetaKind = Literal["SRBM", "MRBM", "IRBM", "ICBM", "stage", "debris", "failed", "payload"]
RV_CLASSES: tuple[BetaKind, ...] = ("SRBM", "MRBM", "IRBM", "ICBM")


@dataclass(frozen=True)
class BetaRange:
    """A documented range of ballistic coefficients, kg/m^2."""

    lo: float
    hi: float
    what: str

    def __post_init__(self) -> None:
        if not (0.0 < self.lo <= self.hi):
            raise ValueError(f"bad beta range {self.lo}..{self.hi}")

    def contains(self, beta: float) -> bool:
        return self.lo <= beta <= self.hi


BETA_RANGES: dict[BetaKind, BetaRange] = {
    "SRBM": BetaRange(2_000.0, 8_000.0, "SRBM warhead or non-separating missile body, nose first"),
    "MRBM": BetaRange(3_000.0, 9_000.0, "MRBM re-entry vehicle"),
    "IRBM": BetaRange(3_500.0, 10_000.0, "IRBM re-entry vehicle"),
    "ICBM": BetaRange(4_000.0, 15_000.0, "ICBM re-entry vehicle, blunt to slender"),
    "stage": BetaRange(100.0, 1_000.0, "spent rocket stage, tumbling"),
    "debris": BetaRange(10.0, 300.0, "debris: fairing halves, interstage, fragments"),
    "failed": BetaRange(500.0, 5_000.0, "a whole missile falling after a motor failure, with propellant"),
    "payload": BetaRange(50.0, 500.0, "a small satellite (a few hundred kg, about a metre across)"),
}
"""Ranges per kind; see ``docs/dynamics.md`` for the derivation and sources."""


def draw_beta(kind: BetaKind, rng: np.random.Generator) -> float:
    """One log-uniform draw from the range of ``kind``, kg/m^2 (rounded to 0.1)."""
    r = BETA_RANGES[kind]
    return round(math.exp(rng.uniform(math.log(r.lo), math.log(r.hi))), 1)


def _kepler_speed(range_m: float, apogee_m: float) -> float:
    """Burnout speed at the surface of the vacuum Kepler arc (spherical,
    non-rotating Earth) with this ground range and apogee height, m/s.

    Measured from the apoapsis, the conic is ``r = p / (1 - e cos(theta))``; the
    apoapsis (``theta = 0``) is at ``ra = r0 + apogee`` and the launch point at
    ``theta = phi / 2`` (``phi``: range angle) is at ``r0``, so
    ``ra (1 - e) = r0 (1 - e cos(phi/2))``. Then ``a = ra / (1 + e)`` and
    vis-viva gives the speed."""
    r0 = WGS84_A
    ra = r0 + apogee_m
    c = math.cos(0.5 * range_m / r0)
    e = (ra - r0) / (ra - r0 * c)
    a = ra / (1.0 + e)
    return math.sqrt(GM * (2.0 / r0 - 1.0 / a))


def equivalent_range_m(range_m: float, apogee_m: float) -> float:
    """The minimum-energy (maximum) ground range, m, for the burnout speed a
    flight of this range and apogee needs (vacuum, spherical Earth).

    With ``nu = v^2 r0 / GM`` the range angle ``Psi`` of the best burnout angle
    satisfies ``sin(Psi / 2) = nu / (2 - nu)`` (e.g. Wheelon, "Free flight of a
    ballistic missile", ARS Journal 29, 1959; Regan & Anandakrishnan, *Dynamics of
    Atmospheric Re-Entry*, AIAA 1993, ch. 3). Speeds at or above circular
    (``nu >= 1``) are given half the Earth's circumference."""
    v = _kepler_speed(range_m, apogee_m)
    nu = v * v * WGS84_A / GM
    if nu >= 1.0:
        return math.pi * WGS84_A
    return 2.0 * WGS84_A * math.asin(nu / (2.0 - nu))


def rv_class(range_m: float, apogee_m: float) -> BetaKind:
    """The re-entry class of a flight from its range and apogee (see the module
    docstring): SRBM, MRBM, IRBM or ICBM."""
    return range_class(equivalent_range_m(range_m, apogee_m))


def range_class(eq: float) -> BetaKind:
    """The re-entry class of a missile whose minimum-energy range is ``eq`` m."""
    if eq < 1_000e3:
        return "SRBM"
    if eq < 3_000e3:
        return "MRBM"
    if eq < 5_500e3:
        return "IRBM"
    return "ICBM"
