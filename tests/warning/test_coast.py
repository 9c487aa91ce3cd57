"""The compiled fly-out (tocsin.warning.coast) is the numpy RK4, bit for bit.

The threat assessment's far flights moved from numpy steps to a compiled kernel
for speed (issue 17 (a)); its alerts must not move by a single bit, so every
state, sub-point and impact is compared with ``==``, not to a tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.dynamics.flight import propagate
from tocsin.geo.wgs84 import enu_matrix, geodetic_to_ecef
from tocsin.warning.coast import coast, steps_within
from tocsin.warning.threat import _fly_to_ground_numpy, fly_to_ground


def _states(n: int, seed: int) -> np.ndarray:
    """Missile-like states: 1-400 km up, 0.5-7.5 km/s, climbing or falling, any heading."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-60.0, 60.0, n)
    lon = rng.uniform(-180.0, 180.0, n)
    alt = rng.uniform(1_000.0, 400_000.0, n)
    r = geodetic_to_ecef(lat, lon, alt)
    out = np.empty((n, 6))
    for i in range(n):
        speed = rng.uniform(500.0, 7_500.0)
        az = rng.uniform(0.0, 2.0 * np.pi)
        el = rng.uniform(-1.2, 1.2)
        enu = speed * np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)])
        out[i, :3] = r[i]
        out[i, 3:] = enu_matrix(lat[i], lon[i]).T @ enu
    return out


def test_each_step_is_the_numpy_rk4_bit_for_bit() -> None:
    x = _states(40, 1)
    states, steps = coast(x, 10.0, 7200.0)
    y = x.copy()
    for k in range(1, 30):
        y = propagate(y, 10.0, max_step=10.0)
        for i in range(len(x)):
            if k <= steps[i]:
                assert np.array_equal(states[i, k], y[i]), (i, k)


@pytest.mark.parametrize("step", [10.0, 7.5])
def test_fly_to_ground_equals_its_numpy_reference(step: float) -> None:
    x = _states(60, 2)
    x[0, :3] *= 0.95  # below the ground: no flight
    x[1, 3:] = 12_000.0 * x[1, :3] / np.linalg.norm(x[1, :3])  # escapes: never comes down
    t0 = np.linspace(1.7e9, 1.7e9 + 59.0, len(x))
    got = fly_to_ground(x, t0, step=step, max_time=3000.0)
    ref = _fly_to_ground_numpy(x, t0, step=step, max_time=3000.0)
    assert got[0] is None
    assert got[1] is None
    assert sum(f is not None for f in got) > 40
    for g, r in zip(got, ref, strict=True):
        assert (g is None) == (r is None)
        if g is None or r is None:
            continue
        for name in ("lat", "lon", "t"):
            assert np.array_equal(getattr(g, name), getattr(r, name)), name
        assert (g.impact_t, g.impact_lat, g.impact_lon) == (r.impact_t, r.impact_lat, r.impact_lon)


def test_the_step_budget_is_the_numpy_loops() -> None:
    assert steps_within(10.0, 7200.0) == 720
    assert steps_within(10.0, 7205.0) == 721
    assert steps_within(10.0, 0.0) == 0
