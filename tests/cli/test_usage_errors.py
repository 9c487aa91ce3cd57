"""Usage errors read like every other tocsin error: one line on stderr,
``tocsin: error: ...``, exit status 2, no box and no traceback; flags do not
pretend to take a value in ``--help``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tocsin.cli import main


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    code = exc.value.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["score", "tracks.jsonl"], "Missing option '--truth'"),
        (["score"], "Missing argument"),
        (
            ["score", "t.jsonl", "--truth", "g.jsonl", "--gospa-cutoff", "abc"],
            "Invalid value for '--gospa-cutoff'",
        ),
        (["--bogus"], "No such option: --bogus"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["feed", "x.jsonl", "--batch", "many"], "Invalid value for '--batch'"),
    ],
)
def test_usage_error_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = _run(capsys, args)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tocsin: error: ")
    assert needle in lines[0]
    assert "--help" in lines[0]  # says where to look
    for box in ("╭", "│", "Traceback"):
        assert box not in err


def test_flags_show_no_value_type_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["feed", "--help"])
    assert code == 0
    restamp = next(ln for ln in out.splitlines() if "--restamp" in ln)
    assert "<bool>" not in restamp
    batch = next(ln for ln in out.splitlines() if "--batch" in ln)
    assert "<int>" in batch  # options that take a value still say what kind


def test_console_script_reports_usage_errors_in_one_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "tocsin", "score", "tracks.jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "tocsin: error: Missing option '--truth'. (see 'tocsin score --help')"
    ]


@pytest.mark.parametrize(
    "command", ["serve", "feed", "track", "simulate", "drill", "score", "warn", "node", "replay"]
)
def test_help_teaches_by_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` of every command a newcomer starts with shows commands to copy."""
    code, out, _ = _run(capsys, [command, "--help"])
    assert code == 0
    assert "Example" in out
    assert f"    tocsin {command} " in out  # (indented: a whole-epilog dedent loses it)
