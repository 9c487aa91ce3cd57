"""The warning stage end to end on realistic tracks (built from solved
trajectories of the shipped scenarios, not from the fusion tracker)."""

from __future__ import annotations

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


def test_hokkaido_overflight_warned_before_it_happens(
    hok_alerts: list[Envelope], hok_truth: list[TruthBody], registry: AreaRegistry
) -> None:
    bodies = [a.body for a in hok_alerts]
    assert bodies
    assert all(isinstance(b, AlertBody) for b in bodies)
    assert {b.status for b in bodies} == {"Exercise"}
    assert bodies[0].msg_type == "Alert"
    first_warned = {}
    for b in bodies:
        if b.msg_type != "Cancel":
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
    assert not any(c.startswith("KR") for c in first_warned)
    # the last message is the all-clear
    assert bodies[-1].msg_type == "Cancel"
    assert bodies[-1].areas == []


def test_every_alert_is_valid_cap_and_parses(hok_alerts: list[Envelope]) -> None:
    for a in hok_alerts:
        b = a.body
        assert validate_cap(b.cap) == [], b.id
        parsed = CAPParser(b.cap).as_dict()[0]
        assert str(parsed["cap_id"]) == b.id
        assert str(parsed["cap_status"]) == "Exercise"
        assert len(parsed["cap_info"]) == 3


def test_references_chain(hok_alerts: list[Envelope]) -> None:
    seen: dict[str, list[str]] = {}  # per release stream
    for a in hok_alerts:
        b = a.body
        stream = b.id.split(".")[0]
        assert stream == a.partner
        if b.msg_type == "Alert":
            assert b.references == []
            seen[stream] = [b.id]
        else:
            assert b.references == seen[stream]
            seen[stream].append(b.id)


def test_deterministic_byte_identical(registry: AreaRegistry, hok_tracks: list[Envelope]) -> None:
    part = hok_tracks[:80]
    a = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    b = b"".join(encode_json(e) for e in run(WarningEngine(registry=registry), part, 100.0))
    assert a
    assert a == b


def test_open_sea_warns_no_land(registry: AreaRegistry, sea_tracks: list[Envelope]) -> None:
    out = run(WarningEngine(registry=registry), sea_tracks)
    land = {c for e in out for c in e.body.areas if registry.get(c).kind == "land"}
    assert land == set()


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


def test_reclassified_track_is_cancelled_at_once(registry: AreaRegistry, hok_tracks: list[Envelope]) -> None:
    eng = WarningEngine(registry=registry)
    out: list[Envelope] = []
    envs = hok_tracks[:60]
    for e in envs:
        out += eng.push(e)
    assert out
    assert out[-1].body.msg_type != "Cancel"
    last = envs[-1]
    air = msgspec.structs.replace(
        last, sent=last.sent + 1, body=msgspec.structs.replace(last.body, class_="air")
    )
    cancels = eng.push(air)
    open_streams = {e.partner for e in out if e.body.msg_type == "Alert"}
    assert {c.partner for c in cancels} == open_streams  # every open stream, at once
    for c in cancels:
        assert c.body.msg_type == "Cancel"
        last_of_stream = [e for e in out if e.partner == c.partner][-1]
        assert c.body.references[-1] == last_of_stream.body.id


def test_deleted_track_is_cancelled(registry: AreaRegistry, hok_tracks: list[Envelope]) -> None:
    eng = WarningEngine(registry=registry)
    out = []
    for e in hok_tracks[:60]:
        out += eng.push(e)
    last = hok_tracks[59]
    gone = msgspec.structs.replace(
        last, sent=last.sent + 1, body=msgspec.structs.replace(last.body, status="deleted")
    )
    cancels = eng.push(gone)
    assert cancels
    assert {c.body.msg_type for c in cancels} == {"Cancel"}
    assert eng.advance(last.sent + 5000) == []


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
    # policy's default), unless a release names its own
    assert {e.body.cap.count("<sender>warning@jp.example</sender>") for e in actual} == {1}
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
    by = {e.partner: e.body for e in out}
    assert set(by) == {"KR", "JP"}
    assert all(reg.get(c).country == "KR" for c in by["KR"].areas)
    assert all(reg.get(c).country == "JP" for c in by["JP"].areas)
    assert by["KR"].id.startswith("KR.")
    assert by["JP"].id.startswith("JP.")
    assert "<sender>warning@kr.example</sender>" in by["KR"].cap
    assert f"<sender>{cfg.sender}</sender>" in by["JP"].cap
    # each public's own language leads (a reader that shows one info shows that)
    for partner, first in (("KR", "ko-KR"), ("JP", "ja-JP")):
        langs = [str(i["cap_language"]) for i in CAPParser(by[partner].cap).as_dict()[0]["cap_info"]]
        assert langs[0] == first, langs
        assert sorted(langs) == ["en-US", "ja-JP", "ko-KR"]
    jp_only = WarningEngine(WarningConfig(releases=[Release(partner="JP", countries=["JP"])]), registry=reg)
    assert {e.partner for e in jp_only.push(env)} == {"JP"}


def test_impact_areas_need_probability() -> None:
    reg = grid_registry()
    # impact 27 km short of the box edge at 134 E, a 60 km x 10 km ellipse along the
    # track: P(impact beyond 134 E) ~ 0.14, the box there is not under the path
    env = _track(1000.0, [(37.5, 132.5), (37.5, 133.1), (37.5, 133.7)], (37.5, 133.7), semi_major_m=60e3)
    lo = WarningEngine(registry=reg).push(env)[0].body.areas
    assert "JP-0710" in lo
    eng = WarningEngine(
        WarningConfig(thresholds=msgspec.convert({"min_impact_probability": 0.4}, type=_thr())),
        registry=reg,
    )
    hi = eng.push(env)[0].body.areas
    assert "JP-0710" not in hi
    assert set(hi) < set(lo)


def _thr() -> type:
    from tocsin.warning.policy import Thresholds

    return Thresholds


def test_a_track_id_that_comes_back_gets_new_alert_ids() -> None:
    reg = grid_registry()
    eng = WarningEngine(registry=reg)
    env = _track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    [a] = eng.push(env)
    gone = msgspec.structs.replace(
        env, sent=1001.0, body=msgspec.structs.replace(env.body, status="deleted", t=1001.0)
    )
    [c] = eng.push(gone)
    back = msgspec.structs.replace(env, sent=1002.0, body=msgspec.structs.replace(env.body, t=1002.0))
    [a2] = eng.push(back)
    assert (a.body.id, c.body.id, a2.body.id) == ("JP.G-1.1.0", "JP.G-1.1.1", "JP.G-1.2.0")
    assert a2.body.msg_type == "Alert"


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
    out = {e.partner: e.body for e in eng.push(then)}
    assert out["JP"].msg_type == "Alert"
    assert "JP-0806" in out["JP"].areas  # 38-39 N, 130-131 E: just ahead
    # an aircraft's path is no launch plane: after an `air` report the origin is
    # the first report after it, and one report gives no baseline
    eng = WarningEngine(registry=grid_registry())
    assert eng.push(_boost_report(0.0, 129.5, "air", "unknown", 1)) == []
    assert eng.push(then) == []
