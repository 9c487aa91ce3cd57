"""Propagation, the boost model and the trajectory solver.

Propagation integrates the ECEF equation of motion of :mod:`tocsin.dynamics.forces`
(J2 gravity, Coriolis and centrifugal terms, exponential-atmosphere drag).

Boost model (:mod:`tocsin.dynamics.vehicle`): one to three equivalent stages,
each with exhaust velocity ``VE`` and a thrust acceleration at ignition ``A0``
(thrust-to-weight about 2.1) that grows as the stage's mass falls
(Tsiolkovsky). Thrust points in the launch plane (through the launch vertical
and the launch azimuth, fixed in ECEF), at an elevation that follows a pitch
program over the whole powered flight: vertical for ``T_VERTICAL`` seconds,
then falling as the square root of the time since pitch-over to the burnout
elevation ``gamma_bo``. Two parameters (the total ideal velocity gain ``dv``
and ``gamma_bo``) are solved so that the flight has the requested ground range
and apogee. :func:`fly` also returns when each spent stage separates, for the
simulator to fly it on its own, and can stop the motor at any time (a failure).

Flights are integrated by :mod:`tocsin.dynamics.integrate` (compiled RK4 under
the same forces); a quasi-ballistic re-entry adds the lift of
:mod:`tocsin.dynamics.manoeuvre`.

References: Zarchan, *Tactical and Strategic Missile Guidance*, 6th ed., ch. 12
(ballistic missile boost and Lambert-free shooting); Wright, *Physics and
Society* (2007) on lofted and minimum-energy trajectories; Vallado (2013) for
the Kepler relations used for the initial guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, least_squares

from tocsin.dynamics.beta import rv_class
from tocsin.dynamics.forces import state_derivative
from tocsin.dynamics.integrate import P, fly_segment, params
from tocsin.dynamics.manoeuvre import PullUp
from tocsin.dynamics.vehicle import A0, VE, Burn, Stage, Vehicle, default_vehicle
from tocsin.geo.wgs84 import (
    GM,
    OMEGA_E,
    WGS84_A,
    ecef_to_geodetic,
    enu_matrix,
    geodetic_to_ecef,
    great_circle_distance,
)

F64 = NDArray[np.float64]

__all__ = [
    "A0",
    "BOOST",
    "BOOST_BETA",
    "MIDCOURSE",
    "MISSILE_CLASSES",
    "PHASE_NAMES",
    "REENTRY",
    "REPORTED_FLIGHTS",
    "VE",
    "Flight",
    "ReportedFlight",
    "Separation",
    "Trajectory",
    "fly",
    "fly_free",
    "propagate",
    "propagate_to_ground",
    "solve_trajectory",
]

BOOST, MIDCOURSE, REENTRY = 0, 1, 2
PHASE_NAMES = ("boost", "midcourse", "reentry")
PITCH_EXP = 0.5
"""Shape of the pitch program: elevation falls with the square root of time
since pitch-over (fast at first, as a gravity turn does)."""
T_VERTICAL = 8.0
"""Vertical rise before pitch-over, s."""
BOOST_BETA = 3000.0
"""Ballistic coefficient of the whole missile during boost, kg/m^2."""
REENTRY_ALT_M = 100_000.0
SEPARATION_MPS = 2.0
"""Speed a spent stage loses against the stack at separation (retro motors or
springs: a few m/s), m/s; the stack's path is not changed."""

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
    """A simulated flight from its start (t = 0: launch, or a separation) to
    impact (the last sample)."""

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
    burns: tuple[tuple[float, float], ...] = ()
    """Intervals (s) when a motor burns; empty: ``(0, burnout_t)``."""
    landed: bool = True
    """False when the flight was still aloft (or in orbit) at its last sample."""

    def state_at(self, t: float | ArrayLike) -> F64:
        """State at times since launch by cubic Hermite interpolation of the
        samples (positions and velocities); clipped to [0, flight_time]."""
        tq = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.flight_time_s)
        i = np.clip(np.searchsorted(self.t, tq, side="right") - 1, 0, self.t.size - 2)
        return _hermite(self.t[i], self.t[i + 1], self.x[i], self.x[i + 1], tq)

    def phase_at(self, t: float | ArrayLike) -> NDArray[np.int8]:
        x = self.state_at(t)
        tq = np.asarray(t, dtype=np.float64)
        return _phase(tq, x, self.burnout_t)

    def burning(self, t: float | ArrayLike) -> NDArray[np.bool_]:
        """True while a motor burns (during boost, not in coasts between stages)."""
        tq = np.asarray(t, dtype=np.float64)
        spans = self.burns or ((0.0, self.burnout_t),)
        out = np.zeros(tq.shape, dtype=bool)
        for a, b in spans:
            out |= (tq >= a) & (tq < b)
        return out


def _hermite(t0: F64, t1: F64, x0: F64, x1: F64, tq: F64) -> F64:
    hh = (t1 - t0)[..., None]
    s = ((tq - t0) / (t1 - t0))[..., None]
    p0, p1 = x0[..., :3], x1[..., :3]
    v0, v1 = x0[..., 3:], x1[..., 3:]
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


def _phase(t: F64, x: F64, burnout_t: float) -> NDArray[np.int8]:
    r = x[..., :3]
    vr = np.einsum("...i,...i->...", r, x[..., 3:])
    alt = _height(x)
    ph = np.where(t < burnout_t, BOOST, np.where((vr < 0) & (alt < REENTRY_ALT_M), REENTRY, MIDCOURSE))
    return ph.astype(np.int8)


@dataclass(frozen=True)
class ReportedFlight:
    """A publicly reported flight: range, apogee and flight time.

    ``fit``: True for the flights the boost model's constants were chosen on
    (thrust-to-weight swept on them); False for the held-out flights that only
    check the model. ``stages``: the missile's number of stages where public
    (None: the class default)."""

    date: str
    name: str
    range_m: float
    apogee_m: float
    flight_time_s: float
    source: str
    fit: bool
    stages: int | None = None


REPORTED_FLIGHTS: tuple[ReportedFlight, ...] = (
    # --- fit set: the thrust-to-weight A0 was swept (1.8, 2.1, 2.4, 2.7) on these seven
    ReportedFlight(
        "2017-08-29",
        "Hwasong-12 IRBM over Hokkaido (Cape Erimo)",
        2_700e3,
        550e3,
        14 * 60,
        "Japan Ministry of Defense press release, 29 Aug 2017: ~2,700 km, apogee ~550 km, ~14 min",
        fit=True,
        stages=1,
    ),
    ReportedFlight(
        "2017-09-15",
        "Hwasong-12 IRBM over Hokkaido",
        3_700e3,
        770e3,
        19 * 60,
        "Japan Ministry of Defense press release, 15 Sep 2017: ~3,700 km, apogee ~800 km, ~19 min; "
        "ROK JCS: apogee ~770 km",
        fit=True,
        stages=1,
    ),
    ReportedFlight(
        "2017-11-29",
        "Hwasong-15 ICBM, lofted, into Japan's EEZ",
        950e3,
        4_475e3,
        53 * 60,
        "DPRK statement and Japan MoD, 29 Nov 2017: ~950 km, apogee ~4,475 km, ~53 min",
        fit=True,
        stages=2,
    ),
    ReportedFlight(
        "2023-07-12",
        "Hwasong-18 ICBM, lofted",
        1_001.2e3,
        6_648.4e3,
        74 * 60,
        "Japan Ministry of Defense, 12 Jul 2023: ~1,000 km, apogee over 6,000 km, ~74 min; "
        "KCNA, 13 Jul 2023: 1,001.2 km, 6,648.4 km, 4,491 s",
        fit=True,
        stages=3,
    ),
    ReportedFlight(
        "2017-07-28",
        "Hwasong-14 ICBM, lofted",
        1_000e3,
        3_700e3,
        45 * 60,
        "Japan Ministry of Defense, 29 Jul 2017: ~1,000 km, apogee >3,500 km (DPRK: 3,725 km), ~45 min",
        fit=True,
        stages=2,
    ),
    ReportedFlight(
        "2022-10-04",
        "Hwasong-12 IRBM over Aomori",
        4_600e3,
        970e3,
        22 * 60,
        "Japan Ministry of Defense, 4 Oct 2022: ~4,600 km, apogee ~1,000 km, ~22 min; ROK JCS: ~970 km",
        fit=True,
        stages=1,
    ),
    ReportedFlight(
        "2022-11-18",
        "Hwasong-17 ICBM, lofted, west of Oshima-Oshima",
        1_000e3,
        6_100e3,
        69 * 60,
        "Japan Ministry of Defense, 18 Nov 2022: ~1,000 km, apogee ~6,000 km, ~69 min; ROK JCS: 6,100 km",
        fit=True,
        stages=2,
    ),
    # --- held out: never used to choose a constant
    ReportedFlight(
        "2017-05-14",
        "Hwasong-12 IRBM, lofted",
        787e3,
        2_111.5e3,
        30 * 60,
        "KCNA, 15 May 2017: 787 km, apogee 2,111.5 km; Japan Ministry of Defense: ~30 min",
        fit=False,
        stages=1,
    ),
    ReportedFlight(
        "2017-07-04",
        "Hwasong-14 ICBM, lofted",
        933e3,
        2_802e3,
        39 * 60,
        "KCNA, 4 Jul 2017: 933 km, apogee 2,802 km, 39 min (US Pacific Command: 37 min)",
        fit=False,
        stages=2,
    ),
    ReportedFlight(
        "2022-03-24",
        "ICBM (Hwasong-17 per DPRK, Hwasong-15 per ROK), lofted",
        1_090e3,
        6_248.5e3,
        71 * 60,
        "KCNA, 25 Mar 2022: 1,090 km, apogee 6,248.5 km (4,052 s); Japan Ministry of Defense: ~1,100 km, "
        "~71 min; ROK JCS: ~1,080 km, 6,200 km",
        fit=False,
        stages=2,
    ),
    ReportedFlight(
        "2023-02-18",
        "Hwasong-15 ICBM, lofted",
        989e3,
        5_768.5e3,
        66 * 60,
        "KCNA, 19 Feb 2023: 989 km, apogee 5,768.5 km, 4,015 s; Japan: ~900 km, ~5,700 km, ~66 min",
        fit=False,
        stages=2,
    ),
    ReportedFlight(
        "2023-03-16",
        "Hwasong-17 ICBM, lofted",
        1_000.2e3,
        6_045e3,
        70 * 60,
        "KCNA, 17 Mar 2023: 1,000.2 km, apogee 6,045 km, 4,151 s; Japan Ministry of Defense: ~1,000 km, "
        "over 6,000 km, ~70 min",
        fit=False,
        stages=2,
    ),
    ReportedFlight(
        "2023-12-18",
        "Hwasong-18 ICBM, lofted",
        1_002.3e3,
        6_518.2e3,
        73 * 60,
        "KCNA, 19 Dec 2023: 1,002.3 km, apogee 6,518.2 km, 4,415 s; Japan Ministry of Defense: ~1,000 km, "
        "over 6,000 km, ~73 min",
        fit=False,
        stages=3,
    ),
    ReportedFlight(
        "2024-10-31",
        "Hwasong-19 ICBM, lofted",
        1_001.2e3,
        7_687.5e3,
        86 * 60,
        "KCNA, 1 Nov 2024: 1,001.2 km, apogee 7,687.5 km, 5,156 s; Japan Ministry of Defense: ~1,000 km, "
        "over 7,000 km, ~86 min (stage count not public: class default)",
        fit=False,
    ),
)

MISSILE_CLASSES: dict[str, tuple[float, float]] = {
    "SRBM": (450e3, 90e3),
    "MRBM": (1_300e3, 350e3),
    "IRBM": (3_000e3, 650e3),
    "ICBM": (10_000e3, 1_300e3),
    "ICBM-lofted": (1_000e3, 6_000e3),
}


def _launch_frame(lat: float, lon: float, azimuth_deg: float) -> F64:
    """Unit normal of the launch plane (fixed in ECEF)."""
    rot = enu_matrix(lat, lon)
    az = math.radians(azimuth_deg)
    heading = math.sin(az) * rot[0] + math.cos(az) * rot[1]
    up = rot[2]
    n = np.cross(up, heading)
    return np.asarray(n / np.linalg.norm(n))


@dataclass(frozen=True)
class Separation:
    """Spent stage ``stage`` separates from the stack at ``t`` (s after launch);
    ``x`` is the stack's state then."""

    stage: int
    t: float
    x: F64


@dataclass(frozen=True)
class Flight:
    """A flown vehicle: the path of the object that carries the payload (the
    stack, then the re-entry vehicle) from launch to impact, sampled on the
    requested grid plus every burn start and end; its burns; its separations."""

    t: F64
    x: F64
    burns: tuple[Burn, ...]
    burnout_t: float
    """End of powered flight (the last burn, or the failure)."""
    separations: tuple[Separation, ...]
    landed: bool
    apogee_m: float
    range_m: float
    launch_lat: float
    launch_lon: float
    launch_alt_m: float
    failed_at_s: float | None = None

    @property
    def flight_time_s(self) -> float:
        return float(self.t[-1])

    @property
    def x_end(self) -> F64:
        return np.asarray(self.x[-1])

    def burn_spans(self) -> tuple[tuple[float, float], ...]:
        end = self.burnout_t
        return tuple((b.t_ign, min(b.t_bo, end)) for b in self.burns if b.t_ign < end)


def _apogee(t: F64, x: F64) -> float:
    """Highest geodetic height of a sampled path: the best sample, refined on
    the cubic Hermite curve through its neighbours (a parabola through the three
    best points of a fine grid), smooth in the flight's parameters."""
    h = _height(x)
    i = int(np.argmax(h))
    lo, hi = max(i - 1, 0), min(i + 1, t.size - 1)
    if hi == lo:
        return float(h[i])
    tq = np.linspace(t[lo], t[hi], 41)
    j = np.clip(np.searchsorted(t, tq, side="right") - 1, lo, max(hi - 1, lo))
    xq = _hermite(t[j], t[j + 1], x[j], x[j + 1], tq)
    hq = _height(xq)
    k = int(np.argmax(hq))
    if 0 < k < tq.size - 1:
        y0, y1, y2 = hq[k - 1], hq[k], hq[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            return float(y1 - 0.125 * (y0 - y2) ** 2 / den)
    return float(max(hq.max(), h[i]))


def fly_free(
    x0: ArrayLike,
    t0: float,
    *,
    beta: float,
    t_max: float,
    dt: float = 1.0,
    manoeuvre: PullUp | None = None,
    air: F64 | None = None,
) -> tuple[F64, F64, bool]:
    """Unpowered flight of a state from time ``t0`` until it lands or ``t_max``:
    ``(t, x, landed)`` sampled at multiples of ``dt`` (and ``t0``, and the end);
    in the day's ``air`` (:func:`tocsin.dynamics.atmosphere.day_air`) if given,
    else the standard."""
    p = params(air, beta=beta, h_max=min(5.0, dt))
    if manoeuvre is not None:
        manoeuvre.fill(p)
    return fly_segment(np.asarray(x0, dtype=np.float64), float(t0), float(t_max), float(dt), p, True)


def fly(
    launch_lat: float,
    launch_lon: float,
    launch_alt_m: float,
    azimuth_deg: float,
    dv: float,
    gamma_bo: float,
    *,
    beta: float,
    vehicle: Vehicle,
    manoeuvre: PullUp | None = None,
    fail_s: float | None = None,
    fail_beta: float = BOOST_BETA,
    dt: float = 1.0,
    t_max: float = 20_000.0,
    air: F64 | None = None,
) -> Flight:
    """Fly ``vehicle`` with total ideal velocity gain ``dv`` (m/s) and burnout
    thrust elevation ``gamma_bo`` (rad) from the launch point on ``azimuth_deg``.

    During powered flight (and coasts between stages) the stack has drag
    ``BOOST_BETA``; after the last burn the re-entry vehicle coasts with ``beta``
    (and ``manoeuvre``'s lift) to the ground or ``t_max``. With ``fail_s`` the
    motor stops then and the stack falls with ``fail_beta`` (stages that burnt out
    before still separate). Stage ``k < n`` separates at its burnout; the last
    stage separates from the re-entry vehicle at the final burnout (the caller
    decides whether separated stages become objects). ``air``: the day's
    departures from the standard atmosphere (:func:`tocsin.dynamics.atmosphere.day_air`;
    None: the standard)."""
    burns = vehicle.burns(dv)
    t_bo = burns[-1].t_bo
    # the pitch program ends with the last burn that follows it
    pitched = [b for b, s in zip(burns, vehicle.stages, strict=True) if s.elevation is None]
    t_pitch = pitched[-1].t_bo if pitched else t_bo
    failed = fail_s is not None and fail_s < t_bo
    end_powered = float(fail_s) if failed and fail_s is not None else t_bo
    n_plane = _launch_frame(launch_lat, launch_lon, azimuth_deg)
    x = np.concatenate([geodetic_to_ecef(launch_lat, launch_lon, launch_alt_m), np.zeros(3)])
    base = params(
        air,
        beta=BOOST_BETA,
        nx=float(n_plane[0]),
        ny=float(n_plane[1]),
        nz=float(n_plane[2]),
        t_vert=T_VERTICAL,
        t_pitch=t_pitch,
        gamma_bo=gamma_bo,
        pitch_exp=PITCH_EXP,
        h_max=min(5.0, dt),
    )
    ts: list[F64] = []
    xs: list[F64] = []
    seps: list[Separation] = []
    t = 0.0
    landed = False

    def run(t1: float, p: F64) -> None:
        nonlocal t, x, landed
        if t1 <= t or landed:
            return
        tt, xx, hit = fly_segment(x, t, t1, dt, p, True)
        if ts:
            tt, xx = tt[1:], xx[1:]  # the first sample repeats the last one
        ts.append(tt)
        xs.append(xx)
        t, x, landed = float(tt[-1]) if tt.size else t, (xx[-1].copy() if tt.size else x), hit

    for b, stage in zip(burns, vehicle.stages, strict=True):
        if t >= end_powered:
            break
        run(min(b.t_ign, end_powered), base)  # coast before ignition
        if t >= end_powered or landed:
            break
        p = base.copy()
        p[P.THRUST] = 1.0
        p[P.VE] = b.ve
        p[P.TAU] = b.tau
        p[P.T_IGN] = b.t_ign
        if stage.elevation is not None:  # fixed elevation: the program's end, reached at once
            p[P.GAMMA_BO] = stage.elevation
            p[P.T_VERT] = -2e-6
            p[P.T_PITCH] = -1e-6
        run(min(b.t_bo, end_powered), p)
        if not landed and b.t_bo <= end_powered:
            seps.append(Separation(b.stage, b.t_bo, x.copy()))
    if not landed:
        p = params(air, beta=fail_beta if failed else beta, h_max=min(5.0, dt))
        if manoeuvre is not None and not failed:
            manoeuvre.fill(p)
        run(t_max, p)
    tt = np.concatenate(ts)
    xx = np.concatenate(xs)
    la, lo, _ = ecef_to_geodetic(xx[-1, :3])
    return Flight(
        t=tt,
        x=xx,
        burns=burns,
        burnout_t=end_powered,
        separations=tuple(seps),
        landed=landed,
        apogee_m=_apogee(tt, xx),
        range_m=float(great_circle_distance(launch_lat, launch_lon, float(la), float(lo))),
        launch_lat=launch_lat,
        launch_lon=launch_lon,
        launch_alt_m=launch_alt_m,
        failed_at_s=float(fail_s) if failed and fail_s is not None else None,
    )


def to_trajectory(fl: Flight, *, beta: float, azimuth_deg: float) -> Trajectory:
    """The :class:`Trajectory` of a flight's payload-carrying object."""
    la, lo, _ = ecef_to_geodetic(fl.x_end[:3])
    return Trajectory(
        t=fl.t,
        x=fl.x,
        phase=_phase(fl.t, fl.x, fl.burnout_t),
        burnout_t=fl.burnout_t,
        apogee_m=fl.apogee_m,
        ground_range_m=fl.range_m,
        flight_time_s=fl.flight_time_s,
        launch_lat=fl.launch_lat,
        launch_lon=fl.launch_lon,
        launch_alt_m=fl.launch_alt_m,
        impact_lat=float(la),
        impact_lon=float(lo),
        beta=beta,
        azimuth_deg=azimuth_deg,
        burns=fl.burn_spans(),
        landed=fl.landed,
    )


def free_trajectory(t: F64, x: F64, landed: bool, *, beta: float) -> Trajectory:
    """A :class:`Trajectory` for an unpowered object (a separated stage or
    debris) sampled at ``t`` (times since it separated: ``t[0] == 0``)."""
    t = t - t[0]
    la0, lo0, h0 = ecef_to_geodetic(x[0, :3])
    la, lo, _ = ecef_to_geodetic(x[-1, :3])
    return Trajectory(
        t=t,
        x=x,
        phase=_phase(t, x, 0.0),
        burnout_t=0.0,
        apogee_m=_apogee(t, x),
        ground_range_m=float(great_circle_distance(float(la0), float(lo0), float(la), float(lo))),
        flight_time_s=float(t[-1]),
        launch_lat=float(la0),
        launch_lon=float(lo0),
        launch_alt_m=float(h0),
        impact_lat=float(la),
        impact_lon=float(lo),
        beta=beta,
        landed=landed,
    )


def _kepler_guess(range_m: float, apogee_m: float) -> tuple[float, float]:
    """Burnout speed and elevation of a vacuum Kepler arc from the surface with
    the requested range and apogee (spherical, non-rotating Earth)."""
    r0 = WGS84_A
    ra = r0 + apogee_m
    c = math.cos(0.5 * range_m / r0)
    e = (ra - r0) / (ra - r0 * c)
    a = ra / (1.0 + e)
    v = math.sqrt(GM * (2.0 / r0 - 1.0 / a))
    # flight-path angle at the launch point from the angular momentum h = r0 v cos(g)
    p = a * (1.0 - e * e)
    cg = min(1.0, math.sqrt(GM * p) / (r0 * v))
    return v, math.acos(cg)


def vehicle_for(missile_class: str | None, range_m: float, apogee_m: float) -> Vehicle:
    """The default vehicle of a launch: of its class, else of the class of the
    missile that could fly that range and apogee."""
    if missile_class is not None:
        return default_vehicle("ICBM" if missile_class.startswith("ICBM") else missile_class)
    return default_vehicle(rv_class(range_m, apogee_m))


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
    vehicle: Vehicle | None = None,
    manoeuvre: PullUp | None = None,
) -> Trajectory:
    """Find the boost that flies ``range_m`` with apogee ``apogee_m`` (or the
    nominal figures of ``missile_class``) and return the sampled flight.

    ``vehicle``: the stages (default: :func:`vehicle_for`); ``beta``: the
    re-entry vehicle's ballistic coefficient; ``manoeuvre``: a quasi-ballistic
    pull-up and glide on descent (the solved range includes it)."""
    range_m, apogee_m, veh = _check_request(
        launch_lat, launch_lon, range_m, apogee_m, missile_class, vehicle, manoeuvre
    )
    sol = _solve(launch_lat, launch_lon, launch_alt_m, azimuth_deg, range_m, apogee_m, beta, veh, manoeuvre)
    fl = fly(
        launch_lat,
        launch_lon,
        launch_alt_m,
        azimuth_deg,
        sol[0],
        sol[1],
        beta=beta,
        vehicle=veh,
        manoeuvre=manoeuvre,
        dt=dt,
    )
    return to_trajectory(fl, beta=beta, azimuth_deg=azimuth_deg)


@dataclass(frozen=True)
class Solution:
    """What :func:`solve_flight` found: the boost parameters and the flight."""

    dv: float
    gamma_bo: float
    vehicle: Vehicle
    flight: Flight
    extra: dict[str, float] = field(default_factory=dict)


def solve_flight(
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
    vehicle: Vehicle | None = None,
    manoeuvre: PullUp | None = None,
    fail_s: float | None = None,
    fail_beta: float = BOOST_BETA,
    t_max: float = 20_000.0,
) -> Solution:
    """As :func:`solve_trajectory`, but return the whole :class:`Flight` (with its
    separations), optionally with the motor failing at ``fail_s``: the boost is
    solved for the intended flight, then flown with the failure."""
    range_m, apogee_m, veh = _check_request(
        launch_lat, launch_lon, range_m, apogee_m, missile_class, vehicle, manoeuvre
    )
    dv, g = _solve(launch_lat, launch_lon, launch_alt_m, azimuth_deg, range_m, apogee_m, beta, veh, manoeuvre)
    fl = fly(
        launch_lat,
        launch_lon,
        launch_alt_m,
        azimuth_deg,
        dv,
        g,
        beta=beta,
        vehicle=veh,
        manoeuvre=manoeuvre,
        fail_s=fail_s,
        fail_beta=fail_beta,
        dt=dt,
        t_max=t_max,
    )
    return Solution(dv, g, veh, fl)


def _check_request(
    launch_lat: float,
    launch_lon: float,
    range_m: float | None,
    apogee_m: float | None,
    missile_class: str | None,
    vehicle: Vehicle | None,
    manoeuvre: PullUp | None,
) -> tuple[float, float, Vehicle]:
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
    # depressed arcs are limited: apogee below ~ range / 14 is not a ballistic flight
    if manoeuvre is None and apogee_m < range_m / 14.0:
        raise ValueError(
            f"apogee {apogee_m / 1e3:g} km is too low for a ballistic flight of {range_m / 1e3:g} km"
        )
    veh = vehicle if vehicle is not None else vehicle_for(missile_class, range_m, apogee_m)
    return range_m, apogee_m, veh


_SOLVE_DT = 10.0
"""Sample spacing of the flights the solver tries (the integrator's steps stay
small where the forces need it; the apogee is refined between samples)."""


def _solve(
    lat: float,
    lon: float,
    alt: float,
    az: float,
    range_m: float,
    apogee_m: float,
    beta: float,
    veh: Vehicle,
    manoeuvre: PullUp | None,
) -> tuple[float, float]:
    v0, g0 = _kepler_guess(range_m, apogee_m)
    # losses to gravity and drag during boost, from experience with this model
    lo = np.array([300.0, 0.005])
    hi = np.array([14_000.0, 0.5 * math.pi - 1e-4])

    def resid(p: F64) -> F64:
        fl = fly(lat, lon, alt, az, p[0], p[1], beta=beta, vehicle=veh, manoeuvre=manoeuvre, dt=_SOLVE_DT)
        return np.array([(fl.range_m - range_m) / range_m, (fl.apogee_m - apogee_m) / apogee_m])

    best = None
    for dv_loss, g_scale in ((0.1, 1.0), (0.25, 1.0), (0.1, 0.8), (0.05, 1.1)):
        x0 = np.clip([v0 * (1.0 + dv_loss) + 700.0, g0 * g_scale], lo + 1e-6, hi - 1e-6)
        sol = least_squares(
            resid,
            x0,
            bounds=(lo, hi),
            x_scale=[1000.0, 0.1],
            diff_step=[1e-6, 1e-6],
            xtol=1e-12,
            ftol=1e-12,
            max_nfev=60,
        )
        if best is None or sol.cost < best.cost:
            best = sol
        if np.max(np.abs(sol.fun)) < 1e-4:
            break
    assert best is not None
    if np.max(np.abs(best.fun)) > 0.01:
        raise ValueError(
            f"no trajectory found for range {range_m / 1e3:g} km and apogee {apogee_m / 1e3:g} km "
            f"(best misses by {100 * np.max(np.abs(best.fun)):.1f} %)"
        )
    return float(best.x[0]), float(best.x[1])


# --- orbits (satellite launch vehicles) ---------------------------------------------


def orbit_heights(x: ArrayLike) -> tuple[float, float]:
    """Perigee and apogee heights (m, above the equatorial radius) of the
    osculating two-body orbit of an ECEF state (Earth-relative velocity; the
    inertial velocity adds w x r). A perigee below the ground means the object
    comes down."""
    s = np.asarray(x, dtype=np.float64)
    r = s[:3]
    v = s[3:] + np.cross([0.0, 0.0, OMEGA_E], r)
    rn = float(np.linalg.norm(r))
    energy = 0.5 * float(v @ v) - GM / rn
    if energy >= 0.0:
        return float("inf"), float("inf")
    a = -GM / (2.0 * energy)
    h = float(np.linalg.norm(np.cross(r, v)))
    e = math.sqrt(max(0.0, 1.0 - h * h / (GM * a)))
    return a * (1.0 - e) - WGS84_A, a * (1.0 + e) - WGS84_A


ORBIT_MIN_PERIGEE_M = 120_000.0
"""An object whose osculating perigee is above this height is in orbit (it
stays up for the length of any drill)."""


GAMMA_SLV = math.radians(20.0)
"""Thrust elevation at the end of a satellite launcher's pitch program (its
lower stages), before the coast up to the orbit and the horizontal insertion
burn."""


def solve_orbit(
    launch_lat: float,
    launch_lon: float,
    azimuth_deg: float,
    *,
    orbit_alt_m: float,
    vehicle: Vehicle,
    launch_alt_m: float = 0.0,
) -> tuple[float, float, Vehicle]:
    """Ascent of a satellite launch vehicle into a circular orbit ``orbit_alt_m``
    high, the way launchers do it: the lower stages fly the pitch program (to
    ``GAMMA_SLV``) with just enough velocity gain for the coasting arc to peak at
    the orbit's height; the last stage waits for the peak and burns horizontally
    (centred on it) for the velocity the circular orbit needs. Two 1-D searches
    (the lower stages' gain for the height, the last stage's for the orbit's
    size). Returns ``(dv, gamma_bo, vehicle)``: the total gain and the vehicle
    with the last stage's share, coast and horizontal burn filled in."""
    if not 150e3 <= orbit_alt_m <= 2_000e3:
        raise ValueError(f"orbit height {orbit_alt_m / 1e3:g} km is outside 150..2,000 km")
    if vehicle.n < 2:
        raise ValueError("a satellite launcher needs at least 2 stages")
    lower = Vehicle(vehicle.stages[:-1])
    last = vehicle.stages[-1]

    def peak(dv_lo: float) -> tuple[float, float, F64]:
        """Fly the lower stages, coast to the top: (time, height, state) there."""
        t_lo = lower.burns(dv_lo)[-1].t_bo
        fl = fly(
            launch_lat,
            launch_lon,
            launch_alt_m,
            azimuth_deg,
            dv_lo,
            GAMMA_SLV,
            beta=math.inf,
            vehicle=lower,
            dt=1.0,
            t_max=t_lo + 3_000.0,
        )
        vr = np.einsum("ij,ij->i", fl.x[:, :3], fl.x[:, 3:])
        after = np.flatnonzero((fl.t >= t_lo) & (vr <= 0.0))
        if after.size == 0 or after[0] == 0:
            return t_lo, float(_height(fl.x[-1])), fl.x[-1]
        k = int(after[0])
        # the peak between samples k-1 and k: where the Hermite curve's vr is 0
        tq = np.linspace(fl.t[k - 1], fl.t[k], 201)
        xq = _hermite(np.full(tq.size, fl.t[k - 1]), np.full(tq.size, fl.t[k]), fl.x[k - 1], fl.x[k], tq)
        m = int(np.argmin(np.abs(np.einsum("ij,ij->i", xq[:, :3], xq[:, 3:]))))
        return float(tq[m]), float(_height(xq[m])), xq[m]

    def height_miss(dv_lo: float) -> float:
        return peak(dv_lo)[1] - orbit_alt_m

    lo_dv, hi_dv = 2_000.0, 9_000.0
    if height_miss(lo_dv) > 0 or height_miss(hi_dv) < 0:
        raise ValueError(f"the lower stages cannot reach {orbit_alt_m / 1e3:g} km on this ascent")
    dv_lo = brentq(height_miss, lo_dv, hi_dv, xtol=0.01)
    t_pk, _, x_pk = peak(dv_lo)
    t_lo = lower.burns(dv_lo)[-1].t_bo
    r = x_pk[:3]
    v_in = x_pk[3:] + np.cross([0.0, 0.0, OMEGA_E], r)
    v_circ = math.sqrt(GM / float(np.linalg.norm(r)))

    def veh_for(dv_last: float, elev: float) -> tuple[float, Vehicle]:
        tb = (last.ve / last.a0) * (1.0 - math.exp(-dv_last / last.ve))
        coast = max(0.0, t_pk - 0.5 * tb - t_lo)
        total = dv_lo + dv_last
        shares = lower.shares()
        st = [
            Stage(sh * dv_lo / total, s.ve, s.a0, s.coast_s)
            for s, sh in zip(lower.stages, shares, strict=True)
        ]
        st.append(Stage(dv_last / total, last.ve, last.a0, coast, elevation=elev))
        return total, Vehicle(tuple(st))

    def resid(q: F64) -> F64:
        total, veh = veh_for(float(q[0]), float(q[1]))
        fl = fly(
            launch_lat,
            launch_lon,
            launch_alt_m,
            azimuth_deg,
            total,
            GAMMA_SLV,
            beta=math.inf,
            vehicle=veh,
            dt=_SOLVE_DT,
            t_max=veh.burns(total)[-1].t_bo + 1e-3,
        )
        if fl.landed:
            return np.array([-1.0, -1.0])
        hp, ha = orbit_heights(fl.x_end)
        return np.array([(hp - orbit_alt_m) / orbit_alt_m, (ha - orbit_alt_m) / orbit_alt_m])

    # the last stage: its gain and a small upward tilt that makes up for what
    # gravity takes during the burn
    need = max(v_circ - float(np.linalg.norm(v_in)), 100.0)
    sol = least_squares(
        resid,
        [need, 0.02],
        bounds=([0.3 * need, -0.3], [3.0 * need + 500.0, 0.5]),
        x_scale=[100.0, 0.01],
        diff_step=[1e-6, 1e-6],
        max_nfev=40,
    )
    if np.max(np.abs(sol.fun)) > 0.02:
        raise ValueError(
            f"no orbit insertion found at {orbit_alt_m / 1e3:g} km "
            f"(best misses by {100 * np.max(np.abs(sol.fun)):.1f} %)"
        )
    total, veh = veh_for(float(sol.x[0]), float(sol.x[1]))
    return total, GAMMA_SLV, veh


def min_energy_apogee_m(range_m: float) -> float:
    """Apogee height of the minimum-energy (least burnout speed) vacuum arc of
    this ground range (spherical Earth), m."""
    from scipy.optimize import minimize_scalar

    from tocsin.dynamics.beta import _kepler_speed

    res = minimize_scalar(
        lambda a: _kepler_speed(range_m, a),
        bounds=(1e3, 4.0 * range_m + 1e5),
        method="bounded",
        options={"xatol": 1.0},
    )
    return float(res.x)


DEPRESSED_RATIO = 12.0
"""A depressed trajectory's range over apogee: the KN-23 flights of 25 Jul 2019
(ROK JCS: ~600 km and ~690 km, apogee ~50 km)."""
DEPRESSED_MIN_APOGEE_M = 40_000.0
"""Shorter depressed flights still peak at ~40-50 km: the KN-23 flights of
9 May 2019 (ROK JCS: 420 km and 270 km, apogees ~50 km and ~40 km)."""


def depressed_apogee_m(range_m: float) -> float:
    """Apogee of a depressed trajectory of this range: ``range / 12``, at least
    40 km, m."""
    return max(range_m / DEPRESSED_RATIO, DEPRESSED_MIN_APOGEE_M)
