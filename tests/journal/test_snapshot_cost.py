"""The snapshot policy weighs a snapshot's own cost (issue 17 (b)): a snapshot
is taken only once the stage work since the last one (what a crash would
re-run) is at least that snapshot's measured CPU cost over ``cost_share``. A
large state behind cheap work is snapshotted rarely; expensive work still is
at every ``every_entries``; ``cost_share`` 0 is the old entries rule."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, SnapshotPolicy
from tocsin.stageproc import StageRecipe
from tocsin.wire import Envelope, encode_json

T0 = 1_789_430_400.0


class BigState:
    """A stage with a large state (costly to snapshot) and ``work_s`` of CPU per plot."""

    def __init__(self, work_s: float) -> None:
        self.work_s = work_s
        self.table = np.random.default_rng(1).random(500_000)  # ~4 MB, incompressible
        self.n = 0

    def push(self, env: Envelope) -> list[Envelope]:
        end = time.thread_time() + self.work_s
        while time.thread_time() < end:
            pass
        self.n += 1
        return []

    def advance(self, t: float) -> list[Envelope]:
        return []


def run(tmp_path: Path, work_s: float, cost_share: float) -> tuple[Pipeline, list[tuple[float, float]]]:
    """200 plots, two a batch, a snapshot due every 10 entries by count; the
    stage CPU since the previous snapshot and that one's cost, at each one."""
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=10, cost_share=cost_share)
    pipe = Pipeline([BigState(work_s)], Journal(tmp_path / "j.db", synchronous="NORMAL"), snapshots=pol)
    taken: list[tuple[float, float]] = []
    real = pipe._journal_snapshot

    def journal_snapshot(header: dict[str, object]) -> None:
        taken.append((pipe.stage_cpu_s, pipe.last_snapshot_cpu_s))
        real(header)

    pipe._journal_snapshot = journal_snapshot  # type: ignore[method-assign]
    for i in range(1, 201, 2):
        pipe.submit_batch([encode_json(sample_plot(seq=k, sent=T0 + k)) for k in (i, i + 1)])
    return pipe, taken


def test_a_costly_snapshot_behind_cheap_work_waits_until_it_is_worth_it(tmp_path: Path) -> None:
    cheap, taken = run(tmp_path / "cheap", 0.0, 0.25)
    assert cheap.last_snapshot_cpu_s > 0  # measured
    # the first (no cost known yet), then none: 200 cheap plots never re-run
    # four times a 4-MB snapshot's cost
    assert cheap.snapshots_written == 1, taken
    old, _ = run(tmp_path / "old", 0.0, 0.0)  # the rule off: every 10 entries
    assert old.snapshots_written == 20


def test_expensive_work_is_still_snapshotted_and_each_one_paid_for(tmp_path: Path) -> None:
    pipe, taken = run(tmp_path / "busy", 0.004, 0.25)
    assert pipe.snapshots_written >= 3, taken
    assert pipe.snapshots_written < 20  # (not at every 10 entries: each waited for its worth)
    for (cpu0, cost0), (cpu1, _) in itertools.pairwise(taken):
        # taken when the work since the one before was worth 4x that one's cost
        assert (cpu1 - cpu0) * 0.25 >= cost0 * 0.999, taken


def test_a_stage_process_reports_its_cpu_and_the_writer_its_cost(tmp_path: Path) -> None:
    pol = SnapshotPolicy(tmp_path / "snapshots", every_s=0, every_entries=0)
    pipe = Pipeline(toy_stages(), Journal(tmp_path / "j.db", synchronous="NORMAL"), snapshots=pol)
    pipe.start_stage_process(StageRecipe("toy"))
    assert pipe.stage_cpu_s == 0.0
    pipe.submit_batch([encode_json(sample_plot(seq=k, sent=T0 + k)) for k in range(1, 50)])
    pipe.flush()
    assert pipe.stage_cpu_s > 0
    assert pipe.snapshot() is not None
    assert pipe.last_snapshot_cpu_s > 0  # the forked writer's own CPU
    pipe.close()
