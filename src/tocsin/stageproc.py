"""Stages in a process of their own: ingest and fusion on separate cores (issue 17).

::

    main process (HTTP, verification, ingress, journal, sinks)        stage process
    ──► ingress ──► journal: inputs, ticks (commit) ──► work ──────────► stages
                                                                            │
    sinks ◄── journal: outputs (commit) ◄── collect ◄── outputs (bytes) ◄───┘

Python runs one thread at a time per process, so with the stages in the server
process, verification, the journal and fusion share one core however many the
machine has. :class:`StageProcess` runs the stages (fusion, consistency,
warning) in a child process; :class:`tocsin.runtime.Pipeline` keeps ingress,
the journal and the sinks and hands it work (:meth:`Pipeline.start_stage_process
<tocsin.runtime.Pipeline.start_stage_process>`).

What the runtime promises still holds:

* The stage process gets exactly what was journalled, after the commit (a
  batch's before its fsync: :meth:`Pipeline.submit_batch
  <tocsin.runtime.Pipeline.submit_batch>` syncs while the stages work, and
  answers and emits nothing before), in journal order: an input as its
  journalled bytes (decoded there as a replay decodes it), a tick as its
  time. So the stages compute what a replay of the journal computes, and
  recovery reads the journal as before (outputs come after the inputs that
  produced them, perhaps after later inputs too, which
  :meth:`~tocsin.runtime.Pipeline.recover` already allows).
* Outputs come back in order and are journalled (committed) before any sink
  sees them; their fsync follows the emission, every input and tick before
  them being durable by then (:meth:`Pipeline._record_returned
  <tocsin.runtime.Pipeline._record_returned>`).
* A request is acknowledged once its inputs are committed (they are durable:
  a crash before their outputs are journalled is completed by recovery), not
  after its outputs; so ingest and fusion overlap.
* A snapshot covers an exact journal position without a barrier: the request
  goes down the same ordered stream as the work, and when the stage process
  reaches it (all earlier work done, no later work started) it forks; the
  child writes the snapshot from that copy-on-write image while the stages go
  on (:func:`_fork_snapshot`, :meth:`StageProcess.snapshot`).
* Work in flight is bounded (``max_inflight`` messages): past it the pipeline
  waits for the stages, its callers' queues fill, and the server answers 429.

The child is a fresh interpreter (``python -m tocsin.stageproc``: no threads
or locks inherited from the server, and unlike ``multiprocessing``'s spawn it
never re-imports the parent's main module) talking over two pipes with
:class:`multiprocessing.connection.Connection` framing. It builds its stages
from a picklable *recipe* (:class:`StageRecipe`), then loads the state the
parent's stages have (after recovery) through the snapshot mechanism. It ignores SIGINT and
SIGTERM (a service manager signals the whole group; the parent drains and
stops it) and exits when the parent goes away (end of file on its pipe).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import json
import os
import pickle
import queue
import resource
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin import heap
from tocsin.stage import Stage
from tocsin.wire import Envelope, decode_json, encode_json

if TYPE_CHECKING:
    from tocsin.warning.mode import Mode
    from tocsin.warning.policy import WarningConfig

#: one unit of work: an input's journalled bytes, or a tick's time
Work = bytes | float


class StageProcessError(RuntimeError):
    """The stage process could not start, or died."""


@dataclass(frozen=True)
class StageRecipe:
    """How the stage process builds its stages: a stage set by name
    (:func:`tocsin.runtime.stages_by_name`) with the run's warning mode and
    policy. Picklable; a live mode travels as its authorisation and is
    re-obtained in the child through :func:`tocsin.warning.mode.authorise_live`,
    the one door to live operation."""

    name: str = "default"
    config: WarningConfig | None = None
    #: the drill mode (None: the default drill), unless ``live`` is set
    drill: Any = None
    #: the live authorisation (:class:`tocsin.warning.mode.LiveAuthorisation`)
    live: Any = None
    #: the node and run identity in alert ids (:func:`tocsin.runtime.default_stages`)
    instance: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        mode: Mode | None = None,
        config: WarningConfig | None = None,
        instance: str | None = None,
    ) -> StageRecipe:
        if mode is not None and mode.live:
            return cls(name, config, live=getattr(mode, "authorisation"), instance=instance)  # noqa: B009
        return cls(name, config, drill=mode, instance=instance)

    def mode(self) -> Mode | None:
        if self.live is not None:
            return importlib.import_module("tocsin.warning.mode").authorise_live(self.live)
        return self.drill

    def __call__(self) -> list[Stage]:
        from tocsin.runtime import stages_by_name

        return stages_by_name(self.name, self.mode(), self.config, instance=self.instance)


#: called with the outputs produced so far (a list only ever appended to)
#: before a later stage runs on some of them: the stage process sends what it
#: has not sent yet, so a track update leaves before the warning stage works on it
Ready = Callable[[list[Envelope]], None]


def _through(
    stages: Sequence[Stage], batch: list[Envelope], produced: list[Envelope], ready: Ready | None
) -> None:
    """Push ``batch`` through ``stages`` in order (every output of a stage into
    the next), appending each stage's outputs to ``produced`` once that stage
    is done with the whole batch (so ``produced`` only grows, and a stage that
    raises loses only its own outputs of this batch)."""
    for stage in stages:
        if not batch:
            return
        if ready is not None and produced:
            ready(produced)
        nxt: list[Envelope] = []
        for e in batch:
            nxt.extend(stage.push(e))
        produced.extend(nxt)
        batch = nxt


def run_stages(stages: list[Stage], env: Envelope, ready: Ready | None = None) -> tuple[list[Envelope], bool]:
    """Push one input through the stages; (outputs, whether a stage raised).
    A stage bug must not stop the exchange: it is counted, the outputs of the
    stages before it are kept, and a replay meets it at the same place with
    the same outputs. ``ready`` (:data:`Ready`): see :func:`_serve`."""
    produced: list[Envelope] = []
    try:
        _through(stages, [env], produced, ready)
    except Exception:
        return produced, True
    return produced, False


def advance_stages(stages: list[Stage], t: float, ready: Ready | None = None) -> tuple[list[Envelope], bool]:
    """Advance every stage to ``t``, feeding each one's outputs to the stages
    after it (one output at a time, in order); (outputs, whether a stage raised)."""
    produced: list[Envelope] = []
    try:
        for i, stage in enumerate(stages):
            outs = stage.advance(t)
            produced.extend(outs)
            for e in outs:
                _through(stages[i + 1 :], [e], produced, ready)
    except Exception:
        return produced, True
    return produced, False


# ---------------------------------------------------------------- child

#: a short flight the stage process runs through a throwaway copy of its
#: stages when it starts (:func:`warm_up`): an MRBM over the Sea of Japan seen
#: by one radar, from launch to well past burnout (notional site and radar)
WARM_UP_SCENARIO: dict[str, Any] = {
    "seed": 1,
    "start": "2026-01-01T00:00:00Z",
    "duration_s": 150.0,
    "launches": [
        {"site": {"lat": 40.0, "lon": 133.0}, "azimuth_deg": 95.0, "range_km": 700.0, "apogee_km": 180.0}
    ],
    "partners": [
        {
            "code": "JP",
            "link": {"latency_s": 0.0, "jitter_s": 0.0, "loss": 0.0},
            "sensors": [
                {
                    "id": "WARM-R1", "type": "radar", "platform": "ground",
                    "site": {"lat": 38.05, "lon": 138.30, "alt_m": 150.0},
                    "sigma_range_m": 25.0, "sigma_az_deg": 0.05, "sigma_el_deg": 0.05, "sigma_rr_mps": 2.0,
                    "max_range_km": 1500.0, "scan_period_s": 1.0, "pd": 1.0, "clutter_per_scan": 0.0,
                    "latency_s": 0.0, "jitter_s": 0.0,
                }
            ],
        }
    ],
}  # fmt: skip


def warm_up(recipe: StageRecipe) -> float:
    """Run :data:`WARM_UP_SCENARIO` through a throwaway copy of the stages
    (built by ``recipe`` as a drill, outputs discarded), in a thread of the
    stage process right after it is ready. The first missile after a start
    otherwise pays for loading the tracker's compiled kernels from numba's
    cache and the warning stage's first use of its area tables (measured:
    the first track report of the IRBM drill 200-320 ms instead of ~30 ms).
    The stages in use are not touched, and nothing global that outputs depend
    on is changed (replay == live is tested with this on). Returns the CPU
    seconds it took (-1.0 if it failed)."""
    t0 = time.process_time()
    try:
        from tocsin.drill.scenario import scenario_from_data
        from tocsin.drill.simulate import simulate

        stages = StageRecipe(recipe.name, recipe.config, instance=recipe.instance)()
        msgs = sorted(simulate(scenario_from_data(WARM_UP_SCENARIO)).messages, key=lambda e: e.sent)
        last: float | None = None
        for env in msgs:
            if last is None or env.sent - last >= 1.0:
                last = env.sent
                advance_stages(stages, env.sent)
            run_stages(stages, env)
        # what a stage can compute beforehand for the process (the warning
        # stage: every area's CAP polygons, ~30 ms on an area's first alert)
        for stage in stages:
            prepare = getattr(stage, "prepare", None)
            if callable(prepare):
                prepare()
    except Exception:  # a warm-up is an optimisation: never a reason to fail
        return -1.0
    return time.process_time() - t0


#: what the default stages import (the stage process imports it while its
#: parent is still starting: :func:`spawn` with ``preload``)
DEFAULT_PRELOAD = ("tocsin.runtime", "tocsin.fusion", "tocsin.exchange.consistency", "tocsin.warning")


#: the cycle collector's full pass in the stage process after this many
#: second-generation passes (CPython's default: 10). A full pass walks the
#: whole live state made since :func:`settle` (the tracks' histories, ~90,000
#: objects at 20,000 plots/s: 60-100 ms a pass, 9 in 15 s, 4 % of the stages'
#: time and a pause in every track report then) and found nothing to free
#: there (2026-12-06, in process: 0 objects collected by 9 full passes;
#: cycles die young and go in the younger passes, which run as before). At
#: 100 it runs ~10 times more rarely (1 in 15 s at 20,000 plots/s): still
#: bounded in allocations, so in memory, at any rate.
FULL_PASS_EVERY = 100


def settle() -> None:
    """Put what exists now (modules, the stages' static data, the restored
    state) out of the cycle collector's full passes: it lives as long as the
    process, and each full pass walked all of it again (issue 17: with the
    stages' own objects, pauses of 0.3-0.45 s every second or two at 20,000
    plots/s). Objects frozen are still freed when no longer referenced.
    Called by the stage process and, once started, by ``tocsin serve``.
    Full passes over what is made later: every :data:`FULL_PASS_EVERY`
    second-generation passes."""
    gc.collect()
    gc.freeze()
    g0, g1, _ = gc.get_threshold()
    gc.set_threshold(g0, g1, FULL_PASS_EVERY)


def _child_main(work_fd: int, replies_fd: int, preload: Sequence[str] = ()) -> None:
    """The stage process: read the recipe and build the stages, then read the
    state they start from (the parent may still be recovering it meanwhile:
    :func:`spawn`), then answer work items in order until told to stop or the
    parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    work, replies = Connection(work_fd, writable=False), Connection(replies_fd, readable=False)
    for name in preload:  # (an import error shows when the recipe builds the stages)
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    try:
        recipe = work.recv()
        stages = recipe()
        state = work.recv()
        if state is not None:
            from tocsin.journal import snapshot as snap

            snap.check_types(stages, state)
            for stage, st in zip(stages, state, strict=True):
                snap.restore(stage, st)
    except (EOFError, OSError):
        return  # the parent went away before handing over the state (its start failed)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            replies.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    settle()
    replies.send(("ready", os.getpid()))
    # (this module runs as __main__ here: the recipe's class is the imported module's)
    mod = importlib.import_module("tocsin.stageproc")
    warming: list[Any] = []  # [thread, result box] while or after warming up
    if isinstance(recipe, mod.StageRecipe) and recipe.name == "default":
        box: list[float] = []

        def warm() -> None:
            box.append(mod.warm_up(recipe))
            settle()  # (what the warm-up loaded for good: area tables, modules)

        th = threading.Thread(target=warm, name="tocsin-stages-warm-up", daemon=True)
        th.start()
        warming = [th, box]
    # a reader thread keeps the parent's sends from ever waiting on the stages
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    gone = threading.Event()  # the parent went away: its work has no one to answer

    def read() -> None:
        try:
            while True:
                inbox.put(work.recv())
        except (EOFError, OSError):
            gone.set()  # work still queued is skipped: no one reads its answers
            inbox.put(None)

    threading.Thread(target=read, name="tocsin-stages-reader", daemon=True).start()
    try:
        _serve(stages, inbox, replies, gone, warming, close_in_fork=(work_fd, replies_fd))
    except OSError:  # (the parent closed its end while we answered)
        return


def _serve(
    stages: list[Stage],
    inbox: queue.SimpleQueue[Any],
    replies: Connection,
    gone: threading.Event,
    warming: Sequence[Any] = (),
    close_in_fork: Sequence[int] = (),
) -> None:
    lock = threading.Lock()  # (a snapshot's waiter thread replies too)

    def say(msg: Any) -> None:
        with lock:
            replies.send(msg)

    while not gone.is_set():
        msg = inbox.get()
        if msg is None or msg[0] == "stop":
            return
        if msg[0] == "snapshot":  # (StageProcess.snapshot)
            _fork_snapshot(stages, msg[1], Path(msg[2]), msg[3], say, close_in_fork, msg[4])
            continue
        if msg[0] == "work":
            # outputs leave as soon as they exist: after each item that made
            # some ("part"), and before a later stage works on them (a track
            # update is not held while the warning stage computes its areas);
            # "done" ends the work item (the rest, and the count of stage errors)
            errors = 0
            sent = 0

            def ready(produced: list[Envelope]) -> None:
                nonlocal sent
                if len(produced) > sent:
                    say(("part", [encode_json(e) for e in produced[sent:]], 0))
                    sent = len(produced)

            items = msg[1]
            for k, item in enumerate(items):
                sent = 0
                if isinstance(item, bytes):
                    produced, failed = run_stages(stages, decode_json(item, checked=True), ready)
                else:
                    produced, failed = advance_stages(stages, item, ready)
                errors += failed
                if k < len(items) - 1:
                    ready(produced)
            rest = [encode_json(e) for e in produced[sent:]] if items else []
            # (with the stages' CPU so far: the snapshot policy weighs a
            # snapshot's cost against the work it saves re-running)
            say(("done", rest, errors, time.process_time()))
        elif msg[0] == "warmed":  # (StageProcess.warmed_up)
            if warming:
                warming[0].join(msg[1])
            say(("warmed", warming[1][0] if warming and warming[1] else None))
        elif msg[0] == "capture":
            from tocsin.journal import snapshot as snap

            state = [snap.capture(s) for s in stages]
            if len(msg) > 1 and msg[1] == "pickled":
                # (a snapshot: the parent stores the bytes as they are, without
                # unpickling and pickling again on its busy thread)
                say(("state", pickle.dumps(state, protocol=5)))
            else:
                say(("state", state))
            del state
            heap.trim()


#: how much lower the forked snapshot writer's CPU priority is than the stage
#: process's (``nice`` increment). A snapshot of the 20,000-plots/s state is
#: ~3 CPU-s of pickling and compression in one burst (2026-12-06: 2.2 + 0.8 s
#: for 164 MB); at equal priority on two cores already ~80 % busy with the
#: server and the stages, that burst took its share from both for seconds and
#: the stages fell behind. At +10 (CFS weight 110 against 1,024) the writer
#: still gets about a tenth of a core when every core is busy (such a
#: snapshot then takes ~30 s, well inside ``snapshot_timeout_s``) and whatever
#: the live work leaves idle otherwise: the snapshot waits, not the warning.
SNAPSHOT_WRITER_NICE = 10


def _fork_snapshot(
    stages: list[Stage],
    covers: int,
    path: Path,
    parent: dict[str, Any],
    say: Callable[[Any], None],
    close_in_fork: Sequence[int],
    timeout_s: float,
) -> None:
    """Write a snapshot of the stages as they are now (after every work item
    before this one, so after journal entry ``covers``) without holding them
    up: a forked child pickles the copy-on-write image of this moment, joined
    with the pipeline's own part ``parent`` (replay windows, counters, keepers,
    taken by the parent at the same journal position), compresses it and
    writes ``path`` durably, while this process goes on with the next work.
    Replies ("captured", covers) at once, in order with the outputs (every
    output before it came from work before the snapshot); then, from a waiter
    thread, ("written", covers, sha256, bytes) or ("snapshot-failed", covers,
    reason) when the child is done (or killed after ``timeout_s``)."""
    from tocsin.journal import snapshot as snap  # (imported before the fork: the child imports nothing)

    r, w = os.pipe()
    with warnings.catch_warnings():  # (3.12+ warns about forking with threads)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: pickle, compress, write, report, and nothing else
        code = 1
        try:
            os.close(r)
            for fd in close_in_fork:  # (the parent's pipes: their ends stay the stage process's)
                with contextlib.suppress(OSError):
                    os.close(fd)
            gc.disable()  # (a collection would touch, and so copy, every page)
            with contextlib.suppress(OSError):
                os.nice(SNAPSHOT_WRITER_NICE)  # (the live work first: see the constant)
            blob = snap.dumps({"stages": [snap.capture(s) for s in stages], **parent})
            snap.write_durably(path, blob)
            digest = hashlib.sha256(blob).hexdigest()
            use = resource.getrusage(resource.RUSAGE_SELF)  # (this child's own, since the fork)
            cpu = use.ru_utime + use.ru_stime
            os.write(w, json.dumps({"sha256": digest, "bytes": len(blob), "cpu_s": cpu}).encode())
            code = 0
        except BaseException as exc:  # (reported, never raised: this is a fork)
            with contextlib.suppress(BaseException):
                os.write(w, json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}).encode())
        finally:
            os._exit(code)
    os.close(w)
    say(("captured", covers))

    def wait() -> None:
        chunks = []
        end = time.monotonic() + timeout_s
        late = False
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                late = True  # (a writer that hangs must not stop every later snapshot)
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if late:
            say(("snapshot-failed", covers, f"the snapshot writer took more than {timeout_s:g} s: killed"))
            return
        try:
            got = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            got = {}
        if status == 0 and "sha256" in got:
            say(("written", covers, got["sha256"], int(got["bytes"]), float(got.get("cpu_s", 0.0))))
        else:
            say(("snapshot-failed", covers, got.get("error") or f"the snapshot writer exited ({status})"))

    threading.Thread(target=wait, name="tocsin-snapshot-waiter", daemon=True).start()


@dataclass(frozen=True)
class SnapshotReply:
    """A snapshot the stage process wrote (:meth:`StageProcess.snapshot`):
    the journal entry it covers, the file's SHA-256 and size (or ``error``),
    and how many outputs, and stage errors, of work before it were taken after
    it was asked for (they are journalled after entry ``covers``)."""

    covers: int
    sha256: str = ""
    nbytes: int = 0
    outputs_before: int = 0
    errors_before: int = 0
    error: str | None = None
    #: CPU seconds the writer (the forked child) spent on it
    cpu_s: float = 0.0


# ---------------------------------------------------------------- parent


@dataclass
class Spawned:
    """A stage process started (:func:`spawn`), not yet given its state. One
    that is dropped unused (the start failed) is killed when it is collected
    or at exit at the latest."""

    proc: subprocess.Popen[bytes]
    work: Connection
    replies: Connection

    def __post_init__(self) -> None:
        self._unused = weakref.finalize(self, _end, self.proc)

    def taken(self) -> None:
        """A :class:`StageProcess` owns the process from now on."""
        self._unused.detach()

    def give(self, recipe: Callable[[], list[Stage]]) -> None:
        """Send the recipe (once) to a process spawned without one."""
        with contextlib.suppress(OSError):  # (it exited: the handshake says so)
            self.work.send(recipe)

    def kill(self) -> None:
        """End a stage process that will not be used (the start failed)."""
        with contextlib.suppress(OSError):
            self.work.close()
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def spawn(recipe: Callable[[], list[Stage]] | None, preload: Sequence[str] = ()) -> Spawned:
    """Start the stage process and send it ``recipe`` (or later:
    :meth:`Spawned.give`): it imports ``preload`` and builds its stages while
    the caller does something else (a starting server imports its own modules
    and recovers its state from the journal meanwhile); :class:`StageProcess`
    then hands it the state and waits until it is ready."""
    work_r, work_w = os.pipe()
    replies_r, replies_w = os.pipe()
    env = dict(os.environ)
    # the same tocsin as this process (a checkout on PYTHONPATH, a benchmark's tree)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin.stageproc", str(work_r), str(replies_w), ",".join(preload)],
        pass_fds=(work_r, replies_w),
        env=env,
        stdin=subprocess.DEVNULL,
    )
    os.close(work_r)
    os.close(replies_w)
    out = Spawned(proc, Connection(work_w, readable=False), Connection(replies_r, writable=False))
    if recipe is not None:
        out.give(recipe)
    return out


class StageProcess:
    """The parent's handle on the stage process (one caller: the pipeline's
    thread; a reader thread only moves replies into a queue and calls
    ``on_reply``, e.g. to wake the server's collector)."""

    def __init__(
        self,
        recipe: Callable[[], list[Stage]],
        state: Any = None,
        *,
        max_inflight: int = 4096,
        chunk: int = 512,
        start_timeout_s: float = 300.0,
        on_reply: Callable[[], None] | None = None,
        spawned: Spawned | None = None,
    ) -> None:
        #: most messages sent and not yet answered (backpressure beyond it)
        self.max_inflight = max_inflight
        #: work is sent in items of at most this many messages, so the stages
        #: start on a large batch before all of it is journalled... and answer
        #: its first part before the rest is computed
        self.chunk = chunk
        self.on_reply = on_reply
        if spawned is None:
            spawned = spawn(recipe)
        spawned.taken()
        self.proc = spawned.proc
        self._work = spawned.work
        self._replies = spawned.replies
        try:
            self._work.send(state)
            ready = self._replies.poll(start_timeout_s)
        except OSError:
            ready = True  # (it exited: recv says so)
        if not ready:
            self.proc.kill()
            self.proc.wait(5)
            raise StageProcessError(f"the stage process did not start within {start_timeout_s:.0f} s")
        try:
            first = self._replies.recv()
        except EOFError:
            self.proc.wait(5)
            raise StageProcessError(
                f"the stage process exited at start (code {self.proc.returncode})"
            ) from None
        if first[0] != "ready":
            self.proc.wait(5)
            raise StageProcessError(f"the stage process could not build its stages: {first[1]}")
        self.pid: int = first[1]
        #: replies not yet taken, and the messages of each work item in flight
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sizes: list[int] = []
        self.inflight = 0
        #: snapshots asked for (:meth:`snapshot`) and not yet written or failed
        self.snapshots_pending = 0
        #: outputs and stage errors taken so far, and their counts when each
        #: pending snapshot was asked for (then when it was captured)
        self._outputs_taken = 0
        self._errors_taken = 0
        self._snapshot_marks: dict[int, tuple[int, int]] = {}
        #: the stage process's CPU seconds, as of its latest answer
        self.cpu_s = 0.0
        #: a snapshot writer still busy after this long is killed (the
        #: snapshot fails; the next is taken as usual)
        self.snapshot_timeout_s = 600.0
        self.dead: str | None = None
        self._reader = threading.Thread(target=self._read, name="tocsin-stages-replies", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                self._inbox.put(self._replies.recv())
                if self.on_reply is not None:
                    self.on_reply()
        except (EOFError, OSError):
            self._inbox.put(("dead", "the stage process exited"))
            if self.on_reply is not None:
                self.on_reply()

    @property
    def alive(self) -> bool:
        return self.dead is None and self.proc.poll() is None

    def check_alive(self) -> None:
        """StageProcessError if the process died."""
        if self.dead is not None:
            raise StageProcessError(self.dead)
        if self.proc.poll() is not None:
            self.dead = f"the stage process exited (code {self.proc.returncode})"
            raise StageProcessError(self.dead)

    def send(self, items: Sequence[Work], collect: Callable[[bool], Any]) -> None:
        """Send work (in chunks); while more than ``max_inflight`` messages are
        in flight, ``collect(True)`` waits for replies first."""
        for i in range(0, len(items), self.chunk):
            part = list(items[i : i + self.chunk])
            while self.inflight and self.inflight + len(part) > self.max_inflight:
                collect(True)
            self.check_alive()
            self._work.send(("work", part))
            self._sizes.append(len(part))
            self.inflight += len(part)

    @property
    def busy(self) -> bool:
        """Work or a snapshot in flight (a barrier waits until neither is)."""
        return self.inflight > 0 or self.snapshots_pending > 0

    def snapshot(self, covers: int, path: Path, parent: dict[str, Any]) -> None:
        """Ask for a snapshot of the stages as they are after the work sent so
        far (journal entry ``covers``), joined with ``parent`` (the pipeline's
        part, taken now) and written to ``path`` by a forked child of the stage
        process (:func:`_fork_snapshot`), while the stages go on with later
        work. :meth:`take` returns a :class:`SnapshotReply` when it is written."""
        self.check_alive()
        self._work.send(("snapshot", covers, str(path), parent, self.snapshot_timeout_s))
        self._snapshot_marks[covers] = (self._outputs_taken, self._errors_taken)
        self.snapshots_pending += 1

    def take(
        self, wait: bool = False, timeout: float = 60.0
    ) -> list[tuple[list[bytes], int, int] | SnapshotReply]:
        """Replies to work items, in order: (encoded outputs, stage errors,
        messages the item had; 0 for a part of an item still running), and
        :class:`SnapshotReply` for each snapshot written (or failed).
        ``wait``: at least one if any work or snapshot is in flight."""
        got: list[tuple[list[bytes], int, int] | SnapshotReply] = []
        block = wait and self.busy
        while True:
            try:
                msg = self._inbox.get(timeout=timeout) if block else self._inbox.get_nowait()
            except queue.Empty:
                if block:
                    self.check_alive()
                    raise StageProcessError(
                        f"the stage process answered nothing in {timeout:.0f} s"
                    ) from None
                return got
            block = False
            if msg[0] == "dead":
                self.dead = msg[1]
                if got:
                    return got
                raise StageProcessError(msg[1])
            if msg[0] == "done":
                n = self._sizes.pop(0)
                self.inflight -= n
                got.append((msg[1], msg[2], n))
                self._outputs_taken += len(msg[1])
                self._errors_taken += msg[2]
                self.cpu_s = msg[3]
            elif msg[0] == "part":  # outputs of a work item still running
                got.append((msg[1], msg[2], 0))
                self._outputs_taken += len(msg[1])
                self._errors_taken += msg[2]
            elif msg[0] == "captured":  # every output of earlier work is taken now
                o, e = self._snapshot_marks[msg[1]]
                self._snapshot_marks[msg[1]] = (self._outputs_taken - o, self._errors_taken - e)
            elif msg[0] in ("written", "snapshot-failed"):
                self.snapshots_pending -= 1
                o, e = self._snapshot_marks.pop(msg[1])
                if msg[0] == "written":
                    got.append(SnapshotReply(msg[1], msg[2], msg[3], o, e, cpu_s=msg[4]))
                else:
                    got.append(SnapshotReply(msg[1], error=msg[2]))
            elif msg[0] == "state":  # (only capture() asks; never pending here)
                raise StageProcessError("stage process replies out of order")

    def capture(self, timeout: float = 120.0, *, pickled: bool = False) -> Any:
        """The stages' state (:func:`tocsin.journal.snapshot.capture` of each;
        with ``pickled``, that list pickled, as bytes); call with nothing in flight."""
        if self.busy:
            raise StageProcessError("capture with work in flight")
        self.check_alive()
        self._work.send(("capture", "pickled") if pickled else ("capture",))
        try:
            msg = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise StageProcessError(f"the stage process gave no state in {timeout:.0f} s") from None
        if msg[0] == "dead":
            self.dead = msg[1]
            raise StageProcessError(msg[1])
        if msg[0] != "state":
            raise StageProcessError("stage process replies out of order")
        return msg[1]

    def warmed_up(self, timeout: float = 120.0) -> float | None:
        """Wait (at most ``timeout``) for the stage process's warm-up
        (:func:`warm_up`) and return its CPU seconds (None: it does none;
        -1.0: it failed); call with nothing in flight."""
        if self.busy:
            raise StageProcessError("warmed_up with work in flight")
        self.check_alive()
        self._work.send(("warmed", timeout))
        try:
            msg = self._inbox.get(timeout=timeout + 10.0)
        except queue.Empty:
            raise StageProcessError(f"the stage process did not answer in {timeout:.0f} s") from None
        if msg[0] != "warmed":
            raise StageProcessError("stage process replies out of order")
        got: float | None = msg[1]
        return got

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to end (after the work already sent) and wait."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self._work.send(("stop",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._work.close()


__all__ = [
    "DEFAULT_PRELOAD",
    "WARM_UP_SCENARIO",
    "Ready",
    "SnapshotReply",
    "Spawned",
    "StageProcess",
    "StageProcessError",
    "StageRecipe",
    "Work",
    "advance_stages",
    "run_stages",
    "settle",
    "spawn",
    "warm_up",
]


if __name__ == "__main__":  # the stage process (StageProcess starts it)
    _child_main(int(sys.argv[1]), int(sys.argv[2]), [m for m in "".join(sys.argv[3:4]).split(",") if m])
