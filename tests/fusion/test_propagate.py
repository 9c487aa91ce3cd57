"""The tracker's fast propagator against tocsin.dynamics (the reference)."""

from __future__ import annotations

import numpy as np
from conftest import srbm_trajectory

from tocsin.dynamics.flight import propagate, propagate_to_ground
from tocsin.fusion.propagate import propagate as fast_propagate
from tocsin.fusion.propagate import to_ground


def test_to_ground_matches_the_reference_integrator() -> None:
    tr = srbm_trajectory()
    i = int(np.searchsorted(tr.t, tr.burnout_t)) + 10
    x = tr.x[i] + np.zeros((5, 1))
    x[:, 3] += np.linspace(-20.0, 20.0, 5)
    d_ref, g_ref = propagate_to_ground(x, beta=tr.beta, step=1.0)
    d, g = to_ground(x, tr.beta)
    assert np.all(np.abs(d - d_ref) < 0.05)
    assert np.all(np.linalg.norm(g[:, :3] - g_ref[:, :3], axis=1) < 100.0)
    # backwards to the ground and a state that never comes down
    d_b, _ = to_ground(x[:1], tr.beta, direction=-1)
    assert 0.0 < float(d_b[0]) < tr.t[i]
    orbit = np.array([[7.0e6, 0.0, 0.0, 0.0, 7546.0 - 7.292115e-5 * 7.0e6, 0.0]])
    d_o, _ = to_ground(orbit, None, max_time=3000.0)
    assert np.isnan(d_o[0])


def test_fixed_step_propagation_matches() -> None:
    x = np.array([[-3.0e6, 4.0e6, 4.2e6, 1500.0, 2000.0, 500.0]])
    np.testing.assert_allclose(
        fast_propagate(x, 100.0, None), propagate(x, 100.0, beta=None), rtol=0, atol=1e-3
    )


def test_taylor_step_matches_rk4_for_scan_intervals() -> None:
    from tocsin.fusion.models import ballistic_predict
    from tocsin.fusion.propagate import height

    tr = srbm_trajectory()
    x = tr.x[::5]
    x = x[height(x[:, :3]) > 10_000.0]
    dt = np.full(len(x), 1.0)
    ref, phi_ref = ballistic_predict(x, dt, beta=tr.beta, taylor_max_s=0.0)
    got, phi = ballistic_predict(x, dt, beta=tr.beta)
    assert np.abs(got - ref)[:, :3].max() < 0.05
    assert np.abs(got - ref)[:, 3:].max() < 0.1
    np.testing.assert_allclose(phi, phi_ref, atol=1e-9)
