"""Fast ballistic propagation for the tracker's hot paths.

The same equation of motion as :mod:`tocsin.dynamics.forces` (Vallado,
*Fundamentals of Astrodynamics*, 4th ed., sec. 3.7 and 8.6)::

    a = g_J2(r) - 2 w x v - w x (w x r) + a_drag,   a_drag = -rho(h) |v| v / (2 beta)

written out component by component for ``(N, 6)`` arrays so that one
evaluation costs a few dozen numpy calls (the generic version accepts any
shape and pays for it with ``asarray``/``stack`` on every call). The height in
the density uses the geocentric approximation of
:func:`tocsin.dynamics.forces.approx_altitude` (within ~20 m below 200 km).

:func:`to_ground` integrates with classical RK4 at a step that shrinks with
the time to reach the ground (``max_step`` in the midcourse, down to 2 s;
10 s below 120 km, half a density scale height of climb or descent
below 60 km) and locates the crossing of
the ellipsoid inside the last step by Newton's method on the cubic Hermite
interpolant of that step (positions and velocities at both ends), which is
fourth-order accurate like the step itself.
The test ``tests/fusion/test_propagate.py`` checks it against
:func:`tocsin.dynamics.flight.propagate_to_ground`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import DRAG_CEILING_M, density
from tocsin.dynamics.forces import SCALE_HEIGHT
from tocsin.geo.wgs84 import GM, J2, OMEGA_E, WGS84_A, WGS84_B

F64 = NDArray[np.float64]

_A2 = WGS84_A * WGS84_A
_B2 = WGS84_B * WGS84_B
_AB = WGS84_A * WGS84_B
_K_J2 = 1.5 * J2 * _A2
_W2 = OMEGA_E * OMEGA_E


def height(r: F64) -> F64:
    """Approximate height above the ellipsoid of ECEF positions ``(N, 3)``
    (along the geocentric radius; see the module doc)."""
    rn = np.sqrt(np.einsum("ni,ni->n", r, r))
    s2 = (r[:, 2] / rn) ** 2
    return rn - _AB / np.sqrt(_B2 * (1.0 - s2) + _A2 * s2)


def deriv(y: F64, beta: float | F64 | None) -> F64:
    """``d/dt [r, v]`` of ECEF states ``(N, 6)`` (J2, rotating frame, drag
    with ballistic coefficient ``beta`` kg/m^2, one or ``(N,)``, when not None)."""
    x, yy, z = y[:, 0], y[:, 1], y[:, 2]
    vx, vy, vz = y[:, 3], y[:, 4], y[:, 5]
    r2 = x * x + yy * yy + z * z
    rn = np.sqrt(r2)
    mu_r3 = GM / (r2 * rn)
    k = _K_J2 / r2
    zr2 = 5.0 * z * z / r2
    c_xy = -mu_r3 * (1.0 + k * (1.0 - zr2))
    out = np.empty_like(y)
    out[:, :3] = y[:, 3:]
    ax = c_xy * x + 2.0 * OMEGA_E * vy + _W2 * x
    ay = c_xy * yy - 2.0 * OMEGA_E * vx + _W2 * yy
    az = -mu_r3 * z * (1.0 + k * (3.0 - zr2))
    if beta is not None:
        s2 = z * z / r2
        h = rn - _AB / np.sqrt(_B2 * (1.0 - s2) + _A2 * s2)
        low = h < DRAG_CEILING_M
        if low.any():
            rho = density(h)
            kd = 0.5 * rho * np.sqrt(vx * vx + vy * vy + vz * vz) / beta
            ax = ax - kd * vx
            ay = ay - kd * vy
            az = az - kd * vz
    out[:, 3] = ax
    out[:, 4] = ay
    out[:, 5] = az
    return out


def drag_rate(y: F64, beta: float | F64 | None) -> F64:
    """``rho(h) |v| / (2 beta)`` of states ``(N, 6)``, 1/s: the inverse of the
    time the air takes to slow the object (a light object low down is a stiff
    equation: steps must stay below a fraction of that time)."""
    if beta is None:
        return np.zeros(y.shape[0])
    h = height(y[:, :3])
    rho = density(h)
    out: F64 = 0.5 * rho * np.sqrt(np.einsum("ni,ni->n", y[:, 3:], y[:, 3:])) / beta
    return out


def rk4(y: F64, h: float | F64, beta: float | F64 | None) -> F64:
    """One classical RK4 step of length ``h`` (scalar or ``(N, 1)``)."""
    k1 = deriv(y, beta)
    k2 = deriv(y + (0.5 * h) * k1, beta)
    k3 = deriv(y + (0.5 * h) * k2, beta)
    k4 = deriv(y + h * k3, beta)
    out: F64 = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return out


def propagate(y: F64, dt: float, beta: float | F64 | None, max_step: float = 20.0) -> F64:
    """Propagate ``(N, 6)`` states by ``dt`` s (negative: backwards) in
    ``ceil(|dt| / max_step)`` equal RK4 steps."""
    if dt == 0.0:
        return y.copy()
    n = max(1, math.ceil(abs(dt) / max_step))
    h = dt / n
    for _ in range(n):
        y = rk4(y, h, beta)
    return y


def _hermite(y0: F64, y1: F64, h: float, s: F64) -> F64:
    """Positions at fractions ``s (N,)`` of a step of length ``h`` from the
    end states ``y0, y1 (N, 6)`` (cubic Hermite)."""
    s1 = s[:, None]
    s2, s3 = s1 * s1, s1 * s1 * s1
    out: F64 = (
        (2 * s3 - 3 * s2 + 1) * y0[:, :3]
        + (s3 - 2 * s2 + s1) * h * y0[:, 3:]
        + (-2 * s3 + 3 * s2) * y1[:, :3]
        + (s3 - s2) * h * y1[:, 3:]
    )
    return out


def _hermite_vel(y0: F64, y1: F64, h: float, s: F64) -> F64:
    s1 = s[:, None]
    s2 = s1 * s1
    out: F64 = (
        (6 * s2 - 6 * s1) * y0[:, :3] / h
        + (3 * s2 - 4 * s1 + 1) * y0[:, 3:]
        + (-6 * s2 + 6 * s1) * y1[:, :3] / h
        + (3 * s2 - 2 * s1) * y1[:, 3:]
    )
    return out


def to_ground(
    x: F64,
    beta: float | F64 | None,
    *,
    direction: int = +1,
    max_time: float = 7200.0,
    alt_m: float = 0.0,
    max_step: float = 30.0,
    min_step: float = 0.5,
    samples: list[tuple[float, F64]] | None = None,
) -> tuple[F64, F64]:
    """Propagate states ``(N, 6)`` forward (``direction=+1``) or backward
    (``-1``) until their height falls to ``alt_m``.

    Returns ``(dt, x_ground)``: elapsed seconds (>= 0; NaN where the ground is
    not reached within ``max_time``) and the states at the crossing. If
    ``samples`` is given, ``(elapsed, states)`` after every step is appended to
    it (the ground track ahead, for the caller to thin).
    """
    y = np.array(x, dtype=np.float64, copy=True)
    n = y.shape[0]
    sgn = 1.0 if direction >= 0 else -1.0
    out_dt = np.full(n, np.nan)
    out_x = y.copy()
    hg = height(y[:, :3]) - alt_m
    done = hg <= 0.0
    out_dt[done] = 0.0
    elapsed = 0.0
    while not done.all() and elapsed < max_time:
        act = ~done
        # time to fall to the ground at the current rate (generous): smaller
        # steps as the ground approaches, and inside the atmosphere
        rad = np.einsum("ni,ni->n", y[act, :3], y[act, 3:]) / np.linalg.norm(y[act, :3], axis=1)
        vdown = np.maximum(-sgn * rad, 0.0)
        ha = hg[act]
        t_fall = float(np.min(ha / np.maximum(vdown, 1.0)))
        # RK4's local error scales with (h * orbital rate)^5: longer steps high up
        rmin = float(np.min(np.linalg.norm(y[act, :3], axis=1)))
        h_max = max_step * (rmin / WGS84_A) ** 1.5
        if beta is not None and float(ha.min()) < 60_000.0:
            # in the atmosphere the density changes on the scale height:
            # resolve it (the crossing inside a step is interpolated)
            vr = float(np.max(np.abs(rad)))
            h_abs = min(h_max, 10.0, max(min_step, 0.5 * SCALE_HEIGHT / max(vr, 1.0)))
        else:
            h_abs = min(h_max, max(2.0, 0.3 * t_fall))
            if beta is not None and float(ha.min()) < DRAG_CEILING_M:
                h_abs = min(h_abs, 10.0)  # thin air: small but steady drag
        if beta is not None:
            # stiff for light objects low down (debris, a tumbling stage)
            k = float(np.max(drag_rate(y[act], beta if np.ndim(beta) == 0 else np.asarray(beta)[act])))
            if k > 0.0:
                h_abs = min(h_abs, max(0.5 / k, 0.02))
        h_abs = min(h_abs, max_time - elapsed) if max_time - elapsed > 1e-9 else h_abs
        h = sgn * h_abs
        y1 = rk4(y, h, beta)
        hg1 = height(y1[:, :3]) - alt_m
        cross = act & (hg1 <= 0.0)
        if cross.any():
            ci = np.flatnonzero(cross)
            y0c, y1c = y[ci], y1[ci]
            f0, f1 = hg[ci], hg1[ci]
            s = np.clip(f0 / np.maximum(f0 - f1, 1e-12), 0.0, 1.0)
            for _ in range(4):  # Newton on the Hermite interpolant
                pos = _hermite(y0c, y1c, h, s)
                vel = _hermite_vel(y0c, y1c, h, s)
                fs = height(pos) - alt_m
                rate = h * np.einsum("ni,ni->n", pos, vel) / np.linalg.norm(pos, axis=1)
                s = np.clip(s - fs / np.where(np.abs(rate) > 1e-9, rate, 1e-9), 0.0, 1.0)
            out_x[ci, :3] = _hermite(y0c, y1c, h, s)
            out_x[ci, 3:] = _hermite_vel(y0c, y1c, h, s)
            out_dt[ci] = elapsed + h_abs * s
            done[ci] = True
        y, hg = y1, hg1
        elapsed += h_abs
        if samples is not None:
            samples.append((elapsed, y))
    out_x[~done] = y[~done]
    return out_dt, out_x
