"""One object, one track: a hard-turning fighter is not broken into a string
of tracks, and a piece that separates from a missile is started as a
coasting piece, never as a new boosting missile (issue 16: "zero objects
lost while a sensor reports them")."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import bare_track
from numpy.typing import NDArray

from tocsin.fusion import TrackerConfig
from tocsin.geo import enu_matrix, enu_to_ecef

F64 = NDArray[np.float64]


def _fighter(t0: float, g_turn: float = 7.0) -> Callable[[float], F64]:
    """A fighter at 10 km and 290 m/s: 30 s straight, then turns of ``g_turn``
    (lateral acceleration, alternately left and right, 8 s each) with 8 s
    straight between them: the independent check's SRBM-fighter case."""
    lat0, lon0 = 38.6, 126.2
    dt = 0.01
    n = int(160.0 / dt) + 2
    v = 290.0
    a = g_turn * 9.80665
    hd = np.empty(n)
    h = math.radians(70.0)
    for k in range(n):
        hd[k] = h
        s = k * dt - 30.0
        if s > 0.0 and (s % 16.0) < 8.0:
            h += (1.0 if (s // 16.0) % 2 == 0 else -1.0) * a / v * dt
    vel = np.column_stack([v * np.sin(hd), v * np.cos(hd), np.zeros(n)])
    pos = np.cumsum(vel, axis=0) * dt + np.array([0.0, 0.0, 10_000.0])
    rot = enu_matrix(lat0, lon0)

    def f(t: float) -> F64:
        k = min(max(round((t - t0) / dt), 0), n - 1)
        p = enu_to_ecef(pos[k], lat0, lon0, 0.0)
        return np.concatenate([p, vel[k] @ rot])[None, :]

    return f


@pytest.mark.parametrize("g_turn", [5.0, 9.0])
def test_a_hard_turning_fighter_seen_by_one_radar_is_one_track(scen: Any, g_turn: float) -> None:
    # one radar ~250 km away, a plot every 1.6 s (the independent case: a
    # 4-7 g fighter became 15 tracks, each lost at its next hard turn)
    radar = scen.Radar("KR-R2", 36.9, 127.6, sigma_r=50.0, sigma_deg=0.05, max_range=6e5, period=1.6)
    truth = _fighter(scen.T0, g_turn)
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 150.0, [radar], seed=11)
    bodies = scen.run_ticked(envs, scen.T0, scen.T0 + 152.0)
    assert sorted({b.id for b in bodies}) == ["F-1"]
    # on the fighter the whole time, never dropped
    assert "deleted" not in [b.status for b in bodies]
    errs = [float(np.linalg.norm(np.array(b.state_ecef[:3]) - truth(b.t)[0, :3])) for b in bodies]
    assert max(errs[5:]) < 2_000.0


def _separating(tr: Any, t0: float, t_sep: float) -> Callable[[float], F64]:
    """The missile, and from ``t_sep`` a second object falling behind it on
    the same path (a dropped stage: 20 m/s slower)."""

    def f(t: float) -> F64:
        x = tr.state_at(t - t0)
        if t < t_sep:
            return x[None, :]
        lag = 20.0 * (t - t_sep) / max(float(np.linalg.norm(x[3:])), 1.0)
        return np.stack([x, tr.state_at(t - t0 - lag)])

    return f


def test_a_piece_separating_at_burnout_starts_coasting_not_boosting(scen: Any) -> None:
    tr = scen.srbm_trajectory()
    t_sep = scen.T0 + tr.burnout_t
    envs = scen.make_plots(
        _separating(tr, scen.T0, t_sep),
        scen.T0 + 5.0,
        scen.T0 + tr.burnout_t + 80.0,
        scen.two_radars(),
        seed=4,
    )
    bodies = scen.run_ticked(envs, scen.T0, scen.T0 + tr.burnout_t + 80.0)
    parent = {b.id for b in bodies if b.parent is None}
    children = [b for b in bodies if b.parent is not None]
    assert children, "the separation is seen"
    assert {b.parent for b in children} <= parent
    # the parent was still boosting (burnout is declared 10-20 s after the motor stops) ...
    first = children[0]
    assert any(b.phase == "boost" and b.t >= first.t - 1.0 for b in bodies if b.id in parent)
    # ... but the piece that parted is never a new boosting missile (its boost
    # corridor would warn areas far from the path): it coasts, with an impact
    for b in children:
        assert b.phase == "ballistic", (b.id, b.t - scen.T0, b.phase)
        # its second model is thrust for restart_window_s (a next stage may
        # light): that model taking over then is no re-entry manoeuvre
        assert not b.manoeuvring, (b.id, b.t - scen.T0)
    assert any(b.impact is not None for b in children)


def _thrusting_states(n: int) -> list[tuple[float, F64]]:
    """A missile at 100 km climbing at 3 km/s whose motor pushes 20 m/s^2
    along its velocity: states every second (Euler steps of 0.01 s)."""
    from tocsin.fusion.propagate import deriv
    from tocsin.geo import geodetic_to_ecef

    r = np.asarray(geodetic_to_ecef(40.0, 130.0, 100_000.0), dtype=np.float64)
    up = r / np.linalg.norm(r)
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    x = np.concatenate([r, 2000.0 * up + 2200.0 * east])
    out = []
    for k in range(n):
        out.append((float(k), x.copy()))
        for _ in range(100):
            d = deriv(x[None, :], None)[0]
            d[3:] += 20.0 * x[3:] / np.linalg.norm(x[3:])
            x = x + 0.01 * d
    return out


def _coasting_states(n: int) -> list[tuple[float, F64]]:
    """A state each second for ``n`` s of a piece coasting in vacuum (gravity only)."""
    from tocsin.fusion.propagate import deriv

    x = _thrusting_states(1)[0][1].copy()
    out = []
    for k in range(n):
        out.append((float(k), x.copy()))
        for _ in range(100):
            x = x + 0.01 * deriv(x[None, :], None)[0]
    return out


@pytest.mark.parametrize("role", [None, "stage", "debris"])
@pytest.mark.parametrize("coast_seen", [True, False])
def test_a_spent_piece_seen_coasting_never_reignites(role: str | None, coast_seen: bool) -> None:
    """Past burnout the thrust test watches for a next stage lighting; a piece
    known to be spent (stage, debris) and seen coasting on its own plots has
    no motor left: apparent thrust (the plots of two close pieces mixed up)
    never makes it a boosting missile. A piece called spent before its plots
    ever showed it coasting (confirmed at a separation: past burnout by
    declaration) may be the stack still burning: thrust makes it boost again
    and withdraws the spent role (MC lofted ICBM seed 1 index 5, SLV index 6)."""
    from collections import Counter

    from tocsin.fusion.ballistic import Ballistic

    bal = Ballistic(TrackerConfig(), Counter())
    states = _thrusting_states(30)
    x0 = states[0][1]
    tr = bare_track(
        x0,
        t=0.0,
        created=0.0,
        cls="ballistic",
        phase="ballistic",
        burnt_out=True,
        burnout_t=0.0,
        role=role,
        coast_seen=coast_seen,
    )
    for t, x in states:
        tr.t = t
        bal.burnout_test(tr, x, np.eye(6))
    if role is None or not coast_seen:
        assert not tr.burnt_out  # a motor burning again: boosting
        assert tr.phase == "boost"
        assert tr.role is None
    else:
        assert tr.burnt_out
        assert tr.phase == "ballistic"
        assert tr.role == role


def test_a_piece_confirmed_at_a_separation_is_seen_coasting_by_its_own_plots() -> None:
    """A child confirmed past burnout by declaration is seen coasting once the
    burnout test's windows of its own states show no thrust for
    ``burnout_votes`` updates; from then on a spent role is final."""
    from collections import Counter

    from tocsin.fusion.ballistic import Ballistic

    cfg = TrackerConfig()
    bal = Ballistic(cfg, Counter())
    states = _coasting_states(30)
    tr = bare_track(
        states[0][1], t=0.0, cls="ballistic", phase="ballistic", burnt_out=True, burnout_t=0.0, role="stage"
    )
    seen = []
    for t, x in states:
        tr.t = t
        bal.burnout_test(tr, x, np.eye(6))
        seen.append(tr.coast_seen)
    assert not any(seen[: int(cfg.burnout_window_s)])  # no window yet
    assert seen[-1]
    assert tr.burnt_out
    assert tr.role == "stage"


def test_a_track_plots_keep_reaching_late_is_not_coasting(scen: Any) -> None:
    """One radar, a plot every 1.6 s, each reaching the tracker 2-2.8 s after it
    was measured; the tracker advanced every second of arrival time (as a live
    node is). Ages measured from the arrival clock to the last plot's
    measurement time include the link's latency: the track flapped between
    confirmed and coasting after every plot (independent SRBM-fighter case:
    171 times). It is coasting only when plots stop coming, and then still."""
    import msgspec

    from tocsin.fusion import Tracker
    from tocsin.wire import PlotBody, TrackBody

    radar = scen.Radar("KR-R2", 36.9, 127.6, sigma_r=50.0, sigma_deg=0.05, max_range=6e5, period=1.6)
    envs = scen.make_plots(_fighter(scen.T0, 0.0), scen.T0, scen.T0 + 90.0, [radar], seed=3)
    rng = np.random.default_rng(5)
    late = [
        msgspec.structs.replace(e, sent=e.sent + 2.0 + 0.8 * float(rng.random())) if e.kind == "plot" else e
        for e in envs
    ]
    trk = Tracker(TrackerConfig())
    out = []
    tick = scen.T0 + 1.0
    for e in late:
        while e.sent >= tick:
            out += trk.advance(tick)
            tick += 1.0
        out += trk.push(e)
    while tick <= scen.T0 + 110.0:
        out += trk.advance(tick)
        tick += 1.0
    seq = [(e.sent, e.body.status) for e in out if isinstance(e.body, TrackBody) and e.body.id == "F-1"]
    last_plot = max(e.sent for e in late if isinstance(e.body, PlotBody))
    first = next(s for s, st in seq if st == "confirmed")
    while_seen = {st for s, st in seq if first <= s <= last_plot}
    assert while_seen == {"confirmed"}, while_seen
    after = [st for s, st in seq if s > last_plot]
    assert "coasting" in after
    assert after[-1] in ("lost", "deleted")
