"""Compiled propagation of many states to the ground (Numba): the impact prediction's hot path.

An impact prediction propagates the sigma points of every drag-bank member
(13 x up to 9 members, plus the members' bin edges) to the ground; done as
batched numpy calls (:func:`tocsin.fusion.propagate.to_ground`) every RK4
step is a few dozen calls on arrays of a hundred rows, and the step has to
suit the row that needs the smallest one (a light object low down makes the
equation stiff). :func:`to_ground_rows` integrates each row on its own, with
its own step, in one compiled call: the same equation of motion (the
shared kernel :func:`tocsin.dynamics.ecef.deriv`, as
:func:`tocsin.fusion.propagate.deriv`: J2, rotating frame, drag), the same
classical RK4 and step rules, and the same
crossing of the ellipsoid by Newton's method on the cubic Hermite
interpolant of the last step. ``tests/fusion/test_ground.py`` checks it
against :func:`tocsin.fusion.propagate.to_ground`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import DRAG_CEILING_M, density1
from tocsin.dynamics.ecef import deriv
from tocsin.dynamics.forces import SCALE_HEIGHT
from tocsin.fusion.kernels import _jit, _jit_inline
from tocsin.geo.wgs84 import WGS84_A, WGS84_B

F64 = NDArray[np.float64]

_A2 = WGS84_A * WGS84_A
_B2 = WGS84_B * WGS84_B
_AB = WGS84_A * WGS84_B


@_jit_inline
def _height(x: float, y: float, z: float) -> float:
    r2 = x * x + y * y + z * z
    rn = math.sqrt(r2)
    s2 = z * z / r2
    return rn - _AB / math.sqrt(_B2 * (1.0 - s2) + _A2 * s2)


@_jit_inline
def _rk4(y: F64, h: float, beta: float, out: F64, k1: F64, k2: F64, k3: F64, k4: F64, tmp: F64) -> None:
    deriv(y, beta, k1)
    for j in range(6):
        tmp[j] = y[j] + 0.5 * h * k1[j]
    deriv(tmp, beta, k2)
    for j in range(6):
        tmp[j] = y[j] + 0.5 * h * k2[j]
    deriv(tmp, beta, k3)
    for j in range(6):
        tmp[j] = y[j] + h * k3[j]
    deriv(tmp, beta, k4)
    for j in range(6):
        out[j] = y[j] + (h / 6.0) * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])


@_jit_inline
def _hermite(y0: F64, y1: F64, h: float, s: float, pos: F64, vel: F64) -> None:
    s2 = s * s
    s3 = s2 * s
    for j in range(3):
        pos[j] = (
            (2 * s3 - 3 * s2 + 1) * y0[j]
            + (s3 - 2 * s2 + s) * h * y0[3 + j]
            + (-2 * s3 + 3 * s2) * y1[j]
            + (s3 - s2) * h * y1[3 + j]
        )
        vel[j] = (
            (6 * s2 - 6 * s) * y0[j] / h
            + (3 * s2 - 4 * s + 1) * y0[3 + j]
            + (-6 * s2 + 6 * s) * y1[j] / h
            + (3 * s2 - 2 * s) * y1[3 + j]
        )


@_jit
def to_ground_rows(
    x0: F64,
    beta: F64,
    direction: int,
    max_time: float,
    alt_m: float,
    max_step: float,
    min_step: float,
    sample_row: int,
    samples: F64,
) -> tuple[F64, F64, int]:
    """Propagate each ECEF state ``x0 (N, 6)`` (ballistic coefficient
    ``beta (N,)``, NaN: no drag) forward (``direction`` +1) or backward (-1)
    until its height falls to ``alt_m``; step rules as
    :func:`tocsin.fusion.propagate.to_ground`, plus a step of at most half the
    time the air takes to slow the object (stiff for light objects).

    Returns ``(dt, x_ground, n_samples)``: elapsed seconds (NaN where the
    ground is not reached within ``max_time``), the states at the crossing,
    and how many rows of ``samples (M, 7)`` (``elapsed, state``) were written
    for row ``sample_row`` after each of its steps (at most ``M``; -1: none)."""
    n = x0.shape[0]
    dt_out = np.full(n, np.nan)
    x_out = x0.copy()
    sgn = 1.0 if direction >= 0 else -1.0
    k1 = np.empty(6)
    k2 = np.empty(6)
    k3 = np.empty(6)
    k4 = np.empty(6)
    tmp = np.empty(6)
    y = np.empty(6)
    y1 = np.empty(6)
    pos = np.empty(3)
    vel = np.empty(3)
    n_samp = 0
    m_samp = samples.shape[0]
    for i in range(n):
        for j in range(6):
            y[j] = x0[i, j]
        b = beta[i]
        drag = not math.isnan(b)
        hg = _height(y[0], y[1], y[2]) - alt_m
        if hg <= 0.0:
            dt_out[i] = 0.0
            continue
        elapsed = 0.0
        while elapsed < max_time:
            rn = math.sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2])
            rad = (y[0] * y[3] + y[1] * y[4] + y[2] * y[5]) / rn
            vdown = max(-sgn * rad, 0.0)
            t_fall = hg / max(vdown, 1.0)
            h_max = max_step * (rn / WGS84_A) ** 1.5
            if drag and hg < 60_000.0:
                h_abs = min(h_max, 10.0, max(min_step, 0.5 * SCALE_HEIGHT / max(abs(rad), 1.0)))
            else:
                h_abs = min(h_max, max(2.0, 0.3 * t_fall))
                if drag and hg < DRAG_CEILING_M:
                    h_abs = min(h_abs, 10.0)
            if drag and hg + alt_m < DRAG_CEILING_M:
                sp = math.sqrt(y[3] * y[3] + y[4] * y[4] + y[5] * y[5])
                kd = 0.5 * density1(hg + alt_m) * sp / b
                if kd > 0.0:
                    h_abs = min(h_abs, max(0.5 / kd, 0.02))
            if max_time - elapsed > 1e-9:
                h_abs = min(h_abs, max_time - elapsed)
            h = sgn * h_abs
            _rk4(y, h, b, y1, k1, k2, k3, k4, tmp)
            hg1 = _height(y1[0], y1[1], y1[2]) - alt_m
            if hg1 <= 0.0:
                s = min(max(hg / max(hg - hg1, 1e-12), 0.0), 1.0)
                for _ in range(4):
                    _hermite(y, y1, h, s, pos, vel)
                    pr = math.sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2])
                    fs = _height(pos[0], pos[1], pos[2]) - alt_m
                    rate = h * (pos[0] * vel[0] + pos[1] * vel[1] + pos[2] * vel[2]) / pr
                    if abs(rate) <= 1e-9:
                        rate = 1e-9
                    s = min(max(s - fs / rate, 0.0), 1.0)
                _hermite(y, y1, h, s, pos, vel)
                for j in range(3):
                    x_out[i, j] = pos[j]
                    x_out[i, 3 + j] = vel[j]
                dt_out[i] = elapsed + h_abs * s
                if i == sample_row and n_samp < m_samp:
                    samples[n_samp, 0] = elapsed + h_abs
                    for j in range(6):
                        samples[n_samp, 1 + j] = y1[j]
                    n_samp += 1
                break
            for j in range(6):
                y[j] = y1[j]
            hg = hg1
            elapsed += h_abs
            if i == sample_row and n_samp < m_samp:
                samples[n_samp, 0] = elapsed
                for j in range(6):
                    samples[n_samp, 1 + j] = y[j]
                n_samp += 1
        if math.isnan(dt_out[i]):
            for j in range(6):
                x_out[i, j] = y[j]
    return dt_out, x_out, n_samp if sample_row >= 0 else -1


def to_ground(
    x: F64,
    beta: float | F64 | None,
    *,
    direction: int = +1,
    max_time: float = 7200.0,
    alt_m: float = 0.0,
    max_step: float = 30.0,
    min_step: float = 0.5,
    sample_row: int = -1,
    max_samples: int = 4096,
) -> tuple[F64, F64, list[tuple[float, F64]]]:
    """:func:`to_ground_rows` for ``beta`` given as one value, one per row or
    None; returns ``(dt, x_ground, samples)`` with ``samples`` the
    ``(elapsed, state (6,))`` of ``sample_row`` after each of its steps."""
    n = x.shape[0]
    if beta is None:
        b = np.full(n, np.nan)
    else:
        b = np.broadcast_to(np.asarray(beta, dtype=np.float64), (n,)).copy()
    buf = np.empty((max_samples if sample_row >= 0 else 1, 7))
    dt, xg, k = to_ground_rows(
        np.ascontiguousarray(x, dtype=np.float64),
        b,
        int(direction),
        float(max_time),
        float(alt_m),
        float(max_step),
        float(min_step),
        int(sample_row),
        buf,
    )
    samples = [(float(buf[j, 0]), buf[j, 1:].copy()) for j in range(max(k, 0))]
    return dt, xg, samples
