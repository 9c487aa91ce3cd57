"""Issue 18 item 2 / issue 14 item 7 on the sovereign deployment that
`tocsin deploy nats` writes (one server, account and JetStream domain per
nation, leafnode links): real nats-server processes on loopback; partner KR
(its node, its administrator, its leafnode key, finally its whole server)
attacks JP's consumer and stream and tries to speak for JP and US. Each attempt
is refused or goes nowhere, and JP's consumer and stream stay as they were; a
genuine KR message still reaches JP and US (the refusals are not a dead link)."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transport"))
from nats_helpers import Sovereign, sovereign, wait_leafs, wait_links

from tocsin.transport.nats import NatsAuth, ensure_consumers, ensure_streams, in_stream
from tocsin.transport.sovereign import Deployment

pytestmark = pytest.mark.nats
CODES = ("JP", "KR", "US")
SMALL = {"in_max_bytes": 16 * 2**20, "out_max_bytes": 4 * 2**20}
T = 0.5  # how long a refused request waits for the answer that never comes
#: what a request gets when nothing on its side may or can answer it (never an API answer)
NO_ANSWER = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError)


@dataclass
class Conn:
    nc: Any
    errors: list[str]

    def js(self, domain: str | None = None) -> Any:
        return self.nc.jetstream(timeout=T, domain=domain)

    async def refused(self, subject: str, timeout: float = 3.0) -> None:
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


async def connect(sov: Sovereign, code: str, who: str = "node") -> Conn:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    auth = sov.auth(code, who)
    assert isinstance(auth, NatsAuth)
    nc = await nats.connect(
        **auth.connect_kwargs(), error_cb=on_error, connect_timeout=5, max_reconnect_attempts=0
    )
    return Conn(nc, errors)


async def setup_all(sov: Sovereign) -> None:
    for c in CODES:
        adm = await connect(sov, c, "admin")
        await ensure_streams(adm.nc.jetstream(timeout=5), **SMALL)
        await ensure_consumers(adm.nc.jetstream(timeout=5), [c])
        await adm.nc.close()
    await wait_links(sov)


async def jp_state(sov: Sovereign) -> tuple[int, int, int, int]:
    """(JP stream messages, fusion-JP pending, ack pending, delivered), read by JP's admin."""
    adm = await connect(sov, "JP", "admin")
    try:
        js = adm.nc.jetstream(timeout=5)
        state = [0, 0, 0, 0]
        for p in CODES:  # JP's server keeps each partner's inputs in that partner's stream
            si = await js.stream_info(in_stream(p))
            ci = await js.consumer_info(in_stream(p), "fusion-JP")
            got = (si.state.messages, ci.num_pending, ci.num_ack_pending, ci.delivered.stream_seq)
            state = [a + b for a, b in zip(state, got, strict=True)]
        return state[0], state[1], state[2], state[3]
    finally:
        await adm.nc.close()


async def subjects_in(sov: Sovereign, code: str) -> list[str]:
    """The subjects stored in ``code``'s input stream (read by its admin)."""
    adm = await connect(sov, code, "admin")
    try:
        js = adm.nc.jetstream(timeout=5)
        out = []
        for p in CODES:
            n = (await js.stream_info(in_stream(p))).state.messages
            for seq in range(1, n + 1):
                out.append((await js.get_msg(in_stream(p), seq)).subject)
        return out
    finally:
        await adm.nc.close()


async def until(pred: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await pred():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sovereign]:
    with sovereign(tmp_path_factory.mktemp("sov-sec"), CODES) as sov:
        asyncio.run(setup_all(sov))
        yield sov


def test_a_partner_node_publishes_only_its_own_subjects(deployment: Sovereign) -> None:
    async def go() -> None:
        before = await jp_state(deployment)
        kr = await connect(deployment, "KR")
        for subject in ("tocsin.v1.plot.JP.JP-R1", "tocsin.v1.out.alert.US"):
            with pytest.raises(nats.errors.TimeoutError):
                await kr.js().publish(subject, b"{}", timeout=T)
            await kr.refused(subject)
        await kr.nc.close()
        assert await jp_state(deployment) == before

    asyncio.run(go())


def test_not_even_an_administrator_can_speak_for_another_partner(deployment: Sovereign) -> None:
    """KR's administrator may put anything in KR's own account; none of it
    under another partner's subjects ever leaves KR's server. A genuine KR
    message reaches JP and US."""

    async def go() -> None:
        adm = await connect(deployment, "KR", "admin")
        for subject in ("tocsin.v1.plot.JP.forged", "tocsin.v1.plot.US.forged", "tocsin.v1.out.alert.JP"):
            await adm.nc.publish(subject, b"{}")
        ack = await adm.nc.jetstream(timeout=5).publish("tocsin.v1.plot.KR.KR-R1", b"{}")
        assert ack.domain == "KR"
        await adm.nc.close()

        async def arrived() -> bool:
            for c in ("JP", "US"):
                if "tocsin.v1.plot.KR.KR-R1" not in await subjects_in(deployment, c):
                    return False
            return True

        await until(arrived)
        await asyncio.sleep(0.3)
        for c in ("JP", "US"):
            subjects = await subjects_in(deployment, c)
            assert not [s for s in subjects if "forged" in s or s.startswith("tocsin.v1.out.")], (c, subjects)

    asyncio.run(go())


@pytest.mark.parametrize("who", ["node", "admin"])
def test_no_jetstream_api_crosses_a_nation(deployment: Sovereign, who: str) -> None:
    """KR, as its node or its administrator, reaching for JP's consumer and
    stream through JP's JetStream domain: look up, pull, create, delete. Nothing
    answers (the API never crosses the leafnode links) and JP is unchanged."""
    from nats.js.api import ConsumerConfig

    async def go() -> None:
        before = await jp_state(deployment)
        kr = await connect(deployment, "KR", who)
        js = kr.js(domain="JP")
        attempts = [
            lambda: js.consumer_info(in_stream("JP"), "fusion-JP"),
            lambda: js.stream_info(in_stream("JP")),
            lambda: js.delete_consumer(in_stream("JP"), "fusion-JP"),
            lambda: js.delete_stream(in_stream("JP")),
            lambda: js.purge_stream(in_stream("JP")),
            lambda: js.add_consumer(in_stream("JP"), ConsumerConfig(durable_name="kr-reads-jp")),
        ]
        for call in attempts:
            with pytest.raises(NO_ANSWER):
                await call()
        sub = await js.pull_subscribe_bind("fusion-JP", in_stream("JP"))
        with pytest.raises(NO_ANSWER):
            await sub.fetch(5, timeout=T)
        await kr.nc.publish(f"$JS.ACK.{in_stream('JP')}.fusion-JP.1.1.1.1789430400000000000.0", b"+ACK")
        await kr.nc.flush()
        await kr.nc.close()
        assert await jp_state(deployment) == before

    asyncio.run(go())


def test_a_leafnode_key_is_not_a_client_login(deployment: Sovereign) -> None:
    """The key with which KR's server dials JP's may only make a leafnode
    connection: as a client of JP's server (even with a certificate JP's CA
    signed) it is refused."""
    dep = deployment.dep
    assert isinstance(dep, Deployment)
    text = (deployment.root / "KR" / "secrets.conf").read_text()
    m = re.search(r'TOCSIN_LEAF_SEED_JP: "(S[A-Z2-7]+)"', text)
    assert m is not None
    seed_file = deployment.root / "kr-leaf-seed.nk"
    seed_file.write_text(m.group(1) + "\n")
    jp = deployment.auth("JP", "admin")
    assert isinstance(jp, NatsAuth)
    bad = NatsAuth(
        urls=jp.urls, nkey_seed=seed_file, tls_ca=jp.tls_ca, tls_cert=jp.tls_cert, tls_key=jp.tls_key
    )

    async def go() -> None:
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await nats.connect(**bad.connect_kwargs(), connect_timeout=3, max_reconnect_attempts=0,
                               allow_reconnect=False)  # fmt: skip

    asyncio.run(go())


def test_a_compromised_partner_server_cannot_feed_third_party_subjects(tmp_path: Path) -> None:
    """KR's operator rewrites KR's server to export everything to JP (all
    subjects, leaf user allowed everything) and publishes under JP's and US's
    subjects: JP imports from KR only KR's own subjects, so nothing else gets
    in. (The signature check at ingress would refuse the content anyway.)"""
    import tocsin.transport.sovereign as sovmod

    with sovereign(tmp_path, CODES) as sov:
        asyncio.run(setup_all(sov))
        dep = sov.dep
        assert isinstance(dep, Deployment)
        honest = sovmod.own_subjects
        with pytest.MonkeyPatch.context() as mp:  # KR's server shares everything it has
            mp.setattr(sovmod, "own_subjects", lambda c: ["tocsin.>"] if c == "KR" else honest(c))
            hostile = dep.server_config("KR")
        assert 'stream: "tocsin.>"' in hostile
        (sov.root / "KR" / "server.conf").write_text(hostile)
        sov.restart("KR")
        wait_leafs(sov)
        asyncio.run(wait_links(sov))

        async def go() -> None:
            adm = await connect(sov, "KR", "admin")
            for subject in (
                "tocsin.v1.plot.US.forged",
                "tocsin.v1.plot.JP.forged",
                "tocsin.v1.plot.KR.KR-R9",
            ):
                await adm.nc.publish(subject, b"{}")
            await adm.nc.flush()
            await adm.nc.close()

            async def arrived() -> bool:
                return "tocsin.v1.plot.KR.KR-R9" in await subjects_in(sov, "JP")

            await until(arrived)
            await asyncio.sleep(0.3)
            assert await subjects_in(sov, "JP") == ["tocsin.v1.plot.KR.KR-R9"]

        asyncio.run(go())
