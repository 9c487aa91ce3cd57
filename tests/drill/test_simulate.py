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
from tocsin.geo import great_circle_distance
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
atmosphere: standard
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


def test_fixed_beta_in_the_standard_air_gives_the_same_flights_whatever_the_seed() -> None:
    fixed = TEXT.replace("    class: SRBM\n", "    class: SRBM\n    beta_kg_m2: 4200\n")
    std = fixed
    a = simulate(parse_scenario(std, "t.yaml"))
    b = simulate(parse_scenario(std.replace("seed: 7", "seed: 8"), "t.yaml"))
    assert _bytes(a.truth) == _bytes(b.truth)  # type: ignore[arg-type]
    assert a.objects["S-1"].beta_kg_m2 == a.objects["S-2"].beta_kg_m2 == 4200.0
    assert a.objects["S-1"].trajectory is not None
    assert a.objects["S-1"].trajectory.beta == 4200.0
    # with a drawn air each seed draws its own day: same drag, other flights
    # (a few hundred metres at impact for an SRBM), the same seed the same air
    drawn = fixed.replace("atmosphere: standard\n", "atmosphere: drawn\n")
    c = simulate(parse_scenario(drawn, "t.yaml"))
    d = simulate(parse_scenario(drawn.replace("seed: 7", "seed: 8"), "t.yaml"))
    assert _bytes(c.truth) != _bytes(a.truth)  # type: ignore[arg-type]
    assert _bytes(c.truth) != _bytes(d.truth)  # type: ignore[arg-type]
    assert _bytes(simulate(parse_scenario(drawn, "t.yaml")).truth) == _bytes(c.truth)  # type: ignore[arg-type]
    shifts = [
        float(
            great_circle_distance(
                o.impact_lat, o.impact_lon, a.objects[k].impact_lat, a.objects[k].impact_lon
            )
        )
        for k, o in c.objects.items()
        if o.impact_lat is not None and k.startswith("S")
    ]
    assert len(shifts) == 2
    assert all(10.0 < m < 5_000.0 for m in shifts)


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


# --- stages, satellite launchers, failures after staging, manoeuvres -------------------------

STAGED = """\
seed: 11
atmosphere: standard
start: 2023-11-21T13:42:00Z
duration_s: 1300
launches:
  - id: H
    site: {lat: 39.0, lon: 125.7}
    azimuth_deg: 80
    class: ICBM-lofted
    stages: [{debris: 2, beta_kg_m2: 350}, {}]
    fairing: true
  - id: CH
    class: SLV
    site: {lat: 39.66, lon: 124.70}
    azimuth_deg: 178
    time_s: 20
  - id: CF
    class: SLV
    site: {lat: 39.66, lon: 124.70}
    azimuth_deg: 178
    time_s: 30
    fails_stage: 2
  - id: F
    class: ICBM
    site: {lat: 39.0, lon: 125.7}
    azimuth_deg: 80
    stages: [{}, {}]
    fails_at_s: 150
  - id: K
    class: SRBM
    site: {lat: 39.1, lon: 127.4}
    azimuth_deg: 90
    range_km: 600
    profile: depressed
    manoeuvre: {type: pull-up}
partners:
  - code: JP
    sensors:
      - {id: JP-R1, type: radar, site: {lat: 38.05, lon: 138.3}, sigma_range_m: 25,
         sigma_az_deg: 0.05, sigma_el_deg: 0.05, max_range_km: 2500}
  - code: US
    sensors:
      - {id: US-S1, type: ir-satellite, position: {lat: 0, lon: 135, alt_km: 35786}, sigma_los_rad: 2.0e-5}
"""


@pytest.fixture(scope="module")
def staged() -> SimulationResult:
    return simulate(parse_scenario(STAGED, "staged.yaml"))


def test_separated_objects_with_roles_parents_and_betas(staged: SimulationResult) -> None:
    from tocsin.dynamics.beta import BETA_RANGES

    objs = staged.objects
    assert set(objs) == {
        "H", "H.S1", "H.D1", "H.D2", "H.S2", "H.F1", "H.F2",
        "CH", "CH.S1", "CH.S2", "CH.S3", "CH.F1", "CH.F2",
        "CF", "CF.S1",
        "F", "F.S1",
        "K",
    }  # fmt: skip
    role = {k: (o.role, o.parent) for k, o in objs.items()}
    assert role["H"] == ("rv", None)
    assert role["H.S1"] == ("stage-1", "H")
    assert role["H.S2"] == ("stage-2", "H")
    assert role["H.D1"] == ("debris", "H")
    assert role["CH"] == ("payload", None)
    assert role["CH.S3"] == ("stage-3", "CH")
    assert role["CH.F2"] == ("debris", "CH")
    assert objs["H.S1"].beta_kg_m2 == 350.0  # explicit
    for k in ("H.S2", "CH.S1", "CH.S2", "CH.S3", "F.S1", "CF.S1"):
        assert BETA_RANGES["stage"].contains(objs[k].beta_kg_m2 or 0.0), k
    for k in ("H.D1", "H.D2", "H.F1", "H.F2", "CH.F1", "CH.F2"):
        assert BETA_RANGES["debris"].contains(objs[k].beta_kg_m2 or 0.0), k
    assert BETA_RANGES["ICBM"].contains(objs["H"].beta_kg_m2 or 0.0)
    # the truth file says the same on every message
    for m in staged.truth:
        o = objs[m.body.object]
        assert (m.body.role, m.body.parent, m.body.beta_kg_m2) == (o.role, o.parent, o.beta_kg_m2)


def test_a_spent_stage_starts_where_the_stack_was_and_does_not_burn(staged: SimulationResult) -> None:
    h, s1 = staged.objects["H"], staged.objects["H.S1"]
    assert h.trajectory is not None
    assert s1.trajectory is not None
    t_sep = s1.t_start
    (_, _), (b2, _) = h.trajectory.burns
    assert t_sep == pytest.approx(h.t_start + b2)  # stage 1 burns out as stage 2 ignites
    stack = h.states(np.array([t_sep]))[0]
    first = s1.states(np.array([t_sep]))[0]
    np.testing.assert_allclose(first[:3], stack[:3], atol=1e-3)
    v = stack[3:]
    np.testing.assert_allclose(first[3:], v - 2.0 * v / np.linalg.norm(v), atol=1e-6)  # retro 2 m/s
    t = np.linspace(h.t_start, h.t_start + 400.0, 801)
    assert h.burning(t).sum() > 0
    assert not s1.burning(t).any()
    assert s1.phases(np.array([t_sep + 1.0]))[0] != 0  # not boost
    # each object lands on its own, the stage short of the warhead
    assert s1.fate is None
    assert s1.trajectory.landed
    d_s1 = float(great_circle_distance(39.0, 125.7, s1.impact_lat, s1.impact_lon))
    d_h = float(great_circle_distance(39.0, 125.7, h.impact_lat, h.impact_lon))
    assert 100e3 < d_s1 < 0.6 * d_h
    impacts = {m.body.object for m in staged.truth if m.body.phase == "impact"}
    assert impacts == set(staged.objects)


def test_satellite_launcher_drops_its_stages_downrange_and_reaches_orbit(staged: SimulationResult) -> None:
    objs = staged.objects
    ch = objs["CH"]
    assert ch.fate == "orbit"
    assert ch.trajectory is not None
    assert not ch.trajectory.landed
    # truth ends at the end of the scenario, in orbit; the impact message says so
    end = staged.scenario.spec.start_epoch + staged.scenario.spec.duration_s
    assert ch.t_end == pytest.approx(end, abs=1.5)
    last = next(m.body for m in staged.truth if m.body.object == "CH" and m.body.phase == "impact")
    assert last.fate == "orbit"
    assert objs["CH.S3"].fate == "orbit"

    def downrange(k: str) -> float:
        o = objs[k]
        return float(great_circle_distance(39.66, 124.70, o.impact_lat, o.impact_lon))

    # stage 1 in the Yellow Sea, fairings next, stage 2 far down the track (south)
    assert 150e3 < downrange("CH.S1") < 700e3
    assert downrange("CH.S1") < downrange("CH.F1") < downrange("CH.S2")
    assert downrange("CH.S2") > 1_500e3
    for k in ("CH.S1", "CH.S2", "CH.F1", "CH.F2"):
        assert objs[k].fate is None
        assert objs[k].impact_lat < 39.66


def test_failures_at_a_stage_and_after_staging(staged: SimulationResult) -> None:
    objs = staged.objects
    cf = objs["CF"]
    assert cf.trajectory is not None
    ((_, s1_end),) = cf.trajectory.burns  # stage 2 never ignites
    assert cf.failed_at_s == pytest.approx(s1_end)
    assert "CF.S2" not in objs
    assert cf.fate is None  # it falls
    assert float(great_circle_distance(39.66, 124.70, cf.impact_lat, cf.impact_lon)) < 1_000e3
    f = objs["F"]
    assert f.failed_at_s == 150.0
    assert f.trajectory is not None
    assert f.trajectory.burnout_t == 150.0
    assert f.trajectory.burns[-1][1] == 150.0
    from tocsin.dynamics.beta import BETA_RANGES

    assert BETA_RANGES["failed"].contains(f.beta_kg_m2 or 0.0)
    assert "F.S2" not in objs
    assert objs["F.S1"].t_start < f.t_start + 150.0


def test_depressed_pull_up_srbm(staged: SimulationResult) -> None:
    k = staged.objects["K"]
    assert k.trajectory is not None
    assert k.trajectory.apogee_m == pytest.approx(50e3, rel=0.01)
    d = float(great_circle_distance(39.1, 127.4, k.impact_lat, k.impact_lon))
    assert d == pytest.approx(600e3, rel=0.01)


def test_staged_scenario_is_byte_identical_run_to_run(staged: SimulationResult) -> None:
    again = simulate(parse_scenario(STAGED, "staged.yaml"))
    assert _bytes(again.truth) == _bytes(staged.truth)  # type: ignore[arg-type]
    assert _bytes(again.messages) == _bytes(staged.messages)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        (
            "    fails_stage: 2\n",
            "    fails_stage: 2\n    fails_after_s: 900\n",
            "launches[2].fails_after_s",
            "burns for",
        ),
        ("    fails_at_s: 150\n", "    fails_at_s: 900\n", "launches[3].fails_at_s", "burns out"),
        (
            "    stages: [{}, {}]\n    fails_at_s: 150\n",
            "    fails_stage: 3\n",
            "launches[3].fails_stage",
            "2 stage",
        ),
    ],
)
def test_impossible_failures_are_scenario_errors(old: str, new: str, field: str, words: str) -> None:
    assert old in STAGED
    with pytest.raises(ScenarioError) as ei:
        simulate(parse_scenario(STAGED.replace(old, new, 1), "staged.yaml"))
    assert ei.value.field == field
    assert words in ei.value.message
