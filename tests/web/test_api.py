"""The HTTP API on the in-process ASGI transport (no sockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
from lxml import etree

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign
from tocsin.web import OPENAPI, ServerConfig, build_exchange, create_app
from tocsin.web.hub import Exchange
from tocsin.wire import encode_json

T0 = 1_789_430_400.0
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}


def run(ex: Exchange, fn: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        app = create_app(ex)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await fn(c)
        finally:
            await ex.stop()

    return asyncio.run(main())


def plots(n: int, source: str = "JP-R1", start: int = 1) -> list[bytes]:
    return [encode_json(sample_plot(source=source, seq=start + i, sent=T0 + i)) for i in range(n)]


def test_single_and_jsonl_posts(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), data=tmp_path, config=ServerConfig(tick_s=0, clock="data"))

    async def go(c: httpx.AsyncClient) -> None:
        r = await c.post("/v1/messages", content=plots(1)[0], headers=JSON)
        assert r.status_code == 202
        assert r.json()["ok"] is True
        r = await c.post("/v1/messages", content=plots(1)[0], headers=JSON)
        assert r.status_code == 409
        assert r.json()["reason"] == "duplicate"
        assert r.json()["field"] == "$.seq"
        body = b"\n".join([*plots(4, start=2), b"", b"{broken", plots(1)[0]]) + b"\n"
        r = await c.post("/v1/messages", content=body, headers=NDJSON)
        assert r.status_code == 200
        d = r.json()
        assert d["accepted"] == 4
        assert d["rejected"] == 2
        assert [x["line"] for x in d["results"]] == [1, 2, 3, 4, 6, 7]
        assert d["results"][4]["reason"] == "schema"
        assert d["results"][5]["reason"] == "duplicate"
        r = await c.get("/v1/alerts")
        alerts = r.json()
        assert len(alerts) == 1  # the toy warner alerts on the 3rd plot
        assert alerts[0]["body"]["msg_type"] == "Alert"
        r = await c.get("/healthz")
        assert r.status_code == 200
        h = r.json()
        assert h["status"] == "ok"
        assert h["journal"]["entries"] > 5
        assert h["mode"].startswith("open (exercise only")
        assert "JP" in h["links"]
        r = await c.get("/metrics")
        text = r.text
        assert 'tocsin_messages_accepted_total{kind="plot"} 5' in text
        assert 'tocsin_messages_rejected_total{reason="duplicate"} 2' in text
        assert 'tocsin_messages_rejected_total{reason="schema"} 1' in text
        assert 'tocsin_outputs_total{kind="alert"} 1' in text
        # how long each kind of work held the pipeline thread (issue 17: what
        # a latency spike waited behind): a histogram per kind, cumulative
        lines = [
            x for x in text.splitlines() if x.startswith('tocsin_pipeline_work_seconds_bucket{work="batch"')
        ]
        counts = [int(x.rsplit(" ", 1)[1]) for x in lines]
        assert lines[-1].startswith('tocsin_pipeline_work_seconds_bucket{work="batch",le="+Inf"}')
        assert counts == sorted(counts)
        assert counts[-1] == ex.commits >= 1
        assert f'tocsin_pipeline_work_seconds_count{{work="batch"}} {ex.commits}' in text
        assert 'tocsin_pipeline_work_longest_seconds{work="batch"}' in text
        r = await c.get("/openapi.json")
        assert r.json()["paths"].keys() == OPENAPI["paths"].keys()

    run(ex, go)
    assert (tmp_path / "tracks.jsonl").read_text().count("\n") == 5
    assert (tmp_path / "alerts.jsonl").read_text().count("\n") == 1


def test_bad_input_names_the_field() -> None:
    ex, _ = build_exchange(
        toy_stages(), config=ServerConfig(tick_s=0, max_body_bytes=10_000, max_lines=5, clock="data")
    )

    async def go(c: httpx.AsyncClient) -> None:
        r = await c.post("/v1/messages", content=b"{not json", headers=JSON)
        assert r.status_code == 400
        env = json.loads(plots(1)[0])
        env["body"]["el_deg"] = "high"
        r = await c.post("/v1/messages", content=json.dumps(env), headers=JSON)
        assert r.status_code == 422
        assert r.json()["field"] == "$.body.el_deg"
        env["body"]["el_deg"] = 95.0
        r = await c.post("/v1/messages", content=json.dumps(env), headers=JSON)
        assert r.status_code == 422
        assert r.json()["field"] == "$.body.el_deg"
        del env["seq"]
        r = await c.post("/v1/messages", content=json.dumps(env), headers=JSON)
        assert r.status_code == 422
        assert r.json()["field"] == "$.seq"
        assert "seq" in r.json()["detail"]
        r = await c.post("/v1/messages", content=b"x" * 20_000, headers=JSON)
        assert r.status_code == 413

        async def chunks() -> Any:
            for _ in range(30):
                yield b"y" * 1000

        r = await c.post("/v1/messages", content=chunks(), headers=NDJSON)  # no content-length
        assert r.status_code == 413
        r = await c.post("/v1/messages", content=b"\n".join(plots(6)), headers=NDJSON)
        assert r.status_code == 413
        assert r.json()["reason"] == "too_many_lines"
        r = await c.post("/v1/messages", content=b"  \n", headers=NDJSON)
        assert r.status_code == 400
        r = await c.get("/v1/alerts?limit=x")
        assert r.status_code == 422
        assert r.json()["field"] == "limit"
        # the server keeps serving
        r = await c.post("/v1/messages", content=plots(1)[0], headers=JSON)
        assert r.status_code == 202
        m = (await c.get("/metrics")).text
        assert 'tocsin_http_rejected_total{reason="too_large"} 2' in m

    run(ex, go)


def test_signed_mode_refuses_forgeries() -> None:
    jp, kr = generate_key(), generate_key()
    reg = PartnerRegistry({"JP": PartnerPolicy("JP", jp.public_key(), ("JP-*",), ("plot",))})
    clock = [T0]
    ex, _ = build_exchange(toy_stages(), registry=reg, config=ServerConfig(tick_s=0, clock="wall"))
    ex.wall_clock = lambda: clock[0]

    async def go(c: httpx.AsyncClient) -> None:
        good = sign(sample_plot(seq=1, sent=T0), jp)
        r = await c.post("/v1/messages", content=encode_json(good), headers=JSON)
        assert r.status_code == 202
        cases = [
            (sample_plot(seq=2, sent=T0), 403, "missing_signature"),
            (sign(sample_plot(seq=3, sent=T0), kr), 403, "bad_signature"),
            (msgspec.structs.replace(good, seq=4), 403, "bad_signature"),
            (sign(sample_plot(source="KR-R1", seq=5, sent=T0), jp), 403, "foreign_source"),
            (sign(sample_plot(partner="KR", source="KR-R1", seq=5, sent=T0), kr), 403, "unknown_partner"),
            (sign(sample_plot(seq=6, sent=T0 + 120), jp), 422, "clock_skew"),
            (good, 409, "duplicate"),
        ]
        for env, status, reason in cases:
            r = await c.post("/v1/messages", content=encode_json(env), headers=JSON)
            assert (r.status_code, r.json()["reason"]) == (status, reason)
        m = (await c.get("/metrics")).text
        assert 'tocsin_messages_rejected_total{reason="bad_signature"} 2' in m

    run(ex, go)


def test_flood_gets_429_and_server_survives() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, queue_size=2, clock="data"))

    async def go(c: httpx.AsyncClient) -> None:
        bodies = [b"\n".join(plots(50, source=f"S{i}")) for i in range(40)]
        rs = await asyncio.gather(*(c.post("/v1/messages", content=b, headers=NDJSON) for b in bodies))
        codes = [r.status_code for r in rs]
        assert set(codes) <= {200, 429}
        assert 429 in codes
        assert 200 in codes
        assert all(r.headers.get("retry-after") == "1" for r in rs if r.status_code == 429)
        r = await c.post("/v1/messages", content=plots(1, source="late")[0], headers=JSON)
        assert r.status_code == 202

    run(ex, go)


def test_events_stream_and_cap_feed() -> None:
    """SSE carries tracks and alerts; the CAP feed is the index of the warnings
    in force, each entry linking to its CAP document at a stable URL."""
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    cap = (
        '<?xml version="1.0" encoding="UTF-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
        "<identifier>A-1</identifier></alert>"
    )

    async def go(c: httpx.AsyncClient) -> tuple[str, bytes, httpx.Response, httpx.Response]:
        async def reader() -> str:
            r = await c.get("/v1/events?kinds=alert,track&max_events=4")
            return r.text

        task = asyncio.create_task(reader())
        while ex.hub is None or not ex.hub.subscribers:
            await asyncio.sleep(0.01)
        r = await c.post("/v1/messages", content=b"\n".join(plots(4)), headers=NDJSON)
        assert r.json()["accepted"] == 4
        text = await asyncio.wait_for(task, 10)
        assert ex.hub is not None
        # the toy warner's alert carries no CAP document: give the feed one to serve
        hist = ex.hub.history[0]
        ex.hub.current.add(msgspec.structs.replace(hist, body=msgspec.structs.replace(hist.body, cap=cap)))
        feed = (await c.get("/feed/cap.atom")).content
        doc = await c.get(f"/cap/{hist.body.id}.xml")
        missing = await c.get("/cap/nope.xml")
        assert not ex.hub.subscribers  # unsubscribed when the stream ended
        return text, feed, doc, missing

    text, feed, doc, missing = run(ex, go)
    events = [b for b in text.split("\n\n") if b.startswith("event:")]
    assert [e.split("\n")[0] for e in events] == ["event: track"] * 3 + ["event: alert"]
    assert json.loads(events[0].split("data: ", 1)[1])["kind"] == "track"
    root = etree.fromstring(feed)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    entries = root.findall("a:entry", ns)
    assert len(entries) == 1  # one active thread
    link = entries[0].find("a:link[@type='application/cap+xml']", ns)
    assert link is not None
    assert link.get("href") == "/cap/A-1.xml" or link.get("href", "").endswith(".xml")
    assert doc.status_code == 200
    assert doc.headers["content-type"].startswith("application/cap+xml")
    assert b"<identifier>A-1</identifier>" in doc.content
    assert missing.status_code == 404
    assert missing.json()["reason"] == "not_found"


def test_fuzzed_bodies_never_break_the_server() -> None:
    """Random bytes, random JSON and mutated messages: always a 4xx/2xx answer
    naming a reason, never a 5xx, and the server still accepts a good message."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    good = json.loads(plots(1)[0])
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
        lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.text(max_size=8), ch, max_size=4),
        max_leaves=12,
    )
    mutated = st.builds(
        lambda k, v: json.dumps({**good, k: v}, allow_nan=True).encode(),
        st.sampled_from([*good.keys(), "body"]),
        json_values,
    )
    bodies = (
        st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()) | mutated
    )
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data", max_body_bytes=2000))
    seen: list[int] = []

    async def go(c: httpx.AsyncClient) -> None:
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=bodies, single=st.booleans())
        def one(body: bytes, single: bool) -> None:
            seen.append(0)
            fut = asyncio.run_coroutine_threadsafe(
                c.post("/v1/messages", content=body, headers=JSON if single else NDJSON), loop
            )
            r = fut.result(10)
            assert r.status_code < 500, (body, r.text)
            d = r.json()
            if r.status_code >= 400:
                assert d["reason"]

        loop = asyncio.get_running_loop()
        await asyncio.to_thread(one)
        r = await c.post("/v1/messages", content=plots(1, source="after-fuzz")[0], headers=JSON)
        assert r.status_code == 202

    run(ex, go)
    assert len(seen) >= 100
