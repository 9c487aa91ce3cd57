"""Dynamics against independent references: Kepler's closed form, the Jacobi
integral, reversibility, ground crossing, and publicly reported flights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tocsin.dynamics.forces as forces
from tocsin.dynamics import (
    BOOST,
    MISSILE_CLASSES,
    REENTRY,
    REPORTED_FLIGHTS,
    ReportedFlight,
    Stage,
    Trajectory,
    Vehicle,
    propagate,
    propagate_to_ground,
    solve_trajectory,
)
from tocsin.geo import GM, J2, OMEGA_E, WGS84_A, ecef_to_geodetic, geodetic_to_ecef, great_circle_distance


def _rz(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _ecef_to_eci(x: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    r, v = x[:3], x[3:]
    w = np.array([0.0, 0.0, OMEGA_E])
    rot = _rz(OMEGA_E * t)
    return rot @ r, rot @ (v + np.cross(w, r))


def _kepler(r0: np.ndarray, v0: np.ndarray, dt: float) -> np.ndarray:
    """Two-body position after dt by Kepler's equation (elliptic orbits)."""
    r = np.linalg.norm(r0)
    v2 = v0 @ v0
    a = 1.0 / (2.0 / r - v2 / GM)
    h = np.cross(r0, v0)
    e_vec = np.cross(v0, h) / GM - r0 / r
    e = np.linalg.norm(e_vec)
    p_hat = e_vec / e
    q_hat = np.cross(h / np.linalg.norm(h), p_hat)
    cos_nu = (p_hat @ r0) / r
    sin_nu = (q_hat @ r0) / r
    nu = math.atan2(sin_nu, cos_nu)
    E0 = 2.0 * math.atan(math.sqrt((1 - e) / (1 + e)) * math.tan(nu / 2))
    M = E0 - e * math.sin(E0) + math.sqrt(GM / a**3) * dt
    E = M
    for _ in range(50):
        E -= (E - e * math.sin(E) - M) / (1 - e * math.cos(E))
    xp = a * (math.cos(E) - e)
    yp = a * math.sqrt(1 - e * e) * math.sin(E)
    return xp * p_hat + yp * q_hat


def test_propagate_matches_kepler_without_j2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forces, "J2", 0.0)
    # a suborbital-speed state 300 km up, heading north-east, in ECEF
    r = geodetic_to_ecef(40.0, 130.0, 300e3)
    v = np.array([-3000.0, 2000.0, 4500.0])
    x0 = np.concatenate([r, v])
    dt = 600.0
    x1 = propagate(x0, dt, max_step=1.0)
    r_eci0, v_eci0 = _ecef_to_eci(x0, 0.0)
    r_eci1, _ = _ecef_to_eci(x1, dt)
    assert np.linalg.norm(r_eci1 - _kepler(r_eci0, v_eci0, dt)) < 1.0  # metres after 10 min


def _jacobi(x: np.ndarray) -> np.ndarray:
    r = x[..., :3]
    rn = np.linalg.norm(r, axis=-1)
    z = r[..., 2]
    pot = -GM / rn + GM * J2 * WGS84_A**2 * (3 * z**2 / rn**2 - 1) / (2 * rn**3)
    v2 = np.sum(x[..., 3:] ** 2, axis=-1)
    return 0.5 * v2 + pot - 0.5 * OMEGA_E**2 * (r[..., 0] ** 2 + r[..., 1] ** 2)


def test_jacobi_integral_is_conserved_with_j2_and_rotation() -> None:
    rng = np.random.default_rng(3)
    r = geodetic_to_ecef(rng.uniform(-60, 60, 13), rng.uniform(-180, 180, 13), rng.uniform(1e6, 2e6, 13))
    x0 = np.concatenate([r, rng.normal(0, 1500, (13, 3))], axis=1)
    x1 = propagate(x0, 300.0, max_step=2.0)
    assert ecef_to_geodetic(x1[:, :3])[2].min() > 0  # all still in flight
    rel = np.abs(_jacobi(x1) - _jacobi(x0)) / np.abs(_jacobi(x0))
    assert rel.max() < 1e-9


def test_forward_then_backward_returns_to_start() -> None:
    x0 = np.concatenate([geodetic_to_ecef(39.0, 127.0, 400e3), [1500.0, 2500.0, 1000.0]])
    back = propagate(propagate(x0, 300.0, beta=5000.0), -300.0, beta=5000.0)
    assert np.linalg.norm(back[:3] - x0[:3]) < 0.01
    assert np.linalg.norm(back[3:] - x0[3:]) < 1e-5


def test_batch_equals_one_by_one() -> None:
    rng = np.random.default_rng(5)
    xs = np.concatenate(
        [geodetic_to_ecef(40, 135, rng.uniform(1e5, 5e5, 4)), rng.normal(0, 2e3, (4, 3))], axis=1
    )
    batch = propagate(xs, 37.0, beta=4000.0)
    single = np.stack([propagate(x, 37.0, beta=4000.0) for x in xs])
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def irbm() -> Trajectory:
    return solve_trajectory(39.0, 125.7, 75.0, range_m=2_700e3, apogee_m=550e3)


def test_ground_crossing_is_on_the_ground(irbm: Trajectory) -> None:
    i = int(np.argmax(irbm.t > irbm.burnout_t + 60))
    x = np.repeat(irbm.x[i][None, :], 3, axis=0)
    x[1, 3:] *= 1.01
    x[2, 3:] *= 0.99
    dt, xg = propagate_to_ground(x, beta=irbm.beta)
    assert np.all(np.isfinite(dt))
    assert np.abs(ecef_to_geodetic(xg[:, :3])[2]).max() < 1.0
    # the nominal one lands where the solver's flight landed
    lat, lon, _ = ecef_to_geodetic(xg[0, :3])
    assert great_circle_distance(lat, lon, irbm.impact_lat, irbm.impact_lon) < 2_000.0
    assert dt[0] == pytest.approx(irbm.flight_time_s - irbm.t[i], abs=1.0)
    # backwards from midcourse reaches the ground near the launch site
    dtb, xb = propagate_to_ground(irbm.x[i][None, :], beta=None, direction=-1)
    blat, blon, _ = ecef_to_geodetic(xb[0, :3])
    assert dtb[0] > 0
    # the powered flight is not ballistic, so the back-propagated point is only
    # near the launch site (tens of km)
    assert great_circle_distance(blat, blon, 39.0, 125.7) < 150e3


def test_unreached_ground_is_nan() -> None:
    x = np.concatenate([geodetic_to_ecef(0, 0, 500e3), [0.0, 0.0, 0.0]])[None, :]
    x[0, 3:] = np.cross([0, 0, 1.0], x[0, :3]) / np.linalg.norm(x[0, :3]) * 7600.0  # orbital speed
    dt, _ = propagate_to_ground(x, max_time=300.0)
    assert math.isnan(dt[0])


def test_solver_hits_range_and_apogee(irbm: Trajectory) -> None:
    assert irbm.ground_range_m == pytest.approx(2_700e3, rel=0.01)
    assert irbm.apogee_m == pytest.approx(550e3, rel=0.01)
    d = float(great_circle_distance(irbm.launch_lat, irbm.launch_lon, irbm.impact_lat, irbm.impact_lon))
    assert d == pytest.approx(irbm.ground_range_m, rel=1e-6)
    assert irbm.phase[0] == BOOST
    assert irbm.phase[-1] == REENTRY
    assert irbm.t[-1] == irbm.flight_time_s
    # samples are the integrated flight: each step is consistent with propagate()
    j = int(np.argmax(irbm.t > irbm.burnout_t + 100))
    nxt = propagate(irbm.x[j], irbm.t[j + 1] - irbm.t[j], beta=irbm.beta, max_step=0.5)
    assert np.linalg.norm(nxt[:3] - irbm.x[j + 1, :3]) < 1.0


def test_state_at_interpolates_between_samples(irbm: Trajectory) -> None:
    t = irbm.burnout_t + 200.25
    i = int(np.searchsorted(irbm.t, t)) - 1
    ref = propagate(irbm.x[i], t - irbm.t[i], beta=irbm.beta, max_step=0.05)
    got = irbm.state_at(t)
    assert np.linalg.norm(got[:3] - ref[:3]) < 1.0
    assert np.linalg.norm(got[3:] - ref[3:]) < 0.1
    assert irbm.state_at([0.0, 5.0]).shape == (2, 6)


def _reported_vehicle(flight: ReportedFlight) -> Vehicle | None:
    return None if flight.stages is None else Vehicle(tuple(Stage() for _ in range(flight.stages)))


@pytest.mark.parametrize(
    "flight", REPORTED_FLIGHTS, ids=lambda f: f"{f.date}-{'fit' if f.fit else 'held-out'}"
)
def test_reported_flight_time_within_ten_percent(flight: ReportedFlight) -> None:
    tr = solve_trajectory(
        39.0, 125.7, 80.0, range_m=flight.range_m, apogee_m=flight.apogee_m, vehicle=_reported_vehicle(flight)
    )
    assert tr.ground_range_m == pytest.approx(flight.range_m, rel=0.01)
    assert tr.apogee_m == pytest.approx(flight.apogee_m, rel=0.01)
    err = (tr.flight_time_s - flight.flight_time_s) / flight.flight_time_s
    assert abs(err) < 0.10, (
        f"{flight.date}: {tr.flight_time_s / 60:.1f} min vs {flight.flight_time_s / 60:.0f}"
    )


def test_the_flight_check_has_held_out_flights() -> None:
    """Item 6: the constants were chosen on the fit set; the held-out set (at
    least as many flights, the two highest lofts among them) only checks."""
    fit = [f for f in REPORTED_FLIGHTS if f.fit]
    held = [f for f in REPORTED_FLIGHTS if not f.fit]
    assert len(held) >= len(fit) == 7
    assert {"2023-12-18", "2024-10-31"} <= {f.date for f in held}
    assert len({f.date for f in REPORTED_FLIGHTS}) == len(REPORTED_FLIGHTS)


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"range_m": -5.0, "apogee_m": 100e3}, "range must be positive"),
        ({"range_m": 500e3, "apogee_m": 10e3}, "at least 20 km"),
        ({"range_m": 3000e3, "apogee_m": 60e3}, "too low"),
        ({"missile_class": "XRBM"}, "unknown missile class"),
        ({}, "give range_m"),
    ],
)
def test_impossible_requests_raise_clear_errors(kwargs: dict[str, object], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        solve_trajectory(39.0, 125.7, 90.0, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(MISSILE_CLASSES))
def test_every_class_solves(name: str) -> None:
    tr = solve_trajectory(39.0, 125.7, 90.0, missile_class=name)
    rng, apo = MISSILE_CLASSES[name]
    assert tr.ground_range_m == pytest.approx(rng, rel=0.01)
    assert tr.apogee_m == pytest.approx(apo, rel=0.01)
