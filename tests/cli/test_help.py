"""`tocsin --help` teaches: every command is listed with a one-line summary
that reads as a sentence (not cut where its docstring wraps)."""

from __future__ import annotations

from typer.testing import CliRunner

from tocsin.cli import COMMAND_MODULES, app


def test_every_command_is_listed_with_a_whole_first_sentence() -> None:
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "1000"})
    assert res.exit_code == 0
    lines = res.output.splitlines()
    for name in COMMAND_MODULES:
        row = next((ln for ln in lines if ln.strip("│ ").startswith(name + " ")), None)
        assert row is not None, name
        summary = row.strip("│ ")[len(name) :].strip()
        # one line on a wide terminal, ending where the sentence ends
        assert summary.endswith("."), (name, summary)
