"""WGS84 frames against pymap3d (an independent implementation), on thousands of
random points plus the poles and the antimeridian."""

from __future__ import annotations

import numpy as np
import pymap3d as pm
import pytest
from pyproj import Transformer

from tocsin.geo import (
    aer_to_ecef,
    ecef_to_aer,
    ecef_to_enu,
    ecef_to_geodetic,
    enu_to_ecef,
    geodetic_to_ecef,
    great_circle_distance,
    up_vector,
)

MM = 1e-3
MICRODEG = 1e-6


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260101)
    n = 5000
    lat = rng.uniform(-90.0, 90.0, n)
    lon = rng.uniform(-180.0, 180.0, n)
    alt = np.concatenate([rng.uniform(-400.0, 10_000.0, n // 2), rng.uniform(0.0, 4.0e7, n - n // 2)])
    # edge cases: poles, equator, antimeridian from both sides
    edge_lat = np.array([90.0, -90.0, 0.0, 0.0, 45.0, -45.0, 89.9999999, -89.9999999, 0.0])
    edge_lon = np.array([0.0, 0.0, 180.0, -180.0, 179.9999999, -179.9999999, 123.0, -45.0, 0.0])
    edge_alt = np.array([0.0, 1000.0, 0.0, 0.0, 500.0, 35_786_000.0, 0.0, 0.0, -100.0])
    return (
        np.concatenate([edge_lat, lat]),
        np.concatenate([edge_lon, lon]),
        np.concatenate([edge_alt, alt]),
    )


def test_geodetic_to_ecef_matches_pymap3d(points: tuple[np.ndarray, ...]) -> None:
    lat, lon, alt = points
    ours = geodetic_to_ecef(lat, lon, alt)
    ref = np.stack(pm.geodetic2ecef(lat, lon, alt), axis=-1)
    assert np.abs(ours - ref).max() < MM


def test_geodetic_to_ecef_matches_pyproj(points: tuple[np.ndarray, ...]) -> None:
    lat, lon, alt = points
    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    ref = np.stack(tr.transform(lon, lat, alt), axis=-1)
    assert np.abs(geodetic_to_ecef(lat, lon, alt) - ref).max() < MM


def test_ecef_round_trip_and_pymap3d(points: tuple[np.ndarray, ...]) -> None:
    lat, lon, alt = points
    xyz = geodetic_to_ecef(lat, lon, alt)
    la, lo, h = ecef_to_geodetic(xyz)
    assert np.abs(la - lat).max() < MICRODEG
    assert np.abs(h - alt).max() < MM
    not_pole = np.abs(lat) < 89.99
    dlon = (lo - lon + 180.0) % 360.0 - 180.0
    assert np.abs(dlon[not_pole]).max() < MICRODEG
    assert np.all((lo >= -180.0) & (lo <= 180.0))
    # Both references' inverses are approximations that drift with height
    # (measured: pymap3d 1e-4 deg at geostationary height; PROJ 7 mm at 700 km,
    # 0.3 m at 20,000 km), so each is used where it is itself mm-exact; beyond,
    # the exact round trip above through the forward transform (checked against
    # both) is the reference.
    surface = alt < 10_000.0
    tr = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    _, rla, rh = tr.transform(xyz[surface, 0], xyz[surface, 1], xyz[surface, 2])
    assert np.abs(la[surface] - rla).max() < MICRODEG
    assert np.abs(h[surface] - rh).max() < MM
    near = alt < 1.0e6
    mla, _, mh = pm.ecef2geodetic(xyz[near, 0], xyz[near, 1], xyz[near, 2])
    assert np.abs(la[near] - mla).max() < MICRODEG
    assert np.abs(h[near] - mh).max() < MM


def test_poles_exact() -> None:
    la, _, h = ecef_to_geodetic(geodetic_to_ecef([90.0, -90.0], [0.0, 0.0], [0.0, 250.0]))
    assert la.tolist() == pytest.approx([90.0, -90.0], abs=1e-12)
    assert h.tolist() == pytest.approx([0.0, 250.0], abs=MM)


@pytest.mark.parametrize(
    ("lat0", "lon0", "alt0"),
    [(35.7, 139.7, 40.0), (-33.9, 151.2, 0.0), (0.0, 180.0, 0.0), (89.5, -179.9, 3000.0)],
)
def test_enu_and_aer_match_pymap3d(lat0: float, lon0: float, alt0: float) -> None:
    rng = np.random.default_rng(7)
    tgt = geodetic_to_ecef(
        lat0 + rng.uniform(-10, 10, 2000).clip(-90 - lat0, 90 - lat0),
        lon0 + rng.uniform(-10, 10, 2000),
        rng.uniform(0, 1.5e6, 2000),
    )
    enu = ecef_to_enu(tgt, lat0, lon0, alt0)
    ref = np.stack(pm.ecef2enu(tgt[:, 0], tgt[:, 1], tgt[:, 2], lat0, lon0, alt0), axis=-1)
    assert np.abs(enu - ref).max() < MM
    assert np.abs(enu_to_ecef(enu, lat0, lon0, alt0) - tgt).max() < MM
    az, el, rng_m = ecef_to_aer(tgt, lat0, lon0, alt0)
    raz, rel, rr = pm.ecef2aer(tgt[:, 0], tgt[:, 1], tgt[:, 2], lat0, lon0, alt0)
    daz = (az - raz + 180.0) % 360.0 - 180.0
    assert np.abs(daz).max() < MICRODEG
    assert np.abs(el - rel).max() < MICRODEG
    assert np.abs(rng_m - rr).max() < MM
    assert np.all((az >= 0.0) & (az < 360.0))
    back = aer_to_ecef(az, el, rng_m, lat0, lon0, alt0)
    assert np.abs(back - tgt).max() < MM


def test_azimuth_convention() -> None:
    # due north, due east of an observer on the equator
    north = geodetic_to_ecef(1.0, 0.0, 0.0)
    east = geodetic_to_ecef(0.0, 1.0, 0.0)
    az, _, _ = ecef_to_aer(np.stack([north, east]), 0.0, 0.0, 0.0)
    assert az.tolist() == pytest.approx([0.0, 90.0], abs=1e-9)


def test_up_vector_is_ellipsoid_normal() -> None:
    lat, lon = 40.0, 130.0
    p0 = geodetic_to_ecef(lat, lon, 0.0)
    p1 = geodetic_to_ecef(lat, lon, 1000.0)
    assert np.allclose((p1 - p0) / 1000.0, up_vector(lat, lon), atol=1e-12)


def test_great_circle_distance_close_to_geodesic() -> None:
    from pyproj import Geod

    g = Geod(ellps="WGS84")
    _, _, d_ref = g.inv(125.7, 39.0, 141.3, 43.1)
    d = float(great_circle_distance(39.0, 125.7, 43.1, 141.3))
    assert abs(d - d_ref) / d_ref < 0.005
