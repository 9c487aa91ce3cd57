"""Cursor-on-Target: events decoded back (lxml), and delivery over TCP on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import takproto
from lxml import etree
from shapely.geometry import Point, Polygon

from tocsin.geo import geodetic_to_ecef
from tocsin.transport.cot import (
    GREEN,
    ORANGE,
    RED,
    CotPolicy,
    CotSink,
    CotTcpSink,
    alert_events,
    track_events,
)
from tocsin.warning.areas import Area, AreaRegistry
from tocsin.wire import AlertBody, Ellipse, Envelope, ImpactPrediction, TrackBody, make

T = 1_789_430_400.0


def track(status: str = "confirmed", impact: bool = True) -> Envelope:
    pos = geodetic_to_ecef(38.5, 134.25, 150_000.0)
    cov = np.diag([100.0**2, 100.0**2, 100.0**2, 10.0, 10.0, 10.0]).ravel().tolist()
    body = TrackBody(
        id="F-17",
        t=T,
        state_ecef=[*map(float, pos), 1000.0, -2000.0, 500.0],
        cov=cov,
        status=status,  # type: ignore[arg-type]
        class_="ballistic",
        sources=["JP-R1"],
        partners=["JP"],
        impact=ImpactPrediction(
            t=T + 300, lat=40.0, lon=139.5, sigma_t_s=5.0, ellipse=Ellipse(20_000.0, 8_000.0, 45.0)
        )
        if impact
        else None,
    )
    return make("track", body, partner="JP", source="JP-node-1", seq=1, sent=T)


def test_track_and_impact_events_decode() -> None:
    evs = [etree.fromstring(e) for e in track_events(track())]
    assert len(evs) == 2
    ev, imp = evs
    assert ev.get("type") == "a-h-A-W-M"  # confirmed ballistic: hostile (CotPolicy)
    assert ev.get("uid") == "tocsin.track.F-17"
    assert ev.get("time") == "2026-09-15T00:00:00.000Z"
    p = ev.find("point")
    assert p is not None
    assert float(p.get("lat")) == pytest.approx(38.5, abs=1e-6)
    assert float(p.get("lon")) == pytest.approx(134.25, abs=1e-6)
    assert float(p.get("hae")) == pytest.approx(150_000.0, abs=0.5)
    assert float(p.get("ce")) == pytest.approx(100.0, abs=0.5)  # isotropic 100 m
    assert float(p.get("le")) == pytest.approx(100.0, abs=0.5)
    assert ev.find("detail/contact").get("callsign") == "F-17"  # type: ignore[union-attr]
    assert imp.get("type") == "u-d-c-e"
    e = imp.find("detail/shape/ellipse")
    assert e is not None
    assert (e.get("major"), e.get("minor"), e.get("angle")) == ("20000.0", "8000.0", "45.0")
    assert float(imp.find("point").get("lat")) == 40.0  # type: ignore[union-attr]


def test_deleted_track_is_stale_at_once() -> None:
    (ev,) = [etree.fromstring(e) for e in track_events(track("deleted", impact=False))]
    assert ev.get("stale") == ev.get("time")


def _server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(15)
    return srv, srv.getsockname()[1]


def _read_events(conn: socket.socket, until: Callable[[list[etree._Element]], bool]) -> list[etree._Element]:
    conn.settimeout(15)
    buf = bytearray()
    events: list[etree._Element] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not until(events):
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf.extend(chunk)
        while b"</event>" in buf:
            end = buf.index(b"</event>") + len(b"</event>")
            events.append(etree.fromstring(bytes(buf[:end]).strip()))
            del buf[:end]
    return events


def test_events_over_tcp_latest_state_per_uid() -> None:
    srv, port = _server()
    sink = CotTcpSink("127.0.0.1", port)
    try:
        conn, _ = srv.accept()
        sink.emit(track())
        sink.emit(track("deleted"))
        assert sink.flush(10)

        def done(evs: list[etree._Element]) -> bool:
            return any(e.get("uid") == "tocsin.track.F-17" and e.get("stale") == e.get("time") for e in evs)

        events = _read_events(conn, done)
        conn.close()
    finally:
        sink.close()
        srv.close()
    last = {e.get("uid"): e for e in events}
    assert set(last) == {"tocsin.track.F-17", "tocsin.impact.F-17"}
    # whatever was coalesced, the last word on each uid is the latest message: deleted
    assert last["tocsin.track.F-17"].get("stale") == last["tocsin.track.F-17"].get("time")
    assert sink.sent + sink.replaced == 4


def test_affiliation_by_policy() -> None:
    hostile = etree.fromstring(track_events(track())[0])
    assert hostile.get("type") == "a-h-A-W-M"
    tentative = etree.fromstring(track_events(track("tentative"))[0])
    assert tentative.get("type") == "a-s-A-W-M"  # suspect until confirmed
    other = CotPolicy(ballistic_confirmed="s")
    assert etree.fromstring(track_events(track(), other)[0]).get("type") == "a-s-A-W-M"
    with pytest.raises(ValueError, match="affiliation"):
        CotPolicy(ballistic_confirmed="x")


def test_impact_ellipse_is_styled_and_linked_to_its_track() -> None:
    _ev, imp = (etree.fromstring(e) for e in track_events(track()))
    d = imp.find("detail")
    assert d is not None
    assert d.find("strokeColor").get("value") == str(ORANGE)  # type: ignore[union-attr]
    assert float(d.find("strokeWeight").get("value")) > 1  # type: ignore[union-attr,arg-type]
    assert d.find("fillColor") is not None
    link = d.find("link")
    assert link is not None
    assert (link.get("uid"), link.get("relation"), link.get("type")) == (
        "tocsin.track.F-17",
        "p-p",
        "a-h-A-W-M",
    )


CAP = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
<info><language>ja-JP</language><headline>【訓練】ミサイル発射</headline>
<instruction>頑丈な建物に避難してください。</instruction></info>
<info><language>en-US</language><headline>[EXERCISE] Missile launch</headline>
<instruction>Take shelter.</instruction></info></alert>"""


def alert(msg_type: str = "Alert", areas: tuple[str, ...] = ("JP-01", "sea:JP-01"), **kw: object) -> Envelope:
    body = AlertBody(
        id=str(kw.get("id", "JP.F-17.1.0")),
        t=T + 60,
        msg_type=msg_type,  # type: ignore[arg-type]
        status="Exercise",
        tracks=["F-17"],
        areas=list(areas),
        references=list(kw.get("references", [])),  # type: ignore[call-overload]
        cap=CAP,
    )
    return make("alert", body, partner="JP", source="JP-node-1", seq=2, sent=T + 60)


def _lookup(code: str) -> Area | None:
    reg = AreaRegistry.default()
    return reg.get(code) if code in reg else None


def test_warned_areas_are_polygons_and_the_alert_a_geochat_in_the_partner_language() -> None:
    ja = CotPolicy(lang="ja")
    evs = [etree.fromstring(e) for e in alert_events(alert(), _lookup, ja)]
    areas = {e.get("uid"): e for e in evs if e.get("type") == "u-d-f"}
    assert set(areas) == {"tocsin.area.JP-01", "tocsin.area.sea:JP-01"}
    hok = areas["tocsin.area.JP-01"]
    d = hok.find("detail")
    assert d is not None
    assert d.find("contact").get("callsign") == "北海道"  # type: ignore[union-attr]
    assert d.find("strokeColor").get("value") == str(RED)  # type: ignore[union-attr]
    pts = [lk.get("point") for lk in d.findall("link") if lk.get("point")]
    assert len(pts) >= 4
    assert pts[0] == pts[-1]  # closed
    ring = Polygon([(float(p.split(",")[1]), float(p.split(",")[0])) for p in pts])
    assert ring.contains(Point(141.3544, 43.0621))  # Sapporo
    assert "【訓練】ミサイル発射" in d.findtext("remarks")  # type: ignore[operator]
    (chat,) = [e for e in evs if e.get("type") == "b-t-f"]
    rem = chat.find("detail/remarks")
    assert rem is not None
    assert rem.text is not None
    assert rem.text.startswith("【訓練】ミサイル発射 頑丈な建物に避難してください。")
    assert "北海道" in rem.text
    assert chat.find("detail/__chat").get("chatroom") == "All Chat Rooms"  # type: ignore[union-attr]
    en = [etree.fromstring(e) for e in alert_events(alert(), _lookup, CotPolicy(lang="en"))]
    (chat_en,) = [e for e in en if e.get("type") == "b-t-f"]
    assert chat_en.findtext("detail/remarks").startswith("[EXERCISE] Missile launch Take shelter.")  # type: ignore[union-attr]
    # an all-clear turns the areas green
    cancel = [etree.fromstring(e) for e in alert_events(alert("Cancel", ()), _lookup, ja, closed=["JP-01"])]
    (green,) = [e for e in cancel if e.get("type") == "u-d-f"]
    assert green.find("detail/strokeColor").get("value") == str(GREEN)  # type: ignore[union-attr]


def _frames(buf: bytes) -> list[bytes]:
    """TAK Protocol v1 stream framing: 0xbf, varint length, protobuf."""
    out = []
    i = 0
    while i < len(buf):
        assert buf[i] == 0xBF
        j, n, shift = i + 1, 0, 0
        while True:
            b = buf[j]
            n |= (b & 0x7F) << shift
            j += 1
            shift += 7
            if not b & 0x80:
                break
        out.append(buf[i : j + n])
        i = j + n
    return out


def test_tak_protocol_v1_streaming() -> None:
    srv, port = _server()
    sink = CotSink(f"tcp://127.0.0.1:{port}", tak_proto=1)
    try:
        conn, _ = srv.accept()
        conn.settimeout(10)
        sink.emit(track())
        assert sink.flush(10)
        buf = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            buf += conn.recv(65536)
            try:
                if len(_frames(buf)) >= 2:
                    break
            except (IndexError, AssertionError):
                continue
        conn.close()
    finally:
        sink.close()
        srv.close()
    msgs = [takproto.parse_proto(f) for f in _frames(buf)]
    assert [m.cotEvent.uid for m in msgs] == ["tocsin.track.F-17", "tocsin.impact.F-17"]
    assert msgs[0].cotEvent.type == "a-h-A-W-M"
    assert msgs[0].cotEvent.lat == pytest.approx(38.5, abs=1e-6)


def test_reconnect_resends_the_latest_state() -> None:
    """A TAK server restart loses nothing a user needs: after the reconnect (with
    jittered backoff) the client gets the latest event of every live uid,
    including what changed while it was down."""
    srv, port = _server()
    sink = CotSink(f"tcp://127.0.0.1:{port}", reconnect_initial_s=0.1, reconnect_max_s=0.5, clock=lambda: T)
    try:
        conn, _ = srv.accept()
        sink.emit(track())
        assert sink.flush(10)
        first = _read_events(conn, lambda evs: len(evs) >= 2)
        assert len(first) == 2
        conn.close()  # the server drops us
        srv.close()
        time.sleep(0.3)
        sink.offer(track_events(track("tentative"))[:1])  # the track changes while nobody listens
        srv, _ = _server_on(port)
        conn, _ = srv.accept()
        got = _read_events(
            conn, lambda evs: {e.get("uid") for e in evs} >= {"tocsin.track.F-17", "tocsin.impact.F-17"}
        )
        conn.close()
    finally:
        sink.close()
        srv.close()
    last = {e.get("uid"): e for e in got}
    assert last["tocsin.track.F-17"].get("type") == "a-s-A-W-M"  # the latest, not the first
    assert "tocsin.impact.F-17" in last  # unchanged, sent before the drop: sent again
    assert sink.connects >= 2


def _server_on(port: int) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    srv.settimeout(15)
    return srv, port


def test_events_survive_takproto_the_tak_protobuf_codec() -> None:
    """TAK clients speak TAK Protocol v1 (protobuf) as well as XML: our events go
    through takproto's XML -> protobuf conversion and parse back with the same
    identity, times, position and track detail."""
    for xml in track_events(track()):
        ev = etree.fromstring(xml)
        msg = takproto.parse_proto(takproto.xml2proto(xml.decode() if isinstance(xml, bytes) else xml))
        cot = msg.cotEvent
        assert (cot.uid, cot.type, cot.how) == (ev.get("uid"), ev.get("type"), ev.get("how"))
        assert cot.sendTime == 1_789_430_400_000  # ms since the epoch
        assert cot.staleTime > cot.startTime
        p = ev.find("point")
        assert p is not None
        assert cot.lat == pytest.approx(float(p.get("lat")), abs=1e-9)
        assert cot.lon == pytest.approx(float(p.get("lon")), abs=1e-9)
        assert cot.hae == pytest.approx(float(p.get("hae")), abs=1e-6)
        contact = ev.find("detail/contact")
        if contact is not None:
            assert cot.detail.contact.callsign == contact.get("callsign")
        course = ev.find("detail/track")
        if course is not None:  # the strongly typed track detail: course and speed
            assert cot.detail.track.course == pytest.approx(float(course.get("course")))
            assert cot.detail.track.speed == pytest.approx(float(course.get("speed")))
        if ev.find("detail/shape") is not None:  # the ellipse rides in xmlDetail
            assert "<ellipse" in cot.detail.xmlDetail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _taky(tmp: Path, ssl_files: dict[str, str] | None = None) -> Iterator[int]:
    """taky (a TAK server from PyPI) on 127.0.0.1, stopped by its pid afterwards."""
    exe = Path(sys.executable).with_name("taky")
    if not exe.exists():
        pytest.skip("taky not installed (dev extra)")
    port = _free_port()
    conf = tmp / "taky.conf"
    lines = [
        "[taky]",
        "hostname = 127.0.0.1",
        "node_id = TOCSINTEST",
        "bind_ip = 127.0.0.1",
        f"root_dir = {tmp}",
        "[cot_server]",
        f"port = {port}",
        "[dp_server]",
        f"upload_path = {tmp / 'dp'}",
        "[ssl]",
        f"enabled = {'true' if ssl_files else 'false'}",
    ]
    if ssl_files:
        lines += ["client_cert_required = true", *(f"{k} = {v}" for k, v in ssl_files.items())]
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([str(exe), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"taky exited: {proc.stderr.read().decode()[-2000:]}") from None  # type: ignore[union-attr]
                time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _relay_and_read(url: str, reader: socket.socket, **sink_kw: Any) -> list[etree._Element]:
    sink = CotSink(url, policy=CotPolicy(lang="ja"), clock=lambda: T, **sink_kw)
    try:
        # let the sink connect first, then send a track with its impact and an alert
        deadline = time.monotonic() + 15
        while sink.connects == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        sink.emit(track())
        sink.emit(alert())
        assert sink.flush(10)
        want = {"tocsin.track.F-17", "tocsin.impact.F-17", "tocsin.area.JP-01", "tocsin.area.sea:JP-01"}

        def done(evs: list[etree._Element]) -> bool:
            uids = {e.get("uid") for e in evs}
            return want <= uids and any(e.get("type") == "b-t-f" for e in evs)

        return _read_events(reader, done)
    finally:
        sink.close()


def test_a_second_tak_client_sees_hostile_tracks_styled_ellipses_warned_areas_and_alerts(
    tmp_path: Path,
) -> None:
    """Through a real TAK server (taky, TCP) on loopback: what a second client
    receives is what a TAK user's map shows."""
    with _taky(tmp_path) as port:
        reader = socket.create_connection(("127.0.0.1", port), 5)
        try:
            evs = _relay_and_read(f"tcp://127.0.0.1:{port}", reader)
        finally:
            reader.close()
    by_uid = {e.get("uid"): e for e in evs}
    assert by_uid["tocsin.track.F-17"].get("type") == "a-h-A-W-M"
    imp = by_uid["tocsin.impact.F-17"]
    assert imp.find("detail/shape/ellipse") is not None
    assert imp.find("detail/link").get("uid") == "tocsin.track.F-17"  # type: ignore[union-attr]
    area = by_uid["tocsin.area.JP-01"]
    assert area.find("detail/contact").get("callsign") == "北海道"  # type: ignore[union-attr]
    assert area.find("detail/strokeColor").get("value") == str(RED)  # type: ignore[union-attr]
    (chat,) = [e for e in evs if e.get("type") == "b-t-f"]
    assert "【訓練】ミサイル発射" in (chat.findtext("detail/remarks") or "")


def _talk_without_certificate(ctx: ssl.SSLContext, port: int) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.settimeout(5)
        s.sendall(b"<event/>")
        if not s.recv(1):
            raise ConnectionError("closed by the server")


def test_tls_with_client_certificates_through_taky(tmp_path: Path) -> None:
    from tocsin.transport.pki import cert_pem, issue, key_pem, make_ca

    ca = make_ca("tocsin test", "test CA")
    server = issue(
        ca, "127.0.0.1", "tocsin test", hosts=["127.0.0.1", "localhost"], server=True, client=False
    )
    ours = issue(ca, "tocsin", "tocsin test")
    theirs = issue(ca, "reader", "tocsin test")
    files = {}
    for name, data in {
        "ca.pem": cert_pem(ca.cert),
        "server.pem": cert_pem(server.cert),
        "server.key": key_pem(server.key),
        "client.pem": cert_pem(ours.cert),
        "client.key": key_pem(ours.key),
        "reader.pem": cert_pem(theirs.cert),
        "reader.key": key_pem(theirs.key),
    }.items():
        (tmp_path / name).write_bytes(data)
        files[name] = str(tmp_path / name)
    ssl_conf = {"ca": files["ca.pem"], "cert": files["server.pem"], "key": files["server.key"]}
    with _taky(tmp_path, ssl_conf) as port:
        ctx = ssl.create_default_context(cafile=files["ca.pem"])
        ctx.load_cert_chain(files["reader.pem"], files["reader.key"])
        reader = ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", port), 5), server_hostname="127.0.0.1"
        )
        try:
            evs = _relay_and_read(
                f"tls://127.0.0.1:{port}",
                reader,
                tls_cert=files["client.pem"],
                tls_key=files["client.key"],
                tls_ca=files["ca.pem"],
            )
        finally:
            reader.close()
        # without a client certificate the server refuses the connection
        bare = ssl.create_default_context(cafile=files["ca.pem"])
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _talk_without_certificate(bare, port)
    assert {"tocsin.track.F-17", "tocsin.area.JP-01"} <= {e.get("uid") for e in evs}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nohost", "--cot: expected HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT, got 'nohost'"),
        ("tls://127.0.0.1:9", "--cot: tls:// needs $TOCSIN_COT_TLS_CERT and $TOCSIN_COT_TLS_KEY"),
    ],
)
def test_serve_cot_option_errors_are_one_line(tmp_path: Path, target: str, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_COT_")}
    res = subprocess.run(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(tmp_path), "--cot", target],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("tocsin: error: " + message)
    assert len(res.stderr.strip().splitlines()) == 1
