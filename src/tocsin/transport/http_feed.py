"""Play a JSON Lines file into a running server over HTTP, paced by ``sent``.

At ``rate`` r, a message with ``sent = s`` leaves at ``start + (s - s0) / r``;
``rate=None`` sends as fast as the server takes it. Messages due at the same
moment travel together in one JSON Lines request (up to ``batch``). A 429 or
503 answer is retried after the server's ``Retry-After`` (capped at 30 s) or,
without one, with exponential backoff (bounded); other answers are counted per
reason. ``progress`` is called every ``progress_every_s`` seconds of wall time
with the running figures, so a long feed is never silent.

A server running its stages in a process of their own (``tocsin serve
--stage-process``) answers a request once its messages are journalled and
produces their outputs just after; at the end the feed waits (up to
``settle_s``) until its ``/healthz`` reports no ``stage_backlog``, so when it
returns the outputs of everything it sent are out, as with any other server.
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import msgspec

from tocsin.errors import ConfigError
from tocsin.wire import Envelope, encode_json


@dataclass
class FeedStats:
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    #: accepted messages the server had not yet processed when the feed gave up waiting
    unsettled: int = 0

    def summary(self) -> str:
        rej = sum(self.rejected.values())
        parts = [f"{self.sent} sent, {self.accepted} accepted, {rej} rejected"]
        if rej:
            parts.append(", ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items())))
        parts.append(f"{self.requests} requests, {self.retries} retries, {self.elapsed_s:.2f} s")
        if self.unsettled:
            parts.append(f"{self.unsettled} still being processed by the server")
        return "; ".join(parts)


def restamped(
    msgs: Iterable[Envelope], now: Callable[[], float] = time.time, rate: float | None = 1.0
) -> Iterator[Envelope]:
    """Re-time a recorded file as live traffic (sign after): the first message
    is sent now.

    At ``rate`` 1 every time (``sent`` and the body's ``t``) moves by one offset,
    so the recording plays exactly as it happened. At any other rate (or
    ``None``, as fast as possible) each message is stamped with the moment
    :func:`feed` will send it — ``now + (sent - sent0) / rate`` — and its body
    time keeps its age (``sent - t``), so a server checking clock skew takes
    it; the motion it describes then runs ``rate`` times faster than it did
    (fine for load and interop tests, not for judging tracks)."""
    t0: float | None = None
    s0 = 0.0
    for m in msgs:
        if t0 is None:
            t0, s0 = now(), m.sent
        sent = t0 + (m.sent - s0) / rate if rate is not None else now()
        offset = sent - m.sent
        body = m.body
        t = getattr(body, "t", None)
        if isinstance(t, float | int):
            body = msgspec.structs.replace(body, t=float(t) + offset)
        yield msgspec.structs.replace(m, sent=sent, body=body, sig=None)


def parse_rate(text: str) -> float | None:
    """``"1x"``, ``"10x"``, ``"0.5"`` -> factor; ``"max"`` -> None."""
    t = text.strip().lower()
    if t == "max":
        return None
    try:
        r = float(t[:-1] if t.endswith("x") else t)
    except ValueError:
        raise ConfigError(f"--rate: expected 1x, 10x, ... or max, got {text!r}") from None
    if not r > 0:
        raise ConfigError("--rate must be positive")
    return r


class HttpFeeder:
    def __init__(self, url: str, *, timeout_s: float = 30.0, max_retries: int = 8) -> None:
        u = urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ConfigError(f"--to: expected http://host:port, got {url!r}")
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.conn: http.client.HTTPConnection | None = None

    def _post(self, body: bytes) -> tuple[int, bytes, str | None]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            try:
                self.conn.request(
                    "POST", self.base + "/v1/messages", body, {"Content-Type": "application/x-ndjson"}
                )
                resp = self.conn.getresponse()
                return resp.status, resp.read(), resp.getheader("Retry-After")
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise ConfigError(f"cannot reach http://{self.host}:{self.port}: {exc}") from None
        raise AssertionError("unreachable")

    def send(
        self, msgs: list[Envelope], stats: FeedStats, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        body = b"\n".join(encode_json(m) for m in msgs) + b"\n"
        delay = 0.05
        for _ in range(self.max_retries + 1):
            status, data, retry_after = self._post(body)
            stats.requests += 1
            if status in (429, 503):
                stats.retries += 1
                sleep(_retry_delay(retry_after, delay))
                delay = min(delay * 2, 2.0)
                continue
            stats.sent += len(msgs)
            if status == 200:
                d = json.loads(data)
                stats.accepted += d["accepted"]
                for r in d["results"]:
                    if not r["ok"]:
                        stats.rejected[r["reason"]] += 1
            else:
                try:
                    reason = json.loads(data).get("reason", str(status))
                except ValueError:
                    reason = str(status)
                stats.rejected[reason] += len(msgs)
            return
        stats.sent += len(msgs)
        stats.rejected["gave_up"] += len(msgs)

    def stage_backlog(self) -> int | None:
        """The server's ``stage_backlog`` (``/healthz``), or None if it has none."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            self.conn.request("GET", self.base + "/healthz")
            resp = self.conn.getresponse()
            data = resp.read()
            v = json.loads(data).get("stage_backlog")
        except (
            ConnectionError,
            http.client.HTTPException,
            TimeoutError,
            OSError,
            ValueError,
            AttributeError,
        ):
            self.close()
            self.conn = None
            return None
        return v if isinstance(v, int) else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _retry_delay(header: str | None, fallback: float) -> float:
    """Seconds to wait before retrying: the server's ``Retry-After`` (delta
    seconds; capped at 30 s) when it sent a usable one, else ``fallback``."""
    if header is not None:
        try:
            v = float(header.strip())
        except ValueError:
            return fallback
        if v >= 0:
            return min(v, 30.0)
    return fallback


def feed(
    msgs: Iterable[Envelope],
    url: str,
    *,
    rate: float | None = 1.0,
    batch: int = 500,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[FeedStats], None] | None = None,
    progress_every_s: float = 5.0,
    settle_s: float = 30.0,
) -> FeedStats:
    """Send ``msgs`` (in file order) to the server at ``url``; then wait up to
    ``settle_s`` for the server to finish processing them (module doc)."""
    stats = FeedStats()
    f = HttpFeeder(url)
    start = clock()
    next_progress = start + progress_every_s
    s0: float | None = None
    pending: list[Envelope] = []
    try:
        for m in msgs:
            if progress is not None and clock() >= next_progress:
                stats.elapsed_s = clock() - start
                progress(stats)
                next_progress += progress_every_s * (1 + (clock() - next_progress) // progress_every_s)
            if s0 is None:
                s0 = m.sent
            due = start + (m.sent - s0) / rate if rate is not None else start
            wait = due - clock()
            if pending and (wait > 0 or len(pending) >= batch):
                f.send(pending, stats, sleep)
                pending = []
                wait = due - clock()
            if wait > 0:
                sleep(wait)
            pending.append(m)
        if pending:
            f.send(pending, stats, sleep)
        if stats.accepted and settle_s > 0:
            until = clock() + settle_s
            backlog = f.stage_backlog()
            while backlog and clock() < until:
                sleep(0.05)
                backlog = f.stage_backlog()
            stats.unsettled = backlog or 0
    finally:
        f.close()
    stats.elapsed_s = clock() - start
    return stats


__all__ = ["FeedStats", "HttpFeeder", "feed", "parse_rate", "restamped"]
