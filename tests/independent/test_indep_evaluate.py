"""The independent check's own figures: an object counts as tracked only with a
track of its own (one track to one object), so two pieces flying closer to
each other than the tracks' errors are not 'one tracked twice, one lost'."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from independent.evaluate import tracked_one_to_one  # noqa: E402


def _line(x0: float, vx: float):  # type: ignore[no-untyped-def]
    def states(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros((t.size, 6))
        out[:, 0] = x0 + vx * t
        out[:, 1] = 6.4e6
        out[:, 3] = vx
        return out

    return states


def test_two_close_pieces_with_two_tracks_are_both_tracked() -> None:
    # A and B fly 60 m apart; both tracks are 150-200 m off, each nearer to A
    a, b = _line(0.0, 3000.0), _line(60.0, 3000.0)
    grid = np.arange(0.0, 20.0, 1.0)
    msgs = []
    for t in np.arange(0.0, 20.0, 0.5):
        pa = a(np.array([t]))[0, :3]
        msgs.append((float(t), "confirmed", "T-1", pa + np.array([-150.0, 0.0, 0.0]), 5000.0))
        msgs.append((float(t), "confirmed", "T-2", pa + np.array([-120.0, 100.0, 0.0]), 5000.0))
    on = tracked_one_to_one(grid, msgs, [("A", 0.0, 30.0, a), ("B", 0.0, 30.0, b)])
    assert on["A"].all()
    assert on["B"].all()


def test_one_track_on_two_pieces_leaves_one_untracked() -> None:
    a, b = _line(0.0, 3000.0), _line(60.0, 3000.0)
    grid = np.arange(0.0, 20.0, 1.0)
    ts = np.arange(0.0, 20.0, 0.5)
    msgs = [(float(t), "confirmed", "T-1", a(np.array([t]))[0, :3], 5000.0) for t in ts]
    on = tracked_one_to_one(grid, msgs, [("A", 0.0, 30.0, a), ("B", 0.0, 30.0, b)])
    assert on["A"].all()
    assert not on["B"].any()


def test_stale_lost_and_out_of_gate_tracks_do_not_count() -> None:
    a = _line(0.0, 3000.0)
    grid = np.arange(0.0, 20.0, 1.0)
    msgs = [(0.0, "confirmed", "T-1", a(np.array([0.0]))[0, :3], 5000.0)]
    msgs += [(float(t), "lost", "T-1", a(np.array([t]))[0, :3], 5000.0) for t in (1.0, 2.0, 10.0)]
    msgs += [(12.0, "coasting", "T-2", a(np.array([12.0]))[0, :3] + 6000.0, 5000.0)]
    on = tracked_one_to_one(grid, msgs, [("A", 0.0, 30.0, a)], stale_s=5.0)
    assert on["A"].tolist() == [t <= 5.0 for t in grid]
