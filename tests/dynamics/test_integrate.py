"""The compiled flight integrator against independent references: the numpy RK4
of `propagate` (ballistic, with drag), scipy's DOP853 on the boost model written
out here from its equations (thrust), the geometry of lift, the ground stop and
the sampling grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tocsin.dynamics import PullUp, Stage, Vehicle, fly, propagate
from tocsin.dynamics.flight import BOOST_BETA, PITCH_EXP, T_VERTICAL, _launch_frame
from tocsin.dynamics.forces import accel_ecef
from tocsin.dynamics.integrate import NP, P, _deriv, fly_segment, params
from tocsin.geo import ecef_to_geodetic, enu_matrix, geodetic_to_ecef


def _state(lat: float, lon: float, alt: float, v: list[float]) -> np.ndarray:
    return np.concatenate([geodetic_to_ecef(lat, lon, alt), v])


def test_ballistic_segment_matches_numpy_rk4_with_drag() -> None:
    x0 = _state(39.0, 127.0, 150e3, [1500.0, 2500.0, -800.0])
    t, x, hit = fly_segment(x0, 0.0, 2000.0, 1.0, params(beta=3000.0), True)
    assert hit
    for i in (10, 100, t.size - 5):
        ref = propagate(x0, t[i], beta=3000.0, max_step=0.05)
        # metres, after up to ~4 minutes: 1-s RK4 steps through the standard
        # atmosphere's kinks in d ln rho/dh (its layer boundaries: 11 km ...)
        # lose ~20 cm against 0.05-s steps (it was 2 cm in an exponential air)
        assert np.linalg.norm(ref[:3] - x[i, :3]) < 0.5
        assert np.linalg.norm(ref[3:] - x[i, 3:]) < 1e-2


def test_ground_stop_and_sampling_grid() -> None:
    x0 = _state(39.0, 127.0, 150e3, [1500.0, 2500.0, -800.0])
    t, x, hit = fly_segment(x0, 3.7, 2000.0, 2.0, params(beta=3000.0), True)
    assert hit
    assert t[0] == 3.7
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(t[1:-1] % 2.0, 0.0, atol=1e-9)  # on the grid, except start and impact
    assert abs(float(ecef_to_geodetic(x[-1, :3])[2])) < 1e-3
    # without the stop it goes on below the ground
    _, x2, hit2 = fly_segment(x0, 3.7, t[-1] + 3.0, 2.0, params(beta=3000.0), False)
    assert not hit2
    assert float(ecef_to_geodetic(x2[-1, :3])[2]) < -100.0


def _boost_reference(
    lat: float, lon: float, az: float, dv: float, gamma_bo: float, veh: Vehicle
) -> np.ndarray:
    """The boost model from its definition (docs/dynamics.md), by scipy."""
    n = _launch_frame(lat, lon, az)
    burns = veh.burns(dv)
    t_end = burns[-1].t_bo
    y = np.concatenate([geodetic_to_ecef(lat, lon, 0.0), np.zeros(3)])
    t = 0.0
    for b in burns:

        def rhs(tt: float, yy: np.ndarray, b=b) -> np.ndarray:  # type: ignore[no-untyped-def]
            r, v = yy[:3], yy[3:]
            a = accel_ecef(r, v, BOOST_BETA)
            up = r / np.linalg.norm(r)
            down = np.cross(n, up)
            down /= np.linalg.norm(down)
            if tt < T_VERTICAL:
                el = 0.5 * math.pi
            else:
                f = min(1.0, (tt - T_VERTICAL) / (t_end - T_VERTICAL))
                el = 0.5 * math.pi - (0.5 * math.pi - gamma_bo) * f**PITCH_EXP
            thrust = b.ve / (b.tau - (tt - b.t_ign))
            return np.concatenate([v, a + thrust * (math.cos(el) * down + math.sin(el) * up)])

        if b.t_ign > t:  # coast between stages
            y = solve_ivp(
                lambda tt, yy: np.concatenate([yy[3:], accel_ecef(yy[:3], yy[3:], BOOST_BETA)]),
                (t, b.t_ign),
                y,
                rtol=1e-11,
                atol=1e-6,
            ).y[:, -1]
        y = solve_ivp(rhs, (b.t_ign, b.t_bo), y, method="DOP853", rtol=1e-11, atol=1e-6).y[:, -1]
        t = b.t_bo
    return np.asarray(y)


@pytest.mark.parametrize(
    "veh",
    [
        Vehicle(),
        Vehicle((Stage(), Stage(coast_s=5.0))),
        Vehicle((Stage(dv_share=0.5), Stage(), Stage(a0=15.0))),
    ],
    ids=["one", "two-with-coast", "three"],
)
def test_boost_matches_the_model_integrated_by_scipy(veh: Vehicle) -> None:
    dv, g = 7000.0, math.radians(25.0)
    fl = fly(39.0, 125.7, 0.0, 80.0, dv, g, beta=5000.0, vehicle=veh, dt=1.0)
    t_bo = veh.burns(dv)[-1].t_bo
    assert fl.burnout_t == pytest.approx(t_bo)
    i = int(np.flatnonzero(np.isclose(fl.t, t_bo))[0])
    ref = _boost_reference(39.0, 125.7, 80.0, dv, g, veh)
    assert np.linalg.norm(fl.x[i, :3] - ref[:3]) < 1.0  # metres after ~100-300 s of boost
    assert np.linalg.norm(fl.x[i, 3:] - ref[3:]) < 0.05
    # each stage separates at its burnout, with the stack's state there
    assert [s.stage for s in fl.separations] == list(range(1, veh.n + 1))
    for s in fl.separations:
        j = int(np.flatnonzero(np.isclose(fl.t, s.t))[0])
        np.testing.assert_array_equal(s.x, fl.x[j])


def test_tsiolkovsky_burn_times() -> None:
    veh = Vehicle((Stage(dv_share=0.6), Stage(coast_s=3.0)))
    b1, b2 = veh.burns(8000.0)
    tau = 2600.0 / 21.0
    assert b1.t_bo == pytest.approx(tau * (1 - math.exp(-4800.0 / 2600.0)))
    assert b2.t_ign == pytest.approx(b1.t_bo + 3.0)
    assert b2.t_bo - b2.t_ign == pytest.approx(tau * (1 - math.exp(-3200.0 / 2600.0)))
    with pytest.raises(ValueError, match="add up to 1"):
        Vehicle((Stage(dv_share=0.6), Stage(dv_share=0.6)))
    with pytest.raises(ValueError, match="1 to 3 stages"):
        Vehicle(())


def test_lift_is_perpendicular_to_velocity_and_limited() -> None:
    pu = PullUp(lift_to_drag=1.5, max_g=3.0)
    p = params(beta=4000.0)
    pu.fill(p)
    assert p.size == NP
    q = p.copy()
    q[P.LIFT] = 0.0
    rng = np.random.default_rng(2)
    for _ in range(50):
        alt = rng.uniform(5e3, 40e3)
        x = _state(38.0, 131.0, alt, list(rng.normal(0.0, 1200.0, 3)))
        with_lift, without = np.empty(6), np.empty(6)
        _deriv(0.0, x, p, bool(rng.random() < 0.5), with_lift)
        _deriv(0.0, x, q, False, without)
        lift = with_lift[3:] - without[3:]
        v = x[3:]
        drag = float(np.linalg.norm(accel_ecef(x[:3], v, 4000.0) - accel_ecef(x[:3], v, None)))
        assert abs(float(lift @ v)) <= 1e-9 * np.linalg.norm(lift) * np.linalg.norm(v) + 1e-12
        assert np.linalg.norm(lift) <= min(1.5 * drag, 3.0 * 9.80665) + 1e-9
        # in the vertical plane of the velocity
        up = x[:3] / np.linalg.norm(x[:3])
        side = np.cross(up, v)
        assert abs(float(side @ lift)) <= 1e-6 * np.linalg.norm(side) * np.linalg.norm(lift) + 1e-9


def test_pull_up_acts_only_once_descending_below_its_height() -> None:
    rot = enu_matrix(39.0, 129.0)  # rows: east, north, up
    g = math.radians(15.0)
    x0 = _state(39.0, 129.0, 30e3, list(2000.0 * (math.cos(g) * rot[0] + math.sin(g) * rot[2])))  # climbing
    pu = PullUp()
    p = params(beta=5000.0, h_max=1.0)
    pu.fill(p)
    t, x, _ = fly_segment(x0, 0.0, 400.0, 1.0, p, True)
    tb, xb, _ = fly_segment(x0, 0.0, 400.0, 1.0, params(beta=5000.0, h_max=1.0), True)
    alt = ecef_to_geodetic(xb[:, :3])[2]
    vr = np.einsum("ij,ij->i", xb[:, :3], xb[:, 3:])
    first = int(np.flatnonzero((vr < 0) & (alt < pu.pullup_alt_m))[0])
    n = min(first, t.size, tb.size)
    np.testing.assert_allclose(x[:n], xb[:n], rtol=0, atol=1e-6)  # identical up to there
    assert t[-1] > tb[-1] + 20.0  # then the lift stretches the flight
