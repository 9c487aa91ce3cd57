"""WGS84 frames.

References: NIMA TR8350.2 (WGS84 constants); J. Zhu, "Conversion of Earth-centered
Earth-fixed coordinates to geodetic coordinates", IEEE TAES 30(3), 1994 (the
closed form used in :func:`ecef_to_geodetic`, after Heikkinen 1982).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]

WGS84_A = 6378137.0
"""Semi-major axis, m."""
WGS84_F = 1.0 / 298.257223563
"""Flattening."""
WGS84_B = WGS84_A * (1.0 - WGS84_F)
"""Semi-minor axis, m."""
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
"""First eccentricity squared."""
_EP2 = WGS84_E2 / (1.0 - WGS84_E2)
GM = 3.986004418e14
"""Earth's gravitational parameter, m^3/s^2."""
J2 = 1.08262668e-3
"""Second zonal harmonic (EGM96, unnormalised)."""
OMEGA_E = 7.292115e-5
"""Earth's rotation rate, rad/s."""
MEAN_RADIUS = 6371008.8
"""IUGG mean Earth radius, m (for great-circle distances)."""


def _f(x: ArrayLike) -> F64:
    return np.asarray(x, dtype=np.float64)


def geodetic_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike = 0.0) -> F64:
    """Geodetic latitude, longitude (degrees) and ellipsoidal height (m) to ECEF.

    Inputs broadcast together; the result has shape ``broadcast_shape + (3,)``.
    """
    lat = np.radians(_f(lat_deg))
    lon = np.radians(_f(lon_deg))
    h = _f(alt_m)
    slat, clat = np.sin(lat), np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * slat * slat)
    x = (n + h) * clat * np.cos(lon)
    y = (n + h) * clat * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * slat
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(xyz: ArrayLike) -> tuple[F64, F64, F64]:
    """ECEF ``(..., 3)`` to geodetic ``(lat_deg, lon_deg, alt_m)``, each ``(...)``.

    Closed form (Zhu 1994), exact to well under a millimetre from the Earth's
    surface out to geostationary distance; valid at the poles (lon is then 0 or
    whatever atan2 gives for the residual x, y). Longitude is in [-180, 180].
    """
    p_ = _f(xyz)
    x, y, z = p_[..., 0], p_[..., 1], p_[..., 2]
    a, b, e2 = WGS84_A, WGS84_B, WGS84_E2
    r2 = x * x + y * y
    p = np.sqrt(r2)
    zz = z * z
    f54 = 54.0 * b * b * zz
    g = r2 + (1.0 - e2) * zz - e2 * (a * a - b * b)
    c = e2 * e2 * f54 * r2 / (g * g * g)
    s = np.cbrt(1.0 + c + np.sqrt(c * c + 2.0 * c))
    k = s + 1.0 + 1.0 / s
    pp = f54 / (3.0 * k * k * g * g)
    q = np.sqrt(1.0 + 2.0 * e2 * e2 * pp)
    r0 = -pp * e2 * p / (1.0 + q) + np.sqrt(
        np.maximum(
            0.5 * a * a * (1.0 + 1.0 / q) - pp * (1.0 - e2) * zz / (q * (1.0 + q)) - 0.5 * pp * r2,
            0.0,
        )
    )
    t = p - e2 * r0
    u = np.sqrt(t * t + zz)
    v = np.sqrt(t * t + (1.0 - e2) * zz)
    z0 = b * b * z / (a * v)
    h = u * (1.0 - b * b / (a * v))
    lat = np.degrees(np.arctan2(z + _EP2 * z0, p))
    lon = np.degrees(np.arctan2(y, x))
    return lat, lon, h


def enu_matrix(lat_deg: ArrayLike, lon_deg: ArrayLike) -> F64:
    """Rotation ``(..., 3, 3)`` taking ECEF vectors to local east-north-up."""
    lat = np.radians(_f(lat_deg))
    lon = np.radians(_f(lon_deg))
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl * so)
    rows = [
        [-so + zero, co + zero, zero],
        [-sl * co, -sl * so, cl + zero],
        [cl * co, cl * so, sl + zero],
    ]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def up_vector(lat_deg: ArrayLike, lon_deg: ArrayLike) -> F64:
    """Unit geodetic vertical (ellipsoid normal) in ECEF, ``(..., 3)``."""
    return enu_matrix(lat_deg, lon_deg)[..., 2, :]


def ecef_to_enu(xyz: ArrayLike, lat0: ArrayLike, lon0: ArrayLike, alt0: ArrayLike = 0.0) -> F64:
    """ECEF points ``(..., 3)`` to ENU about a reference geodetic point."""
    d = _f(xyz) - geodetic_to_ecef(lat0, lon0, alt0)
    return np.einsum("...ij,...j->...i", enu_matrix(lat0, lon0), d)


def enu_to_ecef(enu: ArrayLike, lat0: ArrayLike, lon0: ArrayLike, alt0: ArrayLike = 0.0) -> F64:
    """ENU points ``(..., 3)`` about a reference geodetic point to ECEF."""
    rot = enu_matrix(lat0, lon0)
    return np.einsum("...ji,...j->...i", rot, _f(enu)) + geodetic_to_ecef(lat0, lon0, alt0)


def ecef_to_aer(
    xyz: ArrayLike, lat0: ArrayLike, lon0: ArrayLike, alt0: ArrayLike = 0.0
) -> tuple[F64, F64, F64]:
    """Azimuth (deg, clockwise from true north, [0, 360)), elevation above the local
    geodetic horizontal (deg) and slant range (m) of ECEF targets from an observer."""
    e, n, u = np.moveaxis(ecef_to_enu(xyz, lat0, lon0, alt0), -1, 0)
    horiz = np.hypot(e, n)
    az = np.degrees(np.arctan2(e, n)) % 360.0
    az = np.where(az >= 360.0, 0.0, az)  # -1e-17 % 360 == 360.0
    el = np.degrees(np.arctan2(u, horiz))
    return az, el, np.sqrt(horiz * horiz + u * u)


def aer_to_ecef(
    az_deg: ArrayLike,
    el_deg: ArrayLike,
    range_m: ArrayLike,
    lat0: ArrayLike,
    lon0: ArrayLike,
    alt0: ArrayLike = 0.0,
) -> F64:
    """Inverse of :func:`ecef_to_aer`."""
    az = np.radians(_f(az_deg))
    el = np.radians(_f(el_deg))
    r = _f(range_m)
    ce = np.cos(el)
    enu = np.stack(np.broadcast_arrays(r * ce * np.sin(az), r * ce * np.cos(az), r * np.sin(el)), axis=-1)
    return enu_to_ecef(enu, lat0, lon0, alt0)


def great_circle_distance(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> F64:
    """Haversine distance on the mean sphere, m (about 0.3 % from the geodesic;
    use :mod:`pyproj` ``Geod`` where that matters)."""
    p1, p2 = np.radians(_f(lat1)), np.radians(_f(lat2))
    dl = np.radians(_f(lon2) - _f(lon1))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * MEAN_RADIUS * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
