"""A radar scan in which only some plots carry a range rate (clutter without
one) is tracked on range, azimuth and elevation alone, with tracks alive."""

from __future__ import annotations

from typing import Any

from tocsin.fusion import Tracker
from tocsin.wire import PlotBody, TrackBody


def test_scans_mixing_plots_with_and_without_range_rate_are_tracked(scen: Any) -> None:
    truth = scen.ncv_truth(3, seed=7)
    radars = [scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5, sigma_rr=1.0)]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 40.0, radars, clutter=2.0, seed=3)
    plots = [e.body for e in envs if isinstance(e.body, PlotBody)]
    assert any(p.rr_mps is None for p in plots)
    assert any(p.rr_mps is not None for p in plots)
    trk = Tracker()
    out = trk.push_many(envs)
    bodies = [e.body for e in out if isinstance(e.body, TrackBody)]
    confirmed = {b.id for b in bodies if b.status == "confirmed"}
    assert len(confirmed) == 3
    assert not trk.rejected
