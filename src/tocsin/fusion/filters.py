"""Batch extended Kalman filter steps and a two-model IMM on top of them.

Arrays, not objects: ``X (N, K, 6)`` holds K model-conditioned states per track,
``P (N, K, 6, 6)`` their covariances and ``mu (N, K)`` the model probabilities.

EKF (Bar-Shalom et al. 2001, sec. 10.3)::

    predict   x- = f(x),  P- = F P F^T + Q
    update    S = H P- H^T + R,  K = P- H^T S^-1,  x = x- + K nu,
              P = (I - K H) P- (I - K H)^T + K R K^T      (Joseph form)

IMM (Blom and Bar-Shalom 1988; Bar-Shalom et al. 2001, sec. 11.6.6): mix the
model-conditioned estimates with ``c_j = sum_i p_ij mu_i``,
``mu_ij = p_ij mu_i / c_j``; filter each; update ``mu_j ~ Lambda_j c_j`` with
``Lambda_j = N(nu_j; 0, S_j)``; the output is the moment-matched mixture.
Leaving model ``i`` over ``dt`` has probability ``1 - exp(-|dt| / tau_i)``,
``tau_i`` the mean sojourn time in model ``i`` (Bar-Shalom et al. 2001, sec.
11.6.7: ``p_ii = 1 - T / tau_i``): long in the quiet model of an aircraft
(which flies straight for minutes), short in its manoeuvre model (a turn).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def inv_det(s: F64) -> tuple[F64, F64]:
    """Inverse and determinant of symmetric ``(M, m, m)`` matrices. For
    ``m = 2, 3`` (a line of sight, a radar plot) in closed form, the adjugate
    over the determinant by cofactor expansion (a few array operations instead
    of one LAPACK call per matrix); otherwise ``numpy.linalg``."""
    m = s.shape[-1]
    if m == 3:
        a, b, c = s[:, 0, 0], s[:, 0, 1], s[:, 0, 2]
        d, e, f = s[:, 1, 1], s[:, 1, 2], s[:, 2, 2]
        c00 = d * f - e * e
        c01 = c * e - b * f
        c02 = b * e - c * d
        det = a * c00 + b * c01 + c * c02
        r = 1.0 / det
        inv = np.empty_like(s)
        inv[:, 0, 0] = c00 * r
        inv[:, 0, 1] = inv[:, 1, 0] = c01 * r
        inv[:, 0, 2] = inv[:, 2, 0] = c02 * r
        inv[:, 1, 1] = (a * f - c * c) * r
        inv[:, 1, 2] = inv[:, 2, 1] = (b * c - a * e) * r
        inv[:, 2, 2] = (a * d - b * b) * r
        return inv, det
    if m == 2:
        a, b, d = s[:, 0, 0], s[:, 0, 1], s[:, 1, 1]
        det = a * d - b * b
        r = 1.0 / det
        inv = np.empty_like(s)
        inv[:, 0, 0] = d * r
        inv[:, 0, 1] = inv[:, 1, 0] = -b * r
        inv[:, 1, 1] = a * r
        return inv, det
    return np.asarray(np.linalg.inv(s), dtype=np.float64), np.asarray(np.linalg.det(s), dtype=np.float64)


def ekf_update(x: F64, p: F64, nu: F64, h: F64, r: F64, *, joseph: bool = False) -> tuple[F64, F64, F64, F64]:
    """Joseph-form EKF update of ``(M, 6)`` states with residuals ``nu (M, m)``,
    Jacobians ``h (M, m, 6)`` and noise ``r (M, m, m)``.

    ``joseph=False`` uses the cheaper ``P = P- - K H P-`` (symmetrised), equal
    to the Joseph form for the optimal gain.

    Returns ``(x, P, d2, logdet_s)``: the updated state and covariance, the
    normalised innovation squared and ``log det S`` (for likelihoods)."""
    ht = np.transpose(h, (0, 2, 1))
    ph = p @ ht
    s = h @ ph + r
    s = 0.5 * (s + np.transpose(s, (0, 2, 1)))
    sinv, det = inv_det(s)
    k = ph @ sinv
    xn = x + (k @ nu[..., None])[..., 0]
    if joseph:
        ikh = np.eye(6) - k @ h
        pn = ikh @ p @ np.transpose(ikh, (0, 2, 1)) + k @ r @ np.transpose(k, (0, 2, 1))
    else:
        pn = p - k @ np.transpose(ph, (0, 2, 1))
    pn = 0.5 * (pn + np.transpose(pn, (0, 2, 1)))
    snu = (sinv @ nu[..., None])[..., 0]
    d2 = np.sum(nu * snu, axis=1)
    logdet = np.log(det)
    return xn, pn, d2, logdet


def imm_mix(
    x: F64, p: F64, mu: F64, dt: F64, tau_quiet: F64 | float, tau_maneuver: F64 | float
) -> tuple[F64, F64, F64]:
    """IMM interaction step for K = 2 models (0 quiet, 1 manoeuvre; mean
    sojourn times ``tau_quiet`` and ``tau_maneuver``, per track or one for
    all): returns the mixed ``(X0, P0)`` and the predicted model
    probabilities ``cbar (N, 2)``."""
    a = np.abs(dt)
    p01 = 1.0 - np.exp(-a / tau_quiet)
    p10 = 1.0 - np.exp(-a / tau_maneuver)
    trans = np.empty((x.shape[0], 2, 2))
    trans[:, 0, 0] = 1.0 - p01
    trans[:, 0, 1] = p01
    trans[:, 1, 0] = p10
    trans[:, 1, 1] = 1.0 - p10
    cbar = np.einsum("ni,nij->nj", mu, trans)
    cbar = np.maximum(cbar, 1e-12)
    w = mu[:, :, None] * trans / cbar[:, None, :]  # w[n, i, j] = mu_{i|j}
    wt = np.transpose(w, (0, 2, 1))  # wt[n, j, i]
    n, k = x.shape[0], x.shape[1]
    x0 = wt @ x  # x0_j = sum_i mu_{i|j} x_i
    # P0_j = sum_i mu_{i|j} (P_i + dx_ij dx_ij^T), dx_ij = x_i - x0_j: the
    # weighted sum of the P_i as one matrix product, the spread as D^T W D
    dx = x[:, None, :, :] - x0[:, :, None, :]  # (n, j, i, d)
    p0 = (wt @ p.reshape(n, k, 36)).reshape(n, k, 6, 6)
    p0 = p0 + np.swapaxes(dx * wt[..., None], 2, 3) @ dx
    return x0, p0, cbar


def imm_combine(x: F64, p: F64, mu: F64) -> tuple[F64, F64]:
    """Moment-matched mixture ``(N, 6), (N, 6, 6)`` of the model estimates."""
    xc = np.einsum("nk,nkd->nd", mu, x)
    dx = x - xc[:, None, :]
    pc = np.einsum("nk,nkab->nab", mu, p + dx[..., :, None] * dx[..., None, :])
    return xc, pc


def imm_probabilities(cbar: F64, d2: F64, logdet: F64, m: int) -> F64:
    """Posterior model probabilities from predicted ``cbar (N, K)`` and the
    per-model NIS ``d2`` and ``log det S`` ``(N, K)``."""
    loglik = -0.5 * (d2 + logdet + m * np.log(2.0 * np.pi))
    loglik -= loglik.max(axis=1, keepdims=True)
    w = cbar * np.exp(loglik)
    w /= w.sum(axis=1, keepdims=True)
    return np.clip(w, 1e-6, 1.0)


def covariance_intersection(xa: F64, pa: F64, xb: F64, pb: F64) -> tuple[F64, F64, float]:
    """Covariance intersection of two estimates with unknown cross-correlation
    (Julier and Uhlmann 1997): ``P^-1 = w Pa^-1 + (1 - w) Pb^-1``,
    ``x = P (w Pa^-1 xa + (1 - w) Pb^-1 xb)``, with ``w`` minimising ``trace P``
    (golden-section search). Returns ``(x, P, w)``."""
    ia = np.linalg.inv(pa)
    ib = np.linalg.inv(pb)

    def fused(w: float) -> tuple[F64, F64]:
        pi = w * ia + (1.0 - w) * ib
        pf = np.linalg.inv(pi)
        return pf @ (w * ia @ xa + (1.0 - w) * ib @ xb), pf

    lo, hi = 0.0, 1.0
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = np.trace(fused(c)[1]), np.trace(fused(d)[1])
    for _ in range(30):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = np.trace(fused(c)[1])
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = np.trace(fused(d)[1])
    w = 0.5 * (lo + hi)
    xf, pf = fused(w)
    return xf, 0.5 * (pf + pf.T), float(w)


def ukf_update(
    x: F64,
    p: F64,
    z: F64,
    r: F64,
    hfun: Callable[[F64, NDArray[np.int64]], F64],
    resid: Callable[[F64, F64], F64],
) -> tuple[F64, F64, F64, F64]:
    """Unscented measurement update (Julier and Uhlmann 2004; Wan and van der
    Merwe 2000) of ``(M, 6)`` states.

    Sigma points ``x +- sqrt(n) L_i`` (``L L^T = P``, ``kappa = 0``: weights
    ``1 / 2n``, none on the centre) go through ``hfun(points (K, 6), rows (K,))``
    (``rows`` says which state each point belongs to); predicted measurement
    deviations are taken with ``resid(a, b)`` (angle-aware ``a - b``) against
    the centre's prediction, so an azimuth near north averages correctly::

        zbar = h(x) + sum w_i dz_i,   S = sum w_i (dz_i - dzbar)(.)^T + R,
        C = sum w_i (X_i - x)(dz_i - dzbar)^T,   K = C S^-1,
        x+ = x + K (z - zbar),   P+ = P - K S K^T

    Returns ``(x, P, d2, logdet_s)`` like :func:`ekf_update`.
    """
    m_rows, n = x.shape
    ev, evec = np.linalg.eigh(0.5 * (p + np.transpose(p, (0, 2, 1))))
    sq = evec * np.sqrt(np.maximum(ev, 0.0))[:, None, :] * np.sqrt(n)  # columns
    dev = np.transpose(sq, (0, 2, 1))  # (M, n, 6): row i is the i-th column
    pts = np.concatenate([x[:, None, :], x[:, None, :] + dev, x[:, None, :] - dev], axis=1)  # (M, 2n+1, 6)
    rows = np.repeat(np.arange(m_rows), 2 * n + 1)
    zh = hfun(pts.reshape(-1, n), rows).reshape(m_rows, 2 * n + 1, -1)
    mdim = zh.shape[2]
    dz = resid(zh[:, 1:].reshape(-1, mdim), np.repeat(zh[:, 0], 2 * n, axis=0)).reshape(m_rows, 2 * n, mdim)
    w = 1.0 / (2 * n)
    dzbar = dz.sum(axis=1) * w
    dzc = dz - dzbar[:, None, :]
    dxc = pts[:, 1:] - x[:, None, :]
    s = w * np.einsum("kia,kib->kab", dzc, dzc) + r
    s = 0.5 * (s + np.transpose(s, (0, 2, 1)))
    c = w * np.einsum("kia,kib->kab", dxc, dzc)
    sinv = np.linalg.inv(s)
    k = c @ sinv
    nu = resid(z, zh[:, 0]) - dzbar
    xn = x + (k @ nu[..., None])[..., 0]
    pn = p - k @ s @ np.transpose(k, (0, 2, 1))
    pn = 0.5 * (pn + np.transpose(pn, (0, 2, 1)))
    d2 = np.sum(nu * (sinv @ nu[..., None])[..., 0], axis=1)
    logdet = np.log(np.linalg.det(s))
    return xn, pn, d2, logdet
