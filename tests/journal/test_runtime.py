"""Pipeline wiring: journal before processing, replay byte-identical, recovery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import (
    NondeterminismError,
    Pipeline,
    file_sinks,
    recorded_outputs,
    replay_journal,
    write_outputs,
)
from tocsin.wire import Envelope, encode_json

T0 = 1_789_430_400.0


def stream() -> list[Envelope]:
    msgs = []
    for i in range(12):
        for src in ("JP-R1", "KR-R1"):
            if src == "KR-R1" and i > 5:
                continue  # KR goes silent: its track is deleted by a tick
            msgs.append(sample_plot(partner=src[:2], source=src, seq=i + 1, sent=T0 + i))
    return msgs


def run_live(data: Path, msgs: list[Envelope], batch: int = 3) -> Journal:
    j = Journal(data / "journal.db", synchronous="NORMAL")
    sinks = file_sinks(data, j)
    pipe = Pipeline(toy_stages(), j, sinks)
    for k in range(0, len(msgs), batch):
        chunk: list[bytes | Envelope] = [encode_json(m) for m in msgs[k : k + batch]]
        chunk.append(encode_json(msgs[0]))  # a replay in every batch
        pipe.submit_batch(chunk)
        pipe.tick(msgs[min(k + batch, len(msgs)) - 1].sent)
    for s in sinks:
        s.close()
    return j


def test_journal_order_and_counts(tmp_path: Path) -> None:
    j = run_live(tmp_path, stream())
    kinds = [e.kind for e in j.entries()]
    assert kinds[0] == "input"  # inputs before anything they cause
    assert kinds.count("input") == len(stream())
    assert kinds.count("reject") == 6  # one replay per batch of 3 (first batch: duplicate too)
    assert kinds.count("tick") == 6
    rej = [json.loads(e.payload) for e in j.entries(kinds=["reject"])]
    assert {r["reason"] for r in rej} == {"duplicate"}
    outs = [json.loads(p) for p in recorded_outputs(j)]
    assert {o["kind"] for o in outs} == {"track", "alert"}
    assert any(o["body"].get("status") == "deleted" for o in outs)  # produced by a tick
    assert j.verify().ok


def test_replay_is_byte_identical_to_live_files(tmp_path: Path) -> None:
    live = tmp_path / "live"
    j = run_live(live, stream())
    out = tmp_path / "replay"
    write_outputs(out, replay_journal(j, toy_stages()))
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (live / name).read_bytes() == (out / name).read_bytes()
        assert (live / name).stat().st_size > 0
    j.close()
    r = CliRunner().invoke(app, ["replay", str(live / "journal.db"), "-o", str(tmp_path / "cli")])
    # the default stages differ from the toy ones, so --check must notice ...
    assert (
        r.exit_code == 1
        or (live / "tracks.jsonl").read_bytes() == (tmp_path / "cli/tracks.jsonl").read_bytes()
    )


def test_replay_cli_matches_when_stages_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tocsin.runtime

    # default_stages(mode, config): the replay passes its ReplayMode
    monkeypatch.setattr(tocsin.runtime, "default_stages", lambda mode=None, config=None: toy_stages())
    live = tmp_path / "live"
    run_live(live, stream()).close()
    r = CliRunner().invoke(app, ["replay", str(live / "journal.db"), "-o", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert "identical" in r.output
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (live / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


def test_recovery_after_a_crash_between_input_and_output(tmp_path: Path) -> None:
    """Simulate the crash: inputs journalled, outputs of the last batch not."""
    msgs = stream()
    ref = run_live(tmp_path / "ref", msgs, batch=len(msgs))
    want = recorded_outputs(ref)

    data = tmp_path / "crash"
    j = Journal(data / "journal.db", synchronous="NORMAL")
    crashed_sinks = file_sinks(data, j)
    pipe = Pipeline(toy_stages(), j, crashed_sinks)
    half = len(msgs) // 2
    pipe.submit_batch([encode_json(m) for m in msgs[:half]])
    # the crash: the second half is journalled as input, then the process dies
    with j.transaction():
        for m in msgs[half:]:
            j.append("input", encode_json(m))
    j.close()
    for s in crashed_sinks:
        s.close()

    j2 = Journal(data / "journal.db", synchronous="NORMAL")
    sinks = file_sinks(data, j2)
    pipe2 = Pipeline(toy_stages(), j2, sinks)
    rep = pipe2.recover()
    assert rep.inputs == len(msgs)
    assert rep.outputs_appended > 0
    # a resent message after restart is a replay now
    assert pipe2.submit(encode_json(msgs[-1])).reason == "duplicate"
    pipe2.submit_batch([encode_json(msgs[0])])
    pipe2.tick(msgs[-1].sent)
    for s in sinks:
        s.close()
    assert recorded_outputs(j2) == want
    assert (data / "tracks.jsonl").read_bytes() == (tmp_path / "ref" / "tracks.jsonl").read_bytes()
    assert j2.verify().ok


def test_recovery_detects_nondeterminism(tmp_path: Path) -> None:
    j = run_live(tmp_path, stream())
    j.append("output", b'{"v":1,"kind":"track"}')
    with pytest.raises(NondeterminismError):
        Pipeline(toy_stages(), j).recover()


class Boom:
    def push(self, env: Envelope) -> list[Envelope]:
        raise ValueError("bug")

    def advance(self, t: float) -> list[Envelope]:
        raise ValueError("bug")


class BrokenSink:
    def emit(self, env: Envelope) -> None:
        raise OSError("disk full")


def test_stage_and_sink_errors_are_counted_not_fatal() -> None:
    pipe = Pipeline([Boom()], ingress=Ingress(None, max_skew_s=None))
    assert pipe.submit(sample_plot()).ok
    pipe.tick(T0)
    assert pipe.metrics.stage_errors == 2
    pipe2 = Pipeline(toy_stages(), sinks=[BrokenSink()])
    pipe2.submit(sample_plot())
    assert pipe2.metrics.sink_errors == 1
    assert pipe2.metrics.outputs["track"] == 1


def test_outputs_returned_encoded_reach_a_byte_sink_as_journalled() -> None:
    """Outputs of a stage process come encoded: a sink that takes bytes (the
    SSE hub) gets those bytes, the journal's, not a re-encoding; a sink that
    takes messages gets the decoded message; a broken one is counted."""
    from tocsin.wire import decode_json

    class Both:
        def __init__(self) -> None:
            self.got: list[tuple[Envelope, bytes]] = []

        def emit(self, env: Envelope) -> None:
            raise AssertionError("emit_encoded should have been used")

        def emit_encoded(self, env: Envelope, data: bytes) -> None:
            self.got.append((env, data))

    class Plain:
        def __init__(self) -> None:
            self.got: list[Envelope] = []

        def emit(self, env: Envelope) -> None:
            self.got.append(env)

    both, plain = Both(), Plain()
    pipe = Pipeline([], sinks=[both, BrokenSink(), plain])
    # (not msgspec's own spelling of these numbers: a re-encoding would differ)
    outs = [encode_json(sample_plot(seq=i)).replace(b'"sent":', b'"sent": ') for i in (1, 2)]
    pipe._emit_encoded(outs)
    assert [d for _, d in both.got] == outs
    assert [e for e, _ in both.got] == plain.got == [decode_json(o) for o in outs]
    assert pipe.metrics.sink_errors == 2
    assert pipe.metrics.outputs["plot"] == 2


def radar_stream() -> list[Envelope]:
    """Two ground radars (descriptors first) watching one object flying straight
    at 3 km/s, 150 km up: enough for a real tracker to start a track."""
    import numpy as np

    from tocsin.geo import ecef_to_aer, geodetic_to_ecef
    from tocsin.wire import PlotBody, SensorBody, make

    radars = {"JP-R1": (38.0, 138.0), "JP-R2": (36.0, 140.0)}
    out: list[Envelope] = []
    for src, (la, lo) in radars.items():
        body = SensorBody(
            id=src, type="radar", platform="ground", lat=la, lon=lo, alt_m=50.0, sigma_range_m=30.0,
            sigma_az_deg=0.05, sigma_el_deg=0.05, max_range_m=3.0e6, scan_period_s=1.0,
        )  # fmt: skip
        out.append(make("sensor", body, partner="JP", source=src, seq=0, sent=T0))
    p0 = geodetic_to_ecef(39.0, 132.0, 150_000.0)
    east = np.array([-np.sin(np.radians(132.0)), np.cos(np.radians(132.0)), 0.0])
    rng = np.random.default_rng(7)
    for k in range(1, 21):
        pos = p0 + east * 3000.0 * k
        for j, (src, (la, lo)) in enumerate(radars.items()):
            az, el, r = (float(v) for v in ecef_to_aer(pos, la, lo, 50.0))
            t = T0 + k + 0.3 * j
            body = PlotBody(
                sensor=src, t=t, range_m=r + rng.normal(0, 30.0), az_deg=az % 360.0, el_deg=el,
                sigma_range_m=30.0, sigma_az_deg=0.05, sigma_el_deg=0.05,
            )  # fmt: skip
            out.append(make("plot", body, partner="JP", source=src, seq=k, sent=t + 0.05))
    return out


def test_replay_is_byte_identical_with_the_default_stages(tmp_path: Path) -> None:
    """The same check with the project's real fusion and warning stages."""
    from tocsin.runtime import default_stages

    assert [type(s).__name__ for s in default_stages()] == ["ConsistencyCheck", "WarningEngine"]
    live = tmp_path / "live"
    j = Journal(live / "journal.db", synchronous="NORMAL")
    sinks = file_sinks(live, j)
    pipe = Pipeline(default_stages(), j, sinks)
    msgs = radar_stream()
    for k in range(0, len(msgs), 4):
        pipe.submit_batch(msgs[k : k + 4])
        pipe.tick(msgs[min(k + 4, len(msgs)) - 1].sent + 0.5)
    pipe.tick(msgs[-1].sent + 120.0)
    for s in sinks:
        s.close()
    assert pipe.metrics.stage_errors == 0
    out = tmp_path / "replay"
    write_outputs(out, replay_journal(j, default_stages()))
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (live / name).read_bytes() == (out / name).read_bytes()


class FailingJournal(Journal):
    fail = False

    def add(self, kind: str, payload: bytes, *, ts: float | None = None) -> int:
        # (every append goes through add or add_many: the pipeline calls them directly)
        if self.fail and kind == "input":
            raise OSError("disk full")
        return super().add(kind, payload, ts=ts)

    def add_many(self, kind: str, payloads: Sequence[bytes]) -> int:
        if self.fail and kind == "input":
            raise OSError("disk full")
        return super().add_many(kind, payloads)


def test_failed_journal_write_does_not_burn_seqs(tmp_path: Path) -> None:
    j = FailingJournal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j)
    assert pipe.submit(sample_plot(seq=1)).ok
    j.fail = True
    with pytest.raises(OSError, match="disk full"):
        pipe.submit_batch([sample_plot(seq=2), sample_plot(seq=3)])
    j.fail = False
    assert pipe.submit(sample_plot(seq=1)).reason == "duplicate"
    assert pipe.submit(sample_plot(seq=2)).ok  # the retry goes through
    assert pipe.submit(sample_plot(seq=3)).ok
    assert j.verify().ok
    assert [e.seq for e in j.entries()] == [1, 2, 3, 4, 5, 6, 7, 8]  # no gap from the failed batch
