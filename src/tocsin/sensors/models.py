"""Measurement models and their analytic Jacobians.

Radar (ground or ship)
----------------------
With object state ``x = [r, v]`` (ECEF position and velocity) and sensor site
``s`` (ECEF, geodetic latitude ``phi`` and longitude ``lambda``), the relative
position ``d = r - s`` is rotated into the local east-north-up frame,
``[e, n, u] = R(phi, lambda) d``, and

.. math::

    \\rho = |d|, \\quad
    \\alpha = \\operatorname{atan2}(e, n) \\bmod 2\\pi, \\quad
    \\epsilon = \\operatorname{atan2}(u, \\sqrt{e^2 + n^2}), \\quad
    \\dot\\rho = d \\cdot (v - v_s) / \\rho

(azimuth clockwise from true north, elevation above the local geodetic
horizontal, range rate positive when receding). The Jacobian is

.. math::

    \\partial\\rho/\\partial r = d^T/\\rho, \\quad
    \\partial\\alpha/\\partial r = [n, -e, 0] R / h^2, \\quad
    \\partial\\epsilon/\\partial r = [-u e / h, -u n / h, h] R / \\rho^2,

    \\partial\\dot\\rho/\\partial r = (v - v_s - \\dot\\rho\\, d/\\rho)^T / \\rho, \\quad
    \\partial\\dot\\rho/\\partial v = d^T / \\rho

with ``h = sqrt(e^2 + n^2)``. See e.g. Y. Bar-Shalom, X. R. Li, T. Kirubarajan,
*Estimation with Applications to Tracking and Navigation* (2001), sec. 10.3.

Space infrared (line of sight)
------------------------------
``u = d / |d|`` with ``d = r - o`` for observer ``o``;
``du/dr = (I - u u^T) / |d|`` and ``du/dv = 0``.

Everything is vectorised over a leading batch axis; sites and observers may be
a single ``(3,)`` point or ``(N, 3)`` (moving platforms). Pure numpy, no I/O.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tocsin.geo import enu_matrix

F64 = NDArray[np.float64]

TWO_PI = 2.0 * np.pi

__all__ = [
    "los_jacobian",
    "los_measure",
    "radar_jacobian",
    "radar_measure",
]


def _states(x: ArrayLike) -> F64:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] not in (3, 6):
        raise ValueError(f"state must be (N, 6) or (N, 3), got {a.shape}")
    return a


def _radar_geometry(
    x: ArrayLike,
    site_ecef: ArrayLike,
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    site_vel_ecef: ArrayLike | None,
) -> tuple[F64, F64, F64, F64]:
    """Relative position ``d (N,3)``, relative velocity ``w (N,3)``, ENU rotation
    ``R (N,3,3)`` and ENU components ``enu (N,3)``."""
    xs = _states(x)
    if xs.shape[1] != 6:
        raise ValueError("radar measurements need a 6-element state")
    n = xs.shape[0]
    site = np.broadcast_to(np.asarray(site_ecef, dtype=np.float64), (n, 3))
    d = xs[:, :3] - site
    w = xs[:, 3:6].copy()
    if site_vel_ecef is not None:
        w = w - np.broadcast_to(np.asarray(site_vel_ecef, dtype=np.float64), (n, 3))
    rot = np.broadcast_to(enu_matrix(site_lat_deg, site_lon_deg), (n, 3, 3))
    enu = np.einsum("nij,nj->ni", rot, d)
    return d, w, rot, enu


def radar_measure(
    x: ArrayLike,
    site_ecef: ArrayLike,
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    site_vel_ecef: ArrayLike | None = None,
) -> F64:
    """Radar measurement ``(N, 4)``: ``[range_m, az_rad, el_rad, rr_mps]``.

    ``x`` is ``(N, 6)`` or ``(6,)`` ECEF state; ``site_ecef`` ``(3,)`` or
    ``(N, 3)``; latitude/longitude scalars or ``(N,)`` (degrees, the site's
    geodetic position, which fixes the local horizontal). ``site_vel_ecef``
    (optional, ``(3,)`` or ``(N, 3)``) is the platform's ECEF velocity for
    range rate from a moving ship. ``az`` is in ``[0, 2 pi)``.
    """
    d, w, _rot, enu = _radar_geometry(x, site_ecef, site_lat_deg, site_lon_deg, site_vel_ecef)
    e, nn, u = enu[:, 0], enu[:, 1], enu[:, 2]
    rho = np.sqrt(np.einsum("ni,ni->n", d, d))
    h = np.hypot(e, nn)
    az = np.mod(np.arctan2(e, nn), TWO_PI)
    az = np.where(az >= TWO_PI, 0.0, az)
    el = np.arctan2(u, h)
    rr = np.einsum("ni,ni->n", d, w) / rho
    return np.stack([rho, az, el, rr], axis=1)


def radar_jacobian(
    x: ArrayLike,
    site_ecef: ArrayLike,
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    site_vel_ecef: ArrayLike | None = None,
) -> F64:
    """Analytic ``d(range, az, el, rr)/d(state)``, shape ``(N, 4, 6)``.

    Arguments as :func:`radar_measure`. Singular straight overhead (``h = 0``),
    where azimuth is undefined; there the azimuth row is returned as zeros.
    """
    d, w, rot, enu = _radar_geometry(x, site_ecef, site_lat_deg, site_lon_deg, site_vel_ecef)
    n = d.shape[0]
    e, nn, u = enu[:, 0], enu[:, 1], enu[:, 2]
    rho2 = np.einsum("ni,ni->n", d, d)
    rho = np.sqrt(rho2)
    h2 = e * e + nn * nn
    h = np.sqrt(h2)
    safe_h2 = np.where(h2 > 0.0, h2, 1.0)
    safe_h = np.where(h > 0.0, h, 1.0)
    rr = np.einsum("ni,ni->n", d, w) / rho

    jac = np.zeros((n, 4, 6))
    jac[:, 0, :3] = d / rho[:, None]
    daz_enu = np.stack([nn / safe_h2, -e / safe_h2, np.zeros(n)], axis=1)
    daz_enu[h2 == 0.0] = 0.0
    jac[:, 1, :3] = np.einsum("ni,nij->nj", daz_enu, rot)
    del_enu = np.stack([-u * e / safe_h, -u * nn / safe_h, h], axis=1) / rho2[:, None]
    jac[:, 2, :3] = np.einsum("ni,nij->nj", del_enu, rot)
    jac[:, 3, :3] = (w - rr[:, None] * d / rho[:, None]) / rho[:, None]
    jac[:, 3, 3:] = d / rho[:, None]
    return jac


def _los_geometry(x: ArrayLike, observer_ecef: ArrayLike) -> tuple[F64, F64]:
    xs = _states(x)
    n = xs.shape[0]
    obs = np.broadcast_to(np.asarray(observer_ecef, dtype=np.float64), (n, 3))
    d = xs[:, :3] - obs
    dist = np.sqrt(np.einsum("ni,ni->n", d, d))
    return d, dist


def los_measure(x: ArrayLike, observer_ecef: ArrayLike) -> F64:
    """Unit line-of-sight vectors ``(N, 3)`` from the observer to the object.

    ``x`` is ``(N, 6)``, ``(N, 3)``, ``(6,)`` or ``(3,)``; ``observer_ecef``
    ``(3,)`` or ``(N, 3)``.
    """
    d, dist = _los_geometry(x, observer_ecef)
    out: F64 = d / dist[:, None]
    return out


def los_jacobian(x: ArrayLike, observer_ecef: ArrayLike) -> F64:
    """Analytic ``d(los)/d(state)``, shape ``(N, 3, 6)``: ``(I - u u^T)/|d|`` in the
    position columns, zeros in the velocity columns."""
    d, dist = _los_geometry(x, observer_ecef)
    u = d / dist[:, None]
    n = d.shape[0]
    jac = np.zeros((n, 3, 6))
    jac[:, :, :3] = (np.eye(3)[None, :, :] - u[:, :, None] * u[:, None, :]) / dist[:, None, None]
    return jac
