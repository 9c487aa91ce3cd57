"""`tocsin simulate` end to end, as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tocsin.wire import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "simulate", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_simulate_writes_contract_files_byte_identically(tmp_path: Path) -> None:
    sc = SCENARIOS / "open-sea.yaml"
    r = _run(sc, "-o", "a/plots.jsonl", "--truth", "a/truth.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "plots" in r.stdout
    r2 = _run(sc, "-o", "b/plots.jsonl", "--truth", "b/truth.jsonl", "-q", cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == ""
    for name in ("plots.jsonl", "truth.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    plots, st = read_jsonl(tmp_path / "a" / "plots.jsonl")
    assert not st.errors
    assert plots[0].kind == "sensor"
    assert any(m.kind == "plot" for m in plots)
    truth, st = read_jsonl(tmp_path / "a" / "truth.jsonl")
    assert not st.errors
    assert sum(1 for m in truth if m.body.phase == "impact") == 1
    assert not list(tmp_path.glob("a/.*.tmp"))  # temporaries renamed away
    r3 = _run(sc, "-o", "c/plots.jsonl", "--seed", "99", "-q", cwd=tmp_path)
    assert r3.returncode == 0, r3.stderr
    assert (tmp_path / "c" / "plots.jsonl").read_bytes() != (tmp_path / "a" / "plots.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("seed: 1\nstart: 2017-08-29T20:57:00Z\nduration_s: -5\npartners: []\n", "bad.yaml:3: duration_s:"),
        ("seed: [\n", "bad.yaml:2:"),
        (
            "seed: 1\nstart: 2017-08-29T20:57:00Z\nduration_s: 5\nparters: []\n",
            "bad.yaml:4: parters: unknown",
        ),
    ],
)
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, text: str, where: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    r = _run("bad.yaml", "-o", "plots.jsonl", "--truth", "truth.jsonl", cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tocsin: error: ")
    assert where in lines[0]
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_missing_file_and_check_mode(tmp_path: Path) -> None:
    r = _run("nope.yaml", "-o", "p.jsonl", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "tocsin: error: nope.yaml: no such file"
    r = _run(SCENARIOS / "srbm-salvo.yaml", "--check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(": ok")
    r = _run(SCENARIOS / "srbm-salvo.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "--out" in r.stderr


def test_help_teaches_with_examples(tmp_path: Path) -> None:
    r = _run("--help", cwd=tmp_path)
    assert r.returncode == 0
    assert "Examples" in r.stdout
    assert "tocsin simulate scenarios/irbm-over-hokkaido.yaml" in r.stdout
