"""Signed bundles and signature versions through the HTTP API and the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign_bundle, sign_v1
from tocsin.journal import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.hub import Exchange
from tocsin.wire import decode_json, encode_json

T0 = 1_789_430_400.0
JSON = {"content-type": "application/json"}
KEY = generate_key()


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


def registry(accept_v1: bool = False) -> PartnerRegistry:
    return PartnerRegistry({"JP": PartnerPolicy("JP", KEY.public_key(), ("JP-*",), ("plot",), accept_v1)})


def test_a_signed_bundle_is_journalled_member_by_member(tmp_path: Path) -> None:
    ex, _ = build_exchange(
        toy_stages(), data=tmp_path, registry=registry(), max_skew_s=None, config=ServerConfig(tick_s=0)
    )
    members = [sample_plot(seq=i, sent=T0 + i) for i in range(1, 6)]
    members.append(sample_plot(source="KR-R1", seq=1, sent=T0))
    b = sign_bundle(members, KEY, partner="JP", source="JP-node-1", seq=1, sent=T0 + 6)

    async def go(c: httpx.AsyncClient) -> None:
        r = await c.post("/v1/messages", content=encode_json(b), headers=JSON)
        assert r.status_code == 202
        d = r.json()
        assert (d["accepted"], d["rejected"]) == (5, 1)
        assert d["rejects"][0]["field"] == "$.body.messages[5].source"
        r = await c.post("/v1/messages", content=encode_json(b), headers=JSON)  # replayed: nothing new
        assert r.json()["accepted"] == 0

    run(ex, go)
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        inputs = [decode_json(e.payload) for e in j.entries(kinds=("input",))]
        outputs = [decode_json(e.payload) for e in j.entries(kinds=("output",))]
    assert [(e.kind, e.seq) for e in inputs] == [("plot", i) for i in range(1, 6)]
    assert len(outputs) >= 5  # the stages saw the members, never the bundle
    assert all(e.kind != "bundle" for e in inputs + outputs)


def test_legacy_v1_signature_policy_over_http(tmp_path: Path) -> None:
    for accept, status in [(False, 403), (True, 202)]:
        ex, _ = build_exchange(
            toy_stages(), registry=registry(accept), max_skew_s=None, config=ServerConfig(tick_s=0)
        )

        async def go(c: httpx.AsyncClient, accept: bool = accept, status: int = status) -> None:
            r = await c.post("/v1/messages", content=encode_json(sign_v1(sample_plot(), KEY)), headers=JSON)
            assert r.status_code == status
            if not accept:
                assert r.json()["reason"] == "legacy_signature"
                assert "RFC 8785" in r.json()["detail"]
            m = (await c.get("/metrics")).text
            assert ('tocsin_legacy_signatures_total{partner="JP"} 1' in m) == accept

        run(ex, go)
