"""The warning stage end to end on realistic tracks (built from solved
trajectories of the shipped scenarios, not from the fusion tracker)."""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest
import shapely
from capparselib.parsers import CAPParser
from warnhelpers import grid_registry, hokkaido_truth, open_sea_truth, tracks_from_truth

from tocsin.geo import ecef_to_geodetic
from tocsin.stage import Stage
from tocsin.warning import (
    DrillMode,
    LiveAuthorisation,
    Release,
    ReplayMode,
    WarningConfig,
    WarningEngine,
    authorise_live,
)
from tocsin.warning.areas import AreaRegistry
from tocsin.warning.cap import validate_cap
from tocsin.warning.engine import safe_id
from tocsin.wire import encode_json, make
from tocsin.wire.messages import AlertBody, Envelope, HeartbeatBody, TrackBody, TruthBody


@pytest.fixture(scope="module")
def registry() -> AreaRegistry:
    return AreaRegistry.default()


@pytest.fixture(scope="module")
def hok_truth() -> list[TruthBody]:
    return hokkaido_truth()


@pytest.fixture(scope="module")
def hok_tracks(hok_truth: list[TruthBody]) -> list[Envelope]:
    return tracks_from_truth(hok_truth, track_id="F-17", every_s=6.0)


@pytest.fixture(scope="module")
def sea_tracks() -> list[Envelope]:
    return tracks_from_truth(open_sea_truth(), track_id="F-3", every_s=5.0)


def run(engine: WarningEngine, envs: list[Envelope], tail_s: float = 1800.0) -> list[Envelope]:
    out: list[Envelope] = []
    for e in envs:
        out += engine.push(e)
        out += engine.advance(e.sent + 0.5)
    out += engine.advance(envs[-1].sent + tail_s)
    return out


@pytest.fixture(scope="module")
def hok_alerts(registry: AreaRegistry, hok_tracks: list[Envelope]) -> list[Envelope]:
    return run(WarningEngine(registry=registry), hok_tracks)


def _ground(truth: list[TruthBody]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xyz = np.array([b.state_ecef[:3] for b in truth if b.state_ecef is not None])
    lat, lon, _ = ecef_to_geodetic(xyz)
    t = np.array([b.t for b in truth])
    boost = np.array([b.phase == "boost" for b in truth])
    return t, lat, lon, boost


def test_is_a_stage_and_ignores_other_kinds(registry: AreaRegistry) -> None:
    eng = WarningEngine(registry=registry)
    assert isinstance(eng, Stage)
    hb = make("heartbeat", HeartbeatBody(node="n", t=1.0), partner="JP", source="n", seq=1, sent=1.0)
    assert eng.push(hb) == []
    assert eng.advance(10.0) == []


def test_default_engine_is_an_exercise() -> None:
    eng = WarningEngine()
    assert isinstance(eng.mode, DrillMode)
    assert eng.mode.status == "Exercise"


def _stories(alerts: list[Envelope]) -> dict[tuple[str, str], list[AlertBody]]:
    """Every (public, area)'s messages in order (an area named in ``areas`` or ``closes``)."""
    out: dict[tuple[str, str], list[AlertBody]] = {}
    for e in alerts:
        b = e.body
        assert isinstance(b, AlertBody)
        for c in (*b.areas, *b.closes):
            out.setdefault((e.partner, c), []).append(b)
    return out


def test_hokkaido_overflight_warned_before_it_happens(
    hok_alerts: list[Envelope], hok_truth: list[TruthBody], registry: AreaRegistry
) -> None:
    bodies = [a.body for a in hok_alerts]
    assert bodies
    assert all(isinstance(b, AlertBody) for b in bodies)
    assert {b.status for b in bodies} == {"Exercise"}
    first_warned: dict[str, float] = {}
    for b in bodies:
        for c in b.areas:
            first_warned.setdefault(c, b.t)
    t, lat, lon, boost = _ground(hok_truth)
    hok = registry.get("JP-01").geometry
    over = shapely.contains_xy(hok, lon, lat) & ~boost
    t_over = float(t[np.argmax(over)])
    assert "JP-01" in first_warned
    assert t_over - first_warned["JP-01"] > 240.0  # minutes of warning, not seconds
    # nothing far away: every warned area is within 60 km of the real ground track
    line = shapely.LineString(np.c_[lon[~boost], lat[~boost]])
    for code in first_warned:
        d_deg = registry.get(code).geometry.distance(line)
        assert d_deg < 0.6, (code, d_deg)
    assert not any(registry.get(c).country == "KR" for c in first_warned)
    # every area's story: an Alert first, an explicit close naming it last;
    # Hokkaido is told the missile passed over it (J-Alert's ミサイル通過)
    stories = _stories(hok_alerts)
    for (partner, code), msgs in stories.items():
        assert msgs[0].msg_type == "Alert", (partner, code)
        assert msgs[0].areas == [code]
        assert msgs[0].references == []
        assert msgs[-1].closes == [code], (partner, code)
        assert msgs[-1].areas == []
        assert all(m.closes == [] for m in msgs[:-1])
    jp01 = stories["JP", "JP-01"]
    assert jp01[-1].close == "passed"
    assert jp01[-1].msg_type == "Update"
    assert jp01[-1].t > t_over  # after it was over Hokkaido, not before
    assert "ミサイル通過。ミサイル通過。" in jp01[-1].cap
    assert "<responseType>AllClear</responseType>" in jp01[-1].cap
    # the first contact is the urgent one, with the area's own time in JST
    assert "ミサイル発射。ミサイル発射。" in jp01[0].cap
    assert "北海道の上空を通過する可能性があります" in jp01[0].cap
    assert "JST" in jp01[0].cap
    assert "UTC" not in jp01[0].cap


def test_every_alert_is_valid_cap_and_parses(hok_alerts: list[Envelope]) -> None:
    for a in hok_alerts:
        b = a.body
        assert validate_cap(b.cap) == [], b.id
        parsed = CAPParser(b.cap).as_dict()[0]
        assert str(parsed["cap_id"]) == b.id
        assert str(parsed["cap_status"]) == "Exercise"
        assert len(parsed["cap_info"]) == 3


def test_references_chain_per_area_thread(hok_alerts: list[Envelope]) -> None:
    seen: dict[str, list[str]] = {}
    for a in hok_alerts:
        b = a.body
        base, thread, n = b.id.rsplit(".", 2)
        instance, partner, area = base.split(".", 2)
        assert (instance, partner) == ("local", a.partner)
        assert area == safe_id((*b.areas, *b.closes)[0])
        key = f"{base}.{thread}"
        if b.msg_type == "Alert":
            assert b.references == []
            assert key not in seen
            seen[key] = [b.id]
        else:
            assert b.references == seen[key]
            seen[key].append(b.id)
        assert int(n) == len(seen[key]) - 1


def test_at_most_one_update_per_area_per_interval(hok_alerts: list[Envelope]) -> None:
    interval = WarningConfig().lifecycle.min_update_interval_s
    for (_, code), msgs in _stories(hok_alerts).items():
        for a, b in itertools.pairwise(msgs):
            if b.msg_type == "Alert":
                continue
            # only a more urgent instruction may come sooner
            assert b.t - a.t >= interval - 1e-6 or "fall" in b.cap, (code, a.id, b.id)


def test_deterministic_byte_identical(registry: AreaRegistry, hok_tracks: list[Envelope]) -> None:
    part = hok_tracks[:80]
    a = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    b = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    assert a
    assert a == b


def test_two_instances_fed_the_same_tracks_share_no_identifier(
    registry: AreaRegistry, hok_tracks: list[Envelope]
) -> None:
    part = hok_tracks[:80]
    a = run(WarningEngine(registry=registry, instance="serve-1a2b3c4d"), part, 100.0)
    b = run(WarningEngine(registry=registry, instance="serve-9f8e7d6c"), part, 100.0)
    assert a
    assert len(a) == len(b)
    assert not {e.body.id for e in a} & {e.body.id for e in b}
    # one sender per public
    senders = {(e.partner, e.body.cap.split("<sender>")[1].split("<")[0]) for e in a}
    assert len({s for _, s in senders}) == len({p for p, _ in senders})


def test_open_sea_warns_no_land(registry: AreaRegistry, sea_tracks: list[Envelope]) -> None:
    out = run(WarningEngine(registry=registry), sea_tracks)
    assert out
    land = {c for e in out for c in e.body.areas if registry.get(c).kind == "land"}
    assert land == set()
    # a sea zone's messages carry the mariners' instruction, not "go indoors"
    first = next(e.body for e in out if e.body.msg_type == "Alert")
    assert "海上保安庁" in first.cap
    assert "Vessels" in first.cap
    assert "建物の中" not in first.cap


def _retag(envs: list[Envelope], **changes: object) -> list[Envelope]:
    return [msgspec.structs.replace(e, body=msgspec.structs.replace(e.body, **changes)) for e in envs]


@pytest.mark.parametrize(
    "changes",
    [{"class_": "air"}, {"class_": "unknown"}, {"status": "tentative"}, {"quality": 0.2}],
)
def test_ineligible_tracks_never_alert(
    registry: AreaRegistry, hok_tracks: list[Envelope], changes: dict[str, object]
) -> None:
    envs = _retag(hok_tracks[:-1], **changes)
    assert run(WarningEngine(registry=registry), envs) == []


def _push_all(eng: WarningEngine, envs: list[Envelope]) -> list[Envelope]:
    out: list[Envelope] = []
    for e in envs:
        out += eng.push(e)
    return out


def _later(env: Envelope, dt: float, **changes: object) -> Envelope:
    return msgspec.structs.replace(
        env, sent=env.sent + dt, body=msgspec.structs.replace(env.body, t=env.body.t + dt, **changes)
    )


def test_a_track_reclassified_as_aircraft_is_corrected_area_by_area(
    registry: AreaRegistry, hok_tracks: list[Envelope]
) -> None:
    eng = WarningEngine(registry=registry)
    out = _push_all(eng, hok_tracks[:60])
    warned = {(p, c) for p, cs in eng.active_areas().items() for c in cs}
    assert warned
    last = hok_tracks[59]
    assert eng.push(_later(last, 1.0, class_="air")) == []  # a correction waits for the hold
    fixes = eng.advance(last.sent + 1.0 + WarningConfig().lifecycle.cancel_hold_s + 0.5)
    assert {(e.partner, e.body.closes[0]) for e in fixes} == warned  # every warned area, explicitly
    for e in fixes:
        assert (e.body.msg_type, e.body.close) == ("Cancel", "error")
        assert e.body.references[-1] == [o.body.id for o in out if o.partner == e.partner and
                                         e.body.closes[0] in o.body.areas][-1]  # fmt: skip
        assert "誤り" in e.body.cap
        assert "오발령" in e.body.cap
        assert "in error" in e.body.cap
    assert eng.active_areas() == {"JP": [], "KR": []}


def test_a_deleted_track_with_a_settled_prediction_keeps_its_areas_until_they_are_passed(
    registry: AreaRegistry, hok_tracks: list[Envelope], hok_truth: list[TruthBody]
) -> None:
    eng = WarningEngine(registry=registry)
    _push_all(eng, hok_tracks[:60])  # mid-course, 6 minutes before Hokkaido
    last = hok_tracks[59]
    before = set(eng.active_areas()["JP"])
    assert "JP-01" in before
    assert eng.push(_later(last, 1.0, status="deleted")) == []  # nothing withdrawn, nothing "lost"
    assert set(eng.active_areas()["JP"]) == before
    out = eng.advance(last.sent + 3000.0)
    stories = _stories(out)
    assert stories["JP", "JP-01"][-1].close == "passed"
    assert not any(e.body.close == "lost" for e in out)
    assert eng.active_areas()["JP"] == []


def test_a_track_deleted_at_its_impact_fell_it_was_not_lost(
    registry: AreaRegistry, sea_tracks: list[Envelope]
) -> None:
    eng = WarningEngine(registry=registry)
    out = run(eng, sea_tracks)  # tracks_from_truth deletes the track 30 s after its last report
    closes = [e.body for e in out if e.body.closes]
    assert closes
    assert {b.close for b in closes} <= {"passed", "fell"}
    fell = [b for b in closes if b.close == "fell"]
    assert fell
    assert "落下したものとみられます" in fell[0].cap
    assert "came down" in fell[0].cap or "come down" in fell[0].cap


def test_modes_set_status(registry: AreaRegistry, hok_tracks: list[Envelope]) -> None:
    part = hok_tracks[:70]
    replay = run(WarningEngine(registry=registry, mode=ReplayMode()), part, 10.0)
    assert replay
    assert {e.body.status for e in replay} == {"Test"}
    live = authorise_live(LiveAuthorisation("Director", "order 7", "warning@jp.example"))
    actual = run(WarningEngine(registry=registry, mode=live), part, 10.0)
    assert {e.body.status for e in actual} == {"Actual"}
    assert "EXERCISE" not in actual[0].body.cap
    # live alerts go out under the sender the authorisation names (not the
    # policy's default), one per public, unless a release names its own
    jp = [e for e in actual if e.partner == "JP"]
    assert jp
    assert {e.body.cap.count("<sender>warning-jp@jp.example</sender>") for e in jp} == {1}
    own = WarningConfig(releases=[Release(partner="JP", countries=["JP"], sender="alerts@fdma.example")])
    actual_own = run(WarningEngine(own, registry=registry, mode=live), part, 10.0)
    assert actual_own
    assert all("<sender>alerts@fdma.example</sender>" in e.body.cap for e in actual_own)


# ---------------------------------------------------------------- releases, fake grid


def _track(
    t: float, lat_lon_path: list[tuple[float, float]], impact: tuple[float, float], semi_major_m: float = 20e3
) -> Envelope:
    from tocsin.geo import geodetic_to_ecef
    from tocsin.wire.messages import Ellipse, ImpactPrediction

    la, lo = lat_lon_path[0]
    x = geodetic_to_ecef(la, lo, 300e3)
    body = TrackBody(
        id="G-1",
        t=t,
        state_ecef=[*map(float, x), 3000.0, 0.0, 0.0],
        cov=list(np.diag([100.0**2] * 3 + [5.0**2] * 3).ravel()),
        status="confirmed",
        class_="ballistic",
        impact=ImpactPrediction(
            t=t + 600,
            lat=impact[0],
            lon=impact[1],
            sigma_t_s=2.0,
            ellipse=Ellipse(semi_major_m=semi_major_m, semi_minor_m=10e3, bearing_deg=90.0),
        ),
        phase="ballistic",
        quality=1.0,
        path=[[a, b, t + 600 * i / (len(lat_lon_path) - 1)] for i, (a, b) in enumerate(lat_lon_path)],
    )
    return make("track", body, partner="US", source="fusion", seq=1, sent=t)


def test_each_release_gets_only_its_countries() -> None:
    reg = grid_registry()
    cfg = WarningConfig(
        releases=[
            Release(partner="KR", countries=["KR"], sender="warning@kr.example"),
            Release(partner="JP", countries=["JP"]),
        ]
    )
    eng = WarningEngine(cfg, registry=reg)
    # a path from Korea (west of 130 E in the fake grid) into Japan
    env = _track(1000.0, [(36.5, 127.5), (36.5, 129.5), (36.5, 131.5)], (36.5, 133.5))
    out = eng.push(env)
    assert {e.partner for e in out} == {"KR", "JP"}
    for e in out:
        assert e.body.msg_type == "Alert"
        [code] = e.body.areas  # one message per area
        assert reg.get(code).country == e.partner
        assert e.body.id.startswith(f"local.{e.partner}.")
    by = {e.partner: e.body for e in out}
    assert "<sender>warning@kr.example</sender>" in by["KR"].cap
    assert "<sender>warning-jp@tocsin.example</sender>" in by["JP"].cap  # derived: one per public
    # each public's own language leads (a reader that shows one info shows that)
    for partner, first in (("KR", "ko-KR"), ("JP", "ja-JP")):
        langs = [str(i["cap_language"]) for i in CAPParser(by[partner].cap).as_dict()[0]["cap_info"]]
        assert langs[0] == first, langs
        assert sorted(langs) == ["en-US", "ja-JP", "ko-KR"]
    # and its own clock: KST for a Korean area, JST for a Japanese one
    assert "KST" in by["KR"].cap
    assert "JST" in by["JP"].cap
    jp_only = WarningEngine(WarningConfig(releases=[Release(partner="JP", countries=["JP"])]), registry=reg)
    assert {e.partner for e in jp_only.push(env)} == {"JP"}


def test_impact_areas_need_probability() -> None:
    reg = grid_registry()
    # impact 27 km short of the box edge at 134 E, a 60 km x 10 km ellipse along the
    # track: P(impact beyond 134 E) ~ 0.14, the box there is not under the path
    env = _track(1000.0, [(37.5, 132.5), (37.5, 133.1), (37.5, 133.7)], (37.5, 133.7), semi_major_m=60e3)
    lo = {c for e in WarningEngine(registry=reg).push(env) for c in e.body.areas}
    assert "JP-0710" in lo
    eng = WarningEngine(
        WarningConfig(thresholds=msgspec.convert({"min_impact_probability": 0.4}, type=_thr())),
        registry=reg,
    )
    hi = {c for e in eng.push(env) for c in e.body.areas}
    assert "JP-0710" not in hi
    assert hi < lo


def _thr() -> type:
    from tocsin.warning.policy import Thresholds

    return Thresholds


def test_an_area_warned_again_after_its_close_gets_a_new_thread() -> None:
    reg = grid_registry()
    eng = WarningEngine(registry=reg, instance="n1")
    env = _track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    first = {e.body.areas[0]: e.body for e in eng.push(env)}
    assert first["JP-0608"].id == "n1.JP.JP-0608.1.0"
    air = msgspec.structs.replace(
        env, sent=1001.0, body=msgspec.structs.replace(env.body, class_="air", t=1001.0)
    )
    eng.push(air)
    closes = {e.body.closes[0]: e.body for e in eng.advance(1030.0)}
    assert closes["JP-0608"].id == "n1.JP.JP-0608.1.1"
    assert closes["JP-0608"].msg_type == "Cancel"
    back = msgspec.structs.replace(env, sent=1040.0, body=msgspec.structs.replace(env.body, t=1040.0))
    again = {e.body.areas[0]: e.body for e in eng.push(back)}
    assert again["JP-0608"].id == "n1.JP.JP-0608.2.0"
    assert again["JP-0608"].msg_type == "Alert"


def test_threats_expose_the_latest_assessment() -> None:
    eng = WarningEngine(registry=grid_registry())
    eng.push(_track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5)))
    th = eng.threats()["G-1"]
    assert th.phase == "ballistic"
    assert "JP-0608" in th.codes
    assert th.onset is not None


# ---------------------------------------------------------------- boost heading origin


def _boost_report(t: float, lon: float, cls: str, phase: str | None, seq: int) -> Envelope:
    """An object at 38 N climbing east at 1.5 km/s (one report of track "B-1")."""
    from tocsin.geo import enu_matrix, geodetic_to_ecef

    x = geodetic_to_ecef(38.0, lon, 20e3 + 1000.0 * t)
    v = enu_matrix(38.0, lon).T @ np.array([1500.0, 0.0, 1000.0])
    body = TrackBody(
        id="B-1",
        t=t,
        state_ecef=[*map(float, x), *map(float, v)],
        cov=list(np.diag([200.0**2] * 3 + [50.0**2] * 3).ravel()),
        status="confirmed",
        class_=cls,  # type: ignore[arg-type]
        phase=phase,  # type: ignore[arg-type]
        quality=1.0,
    )
    return make("track", body, partner="JP", source="fusion", seq=seq, sent=t + 0.5)


def test_boost_heading_origin_is_the_first_report_not_classed_air() -> None:
    # the tracker first reports the object unclassified (velocity not yet well
    # estimated), 30 km before it calls it ballistic; that earlier position gives
    # the heading at once, so the first ballistic report already warns ahead
    first = _boost_report(0.0, 129.5, "unknown", "unknown", 1)
    then = _boost_report(20.0, 129.84, "ballistic", "boost", 2)
    eng = WarningEngine(registry=grid_registry())
    assert eng.push(first) == []  # unknown class: never warns
    out = [e.body for e in eng.push(then) if e.partner == "JP"]
    assert {b.msg_type for b in out} == {"Alert"}
    assert "JP-0806" in {c for b in out for c in b.areas}  # 38-39 N, 130-131 E: just ahead
    # an aircraft's path is no launch plane: after an `air` report the origin is
    # the first report after it, and one report gives no baseline
    eng = WarningEngine(registry=grid_registry())
    assert eng.push(_boost_report(0.0, 129.5, "air", "unknown", 1)) == []
    assert eng.push(then) == []


# ---------------------------------------------------------------- never silent


def test_a_track_lost_in_boost_still_warns_until_it_could_have_come_down(
    registry: AreaRegistry, hok_tracks: list[Envelope], hok_truth: list[TruthBody]
) -> None:
    """Every sensor falls silent ~15 s before burnout (no impact ever predicted):
    the areas the missile could still reach are warned, say so ("tracking lost,
    stay sheltered until ..."), and are closed explicitly only after the real
    missile has passed them."""
    boost = [e for e in hok_tracks if e.body.phase == "boost"]
    assert len(boost) >= 4
    eng = WarningEngine(registry=registry)
    out = _push_all(eng, boost)
    last = boost[-1]
    gone = _later(last, 3.0, status="deleted")
    out += eng.push(gone)
    out += [a for k in range(1, 4000) for a in eng.advance(gone.sent + k)]
    assert eng.stats["lost"] == 1
    t, lat, lon, in_boost = _ground(hok_truth)
    hok = registry.get("JP-01").geometry
    over = shapely.contains_xy(hok, lon, lat) & ~in_boost
    t_left = float(t[np.flatnonzero(over)[-1]])  # the real missile leaves Hokkaido
    stories = _stories(out)
    jp01 = stories["JP", "JP-01"]
    assert jp01[0].t < float(t[np.argmax(over)]) - 120.0  # warned minutes ahead although tracking was lost
    assert jp01[-1].close == "lost"
    assert jp01[-1].t > t_left  # not closed before the real missile had gone
    said = " ".join(m.cap for m in jp01)
    assert "追跡が途絶えました" in said
    assert "추적이 중단" in said
    assert "Tracking of the missile was lost" in said
    assert "<certainty>Possible</certainty>" in said
    for (_, code), msgs in stories.items():
        assert msgs[0].msg_type == "Alert", code
        assert msgs[-1].closes == [code], code
    assert eng.active_areas() == {"JP": [], "KR": []}


def test_two_missiles_over_one_area_make_one_story() -> None:
    reg = grid_registry()
    eng = WarningEngine(registry=reg)
    a = _track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    b = msgspec.structs.replace(a, body=msgspec.structs.replace(a.body, id="G-2"), sent=1001.0)
    first = eng.push(a)
    assert [e.body.msg_type for e in first if "JP-0608" in e.body.areas] == ["Alert"]
    assert [e for e in eng.push(b) if "JP-0608" in e.body.areas] == []  # already told
    # the first turns out to be an aircraft: the area stays warned for the second
    eng.push(
        msgspec.structs.replace(a, sent=1002.0, body=msgspec.structs.replace(a.body, class_="air", t=1002.0))
    )
    assert eng.advance(1100.0) == [] or all("JP-0608" not in e.body.closes for e in eng.advance(1100.0))
    assert "JP-0608" in eng.active_areas()["JP"]
    eng.push(
        msgspec.structs.replace(b, sent=1101.0, body=msgspec.structs.replace(b.body, class_="air", t=1101.0))
    )
    closes = [e.body for e in eng.advance(1200.0) if "JP-0608" in e.body.closes]
    assert [c.msg_type for c in closes] == ["Cancel"]
    assert closes[0].references[0].endswith("JP-0608.1.0")


def test_a_release_reads_its_own_time_zone() -> None:
    reg = grid_registry()
    cfg = WarningConfig(releases=[Release(partner="JP", countries=["JP"], timezone="Pacific/Guam")])
    out = WarningEngine(cfg, registry=reg).push(
        _track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    )
    assert out
    from tocsin.warning.texts import clock

    for e in out:
        assert e.body.onset is not None
        assert clock(e.body.onset, "en-US", "Pacific/Guam") in e.body.cap
        assert "JST" not in e.body.cap


def test_prepare_takes_the_cap_polygons_off_the_first_alerts_path(
    registry: AreaRegistry, hok_tracks: list[Envelope], monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 17 (a): an area's first alert computed its CAP polygons on the way
    # out (up to ~30 ms a sea zone); prepare() (the stage process's warm-up)
    # computes every area's beforehand, for the process, and changes no output
    from tocsin.warning import engine as engine_mod
    from tocsin.warning.areas import Area

    part = hok_tracks[:80]
    monkeypatch.setattr(engine_mod, "_CAP_POLYGONS", {})
    want = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    assert b'"kind":"alert"' in want
    monkeypatch.setattr(engine_mod, "_CAP_POLYGONS", {})
    assert WarningEngine(registry=registry).prepare() == len(registry)

    def not_now(self: Area, max_points: int = 100) -> list[str]:
        raise AssertionError(f"CAP polygons of {self.code} computed on an alert's path")

    monkeypatch.setattr(Area, "cap_polygons", not_now)
    got = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    assert got == want
