"""Issue 14 item 1: live means a registry.

* `serve --live` / `node --live` without `--partners` refuse to start (exit 2,
  one line, nothing written);
* open mode (no registry) says so on start, on /healthz and in every CAP note;
* a journal without a start note is never resumed live;
* a partner `track` that no plot of this exchange supports (or that has no
  `quality`) never raises a public alert unless the policy trusts the partner.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app, main
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, default_stages, recorded_open, start_notes
from tocsin.warning.mode import OPEN_INPUTS_NOTE, DrillMode
from tocsin.warning.policy import Thresholds, WarningConfig
from tocsin.wire import Envelope, TrackBody, TruthBody, make, read_jsonl

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "irbm-over-hokkaido.yaml"
AUTH = """live = true
authorised_by = "Director, National Warning Centre"
reference = "order 2026-114"
sender = "warning@jp.tocsin.example"
"""


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """`tocsin ARGS` in this process, expected to exit 2: its stderr (one line)."""
    monkeypatch.setattr(sys, "argv", ["tocsin", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


@pytest.fixture
def auth(tmp_path: Path) -> Path:
    p = tmp_path / "live.toml"
    p.write_text(AUTH)
    return p


def test_serve_live_without_a_registry_refuses_to_start(
    tmp_path: Path, auth: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    err = run_main(monkeypatch, capsys, "serve", "--port", "0", "--data", str(data), "--live", str(auth))
    assert err.startswith("tocsin: error: --live: live operation needs a partner registry (--partners")
    assert not data.exists()


def test_node_live_without_a_registry_refuses_to_start(
    tmp_path: Path, auth: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key")])
    assert r.exit_code == 0, r.output
    data = tmp_path / "d"
    err = run_main(
        monkeypatch, capsys, "node", "--partner", "JP", "--key", str(tmp_path / "jp.key"),
        "--nats", "nats://127.0.0.1:9", "--data", str(data), "--live", str(auth),
    )  # fmt: skip
    assert "--live: live operation needs a partner registry" in err
    assert not data.exists()


def test_a_journal_without_a_start_note_is_never_resumed_live(
    tmp_path: Path, auth: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with Journal(data / "journal.db", synchronous="NORMAL") as j:  # drill inputs, no start note
        pipe = Pipeline(toy_stages(), j)
        pipe.submit_batch([sample_plot(seq=i, sent=1000.0 + i) for i in range(1, 4)])
    reg = tmp_path / "reg.yaml"
    r = CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key"),
                                 "--registry", str(reg)])  # fmt: skip
    assert r.exit_code == 0, r.output
    err = run_main(
        monkeypatch, capsys, "serve", "--port", "0", "--data", str(data), "--partners", str(reg),
        "--live", str(auth),
    )  # fmt: skip
    assert f"{data / 'journal.db'}: has no start note: a live run never continues it" in err


# --- partner tracks -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def missile(tmp_path_factory: pytest.TempPathFactory) -> list[TruthBody]:
    """Midcourse truth states of the IRBM drill's missile (for a made-up track)."""
    d = tmp_path_factory.mktemp("irbm")
    r = CliRunner().invoke(
        app, ["simulate", str(SCENARIO), "-o", str(d / "p.jsonl"), "--truth", str(d / "t.jsonl")]
    )
    assert r.exit_code == 0, r.output
    truth, _ = read_jsonl(d / "t.jsonl")
    return [m.body for m in truth if m.body.phase == "midcourse" and m.body.class_ == "ballistic"]


def made_up_track(states: list[TruthBody], *, quality: float | None = None) -> list[Envelope]:
    """What the attacker POSTed: a partner `track` of a missile over Japan that no
    plot supports (here with the true states of a real flight, which makes it a
    perfect forgery)."""
    out = []
    for i, s in enumerate(states[::20][:10]):
        assert s.state_ecef is not None
        b = TrackBody(
            id="X-1", t=s.t, state_ecef=list(s.state_ecef),
            cov=[100.0 if k % 7 == 0 else 0.0 for k in range(36)],
            status="confirmed", class_="ballistic", sources=["US-SBX"], phase="ballistic",
            quality=quality,
        )  # fmt: skip
        out.append(make("track", b, partner="US", source="US-C2", seq=i + 1, sent=s.t))
    return out


class Collect:
    def __init__(self) -> None:
        self.items: list[Envelope] = []

    def emit(self, env: Envelope) -> None:
        self.items.append(env)


def alerts_from(msgs: list[Envelope], trusted: list[str], *, open_inputs: bool = True) -> list[Envelope]:
    cfg = WarningConfig(thresholds=Thresholds(trusted_track_partners=trusted))
    sink = Collect()
    pipe = Pipeline(default_stages(DrillMode(open_inputs=open_inputs), cfg), sinks=[sink])
    for m in msgs:
        assert pipe.submit(m).ok
    for k in range(1, 60):
        pipe.tick(msgs[-1].sent + k)
    return [e for e in sink.items if e.kind == "alert"]


@pytest.mark.parametrize("quality", [None, 1.0])
def test_an_untrusted_partner_track_alone_raises_no_alert(
    missile: list[TruthBody], quality: float | None
) -> None:
    assert alerts_from(made_up_track(missile, quality=quality), trusted=[]) == []
    assert alerts_from(made_up_track(missile, quality=quality), trusted=["KR"]) == []


def test_a_trusted_partner_track_does_and_open_mode_says_so(missile: list[TruthBody]) -> None:
    """The same track from a partner the policy trusts for track-only alerts
    raises Exercise alerts; in open mode every CAP note says open mode."""
    alerts = alerts_from(made_up_track(missile), trusted=["US"])
    assert alerts
    for a in alerts:
        assert a.body.status == "Exercise"
        assert OPEN_INPUTS_NOTE in a.body.cap
    alerts = alerts_from(made_up_track(missile), trusted=["US"], open_inputs=False)
    assert alerts
    assert not any(OPEN_INPUTS_NOTE in a.body.cap for a in alerts)


def test_open_mode_is_recorded_in_the_start_note(tmp_path: Path) -> None:
    from tocsin.runtime import note_start

    with Journal(tmp_path / "j.db", synchronous="NORMAL") as j:
        note_start(j, "default", "serve", DrillMode(open_inputs=True))
        assert start_notes(j)[-1]["open"] is True
        assert recorded_open(j)
        note_start(j, "default", "serve", DrillMode())
        assert not recorded_open(j)


def test_open_mode_says_so_on_healthz() -> None:
    import asyncio

    import httpx

    from tocsin.web import ServerConfig, build_exchange, create_app

    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def main() -> dict[str, object]:
        await ex.start()
        try:
            transport = httpx.ASGITransport(app=create_app(ex))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return dict((await c.get("/healthz")).json())
        finally:
            await ex.stop()

    h = asyncio.run(main())
    assert h["mode"] == "open (exercise only: unsigned inputs accepted)"
