"""The one place where stages meet transports, the journal and sinks.

``tocsin serve``, ``tocsin node`` and ``tocsin replay`` all run a :class:`Pipeline`::

    message ──► ingress ──► journal (input) ──► stages ──► journal (output) ──► sinks
                   │
                   └──► journal (reject), counters

Inputs are journalled (and committed) *before* the stages see them; outputs are
journalled before any sink sees them. Ticks (time advancing with no input) are
journalled as inputs too, because they change stage state. So the accepted inputs
and ticks in the journal, re-run through fresh stages, give the same outputs in
the same order — that is :func:`replay_journal`, and it is also how a restarted
node recovers (:meth:`Pipeline.recover`): it rebuilds stage and replay-window
state from the journal and appends any outputs the crash kept from being
written.

Nothing here reads the wall clock: times come in as arguments (the server's loop
owns the clock).
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin.exchange.ingress import Ingress, SeqWindow, Verdict
from tocsin.journal.store import Journal
from tocsin.stage import Stage, run_pipeline
from tocsin.wire import Envelope, JsonlWriter, decode_json, encode_json

if TYPE_CHECKING:  # the runtime itself never imports the warning package
    from tocsin.warning.mode import Mode
    from tocsin.warning.policy import WarningConfig


class Sink(Protocol):
    """Where outputs go after they are journalled (SSE hub, files, NATS, webhooks)."""

    def emit(self, env: Envelope) -> None: ...


@dataclass(frozen=True, slots=True)
class Raw:
    """Undecoded message bytes and their encoding (``json`` or ``msgpack``)."""

    data: bytes
    fmt: str = "json"


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
        stages.extend(consistency.with_consistency([tracker]))
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
    inputs: int = 0
    ticks: int = 0
    outputs_recorded: int = 0
    outputs_appended: int = 0


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
    ) -> None:
        self.stages = list(stages)
        self.checkpoint_key = checkpoint_key
        self.checkpoint_every = checkpoint_every
        self._last_checkpoint = journal.last_seq if journal is not None else 0
        self.journal = journal
        self.sinks = list(sinks)
        self.ingress = ingress if ingress is not None else Ingress(None, max_skew_s=None)
        if journal is not None and self.ingress.recorder is None:
            self.ingress.recorder = journal
        self.metrics = Metrics()
        #: latest accepted ``sent`` (the data clock)
        self.data_time: float | None = None
        self.last_tick: float | None = None

    # ------------------------------------------------------------ input

    def submit(self, item: bytes | Raw | Envelope, *, now: float | None = None) -> Verdict:
        return self.submit_batch([item], now=now)[0]

    def submit_batch(
        self, items: Sequence[bytes | Raw | Envelope], *, now: float | None = None
    ) -> list[Verdict]:
        """Check, journal (one commit), process and emit a batch of messages.

        Returns one verdict per item in order.
        """
        verdicts: list[Verdict] = []
        accepted: list[Envelope] = []
        if self.journal is not None:
            try:
                with self.journal.transaction():
                    verdicts = self._check_all(items, now, accepted)
            except Exception:
                # nothing of the batch was journalled: forget its sequence numbers
                # too, so the sender's retry is not refused as a replay
                self._rebuild_windows()
                raise
        else:
            verdicts = self._check_all(items, now, accepted)
        outs: list[Envelope] = []
        for env in accepted:
            outs.extend(self._run(env))
        self._record(outs)
        self._maybe_checkpoint()
        return verdicts

    def _check_all(
        self, items: Sequence[bytes | Raw | Envelope], now: float | None, accepted: list[Envelope]
    ) -> list[Verdict]:
        verdicts = []
        for item in items:
            if isinstance(item, Raw):
                v = self.ingress.check_bytes(item.data, now=now, fmt=item.fmt)
            elif isinstance(item, bytes | bytearray | memoryview):
                v = self.ingress.check_bytes(bytes(item), now=now)
            else:
                v = self.ingress.check(item, now=now)
            verdicts.append(v)
            if v.ok and v.env is not None:
                env = v.env
                if self.journal is not None:
                    self.journal.append("input", encode_json(env))
                self.metrics.inputs[env.kind] += 1
                if self.data_time is None or env.sent > self.data_time:
                    self.data_time = env.sent
                accepted.append(env)
        return verdicts

    def _rebuild_windows(self) -> None:
        assert self.journal is not None
        self.ingress.windows.clear()
        for entry in self.journal.entries(kinds=("input",)):
            env = decode_json(entry.payload)
            key = (env.partner, env.source)
            win = self.ingress.windows.get(key)
            if win is None:
                win = self.ingress.windows[key] = SeqWindow(self.ingress.window)
            if win.status(env.seq) is None:
                win.mark(env.seq)

    def tick(self, t: float) -> list[Envelope]:
        """Advance every stage to ``t`` (journalled, so replay sees the same ticks)."""
        if self.journal is not None:
            self.journal.append("tick", _tick_payload(t))
        outs = self._advance(t)
        self._record(outs)
        self._maybe_checkpoint()
        return outs

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
        try:
            return run_pipeline(self.stages, env)
        except Exception:  # a stage bug must not stop the exchange; counted, replays identically
            self.metrics.stage_errors += 1
            return []

    def _advance(self, t: float) -> list[Envelope]:
        self.metrics.ticks += 1
        self.last_tick = t
        produced: list[Envelope] = []
        try:
            for i, stage in enumerate(self.stages):
                outs = stage.advance(t)
                produced.extend(outs)
                for e in outs:
                    produced.extend(run_pipeline(self.stages[i + 1 :], e))
        except Exception:
            self.metrics.stage_errors += 1
        return produced

    def _record(self, outs: list[Envelope]) -> None:
        if not outs:
            return
        if self.journal is not None:
            self.journal.append_many(("output", encode_json(e)) for e in outs)
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
        """Close sinks that can be closed, then the journal."""
        for s in self.sinks:
            close = getattr(s, "close", None)
            if callable(close):
                close()
        if self.journal is not None:
            self._maybe_checkpoint(force=True)
            self.journal.close()

    # ------------------------------------------------------------ recovery

    def recover(self) -> RecoveryReport:
        """Rebuild state from the journal after a restart (or crash).

        Re-runs every journalled input and tick through the (fresh) stages, marks
        their sequence numbers in the replay window, checks the outputs against
        the recorded ones and appends (and emits) any the crash cut off. Sinks see
        only those appended outputs; rebuild file sinks with :func:`recorded_outputs`.
        """
        rep = RecoveryReport()
        if self.journal is None:
            return rep
        recorded = [e.payload for e in self.journal.entries(kinds=("output",))]
        rep.outputs_recorded = len(recorded)
        produced: list[Envelope] = []
        for entry in self.journal.entries(kinds=("input", "tick")):
            if entry.kind == "input":
                env = decode_json(entry.payload)
                self.ingress.restore(env)
                self.metrics.inputs[env.kind] += 1
                if self.data_time is None or env.sent > self.data_time:
                    self.data_time = env.sent
                produced.extend(self._run(env))
                rep.inputs += 1
            else:
                produced.extend(self._advance(_tick_time(entry.payload)))
                rep.ticks += 1
        for i, (want, got) in enumerate(zip(recorded, produced, strict=False)):
            if encode_json(got) != want:
                raise NondeterminismError(f"recovery: output {i + 1} differs from the journal")
        if len(recorded) > len(produced):
            raise NondeterminismError(
                f"recovery: journal has {len(recorded)} outputs, stages produced {len(produced)}"
            )
        for e in produced[: len(recorded)]:
            self.metrics.outputs[e.kind] += 1
        missing = produced[len(recorded) :]
        if missing:
            self.journal.append_many(("output", encode_json(e)) for e in missing)
            self._emit(missing)
        rep.outputs_appended = len(missing)
        self.journal.append("note", json.dumps({"event": "recovered", **rep.__dict__}).encode())
        return rep


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
        auth = getattr(mode, "authorisation", None)
        if auth is not None:
            note["authorised_by"] = auth.authorised_by
            note["reference"] = auth.reference
            note["sender"] = auth.sender  # live alerts' CAP sender (warning.mode.live_sender)
    if policy is not None:
        note["policy"] = policy
    journal.append("note", json.dumps(note).encode())


def start_notes(journal: Journal) -> list[dict[str, Any]]:
    """Every start note of the journal, oldest first (one per start or restart)."""
    notes: list[dict[str, Any]] = []
    for e in journal.entries(kinds=("note",)):
        try:
            d = json.loads(e.payload)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("event") == "start":
            notes.append(d)
    return notes


def recorded_stage_set(journal: Journal) -> str | None:
    """The stage set named by the journal's last start note, if any."""
    notes = start_notes(journal)
    name = notes[-1].get("stages") if notes else None
    return name if isinstance(name, str) else None


def recorded_mode(journal: Journal) -> str:
    """``"live"`` if any start of the journal ran live (its outputs may carry
    ``Actual`` alerts), else ``"drill"`` (also for journals that predate the
    ``mode`` field)."""
    return "live" if any(n.get("mode") == "live" for n in start_notes(journal)) else "drill"


def recorded_live_sender(journal: Journal) -> str | None:
    """The CAP sender the last start's live authorisation named (None if that
    start was not live, or predates the field): a replay renders with it."""
    notes = start_notes(journal)
    last = notes[-1] if notes else {}
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


def recorded_policy(journal: Journal) -> dict[str, Any] | None:
    """The warning policy (plain data) of the last start note, if it has one."""
    notes = start_notes(journal)
    pol = notes[-1].get("policy") if notes else None
    return pol if isinstance(pol, dict) else None


def _tick_payload(t: float) -> bytes:
    return json.dumps({"t": t}).encode()


def _tick_time(payload: bytes) -> float:
    return float(json.loads(payload)["t"])


# ---------------------------------------------------------------- replay & files


def recorded_outputs(journal: Journal) -> list[bytes]:
    """The outputs as recorded live (compact JSON, no newline)."""
    return [e.payload for e in journal.entries(kinds=("output",))]


def replay_journal(journal: Journal, stages: Sequence[Stage]) -> list[Envelope]:
    """Re-run the journalled inputs and ticks through ``stages``; the outputs."""
    pipe = Pipeline(stages)
    out: list[Envelope] = []
    for entry in journal.entries(kinds=("input", "tick")):
        if entry.kind == "input":
            out.extend(pipe._run(decode_json(entry.payload)))
        else:
            out.extend(pipe._advance(_tick_time(entry.payload)))
    return out


#: which output kinds go to which file
OUTPUT_FILES: dict[str, str] = {"track": "tracks.jsonl", "alert": "alerts.jsonl"}


def write_outputs(directory: str | Path, outputs: Iterable[Envelope | bytes]) -> dict[str, int]:
    """Write tracks.jsonl and alerts.jsonl (atomically) from outputs; counts per file."""
    d = Path(directory)
    writers = {k: JsonlWriter(d / name) for k, name in OUTPUT_FILES.items()}
    try:
        for o in outputs:
            env = decode_json(o) if isinstance(o, bytes) else o
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
        write_outputs(d, recorded_outputs(journal))
    return [JsonlFileSink(d / name, [kind]) for kind, name in OUTPUT_FILES.items()]


StageFactory = Callable[[], list[Stage]]

__all__ = [
    "OUTPUT_FILES",
    "JsonlFileSink",
    "Metrics",
    "NondeterminismError",
    "Pipeline",
    "Raw",
    "RecoveryReport",
    "Sink",
    "StageFactory",
    "default_stages",
    "file_sinks",
    "note_start",
    "recorded_instance",
    "recorded_live_sender",
    "recorded_mode",
    "recorded_outputs",
    "recorded_policy",
    "recorded_stage_set",
    "replay_journal",
    "stages_by_name",
    "start_notes",
    "write_outputs",
]
