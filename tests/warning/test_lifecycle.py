"""The alert lifecycle as a state machine: any sequence of assessments and ticks
gives a valid message sequence."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.warning.lifecycle import Desired, Issue, Lifecycle, LifecycleConfig

CFG = LifecycleConfig(min_update_interval_s=10.0, onset_tolerance_s=30.0, all_clear_after_impact_s=60.0)
AREAS = ["A", "B", "C", "D"]


def _d(*codes: str, onset: float = 500.0, impact: float | None = 900.0) -> Desired:
    return Desired(frozenset(codes), onset, impact)


def test_first_message_is_an_alert_and_nothing_repeats() -> None:
    lc = Lifecycle("JP.F-1", CFG)
    [a] = lc.update(_d("A"), 100.0)
    assert (a.msg_type, a.id, a.areas, a.references) == ("Alert", "JP.F-1.1.0", ("A",), ())
    assert a.onset == 500.0
    assert a.expires == 900.0 + CFG.expires_after_impact_s
    assert lc.update(_d("A"), 101.0) == []
    assert lc.tick(105.0) == []


def test_additions_go_out_at_once_removals_are_rate_limited() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A"), 100.0)
    [u] = lc.update(_d("A", "B"), 101.0)
    assert u.msg_type == "Update"
    assert u.areas == ("A", "B")
    assert u.added == ("B",)
    assert [r.id for r in u.references] == ["b.1.0"]
    assert lc.update(_d("B"), 102.0) == []  # removal held
    [u2] = lc.tick(111.0)
    assert u2.areas == ("B",)
    assert u2.removed == ("A",)
    assert [r.id for r in u2.references] == ["b.1.0", "b.1.1"]


def test_a_change_that_reverts_inside_the_interval_sends_nothing() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A", "B"), 100.0)
    assert lc.update(_d("A"), 102.0) == []
    assert lc.update(_d("A", "B"), 104.0) == []
    assert lc.tick(200.0) == []


def test_only_an_earlier_onset_beyond_tolerance_updates() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A", onset=500.0), 100.0)
    assert lc.update(_d("A", onset=480.0), 120.0) == []
    assert lc.update(_d("A", onset=600.0), 121.0) == []  # later: not news
    [u] = lc.update(_d("A", onset=460.0), 122.0)
    assert u.onset == 460.0


def test_all_clear_after_impact_and_new_thread_after_cancel() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A", impact=300.0), 100.0)
    assert lc.tick(359.0) == []
    [c] = lc.tick(360.0)
    assert c.msg_type == "Cancel"
    assert c.reason == "impact"
    assert c.areas == ("A",)
    assert lc.tick(400.0) == []
    # a stale assessment (impact in the past) does not re-alert
    assert lc.update(_d("A", impact=300.0), 401.0) == []
    [a] = lc.update(_d("B", impact=900.0), 402.0)
    assert a.msg_type == "Alert"
    assert a.id == "b.2.0"
    assert a.references == ()


def test_track_lost_cancels_at_once() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A"), 100.0)
    [c] = lc.end(101.0, "lost")
    assert c.msg_type == "Cancel"
    assert c.reason == "lost"
    assert lc.end(102.0) == []


def test_expiry_without_news_cancels() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A", impact=None), 100.0)
    [c] = lc.tick(100.0 + CFG.default_expires_s)
    assert c.reason == "expired"


def test_nothing_at_risk_cancels_after_the_hold() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A"), 100.0)
    assert lc.update(None, 105.0) == []
    assert lc.tick(124.0) == []
    [c] = lc.tick(125.0)
    assert c.reason == "no-threat"


def test_a_threat_that_returns_within_the_hold_is_not_cancelled() -> None:
    lc = Lifecycle("b", CFG)
    lc.update(_d("A"), 100.0)
    assert lc.update(None, 105.0) == []
    assert lc.update(_d("A"), 120.0) == []
    assert lc.update(None, 121.0) == []
    assert lc.tick(140.0) == []
    [c] = lc.tick(141.0)
    assert c.reason == "no-threat"


def test_the_newest_assessment_governs_the_all_clear() -> None:
    # an old prediction said impact at 0; the newest says A at risk, impact
    # unknown: the all-clear must not run on the old prediction's clock
    lc = Lifecycle("b", CFG)
    [a] = lc.update(Desired(frozenset({"A"}), 0.0, 0.0), 56.0)
    assert a.msg_type == "Alert"
    assert lc.update(Desired(frozenset({"A"}), 0.0, None), 60.0) == []
    assert lc.last_areas == {"A"}
    [c] = lc.update(Desired(frozenset({"A"}), 0.0, 100.0), 161.0)
    assert (c.msg_type, c.reason) == ("Cancel", "impact")


# ---------------------------------------------------------------- property test

step = st.one_of(
    st.tuples(
        st.just("update"),
        st.floats(min_value=0.0, max_value=30.0),
        st.frozensets(st.sampled_from(AREAS)),
        st.floats(min_value=0.0, max_value=2000.0),
        st.one_of(st.none(), st.floats(min_value=0.0, max_value=3000.0)),
    ),
    st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=120.0)),
    st.tuples(st.just("end"), st.floats(min_value=0.0, max_value=5.0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=60))
def test_any_sequence_gives_a_valid_message_sequence(steps: list[tuple[object, ...]]) -> None:
    lc = Lifecycle("P", CFG)
    t = 0.0
    out: list[Issue] = []
    last_desired: Desired | None = None
    for s in steps:
        t += float(s[1])  # type: ignore[arg-type]
        if s[0] == "update":
            _, _, codes, onset, impact = s
            last_desired = Desired(codes, float(onset), impact)  # type: ignore[arg-type]
            got = lc.update(last_desired, t)
            # an area at risk and not yet warned goes out at once (unless past all-clear)
            if codes and (impact is None or t < float(impact) + CFG.all_clear_after_impact_s):  # type: ignore[arg-type]
                assert codes <= lc.last_areas
        elif s[0] == "tick":
            got = lc.tick(t)
        else:
            got = lc.end(t)
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
        if m.msg_type == "Alert":
            assert open_thread is None, "an Alert while a thread is open"
            assert thread not in threads
            assert m.references == ()
            assert m.areas, "an Alert warns something"
            threads[thread] = [m]
            open_thread = thread
            continue
        # Update / Cancel: inside the open thread, referencing all before it in order
        assert open_thread == thread, "an Update/Cancel outside an open thread"
        prev = threads[thread]
        assert [r.id for r in m.references] == [p.id for p in prev]
        assert m.id == f"{thread}.{len(prev)}"
        if m.msg_type == "Update":
            assert m.areas, "an Update that warns nothing should be a Cancel"
            p = prev[-1]
            assert (m.areas, m.onset) != (p.areas, p.onset), "a duplicate Update"
            if not set(m.areas) - set(p.areas):  # no addition: rate-limited
                assert m.t - p.t >= CFG.min_update_interval_s - 1e-9
        else:
            if m.reason == "no-threat":
                assert m.t - prev[-1].t >= CFG.min_update_interval_s - 1e-9
            open_thread = None
        prev.append(m)
