"""Injects: the scenario forms parse (and bad ones name their line), each inject's
effect is visible in the simulated or delivered stream, and the stream transforms
never crash and conserve counts as documented."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.drill.injects import (
    GENUINE,
    Delivery,
    DrillKeys,
    apply_injects,
    attacks_accepted,
    duplicate_burst,
    forged_partner,
    junk_flood,
    replay_old,
    sign_stream,
    tally,
)
from tocsin.drill.scenario import (
    DuplicateBurst,
    ForgedPartner,
    GhostMissile,
    JunkFlood,
    ReplayOld,
    Scenario,
    SensorBias,
    parse_scenario,
)
from tocsin.drill.simulate import SimulationResult, simulate
from tocsin.errors import ScenarioError
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.signing import verify
from tocsin.geo import ecef_to_aer, ecef_to_geodetic, great_circle_distance
from tocsin.wire import SensorBody, decode_json

HEAD = """\
seed: 11
start: 2022-11-01T23:51:00Z
duration_s: 240
tags: [quick, test]
launches:
  - id: F
    site: {lat: 39.15, lon: 127.45}
    azimuth_deg: 120
    class: SRBM
    fails_at_s: 40
air:
  - id: MIL-1
    kind: military
    start: {lat: 37.2, lon: 131.0}
    heading_deg: 270
    speed_mps: 280
    alt_m: 9000
  - id: UAV-1
    kind: drone
    start: {lat: 37.9, lon: 129.5}
    heading_deg: 0
    speed_mps: 35
    alt_m: 3000
partners:
  - code: JP
    sensors:
      - id: JP-S1
        type: radar
        platform: ship
        course: {start: {lat: 38.6, lon: 131.0}, heading_deg: 270, speed_mps: 10}
        sigma_range_m: 15
        sigma_az_deg: 0.03
        sigma_el_deg: 0.03
        max_range_km: 900
        clutter_per_scan: 0.2
  - code: KR
    sensors:
      - id: KR-R1
        type: radar
        site: {lat: 37.75, lon: 128.9, alt_m: 400}
        sigma_range_m: 40
        sigma_az_deg: 0.05
        sigma_el_deg: 0.05
        max_range_km: 900
        field_of_regard: {az_from_deg: 270, az_to_deg: 120, el_min_deg: 0.5, el_max_deg: 85}
        clutter_per_scan: 0.2
injects:
"""

INJECTS = """\
  - {type: sensor-off, sensor: JP-S1, from_s: 120}
  - {type: sensor-bias, sensor: KR-R1, from_s: 150, az_deg: 1.5}
  - type: ghost-missile
    id: G
    sensor: KR-R1
    site: {lat: 39.6, lon: 127.2}
    azimuth_deg: 150
    time_s: 10
    class: SRBM
  - {type: duplicate-burst, partner: KR, from_s: 20, to_s: 50, copies: 2, reorder_s: 3}
  - {type: replay-old, partner: KR, from_s: 50, to_s: 80, delay_s: 10}
  - {type: replay-old, partner: JP, from_s: 10, to_s: 30, at_s: 200}
  - {type: forged-partner, partner: KR, from_s: 80, to_s: 110}
  - {type: forged-partner, partner: KR, from_s: 80, to_s: 110, mode: foreign-source, by: JP, every: 2}
  - {type: forged-partner, partner: JP, from_s: 80, to_s: 110, mode: unknown-partner, every: 3}
  - {type: forged-partner, partner: JP, from_s: 80, to_s: 110, mode: unsigned, every: 3}
  - {type: junk-flood, partner: JP, from_s: 100, to_s: 110, rate_per_s: 10, oversize_bytes: 4096}
"""


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return parse_scenario(HEAD + INJECTS, "inj.yaml")


@pytest.fixture(scope="module")
def res(sc: Scenario) -> SimulationResult:
    return simulate(sc)


@pytest.fixture(scope="module")
def plain(sc: Scenario) -> SimulationResult:
    """The same scenario with no injects at all."""
    return simulate(parse_scenario(HEAD + "  []\n", "plain.yaml"))


# --- the language -------------------------------------------------------------------------


def test_new_injects_parse_into_structs(sc: Scenario) -> None:
    kinds = Counter(type(i).__name__ for i in sc.spec.injects)
    assert kinds["GhostMissile"] == 1
    assert kinds["ForgedPartner"] == 4
    assert kinds["ReplayOld"] == 2
    assert sc.spec.tags == ["quick", "test"]
    assert sc.spec.launches[0].fails_at_s == 40
    g = next(i for i in sc.spec.injects if isinstance(i, GhostMissile))
    assert g.missile_class == "SRBM"
    assert g.sensor == "KR-R1"


@pytest.mark.parametrize(
    ("inject", "field", "words"),
    [
        (
            "{type: ghost-missile, sensor: NOPE, site: {lat: 39, lon: 127}, azimuth_deg: 90, class: SRBM}",
            "injects[0].sensor",
            "no sensor",
        ),
        (
            "{type: ghost-missile, sensor: KR-R1, site: {lat: 39, lon: 127}, azimuth_deg: 90}",
            "injects[0].range_km",
            "give `class`",
        ),
        ("{type: sensor-bias, sensor: KR-R1, from_s: 50, to_s: 20}", "injects[0].to_s", "after"),
        ("{type: duplicate-burst, partner: US, from_s: 1, to_s: 2}", "injects[0].partner", "no partner"),
        ("{type: duplicate-burst, partner: KR, from_s: 1, to_s: 2, copies: 0}", "injects[0].copies", ">= 1"),
        ("{type: replay-old, partner: KR, from_s: 1, to_s: 2}", "injects[0].delay_s", "one of them"),
        ("{type: replay-old, partner: KR, from_s: 1, to_s: 20, at_s: 5}", "injects[0].at_s", "after"),
        (
            "{type: forged-partner, partner: KR, from_s: 1, to_s: 2, mode: foreign-source}",
            "injects[0].by",
            "needs",
        ),
        (
            "{type: forged-partner, partner: KR, from_s: 1, to_s: 2, mode: unknown-partner, as_partner: JP}",
            "injects[0].as_partner",
            "is a partner",
        ),
        (
            "{type: junk-flood, partner: JP, from_s: 1, to_s: 2, rate_per_s: 0}",
            "injects[0].rate_per_s",
            "> 0",
        ),
        (
            "{type: junk-flood, partner: JP, from_s: 500, to_s: 600}",
            "injects[0].from_s",
            "end of the scenario",
        ),
        (
            "{type: junk-flood, partner: JP, from_s: 0, to_s: 200, rate_per_s: 10000}",
            "injects[0].rate_per_s",
            "at most 1,000,000",
        ),
        ("{type: teleport, partner: JP}", "injects[0]", ""),
    ],
)
def test_bad_injects_name_the_field(inject: str, field: str, words: str) -> None:
    text = HEAD + f"  - {inject}\n"
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, "bad.yaml")
    err = ei.value
    assert err.file == "bad.yaml"
    assert err.line == HEAD.count("\n") + 1
    assert err.field is not None
    assert err.field.startswith(field)
    assert words in err.message


def test_failure_after_burnout_is_an_error_at_the_launch() -> None:
    text = (HEAD + "  []\n").replace("fails_at_s: 40", "fails_at_s: 150")
    with pytest.raises(ScenarioError) as ei:
        simulate(parse_scenario(text, "late.yaml"))
    assert ei.value.field == "launches[0].fails_at_s"
    assert "burns out" in ei.value.message
    assert ei.value.line == HEAD[: HEAD.index("fails_at_s")].count("\n") + 1


# --- air and sea ------------------------------------------------------------------------------


def test_boost_failure_falls_near_the_launch_site(res: SimulationResult) -> None:
    f = res.objects["F"]
    assert f.failed_at_s == 40
    assert f.trajectory is not None
    assert f.trajectory.burnout_t == 40
    dist = float(great_circle_distance(39.15, 127.45, f.impact_lat, f.impact_lon))
    assert dist < 60e3  # a nominal SRBM flies ~450 km
    assert f.t_end - f.t_start < 200
    truth = [m.body for m in res.truth if m.body.object == "F"]
    impact = [b for b in truth if b.phase == "impact"]
    assert len(impact) == 1
    assert math.isclose(impact[0].lat, f.impact_lat, abs_tol=1e-6)
    boost = [b for b in truth if b.phase == "boost"]
    assert max(b.t for b in boost) < f.t_start + 40 + 1e-6
    # the unpowered fall: no acceleration beyond gravity + drag, height falls to 0
    alts = ecef_to_geodetic(np.array([b.state_ecef[:3] for b in truth if b.state_ecef]))[2]
    assert alts.max() < 40e3
    assert alts[-1] < 1000


def test_military_aircraft_and_drone_fly_and_are_seen(res: SimulationResult) -> None:
    for oid, speed in (("MIL-1", 280), ("UAV-1", 35)):
        o = res.objects[oid]
        assert o.cls == "air"
        x = o.states(np.array([o.t_start + 10, o.t_start + 110]))
        assert math.isclose(float(np.linalg.norm(x[1, :3] - x[0, :3])) / 100, speed, rel_tol=0.02)
    # KR-R1 sees the military jet west of Ulleungdo: plots near its truth
    o = res.objects["MIL-1"]
    hits = 0
    for m in res.messages:
        b = m.body
        if m.kind == "plot" and b.sensor == "KR-R1" and b.t < o.t_end:
            az, _el, rg = ecef_to_aer(o.states(np.array([b.t]))[0, :3], 37.75, 128.9, 400.0)
            hits += abs(float(rg) - b.range_m) < 500 and abs(float(az) - b.az_deg) < 0.5
    assert hits > 20


def test_ship_radar_goes_off_mid_flight(res: SimulationResult, plain: SimulationResult, sc: Scenario) -> None:
    t_off = sc.spec.start_epoch + 120
    ship = [m.body for m in res.messages if m.kind == "plot" and m.source == "JP-S1"]
    ship0 = [m.body for m in plain.messages if m.kind == "plot" and m.source == "JP-S1"]
    assert ship
    assert all(b.t < t_off for b in ship)
    assert any(b.t >= t_off for b in ship0)
    assert all(b.platform is not None for b in ship)  # the ship says where it was


def test_ghost_missile_only_from_its_sensor_and_never_in_truth(res: SimulationResult) -> None:
    assert "G" in res.ghosts
    assert "G" not in res.objects
    assert {m.body.object for m in res.truth} == set(res.objects)
    assert res.stats["KR-R1"].ghost > 20
    assert res.stats["JP-S1"].ghost == 0
    g = res.ghosts["G"]
    kr = [m.body for m in res.messages if m.kind == "plot" and m.source == "KR-R1"]
    near = 0
    for b in kr:
        if g.t_start <= b.t <= g.t_end and b.t < res.scenario.spec.start_epoch + 150:  # before the bias
            _az, el, rg = ecef_to_aer(g.states(np.array([b.t]))[0, :3], 37.75, 128.9, 400.0)
            near += abs(float(rg) - b.range_m) < 300 and abs(float(el) - b.el_deg) < 0.3
    assert near > 20


def test_sensor_bias_shifts_azimuth_from_its_start(res: SimulationResult, plain: SimulationResult) -> None:
    t_bias = res.scenario.spec.start_epoch + 150
    o = res.objects["MIL-1"]

    def errs(r: SimulationResult) -> tuple[list[float], list[float]]:
        before: list[float] = []
        after: list[float] = []
        for m in r.messages:
            b = m.body
            if m.kind != "plot" or b.sensor != "KR-R1" or b.t > o.t_end:
                continue
            az, _, rg = ecef_to_aer(o.states(np.array([b.t]))[0, :3], 37.75, 128.9, 400.0)
            if abs(float(rg) - b.range_m) > 500:
                continue
            d = (b.az_deg - float(az) + 180) % 360 - 180
            if abs(d) > 3:  # another object at the same range
                continue
            (after if b.t >= t_bias else before).append(d)
        return before, after

    before, after = errs(res)
    assert before
    assert after
    assert abs(float(np.mean(before))) < 0.1
    assert abs(float(np.mean(after)) - 1.5) < 0.1
    _, after0 = errs(plain)
    assert abs(float(np.mean(after0))) < 0.1


def test_descriptor_carries_the_field_of_regard(res: SimulationResult) -> None:
    d = {m.source: m.body for m in res.messages if m.kind == "sensor"}
    kr, ship = d["KR-R1"], d["JP-S1"]
    assert isinstance(kr, SensorBody)
    assert isinstance(ship, SensorBody)
    assert (kr.az_from_deg, kr.az_to_deg, kr.min_el_deg, kr.max_el_deg) == (270, 120, 0.5, 85)
    assert ship.az_from_deg is None
    assert ship.max_el_deg is None


# --- the delivered stream ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def streams(sc: Scenario, res: SimulationResult) -> tuple[DrillKeys, list[Delivery], list[Delivery]]:
    keys = DrillKeys.for_scenario(sc)
    signed = sign_stream(sc, res.messages, keys)
    return keys, signed, apply_injects(sc, signed, keys)


def test_sign_stream_signs_with_drill_keys(
    sc: Scenario, res: SimulationResult, streams: tuple[DrillKeys, list[Delivery], list[Delivery]]
) -> None:
    keys, signed, _ = streams
    assert len(signed) == len(res.messages)
    assert all(a.t <= b.t for a, b in itertools.pairwise(signed))
    for d in signed[:50]:
        env = decode_json(d.data)
        assert env.partner == d.partner
        assert d.origin == GENUINE
        assert verify(env, keys.key(env.partner).public_key())
        assert not verify(env, keys.forger.public_key())
    # deterministic, and different per seed and partner
    again = DrillKeys.for_scenario(sc)
    assert again.key("JP").private_bytes_raw() == keys.key("JP").private_bytes_raw()
    assert keys.key("JP").private_bytes_raw() != keys.key("KR").private_bytes_raw()
    assert DrillKeys(12).key("JP").private_bytes_raw() != keys.key("JP").private_bytes_raw()
    reg = keys.registry()
    assert set(reg.partners) == {"JP", "KR"}
    assert reg.partners["KR"].owns_source("KR-R1")
    assert not reg.partners["KR"].owns_source("JP-S1")


def test_the_exchange_refuses_every_attack_and_keeps_the_genuine_traffic(
    streams: tuple[DrillKeys, list[Delivery], list[Delivery]],
) -> None:
    keys, signed, stream = streams
    assert all(a.t <= b.t for a, b in itertools.pairwise(stream))
    ing = Ingress(keys.registry(), max_skew_s=30.0)
    reasons = []
    for d in stream:
        v = ing.check_bytes(d.data, now=d.t)
        reasons.append(None if v.ok else v.reason)
    t = tally(stream, reasons)
    assert set(t) == {"genuine", "duplicate-burst", "replay-old", "forged-partner", "junk-flood"}
    # each genuine message is accepted exactly once: as itself or as one of its copies
    genuine_ok = t["genuine"].accepted + t["duplicate-burst"].accepted
    assert genuine_ok == len(signed)
    assert set(t["duplicate-burst"].refused) <= {"duplicate"}
    assert t["replay-old"].accepted == 0
    # the quick replay is a duplicate; the one 170 s later is too old for the clock check
    assert t["replay-old"].refused["duplicate"] > 0
    assert t["replay-old"].refused["clock_skew"] > 0
    f = t["forged-partner"]
    assert f.accepted == 0
    assert {"bad_signature", "foreign_source", "unknown_partner", "missing_signature"} == set(f.refused)
    assert attacks_accepted(stream, reasons) == 0
    j = t["junk-flood"]
    assert j.delivered == 100
    assert j.accepted == 0
    assert set(j.refused) == {"schema", "unknown_kind"}
    assert j.refused["unknown_kind"] == 20


def test_stream_injects_are_deterministic(sc: Scenario, res: SimulationResult) -> None:
    a = apply_injects(sc, sign_stream(sc, res.messages))
    b = apply_injects(sc, sign_stream(sc, res.messages))
    assert a == b


def test_forgeries_move_the_plot_and_take_fresh_seqs(
    streams: tuple[DrillKeys, list[Delivery], list[Delivery]],
) -> None:
    _, signed, stream = streams
    top: Counter[str] = Counter()
    for d in signed:
        e = decode_json(d.data)
        top[e.source] = max(top[e.source], e.seq)
    forged = [decode_json(d.data) for d in stream if d.origin == "forged-partner"]
    assert forged
    assert all(e.seq > top[e.source] for e in forged)
    kinds = Counter(e.partner for e in forged)
    assert kinds["XX"] > 0
    assert kinds["JP"] > 0
    assert kinds["KR"] > 0


# --- properties of the transforms ----------------------------------------------------------------

T0 = 1_667_346_660.0  # the scenario start


def _deliveries() -> st.SearchStrategy[list[Delivery]]:
    line = st.one_of(
        st.binary(max_size=64),
        st.just(
            b'{"v":1,"kind":"plot","partner":"KR","source":"KR-R1","seq":3,"sent":1667346700.0,"body":{}}'
        ),
    )
    return st.lists(
        st.builds(
            Delivery,
            st.floats(T0 - 10, T0 + 300, allow_nan=False),
            st.sampled_from(["JP", "KR", "XX"]),
            line,
            st.sampled_from([GENUINE, GENUINE, "junk-flood"]),
        ),
        max_size=40,
    )


Mode = Literal["bad-key", "unsigned", "foreign-source", "unknown-partner"]
_SC = parse_scenario(HEAD + "  []\n", "p.yaml")
_KEYS = DrillKeys.for_scenario(_SC)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ds=_deliveries(),
    lo=st.floats(0, 200),
    span=st.floats(0.5, 100),
    copies=st.integers(1, 4),
    reorder=st.floats(0, 10),
    seed=st.integers(0, 2**32),
)
def test_duplicate_burst_conserves(
    ds: list[Delivery], lo: float, span: float, copies: int, reorder: float, seed: int
) -> None:
    inj = DuplicateBurst(partner="KR", from_s=lo, to_s=lo + span, copies=copies, reorder_s=reorder)
    out = duplicate_burst(_SC, inj, ds, np.random.default_rng(seed))
    k = sum(1 for d in ds if d.partner == "KR" and T0 + lo <= d.t < T0 + lo + span)
    assert len(out) == len(ds) + copies * k
    assert Counter(d.data for d in out) == Counter(d.data for d in ds) + Counter(
        d.data for d in ds if d.partner == "KR" and T0 + lo <= d.t < T0 + lo + span for _ in range(copies)
    )
    assert all(d.t >= min((x.t for x in ds), default=0) for d in out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=_deliveries(), lo=st.floats(0, 200), span=st.floats(0.5, 100), delay=st.floats(0.1, 100))
def test_replay_old_conserves(ds: list[Delivery], lo: float, span: float, delay: float) -> None:
    inj = ReplayOld(partner="KR", from_s=lo, to_s=lo + span, delay_s=delay)
    out = replay_old(_SC, inj, ds, np.random.default_rng(0))
    k = sum(1 for d in ds if d.partner == "KR" and d.origin == GENUINE and T0 + lo <= d.t < T0 + lo + span)
    assert len(out) == len(ds) + k
    assert out[: len(ds)] == ds
    assert all(d.origin == "replay-old" for d in out[len(ds) :])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ds=_deliveries(),
    mode=st.sampled_from(["bad-key", "unsigned", "foreign-source", "unknown-partner"]),
    every=st.integers(1, 4),
)
def test_forged_partner_never_crashes_and_counts(ds: list[Delivery], mode: Mode, every: int) -> None:
    inj = ForgedPartner(
        partner="KR",
        from_s=0,
        to_s=300,
        mode=mode,
        every=every,
        by="JP" if mode == "foreign-source" else None,
    )
    out = forged_partner(_SC, inj, ds, _KEYS)
    assert out[: len(ds)] == ds
    ing = Ingress(_KEYS.registry(), max_skew_s=None)
    for d in out[len(ds) :]:
        assert d.origin == "forged-partner"
        assert not ing.check_bytes(d.data).ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lo=st.floats(0, 200), span=st.floats(0.01, 20), rate=st.floats(0.1, 50), seed=st.integers(0, 2**32))
def test_junk_flood_counts_and_is_always_refused(lo: float, span: float, rate: float, seed: int) -> None:
    inj = JunkFlood(partner="JP", from_s=lo, to_s=lo + span, rate_per_s=rate, oversize_bytes=2048)
    out = junk_flood(_SC, inj, [], np.random.default_rng(seed))
    assert len(out) == math.floor(span * rate + 1e-9)
    ing = Ingress(_KEYS.registry(), max_skew_s=None)
    for d in out:
        assert T0 + lo <= d.t < T0 + lo + span
        assert b"\n" not in d.data
        v = ing.check_bytes(d.data)
        assert not v.ok
        assert v.reason in ("schema", "unknown_kind")


def test_apply_injects_ignores_simulator_injects_and_sorts() -> None:
    sc = parse_scenario(HEAD + "  - {type: sensor-bias, sensor: KR-R1, az_deg: 1}\n", "b.yaml")
    ds = [Delivery(T0 + 5, "JP", b"b"), Delivery(T0 + 1, "KR", b"a")]
    assert apply_injects(sc, ds) == [ds[1], ds[0]]
    assert isinstance(sc.spec.injects[0], SensorBias)


def test_tally_needs_one_verdict_per_delivery() -> None:
    with pytest.raises(ValueError, match="one verdict"):
        tally([Delivery(T0, "JP", b"x")], [])
    t = tally([Delivery(T0, "JP", b"x"), Delivery(T0, "JP", b"y", "junk-flood")], [None, "schema"])
    assert t["genuine"].accepted == 1
    assert t["junk-flood"].refused == Counter(schema=1)


def test_attacks_accepted_counts_what_got_through() -> None:
    g, f, j = (
        Delivery(T0, "JP", b"a"),
        Delivery(T0, "JP", b"f", "forged-partner"),
        Delivery(T0, "JP", b"j", "junk-flood"),
    )
    dup = Delivery(T0 + 1, "JP", b"a", "duplicate-burst")
    # an open exchange that accepts everything lets three attacks through
    assert attacks_accepted([g, f, j, dup], [None, None, None, None]) == 3
    # a duplicate arriving first is the one copy accepted; the original then is refused
    assert attacks_accepted([dup, g], [None, "duplicate"]) == 0
    assert attacks_accepted([g, f, j, dup], [None, "bad_signature", "schema", "duplicate"]) == 0
    with pytest.raises(ValueError, match="one verdict"):
        attacks_accepted([g], [])


_PARTNERS = ("JP", "KR")


@st.composite
def _stream_injects(draw: st.DrawFn) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["duplicate-burst", "replay-old", "forged-partner", "junk-flood"]))
        p = draw(st.sampled_from(_PARTNERS))
        lo = draw(st.integers(0, 200))
        hi = lo + draw(st.integers(1, 40))
        tail = {
            "duplicate-burst": f"copies: {draw(st.integers(1, 3))}",
            "replay-old": f"delay_s: {draw(st.integers(1, 30))}",
            "forged-partner": f"every: {draw(st.integers(1, 3))}",
            "junk-flood": "rate_per_s: 2, oversize_bytes: 1024",
        }[kind]
        out.append(f"{{type: {kind}, partner: {p}, from_s: {lo}, to_s: {hi}, {tail}}}")
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(injects=_stream_injects(), ds=_deliveries())
def test_apply_injects_only_adds_and_counts_add_up(injects: list[str], ds: list[Delivery]) -> None:
    sc = parse_scenario(
        HEAD + "".join(f"  - {i}\n" for i in injects) + ("  []\n" if not injects else ""), "h.yaml"
    )
    out = apply_injects(sc, ds, _KEYS)
    assert all(a.t <= b.t for a, b in itertools.pairwise(out))
    # every line given comes out (a duplicate burst may only move it later)
    assert not Counter(d.data for d in ds) - Counter(d.data for d in out)
    added = Counter(d.origin for d in out) - Counter(d.origin for d in ds)
    assert set(added) <= {"duplicate-burst", "replay-old", "forged-partner", "junk-flood"}
    junk = sum(
        math.floor((i.to_s - i.from_s) * i.rate_per_s + 1e-9)
        for i in sc.spec.injects
        if isinstance(i, JunkFlood)
    )
    assert added["junk-flood"] == junk
