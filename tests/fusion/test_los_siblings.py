"""Space infrared sees burning motors, and of the pieces of one missile
only the stack burns (issue 16): a line of sight is not a piece's whose
sibling follows the burn (:func:`tocsin.fusion.separation.outburnt`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from conftest import bare_track, run_flight_scene

from tocsin.fusion import TrackerConfig, separation


def _family(t: float) -> tuple[Any, Any]:
    x = np.array([-3.0e6, 4.0e6, 4.3e6, 3000.0, 4000.0, 1000.0])
    a = bare_track(x, t=t, cls="ballistic", phase="ballistic", burnt_out=True)
    b = bare_track(x.copy(), t=t, cls="ballistic", phase="ballistic", burnt_out=True)
    b.key = 2
    for tr, o in ((a, b), (b, a)):
        tr.separated = True
        tr.status = "lost"
        tr.siblings = {o.key}
        tr.last_fix = t - 22.0  # no radar for 22 s
    return a, b


def test_a_lost_piece_whose_sibling_follows_the_burn_takes_no_line_of_sight() -> None:
    cfg = TrackerConfig()
    a, b = _family(450.0)
    by_key = {a.key: a, b.key: b}

    def out(tr: Any, t: float = 450.0) -> bool:
        return separation.outburnt(tr, by_key, t, cfg.lost_after_s, cfg.los_burn_s)

    assert not out(a)  # no sibling seen burning yet: either may be the stack
    b.last_los = 448.0
    assert out(a)
    b.role, b.coast_seen = "stage", True  # a spent piece seen coasting: not the burn's
    assert not out(a)
    b.role = None
    assert out(a)
    assert not out(b)  # the one that follows the burn
    a.last_los = 449.0  # its own line of sight is the newer: not outburnt
    assert not out(a)
    a.last_los = -math.inf
    assert not out(a, t=448.0 + cfg.los_burn_s + 0.5)  # the sibling's is too old
    a.last_fix = 445.0  # a radar placed it: its own plots hold it
    assert not out(a)


def test_the_spent_stage_is_not_flown_with_the_stacks_burn() -> None:
    """MC seed 1 SLV #90 (biased radars): stage 2 and the stack coast
    250-700 m apart, their two tracks blends of both with no role told, both
    lost from t+434 s. The stack lights its insertion burn; the one line of
    sight of each infrared scan went to either track by turns, and stage 2's
    track, given two of them (t+446, t+452) and flown with thrust along
    them, was predicted 285 km off for the rest of its flight. Now the
    first track to take the burn keeps it, and some track coasts on stage 2."""
    seen: dict[str, Any] = {}

    def on_s2(sim: Any, trk: Any) -> None:
        ob = sim.objects["M1.S2"]
        best = math.inf
        for tr in trk.tracks:
            if tr.cls != "ballistic" or tr.dead or tr.status == "tentative":
                continue
            x, _ = tr.combined()
            s = ob.states(np.array([tr.t]))[0]
            if float(np.linalg.norm(x[:3] - s[:3])) < 3_000.0:
                best = min(best, float(np.linalg.norm(x[3:] - s[3:])))
        seen["dv"] = best

    run_flight_scene("SLV", 90, 475.0, TrackerConfig(), {470.0: on_s2}, sensor_bias=True)
    assert seen["dv"] < 30.0, seen
