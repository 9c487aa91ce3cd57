"""`tocsin.drill.score` with the sensors' plots: seconds an object had plots
but no track on it ("lost while reported", issue 16), on a constructed drill."""

from __future__ import annotations

import math

import numpy as np

from tocsin.drill.score import ScoreConfig, format_table, score
from tocsin.geo import enu_to_ecef, geodetic_to_ecef
from tocsin.sensors.models import radar_measure
from tocsin.wire import Envelope, PlotBody, SensorBody, TrackBody, TruthBody, make

T0 = 1_800_000_000.0
LAT0, LON0 = 40.0, 128.0
SITE = (39.0, 129.0, 30.0)


def _state(t: float, north0: float = 0.0) -> np.ndarray:
    p = np.array([0.0, north0, 10_000.0]) + np.array([200.0, 0.0, 0.0]) * t
    vel = enu_to_ecef(np.array([200.0, 0.0, 0.0]), LAT0, LON0, 0.0) - geodetic_to_ecef(LAT0, LON0, 0.0)
    return np.concatenate([enu_to_ecef(p, LAT0, LON0, 0.0), vel])


def _truth(obj: str, north0: float) -> list[Envelope]:
    return [
        make(
            "truth",
            TruthBody(
                object=obj, t=T0 + k, phase="cruise", class_="air", state_ecef=_state(k, north0).tolist()
            ),  # type: ignore[arg-type]
            partner="US",
            source="truth",
            seq=k,
            sent=T0 + k,
        )
        for k in range(61)
    ]


def _plots(times: list[float], north0: float = 0.0) -> list[Envelope]:
    lat, lon, alt = SITE
    desc = SensorBody(
        id="KR-R1", type="radar", platform="ground", lat=lat, lon=lon, alt_m=alt, sigma_range_m=50.0
    )
    out = [make("sensor", desc, partner="KR", source="KR-R1", seq=0, sent=T0)]
    site = geodetic_to_ecef(lat, lon, alt)
    for i, t in enumerate(times):
        z = radar_measure(_state(t, north0), site, lat, lon)[0]
        body = PlotBody(
            sensor="KR-R1",
            t=T0 + t,
            range_m=float(z[0]),
            az_deg=math.degrees(z[1]) % 360.0,
            el_deg=math.degrees(z[2]),
        )
        out.append(make("plot", body, partner="KR", source="KR-R1", seq=i + 1, sent=T0 + t))
    return out


def _tracks(tid: str, times: list[float], north0: float = 0.0) -> list[Envelope]:
    return [
        make(
            "track",
            TrackBody(
                id=tid,
                t=T0 + t,
                state_ecef=_state(t, north0).tolist(),
                cov=[0.0] * 36,
                status="confirmed",
                class_="air",
            ),  # type: ignore[arg-type]
            partner="JP",
            source="fusion",
            seq=i,
            sent=T0 + t,
        )
        for i, t in enumerate(times)
    ]


def test_seconds_lost_while_a_sensor_reports_the_object() -> None:
    # plots every second for 60 s; the track reports 0-20 s and 35-60 s (a
    # new id), so from 26 s (its last report is stale after max_stale_s 5)
    # to 34 s the object is reported by the radar and on no track: 9 s
    plots = _plots([float(k) for k in range(61)])
    # a clutter plot 200 km away belongs to no object
    plots += _plots([30.5], north0=200_000.0)[1:]
    tracks = _tracks("F-1", [float(k) for k in range(21)]) + _tracks("F-2", [float(k) for k in range(35, 61)])
    rep = score(tracks, _truth("A1", 0.0), ScoreConfig(max_stale_s=5.0), plots=plots)
    (o,) = rep.objects
    assert o.plots == 61
    assert o.tracks == ["F-1", "F-2"]
    assert o.lost_while_reported_s == 9.0
    assert o.lost_while_reported_run_s == 9.0
    assert rep.lost_while_reported_s == 9.0
    assert rep.objects_lost_while_reported == 1
    assert "lost while reported" in format_table(rep)

    # the radar did not see it in the gap either: not lost *while reported*
    quiet = _plots([float(k) for k in range(61) if not 22 <= k <= 34])
    rep = score(tracks, _truth("A1", 0.0), ScoreConfig(max_stale_s=5.0), plots=quiet)
    assert rep.objects[0].lost_while_reported_s == 0.0
    assert rep.objects_lost_while_reported == 0

    # before the object is first tracked it is not "lost" (that is time to first track)
    late = _tracks("F-1", [float(k) for k in range(30, 61)])
    rep = score(late, _truth("A1", 0.0), ScoreConfig(max_stale_s=5.0), plots=plots)
    assert rep.objects[0].lost_while_reported_s == 0.0

    # plots of a second object are its own: a track on A1 only leaves B1 lost
    both = plots + _plots([float(k) for k in range(61)], north0=50_000.0)[1:]
    b_track = _tracks("F-9", [0.0, 1.0, 2.0], north0=50_000.0)
    rep = score(
        tracks + b_track, _truth("A1", 0.0) + _truth("B1", 50_000.0), ScoreConfig(max_stale_s=5.0), plots=both
    )
    by = {o.object: o for o in rep.objects}
    assert by["A1"].lost_while_reported_s == 9.0
    assert by["B1"].plots == 61
    assert by["B1"].lost_while_reported_s == 53.0  # 8 s .. 60 s

    # without plots the figure is not measured
    rep = score(tracks, _truth("A1", 0.0))
    assert rep.lost_while_reported_s is None
    assert rep.objects[0].lost_while_reported_s is None
