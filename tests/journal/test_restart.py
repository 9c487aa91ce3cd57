"""A restart with the stages in their own process (issue 19: /healthz within
seconds): the stage process is started before recovery and builds its stages
while the server recovers; it then continues from the recovered state exactly
as one started afterwards would, and it is ended if the start fails."""

from __future__ import annotations

import time
from pathlib import Path

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, SnapshotPolicy, recorded_outputs
from tocsin.stageproc import StageRecipe, spawn
from tocsin.wire import Envelope, encode_json

T0 = 1_789_430_400.0


def plots(n: int, start: int = 1) -> list[Envelope]:
    return [sample_plot(partner="JP", source="JP-R1", seq=i, sent=T0 + i) for i in range(start, start + n)]


def run(data: Path, msgs: list[Envelope], *, prespawn: str, separate: bool = True) -> Pipeline:
    """A node's start (recovering what ``data`` holds), then ``msgs``."""
    j = Journal(data / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(
        toy_stages(),
        j,
        snapshots=SnapshotPolicy(data / "snapshots", every_s=0, every_entries=7, cost_share=0),
    )
    recipe = StageRecipe.of("toy")
    if prespawn == "before recovery":
        pipe.prespawn_stage_process(recipe)
    elif prespawn == "at the very start":  # (serve: before its own imports; recipe later)
        pipe.prespawn_stage_process(recipe, spawn(None, ("tocsin.fusion", "tocsin.no.such.module")))
    if j.last_seq > 0:
        pipe.recover()
    if separate:
        pipe.start_stage_process(recipe)
    for k in range(0, len(msgs), 3):
        pipe.submit_batch([encode_json(m) for m in msgs[k : k + 3]])
        pipe.tick(msgs[min(k + 2, len(msgs) - 1)].sent)
    return pipe


def test_a_prespawned_stage_process_continues_from_the_recovered_state(tmp_path: Path) -> None:
    first, second = plots(12), plots(12, 20)
    ref = run(tmp_path / "ref", first + second, prespawn="no", separate=False)
    assert ref.journal is not None
    reference = recorded_outputs(ref.journal)
    ref.close()
    outputs = []
    for prespawn in ("no", "before recovery", "at the very start"):
        d = tmp_path / prespawn.replace(" ", "-")
        run(d, first, prespawn=prespawn).close()
        pipe = run(d, second, prespawn=prespawn)
        pipe.close()
        with Journal(d / "journal.db", readonly=True) as j:
            outputs.append(recorded_outputs(j))
    assert outputs == [reference, reference, reference]
    assert len(outputs[1]) > 12  # (the toy stages answered both runs)


def test_a_prespawned_stage_process_is_ended_when_the_start_fails(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j)
    pipe.prespawn_stage_process(StageRecipe.of("toy"))
    spawned = pipe._spawned
    assert spawned is not None
    pipe.close()  # (say recovery refused the journal: the server exits)
    deadline = time.monotonic() + 10
    while spawned.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spawned.proc.poll() is not None
