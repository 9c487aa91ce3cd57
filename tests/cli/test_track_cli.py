"""`tocsin track` end to end, as a user runs it (a subprocess): simulate a small
scenario, track it, check the track file; bad lines, strict mode, stdin, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tocsin.wire import TrackBody, TruthBody, read_jsonl

# One SRBM and one airliner seen by two notional Korean radars; short, to stay fast.
SCENARIO = """\
version: 1
name: track CLI test
seed: 7
start: 2022-11-01T23:51:00Z
duration_s: 150
truth_interval_s: 1.0
launches:
  - id: S
    site: {lat: 39.15, lon: 127.45}
    time_s: 5
    azimuth_deg: 146.5
    class: SRBM
air:
  - id: KE-703
    kind: airliner
    start: {lat: 37.9, lon: 128.6}
    heading_deg: 100
    speed_mps: 240
    alt_m: 11000
partners:
  - code: KR
    link: {latency_s: 0.2, jitter_s: 0.1, loss: 0.0}
    sensors:
      - id: KR-R1
        type: radar
        platform: ground
        site: {lat: 36.95, lon: 127.55, alt_m: 300}
        sigma_range_m: 40
        sigma_az_deg: 0.08
        sigma_el_deg: 0.08
        max_range_km: 900
        scan_period_s: 2.0
        pd: 0.9
        clutter_per_scan: 0.2
        latency_s: 0.3
        jitter_s: 0.2
      - id: KR-R2
        type: radar
        platform: ground
        site: {lat: 37.75, lon: 128.90, alt_m: 400}
        sigma_range_m: 40
        sigma_az_deg: 0.08
        sigma_el_deg: 0.08
        max_range_km: 900
        scan_period_s: 2.0
        pd: 0.9
        clutter_per_scan: 0.2
        latency_s: 0.3
        jitter_s: 0.2
thresholds: {}
injects: []
"""


def _tocsin(*args: str | Path, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with small.yaml, plots.jsonl and truth.jsonl."""
    d = tmp_path_factory.mktemp("track")
    (d / "small.yaml").write_text(SCENARIO)
    r = _tocsin("simulate", "small.yaml", "-o", "plots.jsonl", "--truth", "truth.jsonl", "-q", cwd=d)
    assert r.returncode == 0, r.stderr.decode()
    return d


def _truth_positions(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    envs, st = read_jsonl(path)
    assert not st.errors
    by: dict[str, list[TruthBody]] = {}
    for e in envs:
        if isinstance(e.body, TruthBody) and e.body.phase != "impact" and e.body.state_ecef is not None:
            by.setdefault(e.body.object, []).append(e.body)
    return {
        k: (np.array([b.t for b in v]), np.array([(b.state_ecef or [])[:3] for b in v]))
        for k, v in by.items()
    }


def test_track_confirms_the_missile_as_ballistic_and_not_the_airliner(drill: Path) -> None:
    r = _tocsin(
        "track",
        "plots.jsonl",
        "-o",
        "out/tracks.jsonl",
        "--lag",
        "10",
        "--partner",
        "KR",
        "--progress",
        cwd=drill,
    )
    assert r.returncode == 0, r.stderr.decode()
    progress = r.stderr.decode().splitlines()
    assert progress
    assert all(line.startswith("tocsin track: ") and "% (" in line for line in progress), progress
    out = r.stdout.decode()
    assert "in: " in out
    assert "plot " in out
    assert "sensor 2" in out
    assert "out/tracks.jsonl" in out
    assert "confirmed (" in out
    assert "ballistic " in out
    assert "Traceback" not in r.stderr.decode()
    assert not list((drill / "out").glob(".*.tmp"))  # written atomically, temporary renamed away

    tracks, st = read_jsonl(drill / "out" / "tracks.jsonl")
    assert not st.errors
    assert tracks
    assert all(e.kind == "track" and e.partner == "KR" for e in tracks)
    bodies = [e.body for e in tracks if isinstance(e.body, TrackBody)]
    assert all(b.status != "tentative" for b in bodies)  # only with --tentative
    ballistic = [b for b in bodies if b.status == "confirmed" and b.class_ == "ballistic"]
    assert ballistic, "no confirmed ballistic track"

    truth = _truth_positions(drill / "truth.jsonl")

    def miss(obj: str, b: TrackBody) -> float:
        t, x = truth[obj]
        i = int(np.argmin(np.abs(t - b.t)))
        if abs(t[i] - b.t) > 1.0:
            return float("inf")
        return float(np.linalg.norm(x[i] - np.array(b.state_ecef[:3])))

    # every ballistic report is the missile (within 5 km), never the airliner
    for b in ballistic:
        assert miss("S", b) < 5_000.0, (b.id, b.t, miss("S", b))
        assert miss("KE-703", b) > 50_000.0
    # the summary counts what the file holds
    n_confirmed = len({b.id for b in bodies if b.status in ("confirmed", "coasting")})
    assert f"{len(tracks)} track messages" in out
    assert f"{n_confirmed} confirmed" in out


def test_bad_lines_are_named_skipped_and_counted(drill: Path) -> None:
    lines = (drill / "plots.jsonl").read_bytes().splitlines(keepends=True)[:60]
    n = len(lines)
    extra = [
        b'{"v":1,"kind":"plot","partner":"KR","source":"KR-R1","seq":9,"sent":1.0,"body":{"sensor":"KR-R1","t":"x"}}\n',
        b"not json\n",
        b'{"v":1,"kind":"weird","partner":"KR","source":"x","seq":1,"sent":1.0,"body":{}}\n',
        b'{"v":1,"kind":"plot","partner":"KR","source":"KR-R9","seq":1,"sent":1667346700.0,'
        b'"body":{"sensor":"KR-R9","t":1667346700.0,"range_m":5e5,"az_deg":100.0,"el_deg":10.0}}\n',
    ]
    (drill / "mixed.jsonl").write_bytes(b"".join(lines[:40] + extra + lines[40:]))
    r = _tocsin("track", "mixed.jsonl", "-o", "mixed-tracks.jsonl", cwd=drill)
    assert r.returncode == 0, r.stderr.decode()
    err = r.stderr.decode().splitlines()
    assert "tocsin: warning: skipped mixed.jsonl:41: $.body.t: Expected `float`, got `str`" in err
    assert any(e.startswith("tocsin: warning: skipped mixed.jsonl:42: JSON is malformed") for e in err), err
    assert len(err) == 2, err
    out = r.stdout.decode()
    assert f"from {n + len(extra)} lines" in out
    assert "skipped: 2 bad lines ($.body.t 1, json 1); 1 of unknown kind (weird 1)" in out
    assert "rejected by the tracker: 1 (unknown_sensor 1)" in out
    assert (drill / "mixed-tracks.jsonl").is_file()

    # --strict: the first bad line is the error; nothing is written
    r = _tocsin("track", "mixed.jsonl", "-o", "strict.jsonl", "--strict", cwd=drill)
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == [
        "tocsin: error: mixed.jsonl:41: $.body.t: Expected `float`, got `str`"
    ]
    assert not (drill / "strict.jsonl").exists()
    assert not list(drill.glob(".strict.jsonl.*"))


def test_stdin_and_sort_give_the_same_tracks_as_the_file(drill: Path) -> None:
    head = b"".join((drill / "plots.jsonl").read_bytes().splitlines(keepends=True)[:250])
    (drill / "head.jsonl").write_bytes(head)
    a = _tocsin("track", "head.jsonl", "-o", "a.jsonl", "-q", "--confirm", "4/6", "--tentative", cwd=drill)
    assert a.returncode == 0, a.stderr.decode()
    assert a.stdout == b""
    assert a.stderr == b""
    b = _tocsin(
        "track", "-", "-o", "b.jsonl", "--sort", "--confirm", "4/6", "--tentative", cwd=drill, stdin=head
    )
    assert b.returncode == 0, b.stderr.decode()
    assert "<stdin>" not in b.stdout.decode()
    assert "b.jsonl" in b.stdout.decode()
    assert (drill / "a.jsonl").read_bytes() == (drill / "b.jsonl").read_bytes()
    assert b'"status":"tentative"' in (drill / "a.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["nope.jsonl", "-o", "t.jsonl"], "tocsin: error: nope.jsonl: no such file"),
        (
            ["in.jsonl", "-o", "t.jsonl", "--confirm", "4/3"],
            "tocsin: error: --confirm: need 1 <= M <= N, got '4/3'",
        ),
        (
            ["in.jsonl", "-o", "t.jsonl", "--confirm", "x"],
            "tocsin: error: --confirm: expected M/N such as 3/5, got 'x'",
        ),
        (
            ["in.jsonl", "-o", "t.jsonl", "--lag", "-1"],
            "tocsin: error: --lag: must be >= 0 and finite, got -1",
        ),
        (
            ["in.jsonl", "-o", "t.jsonl", "--lag", "31"],
            "tocsin: error: --lag: must be at most 30 s, got 31",
        ),
        (
            ["in.jsonl", "-o", "t.jsonl", "--gate", "1.5"],
            "tocsin: error: --gate: must be between 0 and 1, got 1.5",
        ),
        (["in.jsonl", "-o", "t.jsonl", "--beta", "heavy"], "tocsin: error: --beta: expected a number"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    (tmp_path / "in.jsonl").write_bytes(b"")
    r = _tocsin("track", *args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_help_teaches_with_an_example(tmp_path: Path) -> None:
    r = _tocsin("track", "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = r.stdout.decode()
    assert "Examples" in text
    assert "tocsin track plots.jsonl -o tracks.jsonl" in text
    assert "--lag" in text
    assert "arrival order" in text


def test_a_report_later_than_the_lag_is_counted_not_used(drill: Path) -> None:
    import json

    lines = (drill / "plots.jsonl").read_bytes().splitlines(keepends=True)
    sent = [json.loads(x)["sent"] for x in lines]
    # a plot delivered after everything up to 15-20 s later: too late for the
    # default 10 s lag, in time for --lag 30
    late = next(i for i in range(100, 200) if b'"kind":"plot"' in lines[i])
    upto = max(j for j in range(late, len(lines)) if sent[j] - sent[late] < 20.0)
    assert sent[upto] - sent[late] > 15.0
    (drill / "late.jsonl").write_bytes(b"".join(lines[:late] + lines[late + 1 : upto + 1] + [lines[late]]))
    r = _tocsin("track", "late.jsonl", "-o", "late-tracks.jsonl", cwd=drill)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "too_late 1" in out
    assert "1 too late (more than 10 s behind; see --lag)" in out
    r = _tocsin("track", "late.jsonl", "-o", "late-tracks.jsonl", "--lag", "30", cwd=drill)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "too_late" not in out
    assert "0 too late (more than 30 s behind; see --lag)" in out


@pytest.mark.slow
def test_the_tracker_is_advanced_on_the_messages_clock(tmp_path: Path) -> None:
    """A lofted ICBM is seen for an hour with long gaps between partners'
    reports; a live node advances its tracker every second, and so does `tocsin
    track` by default (`--clock 1`): the missile keeps one track. Advanced only
    at the end of the file (`--clock 0`), the track is broken at the gaps."""
    from tocsin.drill.score import score_files

    sc = Path(__file__).resolve().parents[2] / "scenarios" / "icbm-lofted-sea-of-japan.yaml"
    r = _tocsin("simulate", sc, "-o", "plots.jsonl", "--truth", "truth.jsonl", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    breaks: dict[str, int] = {}
    for clock in ("1", "0"):
        out = f"tracks-{clock}.jsonl"
        r = _tocsin("track", "plots.jsonl", "-o", out, "--clock", clock, "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        rep = score_files(tmp_path / out, tmp_path / "truth.jsonl")
        breaks[clock] = rep.track_breaks
    assert breaks["1"] == 0
    assert breaks["0"] > breaks["1"]
