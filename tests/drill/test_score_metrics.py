"""Pure tracking metrics: GOSPA by hand and by its axioms, RMSE, continuity,
ellipse containment, interpolation."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tocsin.drill.metrics import (
    distance_matrix,
    ellipse_contains,
    gospa,
    hermite_positions,
    label_continuity,
    rmse,
    value_at_times,
)

# --- GOSPA: hand-computed cases -------------------------------------------------------


def test_gospa_empty_sets() -> None:
    r = gospa(np.zeros((0, 2)), np.zeros((0, 2)), c=10.0)
    assert r.distance == 0.0
    assert (r.n_missed, r.n_false) == (0, 0)


def test_gospa_only_missed_and_only_false() -> None:
    # 3 truths, no estimates: (3 * c^p / 2)^(1/p) = sqrt(3 * 50) with c=10, p=2
    r = gospa([[0, 0], [1, 1], [5, 5]], np.zeros((0, 2)), c=10.0, p=2.0)
    assert r.distance == pytest.approx(math.sqrt(150.0))
    assert r.missed == pytest.approx(150.0)
    assert (r.n_missed, r.n_false, r.false, r.localisation) == (3, 0, 0.0, 0.0)
    r = gospa(np.zeros((0, 2)), [[0, 0], [1, 1]], c=10.0, p=1.0)
    assert r.distance == pytest.approx(10.0)  # 2 * c / 2
    assert (r.n_missed, r.n_false) == (0, 2)


def test_gospa_hand_case() -> None:
    # truths at (0,0) and (100,0); estimates at (3,4) (d=5 to the first) and
    # (1000,0) (900 from the second, beyond c=50): one pair d=5, one miss, one false.
    truth = [[0.0, 0.0], [100.0, 0.0]]
    est = [[3.0, 4.0], [1000.0, 0.0]]
    r = gospa(truth, est, c=50.0, p=2.0)
    assert r.localisation == pytest.approx(25.0)
    assert r.missed == pytest.approx(1250.0)
    assert r.false == pytest.approx(1250.0)
    assert r.distance == pytest.approx(math.sqrt(25.0 + 2500.0))
    assert r.assign.tolist() == [0, -1]
    assert r.pair_dist[0] == pytest.approx(5.0)
    assert math.isnan(r.pair_dist[1])


def test_gospa_prefers_the_optimal_assignment() -> None:
    # greedy takes the closest pair first, truth 0 - estimate 0 (d=1), leaving
    # truth 1 - estimate 1 (d=12): 1 + 144 = 145; the optimum pairs 0-1 (d=2) and
    # 1-0 (d=9): 4 + 81 = 85.
    truth = [[0.0], [10.0]]
    est = [[1.0], [-2.0]]
    r = gospa(truth, est, c=100.0, p=2.0)
    assert r.distance == pytest.approx(math.sqrt(85.0))
    assert r.assign.tolist() == [1, 0]


def test_gospa_pair_beyond_cutoff_costs_one_miss_one_false() -> None:
    r = gospa([[0.0, 0.0, 0.0]], [[0.0, 0.0, 20.0]], c=10.0, p=2.0)
    assert (r.n_missed, r.n_false) == (1, 1)
    assert r.distance == pytest.approx(10.0)  # (50 + 50)^(1/2)


def test_gospa_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="c > 0"):
        gospa([[0.0]], [[0.0]], c=0.0)
    with pytest.raises(ValueError, match="p >= 1"):
        gospa([[0.0]], [[0.0]], c=1.0, p=0.5)


# --- GOSPA: metric axioms on random sets --------------------------------------------

_set = arrays(
    np.float64,
    st.tuples(st.integers(0, 5), st.just(2)),
    elements=st.floats(-50, 50, allow_nan=False, width=32),
)


@settings(max_examples=150, deadline=None)
@given(x=_set, y=_set, z=_set, c=st.floats(0.5, 40.0), p=st.sampled_from([1.0, 2.0, 3.0]))
def test_gospa_is_a_metric(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: float, p: float) -> None:
    dxy = gospa(x, y, c, p).distance
    assert dxy == pytest.approx(gospa(y, x, c, p).distance, rel=1e-9, abs=1e-9)
    assert gospa(x, x, c, p).distance == pytest.approx(0.0, abs=1e-9)
    assert gospa(x, x[::-1], c, p).distance == pytest.approx(0.0, abs=1e-9)
    dxz = gospa(x, z, c, p).distance
    dzy = gospa(z, y, c, p).distance
    assert dxy <= dxz + dzy + 1e-7 * (1 + dxy)
    # bounded by all-missed-all-false
    assert dxy <= ((len(x) + len(y)) * c**p / 2) ** (1 / p) + 1e-9
    # decomposition sums to the distance
    r = gospa(x, y, c, p)
    assert r.localisation + r.missed + r.false == pytest.approx(r.distance**p, rel=1e-9, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(x=_set, y=_set)
def test_gospa_identity_of_indiscernibles(x: np.ndarray, y: np.ndarray) -> None:
    d = gospa(x, y, 10.0, 2.0).distance
    same = len(x) == len(y) and np.array_equal(x[np.lexsort(x.T)], y[np.lexsort(y.T)])
    assert (d == 0.0) == same


def test_gospa_matches_stonesoup() -> None:
    pytest.importorskip("stonesoup")
    from stonesoup.metricgenerator.ospametric import GOSPAMetric
    from stonesoup.types.state import State

    rng = np.random.default_rng(7)
    when = datetime(2026, 1, 1)
    metric = GOSPAMetric(c=30.0, p=2.0)
    for case in range(12):
        n, m = int(rng.integers(0, 7)), int(rng.integers(0, 7))
        truth = rng.uniform(-60, 60, size=(n, 3))
        est = truth[: min(n, m)] + rng.normal(0, 15, size=(min(n, m), 3))
        est = np.vstack([est, rng.uniform(-60, 60, size=(m - min(n, m), 3))])
        ss_t = [State(t.reshape(3, 1), timestamp=when + timedelta(seconds=case)) for t in truth]
        ss_e = [State(e.reshape(3, 1), timestamp=when + timedelta(seconds=case)) for e in est]
        if not ss_t and not ss_e:
            continue
        ref, _ = metric.compute_gospa_metric(ss_e, ss_t)
        ours = gospa(truth, est, c=30.0, p=2.0)
        assert ours.distance == pytest.approx(ref.value["distance"], rel=1e-9, abs=1e-9)
        assert ours.localisation == pytest.approx(ref.value["localisation"], rel=1e-9, abs=1e-6)
        assert ours.missed == pytest.approx(ref.value["missed"], rel=1e-9, abs=1e-9)
        assert ours.false == pytest.approx(ref.value["false"], rel=1e-9, abs=1e-9)


def test_distance_matrix_shape_and_values() -> None:
    d = distance_matrix([[0, 0, 0], [1, 0, 0]], [[0, 3, 4]])
    assert d.shape == (2, 1)
    assert d[0, 0] == pytest.approx(5.0)
    assert distance_matrix(np.zeros((0, 3)), [[1, 2, 3]]).shape == (0, 1)


# --- RMSE and continuity --------------------------------------------------------------


def test_rmse_on_synthetic_errors() -> None:
    rng = np.random.default_rng(1)
    sigma = 30.0
    err = np.linalg.norm(rng.normal(0, sigma, size=(200_000, 3)), axis=1)
    # E|e|^2 = 3 sigma^2 for isotropic Gaussian errors
    assert rmse(err) == pytest.approx(math.sqrt(3) * sigma, rel=0.01)
    assert rmse([3.0, 4.0, np.nan]) == pytest.approx(math.sqrt(12.5))
    assert math.isnan(rmse([]))


def test_label_continuity_breaks_and_switches() -> None:
    ex = [True] * 8 + [False]
    labels = [-1, 3, 3, -1, 3, 5, 5, 5, -1]
    s = label_continuity(labels, ex)
    # tracked at 2, untracked at 3 while existing: 1 break; the end (object gone) is no break
    assert s.breaks == 1
    assert s.id_switches == 1  # 3 -> 5
    assert s.tracked_fraction == pytest.approx(6 / 8)
    # a change hidden behind a gap still counts as a switch
    s2 = label_continuity([1, -1, 2], [True, True, True])
    assert (s2.breaks, s2.id_switches) == (1, 1)
    s3 = label_continuity([1, 1, 1], [True, True, True])
    assert (s3.breaks, s3.id_switches, s3.tracked_fraction) == (0, 0, 1.0)


# --- ellipse containment --------------------------------------------------------------


def test_ellipse_axis_aligned_north() -> None:
    # bearing 0: major axis along north
    assert ellipse_contains(0.0, 9.9, 10.0, 2.0, 0.0)
    assert not ellipse_contains(0.0, 10.1, 10.0, 2.0, 0.0)
    assert ellipse_contains(1.9, 0.0, 10.0, 2.0, 0.0)
    assert not ellipse_contains(2.1, 0.0, 10.0, 2.0, 0.0)


def test_ellipse_bearing_is_clockwise_from_north() -> None:
    # bearing 90: major axis along east
    assert ellipse_contains(9.9, 0.0, 10.0, 2.0, 90.0)
    assert not ellipse_contains(0.0, 9.9, 10.0, 2.0, 90.0)
    # bearing 45: major axis towards north-east, not north-west
    d = 9.0 / math.sqrt(2)
    assert ellipse_contains(d, d, 10.0, 1.0, 45.0)
    assert not ellipse_contains(-d, d, 10.0, 1.0, 45.0)
    assert ellipse_contains(-d, -d, 10.0, 1.0, 225.0)
    assert ellipse_contains(-d, d, 10.0, 1.0, -45.0)


def test_ellipse_vectorised_and_degenerate() -> None:
    out = ellipse_contains([0, 0, 3], [0, 5, 0], [4, 4, 4], [1, 1, 0], [0, 0, 90])
    assert out.tolist() == [True, False, True]
    assert not ellipse_contains(0.1, 3.0, 4.0, 0.0, 90.0)


def test_ellipse_gaussian_coverage() -> None:
    # 95 % ellipse of a 2-D Gaussian holds about 95 % of its samples
    rng = np.random.default_rng(3)
    s_maj, s_min, bearing = 3000.0, 800.0, 30.0
    k = math.sqrt(-2 * math.log(0.05))  # chi2(2) 95 % radius
    u = rng.normal(0, s_maj, 100_000)
    v = rng.normal(0, s_min, 100_000)
    b = math.radians(bearing)
    east = u * math.sin(b) + v * math.cos(b)
    north = u * math.cos(b) - v * math.sin(b)
    frac = ellipse_contains(east, north, k * s_maj, k * s_min, bearing).mean()
    assert frac == pytest.approx(0.95, abs=0.005)


# --- interpolation ---------------------------------------------------------------------


def test_hermite_exact_for_constant_acceleration() -> None:
    a = np.array([1.0, -2.0, 0.5])
    v0 = np.array([100.0, 0.0, 30.0])
    t = np.array([0.0, 2.0, 5.0])
    pos = t[:, None] * v0 + 0.5 * a * t[:, None] ** 2
    vel = v0 + a * t[:, None]
    q = np.array([-1.0, 0.0, 0.7, 3.3, 5.0, 6.0])
    got = hermite_positions(t, np.hstack([pos, vel]), q)
    exp = q[:, None] * v0 + 0.5 * a * q[:, None] ** 2
    assert np.isnan(got[0]).all()
    assert np.isnan(got[-1]).all()
    np.testing.assert_allclose(got[1:-1], exp[1:-1], rtol=1e-12, atol=1e-9)


def test_value_at_times() -> None:
    out = value_at_times([0.0, 10.0], [1.0, 2.0], [-1.0, 0.0, 5.0, 10.0, 99.0])
    assert np.isnan(out[0])
    assert out[1:].tolist() == [1.0, 1.0, 2.0, 2.0]
