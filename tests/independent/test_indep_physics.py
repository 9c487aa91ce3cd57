"""The independent generator's physics against independent references (pymap3d,
pyproj, ambiance, closed forms), and the rule that it shares no code with tocsin."""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import numpy as np
import pymap3d
import pytest
from pyproj import Transformer

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from independent import atmosphere as atm  # noqa: E402
from independent import earth  # noqa: E402
from independent.flight import Aero, free_flight, mach_factor  # noqa: E402

POINTS = [
    (38.1, 138.4, 120.0),
    (-89.9, 10.0, 5e5),
    (0.0, -179.9, -300.0),
    (65.0, 100.0, 8e6),
    (39.0, 125.7, 0.0),
    (12.5, 128.0, 35_786e3),
]


def test_generator_imports_nothing_from_tocsin() -> None:
    for path in sorted((BENCH / "independent").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            )
            assert not any(n == "tocsin" or n.startswith("tocsin.") for n in names), (
                f"{path.name} imports {names}"
            )


@pytest.mark.parametrize(("lat", "lon", "h"), POINTS)
def test_geodetic_ecef_against_pymap3d_and_pyproj(lat: float, lon: float, h: float) -> None:
    r = earth.geodetic_to_ecef(lat, lon, h)
    assert np.allclose(r, pymap3d.geodetic2ecef(lat, lon, h), atol=1e-6)
    to_geo = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    lon_p, lat_p, h_p = to_geo.transform(*r)
    la, lo, hh = earth.ecef_to_geodetic(r)
    # pyproj's inverse is itself approximate far above the Earth (2e-7 deg at 8,000 km)
    tol = 1e-9 if h < 1e6 else 1e-6
    assert la == pytest.approx(lat_p, abs=tol)
    assert lo == pytest.approx(lon_p, abs=tol)
    assert hh == pytest.approx(h_p, abs=1e-3 if h < 1e6 else 1.0)
    # and our own round trip is exact
    assert (la, lo) == pytest.approx((lat, lon), abs=1e-10)
    assert hh == pytest.approx(h, abs=1e-3)
    assert earth.height(*r) == pytest.approx(h, abs=1e-3)


def test_azimuth_elevation_range_against_pymap3d() -> None:
    site_lat, site_lon, site_h = 37.5, 129.1, 150.0
    site = earth.geodetic_to_ecef(site_lat, site_lon, site_h)
    rng = np.random.default_rng(1)
    for _ in range(20):
        tgt = earth.geodetic_to_ecef(rng.uniform(35, 42), rng.uniform(124, 135), rng.uniform(0, 8e5))
        az, el, r = earth.aer(site, site_lat, site_lon, tgt)
        az_p, el_p, r_p = pymap3d.ecef2aer(*tgt, site_lat, site_lon, site_h)
        assert az == pytest.approx(az_p % 360.0, abs=1e-8)
        assert el == pytest.approx(el_p, abs=1e-8)
        assert r == pytest.approx(r_p, abs=1e-5)


def test_eci_ecef_round_trip_and_rotation() -> None:
    x = np.array([4e6, 3e6, 4.5e6, 100.0, -2000.0, 3000.0])
    assert np.allclose(earth.ecef_to_eci_state(123.4, earth.eci_to_ecef_state(123.4, x)), x, atol=1e-7)
    # a point at rest on the Earth has inertial velocity omega x r
    r = earth.geodetic_to_ecef(30.0, 60.0, 0.0)
    xi = earth.ecef_to_eci_state(0.0, np.concatenate([r, np.zeros(3)]))
    assert np.linalg.norm(xi[3:]) == pytest.approx(earth.OMEGA * math.hypot(r[0], r[1]), rel=1e-12)


def test_gravity_is_the_gradient_of_the_potential_and_point_mass_far_out() -> None:
    rng = np.random.default_rng(2)
    for _ in range(10):
        x = rng.normal(size=3)
        x *= rng.uniform(6.4e6, 4e7) / np.linalg.norm(x)
        num = np.array([(earth.potential(*(x + e)) - earth.potential(*(x - e))) / 2.0 for e in np.eye(3)])
        assert np.allclose(earth.gravity(x), num, rtol=1e-7, atol=1e-9)
    far = np.array([4e8, 0.0, 1e8])
    assert np.allclose(earth.gravity(far), -earth.GM * far / np.linalg.norm(far) ** 3, rtol=1e-6)
    # at the equator: g = GM/a^2 (1 + 3/2 J2 - 15/8 J4) radially (P2(0) = -1/2, P4(0) = 3/8, J3 odd)
    eq = np.array([earth.A, 0.0, 0.0])
    assert -earth.gravity(eq)[0] == pytest.approx(
        earth.GM / earth.A**2 * (1 + 1.5 * earth.J2 - 15 / 8 * earth.J4), rel=1e-12
    )


@pytest.mark.parametrize("h", [0.0, 5e3, 11e3, 20e3, 32e3, 47e3, 51e3, 71e3, 80e3])
def test_atmosphere_against_ambiance(h: float) -> None:
    ambiance = pytest.importorskip("ambiance")  # dev extra; ICAO 1993 = USSA76 below 80 km
    ref = ambiance.Atmosphere(h)
    assert atm.density(h) == pytest.approx(float(ref.density[0]), rel=2e-5)
    assert atm.pressure(h) == pytest.approx(float(ref.pressure[0]), rel=2e-5)
    assert atm.speed_of_sound(h) == pytest.approx(float(ref.speed_of_sound[0]), rel=1e-5)


def test_upper_atmosphere_is_continuous_and_falls() -> None:
    hs = np.arange(0.0, 1.1e6, 500.0)
    rho = np.array([atm.density(h) for h in hs])
    assert np.all(np.diff(rho[rho > 0]) < 0)
    assert atm.density(86_000.0) == pytest.approx(atm.density(85_999.0), rel=1e-3)
    assert atm.density(120e3) == pytest.approx(2.222e-8, rel=1e-6)


def test_vacuum_flight_conserves_inertial_energy() -> None:
    r = earth.geodetic_to_ecef(40.0, 130.0, 1.2e6)
    y0 = np.concatenate([r, np.array([1000.0, 5000.0, 3000.0])])
    _, y1, _, hit = free_flight(0.0, y0, Aero(1e30), 1000.0, 1500.0)

    def energy(y: np.ndarray) -> float:
        return float(y[3:] @ y[3:]) / 2.0 - earth.potential(*y[:3])

    assert not hit
    assert energy(y1) == pytest.approx(energy(y0), rel=1e-9)


def test_drag_reaches_the_terminal_speed() -> None:
    # beta 50 kg/m^2 dropped at 3 km: v_t = sqrt(2 beta g / rho) near the ground
    r = earth.geodetic_to_ecef(35.0, 135.0, 3000.0)
    w = np.array([0.0, 0.0, earth.OMEGA])
    y0 = np.concatenate([r, np.cross(w, r)])
    t1, y1, _sol, hit = free_flight(0.0, y0, Aero(50.0), 100.0, 2000.0)
    assert hit
    v = earth.eci_to_ecef_state(t1, y1)[3:]
    g = np.linalg.norm(earth.gravity(r))
    vt = math.sqrt(2 * 50.0 * g / atm.density(0.0))
    assert np.linalg.norm(v) == pytest.approx(vt, rel=0.03)


def test_mach_factor_shape() -> None:
    assert mach_factor(8.0, 0.7) == 1.0
    assert mach_factor(1.2, 0.7) == pytest.approx(1.7)
    assert mach_factor(0.3, 0.0) == 1.0
    assert mach_factor(2.0, 0.5) > 1.0
