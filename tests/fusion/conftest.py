"""Seeded scenario builders for the fusion tests (truth from tocsin.dynamics,
plots from the independent models in tocsin.sensors.models)."""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tocsin.dynamics.flight import Trajectory, solve_trajectory
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import enu_matrix, enu_to_ecef, geodetic_to_ecef
from tocsin.sensors.models import los_measure, radar_measure
from tocsin.wire import Envelope, PlotBody, SensorBody, TrackBody, make

F64 = NDArray[np.float64]
T0 = 1_800_000_000.0


@dataclass
class Radar:
    id: str
    lat: float
    lon: float
    alt: float = 30.0
    sigma_r: float = 50.0
    sigma_deg: float = 0.1
    sigma_rr: float | None = None
    max_range: float = 1.0e6
    period: float = 1.0
    offset: float = 0.0


@dataclass
class IrSat:
    id: str
    ecef: F64
    sigma: float = 5e-5
    period: float = 1.0
    offset: float = 0.0


def sensor_envs(radars: list[Radar], sats: list[IrSat] = ()) -> list[Envelope]:  # type: ignore[assignment]
    out = []
    for r in radars:
        b = SensorBody(
            id=r.id,
            type="radar",
            platform="ground",
            lat=r.lat,
            lon=r.lon,
            alt_m=r.alt,
            sigma_range_m=r.sigma_r,
            sigma_az_deg=r.sigma_deg,
            sigma_el_deg=r.sigma_deg,
            sigma_rr_mps=r.sigma_rr,
            max_range_m=r.max_range,
            scan_period_s=r.period,
        )
        out.append(make("sensor", b, partner=r.id[:2], source=r.id, seq=0, sent=T0))
    for s in sats:
        b = SensorBody(
            id=s.id, type="ir-satellite", platform="space", sigma_los_rad=s.sigma, scan_period_s=s.period
        )
        out.append(make("sensor", b, partner=s.id[:2], source=s.id, seq=0, sent=T0))
    return out


def make_plots(
    truth: Callable[[float], F64],
    t_start: float,
    t_end: float,
    radars: list[Radar],
    *,
    sats: list[IrSat] = (),  # type: ignore[assignment]
    pd: float = 1.0,
    clutter: float = 0.0,
    seed: int = 0,
    min_el_deg: float = 0.5,
    ir_until: float | None = None,
) -> list[Envelope]:
    """Plots of every object whose states ``truth(t) -> (K, 6)`` (t: epoch s)
    gives, in time order, after the sensor descriptors."""
    rng = np.random.default_rng(seed)
    envs = sensor_envs(radars, list(sats))
    plots: list[tuple[float, int, Envelope]] = []
    seq: dict[str, int] = {}
    k = 0
    for r in radars:
        site = geodetic_to_ecef(r.lat, r.lon, r.alt)
        for t in np.arange(t_start + r.offset, t_end, r.period):
            x = truth(float(t))
            z = radar_measure(x, site, r.lat, r.lon)
            det = (rng.random(len(x)) < pd) & (np.degrees(z[:, 2]) > min_el_deg) & (z[:, 0] < r.max_range)
            rows = []
            for zz in z[det]:
                rows.append(
                    (
                        zz[0] + rng.normal() * r.sigma_r,
                        np.degrees(zz[1]) + rng.normal() * r.sigma_deg,
                        np.degrees(zz[2]) + rng.normal() * r.sigma_deg,
                        None if r.sigma_rr is None else zz[3] + rng.normal() * r.sigma_rr,
                    )
                )
            for _ in range(rng.poisson(clutter)):
                rows.append(
                    (rng.uniform(1e3, min(r.max_range, 4e5)), rng.uniform(0, 360), rng.uniform(0.5, 30), None)
                )
            for rr, az, el, rrate in rows:
                seq[r.id] = seq.get(r.id, 0) + 1
                body = PlotBody(
                    sensor=r.id,
                    t=float(t),
                    range_m=float(rr),
                    az_deg=float(az % 360.0),
                    el_deg=float(np.clip(el, -90, 90)),
                    rr_mps=None if rrate is None else float(rrate),
                )
                env = make("plot", body, partner=r.id[:2], source=r.id, seq=seq[r.id], sent=float(t))
                plots.append((float(t), k, env))
                k += 1
    for s in sats:
        for t in np.arange(t_start + s.offset, t_end if ir_until is None else min(t_end, ir_until), s.period):
            x = truth(float(t))
            u = los_measure(x, np.broadcast_to(s.ecef, (len(x), 3)))
            for uu in u:
                # small-angle perturbation on the tangent plane
                e = rng.normal(size=3) * s.sigma
                uu = uu + e - uu * (uu @ e)
                uu = uu / np.linalg.norm(uu)
                seq[s.id] = seq.get(s.id, 0) + 1
                body = PlotBody(
                    sensor=s.id,
                    t=float(t),
                    observer_ecef=[float(c) for c in s.ecef],
                    los_ecef=[float(c) for c in uu],
                )
                plots.append(
                    (
                        float(t),
                        k,
                        make("plot", body, partner=s.id[:2], source=s.id, seq=seq[s.id], sent=float(t)),
                    )
                )
                k += 1
    plots.sort(key=lambda p: (p[0], p[1]))
    return envs + [p[2] for p in plots]


def ncv_truth(n: int, seed: int, lat0: float = 37.5, lon0: float = 133.0) -> Callable[[float], F64]:
    """``n`` constant-velocity aircraft (8-12 km, 150-250 m/s) in a fixed ENU frame."""
    rng = np.random.default_rng(seed)
    p0 = np.column_stack([rng.uniform(-60e3, 60e3, (n, 2)), rng.uniform(8e3, 12e3, n)])
    hd = rng.uniform(0, 2 * np.pi, n)
    sp = rng.uniform(150, 250, n)
    v = np.column_stack([sp * np.sin(hd), sp * np.cos(hd), np.zeros(n)])
    rot = enu_matrix(lat0, lon0)

    def f(t: float) -> F64:
        enu = p0 + v * (t - T0)
        pos = enu_to_ecef(enu, lat0, lon0, 0.0)
        return np.hstack([pos, v @ rot])

    return f


@functools.cache
def srbm_trajectory(azimuth_deg: float = 80.0) -> Trajectory:
    """A notional SRBM from near the Korean west coast (cached: the solver takes
    a second or two)."""
    return solve_trajectory(39.0, 125.5, azimuth_deg, missile_class="SRBM", dt=1.0)


def srbm_truth(tr: Trajectory) -> Callable[[float], F64]:
    """Truth function for :func:`make_plots`: the missile launched at ``T0``."""

    def f(t: float) -> F64:
        return tr.state_at(t - T0)[None, :]

    return f


def two_radars() -> list[Radar]:
    return [
        Radar("KR-R1", 37.5, 127.5, max_range=3e6),
        Radar("JP-R1", 40.0, 137.0, max_range=3e6, offset=0.5),
    ]


def run_ticked(
    envs: list[Envelope], t0: float, t1: float, cfg: TrackerConfig | None = None
) -> list[TrackBody]:
    """Feed ``envs`` to a tracker advanced every second of measurement time
    (as a live node does) until ``t1``; the non-tentative track reports."""
    trk = Tracker(cfg or TrackerConfig())
    out: list[Envelope] = []
    tick = t0 + 1.0
    for e in envs:
        while isinstance(e.body, PlotBody) and e.body.t >= tick:
            out.extend(trk.advance(tick))
            tick += 1.0
        out.extend(trk.push(e))
    out.extend(trk.flush())
    while tick <= t1:
        out.extend(trk.advance(tick))
        tick += 1.0
    return [e.body for e in out if isinstance(e.body, TrackBody) and e.body.status != "tentative"]


def run_flight_scene(
    cls: str,
    index: int,
    t_end: float,
    cfg: TrackerConfig | None = None,
    checks: dict[float, Callable[[Any, Tracker], None]] | None = None,
    sensor_bias: bool = False,
) -> tuple[Any, Tracker]:
    """Monte Carlo seed 1 flight ``cls`` ``index`` (the impact benchmark's
    generator) fed in arrival order to a tracker advanced every second of
    arrival time, as a live node is; ``checks[t](sim, tracker)`` is called once,
    when the first plot more than t s after launch arrives; feeding stops at the
    first plot more than ``t_end`` s after launch. Returns the simulation and
    the tracker."""
    from tocsin.drill.generate import random_scenario
    from tocsin.drill.simulate import simulate

    sim = simulate(random_scenario(1, cls, index=index, sensor_bias=sensor_bias))
    t0 = min(o.t_start for o in sim.objects.values())
    trk = Tracker(cfg or TrackerConfig())
    tick = None
    due = sorted(checks or {})
    for e in sim.messages:
        if isinstance(e.body, PlotBody):
            while due and e.body.t - t0 > due[0]:
                checks[due.pop(0)](sim, trk)  # type: ignore[index]
            if e.body.t - t0 > t_end:
                break
            tick = math.floor(e.sent) + 1.0 if tick is None else tick
            while e.sent >= tick:
                trk.advance(tick)
                tick += 1.0
        trk.push(e)
    assert not due
    return sim, trk


@pytest.fixture
def scen() -> object:
    """The builders, as a namespace (tests import nothing from conftest)."""

    class _S:
        T0 = T0
        Radar = Radar
        IrSat = IrSat
        make_plots = staticmethod(make_plots)
        ncv_truth = staticmethod(ncv_truth)
        sensor_envs = staticmethod(sensor_envs)
        srbm_trajectory = staticmethod(srbm_trajectory)
        srbm_truth = staticmethod(srbm_truth)
        two_radars = staticmethod(two_radars)
        run_ticked = staticmethod(run_ticked)

    return _S


def bare_track(x: F64, t: float, created: float = 0.0, **kw: Any) -> Any:
    """A two-model track at ECEF state ``x`` (6) and time ``t``: unit
    covariances, equal model probabilities, no sources; ``kw`` sets the rest
    (class, phase, burnout, role, drag bank). The starting point of tests that
    drive one track's phase, drag and restore rules by hand."""
    from tocsin.fusion.track import Track

    return Track(
        key=1,
        x=np.stack([x, x]),
        p=np.stack([np.eye(6), np.eye(6)]),
        mu=np.array([0.5, 0.5]),
        t=t,
        created=created,
        window=deque([1]),
        sources=set(),
        partners=set(),
        **kw,
    )
