"""Roles of separated pieces told from the geometry (issue 16).

Of two pieces that parted, the one clearly behind along the flight path is
spent and the one ahead carries on (:func:`tocsin.fusion.separation.decide_roles`).
Three rules pinned here: every child of one stack is a sibling of the others;
ahead or behind is read along the direction of flight at the parting; a track
told ``rv`` that is later clearly behind a sibling becomes ``stage``."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from conftest import bare_track, run_flight_scene

from tocsin.fusion import Tracker, TrackerConfig, drag, separation
from tocsin.fusion.measurements import REC_SENSOR, REC_T
from tocsin.geo import geodetic_to_ecef


def _state(alt_m: float = 300_000.0) -> np.ndarray:
    """A piece climbing at 300 km: 3 km/s up, 4 km/s east (ECEF)."""
    r = np.asarray(geodetic_to_ecef(40.0, 130.0, alt_m), dtype=np.float64)
    up = r / np.linalg.norm(r)
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    return np.concatenate([r, 3000.0 * up + 4000.0 * east])


def _pair(ahead_m: float, t: float, role_a: str | None, turned_deg: float = 0.0) -> tuple[object, object]:
    """Two siblings that parted at t = 100 s: ``a`` ``ahead_m`` ahead of ``b``
    along the direction of flight at the parting; by ``t`` the flight path
    has turned by ``turned_deg`` (in the plane of up and east)."""
    xb = _state()
    u = xb[3:] / np.linalg.norm(xb[3:])
    xa = xb.copy()
    xa[:3] += ahead_m * u
    up = xb[:3] / np.linalg.norm(xb[:3])
    east = np.cross([0.0, 0.0, 1.0], up)
    east /= np.linalg.norm(east)
    g = math.radians(math.degrees(math.atan2(3000.0, 4000.0)) - turned_deg)  # flight path angle now
    v_now = 5000.0 * (math.sin(g) * up + math.cos(g) * east)
    a = bare_track(xa, t=t, created=99.0, cls="ballistic", phase="ballistic", burnt_out=True, role=role_a)
    b = bare_track(xb, t=t, created=0.0, cls="ballistic", phase="ballistic", burnt_out=True)
    b.key = 2
    for tr, other in ((a, b), (b, a)):
        tr.separated = True
        tr.status = "confirmed"
        tr.siblings = {other.key}
        tr.part_dir = u
        tr.part_t = 100.0
        tr.x[:, 3:] = v_now
    return a, b


def _roles(a: object, b: object) -> tuple[str | None, str | None]:
    cfg = TrackerConfig()
    separation.decide_roles([a, b], cfg.role_sigmas, cfg.role_min_m, cfg.role_mass)  # type: ignore[list-item]
    return a.role, b.role  # type: ignore[attr-defined]


@pytest.mark.parametrize("turned_deg", [0.0, 60.0, 170.0])
def test_the_piece_ahead_at_the_parting_carries_on_however_the_path_has_turned(turned_deg: float) -> None:
    """Ahead or behind is read along the direction of flight at the parting:
    the pieces' displacement keeps that direction while the flight path turns
    over the apogee (Monte Carlo lofted ICBM seed 1 index 5: the re-entry
    vehicle, ahead of its second stage by up to 12 km along it for the whole
    flight, is "behind" it along the current flight path from the apogee on,
    where the path has turned by 110-170 degrees)."""
    a, b = _pair(500.0, t=2_000.0, role_a=None, turned_deg=turned_deg)
    assert _roles(a, b) == ("rv", "stage")


def test_a_told_rv_later_clearly_behind_a_sibling_becomes_a_stage() -> None:
    """A track told ``rv`` (ahead when it was told, or a duplicate of the
    stack that parted again without a child) that is clearly behind a
    sibling is the spent one; a spent role the drag bank told (not the
    geometry: ``Track.told``) is not told back to ``rv`` by the geometry."""
    a, b = _pair(-500.0, t=300.0, role_a="rv", turned_deg=170.0)
    assert _roles(a, b) == ("stage", "rv")
    a.role, a.told, b.role = "stage", None, None  # type: ignore[attr-defined]
    a.x[:, :3] += 1_000.0 * a.part_dir  # type: ignore[attr-defined]  # now ahead
    a.xc = None  # type: ignore[attr-defined]
    assert _roles(a, b)[0] == "stage"


def test_a_track_told_spent_by_the_geometry_later_clearly_ahead_is_told_back() -> None:
    """A track swaps pieces when another track is confirmed on the piece it
    was on (MC seed 1 MRBM #206: the missile's track, told ``stage`` while
    nearer the spent stage, flew on the re-entry vehicle from 7 s after the
    stage's own track was confirmed, ~500 m ahead of it, with the stage's
    drag prior: 20.8 km off). Clearly ahead of every sibling, it is told
    back ``rv`` and its split bank takes the rv prior again."""
    a, b = _pair(-500.0, t=300.0, role_a=None)
    x = a.combined()[0]
    a.drag = drag.split(drag.mixture_prior(separation.prior_parts("MRBM", None)), x, np.eye(6))  # type: ignore[attr-defined]
    assert _roles(a, b) == ("stage", "rv")
    assert a.told == "stage"  # type: ignore[attr-defined]
    assert a.drag.role == "stage"  # type: ignore[attr-defined]
    a.x[:, :3] += 1_000.0 * a.part_dir  # type: ignore[attr-defined]  # now 500 m ahead
    a.xc = None  # type: ignore[attr-defined]  # (the cached combined estimate)
    assert _roles(a, b) == ("rv", "stage")
    assert a.told == "rv"  # type: ignore[attr-defined]
    assert a.drag.role == "rv"  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["MRBM"] > 0.97  # type: ignore[attr-defined]


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


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known shortfall (issue 16, session 12): after the stage-2 parting (t+180 s) the two tracks on the "
        "stack are blends, each 90-250 m from both pieces, inside the bar the radars' registration biases "
        "set (separation.behind): the geometry tells neither by t+260 s; the track nearest stage 2 is told "
        "`rv` (it falls with a re-entry vehicle's prior) and, on main fa7ba13, the payload's track is "
        "`stage` from a role told while the stack still burned (<= t+150 s, never told back): the older "
        "form of this test ('some near track is spent') passed on that wrong piece. Strict: a tracker that "
        "tells the pieces apart makes this fail until the mark is removed"
    ),
)
def test_two_tracks_on_one_stack_are_told_apart_at_its_next_parting() -> None:
    """Monte Carlo seed 1 SLV index 41 (biased radars, the MC default): the
    stack burns its second stage to t+180 s, when the payload and the spent
    second stage part and coast side by side (20-500 m). Two tracks were on
    the stack by then, both children of the first-stage track, both told
    ``rv`` ahead of it, and no sibling of each other; at the parting no child
    was confirmed (each took one of the two pieces), so nothing told them
    apart and the one on the stage fell with a re-entry vehicle's drag prior
    (coverage 0.0, 31 km off). As siblings, the one behind is the stage.

    Asserted on the pieces (session 12): the track nearest stage 2 is spent
    and the other one on the stack, nearest the payload, is not. The first
    form asked only that some track near stage 2 be spent, and passed on a
    spent role wrongly held by the payload's track (told during the boost)
    while the track on stage 2 was ``rv`` (trace: notes/track.md, session 12)."""

    def told_apart(sim: object, trk: Tracker) -> None:
        ob = sim.objects["M1.S2"]  # type: ignore[attr-defined]
        near = []
        for tr in trk.tracks:
            if tr.cls == "ballistic" and not tr.dead and tr.status == "confirmed":
                x, _ = tr.combined()
                if float(np.linalg.norm(x[:3] - ob.states(np.array([tr.t]))[0][:3])) < 1_000.0:
                    near.append(tr)
        assert len(near) >= 2, [(tr.id, tr.role) for tr in near]
        on_stage = _nearest(sim, trk, "M1.S2")
        assert on_stage.role in separation.SPENT, (on_stage.id, on_stage.role)
        others = [tr for tr in near if tr is not on_stage]
        on_payload = min(others, key=lambda tr: _dist(sim, tr, "M1"))
        assert on_payload.role not in separation.SPENT, (on_payload.id, on_payload.role)

    run_flight_scene("SLV", 41, 260.0, TrackerConfig(), {260.0: told_apart}, sensor_bias=True)


def _dist(sim: Any, tr: Any, name: str) -> float:
    x, _ = tr.combined()
    return float(np.linalg.norm(x[:3] - sim.objects[name].states(np.array([tr.t]))[0][:3]))


def _nearest(sim: Any, trk: Tracker, name: str) -> Any:
    ob = sim.objects[name]
    best = None
    for tr in trk.tracks:
        if tr.cls == "ballistic" and not tr.dead and tr.status == "confirmed":
            x, _ = tr.combined()
            d = float(np.linalg.norm(x[:3] - ob.states(np.array([tr.t]))[0][:3]))
            if d < 1_000.0 and (best is None or d < best[0]):
                best = (d, tr)
    assert best is not None, name
    return best[1]


def test_a_payload_and_its_spent_stage_coasting_together_are_told_apart() -> None:
    """Monte Carlo seed 1 SLV index 132 (biased radars): the payload coasts
    with its spent second stage from t+180 s to its third stage at t+461 s,
    20-500 m apart. A child confirmed at t+191 s was one second later "behind"
    its parent (its state still converging), which was told ``rv``; by t+233
    s the parent was behind the child, which was told ``rv`` too: two re-entry
    vehicles, the stage predicted with a warhead's drag 23 km off (coverage
    0.0). A track told ``rv`` that is now clearly behind a sibling is the
    spent one: by t+300 s the track nearest the stage is not ``rv``, the one
    nearest the payload is."""

    def told_apart(sim: Any, trk: Tracker) -> None:
        on_payload = _nearest(sim, trk, "M1")
        on_stage = _nearest(sim, trk, "M1.S2")
        assert on_stage is not on_payload
        assert on_payload.role == "rv", (on_payload.id, on_payload.role)
        assert on_stage.role in separation.SPENT, (on_stage.id, on_stage.role)

    run_flight_scene("SLV", 132, 300.0, TrackerConfig(), {300.0: told_apart}, sensor_bias=True)


def _unclassed_parting(alt_m: float, same_scan: bool, confirmed_t: float = 4.0) -> tuple[Any, Any, bool]:
    """A confirmed track not classed yet (``unknown``: its velocity too
    uncertain to vote; confirmed at ``confirmed_t``) at ``alt_m`` and a
    tentative 800 m from it (first plot at t = 10 s), confirmed now;
    ``same_scan``: radar R1 saw both at t = 10 s."""
    trk = Tracker(TrackerConfig())
    life = trk._life
    x = _state(alt_m)
    parent = life.new_track(x, np.eye(6), 10.0, {"R1"}, {"JP"}, 10.0)
    parent.status, parent.cls, parent.phase, parent.id = "confirmed", "unknown", "unknown", "T1"
    parent.confirmed_t = confirmed_t
    snap = parent.snapshot()
    parent.hist = [(_record("R1", t), snap) for t in (8.0, 9.0, 10.0)]
    xc = x.copy()
    xc[:3] += 800.0 * xc[3:] / np.linalg.norm(xc[3:])
    child = life.new_track(xc, np.eye(6), 10.0, {"R1"}, {"JP"}, 10.0)
    child.hist = [(_record("R1", 10.0 if same_scan else 10.5), snap)]
    return parent, child, life.confirm(child)


def test_a_piece_parting_from_a_missile_not_classed_yet_is_its_child() -> None:
    """Monte Carlo seed 1 MRBM index 17 (biased radars): the missile's track,
    confirmed at t+64 s, was still ``unknown`` (its velocity too uncertain for
    the ballistic vote) when the spent stage parted at t+101.5 s and 61 km;
    the stage's track, confirmed at t+106 s 0.8 km away with a plot of the
    same radar scan, was a track of its own, no one's sibling: it kept a
    re-entry vehicle's drag prior and was predicted 19.5 km off under a 2-km
    ellipse all flight (coverage 0.0; 0.996, 2 km off, as a child). Above
    any aircraft's height, a co-detected piece near an unclassed track is
    a piece of a missile."""
    parent, child, kept = _unclassed_parting(60_000.0, same_scan=True)
    assert kept
    assert child.parent == "T1"
    assert child.separated
    assert parent.separated
    assert child.siblings == {parent.key}
    assert parent.siblings == {child.key}
    assert child.cls == "ballistic"
    assert child.burnt_out
    assert parent.cls == "unknown"  # its own votes class it


@pytest.mark.parametrize(("alt_m", "same_scan"), [(12_000.0, True), (60_000.0, False)])
def test_no_child_of_an_unclassed_track_at_aircraft_heights_or_without_a_shared_scan(
    alt_m: float, same_scan: bool
) -> None:
    """Two aircraft in formation (unclassed, 12 km up) keep their own tracks;
    a tentative near an unclassed track that no sensor saw in the same scan
    is left as it was (a bias duplicate is judged against classed missiles
    only): confirmed, no parent, no sibling."""
    parent, child, kept = _unclassed_parting(alt_m, same_scan)
    assert kept
    assert child.parent is None
    assert not child.separated
    assert not parent.separated
    assert child.cls == "unknown"


def test_a_piece_of_the_same_scene_as_an_unclassed_track_is_not_taken_for_coasting() -> None:
    """An unclassed track confirmed no earlier than a co-detected tentative's
    first plot is not a missile followed before a piece parted from it but
    another piece of the same scene: the two are one family, but which
    carries on is not known, so the child is not taken for a coasting piece
    (its own plots tell). MC seed 1 SLV #27 (biased radars): the fairing's
    track, confirmed at 125 km 2 s before the stack's, became its parent; the
    stack, taken for a coasting piece, stayed on the spent second stage and
    the payload was lost for 58 s while reported."""
    parent, child, kept = _unclassed_parting(60_000.0, True, confirmed_t=10.0)
    assert kept
    assert child.parent == "T1"
    assert child.separated
    assert parent.separated
    assert child.siblings == {parent.key}
    assert child.cls == "ballistic"
    assert not child.burnt_out
    assert child.phase == "boost"
    # a missile's track confirmed before the piece was first seen: coasting
    _, child, _ = _unclassed_parting(60_000.0, True, confirmed_t=9.9)
    assert child.burnt_out
    assert child.phase == "ballistic"


def test_a_role_told_by_the_geometry_after_the_split_enters_the_bank() -> None:
    """A bank split with the role-unknown prior (rv 50 / stage 40 / debris
    10 %) before the geometry told the role keeps what its plots said (each
    member's likelihood) and takes the told role's prior: MC seed 1 IRBM #11
    (with the unclassed-parent rule), the re-entry vehicle's track told
    ``rv`` ended IRBM 0.58 / stage 0.38, 10.3 km off."""
    a, b = _pair(500.0, t=300.0, role_a=None)
    x = a.combined()[0]
    bank = drag.split(drag.mixture_prior(separation.prior_parts("IRBM", None)), x, np.eye(6))
    rng = np.random.default_rng(3)
    like = rng.normal(scale=0.5, size=bank.lnb.shape[0])
    logw = bank.logw + like
    a.drag = replace(bank, logw=logw - np.logaddexp.reduce(logw))  # type: ignore[attr-defined]
    before = a.drag.kind_mass()  # type: ignore[attr-defined]
    assert before["IRBM"] < 0.8
    assert _roles(a, b) == ("rv", "stage")
    after = a.drag.kind_mass()  # type: ignore[attr-defined]
    assert after["IRBM"] > 0.97, after
    assert a.drag.role == "rv"  # type: ignore[attr-defined]
    kept = a.drag.logw - a.drag.logw0  # type: ignore[attr-defined]
    assert np.allclose(kept - kept.mean(), like - like.mean())


@pytest.mark.parametrize("bias", [True, False])
def test_the_order_of_two_tracks_within_the_radars_biases_tells_no_role(bias: bool) -> None:
    """Monte Carlo seed 1 IRBM #32 (biased radars): the spent stage parts at
    t+116 s at ~4 m/s; at t+166 s the re-entry vehicle is ~190 m ahead of
    it along the flight, while the two tracks on them, 150-470 m off either
    piece (the radars' registration biases, which the filters cannot see:
    their covariances say 20-40 m), are in the reverse order, 109 m apart:
    4 sigmas of the filters alone. Told from that, the re-entry vehicle's
    track was a ``stage`` (warned as a spent piece, its bank given the
    stage's prior: 30.5 km off). Counting the biases (the tracker's own
    bias sigmas, as in the impact ellipse) the order is not clear there: no
    track near the re-entry vehicle is told spent. Without them
    (``bias_*`` 0) it is, as before."""
    seen: dict[str, Any] = {}

    def near_rv(sim: Any, trk: Tracker) -> None:
        ob = sim.objects["M1"]
        near = []
        for tr in trk.tracks:
            if tr.cls == "ballistic" and not tr.dead and tr.status == "confirmed":
                x, _ = tr.combined()
                if float(np.linalg.norm(x[:3] - ob.states(np.array([tr.t]))[0][:3])) < 1_000.0:
                    near.append(tr.role)
        seen["roles"] = near

    cfg = TrackerConfig() if bias else TrackerConfig(bias_range_m=0.0, bias_angle_deg=0.0, bias_rr_mps=0.0)
    run_flight_scene("IRBM", 32, 180.0, cfg, {180.0: near_rv}, sensor_bias=True)
    roles = seen["roles"]
    assert len(roles) >= 2, roles  # both pieces' tracks are within 1 km of it
    if bias:
        assert not any(r in separation.SPENT for r in roles), roles
    else:
        assert any(r in separation.SPENT for r in roles), roles


def test_a_role_told_by_the_drag_bank_is_not_its_prior_again() -> None:
    """A role the split bank's own posterior told (``role_mass`` of its
    weight on the spent side) is not given back to the bank as a prior at
    the next impact prediction: only a role the geometry told is evidence
    the bank has not seen (:attr:`Track.told`). Since 7681c03 a drag-told
    role was retold at each prediction and the bank's posterior counted
    twice (spent 0.98 -> ~0.999)."""
    from collections import Counter

    from tocsin.fusion.ballistic import Ballistic

    a, b = _pair(50.0, t=300.0, role_a=None)  # within role_min_m: no geometric verdict
    x = a.combined()[0]
    bank = drag.split(drag.mixture_prior(separation.prior_parts("IRBM", None)), x, np.eye(6))
    spent = np.isin(bank.member_kind, [1, 2])
    logw = bank.logw + np.where(spent, 4.0, 0.0)
    a.drag = replace(bank, logw=logw - np.logaddexp.reduce(logw))  # type: ignore[attr-defined]
    a.coast_seen = True  # type: ignore[attr-defined]
    before = a.drag.kind_mass()  # type: ignore[attr-defined]
    assert 0.97 < before["stage"] + before["debris"] < 0.995, before
    assert _roles(a, b) == ("stage", None)
    assert a.told is None  # type: ignore[attr-defined]
    bal = Ballistic(TrackerConfig(), Counter())
    bal.tracks = {a.key: a, b.key: b}  # type: ignore[attr-defined]
    bal.predictions(a)  # type: ignore[arg-type]
    after = a.drag.kind_mass()  # type: ignore[attr-defined]
    for k, v in before.items():
        assert after[k] == pytest.approx(v, abs=1e-9), (before, after)
    assert a.drag.role is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "who", ["sibling-ahead", "sibling-beside", "spent-sibling-beside", "sibling-behind", "track"]
)
def test_a_lost_track_is_not_told_and_testifies_only_against_rv(who: str) -> None:
    """The geometry reads the order of pieces; a ``lost`` track's position is
    its own coasting prediction, no piece seen there. A lost track is not
    told (MC seed 1 IRBM #88, biased radars: the re-entry vehicle's first
    track, lost, kept the track that had taken its plots over a stage: rv
    coverage 0.796, final 25.2 km). Being behind a lost sibling's prediction
    does not make a track spent. The piece a lost sibling was on flies on
    unseen and may carry on: a track not clearly ahead of it is not told
    ``rv`` (full MC of 6f468d0: SLV stage-2 tracks were, past a stack lost
    in the insertion burn; stage coverage 0.928 -> 0.803) -- unless that
    sibling was told spent: the piece left behind testifies to nothing
    carrying on (MC seed 1 MRBM #192: the stack's track, told ``stage`` and
    lost in boost, kept the rv's track a stage for 78 s)."""
    a, b = _pair(500.0, t=300.0, role_a=None)  # a 500 m ahead of b
    c, _ = _pair(0.0, t=300.0, role_a=None)
    c.key = 3  # type: ignore[attr-defined]
    # c 2 km ahead of a, 30 m ahead (within the bar), or 3 km behind it
    off = {"sibling-behind": -3_000.0, "sibling-beside": 30.0, "spent-sibling-beside": 30.0}.get(who, 2_000.0)
    c.x[:, :3] = a.x[:, :3] + off * a.part_dir  # type: ignore[attr-defined]
    for tr, sibs in ((a, {2, 3}), (b, {1, 3}), (c, {1, 2})):
        tr.siblings = sibs  # type: ignore[attr-defined]
    cfg = TrackerConfig()
    if who == "track":
        a.status = "lost"  # type: ignore[attr-defined]
        separation.decide_roles([a, b, c], cfg.role_sigmas, cfg.role_min_m, cfg.role_mass)  # type: ignore[list-item]
        assert a.role is None  # type: ignore[attr-defined]
        assert (b.role, c.role) == ("stage", "rv")  # type: ignore[attr-defined]
        return
    c.status = "lost"  # type: ignore[attr-defined]
    if who == "spent-sibling-beside":
        c.role = c.told = "stage"  # type: ignore[attr-defined]
    if who.endswith("beside"):
        assert separation.behind(a, c, cfg.role_sigmas, cfg.role_min_m) is None  # type: ignore[arg-type]
    separation.decide_roles([a, b, c], cfg.role_sigmas, cfg.role_min_m, cfg.role_mass)  # type: ignore[list-item]
    if who == "sibling-ahead":
        # behind a prediction only: not spent; not clearly ahead of it: not rv
        assert a.role != "stage", "a lost sibling's prediction made a track spent"  # type: ignore[attr-defined]
        assert a.role != "rv", "a track was told rv past a lost sibling ahead of it"  # type: ignore[attr-defined]
        assert (b.role, c.role) == ("stage", None)  # type: ignore[attr-defined]
    elif who == "sibling-beside":
        # in no clear order with a lost piece that may carry on: not rv
        assert (a.role, b.role, c.role) == (None, "stage", None)  # type: ignore[attr-defined]
    elif who == "spent-sibling-beside":
        # the lost piece was told spent: clearly ahead of the held one is enough
        assert (a.role, b.role, c.role) == ("rv", "stage", "stage")  # type: ignore[attr-defined]
    else:
        # clearly ahead of every sibling, the lost one too: carries on
        assert (a.role, b.role, c.role) == ("rv", "stage", None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("sibling", ["held", "brief", "lost", "coasting", "self coasting", "untold"])
def test_a_told_role_is_the_banks_prior_only_while_the_pair_is_apart(sibling: str) -> None:
    """A role the geometry told is evidence while the pair is clearly apart;
    when the two tracks collapse inside the bar again (blends of both pieces,
    neither clearly ahead) for as long as it took to tell them apart (here
    10 s: parted at t = 290 s, told at 300 s), it says nothing of which piece
    each is on, and the split bank's prior goes back to the role-unknown
    mixture, also at the next impact prediction; clearly apart again, the
    role is held again. The role itself is kept. MC seed 1 SLV #188: stage
    2's track, told ``rv`` early, a blend 1.5-3.7 km from stage 2 and the
    payload inside the bar, lost before re-entry: a warhead's drag on stage
    2, 17.9 km off all flight. A shorter stretch inside the bar releases
    nothing, and a stretch broken by the pair clearly apart starts again
    (MC seed 1 IRBM #88: the re-entry vehicle's track, told ``rv`` ~27 s
    after the parting, inside the stage's track's bar for 5 s, released at
    once and lost 30 s later with the mixture's prior: final error 305 m ->
    13.9 km). A lost or coasting sibling inside the bar releases nothing (its
    position is its own prediction, no piece seen there: MC seed 1 IRBM #4,
    the re-entry vehicle's and the stage's tracks, 1.3 km apart and told
    right, coasting out of the radars' sight, were released and the
    vehicle's final error went 375 m -> 9.3 km)."""
    from collections import Counter

    from tocsin.fusion.ballistic import Ballistic

    a, b = _pair(500.0, t=300.0, role_a=None)
    a.part_t = b.part_t = 290.0  # type: ignore[attr-defined]
    x = a.combined()[0]
    a.drag = drag.split(drag.mixture_prior(separation.prior_parts("IRBM", None)), x, np.eye(6))  # type: ignore[attr-defined]

    def at(t: float, ahead_m: float | None = None) -> tuple[str | None, str | None]:
        # both tracks at t (same velocity: their gap along the axis is kept)
        a.t = b.t = t  # type: ignore[attr-defined]
        if ahead_m is not None:
            a.x[:, :3] = b.x[:, :3] + ahead_m * a.part_dir  # type: ignore[attr-defined]
        a.xc = b.xc = None  # type: ignore[attr-defined]
        return _roles(a, b)

    assert at(300.0) == ("rv", "stage")
    assert at(300.5) == ("rv", "stage")  # still clearly apart: held
    assert (a.told, a.prior_role, a.drag.role) == ("rv", "rv", "rv")  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["IRBM"] > 0.97  # type: ignore[attr-defined]
    if sibling == "self coasting":
        a.status = "coasting"  # type: ignore[attr-defined]  # (not updated by plots: its prediction)
    elif sibling == "untold":
        # never told apart from a (a duplicate on the same piece: MC seed 1 IRBM #88)
        b.role = b.told = None  # type: ignore[attr-defined]
    elif sibling not in ("held", "brief"):
        b.status = sibling  # type: ignore[attr-defined]
    assert at(301.0, 50.0)[0] == "rv"  # now 50 m ahead: inside the bar
    assert at(306.0)[0] == "rv"
    assert a.told == "rv"  # type: ignore[attr-defined]
    # 5 s inside the bar, told apart in 10 s: the verdict's noise, held
    assert (a.prior_role, a.drag.role) == ("rv", "rv")  # type: ignore[attr-defined]
    if sibling == "brief":
        assert at(307.0, 500.0) == ("rv", "stage")  # clearly apart again
        assert at(308.0, 50.0)[0] == "rv"  # inside again: a new stretch
        assert at(313.0)[0] == "rv"
        assert (a.prior_role, a.drag.role) == ("rv", "rv")  # type: ignore[attr-defined]
        a.status = "lost"  # type: ignore[attr-defined]
        assert at(340.0)[0] == "rv"
        a.coast_seen = True  # type: ignore[attr-defined]
        bal = Ballistic(TrackerConfig(), Counter())
        bal.tracks = {a.key: a, b.key: b}  # type: ignore[attr-defined]
        bal.predictions(a)  # type: ignore[arg-type]
        assert a.impact is not None  # type: ignore[attr-defined]  # (it predicted)
        assert (a.prior_role, a.drag.role) == ("rv", "rv")  # type: ignore[attr-defined]  # lost, held
        return
    assert at(311.0)[0] == "rv"  # 10 s inside the bar
    assert a.told == "rv"  # type: ignore[attr-defined]
    if sibling != "held":
        assert (a.prior_role, a.drag.role) == ("rv", "rv")  # type: ignore[attr-defined]
        return
    assert (a.prior_role, a.drag.role) == (None, None)  # type: ignore[attr-defined]
    km = a.drag.kind_mass()  # type: ignore[attr-defined]
    assert km["IRBM"] == pytest.approx(0.5, abs=1e-6), km  # nothing read yet: the mixture's prior
    assert (b.told, b.prior_role) == ("stage", None)  # type: ignore[attr-defined]
    a.coast_seen = True  # type: ignore[attr-defined]
    bal = Ballistic(TrackerConfig(), Counter())
    bal.tracks = {a.key: a, b.key: b}  # type: ignore[attr-defined]
    bal.predictions(a)  # type: ignore[arg-type]
    assert a.impact is not None  # type: ignore[attr-defined]  # (it predicted)
    assert a.drag.role is None  # type: ignore[attr-defined]  # not retold from Track.told
    assert at(312.0, 500.0) == ("rv", "stage")  # clearly ahead again
    assert (a.prior_role, a.drag.role) == ("rv", "rv")  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["IRBM"] > 0.97  # type: ignore[attr-defined]


def test_a_released_role_is_the_lost_tracks_prior_again() -> None:
    """A released role (the pair seen as blends inside the bar) is no
    evidence for another role, only none for this one while plots may still
    go either way. A track lost after the release takes no more plots: it is
    predicted with the role the geometry last told, not the mixture, and
    re-acquired (updated by plots) the release holds again. MC seed 1 lofted
    ICBM #61 (biased radars): the rv's track, told ``rv`` at t+239 s,
    released at t+291 s, lost at t+320 s for ~3,400 s of unobserved
    midcourse with the mixture's prior: final error 1.3 -> 10.5 km."""
    from collections import Counter

    from tocsin.fusion.ballistic import Ballistic

    a, b = _pair(500.0, t=300.0, role_a=None)
    a.part_t = b.part_t = 290.0  # type: ignore[attr-defined]
    x = a.combined()[0]
    a.drag = drag.split(drag.mixture_prior(separation.prior_parts("IRBM", None)), x, np.eye(6))  # type: ignore[attr-defined]

    def at(t: float, ahead_m: float | None = None) -> tuple[str | None, str | None]:
        a.t = b.t = t  # type: ignore[attr-defined]
        if ahead_m is not None:
            a.x[:, :3] = b.x[:, :3] + ahead_m * a.part_dir  # type: ignore[attr-defined]
        a.xc = b.xc = None  # type: ignore[attr-defined]
        return _roles(a, b)

    assert at(300.0) == ("rv", "stage")
    assert at(301.0, 50.0) == ("rv", "stage")  # inside the bar
    assert at(311.0) == ("rv", "stage")  # 10 s inside, told apart in 10 s: released
    assert (a.told, a.told_holds, a.prior_role) == ("rv", False, None)  # type: ignore[attr-defined]
    a.coast_seen = b.coast_seen = True  # type: ignore[attr-defined]
    bal = Ballistic(TrackerConfig(), Counter())
    bal.tracks = {a.key: a, b.key: b}  # type: ignore[attr-defined]
    bal.predictions(a)  # type: ignore[arg-type]
    assert a.drag.role is None  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["IRBM"] == pytest.approx(0.5, abs=1e-6)  # type: ignore[attr-defined]

    a.status = b.status = "lost"  # type: ignore[attr-defined]
    assert at(340.0) == ("rv", "stage")  # (a lost track is not told)
    assert a.told_holds is False  # type: ignore[attr-defined]  # still released
    assert (a.prior_role, b.prior_role) == ("rv", "stage")  # type: ignore[attr-defined]
    bal.predictions(a)  # type: ignore[arg-type]
    assert a.impact is not None  # type: ignore[attr-defined]  # (it predicted)
    assert a.drag.role == "rv"  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["IRBM"] > 0.97  # type: ignore[attr-defined]

    a.status = "confirmed"  # type: ignore[attr-defined]  # re-acquired: plots again, the release holds
    assert a.prior_role is None  # type: ignore[attr-defined]
    a.t += 60.0  # type: ignore[attr-defined]  # (the next prediction's time)
    bal.predictions(a)  # type: ignore[arg-type]
    assert a.drag.role is None  # type: ignore[attr-defined]
    assert a.drag.kind_mass()["IRBM"] == pytest.approx(0.5, abs=1e-6)  # type: ignore[attr-defined]
