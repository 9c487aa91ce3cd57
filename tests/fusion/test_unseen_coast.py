"""A piece confirmed at a separation and not yet seen coasting may be the
stack still burning (issue 16: "zero objects lost while a sensor reports
them").

A child track is past burnout by declaration (``separation_coasts``: a piece
that parts coasts) until the burnout test's windows show its own plots
coasting (``Track.coast_seen``). When the child is the stack whose upper stage
burns -- an orbit-insertion burn after a long coast, seen by one radar, reads
to the tracker as a parting: the coasting stack's track loses the plots and
the new track on the burning stack is confirmed as its "coasting" child --
its second model must keep allowing thrust until those windows tell, not only
for ``restart_window_s``: past the window a ballistic-only model of a burning
stage loses the plots within seconds (MC SLV seed 1 index 174: five losses and
re-acquisitions of the stack's track in the 90-s burn; the payload lost while
reported for 11 s). Tested on the rule itself (:meth:`Estimator.gather
<tocsin.fusion.estimation.Estimator.gather>`): a hand-built scene of a clean
burn on one track does not tell the rule apart (the restart test finds the
motor inside the window there); #174's losses need the parent and its
children sharing one radar's plots, which only the Monte Carlo flight has."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from conftest import bare_track

from tocsin.fusion import TrackerConfig
from tocsin.fusion.estimation import Estimator
from tocsin.geo import enu_matrix, geodetic_to_ecef

LAT, LON, ALT = 27.0, 128.0, 470e3  # an upper stage coasting at ~470 km, 4.1 km/s


def test_a_piece_not_seen_coasting_keeps_thrust_in_its_second_model() -> None:
    cfg = TrackerConfig()
    x = np.concatenate(
        [geodetic_to_ecef(LAT, LON, ALT), np.array([2_900.0, -2_900.0, 0.0]) @ enu_matrix(LAT, LON)]
    )
    late = 10.0 + cfg.restart_window_s + 30.0  # well past its window

    def q1(**kw: Any) -> float:
        base: dict[str, Any] = {
            "cls": "ballistic",
            "phase": "ballistic",
            "status": "confirmed",
            "burnt_out": True,
            "burnout_t": 10.0,
            "separated": True,
            "last_fix": late,
        }
        base.update(kw)
        tr = bare_track(x, late - 0.5, **base)
        return float(Estimator(cfg, Counter()).gather([tr], late, False).q1[0])

    # not seen coasting and not told spent: thrust
    for role in (None, "rv"):
        assert q1(coast_seen=False, role=role) == cfg.q_boost, role
    # seen coasting: one model past the window (the quiet one's density)
    quiet = q1(coast_seen=True)
    assert quiet < 1.0
    # told spent (behind, left by the stack): no thrust past the window
    for role in ("stage", "debris"):
        assert q1(coast_seen=False, role=role) == quiet, role
    assert q1(coast_seen=True, role="rv") == quiet
    # within the window: thrust either way; a track not confirmed (coasting): not this rule
    assert q1(coast_seen=True, burnout_t=late - 5.0) == cfg.q_boost
    assert q1(coast_seen=False, status="coasting") != cfg.q_boost
