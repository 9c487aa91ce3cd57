"""The dashboard's HTTP side: page, assets, snapshot, replay recordings, areas."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tocsin.errors import InputError
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal.store import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.dashboard import STATIC, Dashboard, DashboardConfig, LiveState, display_dict, load_recording
from tocsin.wire import SensorBody, encode_json, make

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "browser"))
from fake_run import T0, messages, write_fake_run

NDJSON = {"content-type": "application/x-ndjson"}


def run(tmp_path: Path, fn: Callable[[httpx.AsyncClient, Dashboard], Awaitable[Any]], **cfg: Any) -> Any:
    ex, _ = build_exchange(toy_stages(), data=tmp_path / "data", config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig(**cfg))

    async def main() -> Any:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await fn(c, dash)
        finally:
            await ex.stop()
            dash.close()

    return asyncio.run(main())


def test_page_and_bundled_assets(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        r = await c.get("/")
        assert r.status_code == 200
        assert "text/html" in r.headers["content-type"]
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "connect-src 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert src.startswith("/static/"), src  # nothing from elsewhere
            assert (await c.get(src)).status_code == 200, src
        r = await c.get("/static/vendor/leaflet/images/marker-icon.png")
        assert r.status_code == 200
        assert r.content[:4] == b"\x89PNG"
        assert (await c.get("/static/../auth.py")).status_code == 404
        cfg = (await c.get("/v1/config")).json()
        assert cfg["mode"] == "exercise"
        assert cfg["replay"] is False
        assert (await c.get("/v1/replay")).status_code == 404

    run(tmp_path, go)
    # our own page code loads nothing from another host (no CDN, no tiles)
    for name in ("index.html", "dashboard.js", "dashboard.css"):
        assert not re.search(r"https?://", (STATIC / name).read_text()), name
    assert (STATIC / "vendor" / "leaflet" / "LICENSE").read_text().startswith("BSD 2-Clause")


def test_state_snapshot_tracks_alerts_sensors_links(tmp_path: Path) -> None:
    sensor = make(
        "sensor",
        SensorBody(id="JP-R1", type="radar", platform="ground", lat=38.0, lon=138.0, max_range_m=9e5),
        partner="JP",
        source="JP-R1",
        seq=1,
        sent=T0 - 1,
    )
    lines = [encode_json(sensor)] + [encode_json(sample_plot(seq=i + 2, sent=T0 + i)) for i in range(4)]

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        r = await c.post("/v1/messages", content=b"\n".join(lines), headers=NDJSON)
        assert r.json()["accepted"] == 5
        snap = (await c.get("/v1/state")).json()
        assert [s["body"]["id"] for s in snap["sensors"]] == ["JP-R1"]
        assert snap["sensors"][0]["body"]["max_range_m"] == 9e5
        (tr,) = snap["tracks"]
        assert tr["body"]["id"] == "T-JP-R1"
        assert "cov" not in tr["body"]
        assert len(tr["trail"]) == 4
        assert [a["body"]["msg_type"] for a in snap["alerts"]] == ["Alert"]
        assert snap["links"]["JP"]["silent"] is False
        assert snap["data_t"] == pytest.approx(T0 + 3 - 0.1)
        assert snap["mode"] == "exercise"
        # a second poll reads only new journal entries and keeps what it had
        snap2 = (await c.get("/v1/state")).json()
        assert len(snap2["sensors"]) == 1

    run(tmp_path, go)


def test_snapshot_survives_a_restart(tmp_path: Path) -> None:
    async def feed(c: httpx.AsyncClient, dash: Dashboard) -> None:
        body = b"\n".join(encode_json(sample_plot(seq=i + 1, sent=T0 + i)) for i in range(3))
        assert (await c.post("/v1/messages", content=body, headers=NDJSON)).json()["accepted"] == 3

    async def look(c: httpx.AsyncClient, dash: Dashboard) -> dict[str, Any]:
        return dict((await c.get("/v1/state")).json())

    run(tmp_path, feed)
    snap = run(tmp_path, look)
    assert [t["body"]["id"] for t in snap["tracks"]] == ["T-JP-R1"]
    assert len(snap["alerts"]) == 1


def test_live_state_deletes_caps_trails_and_tracks() -> None:
    ls = LiveState(trail_len=5, max_tracks=3)
    msgs = [m for m in messages() if m.kind == "track" and m.body.id == "F-1"]
    for m in msgs:
        ls.emit(m)
    snap = ls.snapshot()
    (tr,) = snap["tracks"]
    assert len(tr["trail"]) == 5
    assert tr["trail"][-1][3] == msgs[-1].body.t
    lat, lon = tr["trail"][-1][:2]
    assert 38 < lat < 42
    assert 125 < lon < 147
    for i in range(5):
        d = display_dict(msgs[0])
        d["body"] = {**d["body"], "id": f"X-{i}", "t": T0 + 1000 + i}
        ls.add(d)
    assert len(ls.snapshot()["tracks"]) == 3  # oldest dropped
    d = display_dict(msgs[0])
    d["body"] = {**d["body"], "id": "X-4", "status": "deleted"}
    ls.add(d)
    assert "X-4" not in {t["body"]["id"] for t in ls.snapshot()["tracks"]}


def test_snapshot_trails_are_bounded_and_keep_their_shape() -> None:
    """Issue 19: full trails made /v1/state ~1 MB at 300 tracks. A snapshot gives
    ``snapshot_trail`` points spread over the kept trail: the first, the latest,
    in time order (the page grows the trail again from the event stream)."""
    ls = LiveState(trail_len=60, snapshot_trail=16)
    full = LiveState(trail_len=60, snapshot_trail=None)
    base = display_dict(next(m for m in messages() if m.kind == "track"))
    for k in range(100):
        d = {**base, "body": {**base["body"], "id": "B-1", "t": T0 + k}}
        ls.add(d)
        full.add(d)
    (tr,) = ls.snapshot()["tracks"]
    (whole,) = full.snapshot()["tracks"]
    assert len(whole["trail"]) == 60
    assert len(tr["trail"]) == 16
    ts = [p[3] for p in tr["trail"]]
    assert ts == sorted(ts)
    assert (ts[0], ts[-1]) == (whole["trail"][0][3], whole["trail"][-1][3]) == (T0 + 40, T0 + 99)
    assert all(p in whole["trail"] for p in tr["trail"])


def test_recording_from_a_drill_directory(tmp_path: Path) -> None:
    run_dir = write_fake_run(tmp_path / "run")
    rec = load_recording(run_dir)
    # links: JP and KR up, KR silent in its outage, back after it
    assert rec.counts == {"sensor": 2, "track": 82, "alert": 3, "link": 4}
    kinds = [m["kind"] for m in rec.messages]
    assert kinds[:2] == ["sensor", "sensor"]
    times = [m["body"]["t"] for m in rec.messages[2:]]
    assert times == sorted(times)
    assert all("cov" not in m["body"] for m in rec.messages)
    links = [(m["body"]["partner"], m["body"]["silent"]) for m in rec.messages if m["kind"] == "link"]
    assert links == [("JP", False), ("KR", False), ("KR", True), ("KR", False)]
    doc = json.loads(rec.to_json())
    assert doc["t0"] == pytest.approx(T0)  # the first descriptor arrives
    assert doc["t1"] == pytest.approx(T0 + 620.2)

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        assert (await c.get("/v1/config")).json()["replay"] is True
        r = await c.get("/v1/replay", headers={"accept-encoding": "gzip"})
        assert r.status_code == 200
        assert len(r.json()["messages"]) == 91
        raw = await c.get("/v1/replay", headers={"accept-encoding": "identity"})
        assert raw.json() == r.json()

    run(tmp_path, go, replay=rec)


def test_recording_from_a_journal(tmp_path: Path) -> None:
    msgs = messages()
    with Journal(tmp_path / "journal.db") as j:
        for m in msgs:
            j.append("input" if m.kind == "sensor" else "output", encode_json(m))
        j.append("input", encode_json(sample_plot(seq=99, sent=T0)))  # plots are not shown
        j.append("operator", json.dumps({"event": "login", "operator": "alice", "t": T0 + 5}).encode())
        j.append("note", b'{"event":"start"}')
    for where in (tmp_path / "journal.db", tmp_path):
        rec = load_recording(where)
        assert rec.counts == {"sensor": 2, "track": 82, "alert": 3, "operator": 1}
    op = next(m for m in rec.messages if m["kind"] == "operator")
    assert op["body"]["operator"] == "alice"
    assert op["body"]["t"] == T0 + 5


def test_bad_recordings_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="tocsin drill"):
        load_recording(tmp_path)
    with pytest.raises(InputError, match="no such"):
        load_recording(tmp_path / "missing")
    run_dir = write_fake_run(tmp_path / "run")
    with open(run_dir / "alerts.jsonl", "a") as fh:
        fh.write('{"kind": "alert", "body": {oops\n')
    with pytest.raises(InputError) as ei:
        load_recording(run_dir)
    assert "alerts.jsonl:4" in str(ei.value)


def test_areas_geojson(tmp_path: Path) -> None:
    import tocsin.warning.areas  # noqa: F401 - plainly: a broken import fails

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        r = await c.get("/v1/areas.geojson", headers={"accept-encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == "gzip"
        gj = r.json()
        assert gj["type"] == "FeatureCollection"
        codes = {f["properties"]["code"]: f for f in gj["features"]}
        assert "JP-01" in codes
        assert any(c.startswith("KR-") for c in codes)
        hok = codes["JP-01"]
        assert hok["properties"]["name_en"] == "Hokkaido"
        # Korean si/gun/gu with their province; sea zones apart from land
        ongjin = codes["KR-28720"]["properties"]
        assert (ongjin["kind"], ongjin["parent"], ongjin["name_ko"]) == ("land", "KR-28", "인천광역시 옹진군")
        assert codes["sea:KR-28"]["properties"]["kind"] == "sea"
        assert hok["geometry"]["type"] in ("Polygon", "MultiPolygon")
        flat = json.dumps(hok["geometry"]["coordinates"])
        assert not re.search(r"\.\d{4,}", flat)  # rounded to 1e-3 degree
        assert len(gzip.compress(r.content)) < 3_000_000
        again = await c.get("/v1/areas.geojson")
        assert again.json() == gj  # cached

    run(tmp_path, go)


def test_link_events_follow_the_link_monitor() -> None:
    from tocsin.web.dashboard import link_events

    hb = [(T0 + t, "JP", True) for t in range(0, 101, 5) if not 30 < t < 60]  # outage 30..60
    plots = [(T0 + t + 0.5, "JP", False) for t in range(0, 100, 7) if not 30 < t < 60]
    quiet = [(T0 + 1.0, "KR", False), (T0 + 90.0, "KR", False)]  # no heartbeats: not judged
    ev = link_events(hb + plots + quiet)
    got = [(e["body"]["partner"], e["body"]["silent"], round(e["body"]["t"] - T0, 2)) for e in ev]
    assert [g[:2] for g in got] == [("JP", False), ("JP", True), ("JP", False)]
    assert got[0][2] == 0.0
    # last traffic before the outage: the heartbeat at 30; flagged after 1.5 periods,
    # checked every quarter period -> within (30 + 7.5, 30 + 7.5 + 1.25]
    assert 37.5 < got[1][2] <= 38.75
    assert got[2][2] == 60.0
    assert all(e["kind"] == "link" for e in ev)
    assert link_events([]) == []


def test_serve_replay_option_names_a_bad_path(tmp_path: Path) -> None:
    import subprocess

    for where, msg in ((tmp_path / "missing", "no such file"), (tmp_path, "tocsin drill")):
        r = subprocess.run(
            [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(tmp_path / "d"),
             "--replay", str(where)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert r.returncode == 2
        assert msg in r.stderr
        assert str(where) in r.stderr
        assert "Traceback" not in r.stderr


def test_openapi_lists_the_dashboard_routes(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        doc = (await c.get("/openapi.json")).json()
        paths = set(doc["paths"])
        assert {"/v1/messages", "/v1/events", "/v1/state", "/auth/login", "/v1/manual/confirm"} <= paths
        from starlette.routing import Route

        routed = {r.path for r in dash.routes() if isinstance(r, Route)}
        assert routed <= paths  # every route of the page is described

    run(tmp_path, go)
