"""Threat assessment: known answers for the geometry, the probabilities and the rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from warnhelpers import FakeArea, FakeRegistry, grid_registry

from tocsin.dynamics.flight import propagate_to_ground
from tocsin.geo import ecef_to_geodetic, geodetic_to_ecef
from tocsin.warning.threat import (
    ThreatConfig,
    assess,
    corridor_segments,
    ellipse_polygon,
    ellipse_radius,
    fly_to_ground,
    impact_probabilities,
    offset,
    thrust_from_speeds,
)
from tocsin.wire.messages import Ellipse, ImpactPrediction, TrackBody

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize(("lat", "az"), [(35.0, 0.0), (42.0, 90.0), (38.0, 225.0)])
def test_offset_matches_the_geodesic(lat: float, az: float) -> None:
    d = 100_000.0
    e, n = d * math.sin(math.radians(az)), d * math.cos(math.radians(az))
    la, lo = offset(np.array(lat), np.array(135.0), np.array(e), np.array(n))
    _, _, dist = GEOD.inv(135.0, lat, float(lo), float(la))
    assert dist == pytest.approx(d, rel=5e-3)


def test_ellipse_radius() -> None:
    assert ellipse_radius(10.0, 4.0, 30.0, 30.0) == pytest.approx(10.0)
    assert ellipse_radius(10.0, 4.0, 30.0, 120.0) == pytest.approx(4.0)
    assert ellipse_radius(10.0, 4.0, 30.0, 210.0) == pytest.approx(10.0)


def _area(code: str, geom: shapely.Geometry, country: str = "JP") -> FakeArea:
    return FakeArea(code, "land", country, code, code, code, geom)


def test_impact_probability_known_answers() -> None:
    lat, lon = 38.0, 135.0
    east = _area("E", shapely.box(lon, 30, 140, 45))  # the half plane east of the mean
    ell = _area("95", ellipse_polygon(lat, lon, 50e3, 20e3, 60.0, n=256))  # the 95 % contour itself
    far = _area("F", shapely.box(137, 30, 140, 45))
    p = impact_probabilities([east, ell, far], lat, lon, 50e3, 20e3, 60.0, 0.95)
    assert p["E"] == pytest.approx(0.5, abs=0.02)
    assert p["95"] == pytest.approx(0.95, abs=0.01)
    assert p["F"] == 0.0


def test_corridor_width_is_the_radius() -> None:
    lat = np.array([38.0, 38.0, 38.0])
    lon = np.array([134.0, 135.0, 136.0])
    r = np.array([10e3, 20e3, 30e3])
    tube = shapely.union_all(corridor_segments(lat, lon, r))
    for lo, rad in ((134.0, 10e3), (135.0, 20e3), (136.0, 30e3)):
        la_in, _ = offset(np.array(38.0), np.array(lo), np.array(0.0), np.array(0.95 * rad))
        la_out, _ = offset(np.array(38.0), np.array(lo), np.array(0.0), np.array(1.05 * rad))
        assert tube.contains(shapely.Point(lo, float(la_in)))
        assert not tube.contains(shapely.Point(lo, float(la_out)))


def test_antimeridian_path_does_not_wrap_the_globe() -> None:
    lat = np.array([40.0, 40.0, 40.0])
    lon = np.array([178.0, 179.9, -178.0])
    tube = shapely.union_all(corridor_segments(lat, lon, np.full(3, 10e3)))
    assert not tube.intersects(shapely.box(120, 30, 150, 46))
    assert tube.bounds[2] > 180.0


def test_thrust_from_speeds() -> None:
    t = np.arange(0.0, 6.0, 1.0)
    sp = 1000.0 + 40.0 * t
    assert thrust_from_speeds(t, sp, g_along=-8.0, max_accel=150.0) == pytest.approx(48.0)
    assert thrust_from_speeds(t, sp, g_along=-8.0, max_accel=20.0) == 20.0
    assert thrust_from_speeds(t[:2], sp[:2], g_along=-8.0, max_accel=150.0) is None
    assert thrust_from_speeds(t, 1000.0 - 20.0 * t, g_along=-8.0, max_accel=150.0) == 0.0


def test_fly_to_ground_agrees_with_the_dynamics() -> None:
    x = np.concatenate([geodetic_to_ecef(39.5, 130.0, 200e3), [1500.0, 2000.0, 500.0]])
    fl = fly_to_ground(x[None, :], 0.0)[0]
    assert fl is not None
    dt, xg = propagate_to_ground(x[None, :], beta=None, direction=+1, step=5.0)
    la, lo, _ = ecef_to_geodetic(xg[0, :3])
    assert fl.impact_t == pytest.approx(float(dt[0]), abs=1.0)
    _, _, miss = GEOD.inv(fl.impact_lon, fl.impact_lat, float(lo), float(la))
    assert miss < 2_000.0
    assert fl.t[0] == 0.0
    assert np.all(np.diff(fl.t) > 0)


def _track(
    path: list[tuple[float, float]], at: tuple[float, float], t: float = 1000.0, **kw: object
) -> TrackBody:
    la, lo = path[0]
    x = geodetic_to_ecef(la, lo, 300e3)
    fields: dict[str, object] = {
        "id": "T",
        "t": t,
        "state_ecef": [*map(float, x), 3000.0, 0.0, 0.0],
        "cov": list(np.diag([100.0**2] * 3 + [5.0**2] * 3).ravel()),
        "status": "confirmed",
        "class_": "ballistic",
        "impact": ImpactPrediction(
            t=t + 600,
            lat=at[0],
            lon=at[1],
            sigma_t_s=2.0,
            ellipse=Ellipse(semi_major_m=20e3, semi_minor_m=8e3, bearing_deg=90.0),
        ),
        "phase": "ballistic",
        "path": [[a, b, t + 600 * i / (len(path) - 1)] for i, (a, b) in enumerate(path)],
    }
    fields.update(kw)
    return TrackBody(**fields)  # type: ignore[arg-type]


def test_path_and_impact_areas() -> None:
    reg = grid_registry()
    tr = _track([(36.5, 130.5), (36.5, 132.5), (36.5, 134.5)], (36.5, 134.5))
    th = assess(tr, reg)
    by = {r.code: r for r in th.risks}
    # the boxes under the line 36.5 N from 130.5 to 134.5 E (row 6, columns 6..10)
    assert set(by) == {f"JP-06{j:02d}" for j in range(6, 11)}
    assert by["JP-0610"].reason == "impact"
    assert by["JP-0610"].p_impact == pytest.approx(1.0)
    assert by["JP-0606"].reason == "path"
    # event times follow the path
    assert by["JP-0606"].t < by["JP-0608"].t < by["JP-0610"].t
    assert th.onset == by["JP-0606"].t


def test_unsettled_ellipse_names_no_impact_area() -> None:
    reg = grid_registry()
    big = ImpactPrediction(
        t=1600.0,
        lat=36.5,
        lon=134.5,
        sigma_t_s=30.0,
        ellipse=Ellipse(semi_major_m=400e3, semi_minor_m=380e3, bearing_deg=90.0),
    )
    tr = _track([(36.5, 130.5), (36.5, 134.5)], (36.5, 134.5), impact=big)
    th = assess(tr, reg)
    assert th.risks
    assert all(r.reason == "path" for r in th.risks)
    # the corridor stops where its radius passes max_buffer_m: nothing near the far end
    assert all(int(r.code[-2:]) <= 8 for r in th.risks), th.risks
    wide = assess(tr, reg, ThreatConfig(max_ellipse_m=500e3, max_buffer_m=500e3))
    assert len(wide.risks) > 20


def _boosting_east(vel_enu: tuple[float, float, float] = (2300.0, 0.0, 1000.0)) -> TrackBody:
    """A boosting object at 38 N 130 E, 60 km up, flying east."""
    from tocsin.geo import enu_matrix

    lat, lon, alt = 38.0, 130.0, 60e3
    x = geodetic_to_ecef(lat, lon, alt)
    v = enu_matrix(lat, lon).T @ np.array(vel_enu)
    return TrackBody(
        id="B",
        t=0.0,
        state_ecef=[*map(float, x), *map(float, v)],
        cov=list(np.diag([200.0**2] * 3 + [20.0**2] * 3).ravel()),
        status="confirmed",
        class_="ballistic",
        phase="boost",
    )


def test_boost_needs_a_baseline_then_follows_the_launch_plane() -> None:
    reg = FakeRegistry(
        [
            _area("AHEAD", shapely.box(133.5, 37.8, 134.5, 38.2)),
            _area("SIDE", shapely.box(133.5, 36.0, 134.5, 36.6)),
            _area("BEHIND", shapely.box(127.0, 37.8, 128.0, 38.2)),
        ]
    )
    # an object 80 km east of its first report, climbing east at 2.5 km/s
    tr = _boosting_east()
    assert assess(tr, reg, origin=(38.0, 129.99, 200.0)).risks == ()  # 1 km baseline: heading unknown
    th = assess(tr, reg, origin=(38.0, 129.1, 200.0), thrust=60.0)
    # an origin known only to 20 km gives no heading over an 80 km baseline
    assert assess(tr, reg, origin=(38.0, 129.1, 20e3), thrust=60.0).risks == ()
    assert th.phase == "boost"
    assert [r.code for r in th.risks] == ["AHEAD"]
    assert th.impact_lon is not None
    assert th.impact_lon > 134.0


def test_boost_baseline_heading_must_fit_the_corridor_fan() -> None:
    # the bearing from the first report to the track is the corridor's heading;
    # its 95 % error (both ends' position errors over the baseline) must fit in
    # the fan the corridor allows for it (boost_heading_margin_deg), else the
    # corridor could miss the real path while naming districts beside it
    reg = FakeRegistry([_area("AHEAD", shapely.box(133.5, 37.8, 134.5, 38.2))])
    tr = _boosting_east()  # 80 km east of an origin at 129.1 E, 200 m sigma
    assert [r.code for r in assess(tr, reg, origin=(38.0, 129.1, 200.0), thrust=60.0).risks] == ["AHEAD"]
    # 2 km at the origin over 80 km: ~3.5 deg (95 %) against a 1.5 deg fan
    assert assess(tr, reg, origin=(38.0, 129.1, 2_000.0), thrust=60.0).risks == ()
    # 200 m at both ends over a 12 km baseline: ~3.3 deg, the same
    assert assess(tr, reg, origin=(38.0, 129.863, 200.0), thrust=60.0).risks == ()
    # a wider fan takes the second heading
    wide = ThreatConfig(boost_heading_margin_deg=4.0)
    assert assess(tr, reg, wide, origin=(38.0, 129.1, 2_000.0), thrust=60.0).risks != ()


def test_boost_holds_back_the_far_end_of_the_corridor() -> None:
    # far point ~138 E, ~300 s away; NEAR is reached in ~50 s, FAR (next to the
    # far point, the last ~10 % of the corridor) in ~280 s
    reg = FakeRegistry(
        [
            _area("NEAR", shapely.box(131.5, 37.8, 132.0, 38.2)),
            _area("FAR", shapely.box(137.3, 37.8, 138.3, 38.2)),
        ]
    )
    tr = _boosting_east()
    origin = (38.0, 129.1, 200.0)
    th = assess(tr, reg, origin=origin, thrust=60.0)
    # the far point itself is still reported (displays, the all-clear), but the
    # corridor stops short of it: FAR waits for a firmer prediction
    assert th.impact_lon is not None
    assert th.impact_lon > 137.5
    assert th.impact_t is not None
    assert th.impact_t > 250.0
    assert [r.code for r in th.risks] == ["NEAR"]
    assert not th.corridor.intersects(reg.get("FAR").geometry)
    # the previous rule (no hold) named the far end at once
    old = assess(tr, reg, ThreatConfig(boost_hold_fraction=0.0), origin=origin, thrust=60.0)
    assert [r.code for r in old.risks] == ["FAR", "NEAR"]
    # an area the object could reach within boost_hold_s is never held back
    soon = assess(tr, reg, ThreatConfig(boost_hold_s=400.0), origin=origin, thrust=60.0)
    assert [r.code for r in soon.risks] == ["FAR", "NEAR"]


def test_boost_hold_keeps_the_near_part_of_a_long_corridor() -> None:
    # a fast, long flight: the 70 % point lies beyond boost_hold_s, and the
    # corridor reaches it (areas there are named although > 180 s away)
    reg = grid_registry()
    th = assess(_boosting_east((3000.0, 0.0, 1500.0)), reg, origin=(38.0, 129.1, 200.0), thrust=60.0)
    assert th.impact_lon is not None
    assert th.impact_lon > 145.0
    by = {r.code: r.t for r in th.risks}
    assert max(by.values()) > 180.0
    assert "JP-0713" in by  # ~140 E, 2/3 of the way
    assert not any(c.startswith("sea:") for c in by)  # east of 144 E: the last 30 %


def test_boost_hold_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match="boost_hold_fraction"):
        ThreatConfig(boost_hold_fraction=1.0)


@pytest.mark.parametrize("flag", ["manoeuvring", "may_manoeuvre"])
def test_a_manoeuvring_footprint_names_its_areas_however_wide(flag: str) -> None:
    """A re-entry seen to manoeuvre (``manoeuvring``), or a missile that may
    still pull up (``may_manoeuvre``: its ballistic fall and the glide it could
    fly), reports a footprint hundreds of km long: unlike an unsettled
    prediction, its areas are named; coasting (no plot behind the state) it is
    unsettled again."""
    reg = grid_registry()
    foot = ImpactPrediction(
        t=1600.0,
        lat=36.5,
        lon=134.0,
        sigma_t_s=30.0,
        ellipse=Ellipse(semi_major_m=200e3, semi_minor_m=40e3, bearing_deg=90.0),
    )
    path = [(36.5, 130.5), (36.5, 132.5)]
    plain = assess(_track(path, (36.5, 134.0), impact=foot), reg)
    man = assess(_track(path, (36.5, 134.0), impact=foot, **{flag: True}), reg)
    coast = assess(_track(path, (36.5, 134.0), impact=foot, status="coasting", **{flag: True}), reg)
    impact = {r.code for r in man.risks if r.reason == "impact"}
    assert not any(r.reason == "impact" for r in plain.risks)
    assert not any(r.reason == "impact" for r in coast.risks)
    # the footprint runs 200 km (2.2 deg) either side of 134.0 E along 36.5 N:
    # boxes from 131-132 E (column 7) to 136-137 E (column 12)
    cols = sorted(int(c[-2:]) for c in impact)
    assert cols[0] <= 8, impact
    assert cols[-1] >= 11, impact
    assert {r.code for r in plain.risks} <= {r.code for r in man.risks}


def test_a_path_ending_at_its_rounded_impact_reads_the_ellipse_across_the_flight() -> None:
    """A track's path travels rounded to 5 decimals (fusion/reports.py) and
    ends at the impact; the corridor's cross-track radius at the impact is the
    ellipse's radius across the flight's heading. Read across the heading of
    the few decimetres between the rounded end and the exact impact (here due
    north: the rounding is in latitude), it was the ellipse's semi-major: 20 km
    for an ellipse 20 x 2 km flown eastwards, naming the row north of it (in a
    drill of a depressed SRBM, a 186 x 1.6 km footprint's corridor was 10 km
    or 45 km wide at its end depending on which way the rounding went)."""
    reg = grid_registry()
    imp_lat = 36.95 + 4e-6  # 5.5 km south of the 37 N row boundary
    foot = ImpactPrediction(
        t=1600.0,
        lat=imp_lat,
        lon=134.0,
        sigma_t_s=30.0,
        ellipse=Ellipse(semi_major_m=20e3, semi_minor_m=2e3, bearing_deg=90.0),
    )
    tr = _track([(36.95, 130.5), (36.95, 132.5), (round(imp_lat, 5), 134.0)], (imp_lat, 134.0), impact=foot)
    codes = {r.code for r in assess(tr, reg).risks}
    assert any(c.startswith("JP-06") for c in codes), codes
    assert not any(c.startswith(("JP-07", "JP-05")) for c in codes), codes
