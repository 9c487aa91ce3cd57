"""Forces on a ballistic object, expressed in the rotating ECEF frame.

The equation of motion in ECEF (Vallado, *Fundamentals of Astrodynamics*, 4th ed.,
sec. 3.7 and 8.6)::

    a = g_J2(r) - 2 w x v - w x (w x r) + a_drag

with ``w = (0, 0, OMEGA_E)``, J2 gravity and the U.S. Standard Atmosphere 1976
(:mod:`tocsin.dynamics.atmosphere`). ``v`` is
the velocity relative to the rotating Earth, which is also the velocity relative
to the (co-rotating) air, so drag needs no wind term.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tocsin.dynamics.atmosphere import DRAG_CEILING_M as DRAG_CEILING_M
from tocsin.dynamics.atmosphere import density
from tocsin.geo.wgs84 import GM, J2, OMEGA_E, WGS84_A, WGS84_B

F64 = NDArray[np.float64]

RHO0 = 1.225
"""Sea-level air density, kg/m^3 (US Standard Atmosphere 1976)."""
SCALE_HEIGHT = 7200.0
"""A typical density scale height, m: only to size integration steps (the
density itself is :func:`tocsin.dynamics.atmosphere.density`)."""


def gravity_j2(r: ArrayLike) -> F64:
    """Gravitational acceleration with the J2 term, ``(..., 3)`` in m/s^2."""
    r = np.asarray(r, dtype=np.float64)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    r2 = x * x + y * y + z * z
    rn = np.sqrt(r2)
    mu_r3 = GM / (r2 * rn)
    k = 1.5 * J2 * (WGS84_A * WGS84_A) / r2
    zr2 = 5.0 * z * z / r2
    ax = -mu_r3 * x * (1.0 + k * (1.0 - zr2))
    ay = -mu_r3 * y * (1.0 + k * (1.0 - zr2))
    az = -mu_r3 * z * (1.0 + k * (3.0 - zr2))
    return np.stack([ax, ay, az], axis=-1)


def approx_altitude(r: ArrayLike) -> F64:
    """Height above the ellipsoid, approximated along the geocentric radius.

    Within ~20 m of the geodetic height below 200 km; cheap enough for the
    density lookup inside an integrator. Use :func:`tocsin.geo.ecef_to_geodetic`
    where accuracy matters.
    """
    r = np.asarray(r, dtype=np.float64)
    rn = np.linalg.norm(r, axis=-1)
    s = r[..., 2] / rn
    c2 = 1.0 - s * s
    re = WGS84_A * WGS84_B / np.sqrt((WGS84_B * WGS84_B) * c2 + (WGS84_A * WGS84_A) * s * s)
    return rn - re


def air_density(alt_m: ArrayLike) -> F64:
    """US Standard Atmosphere 1976, kg/m^3; zero above :data:`DRAG_CEILING_M`
    (:func:`tocsin.dynamics.atmosphere.density`)."""
    return density(alt_m)


def accel_ecef(r: ArrayLike, v: ArrayLike, beta: ArrayLike | None = None) -> F64:
    """Acceleration in the rotating ECEF frame, ``(..., 3)``.

    Parameters
    ----------
    r, v:
        ECEF position (m) and Earth-relative velocity (m/s), ``(..., 3)``.
    beta:
        Ballistic coefficient ``m / (Cd * A)`` in kg/m^2 (typical reentry vehicle
        2,000-10,000). ``None`` or ``inf`` means no drag.
    """
    r = np.asarray(r, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    a = gravity_j2(r)
    w = OMEGA_E
    # -2 w x v - w x (w x r), with w along +z
    a[..., 0] += 2.0 * w * v[..., 1] + w * w * r[..., 0]
    a[..., 1] += -2.0 * w * v[..., 0] + w * w * r[..., 1]
    if beta is not None:
        b = np.asarray(beta, dtype=np.float64)
        rho = air_density(approx_altitude(r))
        speed = np.linalg.norm(v, axis=-1)
        k = np.where(np.isfinite(b), 0.5 * rho * speed / b, 0.0)
        a -= k[..., None] * v
    return a


def state_derivative(x: ArrayLike, beta: ArrayLike | None = None) -> F64:
    """Time derivative of ECEF states ``(..., 6)``: ``[v, a]``."""
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([x[..., 3:], accel_ecef(x[..., :3], x[..., 3:], beta)], axis=-1)
