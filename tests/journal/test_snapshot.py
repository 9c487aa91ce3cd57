"""Stage snapshots (issue 19): every default stage written and loaded in the
middle of a drill continues exactly as if it had never stopped; the loader
admits nothing but stage state; recovery from snapshot + tail equals a full
replay."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zstandard

from tocsin.drill.scenario import load_scenario
from tocsin.drill.simulate import simulate
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import generate_key
from tocsin.journal import Journal
from tocsin.journal import snapshot as snap
from tocsin.runtime import (
    Pipeline,
    SnapshotPolicy,
    default_stages,
    recorded_outputs,
    replay_journal,
    start_notes,
)
from tocsin.stage import Stage
from tocsin.warning.engine import WarningEngine
from tocsin.warning.mode import DrillMode, ReplayMode
from tocsin.wire import Envelope, encode_json

# A missile over northern Tohoku, two airliners and radar clutter seen by two
# radars: aircraft tracks, a ballistic track, consistency reviews and alert
# threads are all live at the cut points.
SCENARIO = (
    (Path(__file__).resolve().parents[1] / "data" / "mrbm-over-tohoku.yaml")
    .read_text()
    .replace("duration_s: 700", "duration_s: 360")
    .replace("clutter_per_scan: 0.2", "clutter_per_scan: 0.5")
    + """
air:
  - id: JL-100
    kind: airliner
    waypoints:
      - {lat: 39.0, lon: 131.0}
      - {lat: 38.0, lon: 136.0}
    speed_mps: 240
    alt_m: 11000
  - id: KE-200
    kind: airliner
    start: {lat: 37.5, lon: 131.5}
    heading_deg: 60
    speed_mps: 230
    alt_m: 10500
"""
)


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> list[Envelope]:
    p = tmp_path_factory.mktemp("sc") / "sc.yaml"
    p.write_text(SCENARIO)
    return simulate(load_scenario(p)).messages


BATCH = 8


def drive(pipe: Pipeline, msgs: list[Envelope], last_tick: float | None) -> tuple[list[bytes], float | None]:
    """What a node on the data clock does, without a journal: batches of
    messages through the stages, a tick after a batch when a second of data
    time has passed."""
    out: list[bytes] = []
    for k in range(0, len(msgs), BATCH):
        chunk = msgs[k : k + BATCH]
        for m in chunk:
            out += [encode_json(e) for e in pipe._run(m)]
        t = chunk[-1].sent
        if last_tick is None or t - last_tick >= 1.0:
            out += [encode_json(e) for e in pipe._advance(t)]
            last_tick = t
    return out, last_tick


def feed(pipe: Pipeline, msgs: list[Envelope]) -> None:
    """The same through the journal (Pipeline.submit_batch and tick)."""
    last = pipe.last_tick
    for k in range(0, len(msgs), BATCH):
        chunk = msgs[k : k + BATCH]
        pipe.submit_batch(chunk)
        t = chunk[-1].sent
        if last is None or t - last >= 1.0:
            pipe.tick(t)
            last = t


@pytest.fixture(scope="module")
def reference(messages: list[Envelope]) -> tuple[list[bytes], list[tuple[int, bytes, float | None, int]]]:
    """One uninterrupted run of the default stages, and snapshots (real bytes)
    taken at three cut points: boost, midcourse with alerts out, later."""
    stages = default_stages()
    assert [type(s).__name__ for s in stages] == ["ConsistencyCheck", "WarningEngine"]
    full = Pipeline(stages)
    cuts = [len(messages) * k // 4 // BATCH * BATCH for k in (1, 2, 3)]
    taken: list[tuple[int, bytes, float | None, int]] = []
    outputs: list[bytes] = []
    last: float | None = None
    done = 0
    for cut in [*cuts, len(messages)]:
        out, last = drive(full, messages[done:cut], last)
        outputs += out
        done = cut
        if cut < len(messages):
            taken.append((cut, snap.dumps([snap.capture(s) for s in stages]), last, len(outputs)))
    return outputs, taken


def test_every_default_stage_continues_identically_from_a_snapshot(
    messages: list[Envelope], reference: tuple[list[bytes], list[tuple[int, bytes, float | None, int]]]
) -> None:
    """At each cut point the stages' snapshot, loaded through the restricted
    loader into freshly built stages, runs to the end with every output
    identical to the uninterrupted run's."""
    outputs, taken = reference
    alerts = [o for o in outputs[: taken[1][3]] if b'"kind":"alert"' in o[:40]]
    assert alerts, "alerts must be out by the second cut, or the warning engine's state is not exercised"
    for cut, blob, last_tick, n_before in taken:
        fresh = default_stages()
        state = snap.loads(blob)
        snap.check_types(fresh, state)
        for stage, st in zip(fresh, state, strict=True):
            snap.restore(stage, st)
        rest, _ = drive(Pipeline(fresh), messages[cut:], last_tick)
        assert rest == outputs[n_before:], f"outputs differ after a snapshot at message {cut}"


def test_snapshot_never_carries_the_mode_or_the_policy() -> None:
    """What construction gives the warning engine (mode, policy, areas) stays
    as built: a drill snapshot restored into a differently built engine
    keeps that engine's mode, and a state that tries to set it is refused."""
    drill = WarningEngine(mode=DrillMode())
    state = snap.loads(snap.dumps(snap.capture(drill)))
    assert not {"mode", "config", "_registry"} & set(state["attrs"])
    other_mode = ReplayMode(status="Exercise")
    other = WarningEngine(mode=other_mode)
    snap.restore(other, state)
    assert other.mode is other_mode
    forged = {**state, "attrs": {**state["attrs"], "mode": DrillMode()}}
    with pytest.raises(snap.SnapshotError, match="comes from construction"):
        snap.restore(WarningEngine(mode=other_mode), forged)


def test_snapshot_exclude_names_real_attributes() -> None:
    """A renamed attribute must not silently fall out of ``snapshot_exclude``
    (and into snapshots)."""

    def walk(stage: Stage) -> list[Any]:
        found = [stage]
        for v in vars(stage).values():
            if callable(getattr(v, "push", None)) and callable(getattr(v, "advance", None)):
                found += walk(v)
        return found

    for top in default_stages():
        for stage in walk(top):
            for name in getattr(type(stage), "snapshot_exclude", ()):
                assert hasattr(stage, name), f"{type(stage).__name__}.snapshot_exclude names {name!r}"


def _pickle(obj: object) -> bytes:
    return zstandard.ZstdCompressor().compress(pickle.dumps(obj, protocol=5))


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def test_loader_refuses_anything_but_stage_state() -> None:
    with pytest.raises(snap.SnapshotError, match="may not hold"):
        snap.loads(_pickle(_Evil()))
    # a tocsin class outside the stage packages (its construction does I/O)
    with pytest.raises(snap.SnapshotError, match=r"tocsin\.journal\.store\.Journal"):
        snap.loads(_pickle(Journal))
    # a function inside them
    with pytest.raises(snap.SnapshotError, match="may not hold"):
        snap.loads(_pickle(default_stages))
    with pytest.raises(snap.SnapshotError, match="not a snapshot"):
        snap.loads(b"not zstd at all")
    # plain stage state still loads
    assert snap.loads(_pickle({"a": [1.5, (2, 3)]})) == {"a": [1.5, (2, 3)]}


# ---------------------------------------------------------------- recovery


T0 = 1_789_430_400.0


def plots(n: int, start: int = 1) -> list[Envelope]:
    out = []
    for i in range(start, start + n):
        for src in ("JP-R1", "KR-R1"):
            out.append(sample_plot(partner=src[:2], source=src, seq=i, sent=T0 + i))
    return out


def live(
    data: Path, msgs: list[Envelope], *, key: Any = None, every: int = 20, stages: list[Stage] | None = None
) -> Pipeline:
    j = Journal(data / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(data / "snapshots", every_s=0, every_entries=every, cost_share=0)
    pipe = Pipeline(stages if stages is not None else toy_stages(), j, checkpoint_key=key, snapshots=pol)
    for k in range(0, len(msgs), 4):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 4]])
        pipe.tick(msgs[min(k + 4, len(msgs)) - 1].sent)
    return pipe


def restart(data: Path, *, key: Any = None, stages: list[Stage] | None = None) -> tuple[Pipeline, Any]:
    j = Journal(data / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(data / "snapshots", every_s=0, every_entries=20, cost_share=0)
    pipe = Pipeline(stages if stages is not None else toy_stages(), j, checkpoint_key=key, snapshots=pol)
    return pipe, pipe.recover()


def uninterrupted(tmp: Path, msgs: list[Envelope]) -> list[bytes]:
    pipe = live(tmp, msgs, every=0)
    assert pipe.journal is not None
    out = recorded_outputs(pipe.journal)
    pipe.journal.close()
    return out


def test_recovery_replays_only_the_tail_and_equals_a_full_replay(tmp_path: Path) -> None:
    msgs = plots(30)
    pipe = live(tmp_path / "a", msgs[:40])
    assert pipe.snapshots_written >= 3
    assert pipe.journal is not None
    pipe.journal.close()  # a crash: no clean stop
    pipe, rep = restart(tmp_path / "a")
    assert rep.snapshot is not None
    assert rep.snapshots_skipped == []
    assert 0 < rep.entries_read < 20 + 4 + 4  # the tail, not the journal
    assert rep.inputs <= 12  # of 40
    # the node goes on where it was: the same outputs as one uninterrupted run
    for k in range(40, len(msgs), 4):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 4]])
        pipe.tick(msgs[min(k + 4, len(msgs)) - 1].sent)
    j = pipe.journal
    assert j is not None
    assert recorded_outputs(j) == uninterrupted(tmp_path / "b", msgs)
    # and the full replay (audit) of the journal gives them too
    assert [encode_json(e) for e in replay_journal(j, toy_stages())] == recorded_outputs(j)
    assert j.verify().ok
    j.close()


def test_replay_windows_come_back_from_the_snapshot(tmp_path: Path) -> None:
    msgs = plots(15)
    pipe = live(tmp_path, msgs)
    assert pipe.journal is not None
    pipe.journal.close()
    pipe, rep = restart(tmp_path)
    assert rep.snapshot is not None
    v = pipe.submit_batch([encode_json(msgs[0]), encode_json(msgs[-1]), encode_json(plots(1, 40)[0])])
    assert [x.reason for x in v] == ["duplicate", "duplicate", None]


def test_clean_stop_leaves_nothing_to_replay(tmp_path: Path) -> None:
    pipe = live(tmp_path, plots(10), every=0)
    pipe.close()
    _, rep = restart(tmp_path)
    assert rep.snapshot is not None
    assert (rep.inputs, rep.ticks) == (0, 0)


def test_damaged_snapshot_file_falls_back_to_the_one_before(tmp_path: Path) -> None:
    pipe = live(tmp_path, plots(20))
    assert pipe.journal is not None
    pipe.journal.close()
    files = sorted((tmp_path / "snapshots").glob("snapshot-*.zst"))
    assert len(files) == 2  # the newest two are kept
    files[-1].write_bytes(files[-1].read_bytes()[:-1] + b"x")
    _, rep = restart(tmp_path)
    assert rep.snapshot == int(files[0].name[9:21])
    assert "does not match the SHA-256" in rep.snapshots_skipped[0]
    files[0].unlink()
    _, rep = restart(tmp_path)
    assert rep.snapshot is None  # full replay, still correct (recover() checks every output)
    assert len(rep.snapshots_skipped) >= 2


def test_snapshot_entry_without_the_node_signature_is_never_loaded(tmp_path: Path) -> None:
    """Someone who may write the data directory appends a snapshot entry and
    file of their own making (a valid chain, no key): recovery with the node's
    key passes it over."""
    key = generate_key()
    pipe = live(tmp_path, plots(10), key=key, every=0)
    pipe.close()
    forged_state = snap.dumps({"stages": [], "windows": {}, "accepted": {}, "pipeline": {}})
    (tmp_path / "snapshots" / "snapshot-000000099999.zst").write_bytes(forged_state)
    j = Journal(tmp_path / "journal.db")
    header = json.loads(j.last_entry("snapshot").payload)  # type: ignore[union-attr]
    import hashlib

    header.update(
        covers=j.last_seq,
        file="snapshot-000000099999.zst",
        sha256=hashlib.sha256(forged_state).hexdigest(),
        bytes=len(forged_state),
    )
    j.append("snapshot", json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    j.close()
    _, rep = restart(tmp_path, key=key)
    assert "not signed by this node's key" in rep.snapshots_skipped[0]
    assert rep.snapshot is not None  # the node's own, signed one


def test_recovery_refuses_a_broken_chain(tmp_path: Path) -> None:
    from tocsin.runtime import TamperedJournalError

    pipe = live(tmp_path, plots(12))
    assert pipe.journal is not None
    last = pipe.journal.last_seq
    pipe.journal.close()
    db = sqlite3.connect(tmp_path / "journal.db")
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET payload = CAST(? AS BLOB) WHERE seq = ?", (b'{"t":1}', last - 1))
    db.commit()
    db.close()
    with pytest.raises(TamperedJournalError, match=f"entry {last - 1}"):
        restart(tmp_path)


def test_default_stages_recover_from_a_snapshot_through_the_journal(
    tmp_path: Path,
    messages: list[Envelope],
    reference: tuple[list[bytes], list[tuple[int, bytes, float | None, int]]],
) -> None:
    """The real stages through the real journal: crash at 60 %, restart from
    the snapshot (not a full replay), finish. The journal's outputs equal its
    own full replay (``tocsin replay``'s audit path) and the uninterrupted run."""
    cut = len(messages) * 3 // 5 // BATCH * BATCH
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=1000, cost_share=0)
    pipe = Pipeline(default_stages(), j, snapshots=pol)
    feed(pipe, messages[:cut])
    j.close()
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(default_stages(), j, snapshots=pol)
    rep = pipe.recover()
    assert rep.snapshot is not None
    assert rep.snapshots_skipped == []
    assert rep.entries_read < 1000 + 2 * BATCH
    feed(pipe, messages[cut:])
    got = recorded_outputs(j)
    assert got == [encode_json(e) for e in replay_journal(j, default_stages())]
    assert got == reference[0]
    j.close()


def test_the_fingerprint_covers_stage_code_not_the_command_line_or_the_pages() -> None:
    """A fix to the CLI, a transport or the web pages must not make every node
    replay its whole journal at the next restart; a change to stage code,
    the runtime, the wire format, area data or a snapshot keeper must."""
    covered = ["fusion/tracker.py", "warning/engine.py", "runtime.py", "wire/messages.py"]
    covered += ["data/areas.json.gz", "web/live.py", "web/hub.py", "exchange/ingress.py"]
    for rel in covered:
        assert snap.fingerprinted(Path(rel)), rel
    for rel in ["cli/serve.py", "transport/nats.py", "web/dashboard.py", "drill/score.py"]:
        assert not snap.fingerprinted(Path(rel)), rel
    root = Path(snap.__file__).resolve().parents[1]
    for rel in covered:
        assert (root / rel).is_file(), rel  # (the names above are real files)


class _RefusingKeeper:
    """A keeper that refuses its part of any snapshot another keeper wrote
    (say, an upgraded keeper's format): the stages are already loaded when it
    refuses."""

    # a token of its own, not id(self): the first pipeline's keeper is freed when
    # the test builds the second, and CPython may give the new keeper the same
    # address (and id), which made it accept the old keeper's part now and then
    _made = itertools.count()

    def __init__(self) -> None:
        self.token = next(self._made)

    def snapshot_state(self) -> Any:
        return {"by": self.token}

    def restore_state(self, state: Any) -> None:
        if state["by"] != self.token:
            raise KeyError("format")

    def replay_entry(self, entry: Any) -> None:
        return


def test_a_snapshot_that_fails_half_way_leaves_fresh_stages(tmp_path: Path) -> None:
    """The stages are loaded, then a keeper refuses: the stages go back to as
    built before the older snapshot or the full replay, which then gives
    exactly the recorded outputs (no output twice, no state from the future)."""
    msgs = plots(20)
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=20, cost_share=0)
    pipe = Pipeline(toy_stages(), j, snapshots=pol)
    pipe.keep("k", _RefusingKeeper())
    for k in range(0, len(msgs), 4):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 4]])
        pipe.tick(msgs[k + 3].sent)
    assert pipe.snapshots_written >= 2
    j.close()
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, snapshots=pol)
    pipe.keep("k", _RefusingKeeper())
    rep = pipe.recover()  # NondeterminismError here if the failed loads left their state
    assert rep.snapshot is None
    assert [why.endswith("'format'") for why in rep.snapshots_skipped][:2] == [True, True]
    assert rep.outputs_appended == 0
    more = plots(4, 30)
    pipe.submit_batch([encode_json(m) for m in more])
    pipe.tick(more[-1].sent)
    assert recorded_outputs(j) == uninterrupted(tmp_path / "b", [*msgs, *more])
    j.close()


def test_restart_after_the_older_segments_were_pruned(tmp_path: Path) -> None:
    """A node that ran for many segments and had the older ones pruned still
    knows its start note (the run's mode, policy, stage set: each segment
    carries it) and recovers from the snapshot at its live segment's head."""
    from typer.testing import CliRunner

    from tocsin.cli import app
    from tocsin.runtime import last_start_note, note_start

    msgs = plots(24)
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=0)
    pipe = Pipeline(toy_stages(), j, snapshots=pol)
    note_start(j, "toy", "serve")
    for k in range(0, len(msgs), 4):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 4]])
        pipe.tick(msgs[k + 3].sent)
        if k in (8, 16):
            pipe.rotate()
    assert pipe.rotations == 2
    j.close()  # a crash: the restart re-runs what follows the rotation's snapshot
    r = CliRunner().invoke(app, ["journal", "prune", str(tmp_path / "journal.db"), "--keep", "0", "--yes"])
    assert r.exit_code == 0, r.output
    j = Journal(tmp_path / "journal.db", readonly=True)
    assert j.first_seq > 1
    assert start_notes(j) == []  # the start itself is gone with the first segment
    last = last_start_note(j)
    assert last is not None
    assert (last["stages"], last["role"]) == ("toy", "serve")
    j.close()
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, snapshots=pol)
    rep = pipe.recover()
    assert rep.snapshot is not None
    more = plots(4, 30)
    pipe.submit_batch([encode_json(m) for m in more])
    pipe.tick(more[-1].sent)
    j.close()
    with Journal(tmp_path / "journal.db", readonly=True) as jr:
        tail = [e.payload for e in jr.entries(jr.first_seq, kinds=("output",))]
    full = uninterrupted(tmp_path / "b", [*msgs, *more])
    assert tail == full[len(full) - len(tail) :]


class _BulkyKeeper:
    """A keeper whose state is ``size`` incompressible bytes (a node holding
    hundreds of tracks writes a few MB per snapshot)."""

    def __init__(self, size: int) -> None:
        self.blob = np.random.default_rng(5).bytes(size)

    def snapshot_state(self) -> Any:
        return self.blob

    def restore_state(self, state: Any) -> None:
        self.blob = state

    def replay_entry(self, entry: Any) -> None:
        return


def timed_run(tmp: Path, state_bytes: int, share: float) -> tuple[Pipeline, int]:
    """200 s of traffic, one batch and one housekeeping call a second, with
    time-driven snapshots due every 5 s; the journal's bytes at the end."""
    j = Journal(tmp / "journal.db", synchronous="NORMAL")
    pol = SnapshotPolicy(tmp / "snapshots", every_s=5.0, every_entries=0, max_share=share, cost_share=0)
    pipe = Pipeline(toy_stages(), j, snapshots=pol)
    pipe.keep("bulk", _BulkyKeeper(state_bytes))
    msgs = plots(200)
    for k in range(0, len(msgs), 2):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 2]])
        pipe.housekeeping(msgs[k].sent)
    return pipe, j.appended_bytes


def test_snapshots_are_proportionate_to_the_journal(tmp_path: Path) -> None:
    """A time-due snapshot of a large state waits until the journal grew by
    the snapshot's size over max_share: snapshot writes stay within about that
    share of the journal's; a small state is still snapshotted every every_s;
    and what the journal counts as appended is what it takes on disk."""
    small, jbytes = timed_run(tmp_path / "small", 1_000, 0.25)
    assert 35 <= small.snapshots_written <= 40  # every 5 s of the 200 s
    big, jbytes = timed_run(tmp_path / "big", 20_000, 0.25)
    assert big._last_snapshot_bytes > 20_000
    written = big.snapshots_written * big._last_snapshot_bytes
    assert 0.15 * jbytes <= written <= 0.25 * jbytes + big._last_snapshot_bytes
    assert big.snapshots_written >= 3, (jbytes, big.snapshots_written)  # (not none at all)
    off, _ = timed_run(tmp_path / "off", 20_000, 0.0)
    assert off.snapshots_written == small.snapshots_written
    assert off.journal is not None
    off.journal.close()
    on_disk = (tmp_path / "off" / "journal.db").stat().st_size
    assert 0.6 * on_disk <= jbytes <= 1.5 * on_disk


def test_stage_bytes_from_a_stage_process_go_through_the_restricted_loader(tmp_path: Path) -> None:
    """A stage process's state is stored in the snapshot as the bytes it
    pickled; loading them admits no more than a snapshot does."""
    pipe = Pipeline(toy_stages(), None)
    good = pipe._capture()
    good["stages"] = pickle.dumps(good["stages"], protocol=5)
    pipe._restore(good)  # (the bytes form loads)
    evil = dict(good, stages=pickle.dumps([os.system, os.system], protocol=5))
    with pytest.raises(snap.SnapshotError, match="may not hold"):
        pipe._restore(evil)
