"""The scenario simulator: truth flights and what each partner's sensors report.

``simulate(scenario)`` turns a validated :class:`~tocsin.drill.scenario.Scenario`
into exchange-format messages, with no file I/O:

* ``messages``: every sensor's descriptor (``sent`` = scenario start, ``seq`` 0),
  then plots in non-decreasing ``sent`` order (measurement time ``t`` may go
  back: late reports are normal); envelope ``partner`` is the sensor's partner,
  ``source`` the sensor id, ``seq`` strictly increasing per source, with gaps
  where the partner's link lost a message;
* ``truth``: states of every object at ``truth_interval_s`` through its whole
  flight (phase, class), then one ``phase: impact`` message per object with the
  impact point (air objects: where they leave the scenario);
* ``objects``: per-object truth (the :class:`~tocsin.dynamics.Trajectory` of a
  missile, the :class:`~tocsin.sensors.platform.Course` of an aircraft) for
  scoring.

Timing model: a sensor measures at its scan times (period ``scan_period_s``,
first scan at a random offset within one period); a report is emitted after the
sensor's ``latency_s + U(0, jitter_s)`` and reaches the exchange after the
link's ``latency_s + U(0, jitter_s)`` (plus any ``link-delay`` inject). A
simulated file has one time per message, so its ``sent`` is that arrival time:
the moment the message is handed to the exchange. Loss is per message with the
link's ``loss`` probability (and everything inside a ``link-outage``); lost
messages still consume a ``seq``.

Injects the simulator applies (the rest act on the signed stream, see
:mod:`tocsin.drill.injects`): ``sensor-off`` (no scans in the window),
``sensor-bias`` (a systematic error added to a radar's plots in the window),
``ghost-missile`` (a fake flight only one radar reports, with its own noise,
detection probability and coverage; kept in ``SimulationResult.ghosts``, never in
the truth), ``link-outage`` and ``link-delay`` (above), and a launch's
``fails_at_s`` / ``fails_stage`` (the truth follows the failed flight).

Objects of a launch: the object that carries the warhead (role ``rv``) or the
satellite (``payload``) keeps the launch's id from lift-off to impact (or to the
end of the scenario, in orbit). A launch that lists its ``stages`` (and every
satellite launcher) also has each spent stage, from its separation, as
``<id>.S<k>`` (role ``stage-k``), the debris released with it as ``<id>.D<n>``
and fairing halves as ``<id>.F1``/``F2`` (role ``debris``), each with its own
drawn ballistic coefficient, flown by :func:`tocsin.dynamics.fly_free`.

Air: with ``atmosphere: drawn`` (the Monte Carlo scenarios of
:mod:`tocsin.drill.generate`) every object flies one day's air, a departure
from the U.S. Standard Atmosphere 1976 drawn from the scenario's seed
(:func:`tocsin.dynamics.atmosphere.day_air`: ``density_sigma(h)``, 5-12 km
vertical correlation), so the truth is not exactly the tracker's standard air;
by default (``standard``) the standard itself. (The boost is aimed for the
standard: the day's air moves the impact, as it would a real one.) Ghost
missiles (forged tracks) fly the standard.

Randomness: independent streams ``default_rng([seed, stream, index])`` for
salvo spreads, each sensor and each link, and the air, so adding a sensor does
not change what the others report, and the same seed gives the same messages
bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import msgspec
import numpy as np
from numpy.typing import NDArray

from tocsin.drill.scenario import (
    AirSpec,
    CourseSpec,
    GhostMissile,
    IrSensorSpec,
    LaunchSpec,
    LinkDelay,
    LinkOutage,
    RadarSensorSpec,
    Scenario,
    SensorBias,
    SensorOff,
)
from tocsin.dynamics import MIDCOURSE, PHASE_NAMES, Trajectory, solve_trajectory
from tocsin.dynamics.atmosphere import day_air
from tocsin.dynamics.beta import BetaKind, draw_beta, rv_class
from tocsin.dynamics.flight import (
    MISSILE_CLASSES,
    ORBIT_MIN_PERIGEE_M,
    SEPARATION_MPS,
    Flight,
    depressed_apogee_m,
    fly,
    fly_free,
    free_trajectory,
    min_energy_apogee_m,
    orbit_heights,
    solve_flight,
    solve_orbit,
    to_trajectory,
    vehicle_for,
)
from tocsin.dynamics.manoeuvre import PullUp
from tocsin.dynamics.vehicle import A0, G0, Stage, Vehicle, default_vehicle
from tocsin.geo import ecef_to_geodetic, geodetic_to_ecef
from tocsin.sensors.detection import (
    FieldOfRegard,
    IrSpec,
    RadarSpec,
    detect_ir,
    detect_radar,
    report_delays,
)
from tocsin.sensors.platform import Course
from tocsin.wire import Envelope, PlatformPos, PlotBody, SensorBody, TruthBody, make
from tocsin.wire.messages import TruthFate, TruthRole

F64 = NDArray[np.float64]

__all__ = ["SensorStats", "SimulationResult", "TruthObject", "node_id", "simulate"]

TRUTH_PARTNER = "ZZ"
"""Partner code on truth envelopes (ISO 3166 user-assigned: not a real partner)."""
TRUTH_SOURCE = "truth"

ProgressFn = Callable[[int, int, str], None]

_STREAM_SALVO, _STREAM_SENSOR, _STREAM_LINK, _STREAM_BETA, _STREAM_GHOST_BETA = 0, 1, 2, 3, 4
_STREAM_AIR = 5


@dataclass(frozen=True)
class TruthObject:
    """Ground truth of one simulated object. Times are Unix epoch seconds."""

    id: str
    cls: Literal["ballistic", "air"]
    kind: str
    """Missile class (``IRBM``, or ``custom`` for range/apogee launches) or air kind."""
    t_start: float
    t_end: float
    impact_lat: float
    impact_lon: float
    trajectory: Trajectory | None = None
    course: Course | None = None
    failed_at_s: float | None = None
    """Seconds after launch when the motor failed (``fails_at_s``), else None."""
    role: str | None = None
    """Ballistic objects: ``rv``, ``stage-N``, ``debris`` or ``payload`` (the
    truth file's ``role``); None for air objects."""
    parent: str | None = None
    """The object this one separated from, if any."""
    beta_kg_m2: float | None = None
    """Ballistic coefficient the object flies with after separation (after
    burnout for the RV), kg/m^2."""
    fate: str | None = None
    """None: it came down at ``impact_lat``/``impact_lon`` (or, in the air, left
    there); ``orbit``: in orbit when its truth ends; ``aloft``: still falling."""

    def alive(self, t: F64) -> NDArray[np.bool_]:
        out: NDArray[np.bool_] = (t >= self.t_start) & (t <= self.t_end)
        return out

    def states(self, t: F64) -> F64:
        """ECEF states ``(N, 6)`` at epoch times ``t`` (clamped to the flight)."""
        tq = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if self.trajectory is not None:
            return self.trajectory.state_at(tq - self.t_start)
        assert self.course is not None
        return self.course.state(np.clip(tq, self.t_start, self.t_end))[2]

    def burning(self, t: F64) -> NDArray[np.bool_]:
        """True while a missile's motor burns (boost phase)."""
        if self.trajectory is None:
            return np.zeros(np.shape(t), dtype=bool)
        return self.trajectory.burning(np.asarray(t) - self.t_start)

    def phases(self, t: F64) -> NDArray[np.int8]:
        """Phase codes (BOOST/MIDCOURSE/REENTRY); air objects are MIDCOURSE."""
        if self.trajectory is None:
            return np.full(np.shape(t), MIDCOURSE, dtype=np.int8)
        return self.trajectory.phase_at(np.asarray(t) - self.t_start)


@dataclass
class SensorStats:
    """What one sensor did during the run."""

    partner: str
    scans: int = 0
    detections: int = 0
    clutter: int = 0
    lost: int = 0
    ghost: int = 0
    """Plots of ``ghost-missile`` flights (counted apart from ``detections``)."""


@dataclass(frozen=True)
class SimulationResult:
    """Everything a simulation produced; see the module docstring."""

    scenario: Scenario
    messages: list[Envelope]
    truth: list[Envelope]
    objects: dict[str, TruthObject]
    stats: dict[str, SensorStats] = field(default_factory=dict)
    ghosts: dict[str, TruthObject] = field(default_factory=dict)
    """Fake flights reported by compromised sensors (``ghost-missile``): never in
    ``truth`` or ``objects``; kept so a report can say what was injected."""

    @property
    def plots(self) -> int:
        return sum(1 for m in self.messages if m.kind == "plot")


# --- objects --------------------------------------------------------------------------


def _course(spec: CourseSpec | AirSpec, t0: float, until: float, alt_m: float) -> Course:
    if spec.waypoints is not None:
        wp = np.array([[p.lat, p.lon] for p in spec.waypoints])
        return Course(wp, spec.speed_mps, alt_m, t0)
    assert spec.start is not None
    assert spec.heading_deg is not None
    return Course.from_heading(
        spec.start.lat,
        spec.start.lon,
        spec.heading_deg,
        spec.speed_mps,
        max(until - t0, 0.0),
        alt_m=alt_m,
        t0=t0,
    )


def beta_kind(missile_class: str | None, range_m: float | None, apogee_m: float | None) -> BetaKind:
    """The ballistic-coefficient class of a launch's re-entry vehicle: its
    ``class`` (ICBM-lofted is an ICBM; a satellite launcher's payload is a
    ``payload``), else the class of the missile that could fly that range and
    apogee (:func:`tocsin.dynamics.beta.rv_class`)."""
    if missile_class == "SLV":
        return "payload"
    if range_m is None or apogee_m is None:
        assert missile_class is not None
        range_m, apogee_m = MISSILE_CLASSES[missile_class]
    if missile_class is not None:
        return "ICBM" if missile_class.startswith("ICBM") else missile_class  # type: ignore[return-value]
    return rv_class(range_m, apogee_m)


def launch_range_apogee(la: LaunchSpec) -> tuple[float | None, float | None]:
    """A launch's requested range and apogee in metres (None: the class nominal),
    with ``profile`` applied."""
    rng_m = None if la.range_km is None else la.range_km * 1e3
    apo_m = None if la.apogee_km is None else la.apogee_km * 1e3
    if la.profile is not None:
        if rng_m is None:
            assert la.missile_class is not None
            rng_m = MISSILE_CLASSES[la.missile_class][0]
        apo_m = depressed_apogee_m(rng_m) if la.profile == "depressed" else min_energy_apogee_m(rng_m)
    return rng_m, apo_m


def _vehicle(la: LaunchSpec, rng_m: float | None, apo_m: float | None) -> Vehicle:
    if la.stages is None:
        if la.missile_class == "SLV":
            return default_vehicle("SLV")
        r, a = (
            (rng_m, apo_m)
            if rng_m is not None and apo_m is not None
            else MISSILE_CLASSES[la.missile_class or ""]
        )
        return vehicle_for(la.missile_class, r, a)
    return Vehicle(
        tuple(
            Stage(
                dv_share=st.dv_share,
                a0=A0 if st.thrust_to_weight is None else st.thrust_to_weight * G0,
                coast_s=st.coast_s,
            )
            for st in la.stages
        )
    )


def _pullup(la: LaunchSpec) -> PullUp | None:
    m = la.manoeuvre
    if m is None:
        return None
    return PullUp(
        pullup_alt_m=m.pullup_alt_km * 1e3,
        glide_deg=m.glide_deg,
        dive_alt_m=m.dive_alt_km * 1e3,
        dive_deg=m.dive_deg,
        lift_to_drag=m.lift_to_drag,
        max_g=m.max_g,
    )


@dataclass(frozen=True)
class _Draws:
    """One missile's drawn ballistic coefficients (in a fixed stream order)."""

    rv: float
    failed: float
    stages: tuple[float, ...]
    debris: tuple[float, ...]
    fairing: tuple[float, float]


def _draws(
    spec_seed: int, i: int, j: int, kind: BetaKind, n_stages: int, n_debris: int
) -> tuple[_Draws, np.random.Generator]:
    rng = np.random.default_rng([spec_seed, _STREAM_BETA, i, j])
    rv = draw_beta(kind, rng)
    failed = draw_beta("failed", rng)
    stages = tuple(draw_beta("stage", rng) for _ in range(3))[:n_stages]
    fairing = (draw_beta("debris", rng), draw_beta("debris", rng))
    debris = tuple(draw_beta("debris", rng) for _ in range(n_debris))
    return _Draws(rv, failed, stages, debris, fairing), rng


FAIRING_ALT_M = 110_000.0
"""Height at which a satellite launcher drops its payload fairing."""
FAIRING_MPS = 3.0
"""Sideways speed each fairing half leaves with, m/s."""


def _build_objects(sc: Scenario, progress: ProgressFn | None, total: int) -> dict[str, TruthObject]:
    spec = sc.spec
    t_start = spec.start_epoch
    t_end = t_start + spec.duration_s
    rng = np.random.default_rng([spec.seed, _STREAM_SALVO])
    # the day's air (one per scenario, its own stream): every object flies it
    day = None if spec.atmosphere == "standard" else day_air(np.random.default_rng([spec.seed, _STREAM_AIR]))
    out: dict[str, TruthObject] = {}
    cache: dict[tuple[object, ...], tuple[float, float, Vehicle]] = {}
    n_missile = 0
    done = 0
    for i, la in enumerate(spec.launches):
        rng_m, apo_m = launch_range_apogee(la)
        kind = beta_kind(la.missile_class, rng_m, apo_m)
        veh = _vehicle(la, rng_m, apo_m)
        pull = _pullup(la)
        slv = la.missile_class == "SLV"
        separate = la.stages is not None or slv
        n_debris = sum(st.debris for st in la.stages) if la.stages is not None else 0
        if la.fails_stage is not None and la.fails_stage > veh.n:
            raise sc.error(f"$.launches[{i}].fails_stage", f"the vehicle has {veh.n} stage(s)")
        for j in range(la.count):
            n_missile += 1
            oid = f"M{n_missile}" if la.id is None else la.id if la.count == 1 else f"{la.id}-{j + 1}"
            az = la.azimuth_deg
            if la.azimuth_spread_deg > 0:
                az = az + float(rng.uniform(-la.azimuth_spread_deg, la.azimuth_spread_deg))
            az = az % 360.0
            # each missile's own drag, from its own stream: explicit beats drawn
            dr, drng = _draws(spec.seed, i, j, kind, veh.n, n_debris)
            beta = dr.rv if la.beta_kg_m2 is None else la.beta_kg_m2
            site = la.site
            key = (
                site.lat,
                site.lon,
                site.alt_m,
                round(az, 9),
                rng_m,
                apo_m,
                la.missile_class,
                la.orbit_km,
                beta,
            )
            if key not in cache:
                try:
                    cache[key] = _solve(la, az, rng_m, apo_m, beta, veh, pull)
                except ValueError as exc:
                    raise sc.error(f"$.launches[{i}]", f"cannot fly this launch: {exc}") from None
            dv, gamma_bo, flown_veh = cache[key]
            fail_s = _failure_time(sc, i, la, flown_veh, dv)
            t0 = t_start + la.time_s + j * la.spacing_s
            horizon = max(t_end - t0, 0.0) + 1.0
            fl = fly(
                site.lat,
                site.lon,
                site.alt_m,
                az,
                dv,
                gamma_bo,
                beta=beta,
                vehicle=flown_veh,
                manoeuvre=pull,
                fail_s=fail_s,
                fail_beta=dr.failed,
                dt=1.0,
                t_max=horizon if slv else max(horizon, 20_000.0),
                air=day,
            )
            own_beta = dr.failed if fl.failed_at_s is not None else beta
            traj = to_trajectory(fl, beta=own_beta, azimuth_deg=az)
            main = TruthObject(
                id=oid,
                cls="ballistic",
                kind=la.missile_class or "custom",
                t_start=t0,
                t_end=t0 + traj.flight_time_s,
                impact_lat=traj.impact_lat,
                impact_lon=traj.impact_lon,
                trajectory=traj,
                failed_at_s=fl.failed_at_s,
                role="payload" if slv else "rv",
                beta_kg_m2=own_beta,
                fate=_fate(traj),
            )
            out[oid] = main
            if separate:
                children = _children(oid, main, fl, dr, drng, la, slv, t0, horizon, day)
                for c in children:
                    if c.id in out:
                        raise sc.error(f"$.launches[{i}].id", f"object id {c.id!r} is used twice")
                    out[c.id] = c
            done += 1
            if progress is not None:
                progress(done, total, f"trajectory {oid}")
    for i, air in enumerate(spec.air):
        oid = air.id if air.id is not None else f"A{i + 1}"
        if oid in out:
            raise sc.error(f"$.air[{i}].id", f"object id {oid!r} is used twice")
        t0 = t_start + air.time_s
        crs = _course(air, t0, t_end, air.alt_m)
        leave = min(crs.end_t, t_end) if math.isfinite(crs.end_t) else t_end
        lat, lon = crs.latlon(np.array([leave]))
        out[oid] = TruthObject(
            id=oid,
            cls="air",
            kind=air.kind,
            t_start=t0,
            t_end=max(leave, t0),
            impact_lat=float(lat[0]),
            impact_lon=float(lon[0]),
            course=crs,
        )
    return out


def _solve(
    la: LaunchSpec,
    az: float,
    rng_m: float | None,
    apo_m: float | None,
    beta: float,
    veh: Vehicle,
    pull: PullUp | None,
) -> tuple[float, float, Vehicle]:
    site = la.site
    if la.missile_class == "SLV":
        orbit = 500e3 if la.orbit_km is None else la.orbit_km * 1e3
        return solve_orbit(site.lat, site.lon, az, orbit_alt_m=orbit, vehicle=veh, launch_alt_m=site.alt_m)
    sol = solve_flight(
        site.lat,
        site.lon,
        az,
        range_m=rng_m,
        apogee_m=apo_m,
        missile_class=la.missile_class,
        launch_alt_m=site.alt_m,
        beta=beta,
        vehicle=veh,
        manoeuvre=pull,
        dt=_SOLVE_ONLY_DT,
        t_max=20_000.0,
    )
    return sol.dv, sol.gamma_bo, veh


_SOLVE_ONLY_DT = 10.0


def _failure_time(sc: Scenario, i: int, la: LaunchSpec, veh: Vehicle, dv: float) -> float | None:
    """When the motor stops, s after launch: ``fails_at_s`` (before the last
    burnout), or ``fails_stage`` at its ignition plus ``fails_after_s`` (before
    that stage's burnout)."""
    burns = veh.burns(dv)
    if la.fails_at_s is not None:
        if la.fails_at_s >= burns[-1].t_bo:
            raise sc.error(
                f"$.launches[{i}].fails_at_s",
                f"the motor burns out at {burns[-1].t_bo:.1f} s: a failure must come before",
            )
        return la.fails_at_s
    if la.fails_stage is not None:
        b = burns[la.fails_stage - 1]
        after = la.fails_after_s or 0.0
        if after >= b.t_bo - b.t_ign:
            raise sc.error(
                f"$.launches[{i}].fails_after_s",
                f"stage {b.stage} burns for {b.t_bo - b.t_ign:.1f} s: a failure must come before",
            )
        return b.t_ign + after
    return None


def _fate(traj: Trajectory) -> str | None:
    if traj.landed:
        return None
    hp, _ = orbit_heights(traj.x[-1])
    return "orbit" if hp > ORBIT_MIN_PERIGEE_M else "aloft"


def _children(
    oid: str,
    main: TruthObject,
    fl: Flight,
    dr: _Draws,
    drng: np.random.Generator,
    la: LaunchSpec,
    slv: bool,
    t0: float,
    horizon: float,
    air: F64 | None = None,
) -> list[TruthObject]:
    """Spent stages (one per separation before the failure, if any), debris
    released with them, and the fairing halves (dropped at the first sample of
    powered flight at or above ``FAIRING_ALT_M``; none if it never gets there)."""
    out: list[TruthObject] = []
    kind = main.kind
    n_deb = 0
    specs = la.stages or []
    for sep in fl.separations:
        k = sep.stage
        fixed = specs[k - 1].beta_kg_m2 if k - 1 < len(specs) else None
        st_beta = dr.stages[k - 1] if fixed is None else fixed
        x = sep.x.copy()
        v = x[3:]
        x[3:] = v - SEPARATION_MPS * v / np.linalg.norm(v)
        out.append(_free_object(f"{oid}.S{k}", f"stage-{k}", oid, kind, x, t0, sep.t, st_beta, horizon, air))
        n_here = specs[k - 1].debris if k - 1 < len(specs) else 0
        for _ in range(n_here):
            n_deb += 1
            xd = sep.x.copy()
            u = drng.normal(size=3)
            xd[3:] += float(drng.uniform(1.0, 10.0)) * u / np.linalg.norm(u)
            out.append(
                _free_object(
                    f"{oid}.D{n_deb}", "debris", oid, kind, xd, t0, sep.t, dr.debris[n_deb - 1], horizon, air
                )
            )
    fairing = la.fairing if la.fairing is not None else slv
    if fairing:
        alt = ecef_to_geodetic(fl.x[:, :3])[2]
        up = np.flatnonzero((alt >= FAIRING_ALT_M) & (fl.t < fl.burnout_t))
        if up.size:
            kf = int(up[0])
            xf, tf = fl.x[kf], float(fl.t[kf])
            v = xf[3:]
            side = np.cross(v, xf[:3])
            side /= np.linalg.norm(side)
            for h, sign in ((1, 1.0), (2, -1.0)):
                x = xf.copy()
                x[3:] = v + sign * FAIRING_MPS * side
                out.append(
                    _free_object(
                        f"{oid}.F{h}", "debris", oid, kind, x, t0, tf, dr.fairing[h - 1], horizon, air
                    )
                )
    return out


def _free_object(
    oid: str,
    role: str,
    parent: str,
    kind: str,
    x: F64,
    t0: float,
    t_sep: float,
    beta: float,
    horizon: float,
    air: F64 | None = None,
) -> TruthObject:
    tt, xx, landed = fly_free(
        x, t_sep, beta=beta, t_max=max(horizon, t_sep + 1.0) if _in_orbit(x) else t_sep + 20_000.0, air=air
    )
    traj = free_trajectory(tt, xx, landed, beta=beta)
    return TruthObject(
        id=oid,
        cls="ballistic",
        kind=kind,
        t_start=t0 + t_sep,
        t_end=t0 + t_sep + traj.flight_time_s,
        impact_lat=traj.impact_lat,
        impact_lon=traj.impact_lon,
        trajectory=traj,
        role=role,
        parent=parent,
        beta_kg_m2=beta,
        fate=_fate(traj),
    )


def _in_orbit(x: F64) -> bool:
    return orbit_heights(x)[0] > ORBIT_MIN_PERIGEE_M


def _build_ghosts(sc: Scenario) -> dict[str, tuple[str, TruthObject]]:
    """Ghost flights by id: (the reporting sensor, the fake flight)."""
    spec = sc.spec
    out: dict[str, tuple[str, TruthObject]] = {}
    n = 0
    for i, inj in enumerate(spec.injects):
        if not isinstance(inj, GhostMissile):
            continue
        n += 1
        gid = inj.id or f"GHOST{n}"
        rng_m = None if inj.range_km is None else inj.range_km * 1e3
        apo_m = None if inj.apogee_km is None else inj.apogee_km * 1e3
        beta = inj.beta_kg_m2
        if beta is None:
            brng = np.random.default_rng([spec.seed, _STREAM_GHOST_BETA, i])
            beta = draw_beta(beta_kind(inj.missile_class, rng_m, apo_m), brng)
        try:
            traj = solve_trajectory(
                inj.site.lat,
                inj.site.lon,
                inj.azimuth_deg,
                range_m=rng_m,
                apogee_m=apo_m,
                missile_class=inj.missile_class,
                launch_alt_m=inj.site.alt_m,
                beta=beta,
                dt=1.0,
            )
        except ValueError as exc:
            raise sc.error(f"$.injects[{i}]", f"cannot fly this ghost: {exc}") from None
        t0 = spec.start_epoch + inj.time_s
        obj = TruthObject(
            id=gid,
            cls="ballistic",
            kind=inj.missile_class or "custom",
            t_start=t0,
            t_end=t0 + traj.flight_time_s,
            impact_lat=traj.impact_lat,
            impact_lon=traj.impact_lon,
            trajectory=traj,
            role="rv",
            beta_kg_m2=beta,
        )
        out[gid] = (inj.sensor, obj)
    return out


def _apply_bias(z: F64, t: F64, sensor: str, sc: Scenario) -> F64:
    """Add every ``sensor-bias`` inject of ``sensor`` to plots ``z (P, 4)``
    (range m, az rad, el rad, rr m/s) measured at ``t`` inside its window."""
    t0 = sc.spec.start_epoch
    out = z.copy()
    for inj in sc.spec.injects:
        if isinstance(inj, SensorBias) and inj.sensor == sensor:
            hi = math.inf if inj.to_s is None else t0 + inj.to_s
            win = (t >= t0 + inj.from_s) & (t < hi)
            add = np.array([inj.range_m, math.radians(inj.az_deg), math.radians(inj.el_deg), inj.rr_mps])
            out[win] += add
    out[:, 0] = np.maximum(out[:, 0], 0.0)
    out[:, 1] = np.mod(out[:, 1], 2 * math.pi)
    out[:, 1] = np.where(out[:, 1] >= 2 * math.pi, 0.0, out[:, 1])
    out[:, 2] = np.clip(out[:, 2], -math.pi / 2, math.pi / 2)
    return out


# --- sensors ------------------------------------------------------------------------


@dataclass
class _Pending:
    """Plots of one sensor before link effects: emission times and bodies."""

    partner: str
    source: str
    emitted: F64
    t: F64
    bodies: list[PlotBody]


def _scan_times(period: float, t_start: float, t_end: float, rng: np.random.Generator) -> F64:
    first = t_start + float(rng.random()) * period
    n = max(math.floor((t_end - first) / period) + 1, 0)
    return first + period * np.arange(n, dtype=np.float64)


def _off_mask(t: F64, sensor: str, sc: Scenario) -> NDArray[np.bool_]:
    t0 = sc.spec.start_epoch
    off = np.zeros(t.shape, dtype=bool)
    for inj in sc.spec.injects:
        if isinstance(inj, SensorOff) and inj.sensor == sensor:
            hi = math.inf if inj.to_s is None else t0 + inj.to_s
            off |= (t >= t0 + inj.from_s) & (t < hi)
    return off


def _object_arrays(objs: list[TruthObject], t: F64) -> tuple[F64, NDArray[np.bool_], NDArray[np.bool_]]:
    m, k = len(objs), t.size
    states = np.zeros((m, k, 6))
    alive = np.zeros((m, k), dtype=bool)
    burning = np.zeros((m, k), dtype=bool)
    for i, o in enumerate(objs):
        a = o.alive(t)
        alive[i] = a
        if a.any():
            states[i, a] = o.states(t[a])
            burning[i, a] = o.burning(t[a])
    return states, alive, burning


def _r(x: float, nd: int) -> float:
    return round(float(x), nd)


def _radar(
    s: RadarSensorSpec,
    partner: str,
    idx: int,
    sc: Scenario,
    objs: list[TruthObject],
    stats: SensorStats,
    ghosts: list[TruthObject] | None = None,
) -> tuple[SensorBody, _Pending]:
    spec = sc.spec
    t_start, t_end = spec.start_epoch, spec.start_epoch + spec.duration_s
    rng = np.random.default_rng([spec.seed, _STREAM_SENSOR, idx])
    times = _scan_times(s.scan_period_s, t_start, t_end, rng)
    times = times[~_off_mask(times, s.id, sc)]
    fov = s.field_of_regard
    full = fov.az_from_deg == 0.0 and fov.az_to_deg == 360.0
    rspec = RadarSpec(
        sigma_range_m=s.sigma_range_m,
        sigma_az_rad=math.radians(s.sigma_az_deg),
        sigma_el_rad=math.radians(s.sigma_el_deg),
        max_range_m=s.max_range_km * 1e3,
        sigma_rr_mps=s.sigma_rr_mps,
        fov=FieldOfRegard(
            0.0 if full else math.radians(fov.az_from_deg),
            2 * math.pi if full else math.radians(fov.az_to_deg),
            math.radians(fov.el_min_deg),
            math.radians(fov.el_max_deg),
        ),
        pd=s.pd,
        clutter_per_scan=s.clutter_per_scan,
        bias=(s.bias.range_m, math.radians(s.bias.az_deg), math.radians(s.bias.el_deg), s.bias.rr_mps),
    )
    n_real = len(objs)
    states, alive, _ = _object_arrays(objs + list(ghosts or ()), times)
    ship: Course | None = None
    sector: dict[str, float] = {}
    if not full:
        sector = {"az_from_deg": fov.az_from_deg, "az_to_deg": fov.az_to_deg}
    if fov.el_max_deg != 90.0:
        sector["max_el_deg"] = fov.el_max_deg
    if s.platform == "ship":
        assert s.course is not None
        ship = _course(s.course, t_start, t_end, 0.0)
        lat, lon, sx = ship.state(times) if times.size else (np.empty(0), np.empty(0), np.empty((0, 6)))
        site, svel = sx[:, :3], sx[:, 3:]
        alt_m = 0.0
        desc = SensorBody(
            id=s.id,
            type="radar",
            platform="ship",
            sigma_range_m=s.sigma_range_m,
            sigma_az_deg=s.sigma_az_deg,
            sigma_el_deg=s.sigma_el_deg,
            sigma_rr_mps=s.sigma_rr_mps,
            max_range_m=s.max_range_km * 1e3,
            scan_period_s=s.scan_period_s,
            min_el_deg=fov.el_min_deg,
            name=s.name,
            **sector,
        )
    else:
        assert s.site is not None
        lat = np.full(times.size, s.site.lat)
        lon = np.full(times.size, s.site.lon)
        site = geodetic_to_ecef(s.site.lat, s.site.lon, s.site.alt_m)
        svel = None
        alt_m = s.site.alt_m
        desc = SensorBody(
            id=s.id,
            type="radar",
            platform="ground",
            lat=s.site.lat,
            lon=s.site.lon,
            alt_m=s.site.alt_m,
            sigma_range_m=s.sigma_range_m,
            sigma_az_deg=s.sigma_az_deg,
            sigma_el_deg=s.sigma_el_deg,
            sigma_rr_mps=s.sigma_rr_mps,
            max_range_m=s.max_range_km * 1e3,
            scan_period_s=s.scan_period_s,
            min_el_deg=fov.el_min_deg,
            name=s.name,
            **sector,
        )
    det = detect_radar(rspec, states, alive, np.asarray(site), lat, lon, rng, svel)
    stats.scans += times.size
    stats.detections += int(((det.obj >= 0) & (det.obj < n_real)).sum())
    stats.ghost += int((det.obj >= n_real).sum())
    stats.clutter += int((det.obj < 0).sum())
    t_meas = times[det.k]
    zs = _apply_bias(det.z, t_meas, s.id, sc)
    emitted = t_meas + report_delays(t_meas.size, s.latency_s, s.jitter_s, rng)
    bodies: list[PlotBody] = []
    has_rr = s.sigma_rr_mps is not None
    for p in range(t_meas.size):
        z = zs[p]
        plat = None
        if ship is not None:
            kk = int(det.k[p])
            plat = PlatformPos(lat=_r(lat[kk], 7), lon=_r(lon[kk], 7), alt_m=alt_m)
        bodies.append(
            PlotBody(
                sensor=s.id,
                t=_r(t_meas[p], 6),
                range_m=_r(z[0], 3),
                az_deg=min(_r(math.degrees(z[1]), 8), 360.0),
                el_deg=_r(math.degrees(z[2]), 8),
                rr_mps=_r(z[3], 3) if has_rr else None,
                sigma_range_m=s.sigma_range_m,
                sigma_az_deg=s.sigma_az_deg,
                sigma_el_deg=s.sigma_el_deg,
                sigma_rr_mps=s.sigma_rr_mps,
                platform=plat,
            )
        )
    return desc, _Pending(partner, s.id, emitted, t_meas, bodies)


def _ir(
    s: IrSensorSpec, partner: str, idx: int, sc: Scenario, objs: list[TruthObject], stats: SensorStats
) -> tuple[SensorBody, _Pending]:
    spec = sc.spec
    t_start, t_end = spec.start_epoch, spec.start_epoch + spec.duration_s
    rng = np.random.default_rng([spec.seed, _STREAM_SENSOR, idx])
    times = _scan_times(s.scan_period_s, t_start, t_end, rng)
    times = times[~_off_mask(times, s.id, sc)]
    obs = geodetic_to_ecef(s.position.lat, s.position.lon, s.position.alt_km * 1e3)
    ispec = IrSpec(
        sigma_los_rad=s.sigma_los_rad,
        pd=s.pd,
        clutter_per_scan=s.clutter_per_scan,
        min_alt_m=s.min_alt_km * 1e3,
        max_range_m=math.inf if s.max_range_km is None else s.max_range_km * 1e3,
    )
    states, _, burning = _object_arrays(objs, times)
    det = detect_ir(ispec, states, burning, obs, rng)
    stats.scans += times.size
    stats.detections += int((det.obj >= 0).sum())
    stats.clutter += int((det.obj < 0).sum())
    t_meas = times[det.k]
    emitted = t_meas + report_delays(t_meas.size, s.latency_s, s.jitter_s, rng)
    obs_l = [_r(c, 3) for c in obs]
    bodies = [
        PlotBody(
            sensor=s.id,
            t=_r(t_meas[p], 6),
            observer_ecef=obs_l,
            los_ecef=[_r(c, 12) for c in det.los[p]],
            sigma_los_rad=s.sigma_los_rad,
        )
        for p in range(t_meas.size)
    ]
    desc = SensorBody(
        id=s.id,
        type="ir-satellite",
        platform="space",
        lat=s.position.lat,
        lon=s.position.lon,
        alt_m=s.position.alt_km * 1e3,
        sigma_los_rad=s.sigma_los_rad,
        max_range_m=None if s.max_range_km is None else s.max_range_km * 1e3,
        scan_period_s=s.scan_period_s,
        name=s.name,
    )
    return desc, _Pending(partner, s.id, emitted, t_meas, bodies)


def node_id(partner: str) -> str:
    """The ``source`` of a partner node's heartbeats in a drill (the drill runner
    sends them, :func:`tocsin.drill.run.heartbeats`)."""
    return f"{partner}-node"


def _link_injects(
    sc: Scenario, code: str, emitted: F64, arrive: F64, lost: NDArray[np.bool_]
) -> tuple[F64, NDArray[np.bool_]]:
    """Apply the ``link-delay`` and ``link-outage`` injects of partner ``code`` to
    messages emitted at ``emitted``."""
    t_start = sc.spec.start_epoch
    for inj in sc.spec.injects:
        if isinstance(inj, LinkDelay | LinkOutage) and inj.partner == code:
            hi = math.inf if inj.to_s is None else t_start + inj.to_s
            win = (emitted >= t_start + inj.from_s) & (emitted < hi)
            if isinstance(inj, LinkDelay):
                arrive = arrive + np.where(win, inj.delay_s, 0.0)
            else:
                lost = lost | win
    return arrive, lost


# --- truth ----------------------------------------------------------------------------


def _truth(objs: dict[str, TruthObject], dt: float) -> list[Envelope]:
    rows: list[tuple[float, int, str, TruthBody]] = []
    for oid, o in objs.items():
        dur = o.t_end - o.t_start
        rel = np.arange(0.0, dur, dt)
        if rel.size == 0 or rel[-1] < dur:
            rel = np.append(rel, dur)
        t = o.t_start + rel
        xs = o.states(t)
        ph = o.phases(t)
        role = cast("TruthRole | None", o.role)
        beta = None if o.beta_kg_m2 is None else _r(o.beta_kg_m2, 1)
        for i in range(t.size):
            body = TruthBody(
                object=oid,
                t=_r(t[i], 6),
                phase=PHASE_NAMES[int(ph[i])],  # type: ignore[arg-type]
                class_=o.cls,
                state_ecef=[_r(c, 4) for c in xs[i]],
                role=role,
                parent=o.parent,
                beta_kg_m2=beta,
            )
            rows.append((body.t, 0, oid, body))
        _, _, alt = ecef_to_geodetic(xs[-1, :3])
        impact = TruthBody(
            object=oid,
            t=_r(o.t_end, 6),
            phase="impact",
            class_=o.cls,
            state_ecef=[_r(c, 4) for c in xs[-1]],
            lat=_r(o.impact_lat, 7),
            lon=_r(o.impact_lon, 7),
            alt_m=_r(float(alt), 3),
            role=role,
            parent=o.parent,
            beta_kg_m2=beta,
            fate=cast("TruthFate | None", o.fate),
        )
        rows.append((impact.t, 1, oid, impact))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [
        make("truth", b, partner=TRUTH_PARTNER, source=TRUTH_SOURCE, seq=i, sent=b.t)
        for i, (_, _, _, b) in enumerate(rows)
    ]


# --- the run --------------------------------------------------------------------------


def simulate(
    scenario: Scenario, progress: ProgressFn | None = None, *, scan_markers: bool = False
) -> SimulationResult:
    """Run a scenario (see the module docstring). ``progress(done, total, what)``
    is called as work completes (for a progress bar); no other side effects.
    ``scan_markers``: the last plot of each scan (sensor, time stamp) carries
    the end-of-scan marker ``scan_end`` (docs/exchange-format.md); when that
    plot is lost on the link, so is the marker."""
    spec = scenario.spec
    n_sensors = sum(len(p.sensors) for p in spec.partners)
    n_launch = sum(la.count for la in spec.launches)
    total = n_launch + n_sensors + 1
    objects = _build_objects(scenario, progress, total)
    objs = list(objects.values())
    ghosts = _build_ghosts(scenario)
    descs: list[Envelope] = []
    pend: list[_Pending] = []
    stats: dict[str, SensorStats] = {}
    idx = 0
    done = n_launch
    t_start = spec.start_epoch
    for p in spec.partners:
        for s in p.sensors:
            st = stats[s.id] = SensorStats(partner=p.code)
            if isinstance(s, RadarSensorSpec):
                mine = [g for sensor, g in ghosts.values() if sensor == s.id]
                desc, pe = _radar(s, p.code, idx, scenario, objs, st, mine)
            else:
                desc, pe = _ir(s, p.code, idx, scenario, objs, st)
            descs.append(make("sensor", desc, partner=p.code, source=s.id, seq=0, sent=_r(t_start, 6)))
            pend.append(pe)
            idx += 1
            done += 1
            if progress is not None:
                progress(done, total, f"sensor {s.id}")
    # links: delay and loss per partner
    rows: list[tuple[float, str, float, int, PlotBody, bool]] = []
    partner_of = {s.id: p.code for p in spec.partners for s in p.sensors}
    for pi, p in enumerate(spec.partners):
        rng = np.random.default_rng([spec.seed, _STREAM_LINK, pi])
        own = [x for x in pend if x.partner == p.code]
        for pe in own:
            n = pe.emitted.size
            arrive = pe.emitted + report_delays(n, p.link.latency_s, p.link.jitter_s, rng)
            lost = rng.random(n) < p.link.loss
            arrive, lost = _link_injects(
                sc=scenario, code=p.code, emitted=pe.emitted, arrive=arrive, lost=lost
            )
            for i in range(n):
                rows.append((_r(arrive[i], 6), pe.source, float(pe.t[i]), i, pe.bodies[i], bool(lost[i])))
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    seq = dict.fromkeys(partner_of, 0)
    msgs = list(descs)
    ends: set[int] = set()
    if scan_markers:
        last: dict[tuple[str, float], int] = {}
        for k, r in enumerate(rows):
            last[(r[1], r[2])] = k
        ends = set(last.values())
    for k, (sent, src, _, _, body, dropped) in enumerate(rows):
        seq[src] += 1
        if dropped:
            stats[src].lost += 1
            continue
        if k in ends:
            body = msgspec.structs.replace(body, scan_end=True)
        msgs.append(make("plot", body, partner=partner_of[src], source=src, seq=seq[src], sent=sent))
    truth = _truth(objects, spec.truth_interval_s)
    if progress is not None:
        progress(total, total, "truth")
    return SimulationResult(scenario, msgs, truth, objects, stats, {k: g for k, (_, g) in ghosts.items()})
