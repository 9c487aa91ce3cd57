"""Webhook sink: POST each alert (or any chosen kind) as JSON to a URL.

Every request carries::

    Content-Type: application/json
    X-Tocsin-Timestamp: <unix seconds>
    X-Tocsin-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

so the receiver can check origin and freshness (reject a timestamp older than a
few minutes to stop replays). Delivery runs on its own thread so a slow receiver
never stalls the exchange: :meth:`WebhookSink.emit` only enqueues (bounded).
Connection errors, 408, 429 and 5xx are retried with exponential backoff
``base * 2**k`` capped at ``max_backoff_s``; after ``max_attempts`` — or at once
for any other 4xx — the delivery goes to the dead-letter list (and, if a path is
given, a JSON Lines file) with its last error.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tocsin.errors import ConfigError
from tocsin.wire import Envelope, encode_json

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def sign_body(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Tocsin-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_signature(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """Constant-time check of a received signature (for receivers and tests)."""
    return hmac.compare_digest(sign_body(secret, timestamp, body), header)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    url: str
    body: bytes
    attempts: int
    error: str


class WebhookSink:
    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        kinds: Iterable[str] = ("alert",),
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        queue_size: int = 10_000,
        dead_letter_path: str | Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"webhook: not an http(s) URL: {url!r}")
        if not secret:
            raise ConfigError("webhook: empty secret")
        self.url = url
        self._u = u
        self.secret = secret
        self.kinds = frozenset(kinds)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.dead_letter_path = Path(dead_letter_path) if dead_letter_path is not None else None
        self.sleep = sleep
        self.clock = clock
        self.delivered = 0
        self.retries = 0
        self.dead: list[DeadLetter] = []
        self._q: queue.Queue[bytes | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="tocsin-webhook", daemon=True)
        self._thread.start()

    # the Sink protocol
    def emit(self, env: Envelope) -> None:
        if env.kind not in self.kinds:
            return
        body = encode_json(env)
        try:
            self._q.put_nowait(body)
        except queue.Full:
            self._dead(body, 0, "queue full")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (bounded by ``timeout``), then stop."""
        self._q.put(None)
        self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty and delivered (True) or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._q.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------ internals

    def _run(self) -> None:
        while True:
            body = self._q.get()
            try:
                if body is None:
                    return
                self._deliver(body)
            finally:
                self._q.task_done()

    def _deliver(self, body: bytes) -> None:
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            status, error = self._post(body)
            if status is not None and 200 <= status < 300:
                self.delivered += 1
                return
            if status is not None and status not in RETRY_STATUS:
                self._dead(body, attempt, error)
                return
            if attempt < self.max_attempts:
                self.retries += 1
                self.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))
        self._dead(body, self.max_attempts, error)

    def _post(self, body: bytes) -> tuple[int | None, str]:
        u = self._u
        conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(u.hostname or "", u.port, timeout=self.timeout_s)
        ts = f"{self.clock():.3f}"
        headers = {
            "Content-Type": "application/json",
            "X-Tocsin-Timestamp": ts,
            "X-Tocsin-Signature": sign_body(self.secret, ts, body),
        }
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status, f"HTTP {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()

    def _dead(self, body: bytes, attempts: int, error: str) -> None:
        dl = DeadLetter(self.url, body, attempts, error)
        self.dead.append(dl)
        if self.dead_letter_path is not None:
            rec = {"url": self.url, "attempts": attempts, "error": error, "body": json.loads(body)}
            with open(self.dead_letter_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")


__all__ = ["RETRY_STATUS", "DeadLetter", "WebhookSink", "check_signature", "sign_body"]
