"""`tocsin warn` end to end, as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from capparselib.parsers import CAPParser

from tocsin.warning.cap import validate_cap
from tocsin.wire import encode_json, read_jsonl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warning"))
from warnhelpers import hokkaido_truth, tracks_from_truth


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``tocsin warn ARGS`` in this process, through the real entry point."""
    from tocsin.cli import main

    def _run_in(*args: str | Path, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["tocsin", "warn", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run_in


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "warn", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tracks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    envs = tracks_from_truth(hokkaido_truth(), track_id="F-9", every_s=10.0)
    p = tmp_path_factory.mktemp("warn") / "tracks.jsonl"
    p.write_bytes(b"".join(encode_json(e) + b"\n" for e in envs))
    return p


def test_warn_writes_alerts_cap_and_feed(
    tracks_file: Path, tmp_path: Path, run: Callable[..., Result]
) -> None:
    r = _run(tracks_file, "-o", "a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "alert messages" in r.stdout
    assert "JP-01" in r.stdout
    alerts, st = read_jsonl(tmp_path / "a" / "alerts.jsonl")
    assert not st.errors
    assert alerts
    assert {a.kind for a in alerts} == {"alert"}
    assert {a.body.status for a in alerts} == {"Exercise"}
    assert alerts[0].body.msg_type == "Alert"
    assert alerts[-1].body.closes  # the last message closes an area (an all-clear)
    assert alerts[0].body.id.startswith("warn-")  # the run's identity from its input
    for a in alerts:
        xml = (tmp_path / "a" / f"{a.body.id}.xml").read_text(encoding="utf-8")
        assert xml == a.body.cap
        assert validate_cap(xml) == []
        assert CAPParser(xml).as_dict()[0]["cap_id"] == a.body.id
    # the feed is the index of warnings still in force: every one was closed by the end
    feed = (tmp_path / "a" / "feed.xml").read_text(encoding="utf-8")
    assert "<feed" in feed
    assert "<entry>" not in feed
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "cap", "validate", str(tmp_path / "a" / "feed.xml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # same input, byte-identical output; replay mode gives Test
    r2 = run(tracks_file, "-o", "b", "-q", cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == ""
    assert (tmp_path / "a" / "alerts.jsonl").read_bytes() == (tmp_path / "b" / "alerts.jsonl").read_bytes()
    # a re-run into the same directory leaves no stale CAP file behind
    stale = tmp_path / "b" / f"{alerts[0].body.id}.xml"
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(tracks_file.read_bytes().splitlines(keepends=True)[:3]))
    assert run(short, "-o", "b", "-q", cwd=tmp_path).returncode == 0
    assert not stale.exists()
    now, _ = read_jsonl(tmp_path / "b" / "alerts.jsonl")
    assert {p.name for p in (tmp_path / "b").glob("*.xml")} == {"feed.xml"} | {
        f"{a.body.id}.xml" for a in now
    }
    r3 = run(tracks_file, "-o", "c", "-q", "--mode", "replay", cwd=tmp_path)
    assert r3.returncode == 0, r3.stderr
    replay, _ = read_jsonl(tmp_path / "c" / "alerts.jsonl")
    assert {a.body.status for a in replay} == {"Test"}


def test_bad_lines_are_counted_not_fatal(
    tracks_file: Path, tmp_path: Path, run: Callable[..., Result]
) -> None:
    lines = tracks_file.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    junk = [
        b"{not json\n",
        b'{"v":1,"kind":"track","partner":"JP","source":"x","seq":1,"sent":5,"body":{}}\n',
    ]
    broken.write_bytes(lines[0] + junk[0] + b"".join(lines[1:20]) + junk[1] + b"".join(lines[20:]))
    r = run(broken, "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{broken}:2" in r.stderr
    assert f"{broken}:22" in r.stderr
    assert "2 bad lines skipped" in r.stdout
    strict = run(broken, "-o", "strict", "--strict", cwd=tmp_path)
    assert strict.returncode == 2
    assert strict.stderr.count("\n") == 1
    assert f"{broken}:2" in strict.stderr
    assert not (tmp_path / "strict" / "alerts.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.jsonl", "-o", "x"], "missing.jsonl"),
        (["{tracks}", "-o", "x", "--mode", "live"], "--mode"),
        (["{tracks}", "-o", "x", "--tick", "0"], "--tick"),
        (["{tracks}", "-o", "x", "--policy", "policy.toml"], "min_quality"),
    ],
)
def test_errors_are_one_line(
    tracks_file: Path, tmp_path: Path, args: list[str], needle: str, run: Callable[..., Result]
) -> None:
    (tmp_path / "policy.toml").write_text("[thresholds]\nmin_quality = 7\n")
    r = run(*[a.replace("{tracks}", str(tracks_file)) for a in args], cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert needle in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_help_teaches_with_an_example(tmp_path: Path, run: Callable[..., Result]) -> None:
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    assert "tocsin warn tracks.jsonl -o alerts/" in r.stdout
    assert "--policy" in r.stdout
