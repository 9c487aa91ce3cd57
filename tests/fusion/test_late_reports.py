"""Late reports: used by re-filtering up to ``oosm_lag_s`` (at most 30 s),
otherwise counted as ``too_late``; none vanishes uncounted."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import numpy as np
import pytest

from tocsin.fusion import Tracker, TrackerConfig
from tocsin.fusion.measurements import REC_T
from tocsin.geo import great_circle_distance
from tocsin.wire import Envelope, PlotBody, TrackBody

DELAY_S = 20.0


def _delayed(envs: list[Envelope], sensor: str, delay: float) -> list[Envelope]:
    """The same messages with ``sensor``'s plots sent ``delay`` s late, in arrival order."""
    head = [e for e in envs if e.kind != "plot"]
    plots = [
        msgspec.structs.replace(e, sent=e.sent + delay)
        if isinstance(e.body, PlotBody) and e.body.sensor == sensor
        else e
        for e in envs
        if e.kind == "plot"
    ]
    return head + sorted(plots, key=lambda e: e.sent)


def _last_impact(out: list[Envelope]) -> TrackBody:
    bodies = [e.body for e in out if isinstance(e.body, TrackBody) and e.body.impact is not None]
    return bodies[-1]


@pytest.fixture(scope="module")
def srbm(scen: Any) -> tuple[Any, list[Envelope]]:
    tr = scen.srbm_trajectory()
    envs = scen.make_plots(
        scen.srbm_truth(tr), scen.T0 + 5.0, scen.T0 + tr.flight_time_s - 1.0, scen.two_radars(), seed=5
    )
    return tr, envs


@pytest.fixture(scope="module")
def scen() -> Any:
    import conftest

    return conftest


def test_a_link_20_s_late_is_used_with_a_30_s_lag(srbm: tuple[Any, list[Envelope]]) -> None:
    tr, envs = srbm
    n_plots = sum(e.kind == "plot" for e in envs)
    n_late = sum(isinstance(e.body, PlotBody) and e.body.sensor == "JP-R1" for e in envs)
    on_time = Tracker()
    on_time.push_many(envs)

    late = Tracker(TrackerConfig(oosm_lag_s=30.0))
    out = late.push_many(_delayed(envs, "JP-R1", DELAY_S))
    assert late.rejected["too_late"] == 0
    assert late.stats["plots"] == n_plots
    assert late.stats["oosm_refiltered"] >= 0.9 * n_late
    ids = {b.id for e in out if isinstance(b := e.body, TrackBody) and b.class_ == "ballistic"}
    assert len(ids) == 1
    got = _last_impact(out)
    # the same plots give the same final estimate, whatever order they came in
    # (once the last late plot is in: the tracks' own states)
    (a,) = [t for t in on_time.tracks if t.status != "tentative"]
    (b,) = [t for t in late.tracks if t.status != "tentative"]
    assert a.t == b.t
    (xa, pa), (xb, pb) = a.combined(), b.combined()
    d = xa[:3] - xb[:3]
    assert float(d @ np.linalg.solve(pa[:3, :3] + pb[:3, :3], d)) < 11.3  # chi2(3) 99 %
    assert float(great_circle_distance(got.impact.lat, got.impact.lon, tr.impact_lat, tr.impact_lon)) < 500.0


def test_beyond_the_lag_every_late_report_is_counted(srbm: tuple[Any, list[Envelope]]) -> None:
    _, envs = srbm
    n_plots = sum(e.kind == "plot" for e in envs)
    trk = Tracker(TrackerConfig(oosm_lag_s=10.0))
    trk.push_many(_delayed(envs, "JP-R1", DELAY_S))
    # nothing vanishes: each plot is either in a processed scan or refused as too late
    assert trk.stats["plots"] + trk.rejected["too_late"] == n_plots
    n_late = sum(isinstance(e.body, PlotBody) and e.body.sensor == "JP-R1" for e in envs)
    assert trk.rejected["too_late"] >= 0.95 * n_late


def test_the_lag_is_bounded() -> None:
    TrackerConfig(oosm_lag_s=30.0)
    with pytest.raises(ValueError, match="at most 30"):
        TrackerConfig(oosm_lag_s=31.0)
    assert np.isfinite(TrackerConfig().oosm_lag_s)


def test_a_report_older_than_its_tracks_history_is_counted_not_freed(scen: Any) -> None:
    """A track started from the plots at 0 s and 2 s has no state before 2 s to
    re-filter the plot of 1 s into, even when that plot is within the lag: it is
    counted as older than its track (it used to be passed on to initiation,
    uncounted)."""
    truth = scen.ncv_truth(1, seed=3)
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 20.0, [scen.Radar("JP-R1", 37.0, 132.5)], seed=1)
    plots = [e for e in envs if e.kind == "plot"]
    held = plots[1]
    assert isinstance(held.body, PlotBody)
    assert held.body.t == scen.T0 + 1.0
    trk = Tracker(TrackerConfig(oosm_lag_s=30.0))
    for e in [*(e for e in envs if e.kind != "plot"), *plots[:1], *plots[2:], held]:
        trk.push(e)
    trk.flush()
    assert trk.stats["initiated"] == 1
    assert trk.rejected["older_than_track"] == 1
    assert trk.rejected["too_late"] == 0


def test_track_history_is_left_alone_by_the_cycle_collector(scen: Any) -> None:
    """Issue 17: a dense air picture keeps ~10 s of history for every track
    (hundreds of thousands of entries). Kept as objects, every full pass of
    Python's cycle collector walked them all (pauses of ~0.3 s every second
    or two in the stage process at 20,000 plots/s); kept as plain tuples of
    numbers, strings and arrays, the collector untracks them."""
    truth = scen.ncv_truth(3, seed=4)
    radars = [scen.Radar("JP-R1", 37.0, 132.5), scen.Radar("KR-R1", 38.0, 133.5, offset=0.5)]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 12.0, radars, seed=2)
    trk = Tracker(TrackerConfig())
    for e in envs:
        trk.push(e)
    trk.flush()
    gc.collect()
    gc.collect()  # (a tuple is untracked once what it holds is: inner ones first)
    hist = [h for t in trk.tracks for h in t.hist]
    assert len(hist) >= 20
    assert not any(gc.is_tracked(h) or gc.is_tracked(h[0]) for h in hist)
    # late reports still work from it (the history is what they re-filter into)
    assert all(isinstance(h[0][REC_T], float) for h in hist)
