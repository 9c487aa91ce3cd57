"""Admission: per-partner queues, fair scheduling and quotas (issue 17 item 3,
issue 14 item 4).

One flooding or broken sender must not delay the others, fill memory, or fill
the journal. Work that reaches the exchange is *classed* before it queues:

* ``partner:XX``: every message of the request carries a valid signature of
  registered partner XX and a sequence number its replay window has not seen
  (a replay of captured traffic is not XX's: it cannot use XX's share);
* ``mixed``: every message validly signed and fresh, but of several partners
  (a relay): one class, with a partner's quota;
* ``unauthenticated``: everything else in signed mode (malformed, unsigned,
  forged, replayed, or mixed with any of those);
* ``open:XX``: in open mode (no registry, exercises only) nothing is
  authenticated; requests are classed by the partner they claim;
* ``local``: the operator's own local inputs (``--tail``, ``--socket``).

Before any of that, a request is put in a *lane* (its client address and the
partner its lines claim; :func:`claimed_lane`: a regex, nothing decoded). The
decode-and-verify work is queued fairly by lane (:class:`Prechecker`), and a
lane whose recent messages mostly failed decoding or authentication is
*suspect*: it gets the unauthenticated quota before its work is even queued,
so a junk flood costs a 429 per request, not a decode and a signature check
per message.

Each class has a **token bucket** (messages per second and a burst): a request
over it is answered ``429`` with ``Retry-After`` (the seconds until the bucket
holds the request again) and nothing of it is journalled or acknowledged.
Each source address has a bucket too (a client that spreads its traffic over
classes is still bounded). Admitted requests wait in a :class:`FairQueue`: one
queue per class, bounded in requests and bytes per class and in bytes overall
(a full queue is a 429 as well), served by deficit round robin (Shreedhar &
Varghese 1996): each turn a class may take ``quantum`` messages, so a class
with a backlog of junk delays another class's request by at most one quantum
of its own processing per turn, never by its whole backlog. The worker takes at
most one round (one quantum per class) into each journal commit.

Nothing here reads the wall clock unless given one (``clock``); the buckets use
a monotonic clock by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")

#: the class of internal work (the dashboard's operator actions): always served first
PRIORITY = ""
UNAUTHENTICATED = "unauthenticated"
MIXED = "mixed"
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """Quotas (see the module doc). Rates are messages per second."""

    #: each registered partner (signed mode), and the burst it may send at once
    partner_rate: float = 50_000.0
    partner_burst: float = 100_000.0
    #: all unauthenticated traffic together (in signed mode nothing legitimate is
    #: unauthenticated: junk, forgeries, replays; serving it only counts it)
    unauth_rate: float = 1_000.0
    unauth_burst: float = 5_000.0
    #: each claimed partner in open mode
    open_rate: float = 50_000.0
    open_burst: float = 100_000.0
    #: each source address (across classes)
    client_rate: float = 100_000.0
    client_burst: float = 200_000.0
    #: source addresses and lanes remembered (least recently seen forgotten first)
    max_clients: int = 4096
    #: a lane (client address and claimed partner) is *suspect* when over half of
    #: at least this many recent messages failed decoding or authentication; a
    #: suspect lane gets the unauthenticated quota *before* its messages are
    #: decoded and verified, so junk is refused for the price of a 429
    suspect_after: int = 200
    #: how fast a lane's record fades (halved every this many seconds)
    lane_half_life_s: float = 10.0
    #: fair queue: messages per class per turn
    quantum: int = 1000
    #: queued requests and bytes per class, bytes overall
    max_requests_per_class: int = 256
    max_bytes_per_class: int = 32 * 1024 * 1024
    max_bytes_total: int = 128 * 1024 * 1024


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; :meth:`take` spends or says how
    long until it could."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, n: float, now: float) -> float:
        """Seconds until ``n`` tokens are there (0: now); spends nothing.
        A request bigger than the burst waits for a full bucket."""
        self._refill(now)
        need = min(n, self.burst) - self.tokens
        return 0.0 if need <= 0 else need / self.rate

    def spend(self, n: float) -> None:
        self.tokens -= min(n, self.burst)


@dataclass
class Admission:
    """The buckets of every class and source address (module doc)."""

    config: AdmissionConfig = field(default_factory=AdmissionConfig)
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    clients: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)
    #: per lane: (good, bad, stamp) recent messages and its bucket once suspect
    lanes: OrderedDict[str, list[Any]] = field(default_factory=OrderedDict)
    #: requests and messages refused, per class
    refused_requests: dict[str, int] = field(default_factory=dict)
    refused_messages: dict[str, int] = field(default_factory=dict)

    def _lane(self, lane: str, now: float) -> list[Any]:
        st = self.lanes.get(lane)
        if st is None:
            st = self.lanes[lane] = [0.0, 0.0, now, None]
            while len(self.lanes) > self.config.max_clients:
                self.lanes.popitem(last=False)
        else:
            self.lanes.move_to_end(lane)
            fade = 0.5 ** ((now - st[2]) / self.config.lane_half_life_s)
            st[0], st[1], st[2] = st[0] * fade, st[1] * fade, now
        return st

    def suspect(self, lane: str) -> bool:
        """Did most of the lane's recent messages (faded) fail?"""
        if lane not in self.lanes:
            return False
        st = self._lane(lane, self.clock())
        return bool(st[1] >= self.config.suspect_after and st[1] > st[0])

    def lane_wait(self, lane: str, n: int) -> float:
        """Before decoding: 0.0 when the request may go on to be checked, else the
        seconds to wait (a suspect lane over the unauthenticated quota)."""
        now = self.clock()
        if not self.suspect(lane):
            self._lane(lane, now)
            return 0.0
        st = self._lane(lane, now)
        if st[3] is None:  # (starts empty: no burst for a lane just found out)
            bucket = TokenBucket(self.config.unauth_rate, self.config.unauth_burst, now)
            bucket.tokens = 0.0
            st[3] = bucket
        wait = float(st[3].wait_for(n, now))
        if wait > 0:
            self.refused("suspect", n)
        else:
            st[3].spend(n)
        return wait

    def lane_result(self, lane: str, good: int, bad: int) -> None:
        """What decoding and authentication found of a lane's request."""
        st = self._lane(lane, self.clock())
        st[0] += good
        st[1] += bad

    def _bucket(self, key: str, now: float) -> TokenBucket | None:
        b = self.buckets.get(key)
        if b is None:
            cfg = self.config
            if key.startswith("partner:") or key == MIXED:
                rate, burst = cfg.partner_rate, cfg.partner_burst
            elif key.startswith("open:"):
                rate, burst = cfg.open_rate, cfg.open_burst
            elif key == UNAUTHENTICATED:
                rate, burst = cfg.unauth_rate, cfg.unauth_burst
            else:  # local and internal work: not rate limited
                return None
            b = self.buckets[key] = TokenBucket(rate, burst, now)
        return b

    def _client(self, client: str, now: float) -> TokenBucket:
        b = self.clients.get(client)
        if b is None:
            cfg = self.config
            b = self.clients[client] = TokenBucket(cfg.client_rate, cfg.client_burst, now)
            while len(self.clients) > cfg.max_clients:
                self.clients.popitem(last=False)
        else:
            self.clients.move_to_end(client)
        return b

    def admit(self, key: str, n: int, client: str | None = None) -> float:
        """Spend ``n`` messages of ``key``'s quota (and ``client``'s): 0.0 when
        admitted, else the seconds to wait (nothing spent)."""
        now = self.clock()
        b = self._bucket(key, now)
        c = self._client(client, now) if client is not None else None
        wait = max(b.wait_for(n, now) if b else 0.0, c.wait_for(n, now) if c else 0.0)
        if wait > 0:
            self.refused(key, n)
            return wait
        if b is not None:
            b.spend(n)
        if c is not None:
            c.spend(n)
        return 0.0

    def refused(self, key: str, n: int) -> None:
        self.refused_requests[key] = self.refused_requests.get(key, 0) + 1
        self.refused_messages[key] = self.refused_messages.get(key, 0) + n


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` header value for a wait (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait_s)))


@dataclass
class _Entry(Generic[_T]):
    item: _T
    cost: int
    nbytes: int


class FairQueue(Generic[_T]):
    """An asyncio queue with one FIFO per class, served by deficit round robin
    (module doc). The interface the server's worker needs of ``asyncio.Queue``
    (``put_nowait``, ``get``, ``get_nowait``, ``empty``, ``qsize``), plus the
    class, the cost (messages) and the size (bytes) of each item at
    :meth:`put_nowait`, and :meth:`more_in_round` for group commits.
    ``put_nowait`` raises ``asyncio.QueueFull`` over a bound."""

    def __init__(
        self, config: AdmissionConfig | None = None, *, max_requests_total: int | None = None
    ) -> None:
        self.config = config or AdmissionConfig()
        self.max_requests_total = max_requests_total
        self._prio: deque[_T] = deque()
        self._q: dict[str, deque[_Entry[_T]]] = {}
        self._active: deque[str] = deque()
        self._deficit: dict[str, int] = {}
        self._fresh = True  # the head class has not had its quantum this visit
        self._bytes: dict[str, int] = {}
        self._bytes_total = 0
        self._size = 0
        self._getters: deque[asyncio.Future[None]] = deque()
        self._round_len = 0
        self._turns = 0
        #: requests refused as over a queue bound, per class
        self.full: dict[str, int] = {}

    # ------------------------------------------------------------ asyncio.Queue

    def qsize(self) -> int:
        return self._size

    def empty(self) -> bool:
        return self._size == 0

    def pending(self, key: str) -> int:
        """Requests of ``key`` waiting."""
        return len(self._q.get(key, ()))

    def put_nowait(self, item: _T, key: str = PRIORITY, cost: int = 1, nbytes: int = 0) -> None:
        if key == PRIORITY:
            self._prio.append(item)
        else:
            cfg = self.config
            q = self._q.get(key)
            held = self._bytes.get(key, 0)
            if (
                (q is not None and len(q) >= cfg.max_requests_per_class)
                or (
                    self.max_requests_total is not None
                    and self._size - len(self._prio) >= self.max_requests_total
                )
                or held + nbytes > cfg.max_bytes_per_class
                or self._bytes_total + nbytes > cfg.max_bytes_total
            ):
                self.full[key] = self.full.get(key, 0) + 1
                raise asyncio.QueueFull
            if q is None:
                q = self._q[key] = deque()
                self._active.append(key)
                self._deficit[key] = 0
                if len(self._active) == 1:
                    self._fresh = True
            q.append(_Entry(item, max(1, cost), nbytes))
            self._bytes[key] = held + nbytes
            self._bytes_total += nbytes
        self._size += 1
        while self._getters:
            g = self._getters.popleft()
            if not g.done():
                g.set_result(None)
                break

    async def get(self) -> _T:
        while not self._size:
            fut = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(fut)
                if self._size and not fut.cancelled():
                    self._wake_next()
                raise
        return self.get_nowait()

    def _wake_next(self) -> None:
        while self._getters:
            g = self._getters.popleft()
            if not g.done():
                g.set_result(None)
                return

    def get_nowait(self) -> _T:
        """The next item: internal work first, then by deficit round robin.
        Starts a new round when the last one is over."""
        if not self._size:
            raise asyncio.QueueEmpty
        if not self.more_in_round():  # a new round: every class gets one turn
            if self._active and not self._fresh and not self._head_can_go():
                self._active.rotate(-1)  # the last round's class has had its turn
                self._fresh = True
            self._round_len = len(self._active)
            self._turns = 0
        self._size -= 1
        if self._prio:
            return self._prio.popleft()
        quantum = self.config.quantum
        while True:
            k = self._active[0]
            if self._fresh:
                self._deficit[k] += quantum
                self._fresh = False
            q = self._q[k]
            e = q[0]
            if e.cost <= self._deficit[k]:
                q.popleft()
                self._deficit[k] -= e.cost
                self._bytes[k] -= e.nbytes
                self._bytes_total -= e.nbytes
                if not q:  # the class is idle: it leaves the round, its deficit forgotten
                    self._active.popleft()
                    del self._q[k], self._deficit[k], self._bytes[k]
                    self._fresh = True
                    self._turns += 1
                return e.item
            self._active.rotate(-1)
            self._fresh = True
            self._turns += 1

    def more_in_round(self) -> bool:
        """Is there another item before every class of the current round had
        its turn? (The worker puts one round at most into one commit.)"""
        if self._prio:
            return True
        if not self._active:
            return False
        if not self._fresh and self._head_can_go():
            return True  # the same turn goes on
        # the next item starts a turn (the head's, or after a rotation)
        return self._turns + (0 if self._fresh else 1) < self._round_len

    def _head_can_go(self) -> bool:
        k = self._active[0]
        return self._q[k][0].cost <= self._deficit[k]


#: lines per unit of decode/verify work (:class:`Prechecker`)
PRECHECK_CHUNK = 128

_CLAIM = re.compile(rb'"partner"\s*:\s*"([A-Z]{2})"')


def claimed_lane(lines: list[bytes], client: str | None) -> str:
    """The lane of a request *before* anything is decoded or verified: its
    client address and the partner every line claims (``?`` if they differ or
    one cannot be read). Costs a regex search a line; used to queue the
    decode/verify work fairly (:class:`Prechecker`), never to trust anyone."""
    claim = None
    for ln in lines:
        m = _CLAIM.search(ln, 0, 400)
        c = m.group(1).decode() if m is not None else "?"
        if claim is None:
            claim = c
        elif c != claim:
            claim = "?"
            break
    return f"{client or '?'}|{claim or '?'}"


class Prechecker:
    """The decode-and-verify stage between the HTTP handlers and the worker,
    made fair: requests wait in a :class:`FairQueue` by :func:`claimed_lane`
    and ``threads`` threads (Ed25519 verification releases the GIL) serve the
    lanes by deficit round robin. Without it, every request's verification went
    to one first-come-first-served thread pool: a flood of junk put each honest
    request behind all of it (seconds), before the fair worker queue was ever
    reached. Bounded like the worker queue (``asyncio.QueueFull``: 429).

    A lane's requests leave in the order they came (:meth:`precheck` waits for
    the lane's previous request to leave first): with two threads a short
    request verified after a long one used to overtake it, so a sender's radar
    scans reached the tracker out of order, and each overtaken scan was
    re-filtered into the history of every track it updated (issue 17: at
    20,000 plots/s half the stage process's time)."""

    def __init__(
        self, check: Callable[[list[bytes], str], list[Any]], config: AdmissionConfig, threads: int = 2
    ) -> None:
        self.check = check
        self.queue: FairQueue[tuple[list[bytes], str, asyncio.Future[list[Any]]]] = FairQueue(config)
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: per lane, the newest request's "left" (set when its precheck returns)
        self._last: dict[str, asyncio.Future[None]] = {}

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tocsin-precheck")
        self._tasks = [asyncio.create_task(self._serve()) for _ in range(self.threads)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def precheck(self, lines: list[bytes], fmt: str, lane: str, nbytes: int) -> list[Any]:
        """Decode and verify ``lines`` in their lane's turn; big requests go in
        chunks of :data:`PRECHECK_CHUNK` (a turn is short: another lane waits for
        at most one chunk per thread). Raises ``asyncio.QueueFull`` when the lane
        (or the stage) is full: nothing of the request was queued."""
        if self._pool is None:  # not started (in-process use): check here
            return self.check(lines, fmt)
        loop = asyncio.get_running_loop()
        parts = [lines[i : i + PRECHECK_CHUNK] for i in range(0, len(lines), PRECHECK_CHUNK)]
        futs: list[asyncio.Future[list[Any]]] = []
        per = max(1, nbytes // max(1, len(parts)))
        try:
            for part in parts:
                fut: asyncio.Future[list[Any]] = loop.create_future()
                self.queue.put_nowait((part, fmt, fut), key=lane, cost=len(part), nbytes=per)
                futs.append(fut)
        except asyncio.QueueFull:
            for f in futs:
                f.cancel()
            raise
        # leave after the lane's previous request (arrival order, see class doc)
        prev = self._last.get(lane)
        left: asyncio.Future[None] = loop.create_future()
        self._last[lane] = left
        try:
            out: list[Any] = []
            for f in futs:
                out.extend(await f)
            if prev is not None and not prev.done():
                await asyncio.shield(prev)
            return out
        finally:
            # (the caller hands its result on before the next one resumes: a
            # callback runs after the caller's task yields)
            left.set_result(None)
            if self._last.get(lane) is left:
                del self._last[lane]

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            lines, fmt, fut = await self.queue.get()
            if fut.done():
                continue
            try:
                res = await loop.run_in_executor(self._pool, self.check, lines, fmt)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if not fut.done():
                fut.set_result(res)


def request_class(prechecked: list[Any], windows: dict[tuple[str, str], Any], open_mode: bool) -> str:
    """The class of a request (module doc) from its :meth:`Ingress.precheck`
    results. ``windows`` (the ingress replay windows) is only read: a message
    whose sequence number was already accepted is a replay, not its partner's."""
    partner = None
    mixed = False
    for pc in prechecked:
        env = pc.env
        if env is None or (pc.problem is not None and not open_mode):
            return UNAUTHENTICATED
        if partner is None:
            partner = env.partner
        elif env.partner != partner:
            if open_mode:
                return UNAUTHENTICATED
            mixed = True
        if not open_mode:
            win = windows.get((env.partner, env.source))
            if win is not None and win.status(env.seq) is not None:
                return UNAUTHENTICATED
    if partner is None:
        return UNAUTHENTICATED
    if mixed:
        return MIXED
    return f"{'open' if open_mode else 'partner'}:{partner}"


__all__ = [
    "LOCAL",
    "MIXED",
    "PRIORITY",
    "UNAUTHENTICATED",
    "Admission",
    "AdmissionConfig",
    "FairQueue",
    "Prechecker",
    "TokenBucket",
    "claimed_lane",
    "request_class",
    "retry_after",
]
