"""Cursor-on-Target: events decoded back (lxml), and delivery over TCP on loopback."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import takproto
from lxml import etree

from tocsin.geo import geodetic_to_ecef
from tocsin.transport.cot import CotTcpSink, track_events
from tocsin.wire import Ellipse, Envelope, ImpactPrediction, TrackBody, make

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
    assert ev.get("type") == "a-u-A-W-M"
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


def test_events_over_tcp() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)
    got = bytearray()

    def accept() -> None:
        conn, _ = srv.accept()
        conn.settimeout(10)
        with conn:
            while got.count(b"</event>") < 4:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got.extend(chunk)

    t = threading.Thread(target=accept)
    t.start()
    sink = CotTcpSink("127.0.0.1", srv.getsockname()[1])
    sink.emit(track())
    sink.emit(track("deleted"))
    assert sink.flush(10)
    t.join(10)
    sink.close()
    srv.close()
    events = [etree.fromstring(x) for x in bytes(got).split(b"\n") if x.strip()]
    assert [e.get("uid") for e in events] == ["tocsin.track.F-17", "tocsin.impact.F-17"] * 2
    assert sink.sent == 4


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
