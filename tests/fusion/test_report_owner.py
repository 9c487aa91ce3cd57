"""The impact-coverage benchmark's second figure (benchmarks/impact_coverage.py,
session 12): each reported prediction scored against the object its track is
on at the report's time, beside the first (every prediction of a track
scored against the one object the scorer's GOSPA gave the track most steps).

A constructed flight of two falling objects 30 km apart: track F-1 follows A,
then switches to B (a tracking fault: its later predictions are B's fall,
reported as A's track); F-2 takes A over. Both tracks are attributed to A, so
the first figure scores F-1's B predictions against A's impact (misses) and
gives B nothing; per report, each prediction is scored against the piece its
track was on then. A seeded flight checks the wiring of ``run_flight``."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from tocsin.drill.score import score
from tocsin.geo import ecef_to_geodetic, enu_to_ecef, geodetic_to_ecef
from tocsin.wire import Ellipse, Envelope, ImpactPrediction, TrackBody, TruthBody, make

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import impact_coverage as ic

T0 = 1_800_000_000.0
LAT0, LON0 = 40.0, 128.0
APART_M = 30_000.0
FALL_S = 100


def _state(t: float, north0: float, east_off: float = 0.0) -> np.ndarray:
    """Flying east at 200 m/s, down at 100 m/s, from 10 km: down at t = 100 s."""
    p = np.array([east_off + 200.0 * t, north0, 10_000.0 - 100.0 * t])
    vel = enu_to_ecef(np.array([200.0, 0.0, -100.0]), LAT0, LON0, 0.0) - geodetic_to_ecef(LAT0, LON0, 0.0)
    return np.concatenate([enu_to_ecef(p, LAT0, LON0, 0.0), vel])


def _impact(north0: float) -> tuple[float, float]:
    lat, lon, _ = ecef_to_geodetic(enu_to_ecef(np.array([200.0 * FALL_S, north0, 0.0]), LAT0, LON0, 0.0))
    return float(lat), float(lon)


def _truth(obj: str, north0: float) -> list[Envelope]:
    out = [
        make(
            "truth",
            TruthBody(
                object=obj,
                t=T0 + k,
                phase="reentry",
                class_="ballistic",
                state_ecef=_state(k, north0).tolist(),
                role="rv" if obj == "A" else "stage-1",
            ),  # type: ignore[arg-type]
            partner="US",
            source="truth",
            seq=k,
            sent=T0 + k,
        )
        for k in range(FALL_S + 1)
    ]
    lat, lon = _impact(north0)
    out.append(
        make(
            "truth",
            TruthBody(object=obj, t=T0 + FALL_S, phase="impact", class_="ballistic", lat=lat, lon=lon),
            partner="US",
            source="truth",
            seq=FALL_S + 1,
            sent=T0 + FALL_S,
        )
    )
    return out


def _report(tid: str, t: float, north0: float) -> Envelope:
    """A report 100 m from the object at ``north0``, predicting its impact under a 2 x 1 km ellipse."""
    lat, lon = _impact(north0)
    body = TrackBody(
        id=tid,
        t=T0 + t,
        state_ecef=_state(t, north0, east_off=100.0).tolist(),
        cov=[0.0] * 36,
        status="confirmed",
        class_="ballistic",
        impact=ImpactPrediction(
            t=T0 + FALL_S,
            lat=lat,
            lon=lon,
            sigma_t_s=1.0,
            ellipse=Ellipse(semi_major_m=2_000.0, semi_minor_m=1_000.0, bearing_deg=0.0),
        ),
    )  # type: ignore[arg-type]
    return make("track", body, partner="JP", source="fusion", seq=int(t), sent=T0 + t)


def _switched() -> tuple[list[Envelope], list[Envelope]]:
    truth = _truth("A", 0.0) + _truth("B", APART_M)
    # F-1 on A for 50 s, then on B (switched pieces) for 30 s; F-2 on A from the switch
    tracks = [_report("F-1", t, 0.0 if t < 60 else APART_M) for t in range(10, 90)]
    tracks += [_report("F-2", t, 0.0) for t in range(60, 90)]
    return tracks, truth


def test_a_report_is_owned_by_the_object_its_track_is_on_then() -> None:
    tracks, truth = _switched()
    bodies = [e.body for e in tracks]
    who, dist = ic.nearest_objects(truth, bodies)
    want = ["A" if (b.id == "F-2" or b.t < T0 + 60) else "B" for b in bodies]
    assert who == want
    assert np.allclose(dist, 100.0, atol=1.0)
    # before anything flies, no owner
    early = _report("F-0", -5.0, 0.0).body
    assert ic.nearest_objects(truth, [early])[0] == [None]
    # after its fall an object is where it fell: a lost track predicted on near it is its
    late = _report("F-9", FALL_S + 20.0, APART_M).body
    assert ic.nearest_objects(truth, [late])[0] == ["B"]


def test_a_track_that_switched_pieces_is_scored_per_report_to_each_piece() -> None:
    tracks, truth = _switched()
    rep = score(tracks, truth)
    owned = {o.object: o.tracks for o in rep.objects}
    # the scorer's GOSPA majority gives both tracks to A (F-1: 50 steps on A, ~35 on B)
    assert owned == {"A": ["F-1", "F-2"], "B": []}
    got = ic.object_predictions(tracks, truth, owned)
    by_track, per_report = got["A"]
    # first figure: F-1's 30 predictions of B's fall count as A's (all outside A's ellipse)
    assert len(by_track) == 110
    assert sum(p[1] for p in by_track) == 80
    assert got["B"][0] == []
    # per report: A's 80 predictions (F-1 before the switch, F-2 after) all hold A's
    # impact, B's 30 (F-1 after the switch) all hold B's
    assert len(per_report) == 80
    assert all(p[1] for p in per_report)
    assert len(got["B"][1]) == 30
    assert all(p[1] for p in got["B"][1])
    # per report in time order: the last prediction of each is its final one
    assert [p[0] for p in per_report] == sorted((p[0] for p in per_report), reverse=True)
    assert per_report[-1][2] < 200.0


def test_a_single_object_flight_scores_every_owned_prediction_per_report_too() -> None:
    """Seeded MC flight (seed 1, depressed SRBM index 1: one object): every
    prediction of its tracks is a prediction made while on it."""
    rows = ic.run_flight((1, "SRBM-depressed", 1, {}, True))
    assert len(rows) == 1
    r = rows[0]
    assert len(r["preds"]) > 100
    assert not Counter(r["preds"]) - Counter(r["preds_report"])
    assert r["final_impact_error_per_report_m"] is not None
    fig = ic.object_figures(r)
    assert fig["predictions_per_report"] >= fig["predictions"]
    table = ic.aggregate(rows)
    assert table[0]["coverage_per_report"] is not None
    assert table[0]["predictions_per_report"] == len(r["preds_report"])
