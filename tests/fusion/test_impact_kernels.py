"""The compiled helpers of the impact prediction (issue 17 (a): ``predict_impact``
was the tracker's costliest call) against their numpy references in
:mod:`tocsin.fusion.impact`: the mixture's 95 % scale, the process noise carried
along the predicted path, and a whole prediction with a drag bank."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.dynamics.atmosphere import DRAG_CEILING_M
from tocsin.dynamics.flight import solve_trajectory
from tocsin.fusion import drag, ground, impact
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix


@pytest.mark.parametrize("k", [2, 3, 9, 13])
def test_mixture_scale_kernel_equals_the_sorted_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(25):
        means = rng.normal(size=(k, 2)) * rng.choice([10.0, 1e3, 5e4])
        a = rng.normal(size=(k, 2, 2)) * rng.choice([5.0, 300.0, 2e4])
        covs = a @ np.transpose(a, (0, 2, 1)) + np.eye(2)[None] * 100.0
        w = rng.random(k) ** 3 + 1e-6  # some members carry almost nothing
        w /= w.sum()
        mean = w @ means
        dm = means - mean
        cov = np.einsum("k,kab->ab", w, covs) + (w[:, None] * dm).T @ dm
        # the two invert ``cov`` differently (closed form vs LU): they agree
        # to its condition number times the rounding
        rel = max(1e-12, 1e-14 * float(np.linalg.cond(cov)))
        for conf in (0.5, 0.95, 0.99):
            want = impact.mixture_scale_reference(means, covs, w, mean, cov, conf)
            got = impact.mixture_scale(means, covs, w, mean, cov, conf)
            assert got == pytest.approx(want, rel=rel)
    # identical members: every value repeated k times (ties across members)
    covs = np.broadcast_to(np.diag([400.0, 100.0]), (k, 2, 2)).copy()
    means = np.zeros((k, 2))
    w = np.full(k, 1.0 / k)
    got = impact.mixture_scale(means, covs, w, np.zeros(2), covs[0])
    want = impact.mixture_scale_reference(means, covs, w, np.zeros(2), covs[0])
    assert got == pytest.approx(want, rel=1e-12)


def _irbm_state(after_burnout_s: float) -> np.ndarray:
    tr = solve_trajectory(39.0, 125.5, 80.0, missile_class="IRBM", beta=6000.0, dt=1.0)
    return np.asarray(tr.state_at(tr.burnout_t + after_burnout_s), dtype=np.float64)


@pytest.mark.parametrize("after", [20.0, 400.0])
def test_process_noise_kernel_equals_the_numpy_reference(after: float) -> None:
    x = _irbm_state(after)
    dt, xg, samples = ground.to_ground(x[None], 6000.0, sample_row=0)
    lat, lon, _ = ecef_to_geodetic(xg[0, :3])
    rot = enu_matrix(float(lat), float(lon))
    path = [(0.0, x), *samples]
    q = (2.0, 0.01, DRAG_CEILING_M)
    want = impact._process_noise_en_reference(path, float(dt[0]), xg[0], rot, q)
    got = impact._process_noise_en(path, float(dt[0]), xg[0], rot, q)
    assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
    assert want[0, 0] > 0.0
    assert want[1, 1] > 0.0


@pytest.mark.parametrize("after", [20.0, 400.0])
def test_predict_impact_compiled_equals_the_numpy_path(after: float, monkeypatch: pytest.MonkeyPatch) -> None:
    x = _irbm_state(after)
    p = np.diag([300.0**2] * 3 + [3.0**2] * 3)
    bank = drag.prior("IRBM")
    kw = {"beta": None, "bank": bank, "q": (2.0, 0.01, DRAG_CEILING_M), "rho_sigma": 0.1}
    got = impact.predict_impact(x, p, 100.0, **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(impact, "mixture_scale", impact.mixture_scale_reference)
    monkeypatch.setattr(impact, "_process_noise_en", impact._process_noise_en_reference)
    want = impact.predict_impact(x, p, 100.0, **kw)  # type: ignore[arg-type]
    assert got is not None
    assert want is not None
    assert got.path == want.path
    assert got.t == want.t
    for f in ("semi_major_m", "semi_minor_m", "bearing_deg", "scale", "lat", "lon", "sigma_t_s"):
        assert getattr(got, f) == pytest.approx(getattr(want, f), rel=1e-12), f
    assert np.allclose(got.cov_en, want.cov_en, rtol=1e-12, atol=1e-12 * max(want.cov_en))
    # the mixture's own scale, not the chi-square quantile
    assert got.scale != impact.CHI2_2_95
