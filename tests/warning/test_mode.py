"""A drill or replay can never produce an Actual alert: by type and at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tocsin.warning.mode import (
    DrillMode,
    LiveAuthorisation,
    LiveMode,
    ModeError,
    ReplayMode,
    authorise_live,
    check_status,
)


def test_defaults_are_safe() -> None:
    assert DrillMode().status == "Exercise"
    assert ReplayMode().status == "Test"
    assert DrillMode("Test").status == "Test"


@pytest.mark.parametrize("cls", [DrillMode, ReplayMode])
def test_drill_and_replay_refuse_actual_at_run_time(cls: type[DrillMode] | type[ReplayMode]) -> None:
    with pytest.raises(ModeError):
        cls(status="Actual")  # type: ignore[arg-type]


def test_live_mode_only_through_authorisation() -> None:
    auth = LiveAuthorisation("Director", "order 1", "warning@jp.example")
    with pytest.raises(ModeError):
        LiveMode(object(), auth)  # type: ignore[arg-type]
    live = authorise_live(auth)
    assert live.status == "Actual"
    assert live.live
    assert check_status(live, "Actual") == "Actual"


def test_authorisation_must_name_who_and_why() -> None:
    with pytest.raises(ModeError):
        LiveAuthorisation(" ", "order 1", "s@x")
    with pytest.raises(ModeError):
        LiveAuthorisation("Director", "", "s@x")


def test_check_status_refuses_actual_outside_live() -> None:
    with pytest.raises(ModeError):
        check_status(DrillMode(), "Actual")
    with pytest.raises(ModeError):
        check_status(DrillMode(), "Test")


def test_mypy_strict_rejects_an_actual_drill(tmp_path: Path) -> None:
    """The type checker refuses ``DrillMode(status="Actual")`` and direct ``LiveMode``
    construction, and accepts the legitimate uses."""
    api = pytest.importorskip("mypy.api")
    src = tmp_path / "drill_actual.py"
    src.write_text(
        textwrap.dedent(
            """
            from tocsin.warning.mode import DrillMode, ReplayMode
            from tocsin.warning import WarningEngine

            ok = WarningEngine(mode=DrillMode(status="Test"))
            bad1 = DrillMode(status="Actual")
            bad2 = ReplayMode(status="Actual")
            bad3 = WarningEngine(mode="Actual")
            """
        )
    )
    out, _err, code = api.run(
        [
            "--strict",
            "--no-incremental",
            "--follow-imports=silent",
            "--cache-dir=" + str(tmp_path / "cache"),
            str(src),
        ]
    )
    assert code == 1, out
    errors = [ln for ln in out.splitlines() if ": error:" in ln]
    lines = sorted({int(ln.split(":")[1]) for ln in errors})
    assert lines == [6, 7, 8], out
