"""Live mode (status Actual) in `tocsin serve` / `tocsin node` and `tocsin replay`:
only a live authorisation file makes Actual alerts, a drill or replay never can,
and a replay of a live journal is the drill run of the same inputs, byte for byte."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_serve_cli import feed, start_server
from typer.testing import CliRunner

from tocsin.cli import app, main
from tocsin.journal import Journal

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "irbm-over-hokkaido.yaml"
AUTH = """live = true
authorised_by = "Director, National Warning Centre"
reference = "order 2026-114"
sender = "warning@jp.tocsin.example"
"""


@pytest.fixture(scope="module")
def partners(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A partner registry (JP, KR, US) with each partner's key beside it as CODE.key:
    live operation needs a registry (issue 14)."""
    d = tmp_path_factory.mktemp("partners")
    for p in ("JP", "KR", "US"):
        r = CliRunner().invoke(
            app, ["keys", "gen", "--partner", p, "-o", str(d / f"{p}.key"), "--registry", str(d / "reg.yaml")]
        )
        assert r.exit_code == 0, r.output
    return d / "reg.yaml"


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory, partners: Path) -> Path:
    """The first 350 messages of the IRBM drill: sensor descriptors and plots up
    to a few seconds after the first public alert (sea zones, then Hokkaido),
    each signed by its partner's key."""
    from tocsin.exchange.signing import load_private_key, sign
    from tocsin.wire import read_jsonl, write_jsonl

    d = tmp_path_factory.mktemp("stream")
    r = CliRunner().invoke(app, ["simulate", str(SCENARIO), "-o", str(d / "all.jsonl")])
    assert r.exit_code == 0, r.output
    msgs, _ = read_jsonl(d / "all.jsonl")
    keys = {p: load_private_key(partners.parent / f"{p}.key") for p in ("JP", "KR", "US")}
    write_jsonl(d / "plots.jsonl", [sign(m, keys[m.partner]) for m in msgs[:350]])
    return d / "plots.jsonl"


@pytest.fixture
def auth(tmp_path: Path) -> Path:
    p = tmp_path / "live.toml"
    p.write_text(AUTH)
    return p


def run_server(data: Path, stream: Path, *extra: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Start `tocsin serve` (default stages), feed the stream, stop it; the
    /v1/config answer, the /v1/alerts answer and the server's stderr."""
    proc, url = start_server(data, "--stages", "default", "--outputs-files", *extra)
    try:
        cfg = httpx.get(url + "/v1/config", timeout=10).json()
        r = feed(url, stream, "--rate", "max", "--batch", "50")
        assert r.returncode == 0, r.stderr
        assert "350 accepted" in r.stdout
        alerts = httpx.get(url + "/v1/alerts", timeout=10).json()
        assert httpx.get(url + "/v1/state", timeout=10).json()["mode"] == cfg["mode"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)  # (a clean stop snapshots and signs: slow on a loaded machine)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        assert proc.stdout is not None
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    return cfg, alerts, err


def replay(journal: Path, out: Path) -> tuple[int, str]:
    """`tocsin replay JOURNAL -o OUT` in this process: exit code and stdout."""
    r = CliRunner().invoke(app, ["replay", str(journal), "-o", str(out)])
    return r.exit_code, r.stdout


def test_live_serve_is_actual_and_its_replay_is_the_drill_run(
    tmp_path: Path,
    stream: Path,
    partners: Path,
    auth: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('sender = "warning@policy.example"\n')
    live = tmp_path / "live"
    # (recorded times: the data clock; signatures and the registry as live)
    reg = ("--partners", str(partners), "--clock", "data")
    cfg, alerts, err = run_server(live, stream, *reg, "--live", str(auth), "--policy", str(policy))
    assert cfg["mode"] == "actual"
    assert "LIVE: alerts are issued as Actual" in err
    assert "order 2026-114" in err
    assert len(alerts) >= 2
    for a in alerts:
        body = a["body"]
        assert body["status"] == "Actual"
        assert "<status>Actual</status>" in body["cap"]
        assert "<note>" not in body["cap"]
        assert "EXERCISE" not in body["cap"]
        # the authorisation's sender (one per public), not the policy's default one
        public = a["partner"].lower()
        assert f"<sender>warning-{public}@jp.tocsin.example</sender>" in body["cap"]
    with Journal(live / "journal.db", readonly=True) as j:
        notes = [json.loads(e.payload) for e in j.entries(kinds=("note",))]
    start = [n for n in notes if n.get("event") == "start"][-1]
    assert start["mode"] == "live"
    assert start["status"] == "Actual"
    assert start["authorised_by"] == "Director, National Warning Centre"
    assert start["reference"] == "order 2026-114"
    assert start["policy"]["sender"] == "warning@policy.example"  # the replay runs it
    assert start["instance"].startswith("serve-")  # its alert ids' identity; the replay reuses it
    assert all(a["body"]["id"].startswith(start["instance"] + ".") for a in alerts)
    assert start["sender"] == "warning@jp.tocsin.example"  # ... under the live sender

    out = tmp_path / "replayed"
    code, text = replay(live / "journal.db", out)
    assert code == 0, text
    assert "status Actual read as Exercise" in text
    assert f"({len(alerts)} Actual alerts; a replay never issues Actual)" in text
    replayed = (out / "alerts.jsonl").read_bytes()
    assert b"Actual" not in replayed
    assert replayed.count(b"\n") == len(alerts)
    assert (out / "tracks.jsonl").read_bytes() == (live / "tracks.jsonl").read_bytes()

    # the same inputs served as a drill: Exercise, and exactly the replay's alerts
    drill = tmp_path / "drill"
    cfg, alerts, err = run_server(drill, stream, *reg, "--policy", str(policy))
    assert cfg["mode"] == "exercise"
    assert "LIVE" not in err
    assert {a["body"]["status"] for a in alerts} == {"Exercise"}
    # (a drill has no authorisation: its alerts go out under the policy's sender;
    # and it is another server, so its alert ids carry its own instance)
    with Journal(drill / "journal.db", readonly=True) as j:
        other = [json.loads(e.payload) for e in j.entries(kinds=("note",))]
    drill_instance = [n for n in other if n.get("event") == "start"][-1]["instance"]
    assert drill_instance != start["instance"]
    assert (drill / "alerts.jsonl").read_bytes() == replayed.replace(
        b"warning-jp@jp.tocsin.example", b"warning-jp@policy.example"
    ).replace(b"warning-kr@jp.tocsin.example", b"warning-kr@policy.example").replace(
        start["instance"].encode(), drill_instance.encode()
    )
    code, text = replay(drill / "journal.db", tmp_path / "drill-replayed")
    assert code == 0, text
    assert "identical to the" in text
    assert "Actual" not in text

    # a data directory kept in one mode is not continued in the other
    for data, extra in ((drill, ["--live", str(auth)]), (live, [])):
        err = run_main(monkeypatch, capsys, "serve", "--port", "0", "--data", str(data), *reg, *extra)
        assert err.count("\n") == 1
        assert err.startswith(f"tocsin: error: {data / 'journal.db'}: recorded in ")
        assert "use a new --data directory" in err
    # nor with another warning policy (the defaults here)
    err = run_main(
        monkeypatch, capsys, "serve", "--port", "0", "--data", str(live), *reg, "--live", str(auth)
    )
    assert err.count("\n") == 1
    assert "recorded with another warning policy" in err


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`tocsin ARGS` in this process, expected to fail with exit 2: its stderr."""
    monkeypatch.setattr(sys, "argv", ["tocsin", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("content", "want"),
    [
        (None, "cannot read"),
        (AUTH.replace("live = true", "live = false"), "$.live"),
        (AUTH.replace('reference = "order 2026-114"\n', ""), "`reference`"),
        (AUTH.replace("live = true", "live = yes"), "not valid toml"),
    ],
)
def test_bad_live_authorisation_is_one_line_exit_2(
    tmp_path: Path,
    partners: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    want: str,
) -> None:
    f = tmp_path / "live.toml"
    if content is not None:
        f.write_text(content)
    data = tmp_path / "data"
    err = run_main(
        monkeypatch, capsys, "serve", "--port", "0", "--data", str(data), "--partners", str(partners),
        "--live", str(f),
    )  # fmt: skip
    assert err.startswith(f"tocsin: error: {f}: ")
    assert err.count("\n") == 1
    assert want in err
    assert not data.exists()  # refused before anything was started or written


def test_live_refuses_replay_and_toy_stages(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    auth: Path,
    partners: Path,
) -> None:
    base = ["serve", "--port", "0", "--data", str(tmp_path / "d"), "--live", str(auth)]
    base += ["--partners", str(partners)]
    err = run_main(monkeypatch, capsys, *base, "--replay", str(tmp_path))
    assert err.count("\n") == 1
    assert "--live" in err
    assert "replay" in err
    err = run_main(monkeypatch, capsys, *base, "--stages", "toy")
    assert err.count("\n") == 1
    assert "toy stages cannot run live" in err


def test_node_live_authorisation_checked_before_connecting(
    tmp_path: Path, partners: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key")])
    assert r.exit_code == 0, r.output
    bad = tmp_path / "live.toml"
    bad.write_text(AUTH.replace("live = true", "live = false"))
    err = run_main(
        monkeypatch, capsys, "node", "--partner", "JP", "--key", str(tmp_path / "jp.key"),
        "--nats", "nats://127.0.0.1:9", "--data", str(tmp_path / "d"), "--live", str(bad),
        "--partners", str(partners),
    )  # fmt: skip
    assert err.count("\n") == 1
    assert f"{bad}: live: must be true" in err


def test_default_stages_mode_and_start_notes(tmp_path: Path, auth: Path) -> None:
    import msgspec

    from tocsin.runtime import (
        default_stages,
        note_start,
        recorded_mode,
        recorded_policy,
        recorded_stage_set,
    )
    from tocsin.warning import WarningEngine
    from tocsin.warning.mode import DrillMode, LiveMode
    from tocsin.warning.policy import WarningConfig, load_live_authorisation

    eng = default_stages()[-1]
    assert isinstance(eng, WarningEngine)
    assert isinstance(eng.mode, DrillMode)
    assert eng.mode.status == "Exercise"
    cfg = WarningConfig(sender="warning@kr.example")
    mode = load_live_authorisation(auth)
    eng = default_stages(mode, cfg)[-1]
    assert isinstance(eng, WarningEngine)
    assert isinstance(eng.mode, LiveMode)
    assert eng.mode.status == "Actual"
    assert eng.config is cfg

    with Journal(tmp_path / "old.db", synchronous="NORMAL") as j:
        note_start(j, "default", "serve")  # as before the mode field: a drill
        assert recorded_mode(j) == "drill"
        assert recorded_policy(j) is None
        assert recorded_stage_set(j) == "default"
        note_start(j, "default", "serve", mode, msgspec.to_builtins(cfg))
        assert recorded_mode(j) == "live"
        pol = recorded_policy(j)
        assert pol is not None
        assert msgspec.convert(pol, WarningConfig) == cfg


def test_exercise_form_only_touches_actual_alerts() -> None:
    from tocsin.cli.replay import exercise_cap, exercise_form
    from tocsin.exchange.samples import sample_plot
    from tocsin.wire import encode_json

    plot = encode_json(sample_plot())
    assert exercise_form(plot) is plot
    with pytest.raises(ValueError, match="not an Actual"):
        exercise_cap("<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><status>Exercise</status></alert>")


@dataclass(frozen=True)
class _Area:
    code: str
    kind: str
    name_en: str
    name_ja: str
    name_ko: str

    def cap_polygons(self, max_points: int = 100) -> list[str]:
        return ["41.0,140.0 42.0,140.0 42.0,141.0 41.0,140.0"]


_AREAS = [
    _Area("JP-01", "land", "Hokkaido", "北海道", "홋카이도"),
    _Area("sea:JP-01", "sea", "Sea off Hokkaido", "北海道沖", "홋카이도 앞바다"),
    _Area("KR-42", "land", "Gangwon", "江原道", "강원도"),
]


@settings(max_examples=40, deadline=None)
@given(
    msg_type=st.sampled_from(["Alert", "Update", "Cancel"]),
    kind=st.sampled_from(["shelter", "fall", "lost", "passed", "fell", "error", "manual"]),
    picked=st.lists(st.sampled_from(range(len(_AREAS))), min_size=1, max_size=3, unique=True),
    refs=st.integers(0, 2),
    onset=st.none() | st.floats(1.5e9, 1.6e9),
    text=st.text(max_size=40),
)
def test_exercise_cap_is_what_the_renderer_writes_for_exercise(
    msg_type: str, kind: str, picked: list[int], refs: int, onset: float | None, text: str
) -> None:
    """An Actual CAP document read as Exercise is byte for byte the Exercise
    rendering of the same message, in every language and kind of text."""
    from tocsin.cli.replay import exercise_cap
    from tocsin.warning.cap import CapMessage, CapReference, render_cap
    from tocsin.warning.texts import Facts

    areas = [_AREAS[i] for i in picked]
    text = "".join(c for c in text if c.isprintable()).strip()

    def render(status: str) -> str:
        facts = Facts(
            msg_type=msg_type,  # type: ignore[arg-type]
            status=status,
            area_names={
                "ja-JP": [a.name_ja for a in areas],
                "ko-KR": [a.name_ko for a in areas],
                "en-US": [a.name_en for a in areas],
            },
            onset=onset,
            instruction=kind if kind in ("shelter", "fall", "lost") else "shelter",  # type: ignore[arg-type]
            close=kind if kind in ("passed", "fell", "error") else None,  # type: ignore[arg-type]
            origin={"ja-JP": "北朝鮮", "ko-KR": "북한", "en-US": "North Korea"} if kind != "manual" else None,
            lost_t=1.5e9,
            until=1.5e9 + 600,
            fall_t=1.5e9 + 500,
            fall_place={"ja-JP": "日本海", "ko-KR": "동해", "en-US": "in the Sea of Japan"},
            manual={"ja-JP": text, "en-US": text} if kind == "manual" else None,
            area_kinds=frozenset(a.kind for a in areas),
        )
        return render_cap(
            CapMessage(
                identifier="JP.F-1.1.0",
                sender="warning@jp.example",
                sent=1.5e9,
                status=status,
                msg_type=msg_type,
                facts=facts,
                areas=areas,
                onset=onset,
                expires=1.5e9 + 1800,
                references=[CapReference("warning@jp.example", f"JP.F-1.1.{i}", 1.5e9) for i in range(refs)],
                incidents=["F-1"],
            )
        )

    actual = render("Actual")
    assert "<status>Actual</status>" in actual
    assert exercise_cap(actual) == render("Exercise")


def test_journal_the_stages_do_not_reproduce_is_one_line_exit_2(tmp_path: Path) -> None:
    """Recovery that finds other outputs (here: toy outputs noted as the
    default stages) stops the start with one line, not a traceback."""
    from tocsin.exchange.samples import sample_plot, toy_stages
    from tocsin.runtime import Pipeline, note_start

    data = tmp_path / "data"
    j = Journal(data / "journal.db", synchronous="NORMAL")
    note_start(j, "default", "serve")
    pipe = Pipeline(toy_stages(), j)
    pipe.submit_batch([sample_plot(seq=i, sent=1000.0 + i) for i in range(1, 4)])
    pipe.close()
    p = subprocess.run(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--tick", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1
    assert p.stderr.startswith(f"tocsin: error: {data / 'journal.db'}: recovery: ")
    assert "use a new --data directory" in p.stderr
