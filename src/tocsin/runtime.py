"""The one place where stages meet transports, the journal and sinks.

``tocsin serve``, ``tocsin node`` and ``tocsin replay`` all run a :class:`Pipeline`::

    message ──► ingress ──► journal (input) ──► stages ──► journal (output) ──► sinks
                   │
                   └──► journal (reject), counters

Inputs are journalled (and committed) *before* the stages see them; outputs are
journalled before any sink sees them (with a stage process, committed before and
fsynced after, once what made them is durable: :meth:`Pipeline._record_returned`).
Ticks (time advancing with no input) are journalled as inputs too, because they
change stage state. So the accepted inputs and ticks in the journal, re-run
through fresh stages, give the same outputs in the same order — that is
:func:`replay_journal`, and it is also how a restarted node recovers
(:meth:`Pipeline.recover`): it rebuilds stage and replay-window state from the
journal and appends any outputs the crash kept from being written.

Nothing here reads the wall clock: times come in as arguments (the server's loop
owns the clock). (The snapshot policy reads CPU time, which changes no output.)

The stages may run in a process of their own (:meth:`Pipeline.start_stage_process`,
:mod:`tocsin.stageproc`): the same journal order, handed over after each
commit; outputs journalled (and then emitted) as the stage process returns
them, so a batch is acknowledged once its inputs are committed; periodic
snapshots written by a fork of the stage process while both go on
(:meth:`Pipeline._start_snapshot`), journalled when written.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin import heap
from tocsin.exchange.ingress import Ingress, Prechecked, SeqWindow, Verdict
from tocsin.journal.store import ZERO_HASH, Entry, Journal, entry_hash
from tocsin.stage import Stage
from tocsin.stageproc import (
    SnapshotReply,
    Spawned,
    StageProcess,
    StageProcessError,
    advance_stages,
    run_stages,
)
from tocsin.wire import Envelope, JsonlWriter, decode_json, encode_json

if TYPE_CHECKING:  # the runtime itself never imports the warning package
    from tocsin.warning.mode import Mode
    from tocsin.warning.policy import WarningConfig


class Sink(Protocol):
    """Where outputs go after they are journalled (SSE hub, files, NATS, webhooks)."""

    def emit(self, env: Envelope) -> None: ...


class Keeper(Protocol):
    """State outside the stages that is derived from the journal and must come
    back after a restart (the dashboard's picture, the alert history, sensor
    descriptors) without reading the whole journal again.

    Registered with :meth:`Pipeline.keep` before :meth:`Pipeline.recover`: its
    state is written into every snapshot; at recovery it is restored from the
    snapshot and then shown every journal entry after it, in order (without a
    usable snapshot: every entry from the first)."""

    def snapshot_state(self) -> Any: ...

    def restore_state(self, state: Any) -> None: ...

    def replay_entry(self, entry: Entry) -> None: ...


@dataclass(frozen=True, slots=True)
class Raw:
    """Undecoded message bytes and their encoding (``json`` or ``msgpack``)."""

    data: bytes
    fmt: str = "json"


#: what :meth:`Pipeline.submit_batch` takes: raw JSON, raw bytes with their
#: encoding, a decoded message, or a message already decoded and authenticated
Item = bytes | Raw | Envelope | Prechecked


class JournalSyncError(RuntimeError):
    """The journal's fsync failed after a batch's inputs were handed to the
    stage process (:meth:`Pipeline.submit_batch`): the pipeline refuses all
    work from then on; a restart recovers from what the disk holds."""


class NondeterminismError(RuntimeError):
    """Replaying the journal produced different outputs from the recorded ones."""


def default_stages(
    mode: Mode | None = None, config: WarningConfig | None = None, *, instance: str | None = None
) -> list[Stage]:
    """Fusion (wrapped in the cross-sensor consistency check) then warning, from
    the project's stage packages when installed.

    ``mode`` is the warning engine's run mode (:mod:`tocsin.warning.mode`):
    ``None`` is a drill (every alert ``Exercise``), as ``default_stages()`` has
    always been; only a :class:`~tocsin.warning.mode.LiveMode` (from a live
    authorisation file) makes ``Actual`` alerts. ``config`` is the warning
    policy (:class:`~tocsin.warning.policy.WarningConfig`; ``None``: defaults).
    ``instance`` names this node and run in every alert identifier (CAP
    identifiers must be unique per sender for ever: two runs, or two nodes, fed
    the same reports must not reuse one); a replay passes the recorded one
    (:func:`recorded_instance`).

    The only place that imports them: every other user gets stages passed in.
    """
    stages: list[Stage] = []
    try:
        fusion = importlib.import_module("tocsin.fusion")
        tracker: Stage = fusion.Tracker(fusion.TrackerConfig())
        # cross-sensor consistency: a track one radar reports while the others
        # that should see it do not is held at low quality (no public alert)
        consistency = importlib.import_module("tocsin.exchange.consistency")
        trusted = config.thresholds.trusted_track_partners if config is not None else ()
        ccfg = consistency.ConsistencyConfig(trusted_track_partners=frozenset(trusted))
        stages.extend(consistency.with_consistency([tracker], ccfg))
    except (ImportError, AttributeError):
        pass
    try:
        warning = importlib.import_module("tocsin.warning")
    except ImportError:
        warning = None
    if warning is not None and hasattr(warning, "WarningEngine"):
        # not inside the try: a mode or policy the engine refuses must not
        # silently drop the warning stage
        stages.append(warning.WarningEngine(config, mode=mode, instance=instance or "local"))
    elif mode is not None and mode.live:
        raise RuntimeError("a live run needs the warning stage (tocsin.warning is not installed)")
    return stages


@dataclass
class RecoveryReport:
    """What :meth:`Pipeline.recover` did (the ``recovered`` note holds it)."""

    #: inputs and ticks re-run (after the snapshot, if one was loaded)
    inputs: int = 0
    ticks: int = 0
    #: outputs found in the journal (after the snapshot) and checked
    outputs_recorded: int = 0
    outputs_appended: int = 0
    #: entries after the journal's last checkpoint when the node restarted: no
    #: signature covered them before the restart (the next checkpoint does)
    unsigned_tail: int = 0
    #: the journal sequence number the loaded snapshot covers (None: full replay)
    snapshot: int | None = None
    #: snapshots passed over, newest first, and why
    snapshots_skipped: list[str] = field(default_factory=list)
    #: journal entries read (the tail after the snapshot, or all)
    entries_read: int = 0

    def as_note(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line for the operator."""
        how = f"from the snapshot at entry {self.snapshot}" if self.snapshot is not None else "by full replay"
        text = (
            f"recovered {how}: {self.entries_read} entries read, {self.inputs} inputs and {self.ticks} ticks "
            f"re-run, {self.outputs_appended} outputs completed"
        )
        if self.snapshots_skipped:
            text += f"; snapshots passed over: {'; '.join(self.snapshots_skipped)}"
        return text


@dataclass(frozen=True)
class SnapshotPolicy:
    """Where a node keeps its snapshot files and how often it writes one.

    A snapshot is written when ``every_entries`` journal entries passed since
    the last one, or when ``every_s`` seconds of wall time did (through
    :meth:`Pipeline.housekeeping`) *and* the journal grew by at least the last
    snapshot's size divided by ``max_share`` since; only if anything was
    journalled since; 0 turns any of the three off. So snapshot files take at
    most about ``max_share`` of what the journal writes: a node with a large
    state (hundreds of tracks, a few MB a snapshot) snapshots less often than one
    with a small state, instead of writing more snapshot than journal.

    And either way only when it is worth its cost: when the stages spent, since
    the last snapshot, at least that snapshot's own CPU cost (measured: the
    writer's CPU seconds) divided by ``cost_share``. The work since the last
    snapshot is what a crash would re-run, so a snapshot is taken once the
    re-run it saves is ``1 / cost_share`` times what it costs: snapshots take at
    most about ``cost_share`` of the stages' CPU (at 20,000 plots/s a snapshot
    of ~2.8 CPU-s every 5 s was half a core), and a crash re-runs at most about
    ``1 / cost_share`` snapshots' worth of stage work beyond the triggers above.
    The first snapshot of a run (no cost measured yet) is not held; 0 turns the
    rule off.
    The newest ``keep`` files are kept (a damaged newest one falls back to the
    one before). Recovery after a crash re-runs at most the journal since the
    last snapshot: ``every_entries`` entries, and about ``1 / max_share`` times
    a snapshot's size of journal (or ``every_s`` of traffic, if more); after a
    clean stop (:meth:`Pipeline.close` writes one) none."""

    directory: Path
    every_s: float = 15.0
    every_entries: int = 100_000
    keep: int = 2
    max_share: float = 0.25
    cost_share: float = 0.25


@dataclass(frozen=True)
class SegmentPolicy:
    """When the journal's live segment is closed and a new one started
    (:meth:`tocsin.journal.Journal.rotate`): at ``max_bytes`` of database
    (:meth:`~tocsin.journal.Journal.live_bytes`: the closed file's size) or
    ``max_s`` seconds of wall time, whichever first (0 turns either off). The
    closed segment ends with a signed checkpoint; the new one starts with a
    snapshot, so it is enough on its own once older segments are archived."""

    max_bytes: int = 1024 * 1024 * 1024
    max_s: float = 24 * 3600.0


@dataclass
class Metrics:
    """Counters exposed on /metrics (Prometheus text)."""

    inputs: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    ticks: int = 0
    stage_errors: int = 0
    sink_errors: int = 0


class Pipeline:
    """ingress -> journal -> stages -> journal -> sinks, for one process.

    One caller at a time (the server's single worker); not thread-safe.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        journal: Journal | None = None,
        sinks: Iterable[Sink] = (),
        *,
        ingress: Ingress | None = None,
        checkpoint_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
        checkpoint_s: float = 5.0,
        snapshots: SnapshotPolicy | None = None,
        segments: SegmentPolicy | None = None,
    ) -> None:
        self.stages = list(stages)
        #: state kept outside the stages (see :class:`Keeper`), by name
        self.keepers: dict[str, Keeper] = {}
        #: recover() ran (keepers registered later are fed the whole journal)
        self.recovered = False
        #: journal segment rotation (None: one file for ever)
        self.segments = segments
        self.rotations = 0
        self._segment_started_at: float | None = None
        #: stage snapshots (None: none; recovery then re-runs the whole journal)
        self.snapshots = snapshots
        self.snapshots_written = 0
        self._snapshot_files: list[str] = []
        self._after_snapshot = journal.last_seq if journal is not None else 0
        self._last_snapshot_at: float | None = None
        #: the size of the last snapshot written or loaded, and the journal's
        #: byte count (:attr:`Journal.appended_bytes`) when it was taken
        self._last_snapshot_bytes = 0
        self._bytes_at_snapshot = 0
        #: snapshots the stage process wrote, not yet journalled; and the
        #: messages handed to it when the pending one was asked for
        self._snapshot_replies: list[SnapshotReply] = []
        self._handed_at_snapshot = 0
        #: the CPU seconds the stages spent in this process (in-process stages),
        #: at the last snapshot, and what the last snapshot cost (0: not known)
        self._stage_cpu = 0.0
        self._stage_cpu_at_snapshot = 0.0
        self.last_snapshot_cpu_s = 0.0
        #: snapshots that could not be written (each journalled as a note)
        self.snapshot_failures = 0
        self.last_snapshot_error: str | None = None
        #: the node's key: signs a journal checkpoint every ``checkpoint_every``
        #: entries (checked after each batch or tick) and, through
        #: :meth:`housekeeping`, every ``checkpoint_s`` seconds of wall time
        #: while entries arrive, and at :meth:`close`
        self.checkpoint_key = checkpoint_key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_s = checkpoint_s
        self._last_checkpoint = journal.last_seq if journal is not None else 0
        self._last_checkpoint_at: float | None = None
        self.journal = journal
        self.sinks = list(sinks)
        self.ingress = ingress if ingress is not None else Ingress(None, max_skew_s=None)
        if journal is not None and self.ingress.recorder is None:
            self.ingress.recorder = journal
        self.metrics = Metrics()
        #: latest accepted ``sent`` (the data clock)
        self.data_time: float | None = None
        self.last_tick: float | None = None
        #: the stages' own process (:meth:`start_stage_process`), if they run in one
        self.stage_process: StageProcess | None = None
        #: started early (:meth:`prespawn_stage_process`), not yet given its state
        self._spawned: Spawned | None = None
        #: called (from another thread) when the stage process has outputs to collect
        self.on_outputs: Callable[[], None] | None = None
        #: messages (inputs and ticks) handed to the stage process, and those whose
        #: outputs are journalled and emitted
        self._handed = 0
        self._finished = 0
        #: (for a trace: ``tocsin serve --trace``) when, on the monotonic clock,
        #: work was last handed to the stage process, and the journal last fsynced
        self.handed_at = 0.0
        self.synced_at = 0.0
        #: inputs or ticks committed lazily and not yet fsynced (with a stage
        #: process: no output is emitted while this is set; :meth:`_record_returned`)
        self._lazy_inputs = False
        #: anything committed lazily and not yet fsynced (:meth:`_sync` skips the
        #: fsync otherwise: e.g. a batch whose hand-over waited for outputs,
        #: collected and synced them, fsyncs nothing more)
        self._unsynced = False
        #: why this pipeline refuses all work (a journal fsync failed after its
        #: inputs were handed to the stage process: :meth:`submit_batch`); None: working
        self.failed: str | None = None

    # ------------------------------------------------------------ input

    def submit(self, item: Item, *, now: float | None = None) -> Verdict:
        return self.submit_batch([item], now=now)[0]

    def submit_batch(self, items: Sequence[Item], *, now: float | None = None) -> list[Verdict]:
        """Check, journal (one commit), process and emit a batch of messages.

        Returns one verdict per item in order. The batch is the unit of group
        commit: callers gather what arrived while the previous batch was being
        processed (``Exchange`` joins queued requests) so one fsync covers
        them all. Nothing of the batch reaches a stage before that commit, and
        no verdict is returned (acknowledged) before the outputs' commit.
        Items may be :class:`~tocsin.exchange.ingress.Prechecked` (decoded and
        signature-checked in another thread by ``ingress.precheck``).

        With a stage process (:meth:`start_stage_process`) the committed inputs
        are handed to it and the verdicts returned at once: a batch is
        acknowledged when its inputs are durable, and its outputs are journalled
        and emitted by a later :meth:`collect` (the outputs ready by then share
        this batch's commit). The inputs are handed as soon as they are
        committed, before their fsync (:meth:`Journal.sync`, a lazy commit
        made durable): the stage process works on them while this thread waits
        for the disk, and nothing is acknowledged or emitted before the fsync
        (the outputs it returns are journalled by a later, durable commit). An
        fsync that fails leaves those inputs of unknown durability: the
        pipeline then refuses all further work (:attr:`failed`; fail closed).
        """
        self._check_failed()
        verdicts: list[Verdict] = []
        accepted: list[Envelope] = []
        payloads: list[bytes] = []
        proc = self.stage_process
        ready: list[bytes] = []
        done = 0
        if proc is not None:
            proc.check_alive()  # a dead stage process: refuse before journalling anything
        if self.journal is not None:
            try:
                # (with a stage process: lazy, made durable by sync() after the hand)
                with self.journal.transaction(durable=proc is None):
                    if proc is not None:
                        ready, done = self._take_outputs(wait=False)
                        self.journal.extend(("output", o) for o in ready)
                    verdicts = self._check_all(items, now, accepted, payloads)
            except Exception:
                # nothing of the batch was journalled: forget its sequence numbers
                # too, so the sender's retry is not refused as a replay
                self._rebuild_windows()
                if ready:  # (outputs taken but not journalled: journal them alone)
                    self._record_encoded(ready)
                    self._finished += done
                raise
        else:
            verdicts = self._check_all(items, now, accepted, payloads)
        if proc is not None:
            if self.journal is not None:
                self._lazy_inputs = self._unsynced = True
            self._finish_snapshots()
            self._hand(payloads)
            self._sync()  # (the stage process is on the inputs meanwhile)
            self._emit_encoded(ready)
            self._finished += done
            self._after_work()
            return verdicts
        outs: list[Envelope] = []
        cpu = time.thread_time()
        for env in accepted:
            outs.extend(self._run(env))
        self._stage_cpu += time.thread_time() - cpu
        self._record(outs)
        self._maybe_checkpoint()
        self._maybe_snapshot()
        self._maybe_rotate()
        return verdicts

    def _check_all(
        self, items: Sequence[Item], now: float | None, accepted: list[Envelope], payloads: list[bytes]
    ) -> list[Verdict]:
        verdicts = []
        j = self.journal
        for item in items:
            raw: bytes | None = None
            fmt = "json"
            if isinstance(item, Prechecked):
                v = self.ingress.check_prechecked(item, now=now)
                raw, fmt = item.data, item.fmt
            elif isinstance(item, Raw):
                v = self.ingress.check_bytes(item.data, now=now, fmt=item.fmt)
                raw, fmt = item.data, item.fmt
            elif isinstance(item, bytes | bytearray | memoryview):
                raw = bytes(item)
                v = self.ingress.check_bytes(raw, now=now)
            else:
                v = self.ingress.check(item, now=now)
            verdicts.append(v)
            envs = v.accepted_envs()  # the message, or a bundle's accepted members
            if envs and j is not None and v.env is not None and v.env.kind == "bundle" and v.env.sig:
                # the partner's signed bytes, so an audit can re-verify them
                # (the members follow as ordinary inputs; replay ignores this)
                j.add("received", raw if raw is not None else encode_json(v.env))
            first = len(payloads)
            for env in envs:
                payload = encode_json(env)
                if raw is not None and env is v.env and _keep_received(env, raw, fmt, payload):
                    payload = raw  # (decodes to the same envelope: replay is unchanged)
                payloads.append(payload)
                self.metrics.inputs[env.kind] += 1
                if self.data_time is None or env.sent > self.data_time:
                    self.data_time = env.sent
                accepted.append(env)
            if j is not None and envs:
                # (a bundle's members in one loop, after its "received": the same entries in the same order)
                j.add_many("input", payloads[first:])
        return verdicts

    def _sync(self) -> None:
        """The journal's lazy commits made durable (:meth:`Journal.sync`); if
        the fsync fails, :attr:`failed` is set and every later call refuses."""
        if self.journal is None or not self._unsynced:
            return  # (nothing committed lazily since the last fsync: no second one)
        try:
            self.journal.sync()
            self._lazy_inputs = self._unsynced = False
            self.synced_at = time.monotonic()
        except OSError as exc:
            self.failed = f"journal fsync failed ({type(exc).__name__}: {exc}): restart to recover"
            raise JournalSyncError(self.failed) from exc

    def _check_failed(self) -> None:
        if self.failed is not None:
            raise JournalSyncError(self.failed)

    def _rebuild_windows(self) -> None:
        """The replay windows as the journal has them (after a failed commit):
        from the latest snapshot, then the inputs after it."""
        assert self.journal is not None
        windows: dict[tuple[str, str], SeqWindow] = {}
        start = 1
        if self.snapshots is not None:
            from tocsin.journal import snapshot as snap

            for entry in self.journal.entries_of_kind_desc("snapshot", limit=1):
                try:
                    header = json.loads(entry.payload)
                    blob = (self.snapshots.directory / header["file"]).read_bytes()
                    if hashlib.sha256(blob).hexdigest() == header["sha256"]:
                        windows, start = snap.loads(blob)["windows"], int(header["covers"]) + 1
                except (snap.SnapshotError, OSError, ValueError, KeyError, TypeError):
                    windows, start = {}, 1
        self.ingress.windows.clear()
        self.ingress.windows.update(windows)
        for entry in self.journal.entries(start, kinds=("input",)):
            env = decode_json(entry.payload, checked=True)
            key = (env.partner, env.source)
            win = self.ingress.windows.get(key)
            if win is None:
                win = self.ingress.windows[key] = SeqWindow(self.ingress.window)
            if win.status(env.seq) is None:
                win.mark(env.seq)

    def tick(self, t: float, *, complete: bool = False) -> list[Envelope]:
        """Advance every stage to ``t`` (journalled, so replay sees the same ticks).
        Returns the outputs (none with a stage process: :meth:`collect` takes
        them when they come).

        The tick's commit is lazy (``Journal.append(durable=False)``: no fsync of
        its own): nothing is acknowledged on a tick, its outputs are emitted only
        after an fsync that covers it (in process: their durable commit; with a
        stage process: :meth:`collect` syncs first), and that fsync (or the next
        batch's, before its acknowledgement) makes the tick durable. A tick
        lost with the machine took nothing anyone saw with it.

        ``complete``: the caller ticks to complete a buffered scan (the scan
        grace), so outputs are expected: with a stage process the tick is then
        fsynced right after its hand-over, as a batch is, while the stages
        work, and its outputs leave as soon as they come (not after an fsync
        started when they came)."""
        self._check_failed()
        proc = self.stage_process
        if proc is not None:
            proc.check_alive()
            if self.journal is not None:
                self.journal.append("tick", _tick_payload(t), durable=False)
                # (synced before any output is emitted: collect)
                self._lazy_inputs = self._unsynced = True
            self.metrics.ticks += 1
            self.last_tick = t
            self._hand([t])
            if complete:
                self._sync()  # (the stages are on the scan meanwhile)
            self._after_work()
            return []
        if self.journal is not None:
            self.journal.append("tick", _tick_payload(t), durable=False)
        cpu = time.thread_time()
        outs = self._advance(t)
        self._stage_cpu += time.thread_time() - cpu
        self._record(outs)
        self._maybe_checkpoint()
        self._maybe_snapshot()
        self._maybe_rotate()
        return outs

    def housekeeping_due(self, now: float) -> bool:
        """Whether :meth:`housekeeping` has anything to do at wall time ``now``
        (cheap: call it every loop, and the upkeep itself off the event loop)."""
        if self._last_checkpoint_at is None:
            self._last_checkpoint_at = now
        if self._last_snapshot_at is None:
            self._last_snapshot_at = now
        if self._segment_started_at is None:
            self._segment_started_at = now
        j = self.journal
        if j is None:
            return False
        seg = self.segments
        if (
            seg is not None
            and seg.max_s > 0
            and j.last_seq >= j.first_live_seq
            and now - self._segment_started_at >= seg.max_s
        ):
            return True
        checkpoint = (
            self.checkpoint_key is not None
            and self.checkpoint_s > 0
            and j.last_seq > self._last_checkpoint
            and now - self._last_checkpoint_at >= self.checkpoint_s
        )
        pol = self.snapshots
        snapshot = (
            pol is not None
            and pol.every_s > 0
            and not self._snapshot_pending()
            and j.last_seq > self._after_snapshot
            and now - self._last_snapshot_at >= pol.every_s
            and self._journal_grew_enough()
            and self._snapshot_worth_it()
        )
        return checkpoint or snapshot

    def _journal_grew_enough(self) -> bool:
        """Whether the journal grew by the last snapshot's size over
        ``max_share`` since it (a time-due snapshot waits for that)."""
        pol, j = self.snapshots, self.journal
        if pol is None or j is None or pol.max_share <= 0:
            return True
        return j.appended_bytes - self._bytes_at_snapshot >= self._last_snapshot_bytes / pol.max_share

    @property
    def stage_cpu_s(self) -> float:
        """CPU seconds the stages have spent (in their own process: its CPU
        as of its latest answer)."""
        proc = self.stage_process
        return proc.cpu_s if proc is not None else self._stage_cpu

    def _snapshot_worth_it(self) -> bool:
        """Whether the stage work since the last snapshot (what a crash would
        re-run) is at least that snapshot's CPU cost over ``cost_share``."""
        pol = self.snapshots
        if pol is None or pol.cost_share <= 0 or self.last_snapshot_cpu_s <= 0:
            return True
        return (self.stage_cpu_s - self._stage_cpu_at_snapshot) * pol.cost_share >= self.last_snapshot_cpu_s

    def housekeeping(self, now: float) -> None:
        """Time-driven upkeep between batches and ticks (the caller owns the wall
        clock and passes it): a snapshot when ``snapshots.every_s`` passed since
        the last one, a signed checkpoint when ``checkpoint_s`` did, each only if
        something was journalled since."""
        if not self.housekeeping_due(now):
            return
        self._maybe_rotate(now)
        self._maybe_snapshot(now)
        if self.checkpoint_s > 0 and now - (self._last_checkpoint_at or now) >= self.checkpoint_s:
            self._maybe_checkpoint(force=True)
            self._last_checkpoint_at = now

    def _maybe_checkpoint(self, force: bool = False) -> None:
        j = self.journal
        if j is None or self.checkpoint_key is None:
            return
        if j.last_seq > self._last_checkpoint and (
            force or j.last_seq - self._last_checkpoint >= self.checkpoint_every
        ):
            j.checkpoint(self.checkpoint_key)
            self._last_checkpoint = j.last_seq

    # ------------------------------------------------------------ internals

    def _run(self, env: Envelope) -> list[Envelope]:
        # a stage bug must not stop the exchange; counted, replays identically
        outs, failed = run_stages(self.stages, env)
        self.metrics.stage_errors += failed
        return outs

    def _advance(self, t: float) -> list[Envelope]:
        self.metrics.ticks += 1
        self.last_tick = t
        outs, failed = advance_stages(self.stages, t)
        self.metrics.stage_errors += failed
        return outs

    # ------------------------------------------------------------ stage process

    def start_stage_process(self, recipe: Callable[[], list[Stage]], **options: Any) -> StageProcess:
        """Run the stages in a process of their own from now on
        (:mod:`tocsin.stageproc`): ``recipe`` builds them there (picklable:
        :class:`~tocsin.stageproc.StageRecipe`), and they start from the state
        this pipeline's stages have now (after :meth:`recover`), carried by the
        snapshot mechanism. ``options`` go to :class:`~tocsin.stageproc.StageProcess`."""
        if self.stage_process is not None:
            raise RuntimeError("the stage process is already running")
        from tocsin.journal import snapshot as snap

        state = [snap.capture(s) for s in self.stages]
        spawned, self._spawned = self._spawned, None
        self.stage_process = StageProcess(recipe, state, on_reply=self._wake, spawned=spawned, **options)
        return self.stage_process

    def prespawn_stage_process(
        self, recipe: Callable[[], list[Stage]], spawned: Spawned | None = None
    ) -> None:
        """Start the stage process now, before :meth:`recover`: it imports its
        modules and builds its stages (from ``recipe``, the same as
        :meth:`start_stage_process` is then given) on another core while this
        process recovers, so a restart takes the longer of the two, not their
        sum. ``spawned``: a process started even earlier (:func:`tocsin.stageproc.spawn`
        without a recipe, importing its modules meanwhile), given ``recipe`` now.
        :meth:`start_stage_process` then hands it the recovered state;
        :meth:`close` ends it if that never happens."""
        from tocsin.stageproc import spawn

        if self._spawned is not None or self.stage_process is not None:
            raise RuntimeError("the stage process is already started")
        if spawned is not None:
            spawned.give(recipe)
            self._spawned = spawned
        else:
            self._spawned = spawn(recipe)

    def _wake(self) -> None:
        cb = self.on_outputs
        if cb is not None:
            cb()

    def _take_outputs(self, wait: bool) -> tuple[list[bytes], int]:
        """Outputs returned by the stage process, and how many messages they answer."""
        proc = self.stage_process
        if proc is None:
            return [], 0
        outs: list[bytes] = []
        done = 0
        for reply in proc.take(wait=wait):
            if isinstance(reply, SnapshotReply):
                self._snapshot_replies.append(reply)  # (journalled after these outputs)
                continue
            encoded, errors, n = reply
            outs.extend(encoded)
            self.metrics.stage_errors += errors
            done += n
        return outs, done

    def collect(self, wait: bool = False) -> int:
        """Journal (one commit) and emit the outputs the stage process has
        returned; with ``wait``, wait for at least one reply if work is in
        flight. Returns how many outputs. (Nothing to do without a stage process.)"""
        self._check_failed()
        outs, done = self._take_outputs(wait)
        self._record_returned(outs)
        self._finished += done
        self._finish_snapshots()
        return len(outs)

    @property
    def stage_backlog(self) -> int:
        """Accepted inputs and ticks whose outputs are not yet journalled and
        emitted (0 without a stage process: the stages run within each call)."""
        return self._handed - self._finished

    def _hand(self, items: list[bytes] | list[float]) -> None:
        proc = self.stage_process
        assert proc is not None
        self._handed += len(items)
        proc.send(items, self.collect)
        self.handed_at = time.monotonic()

    def flush(self) -> None:
        """Wait until the stage process has answered everything sent, and
        journal and emit those outputs, and until a snapshot it is writing is
        written and journalled (a barrier: the stages' state then corresponds
        to the journal's last entry)."""
        proc = self.stage_process
        while proc is not None and proc.busy:
            self.collect(wait=True)

    def _after_work(self) -> None:
        self._maybe_checkpoint()
        self._maybe_snapshot()
        self._maybe_rotate()

    def _record_returned(self, outs: list[bytes]) -> None:
        """Journal and emit outputs the stage process returned: committed (a
        process crash keeps them) and emitted before their own fsync, which
        follows at once. What they were computed from is durable before any is
        emitted: every input and tick journalled before them (a batch's are
        synced when handed, :meth:`submit_batch`; a lazy tick's here, first).
        So a power loss that takes these outputs from the journal leaves the
        inputs and ticks that recovery re-runs to append the same outputs (the
        stages are deterministic: replays are byte-identical, and
        :meth:`recover` checks it); what anyone was shown is in the journal
        after recovery. This takes the outputs' fsync off every report's path
        (issue 17 (a)); only the stage-process path does it (in process, the
        outputs' commit is durable before they are emitted, as before)."""
        if not outs:
            return
        j = self.journal
        if j is None:
            self._emit_encoded(outs)
            return
        with j.transaction(durable=False):
            j.extend(("output", o) for o in outs)
        self._unsynced = True
        if self._lazy_inputs:
            self._sync()  # (a lazy tick: its outputs' fsync covers both, before they leave)
            self._emit_encoded(outs)
            return
        self._emit_encoded(outs)
        self._sync()

    def _record_encoded(self, outs: list[bytes]) -> None:
        if not outs:
            return
        if self.journal is not None:
            self.journal.extend(("output", o) for o in outs)
        self._emit_encoded(outs)

    def _emit_encoded(self, outs: list[bytes]) -> None:
        """Emit outputs the stage process returned encoded: a sink that takes
        the bytes too (``emit_encoded(env, data)``, e.g. the SSE hub) gets
        these, the journalled bytes, instead of encoding the message again."""
        for o in outs:
            e = decode_json(o, checked=True)
            self.metrics.outputs[e.kind] += 1
            for s in self.sinks:
                try:
                    enc = getattr(s, "emit_encoded", None)
                    if enc is not None:
                        enc(e, o)
                    else:
                        s.emit(e)
                except Exception:  # one broken sink must not stop the others
                    self.metrics.sink_errors += 1

    def _stop_stage_process(self) -> None:
        spawned, self._spawned = self._spawned, None
        if spawned is not None:
            spawned.kill()
        proc, self.stage_process = self.stage_process, None
        if proc is not None:
            proc.stop()

    def _record(self, outs: list[Envelope]) -> None:
        if not outs:
            return
        if self.journal is not None:
            self.journal.extend(("output", encode_json(e)) for e in outs)
        self._emit(outs)

    def _emit(self, outs: Iterable[Envelope]) -> None:
        for e in outs:
            self.metrics.outputs[e.kind] += 1
            for s in self.sinks:
                try:
                    s.emit(e)
                except Exception:  # one broken sink must not stop the others
                    self.metrics.sink_errors += 1

    def close(self) -> None:
        """Close sinks that can be closed, then the journal (with a stage
        process: first wait for its outputs, and stop it after the last
        snapshot)."""
        try:
            if self.stage_process is not None and self.stage_process.alive:
                self.flush()
        except StageProcessError:
            pass  # (died: the restart re-runs what it had not answered)
        for s in self.sinks:
            close = getattr(s, "close", None)
            if callable(close):
                close()
        if self.journal is not None:
            self.ingress.flush_rejects()  # (counts of rejects not journalled in full: sec)
            try:
                if self.snapshots is not None and self.journal.last_seq > self._after_snapshot:
                    self.snapshot()  # a clean stop: the restart re-runs nothing
            except StageProcessError:
                pass
            self._maybe_checkpoint(force=True)
            self.journal.close()
        self._stop_stage_process()

    def keep(self, name: str, keeper: Keeper) -> None:
        """Register a :class:`Keeper`, normally before :meth:`recover`. Registered
        after it (an API user building a dashboard on a recovered pipeline), the
        keeper is shown the whole journal at once: correct, but not bounded."""
        self.keepers[name] = keeper
        if self.recovered and self.journal is not None:
            for e in self.journal.entries():
                keeper.replay_entry(e)

    # ------------------------------------------------------------ segments

    def _maybe_rotate(self, now: float | None = None) -> None:
        j, seg = self.journal, self.segments
        if j is None or seg is None or j.last_seq < j.first_live_seq:
            return
        big = seg.max_bytes > 0 and j.live_bytes() >= seg.max_bytes
        old = (
            now is not None
            and seg.max_s > 0
            and self._segment_started_at is not None
            and now - self._segment_started_at >= seg.max_s
        )
        if big or old:
            self.rotate(now)

    def rotate(self, now: float | None = None) -> None:
        """Close the journal's live segment (after a signed checkpoint) and start
        the next with a snapshot of the state at the boundary."""
        j = self.journal
        if j is None:
            return
        self.flush()  # the outputs of work in flight belong to the closing segment
        self._maybe_checkpoint(force=True)
        carried = last_start_note(j)
        j.rotate()
        self.rotations += 1
        if now is not None:
            self._segment_started_at = now
        with j.transaction():
            if self.snapshots is not None:
                self.snapshot()  # (covers the last entry of the closed segment)
                if now is not None:
                    self._last_snapshot_at = now
            if carried is not None:
                # the run's start note at the head of the new segment: a restart
                # reads it there, also once the older segments are archived
                j.append("note", json.dumps({"event": "segment", "start": carried}).encode())
        heap.trim()  # (and what training the new segment's dictionary took)

    # ------------------------------------------------------------ snapshots

    def snapshot(self) -> int | None:
        """Write a snapshot of the stages, the replay windows and the counters
        (a zstd file in the snapshot directory) and journal it: a ``snapshot``
        entry naming the file and its SHA-256, followed (with a node key) by a
        signed checkpoint over that entry, in one commit. Returns the journal
        sequence number the snapshot covers (None without a journal or policy).
        Waits until it is written (the periodic snapshots of a stage process
        do not: :meth:`_start_snapshot`)."""
        j, pol = self.journal, self.snapshots
        if j is None or pol is None:
            return None
        from tocsin.journal import snapshot as snap

        self.flush()  # a barrier: the stage process has answered everything journalled
        if self.stage_process is not None:
            failures = self.snapshot_failures
            covers = self._start_snapshot()
            self.flush()  # (written, and its entry journalled)
            if self.snapshot_failures != failures:
                raise OSError(f"snapshot at entry {covers} not written: {self.last_snapshot_error}")
            return covers
        covers = j.last_seq
        cpu = time.thread_time()
        self._stage_cpu_at_snapshot = self.stage_cpu_s
        blob = snap.dumps(self._capture())
        name = f"snapshot-{covers:012d}.zst"
        pol.directory.mkdir(parents=True, exist_ok=True)
        snap.write_durably(pol.directory / name, blob)
        header = self._snapshot_header(covers, name, len(blob), hashlib.sha256(blob).hexdigest())
        self.last_snapshot_cpu_s = time.thread_time() - cpu
        self._journal_snapshot(header)
        self._after_snapshot = j.last_seq
        self._bytes_at_snapshot = j.appended_bytes
        del blob
        heap.trim()  # (the tens of MB the snapshot took for a moment go back to the system)
        return covers

    def _snapshot_header(self, covers: int, name: str, nbytes: int, sha256: str) -> dict[str, Any]:
        from tocsin.journal import snapshot as snap

        return {
            "format": snap.FORMAT,
            "covers": covers,
            "file": name,
            "bytes": nbytes,
            "sha256": sha256,
            "code": snap.code_fingerprint(),
            "stages": [snap.qualname(s) for s in self.stages],
        }

    def _journal_snapshot(self, header: dict[str, Any]) -> None:
        """The snapshot entry (and the signed checkpoint over it), then the
        bookkeeping: the newest files kept, older ones removed."""
        j, pol = self.journal, self.snapshots
        assert j is not None
        assert pol is not None
        with j.transaction():
            j.append("snapshot", json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
            if self.checkpoint_key is not None:
                j.checkpoint(self.checkpoint_key)
                self._last_checkpoint = j.last_seq
        self._last_snapshot_bytes = int(header["bytes"])
        self.snapshots_written += 1
        self._snapshot_files.append(header["file"])
        self._prune_snapshot_files(int(header["covers"]))

    def _snapshot_pending(self) -> bool:
        proc = self.stage_process
        return proc is not None and proc.snapshots_pending > 0

    def _start_snapshot(self) -> int:
        """Ask the stage process for a snapshot after the journal's last entry
        and go on at once: its forked child writes the file (with this
        pipeline's part, taken here) while the stages and this thread work on;
        :meth:`_finish_snapshots` journals it when it is written. Returns the
        entry it covers.

        The ``snapshot`` entry then comes after entries journalled meanwhile
        (inputs and ticks after the snapshot, and outputs of work before it:
        their number is ``outputs_before`` in the entry). Recovery from it
        re-runs the inputs and ticks after ``covers`` and passes over those
        first ``outputs_before`` outputs (:meth:`recover`)."""
        j, pol, proc = self.journal, self.snapshots, self.stage_process
        assert j is not None
        assert pol is not None
        assert proc is not None
        covers = j.last_seq
        pol.directory.mkdir(parents=True, exist_ok=True)
        parent = {
            "windows": self.ingress.windows,
            "accepted": self.ingress.accepted,
            "pipeline": {"data_time": self.data_time, "last_tick": self.last_tick, "metrics": self.metrics},
            "keepers": {name: k.snapshot_state() for name, k in self.keepers.items()},
        }
        proc.snapshot(covers, pol.directory / f"snapshot-{covers:012d}.zst", parent)  # (parent pickled here)
        self._after_snapshot = covers
        self._bytes_at_snapshot = j.appended_bytes
        self._handed_at_snapshot = self._handed
        self._stage_cpu_at_snapshot = self.stage_cpu_s
        return covers

    def _finish_snapshots(self) -> None:
        """Journal the snapshots the stage process has written (or a note for
        one it could not write: the next is taken as usual)."""
        j = self.journal
        while self._snapshot_replies and j is not None:
            r = self._snapshot_replies.pop(0)
            if r.error is not None:
                self.snapshot_failures += 1
                self.last_snapshot_error = r.error
                note = {"event": "snapshot-failed", "covers": r.covers, "error": r.error}
                j.append("note", json.dumps(note).encode())
                continue
            header = self._snapshot_header(r.covers, f"snapshot-{r.covers:012d}.zst", r.nbytes, r.sha256)
            header["outputs_before"] = r.outputs_before
            header["stage_errors_before"] = r.errors_before
            self.last_snapshot_cpu_s = r.cpu_s
            self._journal_snapshot(header)
            if self._handed == self._handed_at_snapshot:  # (nothing to re-run since it)
                self._after_snapshot = j.last_seq
            heap.trim()

    def _capture(self) -> dict[str, Any]:
        from tocsin.journal import snapshot as snap

        proc = self.stage_process
        # (from a stage process: its pickled bytes, stored as they are)
        stages = proc.capture(pickled=True) if proc is not None else [snap.capture(s) for s in self.stages]
        return {
            "stages": stages,
            "windows": self.ingress.windows,
            "accepted": self.ingress.accepted,
            "pipeline": {"data_time": self.data_time, "last_tick": self.last_tick, "metrics": self.metrics},
            "keepers": {name: k.snapshot_state() for name, k in self.keepers.items()},
        }

    def _prune_snapshot_files(self, newest: int) -> None:
        """Keep the newest ``keep`` snapshot files this node wrote or loaded;
        remove older ones and leftovers of interrupted writes."""
        pol = self.snapshots
        assert pol is not None
        keep = set(self._snapshot_files[-pol.keep :])
        del self._snapshot_files[: -pol.keep]
        j = self.journal
        if j is not None:  # each segment's start snapshot stays while the segment does
            keep.update(f"snapshot-{s.first - 1:012d}.zst" for s in j.closed_segments())
            keep.add(f"snapshot-{j.first_live_seq - 1:012d}.zst")
        for f in pol.directory.glob("snapshot-*"):
            if f.name in keep or not f.is_file():
                continue
            covers = _snapshot_covers(f.name)
            if f.name.endswith(".tmp") or (covers is not None and covers < newest):
                f.unlink(missing_ok=True)

    def _maybe_snapshot(self, now: float | None = None) -> None:
        pol, j = self.snapshots, self.journal
        if pol is None or j is None or j.last_seq <= self._after_snapshot or self._snapshot_pending():
            return
        by_entries = pol.every_entries > 0 and j.last_seq - self._after_snapshot >= pol.every_entries
        by_time = (
            now is not None
            and pol.every_s > 0
            and self._last_snapshot_at is not None
            and now - self._last_snapshot_at >= pol.every_s
            and self._journal_grew_enough()
        )
        if (by_entries or by_time) and self._snapshot_worth_it():
            if self.stage_process is not None:
                self._start_snapshot()  # (off this thread: the stage process forks)
            else:
                self.snapshot()
            if now is not None:
                self._last_snapshot_at = now

    # ------------------------------------------------------------ recovery

    def recover(self) -> RecoveryReport:
        """Rebuild state from the journal after a restart (or crash).

        Loads the latest usable snapshot (:meth:`_load_snapshot`: its journal
        entry intact and, with a node key, covered by a signed checkpoint; its
        file's SHA-256 as journalled; written by this code) and re-runs only the
        journalled inputs and ticks after it, streaming the journal (memory does
        not grow with its length). Without a usable snapshot it re-runs the whole
        journal, as a full replay does. The chain is checked along the way.

        Outputs produced are checked against the recorded ones as they come, and
        any the crash kept from being written are appended (and emitted). Sinks
        see only those appended outputs; rebuild file sinks with
        :func:`recorded_outputs`.
        """
        if self.stage_process is not None:
            raise RuntimeError(
                "recover() before start_stage_process(): the stage process starts from the recovered state"
            )
        rep = RecoveryReport()
        j = self.journal
        if j is None:
            return rep
        last_cp = j.last_entry("checkpoint")
        rep.unsigned_tail = j.last_seq - (last_cp.seq if last_cp is not None else 0)
        start, prev = 1, ZERO_HASH
        loaded = self._load_snapshot(rep)
        if loaded is None and j.first_seq > 1:
            raise RecoveryError(
                f"recovery: no usable snapshot, and entries 1..{j.first_seq - 1} were archived or pruned: "
                "the state cannot be rebuilt here (restore the snapshot files, or replay with the archive)"
            )
        skip = 0  # outputs of work before the snapshot, journalled after its position
        if loaded is not None:
            covers, prev, skip = loaded
            start = covers + 1
            rep.snapshot = covers
            self._after_snapshot = j.last_seq
        pending: deque[Envelope] = deque()
        n_out = 0
        for e in j.entries(start):
            if e.prev_hash != prev or entry_hash(prev, e.seq, e.ts, e.kind, e.payload) != e.hash:
                raise TamperedJournalError(
                    f"recovery: journal entry {e.seq} does not match the chain "
                    "(altered, removed or reordered; check it with `tocsin journal verify`)"
                )
            prev = e.hash
            rep.entries_read += 1
            for k in self.keepers.values():
                k.replay_entry(e)
            if e.kind == "input":
                env = decode_json(e.payload, checked=True)
                self.ingress.restore(env)
                self.metrics.inputs[env.kind] += 1
                if self.data_time is None or env.sent > self.data_time:
                    self.data_time = env.sent
                pending.extend(self._run(env))
                rep.inputs += 1
            elif e.kind == "tick":
                pending.extend(self._advance(_tick_time(e.payload)))
                rep.ticks += 1
            elif e.kind == "output" and skip:
                skip -= 1  # (not re-run: the snapshot holds their effect; counted as live)
                self.metrics.outputs[decode_json(e.payload, checked=True).kind] += 1
            elif e.kind == "output":
                n_out += 1
                if not pending:
                    raise NondeterminismError(
                        f"recovery: the journal has output {n_out} (entry {e.seq}), the stages produced none"
                    )
                got = pending.popleft()
                if encode_json(got) != e.payload:
                    raise NondeterminismError(
                        f"recovery: output {n_out} (entry {e.seq}) differs from the journal"
                    )
                self.metrics.outputs[got.kind] += 1
        rep.outputs_recorded = n_out
        if pending:
            missing = list(pending)
            j.append_many(("output", encode_json(e)) for e in missing)
            self._emit(missing)
            rep.outputs_appended = len(missing)
        j.append("note", json.dumps({"event": "recovered", **rep.as_note()}).encode())
        self._maybe_checkpoint(force=True)
        self.recovered = True
        return rep

    def _load_snapshot(self, rep: RecoveryReport) -> tuple[int, bytes, int] | None:
        """Restore the stages from the newest usable snapshot; the sequence
        number it covers, that entry's hash, and how many outputs after it
        belong to work before the snapshot; or None (reasons in ``rep``)."""
        j, pol = self.journal, self.snapshots
        if j is None or pol is None:
            return None
        from tocsin.journal import snapshot as snap

        # the state as built: put back if a snapshot fails half-way through
        # loading (a keeper refusing its part), so that the one before it, or a
        # full replay, starts from fresh stages
        fresh: tuple[list[Any], dict[str, Any]] | None = None
        for entry in j.entries_of_kind_desc("snapshot", limit=pol.keep + 1):
            try:
                header = self._check_snapshot_entry(entry)
                blob = (pol.directory / header["file"]).read_bytes()
                if hashlib.sha256(blob).hexdigest() != header["sha256"]:
                    raise snap.SnapshotError("file does not match the SHA-256 journalled for it")
                state = snap.loads(blob)
                if fresh is None:
                    fresh = (
                        [snap.capture(s) for s in self.stages],
                        {name: k.snapshot_state() for name, k in self.keepers.items()},
                    )
                try:
                    self._restore(state)
                except BaseException:
                    for stage, st in zip(self.stages, fresh[0], strict=True):
                        snap.restore(stage, st)
                    for name, k in self.keepers.items():
                        k.restore_state(fresh[1][name])
                    raise
            except (snap.SnapshotError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                rep.snapshots_skipped.append(f"entry {entry.seq}: {exc}")
                continue
            self._snapshot_files.append(header["file"])
            self._last_snapshot_bytes, self._bytes_at_snapshot = len(blob), j.appended_bytes
            self.metrics.stage_errors += int(header.get("stage_errors_before", 0))
            return int(header["covers"]), header["prev"], int(header.get("outputs_before", 0))
        return None

    def _check_snapshot_entry(self, entry: Entry) -> dict[str, Any]:
        """The header of a snapshot entry this run may load, or SnapshotError."""
        from tocsin.journal import snapshot as snap
        from tocsin.journal.store import check_checkpoint

        j = self.journal
        assert j is not None
        if entry_hash(entry.prev_hash, entry.seq, entry.ts, entry.kind, entry.payload) != entry.hash:
            raise snap.SnapshotError("entry does not match its hash")
        if self.checkpoint_key is not None:
            # the node signs a checkpoint right after each snapshot entry: a
            # snapshot entry someone appended without the key is never loaded
            cp = j.entry(entry.seq + 1)
            problem = "no checkpoint follows it"
            if cp is not None and cp.kind == "checkpoint" and cp.prev_hash == entry.hash:
                pub = self.checkpoint_key.public_key()
                problem = check_checkpoint(cp.payload, entry.seq, entry.hash, pub)
            if problem:
                raise snap.SnapshotError(f"not signed by this node's key ({problem})")
        header: dict[str, Any] = json.loads(entry.payload)
        if header.get("format") != snap.FORMAT:
            raise snap.SnapshotError(f"format {header.get('format')!r}, not {snap.FORMAT}")
        if header.get("code") != snap.code_fingerprint():
            raise snap.SnapshotError("written by other code (an upgrade): replaying instead")
        if header.get("stages") != [snap.qualname(s) for s in self.stages]:
            raise snap.SnapshotError(f"holds stages {header.get('stages')}, this run has others")
        covers = header["covers"]
        after = (header.get("outputs_before", 0), header.get("stage_errors_before", 0))
        if (
            not isinstance(covers, int)
            or not 0 <= covers < entry.seq
            or not all(isinstance(n, int) and n >= 0 for n in after)
            or "/" in header["file"]
            or "\\" in header["file"]
        ):
            raise snap.SnapshotError("header does not fit its place in the journal")
        if covers == entry.seq - 1:
            header["prev"] = entry.prev_hash
        else:  # (written later than the entry it covers: recovery starts after that one)
            base = j.entry(covers)
            if base is None:
                raise snap.SnapshotError(f"entry {covers}, which it covers, is no longer in the journal")
            header["prev"] = base.hash
        return header

    def _restore(self, state: dict[str, Any]) -> None:
        from tocsin.journal import snapshot as snap

        stages = state["stages"]
        if isinstance(stages, bytes):  # (written by a stage process)
            stages = snap.loads_pickled(stages)
        if not isinstance(stages, list) or len(stages) != len(self.stages):
            raise snap.SnapshotError("snapshot has another number of stages")
        windows, accepted, pipe = state["windows"], state["accepted"], state["pipeline"]
        if not isinstance(windows, dict) or not all(isinstance(w, SeqWindow) for w in windows.values()):
            raise snap.SnapshotError("snapshot replay windows are malformed")
        if not isinstance(accepted, Counter) or not isinstance(pipe.get("metrics"), Metrics):
            raise snap.SnapshotError("snapshot counters are malformed")
        keepers = state.get("keepers", {})
        if not isinstance(keepers, dict):
            raise snap.SnapshotError("snapshot keepers are malformed")
        data_time, last_tick = pipe["data_time"], pipe["last_tick"]
        snap.check_types(self.stages, stages)
        for stage, st in zip(self.stages, stages, strict=True):
            snap.restore(stage, st)
        for name, k in self.keepers.items():
            if name in keepers:
                k.restore_state(keepers[name])
        self.ingress.windows.clear()
        self.ingress.windows.update(windows)
        self.ingress.accepted.update(accepted)
        self.data_time, self.last_tick = data_time, last_tick
        m: Metrics = pipe["metrics"]
        self.metrics.inputs.update(m.inputs)
        self.metrics.outputs.update(m.outputs)
        self.metrics.ticks += m.ticks
        self.metrics.stage_errors += m.stage_errors


class RecoveryError(RuntimeError):
    """A restart cannot rebuild the node's state from its journal."""


class TamperedJournalError(RecoveryError):
    """Recovery found an entry that does not fit the hash chain."""


def _snapshot_covers(name: str) -> int | None:
    digits = name.removeprefix("snapshot-").split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def stages_by_name(
    name: str, mode: Mode | None = None, config: WarningConfig | None = None, *, instance: str | None = None
) -> list[Stage]:
    """``"default"`` (fusion + warning, in ``mode`` with policy ``config``: see
    :func:`default_stages`) or ``"toy"`` (the deterministic stand-ins, which
    only ever make Exercise alerts: refused with a live mode)."""
    if name == "toy":
        if mode is not None and mode.live:
            raise ValueError("the toy stages cannot run live")
        from tocsin.exchange.samples import toy_stages

        return toy_stages()
    if name == "default":
        # (the instance only when there is one: callers and stand-ins of the older
        # two-argument default_stages keep working)
        return default_stages(mode, config, instance=instance) if instance else default_stages(mode, config)
    raise ValueError(f"unknown stage set {name!r}")


def note_start(
    journal: Journal,
    stages: str,
    role: str,
    mode: Mode | None = None,
    policy: dict[str, Any] | None = None,
    instance: str | None = None,
) -> None:
    """Record which stage set a run used, so a replay can pick the same one.

    With ``mode``, also the warning mode (``drill``/``live``, its status and,
    live, who authorised it under which reference: the journal is the audit
    trail); with ``policy``, the warning policy as plain data (so a replay runs
    the same policy); with ``instance``, the node and run identity the warning
    stage puts in alert identifiers (:func:`recorded_instance`). Journals
    without them (older runs) are drill runs with the default policy."""
    note: dict[str, Any] = {"event": "start", "stages": stages, "role": role}
    if instance is not None:
        note["instance"] = instance
    if mode is not None:
        note["mode"] = mode.name
        note["status"] = mode.status
        # open mode (no partner registry: its alerts' CAP notes say so)
        note["open"] = bool(getattr(mode, "open_inputs", False))
        auth = getattr(mode, "authorisation", None)
        if auth is not None:
            note["authorised_by"] = auth.authorised_by
            note["reference"] = auth.reference
            note["sender"] = auth.sender  # live alerts' CAP sender (warning.mode.live_sender)
    if policy is not None:
        note["policy"] = policy
    journal.append("note", json.dumps(note).encode())


def start_notes(journal: Journal) -> list[dict[str, Any]]:
    """Every start note of the journal, oldest first (one per start or restart;
    reads every segment: for replays, not restarts)."""
    notes: list[dict[str, Any]] = []
    for e in journal.entries(kinds=("note",)):
        try:
            d = json.loads(e.payload)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("event") == "start":
            notes.append(d)
    return notes


def last_start_note(journal: Journal) -> dict[str, Any] | None:
    """The newest start note (None: the journal has none), found through the
    index of notes, newest segment first: a restart does not read the journal.
    Each segment begins with a ``segment`` note carrying the start note of the
    run that opened it, so the answer survives archiving the older segments."""
    for e in journal.entries_of_kind_desc("note", limit=2**62):
        try:
            d = json.loads(e.payload)
        except ValueError:
            continue
        if not isinstance(d, dict):
            continue
        if d.get("event") == "start":
            return d
        if d.get("event") == "segment" and isinstance(d.get("start"), dict):
            start: dict[str, Any] = d["start"]
            return start
    return None


def recorded_stage_set(journal: Journal) -> str | None:
    """The stage set named by the journal's last start note, if any."""
    last = last_start_note(journal)
    name = last.get("stages") if last else None
    return name if isinstance(name, str) else None


def recorded_mode(journal: Journal) -> str:
    """``"live"`` if any start of the journal ran live (its outputs may carry
    ``Actual`` alerts), else ``"drill"`` (also for journals that predate the
    ``mode`` field)."""
    return "live" if any(n.get("mode") == "live" for n in start_notes(journal)) else "drill"


def recorded_live_sender(journal: Journal) -> str | None:
    """The CAP sender the last start's live authorisation named (None if that
    start was not live, or predates the field): a replay renders with it."""
    last = last_start_note(journal) or {}
    sender = last.get("sender") if last.get("mode") == "live" else None
    return sender if isinstance(sender, str) else None


def recorded_instance(journal: Journal) -> str | None:
    """The node and run identity of the journal's first start that recorded one:
    a restart continues it and a replay reproduces its alert identifiers."""
    for n in start_notes(journal):
        inst = n.get("instance")
        if isinstance(inst, str) and inst:
            return inst
    return None


def recorded_open(journal: Journal) -> bool:
    """Did the last start of the journal run in open mode (no partner registry)?
    (False for journals that predate the field.)"""
    last = last_start_note(journal)
    return bool(last.get("open", False)) if last else False


def recorded_policy(journal: Journal) -> dict[str, Any] | None:
    """The warning policy (plain data) of the last start note, if it has one."""
    last = last_start_note(journal)
    pol = last.get("policy") if last else None
    return pol if isinstance(pol, dict) else None


#: a signed message is journalled as received (so its signature can be checked
#: again from the journal) unless that is longer than its re-encoding by more
#: than this factor and margin (unknown fields: bounded disk, not the sender's choice)
RECEIVED_MAX_GROWTH = 1.25
RECEIVED_MAX_EXTRA = 64


def _keep_received(env: Envelope, raw: bytes, fmt: str, encoded: bytes) -> bool:
    return (
        fmt == "json"
        and env.v == 2
        and bool(env.sig)
        and len(raw) <= len(encoded) * RECEIVED_MAX_GROWTH + RECEIVED_MAX_EXTRA
        and raw[:1] == b"{"
    )


def _tick_payload(t: float) -> bytes:
    return json.dumps({"t": t}).encode()


def _tick_time(payload: bytes) -> float:
    return float(json.loads(payload)["t"])


# ---------------------------------------------------------------- replay & files


def recorded_outputs(journal: Journal) -> list[bytes]:
    """The outputs as recorded live (compact JSON, no newline)."""
    return [e.payload for e in journal.entries(kinds=("output",))]


def iter_replay(journal: Journal, stages: Sequence[Stage]) -> Iterator[Envelope]:
    """Re-run the journalled inputs and ticks through ``stages`` (a full replay,
    from the first entry); the outputs as they come (streamed: memory does not
    grow with the journal)."""
    pipe = Pipeline(stages)
    for entry in journal.entries(kinds=("input", "tick")):
        if entry.kind == "input":
            yield from pipe._run(decode_json(entry.payload, checked=True))
        else:
            yield from pipe._advance(_tick_time(entry.payload))


def replay_journal(journal: Journal, stages: Sequence[Stage]) -> list[Envelope]:
    """The outputs of :func:`iter_replay`, as a list."""
    return list(iter_replay(journal, stages))


def iter_recorded_outputs(journal: Journal) -> Iterator[bytes]:
    """The outputs as recorded live (compact JSON, no newline), streamed."""
    for e in journal.entries(kinds=("output",)):
        yield e.payload


#: which output kinds go to which file
OUTPUT_FILES: dict[str, str] = {"track": "tracks.jsonl", "alert": "alerts.jsonl"}


def write_outputs(directory: str | Path, outputs: Iterable[Envelope | bytes]) -> dict[str, int]:
    """Write tracks.jsonl and alerts.jsonl (atomically) from outputs; counts per file."""
    d = Path(directory)
    writers = {k: JsonlWriter(d / name) for k, name in OUTPUT_FILES.items()}
    try:
        for o in outputs:
            env = decode_json(o, checked=True) if isinstance(o, bytes) else o
            w = writers.get(env.kind)
            if w is not None:
                w.write(env)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    return {OUTPUT_FILES[k]: w.count for k, w in writers.items()}


class JsonlFileSink:
    """Appends outputs of the given kinds to a live JSON Lines file (one line each,
    flushed). Lines are byte-identical to what :func:`write_outputs` writes."""

    def __init__(self, path: str | Path, kinds: Iterable[str]) -> None:
        self.path = Path(path)
        self.kinds = frozenset(kinds)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - lives as long as the sink

    def emit(self, env: Envelope) -> None:
        if env.kind in self.kinds:
            self._fh.write(encode_json(env) + b"\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def file_sinks(directory: str | Path, journal: Journal | None = None) -> list[JsonlFileSink]:
    """tracks.jsonl / alerts.jsonl sinks in ``directory``; with a journal, the files
    are first rewritten from its recorded outputs (so a restart leaves them whole)."""
    d = Path(directory)
    if journal is not None:
        write_outputs(d, iter_recorded_outputs(journal))
    return [JsonlFileSink(d / name, [kind]) for kind, name in OUTPUT_FILES.items()]


StageFactory = Callable[[], list[Stage]]

__all__ = [
    "OUTPUT_FILES",
    "Item",
    "JsonlFileSink",
    "Keeper",
    "Metrics",
    "NondeterminismError",
    "Pipeline",
    "Raw",
    "RecoveryError",
    "RecoveryReport",
    "SegmentPolicy",
    "Sink",
    "SnapshotPolicy",
    "StageFactory",
    "TamperedJournalError",
    "default_stages",
    "file_sinks",
    "iter_recorded_outputs",
    "iter_replay",
    "last_start_note",
    "note_start",
    "recorded_instance",
    "recorded_live_sender",
    "recorded_mode",
    "recorded_open",
    "recorded_outputs",
    "recorded_policy",
    "recorded_stage_set",
    "replay_journal",
    "stages_by_name",
    "start_notes",
    "write_outputs",
]
