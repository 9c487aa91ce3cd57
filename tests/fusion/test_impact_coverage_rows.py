"""The impact-coverage benchmark's rows file (``--rows``, ``--resume``,
``--only``): a full run takes most of an hour on two cores, so a run stopped
part way loses nothing it finished, a resumed run gives the same result as
one that was never stopped, a rows file of other flights is refused, and
chosen flights of the full run can be flown alone.

The flights here are stand-ins (``run_flight`` replaced by a function of the
flight's index giving rows of the benchmark's shape): what is tested is the
bookkeeping, not the tracker (tests/fusion/test_report_owner.py flies a real one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import impact_coverage as ic


def _flight(args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of the benchmark's shape, different for every flight index."""
    seed, cls, index = args[0], args[1], args[2]
    rows = []
    for k, group in enumerate(("rv", "stage")):
        preds = [
            (300.0 - 10 * j, (index + j + k) % 4 != 0, 100.0 * (index + 1) + j, j % 5 == 0) for j in range(12)
        ]
        rows.append(
            {
                "seed": seed,
                "index": index,
                "class": cls,
                "object": f"M1.S{k}" if k else "M1",
                "role": group,
                "group": group,
                "beta": 1000.0 + index,
                "fate": None,
                "flight_s": 400.0,
                "tracks": 1 + index % 2,
                "breaks": index % 3,
                "tracked_fraction": 0.9,
                "first_ballistic_s": 50.0 + index,
                "impact_error_m_at": [None, 900.0 + index, 300.0, 120.0 + k],
                "final_impact_error_m": 80.0 + index,
                "plots": 500,
                "lost_while_reported_s": 12.0 if index == 3 else 0.0,
                "preds": preds,
                "preds_report": preds[:8],
                "final_impact_error_per_report_m": 90.0 + index,
                "cpu_s": 1.0,
                "too_late": 0,
            }
        )
    return rows


@pytest.fixture
def flown(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the flights; the list records the indices flown, in order."""
    seen: list[int] = []

    def fake(args: tuple[Any, ...]) -> list[dict[str, Any]]:
        seen.append(int(args[2]))
        return _flight(args)

    monkeypatch.setattr(ic, "run_flight", fake)
    return seen


def _run_err(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    """The run's JSON (without its wall time) and what it said on stderr."""
    assert ic.main(["--objects", *argv]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    out.pop("wall_s")
    return out, cap.err


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    return _run_err(capsys, *argv)[0]


def test_a_resumed_run_flies_only_what_is_missing_and_gives_the_same_result(
    tmp_path: Path, flown: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    whole = _run(capsys, "--flights", "9")
    assert flown == list(range(9))
    rows = tmp_path / "run.jsonl"
    flown.clear()
    assert _run(capsys, "--flights", "9", "--rows", str(rows)) == whole
    # stopped while writing flight 8's line, with flights 6 and 7 never written
    lines = rows.read_text().splitlines(keepends=True)
    assert len(lines) == 10  # the setup, then a line a flight
    rows.write_text("".join(lines[:7]) + lines[9][:40])
    flown.clear()
    resumed, err = _run_err(capsys, "--flights", "9", "--rows", str(rows), "--resume")
    assert flown == [6, 7, 8]
    assert resumed == whole
    assert "[6/9] read back" in err
    assert "cut short" in err
    # the file is whole again: a second resume flies nothing and agrees
    flown.clear()
    assert _run(capsys, "--flights", "9", "--rows", str(rows), "--resume") == whole
    assert flown == []


@pytest.mark.parametrize(
    ("other", "field"),
    [
        (["--seed", "2"], "seed"),
        (["--config", '{"drag_estimation": false}'], "config"),
        (["--no-sensor-bias"], "sensor_bias"),
    ],
)
def test_a_rows_file_of_other_flights_is_refused_naming_the_field(
    tmp_path: Path, flown: list[int], capsys: pytest.CaptureFixture[str], other: list[str], field: str
) -> None:
    rows = tmp_path / "run.jsonl"
    _run(capsys, "--flights", "3", "--rows", str(rows))
    flown.clear()
    with pytest.raises(SystemExit) as e:
        ic.main(["--flights", "3", "--rows", str(rows), "--resume", *other])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"its {field} is" in err
    assert "Traceback" not in err
    assert flown == []


def test_finished_work_is_not_overwritten_without_resume(
    tmp_path: Path, flown: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "run.jsonl"
    _run(capsys, "--flights", "2", "--rows", str(rows))
    before = rows.read_text()
    with pytest.raises(SystemExit):
        ic.main(["--flights", "2", "--rows", str(rows)])
    assert "--resume" in capsys.readouterr().err
    assert rows.read_text() == before


def test_only_flies_the_chosen_flights_of_the_full_run(
    flown: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    whole = _run(capsys, "--flights", "210")
    flown.clear()
    part = _run(capsys, "--only", "4,11,100-102")
    assert flown == [4, 11, 100, 101, 102]
    assert part["setup"]["only"] == [4, 11, 100, 101, 102]
    # the same flights (index, class) with the same rows as in the full run
    assert part["objects"] == [o for o in whole["objects"] if o["index"] in (4, 11, 100, 101, 102)]
    assert [o["class"] for o in part["objects"][::2]] == ["IRBM", "IRBM", "SRBM-pullup", "MRBM", "IRBM"]
    for bad, says in (("4,x", "'x'"), ("5-3", "backwards"), ("210", "outside")):
        with pytest.raises(SystemExit):
            ic.main(["--only", bad])
        assert says in capsys.readouterr().err
