"""One area's warning story as a state machine: Alert first, Updates only when
the instruction or the announced time changes (rate-limited), an explicit close
last; any sequence of assessments and ticks gives a valid message sequence."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.warning.lifecycle import URGENCY, AreaThread, Cause, Desired, Issue, LifecycleConfig

CFG = LifecycleConfig(
    min_update_interval_s=10.0,
    onset_tolerance_s=30.0,
    onset_later_tolerance_s=90.0,
    time_update_interval_s=10.0,
    all_clear_after_impact_s=60.0,
    cancel_hold_s=20.0,
)


def _d(onset: float = 500.0, instruction: str = "shelter", impact: float | None = 900.0) -> Desired:
    return Desired(onset=onset, instruction=instruction, tracks=("F-1",), impact_t=impact)  # type: ignore[arg-type]


def _th() -> AreaThread:
    return AreaThread("X.JP.JP-01", "JP-01", CFG)


def test_first_contact_is_an_alert_and_nothing_repeats() -> None:
    th = _th()
    [a] = th.update(_d(), 100.0)
    assert (a.msg_type, a.id, a.area, a.references) == ("Alert", "X.JP.JP-01.1.0", "JP-01", ())
    assert a.onset == 500.0
    assert a.expires == 900.0 + CFG.expires_after_impact_s
    assert a.desired is not None
    assert a.desired.instruction == "shelter"
    assert a.tracks == ("F-1",)
    assert th.update(_d(), 101.0) == []
    assert th.update(_d(onset=520.0), 150.0) == []  # later by 20 s: not news
    assert th.tick(105.0) == []


def test_a_more_urgent_instruction_goes_out_at_once_a_less_urgent_one_never() -> None:
    th = _th()
    th.update(_d(), 100.0)
    [u] = th.update(_d(instruction="fall"), 101.0)  # inside the interval: urgency wins
    assert (u.msg_type, u.previous, u.desired.instruction if u.desired else None) == (
        "Update",
        "shelter",
        "fall",
    )
    assert [r.id for r in u.references] == ["X.JP.JP-01.1.0"]
    # back to "overflight only" near the probability threshold: the story does not step down
    assert th.update(_d(instruction="shelter"), 200.0) == []
    assert th.tick(300.0) == []
    # a later Update (earlier time) keeps saying "it may fall here"
    [u2] = th.update(_d(onset=400.0, instruction="shelter"), 301.0)
    assert u2.desired is not None
    assert u2.desired.instruction == "fall"


def test_an_earlier_time_is_news_rate_limited_and_only_if_the_minute_changes() -> None:
    th = _th()
    th.update(_d(onset=500.0), 100.0)
    assert th.update(_d(onset=440.0), 105.0) == []  # earlier by 60 s, but inside the interval
    [u] = th.tick(110.0)
    assert u.onset == 440.0
    # earlier by more than the tolerance, but announced as the same minute: not news
    th2 = _th()
    th2.update(_d(onset=569.0), 0.0)  # 9 min 29 s: announced as minute 9
    assert th2.update(_d(onset=535.0), 50.0) == []  # 34 s earlier, 8 min 55 s: still minute 9
    [u2] = th2.update(_d(onset=400.0), 60.0)
    assert u2.onset == 400.0


def test_time_only_updates_come_at_most_every_time_update_interval() -> None:
    cfg = LifecycleConfig()  # the defaults: 30 s earlier is news, at most every 30 s
    th = AreaThread("X.JP.JP-01", "JP-01", cfg)
    th.update(_d(onset=1000.0), 100.0)
    assert th.update(_d(onset=980.0), 111.0) == []  # 20 s earlier: not enough
    assert th.update(_d(onset=900.0), 112.0) == []  # 100 s earlier, but 12 s after the Alert
    [u] = th.tick(130.0)
    assert u.onset == 900.0
    assert th.update(_d(onset=800.0), 140.0) == []
    [u2] = th.tick(160.0)
    assert u2.onset == 800.0
    # an instruction that becomes more urgent does not wait
    [u3] = th.update(_d(onset=800.0, instruction="fall"), 161.0)
    assert u3.desired is not None
    assert u3.desired.instruction == "fall"


def test_a_later_time_beyond_its_tolerance_is_news() -> None:
    th = _th()
    th.update(_d(onset=500.0), 100.0)
    assert th.update(_d(onset=580.0), 150.0) == []  # 80 s later: within 90 s
    [u] = th.update(_d(onset=600.0), 151.0)
    assert u.onset == 600.0
    # but never for a time already past
    th.update(_d(onset=620.0), 700.0)
    assert th.update(_d(onset=900.0), 701.0) != []  # ahead: news
    assert th.update(_d(onset=1200.0), 1300.0) == []  # the new time is behind us: not news


def test_passed_fell_and_lost_close_at_once_after_the_interval() -> None:
    for reason in ("passed", "fell", "lost"):
        th = _th()
        th.update(_d(), 100.0)
        assert th.update(None, 105.0, Cause(reason)) == []  # type: ignore[arg-type]
        [c] = th.tick(110.0)
        assert (c.msg_type, c.close.reason if c.close else None) == ("Update", reason)
        assert c.area == "JP-01"
        assert c.previous == "shelter"
        assert [r.id for r in c.references] == ["X.JP.JP-01.1.0"]
        assert th.tick(200.0) == []
        assert not th.active


def test_a_wrong_warning_is_corrected_by_a_cancel_after_the_hold() -> None:
    th = _th()
    th.update(_d(), 100.0)
    assert th.update(None, 115.0, Cause("error")) == []
    assert th.tick(134.0) == []
    [c] = th.tick(135.0)
    assert c.msg_type == "Cancel"
    assert c.close == Cause("error")
    # a threat that returns within the hold sends nothing
    th2 = _th()
    th2.update(_d(), 100.0)
    th2.update(None, 115.0)
    assert th2.update(_d(), 130.0) == []
    assert th2.tick(300.0) == []


def test_a_new_threat_after_a_close_is_a_new_thread_with_an_alert() -> None:
    th = _th()
    th.update(_d(), 100.0)
    [c] = th.update(None, 200.0, Cause("passed"))
    [a] = th.update(_d(onset=900.0), 201.0)
    assert (a.msg_type, a.id, a.references) == ("Alert", "X.JP.JP-01.2.0", ())
    assert c.id == "X.JP.JP-01.1.1"


def test_expiry_without_news_closes() -> None:
    th = _th()
    th.update(_d(impact=None, onset=100.0), 100.0)
    [u] = th.tick(100.0 + CFG.default_expires_s - 5.0)  # the threat stands: the expiry is refreshed
    assert u.msg_type == "Update"
    assert u.expires > 100.0 + CFG.default_expires_s
    th.update(None, u.expires - 100.0)  # the cause unknown: held as a correction ...
    [c] = th.tick(u.expires)  # ... until the message lapses
    assert c.close is not None
    assert c.close.reason == "expired"


# ---------------------------------------------------------------- property test

step = st.one_of(
    st.tuples(
        st.just("update"),
        st.floats(min_value=0.0, max_value=30.0),
        st.floats(min_value=0.0, max_value=2000.0),
        st.sampled_from(["shelter", "fall", "lost"]),
        st.one_of(st.none(), st.floats(min_value=0.0, max_value=3000.0)),
    ),
    st.tuples(
        st.just("drop"),
        st.floats(min_value=0.0, max_value=30.0),
        st.sampled_from(["passed", "fell", "error", "lost", None]),
    ),
    st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=120.0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=60))
def test_any_sequence_gives_a_valid_message_sequence(steps: list[tuple[object, ...]]) -> None:
    th = _th()
    t = 0.0
    out: list[Issue] = []
    for s in steps:
        t += float(s[1])  # type: ignore[arg-type]
        if s[0] == "update":
            _, _, onset, instr, impact = s
            d = Desired(float(onset), instr, ("F",), impact, 10.0 if instr == "lost" else None, t + 600.0)  # type: ignore[arg-type]
            was_active = th.active
            got = th.update(d, t)
            # first contact goes out at once
            if not was_active:
                assert [m.msg_type for m in got] == ["Alert"]
        elif s[0] == "drop":
            reason = s[2]
            got = th.update(None, t, Cause(reason) if reason else None)  # type: ignore[arg-type]
        else:
            got = th.tick(t)
        for m in got:
            assert m.t == t
        out.extend(got)
    _check_sequence(out)


def _check_sequence(msgs: list[Issue]) -> None:
    threads: dict[str, list[Issue]] = {}
    open_thread: str | None = None
    last_t = -math.inf
    for m in msgs:
        thread = m.id.rsplit(".", 1)[0]
        assert m.t >= last_t
        last_t = m.t
        assert m.area == "JP-01"
        if m.msg_type == "Alert":
            assert open_thread is None, "an Alert while a thread is open"
            assert thread not in threads
            assert m.references == ()
            assert m.desired is not None
            assert m.close is None
            threads[thread] = [m]
            open_thread = thread
            continue
        assert open_thread == thread, "an Update/close outside an open thread"
        prev = threads[thread]
        assert [r.id for r in m.references] == [p.id for p in prev]
        assert m.id == f"{thread}.{len(prev)}"
        p = prev[-1]
        if m.close is None:
            assert m.msg_type == "Update"
            assert m.desired is not None
            assert p.desired is not None
            assert m.desired != p.desired, "a duplicate Update"
            more_urgent = URGENCY[m.desired.instruction] > URGENCY[p.desired.instruction]
            if not more_urgent:  # rate-limited
                assert m.t - p.t >= CFG.min_update_interval_s - 1e-9
            if p.desired.instruction != "lost":
                assert URGENCY[m.desired.instruction] >= URGENCY[p.desired.instruction], (
                    "a story stepped down"
                )
        else:
            # a close: Cancel only for a warning in error; all others are all-clear Updates
            assert m.msg_type == ("Cancel" if m.close.reason == "error" else "Update")
            if m.t < p.expires:
                assert m.t - p.t >= CFG.min_update_interval_s - 1e-9
            open_thread = None
        prev.append(m)
