"""Issue 14 item 7: on the shipped single-cluster configuration
(``deploy/nats/accounts.conf``) the NATS server itself stops one partner from
acting as another. A real nats-server runs that file; partner ``jp`` tries
every attack on partner KR's subjects, consumer and inbox and on the shared
streams. Each attempt must be refused by the server (a permissions violation
naming the subject) and leave KR's state as it was. A last test shows the same
permissions still let a partner's node do its own work, so the refusals are
not a server that refuses everything."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transport"))
from nats_helpers import NatsProc, nats_server

from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import generate_key, sign
from tocsin.transport.nats import (
    OUT_STREAM,
    ensure_consumers,
    ensure_streams,
    in_stream,
    msg_id,
    publish,
    subject_for,
)
from tocsin.transport.natsconf import shared_accounts_conf
from tocsin.wire import encode_json

pytestmark = pytest.mark.nats
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
SMALL = {"in_max_bytes": 32 * 2**20, "out_max_bytes": 8 * 2**20}
KR_IN = in_stream("KR")
PW = {"ADMIN": "admin-pw-1", "JP": "jp-pw-1", "KR": "kr-pw-1", "US": "us-pw-1"}
JP, KR = generate_key(), generate_key()
T0 = 1_789_430_400.0
#: how long a refused request waits for the answer that never comes
T = 0.5


def test_shipped_accounts_conf_is_the_generated_one() -> None:
    """deploy/nats/accounts.conf is what natsconf renders (no hand edit drifts)."""
    want = shared_accounts_conf()
    got = (DEPLOY / "accounts.conf").read_text()
    assert got == want, (
        "deploy/nats/accounts.conf is stale: regenerate with  .venv/bin/python -c "
        "\"from tocsin.transport.natsconf import shared_accounts_conf as f; print(f(), end='')\" "
        "> deploy/nats/accounts.conf"
    )


@dataclass
class Client:
    nc: Any
    errors: list[str]

    @property
    def js(self) -> Any:
        return self.nc.jetstream(timeout=T)

    async def refused(self, subject: str, timeout: float = 3.0) -> None:
        """Wait for the server's permissions violation naming ``subject``."""
        await self.nc.flush(timeout=2)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if any(
                "permissions violation" in e.lower() and subject.lower() in e.lower() for e in self.errors
            ):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no permissions violation for {subject}: {self.errors}")


async def connect(srv: NatsProc, who: str, inbox: str | None = None) -> Client:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    opts: dict[str, Any] = {"inbox_prefix": inbox} if inbox else {}
    nc = await nats.connect(
        srv.url,
        user=who.lower(),
        password=PW[who],
        error_cb=on_error,
        connect_timeout=5,
        max_reconnect_attempts=0,
        **opts,
    )
    return Client(nc, errors)


@dataclass
class Exchange:
    srv: NatsProc
    #: the ack subject of the message KR's node has fetched and not yet acknowledged
    kr_unacked: str


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    tmp = tmp_path_factory.mktemp("nats-iso")
    (tmp / "accounts.conf").write_text((DEPLOY / "accounts.conf").read_text())
    env = {f"TOCSIN_NATS_{k}_PASSWORD": v for k, v in PW.items()}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        with nats_server(tmp, 'include "accounts.conf"') as srv:

            async def setup() -> str:
                admin = await connect(srv, "ADMIN")
                await ensure_streams(admin.js, **SMALL)
                await ensure_consumers(admin.js, ["JP", "KR", "US"])
                kr = await connect(srv, "KR", "_INBOX_KR")
                for i in range(1, 4):
                    await publish(kr.js, sign(sample_plot(partner="KR", source="KR-R1", seq=i, sent=T0), KR))
                sub = await kr.js.pull_subscribe_bind("fusion-KR", KR_IN)
                msgs = await sub.fetch(1, timeout=3)
                await kr.nc.close()
                await admin.nc.close()
                return str(msgs[0].reply)

            yield Exchange(srv, asyncio.run(setup()))
    finally:
        mp.undo()


async def kr_state(srv: NatsProc) -> tuple[int, int, int, int]:
    """(stream messages, KR consumer pending, ack pending, delivered), read by the admin."""
    admin = await connect(srv, "ADMIN")
    try:
        si = await admin.js.stream_info(KR_IN)
        ci = await admin.js.consumer_info(KR_IN, "fusion-KR")
        return si.state.messages, ci.num_pending, ci.num_ack_pending, ci.delivered.stream_seq
    finally:
        await admin.nc.close()


def attack(ex: Exchange, fn: Callable[[Client], Awaitable[None]], *, inbox: str = "_INBOX_JP") -> None:
    """Run one attack as jp; KR's consumer and the stream are unchanged after it."""

    async def go() -> None:
        before = await kr_state(ex.srv)
        jp = await connect(ex.srv, "JP", inbox)
        try:
            await asyncio.wait_for(fn(jp), 15)
        finally:
            await jp.nc.close()
        assert await kr_state(ex.srv) == before

    asyncio.run(go())


# ---------------------------------------------------------------- publishing as another


@pytest.mark.parametrize(
    "subject", ["tocsin.v1.plot.KR.KR-R1", "tocsin.v1.heartbeat.KR.KR-node-1", "tocsin.v1.out.alert.KR"]
)
def test_partner_cannot_publish_on_another_partners_subjects(exchange: Exchange, subject: str) -> None:
    async def fn(jp: Client) -> None:
        forged = sign(sample_plot(partner="KR", source="KR-R1", seq=99, sent=T0), JP)
        with pytest.raises(nats.errors.TimeoutError):  # refused: no PubAck ever comes
            await publish(jp.js, forged, subject=subject, timeout=T)
        await jp.refused(subject)

    attack(exchange, fn)


# ---------------------------------------------------------------- another partner's consumer


@pytest.mark.parametrize("stream", ["KR", "JP"])
def test_partner_cannot_pull_from_another_partners_consumer(exchange: Exchange, stream: str) -> None:
    """Not on KR's input stream, nor KR's consumer on JP's own input stream."""

    async def fn(jp: Client) -> None:
        sub = await jp.js.pull_subscribe_bind("fusion-KR", in_stream(stream))
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(10, timeout=T)
        await jp.refused(f"$JS.API.CONSUMER.MSG.NEXT.{in_stream(stream)}.fusion-KR")

    attack(exchange, fn)


def test_partner_cannot_ack_another_partners_messages(exchange: Exchange) -> None:
    assert exchange.kr_unacked.startswith(f"$JS.ACK.{KR_IN}.fusion-KR.")

    async def fn(jp: Client) -> None:
        await jp.nc.publish(exchange.kr_unacked, b"+ACK")
        await jp.nc.publish(exchange.kr_unacked, b"+TERM")
        await jp.refused(exchange.kr_unacked)

    attack(exchange, fn)  # KR's ack pending is still 1


def test_partner_cannot_read_another_partners_consumer_state(exchange: Exchange) -> None:
    async def fn(jp: Client) -> None:
        with pytest.raises(nats.errors.TimeoutError):
            await jp.js.consumer_info(KR_IN, "fusion-KR", timeout=T)
        await jp.refused(f"$JS.API.CONSUMER.INFO.{KR_IN}.fusion-KR")

    attack(exchange, fn)


def test_partner_cannot_delete_another_partners_consumer(exchange: Exchange) -> None:
    async def fn(jp: Client) -> None:
        with pytest.raises(nats.errors.TimeoutError):
            await jp.js.delete_consumer(KR_IN, "fusion-KR")
        await jp.refused(f"$JS.API.CONSUMER.DELETE.{KR_IN}.fusion-KR")

    attack(exchange, fn)  # kr_state reads fusion-KR: it still exists


@pytest.mark.parametrize("name", ["fusion-US", "fusion-JP", "jp-side-door"])
def test_partner_cannot_create_consumers(exchange: Exchange, name: str) -> None:
    """Not another's, not a new one, not even its own (a push consumer of its own
    could deliver the stream onto subjects other partners listen on)."""
    from nats.js.api import ConsumerConfig

    async def fn(jp: Client) -> None:
        push = ConsumerConfig(durable_name=name, deliver_subject="tocsin.v1.out.alert.KR")
        with pytest.raises(nats.errors.TimeoutError):  # the older form nats-py uses for push
            await jp.js.add_consumer(KR_IN, config=push, timeout=T)
        await jp.refused(f"$JS.API.CONSUMER.DURABLE.CREATE.{KR_IN}.{name}")
        with pytest.raises(nats.errors.TimeoutError):  # the current form
            await jp.js.add_consumer(KR_IN, config=ConsumerConfig(name=name), timeout=T)
        await jp.refused(f"$JS.API.CONSUMER.CREATE.{KR_IN}.{name}")

    attack(exchange, fn)


def test_partner_cannot_listen_to_another_partners_inbox(exchange: Exchange) -> None:
    """KR's pulled messages come back on _INBOX_KR.*: jp may not subscribe there
    (nor to the default _INBOX.>), so it sees nothing of KR's pulls."""

    async def go() -> None:
        jp = await connect(exchange.srv, "JP", "_INBOX_JP")
        seen: list[str] = []

        async def cb(m: Any) -> None:
            seen.append(m.subject)

        await jp.nc.subscribe("_INBOX_KR.>", cb=cb)
        await jp.nc.subscribe("_INBOX.>", cb=cb)
        await jp.refused("_INBOX_KR.>")
        await jp.refused("_INBOX.>")
        kr = await connect(exchange.srv, "KR", "_INBOX_KR")
        await kr.js.stream_info(KR_IN)  # a reply travels on KR's inbox
        await asyncio.sleep(0.2)
        await kr.nc.close()
        await jp.nc.close()
        assert seen == []

    asyncio.run(go())


# ---------------------------------------------------------------- the shared streams


@pytest.mark.parametrize("op", ["delete", "purge", "update", "create", "msg_delete"])
def test_partner_cannot_change_the_streams(exchange: Exchange, op: str) -> None:
    from tocsin.transport.nats import stream_configs

    async def fn(jp: Client) -> None:
        js = jp.js
        cfg = stream_configs(1, partners=["KR"], **SMALL)[0]
        calls: dict[str, tuple[Callable[[], Awaitable[Any]], str]] = {
            "delete": (lambda: js.delete_stream(KR_IN), f"$JS.API.STREAM.DELETE.{KR_IN}"),
            "purge": (lambda: js.purge_stream(KR_IN), f"$JS.API.STREAM.PURGE.{KR_IN}"),
            "update": (lambda: js.update_stream(config=cfg), f"$JS.API.STREAM.UPDATE.{KR_IN}"),
            "create": (
                lambda: js.add_stream(name="JP_OWN", subjects=["jp.>"]),
                "$JS.API.STREAM.CREATE.JP_OWN",
            ),
            "msg_delete": (
                lambda: jp.nc.request(f"$JS.API.STREAM.MSG.DELETE.{KR_IN}", b'{"seq":1}', timeout=T),
                f"$JS.API.STREAM.MSG.DELETE.{KR_IN}",
            ),
        }
        call, subject = calls[op]
        with pytest.raises(nats.errors.TimeoutError):
            await call()
        await jp.refused(subject)

    attack(exchange, fn)


# ---------------------------------------------------------------- and its own work still works


def test_partner_node_does_its_own_work_under_these_permissions(exchange: Exchange) -> None:
    async def go() -> None:
        jp = await connect(exchange.srv, "JP", "_INBOX_JP")
        js = jp.js
        await ensure_streams(js, **SMALL)  # looks them up only
        ack = await publish(js, sign(sample_plot(source="JP-R1", seq=1, sent=T0), JP), timeout=2)
        assert ack.stream == in_stream("JP")
        for stream, n in (("KR", 3), ("JP", 1)):  # KR's three, JP's own (in JP's stream)
            sub = await js.pull_subscribe_bind("fusion-JP", in_stream(stream))
            msgs = await sub.fetch(10, timeout=2)
            assert len(msgs) >= n
            for m in msgs:
                await m.ack()
        out = await js.publish("tocsin.v1.out.track.JP", b"{}", headers={"Nats-Msg-Id": "jp-out-1"})
        assert out.stream == OUT_STREAM
        await jp.nc.flush()
        assert jp.errors == []
        await jp.nc.close()

    asyncio.run(go())


def test_partner_cannot_suppress_another_partners_messages_by_their_id(exchange: Exchange) -> None:
    """The streams drop a second message with the same Nats-Msg-Id (2 min): JP
    publishing on its own subject under the id KR's next message will carry must
    not make the server drop KR's message as a duplicate. The id carries a digest
    of the signed bytes, which JP cannot know before KR sends them."""

    async def go() -> None:
        kr_next = sign(sample_plot(partner="KR", source="KR-R1", seq=7, sent=T0 + 7), KR)
        jp = await connect(exchange.srv, "JP", "_INBOX_JP")
        # what JP can know in advance: the source and sequence, even the content,
        # but not KR's signature over it
        predictable = sample_plot(partner="KR", source="KR-R1", seq=7, sent=T0 + 7)
        guesses = [f"KR.KR-R1.{kr_next.seq}", msg_id(predictable), msg_id(sign(predictable, JP))]
        for i, guess in enumerate(guesses):
            own = sign(sample_plot(source="JP-R1", seq=100 + i, sent=T0), JP)
            ack = await jp.js.publish(subject_for(own), encode_json(own), headers={"Nats-Msg-Id": guess})
            assert not ack.duplicate
        await jp.nc.close()
        kr = await connect(exchange.srv, "KR", "_INBOX_KR")
        ack = await publish(kr.nc.jetstream(timeout=2), kr_next)
        assert not ack.duplicate  # stored
        again = await publish(kr.nc.jetstream(timeout=2), kr_next)
        assert again.duplicate  # KR's own retry is still stored once
        await kr.nc.close()

    asyncio.run(go())
