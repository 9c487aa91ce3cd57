"""Compiled drag-free coasting for the threat assessment's fly-outs.

:func:`tocsin.warning.threat.fly_to_ground` flies states to the ground in
fixed steps of classical RK4 under J2 gravity and the rotating frame's
Coriolis and centrifugal terms (no drag: :func:`tocsin.dynamics.propagate`
with ``beta=None``). In numpy each step is some sixty array operations on a
handful of states: ~19 ms for a boost assessment's far flight, the largest
part of the warning stage's cost on a boosting missile (issue 17 (a)).

:func:`coast` runs the same steps compiled, with the shared equation of
motion :func:`tocsin.dynamics.ecef.deriv`: the same operations in the same
order on the same constants (no fused multiply-add, no reassociation: numba
without ``fastmath``), so every state equals numpy's bit for bit
(``tests/warning/test_coast.py`` checks it on random states, and
:func:`~tocsin.warning.threat.fly_to_ground` is unchanged in its outputs).
The caller decides where each flight meets the ground with the geodetic
height of :func:`tocsin.geo.ecef_to_geodetic` (numpy, as before); the kernel
only needs to know when to stop: once its rough height (along the geocentric
radius, within tens of metres) is a kilometre below the ground, one step
more.

Compiled with numba and cached on disk, like :mod:`tocsin.dynamics.integrate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

from tocsin.dynamics.ecef import deriv
from tocsin.geo.wgs84 import WGS84_A, WGS84_B

F64 = NDArray[np.float64]

__all__ = ["coast", "steps_within"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: the kernel stops a flight once its rough height is this far below the
#: ground (m), after one more step (the caller finds the crossing)
BELOW_M = 1_000.0
#: no drag (:func:`tocsin.dynamics.ecef.deriv`)
_NO_DRAG = math.nan


def _jit(fn: _F) -> _F:
    return cast(_F, njit(cache=True, error_model="numpy", nogil=True)(fn))


@_jit
def _rough_height(y: F64) -> float:
    # tocsin.dynamics.forces.approx_altitude (only to stop the kernel)
    rn = math.sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2])
    s = y[2] / rn
    c2 = 1.0 - s * s
    re = WGS84_A * WGS84_B / math.sqrt((WGS84_B * WGS84_B) * c2 + (WGS84_A * WGS84_A) * s * s)
    return rn - re


@_jit
def _coast(x0: F64, h: float, kmax: int, below: float) -> tuple[F64, NDArray[np.int64]]:
    n = x0.shape[0]
    out = np.empty((n, kmax + 1, 6))
    steps = np.zeros(n, dtype=np.int64)
    k1 = np.empty(6)
    k2 = np.empty(6)
    k3 = np.empty(6)
    k4 = np.empty(6)
    t = np.empty(6)
    y = np.empty(6)
    hh = 0.5 * h
    h6 = h / 6.0
    for i in range(n):
        for j in range(6):
            y[j] = x0[i, j]
            out[i, 0, j] = y[j]
        extra = False
        for k in range(1, kmax + 1):
            # tocsin.dynamics.flight.propagate: one RK4 step of h
            deriv(y, _NO_DRAG, k1)
            for j in range(6):
                t[j] = y[j] + hh * k1[j]
            deriv(t, _NO_DRAG, k2)
            for j in range(6):
                t[j] = y[j] + hh * k2[j]
            deriv(t, _NO_DRAG, k3)
            for j in range(6):
                t[j] = y[j] + h * k3[j]
            deriv(t, _NO_DRAG, k4)
            for j in range(6):
                y[j] = y[j] + h6 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
                out[i, k, j] = y[j]
            steps[i] = k
            if extra:
                break
            if _rough_height(y) < -below:
                extra = True
    return out, steps


@lru_cache(maxsize=64)
def steps_within(step: float, max_time: float) -> int:
    """How many steps :func:`~tocsin.warning.threat.fly_to_ground` may take:
    step ``k`` is taken while ``(k - 1) * step < max_time``."""
    k = 0
    while k * step < max_time:
        k += 1
    return k


def coast(x: F64, step: float, max_time: float) -> tuple[F64, NDArray[np.int64]]:
    """States ``(N, 6)`` coasted in steps of ``step`` s: ``(states (N, K + 1,
    6), steps (N,))``, row ``k`` the state after ``k`` steps, for ``k <=
    steps[i]`` (a flight stops one step after it is clearly below the ground,
    or after :func:`steps_within` steps)."""
    x0 = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 6)
    states, steps = _coast(x0, float(step), steps_within(step, max_time), BELOW_M)
    return states, steps
