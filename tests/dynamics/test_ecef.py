"""The shared compiled equation of motion (:mod:`tocsin.dynamics.ecef`) is the
numpy physics reference (:func:`tocsin.dynamics.forces.state_derivative`)
operation for operation: without drag bit for bit (the warning's fly-outs are
held to their numpy loop with ``==``), with drag to the last bits of the
density's ``exp``."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.dynamics import ecef
from tocsin.dynamics.forces import approx_altitude, state_derivative
from tocsin.geo.wgs84 import geodetic_to_ecef


def _states(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-89.0, 89.0, n)
    lon = rng.uniform(-180.0, 180.0, n)
    h = rng.choice([0.0, 5e3, 40e3, 85e3, 300e3, 1200e3, 6000e3], n) + rng.uniform(0.0, 3e3, n)
    pos = np.stack([geodetic_to_ecef(a, o, z) for a, o, z in zip(lat, lon, h, strict=True)])
    vel = rng.normal(size=(n, 3)) * rng.choice([300.0, 3000.0, 7000.0], (n, 1))
    return np.concatenate([pos, vel], axis=1)


def test_drag_free_derivative_is_the_numpy_reference_bit_for_bit() -> None:
    x = _states(400, 1)
    want = state_derivative(x)
    got = np.empty_like(x)
    for i in range(x.shape[0]):
        ecef.deriv(x[i], np.nan, got[i])
    assert np.array_equal(got, want)
    # inf: no drag either
    ecef.deriv(x[0], np.inf, got[0])
    assert np.array_equal(got[0], want[0])


@pytest.mark.parametrize("beta", [800.0, 5000.0, 20000.0])
def test_derivative_with_drag_matches_the_numpy_reference(beta: float) -> None:
    x = _states(400, 2)
    want = state_derivative(x, beta)
    got = np.empty_like(x)
    for i in range(x.shape[0]):
        ecef.deriv(x[i], beta, got[i])
        assert ecef.height(*x[i, :3]) == approx_altitude(x[i, :3])
    drag = want[:, 3:] - state_derivative(x)[:, 3:]
    assert np.abs(drag).max() > 1.0  # some rows are low and fast
    assert np.allclose(got, want, rtol=1e-14, atol=1e-12)
