"""The sensor-bias consider term of the impact prediction
(:func:`tocsin.fusion.impact.sensor_bias_cov`): its error vectors are what a
registration bias does to a track (checked against rotations of the state
about the radar, computed independently with scipy), radars share it by
their information, and the configuration refuses nonsense."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tocsin.fusion import TrackerConfig
from tocsin.fusion.impact import sensor_bias_cov
from tocsin.fusion.measurements import LOS, RADAR, MeasRecord
from tocsin.geo.wgs84 import WGS84_A, enu_matrix, geodetic_to_ecef

SITE_LL = (38.05, 138.30)


def _rec(site_ll: tuple[float, float], t: float = 0.0, rr: bool = True, sensor: str = "R1") -> MeasRecord:
    site = np.asarray(geodetic_to_ecef(site_ll[0], site_ll[1], 100.0), dtype=np.float64)
    rot = enu_matrix(*site_ll)
    z = np.zeros(4 if rr else 3)
    r = np.diag([25.0**2, math.radians(0.05) ** 2, math.radians(0.05) ** 2, 4.0][: z.size])
    return (t, RADAR, z, r, site, rot, sensor, "JP", t)


def _state() -> np.ndarray:
    p = np.asarray(geodetic_to_ecef(39.5, 133.0, 150e3), dtype=np.float64)
    rot = enu_matrix(39.5, 133.0)
    v = 2500.0 * rot[0] + 800.0 * rot[1] - 1200.0 * rot[2]
    return np.concatenate([p, v])


def _rotated(x: np.ndarray, site: np.ndarray, axis: np.ndarray, ang: float) -> np.ndarray:
    rot = Rotation.from_rotvec(ang * axis / np.linalg.norm(axis))
    return np.concatenate([site + rot.apply(x[:3] - site), rot.apply(x[3:])])


def test_one_radar_angle_bias_is_the_flight_turned_about_the_radar() -> None:
    """Azimuth bias: the flight turned about the site's vertical; elevation
    bias: about the horizontal across the line of sight. The term (range and
    range rate off) is the sum of the two outer products, to first order."""
    x = _state()
    rec = _rec(SITE_LL)
    site, up = rec[4], rec[5][2]
    sig = 1e-4
    c = sensor_bias_cov(x, [rec] * 5, 0.0, sig, 0.0)
    assert c is not None
    d = x[:3] - site
    across = np.cross(up, d)
    e_az = _rotated(x, site, up, sig) - x
    e_el = _rotated(x, site, np.cross(d, up), sig) - x
    want = np.outer(e_az, e_az) + np.outer(e_el, e_el)
    assert np.allclose(c, want, rtol=2e-3, atol=1e-6 * np.abs(want).max())
    # the position error of an azimuth bias is range x cos(el) x the angle
    assert float(np.linalg.norm(e_az[:3])) == pytest.approx(float(np.linalg.norm(across)) * sig, rel=1e-6)
    # nothing along the line of sight
    u = d / np.linalg.norm(d)
    assert float(u @ c[:3, :3] @ u) < 1e-6 * float(np.trace(c[:3, :3]))


def test_range_and_range_rate_bias_are_along_the_line_of_sight() -> None:
    x = _state()
    rec = _rec(SITE_LL)
    u = (x[:3] - rec[4]) / np.linalg.norm(x[:3] - rec[4])
    c = sensor_bias_cov(x, [rec], 10.0, 0.0, 0.0)
    assert c is not None
    assert np.allclose(c[:3, :3], 100.0 * np.outer(u, u), atol=1e-9)
    c2 = sensor_bias_cov(x, [rec], 0.0, 0.0, 0.3)
    assert c2 is not None
    assert np.allclose(c2[3:, 3:], 0.09 * np.outer(u, u), atol=1e-12)
    assert np.allclose(c2[:3, :], 0.0)
    # a radar without range rate has no range-rate term
    c3 = sensor_bias_cov(x, [_rec(SITE_LL, rr=False)], 0.0, 0.0, 0.3)
    assert c3 is not None
    assert np.allclose(c3, 0.0)


def test_radars_share_the_term_by_their_information() -> None:
    """Two radars looking from different sides: each bias counts where the
    other radar is weak, so the fused term is smaller than either alone; a
    radar with a hundred times the plots carries more of the track (the term
    moves towards its own)."""
    x = _state()
    a = _rec(SITE_LL, sensor="A")
    b = _rec((36.0, 126.6), sensor="B")
    sig = (10.0, math.radians(0.015), 0.2)
    ca, cb = sensor_bias_cov(x, [a], *sig), sensor_bias_cov(x, [b], *sig)
    cab = sensor_bias_cov(x, [a, b], *sig)
    assert ca is not None
    assert cb is not None
    assert cab is not None
    tr = float(np.trace(cab[:3, :3]))
    assert tr < float(np.trace(ca[:3, :3]))
    assert tr < float(np.trace(cb[:3, :3]))
    heavy = sensor_bias_cov(x, [a] * 100 + [b], *sig)
    assert heavy is not None
    assert np.linalg.norm(heavy - ca) < np.linalg.norm(cab - ca)


def test_no_radar_or_no_bias_no_term() -> None:
    x = _state()
    los = (0.0, LOS, np.array([1.0, 0.0, 0.0]), np.eye(3) * 1e-10, np.zeros(3), np.eye(3), "IR", "US", 0.0)
    assert sensor_bias_cov(x, [los], 10.0, 1e-4, 0.3) is None
    assert sensor_bias_cov(x, [], 10.0, 1e-4, 0.3) is None
    assert sensor_bias_cov(x, [_rec(SITE_LL)], 0.0, 0.0, 0.0) is None


def test_default_is_the_documented_range_and_bad_values_are_refused() -> None:
    from tocsin.drill.generate import SENSOR_BIAS_LIMITS

    cfg = TrackerConfig()
    # the standard deviation of the uniform range the Monte Carlo draws from
    assert cfg.bias_range_m == pytest.approx(SENSOR_BIAS_LIMITS["range_m"] / math.sqrt(3.0))
    assert cfg.bias_angle_deg == pytest.approx(SENSOR_BIAS_LIMITS["az_deg"] / math.sqrt(3.0))
    assert cfg.bias_angle_deg == pytest.approx(SENSOR_BIAS_LIMITS["el_deg"] / math.sqrt(3.0))
    assert cfg.bias_rr_mps == pytest.approx(SENSOR_BIAS_LIMITS["rr_mps"] / math.sqrt(3.0))
    for name, bad in (("bias_range_m", -1.0), ("bias_angle_deg", math.nan), ("bias_rr_mps", math.inf)):
        with pytest.raises(ValueError, match=name):
            TrackerConfig(**{name: bad})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bias_angle_deg"):
        TrackerConfig(bias_angle_deg=5.0)
    TrackerConfig(bias_range_m=0.0, bias_angle_deg=0.0, bias_rr_mps=0.0)


def test_the_tracker_widens_its_impact_ellipses_by_the_term() -> None:
    """End to end: on a Monte Carlo SRBM seen by biased radars the tracker's
    reported 95 % ellipses are wider with the term (default) than without it
    (across the track: along it the drag's uncertainty dominates), and the
    impact points are the same (the term is a covariance, the track state
    does not move)."""
    from tocsin.drill.generate import random_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.fusion import Tracker
    from tocsin.wire import TrackBody

    sim = simulate(random_scenario(7, "SRBM", index=1))

    def ellipses(cfg: TrackerConfig) -> dict[tuple[str, float], tuple[float, float, float]]:
        trk = Tracker(cfg)
        out = []
        for env in sim.messages:
            out.extend(trk.push(env))
        out.extend(trk.flush())
        res = {}
        for e in out:
            b = e.body
            if isinstance(b, TrackBody) and b.impact is not None and b.impact.ellipse is not None:
                res[(b.id, b.t)] = (b.impact.ellipse.semi_minor_m, b.impact.lat, b.impact.lon)
        return res

    on = ellipses(TrackerConfig())
    off = ellipses(TrackerConfig(bias_range_m=0.0, bias_angle_deg=0.0, bias_rr_mps=0.0))
    common = sorted(set(on) & set(off))
    assert len(common) > 50
    ratio = np.array([on[k][0] / off[k][0] for k in common])
    assert float(np.median(ratio)) > 1.1
    assert float(ratio.min()) > 0.98
    dlat = max(abs(on[k][1] - off[k][1]) for k in common)
    assert dlat < 0.01  # ~1 km: the sigma points move the mean only through the nonlinearity


def test_the_term_persists_in_coast_carried_by_the_flight() -> None:
    """Without a radar plot in the last oosm_lag_s the error the radars'
    biases put into the state is still there: the term kept at the last
    radar window is carried along the flight (``Phi C Phi^T``), checked here
    against the states flown on from the consider's own error vectors."""
    from collections import Counter

    from conftest import bare_track

    from tocsin.fusion.ballistic import Ballistic
    from tocsin.fusion.models import ballistic_predict

    x0 = _state()
    x0[:3] *= (WGS84_A + 600e3) / float(np.linalg.norm(x0[:3]))  # above the air: vacuum
    tr = bare_track(x0, 1_000.0)
    bal = Ballistic(TrackerConfig(), Counter())
    c0 = sensor_bias_cov(x0, [_rec(SITE_LL)] * 5, 10.0, 1e-4, 0.2)
    assert c0 is not None
    assert bal.bias_consider(tr, x0, c0, None) is c0
    # coasting: no radar in the window, 120 s later
    dt = 120.0
    x1 = ballistic_predict(x0[None, :], np.array([dt]), beta=None)[0][0]
    tr.t += dt
    c1 = bal.bias_consider(tr, x1, None, None)
    assert c1 is not None
    ev, vec = np.linalg.eigh(c0)
    cols = vec[:, ev > 1e-12 * ev.max()] * np.sqrt(ev[ev > 1e-12 * ev.max()])
    flown = np.stack(
        [ballistic_predict((x0 + e)[None, :], np.array([dt]), beta=None)[0][0] - x1 for e in cols.T], axis=1
    )
    want = flown @ flown.T
    assert np.allclose(c1, want, rtol=1e-3, atol=1e-6 * np.abs(want).max())
    # a velocity error alone: over a short coast it is ~dt of position error
    tr2 = bare_track(x0, 0.0)
    cv = np.diag([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    bal.bias_consider(tr2, x0, cv, None)
    tr2.t = 10.0
    c2 = bal.bias_consider(tr2, ballistic_predict(x0[None, :], np.array([10.0]), beta=None)[0][0], None, None)
    assert c2 is not None
    assert float(np.trace(c2[:3, :3])) == pytest.approx(3 * 10.0**2, rel=0.02)
    # kept (the next coast step starts from it), and dropped at a new boost
    assert tr.bias_consider is not None
    assert tr.bias_consider[0] == tr.t
    tr.reignite()
    assert bal.bias_consider(tr, x1, None, None) is None
