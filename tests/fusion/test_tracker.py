"""The tracker on small seeded scenarios (builders in conftest.py)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import geodetic_to_ecef, great_circle_distance
from tocsin.wire import Envelope, PlotBody, TrackBody, make


def _bodies(out: list[Envelope]) -> list[TrackBody]:
    return [e.body for e in out if isinstance(e.body, TrackBody)]


def _confirmed_ids(bodies: list[TrackBody]) -> set[str]:
    return {b.id for b in bodies if b.status in ("confirmed", "coasting")}


@pytest.fixture(scope="module")
def srbm_run() -> tuple[Any, list[Envelope], list[Envelope]]:
    from conftest import T0, make_plots, srbm_trajectory, srbm_truth, two_radars

    tr = srbm_trajectory()
    envs = make_plots(
        srbm_truth(tr), T0 + 5.0, T0 + tr.flight_time_s - 1.0, two_radars(), pd=0.9, clutter=2.0, seed=3
    )
    out = Tracker(TrackerConfig()).push_many(envs)
    return tr, envs, out


def test_radar_missile_gives_one_confirmed_ballistic_track(
    srbm_run: tuple[Any, list[Envelope], list[Envelope]],
) -> None:
    tr, _, out = srbm_run
    bodies = _bodies(out)
    ids = _confirmed_ids(bodies)
    assert len(ids) == 1
    ballistic = [b for b in bodies if b.class_ == "ballistic"]
    assert ballistic, "the missile must be classified ballistic"
    # while boosting: phase boost and no impact point
    boost = [b for b in ballistic if b.phase == "boost"]
    assert boost
    assert all(b.impact is None for b in boost)
    # after burnout: impact, path ahead and quality
    late = [b for b in ballistic if b.impact is not None]
    assert late
    assert all(b.phase == "ballistic" for b in late)
    last = late[-1]
    err = float(great_circle_distance(last.impact.lat, last.impact.lon, tr.impact_lat, tr.impact_lon))
    assert err < 2_000.0
    assert last.path is not None
    assert len(last.path) >= 2
    assert all(p[2] >= last.t - 1e-6 for p in last.path)
    assert last.path[-1][2] == pytest.approx(last.impact.t, abs=1e-3)
    assert last.quality is not None
    assert 0.0 <= last.quality <= 1.0
    assert last.launch is not None
    lerr = float(great_circle_distance(last.launch.lat, last.launch.lon, tr.launch_lat, tr.launch_lon))
    assert lerr < 15_000.0


def test_determinism(srbm_run: tuple[Any, list[Envelope], list[Envelope]]) -> None:
    _, envs, out = srbm_run
    again = Tracker(TrackerConfig()).push_many(envs)
    enc = msgspec.json.Encoder()
    assert [enc.encode(e) for e in again] == [enc.encode(e) for e in out]


def test_aircraft_are_air_never_ballistic(scen: Any) -> None:
    truth = scen.ncv_truth(4, seed=5)
    radars = [
        scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5),
        scen.Radar("JP-R2", 38.2, 133.8, max_range=4e5),
    ]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 90.0, radars, pd=0.9, clutter=1.0, seed=1)
    bodies = _bodies(Tracker().push_many(envs))
    assert all(b.class_ != "ballistic" for b in bodies)
    confirmed = _confirmed_ids(bodies)
    assert len(confirmed) == 4
    final = {b.id: b.class_ for b in bodies}
    assert all(final[i] == "air" for i in confirmed)


def test_clutter_only_gives_no_confirmed_track(scen: Any) -> None:
    def nothing(t: float) -> np.ndarray:
        return np.zeros((0, 6))

    radars = [scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5)]
    envs = scen.make_plots(nothing, scen.T0, scen.T0 + 120.0, radars, clutter=5.0, seed=2)
    trk = Tracker()
    bodies = _bodies(trk.push_many(envs))
    assert not _confirmed_ids(bodies)
    assert trk.stats["plots"] > 400


def test_two_ir_sensors_triangulate_a_boosting_missile(scen: Any) -> None:
    tr = scen.srbm_trajectory()
    sats = [
        scen.IrSat("US-S1", geodetic_to_ecef(0.0, 135.0, 35_786_000.0), sigma=2e-5),
        scen.IrSat("US-S2", geodetic_to_ecef(0.0, 100.0, 35_786_000.0), sigma=2e-5, offset=0.5),
    ]
    envs = scen.make_plots(scen.srbm_truth(tr), scen.T0 + 10.0, scen.T0 + 60.0, [], sats=sats, seed=4)
    trk = Tracker()
    trk.push_many(envs)
    assert trk.stats["initiated"] >= 1
    best = min(trk.tracks, key=lambda t: t.updates * -1)
    x, _ = best.combined()
    truth = tr.state_at(best.t - scen.T0)
    assert float(np.linalg.norm(x[:3] - truth[:3])) < 5_000.0
    assert best.status == "confirmed"


def test_oosm_shuffle_within_lag_gives_the_same_tracks(scen: Any) -> None:
    truth = scen.ncv_truth(3, seed=7)
    radars = [
        scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5),
        scen.Radar("KR-R1", 38.2, 133.8, max_range=4e5, offset=0.3),
    ]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 60.0, radars, pd=1.0, seed=3)
    head = [e for e in envs if e.kind == "sensor"]
    plots = [e for e in envs if e.kind == "plot"]
    rng = np.random.default_rng(0)
    # each plot is delivered up to 4 s late (sent order), within the 10 s lag
    delay = rng.uniform(0.0, 4.0, len(plots))
    order = np.argsort([p.body.t + d for p, d in zip(plots, delay, strict=True)], kind="stable")
    shuffled = [plots[i] for i in order]
    assert shuffled != plots
    a = Tracker()
    a.push_many(head + plots)
    b = Tracker()
    b.push_many(head + shuffled)
    assert b.stats["oosm_refiltered"] > 0
    assert b.rejected["too_late"] == 0
    ta = [t for t in a.tracks if t.status != "tentative"]
    tb = [t for t in b.tracks if t.status != "tentative"]
    assert len(ta) == len(tb) == 3
    for x in ta:
        xa, pa = x.combined()
        y = min(tb, key=lambda t: float(np.linalg.norm(t.combined()[0][:3] - xa[:3])))
        xb, _ = y.combined()
        assert x.t == y.t
        assert float(np.linalg.norm(xa[:3] - xb[:3])) < 3.0 * math.sqrt(float(np.trace(pa[:3, :3])))


def test_partner_tracks_fuse_by_covariance_intersection() -> None:
    x = np.concatenate([geodetic_to_ecef(38.0, 135.0, 10_000.0), np.array([100.0, 150.0, 0.0])])
    rng = np.random.default_rng(1)
    pa = np.diag([300.0**2, 100.0**2, 100.0**2, 20.0**2, 20.0**2, 20.0**2])
    pb = np.diag([100.0**2, 300.0**2, 100.0**2, 20.0**2, 20.0**2, 20.0**2])

    def msg(partner: str, p: np.ndarray, seq: int, t: float) -> Envelope:
        xs = x + rng.multivariate_normal(np.zeros(6), p)
        xs[:3] += x[3:] * (t - 1000.0)
        body = TrackBody(
            id="T1", t=t, state_ecef=xs.tolist(), cov=p.ravel().tolist(), status="confirmed", class_="air"
        )
        return make("track", body, partner=partner, source=f"{partner}-node", seq=seq, sent=t)

    trk = Tracker()
    trk.push(msg("KR", pa, 1, 1000.0))
    out = trk.push(msg("US", pb, 1, 1001.0))
    assert trk.stats["t2t_new"] == 1
    assert trk.stats["t2t_fused"] == 1
    assert len(trk.tracks) == 1
    fused = out[-1].body
    assert isinstance(fused, TrackBody)
    assert fused.partners == ["KR", "US"]
    pf = np.array(fused.cov).reshape(6, 6)
    # CI: no more uncertain than the better input along each of x and y
    assert pf[0, 0] < pa[0, 0]
    assert pf[1, 1] < pb[1, 1]
    assert np.all(np.linalg.eigvalsh(pf) > 0)


def test_bad_input_is_counted_by_reason_never_raised(scen: Any) -> None:
    radars = [scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5)]
    trk = Tracker()
    for e in scen.sensor_envs(radars):
        trk.push(e)

    def plot(**kw: Any) -> Envelope:
        body = PlotBody(**kw)
        return make("plot", body, partner="JP", source=str(kw["sensor"]), seq=1, sent=scen.T0)

    bad = [
        plot(sensor="XX-R9", t=scen.T0, range_m=1e5, az_deg=10.0, el_deg=5.0),
        plot(sensor="JP-R1", t=scen.T0, range_m=math.nan, az_deg=10.0, el_deg=5.0),
        plot(sensor="JP-R1", t=math.inf, range_m=1e5, az_deg=10.0, el_deg=5.0),
        plot(sensor="JP-R1", t=scen.T0, range_m=5e7, az_deg=10.0, el_deg=5.0),
        plot(sensor="JP-R1", t=scen.T0, observer_ecef=[4e7, 0.0, 0.0], los_ecef=[-1.0, 0.0, 0.0]),
    ]
    out = []
    for e in bad:
        out.extend(trk.push(e))
    out.extend(trk.flush())
    assert out == []
    assert trk.rejected["unknown_sensor"] == 1
    assert trk.rejected["nan"] == 2
    assert trk.rejected["geometry"] == 1
    assert trk.rejected["type_mismatch"] == 1


def test_unscented_update_equals_kalman_for_a_linear_measurement() -> None:
    from tocsin.fusion.filters import ekf_update, ukf_update

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6)) * 100.0
    a = rng.normal(size=(4, 6, 6))
    p = a @ np.transpose(a, (0, 2, 1)) + np.eye(6)
    hm = rng.normal(size=(4, 3, 6))
    z = rng.normal(size=(4, 3)) * 50.0
    r = np.broadcast_to(np.eye(3) * 4.0, (4, 3, 3)).copy()

    def hfun(pts: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.einsum("nij,nj->ni", hm[rows], pts)

    xu, pu, du, lu = ukf_update(x, p, z, r, hfun, np.subtract)
    nu = z - np.einsum("nij,nj->ni", hm, x)
    xe, pe, de, le = ekf_update(x, p, nu, hm, r)
    np.testing.assert_allclose(xu, xe, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(pu, pe, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(du, de, rtol=1e-8)
    np.testing.assert_allclose(lu, le, rtol=1e-8)


def test_ukf_variant_tracks_the_missile(srbm_run: tuple[Any, list[Envelope], list[Envelope]]) -> None:
    tr, envs, _ = srbm_run
    bodies = _bodies(Tracker(TrackerConfig(filter="ukf")).push_many(envs))
    assert len(_confirmed_ids(bodies)) == 1
    last = [b for b in bodies if b.impact is not None][-1]
    assert (
        float(great_circle_distance(last.impact.lat, last.impact.lon, tr.impact_lat, tr.impact_lon)) < 2_000.0
    )


def test_too_late_reports_are_refused(scen: Any) -> None:
    radars = [scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5)]
    trk = Tracker()
    for e in scen.sensor_envs(radars):
        trk.push(e)
    for dt in (100.0, 0.0):  # a plot, then one 100 s older (lag 10 s)
        body = PlotBody(sensor="JP-R1", t=scen.T0 + dt, range_m=1e5, az_deg=10.0, el_deg=5.0)
        trk.push(make("plot", body, partner="JP", source="JP-R1", seq=int(dt) + 1, sent=scen.T0 + 100.0))
    trk.flush()
    assert trk.rejected["too_late"] == 1


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["JP-R1", "US-S1", "XX-9"]),
            st.floats(-50.0, 50.0),
            finite,
            finite,
            finite,
            st.lists(finite, min_size=3, max_size=3),
        ),
        max_size=12,
    )
)
def test_arbitrary_plots_never_raise(rows: list[tuple[str, float, float, float, float, list[float]]]) -> None:
    from conftest import IrSat, Radar, sensor_envs

    trk = Tracker()
    for e in sensor_envs(
        [Radar("JP-R1", 37.0, 132.5)], [IrSat("US-S1", geodetic_to_ecef(0.0, 135.0, 3.5e7))]
    ):
        trk.push(e)
    t0 = 1_800_000_000.0
    pushed = 0
    for k, (sensor, dt, a, b, c, v) in enumerate(rows):
        try:  # the wire struct itself refuses some (a non-unit line of sight)
            if k % 2:
                body = PlotBody(sensor=sensor, t=t0 + dt, range_m=a, az_deg=b, el_deg=c)
            else:
                body = PlotBody(sensor=sensor, t=t0 + dt, observer_ecef=v, los_ecef=[a, b, c])
        except ValueError:
            continue
        pushed += 1
        trk.push(make("plot", body, partner="JP", source=sensor, seq=k + 1, sent=t0))
    trk.flush()
    trk.advance(t0 + 100.0)
    assert sum(trk.rejected.values()) + trk.stats["plots"] == pushed


def test_a_biased_radar_does_not_make_a_second_missile_track(
    srbm_run: tuple[Any, list[Envelope], list[Envelope]],
) -> None:
    _, envs, _ = srbm_run
    biased = []
    for e in envs:  # JP-R1 azimuth 0.3 deg off: several km at its ranges
        if isinstance(e.body, PlotBody) and e.body.sensor == "JP-R1" and e.body.az_deg is not None:
            e = msgspec.structs.replace(
                e, body=msgspec.structs.replace(e.body, az_deg=(e.body.az_deg + 0.3) % 360.0)
            )
        biased.append(e)
    trk = Tracker()
    bodies = _bodies(trk.push_many(biased))
    assert len(_confirmed_ids(bodies)) == 1
    assert trk.stats["duplicates_suppressed"] >= 1
    assert "JP-R1" in bodies[-1].sources


def test_a_confirmed_track_without_plots_is_still_reported_each_interval(scen: Any) -> None:
    # one aircraft, two radars; both miss it from 40 to 42.5 s (a 2.5-s gap,
    # less than coast_after_s): its track is reported at the scans of the gap
    # with the prediction (time advancing, status confirmed), the track itself
    # is not moved by it, and the next plot updates it as usual
    truth = scen.ncv_truth(1, seed=5)
    radars = [
        scen.Radar("JP-R1", 37.0, 132.5, max_range=4e5),
        scen.Radar("JP-R2", 38.2, 133.8, max_range=4e5, offset=0.5),
    ]
    envs = scen.make_plots(truth, scen.T0, scen.T0 + 60.0, radars, seed=3)
    gap = (scen.T0 + 40.0, scen.T0 + 42.6)
    kept = [e for e in envs if not (e.kind == "plot" and gap[0] <= e.body.t < gap[1])]
    trk = Tracker(TrackerConfig(report_interval_s=1.0))
    out = []
    tick = scen.T0 + 1.0
    for e in kept:  # a live node advances its tracker about once a second
        while e.kind == "plot" and e.body.t >= tick:
            out.extend(trk.advance(tick))
            tick += 1.0
        out.extend(trk.push(e))
    bodies = _bodies(out + trk.flush())
    (tid,) = _confirmed_ids(bodies)
    mine = [b for b in bodies if b.id == tid]
    in_gap = [b for b in mine if gap[0] <= b.t < gap[1]]
    assert len(in_gap) >= 2
    assert all(b.status == "confirmed" for b in in_gap)
    assert [b.t for b in in_gap] == sorted(b.t for b in in_gap)
    # each is the straight-line prediction of the last update before the gap
    # (one velocity, the positions moving with it), from about where the last
    # report before the gap puts it, with a larger covariance
    last = max((b for b in mine if b.t < gap[0]), key=lambda b: b.t)
    v0 = np.array(in_gap[0].state_ecef[3:])
    x0 = np.array(last.state_ecef)
    first = np.array(in_gap[0].state_ecef[:3])
    assert np.linalg.norm(first - x0[:3] - x0[3:] * (in_gap[0].t - last.t)) < 50.0
    for a, b in itertools.pairwise(in_gap):
        np.testing.assert_allclose(b.state_ecef[3:], v0, atol=1e-6)
        want = np.array(a.state_ecef[:3]) + v0 * (b.t - a.t)
        assert np.linalg.norm(np.array(b.state_ecef[:3]) - want) < 1.0
    for b in in_gap:
        assert np.trace(np.array(b.cov).reshape(6, 6)[:3, :3]) > np.trace(
            np.array(last.cov).reshape(6, 6)[:3, :3]
        )
    # the first report after the gap is an update, close to the truth again
    after = min((b for b in mine if b.t >= gap[1]), key=lambda b: b.t)
    assert np.linalg.norm(np.array(after.state_ecef[:3]) - truth(after.t)[0, :3]) < 500.0
    # without the gap rule nothing would be sent for the 2.5 s: check the
    # reports are the gap reports only (no duplicates at one time)
    # (a coasting report and the update that finds the track again may share a time)
    assert len({(b.t, b.status) for b in mine}) == len(mine)
    # a track confirmed a moment before its plots stop (as one born of
    # clutter) is not kept on show by predictions: silent until it coasts
    short = [e for e in envs if not (e.kind == "plot" and e.body.t >= scen.T0 + 2.0)]
    trk = Tracker(TrackerConfig(report_interval_s=1.0))
    out = []
    for k in range(1, 20):
        out.extend(trk.push_many([e for e in short if e.kind != "plot" or k - 1 <= e.body.t - scen.T0 < k]))
        out.extend(trk.advance(scen.T0 + k))
    fresh = _bodies(out)
    assert _confirmed_ids(fresh)
    assert [b.status for b in fresh] == ["confirmed", "coasting", "deleted"]
