"""JetStream: streams, a durable fusion consumer acking after the journal,
outputs published back, a 3-node R3 cluster surviving a node. (What the server
refuses a partner: tests/security/test_security_nats_isolation.py.) Few tests, each
under a timeout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import nats
import pytest
from nats_helpers import nats_cluster, nats_server

from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, recorded_outputs
from tocsin.transport.nats import (
    OUT_STREAM,
    FusionNode,
    ensure_streams,
    in_stream,
    publish,
    publish_all,
    subject_for,
)

pytestmark = pytest.mark.nats
T = TypeVar("T")
T0 = 1_789_430_400.0
SMALL = {"in_max_bytes": 32 * 2**20, "out_max_bytes": 8 * 2**20}
JP, KR = generate_key(), generate_key()
REG = PartnerRegistry(
    {
        "JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot", "heartbeat")),
        "KR": PartnerPolicy("KR", KR.public_key(), ("KR-*",), ("plot", "heartbeat")),
    }
)


def arun(coro: Awaitable[T], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


def make_node(js: Any, data: Path, partner: str = "JP") -> FusionNode:
    j = Journal(data / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, ingress=Ingress(REG, max_skew_s=None, recorder=j))
    if j.last_seq:
        pipe.recover()
    return FusionNode(js, pipe, partner=partner, key=JP if partner == "JP" else KR, clock=lambda: T0)


def test_subjects() -> None:
    assert subject_for(sample_plot(source="JP-R1")) == "tocsin.v1.plot.JP.JP-R1"
    assert subject_for(sample_plot(source="a.b*c >")) == "tocsin.v1.plot.JP.a_b_c__"


def test_fusion_consumer_acks_after_journal_and_refuses_forgeries(tmp_path: Path) -> None:
    async def go() -> None:
        with nats_server(tmp_path) as srv:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream()
            await ensure_streams(js, replicas=1, **SMALL)
            await ensure_streams(js, replicas=1, update=True, **SMALL)  # idempotent
            good = [sample_plot(source="JP-R1", seq=i, sent=T0 + i) for i in range(1, 7)]
            await publish_all(js, good[:3], key=JP)
            for m in good[3:]:  # the same object as MessagePack
                await publish(js, sign(m, JP), fmt="msgpack")
            forged = sign(sample_plot(source="JP-R1", seq=50, sent=T0), KR)  # KR key, JP name
            foreign = sign(sample_plot(partner="KR", source="JP-R9", seq=1, sent=T0), KR)
            replay = sign(good[0], JP)
            for m in (forged, foreign):
                await publish(js, m)
            # a replay with a new Nats-Msg-Id gets past the stream dedupe, not past ingress
            await js.publish(subject_for(replay), msgspec.json.encode(replay), headers={"Nats-Msg-Id": "x"})
            pa = await publish(js, good[1] if good[1].sig else sign(good[1], JP))
            assert pa.duplicate  # same Nats-Msg-Id: stored once

            node = make_node(js, tmp_path / "a")
            await node.setup()
            while await node.step(timeout=0.5):
                pass
            assert node.stats.accepted == 6
            assert node.stats.rejected == 3
            rej = node.pipeline.ingress.rejected
            assert rej == {"bad_signature": 1, "foreign_source": 1, "duplicate": 1}
            info = await js.consumer_info(in_stream("JP"), "fusion-JP")
            assert info.num_ack_pending == 0
            assert info.num_pending == 0
            # outputs were published back, signed
            sub = await js.pull_subscribe("tocsin.v1.out.>", durable="reader", stream=OUT_STREAM)
            outs = await sub.fetch(100, timeout=2)
            kinds = [json.loads(m.data)["kind"] for m in outs]
            assert kinds.count("track") == 6
            assert kinds.count("alert") == 1
            assert all(json.loads(m.data)["sig"] for m in outs)
            assert node.pipeline.journal is not None
            assert len(recorded_outputs(node.pipeline.journal)) == 7

            # restart: nothing is processed twice, new input continues the picture
            node.pipeline.close()
            await publish_all(js, [sample_plot(source="JP-R1", seq=7, sent=T0 + 7)], key=JP)
            node2 = make_node(js, tmp_path / "a")
            await node2.setup()
            while await node2.step(timeout=0.5):
                pass
            assert node2.stats.accepted == 1
            assert node2.pipeline.journal is not None
            assert node2.pipeline.journal.verify().ok
            last = json.loads(recorded_outputs(node2.pipeline.journal)[-1])
            assert last["body"]["state_ecef"][0] == 7.0  # the 7th plot of the same track
            await node2.heartbeat()
            node2.pipeline.close()
            await nc.close()

    arun(go())


@pytest.mark.slow
def test_a_msgpack_message_repeating_a_key_is_refused_by_the_node(tmp_path: Path) -> None:
    """A signed MessagePack plot with ``seq`` written twice, a made-up one
    first: msgspec keeps the signed one (the signature verifies over what it
    kept), a first-wins reader the other. The node refuses it (docs/security.md
    row 10.3); the genuine message is accepted."""
    good = sign(sample_plot(source="JP-R1", seq=1, sent=T0), JP)
    raw = msgspec.msgpack.encode(good)
    i = raw.index(b"\xa3seq")
    bad = bytes([raw[0] + 1]) + raw[1:i] + b"\xa3seq\xcd\x03\xe7" + raw[i:]  # seq 999, then seq 1

    async def go() -> None:
        with nats_server(tmp_path) as srv:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream()
            await ensure_streams(js, replicas=1, **SMALL)
            for data, mid in ((bad, "bad"), (raw, "good")):
                headers = {"Content-Type": "application/msgpack", "Nats-Msg-Id": mid}
                await js.publish(subject_for(good), data, headers=headers)
            node = make_node(js, tmp_path / "a")
            await node.setup()
            while await node.step(timeout=0.5):
                pass
            assert node.pipeline.ingress.rejected == {"schema": 1}
            assert node.stats.accepted == 1
            node.pipeline.close()
            await nc.close()

    arun(go())


def test_three_node_cluster_r3_survives_a_node(tmp_path: Path) -> None:
    async def go() -> None:
        with nats_cluster(tmp_path) as nodes:
            urls = [n.url for n in nodes]
            nc = await nats.connect(
                urls, connect_timeout=5, max_reconnect_attempts=20, reconnect_time_wait=0.2
            )
            js = nc.jetstream(timeout=5)
            for _ in range(100):  # the cluster needs a moment to elect a meta leader
                try:
                    await ensure_streams(js, replicas=3, **SMALL)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            info = await js.stream_info(in_stream("JP"))
            assert info.config.num_replicas == 3
            await publish_all(js, [sample_plot(seq=i, sent=T0 + i) for i in range(1, 21)], key=JP)
            node = make_node(js, tmp_path / "fusion")
            await node.setup()
            await node.step(timeout=1)
            # kill a server that is not the one we are connected to
            victim = next(n for n in nodes if n.url != nc.connected_url.geturl())  # type: ignore[union-attr]
            victim.kill()
            for _ in range(100):
                try:
                    await publish_all(js, [sample_plot(seq=i, sent=T0 + i) for i in range(21, 41)], key=JP)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while node.stats.accepted < 40 and loop.time() < deadline:
                await node.step(timeout=1)
            assert node.stats.accepted == 40
            assert node.pipeline.ingress.rejected.total() == 0
            node.pipeline.close()
            await nc.close()

    arun(go(), timeout=25)


class _HoldUntilTick:
    """A stage that, like the tracker waiting for a scan to complete, holds what
    it gets until time moves on."""

    def __init__(self) -> None:
        self.held: list[Any] = []

    def push(self, env: Any) -> list[Any]:
        self.held.append(env)
        return []

    def advance(self, t: float) -> list[Any]:
        out, self.held = self.held, []
        return out


def _grace_run(tmp: Path, grace: float, wait_s: float) -> tuple[float | None, list[str], int]:
    """A node with 60-s periodic ticks and the given scan grace; one plot
    published: seconds until its output came back on the output stream (None:
    not within ``wait_s``), the journal's kinds, and the node's ticks."""
    import time

    async def go() -> tuple[float | None, list[str], int]:
        with nats_server(tmp) as srv:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream()
            await ensure_streams(js, replicas=1, **SMALL)
            j = Journal(tmp / "journal.db", synchronous="NORMAL")
            pipe = Pipeline([_HoldUntilTick()], j, ingress=Ingress(REG, max_skew_s=None, recorder=j))
            node = FusionNode(js, pipe, partner="JP", key=JP, tick_s=60.0, scan_grace_s=grace)
            await node.setup()
            got = asyncio.Event()

            async def on_out(m: Any) -> None:
                got.set()

            sub = await nc.subscribe("tocsin.v1.out.>", cb=on_out)
            stop = asyncio.Event()
            task = asyncio.create_task(node.run(stop=stop))
            await asyncio.sleep(0.3)  # the node is waiting in its (long) pull
            t0 = time.monotonic()
            await publish_all(js, [sample_plot(source="JP-R1", seq=1, sent=T0)], key=JP)
            try:
                await asyncio.wait_for(got.wait(), wait_s)
                dt: float | None = time.monotonic() - t0
            except TimeoutError:
                dt = None
            stop.set()
            await task
            await sub.unsubscribe()
            await nc.close()
            kinds = [e.kind for e in j.entries(kinds=("input", "tick", "output"))]
            pipe.close()
            return dt, kinds, node.stats.ticks

    return arun(go())


def test_node_scan_grace_processes_a_buffered_scan_without_waiting(tmp_path: Path) -> None:
    # on by default; the pull stays long (a short pull starved the consumer)
    node = FusionNode(None, Pipeline([]), partner="JP")
    assert node.scan_grace_s == 0.02
    assert node.pull_s >= 0.5
    dt, kinds, ticks = _grace_run(tmp_path / "a", grace=0.02, wait_s=8.0)
    assert dt is not None  # long before the 60-s periodic tick
    assert ticks == 1
    # journalled in order, so a replay releases the output at the same point
    assert kinds == ["input", "tick", "output"]


def test_node_without_scan_grace_waits_for_the_next_tick(tmp_path: Path) -> None:
    dt, kinds, ticks = _grace_run(tmp_path / "b", grace=0.0, wait_s=1.0)
    assert dt is None
    assert ticks == 0
    assert kinds == ["input"]


def test_deploy_streams_over_the_old_single_input_stream_says_what_to_do(tmp_path: Path) -> None:
    """Upgrading: the old TOCSIN_IN holds every input subject, so the server
    refuses the per-partner streams; `tocsin deploy streams` says why in one line."""
    import subprocess
    import sys

    async def old_layout(url: str) -> None:
        nc = await nats.connect(url, connect_timeout=5)
        await nc.jetstream().add_stream(name="TOCSIN_IN", subjects=["tocsin.v1.plot.>"])
        await nc.close()

    with nats_server(tmp_path) as srv:
        arun(old_layout(srv.url))
        p = subprocess.run(
            [sys.executable, "-m", "tocsin", "deploy", "streams", "--partners", "JP,KR", "--nats", srv.url,
             "--stream-max-mb", "16"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert p.returncode == 2, p.stderr
    (line,) = p.stderr.strip().splitlines()
    assert "nats stream rm TOCSIN_IN" in line


def test_node_with_a_stage_process_publishes_outputs_as_they_come(tmp_path: Path) -> None:
    """`tocsin node --stage-process on` (issue 17): a batch is acknowledged once
    journalled and the outputs the stage process returns later are journalled
    and published at once, not when the next batch or tick comes; the last ones
    are published at stop."""
    import time

    from tocsin.stageproc import StageRecipe

    async def go() -> None:
        with nats_server(tmp_path) as srv:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream()
            await ensure_streams(js, replicas=1, **SMALL)
            j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
            pipe = Pipeline(toy_stages(), j, ingress=Ingress(REG, max_skew_s=None, recorder=j))
            await asyncio.to_thread(pipe.start_stage_process, StageRecipe("toy"))
            node = FusionNode(js, pipe, partner="JP", key=JP, clock=lambda: T0)
            await node.setup()
            kinds: list[str] = []
            three = asyncio.Event()

            async def on_out(m: Any) -> None:
                kinds.append(json.loads(m.data)["kind"])
                if kinds.count("track") >= 3:
                    three.set()

            sub = await nc.subscribe("tocsin.v1.out.>", cb=on_out)
            stop = asyncio.Event()
            task = asyncio.create_task(node.run(stop=stop))
            await asyncio.sleep(0.3)
            await publish_all(
                js, [sample_plot(source="JP-R1", seq=i, sent=T0 + i) for i in (1, 2, 3)], key=JP
            )
            t0 = time.monotonic()
            await asyncio.wait_for(three.wait(), 15)  # (no further batch, no tick: the wake did it)
            assert time.monotonic() - t0 < 15
            stop.set()
            await task
            await asyncio.sleep(0.2)
            await sub.unsubscribe()
            await nc.close()
            assert kinds.count("alert") == 1  # (the toy warner alerts on the 3rd plot)
            assert node.stats.published == 4
            assert len(recorded_outputs(j)) == 4
            assert j.verify().ok
            pipe.close()

    arun(go(), timeout=60)
