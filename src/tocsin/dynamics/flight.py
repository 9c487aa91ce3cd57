"""Propagation, the boost model and the trajectory solver.

Propagation integrates the ECEF equation of motion of :mod:`tocsin.dynamics.forces`
(J2 gravity, Coriolis and centrifugal terms, exponential-atmosphere drag).

Boost model: a single equivalent stage with exhaust velocity ``VE`` and a liftoff
thrust acceleration ``A0`` (thrust-to-weight about 2.1); thrust acceleration grows
as mass falls (Tsiolkovsky), ``a(t) = VE / (tau - t)`` with ``tau = VE / A0``, and
the burn lasts ``tb = tau (1 - exp(-dv / VE))`` so that the ideal velocity gain is
``dv``. Thrust points in the launch plane (the plane through the
Earth's axis-free launch vertical and the launch azimuth, fixed in ECEF), at an
elevation that follows a pitch program: vertical for ``T_VERTICAL`` seconds, then
linearly down to the burnout elevation ``gamma_bo``. Two parameters (``dv``,
``gamma_bo``) are solved so that the flight has the requested ground range and
apogee.

References: Zarchan, *Tactical and Strategic Missile Guidance*, 6th ed., ch. 12
(ballistic missile boost and Lambert-free shooting); Wright, *Physics and
Society* (2007) on lofted and minimum-energy trajectories; Vallado (2013) for
the Kepler relations used for the initial guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from tocsin.dynamics.forces import accel_ecef, state_derivative
from tocsin.geo.wgs84 import GM, WGS84_A, ecef_to_geodetic, enu_matrix, geodetic_to_ecef

F64 = NDArray[np.float64]

BOOST, MIDCOURSE, REENTRY = 0, 1, 2
PHASE_NAMES = ("boost", "midcourse", "reentry")
VE = 2600.0
"""Equivalent exhaust velocity, m/s (Isp ~ 265 s: liquid and solid stages alike)."""
A0 = 21.0
"""Liftoff thrust acceleration, m/s^2 (thrust-to-weight ~2.1)."""
PITCH_EXP = 0.5
"""Shape of the pitch program: elevation falls with the square root of time
since pitch-over (fast at first, as a gravity turn does)."""
T_VERTICAL = 8.0
"""Vertical rise before pitch-over, s."""
BOOST_BETA = 3000.0
"""Ballistic coefficient of the whole missile during boost, kg/m^2."""
REENTRY_ALT_M = 100_000.0

# --- propagation ------------------------------------------------------------------


def propagate(
    x: ArrayLike, dt: float, *, beta: float | ArrayLike | None = None, max_step: float = 10.0
) -> F64:
    """Propagate ECEF states ``(..., 6)`` by ``dt`` seconds (negative: backwards)
    with classical RK4 in ``ceil(|dt| / max_step)`` equal substeps."""
    y = np.array(x, dtype=np.float64)
    if dt == 0.0:
        return y
    n = max(1, math.ceil(abs(dt) / max_step))
    h = dt / n
    for _ in range(n):
        k1 = state_derivative(y, beta)
        k2 = state_derivative(y + 0.5 * h * k1, beta)
        k3 = state_derivative(y + 0.5 * h * k2, beta)
        k4 = state_derivative(y + h * k3, beta)
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def _height(x: F64) -> F64:
    return ecef_to_geodetic(x[..., :3])[2]


def propagate_to_ground(
    x: ArrayLike,
    *,
    beta: float | ArrayLike | None = None,
    alt_m: float = 0.0,
    direction: int = +1,
    max_time: float = 7200.0,
    step: float = 5.0,
) -> tuple[F64, F64]:
    """Propagate states ``(N, 6)`` forward (``direction=+1``: impact) or backward
    (``-1``: launch point) until their geodetic height falls below ``alt_m``.

    Returns ``(dt, x_ground)``: elapsed seconds (positive) and the state at the
    crossing, located by bisection to well under a metre. Where the height is
    not reached within ``max_time``, ``dt`` is NaN and the state is the last one.
    """
    y = np.atleast_2d(np.array(x, dtype=np.float64))
    n = y.shape[0]
    b = None if beta is None else np.broadcast_to(np.asarray(beta, dtype=np.float64), (n,)).copy()
    h = float(step) * (1 if direction >= 0 else -1)
    elapsed = np.zeros(n)
    done = np.zeros(n, dtype=bool)
    out_dt = np.full(n, np.nan)
    out_x = y.copy()
    hgt = _height(y)
    already = hgt <= alt_m
    out_dt[already] = 0.0
    done |= already
    steps = math.ceil(max_time / step)
    for _ in range(steps):
        act = ~done
        if not act.any():
            break
        ya = y[act]
        ba = None if b is None else b[act]
        yn = propagate(ya, h, beta=ba, max_step=step)
        hn = _height(yn)
        crossed = hn <= alt_m
        idx = np.flatnonzero(act)
        if crossed.any():
            ci = idx[crossed]
            lo = np.zeros(ci.size)
            hi = np.ones(ci.size)
            y0 = ya[crossed]
            bc = None if ba is None else ba[crossed]
            for _ in range(30):  # 5 s / 2^30: far below a millimetre of flight
                mid = 0.5 * (lo + hi)
                ym = _propagate_fraction(y0, h * mid, bc)
                below = _height(ym) <= alt_m
                hi = np.where(below, mid, hi)
                lo = np.where(below, lo, mid)
            out_x[ci] = _propagate_fraction(y0, h * hi, bc)
            out_dt[ci] = elapsed[ci] + abs(h) * hi
            done[ci] = True
        y[act] = yn
        elapsed[act] += abs(h)
    out_x[~done] = y[~done]
    return out_dt, out_x


def _propagate_fraction(y: F64, dts: F64, beta: F64 | None) -> F64:
    """One RK4 step of a different length per row (``dts`` may be negative)."""
    h = dts[:, None]
    k1 = state_derivative(y, beta)
    k2 = state_derivative(y + 0.5 * h * k1, beta)
    k3 = state_derivative(y + 0.5 * h * k2, beta)
    k4 = state_derivative(y + h * k3, beta)
    return y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# --- trajectories -----------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """A simulated flight from launch (t = 0) to impact (the last sample)."""

    t: F64
    x: F64
    phase: NDArray[np.int8]
    burnout_t: float
    apogee_m: float
    ground_range_m: float
    flight_time_s: float
    launch_lat: float
    launch_lon: float
    launch_alt_m: float
    impact_lat: float
    impact_lon: float
    beta: float
    azimuth_deg: float = 0.0

    def state_at(self, t: float | ArrayLike) -> F64:
        """State at times since launch by cubic Hermite interpolation of the
        samples (positions and velocities); clipped to [0, flight_time]."""
        tq = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.flight_time_s)
        i = np.clip(np.searchsorted(self.t, tq, side="right") - 1, 0, self.t.size - 2)
        t0, t1 = self.t[i], self.t[i + 1]
        hh = (t1 - t0)[..., None]
        s = ((tq - t0) / (t1 - t0))[..., None]
        p0, p1 = self.x[i, :3], self.x[i + 1, :3]
        v0, v1 = self.x[i, 3:], self.x[i + 1, 3:]
        s2, s3 = s * s, s * s * s
        pos = (
            (2 * s3 - 3 * s2 + 1) * p0
            + (s3 - 2 * s2 + s) * hh * v0
            + (-2 * s3 + 3 * s2) * p1
            + (s3 - s2) * hh * v1
        )
        vel = ((6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * hh * v0 + (-6 * s2 + 6 * s) * p1) / hh + (
            3 * s2 - 2 * s
        ) * v1
        return np.concatenate([pos, vel], axis=-1)

    def phase_at(self, t: float | ArrayLike) -> NDArray[np.int8]:
        x = self.state_at(t)
        tq = np.asarray(t, dtype=np.float64)
        return _phase(tq, x, self.burnout_t)


def _phase(t: F64, x: F64, burnout_t: float) -> NDArray[np.int8]:
    r = x[..., :3]
    vr = np.einsum("...i,...i->...", r, x[..., 3:])
    alt = _height(x)
    ph = np.where(t < burnout_t, BOOST, np.where((vr < 0) & (alt < REENTRY_ALT_M), REENTRY, MIDCOURSE))
    return ph.astype(np.int8)


@dataclass(frozen=True)
class ReportedFlight:
    date: str
    name: str
    range_m: float
    apogee_m: float
    flight_time_s: float
    source: str


REPORTED_FLIGHTS: tuple[ReportedFlight, ...] = (
    ReportedFlight(
        "2017-08-29",
        "Hwasong-12 IRBM over Hokkaido (Cape Erimo)",
        2_700e3,
        550e3,
        14 * 60,
        "Japan Ministry of Defense press release, 29 Aug 2017: ~2,700 km, apogee ~550 km, ~14 min",
    ),
    ReportedFlight(
        "2017-09-15",
        "Hwasong-12 IRBM over Hokkaido",
        3_700e3,
        770e3,
        19 * 60,
        "Japan Ministry of Defense press release, 15 Sep 2017: ~3,700 km, apogee ~800 km, ~19 min; "
        "ROK JCS: apogee ~770 km",
    ),
    ReportedFlight(
        "2017-11-29",
        "Hwasong-15 ICBM, lofted, into Japan's EEZ",
        950e3,
        4_475e3,
        53 * 60,
        "DPRK statement and Japan MoD, 29 Nov 2017: ~950 km, apogee ~4,475 km, ~53 min",
    ),
    ReportedFlight(
        "2023-07-12",
        "Hwasong-18 ICBM, lofted",
        1_000e3,
        6_000e3,
        74 * 60,
        "Japan Ministry of Defense, 12 Jul 2023: ~1,000 km, apogee ~6,000 km, ~74 min",
    ),
    ReportedFlight(
        "2017-07-28",
        "Hwasong-14 ICBM, lofted",
        1_000e3,
        3_700e3,
        45 * 60,
        "Japan Ministry of Defense, 29 Jul 2017: ~1,000 km, apogee >3,500 km (DPRK: 3,725 km), ~45 min",
    ),
    ReportedFlight(
        "2022-10-04",
        "Hwasong-12 IRBM over Aomori",
        4_600e3,
        970e3,
        22 * 60,
        "Japan Ministry of Defense, 4 Oct 2022: ~4,600 km, apogee ~1,000 km, ~22 min; ROK JCS: ~970 km",
    ),
    ReportedFlight(
        "2022-11-18",
        "Hwasong-17 ICBM, lofted, west of Oshima-Oshima",
        1_000e3,
        6_100e3,
        69 * 60,
        "Japan Ministry of Defense, 18 Nov 2022: ~1,000 km, apogee ~6,000 km, ~69 min; ROK JCS: 6,100 km",
    ),
)

MISSILE_CLASSES: dict[str, tuple[float, float]] = {
    "SRBM": (450e3, 90e3),
    "MRBM": (1_300e3, 350e3),
    "IRBM": (3_000e3, 650e3),
    "ICBM": (10_000e3, 1_300e3),
    "ICBM-lofted": (1_000e3, 6_000e3),
}


def burn_time(dv: float) -> float:
    """Burn time of the equivalent stage for an ideal velocity gain ``dv``, s."""
    return (VE / A0) * (1.0 - math.exp(-dv / VE))


def _launch_frame(lat: float, lon: float, azimuth_deg: float) -> F64:
    """Unit normal of the launch plane (fixed in ECEF)."""
    rot = enu_matrix(lat, lon)
    az = math.radians(azimuth_deg)
    heading = math.sin(az) * rot[0] + math.cos(az) * rot[1]
    up = rot[2]
    n = np.cross(up, heading)
    return np.asarray(n / np.linalg.norm(n))


def _boost_rhs(t: float, y: F64, n_plane: F64, dv: float, tb: float, gamma_bo: float, beta: float) -> F64:
    r, v = y[:3], y[3:]
    a = accel_ecef(r, v, beta)
    thrust = VE / (VE / A0 - t)
    up = r / np.linalg.norm(r)
    down = np.cross(n_plane, up)  # horizontal, downrange
    down /= np.linalg.norm(down)
    if t < T_VERTICAL:
        el = 0.5 * math.pi
    else:
        f = min(1.0, (t - T_VERTICAL) / max(tb - T_VERTICAL, 1e-6))
        el = 0.5 * math.pi - (0.5 * math.pi - gamma_bo) * f**PITCH_EXP
    d = math.cos(el) * down + math.sin(el) * up
    return np.concatenate([v, a + thrust * d])


def _coast_rhs(t: float, y: F64, beta: float) -> F64:
    return state_derivative(y, beta)


def _ground_event(t: float, y: F64, beta: float) -> float:
    return float(_height(y[None, :])[0])


_ground_event.terminal = True  # type: ignore[attr-defined]
_ground_event.direction = -1  # type: ignore[attr-defined]


def _apogee_event(t: float, y: F64, beta: float) -> float:
    return float(y[:3] @ y[3:])


_apogee_event.direction = -1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Flight:
    sol_boost: object
    sol_coast: object
    tb: float
    t_impact: float
    x_impact: F64
    apogee_m: float
    range_m: float


def _fly(
    lat: float,
    lon: float,
    alt: float,
    azimuth_deg: float,
    dv: float,
    gamma_bo: float,
    beta: float,
    dense: bool,
) -> _Flight:
    tb = burn_time(dv)
    n_plane = _launch_frame(lat, lon, azimuth_deg)
    x0 = np.concatenate([geodetic_to_ecef(lat, lon, alt), np.zeros(3)])
    sb = solve_ivp(
        _boost_rhs,
        (0.0, tb),
        x0,
        method="RK45",
        rtol=1e-8,
        atol=1e-3,
        args=(n_plane, dv, tb, gamma_bo, BOOST_BETA),
        dense_output=dense,
        max_step=2.0,
    )
    xb = sb.y[:, -1]
    sc = solve_ivp(
        _coast_rhs,
        (tb, tb + 20_000.0),
        xb,
        method="DOP853",
        rtol=1e-9,
        atol=1e-3,
        args=(beta,),
        events=(_ground_event, _apogee_event),
        dense_output=dense,
        max_step=60.0,
    )
    if sc.t_events[0].size:
        t_imp = float(sc.t_events[0][0])
        x_imp = sc.y_events[0][0]
    else:
        t_imp = float(sc.t[-1])
        x_imp = sc.y[:, -1]
    ys = np.concatenate([sb.y, sc.y] + ([sc.y_events[1].T] if sc.y_events[1].size else []), axis=1).T
    apogee = float(_height(ys).max())
    la, lo, _ = ecef_to_geodetic(x_imp[:3])
    rng = _ground_distance(lat, lon, float(la), float(lo))
    return _Flight(sb, sc, tb, t_imp, np.asarray(x_imp), apogee, rng)


def _ground_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic-quality distance on the ellipsoid (Lambert's formula, ~10 m)."""
    from tocsin.geo.wgs84 import great_circle_distance

    return float(great_circle_distance(lat1, lon1, lat2, lon2))


def _kepler_guess(range_m: float, apogee_m: float) -> tuple[float, float]:
    """Burnout speed and elevation of a vacuum Kepler arc from the surface with
    the requested range and apogee (spherical, non-rotating Earth)."""
    r0 = WGS84_A
    phi = range_m / r0

    def resid(p: F64) -> F64:
        v, g = p
        h = r0 * v * math.cos(g)
        eps = v * v / 2 - GM / r0
        a = -GM / (2 * eps)
        pp = h * h / GM
        e = math.sqrt(max(1 - pp / a, 1e-12))
        ra = a * (1 + e)
        c = max(-1.0, min(1.0, (pp / r0 - 1) / e))
        nu0 = math.acos(c)
        rng = 2 * (math.pi - nu0)
        return np.array([(rng - phi) / phi, (ra - r0 - apogee_m) / apogee_m])

    best = None
    for g0 in (0.35, 0.6, 0.8, 1.1, 1.3, 1.45, 1.5):
        v_esc = math.sqrt(2 * GM / r0)
        v_guess = min(math.sqrt(2 * GM * (1 / r0 - 1 / (r0 + apogee_m))) * 1.02, 0.99 * v_esc)
        try:
            sol = least_squares(
                resid,
                [v_guess, g0],
                bounds=([100.0, 0.01], [0.995 * v_esc, 1.569]),
                xtol=1e-12,
                ftol=1e-12,
            )
        except (ValueError, ZeroDivisionError):
            continue
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    return float(best.x[0]), float(best.x[1])


def solve_trajectory(
    launch_lat: float,
    launch_lon: float,
    azimuth_deg: float,
    *,
    range_m: float | None = None,
    apogee_m: float | None = None,
    missile_class: str | None = None,
    launch_alt_m: float = 0.0,
    beta: float = 5000.0,
    dt: float = 1.0,
) -> Trajectory:
    """Find the boost that flies ``range_m`` with apogee ``apogee_m`` (or the
    nominal figures of ``missile_class``) and return the sampled flight."""
    if missile_class is not None:
        if missile_class not in MISSILE_CLASSES:
            raise ValueError(f"unknown missile class {missile_class!r}; known: {', '.join(MISSILE_CLASSES)}")
        if range_m is None and apogee_m is None:
            range_m, apogee_m = MISSILE_CLASSES[missile_class]
    if range_m is None or apogee_m is None:
        raise ValueError("give range_m and apogee_m, or missile_class")
    if not (math.isfinite(range_m) and range_m > 0):
        raise ValueError(f"range must be positive, got {range_m}")
    if not (math.isfinite(apogee_m) and apogee_m >= 20e3):
        raise ValueError(f"apogee must be at least 20 km, got {apogee_m / 1e3:g} km")
    if range_m > 15_000e3:
        raise ValueError(f"range {range_m / 1e3:g} km exceeds 15,000 km")
    if apogee_m > 8_000e3:
        raise ValueError(f"apogee {apogee_m / 1e3:g} km exceeds 8,000 km")
    if not (-90.0 <= launch_lat <= 90.0 and -180.0 <= launch_lon <= 180.0):
        raise ValueError("launch latitude/longitude out of range")
    # depressed arcs are limited: apogee below ~ range / 12 is not a ballistic flight
    if apogee_m < range_m / 14.0:
        raise ValueError(
            f"apogee {apogee_m / 1e3:g} km is too low for a ballistic flight of {range_m / 1e3:g} km"
        )
    v0, g0 = _kepler_guess(range_m, apogee_m)
    # losses to gravity and drag during boost, from experience with this model
    dv0 = v0 + 700.0 + 0.1 * v0

    def resid(p: F64) -> F64:
        fl = _fly(launch_lat, launch_lon, launch_alt_m, azimuth_deg, p[0], p[1], beta, dense=False)
        return np.array([(fl.range_m - range_m) / range_m, (fl.apogee_m - apogee_m) / apogee_m])

    sol = least_squares(
        resid,
        [dv0, g0],
        bounds=([300.0, 0.02], [9500.0, 1.5697]),
        x_scale=[1000.0, 0.1],
        diff_step=[1e-5, 1e-5],
        xtol=1e-10,
        ftol=1e-10,
        max_nfev=60,
    )
    if np.max(np.abs(sol.fun)) > 0.01:
        raise ValueError(
            f"no trajectory found for range {range_m / 1e3:g} km and apogee {apogee_m / 1e3:g} km "
            f"(best misses by {100 * np.max(np.abs(sol.fun)):.1f} %)"
        )
    dv, gamma_bo = float(sol.x[0]), float(sol.x[1])
    fl = _fly(launch_lat, launch_lon, launch_alt_m, azimuth_deg, dv, gamma_bo, beta, dense=True)
    return _sample(fl, launch_lat, launch_lon, launch_alt_m, beta, dt, azimuth_deg)


def _sample(
    fl: _Flight, lat: float, lon: float, alt: float, beta: float, dt: float, azimuth_deg: float
) -> Trajectory:
    tb, ti = fl.tb, fl.t_impact
    tt = np.arange(0.0, ti, dt)
    if tt.size == 0 or tt[-1] < ti:
        tt = np.append(tt, ti)
    xs = np.empty((tt.size, 6))
    sb, sc = fl.sol_boost, fl.sol_coast
    m = tt <= tb
    xs[m] = sb.sol(tt[m]).T  # type: ignore[attr-defined]
    xs[~m] = sc.sol(tt[~m]).T  # type: ignore[attr-defined]
    xs[-1] = fl.x_impact
    la, lo, _ = ecef_to_geodetic(fl.x_impact[:3])
    return Trajectory(
        t=tt,
        x=xs,
        phase=_phase(tt, xs, tb),
        burnout_t=tb,
        apogee_m=fl.apogee_m,
        ground_range_m=fl.range_m,
        flight_time_s=ti,
        launch_lat=lat,
        launch_lon=lon,
        launch_alt_m=alt,
        impact_lat=float(la),
        impact_lon=float(lo),
        beta=beta,
        azimuth_deg=azimuth_deg,
    )
