"""Air density: the U.S. Standard Atmosphere 1976, and how far real air strays from it.

Below 86 km the standard (NOAA-S/T 76-1562, Part 1, sec. 1.2-1.3) is seven layers
of linear temperature in *geopotential* height ``H = r0 z / (r0 + z)``
(``r0 = 6,356,766 m``) with base temperatures and lapse rates; pressure follows
hydrostatically and density is the ideal gas ``rho = p M0 / (R* T)``. From 86 to
120 km (the drag ceiling: above it drag is taken as zero) the standard's own
tabulated densities (Part 1, table 4) are interpolated log-linearly.

Every drag computation in tocsin (the simulator's flights and the tracker's
filters and impact predictions) reads one table: ``ln rho`` every
:data:`STEP_M` (100 m) from 0 to :data:`DRAG_CEILING_M` with its slope,
interpolated by cubic Hermite segments (within 5e-4 of the closed form and the
table; checked against the ``ambiance`` package and the standard's table in
tests/dynamics/test_atmosphere.py). Below the ground the ground's density is
used.

The standard is a mean. The air of a given day and place differs from it by
season, latitude and weather: a few per cent near the ground, 10-20 % in the
stratosphere and lower mesosphere, more above (the standard's supplements:
U.S. Standard Atmosphere Supplements 1966, the 15-75 N seasonal models;
COESA 1976, Part 1 sec. 1.1). :func:`density_sigma` is the 1-sigma relative
deviation the tracker assumes (``ln rho`` deviation, a function of height; see
docs/dynamics.md), carried into the spread of its impact predictions
(tocsin.fusion.drag.density_spread). The simulator can fly one day's
departure from the standard per scenario (:func:`day_air`; scenario key
``atmosphere: drawn``, always in the Monte Carlo scenarios).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]

DRAG_CEILING_M = 120_000.0
"""Above this height drag is set to zero (density 2.2e-8 kg/m^3 there)."""
STEP_M = 100.0
"""Spacing of the density table, m."""

R0_GEOPOTENTIAL = 6_356_766.0
"""The standard's Earth radius for geopotential height, m."""
G0 = 9.80665
M0 = 0.0289644
"""Mean molar mass of air below 86 km, kg/mol."""
R_STAR = 8.31432
"""Gas constant as the standard gives it, J/(mol K)."""
# (base geopotential height m', base temperature K, lapse rate K/m'), 0-84.852 km'
LAYERS = (
    (0.0, 288.15, -0.0065),
    (11_000.0, 216.65, 0.0),
    (20_000.0, 216.65, 0.001),
    (32_000.0, 228.65, 0.0028),
    (47_000.0, 270.65, 0.0),
    (51_000.0, 270.65, -0.0028),
    (71_000.0, 214.65, -0.002),
)
P0 = 101_325.0
# the standard's table 4 above 86 km (geometric km, kg/m^3), up to the ceiling
UPPER = (
    (86.0, 6.958e-6),
    (90.0, 3.416e-6),
    (95.0, 1.393e-6),
    (100.0, 5.604e-7),
    (110.0, 9.708e-8),
    (120.0, 2.222e-8),
)
# 1-sigma deviation of ln rho from the standard (height km, sigma): the
# supplements' seasonal/latitudinal spread, module doc and docs/dynamics.md
SIGMA_KNOTS = (
    (0.0, 0.05),
    (10.0, 0.05),
    (20.0, 0.08),
    (40.0, 0.12),
    (60.0, 0.20),
    (80.0, 0.30),
    (120.0, 0.40),
)


def _layer_pressures() -> list[float]:
    out = [P0]
    for (hb, tb, lr), (h1, _, _) in itertools.pairwise(LAYERS):
        if lr == 0.0:
            out.append(out[-1] * math.exp(-G0 * M0 * (h1 - hb) / (R_STAR * tb)))
        else:
            out.append(out[-1] * (tb / (tb + lr * (h1 - hb))) ** (G0 * M0 / (R_STAR * lr)))
    return out


_PB = _layer_pressures()


def standard_density(z_m: float) -> float:
    """USSA76 density at geometric height ``z_m`` (0-120 km), kg/m^3, from
    the closed form below 86 km and the table above (no interpolation table:
    the reference the table is built from)."""
    z = min(max(z_m, 0.0), DRAG_CEILING_M)
    if z >= 86_000.0:
        zs = np.array([u[0] for u in UPPER]) * 1000.0
        lr = np.log(np.array([u[1] for u in UPPER]))
        return float(math.exp(float(np.interp(z, zs, lr))))
    h = R0_GEOPOTENTIAL * z / (R0_GEOPOTENTIAL + z)
    i = max(k for k, lay in enumerate(LAYERS) if h >= lay[0])
    hb, tb, lapse = LAYERS[i]
    t = tb + lapse * (h - hb)
    if lapse == 0.0:
        p = _PB[i] * math.exp(-G0 * M0 * (h - hb) / (R_STAR * tb))
    else:
        p = _PB[i] * (tb / t) ** (G0 * M0 / (R_STAR * lapse))
    return p * M0 / (R_STAR * t)


def _table() -> F64:
    """Cubic Hermite coefficients of ``ln rho`` on each :data:`STEP_M`
    segment (``(n, 4)``: ``ln rho = c0 + u (c1 + u (c2 + u c3))``, ``u`` in
    [0, 1]), with the closed form's slopes at the nodes: the density and its
    slope are continuous (but at the standard's own layer boundaries), so
    the integrators keep their order across nodes."""
    n = round(DRAG_CEILING_M / STEP_M) + 1
    z = np.arange(n) * STEP_M
    ln = np.array([math.log(standard_density(float(v))) for v in z])
    d = 0.5  # m: one-sided at the ends, centred elsewhere
    up = np.array([math.log(standard_density(min(float(v) + d, DRAG_CEILING_M))) for v in z])
    dn = np.array([math.log(standard_density(max(float(v) - d, 0.0))) for v in z])
    span = np.minimum(z + d, DRAG_CEILING_M) - np.maximum(z - d, 0.0)
    slope = (up - dn) / span * STEP_M  # per unit u
    l0, l1 = ln[:-1], ln[1:]
    s0, s1 = slope[:-1], slope[1:]
    c2 = 3.0 * (l1 - l0) - 2.0 * s0 - s1
    c3 = 2.0 * (l0 - l1) + s0 + s1
    out: F64 = np.column_stack([l0, s0, c2, c3])
    return out


COEF = _table()
"""Cubic coefficients of ``ln rho`` (kg/m^3) per :data:`STEP_M` segment (see :func:`_table`)."""
_N_SEG = COEF.shape[0]


def density(h_m: ArrayLike) -> F64:
    """Air density at heights ``h_m`` (m; any shape), kg/m^3: USSA76, the
    ground's below the ground, zero at and above :data:`DRAG_CEILING_M`."""
    rho, _ = density_and_slope(h_m)
    return rho


def density_and_slope(h_m: ArrayLike) -> tuple[F64, F64]:
    """Density (as :func:`density`) and ``d ln rho / dh`` (1/m; minus the
    inverse of the local scale height, 0 where the density is 0)."""
    h = np.asarray(h_m, dtype=np.float64)
    v = np.clip(h, 0.0, DRAG_CEILING_M) / STEP_M
    i = np.minimum(v.astype(np.int64), _N_SEG - 1)
    u = v - i
    c = COEF[i]
    ln = c[..., 0] + u * (c[..., 1] + u * (c[..., 2] + u * c[..., 3]))
    s = (c[..., 1] + u * (2.0 * c[..., 2] + 3.0 * u * c[..., 3])) / STEP_M
    above = h >= DRAG_CEILING_M
    out_rho: F64 = np.where(above, 0.0, np.exp(ln))
    out_s: F64 = np.where(above | (h < 0.0), 0.0, s)
    return out_rho, out_s


def density_sigma(h_m: ArrayLike) -> F64:
    """1-sigma relative deviation of real air from the standard at heights
    ``h_m`` (the deviation of ``ln rho``; :data:`SIGMA_KNOTS`)."""
    h = np.asarray(h_m, dtype=np.float64) / 1000.0
    out: F64 = np.interp(h, [k[0] for k in SIGMA_KNOTS], [k[1] for k in SIGMA_KNOTS])
    return out


def _jit(fn: Any) -> Any:
    return njit(cache=True, error_model="numpy", nogil=True, inline="always")(fn)


DAY_STEP_M = 2_000.0
"""Spacing of a day's air departures (:func:`day_air`), m."""
N_DAY = round(DRAG_CEILING_M / DAY_STEP_M) + 1
DAY_CORR_M = (5_000.0, 12_000.0)
"""Range of the vertical correlation length of a day's departures, m (drawn
log-uniformly per day: the tracker assumes 8 km)."""


def day_air(rng: np.random.Generator, corr_m: float | None = None) -> F64:
    """One day's air: the departure of ``ln rho`` from the standard at heights
    ``0, DAY_STEP_M, ..., DRAG_CEILING_M`` (:data:`N_DAY` values; linear in
    between). A Gauss-Markov process in height with standard deviation
    :func:`density_sigma` and a correlation length drawn from
    :data:`DAY_CORR_M`: what the simulator flies through (the tracker knows
    only the standard and the size of such departures). ``corr_m``: that
    correlation length instead of a drawn one (nothing drawn for it)."""
    corr = corr_m
    if corr is None:
        corr = math.exp(rng.uniform(math.log(DAY_CORR_M[0]), math.log(DAY_CORR_M[1])))
    a = math.exp(-DAY_STEP_M / corr)
    z = np.empty(N_DAY)
    z[0] = rng.standard_normal()
    e = rng.standard_normal(N_DAY - 1) * math.sqrt(1.0 - a * a)
    for k in range(1, N_DAY):
        z[k] = a * z[k - 1] + e[k - 1]
    out: F64 = density_sigma(np.arange(N_DAY) * DAY_STEP_M) * z
    return out


@_jit
def density1(h: float) -> float:
    """:func:`density` of one height (compiled; for the integrators)."""
    if h >= DRAG_CEILING_M:
        return 0.0
    v = max(h, 0.0) / STEP_M
    i = min(int(v), _N_SEG - 1)
    u = v - i
    return math.exp(COEF[i, 0] + u * (COEF[i, 1] + u * (COEF[i, 2] + u * COEF[i, 3])))
