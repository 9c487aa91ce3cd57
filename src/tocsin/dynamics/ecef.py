"""The equation of motion in the rotating ECEF frame, compiled (Numba): one
kernel for every integrator that flies a ballistic state.

:func:`accel` is :func:`tocsin.dynamics.forces.accel_ecef` of one state
without drag — J2 gravity (:func:`~tocsin.dynamics.forces.gravity_j2`), then
the Coriolis and centrifugal terms — operation for operation, so a compiled
integrator that uses it reproduces the numpy reference bit for bit (numba
without ``fastmath`` neither reassociates nor fuses). :func:`deriv` adds the
drag ``-rho |v| v / (2 beta)`` of the U.S. Standard Atmosphere 1976
(:func:`tocsin.dynamics.atmosphere.density1`) at the height of
:func:`~tocsin.dynamics.forces.approx_altitude`.

Used by the simulator (:mod:`tocsin.dynamics.integrate`, which adds thrust,
lift and the day's air), the tracker's ballistic prediction
(:mod:`tocsin.fusion.kernels`), its impact prediction
(:mod:`tocsin.fusion.ground`) and the warning's fly-outs
(:mod:`tocsin.warning.coast`). Pure maths: no I/O.

The helpers are inlined into their callers (``inline="always"``); numba's
disk cache does not see a change in this file from a caller's cache, so
after editing it clear the ``__pycache__`` directories (or touch the
callers' files).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import DRAG_CEILING_M, density1
from tocsin.geo.wgs84 import GM, J2, OMEGA_E, WGS84_A, WGS84_B

F64 = NDArray[np.float64]

__all__ = ["accel", "deriv", "height"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit_inline(fn: _F) -> _F:
    return cast(_F, njit(cache=True, error_model="numpy", nogil=True, inline="always")(fn))


@_jit_inline
def accel(x: float, y: float, z: float, vx: float, vy: float, vz: float) -> tuple[float, float, float]:
    """Acceleration (m/s^2) of a drag-free object at ECEF ``(x, y, z)`` moving
    at ``(vx, vy, vz)`` relative to the Earth: J2 gravity and the rotating
    frame's terms (as :func:`tocsin.dynamics.forces.accel_ecef` with
    ``beta=None``, in the same order)."""
    r2 = x * x + y * y + z * z
    rn = math.sqrt(r2)
    mu_r3 = GM / (r2 * rn)
    k = 1.5 * J2 * (WGS84_A * WGS84_A) / r2
    zr2 = 5.0 * z * z / r2
    ax = -mu_r3 * x * (1.0 + k * (1.0 - zr2))
    ay = -mu_r3 * y * (1.0 + k * (1.0 - zr2))
    az = -mu_r3 * z * (1.0 + k * (3.0 - zr2))
    w = OMEGA_E
    ax += 2.0 * w * vy + w * w * x
    ay += -2.0 * w * vx + w * w * y
    return ax, ay, az


@_jit_inline
def height(x: float, y: float, z: float) -> float:
    """Height above the ellipsoid along the geocentric radius (as
    :func:`tocsin.dynamics.forces.approx_altitude`)."""
    rn = math.sqrt(x * x + y * y + z * z)
    s = z / rn
    c2 = 1.0 - s * s
    re = WGS84_A * WGS84_B / math.sqrt((WGS84_B * WGS84_B) * c2 + (WGS84_A * WGS84_A) * s * s)
    return rn - re


@_jit_inline
def deriv(y: F64, beta: float, out: F64) -> None:
    """``out = d/dt [r, v]`` of one ECEF state ``y (6,)`` with drag of
    ballistic coefficient ``beta`` kg/m^2 (NaN or inf: none), as
    :func:`tocsin.dynamics.forces.state_derivative`."""
    vx, vy, vz = y[3], y[4], y[5]
    ax, ay, az = accel(y[0], y[1], y[2], vx, vy, vz)
    if math.isfinite(beta):
        h = height(y[0], y[1], y[2])
        if h < DRAG_CEILING_M:
            kd = 0.5 * density1(h) * math.sqrt(vx * vx + vy * vy + vz * vz) / beta
            ax -= kd * vx
            ay -= kd * vy
            az -= kd * vz
    out[0] = vx
    out[1] = vy
    out[2] = vz
    out[3] = ax
    out[4] = ay
    out[5] = az
