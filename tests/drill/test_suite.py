"""The Freedom Edge suite: every scenario loads, carries thresholds with the
suite's metric names, and a quick subset exists for CI; the suite runner and
compare (with a stand-in for the single-drill runner)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tocsin.drill.scenario import Scenario, load_scenario
from tocsin.drill.suite import compare, format_comparison, format_suite, run_suite
from tocsin.errors import InputError

SUITE = Path(__file__).resolve().parents[2] / "scenarios" / "freedom-edge"
FILES = sorted(SUITE.glob("*.yaml"))
METRICS = {
    "first_alert_s",
    "min_lead_s",
    "area_recall",
    "area_precision",
    "false_alerts",
    "false_areas_land",
    "false_areas_sea",
    "gospa_mean_m",
    "impact_error_120s_m",
    "impact_error_300s_m",
    "rejected_signature",
    "rejected_replay",
    "rejected_partner",
    "rejected_schema",
    "rejected_total",
    "link_outage_detect_s",
    "time_to_correct_max_s",
    "track_breaks",
    "attacks_accepted",
    "first_contact_alert",
    "explicit_close_rate",
    "messages_per_area_max",
    "messages_per_area_minute_max",
    "announced_error_max_s",
}


def test_at_least_ten_scenarios() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_scenario_loads_with_known_thresholds(path: Path) -> None:
    sc = load_scenario(path)
    spec = sc.spec
    assert spec.name.startswith("Freedom Edge: ")
    assert spec.thresholds, "a drill says plainly whether it met its bar"
    assert set(spec.thresholds) <= METRICS
    assert spec.duration_s <= 1_200  # short enough for CI
    assert sum(len(p.sensors) for p in spec.partners) <= 8
    assert spec.tags


def test_a_quick_subset_covers_air_and_cyber() -> None:
    quick = [load_scenario(p) for p in FILES]
    quick = [s for s in quick if "quick" in s.spec.tags]
    assert 2 <= len(quick) <= 3
    tags = {t for s in quick for t in s.spec.tags}
    assert {"air", "cyber"} <= tags


def test_the_suite_covers_every_inject() -> None:
    kinds = {type(i).__struct_config__.tag for p in FILES for i in load_scenario(p).spec.injects}
    assert kinds >= {
        "sensor-off",
        "link-outage",
        "link-delay",
        "sensor-bias",
        "ghost-missile",
        "duplicate-burst",
        "replay-old",
        "forged-partner",
        "junk-flood",
    }
    scs = [load_scenario(p).spec for p in FILES]
    assert any(la.fails_at_s for s in scs for la in s.launches)
    assert {a.kind for s in scs for a in s.air} == {"airliner", "military", "drone"}
    assert any(s.platform == "ship" for sc in scs for p in sc.partners for s in p.sensors)


# --- the suite runner and compare (with a stand-in for the single-drill runner) ---------------

TINY = """\
name: {name}
seed: {seed}
start: 2026-11-25T00:00:00Z
duration_s: 60
tags: [{tags}]
partners:
  - code: JP
    sensors:
      - id: JP-R1
        type: radar
        site: {{lat: 38, lon: 138}}
        sigma_range_m: 30
        sigma_az_deg: 0.05
        sigma_el_deg: 0.05
        max_range_km: 1000
thresholds:
  false_alerts: {{max: 0}}
  first_alert_s: {{max: 100}}
"""


@dataclass
class FakeOutcome:
    report_path: Path
    figures: dict[str, float | None]
    passed: bool

    def summary(self) -> dict[str, object]:
        checks = [
            {
                "metric": "false_alerts",
                "value": self.figures["false_alerts"],
                "min": None,
                "max": 0.0,
                "passed": self.figures["false_alerts"] == 0,
            },
            {
                "metric": "first_alert_s",
                "value": self.figures["first_alert_s"],
                "min": None,
                "max": 100.0,
                "passed": (self.figures["first_alert_s"] or 1e9) <= 100,
            },
        ]
        return {
            "name": "x",
            "passed": self.passed,
            "figures": self.figures,
            "checks": checks,
            "rejected": {"schema": 3},
            "injects": {
                "genuine": {"delivered": 10, "accepted": 10, "refused": {}},
                "junk-flood": {"delivered": 3, "accepted": 0, "refused": {"schema": 3}},
                "duplicate-burst": {"delivered": 4, "accepted": 1, "refused": {"duplicate": 3}},
            },
            "notes": ["a note"],
        }


def fake_runner(sc: Scenario, out: Path, progress: Callable[[str], None] | None) -> FakeOutcome:
    """Figures from the seed: seed 1 passes, seed 2 fails, seed 666 crashes."""
    if sc.spec.seed == 666:
        raise RuntimeError("tracker fell over\nbadly")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text("<html></html>")
    fa = float(sc.spec.seed - 1)
    first = 50.0 * sc.spec.seed
    figs: dict[str, float | None] = {
        "false_alerts": fa,
        "first_alert_s": first,
        "gospa_mean_m": 100.0 * sc.spec.seed,
        "rejected_schema": 3.0,
        "area_recall": None,
    }
    return FakeOutcome(out / "report.html", figs, fa == 0 and first <= 100)


def _suite_dir(tmp: Path, seeds: dict[str, int], tags: dict[str, str] | None = None) -> Path:
    d = tmp / "suite"
    d.mkdir(parents=True, exist_ok=True)
    for stem, seed in seeds.items():
        (d / f"{stem}.yaml").write_text(
            TINY.format(name=stem.upper(), seed=seed, tags=(tags or {}).get(stem, ""))
        )
    return d


def test_run_suite_rows_files_and_progress(tmp_path: Path) -> None:
    d = _suite_dir(tmp_path, {"a-good": 1, "b-bad": 2, "c-crash": 666}, {"a-good": "quick"})
    (d / "d-broken.yaml").write_text("seed: [\n")
    (d / "notes.txt").write_text("not a scenario")
    lines: list[str] = []
    res = run_suite(d, tmp_path / "out", jobs=1, progress=lines.append, runner=fake_runner)
    assert [r.stem for r in res.rows] == ["a-good", "b-bad", "c-crash", "d-broken"]
    a, b, c, e = res.rows
    assert a.passed
    assert not b.passed
    assert b.error is None
    assert c.error == "RuntimeError: tracker fell over badly"
    assert e.error is not None
    assert "d-broken.yaml:2: not valid YAML" in e.error
    assert a.report == "a-good/report.html"
    assert a.tags == ["quick"]
    assert a.rejected == {"schema": 3}
    assert (res.passed, res.failed, res.errors) == (1, 1, 2)
    assert res.checks_met == (3, 4)
    assert res.figures["gospa_mean_m"] == {"n": 2, "mean": 150.0, "min": 100.0, "max": 200.0}
    assert res.figures["area_recall"]["n"] == 0
    assert len([m for m in lines if m.startswith("[")]) == 4
    assert any("c-crash: ERROR" in m for m in lines)
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["passed"] == 1
    assert data["scenarios"] == 4
    assert data["rows"][0]["figures"]["first_alert_s"] == 50.0
    page = (tmp_path / "out" / "summary.html").read_text()
    assert 'href="a-good/report.html"' in page
    assert page.count('class="l pass"') == 1
    assert "tracker fell over" in page
    assert "first_alert_s" in page
    assert "junk-flood 3/3" in page
    assert "duplicate-burst 3/4" in page  # 10 genuine + 1 copy accepted: one got through
    assert a.injects["junk-flood"]["refused"] == {"schema": 3}
    text = format_suite(res)
    assert "b-bad" in text
    assert "1/2 thresholds  failed: false_alerts" in text


def test_run_suite_in_parallel_matches_inline(tmp_path: Path) -> None:
    d = _suite_dir(tmp_path, {"a": 1, "b": 2, "c": 1})
    one = run_suite(d, tmp_path / "o1", jobs=1, runner=fake_runner)
    two = run_suite(d, tmp_path / "o2", jobs=2, runner=fake_runner)
    strip = [(r.stem, r.passed, r.figures, r.checks, r.error) for r in one.rows]
    assert strip == [(r.stem, r.passed, r.figures, r.checks, r.error) for r in two.rows]
    assert two.jobs == 2


def test_run_suite_selects_by_tag_and_refuses_empty(tmp_path: Path) -> None:
    d = _suite_dir(tmp_path, {"a": 1, "b": 2}, {"a": "quick, air"})
    res = run_suite(d, tmp_path / "o", jobs=1, tags=["quick"], runner=fake_runner)
    assert [r.stem for r in res.rows] == ["a"]
    with pytest.raises(InputError, match="no scenario files"):
        run_suite(d, tmp_path / "o", jobs=1, tags=["nope"], runner=fake_runner)
    with pytest.raises(InputError, match="not a directory"):
        run_suite(tmp_path / "missing", tmp_path / "o", runner=fake_runner)
    with pytest.raises(InputError, match="at least 1"):
        run_suite(d, tmp_path / "o", jobs=0, runner=fake_runner)


def test_the_shipped_suite_runs_through_the_runner(tmp_path: Path) -> None:
    res = run_suite(SUITE, tmp_path / "o", jobs=1, runner=fake_runner)
    assert len(res.rows) == len(FILES)
    assert res.errors == 0
    quick = run_suite(SUITE, tmp_path / "q", jobs=1, tags=["quick"], runner=fake_runner)
    assert 2 <= len(quick.rows) <= 3


def test_compare_two_runs(tmp_path: Path) -> None:
    d1 = _suite_dir(tmp_path / "r1", {"a": 1, "b": 2, "gone": 1})
    d2 = _suite_dir(tmp_path / "r2", {"a": 2, "b": 1, "new": 1})
    run_suite(d1, tmp_path / "A", jobs=1, runner=fake_runner)
    run_suite(d2, tmp_path / "B", jobs=1, runner=fake_runner)
    cmp = compare(tmp_path / "A", tmp_path / "B" / "summary.json")
    by = {(r.scenario, r.figure): r for r in cmp.rows}
    # a got worse: one false alert (max threshold: lower is better), later first alert
    assert by["a", "false_alerts"].verdict == "worse"
    assert by["a", "false_alerts"].delta == 1.0
    assert by["a", "first_alert_s"].verdict == "worse"
    assert by["a", "gospa_mean_m"].verdict == "worse"  # no threshold: known direction
    assert by["b", "first_alert_s"].verdict == "better"
    assert by["a", "rejected_schema"].verdict == "same"
    assert by["a", "false_alerts"].passed_a is True
    assert by["a", "false_alerts"].passed_b is False
    assert ("a", "area_recall") not in by  # measured in neither
    assert cmp.verdicts == {"a": ("PASS", "FAIL"), "b": ("FAIL", "PASS")}
    assert cmp.only_a == ["gone"]
    assert cmp.only_b == ["new"]
    text = format_comparison(cmp)
    assert "a: PASS -> FAIL" in text
    assert "rejected_schema" not in text
    assert "rejected_schema" in format_comparison(cmp, all_rows=True)
    assert json.loads(json.dumps(cmp.as_dict()))["only_b"] == ["new"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no summary.json"),
        ("{", "not JSON"),
        ("[]", "not a suite summary"),
        ('{"rows": [{"x": 1}]}', "without `stem`"),
    ],
)
def test_compare_bad_runs_are_one_line_errors(tmp_path: Path, content: str | None, words: str) -> None:
    good = _suite_dir(tmp_path / "g", {"a": 1})
    run_suite(good, tmp_path / "A", jobs=1, runner=fake_runner)
    bad = tmp_path / "B"
    bad.mkdir()
    if content is not None:
        (bad / "summary.json").write_text(content)
    with pytest.raises(InputError, match=words):
        compare(tmp_path / "A", bad)


@pytest.mark.slow
def test_the_ghost_is_stopped_by_the_consistency_check_end_to_end(tmp_path: Path) -> None:
    """Issue 7, item 5: the compromised radar's ghost missile raises no alert
    with the default stages (tracker wrapped in the consistency check), and does
    raise false alerts without the check: the defence is what makes the difference."""
    import tocsin.drill.run as run
    from tocsin.fusion import Tracker, TrackerConfig
    from tocsin.runtime import default_stages
    from tocsin.warning import WarningEngine

    sc = load_scenario(SUITE / "ghost-missile.yaml")
    guarded = run.run_drill(sc, tmp_path / "with", stages=default_stages())
    assert guarded.passed, [c for c in guarded.checks if not c.passed]
    assert guarded.alerts == 0
    # the report says what was caught: the ghost's track, its one sensor, and
    # the partner sensor that should have seen it
    [held] = guarded.held
    assert (held["contributor"], held["expected"], held["alerted"]) == ("KR-R1", ["KR-R2"], False)
    page = guarded.report_path.read_text(encoding="utf-8")
    assert "Cross-partner consistency: tracks held back" in page
    assert "none (caught)" in page
    bare = run.run_drill(sc, tmp_path / "without", stages=[Tracker(TrackerConfig()), WarningEngine()])
    assert bare.figures["false_alerts"] is not None
    assert bare.figures["false_alerts"] > 0
    assert not bare.passed
    assert bare.held == []
