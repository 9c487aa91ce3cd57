"""`tocsin.drill.score`: messages -> grid -> report, on constructed drills."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from tocsin.drill.score import ScoreConfig, ScoreReport, format_table, headline_figures, score, to_json
from tocsin.geo import ecef_to_geodetic, enu_to_ecef, geodetic_to_ecef
from tocsin.wire import (
    Ellipse,
    Envelope,
    ImpactPrediction,
    LaunchEstimate,
    TrackBody,
    TruthBody,
    make,
)

T0 = 1_800_000_000.0
LAT0, LON0 = 40.0, 128.0
IMPACT_LAT, IMPACT_LON = 41.0, 135.0
_seq = iter(range(1_000_000))


def _truth(
    obj: str, t: float, state: np.ndarray, cls: str = "ballistic", phase: str = "midcourse"
) -> Envelope:
    body = TruthBody(object=obj, t=t, phase=phase, class_=cls, state_ecef=[float(x) for x in state])  # type: ignore[arg-type]
    return make("truth", body, partner="US", source="truth", seq=next(_seq), sent=t)


def _impact(obj: str, t: float, lat: float, lon: float, cls: str = "ballistic") -> Envelope:
    body = TruthBody(object=obj, t=t, phase="impact", class_=cls, lat=lat, lon=lon)  # type: ignore[arg-type]
    return make("truth", body, partner="US", source="truth", seq=next(_seq), sent=t)


def _track(
    tid: str,
    t: float,
    state: np.ndarray,
    status: str = "confirmed",
    cls: str = "unknown",
    launch: LaunchEstimate | None = None,
    impact: ImpactPrediction | None = None,
) -> Envelope:
    body = TrackBody(
        id=tid,
        t=t,
        state_ecef=[float(x) for x in state],
        cov=[0.0] * 36,
        status=status,  # type: ignore[arg-type]
        class_=cls,  # type: ignore[arg-type]
        launch=launch,
        impact=impact,
    )
    return make("track", body, partner="JP", source="fusion", seq=next(_seq), sent=t)


def _line(origin_enu: list[float], vel_enu: list[float], t: float) -> np.ndarray:
    """A straight-line (constant-velocity) state in ECEF, defined in the ENU frame
    at (LAT0, LON0)."""
    p = np.asarray(origin_enu) + np.asarray(vel_enu) * t
    pos = enu_to_ecef(p, LAT0, LON0, 0.0)
    vel = enu_to_ecef(np.asarray(vel_enu), LAT0, LON0, 0.0) - geodetic_to_ecef(LAT0, LON0, 0.0)
    return np.concatenate([pos, vel])


def _offset(state: np.ndarray, d: float) -> np.ndarray:
    """The same state moved d metres along ECEF x."""
    out = state.copy()
    out[0] += d
    return out


M1 = ([0.0, 0.0, 50_000.0], [1000.0, 0.0, 0.0])
A1 = ([0.0, 100_000.0, 10_000.0], [0.0, 200.0, 0.0])
C = 10_000.0


def _drill() -> tuple[list[Envelope], list[Envelope]]:
    truth: list[Envelope] = []
    tracks: list[Envelope] = []
    for k in range(101):
        t = T0 + k
        truth.append(_truth("M1", t, _line(*M1, k)))
        truth.append(_truth("A1", t, _line(*A1, k), cls="air"))
    truth.append(_impact("M1", T0 + 400, IMPACT_LAT, IMPACT_LON))
    truth.append(_impact("A1", T0 + 100, 41.0, 128.0, cls="air"))
    for k in range(101):
        t = T0 + k
        # T1 tracks M1 all along, 50 m off, confirmed from k=5 (tentative before)
        launch = LaunchEstimate(t=T0 + 3, lat=LAT0, lon=LON0 + 0.01, sigma_m=900.0) if k >= 20 else None
        imp = None
        if k in (30, 70):
            # first prediction 0.5 deg of longitude east, later one right on target,
            # with an ellipse holding the truth only the second time
            dlon = 0.5 if k == 30 else 0.0
            imp = ImpactPrediction(
                t=T0 + 400 + (20.0 if k == 30 else 2.0),
                lat=IMPACT_LAT,
                lon=IMPACT_LON + dlon,
                sigma_t_s=5.0,
                ellipse=Ellipse(semi_major_m=5_000.0, semi_minor_m=1_000.0, bearing_deg=90.0),
            )
        tracks.append(
            _track(
                "T1",
                t,
                _offset(_line(*M1, k), 50.0),
                status="tentative" if k < 5 else "confirmed",
                cls="ballistic",
                launch=launch,
                impact=imp,
            )
        )
        # A1: T2 until k=50 then deleted; T3 from k=60 (a break, then a switch)
        if k <= 50:
            tracks.append(
                _track("T2", t, _offset(_line(*A1, k), 30.0), status="coasting" if k > 45 else "confirmed")
            )
        if k == 51:
            tracks.append(_track("T2", t, _offset(_line(*A1, k), 30.0), status="deleted"))
        if k >= 60:
            tracks.append(_track("T3", t, _offset(_line(*A1, k), -40.0)))
        # T4: a false track far from everything, k in 10..19
        if 10 <= k < 20:
            tracks.append(_track("T4", t, _line([500_000.0, 0.0, 10_000.0], [0.0, 0.0, 0.0], k)))
        # T5: tentative only, never counted
        if k < 30:
            tracks.append(
                _track("T5", t, _line([-500_000.0, 0.0, 9_000.0], [0.0, 0.0, 0.0], k), status="tentative")
            )
    return tracks, truth


@pytest.fixture(scope="module")
def report() -> ScoreReport:
    tracks, truth = _drill()
    return score(tracks, truth, ScoreConfig(c=C, p=2.0))


def test_grid_and_counts(report: ScoreReport) -> None:
    assert report.steps == 101
    assert report.truth_objects == 2
    assert report.tracks_reported == 4  # T5 never confirmed
    assert report.false_tracks == 1
    assert report.false_track_ids == ["T4"]


def test_gospa_per_step(report: ScoreReport) -> None:
    s = report.series
    # k=0..4: T1 tentative -> M1 missed; A1 tracked at 30 m
    assert s.localisation[0] == pytest.approx(30.0**2, rel=1e-6)
    assert s.missed[0] == pytest.approx(C**2 / 2)
    assert s.false[0] == 0.0
    # k=12: both tracked (50, 30 m) and the false track T4
    assert s.localisation[12] == pytest.approx(50.0**2 + 30.0**2, rel=1e-6)
    assert s.false[12] == pytest.approx(C**2 / 2)
    assert s.gospa[12] == pytest.approx(math.sqrt(2500 + 900 + C**2 / 2), rel=1e-6)
    assert s.n_tracks[12] == 3
    # k=55: T2 deleted at 51 -> A1 missed
    assert s.missed[55] == pytest.approx(C**2 / 2)
    assert s.n_truth[55] == 2
    # k=80: T1 and T3 (40 m)
    assert s.localisation[80] == pytest.approx(2500.0 + 1600.0, rel=1e-6)
    assert s.rmse_m[80] == pytest.approx(math.sqrt((2500 + 1600) / 2), rel=1e-6)
    assert report.gospa_mean == pytest.approx(float(np.mean(s.gospa)))


def test_staleness_limit_drops_old_reports() -> None:
    tracks, truth = _drill()
    # keep only every 10th report of T1: with max_stale 5 s it is absent in between
    thin = [e for e in tracks if not (e.body.id == "T1" and int(e.body.t - T0) % 10 != 0)]
    r = score(thin, truth, ScoreConfig(c=C, max_stale_s=5.0))
    assert r.series.missed[25] == 0.0  # the report at 20 is 5 s old: still counted
    assert r.series.missed[26] == pytest.approx(C**2 / 2)  # 6 s old: absent
    m1 = next(o for o in r.objects if o.object == "M1")
    # tracked 10..15, 20..25, ..., 90..95, 100: a break after each of the nine blocks
    assert m1.breaks == 9
    assert m1.id_switches == 0


def test_continuity(report: ScoreReport) -> None:
    a1 = next(o for o in report.objects if o.object == "A1")
    assert a1.breaks == 1
    assert a1.id_switches == 1
    assert a1.tracks == ["T2", "T3"]
    assert a1.rmse_m is not None
    m1 = next(o for o in report.objects if o.object == "M1")
    assert m1.breaks == 0
    assert m1.id_switches == 0
    assert m1.tracks == ["T1"]
    assert m1.tracked_fraction == pytest.approx(96 / 101)
    assert m1.rmse_m == pytest.approx(50.0, rel=1e-6)
    assert report.track_breaks == 1
    assert report.id_switches == 1


def test_launch_and_impact(report: ScoreReport) -> None:
    m1 = next(o for o in report.objects if o.object == "M1")
    # launch: 0.01 deg of longitude at 40 N
    first = _line(*M1, 0)[:3]
    lat0, lon0, _ = ecef_to_geodetic(first)
    assert (lat0, lon0) == (pytest.approx(LAT0), pytest.approx(LON0))
    expected = math.radians(0.01) * 6_371_008.8 * math.cos(math.radians(LAT0))
    assert m1.launch_error_m == pytest.approx(expected, rel=1e-3)
    assert m1.launch_time_error_s == pytest.approx(3.0)
    assert report.launch_error_m.n == 1
    # impact at checkpoints 60/120/180/300 s: the k=30 prediction (0.5 deg east,
    # about 42 km at 41 N) is current at 60 s, the exact one from 70 s on
    assert m1.impact_error_m_at[0] == pytest.approx(0.5 * 111_195 * math.cos(math.radians(41.0)), rel=0.01)
    assert m1.impact_error_m_at[1] == pytest.approx(0.0, abs=1e-3)
    at60 = report.impact_at[0]
    assert at60.after_s == 60.0
    assert at60.point_m.n == 1
    assert at60.time_s.mean == pytest.approx(20.0)
    assert report.impact_at[1].time_s.mean == pytest.approx(2.0)
    assert m1.final_impact_error_m == pytest.approx(0.0, abs=1e-3)
    # series: bins of 10 s since launch
    assert [b.after_s for b in report.impact_series] == [30.0, 70.0]
    # ellipse: first prediction misses by ~42 km (outside 5 km), second holds it
    assert (report.ellipse_predictions, report.ellipse_inside) == (2, 1)
    assert report.ellipse_coverage == pytest.approx(0.5)


def test_tentative_predictions_are_not_scored() -> None:
    tracks, truth = _drill()
    imp = ImpactPrediction(t=T0 + 400, lat=IMPACT_LAT, lon=IMPACT_LON, sigma_t_s=1.0)
    tracks.append(_track("T1", T0 + 2.5, _offset(_line(*M1, 2.5), 50.0), status="tentative", impact=imp))
    r = score(tracks, truth, ScoreConfig(c=C))
    assert [b.after_s for b in r.impact_series] == [30.0, 70.0]


def test_ellipse_orientation_matters() -> None:
    tracks, truth = _drill()
    # truth 3 km north of a prediction: inside a N-S ellipse, outside an E-W one
    out = []
    for bearing in (0.0, 90.0):
        imp = ImpactPrediction(
            t=T0 + 400,
            lat=IMPACT_LAT - 3_000.0 / 111_000.0,
            lon=IMPACT_LON,
            sigma_t_s=1.0,
            ellipse=Ellipse(semi_major_m=5_000.0, semi_minor_m=1_000.0, bearing_deg=bearing),
        )
        tr = [e for e in tracks if e.body.id != "T1"]
        tr.append(_track("T1", T0 + 50, _offset(_line(*M1, 50), 50.0), cls="ballistic", impact=imp))
        out.append(score(tr, truth).ellipse_inside)
    assert out == [1, 0]


def test_json_and_table(report: ScoreReport) -> None:
    data = msgspec.json.decode(to_json(report))
    assert data["false_tracks"] == 1
    assert data["objects"][0]["class"] in ("air", "ballistic")
    assert len(data["series"]["gospa"]) == 101
    text = format_table(report)
    assert "GOSPA" in text
    assert "false tracks" in text
    assert "Impact prediction" in text
    assert "M1" in text
    h = headline_figures(report)
    assert h["false_tracks"] == 1.0
    assert h["impact_error_m_at_120s"] == pytest.approx(0.0, abs=1e-3)
    assert h["ellipse_coverage"] == pytest.approx(0.5)


def test_no_tracks_all_missed() -> None:
    _, truth = _drill()
    r = score([], truth, ScoreConfig(c=C))
    assert r.gospa_mean == pytest.approx(math.sqrt(2 * C**2 / 2))
    assert r.rmse_m is None
    assert r.ellipse_coverage is None
    assert r.tracks_reported == 0
    assert "GOSPA" in format_table(r)


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="c must be"):
        ScoreConfig(c=-1.0)
    with pytest.raises(ValueError, match="p must be"):
        ScoreConfig(p=0.5)
