"""The Earth, written here from the published definitions (no tocsin code).

* WGS84 ellipsoid (NIMA TR8350.2, 3rd ed., 2000, table 3.1): a, 1/f, GM, omega.
* Geodetic <-> ECEF: the forward formula; the inverse by Heikkinen's closed form
  (Heikkinen 1982, as given in Zhu, "Conversion of Earth-centered Earth-fixed
  coordinates to geodetic coordinates", IEEE Trans. AES 30(3), 1994) followed by one
  Newton refinement. Checked against pymap3d and pyproj in tests/independent.
* Zonal gravity J2, J3, J4 (EGM2008 normalised C20, C30, C40 unnormalised), in an
  Earth-centred inertial frame (the flights are integrated in ECI, not in the
  rotating frame as tocsin does).
* Earth rotation: ECI <-> ECEF is a rotation about z by omega (t - t0); the
  frames coincide at t0 (precession, nutation and polar motion are irrelevant over
  a flight and to a receiver that only sees ECEF).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

A = 6378137.0
INV_F = 298.257223563
F = 1.0 / INV_F
B = A * (1.0 - F)
E2 = F * (2.0 - F)
EP2 = E2 / (1.0 - E2)
GM = 3.986004418e14
OMEGA = 7.292115e-5
# unnormalised zonal harmonics J_n = -C_n0 (EGM2008: Cbar20 -4.84165143790815e-4 etc.,
# J_n = -sqrt(2n+1) Cbar_n0)
J2 = 1.0826261738522227e-3
J3 = -2.5324105185677225e-6
J4 = -1.6198975999169731e-6
G0 = 9.80665  # standard gravity (for Isp), m/s^2

Vec = NDArray[np.float64]


def geodetic_to_ecef(lat_deg: float, lon_deg: float, h: float) -> Vec:
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    s, c = math.sin(lat), math.cos(lat)
    n = A / math.sqrt(1.0 - E2 * s * s)
    return np.array([(n + h) * c * math.cos(lon), (n + h) * c * math.sin(lon), (n * (1.0 - E2) + h) * s])


def ecef_to_geodetic(r: Vec) -> tuple[float, float, float]:
    """(lat deg, lon deg, h m) of an ECEF point (Heikkinen, then one Newton step)."""
    x, y, z = float(r[0]), float(r[1]), float(r[2])
    p = math.hypot(x, y)
    if p < 1e-3:  # on the axis
        return (90.0 if z >= 0 else -90.0), 0.0, abs(z) - B
    ff = 54.0 * B * B * z * z
    gg = p * p + (1.0 - E2) * z * z - E2 * (A * A - B * B)
    cc = E2 * E2 * ff * p * p / (gg**3)
    ss = (1.0 + cc + math.sqrt(cc * cc + 2.0 * cc)) ** (1.0 / 3.0)
    pp = ff / (3.0 * (ss + 1.0 / ss + 1.0) ** 2 * gg * gg)
    qq = math.sqrt(1.0 + 2.0 * E2 * E2 * pp)
    r0 = -(pp * E2 * p) / (1.0 + qq) + math.sqrt(
        max(
            0.5 * A * A * (1.0 + 1.0 / qq) - pp * (1.0 - E2) * z * z / (qq * (1.0 + qq)) - 0.5 * pp * p * p,
            0.0,
        )
    )
    uu = math.sqrt((p - E2 * r0) ** 2 + z * z)
    vv = math.sqrt((p - E2 * r0) ** 2 + (1.0 - E2) * z * z)
    z0 = B * B * z / (A * vv)
    h = uu * (1.0 - B * B / (A * vv))
    lat = math.atan((z + EP2 * z0) / p)
    # one Newton refinement of lat on the exact relation (sub-millimetre everywhere)
    for _ in range(1):
        s = math.sin(lat)
        n = A / math.sqrt(1.0 - E2 * s * s)
        h = p / math.cos(lat) - n if abs(lat) < 1.3 else z / s - n * (1.0 - E2)
        lat = math.atan2(z, p * (1.0 - E2 * n / (n + h)))
    s = math.sin(lat)
    n = A / math.sqrt(1.0 - E2 * s * s)
    h = p / math.cos(lat) - n if abs(lat) < 1.3 else z / s - n * (1.0 - E2)
    return math.degrees(lat), math.degrees(math.atan2(y, x)), h


def height(x: float, y: float, z: float) -> float:
    """Geodetic height (m) by Bowring's formula with one iteration (Bowring 1976):
    sub-millimetre for heights up to several thousand km; the fast path for the
    equations of motion."""
    p = math.hypot(x, y)
    if p < 1e-3:
        return abs(z) - B
    u = math.atan2(z * A, p * B)
    lat = math.atan2(z + EP2 * B * math.sin(u) ** 3, p - E2 * A * math.cos(u) ** 3)
    u = math.atan2(B * math.sin(lat), A * math.cos(lat))  # reduced latitude of the estimate
    lat = math.atan2(z + EP2 * B * math.sin(u) ** 3, p - E2 * A * math.cos(u) ** 3)
    s = math.sin(lat)
    n = A / math.sqrt(1.0 - E2 * s * s)
    if abs(lat) < 1.3:
        return p / math.cos(lat) - n
    return z / s - n * (1.0 - E2)


def enu_basis(lat_deg: float, lon_deg: float) -> NDArray[np.float64]:
    """Rows: east, north, up unit vectors (ECEF) at a geodetic point."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def aer(site: Vec, site_lat: float, site_lon: float, r: Vec) -> tuple[float, float, float]:
    """Azimuth (deg, clockwise from north, 0..360), elevation (deg), slant range (m)."""
    d = enu_basis(site_lat, site_lon) @ (r - site)
    rng = float(np.linalg.norm(d))
    az = math.degrees(math.atan2(d[0], d[1])) % 360.0
    el = math.degrees(math.asin(max(-1.0, min(1.0, d[2] / rng))))
    return az, el, rng


def rot_z(theta: float) -> NDArray[np.float64]:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def eci_to_ecef_state(t_rel: float, x: Vec) -> Vec:
    """ECI state (frames aligned at t_rel = 0) -> ECEF position and Earth-relative velocity."""
    rz = rot_z(-OMEGA * t_rel)
    r = rz @ x[:3]
    v = rz @ x[3:6]
    w = np.array([0.0, 0.0, OMEGA])
    return np.concatenate([r, v - np.cross(w, r)])


def ecef_to_eci_state(t_rel: float, x: Vec) -> Vec:
    rz = rot_z(OMEGA * t_rel)
    w = np.array([0.0, 0.0, OMEGA])
    r, v = x[:3], x[3:6]
    return np.concatenate([rz @ r, rz @ (v + np.cross(w, r))])


def gravity(r: Vec) -> Vec:
    """Acceleration (m/s^2) of point mass + J2 + J3 + J4 at position r (axes aligned
    with the Earth's: only z matters): the gradient of :func:`potential`."""
    return _grad_potential(float(r[0]), float(r[1]), float(r[2]))


def potential(x: float, y: float, z: float) -> float:
    """Gravitational potential (m^2/s^2, positive) with J2..J4."""
    rn = math.sqrt(x * x + y * y + z * z)
    u = z / rn
    ar = A / rn
    p2 = 0.5 * (3.0 * u * u - 1.0)
    p3 = 0.5 * (5.0 * u**3 - 3.0 * u)
    p4 = 0.125 * (35.0 * u**4 - 30.0 * u * u + 3.0)
    return GM / rn * (1.0 - J2 * ar**2 * p2 - J3 * ar**3 * p3 - J4 * ar**4 * p4)


def _grad_potential(x: float, y: float, z: float) -> Vec:
    """Analytic gradient of :func:`potential` (Cartesian, via r and u = z/r)."""
    r2 = x * x + y * y + z * z
    rn = math.sqrt(r2)
    u = z / rn
    ar = A / rn
    a2, a3, a4 = ar**2, ar**3, ar**4
    p2 = 0.5 * (3.0 * u * u - 1.0)
    p3 = 0.5 * (5.0 * u**3 - 3.0 * u)
    p4 = 0.125 * (35.0 * u**4 - 30.0 * u * u + 3.0)
    dp2 = 3.0 * u
    dp3 = 0.5 * (15.0 * u * u - 3.0)
    dp4 = 0.125 * (140.0 * u**3 - 60.0 * u)
    # U = GM/r * S(r, u), S = 1 - sum J_n (a/r)^n P_n(u)
    s = 1.0 - J2 * a2 * p2 - J3 * a3 * p3 - J4 * a4 * p4
    # dU/dr at fixed u: -GM/r^2 S + GM/r * dS/dr, dS/dr = sum n J_n (a/r)^n P_n / r
    ds_dr = (2.0 * J2 * a2 * p2 + 3.0 * J3 * a3 * p3 + 4.0 * J4 * a4 * p4) / rn
    du_r = -GM / r2 * s + GM / rn * ds_dr
    # dU/du at fixed r
    du_u = GM / rn * (-J2 * a2 * dp2 - J3 * a3 * dp3 - J4 * a4 * dp4)
    # chain rule: dr/dx_i = x_i / r; du/dx_i = (e_z - u x_i / r) / r
    gx = du_r * x / rn + du_u * (-u * x / r2)
    gy = du_r * y / rn + du_u * (-u * y / r2)
    gz = du_r * z / rn + du_u * (1.0 / rn - u * z / r2)
    return np.array([gx, gy, gz])


def surface_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance along the surface (m): the chord between the two points on the
    ellipsoid, turned into an arc of the local radius of curvature (exact to < 1 mm
    at the tens of kilometres this is used for; < 0.5 % at thousands)."""
    p1 = geodetic_to_ecef(lat1, lon1, 0.0)
    p2 = geodetic_to_ecef(lat2, lon2, 0.0)
    chord = float(np.linalg.norm(p2 - p1))
    rm = float(np.linalg.norm(p1) + np.linalg.norm(p2)) / 2.0
    return 2.0 * rm * math.asin(min(1.0, chord / (2.0 * rm)))
