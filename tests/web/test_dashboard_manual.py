"""Manual Alert / Update / Cancel over HTTP under the two-person rule."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import tocsin.warning.areas
import tocsin.warning.manual  # noqa: F401
from tocsin.exchange.samples import toy_stages
from tocsin.journal.store import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.auth import OperatorStore
from tocsin.web.dashboard import Dashboard, DashboardConfig

PW = {"alice": "alpha-password-1", "bob": "bravo-password-2", "sue": "sierra-password-3"}


class Op:
    """One logged-in operator (own cookie jar) on the shared app."""

    def __init__(self, app: Any, name: str) -> None:
        self.name = name
        self.c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        self.csrf = ""

    async def login(self) -> Op:
        r = await self.c.post("/auth/login", json={"name": self.name, "password": PW[self.name]})
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf"]
        return self

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.c.post(path, json=body, headers={"X-CSRF-Token": self.csrf})


def run(tmp_path: Path, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    st = OperatorStore(tmp_path / "operators.json")
    st.add("alice", PW["alice"])
    st.add("bob", PW["bob"])
    st.add("sue", PW["sue"], "supervisor")
    st.save()
    data = tmp_path / "data"
    ex, _ = build_exchange(toy_stages(), data=data, config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig(operators=tmp_path / "operators.json", manual_dir=data / "manual"))

    async def main() -> Any:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            return await fn(app)
        finally:
            await ex.stop()
            dash.close()

    return asyncio.run(main())


def test_two_person_alert_update_cancel(tmp_path: Path) -> None:
    async def go(app: Any) -> None:
        alice, bob, sue = [await Op(app, n).login() for n in ("alice", "bob", "sue")]
        # no CSRF token: refused before anything happens
        r = await alice.c.post("/v1/manual/propose", json={"areas": ["JP-13"], "text": "避難"})
        assert r.status_code == 403
        assert r.json()["reason"] == "csrf"
        r = await alice.post("/v1/manual/propose", {"msg_type": "Alert", "areas": ["JP-99"], "text": "避難"})
        assert r.status_code == 422
        assert r.json()["field"] == "areas"
        r = await alice.post("/v1/manual/propose", {"msg_type": "Alert", "areas": ["JP-13"], "text": " "})
        assert r.status_code == 422
        assert r.json()["field"] == "text"
        r = await alice.post("/v1/manual/propose", {"msg_type": "Warn", "areas": ["JP-13"], "text": "避難"})
        assert r.json()["field"] == "msg_type"
        # English typed as the Japanese public's own text: refused, never pasted into ja
        r = await alice.post(
            "/v1/manual/propose", {"msg_type": "Alert", "areas": ["JP-13", "JP-14"], "text": "Shelter now."}
        )
        assert r.status_code == 422
        assert r.json()["field"] == "text"
        assert "Japanese" in r.json()["detail"]
        r = await alice.post(
            "/v1/manual/propose",
            {
                "msg_type": "Alert",
                "areas": ["JP-13", "JP-14"],
                "text": {
                    "ja-JP": "直ちに避難して下さい。",
                    "ko-KR": "즉시 대피하십시오.",
                    "en-US": "Shelter now.",
                },
            },
        )
        assert r.status_code == 200, r.text
        pid = r.json()["id"]
        # nothing is issued by a proposal
        assert (await bob.c.get("/v1/alerts")).json() == []
        # the proposer cannot confirm
        r = await alice.post("/v1/manual/confirm", {"id": pid})
        assert r.status_code == 403
        assert r.json()["reason"] == "two_person"
        assert (await alice.c.get("/v1/alerts")).json() == []
        view = (await bob.c.get("/v1/manual")).json()
        assert view["status"] == "Exercise"
        assert [(p["id"], p["proposed_by"]) for p in view["pending"]] == [(pid, "alice")]
        # a second, different operator confirms: issued, as Exercise
        r = await bob.post("/v1/manual/confirm", {"id": pid})
        assert r.status_code == 200, r.text
        (a1,) = r.json()["alerts"]
        assert a1["body"]["msg_type"] == "Alert"
        assert a1["body"]["status"] == "Exercise"
        assert a1["body"]["areas"] == ["JP-13", "JP-14"]
        cap = a1["body"]["cap"]
        assert cap.count("<info>") == 3
        assert "<status>Exercise</status>" in cap
        r = await bob.post("/v1/manual/confirm", {"id": pid})
        assert r.status_code == 404  # issued once
        await asyncio.sleep(0.05)  # the hub hands over on the loop
        hist = (await bob.c.get("/v1/alerts")).json()
        assert [h["body"]["id"] for h in hist] == [a1["body"]["id"]]
        state = (await bob.c.get("/v1/state")).json()
        assert [a["body"]["id"] for a in state["alerts"]] == [a1["body"]["id"]]

        # Update: bob proposes new text, bob cannot confirm, sue can
        r = await bob.post(
            "/v1/manual/propose",
            {
                "msg_type": "Update",
                "areas": ["JP-13"],
                "text": {"ja-JP": "屋内にとどまって下さい。"},
                "references": [a1["body"]["id"]],
            },
        )
        assert r.status_code == 200, r.text
        cid = r.json()["id"]
        r = await bob.post("/v1/manual/confirm", {"id": cid})
        assert r.status_code == 403
        r = await sue.post("/v1/manual/confirm", {"id": cid})
        assert r.status_code == 200, r.text
        new, cancel = r.json()["alerts"]
        assert new["body"]["msg_type"] == "Alert"
        assert new["body"]["areas"] == ["JP-13"]
        assert cancel["body"]["msg_type"] == "Cancel"
        assert cancel["body"]["references"] == [a1["body"]["id"]]

        # Cancel of an automatic or unknown alert: refused; of the manual one: two people
        r = await alice.post("/v1/manual/propose", {"msg_type": "Cancel", "references": ["A-1"]})
        assert r.status_code == 404
        r = await alice.post("/v1/manual/propose", {"msg_type": "Cancel", "references": [new["body"]["id"]]})
        assert r.status_code == 200
        cid = r.json()["id"]
        # withdrawing someone else's proposal needs the supervisor role
        r = await bob.post("/v1/manual/withdraw", {"id": cid})
        assert r.status_code == 403
        r = await bob.post("/v1/manual/confirm", {"id": cid})
        assert r.status_code == 200
        (c2,) = r.json()["alerts"]
        assert c2["body"]["msg_type"] == "Cancel"
        assert c2["body"]["references"] == [new["body"]["id"]]

        # a proposal withdrawn by a supervisor is never issued
        r = await alice.post(
            "/v1/manual/propose", {"msg_type": "Alert", "areas": ["JP-01"], "template": "missile-launch"}
        )
        wid = r.json()["id"]
        r = await sue.post("/v1/manual/withdraw", {"id": wid})
        assert r.status_code == 200
        r = await bob.post("/v1/manual/confirm", {"id": wid})
        assert r.status_code == 404
        assert (await bob.c.get("/v1/manual")).json()["pending"] == []
        for o in (alice, bob, sue):
            await o.c.aclose()

    run(tmp_path, go)
    data = tmp_path / "data"
    with Journal(data / "journal.db", readonly=True) as j:
        assert j.verify().ok
        ops = [json.loads(e.payload) for e in j.entries(kinds=("operator",))]
        outputs = list(j.entries(kinds=("output",)))
    events = [(o["event"], o["operator"]) for o in ops if o["event"] not in ("login",)]
    assert events[:5] == [
        ("propose_refused", "alice"),
        ("propose_refused", "alice"),
        ("propose_refused", "alice"),
        ("propose_refused", "alice"),  # English offered as the Japanese text
        ("propose", "alice"),
    ]
    assert ("confirm_refused", "alice") in events
    issued = [o for o in ops if o["event"] == "issued"]
    assert [(o["operator"], o["alert"]["body"]["msg_type"]) for o in issued] == [
        ("bob", "Alert"),
        ("sue", "Alert"),
        ("sue", "Cancel"),
        ("bob", "Cancel"),
    ]
    assert all(o["alert"]["body"]["status"] == "Exercise" for o in issued)
    assert ("withdraw", "sue") in events
    assert ("withdraw_refused", "bob") in events
    # the stage outputs and their file stay exactly what the stages produced
    assert outputs == []
    assert (data / "alerts.jsonl").read_text() == ""
    # the warning package's own audit of the book
    book = json.loads((data / "manual" / "book.json").read_text())
    assert [r["action"] for r in book["audit"]][:4] == ["refuse", "refuse", "refuse", "propose"]


def test_actual_only_with_a_live_mode(tmp_path: Path) -> None:
    from tocsin.warning.mode import DrillMode, LiveAuthorisation, authorise_live

    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    live = authorise_live(LiveAuthorisation("duty officer", "order 1", "warning@jp.example"))
    with pytest.raises(ValueError, match="banner"):
        DashboardConfig(mode="exercise", manual_mode=live)
    with pytest.raises(ValueError, match="banner"):
        DashboardConfig(mode="actual")
    with pytest.raises(ValueError, match="banner"):
        DashboardConfig(mode="actual", manual_mode=DrillMode())
    st = OperatorStore(tmp_path / "operators.json")
    st.add("alice", PW["alice"])
    st.add("bob", PW["bob"])
    st.save()
    dash = Dashboard(
        ex,
        DashboardConfig(
            mode="actual", manual_mode=live, operators=tmp_path / "operators.json", manual_dir=tmp_path / "m"
        ),
    )

    async def main() -> None:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            alice, bob = [await Op(app, n).login() for n in ("alice", "bob")]
            assert (await alice.c.get("/v1/config")).json()["mode"] == "actual"
            r = await alice.post(
                "/v1/manual/propose", {"areas": ["KR-11110"], "text": {"ja-JP": "避難して下さい。"}}
            )
            pid = r.json()["id"]
            assert (await alice.post("/v1/manual/confirm", {"id": pid})).status_code == 403
            r = await bob.post("/v1/manual/confirm", {"id": pid})
            (a,) = r.json()["alerts"]
            assert a["body"]["status"] == "Actual"
            assert "<status>Actual</status>" in a["body"]["cap"]
            for o in (alice, bob):
                await o.c.aclose()
        finally:
            await ex.stop()
            dash.close()

    asyncio.run(main())


def test_manual_alerts_survive_a_restart(tmp_path: Path) -> None:
    async def go(app: Any) -> None:
        alice, bob = [await Op(app, n).login() for n in ("alice", "bob")]
        r = await alice.post("/v1/manual/propose", {"areas": ["JP-01"], "template": "missile-launch"})
        r = await bob.post("/v1/manual/confirm", {"id": r.json()["id"]})
        assert r.status_code == 200
        for o in (alice, bob):
            await o.c.aclose()

    run(tmp_path, go)
    ex, _ = build_exchange(toy_stages(), data=tmp_path / "data", config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig())
    alerts = dash.live.snapshot()["alerts"]
    assert [(a["body"]["msg_type"], a["body"]["areas"]) for a in alerts] == [("Alert", ["JP-01"])]

    async def main() -> None:
        app = create_app(ex, dashboard=dash)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            hist = (await c.get("/v1/alerts")).json()
            assert [h["body"]["areas"] for h in hist] == [["JP-01"]]
            feed = (await c.get("/feed/cap.atom")).content
            assert b"<entry>" in feed  # the manual alert is still in force
            href = feed.split(b'type="application/cap+xml" href="')[1].split(b'"')[0].decode()
            assert b"<status>Exercise</status>" in (await c.get(href)).content

    asyncio.run(main())
