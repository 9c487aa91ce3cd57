"""Helpers shared by the attack tests in tests/security/ (a uniquely named
module, not a conftest.py: see NOTICES 2026-12-05)."""

from __future__ import annotations

import pytest

from tocsin.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``tocsin ARGS`` in this process the way the console script does:
    (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``tocsin ARGS`` must fail the user-facing way: exit 2, one line on
    stderr, no traceback. Returns that line."""
    code, _, err = cli(capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("tocsin: error: "), err
    return err
