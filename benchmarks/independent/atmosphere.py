"""U.S. Standard Atmosphere 1976 (NOAA/NASA/USAF, NOAA-S/T 76-1562, 1976).

Below 86 km (geometric): the seven layers of the standard in geopotential
altitude with their base temperatures and lapse rates, hydrostatic pressure, the
ideal-gas density and the speed of sound (checked against the ``ambiance`` package,
an implementation of the ICAO 1993 standard atmosphere that is identical to USSA76
in this range, in tests/independent). Above 86 km the standard's tabulated
densities (Part 1, table 4, at 86..1000 km) are interpolated log-linearly; the
speed of sound there is that of 86 km (it only enters Mach numbers of objects far
above any drag that matters).

tocsin's own model is an exponential atmosphere (1.225 kg/m^3, 7.2 km scale
height, nothing above 120 km): this one differs by up to ~40 % in the 20-60 km
band where re-entry drag acts and has a thin atmosphere above 120 km.
"""

from __future__ import annotations

import math

import numpy as np

R_EARTH_GEOPOT = 6356766.0  # m, the standard's radius for geopotential altitude
G0 = 9.80665
M0 = 0.0289644  # kg/mol
R_STAR = 8.31432  # J/(mol K), the standard's value
GAMMA = 1.4

# layer base geopotential altitude (m'), base temperature (K), lapse rate (K/m')
_LAYERS = (
    (0.0, 288.15, -0.0065),
    (11000.0, 216.65, 0.0),
    (20000.0, 216.65, 0.001),
    (32000.0, 228.65, 0.0028),
    (47000.0, 270.65, 0.0),
    (51000.0, 270.65, -0.0028),
    (71000.0, 214.65, -0.002),
    (84852.0, 186.946, 0.0),
)


def _base_pressures() -> list[float]:
    p = [101325.0]
    for i in range(len(_LAYERS) - 1):
        hb, tb, lr = _LAYERS[i]
        h1 = _LAYERS[i + 1][0]
        if lr == 0.0:
            p.append(p[-1] * math.exp(-G0 * M0 * (h1 - hb) / (R_STAR * tb)))
        else:
            p.append(p[-1] * (tb / (tb + lr * (h1 - hb))) ** (G0 * M0 / (R_STAR * lr)))
    return p


_PB = _base_pressures()

# USSA76 table 4 (geometric km, density kg/m^3), 86 km and above
_UPPER_KM = np.array(
    [
        86,
        90,
        95,
        100,
        110,
        120,
        130,
        140,
        150,
        160,
        180,
        200,
        250,
        300,
        350,
        400,
        450,
        500,
        600,
        700,
        800,
        900,
        1000,
    ],
    dtype=float,
)
_UPPER_RHO = np.array(
    [
        6.958e-6,
        3.416e-6,
        1.393e-6,
        5.604e-7,
        9.708e-8,
        2.222e-8,
        8.152e-9,
        3.831e-9,
        2.076e-9,
        1.233e-9,
        5.194e-10,
        2.541e-10,
        6.073e-11,
        1.916e-11,
        7.014e-12,
        2.803e-12,
        1.184e-12,
        5.215e-13,
        1.137e-13,
        3.070e-14,
        1.136e-14,
        5.759e-15,
        3.561e-15,
    ]
)
_UPPER_LOG = np.log(_UPPER_RHO)


def _lower(h_geom: float) -> tuple[float, float, float]:
    """(T K, p Pa, rho kg/m^3) below 86 km geometric."""
    hp = R_EARTH_GEOPOT * h_geom / (R_EARTH_GEOPOT + h_geom)
    i = 0
    for k in range(len(_LAYERS)):
        if hp >= _LAYERS[k][0]:
            i = k
    hb, tb, lr = _LAYERS[i]
    t = tb + lr * (hp - hb)
    if lr == 0.0:
        p = _PB[i] * math.exp(-G0 * M0 * (hp - hb) / (R_STAR * tb))
    else:
        p = _PB[i] * (tb / t) ** (G0 * M0 / (R_STAR * lr))
    return t, p, p * M0 / (R_STAR * t)


#: "ussa76" (the model), or "exponential" (tocsin's own: 1.225 kg/m^3, 7.2 km scale
#: height, none above 120 km), only to show what the atmosphere difference costs
#: (independent_check.py --atmosphere exponential)
MODEL = "ussa76"


def density(h: float) -> float:
    """Mass density (kg/m^3) at geometric height h (m). Below 0 m: the sea-level
    layer extended (heights a few hundred metres below the ellipsoid occur over the
    geoid); above 1000 km: 0."""
    if MODEL == "exponential":
        return 0.0 if h > 120e3 else 1.225 * math.exp(-h / 7200.0)
    if h < 86000.0:
        return _lower(max(h, -2000.0))[2]
    km = h / 1000.0
    if km >= 1000.0:
        return 0.0
    return float(math.exp(np.interp(km, _UPPER_KM, _UPPER_LOG)))


def pressure(h: float) -> float:
    """Pressure (Pa); above 86 km from density at the 86 km temperature (only used
    for the thrust's back-pressure loss, which is nil there)."""
    if h < 86000.0:
        return _lower(max(h, -2000.0))[1]
    return density(h) * R_STAR * 186.87 / M0


def speed_of_sound(h: float) -> float:
    t = _lower(min(max(h, -2000.0), 85999.0))[0]
    return math.sqrt(GAMMA * R_STAR * t / M0)
