"""Ballistic-coefficient classes: seeded log-uniform draws inside each documented
range, and the minimum-energy range that picks a flight's class, checked against
a brute-force search over burnout angles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tocsin.dynamics.beta import (
    BETA_RANGES,
    RV_CLASSES,
    _kepler_speed,
    draw_beta,
    equivalent_range_m,
    rv_class,
)
from tocsin.geo.wgs84 import GM, WGS84_A


@pytest.mark.parametrize("kind", sorted(BETA_RANGES))
def test_draws_fill_the_range_log_uniformly(kind: str) -> None:
    r = BETA_RANGES[kind]  # type: ignore[index]
    rng = np.random.default_rng(11)
    b = np.array([draw_beta(kind, rng) for _ in range(4000)])  # type: ignore[arg-type]
    assert b.min() >= r.lo - 0.05
    assert b.max() <= r.hi + 0.05
    # log-uniform: the log of the draws is uniform on [log lo, log hi]
    u = (np.log(b) - math.log(r.lo)) / (math.log(r.hi) - math.log(r.lo))
    assert abs(float(np.median(u)) - 0.5) < 0.03
    assert float(np.mean(u < 0.1)) == pytest.approx(0.1, abs=0.02)
    assert float(np.mean(u > 0.9)) == pytest.approx(0.1, abs=0.02)


def test_draws_are_seeded() -> None:
    a = [draw_beta("SRBM", np.random.default_rng([5, 3, 0, j])) for j in range(5)]
    b = [draw_beta("SRBM", np.random.default_rng([5, 3, 0, j])) for j in range(5)]
    assert a == b
    assert len(set(a)) == 5


def test_classes_overlap_upwards() -> None:
    """Re-entry classes get faster and denser: each range starts at or above the
    previous one's start, and debris < stages < re-entry vehicles."""
    los = [BETA_RANGES[k].lo for k in RV_CLASSES]
    assert los == sorted(los)
    assert BETA_RANGES["debris"].hi <= BETA_RANGES["stage"].hi <= BETA_RANGES["SRBM"].lo


def _vacuum_range(v: float, gamma: float) -> float:
    """Ground range of a vacuum Kepler arc from the surface (spherical Earth)."""
    r0 = WGS84_A
    h = r0 * v * math.cos(gamma)
    p = h * h / GM
    e_cos = p / r0 - 1.0
    e_sin = p * math.tan(gamma) / r0
    nu0 = math.atan2(e_sin, e_cos)  # true anomaly at burnout (ascending)
    return 2.0 * (math.pi - nu0) * r0


@pytest.mark.parametrize(("rng_km", "apo_km"), [(450, 90), (1300, 350), (3000, 650), (1000, 6000), (600, 50)])
def test_equivalent_range_is_the_best_angle_for_that_speed(rng_km: float, apo_km: float) -> None:
    v = _kepler_speed(rng_km * 1e3, apo_km * 1e3)
    # the arc with this speed through the requested range reaches the requested apogee
    gammas = np.linspace(0.001, math.pi / 2 - 0.001, 20001)
    ranges = np.array([_vacuum_range(v, g) for g in gammas])
    best = float(ranges.max())
    assert equivalent_range_m(rng_km * 1e3, apo_km * 1e3) == pytest.approx(best, rel=1e-4)
    assert best >= rng_km * 1e3 * (1 - 1e-6)


def test_classes_by_equivalent_range() -> None:
    assert rv_class(450e3, 90e3) == "SRBM"
    assert rv_class(600e3, 50e3) == "SRBM"  # depressed: still an SRBM's speed
    assert rv_class(1300e3, 350e3) == "MRBM"
    assert rv_class(3700e3, 770e3) == "IRBM"
    assert rv_class(1000e3, 6000e3) == "ICBM"  # lofted
    assert rv_class(950e3, 4475e3) == "ICBM"
    assert rv_class(787e3, 2111.5e3) == "IRBM"  # the lofted Hwasong-12 of 2017-05-14
