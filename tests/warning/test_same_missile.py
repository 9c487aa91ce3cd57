"""One missile, more than one track: a correction waits for every forecast of it.

With ``keep_named`` (the default) an area a track named leaves only when that
track's forecast has clearly left it (test_keep). A missile can be followed by
more than one track: a track lost or deleted in flight and the same missile
tracked anew (a track born beside it, ``_TrackState.kin``), or pieces that
parted (``parent``). The area's correction ("it was a mistake") must then wait
while *any* live track of that missile still admits the area, or the resident
hears "mistake" and then "take shelter" again when the new track names it.

A salvo's other missiles are not the same missile: they are born beside one
another as well (combined-salvo, duplicates-and-replays), but both fly on; each
tells its own story.

And a track's risk that ended by time (the window of a track lost, or of one
that ended with a settled prediction) while another track kept the area still
belongs to the story it told: found again with a forecast that admits the
area, it holds it (before: no record, and the other track's correction went
out while its newest forecast admitted the area).
"""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warnhelpers import FakeRegistry, descending_body
from warnhelpers import area_north as _area_north

from tocsin.warning import WarningEngine
from tocsin.warning.policy import WarningConfig
from tocsin.warning.threat import assess, keep_region
from tocsin.wire import make
from tocsin.wire.messages import Envelope, TrackBody

T0 = 1.0e9
GAP = 5_151.0  # the area's south edge north of the impact: named at +150 m, held at 0 m, clear at -400 m
HOLD = WarningConfig().lifecycle.cancel_hold_s


def _body(
    tid: str,
    t: float,
    north_m: float,
    *,
    impact: float = T0 + 200.0,
    status: str = "confirmed",
    semi_major: float = 3_000.0,
    parent: str | None = None,
) -> TrackBody:
    """Track ``tid``'s report at ``t``: a descending object whose impact is at
    ``impact``; its whole forecast moved ``north_m`` north."""
    b = descending_body(t, north_m, impact - t, semi_major=semi_major, semi_minor=min(semi_major, 300.0))
    return msgspec.structs.replace(b, id=tid, status=status, parent=parent)


class _Run:
    """One engine, its messages about the area ("Alert", "Update", "Cancel" or
    the close's reason) with their times from T0."""

    def __init__(self, reg: FakeRegistry) -> None:
        self.eng = WarningEngine(WarningConfig(), registry=reg)
        self.t = T0
        self.seq = 0
        self.msgs: list[tuple[float, str]] = []

    def _read(self, out: list[Envelope]) -> None:
        self.msgs += [(round(e.body.t - T0, 1), str(e.body.close or e.body.msg_type)) for e in out]

    def push(self, b: TrackBody) -> None:
        while self.t + 1.0 < b.t:
            self.t += 1.0
            self._read(self.eng.advance(self.t))
        self.t = b.t
        self.seq += 1
        self._read(self.eng.push(make("track", b, partner="US", source="fusion", seq=self.seq, sent=b.t)))

    def advance(self, dt: float) -> None:
        end = self.t + dt
        while self.t + 1.0 <= end:
            self.t += 1.0
            self._read(self.eng.advance(self.t))

    @property
    def story(self) -> list[str]:
        return [m for _, m in self.msgs if m != "Update"]


def test_the_placement_is_what_the_tests_assume() -> None:
    reg = _area_north(GAP)
    area = reg.get("sea:JP-A")
    for north, named, kept in ((150.0, True, True), (0.0, False, True), (-400.0, False, False)):
        b = _body("F-1", T0, north)
        assert bool(assess(b, reg).codes) is named, north
        k = keep_region(b)
        assert k is not None
        assert ("sea:JP-A" in k.times([area])) is kept, north


def test_a_correction_waits_while_the_missile_tracked_anew_admits_the_area() -> None:
    # F-1 names the area, then its forecast clearly leaves it (the Cancel waits
    # 20 s) and F-1 is deleted in flight (impact 197 s ahead). F-2, born beside
    # F-1's last report (the same missile tracked anew), admits the area
    # for 25 s, then names it, then clearly leaves it: one story, corrected a
    # full hold after F-2's forecast left (before: "mistake" 20 s after F-1
    # left, and a new Alert when F-2 named it)
    run = _Run(_area_north(GAP))
    run.push(_body("F-1", T0 + 1.0, 150.0))
    run.push(_body("F-1", T0 + 2.0, -400.0))
    run.push(_body("F-1", T0 + 3.0, -400.0, status="deleted"))
    assert run.eng._tracks["F-1"].ended == "predicted"
    t = T0 + 4.0
    for _ in range(25):
        run.push(_body("F-2", t, 0.0))
        t += 1.0
    assert run.eng._tracks["F-2"].kin == "F-1"
    run.push(_body("F-2", t, 150.0))
    last_in = t
    for _ in range(40):
        t += 1.0
        run.push(_body("F-2", t, -400.0))
    assert run.story == ["Alert", "error"], run.msgs
    cancel_t = next(tc for tc, m in run.msgs if m == "error")
    assert cancel_t >= last_in - T0 + 1.0 + HOLD - 1e-6, run.msgs


def test_a_correction_waits_while_a_piece_that_parted_admits_the_area() -> None:
    # F-1 (the stack) names the area and leaves it; F-2, which parted from it
    # (parent F-1: the re-entry vehicle), admits it: held until F-2 leaves
    run = _Run(_area_north(GAP))
    run.push(_body("F-1", T0 + 1.0, 150.0))
    t = T0 + 2.0
    for _ in range(30):
        run.push(_body("F-1", t, -400.0))
        run.push(_body("F-2", t + 0.5, 0.0, parent="F-1"))
        t += 1.0
    for _ in range(30):
        run.push(_body("F-1", t, -400.0))
        run.push(_body("F-2", t + 0.5, -400.0, parent="F-1"))
        t += 1.0
    assert run.story == ["Alert", "error"], run.msgs
    assert next(tc for tc, m in run.msgs if m == "error") >= 32.0 + HOLD - 1e-6, run.msgs


def test_another_missile_of_a_salvo_does_not_hold_a_correction() -> None:
    # F-2 is born beside F-1 but F-1 flies on (a salvo's next missile): F-1's
    # correction is F-1's; F-2's forecast admitting the area does not hold it
    run = _Run(_area_north(GAP))
    run.push(_body("F-1", T0 + 1.0, 150.0))
    t = T0 + 2.0
    for _ in range(30):
        run.push(_body("F-1", t, -400.0))
        run.push(_body("F-2", t + 0.5, 0.0))
        t += 1.0
    assert run.eng._tracks["F-2"].kin == "F-1"
    assert run.story == ["Alert", "error"], run.msgs
    assert next(tc for tc, m in run.msgs if m == "error") == 2.0 + HOLD, run.msgs


def test_a_track_found_again_after_its_window_holds_what_it_told() -> None:
    # F-1 and F-2 name the area. F-1 is lost with an unsettled forecast (a
    # 200-km ellipse): "tracking lost", the area kept until its window ends
    # (its impact at 80 s + lost_margin_s); F-2 keeps the area named. F-1 is
    # found again with a forecast that admits the area (not naming it); F-2's
    # forecast clearly leaves it. F-1 told the area in this story and its
    # newest forecast admits it: held, corrected a full hold after F-1 leaves
    # too (before: "mistake" 20 s after F-2 left, while F-1 admitted the area)
    run = _Run(_area_north(GAP))
    for i in range(3):
        run.push(_body("F-1", T0 + 1.0 + i, 150.0, impact=T0 + 80.0))
        run.push(_body("F-2", T0 + 1.5 + i, 150.0))
    run.push(_body("F-1", T0 + 4.0, 150.0, impact=T0 + 80.0, status="lost", semi_major=200_000.0))
    window = run.eng._tracks["F-1"].risks["JP"]["sea:JP-A"].until
    assert window is not None
    t = T0 + 5.0
    while t < window + 20.0:
        run.push(_body("F-2", t, 150.0))
        t += 2.0
    f1 = run.eng._tracks.get("F-1")
    assert f1 is None or "sea:JP-A" not in f1.risks.get("JP", {})  # its window ended
    for _ in range(3):
        run.push(_body("F-1", t, 0.0))
        t += 1.0
    for _ in range(15):
        run.push(_body("F-2", t, -400.0))
        run.push(_body("F-1", t + 0.5, 0.0))
        t += 2.0
    last_in = t - 2.0 + 0.5
    for _ in range(20):
        run.push(_body("F-2", t, -400.0))
        run.push(_body("F-1", t + 0.5, -400.0))
        t += 2.0
    assert run.story == ["Alert", "error"], run.msgs
    assert next(tc for tc, m in run.msgs if m == "error") >= last_in - T0 + HOLD - 1e-6, run.msgs


# the same missile tracked anew, at random: F-1 names the area, wanders,
# leaves it (its correction pending or not) and ends in flight (deleted or
# lost); F-2, born beside it, wanders on its own; 1-s reports
runs = st.lists(
    st.tuples(st.sampled_from([150.0, 60.0, 0.0, -100.0, -400.0, -1_500.0]), st.integers(1, 25)),
    min_size=0,
    max_size=3,
)
named = st.tuples(st.just(150.0), st.integers(1, 5))
left = st.tuples(st.sampled_from([-400.0, -1_500.0]), st.integers(1, 19))
shifts = st.builds(lambda a, b, c: [a, *b, c], named, runs, left)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(first=shifts, end=st.sampled_from(["deleted", "lost"]), second=runs)
def test_no_correction_while_a_live_track_of_the_missile_admits_the_area(
    first: list[tuple[float, int]], end: str, second: list[tuple[float, int]]
) -> None:
    """Whatever the two tracks' forecasts, the area is never told "it was a
    mistake" while the live track's newest forecast admits it (names it, or
    its allowance holds it: keep_region); once that forecast has clearly left
    it for good, a story nothing else holds is corrected."""
    reg = _area_north(GAP)
    area = reg.get("sea:JP-A")
    run = _Run(reg)
    t = T0
    for north, n in first:
        for _ in range(n):
            t += 1.0
            run.push(_body("F-1", t, north))
    run.push(_body("F-1", t + 0.5, first[-1][0], status=end))
    admits: list[tuple[float, bool]] = []  # (time from T0, F-2's newest report admits the area)
    for north, n in [*second, (-1_500.0, 40)]:
        for _ in range(n):
            t += 1.0
            b = _body("F-2", t, north)
            k = keep_region(b)
            admits.append((t - T0, bool(assess(b, reg).codes) or (k is not None and bool(k.times([area])))))
            run.push(b)
    for tc, m in run.msgs:
        if m == "error":
            newest = [a for ta, a in admits if ta <= tc]
            assert not (newest and newest[-1]), (tc, run.msgs)
    f1 = run.eng._tracks.get("F-1")
    if f1 is None or "sea:JP-A" not in f1.risks.get("JP", {}):
        # nothing holds the area but F-2, clear of it for 40 s: the story is closed
        assert run.story.count("Alert") == len(run.story) - run.story.count("Alert"), run.msgs
