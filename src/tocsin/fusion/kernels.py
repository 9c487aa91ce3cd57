"""Compiled per-scan kernels of the tracker's hot path (Numba).

A scan of a few plots against a few tracks is a few thousand floating-point
operations; done as batched numpy calls it costs a few hundred microseconds of
call overhead (every ``einsum``, ``@`` and slice is a call), far more than the
arithmetic. These kernels do the same sums in one compiled call each, as
explicit loops over tracks, plots and the small matrices:

* :func:`imm_mix` - IMM interaction (as :func:`tocsin.fusion.filters.imm_mix`);
* :func:`ncv_predict` - NCV prediction of states and covariances (as
  :func:`tocsin.fusion.models.ncv_predict_cov`);
* :func:`imm_combine` - the moment-matched mixture (as
  :func:`tocsin.fusion.filters.imm_combine`);
* :func:`radar_to_ecef` - plot positions and covariances (as
  :func:`tocsin.fusion.models.radar_to_ecef`);
* :func:`near` - the straight-line pre-gate of the tracker;
* :func:`gate_radar` - chi-square gating of (track, radar plot) pairs with the
  cost ``d^2 + ln det S``;
* :func:`update_radar` - the EKF update of both IMM models with one radar plot
  per track, the model probabilities and the combined estimate (as
  :func:`tocsin.fusion.filters.ekf_update`,
  :func:`~tocsin.fusion.filters.imm_probabilities` and
  :func:`~tocsin.fusion.filters.imm_combine`);
* :func:`refilter_ncv_radar` - buffered re-filtering of air tracks with radar
  plots (a late plot and the track's later ones replayed), many tracks in one
  call, through :func:`predict_ncv_imm` and :func:`update_radar`.

The numpy functions stay the reference: ``tests/fusion/test_kernels.py``
checks each kernel against them on random inputs. Innovation covariances are
factored by Cholesky (``S`` is symmetric positive definite), where the numpy
path inverts them in closed form: the results agree to rounding.
Compiled code is cached on disk (``cache=True``), so only the first run on a
machine pays the compilation (a few seconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import COEF as _COEF
from tocsin.dynamics.atmosphere import DRAG_CEILING_M, STEP_M
from tocsin.dynamics.ecef import deriv
from tocsin.geo.wgs84 import GM, OMEGA_E, WGS84_A, WGS84_B

F64 = NDArray[np.float64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    """Compile ``fn`` (cached on disk; numpy's floating-point error model:
    a division by zero gives inf/NaN, as in the numpy reference)."""
    return cast(_F, njit(cache=True, error_model="numpy", nogil=True)(fn))


def _jit_inline(fn: _F) -> _F:
    """:func:`_jit` for small helpers, inlined into their callers."""
    return cast(_F, njit(cache=True, error_model="numpy", nogil=True, inline="always")(fn))


_TWO_PI = 2.0 * math.pi
_LOG_2PI = math.log(2.0 * math.pi)


@_jit
def imm_mix(x: F64, p: F64, mu: F64, dt: F64, tau0: F64, tau1: F64) -> tuple[F64, F64, F64]:
    n = x.shape[0]
    x0 = np.empty_like(x)
    p0 = np.empty_like(p)
    cbar = np.empty((n, 2))
    for t in range(n):
        a = abs(dt[t])
        p01 = 1.0 - math.exp(-a / tau0[t])
        p10 = 1.0 - math.exp(-a / tau1[t])
        tr00, tr01, tr10, tr11 = 1.0 - p01, p01, p10, 1.0 - p10
        c0 = max(mu[t, 0] * tr00 + mu[t, 1] * tr10, 1e-12)
        c1 = max(mu[t, 0] * tr01 + mu[t, 1] * tr11, 1e-12)
        cbar[t, 0] = c0
        cbar[t, 1] = c1
        for j in range(2):
            if j == 0:
                w0, w1 = mu[t, 0] * tr00 / c0, mu[t, 1] * tr10 / c0
            else:
                w0, w1 = mu[t, 0] * tr01 / c1, mu[t, 1] * tr11 / c1
            for a_ in range(6):
                x0[t, j, a_] = w0 * x[t, 0, a_] + w1 * x[t, 1, a_]
            for a_ in range(6):
                d0a = x[t, 0, a_] - x0[t, j, a_]
                d1a = x[t, 1, a_] - x0[t, j, a_]
                for b in range(6):
                    d0b = x[t, 0, b] - x0[t, j, b]
                    d1b = x[t, 1, b] - x0[t, j, b]
                    p0[t, j, a_, b] = w0 * (p[t, 0, a_, b] + d0a * d0b) + w1 * (p[t, 1, a_, b] + d1a * d1b)
    return x0, p0, cbar


@_jit
def ncv_predict(x: F64, p: F64, dt: F64, q: F64) -> tuple[F64, F64]:
    m = x.shape[0]
    xp = np.empty_like(x)
    pp = np.empty_like(p)
    for r in range(m):
        h = dt[r]
        qa = q[r] * abs(h)
        for i in range(3):
            xp[r, i] = x[r, i] + x[r, i + 3] * h
            xp[r, i + 3] = x[r, i + 3]
        for i in range(3):
            for j in range(3):
                a = p[r, i, j]
                b = p[r, i, j + 3]
                bt = p[r, i + 3, j]
                c = p[r, i + 3, j + 3]
                pa = a + h * (b + bt) + h * h * c
                pb = b + h * c
                pc = c
                if i == j:
                    pa += qa * h * h / 3.0
                    pb += qa * abs(h) / 2.0
                    pc += qa
                pp[r, i, j] = pa
                pp[r, i, j + 3] = pb
                pp[r, i + 3, j + 3] = pc
        for i in range(3):
            for j in range(3):
                pp[r, i + 3, j] = pp[r, j, i + 3]
    return xp, pp


@_jit
def imm_combine(x: F64, p: F64, mu: F64) -> tuple[F64, F64]:
    n, k = x.shape[0], x.shape[1]
    xc = np.zeros((n, 6))
    pc = np.zeros((n, 6, 6))
    for t in range(n):
        for j in range(k):
            for a in range(6):
                xc[t, a] += mu[t, j] * x[t, j, a]
        for j in range(k):
            w = mu[t, j]
            for a in range(6):
                da = x[t, j, a] - xc[t, a]
                for b in range(6):
                    pc[t, a, b] += w * (p[t, j, a, b] + da * (x[t, j, b] - xc[t, b]))
    return xc, pc


@_jit_inline
def _mul(a: F64, b: F64, out: F64) -> None:
    """``out = a @ b`` (small matrices, sums in the order of ``k``; ``a @ b^T``
    with ``b.T``)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            for k in range(a.shape[1]):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc


@_jit
def radar_to_ecef(z: F64, site: F64, rot: F64, rcov: F64) -> tuple[F64, F64]:
    m = z.shape[0]
    pos = np.empty((m, 3))
    cov = np.empty((m, 3, 3))
    j = np.empty((3, 3))
    jj = np.empty((3, 3))
    tmp = np.empty((3, 3))
    for r in range(m):
        rng, az, el = z[r, 0], z[r, 1], z[r, 2]
        ce, se, ca, sa = math.cos(el), math.sin(el), math.cos(az), math.sin(az)
        e0, e1, e2 = rng * ce * sa, rng * ce * ca, rng * se
        j[0, 0], j[0, 1], j[0, 2] = ce * sa, rng * ce * ca, -rng * se * sa
        j[1, 0], j[1, 1], j[1, 2] = ce * ca, -rng * ce * sa, -rng * se * ca
        j[2, 0], j[2, 1], j[2, 2] = se, 0.0, rng * ce
        for i in range(3):
            # rot is ECEF->ENU: its transpose takes ENU to ECEF
            pos[r, i] = rot[r, 0, i] * e0 + rot[r, 1, i] * e1 + rot[r, 2, i] * e2 + site[r, i]
            for c in range(3):
                jj[i, c] = rot[r, 0, i] * j[0, c] + rot[r, 1, i] * j[1, c] + rot[r, 2, i] * j[2, c]
        _mul(jj, rcov[r], tmp)
        _mul(tmp, jj.T, cov[r])
    return pos, cov


@_jit
def near(
    x: F64, p: F64, mu: F64, dt: F64, ppos: F64, pcov: F64, keep: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The tracker's straight-line pre-gate: which of ``n`` tracks (IMM states
    ``x (n, 2, 6)``, ``p``, ``mu``, last updated ``dt`` before the scan) come,
    extrapolated along their combined velocity, within ``5 sigma`` of their
    combined position (trace) ``+ 100 dt^2 + 20 km + 5 sigma`` of a plot
    (``ppos (m, 3)``, ``pcov (m, 3, 3)``) of the scan; rows with ``keep`` set
    are kept whatever their distance.

    A track looks only at the plots whose first ECEF coordinate is within its
    largest possible limit of its own (:func:`_window`: plots sorted on it
    once), so a scan of ``m`` plots costs ``O(n log m)`` plus the close pairs,
    not ``n x m``; the answer is the same as testing every pair."""
    return _near(x, p, mu, dt, ppos, pcov, keep)


@_jit
def near_rows(
    x: F64, p: F64, mu: F64, dt: F64, ppos: F64, pcov: F64, code: NDArray[np.int64]
) -> NDArray[np.int64]:
    """:func:`near` with ``keep`` the tentative tracks (``code`` bit 3, as
    :meth:`Estimator.gather <tocsin.fusion.estimation.Estimator.gather>`
    sets it), returning the kept rows in order (one call where the tracker
    made four)."""
    n = x.shape[0]
    keep = np.empty(n, dtype=np.bool_)
    for t in range(n):
        keep[t] = (code[t] & 8) != 0
    ok = _near(x, p, mu, dt, ppos, pcov, keep)
    return np.flatnonzero(ok)


@_jit_inline
def _near(
    x: F64, p: F64, mu: F64, dt: F64, ppos: F64, pcov: F64, keep: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The body of :func:`near`."""
    n, m = x.shape[0], ppos.shape[0]
    ok = np.zeros(n, dtype=np.bool_)
    psig = np.empty(m)
    for j in range(m):
        psig[j] = 5.0 * math.sqrt(max(pcov[j, 0, 0] + pcov[j, 1, 1] + pcov[j, 2, 2], 0.0))
    order, xs, odd, pmax = _sorted_plots(ppos, psig)
    xc = np.empty(6)
    for t in range(n):
        if keep[t]:
            ok[t] = True
            continue
        for a in range(6):
            xc[a] = mu[t, 0] * x[t, 0, a] + mu[t, 1] * x[t, 1, a]
        var = 0.0
        for k in range(2):
            for a in range(3):
                d = x[t, k, a] - xc[a]
                var += mu[t, k] * (p[t, k, a, a] + d * d)
        h = dt[t]
        p0 = xc[0] + xc[3] * h
        p1 = xc[1] + xc[4] * h
        p2 = xc[2] + xc[5] * h
        rad = 5.0 * math.sqrt(max(var, 0.0)) + 100.0 * h * h + 20_000.0
        lo, hi, every = _window(xs, p0, rad + pmax)
        if every:
            lo, hi = 0, m
        for q in range(lo, hi + (0 if every else odd.shape[0])):
            if every:
                j = q
            elif q < hi:
                j = order[q]
            else:
                j = odd[q - hi]
            lim = rad + psig[j]
            d0, d1, d2 = p0 - ppos[j, 0], p1 - ppos[j, 1], p2 - ppos[j, 2]
            if d0 * d0 + d1 * d1 + d2 * d2 <= lim * lim:
                ok[t] = True
                break
    return ok


@_jit_inline
def _sorted_plots(ppos: F64, rad_p: F64) -> tuple[NDArray[np.int64], F64, NDArray[np.int64], float]:
    """The plots with a finite first coordinate and radius sorted on that
    coordinate (``order``, their coordinates ``xs``), the others (``odd``:
    tested by every track) and the largest finite radius."""
    m = ppos.shape[0]
    fin = np.empty(m, dtype=np.bool_)
    nf = 0
    pmax = 0.0
    for j in range(m):
        fin[j] = (
            math.isfinite(ppos[j, 0])
            and math.isfinite(ppos[j, 1])
            and math.isfinite(ppos[j, 2])
            and math.isfinite(rad_p[j])
        )
        if fin[j]:
            nf += 1
            if rad_p[j] > pmax:
                pmax = rad_p[j]
    idx = np.empty(nf, dtype=np.int64)
    odd = np.empty(m - nf, dtype=np.int64)
    a = b = 0
    for j in range(m):
        if fin[j]:
            idx[a] = j
            a += 1
        else:
            odd[b] = j
            b += 1
    key = np.empty(nf)
    for q in range(nf):
        key[q] = ppos[idx[q], 0]
    srt = np.argsort(key, kind="mergesort")
    order = idx[srt]
    xs = key[srt]
    return order, xs, odd, pmax


@_jit_inline
def _window(xs: F64, centre: float, half: float) -> tuple[int, int, bool]:
    """Positions ``[lo, hi)`` of the sorted coordinates ``xs`` within
    ``half`` (widened by a metre and 1e-9 of itself: far more than rounding,
    so no pair the exact test would pass is left out) of ``centre``; with
    ``every`` (a non-finite centre or half-width) the caller tests all plots."""
    if not (math.isfinite(centre) and math.isfinite(half)):
        return 0, 0, True
    w = half * (1.0 + 1e-9) + 1.0
    lo = int(np.searchsorted(xs, centre - w, side="left"))
    hi = int(np.searchsorted(xs, centre + w, side="right"))
    return lo, hi, False


@_jit_inline
def _radar_h(xs: F64, site: F64, rot: F64, md: int, zh: F64, hm: F64) -> None:
    """Predicted measurement ``zh (md,)`` and Jacobian ``hm (md, 6)`` of the
    state ``xs (6,)`` from a radar at ``site`` with ECEF->ENU ``rot``."""
    dr0, dr1, dr2 = xs[0] - site[0], xs[1] - site[1], xs[2] - site[2]
    e = rot[0, 0] * dr0 + rot[0, 1] * dr1 + rot[0, 2] * dr2
    nn = rot[1, 0] * dr0 + rot[1, 1] * dr1 + rot[1, 2] * dr2
    up = rot[2, 0] * dr0 + rot[2, 1] * dr1 + rot[2, 2] * dr2
    h2 = e * e + nn * nn
    h = math.sqrt(h2)
    rho2 = h2 + up * up
    rho = math.sqrt(rho2)
    zh[0] = rho
    az = math.atan2(e, nn) % _TWO_PI
    zh[1] = az
    zh[2] = math.atan2(up, h)
    # d(range, az, el) / d(enu), then times rot: d / d(ECEF position)
    j00, j01, j02 = e / rho, nn / rho, up / rho
    j10, j11 = nn / h2, -e / h2
    j20, j21, j22 = -e * up / (rho2 * h), -nn * up / (rho2 * h), h / rho2
    for c in range(3):
        hm[0, c] = j00 * rot[0, c] + j01 * rot[1, c] + j02 * rot[2, c]
        hm[1, c] = j10 * rot[0, c] + j11 * rot[1, c]
        hm[2, c] = j20 * rot[0, c] + j21 * rot[1, c] + j22 * rot[2, c]
        hm[0, c + 3] = 0.0
        hm[1, c + 3] = 0.0
        hm[2, c + 3] = 0.0
    if md == 4:
        u0, u1, u2 = dr0 / rho, dr1 / rho, dr2 / rho
        rr = u0 * xs[3] + u1 * xs[4] + u2 * xs[5]
        zh[3] = rr
        hm[3, 0] = (xs[3] - rr * u0) / rho
        hm[3, 1] = (xs[4] - rr * u1) / rho
        hm[3, 2] = (xs[5] - rr * u2) / rho
        hm[3, 3], hm[3, 4], hm[3, 5] = u0, u1, u2


@_jit_inline
def _innovation_scratch(md: int) -> tuple[F64, F64, F64, F64, F64, F64]:
    """Work arrays of :func:`_innovation` and :func:`_d2_logdet` for a
    measurement of dimension ``md``: ``nu, hm, ph, s, lo, y``."""
    return (
        np.empty(md),
        np.empty((md, 6)),
        np.empty((6, md)),
        np.empty((md, md)),
        np.zeros((md, md)),
        np.empty(md),
    )


@_jit_inline
def _innovation(
    xs: F64, ps: F64, z: F64, site: F64, rot: F64, r: F64, md: int, nu: F64, hm: F64, ph: F64, s: F64, lo: F64
) -> bool:
    """Residual ``nu``, Jacobian ``hm``, ``ph = P H^T`` and the Cholesky
    factor ``lo`` of ``S = H P H^T + R`` (symmetrised); False if ``S`` is not
    positive definite or not finite."""
    _radar_h(xs, site, rot, md, nu, hm)
    for i in range(md):
        nu[i] = z[i] - nu[i]
    nu[1] = (nu[1] + math.pi) % _TWO_PI - math.pi
    for a in range(6):
        for i in range(md):
            acc = 0.0
            for b in range(6):
                acc += ps[a, b] * hm[i, b]
            ph[a, i] = acc
    for i in range(md):
        for j in range(md):
            acc = r[i, j]
            for a in range(6):
                acc += hm[i, a] * ph[a, j]
            s[i, j] = acc
    for i in range(md):
        for j in range(i):
            v = 0.5 * (s[i, j] + s[j, i])
            s[i, j] = v
            s[j, i] = v
    # Cholesky S = L L^T
    for i in range(md):
        for j in range(i + 1):
            acc = s[i, j]
            for k in range(j):
                acc -= lo[i, k] * lo[j, k]
            if i == j:
                if not acc > 0.0:  # also catches NaN
                    return False
                lo[i, i] = math.sqrt(acc)
            else:
                lo[i, j] = acc / lo[j, j]
    return True


@_jit_inline
def _solve(lo: F64, md: int, b: F64, out: F64) -> None:
    """``out = S^-1 b`` from the Cholesky factor ``lo`` of ``S``."""
    for i in range(md):
        acc = b[i]
        for k in range(i):
            acc -= lo[i, k] * out[k]
        out[i] = acc / lo[i, i]
    for i in range(md - 1, -1, -1):
        acc = out[i]
        for k in range(i + 1, md):
            acc -= lo[k, i] * out[k]
        out[i] = acc / lo[i, i]


@_jit_inline
def _d2_logdet(lo: F64, md: int, nu: F64, y: F64) -> tuple[float, float]:
    """Mahalanobis distance ``nu^T S^-1 nu`` and ``ln det S`` from the Cholesky
    factor ``lo`` of ``S`` (``y``: scratch, left holding ``S^-1 nu``)."""
    _solve(lo, md, nu, y)
    d2s = 0.0
    logdet = 0.0
    for i in range(md):
        d2s += nu[i] * y[i]
        logdet += 2.0 * math.log(lo[i, i])
    return d2s, logdet


@_jit_inline
def _radar_update(
    xs: F64,
    ps: F64,
    z: F64,
    site: F64,
    rot: F64,
    r: F64,
    md: int,
    scratch: tuple[F64, F64, F64, F64, F64, F64],
    kg: F64,
    row: F64,
    xo: F64,
    po: F64,
) -> tuple[bool, float, float]:
    """EKF update of one state ``xs (6,)``, ``ps (6, 6)`` with one radar plot
    into ``xo``, ``po``: ``(ok, d2, ln det S)``; not ``ok`` (and ``xo``, ``po``
    untouched) when ``S`` is not positive definite. The gain ``K = P H^T
    S^-1`` row by row (``S`` symmetric), ``P = P- - K (P H^T)^T``
    symmetrised. ``scratch``: :func:`_innovation_scratch`."""
    nu, hm, ph, s, lo, y = scratch
    if not _innovation(xs, ps, z, site, rot, r, md, nu, hm, ph, s, lo):
        return False, math.nan, math.nan
    for a in range(6):
        for i in range(md):
            row[i] = ph[a, i]
        _solve(lo, md, row, y)
        for i in range(md):
            kg[a, i] = y[i]
    d2s, logdet = _d2_logdet(lo, md, nu, y)
    for a in range(6):
        acc = xs[a]
        for i in range(md):
            acc += kg[a, i] * nu[i]
        xo[a] = acc
    for a in range(6):
        for b in range(a + 1):
            acc1 = ps[a, b]
            acc2 = ps[b, a]
            for i in range(md):
                acc1 -= kg[a, i] * ph[b, i]
                acc2 -= kg[b, i] * ph[a, i]
            v = 0.5 * (acc1 + acc2)
            po[a, b] = v
            po[b, a] = v
    return True, d2s, logdet


@_jit
def gate_radar(
    xc: F64,
    pc: F64,
    z: F64,
    site: F64,
    rot: F64,
    r: F64,
    gate: float,
    ppos: F64,
    pcov: F64,
    prefilter: bool,
) -> tuple[NDArray[np.int64], F64]:
    """Gated (track, plot) pairs ``(K, 2)`` and their costs ``d^2 + ln det S``
    for combined estimates ``xc (n, 6), pc (n, 6, 6)`` and radar plots
    ``z (m, 3|4)`` (sites, rotations, noise per plot), in (track, plot)
    order. With ``prefilter``, a pair is tested only if the track and the plot
    (ECEF ``ppos``, ``pcov``) are within 4.5 sigma of each (trace) apart; a
    track then looks only at the plots whose first ECEF coordinate is near
    its own (:func:`near` does the same), so a large scan costs ``O(n log m)``
    plus the close pairs, with the same pairs and costs as testing all."""
    n, m, md = xc.shape[0], z.shape[0], z.shape[1]
    cap = n * m if not prefilter else max(16, 4 * n)
    pairs = np.empty((cap, 2), dtype=np.int64)
    cost = np.empty(cap)
    nu, hm, ph, s, lo, y = _innovation_scratch(md)
    rad_t = np.zeros(n)
    rad_p = np.zeros(m)
    if prefilter:
        for t in range(n):
            rad_t[t] = 4.5 * math.sqrt(max(pc[t, 0, 0] + pc[t, 1, 1] + pc[t, 2, 2], 0.0))
        for j in range(m):
            rad_p[j] = 4.5 * math.sqrt(max(pcov[j, 0, 0] + pcov[j, 1, 1] + pcov[j, 2, 2], 0.0))
    order, xs, odd, pmax = _sorted_plots(ppos, rad_p)
    cand = np.empty(m, dtype=np.int64)
    k = 0
    for t in range(n):
        nc = 0
        if prefilter:
            # the plots this track may pass the distance test with, in plot order
            a, b, every = _window(xs, xc[t, 0], rad_t[t] + pmax)
            if every:
                for j in range(m):
                    cand[j] = j
                nc = m
            else:
                for q in range(a, b):
                    cand[nc] = order[q]
                    nc += 1
                for q in range(odd.shape[0]):
                    cand[nc] = odd[q]
                    nc += 1
                cand[:nc].sort()
        else:
            for j in range(m):
                cand[j] = j
            nc = m
        for q in range(nc):
            j = cand[q]
            if prefilter:
                d0 = xc[t, 0] - ppos[j, 0]
                d1 = xc[t, 1] - ppos[j, 1]
                d2 = xc[t, 2] - ppos[j, 2]
                lim = rad_t[t] + rad_p[j]
                if d0 * d0 + d1 * d1 + d2 * d2 > lim * lim:
                    continue
            if not _innovation(xc[t], pc[t], z[j], site[j], rot[j], r[j], md, nu, hm, ph, s, lo):
                continue
            d2s, logdet = _d2_logdet(lo, md, nu, y)
            if not (d2s <= gate):  # also drops NaN
                continue
            if k == cap:
                cap *= 2
                grown = np.empty((cap, 2), dtype=np.int64)
                grown[:k] = pairs[:k]
                pairs = grown
                more = np.empty(cap)
                more[:k] = cost[:k]
                cost = more
            pairs[k, 0] = t
            pairs[k, 1] = j
            cost[k] = d2s + logdet
            k += 1
    return pairs[:k].copy(), cost[:k].copy()


@_jit
def update_radar(
    xp: F64,
    pp: F64,
    cbar: F64,
    ti: NDArray[np.int64],
    z: F64,
    site: F64,
    rot: F64,
    r: F64,
    mj: NDArray[np.int64],
) -> tuple[F64, F64, F64, F64, F64]:
    """EKF update of both models of tracks ``ti`` (rows of ``xp (N, 2, 6)``,
    ``pp (N, 2, 6, 6)``, predicted probabilities ``cbar (N, 2)``) with radar
    plots ``mj`` (rows of ``z (M, md)``, ``site``, ``rot``, ``r``), one each.
    Returns, per pair, the updated ``(x, P)``, the posterior model
    probabilities (clipped to ``[1e-6, 1]``) and the combined estimate
    ``(xc, pc)``. A model whose ``S`` is not positive definite gets NaN (the
    tracker then ends the track)."""
    n, md = ti.shape[0], z.shape[1]
    xn = np.empty((n, 2, 6))
    pn = np.empty((n, 2, 6, 6))
    mu = np.empty((n, 2))
    scratch = _innovation_scratch(md)
    kg = np.empty((6, md))
    row = np.empty(md)
    ll = np.empty(2)
    for t in range(n):
        a_ = ti[t]
        j = mj[t]
        for k in range(2):
            ok, d2s, logdet = _radar_update(
                xp[a_, k], pp[a_, k], z[j], site[j], rot[j], r[j], md, scratch, kg, row, xn[t, k], pn[t, k]
            )
            if not ok:
                xn[t, k, :] = np.nan
                pn[t, k, :, :] = np.nan
                ll[k] = np.nan
                continue
            ll[k] = -0.5 * (d2s + logdet + md * _LOG_2PI)
        top = max(ll[0], ll[1])
        w0 = cbar[a_, 0] * math.exp(ll[0] - top)
        w1 = cbar[a_, 1] * math.exp(ll[1] - top)
        tot = w0 + w1
        mu[t, 0] = min(max(w0 / tot, 1e-6), 1.0)
        mu[t, 1] = min(max(w1 / tot, 1e-6), 1.0)
    xc, pc = imm_combine(xn, pn, mu)
    return xn, pn, mu, xc, pc


@_jit
def predict_ncv_imm(
    x: F64, p: F64, mu: F64, dt: F64, tau0: F64, tau1: F64, q0: F64, q1: F64
) -> tuple[F64, F64, F64, F64, F64, NDArray[np.bool_]]:
    """IMM mixing and NCV prediction of both models of ``n`` tracks
    (:func:`imm_mix` then :func:`ncv_predict`, quiet density ``q0``,
    manoeuvre ``q1``), the combined prediction (:func:`imm_combine` with the
    predicted probabilities) and whether it is finite and above the Earth's
    centre-distance floor of 6,300 km."""
    n = x.shape[0]
    x0, p0, cbar = imm_mix(x, p, mu, dt, tau0, tau1)
    d2 = np.empty(2 * n)
    q2 = np.empty(2 * n)
    for t in range(n):
        d2[2 * t] = dt[t]
        d2[2 * t + 1] = dt[t]
        q2[2 * t] = q0[t]
        q2[2 * t + 1] = q1[t]
    xp, pp = ncv_predict(x0.reshape(2 * n, 6), p0.reshape(2 * n, 6, 6), d2, q2)
    xp3 = xp.reshape(n, 2, 6)
    pp4 = pp.reshape(n, 2, 6, 6)
    xc, pc = imm_combine(xp3, pp4, cbar)
    return xp3, pp4, cbar, xc, pc, physical(xc, pc)


@_jit
def refilter_ncv_radar(
    x: F64,
    p: F64,
    mu: F64,
    t0: F64,
    tau0: F64,
    tau1: F64,
    q0: F64,
    q1: F64,
    start: NDArray[np.int64],
    ts: F64,
    z: F64,
    md: NDArray[np.int64],
    site: F64,
    rot: F64,
    r: F64,
) -> tuple[F64, F64, F64, F64, F64]:
    """Buffered re-filtering of ``n`` air tracks with radar plots, in one
    call: track ``i`` (IMM state ``x[i] (2, 6)``, ``p[i]``, ``mu[i]`` at
    ``t0[i]``, sojourn times ``tau0, tau1`` and densities ``q0, q1``) takes
    the plots ``start[i]:start[i + 1]`` in order (times ``ts``, ``z (S, 4)``
    of which the first ``md`` are used, ``site``, ``rot``, ``r (S, 4, 4)``),
    each by :func:`predict_ncv_imm` to its time and :func:`update_radar`:
    the same kernels, in the same order, as the tracker's step-by-step path
    (one prediction and one update per plot), so the results are the same
    bit for bit. Returns per plot the updated ``x (S, 2, 6)``, ``p``, ``mu``
    and the combined ``xc (S, 6)``, ``pc (S, 6, 6)``."""
    n_tr = x.shape[0]
    n_st = ts.shape[0]
    xs = np.empty((n_st, 2, 6))
    ps = np.empty((n_st, 2, 6, 6))
    mus = np.empty((n_st, 2))
    xcs = np.empty((n_st, 6))
    pcs = np.empty((n_st, 6, 6))
    zero = np.zeros(1, dtype=np.int64)
    dt = np.empty(1)
    for i in range(n_tr):
        cx = x[i : i + 1].copy()
        cp = p[i : i + 1].copy()
        cmu = mu[i : i + 1].copy()
        ct = t0[i]
        for s in range(start[i], start[i + 1]):
            dt[0] = ts[s] - ct
            xp, pp, cbar, _, _, _ = predict_ncv_imm(
                cx, cp, cmu, dt, tau0[i : i + 1], tau1[i : i + 1], q0[i : i + 1], q1[i : i + 1]
            )
            m = md[s]
            zz = np.empty((1, m))
            rr = np.empty((1, m, m))
            for a in range(m):
                zz[0, a] = z[s, a]
                for b in range(m):
                    rr[0, a, b] = r[s, a, b]
            xn, pn, mun, xc, pc = update_radar(
                xp, pp, cbar, zero, zz, site[s : s + 1].copy(), rot[s : s + 1].copy(), rr, zero
            )
            xs[s] = xn[0]
            ps[s] = pn[0]
            mus[s] = mun[0]
            xcs[s] = xc[0]
            pcs[s] = pc[0]
            cx, cp, cmu = xn, pn, mun
            ct = ts[s]
    return xs, ps, mus, xcs, pcs


@_jit
def physical(xc: F64, pc: F64) -> NDArray[np.bool_]:
    """Rows whose state and covariance are finite and whose position is
    more than 6,300 km from the Earth's centre (inside that, a prediction has
    gone through the ground or diverged)."""
    n = xc.shape[0]
    ok = np.empty(n, dtype=np.bool_)
    for t in range(n):
        good = True
        for a in range(6):
            if not math.isfinite(xc[t, a]):
                good = False
            for b in range(6):
                if not math.isfinite(pc[t, a, b]):
                    good = False
        r2 = xc[t, 0] * xc[t, 0] + xc[t, 1] * xc[t, 1] + xc[t, 2] * xc[t, 2]
        ok[t] = good and r2 > 6.3e6 * 6.3e6
    return ok


_A2 = WGS84_A * WGS84_A
_B2 = WGS84_B * WGS84_B
_AB = WGS84_A * WGS84_B


@_jit_inline
def _quad3(u0: float, u1: float, u2: float, p: F64, t: int, o: int) -> float:
    """``u^T P[o:o+3, o:o+3] u`` of row ``t`` of ``p (n, 6, 6)``."""
    acc = 0.0
    u = (u0, u1, u2)
    for i in range(3):
        for j in range(3):
            acc += u[i] * p[t, o + i, o + j] * u[j]
    return acc


@_jit
def classify_features(x: F64, p: F64, var_max: float) -> tuple[NDArray[np.int64], F64, F64, F64, F64, F64]:
    """What the classification rule reads of combined estimates ``x (n, 6)``,
    ``p (n, 6, 6)``: per row ``good`` (1: the largest velocity variance is at
    most ``var_max`` since the trace is; 0: it is not, as some diagonal
    element exceeds it; 2: undecided, the caller takes the eigenvalues),
    the height along the geocentric radius (as
    :func:`tocsin.fusion.propagate.height`), the climb rate, the speed,
    the mean position variance ``trace(P_pos) / 3``, and ``sig (n, 3)`` the
    sigmas of the height, the climb rate and the speed (the variance of
    position along the radius, of velocity along the radius and along the
    velocity; the ballistic vote's margins)."""
    n = x.shape[0]
    good = np.empty(n, dtype=np.int64)
    alt = np.empty(n)
    vz = np.empty(n)
    speed = np.empty(n)
    pvar = np.empty(n)
    sig = np.empty((n, 3))
    for t in range(n):
        tr = p[t, 3, 3] + p[t, 4, 4] + p[t, 5, 5]
        if tr <= var_max:
            good[t] = 1
        elif p[t, 3, 3] > var_max or p[t, 4, 4] > var_max or p[t, 5, 5] > var_max:
            good[t] = 0
        else:
            good[t] = 2
        rn = math.sqrt(x[t, 0] * x[t, 0] + x[t, 1] * x[t, 1] + x[t, 2] * x[t, 2])
        s2 = (x[t, 2] / rn) ** 2
        alt[t] = rn - _AB / math.sqrt(_B2 * (1.0 - s2) + _A2 * s2)
        vz[t] = (x[t, 0] * x[t, 3] + x[t, 1] * x[t, 4] + x[t, 2] * x[t, 5]) / rn
        sp = math.sqrt(x[t, 3] * x[t, 3] + x[t, 4] * x[t, 4] + x[t, 5] * x[t, 5])
        speed[t] = sp
        pvar[t] = (p[t, 0, 0] + p[t, 1, 1] + p[t, 2, 2]) / 3.0
        vs = sp if sp > 0.0 else 1.0
        qa = 0.0
        qz = 0.0
        qs = 0.0
        for i in range(3):
            ri = x[t, i] / rn
            vi = x[t, 3 + i] / vs
            for j in range(3):
                rj = x[t, j] / rn
                qa += ri * p[t, i, j] * rj
                qz += ri * p[t, 3 + i, 3 + j] * rj
                qs += vi * p[t, 3 + i, 3 + j] * (x[t, 3 + j] / vs)
        sig[t, 0] = math.sqrt(max(qa, 0.0))
        sig[t, 1] = math.sqrt(max(qz, 0.0))
        sig[t, 2] = math.sqrt(max(qs, 0.0))
    return good, alt, vz, speed, pvar, sig


@_jit
def imm_params(
    code: NDArray[np.int64],
    x: F64,
    q_air: float,
    q_ballistic: float,
    q_ballistic_vacuum: float,
    q_maneuver: float,
    q_boost: float,
    drag_ceiling: float,
    tau: float,
    tau_air_quiet: float,
    tau_air_maneuver: float,
) -> tuple[F64, F64, F64, F64]:
    """Per-track process-noise densities ``(q0, q1)`` of the quiet and the
    manoeuvre model and mean sojourn times ``(tau0, tau1)`` from each track's
    ``code`` (bit 0 ballistic, bit 1 past burnout, bit 2 aircraft) and
    quiet-model position ``x[:, 0, :3]`` (the ballistic density drops to
    ``q_ballistic_vacuum`` above the drag ceiling). The rule is the
    tracker's (``Tracker._q``)."""
    n = code.shape[0]
    q0 = np.empty(n)
    q1 = np.empty(n)
    tau0 = np.empty(n)
    tau1 = np.empty(n)
    for t in range(n):
        bal = (code[t] & 1) != 0
        coast = (code[t] & 2) != 0
        air = (code[t] & 4) != 0
        q_bal = q_ballistic
        if bal:
            rn = math.sqrt(x[t, 0, 0] * x[t, 0, 0] + x[t, 0, 1] * x[t, 0, 1] + x[t, 0, 2] * x[t, 0, 2])
            s2 = (x[t, 0, 2] / rn) ** 2
            if rn - _AB / math.sqrt(_B2 * (1.0 - s2) + _A2 * s2) > drag_ceiling:
                q_bal = q_ballistic_vacuum
        q0[t] = q_bal if bal else q_air
        q1[t] = q_bal if coast else (q_maneuver if air else q_boost)
        tau0[t] = tau_air_quiet if air else tau
        tau1[t] = tau_air_maneuver if air else tau
    return q0, q1, tau0, tau1


@_jit
def imm_params_rows(
    code: NDArray[np.int64],
    x: F64,
    q_air: float,
    q_ballistic: float,
    q_ballistic_vacuum: float,
    q_maneuver: float,
    q_boost: float,
    drag_ceiling: float,
    tau: float,
    tau_air_quiet: float,
    tau_air_maneuver: float,
) -> F64:
    """:func:`imm_params` as one array ``(4, n)``, rows ``q0, q1, tau0,
    tau1`` (one returned array instead of four: the tracker unpacks the rows
    as views)."""
    q0, q1, tau0, tau1 = imm_params(
        code,
        x,
        q_air,
        q_ballistic,
        q_ballistic_vacuum,
        q_maneuver,
        q_boost,
        drag_ceiling,
        tau,
        tau_air_quiet,
        tau_air_maneuver,
    )
    n = code.shape[0]
    out = np.empty((4, n))
    out[0] = q0
    out[1] = q1
    out[2] = tau0
    out[3] = tau1
    return out


@_jit
def alone(pairs: NDArray[np.int64], n: int, m: int) -> NDArray[np.bool_]:
    """Which gated ``(track, plot)`` pairs ``(K, 2)`` are their own component
    of the gate graph: the track is in no other pair and neither is the plot."""
    cnt_t = np.zeros(n, dtype=np.int64)
    cnt_m = np.zeros(m, dtype=np.int64)
    k = pairs.shape[0]
    for i in range(k):
        cnt_t[pairs[i, 0]] += 1
        cnt_m[pairs[i, 1]] += 1
    out = np.empty(k, dtype=np.bool_)
    for i in range(k):
        out[i] = cnt_t[pairs[i, 0]] == 1 and cnt_m[pairs[i, 1]] == 1
    return out


@_jit
def model_gate_rows(
    code: NDArray[np.int64], q1: F64, q_boost: float, pairs: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The rows the manoeuvre model's own gate looks at
    (:meth:`Associator.model_gate <tocsin.fusion.association.Associator.model_gate>`):
    established tracks (``code`` bit 3 clear) whose manoeuvre density ``q1``
    is below ``q_boost`` (a manoeuvre, not thrust) and that are in none of
    the gated ``pairs``, in order."""
    n = code.shape[0]
    hit = np.zeros(n, dtype=np.bool_)
    for i in range(pairs.shape[0]):
        hit[pairs[i, 0]] = True
    out = np.empty(n, dtype=np.int64)
    k = 0
    for t in range(n):
        if (code[t] & 8) == 0 and q1[t] < q_boost and not hit[t]:
            out[k] = t
            k += 1
    return out[:k].copy()


@_jit
def classify_rows(x: F64, p: F64, var_max: float, k: float, alt_b: float) -> F64:
    """:func:`classify_features` packed for the classification rule
    (:meth:`Ballistic.classify <tocsin.fusion.ballistic.Ballistic.classify>`):
    per row ``[good, height, climb rate, speed, pvar, ballistic vote]`` (the
    vote 1.0 when the speed less ``k`` of its sigma exceeds 1,200 m/s, the
    height less ``k`` of its sigma ``alt_b``, or the climb rate less ``k`` of
    its sigma 250 m/s; else 0.0): one array, one ``tolist`` for all rows."""
    good, alt, vz, speed, pvar, sig = classify_features(x, p, var_max)
    n = x.shape[0]
    out = np.empty((n, 6))
    for t in range(n):
        out[t, 0] = good[t]
        out[t, 1] = alt[t]
        out[t, 2] = vz[t]
        out[t, 3] = speed[t]
        out[t, 4] = pvar[t]
        vote = (
            (speed[t] - k * sig[t, 2] > 1200.0)
            or (alt[t] - k * sig[t, 0] > alt_b)
            or (vz[t] - k * sig[t, 1] > 250.0)
        )
        out[t, 5] = 1.0 if vote else 0.0
    return out


# --- ballistic prediction (as tocsin.fusion.models.ballistic_predict_reference) ---------

_BA2 = WGS84_A * WGS84_A
_BB2 = WGS84_B * WGS84_B
_BAB = WGS84_A * WGS84_B
_OM2 = OMEGA_E * OMEGA_E
_N_SEG = _COEF.shape[0]


@_jit_inline
def _lnrho_and_slope(h: float) -> tuple[float, float]:
    """:func:`tocsin.dynamics.atmosphere.density_and_slope` of one height."""
    v = min(max(h, 0.0), DRAG_CEILING_M) / STEP_M
    i = min(int(v), _N_SEG - 1)
    u = v - i
    c0, c1, c2, c3 = _COEF[i, 0], _COEF[i, 1], _COEF[i, 2], _COEF[i, 3]
    ln = c0 + u * (c1 + u * (c2 + u * c3))
    s = (c1 + u * (2.0 * c2 + 3.0 * u * c3)) / STEP_M
    if h >= DRAG_CEILING_M:
        return 0.0, 0.0
    if h < 0.0:
        s = 0.0
    return math.exp(ln), s


@_jit_inline
def _geo_height(x: float, y: float, z: float) -> float:
    """:func:`tocsin.fusion.propagate.height` of one position."""
    rn = math.sqrt(x * x + y * y + z * z)
    s = z / rn
    s2 = s * s
    return rn - _BAB / math.sqrt(_BB2 * (1.0 - s2) + _BA2 * s2)


@_jit_inline
def _dyn(y: F64, a: F64) -> None:
    """The linearised dynamics ``A`` (6, 6) at one state
    (:func:`tocsin.fusion.models._dyn_matrix`)."""
    rn = math.sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2])
    u0, u1, u2 = y[0] / rn, y[1] / rn, y[2] / rn
    c = GM / rn**3
    for i in range(6):
        for j in range(6):
            a[i, j] = 0.0
    for i in range(3):
        a[i, i + 3] = 1.0
    u = (u0, u1, u2)
    for i in range(3):
        for j in range(3):
            g = c * (3.0 * u[i] * u[j] - (1.0 if i == j else 0.0))
            a[3 + i, j] = g
    # - W W = diag(w^2, w^2, 0); -2 W: [[0, 2w, 0], [-2w, 0, 0], [0, 0, 0]]
    a[3, 0] = a[3, 0] + _OM2
    a[4, 1] = a[4, 1] + _OM2
    a[3, 4] = 2.0 * OMEGA_E
    a[4, 3] = -2.0 * OMEGA_E


@_jit_inline
def _second_order(a: F64, h: float, out: F64) -> None:
    """``I + A h + A^2 h^2 / 2`` (6, 6)."""
    hh = h * h / 2.0
    for i in range(6):
        for j in range(6):
            s = 0.0
            for k in range(6):
                s += a[i, k] * a[k, j]
            out[i, j] = (1.0 if i == j else 0.0) + a[i, j] * h + s * hh


@_jit_inline
def _batch_step_scale(x: F64, dt: F64, beta: F64, drag: bool) -> tuple[float, float]:
    """For :func:`ballistic_predict`'s step rule (and :func:`stiff_rows`, which
    re-derives it): the largest ``|dt|`` of the batch and, with ``drag``, the
    largest drag rate ``rho |v| / (2 beta)`` at the rows' start (else 0)."""
    big = 0.0
    k_drag = 0.0
    for r in range(x.shape[0]):
        big = max(big, abs(dt[r]))
        if drag:
            rho, _ = _lnrho_and_slope(_geo_height(x[r, 0], x[r, 1], x[r, 2]))
            sp = math.sqrt(x[r, 3] * x[r, 3] + x[r, 4] * x[r, 4] + x[r, 5] * x[r, 5])
            k_drag = max(k_drag, 0.5 * rho * sp / beta[r])
    return big, k_drag


@_jit
def ballistic_predict(
    x: F64, dt: F64, beta: F64, drag: bool, max_step: float, taylor_max_s: float
) -> tuple[F64, F64]:
    """Ballistic prediction of states ``x (N, 6)`` by ``dt (N,)`` with drag
    (``drag``) of per-row ``beta (N,)``: ``(x_pred, Phi)``, as
    :func:`tocsin.fusion.models.ballistic_predict_reference` (the same Taylor
    step for short steps and RK4 substeps for long ones, chosen for the whole
    batch by the same rule)."""
    n = x.shape[0]
    y = np.empty((n, 6))
    phi = np.empty((n, 6, 6))
    big, k_drag = _batch_step_scale(x, dt, beta, drag)
    a = np.empty((6, 6))
    f = np.empty(6)
    if big <= taylor_max_s and big * k_drag <= 0.04:
        for r in range(n):
            xr = x[r]
            h = dt[r]
            _dyn(xr, a)
            _second_order(a, h, phi[r])
            deriv(xr, beta[r] if drag else math.nan, f)
            jerk = np.empty(3)
            for i in range(3):
                s = 0.0
                for k in range(6):
                    s += a[3 + i, k] * f[k]
                jerk[i] = s
            if drag:
                rho, slope = _lnrho_and_slope(_geo_height(xr[0], xr[1], xr[2]))
                kk = rho / (2.0 * beta[r])
                sp = max(math.sqrt(xr[3] * xr[3] + xr[4] * xr[4] + xr[5] * xr[5]), 1e-9)
                rn = math.sqrt(xr[0] * xr[0] + xr[1] * xr[1] + xr[2] * xr[2])
                vup = (xr[0] * xr[3] + xr[1] * xr[4] + xr[2] * xr[5]) / rn
                va = (xr[3] * f[3] + xr[4] * f[4] + xr[5] * f[5]) / sp
                c1 = kk * slope * vup * sp
                for i in range(3):
                    jerk[i] = jerk[i] - c1 * xr[3 + i] - kk * (va * xr[3 + i] + sp * f[3 + i])
            for i in range(3):
                y[r, i] = xr[i] + xr[3 + i] * h + f[3 + i] * (h * h / 2.0) + jerk[i] * (h**3 / 6.0)
                y[r, 3 + i] = xr[3 + i] + f[3 + i] * h + jerk[i] * (h * h / 2.0)
        return y, phi
    steps = max(1, math.ceil(big / max_step), math.ceil(big * k_drag / 0.3))
    sp_ = np.empty((6, 6))
    nxt = np.empty((6, 6))
    k1 = np.empty(6)
    k2 = np.empty(6)
    k3 = np.empty(6)
    k4 = np.empty(6)
    tmp = np.empty(6)
    yr = np.empty(6)
    for r in range(n):
        h = dt[r] / steps
        b = beta[r] if drag else math.nan
        for j in range(6):
            yr[j] = x[r, j]
        ph = phi[r]
        for i in range(6):
            for j in range(6):
                ph[i, j] = 1.0 if i == j else 0.0
        for _ in range(steps):
            _dyn(yr, a)
            _second_order(a, h, sp_)
            _mul(sp_, ph, nxt)
            for i in range(6):
                for j in range(6):
                    ph[i, j] = nxt[i, j]
            deriv(yr, b, k1)
            for j in range(6):
                tmp[j] = yr[j] + (0.5 * h) * k1[j]
            deriv(tmp, b, k2)
            for j in range(6):
                tmp[j] = yr[j] + (0.5 * h) * k2[j]
            deriv(tmp, b, k3)
            for j in range(6):
                tmp[j] = yr[j] + h * k3[j]
            deriv(tmp, b, k4)
            for j in range(6):
                yr[j] = yr[j] + (h / 6.0) * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
        for j in range(6):
            y[r, j] = yr[j]
    return y, phi


@_jit
def stiff_rows(
    x: F64, y: F64, dt: F64, beta: F64, drag: bool, max_step: float, taylor_max_s: float
) -> NDArray[np.bool_]:
    """Rows of a :func:`ballistic_predict` (``x`` to ``y`` by ``dt``) that
    went unstable: its equal substeps are chosen from the drag at the start
    (``k h <= 0.3``), and an object falling into denser air during a long
    prediction can reach ``k h`` past RK4's stability limit (2.8): the
    state then explodes (a lost light piece re-filtered from its last
    update 100 s back was "confirmed" 98 million km away). A forward row is
    unstable when its result is not finite, when it ends with ``k h > 0.6``
    (``k``: the drag rate in the air where it ends at the larger of its
    start and end speeds -- a step that overshot the slowing ends slow --,
    ``h``: the substep used; twice the 0.3 the substeps were chosen for) or
    when it
    gained more speed than gravity can give (10 m/s^2, plus 1 m/s).
    Backward rows (``dt <= 0``) are not judged."""
    n = x.shape[0]
    big, k_drag = _batch_step_scale(x, dt, beta, drag)
    steps = 1
    if not (big <= taylor_max_s and big * k_drag <= 0.04):
        steps = max(1, math.ceil(big / max_step), math.ceil(big * k_drag / 0.3))
    bad = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        if not dt[r] > 0.0:
            continue
        fin = True
        for j in range(6):
            if not math.isfinite(y[r, j]):
                fin = False
        if not fin:
            bad[r] = True
            continue
        s0 = math.sqrt(x[r, 3] * x[r, 3] + x[r, 4] * x[r, 4] + x[r, 5] * x[r, 5])
        s1 = math.sqrt(y[r, 3] * y[r, 3] + y[r, 4] * y[r, 4] + y[r, 5] * y[r, 5])
        if s1 > s0 + 10.0 * dt[r] + 1.0:
            bad[r] = True
            continue
        if drag:
            rho, _ = _lnrho_and_slope(_geo_height(y[r, 0], y[r, 1], y[r, 2]))
            if 0.5 * rho * max(s0, s1) / beta[r] * (dt[r] / steps) > 0.6:
                bad[r] = True
    return bad


@_jit
def update_radar_rows(x: F64, p: F64, z: F64, site: F64, rot: F64, r: F64) -> tuple[F64, F64, F64, F64]:
    """EKF update of states ``x (K, 6)``, ``p (K, 6, 6)`` (a drag bank's
    members) with one radar plot ``z (md,)`` (its ``site``, ``rot``, noise
    ``r``): ``(x, P, d2, ln det S)`` per row, as
    :func:`tocsin.fusion.filters.ekf_update` of
    :meth:`tocsin.fusion.estimation.Estimator.residual` (``S`` factored by
    Cholesky; a row whose ``S`` is not positive definite gets NaN)."""
    k_, md = x.shape[0], z.shape[0]
    xn = np.empty((k_, 6))
    pn = np.empty((k_, 6, 6))
    d2 = np.empty(k_)
    ld = np.empty(k_)
    scratch = _innovation_scratch(md)
    kg = np.empty((6, md))
    row = np.empty(md)
    for t in range(k_):
        ok, d2s, logdet = _radar_update(x[t], p[t], z, site, rot, r, md, scratch, kg, row, xn[t], pn[t])
        if not ok:
            xn[t, :] = np.nan
            pn[t, :, :] = np.nan
        d2[t] = d2s
        ld[t] = logdet
    return xn, pn, d2, ld


@_jit
def cov_predict(f: F64, p: F64, dt: F64, q: F64) -> F64:
    """``F P F^T + Q`` of rows ``f, p (N, 6, 6)``, ``Q`` white acceleration
    of density ``q (N,)`` over ``|dt| (N,)`` (as
    :func:`tocsin.fusion.models.white_accel_q`)."""
    n = f.shape[0]
    out = np.empty((n, 6, 6))
    fp = np.empty((6, 6))
    for t in range(n):
        _mul(f[t], p[t], fp)
        a = abs(dt[t])
        c3 = q[t] * a**3 / 3.0
        c2 = q[t] * a**2 / 2.0
        c1 = q[t] * a
        _mul(fp, f[t].T, out[t])  # the upper triangle is mirrored below
        for i in range(3):
            out[t, i, i] += c3
            out[t, i + 3, i] += c2
            out[t, i + 3, i + 3] += c1
        for i in range(6):
            for j in range(i + 1, 6):
                out[t, i, j] = out[t, j, i]
    return out


# --- impact prediction helpers (as tocsin.fusion.impact's numpy references) -------------


@_jit
def mixture_scale(means: F64, covs: F64, w: F64, mean: F64, cov: F64, z2: F64, conf: float) -> float:
    """:func:`tocsin.fusion.impact.mixture_scale_reference` with the fixed
    points ``z2 (N, 2)``: the ``conf`` quantile of ``d^T cov^-1 d`` over the
    points ``means_j + L_j z`` (``L_j L_j^T = covs_j``) weighted ``w_j / N``.

    Instead of sorting all ``J N`` values, the quantile is bracketed by
    bisection on the value (weight at or below it) until a few hundred
    values are left between the brackets, and only those are sorted; the
    cumulative weight is summed in ascending order from the weight below the
    lower bracket. Results equal the reference's to rounding (the order of
    the weight sum below the bracket differs)."""
    k_, n = means.shape[0], z2.shape[0]
    tot = n * k_
    q = np.empty(tot)
    wq = np.empty(tot)
    det = cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[1, 0]
    i00, i01, i10, i11 = cov[1, 1] / det, -cov[0, 1] / det, -cov[1, 0] / det, cov[0, 0] / det
    ws = 0.0
    for j in range(k_):
        ws += w[j]
    qmax = 0.0
    for j in range(k_):
        l00 = math.sqrt(covs[j, 0, 0])
        l10 = covs[j, 1, 0] / l00
        l11 = math.sqrt(covs[j, 1, 1] - l10 * l10)
        wj = w[j] / ws / n
        ox = means[j, 0] - mean[0]
        oy = means[j, 1] - mean[1]
        for s in range(n):
            dx = ox + l00 * z2[s, 0]
            dy = oy + l10 * z2[s, 0] + l11 * z2[s, 1]
            v = dx * (i00 * dx + i01 * dy) + dy * (i10 * dx + i11 * dy)
            q[j * n + s] = v
            wq[j * n + s] = wj
            if v > qmax:
                qmax = v
    lo = -1.0
    hi = qmax
    inside = tot
    w_lo = 0.0
    for _ in range(80):
        if inside <= 256:
            break
        mid = 0.5 * (lo + hi) if lo >= 0.0 else 0.5 * hi
        f = 0.0
        c = 0
        for i in range(tot):
            if q[i] <= mid:
                f += wq[i]
            elif q[i] <= hi:
                c += 1
        if f < conf:
            lo = mid
            w_lo = f
            inside = c
        else:
            hi = mid
            inside = 0
            for i in range(tot):
                if lo < q[i] <= hi:
                    inside += 1
        if hi - lo <= 0.0 or (lo >= 0.0 and hi - lo <= 1e-15 * hi):
            break
    cand = np.empty(inside)
    cw = np.empty(inside)
    m = 0
    for i in range(tot):
        if (lo < q[i] <= hi) and m < inside:
            cand[m] = q[i]
            cw[m] = wq[i]
            m += 1
    order = np.argsort(cand[:m], kind="mergesort")
    cum = w_lo
    for t in range(m):
        cum += cw[order[t]]
        if cum >= conf:
            return cand[order[t]]
    return cand[order[m - 1]] if m > 0 else hi


@_jit
def process_noise_en(
    times: F64, states: F64, t_hit: float, x_hit: F64, rot: F64, q_air: float, q_vac: float, ceiling: float
) -> F64:
    """:func:`tocsin.fusion.impact._process_noise_en_reference` with the path
    given as ``times (M,)`` and ``states (M, 6)`` (row 0: now, elapsed 0)."""
    pq = np.zeros((6, 6))
    a = np.empty((6, 6))
    phi = np.empty((6, 6))
    fp = np.empty((6, 6))
    m = times.shape[0]
    prev_t = 0.0
    prev_x = states[0].copy()
    for i in range(1, m + 1):
        el = times[i] if i < m else t_hit
        h = min(el, t_hit) - prev_t
        if h <= 0.0:
            break
        _dyn(prev_x, a)
        _second_order(a, h, phi)
        qd = q_air if _geo_height(prev_x[0], prev_x[1], prev_x[2]) < ceiling else q_vac
        _mul(phi, pq, fp)
        ah = abs(h)
        c3 = qd * ah**3 / 3.0
        c2 = qd * ah**2 / 2.0
        c1 = qd * ah
        _mul(fp, phi.T, pq)
        for r in range(3):
            pq[r, r] += c3
            pq[r, r + 3] += c2
            pq[r + 3, r] += c2
            pq[r + 3, r + 3] += c1
        prev_t = prev_t + h
        if i < m:
            for j in range(6):
                prev_x[j] = states[i, j]
        else:
            for j in range(6):
                prev_x[j] = x_hit[j]
        if el >= t_hit:
            break
    rn = math.sqrt(x_hit[0] * x_hit[0] + x_hit[1] * x_hit[1] + x_hit[2] * x_hit[2])
    u = np.empty(3)
    for j in range(3):
        u[j] = x_hit[j] / rn
    uv = u[0] * x_hit[3] + u[1] * x_hit[4] + u[2] * x_hit[5]
    den = uv if abs(uv) > 1.0 else -1.0
    mm = np.empty((3, 3))
    for r in range(3):
        for c in range(3):
            mm[r, c] = (1.0 if r == c else 0.0) - x_hit[3 + r] * u[c] / den
    c3m = np.empty((3, 3))
    tmp = np.empty((3, 3))
    _mul(mm, pq[:3, :3], tmp)
    _mul(tmp, mm.T, c3m)
    out = np.empty((2, 2))
    for r in range(2):
        for c in range(2):
            acc = 0.0
            for k in range(3):
                for l_ in range(3):
                    acc += rot[r, k] * c3m[k, l_] * rot[c, l_]
            out[r, c] = acc
    return out
