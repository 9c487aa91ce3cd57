"""The four shipped scenarios, end to end, as `tocsin drill` runs them: each
meets the thresholds written in its file, and every alert it issues is an
Exercise CAP 1.2 document that validates against the OASIS schema, in
Japanese, Korean and English."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tocsin.drill.run import run_drill
from tocsin.drill.scenario import load_scenario
from tocsin.warning.cap import CAP_NS, validate_cap

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "irbm-over-hokkaido",
        "icbm-lofted-sea-of-japan",
        "open-sea",
        pytest.param(
            "srbm-salvo",
            marks=pytest.mark.xfail(
                strict=True,
                reason="issue 15 items 5/7: at si/gun/gu granularity the KR public is warned for 6 districts "
                "4-18 km beside the real path (boost and debris corridors), which the province areas hid; "
                "false_areas_land <= 0 fails until scoring and policy share one definition of 'under the "
                "path' (helper warn). Strict: remove this mark when it passes.",
            ),
        ),
    ],
)
def test_shipped_drill_meets_its_bar_with_valid_cap(tmp_path: Path, name: str) -> None:
    res = run_drill(load_scenario(SCENARIOS / f"{name}.yaml"), tmp_path / "run")
    assert res.checks, "a shipped scenario carries thresholds"
    assert res.passed, [(c.metric, c.value, c.bar()) for c in res.checks if not c.passed]
    assert res.stage_errors == 0
    caps = sorted((tmp_path / "run" / "cap").glob("*.xml"))
    assert len(caps) == res.alerts > 0
    for path in caps:
        text = path.read_text(encoding="utf-8")
        assert validate_cap(text) == [], path.name
        doc = etree.fromstring(text.encode("utf-8"))
        assert doc.findtext(f"{{{CAP_NS}}}status") == "Exercise"
        langs = sorted(i.findtext(f"{{{CAP_NS}}}language") or "" for i in doc.iter(f"{{{CAP_NS}}}info"))
        assert langs == ["en-US", "ja-JP", "ko-KR"], path.name
    if name == "open-sea":
        assert res.figures["false_areas_land"] == 0
        assert not any(c for c in res.warning.areas_warned if not c.startswith("sea:"))
