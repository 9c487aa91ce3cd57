"""The embedded worker: group commit, and the scan grace tick."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.hub import Exchange
from tocsin.wire import Envelope, decode_json, encode_json

T0 = 1_789_430_400.0
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


def test_requests_queued_together_share_one_commit(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), data=tmp_path, config=ServerConfig(tick_s=0, clock="data"))
    n_req = 24

    async def go(c: httpx.AsyncClient) -> list[httpx.Response]:
        bodies = [
            b"\n".join(
                encode_json(sample_plot(source=f"S{r}", seq=i, sent=T0 + i)) for i in range(1, 4 + r % 3)
            )
            for r in range(n_req)
        ]
        return await asyncio.gather(*(c.post("/v1/messages", content=b, headers=NDJSON) for b in bodies))

    rs = run(ex, go)
    assert ex.committed_requests == n_req
    assert ex.commits < n_req  # grouped
    for r, resp in enumerate(rs):
        d = resp.json()
        # each request gets the verdicts of its own lines, in order
        assert d["accepted"] == 3 + r % 3
        assert [x["line"] for x in d["results"]] == list(range(1, 4 + r % 3))
        assert {x["source"] for x in d["results"]} == {f"S{r}"}
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        assert sum(1 for _ in j.entries(kinds=("input",))) == sum(3 + r % 3 for r in range(n_req))


class ScanBuffer:
    """A stage that, like the tracker, holds plots until time moves on."""

    def __init__(self) -> None:
        self.held: list[Envelope] = []

    def push(self, env: Envelope) -> list[Envelope]:
        self.held.append(env)
        return []

    def advance(self, t: float) -> list[Envelope]:
        out, self.held = self.held, []
        return out


def _first_tick_after_post(tmp_path: Path, grace: float, wait_s: float) -> tuple[float | None, int]:
    cfg = ServerConfig(tick_s=60.0, scan_grace_s=grace, clock="wall")
    ex, _ = build_exchange([ScanBuffer()], data=tmp_path, config=cfg, max_skew_s=None)

    async def go(c: httpx.AsyncClient) -> float | None:
        t0 = time.monotonic()
        r = await c.post("/v1/messages", content=encode_json(sample_plot()), headers=NDJSON)
        assert r.status_code == 200
        while time.monotonic() - t0 < wait_s:
            if ex.pipeline.metrics.ticks:
                return time.monotonic() - t0
            await asyncio.sleep(0.005)
        return None

    dt = run(ex, go)
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        kinds = [e.kind for e in j.entries(kinds=("input", "tick", "output"))]
    return dt, kinds.count("output") if kinds[:3] == ["input", "tick", "output"] else -1


def test_scan_grace_processes_a_buffered_scan_without_waiting_for_the_next(tmp_path: Path) -> None:
    dt, outputs = _first_tick_after_post(tmp_path / "a", grace=0.02, wait_s=5.0)
    assert dt is not None  # ticked long before the 60-s periodic tick
    assert outputs == 1  # journalled: input, tick, then the output the tick released


def test_without_scan_grace_the_scan_waits(tmp_path: Path) -> None:
    dt, _ = _first_tick_after_post(tmp_path / "b", grace=0.0, wait_s=0.5)
    assert dt is None


def test_stage_process_answers_when_journalled_and_outputs_follow(tmp_path: Path) -> None:
    from tocsin.stageproc import StageRecipe

    cfg = ServerConfig(tick_s=0, clock="data", stage_process=True)
    ex, _ = build_exchange(toy_stages(), data=tmp_path, config=cfg, stage_recipe=StageRecipe("toy"))

    async def go(c: httpx.AsyncClient) -> tuple[int, int, int, int]:
        proc = ex.pipeline.stage_process
        assert proc is not None
        assert proc.pid != os.getpid()  # the stages run elsewhere
        body = b"\n".join(encode_json(sample_plot(source="S1", seq=i, sent=T0 + i)) for i in range(1, 11))
        r = await c.post("/v1/messages", content=body, headers=NDJSON)
        assert r.json()["accepted"] == 10
        t0 = time.monotonic()
        while sum(ex.pipeline.metrics.outputs.values()) < 10 and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.01)  # the collector journals and emits them as they come
        outputs = sum(ex.pipeline.metrics.outputs.values())
        healthy = (await c.get("/healthz")).status_code
        proc.proc.kill()
        proc.proc.wait(10)
        down = (await c.get("/healthz")).status_code
        refused = await c.post("/v1/messages", content=encode_json(sample_plot(seq=99)), headers=NDJSON)
        return outputs, healthy, down, refused.status_code

    outputs, healthy, down, refused = run(ex, go)
    assert outputs >= 10  # a track update per plot (and the toy alert)
    assert healthy == 200
    assert down == 503  # the stages are gone: a service manager restarts the node
    assert refused == 503  # and nothing more is accepted that they would never see
    # every output emitted by the end (the toy alert may come after ``outputs``
    # was read, while the stage process was being killed) was journalled first
    emitted = sum(ex.pipeline.metrics.outputs.values())
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        kinds = [e.kind for e in j.entries(kinds=("input", "output"))]
    assert kinds.count("input") == 10
    assert kinds.count("output") >= emitted >= outputs  # each journalled before it was emitted
    assert kinds.index("output") > kinds.index("input")


def test_the_scan_grace_ends_sooner_for_a_sensor_whose_scans_came_whole(tmp_path: Path) -> None:
    """A sensor's first scan waits the configured grace (here 0.6 s, to be
    measurable under load); once it has shown a whole scan, the tick follows
    its next scan after the minimum grace. The ticks are journalled: the
    journal replays to the same outputs."""
    from tocsin.runtime import recorded_outputs, replay_journal

    cfg = ServerConfig(tick_s=60.0, scan_grace_s=0.6, scan_grace_min_s=0.002, clock="wall")
    ex, _ = build_exchange([ScanBuffer()], data=tmp_path, config=cfg, max_skew_s=None)

    async def go(c: httpx.AsyncClient) -> list[float]:
        waits = []
        for k in range(1, 4):
            ticks = ex.pipeline.metrics.ticks
            body = b"\n".join(
                encode_json(sample_plot(seq=2 * k + i, sent=T0 + k, t=T0 + k - 0.1)) for i in range(2)
            )
            t0 = time.monotonic()
            r = await c.post("/v1/messages", content=body, headers=NDJSON)
            assert r.json()["accepted"] == 2
            while ex.pipeline.metrics.ticks == ticks and time.monotonic() - t0 < 5.0:
                await asyncio.sleep(0.002)
            waits.append(time.monotonic() - t0)
        return waits

    waits = run(ex, go)
    assert waits[0] >= 0.55  # not known yet: the configured grace
    assert waits[1] < 0.3  # its scans come whole: the minimum (+ commit and load)
    assert waits[2] < 0.3
    assert ex.grace_ticks == 3
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        kinds = [e.kind for e in j.entries(kinds=("input", "tick", "output"))]
        assert kinds == ["input", "input", "tick", "output", "output"] * 3
        assert [encode_json(e) for e in replay_journal(j, [ScanBuffer()])] == recorded_outputs(j)


def test_a_scan_split_by_a_short_grace_makes_the_next_ones_wait(tmp_path: Path) -> None:
    """A sensor that sent whole scans, then one in two requests 80 ms apart:
    the first part is taken as complete after the minimum grace (a split), the
    second part teaches the gap, and the next scan of that sensor waits
    twice it (2 x 80 ms, within the configured 1 s: a gap the grace can hold)."""
    cfg = ServerConfig(tick_s=60.0, scan_grace_s=1.0, scan_grace_min_s=0.002, clock="wall")
    ex, _ = build_exchange([ScanBuffer()], data=tmp_path, config=cfg, max_skew_s=None)

    async def go(c: httpx.AsyncClient) -> None:
        seq = iter(range(1, 100))

        async def post(k: int) -> None:
            r = await c.post(
                "/v1/messages",
                content=encode_json(sample_plot(seq=next(seq), sent=T0 + k, t=T0 + k)),
                headers=NDJSON,
            )
            assert r.json()["accepted"] == 1

        await post(1)
        await post(2)  # scan 1 came whole
        await asyncio.sleep(0.08)
        await post(2)  # scan 2's second plot, 80 ms later: split
        assert 0.16 <= ex.scan_grace.grace_s() <= 1.0
        await post(3)
        await asyncio.sleep(0.3)

    run(ex, go)
    assert ex.scan_grace.learned()["JP/JP-R1"] >= 0.08


def test_a_batch_is_journalled_in_the_order_its_requests_were_sent(tmp_path: Path) -> None:
    """Requests that queued together (here behind a slow exclusive job, as
    behind a long batch) go into the journal, and to the stages, in the order
    of their ``sent``, not in the order their uploads completed: a radar scan
    taken after a later scan of another radar is re-filtered into every track
    it updates (issue 17 (b)). Each request still gets its own verdicts."""
    ex, _ = build_exchange(toy_stages(), data=tmp_path, config=ServerConfig(tick_s=0, clock="data"))
    n_req = 12

    async def go(c: httpx.AsyncClient) -> list[httpx.Response]:
        hold = asyncio.create_task(ex.run_exclusive(lambda: time.sleep(0.5)))
        await asyncio.sleep(0.05)  # the worker is busy with it: what comes now queues
        # sent in reverse of the order they are posted
        bodies = [
            b"\n".join(
                encode_json(sample_plot(source=f"S{r}", seq=i, sent=T0 + 10 * (n_req - r) + i))
                for i in (1, 2)
            )
            for r in range(n_req)
        ]
        rs = []
        for b in bodies:  # one at a time: arrival order is posting order
            rs.append(asyncio.create_task(c.post("/v1/messages", content=b, headers=NDJSON)))
            await asyncio.sleep(0.005)
        await hold
        return list(await asyncio.gather(*rs))

    rs = run(ex, go)
    assert ex.commits < n_req  # they were grouped
    for r, resp in enumerate(rs):
        d = resp.json()
        assert d["accepted"] == 2
        assert {x["source"] for x in d["results"]} == {f"S{r}"}
    with Journal(tmp_path / "journal.db", readonly=True) as j:
        sent = [decode_json(e.payload).sent for e in j.entries(kinds=("input",))]
    assert len(sent) == 2 * n_req
    assert sent == sorted(sent)


def test_in_send_order_keeps_requests_without_a_sent_after_their_predecessor() -> None:
    from tocsin.exchange.ingress import Prechecked
    from tocsin.web.hub import in_send_order

    def req(sent: float | None) -> list[Any]:
        if sent is None:
            return [b"raw line"]
        env = sample_plot(sent=sent)
        return [Prechecked(encode_json(env), "json", env, None)]

    group = [(req(5.0), "a"), (req(None), "b"), (req(3.0), "c"), (req(None), "d"), (req(4.0), "e")]
    assert [f for _, f in in_send_order(group)] == ["c", "d", "e", "a", "b"]
