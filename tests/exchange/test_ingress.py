"""Ingress checks: every rejection reason, counters, journal entries, no crash."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.exchange.ingress import REASONS, Ingress, SeqWindow
from tocsin.exchange.samples import sample_heartbeat, sample_plot
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key, sign
from tocsin.wire import encode_json

JP = generate_key()
KR = generate_key()
T0 = 1_789_430_400.0


class Rec:
    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes]] = []

    def append(self, kind: str, payload: bytes) -> object:
        self.entries.append((kind, payload))
        return len(self.entries)


def registry() -> PartnerRegistry:
    return PartnerRegistry(
        {
            "JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot", "sensor", "heartbeat")),
            "KR": PartnerPolicy("KR", KR.public_key(), ("KR-R?",), ("plot",)),
        }
    )


def make_ingress(**kw: object) -> tuple[Ingress, Rec]:
    rec = Rec()
    clock_t = [T0]
    ing = Ingress(registry(), recorder=rec, clock=lambda: clock_t[0], **kw)  # type: ignore[arg-type]
    return ing, rec


def test_good_signed_message_is_accepted() -> None:
    ing, rec = make_ingress()
    v = ing.check(sign(sample_plot(seq=1, sent=T0), JP))
    assert v.ok
    assert ing.accepted["plot"] == 1
    assert rec.entries == []


@pytest.mark.parametrize(
    ("env_fn", "reason", "field"),
    [
        (lambda: sign(sample_plot(partner="US", source="US-S1"), JP), "unknown_partner", "$.partner"),
        (lambda: sample_plot(), "missing_signature", "$.sig"),
        (lambda: sign(sample_plot(), KR), "bad_signature", "$.sig"),
        (
            lambda: msgspec.structs.replace(sign(sample_plot(seq=1), JP), seq=2),
            "bad_signature",
            "$.sig",
        ),
        (lambda: sign(sample_plot(partner="KR", source="KR-R1"), JP), "bad_signature", "$.sig"),
        (lambda: sign(sample_heartbeat(partner="KR", node="KR-R1"), KR), "kind_not_allowed", "$.kind"),
        (lambda: sign(sample_plot(source="KR-R1"), JP), "foreign_source", "$.source"),
        (lambda: sign(sample_plot(partner="KR", source="KR-R12"), KR), "foreign_source", "$.source"),
        (lambda: sign(sample_plot(sent=T0 + 31.0), JP), "clock_skew", "$.sent"),
        (lambda: sign(sample_plot(sent=T0 - 3600.0), JP), "clock_skew", "$.sent"),
    ],
)
def test_each_rejection_is_counted_and_journalled(env_fn, reason: str, field: str) -> None:  # type: ignore[no-untyped-def]
    ing, rec = make_ingress()
    env = env_fn()
    v = ing.check(env, raw=encode_json(env))
    assert not v.ok
    assert v.reason == reason
    assert v.field == field
    assert reason in REASONS
    assert ing.rejected == {reason: 1}
    assert len(rec.entries) == 1
    kind, payload = rec.entries[0]
    assert kind == "reject"
    d = json.loads(payload)
    assert d["reason"] == reason
    assert d["source"] == env.source
    assert d["raw"].startswith(('{"v":1', '{"v":2'))


def test_rejected_message_does_not_burn_its_seq() -> None:
    ing, _ = make_ingress()
    good = sign(sample_plot(seq=5), JP)
    forged = msgspec.structs.replace(good, sig=sign(sample_plot(seq=6), JP).sig)
    assert ing.check(forged).reason == "bad_signature"
    assert ing.check(good).ok


def test_replays_are_refused() -> None:
    ing, _ = make_ingress(window=8)
    msgs = [sign(sample_plot(seq=s), JP) for s in range(0, 30)]
    assert ing.check(msgs[10]).ok
    assert ing.check(msgs[10]).reason == "duplicate"
    assert ing.check(msgs[5]).ok  # late but inside the window
    assert ing.check(msgs[5]).reason == "duplicate"
    assert ing.check(msgs[2]).reason == "stale"  # 10 - 8 = floor
    assert ing.check(msgs[3]).ok
    assert ing.check(msgs[29]).ok
    assert ing.check(msgs[21]).reason == "stale"
    assert ing.rejected == {"duplicate": 2, "stale": 2}


def test_the_same_seq_from_another_source_is_fine() -> None:
    ing, _ = make_ingress()
    assert ing.check(sign(sample_plot(source="JP-R1", seq=1), JP)).ok
    assert ing.check(sign(sample_plot(source="JP-R2", seq=1), JP)).ok


def test_clock_passed_in_wins_and_no_clock_means_no_check() -> None:
    ing, _ = make_ingress()
    assert ing.check(sign(sample_plot(sent=T0 + 100), JP), now=T0 + 90).ok
    free = Ingress(registry())
    assert free.check(sign(sample_plot(sent=1.0), JP)).ok
    off = Ingress(registry(), max_skew_s=None, clock=lambda: T0)
    assert off.check(sign(sample_plot(sent=1.0), JP)).ok


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (b"{not json", "schema", None),
        (
            b'{"v":1,"kind":"plot","partner":"JP","source":"JP-R1","seq":"x","sent":1,"body":{}}',
            "schema",
            "$.seq",
        ),
        (
            b'{"v":1,"kind":"plot","partner":"JP","source":"JP-R1","seq":1,"sent":1,'
            b'"body":{"sensor":"JP-R1","t":1,"range_m":-5,"az_deg":1,"el_deg":1}}',
            "schema",
            "$.body.range_m",
        ),
        (
            b'{"v":1,"kind":"gossip","partner":"JP","source":"JP-R1","seq":1,"sent":1,"body":{}}',
            "unknown_kind",
            "$.kind",
        ),
        (b"[]", "schema", None),
        (b"\xff\xfe", "schema", None),
    ],
)
def test_decoder_errors_become_verdicts(data: bytes, reason: str, field: str | None) -> None:
    ing, rec = make_ingress()
    v = ing.check_bytes(data)
    assert not v.ok
    assert v.reason == reason
    if field is not None:
        assert v.field == field
    assert len(rec.entries) == 1


def test_open_mode_skips_policy_but_not_replay() -> None:
    ing = Ingress(None)
    assert ing.open_mode
    assert ing.check(sample_plot(partner="US", source="US-S1", seq=3)).ok
    assert ing.check(sample_plot(partner="US", source="US-S1", seq=3)).reason == "duplicate"


def test_source_table_is_bounded() -> None:
    ing = Ingress(None, max_sources=3)
    for i in range(3):
        assert ing.check(sample_plot(source=f"S{i}")).ok
    assert ing.check(sample_plot(source="S9")).reason == "too_many_sources"
    assert ing.check(sample_plot(source="S0", seq=2)).ok


def test_restore_marks_seen() -> None:
    ing = Ingress(None)
    ing.restore(sample_plot(seq=7))
    assert ing.check(sample_plot(seq=7)).reason == "duplicate"
    assert ing.check(sample_plot(seq=8)).ok


def test_stage_like_push() -> None:
    ing = Ingress(None)
    env = sample_plot()
    assert ing.push(env) == [env]
    assert ing.push(env) == []
    assert ing.advance(T0) == []


# ------------------------------------------------------------- property tests


@given(
    size=st.integers(1, 70),
    seqs=st.lists(st.integers(0, 300), max_size=200),
)
@settings(max_examples=300, deadline=None)
def test_window_matches_reference_model(size: int, seqs: list[int]) -> None:
    """The bitmask window decides exactly like the obvious set-based model:
    accept iff never accepted and above ``max_accepted - size``."""
    win = SeqWindow(size)
    seen: set[int] = set()
    hi: int | None = None
    for s in seqs:
        if s in seen and (hi is None or s > hi - size):
            expect: str | None = "duplicate"
        elif hi is not None and s <= hi - size:
            expect = "stale"
        else:
            expect = None
        got = win.accept(s)
        assert got == expect, (s, hi, got, expect)
        if got is None:
            seen.add(s)
            hi = s if hi is None else max(hi, s)
        assert win.hi == (-1 if hi is None else hi)


@given(seqs=st.lists(st.integers(0, 10_000), max_size=300), size=st.integers(1, 2048))
@settings(max_examples=200, deadline=None)
def test_window_never_accepts_twice(seqs: list[int], size: int) -> None:
    win = SeqWindow(size)
    accepted = [s for s in seqs if win.accept(s) is None]
    assert len(accepted) == len(set(accepted))
    # a strictly increasing stream is always accepted in full
    win2 = SeqWindow(size)
    assert all(win2.accept(s) is None for s in sorted(set(seqs)))
