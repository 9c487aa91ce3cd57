"""benchmarks/first_alert_bound.py: the true state it gives a boosting report
(the nearest simulated missile's, only within the distance asked, only while
that missile flies)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tocsin.wire import TrackBody

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from first_alert_bound import true_state

T0 = 1_800_000_000.0


def _truth() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ts = T0 + np.arange(0.0, 101.0)
    a = np.zeros((ts.size, 6))
    a[:, 0] = -3.0e6 + 1000.0 * (ts - T0)
    a[:, 1], a[:, 2], a[:, 3] = 4.5e6, 3.7e6, 1000.0
    b = a.copy()
    b[:, 1] += 50_000.0  # another missile, 50 km away
    return {"M1": (ts, a), "M2": (ts, b)}


def _report(t: float, offset: tuple[float, float, float]) -> TrackBody:
    x = [-3.0e6 + 1000.0 * (t - T0) + offset[0], 4.5e6 + offset[1], 3.7e6 + offset[2], 900.0, 0.0, 0.0]
    return TrackBody(id="F-1", t=t, state_ecef=x, cov=[0.0] * 36, status="confirmed", class_="ballistic")


def test_the_nearest_missile_within_reach_gives_its_state_at_the_report_time() -> None:
    truth = _truth()
    st = true_state(truth, _report(T0 + 10.5, (300.0, 2_000.0, 0.0)), 10_000.0)
    assert st is not None
    np.testing.assert_allclose(st, [-3.0e6 + 10_500.0, 4.5e6, 3.7e6, 1000.0, 0.0, 0.0])
    # nearer the second missile: its state
    st2 = true_state(truth, _report(T0 + 10.5, (0.0, 45_000.0, 0.0)), 10_000.0)
    assert st2 is not None
    assert st2[1] == 4.55e6


def test_no_true_state_beyond_the_distance_or_outside_the_flight() -> None:
    truth = _truth()
    assert true_state(truth, _report(T0 + 10.0, (0.0, 20_000.0, 0.0)), 10_000.0) is None
    # 50 s after the flights end, at the place where they ended
    assert true_state(truth, _report(T0 + 150.0, (-50_000.0, 0.0, 0.0)), 10_000.0) is None
