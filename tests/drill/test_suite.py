"""The Freedom Edge suite: every scenario loads, carries thresholds with the
suite's metric names, and a quick subset exists for CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tocsin.drill.scenario import load_scenario

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
    "rejected_signature",
    "rejected_replay",
    "rejected_partner",
    "rejected_schema",
    "rejected_total",
    "link_outage_detect_s",
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
