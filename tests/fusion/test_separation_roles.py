"""Roles of separated pieces told from the geometry (issue 16).

Of two pieces that parted, the one clearly behind along the flight path is
spent and the one ahead carries on (:func:`tocsin.fusion.separation.decide_roles`).
Pinned here: every child of one stack is a sibling of the others."""

from __future__ import annotations

from typing import Any

import numpy as np

from tocsin.fusion import Tracker, TrackerConfig, separation
from tocsin.fusion.measurements import REC_SENSOR, REC_T
from tocsin.geo import geodetic_to_ecef


def _state(alt_m: float = 300_000.0) -> np.ndarray:
    """A piece climbing at 300 km: 3 km/s up, 4 km/s east (ECEF)."""
    r = np.asarray(geodetic_to_ecef(40.0, 130.0, alt_m), dtype=np.float64)
    up = r / np.linalg.norm(r)
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    return np.concatenate([r, 3000.0 * up + 4000.0 * east])


def _record(sensor: str, t: float) -> Any:
    rec: list[Any] = [None] * (max(REC_SENSOR, REC_T) + 1)
    rec[REC_SENSOR], rec[REC_T] = sensor, t
    return tuple(rec)


def test_every_child_of_a_stack_is_a_sibling_of_the_others() -> None:
    """Two children confirmed from one parent are two pieces of one stack:
    each is a sibling of the other, so the geometry compares them (MC SLV
    seed 1 index 41: two tracks on the stack, children of one parent, told
    apart by nothing at the stack's next parting)."""
    trk = Tracker(TrackerConfig())
    life = trk._life
    x = _state()
    parent = life.new_track(x, np.eye(6), 10.0, {"R1"}, {"JP"}, 10.0)
    parent.status, parent.cls, parent.phase, parent.id = "confirmed", "ballistic", "boost", "T1"
    snap = parent.snapshot()
    parent.hist = [(_record("R1", 9.0), snap), (_record("R1", 10.0), snap), (_record("R1", 11.0), snap)]
    kids = []
    for t in (10.0, 11.0):
        child = life.new_track(x, np.eye(6), t, {"R1"}, {"JP"}, t)
        child.hist = [(_record("R1", t), snap)]
        assert life.confirm(child)
        kids.append(child)
    first, second = kids
    assert first.siblings == {parent.key, second.key}
    assert second.siblings == {parent.key, first.key}
    assert parent.siblings == {first.key, second.key}


def test_two_tracks_on_one_stack_are_told_apart_at_its_next_parting() -> None:
    """Monte Carlo seed 1 SLV index 41 (biased radars, the MC default): the
    stack burns its second stage to t+180 s, when the payload and the spent
    second stage part and coast side by side (20-500 m). Two tracks were on
    the stack by then, both children of the first-stage track, both told
    ``rv`` ahead of it, and no sibling of each other; at the parting no child
    was confirmed (each took one of the two pieces), so nothing told them
    apart and the one on the stage fell with a re-entry vehicle's drag prior
    (coverage 0.0, 31 km off). As siblings, the one behind is the stage."""
    from conftest import run_flight_scene

    def told_apart(sim: object, trk: Tracker) -> None:
        ob = sim.objects["M1.S2"]  # type: ignore[attr-defined]
        near = []
        for tr in trk.tracks:
            if tr.cls == "ballistic" and not tr.dead and tr.status == "confirmed":
                x, _ = tr.combined()
                if float(np.linalg.norm(x[:3] - ob.states(np.array([tr.t]))[0][:3])) < 1_000.0:
                    near.append(tr)
        assert len(near) >= 2, [(tr.id, tr.role) for tr in near]
        assert any(tr.role in separation.SPENT for tr in near), [(tr.id, tr.role) for tr in near]

    run_flight_scene("SLV", 41, 260.0, TrackerConfig(), {260.0: told_apart}, sensor_bias=True)
