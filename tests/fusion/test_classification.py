"""Classification of slow objects: a missile whose motor failed is not an
aircraft; aircraft stay aircraft (tocsin.fusion.ballistic: lift test, space
infrared cue; docs/fusion.md "Classification")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tocsin.dynamics.flight import Trajectory, solve_flight, to_trajectory
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import enu_matrix, enu_to_ecef, geodetic_to_ecef
from tocsin.wire import Envelope, TrackBody

F64 = NDArray[np.float64]
SITE = (39.15, 127.45)


@functools.cache
def failing_srbm() -> Trajectory:
    """An SRBM whose motor fails 40 s after launch: it coasts to ~9 km at
    ~100 m/s and falls some 15 km from its site (as in Freedom Edge
    boost-failure)."""
    sol = solve_flight(
        SITE[0], SITE[1], 140.0, missile_class="SRBM", beta=3000.0, fail_s=40.0, fail_beta=1100.0
    )
    return to_trajectory(sol.flight, beta=1100.0, azimuth_deg=140.0)


def _radars(scen: Any) -> list[Any]:
    return [
        scen.Radar("KR-R2", 37.75, 128.90, alt=400.0, sigma_r=40.0, sigma_deg=0.08, period=2.0),
        scen.Radar("JP-R1", 38.05, 138.30, alt=150.0, sigma_r=25.0, sigma_deg=0.05, max_range=1.5e6),
    ]


def _merge(*runs: list[Envelope]) -> list[Envelope]:
    desc = [e for run in runs for e in run if e.kind != "plot"]
    plots = sorted((e for run in runs for e in run if e.kind == "plot"), key=lambda e: e.body.t)
    return desc + plots


def _bodies(envs: list[Envelope], cfg: TrackerConfig | None = None) -> list[TrackBody]:
    out = Tracker(cfg).push_many(envs)
    return [e.body for e in out if isinstance(e.body, TrackBody) and e.body.status != "tentative"]


def _truth(tr: Trajectory, t0: float) -> Callable[[float], F64]:
    def f(t: float) -> F64:
        return tr.state_at(min(t - t0, tr.flight_time_s))[None, :]

    return f


def test_a_failed_missile_seen_only_coasting_is_never_an_aircraft(scen: Any) -> None:
    """Radars first see it 4 s after its motor stopped, slow (< 400 m/s) and
    below 20 km: the speed/height votes alone called it an aircraft at its
    apogee. It carries no lift (a body held up by wings carries ~g), so it is
    not one."""
    tr = failing_srbm()
    assert tr.apogee_m < 12_000.0
    envs = scen.make_plots(
        _truth(tr, scen.T0), scen.T0 + 44.0, scen.T0 + tr.flight_time_s - 2.0, _radars(scen), seed=7
    )
    bodies = _bodies(envs)
    assert bodies
    assert {b.class_ for b in bodies} <= {"unknown", "ballistic"}


def test_space_infrared_that_saw_the_motor_burn_makes_it_ballistic_at_once(scen: Any) -> None:
    """One geostationary infrared sensor saw the plume for the last 10 s of
    the burn (lines of sight only: no track of its own). The radar track that
    starts 4 s later runs back onto those lines: a missile from its first
    reports."""
    tr = failing_srbm()
    sat = scen.IrSat("US-S1", geodetic_to_ecef(0.0, 135.0, 35_786_000.0), sigma=2e-5, period=2.0)
    truth = _truth(tr, scen.T0)
    ir = scen.make_plots(truth, scen.T0 + 30.0, scen.T0 + 40.0, [], sats=[sat], seed=8)
    radar = scen.make_plots(truth, scen.T0 + 44.0, scen.T0 + tr.flight_time_s - 2.0, _radars(scen), seed=7)
    bodies = _bodies(_merge(ir, radar))
    assert bodies
    first = min(b.t for b in bodies)
    assert all(b.class_ == "ballistic" for b in bodies if b.t >= first + 2.5)
    # the same radar plots without the infrared: not at once
    alone = _bodies(radar)
    assert not any(b.class_ == "ballistic" for b in alone if b.t <= first + 2.5)


def _fighter_and_airliner(t0: float) -> Callable[[float], F64]:
    """A fighter in a sustained 3 g level turn at 250 m/s, 9 km, and an
    airliner descending at 12 m/s from 11 km at 230 m/s, 150 km from the
    failing missile's site (both in an ENU frame at the site)."""
    lat0, lon0 = 38.5, 128.5
    rot = enu_matrix(lat0, lon0)
    v_f, a_f = 250.0, 3.0 * 9.80665
    rad = v_f * v_f / a_f
    om = v_f / rad

    def f(t: float) -> F64:
        s = t - t0
        ang = om * s
        pf = np.array([rad * np.cos(ang), rad * np.sin(ang), 9_000.0])
        vf = np.array([-v_f * np.sin(ang), v_f * np.cos(ang), 0.0])
        pa = np.array([-40e3 + 230.0 * s, 30e3, 11_000.0 - 12.0 * s])
        va = np.array([230.0, 0.0, -12.0])
        pos = enu_to_ecef(np.array([pf, pa]), lat0, lon0, 0.0)
        return np.hstack([pos, np.array([vf, va]) @ rot])

    return f


def test_a_turning_fighter_and_a_descending_airliner_stay_aircraft(scen: Any) -> None:
    """Both carry lift (about g): the lift test never calls them ballistic,
    and they still become `air`; a missile's infrared lines of sight 150 km
    away cue neither."""
    tr = failing_srbm()
    sat = scen.IrSat("US-S1", geodetic_to_ecef(0.0, 135.0, 35_786_000.0), sigma=2e-5, period=2.0)
    ir = scen.make_plots(_truth(tr, scen.T0), scen.T0 + 30.0, scen.T0 + 40.0, [], sats=[sat], seed=8)
    air = scen.make_plots(
        _fighter_and_airliner(scen.T0), scen.T0 + 30.0, scen.T0 + 150.0, _radars(scen), seed=9
    )
    bodies = _bodies(_merge(ir, air))
    assert bodies
    assert all(b.class_ != "ballistic" for b in bodies)
    final = {b.id: b.class_ for b in bodies}
    assert set(final.values()) == {"air"}


def _traffic(t0: float, n: int, half_m: float, seed: int) -> Callable[[float], F64]:
    """``n`` airliners in straight flight at 8-12 km and 180-260 m/s on random
    headings over a ``2 half_m`` square around 37N 138E."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = 37.0, 138.0
    rot = enu_matrix(lat0, lon0)
    p0 = np.column_stack(
        [rng.uniform(-half_m, half_m, n), rng.uniform(-half_m, half_m, n), rng.uniform(8e3, 12e3, n)]
    )
    hdg = rng.uniform(0.0, 2.0 * np.pi, n)
    spd = rng.uniform(180.0, 260.0, n)
    v = np.column_stack([spd * np.sin(hdg), spd * np.cos(hdg), np.zeros(n)])

    def f(t: float) -> F64:
        pos = enu_to_ecef(p0 + v * (t - t0), lat0, lon0, 0.0)
        return np.hstack([pos, v @ rot])

    return f


@pytest.mark.parametrize(
    ("aircraft", "radars", "half_m", "seconds"),
    [(300, 12, 250e3, 4.0), (400, 20, 350e3, 10.0)],
)
def test_young_aircraft_tracks_in_a_multi_radar_picture_are_never_ballistic(
    scen: Any, aircraft: int, radars: int, half_m: float, seconds: float
) -> None:
    """Radars on a 3 x 3 degree grid, scans staggered through the second,
    see hundreds of airliners: a young track's velocity converges from its
    initiation by more than its covariance says (a climb estimate of 317 m/s
    with a 94-m/s sigma, then 200 m/s of change in 4 s). Neither a ballistic
    vote (the estimate must clear its threshold by ``vote_sigmas``: the first
    case) nor a "no lift" verdict (lift windows start after the track's first
    ``lift_window_s``: the second) may take that for a missile: an aircraft
    classed ballistic is a false public alert. (Without the first rule: 4
    airliners ballistic in the first case; without the second: 3 in the
    second; 16 of 1,157 aircraft with 20 radars before both.)"""
    g = int(np.ceil(np.sqrt(radars)))
    grid = [(35.5 + 3.0 * (k // g) / (g - 1), 136.5 + 3.0 * (k % g) / (g - 1)) for k in range(radars)]
    sites = [
        scen.Radar(
            f"JP-B{k}",
            la,
            lo,
            alt=50.0,
            sigma_r=30.0,
            sigma_deg=0.05,
            max_range=6e5,
            period=1.0,
            offset=(k + 0.5) / radars,
        )
        for k, (la, lo) in enumerate(grid)
    ]
    truth = _traffic(scen.T0, aircraft, half_m, 17)
    envs = scen.make_plots(truth, scen.T0 + 1.0, scen.T0 + 1.0 + seconds, sites, seed=4)
    bodies = _bodies(envs)
    assert len({b.id for b in bodies}) > 0.9 * aircraft
    assert [b.id for b in bodies if b.class_ == "ballistic"] == []


def _level_airliner(t0: float) -> Callable[[float], F64]:
    """One airliner flying east, level at 10 km and 230 m/s, near 38 N 133.5 E."""
    lat0, lon0 = 38.0, 133.5
    rot = enu_matrix(lat0, lon0)
    v = np.array([230.0, 0.0, 0.0])

    def f(t: float) -> F64:
        p = np.array([-60e3, 0.0, 10_000.0]) + v * (t - t0)
        return np.hstack([enu_to_ecef(p[None, :], lat0, lon0, 0.0), (v @ rot)[None, :]])

    return f


def test_an_aircraft_classed_ballistic_is_demoted_once_it_flies_as_one(scen: Any) -> None:
    """A stray space-infrared detection on an airliner's path (sun glint,
    clutter) cues its radar track ballistic at once: a false public alert.
    Flying level at 230 m/s with lift for ``demote_air_s`` (30 s), nothing a
    missile does, it becomes `air` again, and stays so (the warning engine
    withdraws what it raised as a mistake). With ``demote_air_s`` 0
    (ballistic is final) it stays a missile to the end."""
    sat = scen.IrSat("US-S1", geodetic_to_ecef(0.0, 135.0, 35_786_000.0), sigma=2e-5, period=2.0)
    radars = [
        scen.Radar("JP-A1", 38.3, 133.2, alt=50.0, sigma_r=30.0, sigma_deg=0.05, max_range=4e5, period=1.0),
        scen.Radar("JP-A2", 37.6, 133.9, alt=50.0, sigma_r=30.0, sigma_deg=0.05, max_range=4e5, period=1.0),
    ]
    truth = _level_airliner(scen.T0)
    ir = scen.make_plots(truth, scen.T0, scen.T0 + 10.0, [], sats=[sat], seed=3)
    radar = scen.make_plots(truth, scen.T0 + 12.0, scen.T0 + 130.0, radars, seed=5)
    envs = _merge(ir, radar)
    bodies = _bodies(envs)
    assert {b.id for b in bodies} == {bodies[0].id}
    bal = [b.t for b in bodies if b.class_ == "ballistic"]
    assert bal, "the stray cue no longer makes it ballistic: the test shows nothing"
    air = [b.t for b in bodies if b.class_ == "air" and b.t > bal[0]]
    assert air
    # demoted within ~30 s of level flight with lift (plus the lift windows)
    assert air[0] - bal[0] < 30.0 + 20.0
    assert max(bal) < air[0]
    assert all(b.impact is None and b.launch is None for b in bodies if b.class_ == "air")
    # ballistic is final without the rule
    kept = _bodies(envs, TrackerConfig(demote_air_s=0.0))
    assert {b.class_ for b in kept if b.t > bal[0]} == {"ballistic"}


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_demote_air_s_must_be_finite_and_not_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="demote_air_s must be a finite number >= 0"):
        TrackerConfig(demote_air_s=bad)
