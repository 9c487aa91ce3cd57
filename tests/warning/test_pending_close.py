"""The holds of the default policy see an area whose correction is pending.

An area a track named stays warned while the missile could still reach it
(an uncertain far end: ``threat.reach``) and, once the object is seen to
manoeuvre, until it has come down. An area the forecast withdrew is told the
correction only after ``cancel_hold_s`` (a threat that returns within the hold
sends nothing): until then its story is open, and it was named before. The
holds used to look only at what the track warns *now*: an area withdrawn a
report earlier got "it was a mistake" while the missile could still reach it,
or while it manoeuvred, and a new Alert when the next forecast named it again.
"""

from __future__ import annotations

import msgspec
import shapely
from warnhelpers import FakeRegistry, descending_body
from warnhelpers import area_north as _area_north

from tocsin.warning import WarningEngine
from tocsin.warning.policy import WarningConfig
from tocsin.warning.threat import assess
from tocsin.wire import make
from tocsin.wire.messages import Envelope, TrackBody

T0 = 1.0e9


def _body(
    t: float,
    north_m: float,
    *,
    semi_major: float = 3_000.0,
    semi_minor: float = 300.0,
    manoeuvring: bool = False,
) -> TrackBody:
    """A descending object whose impact is at T0 + 200 s; its whole forecast
    moved ``north_m`` north."""
    return descending_body(
        t, north_m, T0 + 200.0 - t, semi_major=semi_major, semi_minor=semi_minor, manoeuvring=manoeuvring
    )


def _story(reports: list[TrackBody], reg: FakeRegistry) -> list[tuple[float, str]]:
    """The area's messages (time from T0, "Alert"/"Update"/"Cancel"/close
    reason), one report each, the engine advanced every second in between."""
    eng = WarningEngine(WarningConfig(), registry=reg)
    out: list[Envelope] = []
    t = T0
    for i, b in enumerate(reports):
        while t + 1.0 < b.t:
            t += 1.0
            out += eng.advance(t)
        t = b.t
        out += eng.push(make("track", b, partner="US", source="fusion", seq=i + 1, sent=b.t))
    return [(round(e.body.t - T0, 1), e.body.close or e.body.msg_type) for e in out]


def test_a_manoeuvre_holds_an_area_whose_correction_is_pending() -> None:
    # named (4.9 km from the path), then the forecast moves 1.5 km south (6.6
    # km: withdrawn, the Cancel waits 20 s); 5 s later the tracker reports the
    # re-entry manoeuvring: every area named since stays until it has come down
    reg = _area_north(5_100.0)
    assert assess(_body(T0, 200.0), reg).codes == {"sea:JP-A"}
    assert assess(_body(T0, -1_500.0), reg).codes == frozenset()
    reports = [_body(T0 + 2.0 * i, 200.0) for i in range(1, 4)]
    reports += [_body(T0 + 8.0, -1_500.0), _body(T0 + 10.0, -1_500.0)]
    reports += [_body(T0 + 12.0 + 2.0 * i, -1_500.0, manoeuvring=True) for i in range(20)]
    story = _story(reports, reg)
    assert story == [(2.0, "Alert")], story


def test_an_uncertain_far_end_holds_an_area_whose_correction_is_pending() -> None:
    # a box 130 km north of the impact, named while the forecast lies 126 km
    # north; withdrawn when it comes back south; then the prediction unsettles
    # (a 200-km ellipse): the corridor stops where it is wider than
    # max_buffer_m and names nothing there, but the box lies in what the
    # missile could still reach beyond that; 30 s later a settled forecast
    # names it again
    reg = _area_north(130_000.0)
    unsettled = {"semi_major": 200_000.0, "semi_minor": 200_000.0}
    th = assess(_body(T0, 0.0, **unsettled), reg)
    assert th.codes == frozenset()
    assert th.reach is not None
    assert shapely.intersects(th.reach, reg.get("sea:JP-A").geometry)
    assert assess(_body(T0, 126_000.0), reg).codes == {"sea:JP-A"}
    reports = [_body(T0 + 2.0, 126_000.0), _body(T0 + 4.0, 0.0)]
    reports += [_body(T0 + 6.0 + 2.0 * i, 0.0, **unsettled) for i in range(20)]
    reports += [_body(T0 + 46.0, 126_000.0)]
    story = _story(reports, reg)
    assert story == [(2.0, "Alert")], story


def test_a_closed_story_is_not_held_by_the_track_that_withdrew_it_in_the_story_before() -> None:
    # F-1 names the area and withdraws it; its Cancel goes out (F-1 silent
    # meanwhile). F-2 opens a new story there and withdraws it. F-1 then
    # manoeuvres: it named the area in the closed story, not in this one, so
    # F-2's correction goes out
    reg = _area_north(5_100.0)
    eng = WarningEngine(WarningConfig(), registry=reg)
    t, seq = T0, 0
    msgs: list[str] = []

    def push(tid: str, shift: float, *, manoeuvring: bool = False) -> None:
        nonlocal seq
        seq += 1
        b = msgspec.structs.replace(_body(t, shift, manoeuvring=manoeuvring), id=tid)
        msgs.extend(
            str(e.body.close or e.body.msg_type)
            for e in eng.push(make("track", b, partner="US", source="fusion", seq=seq, sent=t))
        )

    for s in (200.0, -1_500.0):
        t += 1.0
        push("F-1", s)
    t += 25.0
    msgs.extend(str(e.body.close or e.body.msg_type) for e in eng.advance(t))  # F-1's correction
    for s in (200.0, -1_500.0):
        t += 1.0
        push("F-2", s)
    t += 5.0
    push("F-1", -1_500.0, manoeuvring=True)
    t += 25.0
    msgs.extend(str(e.body.close or e.body.msg_type) for e in eng.advance(t))
    assert msgs == ["Alert", "error", "Alert", "error"], msgs
