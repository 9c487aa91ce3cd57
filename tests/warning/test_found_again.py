"""A track found again governs by its reports again: the window it was given
while lost does not outlive its return.

The case is the random search's (benchmarks/warning_stories.py, ``--examples
500 --seed 3``, shrunk; session 14): F-1 reports once with an unsettled forecast
(a 171-km ellipse: the uncertain far end is a *reach*) and names the boxes
around the impact; it goes silent past ``lost_after_s`` ("tracking lost, stay
sheltered until ..."); F-2 reports meanwhile without naming them; F-1 is found
again with an unsettled forecast whose reach still covers them. The reach hold
("an area named before stays warned while the missile could still reach it")
carried the *lost* risk on, window and all, so when F-1's old window ended the
areas were closed "tracking lost: the last time it could have come down here
has passed" while F-1 was live and its newest forecast still reached them --
with ``keep_named`` off as well as on (the search counted it only with it on:
its admission test did not look at the reach).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _sibling import load
from tocsin.warning import WarningEngine
from tocsin.warning.policy import WarningConfig
from tocsin.warning.threat import ThreatConfig
from tocsin.wire import AlertBody, make

T0 = 1.0e9
# (track, north m, east m, semi-major m, ratio, bearing, reports, dt s, silence s):
# the shrunk runs of the search, rounded
RUNS = [
    (0, 0.0, 0.0, 171_315.0, 0.5, 1.5, 1, 0.76, 54.0),
    (1, 135.5, -504.4, 4_000.0, 0.05, 82.8, 21, 3.95, 0.0),
    (1, 215.5, 600.0, 185_974.0, 0.94, 171.9, 18, 1.46, 0.0),
    (0, 0.0, 940.0, 185_302.0, 0.61, 0.5, 15, 3.18, 20.8),
]


def _bench() -> ModuleType:
    return load("warning_stories")


def _play(keep: bool) -> tuple[WarningEngine, list[tuple[float, AlertBody]], dict[str, float]]:
    """Feed the runs; returns the engine, every alert (with its time) and,
    per track, the time of its first report after a silence (its return)."""
    w = _bench()
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=keep)), registry=w.GRID)
    t, seq = T0, 0
    t_imp = t + sum(r[8] + r[6] * r[7] for r in RUNS) + 40.0
    got: list[tuple[float, AlertBody]] = []
    back: dict[str, float] = {}
    last: dict[str, float] = {}
    for trk, north, east, semi, ratio, brg, n, dt, silence in RUNS:
        t += silence
        got += [(t, e.body) for e in eng.advance(t) if isinstance(e.body, AlertBody)]
        tid = f"F-{trk + 1}"
        for _ in range(n):
            t += dt
            seq += 1
            if tid in last and t - last[tid] > eng.config.lifecycle.lost_after_s:
                back[tid] = t
            last[tid] = t
            b = w.body(tid, t, north, east, semi, ratio, brg, "confirmed", t_imp)
            out = eng.push(make("track", b, partner="US", source="fusion", seq=seq, sent=t))
            got += [(t, e.body) for e in out if isinstance(e.body, AlertBody)]
    for _ in range(3):
        t += 10.0
        got += [(t, e.body) for e in eng.advance(t) if isinstance(e.body, AlertBody)]
    return eng, got, back


@pytest.mark.parametrize("keep", [False, True])
def test_a_track_found_again_does_not_close_what_its_reach_still_covers(keep: bool) -> None:
    eng, got, back = _play(keep)
    assert "F-1" in back, "the case must lose F-1 and find it again"
    # F-1 was lost and told so: the areas it named heard "tracking lost"
    told_lost = {a for _, b in got if b.msg_type == "Update" and b.close is None for a in b.areas}
    assert "sea:JP-00-11" in told_lost
    # ... and nothing was closed: F-1 is back, live, and its forecast still reaches them
    closes = [(round(t - T0, 1), b.closes, b.close) for t, b in got if b.close is not None]
    assert closes == []
    st = eng._tracks["F-1"]
    assert st.ended == ""
    assert st.threat is not None
    assert st.threat.reach is not None
    held = st.risks["JP"]
    assert "sea:JP-00-11" in held
    # the mechanism: a live track's held risk carries no lost window
    assert all(r.until is None and r.lost_t is None for r in held.values())


@pytest.mark.parametrize("keep", [False, True])
def test_tracking_regained_is_told_after_tracking_lost(keep: bool) -> None:
    _, got, back = _play(keep)
    story = [
        (t - T0, b.msg_type, b.close)
        for t, b in got
        if "sea:JP-00-11" in b.areas or "sea:JP-00-11" in b.closes
    ]
    # Alert, "tracking lost" (F-1 silent past lost_after_s), then "tracking regained" at F-1's return
    assert [(m, c) for _, m, c in story] == [("Alert", None), ("Update", None), ("Update", None)]
    assert story[-1][0] == pytest.approx(back["F-1"] - T0, abs=1e-6)
