"""Issue 16: two pieces that parted at a few m/s (a re-entry vehicle and its
spent last stage) fly a few hundred metres apart; the two tracks on them can
become blends of both pieces' plots whose filters are sure of a wrong state
(Monte Carlo ICBM-lofted seed 1 index 5: 4-6 m/s off with a 0.3-m/s sigma).
The truth then lies between the sibling tracks: a separated track's impact
ellipse carries half their difference (``separation.ambiguity``)."""

from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

from tocsin.fusion import TrackerConfig
from tocsin.fusion.ballistic import Ballistic
from tocsin.fusion.impact import Impact, predict_impact
from tocsin.fusion.track import Track
from tocsin.geo import enu_matrix, geodetic_to_ecef, great_circle_distance

V3 = tuple[float, float, float]


def _state(dpos_enu: V3 = (0.0, 0.0, 0.0), dvel_enu: V3 = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A re-entry vehicle climbing through 600 km over the Sea of Japan,
    ~1,500 km from its impact, with offsets in the local east-north-up frame."""
    lat, lon = 40.0, 131.0
    rot = enu_matrix(lat, lon)
    pos = geodetic_to_ecef(lat, lon, 600e3) + rot.T @ np.array(dpos_enu, dtype=float)
    vel = rot.T @ (np.array([3000.0, 500.0, 1500.0]) + np.array(dvel_enu, dtype=float))
    return np.concatenate([pos, vel])


def _track(key: int, x: np.ndarray, siblings: set[int]) -> Track:
    p = np.diag([25.0**2] * 3 + [0.3**2] * 3)
    return Track(
        key=key,
        x=np.stack([x, x]),
        p=np.stack([p, p]),
        mu=np.array([0.999, 0.001]),
        t=1_800_000_000.0,
        created=1_800_000_000.0 - 300.0,
        window=deque([1] * 10),
        sources={"JP-S1", "JP-S2"},
        partners=set(),
        status="confirmed",
        cls="ballistic",
        phase="ballistic",
        burnt_out=True,
        burnout_t=1_800_000_000.0 - 100.0,
        coast_seen=True,  # its own plots have shown it coasting (Ballistic.predictions)
        separated=True,
        siblings=siblings,
        role="rv",
        told="rv",  # told by the geometry: the bank's prior (Track.told)
        last_update=1_800_000_000.0,
    )


def _impact(tracks: dict[int, Track], key: int) -> Impact:
    bal = Ballistic(TrackerConfig(), Counter())
    bal.tracks = tracks
    tr = tracks[key]
    bal.predictions(tr)
    assert tr.impact is not None
    return tr.impact


def _d2(imp: Impact, lat: float, lon: float) -> float:
    """The truth's squared distance in the ellipse's own units (<= imp.scale: inside)."""
    e, n = _en(imp, lat, lon)
    ve, cen, vn = imp.cov_en
    c = np.array([[ve, cen], [cen, vn]])
    d = np.array([e, n])
    return float(d @ np.linalg.solve(c, d))


def _en(imp: Impact, lat: float, lon: float) -> tuple[float, float]:
    rot = enu_matrix(imp.lat, imp.lon)
    d = rot @ (geodetic_to_ecef(lat, lon, 0.0) - geodetic_to_ecef(imp.lat, imp.lon, 0.0))
    return float(d[0]), float(d[1])


def test_blended_siblings_carry_their_difference_to_the_impact() -> None:
    # the truth between two blended tracks, each 200 m and 4 m/s off it
    truth = _state()
    a = _state((150.0, -100.0, 80.0), (2.0, -3.0, 1.5))
    b = _state((-150.0, 100.0, -80.0), (-2.0, 3.0, -1.5))
    tru = predict_impact(truth, np.diag([1.0] * 3 + [1e-4] * 3), 0.0, beta=None)
    assert tru is not None
    alone = _impact({1: _track(1, a, set())}, 1)
    pair = _impact({1: _track(1, a, {2}), 2: _track(2, b, {1})}, 1)
    err = great_circle_distance(alone.lat, alone.lon, tru.lat, tru.lon)
    # the blend alone: sure and wrong
    assert _d2(alone, tru.lat, tru.lon) > 3 * alone.scale, (_d2(alone, tru.lat, tru.lon), err)
    # with its sibling: the truth is inside, and the ellipse is not absurdly wide
    assert _d2(pair, tru.lat, tru.lon) <= pair.scale, (pair.semi_major_m, err)
    assert pair.semi_major_m < 10 * err


def test_siblings_lost_together_stay_ambiguous_as_they_drift_apart() -> None:
    # both unseen for 40 minutes of midcourse: now 40 km apart in prediction,
    # but 200 m apart when the last plots came (they may have swapped plots then)
    a = _state()
    far = _state((0.0, 0.0, 40e3), (-16.0, 0.0, 0.0))
    t_a, t_b = _track(1, a, {2}), _track(2, far, {1})
    for tr in (t_a, t_b):
        tr.last_update = tr.t - 2_400.0
        tr.status = "lost"
    alone = _impact({1: _track(1, a, set())}, 1)
    lost = _impact({1: t_a, 2: t_b}, 1)
    assert lost.semi_major_m > 1.5 * alone.semi_major_m
    # the same two seen now: 40 km apart, not each other's plots
    seen = _impact({1: _track(1, a, {2}), 2: _track(2, far, {1})}, 1)
    assert math.isclose(seen.semi_major_m, alone.semi_major_m, rel_tol=1e-9)


def test_a_far_or_spent_sibling_changes_nothing() -> None:
    a = _state()
    alone = _impact({1: _track(1, a, set())}, 1)
    far = _impact({1: _track(1, a, {2}), 2: _track(2, _state((30e3, 0.0, 0.0)), {1})}, 1)
    assert math.isclose(far.semi_major_m, alone.semi_major_m, rel_tol=1e-9)
    gone = _track(2, _state((200.0, 0.0, 0.0), (2.0, 0.0, 0.0)), {1})
    gone.dead = True
    dead = _impact({1: _track(1, a, {2}), 2: gone}, 1)
    assert math.isclose(dead.semi_major_m, alone.semi_major_m, rel_tol=1e-9)
