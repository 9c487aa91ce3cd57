"""The radars' biases as the filter's sensitivity to them
(:mod:`tocsin.fusion.consider`, ``TrackerConfig.bias_sensitivity``).

Checked two ways: against a closed form (a straight flight seen by one
radar from along its line of sight: the bias turns or moves the flight
rigidly, and a filter with no process noise follows it in full, so the
sensitivity is the rigid turn of :func:`~tocsin.fusion.impact.sensor_bias_columns`),
and against the tracker itself (the same plots with a small bias added to
one radar: the tracks' estimates move by the sensitivity times the bias)."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from tocsin.fusion import Tracker, TrackerConfig, consider
from tocsin.fusion.filters import ekf_update
from tocsin.fusion.impact import sensor_bias_columns
from tocsin.fusion.measurements import RADAR, MeasRecord
from tocsin.fusion.models import radar_predict
from tocsin.fusion.track import Track
from tocsin.geo.wgs84 import enu_matrix, geodetic_to_ecef
from tocsin.wire import Envelope, PlotBody

SITE_LL = (38.0, 138.0)


def _ncv_phi(dt: float) -> np.ndarray:
    phi = np.eye(6)
    phi[:3, 3:] = dt * np.eye(3)
    return phi


def _run_radial_filter(sig: np.ndarray, n: int) -> tuple[consider.Sens, np.ndarray, MeasRecord]:
    """A constant-velocity target flying straight away from one radar
    (constant azimuth 60 deg and elevation 20 deg), noise-free plots every
    second into an EKF with no process noise from a vague prior, the
    sensitivity carried alongside by the module's recursion."""
    site = np.asarray(geodetic_to_ecef(*SITE_LL, 0.0), dtype=np.float64)
    rot = enu_matrix(*SITE_LL)
    az, el = math.radians(60.0), math.radians(20.0)
    u = rot.T @ np.array([math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el)])
    r_cov = np.diag([30.0**2, math.radians(0.05) ** 2, math.radians(0.05) ** 2])

    def truth(t: float) -> np.ndarray:
        return np.concatenate([site + (100e3 + 400.0 * t) * u, 400.0 * u])

    x = truth(0.0) + np.array([2e3, -1e3, 5e2, 50.0, -30.0, 20.0])
    p = np.diag([1e8, 1e8, 1e8, 1e6, 1e6, 1e6])
    s: consider.Sens = {}
    rec: MeasRecord | None = None
    for k in range(n):
        if k:
            phi = _ncv_phi(1.0)
            x, p = phi @ x, phi @ p @ phi.T
            s = consider.propagate(s, phi)
        zt, _ = radar_predict(truth(float(k))[None, :], site[None, :], rot[None, :, :], False)
        zh, hm = radar_predict(x[None, :], site[None, :], rot[None, :, :], False)
        kg, kh = consider.effective_gain(p[None], hm, r_cov, np.ones(1))
        s = consider.update(s, kg, kh, "R1", sig)
        xn, pn, _, _ = ekf_update(x[None], p[None], zt - zh, hm, r_cov[None])
        x, p = xn[0], pn[0]
        rec = (float(k), RADAR, zt[0], r_cov, site, rot, "R1", "JP", float(k))
    assert rec is not None
    return s, x, rec


def test_a_straight_flight_along_the_line_of_sight_follows_the_bias_rigidly() -> None:
    """The closed form: a radial straight flight turned about the radar
    (azimuth, elevation) or moved along the line of sight (range) is still
    a straight flight, which a filter with no process noise fits exactly:
    its estimate moves by the rigid turn of every bias, position and
    velocity."""
    sig = np.array([10.0, math.radians(0.02), math.radians(0.02), 0.2])
    s, x, rec = _run_radial_filter(sig, 60)
    cols = sensor_bias_columns(x, [rec], float(sig[0]), float(sig[1]), float(sig[3]))
    assert cols is not None
    want = cols["R1"]  # (6, 3): no range rate measured
    got = s["R1"]
    assert got.shape == (6, consider.NCOL)
    assert np.allclose(got[:, 3], 0.0)
    for j in range(3):
        scale = float(np.linalg.norm(want[:3, j]))
        assert scale > 1.0  # metres per sigma: a real column
        assert np.allclose(got[:3, j], want[:3, j], atol=1e-3 * scale)
        # (a velocity error that moves the flight by the column's size over
        # the minute seen is the scale of what matters)
        vscale = max(float(np.linalg.norm(want[3:, j])), scale / 60.0)
        assert np.allclose(got[3:, j], want[3:, j], atol=1e-2 * vscale)
    # the covariance is the sum of the columns' outer products
    c = consider.covariance(s)
    assert c is not None
    assert np.allclose(c, got @ got.T)
    assert consider.covariance({}) is None


def test_a_sensor_without_a_bias_model_only_corrects() -> None:
    """An infrared line of sight (sensor None) shrinks every radar's column
    by ``I - K H`` and adds nothing of its own."""
    s0 = {"R1": np.arange(24.0).reshape(6, 4)}
    k = np.zeros((6, 2))
    k[0, 0] = 0.5
    h = np.zeros((2, 6))
    h[0, 0] = 1.0
    out = consider.update(s0, k, k @ h, None, np.ones(4))
    assert list(out) == ["R1"]
    assert np.allclose(out["R1"][0], 0.5 * s0["R1"][0])
    assert np.allclose(out["R1"][1:], s0["R1"][1:])


def _biased(envs: list[Envelope], sensor: str, d: tuple[float, float, float]) -> list[Envelope]:
    """``envs`` with ``d`` (range m, azimuth deg, elevation deg) added to
    every plot of ``sensor``."""
    out = []
    for e in envs:
        b = e.body
        if isinstance(b, PlotBody) and b.sensor == sensor:
            assert b.range_m is not None
            assert b.az_deg is not None
            assert b.el_deg is not None
            b = msgspec.structs.replace(
                b, range_m=b.range_m + d[0], az_deg=(b.az_deg + d[1]) % 360.0, el_deg=b.el_deg + d[2]
            )
            e = msgspec.structs.replace(e, body=b)
        out.append(e)
    return out


def _ballistic(envs: list[Envelope], cfg: TrackerConfig) -> Track:
    trk = Tracker(cfg)
    trk.push_many(envs)
    trk.flush()
    bal = [t for t in trk.tracks if t.ballistic and t.status == "confirmed" and not t.dead]
    assert len(bal) == 1
    return bal[0]


@pytest.fixture(scope="module")
def srbm_one_radar() -> tuple[list[Envelope], TrackerConfig, Track]:
    """An SRBM's plots to t+130 s (past burnout, climbing: KR-R1 alone sees
    it) and the ballistic track made of them, the rule on."""
    import conftest

    truth = conftest.srbm_truth(conftest.srbm_trajectory())
    envs = conftest.make_plots(truth, conftest.T0, conftest.T0 + 130.0, conftest.two_radars(), seed=5)
    cfg = TrackerConfig(bias_sensitivity=True)
    tr = _ballistic(envs, cfg)
    assert tr.bias_sens, "a ballistic track seen by radars keeps its sensitivity"
    assert sorted(tr.bias_sens[-1][2]) == ["KR-R1"]
    return envs, cfg, tr


@pytest.mark.parametrize(("col", "d"), [(0, (2.0, 0.0, 0.0)), (1, (0.0, 2e-4, 0.0)), (2, (0.0, 0.0, 2e-4))])
def test_the_tracker_moves_by_its_sensitivity_times_the_bias(
    srbm_one_radar: tuple[list[Envelope], TrackerConfig, Track], col: int, d: tuple[float, float, float]
) -> None:
    """The same plots again with a small range (azimuth, elevation) bias
    added to the radar's: the ballistic track's estimate moves by the
    radar's sensitivity column times the bias (position and velocity within
    5 %: the linearisation, and the models' and drag members' weights, which
    the recursion leaves out and which move little while one radar sees
    it). For the elevation bias the flight turned rigidly (the default term)
    is not what the filter does: 40 s of arc under gravity already turn its
    velocity error by half of itself."""
    envs, cfg, tr0 = srbm_one_radar
    x0 = tr0.combined()[0]
    tr1 = _ballistic(_biased(envs, "KR-R1", d), cfg)
    assert tr1.t == tr0.t
    sig = cfg.bias_range_m if col == 0 else math.radians(cfg.bias_angle_deg)
    b = d[0] if col == 0 else math.radians(d[col])
    want = tr0.bias_sens[-1][2]["KR-R1"][:, col] * (b / sig)
    got = tr1.combined()[0] - x0
    assert float(np.linalg.norm(got[:3])) > 0.5 * (b if col == 0 else b * 1e5)  # a real move
    assert np.linalg.norm(got[:3] - want[:3]) < 0.05 * np.linalg.norm(want[:3])
    assert np.linalg.norm(got[3:] - want[3:]) < 0.05 * np.linalg.norm(want[3:])
    if col == 2:
        recent = [h[0] for h in tr0.hist]
        rigid = sensor_bias_columns(x0, recent, cfg.bias_range_m, sig, cfg.bias_rr_mps)
        assert rigid is not None
        r = rigid["KR-R1"][:, col] * (b / sig)
        assert np.linalg.norm(got[:3] - r[:3]) < 0.05 * np.linalg.norm(got[:3])  # the position: a turn
        assert np.linalg.norm(got[3:] - r[3:]) > 0.3 * np.linalg.norm(got[3:])  # the velocity: not


def test_a_late_plot_refiltered_gives_the_sensitivity_of_the_plots_in_order() -> None:
    """A late plot re-filters the track from the snapshot before it; the
    sensitivity goes back with it (the entries after the snapshot dropped)
    and comes out as the plots in time order give it, bit for bit."""
    import conftest

    truth = conftest.srbm_truth(conftest.srbm_trajectory())
    envs = conftest.make_plots(truth, conftest.T0, conftest.T0 + 200.0, conftest.two_radars(), seed=5)
    head = [e for e in envs if not isinstance(e.body, PlotBody)]
    plots = []
    for e in envs:
        b = e.body
        if isinstance(b, PlotBody):
            lag = 1.2 if b.sensor == "JP-R1" and int(b.t) % 5 == 0 else 0.0
            plots.append(msgspec.structs.replace(e, sent=e.sent + lag))
    late = head + sorted(plots, key=lambda e: e.sent)
    cfg = TrackerConfig(bias_sensitivity=True)
    trk = Tracker(cfg)
    trk.push_many(late)
    trk.flush()
    assert trk.stats["oosm_refiltered"] > 5
    bal = [t for t in trk.tracks if t.ballistic and t.status == "confirmed" and not t.dead]
    assert len(bal) == 1
    got = bal[0].bias_sens
    want = _ballistic(envs, cfg).bias_sens
    assert [e[0] for e in got] == [e[0] for e in want]
    assert sorted(got[-1][2]) == sorted(want[-1][2]) == ["JP-R1", "KR-R1"]
    for name, v in want[-1][2].items():
        assert np.array_equal(got[-1][2][name], v)
    # kept back to the oldest snapshot a re-filter can restore, not much further
    assert got[0][0] <= bal[0].hist[0][1][3]
    assert len(got) <= len(bal[0].hist) + 2


def test_the_impact_prediction_considers_the_sensitivity(
    srbm_one_radar: tuple[list[Envelope], TrackerConfig, Track], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the rule on, the covariance added to the state for the impact
    ellipse is ``sum S S^T`` of the track's sensitivity at the prediction's
    time (carried by the ballistic transition while it coasts); off, the
    rigid turn of :func:`~tocsin.fusion.impact.sensor_bias_cov`."""
    from tocsin.fusion import ballistic as balmod
    from tocsin.fusion.models import ballistic_predict

    envs, cfg, _ = srbm_one_radar
    seen: list[tuple[float, np.ndarray | None]] = []
    orig = balmod.predict_impact

    def spy(x: np.ndarray, p: np.ndarray, t: float, **kw: object) -> object:
        ex = kw.get("extra_cov")
        seen.append((t, None if ex is None else np.array(ex)))
        return orig(x, p, t, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(balmod, "predict_impact", spy)
    tr = _ballistic(envs, cfg)
    assert seen
    t_last, ex = seen[-1]
    assert ex is not None
    ent = [e for e in tr.bias_sens if e[0] <= t_last][-1]
    s = ent[2]
    if t_last > ent[0]:
        bank = tr.drag
        beta = cfg.beta if bank is None else math.exp(bank.mean_lnb())
        _, phi = ballistic_predict(ent[1][None, :], np.array([t_last - ent[0]]), beta=beta)
        s = consider.propagate(s, phi[0])
    want = consider.covariance(s)
    assert want is not None
    assert np.allclose(ex, want, rtol=1e-9, atol=1e-9 * float(np.abs(want).max()))
    # off: the rigid turn, a different covariance
    seen.clear()
    tr_off = _ballistic(envs, TrackerConfig())
    assert not tr_off.bias_sens
    assert seen[-1][1] is not None
    assert not np.allclose(seen[-1][1], want, rtol=0.05)
