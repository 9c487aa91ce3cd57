"""The HTTP API of the embedded server (Starlette).

=====================  ==========================================================
POST /v1/messages      one JSON message, or JSON Lines (one message a line)
GET  /v1/events        server-sent events: ``track``, ``alert``, ``link``, ``heartbeat``
GET  /v1/alerts        alert history (newest last)
GET  /feed/cap.atom    the warnings in force: an Atom index of CAP 1.2 documents
GET  /cap/{id}.xml     one CAP 1.2 document (a stable URL; the feed links here)
GET  /healthz          liveness and a short status
GET  /metrics          Prometheus text exposition
GET  /openapi.json     this API as OpenAPI 3.1
=====================  ==========================================================

POST answers: a single message gets ``202`` when accepted, else ``400``
(malformed JSON), ``422`` (a field is wrong: the body names it), ``403`` (signature
or partner policy), ``409`` (replayed seq). A JSON Lines body gets ``200`` with
one result per line. ``413`` for a body over the limit, ``429`` when the queue is
full (flood; retry after a second), ``503`` when processing timed out. No error
stops the server.

Hardening (:class:`HttpSecurity`; docs/security.md): ``POST /v1/messages`` takes
only ``application/json`` (one message), ``application/x-ndjson`` (JSON Lines)
and ``application/msgpack`` (one MessagePack message): anything else is ``415``,
so the "simple" cross-origin POST a web page may send (``text/plain``) never
reaches ingress. A request carrying an ``Origin`` that is neither the server's
own nor on the allow-list is ``403``. With ``allowed_hosts`` (``tocsin serve``
always sets it) a ``Host`` header naming anything else is ``400`` on every route,
against DNS rebinding. Event streams are capped in total and per client address
(``429`` with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tocsin import __version__
from tocsin.exchange.admission import Prechecker, claimed_lane, request_class, retry_after
from tocsin.exchange.ingress import REASONS, Verdict
from tocsin.web.hub import WORK_BUCKETS, Exchange, QueueFull

if TYPE_CHECKING:
    from tocsin.web.dashboard import Dashboard
from tocsin.wire import encode_json

STATUS_BY_REASON: dict[str, int] = {
    "too_large": 413,
    "too_deep": 422,
    "schema": 422,
    "unknown_kind": 422,
    "clock_skew": 422,
    "unknown_partner": 403,
    "missing_signature": 403,
    "legacy_signature": 403,
    "bad_signature": 403,
    "kind_not_allowed": 403,
    "foreign_source": 403,
    "duplicate": 409,
    "stale": 409,
    "seq_jump": 422,
    "poison": 422,
    "too_many_sources": 429,
}


class _TooLarge(Exception):
    pass


#: the content types POST /v1/messages takes, and the format of their body
CONTENT_TYPES: dict[str, str] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/msgpack": "msgpack",
}


@dataclass(frozen=True, slots=True)
class HttpSecurity:
    """What the HTTP side refuses (module doc)."""

    #: names the server answers to (``Host`` without the port); None: no check
    #: (in-process use; ``tocsin serve`` always passes its names)
    allowed_hosts: tuple[str, ...] | None = None
    #: origins (``scheme://host[:port]``) that may POST besides the server's own
    allowed_origins: tuple[str, ...] = ()
    #: open event streams, in total and per client address
    max_streams: int = 256
    max_streams_per_client: int = 16
    #: False: POST /v1/messages is refused (403): a replay server takes no input
    ingest: bool = True


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header: no port, lower case, IPv6 brackets kept."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h.split("]", 1)[0] + "]"
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class HostCheck:
    """ASGI middleware: a request whose ``Host`` names none of ``hosts`` gets a
    JSON ``400`` (DNS rebinding: a page on evil.example that resolves to
    127.0.0.1 still sends ``Host: evil.example``)."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...], counter: Counter[str]) -> None:
        self.app = app
        bare = (f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts)  # IPv6 in brackets
        self.hosts = frozenset(host_name(h) for h in bare)
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(raw) not in self.hosts:
                self.counter["bad_host"] += 1
                resp = _error(400, "bad_host", f"this server does not serve {raw!r}", "Host")
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(status: int, reason: str, detail: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "reason": reason, "detail": detail}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=extra.pop("headers", None))


def _status_for(v: Verdict) -> int:
    if v.ok:
        return 202
    if v.reason == "schema" and v.field is None:
        return 400
    return STATUS_BY_REASON.get(v.reason or "", 422)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    exchange: Exchange,
    *,
    tail: Path | None = None,
    unix_socket: Path | None = None,
    dashboard: Dashboard | None = None,
    security: HttpSecurity | None = None,
) -> Starlette:
    """The Starlette application around one :class:`~tocsin.web.hub.Exchange`;
    optionally also following a JSON Lines file and listening on a Unix socket,
    and serving the operator dashboard (:mod:`tocsin.web.dashboard`)."""
    cfg = exchange.config
    sec = security or HttpSecurity()
    prechecker = Prechecker(exchange.pipeline.ingress.precheck_many, cfg.admission, threads=2)
    #: local ingest tasks (``--tail``), watched by /healthz
    ingest_tasks: dict[str, asyncio.Task[int]] = {}
    #: the client address of each open event stream
    stream_owner: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def origin_ok(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser (partners, tocsin feed, curl)
        if origin in sec.allowed_origins:
            return True
        scheme, _, rest = origin.partition("://")
        return scheme in ("http", "https") and rest.lower() == request.headers.get("host", "").lower()

    async def post_messages(request: Request) -> Response:
        received = time.monotonic()
        if not sec.ingest:
            exchange.http_rejects["ingest_closed"] += 1
            return _error(403, "ingest_closed", "this server replays a recording and takes no input")
        if not origin_ok(request):
            exchange.http_rejects["cross_origin"] += 1
            return _error(
                403, "cross_origin", f"requests from {request.headers.get('origin')!r} are refused", "Origin"
            )
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form = CONTENT_TYPES.get(ctype)
        if form is None:
            exchange.http_rejects["unsupported_media_type"] += 1
            return _error(
                415,
                "unsupported_media_type",
                f"Content-Type {ctype or '(none)'!r}: use " + ", ".join(CONTENT_TYPES),
                "Content-Type",
            )
        try:
            body = await _read_body(request, cfg.max_body_bytes)
        except _TooLarge:
            exchange.http_rejects["too_large"] += 1
            return _error(413, "too_large", f"body over {cfg.max_body_bytes} bytes")
        except ClientDisconnect:
            exchange.http_rejects["disconnect"] += 1
            return Response(status_code=400)
        single = form != "ndjson"
        fmt = "msgpack" if form == "msgpack" else "json"
        if form == "msgpack":
            lines = [body]
        else:
            lines = [body.strip()] if single else [ln.strip() for ln in body.split(b"\n")]
        index = [i for i, ln in enumerate(lines) if ln]
        lines = [lines[i] for i in index]
        if not lines:
            exchange.http_rejects["empty"] += 1
            return _error(400, "empty", "no message in the body", "$")
        if len(lines) > cfg.max_lines:
            exchange.http_rejects["too_many_lines"] += 1
            return _error(413, "too_many_lines", f"more than {cfg.max_lines} messages in one request")
        ing = exchange.pipeline.ingress
        # decode and verify signatures off the event loop and off the worker, in
        # parallel with it (Ed25519 verification releases the GIL); the result
        # also says whose request this is: its class, for quotas and fair queueing
        client = request.client.host if request.client is not None else None
        lane = claimed_lane(lines, client)
        wait = exchange.admission.lane_wait(lane, len(lines))
        if wait > 0:  # a lane of mostly junk: refused before decoding
            exchange.http_rejects["rate_limited"] += 1
            return _error(
                429,
                "rate_limited",
                f"most recent messages from here failed; retry after {retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )
        try:  # (fair across lanes: admission.Prechecker)
            items = await prechecker.precheck(lines, fmt, lane, len(body))
        except asyncio.QueueFull:
            exchange.http_rejects["queue_full"] += 1
            return _error(429, "queue_full", "the exchange is busy; retry", headers={"Retry-After": "1"})
        bad = sum(1 for pc in items if pc.env is None or (pc.problem is not None and not ing.open_mode))
        exchange.admission.lane_result(lane, len(items) - bad, bad)
        klass = request_class(items, ing.windows, ing.open_mode)
        wait = exchange.admission.admit(klass, len(items), client)
        if wait > 0:
            exchange.http_rejects["rate_limited"] += 1
            return _error(
                429,
                "rate_limited",
                f"over the quota of {klass}; retry after {retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )
        try:
            verdicts = await exchange.submit(items, key=klass, nbytes=len(body), received=received)
        except QueueFull:
            exchange.http_rejects["queue_full"] += 1
            return _error(429, "queue_full", "the exchange is busy; retry", headers={"Retry-After": "1"})
        except TimeoutError:
            exchange.http_rejects["timeout"] += 1
            return _error(503, "timeout", "processing timed out; retry", headers={"Retry-After": "1"})
        except Exception as exc:
            exchange.http_rejects["internal"] += 1
            return _error(503, "internal", f"could not record the messages: {type(exc).__name__}")
        if single:
            v = verdicts[0]
            return JSONResponse(v.as_dict(), status_code=_status_for(v))
        results = []
        for i, v in zip(index, verdicts, strict=True):
            d = v.as_dict()
            d["line"] = i + 1
            results.append(d)
        ok = sum(1 for v in verdicts if v.ok)
        return JSONResponse({"accepted": ok, "rejected": len(verdicts) - ok, "results": results})

    async def events(request: Request) -> Response:
        hub = exchange.hub
        if hub is None:
            return _error(503, "starting", "server not started")
        kinds_q = request.query_params.get("kinds")
        kinds = set(kinds_q.split(",")) if kinds_q else None
        try:
            max_events = int(request.query_params.get("max_events", "0"))
        except ValueError:
            return _error(422, "schema", "max_events must be an integer", "max_events")
        client = request.client.host if request.client is not None else "?"
        mine = sum(1 for q_ in hub.subscribers if stream_owner.get(q_) == client)
        if len(hub.subscribers) >= sec.max_streams or mine >= sec.max_streams_per_client:
            exchange.http_rejects["too_many_streams"] += 1
            limit = sec.max_streams_per_client if mine >= sec.max_streams_per_client else sec.max_streams
            return _error(
                429, "too_many_streams", f"event streams capped ({limit} open)", headers={"Retry-After": "5"}
            )
        q = hub.subscribe()
        stream_owner[q] = client

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            try:
                yield b": tocsin event stream\nretry: 2000\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(q.get(), cfg.sse_heartbeat_s)
                    except TimeoutError:
                        item = ("heartbeat", _heartbeat(exchange))
                    if item is None:  # dropped as too slow, or shutdown
                        yield b"event: closed\ndata: {}\n\n"
                        return
                    event, data = item
                    if kinds is not None and event not in kinds:
                        if event == "heartbeat":
                            yield b": keep-alive\n\n"  # a comment keeps proxies and clients awake
                        continue
                    yield b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
                    sent += 1
                    if max_events and sent >= max_events:
                        return
            finally:
                hub.unsubscribe(q)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def alerts(request: Request) -> Response:
        hub = exchange.hub
        hist = list(hub.history) if hub is not None else []
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return _error(422, "schema", "limit must be an integer", "limit")
        if limit < 0:
            return _error(422, "schema", "limit must be >= 0", "limit")
        sel = hist[-limit:] if limit else []
        body = b"[" + b",".join(encode_json(e) for e in sel) + b"]"
        return Response(body, media_type="application/json")

    async def cap_feed(request: Request) -> Response:
        hub = exchange.hub
        if hub is None:
            return _error(503, "starting", "the server is starting")
        cur = hub.current
        body = await exchange.run_exclusive(
            lambda: cur.atom(
                href=lambda i: f"/cap/{i}.xml", feed_id="urn:tocsin:cap-feed", self_href="/feed/cap.atom"
            )
        )
        return Response(body, media_type="application/atom+xml")

    async def cap_document(request: Request) -> Response:
        hub = exchange.hub
        ident = request.path_params["ident"]
        if hub is None:
            return _error(503, "starting", "the server is starting")
        cur = hub.current
        doc = await exchange.run_exclusive(lambda: cur.document(ident))
        if doc is None:
            return _error(404, "not_found", f"no CAP document {ident!r}", "id")
        return Response(doc.encode("utf-8"), media_type="application/cap+xml")

    async def healthz(request: Request) -> Response:
        j = exchange.pipeline.journal
        # a local ingest (--tail) that stopped is an outage, not "ok"
        dead = [name for name, t in ingest_tasks.items() if t.done()]
        ok = exchange.worker_alive and not dead
        body: dict[str, Any] = {
            "status": "ok" if ok else "down",
            "version": __version__,
            "mode": exchange.mode,
            "clock": cfg.clock,
            "uptime_s": round(exchange.wall_clock() - exchange.started, 3),
            "queue": exchange.queue_depth,
            # accepted inputs and ticks whose outputs are not yet out (stage process)
            "stage_backlog": exchange.pipeline.stage_backlog,
            "links": {
                p: {"silent": s.silent, "last_seen": s.last_seen, "messages": s.messages}
                for p, s in sorted(exchange.links.items())
            },
        }
        if j is not None:
            body["journal"] = {"entries": j.last_seq, "head": j.head.hex(), "synchronous": j.synchronous}
        if ingest_tasks:
            body["ingest"] = {
                name: ("stopped" if t.done() else "running") for name, t in ingest_tasks.items()
            }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(prometheus_text(exchange), media_type="text/plain; version=0.0.4")

    api_doc = OPENAPI
    if dashboard is not None:
        api_doc = {**OPENAPI, "paths": {**OPENAPI["paths"], **dashboard.openapi_paths()}}

    async def openapi(request: Request) -> Response:
        return JSONResponse(api_doc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from tocsin.web.local_ingest import serve_unix_socket, tail_file

        await exchange.start()
        prechecker.start()
        if dashboard is not None:
            dashboard.started()
        stop = asyncio.Event()
        tasks = []
        sock_server = None
        if tail is not None:
            tasks.append(asyncio.create_task(tail_file(exchange, tail, stop=stop)))
            ingest_tasks["tail"] = tasks[-1]
        if unix_socket is not None:
            sock_server = await serve_unix_socket(exchange, unix_socket)
        try:
            yield
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            if sock_server is not None:
                sock_server.close()
            await prechecker.stop()
            await exchange.stop()
            if dashboard is not None:
                dashboard.close()

    routes: list[BaseRoute] = [
        Route("/v1/messages", post_messages, methods=["POST"]),
        Route("/v1/events", events, methods=["GET"]),
        Route("/v1/alerts", alerts, methods=["GET"]),
        Route("/feed/cap.atom", cap_feed, methods=["GET"]),
        Route("/cap/{ident}.xml", cap_document, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    if dashboard is not None:
        routes.extend(dashboard.routes())
    middleware = []
    if sec.allowed_hosts is not None:
        middleware.append(Middleware(HostCheck, hosts=sec.allowed_hosts, counter=exchange.http_rejects))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def _heartbeat(exchange: Exchange) -> bytes:
    return json.dumps(
        {"t": exchange.wall_clock(), "data_t": exchange.pipeline.data_time, "queue": exchange.queue_depth},
        separators=(",", ":"),
    ).encode()


# ---------------------------------------------------------------- metrics


def prometheus_text(exchange: Exchange) -> bytes:
    """Counters and gauges in the Prometheus text format 0.0.4."""
    pipe = exchange.pipeline
    ing = pipe.ingress
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            out.append(f"{name}{labels} {value:g}")

    metric(
        "tocsin_messages_accepted_total",
        "counter",
        "Messages accepted by ingress, by kind.",
        [(f'{{kind="{k}"}}', v) for k, v in sorted(ing.accepted.items())],
    )
    metric(
        "tocsin_messages_rejected_total",
        "counter",
        "Messages refused by ingress, by reason.",
        [(f'{{reason="{r}"}}', ing.rejected.get(r, 0)) for r in REASONS],
    )
    metric(
        "tocsin_messages_rejected_by_partner_total",
        "counter",
        "Messages refused by ingress, by partner (authenticated; '-' otherwise) and reason.",
        [(f'{{partner="{p}",reason="{r}"}}', v) for (p, r), v in sorted(ing.rejected_by.items())],
    )
    adm = exchange.admission
    metric(
        "tocsin_admission_refused_total",
        "counter",
        "Messages refused as over their class's rate quota or queue bound (429), by class.",
        [
            (f'{{class="{k}"}}', v)
            for k, v in sorted(
                (k, adm.refused_messages.get(k, 0) + exchange.queue_full_messages.get(k, 0))
                for k in set(adm.refused_messages) | set(exchange.queue_full_messages)
            )
        ],
    )
    metric(
        "tocsin_legacy_signatures_total",
        "counter",
        "Messages accepted under a legacy v1 signature (registry accept_v1), by partner.",
        [(f'{{partner="{k}"}}', v) for k, v in sorted(ing.legacy_accepted.items())],
    )
    metric(
        "tocsin_http_rejected_total",
        "counter",
        "Requests refused before ingress (size, flood, timeout), by reason.",
        [(f'{{reason="{r}"}}', v) for r, v in sorted(exchange.http_rejects.items())],
    )
    metric(
        "tocsin_outputs_total",
        "counter",
        "Messages produced by the stages, by kind.",
        [(f'{{kind="{k}"}}', v) for k, v in sorted(pipe.metrics.outputs.items())],
    )
    metric("tocsin_ticks_total", "counter", "Stage ticks.", [("", pipe.metrics.ticks)])
    metric("tocsin_stage_errors_total", "counter", "Stage exceptions.", [("", pipe.metrics.stage_errors)])
    metric("tocsin_sink_errors_total", "counter", "Sink exceptions.", [("", pipe.metrics.sink_errors)])
    metric(
        "tocsin_tick_errors_total",
        "counter",
        "Ticks that could not be recorded.",
        [("", exchange.tick_errors)],
    )
    metric("tocsin_queue_depth", "gauge", "Batches waiting for the worker.", [("", exchange.queue_depth)])
    metric(
        "tocsin_stage_backlog",
        "gauge",
        "Accepted inputs and ticks whose outputs the stage process has not yet returned.",
        [("", pipe.stage_backlog)],
    )
    wt = exchange.work_times
    out.append(
        "# HELP tocsin_pipeline_work_seconds Time each kind of work held the pipeline thread "
        "(batch, tick, collect, housekeeping: snapshots and rotations, exclusive, start)."
    )
    out.append("# TYPE tocsin_pipeline_work_seconds histogram")
    for work in sorted(wt.counts):
        cum = 0
        for le, n in zip((*WORK_BUCKETS, float("inf")), wt.counts[work], strict=True):
            cum += n
            bound = "+Inf" if le == float("inf") else f"{le:g}"
            out.append(f'tocsin_pipeline_work_seconds_bucket{{work="{work}",le="{bound}"}} {cum}')
        out.append(f'tocsin_pipeline_work_seconds_sum{{work="{work}"}} {wt.sums[work]:g}')
        out.append(f'tocsin_pipeline_work_seconds_count{{work="{work}"}} {cum}')
    metric(
        "tocsin_pipeline_work_longest_seconds",
        "gauge",
        "The longest time one piece of work held the pipeline thread since start, by kind.",
        [(f'{{work="{k}"}}', v) for k, v in sorted(wt.longest.items())],
    )
    metric(
        "tocsin_gc_collections_total",
        "counter",
        "Passes of this process's cycle collector, by generation (2: the full passes, which stop "
        "every thread for as long as they walk the objects not frozen at start-up).",
        [(f'{{generation="{g}"}}', float(st["collections"])) for g, st in enumerate(gc.get_stats())],
    )
    metric(
        "tocsin_gc_frozen_objects",
        "gauge",
        "Objects the cycle collector no longer walks (what existed once the server had started).",
        [("", float(gc.get_freeze_count()))],
    )
    hub = exchange.hub
    metric(
        "tocsin_sse_clients",
        "gauge",
        "Connected event-stream clients.",
        [("", len(hub.subscribers) if hub else 0)],
    )
    metric(
        "tocsin_sse_dropped_clients_total",
        "counter",
        "Event-stream clients dropped as too slow.",
        [("", hub.dropped_clients if hub else 0)],
    )
    metric(
        "tocsin_link_silent",
        "gauge",
        "1 when a partner link has gone silent.",
        [(f'{{partner="{p}"}}', 1.0 if s.silent else 0.0) for p, s in sorted(exchange.links.items())],
    )
    if pipe.journal is not None:
        metric("tocsin_journal_entries", "gauge", "Entries in the journal.", [("", pipe.journal.last_seq)])
    return ("\n".join(out) + "\n").encode()


# ---------------------------------------------------------------- OpenAPI

_ERR = {
    "description": "error naming the field",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tocsin exchange", "version": __version__, "description": "Embedded tocsin exchange."},
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "paths": {
        "/v1/messages": {
            "post": {
                "summary": "Submit exchange-format messages",
                "description": "One JSON message (Content-Type application/json), JSON Lines "
                "(application/x-ndjson): one message a line, one result per line, or one "
                "MessagePack message (application/msgpack). Any other type: 415. A browser "
                "Origin other than the server's own (or an allowed one): 403.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": {
                    "202": {"description": "accepted (single message)"},
                    "200": {"description": "per-line results (JSON Lines)"},
                    "400": _ERR,
                    "403": _ERR,
                    "409": _ERR,
                    "413": _ERR,
                    "415": _ERR,
                    "422": _ERR,
                    "429": _ERR,
                    "503": _ERR,
                },
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Server-sent events: track, alert, link, heartbeat",
                "parameters": [
                    {
                        "name": "kinds",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "comma list",
                    },
                    {"name": "max_events", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {}}}},
            }
        },
        "/v1/alerts": {
            "get": {
                "summary": "Alert history, newest last",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "alert messages", "content": {"application/json": {}}}},
            }
        },
        "/feed/cap.atom": {
            "get": {
                "summary": "The warnings in force: one Atom entry per active (public, area) thread, "
                "linking to its latest CAP 1.2 document",
                "responses": {"200": {"description": "Atom", "content": {"application/atom+xml": {}}}},
            }
        },
        "/cap/{ident}.xml": {
            "get": {
                "summary": "One CAP 1.2 document by its identifier (stable once issued)",
                "parameters": [
                    {"name": "ident", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "CAP 1.2", "content": {"application/cap+xml": {}}},
                    "404": {"description": "unknown identifier"},
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Health",
                "responses": {"200": {"description": "ok"}, "503": {"description": "down"}},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
        },
    },
    "components": {
        "schemas": {
            "Envelope": {
                "type": "object",
                "required": ["v", "kind", "partner", "source", "seq", "sent", "body"],
                "properties": {
                    "v": {"const": 1},
                    "kind": {"type": "string", "enum": ["sensor", "plot", "track", "alert", "heartbeat"]},
                    "partner": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    "source": {"type": "string", "minLength": 1, "maxLength": 128},
                    "seq": {"type": "integer", "minimum": 0},
                    "sent": {"type": "number", "minimum": 0},
                    "body": {"type": "object"},
                    "sig": {"type": "string", "description": "Ed25519, base64url without padding"},
                },
            },
            "Error": {
                "type": "object",
                "required": ["ok", "reason", "detail"],
                "properties": {
                    "ok": {"const": False},
                    "reason": {"type": "string"},
                    "field": {"type": "string", "description": "JSON path of the bad field"},
                    "detail": {"type": "string"},
                },
            },
        }
    },
}

__all__ = [
    "CONTENT_TYPES",
    "OPENAPI",
    "STATUS_BY_REASON",
    "HostCheck",
    "HttpSecurity",
    "create_app",
    "host_name",
    "prometheus_text",
]
