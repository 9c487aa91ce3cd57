"""The embedded exchange core: a bounded queue, one worker, and output fan-out.

::

    POST /v1/messages ──► bounded queue ──► worker thread: Pipeline.submit_batch
                              │ full: 429                    │
                              ▼                               ▼
                         per-line results ◄──────── Hub (sink) ──► SSE clients
                                                        └──► alert history, CAP feed

With a partner registry, each request's signatures are checked first in a
thread of its own (``Ingress.precheck``: Ed25519 verification releases the GIL,
so it runs on the other core while the worker processes earlier batches).
One worker owns the :class:`~tocsin.runtime.Pipeline` (journal writes and stages
are serial); it runs each batch in a thread so the event loop keeps serving
health checks and event streams while a commit fsyncs. *Group commit*: the
requests that queued up while a batch was processed are taken together as the
next batch, one journal commit for all of them; each request is answered after
that commit (nothing is acknowledged before it is durable). *Scan grace*: when
no request has arrived for the grace after the last one, the worker ticks the
stages (a journalled tick), so the tracker processes a radar scan as soon as
its plots stop coming rather than when the next scan or periodic tick comes.
The grace is learned per sensor from its own intra-scan plot spacing, between
``scan_grace_min_s`` and ``scan_grace_s`` (:mod:`tocsin.exchange.scangrace`);
the tick's time is journalled, so replays do not depend on it. The worker also ticks the
stages every ``tick_s`` seconds with the server clock (``wall``: the system time;
``data``: the latest accepted ``sent``, for playing recorded files faster than
real time).

*Stage process* (``ServerConfig.stage_process``, ``tocsin serve
--stage-process``): the stages run in a process of their own
(:mod:`tocsin.stageproc`) so verification, the journal and HTTP use one core
and fusion and warning the other. The worker then hands each committed batch
over (before the commit's fsync, which runs while the stages work) and answers
its requests once that fsync is done (inputs durable); a collector task
journals and emits the outputs as the stage process returns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tocsin.exchange.admission import LOCAL, Admission, AdmissionConfig, FairQueue
from tocsin.exchange.ingress import Prechecked, Verdict
from tocsin.exchange.links import LinkMonitor, LinkState
from tocsin.exchange.scangrace import ScanGrace, ScanGraceConfig
from tocsin.runtime import Pipeline
from tocsin.web.feed import CurrentAlerts
from tocsin.wire import Envelope, HeartbeatBody, PlotBody, encode_json

_T = TypeVar("_T")
_F = TypeVar("_F")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Limits and clocks of the embedded server."""

    #: largest accepted request body (bytes); bigger -> 413
    max_body_bytes: int = 4 * 1024 * 1024
    #: most messages in one request
    max_lines: int = 20_000
    #: batches waiting for the worker; beyond it -> 429
    queue_size: int = 256
    #: how long a request waits for its batch to be processed before 503
    request_timeout_s: float = 15.0
    #: stage tick period (0: never tick)
    tick_s: float = 1.0
    #: scan grace: when no message arrives for this long (wall time) after the
    #: last one, tick the stages (journalled like every tick), so a radar scan
    #: still buffered is processed now instead of when the next scan or the
    #: next periodic tick comes. Only with ticks on (``tick_s > 0``); 0 turns
    #: it off. The most it waits: a sensor whose scans have shown their spacing
    #: gets twice its longest intra-scan gap, at least ``scan_grace_min_s``
    #: (:mod:`tocsin.exchange.scangrace`)
    scan_grace_s: float = 0.02
    #: the least scan grace (a sensor whose scans always came whole)
    scan_grace_min_s: float = 0.002
    #: write the pipeline's timings (monotonic clock) as JSON Lines here: each
    #: batch, tick and collect, each stage-process reply and each output emitted
    #: (the latency breakdown of ``benchmarks/latency.py``); None: off
    trace_path: str | None = None
    #: group commit: up to this many queued messages (whole requests) are
    #: checked, journalled with one commit and processed together
    group_max_lines: int = 20_000
    #: run the stages (fusion, warning) in a process of their own
    #: (:mod:`tocsin.stageproc`), so ingest and fusion use separate cores;
    #: requests are then answered once their inputs are committed, and the
    #: outputs follow as the stage process returns them
    stage_process: bool = False
    clock: Literal["wall", "data"] = "wall"
    #: SSE keep-alive heartbeat period
    sse_heartbeat_s: float = 5.0
    #: events buffered per SSE client before it is dropped as too slow
    sse_client_buffer: int = 2048
    #: alerts kept for GET /v1/alerts and the CAP feed
    alert_history: int = 1000
    #: a partner link is flagged "silent" after this many heartbeat periods without a
    #: message; links are checked every quarter period, so a silent link is flagged
    #: within 1.75 periods (the requirement is 2)
    link_silent_periods: float = 1.5
    #: the heartbeat period partners promise (seconds)
    link_heartbeat_s: float = 5.0
    #: per-class quotas and fair-queue bounds (tocsin.exchange.admission); with
    #: ``queue_size`` the most requests queued in all
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)


def _nothing() -> None:
    return None


#: upper bounds (seconds) of the pipeline-thread timing histogram buckets
WORK_BUCKETS: tuple[float, ...] = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class WorkTimes:
    """How long each kind of work held the pipeline thread (a Prometheus
    histogram per kind: ``batch`` a group commit, ``tick``, ``collect`` the
    stage process's outputs journalled and emitted, ``housekeeping`` signed
    checkpoints, snapshots and rotations, ``exclusive`` operator actions,
    ``start``). Whatever holds that thread delays every request and every
    output queued behind it: the figure to read when latency has spikes."""

    counts: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    longest: dict[str, float] = field(default_factory=dict)

    def add(self, work: str, seconds: float) -> None:
        c = self.counts.get(work)
        if c is None:
            c = self.counts[work] = [0] * (len(WORK_BUCKETS) + 1)
        i = 0
        while i < len(WORK_BUCKETS) and seconds > WORK_BUCKETS[i]:
            i += 1
        c[i] += 1
        self.sums[work] = self.sums.get(work, 0.0) + seconds
        if seconds > self.longest.get(work, 0.0):
            self.longest[work] = seconds


class Tracer:
    """Timings of the pipeline as JSON Lines (``ServerConfig.trace_path``),
    on the monotonic clock (the same clock in every process of the machine,
    so a client's own timestamps line up with them). Thread-safe.

    The records are written by a thread of their own: the event loop and the
    pipeline thread only queue them. A file write on the event loop could wait
    for the filesystem's journal while the pipeline thread fsyncs the tocsin
    journal on the same disk (seen 2026-12-06 at load ~18: the event stream's
    step 1 -> 8-10 ms at p50 once outputs left during their fsync), so the
    trace would add to the latency it measures."""

    def __init__(self, path: str) -> None:
        import queue
        import threading

        self._f = open(path, "a")  # noqa: SIM115 (closed by close())
        self._q: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_all, name="tocsin-trace", daemon=True)
        self._writer.start()

    def _write_all(self) -> None:
        while True:
            line = self._q.get()
            if line is None:
                break
            self._f.write(line)
            if self._q.empty():
                self._f.flush()
        self._f.close()

    def write(self, record: dict[str, Any]) -> None:
        import json

        self._q.put(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        """Write what is queued and close the file (later records are dropped)."""
        if self._writer.is_alive():
            self._q.put(None)
            self._writer.join(10)


def in_send_order(group: list[tuple[list[Any], _F]]) -> list[tuple[list[Any], _F]]:
    """The requests of one batch in the order their messages were sent: by
    the earliest ``sent`` of each request's prechecked messages (a request
    with none, e.g. raw lines or one that failed its checks, keeps its place
    after the request that came before it), stable. The batch is journalled,
    and reaches the stages, in this order (so a replay meets it too).

    Why: concurrent connections' requests complete in any order once the
    server is behind (64 uploads read interleaved, 2026-12-06: 26 % of radar
    scans journalled after a later scan of another radar, up to 2 s, at
    20,000 plots/s under load), and the tracker re-filters a late scan into
    the history of every track it updates (~2-5 updates replayed each: half
    the stage process's time there). A batch is what queued while the last
    one was processed, so the more the server is behind, the more of that
    disorder one batch holds and this undoes: the feedback (behind -> late
    scans -> re-filters -> further behind) turns around. Nothing waits for it:
    the batch's requests are committed and answered together as before."""
    keys: list[float] = []
    last = -math.inf
    for lines, _ in group:
        k = math.inf
        for x in lines:
            env = x.env if isinstance(x, Prechecked) else None
            if env is not None and env.sent < k:
                k = env.sent
        if k == math.inf:
            k = last
        keys.append(k)
        last = k
    order = sorted(range(len(group)), key=keys.__getitem__)
    return [group[i] for i in order]


class QueueFull(Exception):
    """The worker queue is full (flood): answer 429."""


@dataclass
class Hub:
    """A sink that fans outputs out to SSE subscribers and keeps alert history.

    :meth:`emit` may be called from the worker thread; it hands over to the loop.
    """

    loop: asyncio.AbstractEventLoop
    client_buffer: int = 2048
    history: deque[Envelope] = field(default_factory=lambda: deque(maxlen=1000))
    #: the warnings in force and the CAP documents issued (the CAP feed)
    current: CurrentAlerts = field(default_factory=CurrentAlerts)
    subscribers: set[asyncio.Queue[tuple[str, bytes] | None]] = field(default_factory=set)
    dropped_clients: int = 0
    events: int = 0
    tracer: Tracer | None = None

    def emit(self, env: Envelope) -> None:
        self.emit_encoded(env, encode_json(env))

    def emit_encoded(self, env: Envelope, data: bytes) -> None:
        """:meth:`emit` with ``env`` already encoded (``data``: its JSON, as
        the stage process returned and the journal holds it)."""
        if env.kind == "alert":
            self.history.append(env)
            self.current.add(env)
        self.loop.call_soon_threadsafe(self.publish, env.kind, data)
        if self.tracer is not None and env.kind in ("track", "alert"):
            body: Any = env.body
            ident = body.id if env.kind == "track" else (body.tracks[0] if body.tracks else None)
            self.tracer.write(
                {
                    "ev": "out",
                    "at": time.monotonic(),
                    "kind": env.kind,
                    "id": ident,
                    "t": getattr(body, "t", None),
                }
            )

    def publish(self, event: str, data: bytes) -> None:
        """Send one event to every subscriber (on the loop)."""
        self.events += 1
        for q in list(self.subscribers):
            try:
                q.put_nowait((event, data))
            except asyncio.QueueFull:
                # too slow: drop the client rather than grow without bound
                self.subscribers.discard(q)
                self.dropped_clients += 1
                with contextlib.suppress(asyncio.QueueFull):
                    q.get_nowait()
                    q.put_nowait(None)

    def subscribe(self) -> asyncio.Queue[tuple[str, bytes] | None]:
        q: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(self.client_buffer)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, bytes] | None]) -> None:
        self.subscribers.discard(q)


class AlertHistory:
    """The latest alerts (the stages' and the operators' manual ones), rebuilt
    after a restart from the snapshot and the journal after it
    (a :class:`tocsin.runtime.Keeper`), not from the whole journal."""

    def __init__(self, size: int) -> None:
        self.items: deque[Envelope] = deque(maxlen=size)

    def snapshot_state(self) -> Any:
        return [encode_json(e) for e in self.items]

    def restore_state(self, state: Any) -> None:
        from tocsin.wire import decode_json

        self.items.clear()
        self.items.extend(decode_json(b, checked=True) for b in state)

    def replay_entry(self, entry: Any) -> None:
        from tocsin.wire import decode_json

        if entry.kind == "output" and b'"kind":"alert"' in entry.payload[:40]:
            self.items.append(decode_json(entry.payload, checked=True))
        elif entry.kind == "operator" and b'"event":"issued"' in entry.payload:
            import json

            try:
                alert = json.dumps(json.loads(entry.payload)["alert"]).encode()
                self.items.append(decode_json(alert, checked=True))
            except Exception:  # a damaged entry must not stop recovery; verify names it
                return


class Exchange:
    """The embedded server's core: queue, worker, hub, link health, counters."""

    def __init__(
        self,
        pipeline: Pipeline,
        config: ServerConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        mode: str = "open",
        stage_recipe: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        #: how the stage process builds its stages (with ``config.stage_process``)
        self.stage_recipe = stage_recipe
        self._collector: asyncio.Task[None] | None = None
        self._outputs_ready: asyncio.Event | None = None
        self.config = config or ServerConfig()
        self.wall_clock = wall_clock
        self.mode = mode
        self.http_rejects: Counter[str] = Counter()
        self.tick_errors = 0
        #: group commit: journal commits of request batches, and requests they covered
        self.commits = 0
        self.committed_requests = 0
        self.monitor = LinkMonitor(self.config.link_heartbeat_s, self.config.link_silent_periods)
        self.links = self.monitor.links
        self.started = wall_clock()
        # a batch of lines (bytes, or Prechecked), or a function to run on the
        # worker (run_exclusive): one queue per class, fair (tocsin.exchange.admission)
        self._queue: FairQueue[tuple[list[Any] | Callable[[], Any], asyncio.Future[Any]]] | None = None
        #: rate quotas per class and client (checked by the HTTP handler)
        self.admission = Admission(self.config.admission)
        #: messages refused because their class's queue was full, per class
        self.queue_full_messages: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self.hub: Hub | None = None
        self._stopped = False
        #: stop() was called: no new batches; the worker drains the queue and ends
        self._closing = False
        #: stop() drained the queue and closed the pipeline without an error
        self.closed_cleanly = False
        self._pipeline_thread = ThreadPoolExecutor(1, thread_name_prefix="tocsin-pipeline")
        #: time each kind of work held the pipeline thread (/metrics)
        self.work_times = WorkTimes()
        #: alerts for GET /v1/alerts and the CAP feed, kept across restarts
        self.alert_history = AlertHistory(self.config.alert_history)
        pipeline.keep("alert_history", self.alert_history)
        #: the warnings in force and the CAP documents issued (the CAP feed), kept across restarts
        self.current_alerts = CurrentAlerts()
        pipeline.keep("cap_feed", self.current_alerts)
        #: the scan grace learned from each sensor's intra-scan plot spacing
        self.scan_grace = ScanGrace(
            ScanGraceConfig(
                max_s=self.config.scan_grace_s,
                min_s=min(self.config.scan_grace_min_s, self.config.scan_grace_s),
            )
        )
        #: ticks made by the scan grace, and by the periodic tick
        self.grace_ticks = 0
        #: arrival (monotonic) of each queued request, and of the latest one
        self._arrived: dict[asyncio.Future[Any], float] = {}
        #: (tracing) when the HTTP handler got each request (Exchange.submit ``received``)
        self._received: dict[asyncio.Future[Any], float] = {}
        #: (tracing) per kind of work, the marks of its latest run on the
        #: pipeline thread: when it ``began`` there (after any work queued
        #: before it), ``handed`` its inputs or tick to the stage process, and
        #: its journal fsync ended (``synced``), each if it did (:meth:`_trace_marks`)
        self._work_marks: dict[str, dict[str, float]] = {}
        self._last_arrival = 0.0
        self.tracer = Tracer(self.config.trace_path) if self.config.trace_path else None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # the history and the CAP feed's state as recovery left them (keepers:
        # snapshot + journal tail)
        self.hub = Hub(
            loop,
            self.config.sse_client_buffer,
            self.alert_history.items,
            current=self.current_alerts,
            tracer=self.tracer,
        )
        self.pipeline.sinks.append(self.hub)
        self._queue = FairQueue(self.config.admission, max_requests_total=self.config.queue_size)
        if self.config.stage_process:
            if self.stage_recipe is None:
                raise RuntimeError(
                    "ServerConfig.stage_process needs a stage recipe (Exchange(stage_recipe=...))"
                )
            ready = self._outputs_ready = asyncio.Event()
            tracer = self.tracer

            def wake() -> None:  # (from the stage process's reply thread)
                if tracer is not None:
                    tracer.write({"ev": "reply", "at": time.monotonic()})
                # (its last replies may come after the event loop has closed)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(ready.set)

            self.pipeline.on_outputs = wake
            # (after recovery: the stage process starts from the recovered state)
            await self._on_pipeline_thread(
                self.pipeline.start_stage_process, self.stage_recipe, work_="start"
            )
            self._collector = asyncio.create_task(self._collect(), name="tocsin-collector")
        self._task = asyncio.create_task(self._worker(), name="tocsin-worker")

    async def stop(self, drain_s: float = 10.0) -> None:
        """Stop cleanly: refuse new batches (429), let the worker finish the
        batches already queued (at most ``drain_s`` seconds; requests still
        waiting then were never journalled and get no answer), then close the
        pipeline (a last snapshot, a signed checkpoint, the journal and its WAL).
        :attr:`closed_cleanly` says whether all of that happened."""
        self._closing = True
        if self._task is not None:
            if self._queue is not None:  # wake the worker if it waits for work
                with contextlib.suppress(asyncio.QueueFull):
                    self._queue.put_nowait((_nothing, asyncio.get_running_loop().create_future()))
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain_s)
            except TimeoutError:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._stopped = True
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        # a batch or tick already running on the pipeline thread goes on after
        # the worker task is cancelled: let it finish before closing the journal
        # under it (closing SQLite during a commit crashes the process)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pipeline_thread.shutdown)
        # (with a stage process, close waits for its last outputs: off the loop)
        await loop.run_in_executor(None, self.pipeline.close)
        self.closed_cleanly = True
        if self.tracer is not None:
            self.tracer.close()
        if self.hub is not None:
            for q in list(self.hub.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)

    @property
    def worker_alive(self) -> bool:
        proc = self.pipeline.stage_process
        if proc is not None and not proc.alive:
            return False  # the stages are gone: health says so (a restart recovers)
        if self.pipeline.failed is not None:
            return False  # the journal's fsync failed: nothing more is taken (a restart recovers)
        return self._task is not None and not self._task.done() and not self._stopped

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    # ------------------------------------------------------------ input

    async def submit(
        self,
        lines: Sequence[bytes | Prechecked],
        *,
        key: str = LOCAL,
        nbytes: int | None = None,
        received: float | None = None,
    ) -> list[Verdict]:
        """Queue a batch in the queue of its class ``key`` (fair scheduling:
        :mod:`tocsin.exchange.admission`); wait for its verdicts. Raises
        QueueFull (that class's queue, or all of them, full) or TimeoutError.

        The verdicts come after the batch's inputs and outputs are committed to
        the journal (group commit: batches queued together share one commit).
        ``received``: when the HTTP handler got the request (monotonic; for the
        trace only: its body read and precheck are the time from it to here)."""
        if self._queue is None:
            raise RuntimeError("exchange not started")
        if self._closing:
            raise QueueFull  # stopping: the client retries against the next run
        fut: asyncio.Future[list[Verdict]] = asyncio.get_running_loop().create_future()
        size = (
            nbytes
            if nbytes is not None
            else sum(len(x) if isinstance(x, bytes) else len(x.data) for x in lines)
        )
        try:
            self._queue.put_nowait((list(lines), fut), key=key, cost=len(lines), nbytes=size)
        except asyncio.QueueFull:
            self.queue_full_messages[key] += len(lines)
            raise QueueFull from None
        self._arrived[fut] = self._last_arrival = time.monotonic()
        if received is not None and self.tracer is not None:
            self._received[fut] = received
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.config.request_timeout_s)
        finally:
            self._arrived.pop(fut, None)
            self._received.pop(fut, None)

    async def run_exclusive(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the worker between batches and ticks: the way for other code
        (the dashboard's operator actions) to write the journal or emit to the sinks
        without racing the pipeline. Raises QueueFull or TimeoutError like submit."""
        if self._queue is None:
            raise RuntimeError("exchange not started")
        if self._closing:
            raise QueueFull
        fut: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((fn, fut))
        except asyncio.QueueFull:
            raise QueueFull from None
        return await asyncio.wait_for(asyncio.shield(fut), self.config.request_timeout_s)

    def now(self) -> float:
        """The stage clock (see module doc)."""
        if self.config.clock == "data":
            return self.pipeline.data_time if self.pipeline.data_time is not None else 0.0
        return self.wall_clock()

    async def _worker(self) -> None:
        assert self._queue is not None
        cfg = self.config
        last_tick = self.wall_clock()
        wake = cfg.link_heartbeat_s / 4.0
        if cfg.tick_s > 0:
            wake = min(wake, cfg.tick_s)
        graced = cfg.tick_s > 0 and cfg.scan_grace_s > 0
        held: tuple[list[Any] | Callable[[], Any], asyncio.Future[Any]] | None = None
        unticked = False  # inputs processed since the last tick
        tracer = self.tracer
        while True:
            item: tuple[list[Any] | Callable[[], Any], asyncio.Future[Any]] | None
            quiet = False  # no request for the scan grace
            if held is not None:
                item, held = held, None
            elif self._closing and self._queue.empty():
                return  # drained (stop)
            else:
                timeout = wake
                if unticked and graced:
                    # the grace runs from the latest request's arrival (not from
                    # the end of its commit): no message for that long
                    timeout = min(wake, self._last_arrival + self.scan_grace.grace_s() - time.monotonic())
                if self._closing:
                    timeout = 0.01
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                elif timeout <= 0:
                    item, quiet = None, True
                else:
                    try:
                        item = await asyncio.wait_for(self._queue.get(), max(timeout, 0.0))
                    except TimeoutError:
                        item, quiet = None, True
            if item is None and quiet and unticked and graced:
                # quiet for the scan grace: whatever scan is buffered is complete
                grace_s = self.scan_grace.grace_s()
                t0 = time.monotonic()
                if await self._tick(complete=True):
                    last_tick = self.wall_clock()
                    self.grace_ticks += 1
                    if tracer is not None:
                        tracer.write({
                            "ev": "tick", "why": "grace", "grace_s": grace_s,
                            "quiet_from": self._last_arrival, "start": t0, "done": time.monotonic(),
                            **self._trace_marks("tick"),
                        })  # fmt: skip
                unticked = False
            if item is not None:
                lines, fut = item
                if fut.cancelled():
                    continue
                if callable(lines):  # run_exclusive
                    try:
                        res = await self._on_pipeline_thread(lines, work_="exclusive")
                    except Exception as exc:
                        if not fut.done():
                            fut.set_exception(exc)
                        continue
                    if not fut.done():
                        fut.set_result(res)
                    continue
                # group commit: every request queued meanwhile joins this batch
                group = [(lines, fut)]
                n = len(lines)
                # (one round of the fair queue at most: one quantum of each class)
                while n < cfg.group_max_lines and self._queue.more_in_round():
                    nxt = self._queue.get_nowait()
                    if callable(nxt[0]):
                        held = nxt  # keep run_exclusive in its place: after this group
                        break
                    if not nxt[1].cancelled():
                        group.append((nxt[0], nxt[1]))
                        n += len(nxt[0])
                if len(group) > 1:
                    group = in_send_order(group)
                flat = [x for ls, _ in group for x in ls]
                now = self.wall_clock() if cfg.clock == "wall" else None
                t0 = time.monotonic()
                try:
                    verdicts = await self._on_pipeline_thread(
                        self.pipeline.submit_batch, flat, now=now, work_="batch"
                    )
                except Exception as exc:  # journal failure etc.: the requests learn, the server goes on
                    for _, f in group:
                        if not f.done():
                            f.set_exception(exc)
                    continue
                self.commits += 1
                self.committed_requests += len(group)
                self._note_links(verdicts)
                i = 0
                for ls, f in group:
                    if graced:
                        self.scan_grace.seen_all(verdicts[i : i + len(ls)], self._arrived.get(f, t0))
                    if not f.done():
                        f.set_result(verdicts[i : i + len(ls)])
                    i += len(ls)
                if tracer is not None:
                    self._trace_batch(group, verdicts, t0)
                unticked = True
            if cfg.tick_s > 0 and self.wall_clock() - last_tick >= cfg.tick_s:
                last_tick = self.wall_clock()
                t0 = time.monotonic()
                if await self._tick():
                    unticked = False
                    if tracer is not None:
                        tracer.write({
                            "ev": "tick", "why": "period", "start": t0, "done": time.monotonic(),
                            **self._trace_marks("tick"),
                        })  # fmt: skip
            if self.pipeline.housekeeping_due(self.wall_clock()):
                try:  # signed checkpoints on the wall clock (runtime.Pipeline.housekeeping)
                    await self._on_pipeline_thread(
                        self.pipeline.housekeeping, self.wall_clock(), work_="housekeeping"
                    )
                except Exception:
                    self.tick_errors += 1
            self._check_links()

    async def _collect(self) -> None:
        """With a stage process: journal and emit its outputs as they come (on
        the pipeline thread, between batches and ticks)."""
        assert self._outputs_ready is not None
        while True:
            await self._outputs_ready.wait()
            self._outputs_ready.clear()
            t0 = time.monotonic()
            try:
                await self._on_pipeline_thread(self.pipeline.collect, work_="collect")
                if self.tracer is not None:
                    self.tracer.write({
                        "ev": "collect", "start": t0, "done": time.monotonic(), **self._trace_marks("collect")
                    })  # fmt: skip
            except Exception:  # the journal failed, or the stage process died: health says so
                self.tick_errors += 1
                if not self.worker_alive:
                    return

    async def _on_pipeline_thread(
        self, fn: Callable[..., _T], *args: Any, work_: str = "other", **kw: Any
    ) -> _T:
        """Run ``fn`` on the one thread that touches the pipeline (journal and
        stages), keeping the event loop free; its time is booked under
        ``work_`` (:class:`WorkTimes`)."""
        loop = asyncio.get_running_loop()
        times = self.work_times

        marks = self._work_marks if self.tracer is not None else None
        pipe = self.pipeline

        def timed() -> _T:
            t0 = time.perf_counter()
            began = time.monotonic()
            try:
                return fn(*args, **kw)
            finally:
                times.add(work_, time.perf_counter() - t0)
                if marks is not None:  # (tracing: read by the one task that runs this kind of work)
                    got = {"began": began, "handed": pipe.handed_at, "synced": pipe.synced_at}
                    marks[work_] = {k: v for k, v in got.items() if v >= began}

        return await loop.run_in_executor(self._pipeline_thread, timed)

    async def _tick(self, complete: bool = False) -> bool:
        """Tick the stages at :meth:`now` (if time moved on); True if it ticked.
        ``complete``: a scan grace's tick (:meth:`Pipeline.tick`)."""
        t = self.now()
        if t <= 0 or (self.pipeline.last_tick is not None and t <= self.pipeline.last_tick):
            return False
        try:
            await self._on_pipeline_thread(self.pipeline.tick, t, complete=complete, work_="tick")
        except Exception:  # e.g. the journal failed: counted, health says so
            self.tick_errors += 1
            return False
        return True

    def _trace_batch(
        self, group: list[tuple[list[Any], asyncio.Future[Any]]], verdicts: list[Verdict], t0: float
    ) -> None:
        assert self.tracer is not None
        arrived = [self._arrived.get(f, t0) for _, f in group]
        received = [self._received.get(f, a) for (_, f), a in zip(group, arrived, strict=True)]
        plots: list[tuple[str, float]] = []
        for v in verdicts:
            for env in v.accepted_envs():
                if isinstance(env.body, PlotBody) and (env.body.sensor, env.body.t) not in plots[-1:]:
                    plots.append((env.body.sensor, env.body.t))
        self.tracer.write({
            "ev": "batch", "arrived": [min(arrived), max(arrived)],
            "received": [min(received), max(received)], "start": t0, "done": time.monotonic(),
            "plots": plots, **self._trace_marks("batch"),
        })  # fmt: skip

    def _trace_marks(self, work: str) -> dict[str, float]:
        """(tracing) The pipeline thread's marks of the latest ``work`` (batch,
        tick, collect): when it began there, handed work to the stage process
        and ended its fsync, each if it did; taken once, by the one task that
        runs that kind of work, right after it."""
        return self._work_marks.pop(work, {})

    # ------------------------------------------------------------ link health

    def _note_links(self, verdicts: list[Verdict]) -> None:
        now = self.wall_clock()
        for v in verdicts:
            if v.ok and v.env is not None:
                back = self.monitor.seen(v.env.partner, now, heartbeat=isinstance(v.env.body, HeartbeatBody))
                if back:
                    self._link_event(v.env.partner, self.links[v.env.partner])

    def _check_links(self) -> None:
        for p in self.monitor.check(self.wall_clock()):
            self._link_event(p, self.links[p])

    def _link_event(self, partner: str, st: LinkState) -> None:
        if self.hub is not None:
            import json

            data = json.dumps(
                {"partner": partner, "silent": st.silent, "last_seen": st.last_seen}, separators=(",", ":")
            ).encode()
            self.hub.publish("link", data)


__all__ = ["WORK_BUCKETS", "Exchange", "Hub", "QueueFull", "ServerConfig", "WorkTimes"]
