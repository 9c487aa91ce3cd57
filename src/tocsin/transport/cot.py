"""Cursor-on-Target (CoT 2.0) for TAK clients, built and sent with ``pytak``.

What a TAK user sees (uids are stable, so each event replaces the previous one):

- **Tracks** ``tocsin.track.<id>``: a point with ``ce``/``le`` (1-sigma horizontal /
  vertical error from the covariance), ``<track course speed>``, remarks. Its type
  carries the affiliation the :class:`CotPolicy` gives: a confirmed ballistic track
  is hostile ``a-h-A-W-M`` (air, weapon, missile in flight), a tentative one
  suspect ``a-s-A-W-M``, anything else unknown ``a-u-A``. A deleted track is sent
  once with ``stale = time``.
- **Predicted impact** ``tocsin.impact.<id>``: a drawn ellipse ``u-d-c-e``
  (``<shape><ellipse major minor angle>``, metres and degrees) styled
  (``strokeColor``, ``fillColor`` ARGB, ``strokeWeight``, ``labels_on``) and linked
  to its track (``<link uid="tocsin.track.<id>" relation="p-p">``).
- **Warned areas** ``tocsin.area.<code>``: a closed polygon ``u-d-f`` (the area's
  outer ring, simplified to ``policy.area_points``), red while warned, green once
  an alert closes it, named in the partner's language, the alert's headline in
  the remarks and a link to the alert.
- **Alerts** ``tocsin.alert.<id>``: a GeoChat message ``b-t-f`` to All Chat Rooms
  with the alert's headline and instruction in the partner's language (taken
  from the CAP document's ``info`` block in that language).

Times are the messages' own (data time), ISO 8601 UTC with ``Z``.

Delivery (:class:`CotSink`): one thread running an asyncio loop with ``pytak``'s
connection (``tcp://`` or ``tls://`` with a client certificate, CA and key files;
``pytak`` speaks TAK Protocol v1 streaming (protobuf, via ``takproto``) when
``tak_proto=1``). The sink keeps the **latest event of every uid**: a new event
replaces a queued one for the same uid (bounded memory under any rate), and after
a reconnect every event not yet stale is sent again, so a TAK client that was cut
off gets the current picture back, not a gap. Reconnects back off exponentially
with jitter (``pytak.supervise_with_reconnect``).
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import math
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from tocsin.geo import ecef_to_geodetic
from tocsin.wire import AlertBody, Envelope, TrackBody

with warnings.catch_warnings():  # pytak warns at import when its optional aiohttp is absent
    warnings.simplefilter("ignore")
    import pytak

__all__ = ["CotPolicy", "CotSink", "CotTcpSink", "alert_events", "cot_time", "track_events"]

#: ARGB colours as TAK writes them (signed 32-bit integers)
RED = -65536  # 0xFFFF0000
GREEN = -16711936  # 0xFF00FF00
ORANGE = -23296  # 0xFFFFA500
RED_FILL = 0x40FF0000  # 25 % opaque
GREEN_FILL = 0x3000FF00
ORANGE_FILL = 0x40FFA500


def cot_time(t: float) -> str:
    """CoT time: ISO 8601 UTC, milliseconds, ``Z``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class CotPolicy:
    """What TAK users are shown, and how.

    Affiliations are CoT's second type atom: ``h`` hostile, ``s`` suspect, ``u``
    unknown, ``n`` neutral, ``f`` friendly."""

    ballistic_confirmed: str = "h"
    ballistic_tentative: str = "s"
    other: str = "u"
    #: seconds a track or impact event stays fresh without an update
    stale_s: float = 30.0
    #: seconds a warned-area polygon stays without a new alert naming it
    area_stale_s: float = 900.0
    #: seconds an all-clear (green) area stays on the map
    clear_stale_s: float = 300.0
    #: the partner's language for names, remarks and GeoChat: "ja", "ko" or "en"
    lang: str = "en"
    #: the sender's callsign (GeoChat sender, link parent)
    callsign: str = "tocsin"
    #: most vertices of an area polygon
    area_points: int = 60

    def __post_init__(self) -> None:
        for name in ("ballistic_confirmed", "ballistic_tentative", "other"):
            if getattr(self, name) not in ("h", "s", "u", "n", "f", "j", "k", "a", "p"):
                raise ValueError(f"CotPolicy.{name}: {getattr(self, name)!r} is not a CoT affiliation")
        if self.lang not in ("ja", "ko", "en"):
            raise ValueError(f"CotPolicy.lang: {self.lang!r} (have ja, ko, en)")

    def track_type(self, body: TrackBody) -> str:
        if body.class_ == "ballistic":
            # a confirmed track stays hostile while coasting or lost (and when deleted)
            aff = self.ballistic_tentative if body.status == "tentative" else self.ballistic_confirmed
            return f"a-{aff}-A-W-M"
        return f"a-{self.other}-A"


def _fmt(x: float, nd: int = 1) -> str:
    return f"{x:.{nd}f}"


def _event(uid: str, typ: str, t: float, stale: float, lat: float, lon: float, **pt: float) -> ET.Element:
    """A CoT event (pytak's element builders), stamped with data time ``t``."""
    point = pytak.cot_point(
        lat=lat,
        lon=lon,
        hae=_fmt(pt.get("hae", 0.0)),
        ce=_fmt(pt.get("ce", 9999999.0)),
        le=_fmt(pt.get("le", 9999999.0)),
        precision=7,
    )
    ev = pytak.cot_event(
        uid=uid, cot_type=typ, how="m-f", point=point, detail=pytak.cot_detail(flow_tag=False)
    )
    ev.set("time", cot_time(t))
    ev.set("start", cot_time(t))
    ev.set("stale", cot_time(stale))
    return ev


def _sub(parent_: ET.Element, tag_: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent_, tag_)
    for k, v in attrs.items():
        el.set(k, v)
    return el


def _detail(ev: ET.Element) -> ET.Element:
    d = ev.find("detail")
    assert d is not None
    return d


def _bytes(ev: ET.Element) -> bytes:
    return ET.tostring(ev, encoding="utf-8", xml_declaration=False)


def track_events(
    env: Envelope, policy: CotPolicy | None = None, *, stale_s: float | None = None
) -> list[bytes]:
    """The CoT events for one track message: the track, and its impact ellipse."""
    b = env.body
    if not isinstance(b, TrackBody):
        return []
    pol = policy or CotPolicy()
    stale_after = pol.stale_s if stale_s is None else stale_s
    s = np.asarray(b.state_ecef, dtype=np.float64)
    cov = np.asarray(b.cov, dtype=np.float64).reshape(6, 6)
    lat, lon, alt = (float(v) for v in ecef_to_geodetic(s[:3]))
    la, lo = math.radians(lat), math.radians(lon)
    R = np.array(
        [
            [-math.sin(lo), math.cos(lo), 0.0],
            [-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la)],
            [math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)],
        ]
    )
    P = R @ cov[:3, :3] @ R.T
    ce = math.sqrt(max(0.0, (P[0, 0] + P[1, 1]) / 2.0))
    le = math.sqrt(max(0.0, P[2, 2]))
    v = R @ s[3:]
    course = (math.degrees(math.atan2(v[0], v[1])) + 360.0) % 360.0
    speed = math.hypot(v[0], v[1])
    typ = pol.track_type(b)
    uid = "tocsin.track." + b.id
    stale = b.t if b.status == "deleted" else b.t + stale_after
    ev = _event(uid, typ, b.t, stale, lat, lon, hae=alt, ce=ce, le=le)
    d = _detail(ev)
    _sub(d, "contact", callsign=b.id)
    _sub(d, "track", course=_fmt(course), speed=_fmt(speed))
    rem = _sub(d, "remarks")
    rem.text = (
        f"status {b.status}, class {b.class_}, sources {' '.join(b.sources)}, partners {' '.join(b.partners)}"
    )
    out = [_bytes(ev)]
    imp = b.impact
    if imp is not None:
        ell = imp.ellipse
        major = ell.semi_major_m if ell is not None else 0.0
        minor = ell.semi_minor_m if ell is not None else 0.0
        angle = ell.bearing_deg if ell is not None else 0.0
        istale = b.t if b.status == "deleted" else max(imp.t, b.t) + stale_after
        iev = _event("tocsin.impact." + b.id, "u-d-c-e", b.t, istale, imp.lat, imp.lon, ce=major)
        d = _detail(iev)
        shape = _sub(d, "shape")
        _sub(shape, "ellipse", major=_fmt(major), minor=_fmt(minor), angle=_fmt(angle))
        _sub(d, "strokeColor", value=str(ORANGE))
        _sub(d, "strokeWeight", value="3.0")
        _sub(d, "fillColor", value=str(ORANGE_FILL))
        _sub(d, "labels_on", value="true")
        _sub(d, "contact", callsign="impact " + b.id)
        _sub(d, "link", uid=uid, type=typ, relation="p-p", parent_callsign=b.id)
        rem = _sub(d, "remarks")
        rem.text = f"predicted impact of {b.id} at {cot_time(imp.t)}"
        out.append(_bytes(iev))
    return out


# ------------------------------------------------------------------ alerts


class _Area(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    def name(self, lang: str) -> str: ...
    def cap_polygons(self, max_points: int = 100, max_polygons: int = 10) -> list[str]: ...


_CAP_NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def _cap_text(cap: str, lang: str) -> tuple[str, str]:
    """(headline, instruction) of the CAP ``info`` block in ``lang`` (else the first)."""
    if not cap:
        return "", ""
    try:
        from lxml import etree  # type: ignore[import-untyped]

        root = etree.fromstring(cap.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False))
    except Exception:  # an unreadable CAP document: the alert still shows, without text
        return "", ""
    infos = root.findall(f"{_CAP_NS}info")
    pick = next((i for i in infos if (i.findtext(f"{_CAP_NS}language") or "")[:2] == lang), None)
    if pick is None and infos:
        pick = infos[0]
    if pick is None:
        return "", ""
    return (pick.findtext(f"{_CAP_NS}headline") or "", pick.findtext(f"{_CAP_NS}instruction") or "")


def alert_events(
    env: Envelope,
    areas: Callable[[str], _Area | None],
    policy: CotPolicy | None = None,
    *,
    closed: Sequence[str] = (),
) -> list[bytes]:
    """CoT for one alert message: each area it names as a polygon (red: warned;
    green: the areas in ``closed``, an all-clear), and a GeoChat message with the
    alert's headline and instruction in the partner's language."""
    b = env.body
    if not isinstance(b, AlertBody):
        return []
    pol = policy or CotPolicy()
    headline, instruction = _cap_text(b.cap, pol.lang)
    out: list[bytes] = []
    cancel = b.msg_type == "Cancel"
    for code in [*b.areas, *[c for c in closed if c not in b.areas]]:
        area = areas(code)
        if area is None:
            continue
        clear = cancel or code in closed
        polys = area.cap_polygons(max_points=pol.area_points, max_polygons=1)
        if not polys:
            continue
        pts = [tuple(float(v) for v in p.split(",")) for p in polys[0].split()]
        lat0 = sum(p[0] for p in pts[:-1]) / max(1, len(pts) - 1)
        lon0 = sum(p[1] for p in pts[:-1]) / max(1, len(pts) - 1)
        stale = b.t + (pol.clear_stale_s if clear else pol.area_stale_s)
        ev = _event("tocsin.area." + code, "u-d-f", b.t, stale, lat0, lon0)
        d = _detail(ev)
        for la, lo in pts:
            _sub(d, "link", point=f"{la:.5f},{lo:.5f}")
        _sub(d, "strokeColor", value=str(GREEN if clear else RED))
        _sub(d, "strokeWeight", value="2.0" if area.kind == "sea" else "3.0")
        _sub(d, "fillColor", value=str(GREEN_FILL if clear else RED_FILL))
        _sub(d, "labels_on", value="true")
        _sub(d, "contact", callsign=area.name(pol.lang))
        _sub(d, "link", uid="tocsin.alert." + b.id, type="b-t-f", relation="p-p")
        rem = _sub(d, "remarks")
        state = "all clear" if clear else "warned"
        rem.text = f"{area.name(pol.lang)} ({code}): {state}. {headline}".strip()
        out.append(_bytes(ev))
    # GeoChat: what the alert says, in the partner's language
    text = " ".join(x for x in (headline, instruction) if x) or f"{b.msg_type} {b.id}"
    names = ", ".join(a.name(pol.lang) for a in (areas(c) for c in b.areas) if a is not None)
    if names:
        text = f"{text} [{names}]"
    room = "All Chat Rooms"
    ev = _event(f"GeoChat.{pol.callsign}.{room}.{b.id}", "b-t-f", b.t, b.t + 86_400.0, 0.0, 0.0)
    d = _detail(ev)
    chat = _sub(
        d,
        "__chat",
        parent="RootContactGroup",
        groupOwner="false",
        chatroom=room,
        id=room,
        senderCallsign=pol.callsign,
        messageId=b.id,
    )
    _sub(chat, "chatgrp", uid0=pol.callsign, uid1=room, id=room)
    _sub(d, "link", uid=pol.callsign, type="a-f-G-U-C", relation="p-p")
    rem = _sub(d, "remarks", source=f"BAO.F.ATAK.{pol.callsign}", to=room, time=cot_time(b.t))
    rem.set("xml:lang", pol.lang)
    rem.text = text
    out.append(_bytes(ev))
    return out


# ------------------------------------------------------------------ delivery


def _uid_and_stale(ev: bytes) -> tuple[str, float]:
    root = ET.fromstring(ev)
    stale = root.get("stale", "")
    try:
        t = datetime.strptime(stale, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        t = math.inf
    return root.get("uid", ""), t


class CotSink:
    """A pipeline sink sending tracks, impacts, warned areas and alerts as CoT.

    ``url``: ``tcp://HOST:PORT`` or ``tls://HOST:PORT``. For TLS, ``tls_cert`` /
    ``tls_key`` (the client certificate and key, PEM files) and ``tls_ca`` (the
    CA that signed the server's certificate). ``tak_proto=1`` streams TAK
    Protocol v1 (protobuf) instead of XML. ``clock`` gives the time stale events
    are judged by when replaying after a reconnect (data time in a drill: pass
    the pipeline's clock; wall time by default).
    """

    def __init__(
        self,
        url: str,
        *,
        policy: CotPolicy | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_ca: str | None = None,
        tak_proto: int = 0,
        max_uids: int = 20_000,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        jitter: float = 0.25,
        clock: Callable[[], float] = time.time,
        areas: Callable[[str], _Area | None] | None = None,
    ) -> None:
        if not (url.startswith("tcp://") or url.startswith("tls://")):
            raise ValueError(f"CoT URL must be tcp://HOST:PORT or tls://HOST:PORT, got {url!r}")
        self.url = url
        self.policy = policy or CotPolicy()
        self.clock = clock
        self.max_uids = max_uids
        self._areas = areas
        cfg = configparser.ConfigParser(interpolation=None)
        cfg["tocsin"] = {
            "COT_URL": url,
            "TAK_PROTO": str(int(tak_proto)),
            "PYTAK_RECONNECT_INITIAL": str(reconnect_initial_s),
            "PYTAK_RECONNECT_MAX": str(reconnect_max_s),
            "PYTAK_RECONNECT_FACTOR": "2",
            "PYTAK_RECONNECT_JITTER": str(jitter),
            "PYTAK_RECONNECT_RESET": "30",
        }
        if tls_cert:
            cfg["tocsin"]["PYTAK_TLS_CLIENT_CERT"] = tls_cert
        if tls_key:
            cfg["tocsin"]["PYTAK_TLS_CLIENT_KEY"] = tls_key
        if tls_ca:
            cfg["tocsin"]["PYTAK_TLS_CLIENT_CAFILE"] = tls_ca
        self.config = cfg["tocsin"]
        #: counters for operators and tests
        self.sent = 0
        self.replaced = 0
        self.dropped = 0
        self.connects = 0
        #: uid -> (latest event, its stale time): what a (re)connected client gets
        self._latest: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        #: uids whose latest event is not yet written on this connection
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._active: dict[str, set[str]] = {}  # alert id -> areas it warns (for closes)
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._stop = False
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tocsin-cot", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ sink side

    def emit(self, env: Envelope) -> None:
        if env.kind == "track":
            events = track_events(env, self.policy)
        elif env.kind == "alert" and isinstance(env.body, AlertBody):
            events = self._alert(env)
        else:
            return
        self.offer(events)

    def _alert(self, env: Envelope) -> list[bytes]:
        b = env.body
        assert isinstance(b, AlertBody)
        if self._areas is None:
            from tocsin.warning.areas import AreaRegistry

            reg = AreaRegistry.default()

            def lookup(code: str) -> _Area | None:
                return reg.get(code) if code in reg else None

            self._areas = lookup
        # areas the alerts this one replaces named and this one does not: closed
        before: set[str] = set()
        for ref in b.references:  # alert ids (AlertBody.references)
            before |= self._active.pop(ref, set())
        if b.msg_type == "Cancel":
            closed = sorted(before | set(b.areas))
        else:
            closed = sorted(before - set(b.areas))
            self._active[b.id] = set(b.areas)
        return alert_events(env, self._areas, self.policy, closed=closed)

    def offer(self, events: Sequence[bytes]) -> None:
        """Queue events: each replaces the latest (and any unsent) event of its uid."""
        with self._lock:
            for ev in events:
                uid, stale = _uid_and_stale(ev)
                if uid in self._pending:
                    self.replaced += 1
                self._latest[uid] = (ev, stale)
                self._latest.move_to_end(uid)
                self._pending[uid] = None
                self._pending.move_to_end(uid)
                while len(self._latest) > self.max_uids:
                    old, _ = self._latest.popitem(last=False)
                    self._pending.pop(old, None)
                    self.dropped += 1
            self._idle.clear()
        wake = self._wake
        if wake is not None:
            self._loop.call_soon_threadsafe(wake.set)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every offered event is written (True) or ``timeout`` passes."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivering (what is not yet written is dropped) and close the connection."""
        self._stop = True
        task = self._task
        if task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already stopped
                self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)

    # ------------------------------------------------------------ delivery side

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(pytak.supervise_with_reconnect(self.config, self._session))
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:  # close()
            pass
        except Exception:  # a non-retryable error (bad certificate files): stop sending, say so once
            import logging

            logging.getLogger("tocsin.cot").exception("CoT delivery to %s stopped", self.url)
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _session(self) -> None:
        if self._stop:
            return
        reader, writer = await pytak.protocol_factory(self.config)
        tx = pytak.TXWorker(asyncio.Queue(), self.config, writer)
        self.connects += 1
        now = self.clock()
        with self._lock:  # a new connection gets the whole current picture
            for uid, (_ev, stale) in list(self._latest.items()):
                if stale < now and uid not in self._pending:  # never-sent events go out anyway
                    del self._latest[uid]
                    self._pending.pop(uid, None)
                else:
                    self._pending[uid] = None
        assert self._wake is not None
        lost: asyncio.Future[None] = self._loop.create_future()

        async def drain() -> None:
            # what the server sends (other clients' events, pings) is read and
            # dropped, so its buffers never fill; the end of it is a lost connection
            try:
                while reader is not None and await reader.read(65536):
                    pass
            except Exception:
                pass
            if not lost.done():
                lost.set_result(None)

        rx = asyncio.ensure_future(drain())
        try:
            while not self._stop:
                if lost.done():
                    raise ConnectionResetError("TAK server closed the connection")
                with self._lock:
                    batch = [(u, self._latest[u][0]) for u in self._pending if u in self._latest]
                    self._pending.clear()
                    if not batch:
                        self._idle.set()
                for uid, ev in batch:
                    try:
                        await tx.send_data(ev + b"\n" if not tx.use_protobuf else ev)
                    except Exception:
                        with self._lock:  # not written: send it (its latest form) again
                            self._pending[uid] = None
                            self._idle.clear()
                        raise
                    self.sent += 1
                if not batch:
                    self._wake.clear()
                    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait()), lost]
                    try:
                        await asyncio.wait(waits, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        waits[0].cancel()
        finally:
            rx.cancel()
            close = getattr(writer, "close", None)
            if close is not None:
                close()
                closed = getattr(writer, "wait_closed", None)
                if closed is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(closed(), 2.0)


class CotTcpSink(CotSink):
    """:class:`CotSink` to ``tcp://host:port`` (the ``tocsin serve --cot HOST:PORT`` form)."""

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        super().__init__(f"tcp://{host}:{port}", **kwargs)
