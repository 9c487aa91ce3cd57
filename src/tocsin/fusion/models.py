"""Motion and measurement models on an ECEF state ``x = [r, v]`` (metres, m/s).

Everything is batch-first: ``x`` is ``(N, 6)``, covariances ``(N, 6, 6)``, and the
functions return arrays with the same leading axis. No Python object per state.

Motion models
-------------
* Nearly constant velocity (NCV, for aircraft and drones): ``x' = F x`` with
  ``F = [[I, dt I], [0, I]]`` and the continuous white-noise-acceleration process
  noise ``Q = q [[dt^3/3 I, dt^2/2 I], [dt^2/2 I, dt I]]`` (Bar-Shalom, Li,
  Kirubarajan, *Estimation with Applications to Tracking and Navigation*, 2001,
  sec. 6.2.2).
* Ballistic: RK4 integration of :func:`tocsin.fusion.propagate.deriv` (the
  equation of motion of :mod:`tocsin.dynamics.forces`)
  (J2 gravity, Coriolis and centrifugal terms, drag when low) with a per-row time
  step; the transition matrix is the product over substeps of the second-order
  expansion ``Phi = I + A h + A^2 h^2 / 2`` of the linearised dynamics
  ``A = [[0, I], [G - W W, -2 W]]``, ``G = GM / r^3 (3 r^ r^T - I)`` the
  point-mass gravity gradient and ``W`` the cross-product matrix of Earth's
  rotation. The same ``Q`` form absorbs unmodelled thrust (boost, large ``q``)
  and drag/J3+ errors (midcourse, small ``q``).

Measurement models
------------------
* Radar: range, azimuth (clockwise from north), elevation (above the local
  geodetic horizontal) and optionally range rate, from a site with ECEF position
  ``s`` and ECEF->ENU rotation ``M``: ``d = M (r - s)``, ``rho = |d|``,
  ``az = atan2(d_e, d_n)``, ``el = atan2(d_u, hypot(d_e, d_n))``,
  ``rr = (r - s) . v / rho``.
* Infrared line of sight: a unit vector from the observer. The 2-DOF residual is
  the measured unit vector projected on a tangent basis ``(b1, b2)`` orthogonal to
  the predicted one; its Jacobian is ``b_i^T / rho`` on the position.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import density_and_slope
from tocsin.fusion import kernels
from tocsin.fusion.propagate import deriv, drag_rate, height, rk4
from tocsin.geo.wgs84 import GM, OMEGA_E

F64 = NDArray[np.float64]

_I3 = np.eye(3)
_W = np.array([[0.0, -OMEGA_E, 0.0], [OMEGA_E, 0.0, 0.0], [0.0, 0.0, 0.0]])
_WW = _W @ _W
# the position, cross and velocity blocks of the white-acceleration Q
_Q_POS = np.kron(np.array([[1.0, 0.0], [0.0, 0.0]]), _I3)
_Q_CROSS = np.kron(np.array([[0.0, 1.0], [1.0, 0.0]]), _I3)
_Q_VEL = np.kron(np.array([[0.0, 0.0], [0.0, 1.0]]), _I3)


def white_accel_q(dt: F64, q: F64) -> F64:
    """Process noise ``(N, 6, 6)`` of white acceleration with spectral density
    ``q`` (m^2/s^3) over ``|dt|`` (per row)."""
    a = np.abs(dt)
    c3, c2, c1 = q * a**3 / 3.0, q * a**2 / 2.0, q * a
    return c3[:, None, None] * _Q_POS + c2[:, None, None] * _Q_CROSS + c1[:, None, None] * _Q_VEL


def ncv_predict(x: F64, dt: F64) -> tuple[F64, F64]:
    """NCV prediction: states ``(N, 6)`` moved by ``dt`` ``(N,)``; returns
    ``(x_pred, F)``."""
    n = x.shape[0]
    f = np.broadcast_to(np.eye(6), (n, 6, 6)).copy()
    for i in range(3):
        f[:, i, i + 3] = dt
    xp = x.copy()
    xp[:, :3] += x[:, 3:] * dt[:, None]
    return xp, f


def ncv_predict_cov(x: F64, p: F64, dt: F64, q: F64) -> tuple[F64, F64]:
    """NCV prediction of states ``(N, 6)`` and covariances ``(N, 6, 6)`` by
    ``dt (N,)`` with white-acceleration density ``q (N,)``, by blocks: with
    ``P = [[A, B], [B^T, C]]``, ``F P F^T = [[A + dt (B + B^T) + dt^2 C,
    B + dt C], [B^T + dt C, C]]``, plus :func:`white_accel_q` (the same as
    :func:`ncv_predict` and ``F P F^T + Q``, in fewer array operations)."""
    xp = x.copy()
    xp[:, :3] += x[:, 3:] * dt[:, None]
    h = dt[:, None, None]
    a, b, c = p[:, :3, :3], p[:, :3, 3:], p[:, 3:, 3:]
    bt = np.swapaxes(b, 1, 2)
    bc = b + h * c
    qa = (q * np.abs(dt))[:, None, None]
    pp = np.empty_like(p)
    pp[:, :3, :3] = a + h * (b + bt) + (h * h) * c + (qa * (h * h) / 3.0) * _I3
    pp[:, :3, 3:] = bc + (qa * np.abs(h) / 2.0) * _I3
    pp[:, 3:, :3] = np.swapaxes(pp[:, :3, 3:], 1, 2)
    pp[:, 3:, 3:] = c + qa * _I3
    return xp, pp


def transition(x: F64, h: F64) -> F64:
    """Second-order transition ``Phi = I + A h + A^2 h^2 / 2`` of the
    linearised ballistic dynamics at states ``x (N, 6)`` over steps ``h (N,)``."""
    a = _dyn_matrix(x)
    hh = h[:, None, None]
    out: F64 = np.eye(6) + a * hh + (a @ a) * (hh * hh / 2.0)
    return out


def _dyn_matrix(x: F64) -> F64:
    """Linearised ballistic dynamics ``A (N, 6, 6)`` (see module doc)."""
    r = x[:, :3]
    rn = np.linalg.norm(r, axis=1)
    u = r / rn[:, None]
    g = (GM / rn**3)[:, None, None] * (3.0 * u[:, :, None] * u[:, None, :] - _I3)
    n = x.shape[0]
    a = np.zeros((n, 6, 6))
    a[:, 0:3, 3:6] = _I3
    a[:, 3:6, 0:3] = g - _WW
    a[:, 3:6, 3:6] = -2.0 * _W
    return a


def ballistic_predict(
    x: F64, dt: F64, *, beta: float | F64 | None, max_step: float = 10.0, taylor_max_s: float = 1.2
) -> tuple[F64, F64]:
    """Ballistic prediction of ``(N, 6)`` states by per-row ``dt`` (``beta``:
    one ballistic coefficient, or one per row); returns
    ``(x_pred, Phi)`` (RK4 and second-order transition, ``ceil(max|dt|/max_step)``
    equal substeps per row). Compiled (:func:`tocsin.fusion.kernels.ballistic_predict`);
    :func:`ballistic_predict_reference` is the same in numpy, the reference
    the tests hold it to."""
    n = x.shape[0]
    if n == 0:
        return ballistic_predict_reference(x, dt, beta=beta, max_step=max_step, taylor_max_s=taylor_max_s)
    b = np.zeros(n) if beta is None else np.broadcast_to(np.asarray(beta, dtype=np.float64), (n,))
    xa = np.ascontiguousarray(x, dtype=np.float64)
    da = np.ascontiguousarray(dt, dtype=np.float64)
    ba = np.ascontiguousarray(b)
    y, phi = kernels.ballistic_predict(xa, da, ba, beta is not None, float(max_step), float(taylor_max_s))
    bad = kernels.stiff_rows(xa, y, da, ba, beta is not None, float(max_step), float(taylor_max_s))
    if bad.any():
        # a row that fell into air too dense for its substeps (stiff drag):
        # predicted again in two halves, each with its own substeps
        # (recursively; only such rows, so every other result is unchanged)
        for r in np.flatnonzero(bad).tolist():
            y[r], phi[r] = _predict_halves(
                xa[r], float(da[r]), beta is not None, float(ba[r]), max_step, taylor_max_s
            )
    return y, phi


def _predict_halves(
    x: F64, dt: float, drag: bool, beta: float, max_step: float, taylor_max_s: float, depth: int = 0
) -> tuple[F64, F64]:
    """One state predicted by ``dt`` in two halves (each guarded as
    :func:`ballistic_predict` is, to depth 20): the stiff-drag fallback."""
    bb = np.array([beta])
    y = x[None, :].copy()
    phi = np.eye(6)
    for _ in range(2):
        h = np.array([dt / 2.0])
        yh, ph = kernels.ballistic_predict(y, h, bb, drag, max_step, taylor_max_s)
        if depth < 20 and kernels.stiff_rows(y, yh, h, bb, drag, max_step, taylor_max_s)[0]:
            yh0, ph0 = _predict_halves(y[0], dt / 2.0, drag, beta, max_step, taylor_max_s, depth + 1)
            yh, ph = yh0[None, :], ph0[None, :, :]
        y = yh
        phi = ph[0] @ phi
    return y[0], phi


def ballistic_predict_reference(
    x: F64, dt: F64, *, beta: float | F64 | None, max_step: float = 10.0, taylor_max_s: float = 1.2
) -> tuple[F64, F64]:
    """:func:`ballistic_predict` in numpy (the reference: batched numpy
    calls, no compiled code)."""
    n = x.shape[0]
    big = float(np.max(np.abs(dt))) if n else 0.0
    # the drag of a light object low down is stiff: steps of at most 0.3 of
    # the time the air takes to slow it
    k_drag = float(np.max(drag_rate(x, beta))) if n and beta is not None else 0.0
    if big <= taylor_max_s and big * k_drag <= 0.04:
        # (the Taylor step also only while the air slows the object by less
        # than 4 % of its speed a step: in the standard atmosphere's denser
        # low air its third-order error passes 0.1 m/s at 10 km)
        # scan-to-scan steps: third-order Taylor expansion with the jerk from
        # the linearised dynamics, j = A [v; a] plus the drag term (one force
        # evaluation instead of RK4's four; against RK4: < 2 cm and 0.07 m/s
        # at dt = 1 s above 10 km, tests/fusion/test_propagate.py)
        a = _dyn_matrix(x)
        hh = dt[:, None, None]
        phi = np.eye(6) + a * hh + (a @ a) * (hh * hh / 2.0)
        f = deriv(x, beta)
        jerk = np.einsum("nij,nj->ni", a[:, 3:6, :], f)
        if beta is not None:
            # drag a_d = -k |v| v, k = rho(h) / (2 beta), dk/dt = k s v_up
            # (s = d ln rho / dh, minus the inverse local scale height):
            # d a_d/dt = -k s v_up |v| v - k ((v^ . a) v + |v| a)
            v = x[:, 3:]
            rho, slope = density_and_slope(height(x[:, :3]))
            k = rho / (2.0 * beta)
            sp = np.maximum(np.linalg.norm(v, axis=1), 1e-9)
            vup = np.einsum("ni,ni->n", x[:, :3], v) / np.linalg.norm(x[:, :3], axis=1)
            acc = f[:, 3:]
            va = np.einsum("ni,ni->n", v, acc) / sp
            jerk = (
                jerk
                - (k * slope * vup * sp)[:, None] * v
                - k[:, None] * (va[:, None] * v + sp[:, None] * acc)
            )
        h1 = dt[:, None]
        y = np.empty_like(x)
        y[:, :3] = x[:, :3] + x[:, 3:] * h1 + f[:, 3:] * (h1 * h1 / 2.0) + jerk * (h1**3 / 6.0)
        y[:, 3:] = x[:, 3:] + f[:, 3:] * h1 + jerk * (h1 * h1 / 2.0)
        return y, phi
    steps = max(1, math.ceil(big / max_step), math.ceil(big * k_drag / 0.3))
    h = (dt / steps)[:, None]
    hh = h[:, :, None]
    y = x.copy()
    phi = np.broadcast_to(np.eye(6), (n, 6, 6)).copy()
    for _ in range(steps):
        a = _dyn_matrix(y)
        step_phi = np.eye(6) + a * hh + (a @ a) * (hh * hh / 2.0)
        phi = step_phi @ phi
        y = rk4(y, h, beta)
    return y, phi


def radar_predict(x: F64, site: F64, rot: F64, with_rr: bool) -> tuple[F64, F64]:
    """Predicted radar measurement ``(N, 3|4)`` [range, az, el(, rr)] (radians)
    and its Jacobian ``(N, 3|4, 6)``. ``site (N, 3)`` ECEF, ``rot (N, 3, 3)``
    ECEF->ENU."""
    dr = x[:, :3] - site
    d = np.einsum("nij,nj->ni", rot, dr)
    e, nn, up = d[:, 0], d[:, 1], d[:, 2]
    h2 = e * e + nn * nn
    h = np.sqrt(h2)
    rho2 = h2 + up * up
    rho = np.sqrt(rho2)
    m = 4 if with_rr else 3
    z = np.empty((x.shape[0], m))
    z[:, 0] = rho
    z[:, 1] = np.arctan2(e, nn) % (2.0 * np.pi)
    z[:, 2] = np.arctan2(up, h)
    jd = np.zeros((x.shape[0], 3, 3))  # d(range, az, el) / d(enu)
    jd[:, 0] = d / rho[:, None]
    jd[:, 1, 0] = nn / h2
    jd[:, 1, 1] = -e / h2
    jd[:, 2, 0] = -e * up / (rho2 * h)
    jd[:, 2, 1] = -nn * up / (rho2 * h)
    jd[:, 2, 2] = h / rho2
    hmat = np.zeros((x.shape[0], m, 6))
    hmat[:, :3, :3] = jd @ rot
    if with_rr:
        v = x[:, 3:]
        ul = dr / rho[:, None]
        rr = np.einsum("ni,ni->n", ul, v)
        z[:, 3] = rr
        hmat[:, 3, :3] = (v - rr[:, None] * ul) / rho[:, None]
        hmat[:, 3, 3:] = ul
    return z, hmat


def radar_residual(z: F64, zhat: F64) -> F64:
    """``z - zhat`` with the azimuth difference wrapped to ``(-pi, pi]``."""
    nu = z - zhat
    nu[..., 1] = (nu[..., 1] + np.pi) % (2.0 * np.pi) - np.pi
    return nu


def tangent_basis(u: F64) -> tuple[F64, F64]:
    """Two unit vectors ``(N, 3)`` orthogonal to unit vectors ``u`` and to each other."""
    ref = np.where(np.abs(u[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    b1 = np.cross(u, ref)
    b1 /= np.linalg.norm(b1, axis=1)[:, None]
    b2 = np.cross(u, b1)
    return b1, b2


def los_residual(x: F64, observer: F64, u_meas: F64) -> tuple[F64, F64]:
    """2-DOF line-of-sight residual ``(N, 2)`` and Jacobian ``(N, 2, 6)``: the
    measured unit vector on the tangent basis of the predicted one (whose own
    projection is zero)."""
    d = x[:, :3] - observer
    rho = np.linalg.norm(d, axis=1)
    u = d / rho[:, None]
    b1, b2 = tangent_basis(u)
    nu = np.stack([np.einsum("ni,ni->n", b1, u_meas), np.einsum("ni,ni->n", b2, u_meas)], axis=1)
    hmat = np.zeros((x.shape[0], 2, 6))
    hmat[:, 0, :3] = b1 / rho[:, None]
    hmat[:, 1, :3] = b2 / rho[:, None]
    return nu, hmat


def radar_to_ecef(z: F64, site: F64, rot: F64, rcov: F64) -> tuple[F64, F64]:
    """Radar plots ``(N, >=3)`` [range, az, el] to ECEF positions ``(N, 3)`` and
    their first-order covariances ``(N, 3, 3)`` (``rcov`` the (range, az, el)
    noise covariance ``(N, 3, 3)``)."""
    rng, az, el = z[:, 0], z[:, 1], z[:, 2]
    ce, se, ca, sa = np.cos(el), np.sin(el), np.cos(az), np.sin(az)
    enu = np.stack([rng * ce * sa, rng * ce * ca, rng * se], axis=1)
    j = np.zeros((z.shape[0], 3, 3))
    j[:, 0] = np.stack([ce * sa, rng * ce * ca, -rng * se * sa], axis=1)
    j[:, 1] = np.stack([ce * ca, -rng * ce * sa, -rng * se * ca], axis=1)
    j[:, 2] = np.stack([se, np.zeros_like(rng), rng * ce], axis=1)
    rt = np.transpose(rot, (0, 2, 1))
    pos = np.einsum("nij,nj->ni", rt, enu) + site
    jj = rt @ j
    cov = jj @ rcov[:, :3, :3] @ np.transpose(jj, (0, 2, 1))
    return pos, cov


def triangulate(o1: F64, u1: F64, o2: F64, u2: F64) -> tuple[F64, F64, F64]:
    """Closest points of two lines of sight ``o + s u``: returns the midpoint
    ``(N, 3)``, the miss distance ``(N,)`` and the ranges ``(N, 2)`` along each
    line (negative: behind the observer)."""
    w0 = o1 - o2
    a = np.einsum("ni,ni->n", u1, u1)
    b = np.einsum("ni,ni->n", u1, u2)
    c = np.einsum("ni,ni->n", u2, u2)
    d = np.einsum("ni,ni->n", u1, w0)
    e = np.einsum("ni,ni->n", u2, w0)
    den = a * c - b * b
    den = np.where(np.abs(den) < 1e-12, np.nan, den)
    s = (b * e - c * d) / den
    t = (a * e - b * d) / den
    p1 = o1 + s[:, None] * u1
    p2 = o2 + t[:, None] * u2
    return 0.5 * (p1 + p2), np.linalg.norm(p1 - p2, axis=1), np.stack([s, t], axis=1)
