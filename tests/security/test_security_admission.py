"""Issue 17 item 3 / issue 14 item 4: per-class queues with fair scheduling and
quotas (tocsin.exchange.admission): a flooding class cannot delay another by
more than one quantum per turn, nor fill memory; over a quota is a wait."""

from __future__ import annotations

import asyncio

import pytest

from tocsin.exchange.admission import (
    PRECHECK_CHUNK,
    PRIORITY,
    UNAUTHENTICATED,
    Admission,
    AdmissionConfig,
    FairQueue,
    Prechecker,
    TokenBucket,
    claimed_lane,
    request_class,
    retry_after,
)
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign
from tocsin.wire import encode_json

T0 = 1_789_430_400.0
JP, KR = generate_key(), generate_key()
REG = PartnerRegistry(
    {
        "JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot",)),
        "KR": PartnerPolicy("KR", KR.public_key(), ("KR-*",), ("plot",)),
    }
)


def drain(q: FairQueue[str]) -> list[str]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_a_backlog_of_junk_does_not_delay_another_class() -> None:
    q: FairQueue[str] = FairQueue(AdmissionConfig(quantum=1000, max_requests_per_class=1000))
    for i in range(50):
        q.put_nowait(f"junk{i}", key=UNAUTHENTICATED, cost=500)
    q.put_nowait("kr1", key="partner:KR", cost=5)
    q.put_nowait("kr2", key="partner:KR", cost=5)
    order = drain(q)
    # KR's requests come after at most one quantum (2 x 500 messages) of junk
    assert order.index("kr1") == 2
    assert order.index("kr2") == 3
    assert order[:2] == ["junk0", "junk1"]


def test_round_robin_shares_by_messages_not_requests() -> None:
    q: FairQueue[str] = FairQueue(AdmissionConfig(quantum=100, max_requests_per_class=1000))
    for i in range(20):
        q.put_nowait(f"a{i}", key="partner:JP", cost=100)  # big requests
        q.put_nowait(f"b{i}", key="partner:KR", cost=10)  # small ones
    first = drain(q)[:22]
    # per turn: one 100-message request of JP, ten 10-message requests of KR
    assert first[0] == "a0"
    assert first[1:11] == [f"b{i}" for i in range(10)]
    assert first[11] == "a1"


def test_internal_work_goes_first_and_a_request_bigger_than_the_quantum_still_goes() -> None:
    q: FairQueue[str] = FairQueue(AdmissionConfig(quantum=10))
    q.put_nowait("big", key="partner:JP", cost=35)
    q.put_nowait("op", key=PRIORITY)
    assert drain(q) == ["op", "big"]


def test_one_round_per_commit() -> None:
    q: FairQueue[str] = FairQueue(AdmissionConfig(quantum=10))
    for k in ("a", "b", "c"):
        for i in range(3):
            q.put_nowait(f"{k}{i}", key=k, cost=10)
    group = [q.get_nowait()]
    while q.more_in_round():
        group.append(q.get_nowait())
    assert group == ["a0", "b0", "c0"]
    group = [q.get_nowait()]
    while q.more_in_round():
        group.append(q.get_nowait())
    assert group == ["a1", "b1", "c1"]


def test_queue_bounds_requests_and_bytes_per_class_and_in_total() -> None:
    cfg = AdmissionConfig(max_requests_per_class=3, max_bytes_per_class=1000, max_bytes_total=1500)
    q: FairQueue[str] = FairQueue(cfg)
    for i in range(3):
        q.put_nowait(f"j{i}", key=UNAUTHENTICATED, nbytes=10)
    with pytest.raises(asyncio.QueueFull):
        q.put_nowait("j3", key=UNAUTHENTICATED, nbytes=10)
    q.put_nowait("k0", key="partner:KR", nbytes=900)  # another class still gets in
    with pytest.raises(asyncio.QueueFull):
        q.put_nowait("k1", key="partner:KR", nbytes=200)  # over its bytes
    with pytest.raises(asyncio.QueueFull):
        q.put_nowait("u0", key="partner:US", nbytes=800)  # over the total
    assert q.full == {UNAUTHENTICATED: 1, "partner:KR": 1, "partner:US": 1}
    assert drain(q) == ["j0", "j1", "j2", "k0"]  # (one message each: within one quantum)
    q.put_nowait("k1", key="partner:KR", nbytes=1000)  # freed


def test_get_waits_and_wakes() -> None:
    async def go() -> list[str]:
        q: FairQueue[str] = FairQueue()
        got: list[str] = []

        async def worker() -> None:
            for _ in range(2):
                got.append(await q.get())

        t = asyncio.create_task(worker())
        await asyncio.sleep(0.01)
        q.put_nowait("x", key="a")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 0.01)  # a cancelled getter does not lose items
        q.put_nowait("y", key="b")
        await asyncio.wait_for(t, 2)
        return got

    assert asyncio.run(go()) == ["x", "y"]


def test_token_bucket_and_retry_after() -> None:
    now = [0.0]
    adm = Admission(AdmissionConfig(unauth_rate=100.0, unauth_burst=200.0), clock=lambda: now[0])
    assert adm.admit(UNAUTHENTICATED, 150) == 0.0
    wait = adm.admit(UNAUTHENTICATED, 100)
    assert wait == pytest.approx(0.5)  # 50 tokens left, 50 more at 100/s
    assert retry_after(wait) == "1"
    assert adm.refused_messages == {UNAUTHENTICATED: 100}
    now[0] = 0.5
    assert adm.admit(UNAUTHENTICATED, 100) == 0.0
    assert adm.admit("partner:KR", 10_000) == 0.0  # another class: its own bucket
    assert adm.admit("local", 10**9) == 0.0  # local inputs are not limited
    b = TokenBucket(10.0, 5.0, 0.0)
    assert b.wait_for(50, 0.0) == 0.0  # bigger than the burst: waits for a full bucket only


def test_client_bucket_bounds_a_source_across_classes() -> None:
    now = [0.0]
    adm = Admission(
        AdmissionConfig(client_rate=10.0, client_burst=100.0, max_clients=2), clock=lambda: now[0]
    )
    assert adm.admit("partner:JP", 100, client="10.0.0.1") == 0.0
    assert adm.admit("partner:KR", 50, client="10.0.0.1") > 0
    assert adm.admit("partner:KR", 50, client="10.0.0.2") == 0.0
    adm.admit("partner:KR", 1, client="10.0.0.3")
    assert len(adm.clients) == 2  # bounded memory


def test_request_class() -> None:
    ing = Ingress(REG, max_skew_s=None)

    def pcs(*envs: object) -> list[object]:
        return [ing.precheck(encode_json(e)) for e in envs]  # type: ignore[arg-type]

    kr = [sign(sample_plot(partner="KR", source="KR-R1", seq=i, sent=T0), KR) for i in (1, 2)]
    assert request_class(pcs(*kr), ing.windows, False) == "partner:KR"
    # forged, unsigned, mixed partners, undecodable: not KR's
    forged = sign(sample_plot(partner="KR", source="KR-R1", seq=3, sent=T0), JP)
    assert request_class(pcs(kr[0], forged), ing.windows, False) == UNAUTHENTICATED
    assert (
        request_class(pcs(sample_plot(partner="KR", source="KR-R1")), ing.windows, False) == UNAUTHENTICATED
    )
    jp = sign(sample_plot(seq=1, sent=T0), JP)
    assert request_class(pcs(kr[0], jp), ing.windows, False) == "mixed"  # a relay: signed, fresh
    assert request_class(pcs(kr[0], jp, forged), ing.windows, False) == UNAUTHENTICATED
    assert request_class([ing.precheck(b"{junk")], ing.windows, False) == UNAUTHENTICATED
    # a replay of KR's accepted message is not KR's (it cannot spend KR's share)
    assert ing.check(kr[0]).ok
    assert request_class(pcs(kr[0]), ing.windows, False) == UNAUTHENTICATED
    assert request_class(pcs(kr[1]), ing.windows, False) == "partner:KR"
    # open mode: by the partner claimed
    op = Ingress(None, max_skew_s=None)
    assert request_class([op.precheck(encode_json(sample_plot()))], op.windows, True) == "open:JP"


def test_a_lane_of_mostly_junk_becomes_suspect_and_fades() -> None:
    now = [0.0]
    cfg = AdmissionConfig(unauth_rate=100.0, unauth_burst=500.0, suspect_after=200, lane_half_life_s=10.0)
    adm = Admission(cfg, clock=lambda: now[0])
    junk, honest = "10.0.0.9|?", "10.0.0.9|KR"
    assert adm.lane_wait(junk, 500) == 0.0  # nothing known yet: checked
    adm.lane_result(junk, good=100, bad=400)
    assert adm.suspect(junk)
    assert adm.lane_wait(junk, 500) == pytest.approx(5.0)  # the unauthenticated rate: 500 at 100/s
    now[0] = 1.0
    assert adm.lane_wait(junk, 100) == 0.0  # what the rate lets through
    assert adm.refused_messages == {"suspect": 500}
    adm.lane_result(honest, good=10_000, bad=50)
    assert not adm.suspect(honest)
    assert adm.lane_wait(honest, 10_000) == 0.0
    now[0] = 31.0  # three half-lives more without junk: ~50 bad left of 400
    assert not adm.suspect(junk)
    assert adm.lane_wait(junk, 10_000) == 0.0


def test_claimed_lane() -> None:
    kr = encode_json(sign(sample_plot(partner="KR", source="KR-R1", seq=1, sent=T0), KR))
    jp = encode_json(sample_plot(seq=1))
    assert claimed_lane([kr, kr], "10.0.0.1") == "10.0.0.1|KR"
    assert claimed_lane([kr, jp], "10.0.0.1") == "10.0.0.1|?"
    assert claimed_lane([b"\x00junk"], None) == "?|?"


def test_precheck_work_is_fair_across_lanes() -> None:
    """One thread, a lane with 10 chunks of work queued, then another lane's
    request: it is checked after at most one chunk of the first lane's."""
    import threading
    import time

    order: list[str] = []
    lock = threading.Lock()

    def check(lines: list[bytes], fmt: str) -> list[bytes]:
        time.sleep(0.01)
        with lock:
            order.append(lines[0][:1].decode())
        return lines

    async def go() -> None:
        pc = Prechecker(check, AdmissionConfig(quantum=PRECHECK_CHUNK), threads=1)
        pc.start()
        try:
            flood = asyncio.create_task(pc.precheck([b"j"] * (10 * PRECHECK_CHUNK), "json", "a|?", 0))
            await asyncio.sleep(0.005)
            honest = await asyncio.wait_for(pc.precheck([b"k"] * 5, "json", "b|KR", 0), 10)
            assert honest == [b"k"] * 5
            await flood
        finally:
            await pc.stop()

    asyncio.run(go())
    assert order.index("k") <= 2, order
    assert order.count("j") == 10
