"""Random Monte Carlo scenarios: seeded, valid, each class what it says, and
flyable by the simulator."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from tocsin.drill.generate import (
    FLIGHT_CLASSES,
    SENSOR_BIAS_LIMITS,
    SENSOR_POOL,
    monte_carlo,
    random_partners,
    random_scenario,
    random_sensor_bias,
)
from tocsin.drill.scenario import BiasSpec, RadarSensorSpec, Scenario
from tocsin.drill.simulate import simulate
from tocsin.dynamics.beta import BETA_RANGES
from tocsin.geo import great_circle_distance
from tocsin.wire import encode_json


def test_same_seed_same_scenarios_other_seed_others() -> None:
    a = [msgspec.json.encode(sc.spec) for sc in monte_carlo(5, 7)]
    b = [msgspec.json.encode(sc.spec) for sc in monte_carlo(5, 7)]
    c = [msgspec.json.encode(sc.spec) for sc in monte_carlo(6, 7)]
    assert a == b
    assert all(x != y for x, y in zip(a, c, strict=True))
    assert [sc.spec.tags[0] for sc in monte_carlo(5, 9)] == [*FLIGHT_CLASSES, *FLIGHT_CLASSES[:2]]


@pytest.mark.parametrize("cls", FLIGHT_CLASSES)
def test_each_class_is_what_it_says(cls: str) -> None:
    for i in range(5):
        la = random_scenario(11, cls, index=i).spec.launches[0]
        if cls == "SLV":
            assert la.missile_class == "SLV"
            assert la.orbit_km is not None
            assert 165.0 <= la.azimuth_deg <= 180.0
            continue
        assert la.range_km is not None
        assert la.apogee_km is not None
        if cls.startswith("SRBM"):
            assert la.missile_class == "SRBM"
            if cls != "SRBM":
                assert la.apogee_km == pytest.approx(max(la.range_km / 12.0, 40.0), rel=1e-3)  # depressed
            assert (la.manoeuvre is not None) == (cls == "SRBM-pullup")
            assert la.stages is None
        elif cls == "ICBM-lofted":
            assert 4000.0 <= la.apogee_km <= 7700.0
            assert la.stages is not None
            assert len(la.stages) == 2
        else:
            assert la.missile_class == cls
            assert la.stages is not None
            assert len(la.stages) == 1
        assert la.beta_kg_m2 is None  # the simulator draws it within the class range


def test_partners_are_a_subset_with_a_radar_and_bounded_links() -> None:
    ids = {s["id"] for _, s in SENSOR_POOL}
    for k in range(40):
        rng = np.random.default_rng(k)
        parts = random_partners(rng, n_sensors=(1, 4), max_latency_s=1.5, max_loss=0.02)
        sensors = [s for p in parts for s in p["sensors"]]
        assert 1 <= len(sensors) <= 4
        assert {s["id"] for s in sensors} <= ids
        assert any(s["type"] == "radar" for s in sensors)
        for p in parts:
            assert 0.0 <= p["link"]["latency_s"] <= 1.5
            assert 0.0 <= p["link"]["loss"] <= 0.02
    with pytest.raises(ValueError, match="n_sensors"):
        random_partners(np.random.default_rng(0), n_sensors=(0, 3))
    with pytest.raises(ValueError, match="unknown flight class"):
        random_scenario(1, "XRBM")


@pytest.mark.parametrize("cls", ["SRBM-depressed", "ICBM-lofted", "SLV"])
def test_generated_scenarios_fly_and_are_byte_identical(cls: str) -> None:
    sc = random_scenario(3, cls, n_sensors=(2, 3))
    assert any(isinstance(s, RadarSensorSpec) for p in sc.spec.partners for s in p.sensors)
    r1, r2 = simulate(sc), simulate(random_scenario(3, cls, n_sensors=(2, 3)))
    assert b"".join(encode_json(m) for m in r1.truth) == b"".join(encode_json(m) for m in r2.truth)
    assert b"".join(encode_json(m) for m in r1.messages) == b"".join(encode_json(m) for m in r2.messages)
    rv = r1.objects["M1"]
    la = sc.spec.launches[0]
    if cls == "SLV":
        assert rv.fate == "orbit"
        assert {"M1.S1", "M1.S2", "M1.S3", "M1.F1", "M1.F2"} <= set(r1.objects)
        return
    assert la.range_km is not None
    # the flight is aimed for the standard air: flown in it, it lands at the
    # requested range; the Monte Carlo truth flies a day's air (other impact)
    assert sc.spec.atmosphere == "drawn"
    std = simulate(Scenario(msgspec.structs.replace(sc.spec, atmosphere="standard"), sc.file, sc.lines))
    flown = std.objects["M1"]
    d = float(great_circle_distance(la.site.lat, la.site.lon, flown.impact_lat, flown.impact_lon))
    assert d == pytest.approx(la.range_km * 1e3, rel=0.01)
    assert (rv.impact_lat, rv.impact_lon) != (flown.impact_lat, flown.impact_lon)
    kind = "ICBM" if cls == "ICBM-lofted" else "SRBM"
    assert BETA_RANGES[kind].contains(rv.beta_kg_m2 or 0.0)
    # the scenario lasts until the warhead is down
    assert rv.t_end <= sc.spec.start_epoch + sc.spec.duration_s
    if cls == "ICBM-lofted":
        assert {"M1.S1", "M1.S2"} <= set(r1.objects)


def test_radars_get_a_registration_bias_within_the_limits_and_nothing_else_moves() -> None:
    """Each radar's bias is drawn inside SENSOR_BIAS_LIMITS (all four
    components, both signs over the pool); infrared sensors get none; without
    it the scenario is the same flight, sensors and links."""
    seen: dict[str, list[float]] = {k: [] for k in SENSOR_BIAS_LIMITS}
    for i in range(14):
        cls = FLIGHT_CLASSES[i % len(FLIGHT_CLASSES)]
        sc = random_scenario(2, cls, index=i)
        plain = random_scenario(2, cls, index=i, sensor_bias=False)
        assert plain.spec.seed == sc.spec.seed
        assert plain.spec.launches == sc.spec.launches
        for p, q in zip(sc.spec.partners, plain.spec.partners, strict=True):
            assert p.link == q.link
            for s, t in zip(p.sensors, q.sensors, strict=True):
                if isinstance(s, RadarSensorSpec):
                    assert isinstance(t, RadarSensorSpec)
                    assert t.bias == BiasSpec()
                    assert msgspec.structs.replace(s, bias=BiasSpec()) == t
                    for k, lim in SENSOR_BIAS_LIMITS.items():
                        v = getattr(s.bias, k)
                        assert 0.0 < abs(v) <= lim
                        seen[k].append(v)
                else:
                    assert s == t
    for k, lim in SENSOR_BIAS_LIMITS.items():
        assert min(seen[k]) < -0.3 * lim
        assert max(seen[k]) > 0.3 * lim


def test_a_drawn_bias_reaches_the_plots() -> None:
    """The drawn bias is in the plots (the simulator applies ``bias:``): the
    mean range residual of a radar moves by its drawn range offset."""
    sc = random_scenario(4, "MRBM", index=3)
    plain = random_scenario(4, "MRBM", index=3, sensor_bias=False)
    a, b = simulate(sc), simulate(plain)
    radar = next(s for p in sc.spec.partners for s in p.sensors if isinstance(s, RadarSensorSpec))
    ra = {m.body.t: m.body.range_m for m in a.messages if m.kind == "plot" and m.body.sensor == radar.id}  # type: ignore[union-attr]
    rb = {m.body.t: m.body.range_m for m in b.messages if m.kind == "plot" and m.body.sensor == radar.id}  # type: ignore[union-attr]
    common = sorted(set(ra) & set(rb))
    assert len(common) > 20
    d = np.array([ra[t] - rb[t] for t in common])
    assert float(np.median(d)) == pytest.approx(radar.bias.range_m, abs=1e-2)


def test_a_normal_bias_law_keeps_the_draws_ranks_and_the_uniforms_variance() -> None:
    """``bias_law="normal"``: the same stream mapped to a normal of the
    uniform's standard deviation (limit / sqrt 3, the tracker's consider
    term): same signs and order, unbounded, and the uniform default is the
    draw it always was."""
    a = np.random.default_rng(7)
    b = np.random.default_rng(7)
    c = np.random.default_rng(7)
    uni = [random_sensor_bias(a) for _ in range(4000)]
    nor = [random_sensor_bias(b, "normal") for _ in range(4000)]
    raw = [
        {k: round(float(c.uniform(-lim, lim)), 6) for k, lim in SENSOR_BIAS_LIMITS.items()}
        for _ in range(4000)
    ]
    assert uni == raw
    for k, lim in SENSOR_BIAS_LIMITS.items():
        u = np.array([d[k] for d in uni])
        n = np.array([d[k] for d in nor])
        assert np.all(np.sign(u) == np.sign(n))
        # the same order (up to the 6-decimal rounding of each)
        ru, rn = np.argsort(np.argsort(u)), np.argsort(np.argsort(n))
        assert float(np.corrcoef(ru, rn)[0, 1]) > 0.9999
        sd = lim / math.sqrt(3.0)
        assert float(np.std(u)) == pytest.approx(sd, rel=0.05)
        assert float(np.std(n)) == pytest.approx(sd, rel=0.05)
        assert float(np.max(np.abs(u))) <= lim
        # a normal passes the limit (1.73 sigma) 8.3 % of the time
        assert 0.06 < float(np.mean(np.abs(n) > lim)) < 0.11
    with pytest.raises(ValueError, match="bias law"):
        random_sensor_bias(a, "cauchy")
    sc = random_scenario(2, "MRBM", index=3, bias_law="normal")
    plain = random_scenario(2, "MRBM", index=3)
    assert sc.spec.launches == plain.spec.launches
    assert sc.spec.seed == plain.spec.seed
