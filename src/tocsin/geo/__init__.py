"""WGS84 geodesy: geodetic, ECEF and local ENU frames, az/el/range. Pure numpy.

Angles at this interface are degrees (as on the wire); everything is vectorised
and batch-first: a point set is an array of shape ``(..., 3)``.
"""

from tocsin.geo.wgs84 import (
    GM,
    J2,
    OMEGA_E,
    WGS84_A,
    WGS84_B,
    WGS84_E2,
    WGS84_F,
    aer_to_ecef,
    ecef_to_aer,
    ecef_to_enu,
    ecef_to_geodetic,
    enu_matrix,
    enu_to_ecef,
    geodetic_to_ecef,
    great_circle_distance,
    up_vector,
)

__all__ = [
    "GM",
    "J2",
    "OMEGA_E",
    "WGS84_A",
    "WGS84_B",
    "WGS84_E2",
    "WGS84_F",
    "aer_to_ecef",
    "ecef_to_aer",
    "ecef_to_enu",
    "ecef_to_geodetic",
    "enu_matrix",
    "enu_to_ecef",
    "geodetic_to_ecef",
    "great_circle_distance",
    "up_vector",
]
