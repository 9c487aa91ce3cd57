"""Measurement models: against finite differences, tocsin.geo and pymap3d."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymap3d
import pytest

from tocsin.geo import ecef_to_aer, geodetic_to_ecef
from tocsin.sensors.models import los_jacobian, los_measure, radar_jacobian, radar_measure


def _random_geometry(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    lat, lon = 38.5, 139.2
    site = geodetic_to_ecef(lat, lon, 100.0)
    # objects 50..2000 km away, 0..1500 km up
    tlat = lat + rng.uniform(-12, 12, n)
    tlon = lon + rng.uniform(-15, 15, n)
    talt = rng.uniform(1e3, 1.5e6, n)
    pos = geodetic_to_ecef(tlat, tlon, talt)
    vel = rng.normal(0.0, 3000.0, (n, 3))
    return np.hstack([pos, vel]), site, lat, lon


def test_radar_measure_matches_geo_and_pymap3d() -> None:
    rng = np.random.default_rng(1)
    x, site, lat, lon = _random_geometry(rng, 500)
    z = radar_measure(x, site, lat, lon)
    az, el, rng_m = ecef_to_aer(x[:, :3], lat, lon, 100.0)
    np.testing.assert_allclose(z[:, 0], rng_m, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.degrees(z[:, 1]), az, atol=1e-9)
    np.testing.assert_allclose(np.degrees(z[:, 2]), el, atol=1e-9)
    paz, pel, prng = pymap3d.ecef2aer(x[:, 0], x[:, 1], x[:, 2], lat, lon, 100.0)
    np.testing.assert_allclose(z[:, 0], prng, atol=1e-3)
    daz = (np.degrees(z[:, 1]) - paz + 180.0) % 360.0 - 180.0
    assert np.max(np.abs(daz)) < 1e-6
    np.testing.assert_allclose(np.degrees(z[:, 2]), pel, atol=1e-6)
    assert np.all((z[:, 1] >= 0.0) & (z[:, 1] < 2 * np.pi))


def test_range_rate_sign() -> None:
    lat, lon = 35.0, 135.0
    site = geodetic_to_ecef(lat, lon, 0.0)
    up = geodetic_to_ecef(lat, lon, 1.0) - site
    pos = geodetic_to_ecef(lat + 1.0, lon, 100e3)
    away = np.hstack([pos, (pos - site) / np.linalg.norm(pos - site) * 100.0])
    toward = np.hstack([pos, -(pos - site) / np.linalg.norm(pos - site) * 100.0])
    assert radar_measure(away, site, lat, lon)[0, 3] == pytest.approx(100.0)
    assert radar_measure(toward, site, lat, lon)[0, 3] == pytest.approx(-100.0)
    # a site moving with the object sees zero range rate
    assert radar_measure(away, site, lat, lon, site_vel_ecef=away[3:])[0, 3] == pytest.approx(0.0, abs=1e-9)
    assert np.linalg.norm(up) == pytest.approx(1.0)


def _fd_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    k = x.shape[1]
    cols = []
    for j in range(k):
        dx = np.zeros_like(x)
        dx[:, j] = steps[j]
        zp, zm = f(x + dx), f(x - dx)
        diff = zp - zm
        if diff.shape[1] == 4:  # wrap azimuth
            diff[:, 1] = (diff[:, 1] + np.pi) % (2 * np.pi) - np.pi
        cols.append(diff / (2 * steps[j]))
    return np.stack(cols, axis=2)


def test_radar_jacobian_matches_finite_differences() -> None:
    rng = np.random.default_rng(2)
    x, site, lat, lon = _random_geometry(rng, 300)
    sv = np.array([5.0, -3.0, 1.0])
    jac = radar_jacobian(x, site, lat, lon, site_vel_ecef=sv)
    num = _fd_jacobian(
        lambda s: radar_measure(s, site, lat, lon, site_vel_ecef=sv), x, np.array([1.0] * 3 + [0.01] * 3)
    )
    assert jac.shape == (300, 4, 6)
    scale = np.maximum(np.abs(num), 1e-9)
    rel = np.abs(jac - num) / scale
    assert np.all((rel < 1e-4) | (np.abs(jac - num) < 1e-10))


def test_radar_moving_site_batch_equals_loop() -> None:
    rng = np.random.default_rng(3)
    x, _, _, _ = _random_geometry(rng, 20)
    lats = rng.uniform(30, 45, 20)
    lons = rng.uniform(125, 145, 20)
    sites = geodetic_to_ecef(lats, lons, 0.0)
    z = radar_measure(x, sites, lats, lons)
    jac = radar_jacobian(x, sites, lats, lons)
    for i in range(20):
        np.testing.assert_allclose(z[i], radar_measure(x[i], sites[i], lats[i], lons[i])[0])
        np.testing.assert_allclose(jac[i], radar_jacobian(x[i], sites[i], lats[i], lons[i])[0])


def test_single_state_shapes() -> None:
    site = geodetic_to_ecef(35.0, 135.0, 0.0)
    x = np.hstack([geodetic_to_ecef(36.0, 136.0, 2e5), [1.0, 2.0, 3.0]])
    assert radar_measure(x, site, 35.0, 135.0).shape == (1, 4)
    assert radar_jacobian(x, site, 35.0, 135.0).shape == (1, 4, 6)
    assert los_measure(x, site).shape == (1, 3)
    assert los_measure(x[:3], site).shape == (1, 3)
    assert los_jacobian(x, site).shape == (1, 3, 6)


def test_los_unit_and_jacobian() -> None:
    rng = np.random.default_rng(4)
    x, _, _, _ = _random_geometry(rng, 200)
    geo = geodetic_to_ecef(0.0, 140.0, 35_786e3)
    u = los_measure(x, geo)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, atol=1e-14)
    # points towards the object
    d = x[:, :3] - geo
    np.testing.assert_allclose(np.einsum("ni,ni->n", u, d), np.linalg.norm(d, axis=1))
    jac = los_jacobian(x, geo)
    num = _fd_jacobian(lambda s: los_measure(s, geo), x, np.array([10.0] * 3 + [1.0] * 3))
    np.testing.assert_allclose(jac, num, atol=1e-15, rtol=1e-5)
    assert np.all(jac[:, :, 3:] == 0.0)
