"""Issue 14 item 2: HTTP ingest. The attack of the issue: one unsigned POST of
a made-up `track`, sent as `Content-Type: text/plain` with
`Origin: http://evil.example` (what any web page in the operator's browser can
send to 127.0.0.1), produced an Actual alert. Now: only JSON, JSON Lines and
MessagePack are read (else 415), a foreign Origin is 403, a Host the server does
not serve is 400 (DNS rebinding), event streams are capped (429)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sechelpers import one_line_error

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.app import HttpSecurity, host_name
from tocsin.web.hub import Exchange
from tocsin.wire import TrackBody, encode_json, encode_msgpack, make

T0 = 1_789_430_400.0


def run(
    ex: Exchange, fn: Callable[[httpx.AsyncClient], Awaitable[Any]], sec: HttpSecurity | None = None
) -> Any:
    async def main() -> Any:
        app = create_app(ex, security=sec)
        await ex.start()
        try:
            transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await fn(c)
        finally:
            await ex.stop()

    return asyncio.run(main())


def made_up_track() -> bytes:
    b = TrackBody(
        id="X-1", t=T0, state_ecef=[-3.9e6, 3.4e6, 3.7e6, 1e3, 2e3, 1e3], cov=[100.0] * 36,
        status="confirmed", class_="ballistic",
    )  # fmt: skip
    return encode_json(make("track", b, partner="US", source="US-C2", seq=1, sent=T0))


def test_the_issues_cross_site_post_is_refused_before_ingress() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def go(c: httpx.AsyncClient) -> list[tuple[int, str]]:
        out = []
        for headers in (
            {"content-type": "text/plain", "origin": "http://evil.example"},  # the issue's request
            {"content-type": "text/plain"},
            {"content-type": "application/json", "origin": "http://evil.example"},
            {"content-type": "application/x-ndjson", "origin": "null"},
        ):
            r = await c.post("/v1/messages", content=made_up_track(), headers=headers)
            out.append((r.status_code, r.json()["reason"]))
        return out

    assert run(ex, go) == [
        (403, "cross_origin"),
        (415, "unsupported_media_type"),
        (403, "cross_origin"),
        (403, "cross_origin"),
    ]
    assert ex.pipeline.ingress.accepted == {}
    assert sum(ex.pipeline.ingress.rejected.values()) == 0  # it never reached ingress


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "x/ndjson"],
)
def test_other_content_types_are_415(ctype: str) -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def go(c: httpx.AsyncClient) -> httpx.Response:
        headers = {"content-type": ctype} if ctype else {}
        return await c.post("/v1/messages", content=encode_json(sample_plot()), headers=headers)

    r = run(ex, go)
    assert r.status_code == 415
    assert r.json()["field"] == "Content-Type"


def test_json_ndjson_and_msgpack_are_read() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def go(c: httpx.AsyncClient) -> list[int]:
        codes = []
        r = await c.post("/v1/messages", content=encode_json(sample_plot(seq=1)),
                         headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
        codes.append(r.status_code)
        r = await c.post("/v1/messages", content=encode_json(sample_plot(seq=2)) + b"\n",
                         headers={"content-type": "application/x-ndjson"})  # fmt: skip
        codes.append(r.status_code)
        r = await c.post("/v1/messages", content=encode_msgpack(sample_plot(seq=3)),
                         headers={"content-type": "application/msgpack"})  # fmt: skip
        codes.append(r.status_code)
        r = await c.post("/v1/messages", content=b"\xc1", headers={"content-type": "application/msgpack"})
        codes.append(r.status_code)
        # the server's own origin (a same-origin page) may post
        r = await c.post("/v1/messages", content=encode_json(sample_plot(seq=4)),
                         headers={"content-type": "application/json", "origin": "http://t"})  # fmt: skip
        codes.append(r.status_code)
        return codes

    assert run(ex, go) == [202, 200, 202, 400, 202]
    assert ex.pipeline.ingress.accepted["plot"] == 4


def test_allowed_origins() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    sec = HttpSecurity(allowed_origins=("https://desk.jp.example",))

    async def go(c: httpx.AsyncClient) -> list[int]:
        out = []
        for i, origin in enumerate(
            ("https://desk.jp.example", "https://desk.jp.example.evil", "http://t:80")
        ):
            r = await c.post("/v1/messages", content=encode_json(sample_plot(seq=i + 1)),
                             headers={"content-type": "application/json", "origin": origin})  # fmt: skip
            out.append(r.status_code)
        return out

    assert run(ex, go, sec) == [202, 403, 403]


def test_host_header_is_checked_on_every_route() -> None:
    """DNS rebinding: a page on evil.example (resolving to 127.0.0.1) reaches the
    server with its own origin, so Origin checks pass; its Host header does not."""
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    sec = HttpSecurity(allowed_hosts=("127.0.0.1", "localhost", "::1"))

    async def go(c: httpx.AsyncClient) -> list[tuple[str, str, int]]:
        out = []
        for host in (
            "evil.example:8080",
            "127.0.0.1:8080",
            "localhost",
            "[::1]:8080",
            "127.0.0.1.evil.example",
        ):
            for method, path in (("GET", "/healthz"), ("GET", "/v1/alerts"), ("POST", "/v1/messages")):
                headers = {"host": host, "content-type": "application/json", "origin": f"http://{host}"}
                r = await c.request(
                    method, path, headers=headers, content=encode_json(sample_plot(seq=len(out)))
                )
                out.append((host, path, r.status_code))
        return out

    got = run(ex, go, sec)
    for host, path, code in got:
        foreign = "evil" in host
        assert (code == 400) == foreign, (host, path, code)
    assert ex.http_rejects["bad_host"] == 6
    assert host_name("[::1]:80") == "[::1]"
    assert host_name("Example.COM:8080") == "example.com"


def test_serve_on_every_address_needs_allowed_hosts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = one_line_error(capsys, "serve", "--host", "0.0.0.0", "--port", "0", "--data", str(tmp_path / "d"))
    assert "--allowed-host: listening on every address" in err
    assert not (tmp_path / "d").exists()


async def open_stream(app: Any, ip: str) -> tuple[int, asyncio.Task[None], asyncio.Event]:
    """GET /v1/events from ``ip`` straight through ASGI (httpx's transport would
    wait for the endless body): the status, the running request, its hang-up."""
    started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    hangup = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await hangup.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start" and not started.done():
            started.set_result(msg)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"",
        "headers": [(b"host", b"t")], "client": (ip, 1), "server": ("t", 80), "root_path": "",
    }  # fmt: skip
    task = asyncio.create_task(app(scope, receive, send))
    msg = await asyncio.wait_for(started, 10)
    return int(msg["status"]), task, hangup


def test_event_streams_are_capped_per_client_and_in_total() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    sec = HttpSecurity(max_streams=3, max_streams_per_client=2)

    async def main() -> list[int]:
        app = create_app(ex, security=sec)
        await ex.start()
        codes: list[int] = []
        opened = []
        try:
            for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"):
                code, task, hangup = await open_stream(app, ip)
                codes.append(code)
                opened.append((task, hangup))
            assert ex.hub is not None
            assert len(ex.hub.subscribers) == 3
            for _task, hangup in opened:  # the clients hang up: their streams end
                hangup.set()
            for task, _ in opened:
                task.cancel()
            await asyncio.gather(*(t for t, _ in opened), return_exceptions=True)
        finally:
            await ex.stop()
        return codes

    # two for 10.0.0.1 (its third refused), one for 10.0.0.2, then the total is full
    assert asyncio.run(main()) == [200, 200, 429, 200, 429]
    assert ex.http_rejects["too_many_streams"] == 2


def test_a_replay_server_takes_no_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --replay` shows a recording: it is not an open exchange (it used to
    say OPEN MODE and take unsigned posts)."""
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def go(c: httpx.AsyncClient) -> httpx.Response:
        return await c.post(
            "/v1/messages", content=encode_json(sample_plot()), headers={"content-type": "application/json"}
        )

    r = run(ex, go, HttpSecurity(ingest=False))
    assert (r.status_code, r.json()["reason"]) == (403, "ingest_closed")
    assert ex.pipeline.ingress.accepted == {}
    err = one_line_error(
        capsys, "serve", "--port", "0", "--data", str(tmp_path / "d"), "--replay", str(tmp_path),
        "--tail", str(tmp_path / "x.jsonl"),
    )  # fmt: skip
    assert "--replay: a replay server takes no input" in err
