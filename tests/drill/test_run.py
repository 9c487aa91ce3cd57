"""`tocsin drill` end to end: one short scenario through the real exchange,
fusion and warning stages, scored, reported, and replayable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tocsin.drill.run import Check, run_drill
from tocsin.drill.scenario import load_scenario
from tocsin.wire import read_jsonl
from tocsin.wire.messages import AlertBody

# One missile from the east coast of North Korea over northern Tohoku into the
# Pacific, two notional radars; short, so the whole drill takes seconds.
SCENARIO = (Path(__file__).resolve().parents[1] / "data" / "mrbm-over-tohoku.yaml").read_text()


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    d = tmp_path_factory.mktemp("drill")
    sc_path = d / "short.yaml"
    sc_path.write_text(SCENARIO)
    out = d / "run"
    res = run_drill(load_scenario(sc_path), out)
    return sc_path, out, res


def test_drill_writes_every_output(drill: tuple[Path, Path, object]) -> None:
    _, out, _ = drill
    for name in (
        "plots.jsonl",
        "truth.jsonl",
        "tracks.jsonl",
        "alerts.jsonl",
        "journal.db",
        "score.json",
        "summary.json",
        "report.html",
    ):
        assert (out / name).is_file(), name
    tracks, st = read_jsonl(out / "tracks.jsonl")
    assert not st.errors
    assert any(t.body.class_ == "ballistic" and t.body.status == "confirmed" for t in tracks)  # type: ignore[union-attr]


def test_drill_alerts_are_exercise_and_have_cap(drill: tuple[Path, Path, object]) -> None:
    _, out, _ = drill
    alerts, st = read_jsonl(out / "alerts.jsonl")
    assert not st.errors
    assert alerts, "the overflight should have raised an alert"
    for a in alerts:
        assert isinstance(a.body, AlertBody)
        assert a.body.status == "Exercise"
        xml = (out / "cap" / f"{a.body.id}.xml").read_text()
        assert "<status>Exercise</status>" in xml
    report = (out / "report.html").read_text()
    assert "EXERCISE" in report
    assert "<svg" in report


def test_thresholds_decide_pass_and_fail(drill: tuple[Path, Path, object]) -> None:
    _, out, res = drill
    summary = json.loads((out / "summary.json").read_text())
    checks = {c["metric"]: c for c in summary["checks"]}
    # the overflown prefectures are at risk and at least one was warned in time
    assert summary["figures"]["area_recall"] > 0
    assert summary["figures"]["min_lead_s"] > 0
    assert checks["area_precision"]["passed"] is True
    # no system alerts within half a second of launch: this bar must fail
    assert checks["first_alert_s"]["passed"] is False
    assert summary["passed"] is False
    assert res.passed is False  # type: ignore[attr-defined]


def test_check_semantics() -> None:
    assert Check("x", 5.0, 1.0, 10.0).passed
    assert not Check("x", 0.5, 1.0, None).passed
    assert not Check("x", 11.0, None, 10.0).passed
    assert not Check("x", None, None, 10.0).passed  # not measured is not met


def test_cli_drill_exit_status_and_replay(drill: tuple[Path, Path, object], tmp_path: Path) -> None:
    sc_path, first, _ = drill
    out = tmp_path / "again"
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "drill", str(sc_path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 1, r.stderr  # the first_alert_s bar is not met
    assert "FAIL" in r.stdout
    assert "first_alert_s" in r.stdout
    # deterministic: the same scenario gives the same tracks and alerts
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (out / name).read_bytes() == (first / name).read_bytes(), name
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "journal", "verify", str(out / "journal.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the drill ran through the live exchange's pipeline: its journal replays
    # to the same tracks and alerts, byte for byte
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "replay", str(out / "journal.db"), "-o", str(tmp_path / "replay")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (tmp_path / "replay" / name).read_bytes() == (out / name).read_bytes(), name


def test_cli_drill_bad_scenario_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace("duration_s: 700", "duration_s: -1"))
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "drill", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2
    assert "bad.yaml" in r.stderr
    assert "duration_s" in r.stderr
    assert "Traceback" not in r.stderr


def test_drill_ids_feed_and_stories(drill: tuple[Path, Path, object], tmp_path: Path) -> None:
    """The drill's alert ids carry its own instance; every area's story ends
    with an explicit close; the feed the drill writes is a valid current-alerts
    index (here: empty, every warning closed), and during the drill it listed
    the warnings in force with links to their CAP documents."""
    from tocsin.drill.run import drill_instance
    from tocsin.web.feed import cap_index

    sc_path, out, _ = drill
    inst = drill_instance(load_scenario(sc_path))
    alerts, _ = read_jsonl(out / "alerts.jsonl")
    assert alerts
    assert all(a.body.id.startswith(inst + ".") for a in alerts)  # type: ignore[union-attr]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"]["explicit_close_rate"] == 1.0
    assert summary["figures"]["first_contact_alert"] == 1.0
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "cap", "validate", str(out / "feed.xml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the index as it stood half-way through: entries link to the CAP documents
    mid = tmp_path / "mid"
    mid.mkdir()
    (mid / "cap").symlink_to(out / "cap")
    half = [a for a in alerts if a.body.t <= alerts[len(alerts) // 2].body.t]  # type: ignore[union-attr]
    (mid / "feed.xml").write_bytes(cap_index(half))
    feed = (mid / "feed.xml").read_text()
    assert "<entry>" in feed
    assert 'type="application/cap+xml" href="cap/' in feed
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "cap", "validate", str(mid / "feed.xml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "linked" in r.stdout


def test_report_explains_gospa_and_tells_each_areas_story(drill: tuple[Path, Path, object]) -> None:
    _, out, _ = drill
    report = (out / "report.html").read_text()
    assert "What GOSPA counts" in report
    assert "It is not a missile-accuracy figure" in report
    assert "Each area&#x27;s story" in report or "Each area's story" in report
    assert "close:passed" in report or "close:fell" in report


def test_gospa_explained_names_the_object_no_sensor_saw() -> None:
    from tocsin.drill.run import gospa_explained
    from tocsin.drill.score import score
    from tocsin.geo import geodetic_to_ecef
    from tocsin.wire import make
    from tocsin.wire.messages import TrackBody, TruthBody

    truth, tracks = [], []
    for k in range(60):
        t = 1.0e9 + k
        for obj, lon, cls in (("M1", 130.0, "ballistic"), ("JL-9", 140.0, "air")):
            x = geodetic_to_ecef(38.0, lon + 0.01 * k, 100e3 if cls == "ballistic" else 11e3)
            truth.append(
                make(
                    "truth",
                    TruthBody(
                        object=obj, t=t, phase="midcourse", class_=cls, state_ecef=[*map(float, x), 0, 0, 0]
                    ),  # type: ignore[arg-type]
                    partner="JP",
                    source="sim",
                    seq=2 * k + (cls == "air"),
                    sent=t,
                )
            )
        x = geodetic_to_ecef(38.0, 130.0 + 0.01 * k, 100e3)
        body = TrackBody(
            id="F-1",
            t=t,
            state_ecef=[*map(float, x), 0.0, 0.0, 0.0],
            cov=[0.0] * 36,
            status="confirmed",
            class_="ballistic",
        )
        tracks.append(make("track", body, partner="JP", source="fusion", seq=k + 1, sent=t))
    text = gospa_explained(score(tracks, truth))
    assert "JL-9 (air, tracked 0 % of its time)" in text
    # the tracked missile is exact: all of the figure is the unseen airliner
    assert "0 % localisation" in text
    assert "100 % objects without a track" in text
    assert "F-1" not in text
    assert "M1 0 m" in text  # the missile's own error is nil
