"""Truth objects: missiles and what they drop, aircraft. Each can say where it is
(ECEF state at any time of its life), whether it is thrusting (infrared), and
how it ended (impact point and time, or in orbit / still aloft)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import earth
from .flight import REENTRY_HEIGHT_M, Aero, Ascent, Launch, free_flight

Arr = NDArray[np.float64]


@dataclass
class Segment:
    t0: float  # s after launch
    t1: float
    sol: Any  # scipy OdeSolution: ECI state at s after launch


@dataclass
class TruthObject:
    id: str
    kind: str  # "ballistic" | "air"
    role: str  # rv, payload, stage-k, debris, air
    parent: str | None
    epoch: float  # launch epoch (ECI frame = ECEF at epoch)
    segments: list[Segment] = field(default_factory=list)
    burns: list[tuple[float, float]] = field(default_factory=list)  # s after epoch
    burnout: float = 0.0  # s after epoch: last burnout of the stack it belonged to
    beta: float | None = None
    rcs: float = 1.0
    end_fate: str | None = None  # None: came down; "orbit" | "aloft"
    # aircraft: sampled ECEF states
    air_t: Arr | None = None
    air_x: Arr | None = None

    @property
    def t_start(self) -> float:
        if self.air_t is not None:
            return float(self.air_t[0])
        return self.epoch + self.segments[0].t0

    @property
    def t_end(self) -> float:
        if self.air_t is not None:
            return float(self.air_t[-1])
        return self.epoch + self.segments[-1].t1

    def states(self, t: Arr) -> Arr:
        """ECEF position + Earth-relative velocity at epoch times ``t`` (inside the
        object's life), shape (N, 6)."""
        t = np.asarray(t, dtype=float)
        out = np.empty((t.size, 6))
        if self.air_t is not None:
            assert self.air_x is not None
            for k in range(6):
                out[:, k] = np.interp(t, self.air_t, self.air_x[:, k])
            return out
        rel = t - self.epoch
        done = np.zeros(t.size, dtype=bool)
        for seg in self.segments:
            sel = (~done) & (rel >= seg.t0 - 1e-4) & (rel <= seg.t1 + 1e-4)
            if not sel.any():
                continue
            tt = np.clip(rel[sel], seg.t0, seg.t1)
            y = seg.sol(tt).T  # (n, 6) ECI
            th = earth.OMEGA * tt
            c, s = np.cos(th), np.sin(th)
            # ECI -> ECEF: rotate by -theta; velocity minus omega x r
            rx = c * y[:, 0] + s * y[:, 1]
            ry = -s * y[:, 0] + c * y[:, 1]
            vx = c * y[:, 3] + s * y[:, 4]
            vy = -s * y[:, 3] + c * y[:, 4]
            out[sel, 0], out[sel, 1], out[sel, 2] = rx, ry, y[:, 2]
            out[sel, 3] = vx + earth.OMEGA * ry
            out[sel, 4] = vy - earth.OMEGA * rx
            out[sel, 5] = y[:, 5]
            done |= sel
        if not done.all():
            raise ValueError(f"{self.id}: state asked outside its life")
        return out

    def thrusting(self, t: Arr) -> NDArray[np.bool_]:
        rel = np.asarray(t) - self.epoch
        on = np.zeros(rel.size, dtype=bool)
        for a, b in self.burns:
            on |= (rel >= a) & (rel <= b)
        return on

    def phase(self, t: float, h: float) -> str:
        if self.kind == "air":
            return "midcourse"  # not used for air (the format has no air phase; see writer)
        rel = t - self.epoch
        if rel < self.burnout:
            return "boost"
        return "midcourse" if h > REENTRY_HEIGHT_M else "reentry"

    def end_point(self) -> tuple[float, float, float]:
        """(t, lat, lon) of the last state (the impact point when it came down)."""
        x = self.states(np.array([self.t_end]))[0]
        lat, lon, _ = earth.ecef_to_geodetic(x[:3])
        return self.t_end, lat, lon


def _fly_off(
    launch: Launch, t: float, y: Arr, aero: Aero, mass: float, t_max: float, dv: Arr | None = None
) -> tuple[list[Segment], str | None]:
    y = y.copy()
    if dv is not None:
        y[3:] += dv
    t_end, _y, sol, hit = free_flight(t, y, aero, mass, t_max)
    fate = None if hit else "aloft"
    return [Segment(t, t_end, sol)], fate


def missile_objects(
    rng: np.random.Generator,
    prefix: str,
    launch: Launch,
    asc: Ascent,
    design: Any,
    *,
    t_max: float,
    debris_per_sep: tuple[int, int] = (0, 2),
    fairing_at: float | None = None,
) -> list[TruthObject]:
    """The objects of one flown launch: the warhead-carrying object (``prefix``,
    role rv; a satellite launcher's: payload) from lift-off, each spent stage
    ``prefix.S<k>`` from its separation, debris ``prefix.D<n>``, fairing halves."""
    from .flight import Aero as _Aero

    veh = design.vehicle
    objs: list[TruthObject] = []
    role = "payload" if design.cls == "SLV" else "rv"
    rv = TruthObject(prefix, "ballistic", role, None, launch.t0, burns=list(asc.burns), burnout=asc.t_burnout)
    for t0, t1, sol in asc.sol:  # type: ignore[misc]
        rv.segments.append(Segment(t0, t1, sol))
    mass = design.rv_mass
    seg, fate = _fly_off(launch, asc.t_burnout, asc.state_bo, design.rv_aero, mass, t_max)
    if seg[0].t1 > seg[0].t0:
        rv.segments += seg
    rv.beta = design.rv_aero.beta
    rv.rcs = design.rcs_rv if veh.separates else design.rcs_body
    rv.end_fate = fate
    objs.append(rv)
    n_debris = 0
    for ev in asc.events:
        k = ev.stage
        v = ev.state[3:]
        u = v / np.linalg.norm(v)
        sep = draw_sep = float(rng.uniform(1.0, 5.0))
        del draw_sep
        aero = design.stage_aero[k - 1]
        st = TruthObject(
            f"{prefix}.S{k}",
            "ballistic",
            f"stage-{k}",
            prefix,
            launch.t0,
            burnout=asc.t_burnout,
            beta=aero.beta,
            rcs=float(10 ** rng.uniform(0.3, 1.3)),
        )
        st.burns = [b for b in asc.burns if b[1] <= ev.t + 1e-6][-1:]  # its own burn (IR)
        st.burnout = ev.t
        segs, fate = _fly_off(launch, ev.t, ev.state, aero, ev.mass, t_max, dv=-sep * u)
        st.segments, st.end_fate = segs, fate
        objs.append(st)
        lo, hi = debris_per_sep
        for _ in range(int(rng.integers(lo, hi + 1))):
            n_debris += 1
            m = float(rng.uniform(20.0, 200.0))
            area = float(rng.uniform(1.0, 6.0))
            b = m / (float(rng.uniform(1.0, 1.5)) * area)
            d = TruthObject(
                f"{prefix}.D{n_debris}",
                "ballistic",
                "debris",
                prefix,
                launch.t0,
                burnout=ev.t,
                beta=b,
                rcs=float(10 ** rng.uniform(-1.0, 0.3)),
            )
            dirn = rng.normal(size=3)
            dirn /= np.linalg.norm(dirn)
            segs, fate = _fly_off(
                launch,
                ev.t,
                ev.state,
                _Aero(b, rise=float(rng.uniform(0.3, 1.0))),
                m,
                t_max,
                dv=float(rng.uniform(2.0, 15.0)) * dirn,
            )
            d.segments, d.end_fate = segs, fate
            objs.append(d)
    if fairing_at is not None:
        t_f = fairing_at
        x = None
        for t0, t1, sol in asc.sol:  # type: ignore[misc]
            if t0 <= t_f <= t1:
                x = sol(t_f)
        if x is not None:
            v = x[3:] / np.linalg.norm(x[3:])
            side = np.cross(v, x[:3] / np.linalg.norm(x[:3]))
            side /= np.linalg.norm(side)
            for i, sgn in ((1, 1.0), (2, -1.0)):
                m = float(rng.uniform(100.0, 300.0))
                area = float(rng.uniform(5.0, 10.0))
                b = m / (1.5 * area)
                f = TruthObject(
                    f"{prefix}.F{i}",
                    "ballistic",
                    "debris",
                    prefix,
                    launch.t0,
                    burnout=t_f,
                    beta=b,
                    rcs=float(10 ** rng.uniform(0.0, 0.7)),
                )
                segs, fate = _fly_off(
                    launch, t_f, x, _Aero(b, rise=0.5), m, t_max, dv=sgn * float(rng.uniform(3.0, 8.0)) * side
                )
                f.segments, f.end_fate = segs, fate
                objs.append(f)
    return objs


def orbit_perigee_height(x_ecef: Arr) -> float:
    """Osculating perigee height above the equatorial radius (m) of an ECEF state."""
    r = x_ecef[:3]
    v = x_ecef[3:] + np.cross([0.0, 0.0, earth.OMEGA], r)  # inertial velocity
    rn = float(np.linalg.norm(r))
    en = float(v @ v) / 2.0 - earth.GM / rn
    if en >= 0:
        return math.inf
    a = -earth.GM / (2.0 * en)
    h = np.cross(r, v)
    e = math.sqrt(max(0.0, 1.0 - float(h @ h) / (earth.GM * a)))
    return a * (1.0 - e) - earth.A


def fighter(
    rng: np.random.Generator,
    oid: str,
    lat0: float,
    lon0: float,
    t0: float,
    duration: float,
    *,
    g_turn: float = 7.0,
) -> TruthObject:
    """A fighter at 8-12 km, 250-320 m/s, flying legs and hard level turns (up to
    ``g_turn`` g load, turn rate g sqrt(n^2 - 1) / V), sampled every 0.05 s in the
    local east-north plane at (lat0, lon0)."""
    dt = 0.05
    n = int(duration / dt) + 1
    v = float(rng.uniform(250.0, 320.0))
    alt = float(rng.uniform(8000.0, 12000.0))
    hdg = float(rng.uniform(0.0, 2.0 * math.pi))
    e = n_ = 0.0
    pts = np.empty((n, 4))
    turning, left = False, float(rng.uniform(5.0, 20.0))
    rate = 0.0
    for i in range(n):
        pts[i] = (e, n_, hdg, rate)
        left -= dt
        if left <= 0:
            turning = not turning
            if turning:
                load = float(rng.uniform(4.0, g_turn))
                rate = earth.G0 * math.sqrt(load * load - 1.0) / v * (1 if rng.random() < 0.5 else -1)
                left = float(rng.uniform(4.0, 12.0))
            else:
                rate = 0.0
                left = float(rng.uniform(5.0, 20.0))
        hdg += rate * dt
        e += v * math.sin(hdg) * dt
        n_ += v * math.cos(hdg) * dt
    basis = earth.enu_basis(lat0, lon0)
    origin = earth.geodetic_to_ecef(lat0, lon0, 0.0)
    ts = t0 + dt * np.arange(n)
    x = np.empty((n, 6))
    for i in range(n):
        e_i, n_i, h_i, _ = pts[i]
        # position on the ellipsoid-tangent plane, then lifted to the flight altitude
        p = origin + basis[0] * e_i + basis[1] * n_i
        lat, lon, _ = earth.ecef_to_geodetic(p)
        r = earth.geodetic_to_ecef(lat, lon, alt)
        b = earth.enu_basis(lat, lon)
        x[i, :3] = r
        x[i, 3:] = v * (math.sin(h_i) * b[0] + math.cos(h_i) * b[1])
    obj = TruthObject(oid, "air", "air", None, t0, rcs=float(rng.uniform(2.0, 10.0)))
    obj.air_t, obj.air_x = ts, x
    return obj
