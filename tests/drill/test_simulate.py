"""The simulator: exchange-format order and numbering, determinism, truth,
boost-only infrared, injects, air objects."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import msgspec
import numpy as np
import pytest

from tocsin.drill.scenario import Scenario, parse_scenario
from tocsin.drill.simulate import SimulationResult, simulate
from tocsin.errors import ScenarioError
from tocsin.wire import PlotBody, SensorBody, TruthBody, decode_json, encode_json

TEXT = """\
seed: 7
start: 2022-11-01T23:51:00Z
duration_s: 420
launches:
  - id: S
    site: {lat: 39.15, lon: 127.45}
    time_s: 10
    azimuth_deg: 146.5
    class: SRBM
    count: 2
    spacing_s: 15
air:
  - id: KE-1
    waypoints: [{lat: 37.0, lon: 129.0}, {lat: 36.5, lon: 133.0}]
    speed_mps: 240
    alt_m: 11000
partners:
  - code: JP
    link: {latency_s: 0.3, jitter_s: 0.4, loss: 0.05}
    sensors:
      - id: JP-R1
        type: radar
        site: {lat: 36.2, lon: 133.3, alt_m: 200}
        sigma_range_m: 30
        sigma_az_deg: 0.05
        sigma_el_deg: 0.05
        sigma_rr_mps: 2
        max_range_km: 1200
        field_of_regard: {az_from_deg: 200, az_to_deg: 360, el_min_deg: 0.5}
        clutter_per_scan: 0.5
        latency_s: 0.2
        jitter_s: 0.5
      - id: JP-S1
        type: radar
        platform: ship
        course: {start: {lat: 37.5, lon: 131.0}, heading_deg: 200, speed_mps: 10}
        sigma_range_m: 15
        sigma_az_deg: 0.03
        sigma_el_deg: 0.03
        max_range_km: 800
        scan_period_s: 0.5
        pd: 0.95
  - code: KR
    sensors:
      - id: KR-R1
        type: radar
        site: {lat: 37.75, lon: 128.9, alt_m: 400}
        sigma_range_m: 40
        sigma_az_deg: 0.08
        sigma_el_deg: 0.08
        max_range_km: 900
        scan_period_s: 2
  - code: US
    link: {latency_s: 1.0}
    sensors:
      - id: US-S1
        type: ir-satellite
        position: {lat: 0, lon: 135, alt_km: 35786}
        sigma_los_rad: 2.0e-5
        pd: 1.0
        clutter_per_scan: 0.2
injects:
  - {type: sensor-off, sensor: KR-R1, from_s: 100, to_s: 200}
  - {type: link-delay, partner: US, delay_s: 30, from_s: 0, to_s: 40}
"""


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return parse_scenario(TEXT, "t.yaml")


@pytest.fixture(scope="module")
def res(sc: Scenario) -> SimulationResult:
    return simulate(sc)


def _bytes(msgs: list[msgspec.Struct]) -> bytes:
    return b"".join(encode_json(m) + b"\n" for m in msgs)  # type: ignore[arg-type]


def test_descriptors_first_then_plots_in_sent_order(res: SimulationResult) -> None:
    kinds = [m.kind for m in res.messages]
    n_desc = kinds.count("sensor")
    assert n_desc == 4
    assert set(kinds[:n_desc]) == {"sensor"}
    assert set(kinds[n_desc:]) == {"plot"}
    sent = [m.sent for m in res.messages]
    assert all(a <= b for a, b in itertools.pairwise(sent))
    # late reports: measurement time goes back somewhere
    ts = [m.body.t for m in res.messages[n_desc:]]
    assert any(b < a for a, b in itertools.pairwise(ts))


def test_partner_source_and_seq(res: SimulationResult) -> None:
    partner = {"JP-R1": "JP", "JP-S1": "JP", "KR-R1": "KR", "US-S1": "US"}
    last: dict[str, int] = defaultdict(lambda: -1)
    for m in res.messages:
        assert m.partner == partner[m.source]
        body = m.body
        assert (body.id if isinstance(body, SensorBody) else body.sensor) == m.source
        assert m.seq > last[m.source]
        last[m.source] = m.seq
        assert m.sent >= (body.t if isinstance(body, PlotBody) else 0.0)
    # loss leaves gaps in seq on the lossy JP link only
    lost = {s: st.lost for s, st in res.stats.items()}
    assert lost["JP-R1"] > 0
    assert lost["KR-R1"] == 0
    jp = [m.seq for m in res.messages if m.source == "JP-R1"]
    assert jp[-1] == len(jp) - 1 + lost["JP-R1"]


def test_every_message_round_trips_through_the_wire_codec(res: SimulationResult) -> None:
    for m in res.messages + res.truth:
        assert decode_json(encode_json(m)) == m


def test_same_seed_byte_identical_other_seed_differs(sc: Scenario, res: SimulationResult) -> None:
    again = simulate(parse_scenario(TEXT, "t.yaml"))
    assert _bytes(again.messages) == _bytes(res.messages)  # type: ignore[arg-type]
    assert _bytes(again.truth) == _bytes(res.truth)  # type: ignore[arg-type]
    other = simulate(Scenario(msgspec.structs.replace(sc.spec, seed=8), sc.file, sc.lines))
    assert _bytes(other.messages) != _bytes(res.messages)  # type: ignore[arg-type]
    # each missile's drag is drawn from the seed: other flights
    assert _bytes(other.truth) != _bytes(res.truth)  # type: ignore[arg-type]
    assert {o.beta_kg_m2 for o in other.objects.values()} != {o.beta_kg_m2 for o in res.objects.values()}


def test_fixed_beta_gives_the_same_flights_whatever_the_seed() -> None:
    fixed = TEXT.replace("    class: SRBM\n", "    class: SRBM\n    beta_kg_m2: 4200\n")
    a = simulate(parse_scenario(fixed, "t.yaml"))
    b = simulate(parse_scenario(fixed.replace("seed: 7", "seed: 8"), "t.yaml"))
    assert _bytes(a.truth) == _bytes(b.truth)  # type: ignore[arg-type]
    assert a.objects["S-1"].beta_kg_m2 == a.objects["S-2"].beta_kg_m2 == 4200.0
    assert a.objects["S-1"].trajectory is not None
    assert a.objects["S-1"].trajectory.beta == 4200.0


def test_truth_states_and_one_impact_per_object(res: SimulationResult) -> None:
    by_obj: dict[str, list[TruthBody]] = defaultdict(list)
    for m in res.truth:
        assert m.kind == "truth"
        by_obj[m.body.object].append(m.body)
    assert set(by_obj) == {"S-1", "S-2", "KE-1"}
    for oid, bodies in by_obj.items():
        impacts = [b for b in bodies if b.phase == "impact"]
        assert len(impacts) == 1
        o = res.objects[oid]
        assert impacts[0].t == pytest.approx(o.t_end)
        flight = [b for b in bodies if b.phase != "impact"]
        dts = np.diff([b.t for b in flight])
        assert np.all(dts <= 1.0 + 1e-6)
        assert flight[0].t == pytest.approx(o.t_start)
        want = "air" if oid == "KE-1" else "ballistic"
        assert {b.class_ for b in bodies} == {want}
    phases = [b.phase for b in by_obj["S-1"]]
    assert phases[0] == "boost"
    assert "midcourse" in phases
    assert phases[-1] == "impact"
    assert res.objects["S-2"].t_start - res.objects["S-1"].t_start == pytest.approx(15.0)
    sent = [m.sent for m in res.truth]
    assert sent == sorted(sent)


def test_ir_sees_boost_only(res: SimulationResult) -> None:
    ir = [m.body for m in res.messages if m.kind == "plot" and m.source == "US-S1"]
    assert ir
    boosts = [
        (o.t_start, o.t_start + o.trajectory.burnout_t)
        for o in res.objects.values()
        if o.trajectory is not None
    ]
    geo = np.array(ir[0].observer_ecef)
    near = 0
    for b in ir:
        assert b.los_ecef is not None
        assert b.sigma_los_rad == 2.0e-5
        # a plot pointing at a missile (within 50 sigma) must be during a boost
        for o in res.objects.values():
            if o.trajectory is None:
                continue
            d = o.states(np.array([b.t]))[0, :3] - geo
            ang = math.acos(min(1.0, float(np.dot(b.los_ecef, d / np.linalg.norm(d)))))
            if ang < 1e-3:
                near += 1
                assert any(lo <= b.t < hi for lo, hi in boosts)
    assert near > 10


def test_radar_plots_near_truth_and_air_objects_seen(res: SimulationResult) -> None:
    from tocsin.geo import aer_to_ecef

    hits: dict[str, int] = defaultdict(int)
    for m in res.messages:
        b = m.body
        if m.kind != "plot" or m.source != "JP-S1":
            continue
        assert b.platform is not None
        pos = aer_to_ecef(b.az_deg, b.el_deg, b.range_m, b.platform.lat, b.platform.lon, b.platform.alt_m)
        for oid, o in res.objects.items():
            if o.alive(np.array([b.t]))[0] and np.linalg.norm(o.states(np.array([b.t]))[0, :3] - pos) < 3000:
                hits[oid] += 1
    assert hits["KE-1"] > 50
    assert hits["S-1"] > 50


def test_sensor_off_and_link_delay_injects(res: SimulationResult, sc: Scenario) -> None:
    t0 = sc.spec.start_epoch
    kr = [m.body.t - t0 for m in res.messages if m.kind == "plot" and m.source == "KR-R1"]
    assert kr
    assert not any(100 <= t < 200 for t in kr)
    us = [
        (m.sent - m.body.t)
        for m in res.messages
        if m.kind == "plot" and m.source == "US-S1" and m.body.t - t0 < 39
    ]
    assert us
    assert min(us) >= 31.0


def test_link_outage_drops_and_counts() -> None:
    text = TEXT.replace(
        "  - {type: link-delay, partner: US, delay_s: 30, from_s: 0, to_s: 40}",
        "  - {type: link-outage, partner: US, from_s: 0}",
    )
    r = simulate(parse_scenario(text, "t.yaml"))
    assert not [m for m in r.messages if m.kind == "plot" and m.source == "US-S1"]
    assert r.stats["US-S1"].lost > 0


def test_impossible_flight_is_a_scenario_error_at_the_launch() -> None:
    text = TEXT.replace("    class: SRBM\n", "    range_km: 3000\n    apogee_km: 25\n")
    sc = parse_scenario(text, "t.yaml")
    with pytest.raises(ScenarioError) as ei:
        simulate(sc)
    assert ei.value.line == 5
    assert ei.value.field == "launches[0]"


def test_progress_callback() -> None:
    calls: list[tuple[int, int, str]] = []
    simulate(
        parse_scenario(TEXT.replace("count: 2", "count: 1"), "t.yaml"),
        lambda d, t, w: calls.append((d, t, w)),
    )
    assert calls[-1][0] == calls[-1][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_each_missile_draws_its_own_beta_in_its_class_range(res: SimulationResult) -> None:
    from tocsin.dynamics.beta import BETA_RANGES

    s1, s2 = res.objects["S-1"], res.objects["S-2"]
    assert s1.beta_kg_m2 is not None
    assert s2.beta_kg_m2 is not None
    assert s1.beta_kg_m2 != s2.beta_kg_m2
    assert BETA_RANGES["SRBM"].contains(s1.beta_kg_m2)
    assert BETA_RANGES["SRBM"].contains(s2.beta_kg_m2)
    assert s1.role == s2.role == "rv"
    assert res.objects["KE-1"].role is None
    assert res.objects["KE-1"].beta_kg_m2 is None
    # the truth file says so on every message of the object
    for m in res.truth:
        b = m.body
        if b.object == "S-1":
            assert (b.role, b.beta_kg_m2, b.parent) == ("rv", s1.beta_kg_m2, None)
        elif b.object == "KE-1":
            assert b.role is None
            assert b.beta_kg_m2 is None


def test_the_truth_flies_with_the_drawn_beta(res: SimulationResult) -> None:
    """Propagating a truth state through the lower atmosphere with the object's
    beta lands on the next truth state; 20 % more or less drag does not."""
    from tocsin.dynamics import propagate
    from tocsin.geo import ecef_to_geodetic

    o = res.objects["S-2"]
    assert o.trajectory is not None
    assert o.beta_kg_m2 is not None
    tr = o.trajectory
    alt = ecef_to_geodetic(tr.x[:, :3])[2]
    descending = np.flatnonzero((alt < 30e3) & (np.arange(tr.t.size) > np.argmax(alt)))
    i = int(descending[0])
    x0, x1, dt = tr.x[i], tr.x[i + 5], tr.t[i + 5] - tr.t[i]
    err = {
        f: float(np.linalg.norm(propagate(x0, dt, beta=o.beta_kg_m2 * f, max_step=0.1)[:3] - x1[:3]))
        for f in (0.8, 1.0, 1.25)
    }
    assert err[1.0] < 1.0
    assert err[0.8] > 20 * err[1.0] + 5.0
    assert err[1.25] > 20 * err[1.0] + 5.0


def test_class_from_range_and_apogee_and_failed_missile_beta() -> None:
    from tocsin.dynamics.beta import BETA_RANGES

    text = TEXT.replace("    class: SRBM\n", "    range_km: 1000\n    apogee_km: 5000\n    fails_at_s: 60\n")
    text = text.replace("duration_s: 420", "duration_s: 600")
    r = simulate(parse_scenario(text, "t.yaml"))
    o = r.objects["S-1"]
    assert o.kind == "custom"
    assert o.failed_at_s == 60
    assert o.beta_kg_m2 is not None
    assert BETA_RANGES["failed"].contains(o.beta_kg_m2)
    # the same launch without the failure: an ICBM-class re-entry vehicle
    r2 = simulate(
        parse_scenario(
            text.replace("    fails_at_s: 60\n", "").replace("duration_s: 600", "duration_s: 4000"), "t.yaml"
        )
    )
    b2 = r2.objects["S-1"].beta_kg_m2
    assert b2 is not None
    assert BETA_RANGES["ICBM"].contains(b2)
