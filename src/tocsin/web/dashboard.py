"""The operator dashboard: a static page (``static/``) and the JSON it reads.

=============================  ===================================================
GET  /                         the page (map, alerts, tracks, timeline, operators)
GET  /static/...               bundled assets (Leaflet vendored: no CDN, no tiles)
GET  /v1/config                mode (EXERCISE/ACTUAL), replay or live, server name
GET  /v1/state                 snapshot: tracks with trails, alerts, sensors, links
GET  /v1/areas.geojson         the area registry, simplified, as GeoJSON (cached)
GET  /v1/replay                a recorded run as a time-ordered list of messages
GET  /auth/session             who is logged in (and the CSRF token), else 401
POST /auth/login               ``{"name", "password"}`` -> session cookie
POST /auth/logout              end the session
GET  /v1/manual                pending manual alerts (logged in)
POST /v1/manual/propose        propose an Alert / Update / Cancel (logged in)
POST /v1/manual/confirm        confirm another operator's proposal (logged in)
POST /v1/manual/withdraw       withdraw one's own proposal (supervisor: any)
GET  /v1/operator/log          operator journal entries (supervisor)
=============================  ===================================================

Every POST needs the session cookie *and* the session's CSRF token in the
``X-CSRF-Token`` header (except login, which needs neither); a POST whose
``Origin`` names another site is refused too. Every operator action (login,
failed login, logout, propose, confirm, refused confirm, withdraw, issue) is
appended to the journal as an ``operator`` entry (JSON) through
:meth:`~tocsin.web.hub.Exchange.run_exclusive`, so it never races the pipeline.

The page keeps one state model fed by three inputs: the ``/v1/state`` snapshot
(on load and after every reconnect of the event stream), live ``/v1/events``,
and, in replay mode, ``/v1/replay`` played through a time slider. Sensor
descriptors are inputs, not outputs, so the live snapshot reads them from the
journal with a separate read-only connection.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tocsin.journal.store import Journal
from tocsin.limits import json_loads
from tocsin.runtime import JsonlFileSink
from tocsin.web.area_map import areas_geojson
from tocsin.web.auth import (
    DeviceTokens,
    LoginGate,
    OperatorStore,
    Session,
    SessionStore,
    csrf_ok,
    device_cookie,
)
from tocsin.web.hub import Exchange
from tocsin.web.live import LiveState, SensorWatcher, _LiveKeeper, display_dict, message_time
from tocsin.web.manual_desk import DeskRefusal, ManualDesk
from tocsin.web.recording import Recording, link_events, load_recording
from tocsin.wire import Envelope

_T = TypeVar("_T")

STATIC = Path(__file__).parent / "static"
COOKIE = "tocsin_session"
CSRF_HEADER = "x-csrf-token"
DisplayMode = Literal["exercise", "actual"]

#: Content-Security-Policy of the page: nothing from outside this server
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# ---------------------------------------------------------------- the dashboard


@dataclass
class DashboardConfig:
    """What the page shows and who may act."""

    mode: DisplayMode = "exercise"
    #: a recorded run to replay instead of (or beside) the live picture
    replay: Recording | None = None
    #: operator accounts file (None: nobody can log in)
    operators: Path | None = None
    #: a name for this server shown in the page title
    name: str = "tocsin"
    #: a session ends after this long without a request
    session_idle_s: float = 3600.0
    #: where the manual-alert book is kept (None: no manual alerts)
    manual_dir: Path | None = None
    #: the warning mode of manual alerts (:mod:`tocsin.warning.mode`; None: a
    #: drill, Exercise). A live mode needs ``mode="actual"`` and the reverse.
    manual_mode: Any = None

    def __post_init__(self) -> None:
        live = bool(getattr(self.manual_mode, "live", False))
        if live != (self.mode == "actual"):
            raise ValueError(
                "the banner must say what manual alerts will be: mode='actual' exactly when "
                "manual_mode is a live mode"
            )


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def _err(status: int, reason: str, detail: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "reason": reason, "detail": detail}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def _gzip_response(request: Request, raw: bytes, gz: bytes | None) -> Response:
    if gz is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            gz, media_type="application/json", headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        )
    return Response(raw, media_type="application/json", headers={"Vary": "Accept-Encoding"})


class Dashboard:
    """Routes of the page and its JSON, around one running :class:`Exchange`."""

    def __init__(
        self,
        exchange: Exchange,
        config: DashboardConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.exchange = exchange
        self.config = config or DashboardConfig()
        self.clock = clock
        self.live = LiveState()
        exchange.pipeline.sinks.append(self.live)
        journal = exchange.pipeline.journal
        self.sensors = SensorWatcher(journal.path) if journal is not None else None
        if journal is not None:
            # a restart: the picture as it was, manual alerts included, rebuilt by
            # recovery from the snapshot and the journal after it (not the whole
            # journal): register before Pipeline.recover() runs
            exchange.pipeline.keep("dashboard", _LiveKeeper(self.live))
            assert self.sensors is not None
            exchange.pipeline.keep("sensors", self.sensors)
        self.sessions = SessionStore(clock=clock, idle_s=self.config.session_idle_s)
        devices = None
        if self.config.operators is not None:  # device tokens survive a restart (auth.DeviceTokens)
            try:
                devices = DeviceTokens.at(self.config.operators.with_name(".device-tokens.key"), clock=clock)
            except OSError:  # a read-only directory: tokens then last until the server restarts
                devices = None
        self.gate = LoginGate(clock=clock, devices=devices)
        self.throttle = self.gate.throttle
        self._store: OperatorStore | None = None
        self._store_mtime: float | None = None
        self._areas: tuple[bytes, bytes] | None = None
        self._replay: tuple[bytes, bytes] | None = None
        self._areas_lock = threading.Lock()
        self.desk: ManualDesk | None = None
        if self.config.manual_dir is not None:
            try:
                self.desk = ManualDesk(self.config.manual_dir, self.config.manual_mode)
            except ImportError:  # the warning package is not installed
                self.desk = None

    # ------------------------------------------------------------ helpers

    def store(self) -> OperatorStore | None:
        """The accounts file, re-read when it changes (``tocsin operator add/remove``
        while the server runs); sessions of removed accounts end."""
        path = self.config.operators
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime
        except OSError:
            self._store, self._store_mtime = None, None
            return None
        if self._store is None or mtime != self._store_mtime:
            store = OperatorStore(path)
            self._store, self._store_mtime = store, mtime
            for s in list(self.sessions.sessions.values()):
                op = store.operators.get(s.name)
                if op is None or op.role != s.role:
                    self.sessions.drop(s.token)
        return self._store

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    async def journal(self, event: str, operator: str | None, **fields: Any) -> None:
        """Append an ``operator`` entry (on the worker, between batches)."""
        j = self.exchange.pipeline.journal
        if j is None:
            return
        doc = {"event": event, "operator": operator, "t": self.clock(), **fields}
        payload = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        await self.exchange.run_exclusive(lambda: j.append("operator", payload))

    def _cross_site(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return origin == "null"
        host = request.headers.get("host", "")
        return origin.split("://", 1)[-1] != host

    def guard(self, request: Request, role: str | None = None) -> Session | JSONResponse:
        """The session of a state-changing request, or the refusal: 401 without a
        session, 403 for a cross-site origin, a missing or wrong CSRF token, or a
        role that may not do this."""
        s = self.session(request)
        if s is None:
            return _err(401, "login_required", "log in first")
        if self._cross_site(request):
            return _err(403, "cross_site", "request from another origin refused")
        if request.method == "POST" and not csrf_ok(s, request.headers.get(CSRF_HEADER)):
            return _err(403, "csrf", "missing or wrong X-CSRF-Token", "X-CSRF-Token")
        if role is not None and s.role != role:
            return _err(403, "role", f"needs the {role} role")
        return s

    async def _body(self, request: Request, limit: int = 64 * 1024) -> dict[str, Any] | JSONResponse:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                return _err(413, "too_large", f"body over {limit} bytes")
        try:
            d = json_loads(raw or b"{}")  # (nesting bounded; a repeated member name refused)
        except ValueError as exc:
            return _err(400, "schema", f"body is not JSON: {exc}", "$")
        if not isinstance(d, dict):
            return _err(422, "schema", "body must be a JSON object", "$")
        return d

    # ------------------------------------------------------------ pages and data

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    async def config_view(self, request: Request) -> Response:
        cfg = self.config
        return _json(
            {
                "mode": cfg.mode,
                "name": cfg.name,
                "replay": cfg.replay is not None,
                "replay_source": cfg.replay.source if cfg.replay is not None else None,
                "exchange": self.exchange.mode,
                "accounts": cfg.operators is not None,
                "link_heartbeat_s": self.exchange.config.link_heartbeat_s,
            }
        )

    async def state(self, request: Request) -> Response:
        snap = self.live.snapshot()
        sensors: list[dict[str, Any]] = []
        if self.sensors is not None:
            import asyncio

            sensors = await asyncio.to_thread(self.sensors.poll)
        snap["sensors"] = sensors
        snap["links"] = {
            p: {"silent": s.silent, "last_seen": s.last_seen, "messages": s.messages}
            for p, s in sorted(self.exchange.links.items())
        }
        snap["mode"] = self.config.mode
        snap["server_t"] = self.clock()
        # msgspec: ~5x faster than json.dumps on a 300-track snapshot
        return Response(msgspec.json.encode(snap), media_type="application/json")

    async def areas(self, request: Request) -> Response:
        if self._areas is None:
            import asyncio

            def build() -> tuple[bytes, bytes]:
                with self._areas_lock:
                    if self._areas is None:
                        raw = json.dumps(areas_geojson(), separators=(",", ":")).encode()
                        self._areas = (raw, gzip.compress(raw, 6))
                    return self._areas

            await asyncio.to_thread(build)
        assert self._areas is not None
        resp = _gzip_response(request, *self._areas)
        resp.headers["Cache-Control"] = "max-age=3600"
        return resp

    async def replay(self, request: Request) -> Response:
        rec = self.config.replay
        if rec is None:
            return _err(404, "no_replay", "this server was not started with --replay")
        if self._replay is None:
            raw = rec.to_json()
            self._replay = (raw, gzip.compress(raw, 6))
        return _gzip_response(request, *self._replay)

    # ------------------------------------------------------------ sessions

    async def session_view(self, request: Request) -> Response:
        s = self.session(request)
        if s is None:
            return _err(401, "login_required", "not logged in")
        return _json(s.public())

    async def login(self, request: Request) -> Response:
        if self._cross_site(request):
            return _err(403, "cross_site", "request from another origin refused")
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        name, password, totp = body.get("name"), body.get("password"), body.get("totp")
        if not isinstance(name, str) or not name or len(name) > 64:
            return _err(422, "schema", "name is required", "name")
        if not isinstance(password, str) or not password or len(password) > 1024:
            return _err(422, "schema", "password is required", "password")
        if totp is not None and (not isinstance(totp, str) or len(totp) > 16):
            return _err(422, "schema", "totp must be the 6-digit code", "totp")
        store = self.store()
        if store is None:
            return _err(403, "no_accounts", "no operator accounts on this server (tocsin operator add)")
        import asyncio

        res = await asyncio.to_thread(
            self.gate.attempt,
            store,
            name,
            password,
            totp or None,
            address=request.client.host if request.client is not None else None,
            device_token=request.cookies.get(device_cookie(name)),
        )
        if res.status == 429:
            return JSONResponse(
                {
                    "ok": False,
                    "reason": "throttled",
                    "detail": f"too many failed logins from this client; try again in {res.retry_after} s",
                },
                status_code=429,
                headers={"Retry-After": str(res.retry_after)},
            )
        if res.op is None:
            if res.journal_failure:
                await self.journal("login_failed", name[:64], trusted_device=res.trusted)
            elif res.flood_started:
                await self.journal("login_flood", None, note="more failed logins this minute not journalled")
            return _err(401, "bad_login", "wrong name, password or code")
        op = res.op
        s = self.sessions.create(op)
        await self.journal("login", op.name, role=op.role, factors=list(res.factors))
        resp = _json(s.public())
        resp.set_cookie(
            COOKIE,
            s.token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        if res.device_token is not None:  # this browser is now known for this operator
            resp.set_cookie(
                device_cookie(name),
                res.device_token,
                max_age=int(self.gate.devices.max_age_s),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/auth/login",
            )
        return resp

    async def logout(self, request: Request) -> Response:
        s = self.guard(request)
        if isinstance(s, JSONResponse):
            return s
        self.sessions.drop(s.token)
        await self.journal("logout", s.name)
        resp = _json({"ok": True})
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    async def operator_log(self, request: Request) -> Response:
        s = self.guard(request, role="supervisor")
        if isinstance(s, JSONResponse):
            return s
        j = self.exchange.pipeline.journal
        out: list[dict[str, Any]] = []
        if j is not None:
            import asyncio

            def read() -> list[dict[str, Any]]:
                rows = []
                with Journal(j.path, readonly=True) as ro:
                    for e in ro.entries(kinds=("operator",)):
                        rows.append({"seq": e.seq, "ts": e.ts, **json.loads(e.payload)})
                return rows[-500:]

            out = await asyncio.to_thread(read)
        return _json({"entries": out})

    # ------------------------------------------------------------ manual alerts

    def _append(self, event: str, operator: str | None, **fields: Any) -> None:
        """An ``operator`` journal entry; only on the worker (inside run_exclusive)."""
        j = self.exchange.pipeline.journal
        if j is None:
            return
        doc = {"event": event, "operator": operator, "t": self.clock(), **fields}
        j.append("operator", json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())

    def _issue(self, envs: list[Envelope]) -> None:
        """Send issued manual alerts to every sink but the output files (which
        hold exactly what the stages produced, so replays stay byte-identical);
        the journal keeps them in the ``issued`` operator entries."""
        pipe = self.exchange.pipeline
        for env in envs:
            for sink in pipe.sinks:
                if isinstance(sink, JsonlFileSink):
                    continue
                try:
                    sink.emit(env)
                except Exception:  # one broken sink must not stop the others
                    pipe.metrics.sink_errors += 1

    def _operators(self) -> list[str]:
        store = self.store()
        return list(store.operators) if store is not None else []

    def _alert_time(self) -> float:
        """Manual alerts live on the exchange's clock (data time with
        ``--clock data``), so they sort with the automatic ones."""
        t = self.exchange.now()
        return t if t > 0 else self.clock()

    def _desk_guard(self, request: Request) -> tuple[Session, ManualDesk] | JSONResponse:
        """The session and the manual desk of a manual-alert request, or the refusal."""
        s = self.guard(request)
        if isinstance(s, JSONResponse):
            return s
        if self.desk is None:
            return _err(503, "no_manual", "manual alerts are not available on this server")
        return s, self.desk

    async def _desk_request(
        self, request: Request, *, need_id: bool
    ) -> tuple[Session, ManualDesk, dict[str, Any]] | JSONResponse:
        """:meth:`_desk_guard` plus the JSON body (with a pending proposal's ``id``
        when ``need_id``), or the refusal."""
        g = self._desk_guard(request)
        if isinstance(g, JSONResponse):
            return g
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        if need_id:
            pid = body.get("id")
            if not isinstance(pid, str) or not pid:
                return _err(422, "schema", "the id of a pending proposal is required", "id")
        return g[0], g[1], body

    async def _desk_act(self, act: Callable[[], _T | DeskRefusal]) -> _T | JSONResponse:
        """Run a desk action under the exchange's lock; a refusal becomes its 4xx."""
        out = await self.exchange.run_exclusive(act)
        if isinstance(out, DeskRefusal):
            return _err(out.status, out.reason, out.detail, out.field)
        return out

    async def manual_view(self, request: Request) -> Response:
        g = self._desk_guard(request)
        if isinstance(g, JSONResponse):
            return g
        desk, ops = g[1], self._operators()
        return _json(await self.exchange.run_exclusive(lambda: desk.view(ops)))

    async def manual_propose(self, request: Request) -> Response:
        r = await self._desk_request(request, need_id=False)
        if isinstance(r, JSONResponse):
            return r
        s, desk, body = r
        msg_type = body.get("msg_type", "Alert")
        areas = body.get("areas", [])
        text = body.get("text", "")
        template = body.get("template", "")
        refs = body.get("references", [])
        if not isinstance(msg_type, str):
            return _err(422, "schema", "must be a string", "msg_type")
        if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
            return _err(422, "schema", "must be a list of area codes", "areas")
        if isinstance(text, dict):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in text.items()):
                return _err(422, "schema", "must map a language (ja-JP, ko-KR, en-US) to its text", "text")
        elif not isinstance(text, str):
            return _err(422, "schema", "must be a string or an object of texts by language", "text")
        if not isinstance(template, str):
            return _err(422, "schema", "must be a string", "template")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            return _err(422, "schema", "must be a list of alert ids", "references")
        ops = self._operators()
        t = self._alert_time()

        def act() -> dict[str, Any] | DeskRefusal:
            try:
                res = desk.propose(ops, s.name, msg_type, areas, text, refs, t, template=template or None)
            except DeskRefusal as exc:
                self._append("propose_refused", s.name, msg_type=msg_type, areas=areas, why=exc.detail)
                return exc
            self._append("propose", s.name, id=res["id"], msg_type=msg_type, areas=res["areas"], text=text,
                         references=refs)  # fmt: skip
            return res

        out = await self._desk_act(act)
        return out if isinstance(out, JSONResponse) else _json(out)

    async def manual_confirm(self, request: Request) -> Response:
        r = await self._desk_request(request, need_id=True)
        if isinstance(r, JSONResponse):
            return r
        s, desk, body = r
        pid: str = body["id"]
        ops = self._operators()
        t = self._alert_time()

        def act() -> list[Envelope] | DeskRefusal:
            try:
                envs = desk.confirm(ops, pid, s.name, t)
            except DeskRefusal as exc:
                self._append("confirm_refused", s.name, id=pid, why=exc.detail)
                return exc
            for env in envs:
                self._append("issued", s.name, id=pid, alert=msgspec.to_builtins(env))
            self._issue(envs)
            return envs

        out = await self._desk_act(act)
        if isinstance(out, JSONResponse):
            return out
        return _json(
            {
                "ok": True,
                "alert_id": out[0].body.id if out else None,
                "alerts": [display_dict(e) for e in out],
            }
        )

    async def manual_withdraw(self, request: Request) -> Response:
        r = await self._desk_request(request, need_id=True)
        if isinstance(r, JSONResponse):
            return r
        s, desk, body = r
        pid: str = body["id"]
        ops = self._operators()
        t = self._alert_time()

        def act() -> bool | DeskRefusal:
            try:
                desk.withdraw(ops, pid, s.name, s.role == "supervisor", t)
            except DeskRefusal as exc:
                self._append("withdraw_refused", s.name, id=pid, why=exc.detail)
                return exc
            self._append("withdraw", s.name, id=pid)
            return True

        out = await self._desk_act(act)
        return out if isinstance(out, JSONResponse) else _json({"ok": True})

    # ------------------------------------------------------------ routes

    @staticmethod
    def openapi_paths() -> dict[str, Any]:
        """The page's endpoints for ``/openapi.json`` (see the module doc)."""

        def op(summary: str, *codes: int, body: str | None = None) -> dict[str, Any]:
            d: dict[str, Any] = {
                "summary": summary,
                "responses": {str(c): {"description": str(c)} for c in codes},
            }
            if body is not None:
                d["requestBody"] = {
                    "required": True,
                    "description": body,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
                d["parameters"] = [
                    {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"}}
                ]
            return d

        return {
            "/": {"get": op("The operator dashboard (HTML)", 200)},
            "/v1/config": {"get": op("Mode (exercise/actual), replay or live", 200)},
            "/v1/state": {"get": op("Snapshot: tracks with trails, alerts, sensors, links", 200)},
            "/v1/areas.geojson": {"get": op("The area registry as GeoJSON (simplified)", 200)},
            "/v1/replay": {"get": op("The recording being replayed, in time order", 200, 404)},
            "/auth/session": {"get": op("The logged-in operator and CSRF token", 200, 401)},
            "/auth/login": {
                "post": {
                    **op("Log in: sets the HttpOnly session cookie", 200, 401, 403, 422, 429),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "required": ["name", "password"]}
                            }
                        },
                    },
                }
            },
            "/auth/logout": {"post": op("End the session", 200, 401, 403, body="{}")},
            "/v1/manual": {"get": op("Pending manual alerts and issued ones", 200, 401)},
            "/v1/manual/propose": {
                "post": op(
                    "Propose a manual Alert, Update or Cancel",
                    200,
                    401,
                    403,
                    404,
                    422,
                    body="{msg_type, areas, text, references}",
                )
            },
            "/v1/manual/confirm": {
                "post": op("Confirm another operator's proposal: issue it", 200, 401, 403, 404, body="{id}")
            },
            "/v1/manual/withdraw": {"post": op("Withdraw a proposal", 200, 401, 403, 404, body="{id}")},
            "/v1/operator/log": {"get": op("Operator journal entries (supervisor)", 200, 401, 403)},
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/v1/config", self.config_view, methods=["GET"]),
            Route("/v1/state", self.state, methods=["GET"]),
            Route("/v1/areas.geojson", self.areas, methods=["GET"]),
            Route("/v1/replay", self.replay, methods=["GET"]),
            Route("/auth/session", self.session_view, methods=["GET"]),
            Route("/auth/login", self.login, methods=["POST"]),
            Route("/auth/logout", self.logout, methods=["POST"]),
            Route("/v1/operator/log", self.operator_log, methods=["GET"]),
            Route("/v1/manual", self.manual_view, methods=["GET"]),
            Route("/v1/manual/propose", self.manual_propose, methods=["POST"]),
            Route("/v1/manual/confirm", self.manual_confirm, methods=["POST"]),
            Route("/v1/manual/withdraw", self.manual_withdraw, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]

    def started(self) -> None:
        """After :meth:`Exchange.start` (the alert history, manual alerts
        included, is the exchange's :class:`~tocsin.web.hub.AlertHistory`,
        rebuilt by recovery)."""

    def close(self) -> None:
        if self.sensors is not None:
            self.sensors.close()


# the live state, recordings and area map live in their own modules
# (tocsin.web.live, .recording, .area_map); re-exported here for callers of old
__all__ = [
    "CSP",
    "Dashboard",
    "DashboardConfig",
    "LiveState",
    "Recording",
    "SensorWatcher",
    "areas_geojson",
    "display_dict",
    "link_events",
    "load_recording",
    "message_time",
]
