"""Link health: a partner that goes silent is flagged within 2 heartbeat periods,
the others carry on."""

from __future__ import annotations

import asyncio
import json

import httpx

from tocsin.exchange.samples import sample_heartbeat, sample_plot, toy_stages
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.wire import encode_json

HB = 5.0
JSON = {"content-type": "application/json"}


def test_silent_partner_is_flagged_and_recovers() -> None:
    clock = [1000.0]
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data", link_heartbeat_s=HB))
    ex.wall_clock = lambda: clock[0]
    cfg = ex.config
    # checked every quarter period, flagged after 1.5: always within 2 periods
    assert cfg.link_silent_periods * HB + HB / 4 <= 2 * HB

    async def go() -> None:
        app = create_app(ex)
        await ex.start()
        assert ex.hub is not None
        q = ex.hub.subscribe()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:

                async def post(env: object) -> None:
                    r = await c.post("/v1/messages", content=encode_json(env), headers=JSON)  # type: ignore[arg-type]
                    assert r.status_code == 202

                await post(sample_plot(partner="JP", source="JP-R1", seq=1))
                await post(sample_heartbeat(partner="KR", node="KR-node-1", seq=1))
                clock[0] += 1.4 * HB
                await post(sample_plot(partner="JP", source="JP-R1", seq=2))
                ex._check_links()
                assert not ex.links["KR"].silent
                clock[0] += 0.2 * HB  # KR silent for 1.6 periods, JP for 0.2
                ex._check_links()
                assert ex.links["KR"].silent
                assert not ex.links["JP"].silent
                h = (await c.get("/healthz")).json()
                assert h["links"]["KR"]["silent"] is True
                m = (await c.get("/metrics")).text
                assert 'tocsin_link_silent{partner="KR"} 1' in m
                assert 'tocsin_link_silent{partner="JP"} 0' in m
                # the picture continues from JP
                await post(sample_plot(partner="JP", source="JP-R1", seq=3))
                assert ex.pipeline.metrics.outputs["track"] == 3
                # KR comes back
                await post(sample_heartbeat(partner="KR", node="KR-node-1", seq=2))
                assert not ex.links["KR"].silent
                await asyncio.sleep(0)
                events = []
                while not q.empty():
                    item = q.get_nowait()
                    if item is not None and item[0] == "link":
                        events.append(json.loads(item[1]))
                assert [(e["partner"], e["silent"]) for e in events] == [("KR", True), ("KR", False)]
        finally:
            ex.hub.unsubscribe(q)
            await ex.stop()

    asyncio.run(asyncio.wait_for(go(), 10))
