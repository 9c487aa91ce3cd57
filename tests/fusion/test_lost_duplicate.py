"""A lost track on the piece a sibling now holds testifies to nothing (issue 16).

Monte Carlo seed 1 MRBM #192 (biased radars): two tracks were on the re-entry
vehicle after the stage parted, sharing its plots scan by scan; the first,
told ``rv``, lost them to the second and was lost 58 m from the vehicle. As
a lost sibling in no clear order with the second it kept that track, clearly
ahead of every sibling a sensor held, a ``stage`` (a stage's drag prior on
the re-entry vehicle) from t+143 s until it was re-acquired on the stage at
t+160 s. A lost stack *ahead* must still block ``rv`` (SLV #90: a stage-2
track told ``rv`` past its stack, lost in the insertion burn): what tells
the two apart is where the lost track's last plots came from
(:func:`tocsin.fusion.separation.same_piece`): a radar gives one plot of a
piece per scan, so two tracks on two pieces it sees take plots of the same
scans, and two on one piece share its scans out between them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import bare_track

from tocsin.fusion import Tracker, TrackerConfig, separation
from tocsin.fusion.measurements import LOS, RADAR, Meas

X = np.array([-3.0e6, 4.0e6, 3.8e6, 1000.0, 500.0, 800.0])


def _rec(t: float, sensor: str, kind: int = RADAR) -> tuple[Any, ...]:
    """A plot's record (range, azimuth, elevation from a site 500 km off)."""
    site = X[:3] * (1.0 - 5e5 / float(np.linalg.norm(X[:3])))
    return (t, kind, np.array([5e5, 0.0, 0.0]), np.diag([100.0, 1e-6, 1e-6]), site, np.eye(3), sensor)


def _two(
    a_plots: list[tuple[float, str]], b_plots: list[tuple[float, str]], kind: int = RADAR
) -> tuple[Any, Any]:
    """Two separated siblings with those plots (time, sensor) in their
    histories; each was last updated by its last plot."""
    a = bare_track(X, t=300.0, cls="ballistic", phase="ballistic", burnt_out=True)
    b = bare_track(X, t=300.0, cls="ballistic", phase="ballistic", burnt_out=True)
    b.key = 2
    for tr, plots, other in ((a, a_plots, b), (b, b_plots, a)):
        tr.separated, tr.status, tr.siblings = True, "confirmed", {other.key}
        tr.hist = [(_rec(t, s, kind), tr.snapshot()) for t, s in plots]
        tr.last_update = max(t for t, _ in plots)
    return a, b


SHARED = [(290.0, "JP-R1"), (292.0, "JP-R1")], [(289.0, "JP-R1"), (291.0, "JP-R1"), (293.0, "JP-R1")]


@pytest.mark.parametrize(
    "case", ["shared", "codetected", "lines-of-sight", "one-after-the-other", "not-since"]
)
def test_a_track_whose_plots_a_sibling_shared_out_scan_by_scan_was_on_its_piece(case: str) -> None:
    a_plots, b_plots = SHARED
    kind = RADAR
    if case == "codetected":  # a plot of each in one scan: two pieces
        b_plots = [*b_plots, (292.0, "JP-R1")]
    elif case == "lines-of-sight":  # space infrared: the one stack's by turns
        kind = LOS
    elif case == "one-after-the-other":  # the radar's plots went to b only once a had none
        b_plots = [(293.0, "JP-R1"), (295.0, "JP-R1")]
    elif case == "not-since":  # b took none after a's last: no one holds the piece
        b_plots = [(289.0, "JP-R1"), (291.0, "JP-R1")]
    a, b = _two(a_plots, b_plots, kind)
    got = separation.same_piece(a, {1: a, 2: b})
    assert got == (2 if case == "shared" else None), case


@pytest.mark.parametrize("same", [None, "the-track", "unknown-key", "coasting"])
def test_a_lost_duplicate_beside_a_track_does_not_keep_it_from_rv(same: str | None) -> None:
    """``a`` 500 m ahead of ``b`` (held, clearly behind), ``c`` lost 30 m
    ahead of ``a`` (no clear order) and told ``rv``: ``c`` keeps ``a`` from
    ``rv`` unless its last plots were those of the piece ``a`` now holds."""
    from test_separation_roles import _pair

    a, b = _pair(500.0, t=300.0, role_a=None)
    c, _ = _pair(0.0, t=300.0, role_a=None)
    c.key = 3  # type: ignore[attr-defined]
    c.x[:, :3] = a.x[:, :3] + 30.0 * a.part_dir  # type: ignore[attr-defined]
    for tr, sibs in ((a, {2, 3}), (b, {1, 3}), (c, {1, 2})):
        tr.siblings = sibs  # type: ignore[attr-defined]
    c.status = "coasting" if same == "coasting" else "lost"  # type: ignore[attr-defined]
    c.role = c.told = "rv"  # type: ignore[attr-defined]
    c.same_piece = {None: None, "unknown-key": 99}.get(same, 1)  # type: ignore[arg-type, attr-defined]
    cfg = TrackerConfig()
    assert separation.behind(a, c, cfg.role_sigmas, cfg.role_min_m) is None  # type: ignore[arg-type]
    separation.decide_roles([a, b, c], cfg.role_sigmas, cfg.role_min_m, cfg.role_mass)  # type: ignore[list-item]
    if same == "the-track":
        assert (a.role, b.role) == ("rv", "stage"), "a lost duplicate of the track kept it from rv"  # type: ignore[attr-defined]
    else:
        assert (a.role, b.role) == (None, "stage"), same  # type: ignore[attr-defined]
    assert c.role == "rv"  # type: ignore[attr-defined]  # (a lost track is not told)


def test_the_lifecycle_notes_the_piece_when_a_track_stops_and_forgets_it_when_updated() -> None:
    trk = Tracker()
    life = trk._life
    a, b = _two(*SHARED)
    a.t, b.t = 296.0, 296.0  # (their states at the tick: no prediction)
    a.last_arrival, b.last_arrival = 292.0, 295.5
    b.last_update = 295.5
    life.tracks = {1: a, 2: b}
    life.housekeeping(294.0, 294.0)  # 2 s since a's last plot: still confirmed
    assert (a.status, a.same_piece) == ("confirmed", None)
    life.housekeeping(296.0, 296.0)  # 4 s: coasting, b took its piece's plots
    assert (a.status, a.same_piece) == ("coasting", 2)
    assert (b.status, b.same_piece) == ("confirmed", None)
    m = Meas(296.5, RADAR, np.zeros(3), np.eye(3), X[:3], np.eye(3), "JP-R1", "JP", 297.0)
    life.updated([a], [m], 286.5, set())
    assert (a.status, a.same_piece) == ("confirmed", None)
