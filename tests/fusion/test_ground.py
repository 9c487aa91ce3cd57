"""The compiled ground propagator against the numpy reference."""

from __future__ import annotations

import numpy as np

from tocsin.dynamics.flight import solve_trajectory
from tocsin.fusion import ground
from tocsin.fusion.propagate import to_ground


def test_compiled_propagation_to_the_ground_matches_the_reference() -> None:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class="MRBM", dt=1.0)
    rng = np.random.default_rng(0)
    t = tr.burnout_t + rng.uniform(10.0, tr.flight_time_s - tr.burnout_t - 60.0, 12)
    x = tr.state_at(t) + rng.normal(size=(12, 6)) * np.array([100.0] * 3 + [5.0] * 3)
    for beta in (None, 5000.0, 300.0, 30.0):
        dt_ref, xg_ref = np.empty(12), np.empty((12, 6))
        for i in range(12):  # one row at a time: the reference's steps suit that row
            d, g = to_ground(x[i : i + 1], beta, direction=+1, max_time=7200.0)
            dt_ref[i], xg_ref[i] = d[0], g[0]
        dt, xg, _ = ground.to_ground(x, beta)
        np.testing.assert_allclose(dt, dt_ref, atol=0.05)
        assert float(np.max(np.linalg.norm(xg[:, :3] - xg_ref[:, :3], axis=1))) < 20.0


def test_per_row_ballistic_coefficients_and_the_sampled_path() -> None:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class="SRBM", dt=1.0)
    x = np.repeat(tr.state_at(np.array([tr.burnout_t + 30.0])), 3, axis=0)
    dt, xg, samples = ground.to_ground(x, np.array([2000.0, 5000.0, 8000.0]), sample_row=1)
    # less drag, further and sooner
    assert dt[0] > dt[1] > dt[2]
    assert samples
    assert samples[-1][0] >= dt[1]
    el = [s[0] for s in samples]
    assert el == sorted(el)
    d1, g1, _ = ground.to_ground(x[1:2], 5000.0)
    assert abs(d1[0] - dt[1]) < 1e-9
    np.testing.assert_allclose(g1[0], xg[1])
