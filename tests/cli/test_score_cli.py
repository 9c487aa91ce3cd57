"""`tocsin score`: table, JSON, one-line errors with exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tocsin.cli import app, main
from tocsin.geo import geodetic_to_ecef
from tocsin.wire import TrackBody, TruthBody, make, write_jsonl

runner = CliRunner()


def _files(tmp_path: Path, obj: str = "A1", cls: str = "air") -> tuple[Path, Path]:
    t0 = 1_800_000_000.0
    truth, tracks = [], []
    base = geodetic_to_ecef(37.0, 130.0, 10_000.0)
    vel = np.array([100.0, 0.0, 0.0])
    for k in range(30):
        pos = base + vel * k
        st = [*pos.tolist(), *vel.tolist()]
        truth.append(
            make(
                "truth",
                TruthBody(object=obj, t=t0 + k, phase="midcourse", class_=cls, state_ecef=st),
                partner="US",
                source="truth",
                seq=k,
                sent=t0 + k,
            )
        )
        st2 = [st[0] + 120.0, *st[1:]]
        tracks.append(
            make(
                "track",
                TrackBody(
                    id="F-1", t=t0 + k, state_ecef=st2, cov=[0.0] * 36, status="confirmed", class_="air"
                ),
                partner="JP",
                source="fusion",
                seq=k,
                sent=t0 + k,
            )
        )
    tp, gp = tmp_path / "tracks.jsonl", tmp_path / "truth.jsonl"
    write_jsonl(tp, tracks)
    write_jsonl(gp, truth)
    return tp, gp


def test_score_table_and_json(tmp_path: Path) -> None:
    tp, gp = _files(tmp_path)
    out = tmp_path / "out" / "score.json"
    r = runner.invoke(
        app,
        [
            "score",
            str(tp),
            "--truth",
            str(gp),
            "--json",
            str(out),
            "--gospa-cutoff",
            "500",
            "--gospa-order",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "GOSPA" in r.output
    assert "A1" in r.output
    data = json.loads(out.read_text())
    assert data["c"] == 500.0
    assert data["p"] == 1.0
    assert data["rmse_m"] == pytest.approx(120.0)
    assert data["gospa_mean"] == pytest.approx(120.0)


def test_help_has_an_example() -> None:
    r = runner.invoke(app, ["score", "--help"])
    assert r.exit_code == 0
    assert "tocsin score tracks.jsonl --truth truth.jsonl" in r.output


def _run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tocsin", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_bad_line_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tp, gp = _files(tmp_path)
    lines = tp.read_text().splitlines()
    bad = json.loads(lines[3])
    bad["body"]["state_ecef"] = [1.0, 2.0]
    lines[3] = json.dumps(bad)
    tp.write_text("\n".join(lines) + "\n")
    code, err = _run_main(monkeypatch, capsys, ["score", str(tp), "--truth", str(gp)])
    assert code == 2
    assert err.count("\n") == 1
    assert f"{tp}:4:" in err
    assert "state_ecef" in err


def test_missing_file_and_no_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tp, _gp = _files(tmp_path)
    code, err = _run_main(monkeypatch, capsys, ["score", str(tp), "--truth", str(tmp_path / "nope.jsonl")])
    assert code == 2
    assert "nope.jsonl" in err
    assert "no such file" in err
    code, err = _run_main(monkeypatch, capsys, ["score", str(tp), "--truth", str(tp)])
    assert code == 2
    assert "no truth messages" in err
    code, err = _run_main(monkeypatch, capsys, ["score", str(tp), "--truth", str(tp), "--gospa-cutoff", "-3"])
    assert code == 2
    assert "c must be" in err


def test_table_never_cuts_object_names_or_classes(tmp_path: Path) -> None:
    """The per-object table at its default width: names and classes in full
    ("ballis…" was printed), the numbers make room instead."""
    tp, gp = _files(tmp_path, obj="M1-stage-2-debris", cls="ballistic")
    r = runner.invoke(app, ["score", str(tp), "--truth", str(gp)])
    assert r.exit_code == 0, r.output
    assert "M1-stage-2-debris" in r.output
    assert "ballistic" in r.output
    assert "…" not in r.output
