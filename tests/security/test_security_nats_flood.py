"""Issue 17 item 3 / issue 14 item 4 on NATS: a partner flooding the exchange
fills its own input stream's quota and gets flow control (its publishes are
refused); it can neither push another partner's stored, PubAck'ed messages out
of JetStream nor hold them behind its backlog in a fusion node.

A real nats-server; partner KR publishes junk until the server refuses it, JP
publishes signed plots before and after. Every JP message was acknowledged,
every one is still stored, and a fusion node reads them all within a few
rounds while most of KR's backlog is still waiting."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import nats
import nats.js.errors
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transport"))
from nats_helpers import nats_server

from tocsin.exchange.admission import Admission, AdmissionConfig
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign
from tocsin.journal import Journal
from tocsin.runtime import Pipeline
from tocsin.transport.nats import FusionNode, ensure_streams, in_stream, publish

pytestmark = pytest.mark.nats
T0 = 1_789_430_400.0
JP, KR = generate_key(), generate_key()
REG = PartnerRegistry(
    {
        "JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot", "heartbeat")),
        "KR": PartnerPolicy("KR", KR.public_key(), ("KR-*",), ("plot", "heartbeat")),
    }
)
#: each partner's input quota in this test, and the junk message size
QUOTA = 128 * 2**10
JUNK = b"\x00junk" * 100
BATCH = 16


def test_a_flooding_partner_fills_its_own_quota_and_holds_no_one_back(tmp_path: Path) -> None:
    async def go() -> None:
        with nats_server(tmp_path) as srv:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream(timeout=5)
            await ensure_streams(js, partners=["JP", "KR"], in_max_bytes=QUOTA, out_max_bytes=4 * 2**20)
            jp = [sign(sample_plot(source="JP-R1", seq=i, sent=T0 + i), JP) for i in range(1, 41)]
            for m in jp[:20]:
                await publish(js, m)
            # KR floods: the server stores up to KR's quota, then refuses (flow control)
            stored, refused = 0, None
            for i in range(10_000):  # bounded: the quota holds a few hundred
                try:
                    await js.publish(f"tocsin.v1.plot.KR.KR-R{i % 7}", JUNK, headers={"Nats-Msg-Id": f"j{i}"})
                except nats.js.errors.APIError as exc:
                    refused = exc
                    break
                stored += 1
            assert refused is not None, "the flood was never refused"
            assert "exceeded" in str(refused).lower(), refused
            assert stored > 8 * BATCH  # a backlog of many batches
            # JP is not affected: every message acknowledged (no exception), none deleted
            for m in jp[20:]:
                ack = await publish(js, m)
                assert ack.stream == in_stream("JP")
            jp_state = (await js.stream_info(in_stream("JP"))).state
            assert (jp_state.messages, jp_state.first_seq) == (40, 1)
            kr_state = (await js.stream_info(in_stream("KR"))).state
            assert (kr_state.messages, kr_state.first_seq) == (stored, 1)

            j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
            pipe = Pipeline(toy_stages(), j, ingress=Ingress(REG, max_skew_s=None, recorder=j))
            # (suspect after 32 junk messages here, 200 by default)
            adm = Admission(AdmissionConfig(suspect_after=32))
            node = FusionNode(
                js,
                pipe,
                partner="JP",
                key=JP,
                clock=lambda: T0,
                batch=BATCH,
                keep_verdicts=True,
                admission=adm,
            )
            await node.setup()
            rounds = 0
            while node.stats.accepted < 40:
                assert rounds < 8, (node.stats.accepted, node.stats.rejected)
                await node.step(timeout=1.0)
                rounds += 1
            # JP's 40 messages were read fairly: KR's junk got at most a batch a round
            assert node.stats.rejected <= rounds * BATCH < stored
            assert {v.env.seq for v in node.stats.verdicts if v.ok and v.env is not None} == set(range(1, 41))
            # KR's stream is mostly junk: suspect, read at the unauthenticated rate
            # (1,000 msgs/s) from now on; its junk waits in its own stream
            assert node.admission.suspect("nats:KR")
            assert not node.admission.suspect("nats:JP")
            node.batch = 1024
            while await node.step(timeout=2.0):  # the rest of KR's, all refused by ingress
                pass
            assert (node.stats.accepted, node.stats.rejected) == (40, stored)
            pipe.close()
            await nc.close()

    asyncio.run(asyncio.wait_for(go(), 60))
