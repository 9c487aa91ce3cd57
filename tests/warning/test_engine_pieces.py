"""Warnings from separated objects (issue 16 item 3): a track whose producer
says it is a spent stage or debris (``role``) warns only where it may fall,
by policy (land and sea, land, sea, none), in its own words, and is closed
when it has fallen; a re-entry vehicle seen to manoeuvre on its way down
widens, never narrows, what is warned."""

from __future__ import annotations

import numpy as np
from warnhelpers import grid_registry

from tocsin.geo import enu_matrix, geodetic_to_ecef
from tocsin.warning import WarningConfig, WarningEngine
from tocsin.warning.policy import ObjectsPolicy
from tocsin.wire import make
from tocsin.wire.messages import AlertBody, Ellipse, Envelope, ImpactPoint, ImpactPrediction, TrackBody

T0 = 1_000.0


def _report(
    t: float,
    *,
    at: tuple[float, float, float] = (36.5, 130.5, 300e3),
    impact: tuple[float, float] = (36.5, 132.5),
    semi_major_m: float = 20e3,
    role: str | None = None,
    down_mps: float = 0.0,
    manoeuvring: bool | None = None,
    may_manoeuvre: bool | None = None,
    tid: str = "P-1",
    status: str = "confirmed",
    most_likely: ImpactPoint | None = None,
) -> Envelope:
    la, lo, h = at
    x = geodetic_to_ecef(la, lo, h)
    v = enu_matrix(la, lo).T @ np.array([3000.0, 0.0, -down_mps])
    path = [
        [at[0] + k * (impact[0] - at[0]) / 4, at[1] + k * (impact[1] - at[1]) / 4, t + 150.0 * k]
        for k in range(5)
    ]
    body = TrackBody(
        id=tid,
        t=t,
        state_ecef=[*map(float, x), *map(float, v)],
        cov=[float(c) for c in np.diag([100.0**2] * 3 + [5.0**2] * 3).ravel()],
        status=status,  # type: ignore[arg-type]
        class_="ballistic",
        impact=ImpactPrediction(
            t=t + 600.0,
            lat=impact[0],
            lon=impact[1],
            sigma_t_s=2.0,
            ellipse=Ellipse(semi_major_m=semi_major_m, semi_minor_m=10e3, bearing_deg=90.0),
            most_likely=most_likely,
        ),
        phase="ballistic",
        quality=1.0,
        path=path,
        role=role,  # type: ignore[arg-type]
        manoeuvring=manoeuvring,
        may_manoeuvre=may_manoeuvre,
    )
    return make("track", body, partner="JP", source="fusion", seq=int(t), sent=t)


def _areas(out: list[Envelope]) -> set[str]:
    return {c for e in out if e.partner == "JP" for c in e.body.areas}


def test_a_falling_stage_warns_only_where_it_may_fall_in_its_own_words() -> None:
    reg = grid_registry()
    missile = _areas(WarningEngine(registry=reg).push(_report(T0)))
    eng = WarningEngine(registry=reg)
    out = eng.push(_report(T0, role="stage"))
    stage = _areas(out)
    assert "JP-0608" in stage  # where it comes down
    assert stage < missile  # smaller: not the path it flies over (JP-0606 / JP-0607)
    assert not stage & {"JP-0606", "JP-0607"}
    first = next(e.body for e in out if e.partner == "JP" and e.body.areas == ["JP-0608"])
    assert first.msg_type == "Alert"
    assert "ミサイルから切り離された部品" in first.cap
    assert "분리된 발사체 부품" in first.cap
    assert "Parts separated from it (a spent rocket stage or debris) may come down" in first.cap
    assert "<value>debris</value>" in first.cap  # tocsin-instruction
    # it falls: each of its areas is told so, with the stage's words, as an all-clear
    closes = [e.body for k in range(1, 800) for e in eng.advance(T0 + k) if e.partner == "JP"]
    assert {c for b in closes for c in b.closes} == stage
    jp = next(b for b in closes if b.closes == ["JP-0608"])
    assert (jp.msg_type, jp.close) == ("Update", "fell")
    assert "<responseType>AllClear</responseType>" in jp.cap
    assert "切り離された部品は" in jp.cap
    assert "The parts separated from the missile" in jp.cap
    assert eng.active_areas()["JP"] == []


def test_the_policy_decides_where_pieces_warn() -> None:
    reg = grid_registry()

    def warned(rule: str, impact: tuple[float, float], role: str = "debris") -> set[str]:
        cfg = WarningConfig(objects=ObjectsPolicy(stage=rule, debris=rule))  # type: ignore[arg-type]
        return _areas(WarningEngine(cfg, registry=reg).push(_report(T0, impact=impact, role=role)))

    land, sea = (36.5, 132.5), (36.5, 145.5)
    assert "JP-0608" in warned("land-and-sea", land)
    assert "JP-0608" in warned("land", land)
    assert warned("sea", land) == set()
    assert warned("sea", sea) == {"sea:JP-0621"}
    assert warned("land", sea) == set()
    assert warned("none", land, role="stage") == set()
    # an rv, or no role at all, is a missile whatever the piece rules say
    cfg = WarningConfig(objects=ObjectsPolicy(stage="none", debris="none"))
    for role in ("rv", None):
        assert "JP-0606" in _areas(WarningEngine(cfg, registry=reg).push(_report(T0, role=role)))


def test_a_stage_lost_before_it_falls_keeps_its_areas_until_it_has_fallen() -> None:
    eng = WarningEngine(registry=grid_registry())
    eng.push(_report(T0, role="stage"))
    warned = set(eng.active_areas()["JP"])
    assert warned
    gone = _report(T0 + 30.0, role="stage", status="deleted")
    out = eng.push(gone)
    assert eng.stats["lost"] == 0  # never the tracking-lost corridor: a piece cannot thrust
    assert not any(e.body.closes for e in out)
    assert set(eng.active_areas()["JP"]) == warned
    closes = [e.body for k in range(1, 800) for e in eng.advance(T0 + 30.0 + k) if e.partner == "JP"]
    assert {c for b in closes for c in b.closes} == warned
    assert {b.close for b in closes} == {"fell"}
    assert all(b.t >= T0 + 600.0 for b in closes)  # not before its predicted fall


def _stories(out: list[Envelope]) -> dict[str, list[AlertBody]]:
    by: dict[str, list[AlertBody]] = {}
    for e in out:
        if e.partner != "JP":
            continue
        for c in (*e.body.areas, *e.body.closes):
            by.setdefault(c, []).append(e.body)
    return by


def test_a_manoeuvring_reentry_widens_never_narrows() -> None:
    """On its way down (60 km, descending) the predicted impact jumps 180 km,
    beyond both ellipses, off its old line: the first impact area stays warned until the object has
    come down, and the new one is added. The same jump while the object is still
    climbing at 300 km is an ordinary correction: the old area is withdrawn."""
    low = (36.5, 131.0, 60e3)
    for at, down, kept in ((low, 1500.0, True), ((36.5, 131.0, 300e3), -500.0, False)):
        eng = WarningEngine(registry=grid_registry())
        out = eng.push(_report(T0, at=at, impact=(36.5, 132.5), semi_major_m=5e3, down_mps=down))
        out += eng.push(_report(T0 + 2.0, at=at, impact=(36.5, 132.5), semi_major_m=5e3, down_mps=down))
        out += eng.push(_report(T0 + 4.0, at=at, impact=(38.5, 132.5), semi_major_m=5e3, down_mps=down))
        out += [e for k in range(1, 120) for e in eng.advance(T0 + 4.0 + k)]
        active = eng.active_areas()["JP"]
        assert "JP-0808" in active  # the new impact area
        assert ("JP-0608" in active) is kept, (at, active)
        story = _stories(out)["JP-0608"]
        if kept:
            assert story[0].msg_type == "Alert"
            assert all(b.close is None and b.msg_type != "Cancel" for b in story)  # never withdrawn
            closes = [e.body for k in range(120, 900) for e in eng.advance(T0 + 4.0 + k)]
            assert [b.close for b in closes if b.closes == ["JP-0608"]] == ["fell"]
        else:
            assert [(b.msg_type, b.close) for b in story] == [("Alert", None), ("Cancel", "error")]


def test_the_trackers_manoeuvre_flag_widens_at_once() -> None:
    """The tracker says the object manoeuvres (``manoeuvring``): even a jump too
    small to show it, or one high up, no longer withdraws an area."""
    eng = WarningEngine(registry=grid_registry())
    at = (36.5, 131.0, 300e3)
    eng.push(_report(T0, at=at, impact=(36.5, 132.5), semi_major_m=5e3))
    eng.push(_report(T0 + 2.0, at=at, impact=(38.5, 132.5), semi_major_m=5e3, manoeuvring=True))
    for k in range(1, 120):
        eng.advance(T0 + 2.0 + k)
    assert {"JP-0608", "JP-0808"} <= set(eng.active_areas()["JP"])


def test_a_missile_track_relabelled_stage_keeps_its_warnings() -> None:
    """The tracker may keep the spent stage on the missile's own track and call
    it ``stage`` after separation: what that track warned as a missile is not
    narrowed by the relabel (the areas under its path stay until closed)."""
    eng = WarningEngine(registry=grid_registry())
    eng.push(_report(T0))
    warned = set(eng.active_areas()["JP"])
    assert {"JP-0606", "JP-0607"} <= warned
    out = eng.push(_report(T0 + 2.0, role="stage"))
    out += [e for k in range(1, 60) for e in eng.advance(T0 + 2.0 + k)]
    assert not any(e.body.closes for e in out)
    assert set(eng.active_areas()["JP"]) == warned


def test_a_missile_that_may_pull_up_names_its_footprint_and_keeps_it_when_lost() -> None:
    """A confirmed track whose impact is a "may pull up" footprint
    (``may_manoeuvre``, 200 km long: its ballistic fall and the glide it may
    fly) names the areas in it, as a manoeuvring footprint's; lost with it, it
    keeps them until its fall (closed ``fell``), not the boost rule's
    tracking-lost corridor (for a track lost before its impact was known).
    Without the flag the same ellipse is unsettled: no impact area named."""
    at = (36.5, 131.0, 60e3)
    kw = {"at": at, "impact": (36.5, 133.0), "semi_major_m": 200e3, "down_mps": 300.0}
    plain = WarningEngine(registry=grid_registry())
    plain.push(_report(T0, **kw))  # type: ignore[arg-type]
    eng = WarningEngine(registry=grid_registry())
    out = eng.push(_report(T0, may_manoeuvre=True, **kw))  # type: ignore[arg-type]
    named = set(eng.active_areas()["JP"])
    # the footprint runs 200 km (2.2 deg) either side of 133.0 E along 36.5 N
    assert {"JP-0608", "JP-0610"} <= named  # 132-133 E, 134-135 E
    assert "JP-0610" not in plain.active_areas()["JP"]  # beyond its path
    out += eng.push(_report(T0 + 20.0, status="lost", may_manoeuvre=True, **kw))  # type: ignore[arg-type]
    assert eng.stats["lost"] == 0  # not the tracking-lost corridor
    out += [e for k in range(1, 900) for e in eng.advance(T0 + 20.0 + k)]
    closes = {c: e.body.close for e in out if e.partner == "JP" for c in e.body.closes}
    assert closes["JP-0610"] == "fell"
    assert eng.active_areas()["JP"] == []


def test_a_climbing_missile_that_may_pull_up_names_its_most_likely_fall_and_the_far_end_waits() -> None:
    """A "may pull up" footprint (``may_manoeuvre``, 200 km long, centred at
    133.5 E) with its most likely (ballistic) prediction beside it
    (``impact.most_likely``: 132.3 E, 20 km) sent while the missile still
    climbs names the most likely prediction's areas only: no glide can have
    begun before the apogee, and the glides' reach is still the drag prior's
    (threat.held_far_end). The same report on the way down names the
    footprint; with ``footprint_from_apogee`` off, the climbing one does too."""
    from tocsin.warning.threat import ThreatConfig

    ml = ImpactPoint(
        t=T0 + 500.0,
        lat=36.5,
        lon=132.3,
        sigma_t_s=2.0,
        ellipse=Ellipse(semi_major_m=20e3, semi_minor_m=5e3, bearing_deg=90.0),
    )
    kw = {"at": (36.5, 130.5, 40e3), "impact": (36.5, 133.5), "semi_major_m": 200e3, "most_likely": ml}

    def named(down_mps: float, cfg: WarningConfig | None = None) -> set[str]:
        eng = WarningEngine(registry=grid_registry(), config=cfg)
        eng.push(_report(T0, may_manoeuvre=True, down_mps=down_mps, **kw))  # type: ignore[arg-type]
        return set(eng.active_areas()["JP"])

    climbing, falling = named(-300.0), named(300.0)
    print("climbing", sorted(climbing), "falling", sorted(falling))
    assert "JP-0608" in climbing  # 132-133 E: the most likely fall
    assert not {"JP-0610", "JP-0611"} & climbing  # 134-136 E: the glides' far end waits
    assert {"JP-0610", "JP-0611"} <= falling
    off = WarningConfig(threat=ThreatConfig(footprint_from_apogee=False))
    assert {"JP-0610", "JP-0611"} <= named(-300.0, off)
