"""The scenario language: valid files load; every bad one is one ScenarioError
naming file, line and field."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.drill.scenario import (
    IrSensorSpec,
    LinkOutage,
    RadarSensorSpec,
    SensorOff,
    load_scenario,
    parse_scenario,
)
from tocsin.errors import ScenarioError

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

BASE = """\
seed: 1
start: 2017-08-29T20:57:00Z
duration_s: 600
launches:
  - site: {lat: 39.2, lon: 125.7}
    azimuth_deg: 75
    class: SRBM
air:
  - id: A1
    start: {lat: 36.0, lon: 130.0}
    heading_deg: 90
    speed_mps: 230
    alt_m: 11000
partners:
  - code: JP
    link: {latency_s: 0.2}
    sensors:
      - id: JP-R1
        type: radar
        site: {lat: 40, lon: 140}
        sigma_range_m: 30
        sigma_az_deg: 0.05
        sigma_el_deg: 0.05
        max_range_km: 1000
  - code: US
    sensors:
      - id: US-S1
        type: ir-satellite
        position: {lat: 0, lon: 135, alt_km: 35786}
        sigma_los_rad: 2.0e-5
thresholds:
  first_alert_s: {max: 240}
injects:
  - {type: sensor-off, sensor: JP-R1, from_s: 100, to_s: 200}
  - {type: link-outage, partner: US, from_s: 50}
"""


def _err(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, "s.yaml")
    return ei.value


def test_base_parses_into_typed_structs() -> None:
    sc = parse_scenario(BASE, "s.yaml")
    spec = sc.spec
    assert spec.seed == 1
    assert spec.start_epoch == pytest.approx(1504040220.0)
    assert isinstance(spec.partners[0].sensors[0], RadarSensorSpec)
    assert isinstance(spec.partners[1].sensors[0], IrSensorSpec)
    assert spec.launches[0].missile_class == "SRBM"
    assert spec.thresholds["first_alert_s"].max == 240
    assert isinstance(spec.injects[0], SensorOff)
    assert isinstance(spec.injects[1], LinkOutage)
    assert sc.lines["$.launches[0].azimuth_deg"] == 6


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("lat: 39.2", "lat: 95", 5, "launches[0].site.lat", "<= 90"),
        ("class: SRBM", "class: SRBM\n    bogus: 3", 8, "launches[0].bogus", "unknown field"),
        ("class: SRBM", "range_km: -5\n    apogee_km: 100", 7, "launches[0].range_km", "> 0"),
        ("class: SRBM", "range_km: 500\n    apogee_km: 10", 8, "launches[0].apogee_km", ">= 20"),
        ("class: SRBM", "range_km: 500", 5, "launches[0].apogee_km", "apogee_km"),
        ("class: SRBM", "class: XRBM", 7, "launches[0].class", "Invalid enum value"),
        ("type: radar", "type: sonar", 19, "partners[0].sensors[0].type", "sonar"),
        ("seed: 1", "seed: x", 1, "seed", "int"),
        ("start: 2017-08-29T20:57:00Z", "start: 2017-08-29 20:57:00", 2, "start", "timezone"),
        ("start: 2017-08-29T20:57:00Z", "start: 2017-13-29T20:57:00Z", 2, "start", "month"),
        ("duration_s: 600", "duration_s: 600\nduration_s: 3", 4, "duration_s", "duplicate"),
        ("  - code: JP", "  - code: jp", 15, "partners[0].code", "regex"),
        ("        max_range_km: 1000\n", "", 18, "partners[0].sensors[0].max_range_km", "missing"),
        ("first_alert_s: {max: 240}", "first_alert_s: {}", 32, "thresholds.first_alert_s.max", "min"),
        ("first_alert_s: {max: 240}", "First: {max: 3}", 32, "thresholds.First", "lower_case"),
        ("first_alert_s: {max: 240}", "lead_s: {min: 5, max: 1}", 32, "thresholds.lead_s.max", "below"),
        ("sensor: JP-R1, from_s", "sensor: XX, from_s", 34, "injects[0].sensor", "no sensor"),
        ("partner: US, from_s: 50", "partner: KR, from_s: 50", 35, "injects[1].partner", "no partner"),
        ("id: US-S1", "id: JP-R1", 27, "partners[1].sensors[0].id", "twice"),
        ("sigma_los_rad: 2.0e-5", "sigma_los_rad: 0", 30, "partners[1].sensors[0].sigma_los_rad", "> 0"),
        ("        site: {lat: 40, lon: 140}\n", "", 18, "partners[0].sensors[0].site", "site"),
        (
            "speed_mps: 230",
            "speed_mps: 230\n    waypoints: [{lat: 1, lon: 2}, {lat: 2, lon: 2}]",
            13,
            "air[0].waypoints",
            "not both",
        ),
        ("azimuth_deg: 75", "azimuth_deg: [75", 7, None, "YAML"),
        ("duration_s: 600", "duration_s: 600\nlaunch: []", 4, "launch", "unknown"),
        (
            "  - site: {lat: 39.2, lon: 125.7}",
            "  - site: {lat: 39.2, lon: 125.7}\n    time_s: 900",
            6,
            "launches[0].time_s",
            "after the end",
        ),
    ],
)
def test_errors_name_file_line_and_field(
    old: str, new: str, line: int, field: str | None, words: str
) -> None:
    _check_error(old, new, line, field, words)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("class: SRBM", "class: SLV\n    range_km: 500", 8, "launches[0].range_km", "orbit_km"),
        ("class: SRBM", "class: SLV\n    stages: [{}]", 8, "launches[0].stages", "2 or 3"),
        ("class: SRBM", "class: SRBM\n    orbit_km: 500", 8, "launches[0].orbit_km", "SLV"),
        (
            "class: SRBM",
            "class: SRBM\n    profile: depressed\n    apogee_km: 40",
            9,
            "launches[0].apogee_km",
            "profile",
        ),
        ("class: SRBM", "range_km: 600\n    profile: steep", 8, "launches[0].profile", "Invalid enum"),
        (
            "class: SRBM",
            "class: SRBM\n    fails_at_s: 30\n    fails_stage: 1",
            9,
            "launches[0].fails_stage",
            "not both",
        ),
        (
            "class: SRBM",
            "class: SRBM\n    stages: [{}, {}]\n    fails_stage: 3",
            9,
            "launches[0].fails_stage",
            "2 stage",
        ),
        ("class: SRBM", "class: SRBM\n    fails_after_s: 3", 8, "launches[0].fails_after_s", "fails_stage"),
        ("class: SRBM", "class: SRBM\n    stages: []", 8, "launches[0].stages", "length >= 1"),
        ("class: SRBM", "class: SRBM\n    stages: [{}, {}, {}, {}]", 8, "launches[0].stages", "length <= 3"),
        (
            "class: SRBM",
            "class: SRBM\n    stages: [{thrust_to_weight: 0.5}]",
            8,
            "launches[0].stages[0].thrust_to_weight",
            "> 1",
        ),
        (
            "class: SRBM",
            "class: SRBM\n    stages: [{dv_share: 0.7}, {dv_share: 0.7}]",
            8,
            "launches[0].stages",
            "add up",
        ),
        (
            "class: SRBM",
            "class: SRBM\n    manoeuvre: {type: pull-up, dive_alt_km: 40}",
            8,
            "launches[0].manoeuvre.dive_alt_km",
            "below",
        ),
        ("class: SRBM", "class: SRBM\n    manoeuvre: {type: weave}", 8, "launches[0].manoeuvre.type", "wea"),
        ("class: SRBM", "class: SRBM\n    beta_kg_m2: 0", 8, "launches[0].beta_kg_m2", ">= 1"),
    ],
)
def test_launch_errors_name_file_line_and_field(
    old: str, new: str, line: int, field: str | None, words: str
) -> None:
    _check_error(old, new, line, field, words)


def _check_error(old: str, new: str, line: int, field: str | None, words: str) -> None:
    assert old in BASE
    err = _err(BASE.replace(old, new, 1))
    assert err.file == "s.yaml"
    assert err.line == line, str(err)
    if field is not None:
        assert err.field == field, str(err)
    assert words.lower() in str(err).lower()
    assert "\n" not in str(err)


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just words", "seed: 1\n"])
def test_not_a_scenario(text: str) -> None:
    err = _err(text)
    assert err.file == "s.yaml"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe seed")
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(tmp_path / "bad.yaml")


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.spec.partners
    codes = {p.code for p in sc.spec.partners}
    assert {"JP", "KR", "US"} <= codes


_LINES = BASE.splitlines(keepends=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    idx=st.integers(0, len(_LINES) - 1),
    junk=st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            ["-1", "1e400", "nan", "[", "{", ": :", "- x", "null", "~", "&a", "*a", "!!python/object x"]
        ),
    ),
)
def test_any_corruption_is_a_scenario_error_or_valid(idx: int, junk: str) -> None:
    lines = list(_LINES)
    key, sep, _ = lines[idx].partition(":")
    lines[idx] = f"{key}{sep} {junk}\n" if sep else junk + "\n"
    text = "".join(lines)
    err: ScenarioError | None = None
    try:
        parse_scenario(text, "s.yaml")
    except ScenarioError as exc:
        err = exc
    if err is not None:
        assert err.file == "s.yaml"
        assert "\n" not in str(err)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(ScenarioError):
        parse_scenario(text, "s.yaml")


# --- the launch examples of docs/scenario-language.md -------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenario-language.md"


def _doc_launch_examples() -> list[str]:
    """Every yaml example of the Launches section that lists launches (items
    with `site:`), as the text of its launch items."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Launches") : text.index("## Air objects")]
    out = []
    for block in section.split("```yaml\n")[1:]:
        body = block.split("```")[0]
        if "site:" not in body:
            continue
        if body.startswith("launches:\n"):
            body = body[len("launches:\n") :]
        out.append(body)
    return out


@pytest.mark.parametrize("example", _doc_launch_examples(), ids=lambda e: e.split("\n")[0].strip())
def test_documented_launch_examples_parse_and_fly(example: str) -> None:
    from tocsin.drill.simulate import simulate

    head = BASE[: BASE.index("launches:")]
    tail = BASE[BASE.index("air:") :]
    text = head.replace("duration_s: 600", "duration_s: 900") + "launches:\n" + example + tail
    res = simulate(parse_scenario(text, "doc.yaml"))
    launches = parse_scenario(text, "doc.yaml").spec.launches
    assert sum(la.count for la in launches) <= len([o for o in res.objects.values() if o.cls == "ballistic"])
