"""Cross-sensor consistency: single-sensor tracks inside other live radars'
coverage are downgraded; real multi-sensor tracks, silent radars and objects
outside coverage are left alone."""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

from tocsin.exchange.consistency import (
    ConsistencyCheck,
    ConsistencyConfig,
    find_consistency,
    with_consistency,
)
from tocsin.geo import aer_to_ecef
from tocsin.wire import Envelope, HeartbeatBody, PlatformPos, PlotBody, SensorBody, TrackBody, make

T0 = 1_700_000_000.0
# three radars around the Sea of Japan, all round, 1000 km
SITES = {"A": (37.75, 128.9, "KR"), "B": (38.05, 138.3, "JP"), "C": (42.15, 139.47, "JP")}
# an object 300 km up, between them
OBJ = aer_to_ecef(90.0, 20.0, 700e3, 37.75, 128.9, 0.0)


def _sensor(sid: str, **kw: float) -> Envelope:
    lat, lon, partner = SITES[sid]
    body = SensorBody(
        id=sid,
        type="radar",
        platform="ground",
        lat=lat,
        lon=lon,
        alt_m=0.0,
        max_range_m=1_500e3,
        min_el_deg=0.5,
        **kw,  # type: ignore[arg-type]
    )
    return make("sensor", body, partner=partner, source=sid, seq=0, sent=T0)


def _plot(sid: str, t: float, seq: int = 1) -> Envelope:
    body = PlotBody(sensor=sid, t=t, range_m=500e3, az_deg=10.0, el_deg=5.0)
    return make("plot", body, partner=SITES[sid][2], source=sid, seq=seq, sent=t)


def _track(
    tid: str, t: float, sources: Sequence[str], xyz: NDArray[np.float64] = OBJ, q: float = 0.9
) -> Envelope:
    body = TrackBody(
        id=tid,
        t=t,
        state_ecef=[*map(float, xyz), 0.0, 0.0, 0.0],
        cov=[0.0] * 36,
        status="confirmed",
        class_="ballistic",
        sources=list(sources),
        quality=q,
    )
    return make("track", body, partner="ZZ", source="fusion", seq=1, sent=t)


def _alive(cc: ConsistencyCheck, t: float, ids: Sequence[str] = ("A", "B", "C")) -> None:
    for s in ids:
        cc.push(_plot(s, t))


def _setup(**kw: float) -> ConsistencyCheck:
    cc = ConsistencyCheck()
    for s in SITES:
        cc.push(_sensor(s, **kw))
    return cc


def test_the_object_is_in_everyones_coverage() -> None:
    cc = _setup()
    _alive(cc, T0)
    assert cc.expected(OBJ, T0 + 1) == ["A", "B", "C"]


def test_single_source_track_is_downgraded_after_the_grace_time() -> None:
    cc = _setup()
    out = []
    for k in range(40):
        t = T0 + k
        _alive(cc, t)
        out.extend(cc.push(_track("T-1", t, ["A"])))
    bodies = [e.body for e in out]
    # held at low quality while unconfirmed, then re-classed
    assert all(b.class_ == "ballistic" and b.quality == 0.2 for b in bodies[:20])
    assert all(b.class_ == "unknown" and b.quality == 0.2 for b in bodies[20:])
    assert cc.counts["flagged"] == 1
    assert cc.counts["held"] == 20
    assert cc.counts["downgraded"] == 20
    f = cc.flags["T-1"]
    assert f.as_dict() == {"track": "T-1", "t": T0 + 20, "contributor": "A", "expected": ["B", "C"]}
    assert find_consistency([object(), cc]) is cc
    assert find_consistency([]) is None
    assert f.contributor == "A"
    assert f.expected == ("B", "C")
    assert f.t == T0 + 20


def test_seen_by_two_sensors_is_never_touched() -> None:
    cc = _setup()
    for k in range(60):
        _alive(cc, T0 + k)
        (e,) = cc.push(_track("T-2", T0 + k, ["A", "B"]))
        assert e.body.class_ == "ballistic"
        assert e.body.quality == 0.9
    assert cc.counts["flagged"] == 0


def test_a_track_beside_it_with_another_velocity_does_not_corroborate() -> None:
    cc = _setup()
    near = OBJ + np.array([20e3, 0.0, 0.0])
    for k in range(40):
        _alive(cc, T0 + k)
        other = _track("T-B", T0 + k, ["B"], near).body
        moving = msgspec.structs.replace(other, state_ecef=[*other.state_ecef[:3], 0.0, 800.0, 0.0])
        cc.push(make("track", moving, partner="ZZ", source="f", seq=1, sent=T0))
        cc.push(_track("T-A", T0 + k, ["A"]))
    assert "T-A" in cc.flags


def test_a_split_track_of_another_radar_nearby_corroborates() -> None:
    cc = _setup()
    near = OBJ + np.array([20e3, 0.0, 0.0])  # B's own track of the same object, mis-registered
    for k in range(60):
        _alive(cc, T0 + k)
        cc.push(_track("T-B", T0 + k, ["B"], near))
        (e,) = cc.push(_track("T-A", T0 + k, ["A"]))
        assert e.body.quality == 0.9
    assert cc.counts["flagged"] == 0


def test_a_real_missile_is_held_only_until_the_second_radar_joins() -> None:
    cc = _setup()
    out = []
    for k in range(40):
        _alive(cc, T0 + k)
        out.append(cc.push(_track("T-R", T0 + k, ["A"] if k < 3 else ["A", "B"]))[0].body)
    assert [b.quality for b in out[:3]] == [0.2, 0.2, 0.2]
    assert all(b.quality == 0.9 and b.class_ == "ballistic" for b in out[3:])


def test_a_second_sensor_lifts_the_flag() -> None:
    cc = _setup()
    for k in range(30):
        _alive(cc, T0 + k)
        cc.push(_track("T-3", T0 + k, ["A"]))
    assert "T-3" in cc.flags
    (e,) = cc.push(_track("T-3", T0 + 31, ["A", "C"]))
    assert e.body.class_ == "ballistic"
    assert cc.counts["cleared"] == 1


def test_silent_radars_are_not_blamed() -> None:
    cc = _setup()
    for k in range(120):
        _alive(cc, T0 + k, ["A"])  # B and C never report: down, or their links are
        (e,) = cc.push(_track("T-4", T0 + k, ["A"]))
        assert e.body.class_ == "ballistic"
    assert cc.counts["flagged"] == 0


def test_a_radar_that_goes_silent_stops_counting() -> None:
    cc = ConsistencyCheck(config=ConsistencyConfig(alive_s=10.0))
    for s in SITES:
        cc.push(_sensor(s))
    _alive(cc, T0)
    assert cc.expected(OBJ, T0 + 5) == ["A", "B", "C"]
    assert cc.expected(OBJ, T0 + 11) == []


def test_a_partner_whose_link_went_silent_is_not_blamed() -> None:
    cc = _setup()
    _alive(cc, T0)
    assert cc.expected(OBJ, T0 + 10) == ["A", "B", "C"]
    # 20 s on: only KR (radar A) still talks; JP's link (B, C) is silent
    cc.push(
        make(
            "heartbeat",
            HeartbeatBody(node="KR-node", t=T0 + 20),
            partner="KR",
            source="KR-node",
            seq=1,
            sent=T0 + 20,
        )
    )
    assert cc.expected(OBJ, T0 + 20) == ["A"]


def test_outside_the_sector_or_range_is_not_expected() -> None:
    cc = _setup(az_from_deg=300.0, az_to_deg=320.0)  # every radar looks north-west only
    _alive(cc, T0)
    assert cc.expected(OBJ, T0) == []
    far = aer_to_ecef(90.0, 10.0, 3_000e3, 37.75, 128.9, 0.0)
    cc2 = _setup()
    _alive(cc2, T0)
    assert "A" not in cc2.expected(far, T0)  # 3,000 km: beyond A's 1,500 km


def test_below_the_horizon_or_on_the_ground_is_not_expected() -> None:
    cc = _setup()
    _alive(cc, T0)
    low = aer_to_ecef(90.0, 0.0, 200e3, 37.75, 128.9, 0.0)  # near the ground, A's horizon
    assert "A" not in cc.expected(low, T0)
    ground = aer_to_ecef(0.0, -1.0, 1e3, 40.0, 134.0, 0.0)
    assert cc.expected(ground, T0) == []


def test_ship_position_comes_from_its_plots() -> None:
    cc = ConsistencyCheck()
    cc.push(
        make(
            "sensor",
            SensorBody(id="S", type="radar", platform="ship", max_range_m=1_000e3),
            partner="JP",
            source="S",
            seq=0,
            sent=T0,
        )
    )
    assert cc.expected(OBJ, T0) == []
    p = PlotBody(
        sensor="S", t=T0, range_m=1.0, az_deg=0.0, el_deg=1.0, platform=PlatformPos(lat=39.0, lon=134.0)
    )
    cc.push(make("plot", p, partner="JP", source="S", seq=1, sent=T0))
    assert cc.expected(OBJ, T0 + 1) == ["S"]


class _Inner:
    """A stand-in tracker: eats sensors and plots, emits a track per plot of A."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def push(self, env: Envelope) -> list[Envelope]:
        self.seen.append(env.kind)
        if env.kind == "plot" and env.body.sensor == "A":
            return [_track("T-9", env.body.t, ["A"])]
        return []

    def advance(self, t: float) -> list[Envelope]:
        return [_track("T-9", t, ["A"])]


def test_wrapping_a_tracker_sees_its_inputs_and_reviews_its_outputs() -> None:
    inner = _Inner()
    cc = ConsistencyCheck(inner=inner)
    for s in SITES:
        assert cc.push(_sensor(s)) == []
    out: list[Envelope] = []
    for k in range(30):
        for s in ("B", "C", "A"):
            out.extend(cc.push(_plot(s, T0 + k, k + 1)))
    out.extend(cc.advance(T0 + 31))
    assert inner.seen.count("sensor") == 3
    assert out[0].body.class_ == "ballistic"
    assert out[-1].body.class_ == "unknown"
    assert cc.flags["T-9"].expected == ("B", "C")


def test_other_messages_pass_through_untouched() -> None:
    cc = ConsistencyCheck()
    p = _plot("A", T0)
    assert cc.push(p) == [p]
    assert cc.advance(T0) == []


def test_a_deleted_flagged_track_stays_downgraded_and_is_forgotten() -> None:
    cc = _setup()
    for k in range(25):
        _alive(cc, T0 + k)
        cc.push(_track("T-5", T0 + k, ["A"]))
    b = _track("T-5", T0 + 26, ["A"]).body
    env = make(
        "track", msgspec.structs.replace(b, status="deleted"), partner="ZZ", source="fusion", seq=2, sent=T0
    )
    (e,) = cc.push(env)
    assert e.body.class_ == "unknown"
    assert "T-5" in cc.flags  # kept for the report


# --- with the real simulator and tracker -------------------------------------------------------

GHOST = """\
seed: 5
start: 2026-11-25T00:00:00Z
duration_s: 200
launches: {launches}
partners:
  - code: KR
    sensors:
      - id: KR-R1
        type: radar
        site: {{lat: 36.95, lon: 127.55, alt_m: 300}}
        sigma_range_m: 40
        sigma_az_deg: 0.08
        sigma_el_deg: 0.08
        max_range_km: 900
        field_of_regard: {{az_from_deg: 270, az_to_deg: 120, el_min_deg: 1.0, el_max_deg: 85}}
        scan_period_s: 2.0
        clutter_per_scan: 0.3
      - id: KR-R2
        type: radar
        site: {{lat: 37.75, lon: 128.90, alt_m: 400}}
        sigma_range_m: 40
        sigma_az_deg: 0.08
        sigma_el_deg: 0.08
        max_range_km: 900
        field_of_regard: {{az_from_deg: 240, az_to_deg: 120, el_min_deg: 1.0, el_max_deg: 85}}
        scan_period_s: 2.0
        clutter_per_scan: 0.3
injects: {injects}
"""
FLIGHT = "{site: {lat: 39.15, lon: 127.45}, azimuth_deg: 120, time_s: 10, class: SRBM}"


def _run(text: str) -> tuple[ConsistencyCheck, list[TrackBody]]:
    from tocsin.drill.scenario import parse_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.fusion import Tracker, TrackerConfig

    sim = simulate(parse_scenario(text, "g.yaml"))
    cc = with_consistency([Tracker(TrackerConfig())])[0]
    assert isinstance(cc, ConsistencyCheck)
    out: list[Envelope] = []
    last = -math.inf
    for m in sorted(sim.messages, key=lambda e: e.sent):
        out += cc.push(m)
        if m.sent - last >= 1.0:
            out += cc.advance(m.sent)
            last = m.sent
    return cc, [e.body for e in out if isinstance(e.body, TrackBody)]


def test_a_simulated_ghost_is_flagged_and_never_stays_ballistic() -> None:
    text = GHOST.format(launches="[]", injects=f"[{{type: ghost-missile, sensor: KR-R1, {FLIGHT[1:]}]")
    cc, bodies = _run(text)
    assert cc.flags  # (the ghost's track may break in two: each is flagged)
    assert {f.contributor for f in cc.flags.values()} == {"KR-R1"}
    assert {f.expected for f in cc.flags.values()} == {("KR-R2",)}
    ballistic = {b.id for b in bodies if b.class_ == "ballistic" and b.status == "confirmed"}
    assert ballistic
    assert ballistic <= set(cc.flags)
    for tid in cc.flags:
        ghost = [b for b in bodies if b.id == tid]
        # never eligible for a warning (class ballistic with quality >= 0.5)
        assert not any(b.class_ == "ballistic" and (b.quality or 1.0) >= 0.5 for b in ghost)
        assert ghost[-1].class_ == "unknown"


def test_the_same_flight_when_real_is_left_alone() -> None:
    cc, bodies = _run(GHOST.format(launches=f"[{FLIGHT}]", injects="[]"))
    assert cc.flags == {}
    assert any(b.class_ == "ballistic" and (b.quality or 0.0) >= 0.5 for b in bodies)
    assert cc.counts["downgraded"] == 0


def test_aircraft_tracks_are_not_held_and_old_tracks_are_forgotten() -> None:
    cc = _setup()
    for k in range(40):
        _alive(cc, T0 + k)
        b = _track("T-A", T0 + k, ["A"]).body
        (e,) = cc.push(
            make("track", msgspec.structs.replace(b, class_="air"), partner="ZZ", source="f", seq=1, sent=T0)
        )
        assert e.body.quality == 0.9
    assert cc.counts["held"] == 0
    cc2 = ConsistencyCheck(config=ConsistencyConfig(forget_s=100.0))
    for k in range(600):
        cc2.push(_track(f"T-{k}", T0 + k, ["A"]))
    assert "T-0" not in cc2._tracks
    assert len(cc2._tracks) <= 100 + 512  # pruned every 512 reviews
