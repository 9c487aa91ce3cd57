"""Flights: powered ascent, separations and free flight, integrated with scipy's
``solve_ivp`` (DOP853) in an Earth-centred inertial frame.

Forces: J2-J4 gravity (:mod:`earth`), US Standard Atmosphere 1976 drag on the
air-relative velocity with a Mach-dependent drag coefficient, thrust of constant
vacuum thrust and mass flow per stage less the nozzle back-pressure loss
(T = T_vac - p(h) A_e), optional aerodynamic lift for a manoeuvring re-entry.

Ascent guidance (not tocsin's pitch programme): vertical rise, a pitch-over
kick towards the launch azimuth, then a zero-angle-of-attack gravity turn (thrust
along the air-relative velocity) to cut-off. Two controls, the kick angle and the
cut-off of the last stage, are solved with ``scipy.optimize.least_squares`` so
that the flight has a requested ground range and apogee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

from . import atmosphere as atm
from . import earth

Vec = NDArray[np.float64]

#: heights (m) that label truth phases: above it after burnout is midcourse
REENTRY_HEIGHT_M = 100_000.0


#: False: constant C_d (tocsin's constant-beta model), only to show what the Mach
#: dependence costs (independent_check.py --constant-cd)
MACH_DRAG = True


def mach_factor(mach: float, rise: float) -> float:
    """C_d(M) / C_d(hypersonic) of a blunt-nosed body: flat above Mach 4, rising to
    ``1 + rise`` at Mach 1.0-1.2 (the transonic drag peak), lower subsonic.
    ``rise`` is drawn per object (0 gives tocsin's constant-beta model)."""
    if not MACH_DRAG or mach >= 4.0:
        return 1.0
    if mach >= 1.2:
        # smooth fall from the peak at 1.2 to 1 at 4 (1/M^2-like)
        w = (4.0 - mach) / 2.8
        return 1.0 + rise * w * w
    if mach >= 0.8:
        return 1.0 + rise * (mach - 0.8) / 0.4
    return 1.0 - 0.15 * rise * (0.8 - mach) / 0.8


@dataclass
class Aero:
    """What drag (and lift) an object feels: C_d A = mass / beta at hypersonic speed."""

    beta: float  # kg/m^2, hypersonic
    rise: float = 0.0  # transonic C_d rise
    # manoeuvring re-entry (pull-up / glide / dive); None: ballistic
    manoeuvre: Manoeuvre | None = None


@dataclass
class Manoeuvre:
    """A quasi-ballistic re-entry: below ``h_pull`` while descending, lift holds the
    flight-path angle at ``glide_deg``; below ``h_dive``, at ``dive_deg``. Lift is
    perpendicular to the air-relative velocity in its vertical plane, at most
    ``l_over_d`` x drag and ``n_max`` g; ``tau_s`` is the flight-path angle loop's
    time constant."""

    h_pull: float
    h_dive: float
    glide_deg: float
    dive_deg: float
    l_over_d: float
    n_max: float
    tau_s: float


@dataclass
class Stage:
    m_prop: float
    m_dry: float
    isp_vac: float
    thrust_vac: float
    diameter: float
    length: float
    coast_before: float = 0.0  # s between the previous burnout and this ignition
    sl_ratio: float = 0.9  # sea-level / vacuum thrust

    @property
    def mdot(self) -> float:
        return self.thrust_vac / (self.isp_vac * earth.G0)

    @property
    def burn(self) -> float:
        return self.m_prop / self.mdot

    @property
    def exit_area(self) -> float:
        return (1.0 - self.sl_ratio) * self.thrust_vac / 101325.0


@dataclass
class Vehicle:
    stages: list[Stage]
    payload_mass: float  # RV (or satellite + its share), kg
    cd_body: float  # powered-flight C_d (base area of stage 1)
    body_rise: float
    t_vertical: float
    t_kick: float
    separates: bool = True  # False: the last stage carries the warhead down (Scud-like)
    # satellite launchers: stages 2.. thrust at an elevation above the local horizontal
    # falling linearly from this (deg) to 0 at the last burnout (None: gravity turn)
    upper_pitch_deg: float | None = None

    @property
    def area(self) -> float:
        return math.pi * self.stages[0].diameter ** 2 / 4.0


@dataclass
class Event:
    """A separation: spent stage ``stage`` (1-based) leaves the stack at ``t`` (s after
    launch) with ``state`` (ECI) and ``mass`` (dry plus unburnt propellant)."""

    t: float
    stage: int
    state: Vec
    mass: float


@dataclass
class Ascent:
    """A flown powered ascent."""

    t_burnout: float
    state_bo: Vec  # ECI at the last burnout (or failure)
    events: list[Event]
    burns: list[tuple[float, float]]  # thrusting intervals (s after launch)
    sol: list[object] = field(default_factory=list)  # dense outputs (t0, t1, OdeSolution)


class Launch:
    """Where and when: site, azimuth, epoch; the ECI frame coincides with ECEF at
    launch (t = 0)."""

    def __init__(self, lat: float, lon: float, azimuth_deg: float, t0: float, alt_m: float = 0.0) -> None:
        self.lat, self.lon, self.az, self.t0 = lat, lon, azimuth_deg, t0
        self.r0 = earth.geodetic_to_ecef(lat, lon, alt_m)
        enu = earth.enu_basis(lat, lon)
        self.up = enu[2]
        a = math.radians(azimuth_deg)
        self.dir_az = math.sin(a) * enu[0] + math.cos(a) * enu[1]
        w = np.array([0.0, 0.0, earth.OMEGA])
        self.y0 = np.concatenate([self.r0, np.cross(w, self.r0)])


def _height(r: Vec, t: float) -> float:
    # the height does not depend on longitude: no need to rotate the ECI position
    return earth.height(float(r[0]), float(r[1]), float(r[2]))


def _air_velocity(r: Vec, v: Vec) -> Vec:
    return np.array([v[0] + earth.OMEGA * r[1], v[1] - earth.OMEGA * r[0], v[2]])


def _drag_lift(
    t: float, r: Vec, v: Vec, mass: float, cda_hyp: float, rise: float, man: Manoeuvre | None
) -> Vec:
    if float(r @ r) > 7.5e6**2:  # above 1,100 km: no air
        return np.zeros(3)
    h = _height(r, t)
    rho = atm.density(h)
    if rho <= 0.0:
        return np.zeros(3)
    va = _air_velocity(r, v)
    speed = math.sqrt(float(va @ va))
    if speed < 1e-6:
        return np.zeros(3)
    mach = speed / atm.speed_of_sound(h)
    q = 0.5 * rho * speed * speed
    drag = q * cda_hyp * mach_factor(mach, rise) / mass
    acc = -drag * va / speed
    if man is not None:
        acc = acc + _lift(h, r, va, speed, drag, man)
    return acc


def _lift(h: float, r: Vec, va: Vec, speed: float, drag: float, man: Manoeuvre) -> Vec:
    up = r / math.sqrt(float(r @ r))  # geocentric up (good enough for a guidance law)
    sin_g = float(va @ up) / speed
    gamma = math.asin(max(-1.0, min(1.0, sin_g)))
    if sin_g > 0.0 or h > man.h_pull:
        return np.zeros(3)
    cmd = man.dive_deg if h < man.h_dive else man.glide_deg
    g = earth.GM / float(r @ r)
    a_cmd = speed * (math.radians(cmd) - gamma) / man.tau_s + (
        g - speed * speed / math.sqrt(float(r @ r))
    ) * math.cos(gamma)
    a_max = min(man.l_over_d * drag, man.n_max * earth.G0)
    a_cmd = max(-a_max, min(a_max, a_cmd))
    # lift direction: up, made perpendicular to the velocity
    n = up - sin_g * va / speed
    nn = math.sqrt(float(n @ n))
    if nn < 1e-9:
        return np.zeros(3)
    return a_cmd * n / nn


def _ground(t: float, y: Vec, *_: object) -> float:
    return _height(y[:3], t)


_ground.terminal = True  # type: ignore[attr-defined]
_ground.direction = -1  # type: ignore[attr-defined]


def free_flight(
    t0: float, y0: Vec, aero: Aero, mass: float, t_max: float, *, rtol: float = 1e-9, with_dense: bool = True
) -> tuple[float, Vec, object, bool]:
    """Fly an unpowered object from (t0, y0 ECI) to the ground or ``t_max``.
    Returns (t_end, y_end, dense solution, hit_ground)."""
    cda = mass / aero.beta
    man = aero.manoeuvre

    def rhs(t: float, y: Vec) -> Vec:
        r, v = y[:3], y[3:]
        a = earth.gravity(r) + _drag_lift(t, r, v, mass, cda, aero.rise, man)
        return np.concatenate([v, a])

    max_step = 2.0 if man is not None else np.inf
    sol = solve_ivp(
        rhs,
        (t0, t_max),
        y0,
        method="DOP853",
        rtol=rtol,
        atol=1e-3,
        events=_ground,
        dense_output=with_dense,
        max_step=max_step,
    )
    if sol.status == -1:
        raise RuntimeError(f"free flight failed: {sol.message}")
    hit = bool(sol.t_events[0].size)
    return float(sol.t[-1]), sol.y[:, -1].copy(), sol.sol, hit


def ascent(
    launch: Launch,
    veh: Vehicle,
    kick_deg: float,
    cutoff: float,
    *,
    fail_s: float | None = None,
    rtol: float = 1e-9,
) -> Ascent:
    """Fly the powered ascent: stages in turn, the last cut off at ``cutoff`` (0..1] of
    its burn; a failure at ``fail_s`` stops the thrust there."""
    events: list[Event] = []
    burns: list[tuple[float, float]] = []
    dense: list[object] = []
    t = 0.0
    y = launch.y0.copy()
    payload = veh.payload_mass
    masses_above = [
        sum(s.m_prop + s.m_dry for s in veh.stages[k + 1 :]) + payload for k in range(len(veh.stages))
    ]
    kick = math.radians(kick_deg)
    n = len(veh.stages)
    t_up0 = veh.stages[0].burn
    t_up1 = sum(s.burn + s.coast_before for s in veh.stages)
    for k, st in enumerate(veh.stages):
        m_ign = st.m_prop + st.m_dry + masses_above[k]
        if st.coast_before > 0.0 and k > 0:
            t1 = t + st.coast_before
            if fail_s is not None and fail_s < t1:
                return Ascent(t, y, events, burns, dense)
            tb, yb, sol, hit = free_flight(t, y, Aero(m_ign / (veh.cd_body * veh.area)), m_ign, t1, rtol=rtol)
            dense.append((t, tb, sol))
            if hit:
                raise ValueError("the vehicle hit the ground during a coast")
            t, y = tb, yb
        burn = st.burn * (cutoff if k == n - 1 else 1.0)
        t_ign = t
        t_end = t + burn
        if fail_s is not None and fail_s < t_end:
            t_end = max(fail_s, t)
        area = veh.area if k == 0 else math.pi * st.diameter**2 / 4.0
        cd = veh.cd_body

        def rhs(
            tt: float,
            yy: Vec,
            st: Stage = st,
            m_ign: float = m_ign,
            t_ign: float = t_ign,
            area: float = area,
            cd: float = cd,
        ) -> Vec:
            r, v = yy[:3], yy[3:]
            mass = m_ign - st.mdot * (tt - t_ign)
            h = _height(r, tt)
            thrust = st.thrust_vac - atm.pressure(h) * st.exit_area
            rz = earth.rot_z(earth.OMEGA * tt)
            if tt < veh.t_vertical:
                u = rz @ launch.up
            elif tt < veh.t_vertical + veh.t_kick:
                th = kick * (tt - veh.t_vertical) / veh.t_kick
                u = rz @ (math.cos(th) * launch.up + math.sin(th) * launch.dir_az)
            elif veh.upper_pitch_deg is not None and tt > t_up0:
                va = _air_velocity(r, v)
                up = r / math.sqrt(float(r @ r))
                hor = va - float(va @ up) * up
                hor /= math.sqrt(float(hor @ hor))
                th = math.radians(veh.upper_pitch_deg) * max(0.0, 1.0 - (tt - t_up0) / (t_up1 - t_up0))
                u = math.cos(th) * hor + math.sin(th) * up
            else:
                va = _air_velocity(r, v)
                u = va / math.sqrt(float(va @ va))
            a = (
                earth.gravity(r)
                + thrust / mass * u
                + _drag_lift(tt, r, v, mass, cd * area, veh.body_rise, None)
            )
            return np.concatenate([v, a])

        if t_end > t:
            sol = solve_ivp(
                rhs,
                (t, t_end),
                y,
                method="DOP853",
                rtol=rtol,
                atol=1e-3,
                events=_ground,
                dense_output=True,
                max_step=5.0,
            )
            if sol.status == -1:
                raise RuntimeError(f"ascent failed: {sol.message}")
            if sol.t_events[0].size and sol.t_events[0][0] > 1.0:
                raise ValueError("the vehicle hit the ground while thrusting")
            dense.append((t, float(sol.t[-1]), sol.sol))
            burns.append((t, float(sol.t[-1])))
            t, y = float(sol.t[-1]), sol.y[:, -1].copy()
        if fail_s is not None and fail_s <= t_end and (k < n - 1 or fail_s < t_ign + burn):
            return Ascent(t, y, events, burns, dense)
        # separation of this stage (its dry mass + unburnt propellant)
        left = st.m_prop - st.mdot * (t - t_ign)
        spent_mass = st.m_dry + max(left, 0.0)
        if k < n - 1 or veh.separates:
            events.append(Event(t, k + 1, y.copy(), spent_mass))
    return Ascent(t, y, events, burns, dense)


@dataclass
class Flown:
    """A whole nominal flight of the warhead-carrying object, for the solver;
    ``range_m`` is signed (negative: the impact is behind the launch azimuth)."""

    range_m: float
    apogee_m: float
    t_impact: float
    ascent: Ascent
    rv_sol: object
    t_end: float
    y_end: Vec
    evaluations: int = 0


def fly(
    launch: Launch,
    veh: Vehicle,
    rv_aero: Aero,
    kick_deg: float,
    cutoff: float,
    *,
    rtol: float = 1e-9,
    t_max: float = 8000.0,
) -> Flown:
    asc = ascent(launch, veh, kick_deg, cutoff, rtol=rtol)
    mass = veh.payload_mass if veh.separates else veh.payload_mass + veh.stages[-1].m_dry
    t_end, y_end, sol, _hit = free_flight(asc.t_burnout, asc.state_bo, rv_aero, mass, t_max, rtol=rtol)
    # apogee from the dense solution, sampled
    ts = np.linspace(asc.t_burnout, t_end, 400)
    ys = sol(ts)  # type: ignore[operator]
    hs = [_height(ys[:3, i], ts[i]) for i in range(len(ts))]
    i = int(np.argmax(hs))
    lo, hi = ts[max(i - 1, 0)], ts[min(i + 1, len(ts) - 1)]
    for _ in range(30):  # golden-section refine of the apogee
        m1 = lo + 0.382 * (hi - lo)
        m2 = lo + 0.618 * (hi - lo)
        if _height(sol(m1)[:3], m1) < _height(sol(m2)[:3], m2):  # type: ignore[operator]
            lo = m1
        else:
            hi = m2
    apogee = _height(sol((lo + hi) / 2)[:3], (lo + hi) / 2)  # type: ignore[operator]
    apogee = max(apogee, max(hs))
    ecef = earth.eci_to_ecef_state(t_end, y_end)
    lat, lon, _ = earth.ecef_to_geodetic(ecef[:3])
    rng = earth.surface_distance_m(launch.lat, launch.lon, lat, lon)
    # signed: negative when the impact is behind the launch azimuth (a near-vertical
    # flight drifts west with the Earth's rotation)
    if float((ecef[:3] - launch.r0) @ launch.dir_az) < 0.0:
        rng = -rng
    return Flown(rng, apogee, t_end, asc, sol, t_end, y_end)


def solve_controls(
    launch: Launch, veh: Vehicle, rv_aero: Aero, range_m: float, apogee_m: float, *, tol: float = 0.01
) -> tuple[float, float, Flown]:
    """Kick angle (deg) and cut-off fraction that fly ``range_m`` / ``apogee_m``
    (relative error below ``tol`` in both); ValueError when no solution is found.

    A coarse scan of kick angles at full burn picks the shape (apogee over range),
    then ``least_squares`` on (log kick, cut-off) finishes."""

    def attempt(kick: float, cut: float, rtol: float = 1e-6) -> Flown | None:
        calls[0] += 1
        try:
            return fly(launch, veh, rv_aero, kick, cut, rtol=rtol)
        except ValueError:
            return None

    calls = [0]
    want = math.log(apogee_m / range_m)
    scan: list[tuple[float, float, Flown]] = []
    for kick in np.geomspace(0.05, 60.0, 10):
        f = attempt(float(kick), 1.0)
        if f is not None and f.range_m > 1e3:
            scan.append((abs(math.log(f.apogee_m / f.range_m) - want), float(kick), f))
    if not scan:
        raise ValueError("no ascent leaves the ground")
    scan.sort(key=lambda s: s[0])

    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        f = attempt(math.exp(p[0]), float(p[1]))
        if f is None:
            return np.array([5.0, 5.0])
        return np.array([(f.range_m - range_m) / range_m, math.log(f.apogee_m / apogee_m)])

    best: tuple[float, NDArray[np.float64]] | None = None
    for _, k0, f0 in scan[:3]:
        # energy: scale the cut-off by the squared speed ratio (roughly)
        cut0 = min(1.0, max(0.3, 0.5 + 0.5 * (range_m / max(f0.range_m, 1.0)) ** 0.5))
        x0 = np.array([math.log(k0), cut0])
        res = least_squares(
            resid,
            x0,
            bounds=([math.log(0.01), 0.05], [math.log(75.0), 1.0]),
            diff_step=1e-4,
            xtol=1e-8,
            ftol=1e-8,
            max_nfev=40,
        )
        err = float(np.max(np.abs(res.fun)))
        if best is None or err < best[0]:
            best = (err, res.x)
        if err < tol * 0.3:
            break
    assert best is not None
    kick, cut = math.exp(best[1][0]), float(best[1][1])
    flown = fly(launch, veh, rv_aero, kick, cut)
    flown.evaluations = calls[0]
    err = max(abs(flown.range_m / range_m - 1.0), abs(flown.apogee_m / apogee_m - 1.0))
    if err > tol or flown.range_m <= 0.0:
        raise ValueError(
            f"no ascent flies {range_m / 1e3:.0f} km / {apogee_m / 1e3:.0f} km: "
            f"best {flown.range_m / 1e3:.0f} km / {flown.apogee_m / 1e3:.0f} km"
        )
    return kick, cut, flown
