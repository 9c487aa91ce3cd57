"""`tocsin feed`'s sender: re-timing a recording at any rate, honouring the
server's Retry-After, and progress on long feeds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tocsin.exchange.samples import sample_plot
from tocsin.transport.http_feed import FeedStats, HttpFeeder, _retry_delay, feed, restamped
from tocsin.wire import Envelope

T0 = 1_789_430_400.0


def _plots(n: int, step: float = 1.0) -> list[Envelope]:
    return [sample_plot(seq=i + 1, sent=T0 + i * step) for i in range(n)]


def test_restamp_at_1x_moves_every_time_by_one_offset() -> None:
    msgs = _plots(5)
    out = list(restamped(msgs, now=lambda: 2_000_000_000.0))
    assert out[0].sent == 2_000_000_000.0
    for a, b in zip(msgs, out, strict=True):
        assert b.sent - a.sent == pytest.approx(out[0].sent - msgs[0].sent)
        assert b.body.t - a.body.t == pytest.approx(out[0].sent - msgs[0].sent)


def test_restamp_at_10x_stamps_send_times_and_keeps_each_message_age() -> None:
    msgs = _plots(5, step=2.0)
    out = list(restamped(msgs, now=lambda: 2_000_000_000.0, rate=10.0))
    # sent as feed() will send them: 2 s of recording pass in 0.2 s
    assert [round(m.sent - out[0].sent, 6) for m in out] == [0.0, 0.2, 0.4, 0.6, 0.8]
    for a, b in zip(msgs, out, strict=True):
        assert b.sent - b.body.t == pytest.approx(a.sent - a.body.t)  # age kept
        assert b.sig is None


def test_retry_delay_takes_the_servers_retry_after() -> None:
    assert _retry_delay("2", 0.05) == 2.0
    assert _retry_delay("0.5", 0.05) == 0.5
    assert _retry_delay("3600", 0.05) == 30.0  # capped
    assert _retry_delay(None, 0.05) == 0.05
    assert _retry_delay("Wed, 21 Oct 2015 07:28:00 GMT", 0.1) == 0.1  # HTTP date: fall back
    assert _retry_delay("-1", 0.1) == 0.1


@contextmanager
def _server(statuses: list[int]) -> Iterator[tuple[str, list[bytes]]]:
    """A server answering the given statuses in turn (then 200), 429s with Retry-After: 1."""
    bodies: list[bytes] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            bodies.append(self.rfile.read(n))
            status = statuses.pop(0) if statuses else 200
            lines = bodies[-1].count(b"\n")
            payload = (
                b'{"accepted": %d, "results": [%s]}' % (lines, b",".join([b'{"ok": true}'] * lines))
                if status == 200
                else b'{"reason": "rate_limited"}'
            )
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", bodies
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_429_is_retried_after_retry_after_and_nothing_is_lost() -> None:
    slept: list[float] = []
    with _server([429, 429]) as (url, bodies):
        stats = FeedStats()
        f = HttpFeeder(url)
        try:
            f.send(_plots(3), stats, sleep=slept.append)
        finally:
            f.close()
    assert slept == [1.0, 1.0]  # the server's Retry-After, not the 50 ms backoff
    assert stats.retries == 2
    assert stats.accepted == 3
    assert stats.sent == 3
    assert len(bodies) == 3
    assert bodies[0] == bodies[2]


def test_progress_is_reported_while_feeding() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    seen: list[int] = []
    with _server([]) as (url, _):
        stats = feed(
            _plots(30, step=1.0),
            url,
            rate=1.0,
            batch=5,
            clock=clock,
            sleep=sleep,
            progress=lambda s: seen.append(s.sent),
            progress_every_s=5.0,
        )
    assert stats.accepted == 30
    # 29 s of recording at 1x: a progress call every 5 s, counts rising
    assert len(seen) == 5
    assert seen == sorted(seen)
    assert seen[-1] < 30
