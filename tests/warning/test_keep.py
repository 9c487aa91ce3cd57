"""The hysteresis of the corridor and the ellipse (threat.keep_region, engine._hold).

A forecast refreshed every scan wanders within its own uncertainty. An area at
the corridor's edge must not be named, cancelled and named again as it does
(junk-flood's sea:KR-31: Cancel and Alert 0.2 s apart), yet an area the forecast
has clearly left must still be corrected."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from warnhelpers import BOX_LAT0 as LAT0
from warnhelpers import BOX_LON_IMP as LON_IMP
from warnhelpers import M_LAT, FakeArea, FakeRegistry, descending_body, grid_registry
from warnhelpers import area_north as _area_north

from tocsin.geo import geodetic_to_ecef
from tocsin.warning import WarningEngine
from tocsin.warning.policy import WarningConfig
from tocsin.warning.threat import Kept, ThreatConfig, assess, keep_region, offset
from tocsin.wire import make
from tocsin.wire.messages import Ellipse, Envelope, ImpactPrediction, TrackBody

FLOOR = ThreatConfig().min_buffer_m


def _body(t: float, shift_m: float, *, semi_major: float = 3_000.0, semi_minor: float = 300.0) -> TrackBody:
    """A descending object 60 s before its impact; its whole forecast moved
    ``shift_m`` north."""
    return descending_body(t, shift_m, 60.0, semi_major=semi_major, semi_minor=semi_minor)


def _env(body: TrackBody, seq: int) -> Envelope:
    return make("track", body, partner="US", source="fusion", seq=seq, sent=body.t)


def _held(kept: Kept | None, area: shapely.Geometry) -> bool:
    assert kept is not None
    return "x" in kept.times([FakeArea("x", "sea", "JP", "x", "x", "x", area)])


def _story(shifts: list[float], reg: FakeRegistry, dt: float = 2.0, *, keep: bool = True) -> list[str]:
    """The area's messages ("Alert", "Update", "Cancel", "AllClear") for a
    forecast moved by each shift in turn, one report every ``dt`` s (each
    report a fresh forecast, as the tracker's are)."""
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=keep)), registry=reg)
    t = 1.0e9
    out: list[Envelope] = []
    for i, s in enumerate(shifts):
        t += dt
        # each report predicts its impact 60 s ahead: the object is never past it
        out += eng.push(_env(_body(t, s), i + 1))
    out += eng.advance(t + 30.0)
    return [("Cancel" if e.body.msg_type == "Cancel" else e.body.msg_type) for e in out]


def test_a_point_wandering_within_its_uncertainty_is_one_story() -> None:
    # the area 5.1 km north: named when the forecast is 200 m north (4.9 km),
    # not when it is 200 m south (5.3 km); the ellipse's 95 % across is 300 m
    reg = _area_north(5_100.0)
    assert assess(_body(0.0, 200.0), reg).codes == {"sea:JP-A"}
    assert assess(_body(0.0, -200.0), reg).codes == frozenset()
    # in, then out for 40 s (past the 20-s cancel hold), then in again
    shifts = [200.0] * 5 + [-200.0] * 20 + [200.0] * 5 + [-200.0] * 20
    msgs = _story(shifts, reg)
    assert msgs == ["Alert"], msgs
    # without the hysteresis (the default policy): a correction, then a new Alert
    assert _story(shifts, reg, keep=False) == ["Alert", "Cancel", "Alert", "Cancel"]


def test_a_held_area_is_told_the_time_the_forecast_gives_now() -> None:
    # named while the object is 60 s out; held by later reports: its time
    # follows theirs (an older report's time would announce the hazard early)
    reg = _area_north(5_100.0)
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    t0 = 1.0e9
    eng.push(_env(_body(t0, 200.0), 1))
    first = eng._by_area["JP"]["sea:JP-A"]["F-1"].t
    eng.push(_env(_body(t0 + 40.0, -200.0), 2))
    held = eng._by_area["JP"]["sea:JP-A"]["F-1"]
    assert held.t > first + 30.0


def test_a_forecast_that_has_clearly_left_is_corrected() -> None:
    # named, then the forecast moves 1.5 km south: 6.6 km from the area, past
    # the allowance around every point its 95 % ellipse admits
    reg = _area_north(5_100.0)
    shifts = [200.0] * 5 + [-1_500.0] * 30
    assert _story(shifts, reg) == ["Alert", "Cancel"]


def test_keep_shrinks_with_the_uncertainty() -> None:
    # the same offset is held by a wide ellipse and released by a narrow one
    reg = _area_north(5_100.0)
    area = reg.get("sea:JP-A").geometry
    wide = keep_region(_body(0.0, -600.0, semi_major=3_000.0, semi_minor=1_500.0))
    narrow = keep_region(_body(0.0, -600.0, semi_major=3_000.0, semi_minor=300.0))
    assert _held(wide, area)
    assert not _held(narrow, area)


GRID = grid_registry(lat0=33.0, lat1=40.0, lon0=127.0, lon1=137.0, step=0.25)

report = st.fixed_dictionaries(
    {
        "lat": st.floats(min_value=34.0, max_value=38.0),
        "lon0": st.floats(min_value=128.0, max_value=132.0),
        "length": st.floats(min_value=0.2, max_value=3.0),
        "semi": st.floats(min_value=200.0, max_value=60e3),
        "ratio": st.floats(min_value=0.02, max_value=1.0),
        "bearing": st.floats(min_value=0.0, max_value=180.0),
        "sigma": st.floats(min_value=20.0, max_value=8_000.0),
        "conf": st.sampled_from([0.95, 0.9, 0.99]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report)
def test_every_area_named_is_kept(u: dict[str, float]) -> None:
    """What names an area lies inside what keeps it: a report never withdraws
    an area it names itself (keep_region contains the corridor and the
    ellipse's areas)."""
    lat, lon0, length = u["lat"], u["lon0"], u["length"]
    x = geodetic_to_ecef(lat, lon0, 150e3)
    lons = np.linspace(lon0, lon0 + length, 6)
    body = TrackBody(
        id="F-1",
        t=0.0,
        state_ecef=[*map(float, x), 2_500.0, 0.0, -500.0],
        cov=list(np.diag([u["sigma"] ** 2] * 3 + [20.0**2] * 3).ravel()),
        status="confirmed",
        class_="ballistic",
        impact=ImpactPrediction(
            t=300.0,
            lat=lat,
            lon=lon0 + length,
            sigma_t_s=2.0,
            ellipse=Ellipse(
                semi_major_m=u["semi"],
                semi_minor_m=u["semi"] * u["ratio"],
                bearing_deg=u["bearing"],
                confidence=u["conf"],
            ),
        ),
        phase="ballistic",
        quality=1.0,
        path=[[lat, float(lo), 300.0 * i / 5] for i, lo in enumerate(lons)],
    )
    named = assess(body, GRID).codes
    keep = keep_region(body)
    for code in named:
        assert _held(keep, GRID.get(code).geometry), code


def _expected(shifts: list[float], gap: float, dt: float) -> list[str]:
    """The story the hysteresis promises, from the forecasts alone (assess
    and keep_region, tested on their own above): Alert when a report names
    the area; once named, a Cancel only when every report for ``cancel_hold_s``
    has its allowance clear of the area (or the last ones, the engine then
    advancing 30 s); a report that admits it again before that continues
    the same story."""
    reg = _area_north(gap)
    area = reg.get("sea:JP-A").geometry
    hold = WarningConfig().lifecycle.cancel_hold_s
    story: list[str] = []
    open_, clear_since = False, None
    for i, s in enumerate(shifts):
        t = (i + 1) * dt
        b = _body(1.0e9 + t, s)
        named = bool(assess(b, reg).codes)
        if not open_:
            if named:
                story.append("Alert")
                open_, clear_since = True, None
            continue
        if named or _held(keep_region(b), area):
            clear_since = None
            continue
        clear_since = t if clear_since is None else clear_since
        if t - clear_since >= hold - 1e-9:
            story.append("Cancel")
            open_, clear_since = False, None
    if open_ and clear_since is not None:
        story.append("Cancel")
    return story


# derandomize: a seeded slice in the suite (CI must not depend on what a random
# search happens to find; benchmarks/warning_stories.py is the long search);
# the cases random searches found are pinned as examples
wander_runs = st.lists(
    st.tuples(st.floats(min_value=-250.0, max_value=250.0), st.integers(min_value=1, max_value=25)),
    min_size=2,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    gap=st.floats(min_value=4_950.0, max_value=5_250.0),
    centre=st.floats(min_value=-125.0, max_value=125.0),
    runs=wander_runs,
    dt=st.floats(min_value=1.0, max_value=4.0),
)
def test_a_wander_within_the_forecasts_own_95_percent_never_cancels(
    gap: float, centre: float, runs: list[tuple[float, int]], dt: float
) -> None:
    """A forecast wandering by less than its own 95 % across (300 m; here
    within 250 m: the allowance's polygons lie up to ~25 m inside their
    circles) never clears the allowance of an area it named: at most one
    Alert and no correction."""
    shifts = [centre + s / 2.0 for s, n in runs for _ in range(n)]
    msgs = _story(shifts, _area_north(gap), dt)
    assert msgs.count("Alert") <= 1, msgs
    assert "Cancel" not in msgs, msgs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    gap=st.floats(min_value=4_950.0, max_value=5_250.0),
    runs=wander_runs,
    dt=st.floats(min_value=1.0, max_value=4.0),
)
# the fresh-clone CI of 06c77e5 (session 13): withdrawn, back inside before the Cancel went out
@example(gap=5_151.0, runs=[(150.0, 1), (-151.0, 1), (0.0, 20), (150.0, 1)], dt=1.0)
# benchmarks/warning_stories.py (session 14): out past the hold, then back: two stories by design
@example(
    gap=5_221.4490470516375,
    runs=[
        (242.16738682321147, 15),
        (163.09222644330356, 16),
        (-85.3295355830472, 16),
        (250.0, 25),
        (0.0, 13),
    ],
    dt=1.8248448107304795,
)
def test_a_wander_is_told_what_its_forecasts_allowance_says(
    gap: float, runs: list[tuple[float, int]], dt: float
) -> None:
    """Whatever the wander (its spread may exceed the 95 % across: then the
    allowance can clear the area), the area's story is the one the forecasts
    give (:func:`_expected`): a second Alert only after the forecast stayed
    clear of it for the cancel hold, never after a Cancel sent while a newer
    forecast admitted it again."""
    shifts = [s for s, n in runs for _ in range(n)]
    msgs = [m for m in _story(shifts, _area_north(gap), dt) if m != "Update"]
    assert msgs == _expected(shifts, gap, dt), (msgs, _expected(shifts, gap, dt))


def test_a_forecast_back_inside_the_allowance_before_the_cancel_is_sent_keeps_one_story() -> None:
    # found by hypothesis in the fresh-clone CI of 06c77e5 (session 13): the
    # forecast 150 m north names the area, 151 m south clears the allowance of
    # it by ~2 m (withdrawn: its Cancel waits for the cancel hold), then 20 s
    # of reports at 0 m admit it again: the pending Cancel is withdrawn and the
    # area held, so the report 150 m north continues the same story
    shifts = [150.0, -151.0] + [0.0] * 20 + [150.0]
    assert _story(shifts, _area_north(5_151.0), 1.0) == ["Alert"]
    # without the hysteresis: a correction, then a new Alert
    assert _story(shifts, _area_north(5_151.0), 1.0, keep=False) == ["Alert", "Cancel", "Alert"]


def test_a_withdrawn_area_held_again_is_corrected_a_full_hold_after_the_forecast_leaves() -> None:
    # withdrawn, admitted again for 5 s, then clearly left (1.5 km south): one
    # correction, a full cancel hold after the last report that admitted it
    # (the pending Cancel was withdrawn, not merely delayed)
    reg = _area_north(5_151.0)
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    hold = WarningConfig().lifecycle.cancel_hold_s
    t = 1.0e9
    shifts = [150.0, -151.0] + [0.0] * 5 + [-1_500.0] * 40
    sent: list[tuple[str, float]] = []
    last_in = t
    for i, s in enumerate(shifts):
        t += 1.0
        sent += [(e.body.msg_type, float(e.sent)) for e in eng.push(_env(_body(t, s), i + 1))]
        if s == 0.0:
            last_in = t
    assert [m for m, _ in sent] == ["Alert", "Cancel"], sent
    assert sent[1][1] >= last_in + 1.0 + hold - 1e-6, (sent, last_in)


def test_a_closed_story_is_not_held_again_by_the_track_that_withdrew_it() -> None:
    # F-1 names the area and withdraws it; its Cancel goes out (F-1 silent
    # meanwhile). F-2 opens a new story there and withdraws it. F-1's next
    # forecast admits the area, but F-1 named it in the closed story, not in
    # this one: F-2's correction goes out
    reg = _area_north(5_151.0)
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    t, seq = 1.0e9, 0
    msgs: list[str] = []

    def push(tid: str, shift: float) -> None:
        nonlocal seq
        seq += 1
        body = msgspec.structs.replace(_body(t, shift), id=tid)
        msgs.extend(e.body.msg_type for e in eng.push(_env(body, seq)))

    for s in (150.0, -400.0):
        t += 1.0
        push("F-1", s)
    t += 25.0
    msgs.extend(e.body.msg_type for e in eng.advance(t))  # F-1's Cancel
    for s in (150.0, -400.0):
        t += 1.0
        push("F-2", s)
    t += 5.0
    push("F-1", 0.0)  # admits the area (it would hold it, had it named it in this story)
    t += 25.0
    msgs.extend(e.body.msg_type for e in eng.advance(t))
    assert msgs == ["Alert", "Cancel", "Alert", "Cancel"], msgs


def test_an_area_withdrawn_while_another_track_keeps_it_is_held_when_its_close_comes_due() -> None:
    # F-1 and F-2 name the area; F-1 withdraws it while F-2 still keeps it
    # (no close pending: F-1's record waits), then F-2 withdraws it too (its
    # Cancel pending) and F-1's newer forecasts admit it again: held, one story
    reg = _area_north(5_151.0)
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    t = 1.0e9
    msgs: list[str] = []
    plan = [("F-1", 150.0), ("F-2", 150.0), ("F-1", -400.0), ("F-1", -400.0), ("F-2", -400.0)]
    plan += [("F-1", 0.0)] * 25 + [("F-1", 150.0)]
    for seq, (tid, shift) in enumerate(plan, start=1):
        t += 1.0
        body = msgspec.structs.replace(_body(t, shift), id=tid)
        msgs.extend(e.body.msg_type for e in eng.push(_env(body, seq)))
    assert msgs == ["Alert"], msgs


def test_offset_placement_is_what_the_tests_assume() -> None:
    # the area's south edge lies ~gap north of the impact (M_LAT within 0.5 %)
    la, _ = offset(np.array([LAT0]), np.array([LON_IMP]), np.array([0.0]), np.array([5_100.0]))
    assert math.isclose(float(la[0]), LAT0 + 5_100.0 / M_LAT, rel_tol=0, abs_tol=0.0005)


def test_a_piece_keeps_only_where_it_may_fall() -> None:
    # an area 5.1 km beside the path 100 km before the impact: the corridor's
    # hysteresis holds it, the ellipse's (all a separated piece names) does not
    lon = LON_IMP - 0.9
    s = LAT0 + 5_100.0 / M_LAT
    side = shapely.box(lon - 0.05, s, lon + 0.05, s + 0.1)
    body = _body(0.0, 0.0)
    assert _held(keep_region(body), side)
    assert not _held(keep_region(body, path=False), side)


def test_a_record_held_again_while_another_track_keeps_the_area_outlives_its_all_clear() -> None:
    # F-1 and F-2 name the area; F-2 withdraws it while F-1 keeps it, then
    # F-2's forecasts admit it again. F-1 flies over the area (its sub-point
    # within min_buffer_m) and its forecast moves away: F-1's risk ends as
    # "passed", an all-clear with no hold. F-2's newest forecast still admits
    # the area: it holds it (before: "passed" while F-2 admitted it, then a new
    # Alert when F-2 named it again)
    reg = _area_north(5_151.0)
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    t, seq = 1.0e9, 0
    msgs: list[tuple[str, str]] = []
    over = geodetic_to_ecef(LAT0 + 5_300.0 / M_LAT, LON_IMP, 20e3)

    def push(tid: str, shift: float, *, overhead: bool = False) -> None:
        nonlocal seq
        seq += 1
        body = msgspec.structs.replace(_body(t, shift), id=tid)
        if overhead:
            body = msgspec.structs.replace(body, state_ecef=[*map(float, over), 0.0, 2_200.0, -1_500.0])
        msgs.extend((tid, str(e.body.close or e.body.msg_type)) for e in eng.push(_env(body, seq)))

    plan = [("F-1", 150.0, False), ("F-2", 150.0, False), ("F-2", -400.0, False), ("F-2", 0.0, False)]
    plan += [("F-1", 150.0, True)] + [("F-2", 0.0, False)] * 12 + [("F-1", -1_500.0, True)]
    plan += [("F-2", 0.0, False)] * 3 + [("F-2", 150.0, False)]
    for tid, shift, overhead in plan:
        t += 1.0
        push(tid, shift, overhead=overhead)
    assert "sea:JP-A" in eng._tracks["F-1"].reached
    assert msgs == [("F-1", "Alert")], msgs


def test_the_default_policy_keeps_what_it_named() -> None:
    # session 15: keep_named is on by default (docs/warning.md, "Leaving"); the
    # wander of the first test, in and out for 40 s at a 5.1-km edge, is one
    # story with the policy as shipped
    assert ThreatConfig().keep_named is True
    assert WarningConfig().threat_config().keep_named is True
    reg = _area_north(5_100.0)
    eng = WarningEngine(WarningConfig(), registry=reg)
    t = 1.0e9
    msgs: list[str] = []
    shifts = [200.0] * 5 + [-200.0] * 20 + [200.0] * 5 + [-200.0] * 20
    for i, s in enumerate(shifts):
        t += 2.0
        msgs += [e.body.msg_type for e in eng.push(_env(_body(t, s), i + 1))]
    msgs += [e.body.msg_type for e in eng.advance(t + 30.0)]
    assert msgs == ["Alert"], msgs
