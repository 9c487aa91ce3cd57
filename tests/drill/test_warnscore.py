"""Warning scores: areas under the true path (the policy's own definition),
lead times, recall and precision, false alerts, explicit corrections, and each
(public, area) story from first contact to close."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tocsin.drill.warnscore import (
    UNDER_PATH_M,
    AreaShape,
    GroundTrack,
    areas_at_risk,
    distance_from_paths_km,
    score_warnings,
)
from tocsin.wire import AlertBody

T0 = 1_800_000_000.0
# three unit squares along the equator, and a sea zone beyond them
AREAS = [
    AreaShape("XA-1", shapely.box(0, -1, 1, 1), sea=False),
    AreaShape("XA-2", shapely.box(1, -1, 2, 1), sea=False),
    AreaShape("XA-3", shapely.box(5, -1, 6, 1), sea=False),
    AreaShape("sea:X", shapely.box(2, -1, 4, 1), sea=True),
]


def _track(boost_end: float = 10.0, ballistic: bool = True) -> GroundTrack:
    t = T0 + np.arange(0.0, 301.0)
    lon = np.linspace(-1.0, 3.0, t.size)  # crosses XA-1, XA-2, then falls in sea:X
    return GroundTrack(
        object="M1",
        t=t,
        lat=np.zeros_like(t),
        lon=lon,
        launch_t=T0,
        boost_end_t=T0 + boost_end,
        impact_t=T0 + 300.0,
        impact_lat=0.0,
        impact_lon=3.0,
        ballistic=ballistic,
    )


def _alert(
    i: int,
    t: float,
    areas: list[str],
    msg_type: str = "Alert",
    refs: tuple[str, ...] = (),
    closes: list[str] | None = None,
    close: str | None = None,
    onset: float | None = None,
) -> AlertBody:
    return AlertBody(
        id=f"A{i}",
        t=T0 + t,
        msg_type=msg_type,  # type: ignore[arg-type]
        status="Exercise",
        tracks=["F-1"],
        areas=areas,
        references=list(refs),
        closes=closes or [],
        close=close,  # type: ignore[arg-type]
        onset=None if onset is None else T0 + onset,
    )


def test_areas_at_risk_are_overflown_or_hit_in_order() -> None:
    risk = areas_at_risk([_track()], AREAS)
    assert sorted(risk) == ["XA-1", "XA-2", "sea:X"]
    assert risk["XA-1"] < risk["XA-2"] < risk["sea:X"]
    # XA-1: the path comes within 5 km (under the path) 3.4 s before it reaches lon 0 at 75 s
    assert risk["XA-1"] - T0 == pytest.approx(75.0 - 5.0 / (4 * 111.195 / 300), abs=0.6)


def test_under_the_path_is_the_policys_corridor_floor() -> None:
    """One definition for policy and scorer: an area 3.5 km beside the real path
    is under it (the policy's 5-km debris allowance warns it), 7 km is not."""
    from tocsin.warning.threat import ThreatConfig

    assert ThreatConfig().min_buffer_m == UNDER_PATH_M
    near = AreaShape("NEAR", shapely.box(1.0, 3.5 / 111.195, 1.5, 0.3), sea=False)
    off = AreaShape("OFF", shapely.box(1.0, 7.0 / 111.195, 1.5, 0.3), sea=False)
    risk = areas_at_risk([_track()], [near, off])
    assert set(risk) == {"NEAR"}
    # a narrower policy makes the same area "not at risk": the width is the policy's
    assert areas_at_risk([_track()], [near], under_path_m=3_000.0) == {}


def test_a_narrow_strip_between_two_samples_is_overflown_at_the_interpolated_time() -> None:
    # samples 10 s apart at lon 0.0 and 0.5; a 0.1-deg strip at lon 0.2..0.3 lies between
    t = T0 + np.array([0.0, 10.0, 20.0])
    gt = GroundTrack(
        object="M1",
        t=t,
        lat=np.zeros(3),
        lon=np.array([-0.5, 0.0, 0.5]),
        launch_t=T0,
        boost_end_t=T0,
        impact_t=None,
        impact_lat=None,
        impact_lon=None,
    )
    strip = AreaShape("XA-9", shapely.box(0.2, -1, 0.3, 1), sea=False)
    risk = areas_at_risk([gt], [strip])
    assert risk["XA-9"] - T0 == pytest.approx(14.0, abs=1e-6)


def test_boost_phase_overflight_does_not_count_and_aircraft_never_do() -> None:
    # XA-1 lies under lon 0..1, flown over between 75 s and 150 s
    assert "XA-1" not in areas_at_risk([_track(boost_end=160.0)], AREAS)
    assert areas_at_risk([_track(ballistic=False)], AREAS) == {}


def test_perfect_warning() -> None:
    risk = areas_at_risk([_track()], AREAS)
    s = score_warnings([_alert(1, 20.0, ["XA-1", "XA-2", "sea:X"])], risk, T0, sea_codes=["sea:X"])
    assert s.first_alert_s == 20.0
    assert s.area_recall == 1.0
    assert s.area_precision == 1.0
    assert s.false_alerts == 0
    assert s.min_lead_s == pytest.approx(71.6 - 20.0, abs=1.0)  # under the path from 71.6 s
    assert s.missed_areas == []


def test_wrong_area_then_corrected_and_a_missed_one() -> None:
    risk = areas_at_risk([_track()], AREAS)
    alerts = [
        _alert(1, 30.0, ["XA-1"]),
        _alert(2, 30.0, ["XA-3"]),
        _alert(3, 90.0, [], "Cancel", ("A2",), closes=["XA-3"], close="error"),  # corrected after 60 s
        _alert(4, 200.0, ["sea:X"]),
    ]
    s = score_warnings(alerts, risk, T0, sea_codes=["sea:X"])
    assert s.areas_warned == ["XA-1", "XA-3", "sea:X"]
    assert s.missed_areas == ["XA-2"]
    assert s.false_areas_land == ["XA-3"]
    assert s.time_to_correct_s == {"XA-3": pytest.approx(60.0)}
    assert s.area_recall == pytest.approx(2 / 3)
    assert s.area_precision == pytest.approx(2 / 3)
    # XA-1: warned 30 s, under the path from 71.6 s; the sea zone: warned at 200 s,
    # under the path from ~222 s (its impact at 300 s comes later)
    assert s.lead_s["XA-1"] == pytest.approx(41.6, abs=1.0)
    assert s.min_lead_s == pytest.approx(22.1, abs=1.0)


def test_precision_and_recall_have_their_own_denominators() -> None:
    """Warned and at-risk sets of different sizes: precision = hits / warned,
    recall = hits / at risk (a score that swapped them would pass a test with
    equal sizes)."""
    risk = areas_at_risk([_track()], AREAS)  # XA-1, XA-2, sea:X
    extra = [AreaShape(f"XB-{i}", shapely.box(10 + i, 5, 11 + i, 6), sea=False) for i in range(3)]
    alerts = [_alert(i, 10.0, [c]) for i, c in enumerate(["XA-1", "XB-0", "XB-1", "XB-2"])]
    s = score_warnings(alerts, risk, T0)
    assert len(s.areas_warned) == 4
    assert len(s.areas_at_risk) == 3
    assert s.area_precision == pytest.approx(1 / 4)
    assert s.area_recall == pytest.approx(1 / 3)
    del extra


def test_a_silent_drop_is_no_correction_and_no_close() -> None:
    """An Update that simply stops naming an area tells the people there
    nothing: not a correction, not a close."""
    risk = areas_at_risk([_track()], AREAS)
    alerts = [
        _alert(1, 30.0, ["XA-1", "XA-3"]),
        _alert(2, 90.0, ["XA-1"], "Update", ("A1",)),  # drops XA-3 silently
    ]
    s = score_warnings(alerts, risk, T0, partners=["JP", "JP"])
    assert s.time_to_correct_s == {"XA-3": None}
    assert "JP XA-3" in s.not_closed
    assert s.explicit_close_rate == 0.0  # XA-1 still open too


def test_stories_first_contact_close_rate_messages_and_announced_time() -> None:
    risk = areas_at_risk([_track()], AREAS)
    ev = risk["XA-1"] - T0  # ~71.6 s
    alerts = [
        _alert(1, 10.0, ["XA-1"], onset=40.0),  # announced as minute 1 (60 s)
        _alert(2, 20.0, ["XA-1"], "Update", ("A1",), onset=75.0),  # minute 1 again: 60 s
        _alert(3, 25.0, ["XA-1"], "Update", ("A1", "A2"), onset=75.0),
        _alert(4, 160.0, [], "Update", ("A1", "A2", "A3"), closes=["XA-1"], close="passed"),
        # the KR public's story of XA-2 starts with an Update it never had an Alert for
        _alert(5, 30.0, ["XA-2"], "Update", ("Z0",)),
        _alert(6, 200.0, [], "Update", ("A5",), closes=["XA-2"], close="passed"),
    ]
    s = score_warnings(alerts, risk, T0, partners=["JP", "JP", "JP", "JP", "KR", "KR"])
    assert s.stories == 2
    assert s.first_contact_alert == pytest.approx(0.5)
    assert s.first_contact_not_alert == ["KR XA-2"]
    assert s.explicit_close_rate == 1.0
    assert s.messages_per_area_max == 4
    assert s.messages_per_area_minute_max == 3  # 10, 20, 25 s within one minute
    # the last announcement before the event said "about minute 1" (60 s)
    assert s.announced_error_s["XA-1"] == pytest.approx(60.0 - ev, abs=1e-6)
    assert ["JP XA-1", "Alert Update Update Update", "close:passed"] in s.story_log


def test_a_false_area_is_corrected_only_when_its_last_warning_is_closed() -> None:
    risk = areas_at_risk([_track()], AREAS)
    alerts = [
        _alert(1, 30.0, ["XA-3"]),
        _alert(2, 40.0, [], "Cancel", ("A1",), closes=["XA-3"], close="error"),  # closed after 10 s ...
        _alert(3, 50.0, ["XA-3"]),  # ... and warned again
        # a second thread (another partner's public) names it too
        _alert(4, 60.0, ["XA-3"]),
        _alert(5, 100.0, [], "Cancel", ("A3",), closes=["XA-3"], close="error"),  # the first closes it
        _alert(6, 250.0, [], "Cancel", ("A4",), closes=["XA-3"], close="error"),  # the second, at last
    ]
    s = score_warnings(alerts, risk, T0, partners=["JP", "JP", "JP", "KR", "JP", "KR"])
    assert s.false_areas_land == ["XA-3"]
    assert s.time_to_correct_s == {"XA-3": pytest.approx(220.0)}
    # still warned by one thread at the end: never corrected
    s = score_warnings(alerts[:5], risk, T0, partners=["JP", "JP", "JP", "KR", "JP"])
    assert s.time_to_correct_s == {"XA-3": None}
    assert s.not_closed == ["KR XA-3"]
    # a Cancel without ``closes`` (another system's, or older) closes what its thread warned
    legacy = [_alert(1, 30.0, ["XA-3"]), _alert(2, 90.0, [], "Cancel", ("A1",))]
    assert score_warnings(legacy, risk, T0).time_to_correct_s == {"XA-3": pytest.approx(60.0)}


def test_late_warning_has_negative_lead_and_alerts_on_nothing_are_false() -> None:
    import msgspec

    risk = areas_at_risk([_track()], AREAS)
    ghost = msgspec.structs.replace(
        _alert(2, 5.0, ["XA-3"]), tracks=["G-9"]
    )  # a track that warned nothing at risk
    s = score_warnings([_alert(1, 100.0, ["XA-1"]), ghost], risk, T0)
    assert s.lead_s["XA-1"] < 0
    assert s.false_alerts == 1
    assert s.time_to_correct_s == {"XA-3": None}
    # the same wrong area named for the real missile's track is a false area, not a false alert
    s = score_warnings([_alert(1, 100.0, ["XA-1"]), _alert(2, 5.0, ["XA-3"])], risk, T0)
    assert s.false_alerts == 0
    assert s.false_areas_land == ["XA-3"]


def test_no_risk_no_alert_is_perfect() -> None:
    s = score_warnings([], {}, T0)
    assert (s.area_recall, s.area_precision, s.false_alerts, s.first_alert_s) == (1.0, 1.0, 0, None)


def test_a_false_areas_distance_from_the_real_path_is_reported() -> None:
    # a strip 0.1 deg north of the path (11.1 km), one far south, one under the
    # boost phase only (the path before boost end does not count)
    gt = _track(boost_end=100.0)  # boost ends at lon 0.33
    shapes = [
        AreaShape("NEAR", shapely.box(1.0, 0.1, 1.5, 0.3), sea=False),
        AreaShape("FAR", shapely.box(1.0, -2.3, 1.5, -2.0), sea=False),
        AreaShape("BOOST", shapely.box(-1.0, -0.05, -0.5, 0.05), sea=False),
        AreaShape("IMPACT", shapely.box(2.9, -0.1, 3.1, 0.1), sea=True),
    ]
    km = distance_from_paths_km([gt], shapes, ["NEAR", "FAR", "BOOST", "IMPACT"])
    assert km["NEAR"] == pytest.approx(11.12, abs=0.05)
    assert km["FAR"] == pytest.approx(222.4, abs=0.5)
    assert km["BOOST"] == pytest.approx(0.83 * 111.2, rel=0.02)  # to lon 0.33, where boost ended
    assert km["IMPACT"] == 0.0
    # the score carries it for the wrongly warned areas only
    risk = areas_at_risk([gt], shapes)
    s = score_warnings(
        [_alert(1, 150.0, ["NEAR", "IMPACT"])],
        risk,
        T0,
        path_km=lambda codes: distance_from_paths_km([gt], shapes, codes),
    )
    assert s.false_areas_land == ["NEAR"]
    assert s.false_area_path_km == {"NEAR": pytest.approx(11.12, abs=0.05)}
