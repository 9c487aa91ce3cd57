"""Webhook sink against a local HTTP server: HMAC, retries with backoff, dead letters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tocsin.errors import ConfigError
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.runtime import Pipeline
from tocsin.transport.webhook import WebhookSink, check_signature

SECRET = b"s3cret"


@contextmanager
def receiver(statuses: list[int]) -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """Answers with ``statuses`` in turn (then 200); records what it got."""
    got: list[tuple[dict[str, str], bytes]] = []
    todo = list(statuses)

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            got.append((dict(self.headers), self.rfile.read(n)))
            code = todo.pop(0) if todo else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/hook", got
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def test_signed_delivery_with_retries() -> None:
    delays: list[float] = []
    with receiver([503, 500]) as (url, got):
        sink = WebhookSink(url, SECRET, sleep=delays.append, backoff_s=0.5)
        pipe = Pipeline(toy_stages(), sinks=[sink])
        for i in range(1, 4):
            pipe.submit(sample_plot(seq=i, sent=1000.0 + i))  # 3rd plot: an alert
        assert sink.flush(10)
        sink.close()
    assert delays == [0.5, 1.0]
    assert sink.delivered == 1
    assert sink.retries == 2
    assert len(got) == 3
    headers, body = got[-1]
    assert json.loads(body)["kind"] == "alert"
    assert check_signature(SECRET, headers["X-Tocsin-Timestamp"], body, headers["X-Tocsin-Signature"])
    assert not check_signature(b"other", headers["X-Tocsin-Timestamp"], body, headers["X-Tocsin-Signature"])
    assert not check_signature(SECRET, "1.000", body, headers["X-Tocsin-Signature"])


def test_dead_letters(tmp_path: Path) -> None:
    delays: list[float] = []
    dl = tmp_path / "dead.jsonl"
    with receiver([500] * 10 + [400]) as (url, got):
        sink = WebhookSink(
            url, SECRET, kinds=["track"], max_attempts=4, backoff_s=1, max_backoff_s=3,
            sleep=delays.append, dead_letter_path=dl,
        )  # fmt: skip
        sink.emit(sample_plot())  # not a track: ignored
        pipe = Pipeline(toy_stages(), sinks=[sink])
        pipe.submit(sample_plot(seq=1))
        pipe.submit(sample_plot(seq=2))
        pipe.submit(sample_plot(seq=3))
        assert sink.flush(10)
        sink.close()
    # 1st: 4 attempts, all 500 -> dead; 2nd: 4 more 500s -> dead; 3rd: 500, 500, then 400 -> dead at once
    assert delays == [1, 2, 3] * 2 + [1, 2]
    assert [d.attempts for d in sink.dead] == [4, 4, 3]
    assert sink.dead[2].error == "HTTP 400"
    lines = [json.loads(x) for x in dl.read_text().splitlines()]
    assert [x["body"]["kind"] for x in lines] == ["track"] * 3
    assert len(got) == 11


def test_unreachable_and_bad_config() -> None:
    sink = WebhookSink("http://127.0.0.1:9/x", SECRET, kinds=["track"], max_attempts=2, sleep=lambda s: None)
    Pipeline(toy_stages(), sinks=[sink]).submit(sample_plot())
    assert sink.flush(10)
    sink.close()
    assert sink.dead[0].error.startswith("ConnectionRefusedError")
    with pytest.raises(ConfigError):
        WebhookSink("ftp://x", SECRET)
    with pytest.raises(ConfigError):
        WebhookSink("http://127.0.0.1:1/", b"")
