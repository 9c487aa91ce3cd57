"""Stages, failures at any time, satellite launchers, depressed trajectories and
the quasi-ballistic pull-up, at the dynamics level."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tocsin.dynamics import (
    PullUp,
    Stage,
    Vehicle,
    default_vehicle,
    fly,
    orbit_heights,
    solve_flight,
    solve_orbit,
    solve_trajectory,
)
from tocsin.dynamics.beta import _kepler_speed
from tocsin.dynamics.flight import depressed_apogee_m, min_energy_apogee_m
from tocsin.geo import ecef_to_geodetic, great_circle_distance


def test_failure_in_the_second_stage_keeps_the_first_separation() -> None:
    veh = Vehicle((Stage(), Stage()))
    ok = solve_flight(39.0, 125.7, 80.0, missile_class="ICBM", vehicle=veh, beta=6000.0)
    b1, b2 = veh.burns(ok.dv)
    fail = 0.5 * (b2.t_ign + b2.t_bo)
    bad = fly(
        39.0, 125.7, 0.0, 80.0, ok.dv, ok.gamma_bo, beta=6000.0, vehicle=veh, fail_s=fail, fail_beta=900.0
    )
    assert bad.failed_at_s == pytest.approx(fail)
    assert bad.burnout_t == pytest.approx(fail)
    assert [s.stage for s in bad.separations] == [1]
    assert [s.stage for s in ok.flight.separations] == [1, 2]
    assert bad.landed
    # identical until the failure, then short of the intended range
    i = int(np.searchsorted(bad.t, fail))
    np.testing.assert_allclose(bad.x[:i], ok.flight.x[:i], rtol=0, atol=1e-6)
    assert bad.range_m < 0.5 * ok.flight.range_m
    # a failure at ignition of stage 2: nothing burns after stage 1
    bad2 = fly(39.0, 125.7, 0.0, 80.0, ok.dv, ok.gamma_bo, beta=6000.0, vehicle=veh, fail_s=b2.t_ign)
    assert bad2.burn_spans() == ((0.0, b1.t_bo),)


@pytest.mark.parametrize("az", [178.0, 90.0])
def test_satellite_launcher_reaches_its_orbit(az: float) -> None:
    dv, g, veh = solve_orbit(39.66, 124.7, az, orbit_alt_m=500e3, vehicle=default_vehicle("SLV"))
    assert veh.n == 3
    assert veh.stages[-1].elevation is not None
    assert veh.stages[-1].coast_s > 60.0  # coasts up to the orbit before the last burn
    fl = fly(39.66, 124.7, 0.0, az, dv, g, beta=300.0, vehicle=veh, dt=1.0, t_max=2000.0)
    assert not fl.landed
    # the osculating orbit at burnout (later, J2 makes it breathe by ~20 km)
    hp, ha = orbit_heights(fl.x[int(np.searchsorted(fl.t, fl.burnout_t))])
    assert hp == pytest.approx(500e3, rel=0.02)
    assert ha == pytest.approx(500e3, rel=0.02)
    assert min(orbit_heights(x)[0] for x in fl.x[-600:]) > 400e3  # and it stays up
    # the lower stages fall back: their states at separation are suborbital
    for s in fl.separations[:2]:
        assert orbit_heights(s.x)[0] < 0.0


def test_orbit_heights_of_a_circular_orbit() -> None:
    from tocsin.geo.wgs84 import GM, OMEGA_E, WGS84_A

    r = np.array([WGS84_A + 400e3, 0.0, 0.0])
    v_inertial = np.array([0.0, math.sqrt(GM / np.linalg.norm(r)), 0.0])
    v_ecef = v_inertial - np.cross([0.0, 0.0, OMEGA_E], r)
    hp, ha = orbit_heights(np.concatenate([r, v_ecef]))
    assert hp == pytest.approx(400e3, abs=1.0)
    assert ha == pytest.approx(400e3, abs=1.0)


def test_minimum_energy_and_depressed_apogees() -> None:
    for rng in (450e3, 1300e3, 3000e3):
        a = min_energy_apogee_m(rng)
        grid = np.linspace(0.3 * a, 2.0 * a, 2001)
        speeds = [_kepler_speed(rng, g) for g in grid]
        assert a == pytest.approx(float(grid[int(np.argmin(speeds))]), rel=2e-3)
    assert depressed_apogee_m(600e3) == pytest.approx(50e3)
    assert depressed_apogee_m(270e3) == pytest.approx(40e3)  # the 9 May 2019 KN-23


def test_depressed_srbm_flies_the_kn23_flight() -> None:
    tr = solve_trajectory(39.1, 127.4, 90.0, range_m=600e3, apogee_m=depressed_apogee_m(600e3), beta=4000.0)
    assert tr.ground_range_m == pytest.approx(600e3, rel=0.01)
    assert tr.apogee_m == pytest.approx(50e3, rel=0.01)
    me = solve_trajectory(39.1, 127.4, 90.0, range_m=600e3, apogee_m=min_energy_apogee_m(600e3), beta=4000.0)
    assert tr.flight_time_s < 0.8 * me.flight_time_s  # the point of a depressed shot


def test_pull_up_flies_the_requested_range_with_a_pull_up_and_a_dive() -> None:
    pu = PullUp()
    tr = solve_trajectory(39.1, 127.4, 90.0, range_m=600e3, apogee_m=50e3, beta=5000.0, manoeuvre=pu)
    bal = solve_trajectory(39.1, 127.4, 90.0, range_m=600e3, apogee_m=50e3, beta=5000.0)
    la, lo, _ = ecef_to_geodetic(tr.x[-1, :3])
    assert float(great_circle_distance(39.1, 127.4, la, lo)) == pytest.approx(600e3, rel=0.01)
    assert tr.apogee_m == pytest.approx(50e3, rel=0.01)
    alt = ecef_to_geodetic(tr.x[:, :3])[2]
    speed = np.linalg.norm(tr.x[:, 3:], axis=1)
    up = tr.x[:, :3] / np.linalg.norm(tr.x[:, :3], axis=1)[:, None]
    sin_g = np.einsum("ij,ij->i", up, tr.x[:, 3:]) / np.maximum(speed, 1.0)
    gamma = np.degrees(np.arcsin(np.clip(sin_g, -1, 1)))
    after = (tr.t > tr.t[int(np.argmax(alt))]) & (alt < pu.pullup_alt_m)
    g_desc = gamma[after]
    # it descends, pulls up (the flight-path angle rises by several degrees), then dives
    low = int(np.argmin(g_desc[: g_desc.size // 2]))
    assert g_desc[low:].max() - g_desc[low] > 5.0
    assert gamma[-1] < -45.0
    # a manoeuvre a ballistic prediction cannot follow: several g of lift
    acc = np.linalg.norm(np.diff(tr.x[:, 3:], axis=0), axis=1) / np.diff(tr.t)
    assert acc[after[1:]].max() > 1.5 * 9.80665
    assert tr.flight_time_s > bal.flight_time_s + 30.0
