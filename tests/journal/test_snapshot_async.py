"""Snapshots off the pipeline thread (issue 17): with a stage process, a
periodic snapshot is taken by a forked child of the stage process while the
stages and the pipeline go on; its journal entry is written when the file is
(later than the entry it covers, after inputs journalled meanwhile and outputs
of work before it). Recovery from such an entry re-runs what came after the
covered entry and passes over those outputs; a crash between the capture and
the entry, a file without its entry, a file that does not match its entry and
a snapshot that cannot be written all leave a node that recovers the same
outputs."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from gated_stages import GatedToy

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, SnapshotPolicy, recorded_outputs
from tocsin.wire import Envelope

T0 = 1_789_430_400.0


class HangingToy:
    """The toy stages behind one whose state cannot be taken while the file
    ``hang`` exists (a snapshot writer that never finishes)."""

    def __init__(self, hang: str) -> None:
        self.hang = hang

    def __call__(self) -> list[Any]:
        return [_Hang(self.hang), *toy_stages()]


class _Hang:
    def __init__(self, hang: str) -> None:
        self.hang = hang

    def push(self, env: Envelope) -> list[Envelope]:
        return [env]

    def advance(self, t: float) -> list[Envelope]:
        return []

    def snapshot_state(self) -> object:
        while Path(self.hang).exists():
            time.sleep(0.05)
        return self.hang

    def restore_state(self, state: object) -> None:
        pass


class PriorityToy:
    """The toy stages behind one that, when its state is taken (in the
    snapshot writer), writes that process's nice value to ``out``."""

    def __init__(self, out: str) -> None:
        self.out = out

    def __call__(self) -> list[Any]:
        return [_Priority(self.out), *toy_stages()]


class _Priority(_Hang):
    def snapshot_state(self) -> object:
        Path(self.hang).write_text(f"{os.getpid()} {os.nice(0)}")
        return self.hang


def plots(n: int, start: int = 1) -> list[Envelope]:
    return [sample_plot(source=f"JP-R{i % 3}", seq=i, sent=T0 + i) for i in range(start, start + n)]


#: batches of the run: (first plot, count), a 1-s tick after each
BATCHES = [(1 + 4 * k, 4) for k in range(8)]


def reference(tmp_path: Path, counts: list[int] | None = None) -> list[bytes]:
    """The outputs of the run in process, uninterrupted (``counts``: how many
    after each batch and its tick)."""
    open_gate = tmp_path / "always-open"
    open_gate.write_bytes(b"")
    ref = Pipeline(GatedToy(str(open_gate))(), Journal(tmp_path / "ref.db", synchronous="NORMAL"))
    assert ref.journal is not None
    for first, n in BATCHES:
        ref.submit_batch(plots(n, first))
        ref.tick(T0 + first + n)
        if counts is not None:
            counts.append(len(recorded_outputs(ref.journal)))
    out = recorded_outputs(ref.journal)
    ref.close()
    return out


def gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, GatedToy, SnapshotPolicy]:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    gate = tmp_path / "open"
    recipe = pickle.loads(pickle.dumps(GatedToy(str(gate))))  # (importable there)
    return gate, recipe, SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=0)


def start(tmp_path: Path, recipe: GatedToy, pol: SnapshotPolicy) -> tuple[Pipeline, Journal]:
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(recipe(), j, snapshots=pol)
    pipe.start_stage_process(recipe)
    return pipe, j


def crash(pipe: Pipeline, j: Journal) -> None:
    """kill -9 of the node: the stage process dies, nothing more is journalled."""
    proc = pipe.stage_process
    assert proc is not None
    proc.proc.kill()
    proc.proc.wait(10)
    j.close()


def recover(tmp_path: Path, recipe: GatedToy, pol: SnapshotPolicy) -> tuple[Pipeline, Any]:
    again = Pipeline(recipe(), Journal(tmp_path / "j.db", synchronous="NORMAL"), snapshots=pol)
    return again, again.recover()


def snapshot_entries(j: Journal) -> list[tuple[int, dict[str, Any]]]:
    return [(e.seq, json.loads(e.payload)) for e in j.entries(kinds=("snapshot",))]


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists()


def test_a_snapshot_taken_with_work_in_flight_is_journalled_later_and_recovers_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, recipe, pol = gated(tmp_path, monkeypatch)
    counts: list[int] = []
    expected = reference(tmp_path, counts)
    pipe, j = start(tmp_path, recipe, pol)
    (a, na), (b, nb), *rest = BATCHES
    pipe.submit_batch(plots(na, a))  # held at the gate: in flight
    pipe.tick(T0 + a + na)
    covers = pipe._start_snapshot()  # what the periodic snapshot does; returns at once
    assert covers == j.last_seq
    assert pipe.stage_backlog == na + 1  # (nothing was waited for)
    pipe.submit_batch(plots(nb, b))  # journalled after the entry the snapshot covers
    pipe.tick(T0 + b + nb)
    gate.write_bytes(b"")
    pipe.flush()
    [(seq, header)] = snapshot_entries(j)
    assert header["covers"] == covers
    assert seq > covers + nb  # the entry came after the next batch's inputs
    # every output of the first batch's work came after the entry it covers
    assert not any(e.kind == "output" for e in j.entries(1) if e.seq <= covers)
    assert header["outputs_before"] == counts[0] > 0
    for first, n in rest[:3]:
        pipe.submit_batch(plots(n, first))
        pipe.tick(T0 + first + n)
    pipe.flush()
    live_outputs = dict(pipe.metrics.outputs)
    crash(pipe, j)

    again, rep = recover(tmp_path, recipe, pol)
    assert rep.snapshot == covers
    assert rep.inputs == nb + sum(n for _, n in rest[:3])  # re-ran only what came after it
    assert again.journal is not None
    assert dict(again.metrics.outputs) == live_outputs
    for first, n in rest[3:]:
        again.submit_batch(plots(n, first))
        again.tick(T0 + first + n)
    assert recorded_outputs(again.journal) == expected
    again.close()


def test_crash_after_the_capture_before_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is written but its entry never journalled (the node died in
    between): the restart does not use it (nothing in the journal vouches for
    it), recovers the same outputs from the snapshot before, and the orphan
    file goes at the next snapshot."""
    gate, recipe, pol = gated(tmp_path, monkeypatch)
    expected = reference(tmp_path)
    gate.write_bytes(b"")
    pipe, j = start(tmp_path, recipe, pol)
    (a, na), (b, nb), (c, nc), *rest = BATCHES
    pipe.submit_batch(plots(na, a))
    pipe.tick(T0 + a + na)
    first = pipe.snapshot()  # (waits: written and journalled)
    pipe.submit_batch(plots(nb, b))
    pipe.tick(T0 + b + nb)
    covers = pipe._start_snapshot()
    pipe.submit_batch(plots(nc, c))
    wait_for(pol.directory / f"snapshot-{covers:012d}.zst")  # (its reply never taken)
    crash(pipe, j)

    again, rep = recover(tmp_path, recipe, pol)
    assert rep.snapshot == first
    assert again.journal is not None
    assert [h["covers"] for _, h in snapshot_entries(again.journal)] == [first]
    again.tick(T0 + c + nc)
    for f, n in rest:
        again.submit_batch(plots(n, f))
        again.tick(T0 + f + n)
    assert recorded_outputs(again.journal) == expected
    again.snapshot()
    assert not (pol.directory / f"snapshot-{covers:012d}.zst").exists()  # the orphan is gone
    again.close()


def test_crash_between_asking_and_the_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node dies while the snapshot is still queued behind work: no file,
    no entry; a half-written file of an interrupted writer is ignored and
    removed."""
    gate, recipe, pol = gated(tmp_path, monkeypatch)
    expected = reference(tmp_path)
    pipe, j = start(tmp_path, recipe, pol)
    (a, na), *rest = BATCHES
    pipe.submit_batch(plots(na, a))  # held at the gate
    covers = pipe._start_snapshot()
    crash(pipe, j)
    assert not (pol.directory / f"snapshot-{covers:012d}.zst").exists()
    (pol.directory / f"snapshot-{covers:012d}.zst.tmp").write_bytes(b"half a snapshot")
    gate.write_bytes(b"")

    again, rep = recover(tmp_path, recipe, pol)
    assert rep.snapshot is None  # full replay: there was no snapshot
    assert again.journal is not None
    again.tick(T0 + a + na)
    for f, n in rest:
        again.submit_batch(plots(n, f))
        again.tick(T0 + f + n)
    assert recorded_outputs(again.journal) == expected
    again.snapshot()
    assert not (pol.directory / f"snapshot-{covers:012d}.zst.tmp").exists()
    again.close()


def test_a_late_entry_whose_file_does_not_match_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, recipe, pol = gated(tmp_path, monkeypatch)
    expected = reference(tmp_path)
    pipe, j = start(tmp_path, recipe, pol)
    (a, na), (b, nb), *rest = BATCHES
    pipe.submit_batch(plots(na, a))
    pipe.tick(T0 + a + na)
    covers = pipe._start_snapshot()
    pipe.submit_batch(plots(nb, b))
    pipe.tick(T0 + b + nb)
    gate.write_bytes(b"")
    pipe.flush()
    [(seq, header)] = snapshot_entries(j)
    assert seq > covers + 1  # (a late entry)
    crash(pipe, j)
    f = pol.directory / header["file"]
    blob = bytearray(f.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    f.write_bytes(bytes(blob))

    again, rep = recover(tmp_path, recipe, pol)
    assert rep.snapshot is None
    assert any("does not match" in s for s in rep.snapshots_skipped), rep.snapshots_skipped
    assert again.journal is not None
    for first, n in rest:
        again.submit_batch(plots(n, first))
        again.tick(T0 + first + n)
    assert recorded_outputs(again.journal) == expected
    again.close()


def test_a_snapshot_that_cannot_be_written_is_noted_and_the_node_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, recipe, pol = gated(tmp_path, monkeypatch)
    gate.write_bytes(b"")
    pipe, j = start(tmp_path, recipe, pol)
    pipe.submit_batch(plots(4))
    pipe.flush()
    # (the writer cannot create its temporary file: a directory is in the way)
    (pol.directory / f"snapshot-{j.last_seq:012d}.zst.tmp").mkdir(parents=True)
    covers = pipe._start_snapshot()
    pipe.flush()
    assert pipe.snapshot_failures == 1
    assert pipe.last_snapshot_error is not None
    notes = [json.loads(e.payload) for e in j.entries(kinds=("note",))]
    assert {"event": "snapshot-failed", "covers": covers} == {
        k: v for k, v in notes[-1].items() if k != "error"
    }
    assert snapshot_entries(j) == []
    pipe.submit_batch(plots(4, 5))
    (pol.directory / f"snapshot-{covers:012d}.zst.tmp").rmdir()  # (the disk is fine again)
    assert pipe.snapshot() is not None  # the next one is written
    assert len(snapshot_entries(j)) == 1
    pipe.close()


def test_a_snapshot_writer_that_hangs_is_killed_and_the_node_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    hang = tmp_path / "hang"
    recipe = pickle.loads(pickle.dumps(HangingToy(str(hang))))
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=0)
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(recipe(), j, snapshots=pol)
    proc = pipe.start_stage_process(recipe)
    proc.snapshot_timeout_s = 2.0
    pipe.submit_batch(plots(4))
    hang.write_bytes(b"")
    covers = pipe._start_snapshot()
    pipe.submit_batch(plots(4, 5))  # (the stages go on meanwhile)
    t0 = time.monotonic()
    pipe.flush()
    assert time.monotonic() - t0 < 30
    assert pipe.snapshot_failures == 1
    assert "took more than 2 s" in (pipe.last_snapshot_error or "")
    assert snapshot_entries(j) == []
    assert not (pol.directory / f"snapshot-{covers:012d}.zst").exists()
    hang.unlink()
    assert pipe.snapshot() is not None  # the next one is written
    assert len(recorded_outputs(j)) >= 8  # (every plot went through while the writer hung)
    pipe.close()


def test_the_snapshot_writer_runs_below_the_stages_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot of a large state is seconds of CPU: the forked writer runs
    ``SNAPSHOT_WRITER_NICE`` below the stage process, so it takes what the
    live work leaves, not a share of it."""
    from tocsin.stageproc import SNAPSHOT_WRITER_NICE

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    out = tmp_path / "writer"
    recipe = pickle.loads(pickle.dumps(PriorityToy(str(out))))
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=0)
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(recipe(), j, snapshots=pol)
    proc = pipe.start_stage_process(recipe)
    pipe.submit_batch(plots(4))
    out.unlink(missing_ok=True)  # (written by the start-up state transfer, in the server)
    pipe._start_snapshot()
    pipe.flush()
    assert len(snapshot_entries(j)) == 1
    pid, nice = (int(x) for x in out.read_text().split())
    assert pid not in (os.getpid(), proc.pid)  # (taken in the forked writer)
    stage_nice = os.getpriority(os.PRIO_PROCESS, proc.pid)
    assert nice == min(19, stage_nice + SNAPSHOT_WRITER_NICE)
    pipe.close()
