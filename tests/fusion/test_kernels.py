"""The batched filter kernels against their textbook forms (explicit loops,
``numpy.linalg``): closed-form small inverses, IMM mixing as matrix products,
NCV prediction by blocks; and the compiled kernels of
:mod:`tocsin.fusion.kernels` against those numpy functions."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.fusion import kernels
from tocsin.fusion.filters import ekf_update, imm_combine, imm_mix, imm_probabilities, inv_det
from tocsin.fusion.models import (
    ncv_predict,
    ncv_predict_cov,
    radar_predict,
    radar_residual,
    radar_to_ecef,
    white_accel_q,
)
from tocsin.fusion.propagate import height
from tocsin.geo.wgs84 import enu_matrix, geodetic_to_ecef


def _spd(rng: np.random.Generator, n: int, m: int, scales: np.ndarray) -> np.ndarray:
    a = rng.normal(size=(n, m, m)) * scales[None, :, None]
    return a @ np.transpose(a, (0, 2, 1)) + np.diag(scales**2 * 0.1)[None]


def _imm_states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random two-model IMM states of ``n`` tracks: ``x (n, 2, 6)``, ``p``,
    model probabilities ``mu (n, 2)``."""
    x = rng.normal(size=(n, 2, 6)) * 300.0
    p = _spd(rng, 2 * n, 6, np.full(6, 40.0)).reshape(n, 2, 6, 6)
    mu = rng.random((n, 2))
    mu /= mu.sum(axis=1, keepdims=True)
    return x, p, mu


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
    x, p, mu = _imm_states(rng, n)
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


# --- the compiled kernels (tocsin.fusion.kernels) against the numpy reference ---


def _radar_case(
    rng: np.random.Generator, n: int, m: int, rr: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tracks and radar plots around a site in Japan: states ``(n, 6)``,
    covariances, plots ``(m, 3|4)``, sites, ECEF->ENU rotations, noise."""
    lat, lon = 38.0 + rng.uniform(-2, 2), 138.0 + rng.uniform(-2, 2)
    site = geodetic_to_ecef(lat, lon, 50.0)
    rot = enu_matrix(lat, lon)
    tgt = geodetic_to_ecef(lat + rng.uniform(-2, 2, n), lon + rng.uniform(-2, 2, n), rng.uniform(1e3, 3e5, n))
    x = np.concatenate([tgt, rng.normal(size=(n, 3)) * 800.0], axis=1)
    p = _spd(rng, n, 6, np.array([300.0, 300.0, 300.0, 30.0, 30.0, 30.0]))
    md = 4 if rr else 3
    z = np.empty((m, md))
    pick = rng.integers(0, n, m)
    zh, _ = radar_predict(x[pick], np.tile(site, (m, 1)), np.tile(rot, (m, 1, 1)), rr)
    z[:] = zh + rng.normal(size=(m, md)) * np.array([80.0, 2e-3, 2e-3, 3.0])[:md]
    z[:, 1] %= 2 * np.pi
    r = np.tile(np.diag(np.array([50.0**2, 1.7e-3**2, 1.7e-3**2, 2.0**2])[:md]), (m, 1, 1))
    return x, p, z, np.tile(site, (m, 1)), np.tile(rot, (m, 1, 1)), r


def test_kernel_imm_mix_ncv_predict_and_combine_match_numpy() -> None:
    rng = np.random.default_rng(11)
    n = 30
    x, p, mu = _imm_states(rng, n)
    dt = rng.uniform(-1.0, 5.0, n)
    tau0, tau1 = rng.uniform(10, 1000, n), rng.uniform(5, 60, n)
    q0, q1 = rng.uniform(0.1, 2, n), rng.uniform(10, 3e4, n)
    x0r, p0r, cr = imm_mix(x, p, mu, dt, tau0, tau1)
    x0, p0, c = kernels.imm_mix(x, p, mu, dt, tau0, tau1)
    np.testing.assert_allclose(x0, x0r, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(p0, p0r, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(c, cr, rtol=1e-13)
    q2 = np.stack([q0, q1], axis=1).ravel()
    xpr, ppr = ncv_predict_cov(x0r.reshape(2 * n, 6), p0r.reshape(2 * n, 6, 6), np.repeat(dt, 2), q2)
    xp, pp = kernels.ncv_predict(x0.reshape(2 * n, 6), p0.reshape(2 * n, 6, 6), np.repeat(dt, 2), q2)
    np.testing.assert_allclose(xp, xpr, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(pp, ppr, rtol=1e-10, atol=1e-8)
    xcr, pcr = imm_combine(xpr.reshape(n, 2, 6), ppr.reshape(n, 2, 6, 6), cr)
    xc, pc = kernels.imm_combine(xp.reshape(n, 2, 6), pp.reshape(n, 2, 6, 6), c)
    np.testing.assert_allclose(xc, xcr, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(pc, pcr, rtol=1e-10, atol=1e-8)
    # the fused kernel is the three in a row
    f = kernels.predict_ncv_imm(x, p, mu, dt, tau0, tau1, q0, q1)
    for got, want in zip(f[:5], (xp.reshape(n, 2, 6), pp.reshape(n, 2, 6, 6), c, xc, pc), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert f[5].dtype == bool


def test_kernel_physical_flags_nan_and_below_ground() -> None:
    x = np.tile(np.array([6.4e6, 0.0, 0.0, 1.0, 2.0, 3.0]), (4, 1))
    p = np.tile(np.eye(6), (4, 1, 1))
    x[1, 0] = 6.2e6  # inside the Earth
    x[2, 4] = np.nan
    p[3, 2, 5] = np.inf
    assert kernels.physical(x, p).tolist() == [True, False, False, False]


@pytest.mark.parametrize("rr", [False, True])
def test_kernel_radar_gate_and_update_match_numpy(rr: bool) -> None:
    rng = np.random.default_rng(12 + rr)
    n, m = 12, 15
    x, p, z, site, rot, r = _radar_case(rng, n, m, rr)
    gate = 16.27 if not rr else 18.47
    # the gate: every pair by the numpy formulas
    ia, ja = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    zh, h = radar_predict(x[ia], site[ja], rot[ja], rr)
    nu = radar_residual(z[ja], zh)
    s = h @ p[ia] @ np.transpose(h, (0, 2, 1)) + r[ja]
    d2 = np.einsum("ni,ni->n", nu, np.linalg.solve(s, nu[..., None])[..., 0])
    cost = d2 + np.log(np.linalg.det(s))
    ok = d2 <= gate
    ppos, pcov = radar_to_ecef(z, site, rot, r)
    for prefilter in (False, True):
        pairs, c = kernels.gate_radar(x, p, z, site, rot, r, gate, ppos, pcov, prefilter)
        want = np.flatnonzero(ok)
        if prefilter:  # a pair farther apart than 4.5 sigma of each is not tested
            lim = 4.5 * np.sqrt(np.trace(p[ia, :3, :3], axis1=1, axis2=2)) + 4.5 * np.sqrt(
                np.trace(pcov[ja], axis1=1, axis2=2)
            )
            want = want[np.linalg.norm(x[ia[want], :3] - ppos[ja[want]], axis=1) <= lim[want]]
        assert pairs.tolist() == np.stack([ia[want], ja[want]], axis=1).tolist()
        np.testing.assert_allclose(c, cost[want], rtol=1e-9, atol=1e-9)
    assert ok.sum() >= 8  # the case exercises real gating, not an empty set
    # the update: track k takes plot k (both IMM models, different covariances)
    xx = np.stack([x[:n], x[:n] + 50.0], axis=1)
    pp = np.stack([p[:n], p[:n] * 3.0], axis=1)
    cbar = rng.dirichlet([1.0, 1.0], n)
    ti = rng.permutation(n)[:8]
    mj = rng.permutation(m)[:8]
    xn, pn, mu, xc, pc = kernels.update_radar(xx, pp, cbar, ti, z, site, rot, r, mj)
    rows = np.repeat(ti, 2)
    cols = np.repeat(mj, 2)
    zh, h = radar_predict(xx[ti].reshape(-1, 6), site[cols], rot[cols], rr)
    xr, pr, d2r, ldr = ekf_update(
        xx[ti].reshape(-1, 6), pp[ti].reshape(-1, 6, 6), radar_residual(z[cols], zh), h, r[cols]
    )
    del rows
    mur = imm_probabilities(cbar[ti], d2r.reshape(-1, 2), ldr.reshape(-1, 2), z.shape[1])
    xcr, pcr = imm_combine(xr.reshape(-1, 2, 6), pr.reshape(-1, 2, 6, 6), mur)
    np.testing.assert_allclose(xn, xr.reshape(-1, 2, 6), rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(pn, pr.reshape(-1, 2, 6, 6), rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(mu, mur, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(xc, xcr, rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(pc, pcr, rtol=1e-7, atol=1e-6)


def test_kernel_radar_to_ecef_matches_numpy() -> None:
    rng = np.random.default_rng(14)
    x, _, z, site, rot, r = _radar_case(rng, 5, 40, False)
    del x
    pos, cov = kernels.radar_to_ecef(z, site, rot, r)
    pr, cr = radar_to_ecef(z, site, rot, r)
    np.testing.assert_allclose(pos, pr, rtol=1e-13, atol=1e-6)
    np.testing.assert_allclose(cov, cr, rtol=1e-10, atol=1e-6)


def test_kernel_near_keeps_close_tracks_and_the_flagged_ones() -> None:
    rng = np.random.default_rng(15)
    n, m = 40, 10
    x = rng.normal(size=(n, 2, 6)) * np.array([2e5, 2e5, 2e5, 300, 300, 300]) + np.array(
        [3.5e6, 3.5e6, 3.5e6, 0, 0, 0]
    )
    p = _spd(rng, 2 * n, 6, np.array([500.0, 500, 500, 50, 50, 50])).reshape(n, 2, 6, 6)
    mu = rng.dirichlet([1.0, 1.0], n)
    dt = rng.uniform(0, 4, n)
    ppos = rng.normal(size=(m, 3)) * 2e5 + 3.5e6
    pcov = np.tile(np.eye(3) * 1e4, (m, 1, 1))
    keep = rng.random(n) < 0.2
    got = kernels.near(x, p, mu, dt, ppos, pcov, keep)
    xc, pc = imm_combine(x, p, mu)
    pos = xc[:, :3] + xc[:, 3:] * dt[:, None]
    rad = 5 * np.sqrt(np.trace(pc[:, :3, :3], axis1=1, axis2=2)) + 100 * dt**2 + 20_000.0
    lim = rad[:, None] + 5 * np.sqrt(np.trace(pcov, axis1=1, axis2=2))[None, :]
    want = (np.linalg.norm(pos[:, None, :] - ppos[None, :, :], axis=2) <= lim).any(axis=1) | keep
    assert got.tolist() == want.tolist()
    assert 0 < (want & ~keep).sum() < n  # some near, some far


def test_kernel_gate_and_near_on_a_large_scan_test_exactly_the_pairs_all_pairs_would() -> None:
    # issue 17: a scan of hundreds of plots against hundreds of tracks is gated
    # by looking only at the plots near each track on one axis; the pairs (in
    # order), their costs and the pre-gate must be exactly those of testing
    # every pair, including tracks and plots with non-finite values
    rng = np.random.default_rng(21)
    n, m = 400, 500
    x, p, z, site, rot, r = _radar_case(rng, n, m, False)
    x[7] = np.nan  # a diverged track: every plot is tested (and fails)
    p[11] *= 1e6  # a track with a huge covariance: its window is wide
    gate = 16.27
    ppos, pcov = radar_to_ecef(z, site, rot, r)
    ppos[13] = np.inf  # a plot without a position: every track tests it
    pairs, cost = kernels.gate_radar(x, p, z, site, rot, r, gate, ppos, pcov, True)
    # the reference: every pair, numpy formulas
    ia, ja = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
    with np.errstate(invalid="ignore"):
        lim = 4.5 * np.sqrt(np.trace(p[ia, :3, :3], axis1=1, axis2=2)) + 4.5 * np.sqrt(
            np.trace(pcov[ja], axis1=1, axis2=2)
        )
        d = x[ia, :3] - ppos[ja]
        far = np.einsum("ni,ni->n", d, d) > lim * lim
    ia, ja = ia[~far], ja[~far]
    zh, h = radar_predict(x[ia], site[ja], rot[ja], False)
    nu = radar_residual(z[ja], zh)
    s = h @ p[ia] @ np.transpose(h, (0, 2, 1)) + r[ja]
    with np.errstate(invalid="ignore"):
        d2 = np.einsum("ni,ni->n", nu, np.linalg.solve(s, nu[..., None])[..., 0])
        ok = d2 <= gate
    assert pairs.tolist() == np.stack([ia[ok], ja[ok]], axis=1).tolist()
    np.testing.assert_allclose(cost, d2[ok] + np.log(np.linalg.det(s[ok])), rtol=1e-9, atol=1e-9)
    assert 300 <= ok.sum() < n * m // 100  # real gating on a sparse scan
    assert 11 in pairs[:, 0]  # the wide track found its plots
    # the pre-gate, against every pair
    xx = np.stack([x, x + 30.0], axis=1)
    pp = np.stack([p, p * 2.0], axis=1)
    mu = rng.dirichlet([1.0, 1.0], n)
    dt = rng.uniform(0, 3, n)
    keep = np.zeros(n, dtype=bool)
    keep[3] = True
    far_x = xx.copy()
    far_x[: n // 2, :, :3] += 5e5  # half the tracks far from every plot
    ppos[13] = ppos[12]
    got = kernels.near(far_x, pp, mu, dt, ppos, pcov, keep)
    xc, pc = imm_combine(far_x, pp, mu)
    pos = xc[:, :3] + xc[:, 3:] * dt[:, None]
    rad = 5 * np.sqrt(np.trace(pc[:, :3, :3], axis1=1, axis2=2)) + 100 * dt**2 + 20_000.0
    lim2 = rad[:, None] + 5 * np.sqrt(np.trace(pcov, axis1=1, axis2=2))[None, :]
    with np.errstate(invalid="ignore"):
        want = (np.linalg.norm(pos[:, None, :] - ppos[None, :, :], axis=2) <= lim2).any(axis=1) | keep
    assert got.tolist() == want.tolist()
    assert 0 < want[: n // 2].sum() < n // 4
    assert want[n // 2 :].sum() > n // 4


def test_kernel_alone_marks_single_pair_components() -> None:
    pairs = np.array([[0, 0], [1, 1], [1, 2], [3, 2], [4, 5]])
    assert kernels.alone(pairs, 5, 6).tolist() == [True, False, False, False, True]
    assert kernels.alone(np.zeros((0, 2), dtype=np.int64), 3, 3).tolist() == []


def test_kernel_classify_features_and_imm_params() -> None:
    rng = np.random.default_rng(16)
    n = 50
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 2e5, n)
    pos = geodetic_to_ecef(lat, lon, alt)
    x = np.concatenate([pos, rng.normal(size=(n, 3)) * 1000], axis=1)
    p = _spd(rng, n, 6, np.array([100, 100, 100, 1, 1, 1]) * rng.uniform(1, 200))
    good, h, vz, speed, pvar, _ = kernels.classify_features(x, p, 150.0**2)
    big = np.linalg.eigvalsh(p[:, 3:, 3:])[:, -1] <= 150.0**2
    decided = good != 2
    assert (good[decided] == big[decided]).all()
    np.testing.assert_allclose(h, height(x[:, :3]), atol=1e-6)
    up = x[:, :3] / np.linalg.norm(x[:, :3], axis=1)[:, None]
    np.testing.assert_allclose(vz, np.einsum("ni,ni->n", up, x[:, 3:]), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(speed, np.linalg.norm(x[:, 3:], axis=1), rtol=1e-13)
    np.testing.assert_allclose(pvar, np.trace(p[:, :3, :3], axis1=1, axis2=2) / 3, rtol=1e-13)
    # the ballistic vote's margins against the numpy reference (the rule's
    # sigmas as Ballistic.classify computed them): height, climb, speed
    pos = geodetic_to_ecef(lat, lon, rng.uniform(0, 40e3, n))
    x = np.concatenate([pos, rng.normal(size=(n, 3)) * 500], axis=1)
    x[0, 3:] = 0.0  # at rest: no direction of motion
    p = _spd(rng, n, 6, np.array([2000.0, 2000.0, 2000.0, 60.0, 60.0, 60.0]))
    sig = kernels.classify_features(x, p, 150.0**2)[5]
    up = x[:, :3] / np.linalg.norm(x[:, :3], axis=1)[:, None]
    vn = np.linalg.norm(x[:, 3:], axis=1)
    vh = x[:, 3:] / np.where(vn > 0.0, vn, 1.0)[:, None]
    s_alt = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", up, p[:, :3, :3], up), 0.0))
    s_vz = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", up, p[:, 3:, 3:], up), 0.0))
    s_speed = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", vh, p[:, 3:, 3:], vh), 0.0))
    np.testing.assert_allclose(sig, np.column_stack([s_alt, s_vz, s_speed]), rtol=1e-12)
    # the model parameters per class code (bit 0 ballistic, 1 burnt out, 2 air)
    code = np.array([0, 4, 1, 3, 1], dtype=np.int64)
    xx = np.zeros((5, 2, 6))
    xx[:, 0, :3] = geodetic_to_ecef(np.full(5, 35.0), np.full(5, 135.0), np.array([1e4, 1e4, 1e4, 1e4, 3e5]))
    q0, q1, t0, t1 = kernels.imm_params(code, xx, 1.0, 1e-3, 1e-4, 400.0, 3e4, 120e3, 30.0, 1000.0, 20.0)
    assert q0.tolist() == [1.0, 1.0, 1e-3, 1e-3, 1e-4]
    assert q1.tolist() == [3e4, 400.0, 3e4, 1e-3, 3e4]
    assert t0.tolist() == [30.0, 1000.0, 30.0, 30.0, 30.0]
    assert t1.tolist() == [30.0, 20.0, 30.0, 30.0, 30.0]


def _ballistic_states() -> np.ndarray:
    """States along a notional SRBM (boost, midcourse, dense low air), each
    perturbed, plus a light object low down (stiff drag) and one above the
    drag ceiling."""
    from conftest import srbm_trajectory

    rng = np.random.default_rng(7)
    x = srbm_trajectory().x[::4].copy()
    x[:, :3] += rng.normal(scale=200.0, size=(len(x), 3))
    x[:, 3:] += rng.normal(scale=20.0, size=(len(x), 3))
    low = geodetic_to_ecef(38.0, 128.0, 3_000.0)
    high = geodetic_to_ecef(38.0, 128.0, 400_000.0)
    extra = np.array([[*low, 900.0, -400.0, -700.0], [*high, 3000.0, 1000.0, -2000.0]])
    return np.vstack([x, extra])


@pytest.mark.parametrize(
    ("dt", "beta"),
    [
        (1.0, None),  # Taylor step, no drag
        (1.0, 5_000.0),  # RK4: the light low row makes the drag stiff
        (1.0, "high"),  # Taylor step with drag (rows above 10 km only)
        (0.3, "rows"),  # one beta per row
        (-2.5, 5_000.0),  # backwards, RK4 substeps
        (25.0, 5_000.0),  # several RK4 substeps
        (7.0, 150.0),  # light object: steps set by the drag's stiffness
    ],
)
def test_kernel_ballistic_predict_matches_the_numpy_reference(dt: float, beta: float | str | None) -> None:
    from tocsin.fusion.models import ballistic_predict, ballistic_predict_reference

    x = _ballistic_states()
    if beta == "high":
        x, beta = x[height(x[:, :3]) > 10_000.0], 5_000.0
    rng = np.random.default_rng(3)
    d = dt * rng.uniform(0.5, 1.0, len(x))
    b = rng.uniform(300.0, 20_000.0, len(x)) if beta == "rows" else beta
    assert not isinstance(b, str)
    got, phi = ballistic_predict(x, d, beta=b)
    ref, phi_ref = ballistic_predict_reference(x, d, beta=b)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(phi, phi_ref, rtol=1e-9, atol=1e-12)
    # the same rows one at a time (the step rule is per batch: the Taylor
    # step or RK4 may differ from the batch's, within the method's error)
    one, _ = ballistic_predict(x[:1], d[:1], beta=None if b is None else np.atleast_1d(b)[:1])
    one_ref, _ = ballistic_predict_reference(x[:1], d[:1], beta=None if b is None else np.atleast_1d(b)[:1])
    np.testing.assert_allclose(one, one_ref, rtol=1e-9, atol=1e-9)


def test_kernel_cov_predict_is_f_p_ft_plus_white_acceleration_q() -> None:
    rng = np.random.default_rng(11)
    n = 30
    f = np.eye(6)[None] + rng.normal(scale=0.3, size=(n, 6, 6))
    p = _spd(rng, n, 6, np.array([100.0, 100.0, 100.0, 5.0, 5.0, 5.0]))
    dt = rng.uniform(-3.0, 12.0, n)
    q = rng.uniform(1e-5, 8000.0, n)
    got = kernels.cov_predict(f, p, dt, q)
    ref = f @ p @ np.transpose(f, (0, 2, 1)) + white_accel_q(dt, q)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_array_equal(got, np.transpose(got, (0, 2, 1)))


@pytest.mark.parametrize("rr", [False, True])
def test_kernel_update_radar_rows_matches_the_numpy_ekf(rr: bool) -> None:
    from tocsin.fusion.estimation import Estimator
    from tocsin.fusion.filters import ekf_update
    from tocsin.fusion.measurements import RADAR

    rng = np.random.default_rng(5 + rr)
    k = 9  # a drag bank's members: one plot for all
    site = geodetic_to_ecef(38.0, 128.0, 100.0)
    rot = enu_matrix(38.0, 128.0)
    target = geodetic_to_ecef(38.5, 129.0, 40_000.0)
    x = np.zeros((k, 6))
    x[:, :3] = target + rng.normal(scale=300.0, size=(k, 3))
    x[:, 3:] = np.array([1500.0, -800.0, -900.0]) + rng.normal(scale=30.0, size=(k, 3))
    p = _spd(rng, k, 6, np.array([200.0, 200.0, 200.0, 20.0, 20.0, 20.0]))
    md = 4 if rr else 3
    zt, _ = radar_predict(x[:1], site[None], rot[None], rr)
    z = zt[0] + rng.normal(size=md) * np.array([50.0, 1e-3, 1e-3, 5.0])[:md]
    r = np.diag(np.array([50.0, 1e-3, 1e-3, 5.0])[:md] ** 2)
    xn, pn, d2, ld = kernels.update_radar_rows(x, p, z, site, rot, r)
    idx = np.zeros(k, dtype=np.int64)
    arr = (RADAR, z[None][idx], r[None][idx], site[None][idx], rot[None][idx])
    nu, h, rr_ = Estimator.residual(x, arr)
    xr, pr, d2r, ldr = ekf_update(x, p, nu, h, rr_)
    np.testing.assert_allclose(xn, xr, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(pn, pr, rtol=1e-8, atol=1e-9 * np.abs(pr).max())
    np.testing.assert_allclose(d2, d2r, rtol=1e-8)
    np.testing.assert_allclose(ld, ldr, rtol=1e-9, atol=1e-9)


def test_kernel_packed_forms_give_the_same_bits_as_the_kernels_and_numpy_they_replace() -> None:
    # the per-scan path's packed kernels (issue 16.6: fewer calls and returned
    # arrays) must give exactly what the tracker computed before from the
    # unpacked kernels with numpy: same rows, same bits
    rng = np.random.default_rng(31)
    n, m = 60, 12
    x0 = rng.normal(size=(n, 6)) * np.array([2e5, 2e5, 2e5, 300, 300, 300]) + np.array(
        [3.5e6, 3.5e6, 3.5e6, 0, 0, 0]
    )
    x = np.stack([x0, x0 + rng.normal(size=(n, 6)) * 100.0], axis=1)  # the two models close
    p = _spd(rng, 2 * n, 6, np.array([500.0, 500, 500, 50, 50, 50])).reshape(n, 2, 6, 6)
    mu = rng.dirichlet([1.0, 1.0], n)
    dt = rng.uniform(0, 4, n)
    ppos = np.concatenate([x0[: m // 2, :3] + 5_000.0, rng.normal(size=(m - m // 2, 3)) * 2e5 + 3.5e6])
    pcov = np.tile(np.eye(3) * 1e4, (m, 1, 1))
    code = rng.choice(np.array([0, 4, 8, 12, 1, 3, 16, 20], dtype=np.int64), n)
    # the pre-gate: tentative tracks (bit 3) kept, the kept rows in order
    rows = kernels.near_rows(x, p, mu, dt, ppos, pcov, code)
    want = np.flatnonzero(kernels.near(x, p, mu, dt, ppos, pcov, (code & 8) > 0))
    assert rows.tolist() == want.tolist()
    assert 0 < rows.size < n
    # the manoeuvre gate's candidates: established, not thrust, no gated plot
    q1 = rng.choice(np.array([400.0, 8000.0, 3e4]), n)
    pairs = np.array([[k, k % m] for k in range(0, n, 3)], dtype=np.int64)
    got = kernels.model_gate_rows(code, q1, 3e4, pairs)
    hit = np.zeros(n, dtype=bool)
    hit[pairs[:, 0]] = True
    cand = np.flatnonzero(((code & 8) == 0) & (q1 < 3e4))
    assert got.tolist() == cand[~hit[cand]].tolist()
    assert got.size > 0
    # the model parameters as one (4, n) array
    packed = kernels.imm_params_rows(code, x, 1.0, 1e-3, 1e-4, 400.0, 3e4, 120e3, 30.0, 1000.0, 20.0)
    ref4 = kernels.imm_params(code, x, 1.0, 1e-3, 1e-4, 400.0, 3e4, 120e3, 30.0, 1000.0, 20.0)
    for a, b in zip(packed, ref4, strict=True):
        assert a.tobytes() == b.tobytes()
    # the classification features and the ballistic vote (Ballistic.classify's
    # numpy expression before), bit for bit
    lat, lon, alt = rng.uniform(-80, 80, n), rng.uniform(-180, 180, n), rng.uniform(0, 6e4, n)
    xc = np.concatenate([geodetic_to_ecef(lat, lon, alt), rng.normal(size=(n, 3)) * 900], axis=1)
    pc = _spd(rng, n, 6, np.array([100, 100, 100, 1, 1, 1]) * rng.uniform(1, 200))
    out = kernels.classify_rows(xc, pc, 150.0**2, 2.0, 30_000.0)
    good, h, vz, speed, pvar, sig = kernels.classify_features(xc, pc, 150.0**2)
    vote = (
        (speed - 2.0 * sig[:, 2] > 1200.0) | (h - 2.0 * sig[:, 0] > 30_000.0) | (vz - 2.0 * sig[:, 1] > 250.0)
    )
    ref = np.column_stack([good.astype(float), h, vz, speed, pvar, vote.astype(float)])
    assert out.tobytes() == ref.tobytes()
    assert 0 < vote.sum() < n  # both votes occur
