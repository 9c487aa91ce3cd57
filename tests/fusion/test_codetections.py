"""The plots that started a track count for a co-detection (issue 16).

Lofted ICBM, MC seed 1 index 40: after stage 1 parted, the stack's tentative
tracks were started by KR-R3 plots of the very scans in which KR-R3 updated
the stage's track, and then updated by lines of sight only; their histories
held no KR-R3 plot, the co-detection test counted none, and each was
suppressed as the stage track's duplicate (three in 8 s): the re-entry
vehicle had no track for 16 s. A track's first two plots update nothing, but
they are its plots: ``Track.born`` (``separation.codetections``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import bare_track

from tocsin.fusion import Tracker, separation
from tocsin.fusion.measurements import LOS, RADAR

X = np.array([-3.0e6, 4.0e6, 3.8e6, 1000.0, 500.0, 800.0])


def _rec(t: float, sensor: str, kind: int = RADAR) -> tuple[Any, ...]:
    return (t, kind, None, None, None, None, sensor)


def test_a_track_started_by_a_plot_of_a_scan_that_updated_another_is_codetected() -> None:
    stage = bare_track(X, t=124.7)
    stage.hist = [(_rec(120.7, "KR-R3"), stage.snapshot()), (_rec(122.7, "KR-R3"), stage.snapshot())]
    stack = bare_track(X, t=124.7)
    stack.hist = [(_rec(t, "US-S1", LOS), stack.snapshot()) for t in (123.9, 124.7)]
    assert separation.codetections(stack, stage) == 0
    stack.born = (("KR-R3", 118.7), ("KR-R3", 120.7))
    assert separation.codetections(stack, stage) == 1
    assert separation.codetections(stage, stack) == 1
    stage.born = (("KR-R3", 118.7), ("KR-R3", 122.7))  # born in one scan too
    assert separation.codetections(stack, stage) == 2


def test_the_initiation_records_the_plots_that_started_the_track() -> None:
    from tocsin.fusion.measurements import Meas

    trk = Tracker()
    site = np.array([-3.1e6, 4.1e6, 3.7e6])
    a = Meas(0.0, RADAR, np.array([0.0]), np.eye(1), site, np.eye(3), "KR-R3", "KR", 0.5)
    b = Meas(2.0, RADAR, np.array([0.0]), np.eye(1), site, np.eye(3), "KR-R3", "KR", 2.5)
    p0 = np.array([-3.0e6, 4.0e6, 3.8e6])
    cov = np.eye(3) * 100.0
    assert trk._init.initiate([a], 0.0, (p0[None], cov[None])) == []
    (tr,) = trk._init.initiate([b], 2.0, ((p0 + np.array([2000.0, 0.0, 0.0]))[None], cov[None]))
    assert tr.born == (("KR-R3", 0.0), ("KR-R3", 2.0))
    assert not tr.hist
