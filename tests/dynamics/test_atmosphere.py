"""The air every drag computation reads (tocsin.dynamics.atmosphere): the U.S.
Standard Atmosphere 1976, checked against an independent implementation
(``ambiance``, the ICAO 1993 standard atmosphere, identical to USSA76 up to
80 km) and the standard's own table above 86 km."""

from __future__ import annotations

import numpy as np
import pytest

from tocsin.dynamics import integrate
from tocsin.dynamics.atmosphere import (
    DAY_STEP_M,
    DRAG_CEILING_M,
    N_DAY,
    day_air,
    density,
    density1,
    density_and_slope,
    density_sigma,
    standard_density,
)
from tocsin.dynamics.forces import accel_ecef
from tocsin.geo import geodetic_to_ecef


def test_density_is_the_standard_below_80_km() -> None:
    ambiance = pytest.importorskip("ambiance")
    h = np.linspace(0.0, 80_000.0, 1601) + 13.7
    ref = ambiance.Atmosphere(h).density
    assert np.max(np.abs(density(h) / ref - 1.0)) < 5e-4
    # the exponential air tocsin used before is 14-26 % off at 5-20 km
    assert 1.225 * np.exp(-10_000.0 / 7200.0) / float(density(10_000.0)) == pytest.approx(0.74, abs=0.01)


@pytest.mark.parametrize(
    ("km", "rho"),
    [(86.0, 6.958e-6), (90.0, 3.416e-6), (95.0, 1.393e-6), (100.0, 5.604e-7), (110.0, 9.708e-8)],
)
def test_density_is_the_standards_table_above_86_km(km: float, rho: float) -> None:
    assert float(density(km * 1000.0)) == pytest.approx(rho, rel=1e-3)


def test_compiled_lookup_slope_ground_and_ceiling() -> None:
    h = np.random.default_rng(1).uniform(-500.0, 125_000.0, 500)
    assert np.array([density1(v) for v in h]) == pytest.approx(density(h), rel=1e-12)
    assert float(density(-300.0)) == float(density(0.0)) == pytest.approx(1.225, rel=1e-4)
    assert float(density(DRAG_CEILING_M)) == 0.0
    assert density1(DRAG_CEILING_M + 1.0) == 0.0
    # d ln rho / dh against the closed form, away from the layer boundaries
    for z in (5_000.0, 15_000.0, 25_000.0, 40_000.0, 60_000.0, 78_000.0):
        _, s = density_and_slope(z)
        num = (np.log(standard_density(z + 1.0)) - np.log(standard_density(z - 1.0))) / 2.0
        assert float(s) == pytest.approx(num, rel=1e-3)


def test_the_simulators_drag_is_in_the_standard_air() -> None:
    r = geodetic_to_ecef(38.0, 130.0, 20_000.0)
    v = np.array([1000.0, -2000.0, 500.0])
    beta = 4000.0
    drag = accel_ecef(r, v, beta) - accel_ecef(r, v, None)
    expect = 0.5 * standard_density(20_000.0) * float(v @ v) / beta
    assert float(np.linalg.norm(drag)) == pytest.approx(expect, rel=1e-3)


def test_real_air_departs_more_with_height() -> None:
    s = density_sigma(np.array([0.0, 10e3, 30e3, 60e3, 100e3]))
    assert np.all(np.diff(s) >= 0.0)
    assert s[0] == pytest.approx(0.05)
    assert s[3] == pytest.approx(0.20)


def test_a_days_air_departs_by_density_sigma_correlated_over_kilometres() -> None:
    rng = np.random.default_rng(76)
    days = np.array([day_air(rng) for _ in range(2000)])
    assert days.shape == (2000, N_DAY)
    h = np.arange(N_DAY) * DAY_STEP_M
    sd = days.std(axis=0)
    # the spread the tracker allows for (within the sampling error of 2,000 days)
    assert np.all(np.abs(sd / density_sigma(h) - 1.0) < 0.08)
    z = days / density_sigma(h)
    corr = [float(np.mean(z[:, k] * z[:, k + m])) for k, m in ((5, 1), (5, 4), (5, 20))]
    # 2 km apart: close (0.67-0.85 for 5-12 km lengths); 8 km: 0.2-0.5; 40 km: none
    assert 0.6 < corr[0] < 0.9
    assert 0.15 < corr[1] < 0.55
    assert abs(corr[2]) < 0.1


def test_the_integrator_flies_the_days_air() -> None:
    air = day_air(np.random.default_rng(3))
    p = integrate.params(air, beta=1000.0)
    std = integrate.params(beta=1000.0)
    for hh in (0.0, 1_000.0, 7_300.0, 42_000.0, 119_000.0):
        k = min(int(hh // DAY_STEP_M), N_DAY - 2)
        u = hh / DAY_STEP_M - k
        want = density1(hh) * np.exp(air[k] + u * (air[k + 1] - air[k]))
        assert integrate._density(hh, p) == pytest.approx(want, rel=1e-12)
        assert integrate._density(hh, std) == density1(hh)
    assert integrate._density(DRAG_CEILING_M + 1.0, p) == 0.0
