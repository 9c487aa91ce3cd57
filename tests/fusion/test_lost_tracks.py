"""A track no sensor updates: coasting, then ``lost``, its state predicted to
now with a covariance that keeps growing (never a frozen prediction), until it
is found again, lands or is deleted."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tocsin.wire import TrackBody


def _pos_var(b: TrackBody) -> float:
    return float(np.trace(np.array(b.cov).reshape(6, 6)[:3, :3]))


def test_a_missile_beyond_every_radar_is_lost_not_frozen(scen: Any) -> None:
    tr = scen.srbm_trajectory()
    seen_until = scen.T0 + 160.0
    envs = scen.make_plots(scen.srbm_truth(tr), scen.T0 + 5.0, seen_until, scen.two_radars(), seed=8)
    bodies = scen.run_ticked(envs, scen.T0, scen.T0 + tr.flight_time_s + 60.0)
    ids = {b.id for b in bodies if b.class_ == "ballistic"}
    assert len(ids) == 1
    after = [b for b in bodies if b.t > seen_until]
    statuses = [b.status for b in after if b.status != "confirmed"]
    assert statuses[0] == "coasting"
    assert "lost" in statuses
    assert statuses[-1] == "deleted"  # it landed
    assert statuses.index("lost") > statuses.index("coasting")
    lost = [b for b in after if b.status == "lost"]
    # reported every coast_report_s until it lands, the state predicted to now
    assert len(lost) > (tr.flight_time_s - 175.0) / 2.5
    ts = [b.t for b in lost]
    assert all(b > a for a, b in itertools.pairwise(ts))
    # ... with a covariance that grows from the last update on (a ballistic
    # object's position errors can shrink again on the way down: the
    # trajectories through its error ellipsoid converge), never frozen,
    # and holding the truth
    var = [_pos_var(b) for b in lost]
    last_seen = [b for b in bodies if b.t <= seen_until and b.status == "confirmed"][-1]
    assert min(var) > 10.0 * _pos_var(last_seen)
    assert all(b != a for a, b in itertools.pairwise(var))
    assert all(b > a for a, b in itertools.pairwise(var[:20]))
    for b in lost[::10]:
        err = np.array(b.state_ecef[:3]) - tr.state_at(b.t - scen.T0)[:3]
        assert float(err @ err) < 9.0 * _pos_var(b)
    # the impact prediction is re-made from the grown state: not frozen
    sizes = {round(b.impact.ellipse.semi_major_m, 3) for b in lost if b.impact and b.impact.ellipse}
    assert len(sizes) > 3


def test_a_lost_aircraft_is_found_again_under_its_own_id(scen: Any) -> None:
    truth = scen.ncv_truth(1, seed=5)
    radars = [scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5)]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 60.0, radars, seed=3)
    # no plot from 29 s to 40 s: longer than lost_after_s, shorter than delete_air_s
    gap = (scen.T0 + 29.5, scen.T0 + 39.5)
    kept = [e for e in envs if not (e.kind == "plot" and gap[0] <= e.body.t < gap[1])]  # type: ignore[union-attr]
    bodies = scen.run_ticked(kept, scen.T0, scen.T0 + 60.0)
    assert len({b.id for b in bodies}) == 1
    seq = [b.status for b in bodies if gap[0] <= b.t < gap[1] + 1.0]
    assert "coasting" in seq
    assert "lost" in seq
    assert seq[-1] == "confirmed"
    lost = [b for b in bodies if b.status in ("coasting", "lost")]
    var = [_pos_var(b) for b in lost]
    assert all(b > a for a, b in itertools.pairwise(var))
    # not found again: deleted after delete_air_s
    short = [e for e in envs if not (e.kind == "plot" and e.body.t >= gap[0])]  # type: ignore[union-attr]
    bodies = scen.run_ticked(short, scen.T0, scen.T0 + 60.0)
    tail = [b.status for b in bodies if b.t >= gap[0]]
    assert tail[-1] == "deleted"
    assert "lost" in tail
