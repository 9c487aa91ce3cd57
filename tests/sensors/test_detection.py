"""Simulated detection: horizon masking, Pd, noise, clutter, infrared boost-only."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from tocsin.geo import geodetic_to_ecef
from tocsin.sensors.detection import (
    FieldOfRegard,
    IrSpec,
    RadarSpec,
    detect_ir,
    detect_radar,
    earth_blocks,
    report_delays,
)
from tocsin.sensors.models import radar_measure
from tocsin.sensors.platform import Course, destination

SITE_LAT, SITE_LON = 38.0, 138.3
SITE = geodetic_to_ecef(SITE_LAT, SITE_LON, 100.0)


def _static(lat: float, lon: float, alt: float, k: int) -> np.ndarray:
    pos = geodetic_to_ecef(lat, lon, alt)
    return np.tile(np.hstack([pos, [100.0, -50.0, 20.0]]), (1, k, 1))


def test_earth_blocks_known_cases() -> None:
    a = geodetic_to_ecef(0.0, 0.0, 10.0)
    b = geodetic_to_ecef(0.0, 180.0, 10.0)
    assert earth_blocks(a, b)
    geo = geodetic_to_ecef(0.0, 135.0, 35_786e3)
    assert not earth_blocks(geo, geodetic_to_ecef(39.0, 126.0, 50e3))
    # far side of the Earth from the geostationary point
    assert earth_blocks(geo, geodetic_to_ecef(0.0, -45.0, 50e3))
    # a low object 1500 km away is below a ground radar's horizon; a high one is not
    assert earth_blocks(SITE, geodetic_to_ecef(SITE_LAT, SITE_LON + 17.0, 20e3))
    assert not earth_blocks(SITE, geodetic_to_ecef(SITE_LAT, SITE_LON + 17.0, 400e3))
    # vectorised
    out = earth_blocks(np.stack([a, geo]), np.stack([b, geodetic_to_ecef(30.0, 130.0, 1e3)]))
    assert out.tolist() == [True, False]


def test_horizon_masking_blocks_detection_even_with_wide_fov() -> None:
    spec = RadarSpec(25.0, 1e-3, 1e-3, 5e6, fov=FieldOfRegard(el_min_rad=-math.pi / 2), pd=1.0)
    rng = np.random.default_rng(0)
    low = _static(SITE_LAT, SITE_LON + 17.0, 20e3, 10)
    high = _static(SITE_LAT, SITE_LON + 17.0, 400e3, 10)
    states = np.concatenate([low, high])
    det = detect_radar(spec, states, np.ones((2, 10), bool), SITE, SITE_LAT, SITE_LON, rng)
    assert set(det.obj.tolist()) == {1}
    assert det.z.shape == (10, 4)


def test_range_and_sector_limits() -> None:
    rng = np.random.default_rng(1)
    # north of the site (az ~0), 300 km away, 200 km up
    st = _static(SITE_LAT + 2.7, SITE_LON, 200e3, 5)
    alive = np.ones((1, 5), bool)
    east_only = RadarSpec(
        25.0, 1e-3, 1e-3, 2e6, fov=FieldOfRegard(math.radians(45), math.radians(135)), pd=1.0
    )
    assert detect_radar(east_only, st, alive, SITE, SITE_LAT, SITE_LON, rng).z.shape[0] == 0
    wrap = RadarSpec(25.0, 1e-3, 1e-3, 2e6, fov=FieldOfRegard(math.radians(300), math.radians(30)), pd=1.0)
    assert detect_radar(wrap, st, alive, SITE, SITE_LAT, SITE_LON, rng).z.shape[0] == 5
    short = RadarSpec(25.0, 1e-3, 1e-3, 2e5, pd=1.0)
    assert detect_radar(short, st, alive, SITE, SITE_LAT, SITE_LON, rng).z.shape[0] == 0
    dead = np.zeros((1, 5), bool)
    assert detect_radar(wrap, st, dead, SITE, SITE_LAT, SITE_LON, rng).z.shape[0] == 0


def test_pd_statistics_and_noise() -> None:
    rng = np.random.default_rng(2)
    k = 20_000
    st = _static(SITE_LAT + 3.0, SITE_LON + 2.0, 300e3, k)
    sig = np.array([30.0, math.radians(0.1), math.radians(0.05), 2.0])
    spec = RadarSpec(sig[0], sig[1], sig[2], 2e6, sigma_rr_mps=sig[3], pd=0.7, bias=(50.0, 0.0, 0.0, 0.0))
    det = detect_radar(spec, st, np.ones((1, k), bool), SITE, SITE_LAT, SITE_LON, rng)
    n = det.z.shape[0]
    # binomial: 4 sigma band
    assert abs(n - 0.7 * k) < 4 * math.sqrt(k * 0.7 * 0.3)
    truth = radar_measure(st[0, 0], SITE, SITE_LAT, SITE_LON)[0]
    err = det.z - truth
    err[:, 1] = (err[:, 1] + math.pi) % (2 * math.pi) - math.pi
    assert err[:, 0].mean() == pytest.approx(50.0, abs=4 * 30 / math.sqrt(n))
    std = (err - err.mean(axis=0)).std(axis=0)
    np.testing.assert_allclose(std, sig, rtol=0.05)


def test_clutter_counts_poisson_and_inside_fov() -> None:
    rng = np.random.default_rng(3)
    k = 4000
    fov = FieldOfRegard(math.radians(300), math.radians(40), math.radians(1), math.radians(60))
    spec = RadarSpec(25.0, 1e-3, 1e-3, 1e6, fov=fov, clutter_per_scan=2.5)
    det = detect_radar(spec, np.zeros((0, k, 6)), np.zeros((0, k), bool), SITE, SITE_LAT, SITE_LON, rng)
    counts = np.bincount(det.k, minlength=k)
    assert counts.mean() == pytest.approx(2.5, abs=4 * math.sqrt(2.5 / k))
    assert counts.var() == pytest.approx(2.5, rel=0.1)  # Poisson: variance = mean
    assert np.all(det.obj == -1)
    assert np.all(fov.contains(det.z[:, 1], det.z[:, 2]))
    assert np.all((det.z[:, 0] >= 1000.0) & (det.z[:, 0] <= 1e6))
    assert np.all(np.isnan(det.z[:, 3]))  # no range rate without sigma_rr
    assert np.all(np.diff(det.k) >= 0)


def test_ir_sees_only_burning_objects_in_view() -> None:
    rng = np.random.default_rng(4)
    geo = geodetic_to_ecef(0.0, 135.0, 35_786e3)
    k = 50
    st = np.concatenate(
        [
            _static(39.5, 126.5, 60e3, k),  # in view
            _static(39.5, 126.5, 60e3, k),  # in view, not burning
            _static(0.0, -45.0, 60e3, k),  # behind the Earth
            _static(39.5, 126.5, 2e3, k),  # too low (under the clouds)
        ]
    )
    burning = np.ones((4, k), bool)
    burning[1] = False
    burning[0, 25:] = False
    det = detect_ir(IrSpec(sigma_los_rad=2e-5, pd=1.0, min_alt_m=5e3), st, burning, geo, rng)
    assert set(det.obj.tolist()) == {0}
    assert det.k.max() < 25
    np.testing.assert_allclose(np.linalg.norm(det.los, axis=1), 1.0, atol=1e-12)
    d = st[0, 0, :3] - geo
    u = d / np.linalg.norm(d)
    ang = np.arccos(np.clip(det.los @ u, -1, 1))
    # angle error is Rayleigh with scale sigma: mean sigma * sqrt(pi/2)
    assert ang.mean() == pytest.approx(2e-5 * math.sqrt(math.pi / 2), rel=0.3)


def test_ir_clutter_points_at_the_earth() -> None:
    rng = np.random.default_rng(5)
    geo = geodetic_to_ecef(0.0, 135.0, 35_786e3)
    det = detect_ir(
        IrSpec(2e-5, clutter_per_scan=3.0), np.zeros((0, 500, 6)), np.zeros((0, 500), bool), geo, rng
    )
    assert det.los.shape[0] > 1000
    nadir = -geo / np.linalg.norm(geo)
    half = math.asin(6356752.3 / np.linalg.norm(geo))
    assert np.all(det.los @ nadir >= math.cos(half) - 1e-12)


def test_report_delays() -> None:
    rng = np.random.default_rng(6)
    d = report_delays(1000, 0.5, 0.2, rng)
    assert d.min() >= 0.5
    assert d.max() <= 0.7
    assert np.all(report_delays(3, 1.0, 0.0, rng) == 1.0)


def test_course_heading_speed_matches_geodesic() -> None:
    crs = Course.from_heading(40.0, 134.0, 60.0, 10.0, 3600.0)
    lat, lon = crs.latlon(np.array([0.0, 1800.0, 3600.0, 7200.0]))
    g = Geod(ellps="WGS84")
    _, _, dist = g.inv(np.full(4, 134.0), np.full(4, 40.0), lon, lat)
    np.testing.assert_allclose(dist, [0.0, 18_000.0, 36_000.0, 36_000.0], rtol=5e-3, atol=1.0)
    _, _, st = crs.state(np.array([0.0, 100.0, 3600.0]))
    np.testing.assert_allclose(np.linalg.norm(st[:, 3:], axis=1), 10.0, rtol=5e-3)


def test_course_waypoints_and_antimeridian() -> None:
    crs = Course(np.array([[35.0, 179.0], [35.0, -179.0], [37.0, -179.0]]), 250.0, 10_000.0, t0=100.0)
    lat, lon = crs.latlon(np.array([50.0, 100.0, crs.end_t, crs.end_t + 500]))
    assert lat[0] == pytest.approx(35.0)
    assert lon[0] == pytest.approx(179.0)
    assert lat[2] == pytest.approx(37.0)
    assert lon[2] == pytest.approx(-179.0)
    mid = crs.t0 + (crs._legs[2][1] / 2) / 250.0
    la, lo = crs.latlon(np.array([mid]))
    assert abs(lo[0]) == pytest.approx(180.0, abs=1e-6)
    assert la[0] > 35.0  # a great circle bulges poleward
    assert destination(0.0, 0.0, 90.0, 0.0) == pytest.approx((0.0, 0.0))
