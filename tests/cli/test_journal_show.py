"""`tocsin journal show`: entries with UTC times a person reads, filters, whole payloads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app, main
from tocsin.journal import Journal

runner = CliRunner()
T = 1_800_000_000.25  # 2027-01-15T08:00:00.250Z


def _journal(tmp_path: Path) -> Path:
    p = tmp_path / "journal.db"
    with Journal(p) as j:
        j.append("note", b'{"event": "start"}', ts=T)
        j.append("input", b"x" * 300, ts=T + 1.5)
    return p


def test_show_prints_utc_times_and_filters_by_kind(tmp_path: Path) -> None:
    p = _journal(tmp_path)
    r = runner.invoke(app, ["journal", "show", str(p)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split("\t") == ["1", "2027-01-15T08:00:00.250Z", "note", '{"event": "start"}']
    assert lines[1].split("\t")[:3] == ["2", "2027-01-15T08:00:01.750Z", "input"]
    assert len(lines[1].split("\t")[3]) == 200  # truncated by default
    r = runner.invoke(app, ["journal", "show", str(p), "--kind", "input", "--full", "--epoch"])
    assert r.exit_code == 0, r.output
    (only,) = r.output.splitlines()
    assert only.split("\t") == ["2", "1800000001.750", "input", "x" * 300]


def test_show_of_a_missing_journal_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["journal", "show", str(tmp_path / "none.db")])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tocsin: error: ")
    assert "no such journal" in err
    assert len(err.strip().splitlines()) == 1
