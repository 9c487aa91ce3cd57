"""`tocsin drill suite` and `tocsin drill compare` as a user runs them: the quick
subset of the shipped "Freedom Edge" suite, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "scenarios" / "freedom-edge"


def _tocsin(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "drill", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_quick_suite_runs_scores_and_compares(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = _tocsin("suite", SUITE, "--tag", "quick", "--out", out, "--jobs", "2")
    assert r.returncode in (0, 1), r.stderr
    summary = json.loads((out / "summary.json").read_text())
    stems = {row["stem"] for row in summary["rows"]}
    quick = {p.stem for p in SUITE.glob("*.yaml") if "quick" in p.read_text()}
    assert stems == quick
    for row in summary["rows"]:
        assert row.get("error") is None, row
        assert (out / row["stem"] / "report.html").is_file()
        assert row["checks"], f"{row['stem']} has no thresholds"
    # the exit status and the verdict line agree with the thresholds
    all_met = all(c["passed"] for row in summary["rows"] for c in row["checks"])
    assert (r.returncode == 0) == all_met
    assert ("PASS" if all_met else "FAIL") in r.stdout
    html = (out / "summary.html").read_text()
    for stem in stems:
        assert f"{stem}/report.html" in html
    # a run compared with itself: nothing better or worse, exit 0
    r = _tocsin("compare", out, out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "worse" not in r.stdout.replace("0 worse", "")


def test_drill_usage_errors_are_one_line(tmp_path: Path) -> None:
    r = _tocsin("compare", tmp_path)
    assert r.returncode == 2
    assert "two runs" in r.stderr
    r = _tocsin("suite", tmp_path / "missing")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    r = _tocsin("a.yaml", "b.yaml")
    assert r.returncode == 2
    assert "one scenario" in r.stderr
