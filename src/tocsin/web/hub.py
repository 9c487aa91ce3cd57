"""The embedded exchange core: a bounded queue, one worker, and output fan-out.

::

    POST /v1/messages ──► bounded queue ──► worker thread: Pipeline.submit_batch
                              │ full: 429                    │
                              ▼                               ▼
                         per-line results ◄──────── Hub (sink) ──► SSE clients
                                                        └──► alert history, CAP feed

One worker owns the :class:`~tocsin.runtime.Pipeline` (journal writes and stages
are serial); it runs each batch in a thread so the event loop keeps serving
health checks and event streams while a commit fsyncs. The worker also ticks the
stages every ``tick_s`` seconds with the server clock (``wall``: the system time;
``data``: the latest accepted ``sent``, for playing recorded files faster than
real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tocsin.exchange.ingress import Verdict
from tocsin.exchange.links import LinkMonitor, LinkState
from tocsin.runtime import Pipeline
from tocsin.web.feed import CurrentAlerts
from tocsin.wire import Envelope, HeartbeatBody, encode_json

_T = TypeVar("_T")


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

    def emit(self, env: Envelope) -> None:
        if env.kind == "alert":
            self.history.append(env)
            self.current.add(env)
        data = encode_json(env)
        self.loop.call_soon_threadsafe(self.publish, env.kind, data)

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


class Exchange:
    """The embedded server's core: queue, worker, hub, link health, counters."""

    def __init__(
        self,
        pipeline: Pipeline,
        config: ServerConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        mode: str = "open",
    ) -> None:
        self.pipeline = pipeline
        self.config = config or ServerConfig()
        self.wall_clock = wall_clock
        self.mode = mode
        self.http_rejects: Counter[str] = Counter()
        self.tick_errors = 0
        self.monitor = LinkMonitor(self.config.link_heartbeat_s, self.config.link_silent_periods)
        self.links = self.monitor.links
        self.started = wall_clock()
        # a batch of lines, or a function to run on the worker (run_exclusive)
        self._queue: asyncio.Queue[tuple[list[bytes] | Callable[[], Any], asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.hub: Hub | None = None
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.hub = Hub(loop, self.config.sse_client_buffer, deque(maxlen=self.config.alert_history))
        if self.pipeline.journal is not None:
            for e in self.pipeline.journal.entries(kinds=("output",)):
                if b'"kind":"alert"' in e.payload[:40]:
                    from tocsin.wire import decode_json

                    env = decode_json(e.payload)
                    self.hub.history.append(env)
                    self.hub.current.add(env)
        self.pipeline.sinks.append(self.hub)
        self._queue = asyncio.Queue(self.config.queue_size)
        self._task = asyncio.create_task(self._worker(), name="tocsin-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._stopped = True
        self.pipeline.close()
        if self.hub is not None:
            for q in list(self.hub.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(None)

    @property
    def worker_alive(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopped

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    # ------------------------------------------------------------ input

    async def submit(self, lines: list[bytes]) -> list[Verdict]:
        """Queue a batch; wait for its verdicts. Raises QueueFull or TimeoutError."""
        if self._queue is None:
            raise RuntimeError("exchange not started")
        fut: asyncio.Future[list[Verdict]] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((lines, fut))
        except asyncio.QueueFull:
            raise QueueFull from None
        return await asyncio.wait_for(asyncio.shield(fut), self.config.request_timeout_s)

    async def run_exclusive(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the worker between batches and ticks: the way for other code
        (the dashboard's operator actions) to write the journal or emit to the sinks
        without racing the pipeline. Raises QueueFull or TimeoutError like submit."""
        if self._queue is None:
            raise RuntimeError("exchange not started")
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
        while True:
            item: tuple[list[bytes] | Callable[[], Any], asyncio.Future[Any]] | None
            try:
                item = await asyncio.wait_for(self._queue.get(), wake)
            except TimeoutError:
                item = None
            if item is not None:
                lines, fut = item
                if fut.cancelled():
                    continue
                if callable(lines):  # run_exclusive
                    try:
                        res = await asyncio.to_thread(lines)
                    except Exception as exc:
                        if not fut.done():
                            fut.set_exception(exc)
                        continue
                    if not fut.done():
                        fut.set_result(res)
                    continue
                now = self.wall_clock() if cfg.clock == "wall" else None
                try:
                    verdicts = await asyncio.to_thread(self.pipeline.submit_batch, lines, now=now)
                except Exception as exc:  # journal failure etc.: the request learns, the server goes on
                    if not fut.done():
                        fut.set_exception(exc)
                    continue
                self._note_links(verdicts)
                if not fut.done():
                    fut.set_result(verdicts)
            if cfg.tick_s > 0 and self.wall_clock() - last_tick >= cfg.tick_s:
                last_tick = self.wall_clock()
                t = self.now()
                if t > 0 and (self.pipeline.last_tick is None or t > self.pipeline.last_tick):
                    try:
                        await asyncio.to_thread(self.pipeline.tick, t)
                    except Exception:  # e.g. the journal failed: counted, health says so
                        self.tick_errors += 1
            self._check_links()

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


__all__ = ["Exchange", "Hub", "QueueFull", "ServerConfig"]
