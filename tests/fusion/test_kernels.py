"""The batched filter kernels against their textbook forms (explicit loops,
``numpy.linalg``): closed-form small inverses, IMM mixing as matrix products,
NCV prediction by blocks."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.fusion.filters import imm_mix, inv_det
from tocsin.fusion.models import ncv_predict, ncv_predict_cov, white_accel_q


def _spd(rng: np.random.Generator, n: int, m: int, scales: np.ndarray) -> np.ndarray:
    a = rng.normal(size=(n, m, m)) * scales[None, :, None]
    return a @ np.transpose(a, (0, 2, 1)) + np.diag(scales**2 * 0.1)[None]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_inv_det_matches_linalg_on_badly_scaled_matrices(m: int) -> None:
    # radar-like scaling: metres next to radians (1e4 apart)
    rng = np.random.default_rng(m)
    scales = np.array([50.0, 2e-3, 2e-3, 10.0])[:m]
    s = _spd(rng, 200, m, scales)
    inv, det = inv_det(s)
    np.testing.assert_allclose(det, np.linalg.det(s), rtol=1e-9)
    ref = np.linalg.inv(s)
    # relative to each element's scale 1 / (s_i s_j)
    norm = 1.0 / np.sqrt(np.einsum("nii->ni", s)[:, :, None] * np.einsum("nii->ni", s)[:, None, :])
    assert np.max(np.abs(inv - ref) / norm) < 1e-8


def test_imm_mix_matches_the_textbook_sums() -> None:
    rng = np.random.default_rng(1)
    n = 40
    x = rng.normal(size=(n, 2, 6)) * 300.0
    p = _spd(rng, 2 * n, 6, np.full(6, 40.0)).reshape(n, 2, 6, 6)
    mu = rng.random((n, 2))
    mu /= mu.sum(axis=1, keepdims=True)
    dt = rng.uniform(0.1, 5.0, n)
    x0, p0, cbar = imm_mix(x, p, mu, dt, 300.0, 20.0)
    for k in range(n):
        p01, p10 = 1.0 - np.exp(-dt[k] / 300.0), 1.0 - np.exp(-dt[k] / 20.0)
        tr = np.array([[1.0 - p01, p01], [p10, 1.0 - p10]])
        c = mu[k] @ tr
        np.testing.assert_allclose(cbar[k], c, rtol=1e-12)
        for j in range(2):
            w = mu[k] * tr[:, j] / c[j]
            xr = w @ x[k]
            pr = sum(w[i] * (p[k, i] + np.outer(x[k, i] - xr, x[k, i] - xr)) for i in range(2))
            np.testing.assert_allclose(x0[k, j], xr, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(p0[k, j], pr, rtol=1e-10, atol=1e-8)


def test_ncv_prediction_by_blocks_equals_f_p_ft_plus_q() -> None:
    rng = np.random.default_rng(2)
    n = 50
    x = rng.normal(size=(n, 6)) * 1e3
    p = _spd(rng, n, 6, np.array([100.0, 100.0, 100.0, 10.0, 10.0, 10.0]))
    dt = rng.uniform(-2.0, 5.0, n)  # negative steps too (retrodiction)
    q = rng.uniform(0.1, 400.0, n)
    xp, pp = ncv_predict_cov(x, p, dt, q)
    xr, f = ncv_predict(x, dt)
    pr = f @ p @ np.transpose(f, (0, 2, 1)) + white_accel_q(dt, q)
    np.testing.assert_array_equal(xp, xr)
    np.testing.assert_allclose(pp, pr, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(pp, np.transpose(pp, (0, 2, 1)))
