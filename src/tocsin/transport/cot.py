"""Cursor-on-Target (CoT 2.0) events for TAK clients, sent over TCP.

Tracks become point events (``uid = tocsin.track.<id>``)::

    <event version="2.0" uid="tocsin.track.F-17" type="a-u-A-W-M" how="m-f"
           time=".." start=".." stale="..">
      <point lat=".." lon=".." hae=".." ce=".." le=".."/>
      <detail><contact callsign="F-17"/><track course=".." speed=".."/>
              <remarks>status confirmed, class ballistic, sources JP-R1 US-S1</remarks></detail>
    </event>

Type codes (MIL-STD-2525 via the CoT type tree): ``a-u-A-W-M`` unknown-affiliation
air weapon/missile for ballistic tracks, ``a-u-A`` for air or unknown tracks. A
deleted track is sent once with ``stale = time`` so clients drop it.

A predicted impact becomes a drawn ellipse ``u-d-c-e`` (``uid =
tocsin.impact.<id>``) with ``<shape><ellipse major minor angle/></shape>`` in
metres and degrees. ``ce`` (circular error) is the 1-sigma horizontal position
error from the track covariance, ``le`` the vertical one.

Times are ISO 8601 UTC with ``Z`` as CoT expects. The sink writes each event as
one XML document (no declaration) on a persistent TCP connection, reconnecting
with backoff; delivery runs on its own thread with a bounded queue.
"""

from __future__ import annotations

import math
import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

import numpy as np

from tocsin.geo import ecef_to_geodetic
from tocsin.wire import Envelope, TrackBody


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _fmt(x: float) -> str:
    return f"{x:.7f}" if abs(x) < 1000 else f"{x:.1f}"


def track_events(env: Envelope, *, stale_s: float = 30.0) -> list[bytes]:
    """The CoT events for one track message (the track, and its impact ellipse)."""
    b = env.body
    if not isinstance(b, TrackBody):
        return []
    s = np.asarray(b.state_ecef, dtype=np.float64)
    cov = np.asarray(b.cov, dtype=np.float64).reshape(6, 6)
    lat, lon, alt = (float(v) for v in ecef_to_geodetic(s[:3]))
    # horizontal / vertical 1-sigma in the local frame: rotate the position covariance to ENU
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
    typ = "a-u-A-W-M" if b.class_ == "ballistic" else "a-u-A"
    stale = b.t if b.status == "deleted" else b.t + stale_s
    remarks = (
        f"status {b.status}, class {b.class_}, sources {' '.join(b.sources)}, partners {' '.join(b.partners)}"
    )
    out = [
        (
            f'<event version="2.0" uid={quoteattr("tocsin.track." + b.id)} type="{typ}" how="m-f" '
            f'time="{_iso(b.t)}" start="{_iso(b.t)}" stale="{_iso(stale)}">'
            f'<point lat="{_fmt(lat)}" lon="{_fmt(lon)}" hae="{alt:.1f}" ce="{ce:.1f}" le="{le:.1f}"/>'
            f"<detail><contact callsign={quoteattr(b.id)}/>"
            f'<track course="{course:.1f}" speed="{speed:.1f}"/>'
            f"<remarks>{_esc(remarks)}</remarks></detail></event>"
        ).encode()
    ]
    imp = b.impact
    if imp is not None:
        ell = imp.ellipse
        major = ell.semi_major_m if ell is not None else 0.0
        minor = ell.semi_minor_m if ell is not None else 0.0
        angle = ell.bearing_deg if ell is not None else 0.0
        istale = b.t if b.status == "deleted" else max(imp.t, b.t) + stale_s
        out.append(
            (
                f'<event version="2.0" uid={quoteattr("tocsin.impact." + b.id)} type="u-d-c-e" how="m-f" '
                f'time="{_iso(b.t)}" start="{_iso(b.t)}" stale="{_iso(istale)}">'
                f'<point lat="{_fmt(imp.lat)}" lon="{_fmt(imp.lon)}" hae="0.0" '
                f'ce="{major:.1f}" le="9999999.0"/>'
                f'<detail><shape><ellipse major="{major:.1f}" minor="{minor:.1f}" '
                f'angle="{angle:.1f}"/></shape>'
                f"<contact callsign={quoteattr('impact ' + b.id)}/>"
                f"<remarks>{_esc(f'predicted impact of {b.id} at {_iso(imp.t)}')}</remarks></detail></event>"
            ).encode()
        )
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CotTcpSink:
    """Sends CoT events for tracks to a TAK server or client over TCP."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        stale_s: float = 30.0,
        queue_size: int = 10_000,
        connect_timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host, self.port = host, port
        self.stale_s = stale_s
        self.connect_timeout_s = connect_timeout_s
        self.sleep = sleep
        self.sent = 0
        self.dropped = 0
        self.reconnects = 0
        self._sock: socket.socket | None = None
        self._q: queue.Queue[bytes | None] = queue.Queue(queue_size)
        self._thread = threading.Thread(target=self._run, name="tocsin-cot", daemon=True)
        self._thread.start()

    def emit(self, env: Envelope) -> None:
        if env.kind != "track":
            return
        for ev in track_events(env, stale_s=self.stale_s):
            try:
                self._q.put_nowait(ev)
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._q.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()

    def _run(self) -> None:
        while True:
            ev = self._q.get()
            try:
                if ev is None:
                    return
                self._send(ev)
            finally:
                self._q.task_done()

    def _send(self, ev: bytes, attempts: int = 5) -> None:
        delay = 0.1
        for _ in range(attempts):
            try:
                if self._sock is None:
                    self._sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
                    self.reconnects += 1
                self._sock.sendall(ev + b"\n")
                self.sent += 1
                return
            except OSError:
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
                self.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.dropped += 1


__all__ = ["CotTcpSink", "track_events"]
