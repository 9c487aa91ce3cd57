"""`tocsin cap validate`: OK / problems with line numbers / unreadable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import shapely

from tocsin.warning.cap import CapMessage, render_cap
from tocsin.warning.texts import Facts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warning"))
from warnhelpers import FakeArea

AREA = FakeArea("JP-01", "land", "JP", "Hokkaido", "北海道", "홋카이도", shapely.box(140, 42, 145, 45))


def _cap(ident: str = "JP.F-1.1.0") -> str:
    return render_cap(
        CapMessage(
            identifier=ident,
            sender="warning@tocsin.example",
            sent=1.7e9,
            status="Exercise",
            msg_type="Alert",
            facts=Facts(
                msg_type="Alert", status="Exercise", area_names={"en-US": ["Hokkaido"]}, onset=1.7e9 + 300
            ),
            areas=[AREA],
            onset=1.7e9 + 300,
            expires=1.7e9 + 1800,
        )
    )


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``tocsin cap validate ARGS`` in this process, through the real entry point."""
    from tocsin.cli import main

    def _run(*args: str | Path, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["tocsin", "cap", "validate", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return _run


def test_entry_point_end_to_end(tmp_path: Path) -> None:
    """One real subprocess, as a user runs it."""
    good = tmp_path / "good.xml"
    good.write_text(_cap(), encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "cap", "validate", str(good), str(tmp_path / "nope.xml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2
    assert f"{good}: OK" in r.stdout
    assert "nope.xml: cannot read" in r.stderr


def test_validate_ok_invalid_unreadable(tmp_path: Path, run: Callable[..., Result]) -> None:
    good = tmp_path / "good.xml"
    good.write_text(_cap(), encoding="utf-8")
    r = run(good, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{good}: OK"

    bad = tmp_path / "bad.xml"
    xml = _cap().replace("<scope>Public</scope>", "<scope>Everyone</scope>")
    bad.write_text(xml, encoding="utf-8")
    line = next(i for i, ln in enumerate(xml.splitlines(), 1) if "<scope>" in ln)
    r = run(good, bad, cwd=tmp_path)
    assert r.returncode == 1
    assert f"{good}: OK" in r.stdout
    assert f"{bad}:{line}:" in r.stdout

    poly = tmp_path / "poly.xml"
    text = _cap()
    start = text.index("<polygon>") + len("<polygon>")
    end = text.index("</polygon>")
    poly.write_text(text[:start] + "42.0,140.0 43.0,141.0 42.0,140.0" + text[end:], encoding="utf-8")
    r = run(poly, cwd=tmp_path)
    assert r.returncode == 1
    assert "at least 4" in r.stdout

    broken = tmp_path / "broken.xml"
    broken.write_text(_cap()[:200], encoding="utf-8")
    r = run(good, broken, cwd=tmp_path)
    assert r.returncode == 2  # not XML at all: unreadable as CAP
    assert f"{broken}:" in r.stderr
    assert "well-formed" in r.stderr

    r = run(good, tmp_path / "nope.xml", bad, cwd=tmp_path)
    assert r.returncode == 2
    assert "nope.xml: cannot read" in r.stderr
    assert "Traceback" not in r.stderr


def test_atom_feed_entries_are_checked(tmp_path: Path, run: Callable[..., Result]) -> None:
    """The feed is an index: each entry links to its CAP document, which
    `cap validate` checks when it is a file next to the feed."""
    from tocsin.web.feed import cap_index
    from tocsin.wire import make
    from tocsin.wire.messages import AlertBody

    body = AlertBody(
        id="JP.F-1.1.0", t=1.7e9, msg_type="Alert", status="Exercise", tracks=[], areas=["JP-01"], cap=_cap()
    )
    env = make("alert", body, partner="JP", source="w", seq=1, sent=1.7e9)
    feed = tmp_path / "feed.xml"
    feed.write_bytes(cap_index([env], href=lambda i: f"{i}.xml"))
    (tmp_path / "JP.F-1.1.0.xml").write_text(body.cap, encoding="utf-8")
    r = run(feed, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 linked" in r.stdout
    text = feed.read_text()
    assert "北海道" in text or "Hokkaido" in text  # a human title with the area's name
    # a linked document that is not valid CAP fails the feed, naming both
    (tmp_path / "JP.F-1.1.0.xml").write_text(_cap("JP F 1"), encoding="utf-8")
    r = run(feed, cwd=tmp_path)
    assert r.returncode == 1
    assert "identifier" in r.stdout
    assert "JP.F-1.1.0.xml" in r.stdout
    # and a missing one is unreadable (exit 2)
    (tmp_path / "JP.F-1.1.0.xml").unlink()
    r = run(feed, cwd=tmp_path)
    assert r.returncode == 2
