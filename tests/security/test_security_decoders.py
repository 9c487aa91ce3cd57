"""Issue 14 item 3: decoders never crash. A message nested ~1,000 objects deep
raised RecursionError out of the decoder before any signature check: every
NATS node crashed (and again on each redelivery), the `serve --tail` task died
silently, HTTP answered 503, the CLI printed a traceback. Every path now turns
any input into a named rejection (`too_deep`, `too_large`, `schema`, ...), and a
NATS message that still breaks processing is terminated, not redelivered."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sechelpers import one_line_error
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.errors import WireError
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline
from tocsin.transport.nats import POISON_DELIVERIES, FusionNode
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.wire import (
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    LimitExceeded,
    decode_json,
    decode_msgpack,
    encode_json,
    read_jsonl,
)
from tocsin.wire.codec import json_depth, msgpack_depth

T0 = 1_789_430_400.0


def deep_json(depth: int, where: str = "body") -> bytes:
    """A plot whose ``body`` (or an unknown field) nests ``depth`` objects."""
    env = json.loads(encode_json(sample_plot(seq=1, sent=T0)))
    nest = b'{"x":' * depth + b"1" + b"}" * depth
    head = json.dumps({k: v for k, v in env.items() if k != where}).encode()[:-1]
    return head + b',"' + where.encode() + b'":' + nest + b"}"


def deep_msgpack(depth: int) -> bytes:
    """A plot as MessagePack whose ``body`` is ``depth`` nested one-item arrays."""
    env = msgspec.to_builtins(sample_plot(seq=1, sent=T0))
    del env["body"]
    head = msgspec.msgpack.encode(env)
    assert 0x80 <= head[0] < 0x8F  # a fixmap: one more entry for the body
    return bytes([head[0] + 1]) + head[1:] + msgspec.msgpack.encode("body") + b"\x91" * depth + b"\x01"


ATTACKS = {
    "json-body-1000-objects": (deep_json(1000), "json", "too_deep"),
    "json-unknown-field-1000": (deep_json(1000, "extra"), "json", "too_deep"),
    "json-100k-open-brackets": (b"[" * 100_000, "json", "too_deep"),
    # (deep enough to matter, not deep enough for the decoder's own recursion guard)
    "json-unknown-field-100": (deep_json(100, "extra"), "json", "too_deep"),
    "json-deep-in-a-string-is-fine": (
        json.dumps({**json.loads(encode_json(sample_plot(seq=1, sent=T0))), "note": "[" * 5000}).encode(),
        "json",
        None,
    ),
    "msgpack-1000-arrays": (deep_msgpack(1000), "msgpack", "too_deep"),
    "msgpack-100k-fixarray-headers": (b"\x91" * 100_000, "msgpack", "too_deep"),
    "json-over-the-size-limit": (b" " * (MAX_MESSAGE_BYTES + 1), "json", "too_large"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_ingress_names_every_hostile_message(name: str) -> None:
    data, fmt, reason = ATTACKS[name]
    v = Ingress(None, max_skew_s=None).check_bytes(data, fmt=fmt)
    if reason is None:
        assert v.ok, v
    else:
        assert (v.ok, v.reason, v.field) == (False, reason, "$")


def test_depth_limit_is_exact_at_the_boundary() -> None:
    """MAX_DEPTH levels pass the limit; one more is refused before decoding."""
    for d in (MAX_DEPTH, MAX_DEPTH + 1):
        want = None if d <= MAX_DEPTH else d
        assert json_depth(json.dumps(nest(d)).encode()) == want
        assert msgpack_depth(msgspec.msgpack.encode(nest(d))) == want


@pytest.mark.parametrize("backslashes", [0, 1, 2, 3])
@pytest.mark.parametrize("quote", [False, True])
def test_depth_counts_brackets_after_a_string_whatever_its_escapes(backslashes: int, quote: bool) -> None:
    """Brackets inside a string never count, brackets after it always do:
    escaped backslashes and escaped quotes are paired from the left, as a
    JSON reader pairs them (a string ending in an escaped backslash ends at
    the next quote)."""
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    a = ('"' if quote else "") + deep + "\\" * backslashes
    text = json.dumps({"a": a, "b": nest(MAX_DEPTH + 3)}).encode()
    over = json_depth(text)
    assert over is not None
    assert over > MAX_DEPTH
    with pytest.raises(LimitExceeded):
        decode_json(text)
    assert json_depth(json.dumps({"a": a, "b": nest(MAX_DEPTH - 1)}).encode()) is None


def nest(d: int) -> Any:
    v: Any = 0
    for _ in range(d):
        v = [v]
    return v


_TEXT = st.text(alphabet='[]{}"\\ab', max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _TEXT,
    lambda ch: st.lists(ch, max_size=3) | st.dictionaries(_TEXT, ch, max_size=3),
    max_leaves=40,
)


def true_depth(v: Any) -> int:
    if isinstance(v, list | dict):
        items = v.values() if isinstance(v, dict) else v
        return 1 + max((true_depth(x) for x in items), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 6))
def test_depth_measure_matches_the_structure(v: Any, limit: int) -> None:
    d = true_depth(v)
    want = None if d <= limit else d
    assert (json_depth(json.dumps(v).encode(), limit) is None) == (want is None)
    assert (msgpack_depth(msgspec.msgpack.encode(v), limit) is None) == (want is None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_decoders_raise_only_wire_errors(data: bytes) -> None:
    for dec in (decode_json, decode_msgpack):
        with contextlib.suppress(WireError):  # anything else fails the test
            dec(data)


def test_a_limit_is_a_wire_error_naming_the_root() -> None:
    with pytest.raises(LimitExceeded) as exc:
        decode_json(deep_json(1000))
    assert exc.value.field == "$"
    assert "deeper than 32" in str(exc.value)


# --- every path ------------------------------------------------------------------------------


def test_http_answers_422_and_keeps_serving() -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def main() -> list[tuple[int, str]]:
        await ex.start()
        try:
            transport = httpx.ASGITransport(app=create_app(ex))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                out = []
                for body in (deep_json(1000), deep_json(1000, "extra")):
                    r = await c.post(
                        "/v1/messages", content=body, headers={"content-type": "application/json"}
                    )
                    out.append((r.status_code, r.json()["reason"]))
                good = encode_json(sample_plot(seq=5, sent=T0))
                r = await c.post("/v1/messages", content=good, headers={"content-type": "application/json"})
                out.append((r.status_code, "ok" if r.json()["ok"] else r.json()["reason"]))
                return out
        finally:
            await ex.stop()

    assert asyncio.run(main()) == [(422, "too_deep"), (422, "too_deep"), (202, "ok")]


def test_files_given_to_the_cli_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "m.jsonl"
    f.write_bytes(deep_json(1000) + b"\n" + encode_json(sample_plot(seq=2, sent=T0)) + b"\n")
    msgs, st_ = read_jsonl(f)
    assert len(msgs) == 1
    assert [str(e) for e in st_.errors] == [f"{f}:1: $: arrays/objects nest deeper than 32 levels"]
    key = tmp_path / "jp.key"
    assert CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(key)]).exit_code == 0
    err = one_line_error(capsys, "keys", "sign", str(f), "--key", str(key), "-o", str(tmp_path / "o"))
    assert "nest deeper than 32" in err


def test_an_endless_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    f = tmp_path / "m.jsonl"
    with open(f, "wb") as fh:
        fh.write(b"[" * (MAX_MESSAGE_BYTES + 10) + b"\n")
        fh.write(encode_json(sample_plot(seq=2, sent=T0)) + b"\n")
    msgs, st_ = read_jsonl(f)
    assert len(msgs) == 1
    assert st_.lines == 2
    assert "line over the limit" in str(st_.errors[0])


# --- NATS: poison messages are terminated, never a crash loop ----------------------------------


class FakeMsg:
    """What FusionNode needs of a JetStream message."""

    def __init__(self, data: bytes, deliveries: int = 1) -> None:
        self.data = data
        self.headers: dict[str, str] | None = None
        self.metadata = type("M", (), {"num_delivered": deliveries})()
        self.acked = self.termed = False

    async def ack(self) -> None:
        self.acked = True

    async def term(self) -> None:
        self.termed = True


class Explodes(Ingress):
    """An ingress with a bug some input triggers (not the decoder: that cannot)."""

    def precheck(self, data: bytes, fmt: str = "json"):  # type: ignore[no-untyped-def]
        if b"BOOM" in data:
            raise RuntimeError("a bug")
        return super().precheck(data, fmt)


def node(tmp_path: Path) -> FusionNode:
    j = Journal(tmp_path / "journal.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, ingress=Explodes(None, max_skew_s=None, recorder=j))
    return FusionNode(None, pipe, partner="JP")


def good(seq: int) -> bytes:
    return encode_json(sample_plot(seq=seq, sent=T0 + seq))


def test_nats_poison_is_terminated_and_journalled_the_rest_acked(tmp_path: Path) -> None:
    n = node(tmp_path)
    boom = good(3).replace(b'"sensor"', b'"BOOM":1,"sensor"')
    msgs = [FakeMsg(good(1)), FakeMsg(good(2)), FakeMsg(boom), FakeMsg(deep_json(1000)), FakeMsg(good(4))]
    verdicts = asyncio.run(n._process(msgs))  # type: ignore[arg-type]
    assert [m.acked for m in msgs] == [True, True, False, True, True]
    assert [m.termed for m in msgs] == [False, False, True, False, False]
    assert [v.reason for v in verdicts] == [None, None, "poison", "too_deep", None]
    assert n.stats.poison == 1
    assert n.stats.batch_failures == 1
    j = n.pipeline.journal
    assert j is not None
    rejects = [json.loads(e.payload) for e in j.entries(kinds=("reject",))]
    assert [r["reason"] for r in rejects] == ["poison", "too_deep"]
    assert rejects[0]["detail"] == "processing failed: RuntimeError"


def test_nats_message_delivered_too_often_is_terminated_unprocessed(tmp_path: Path) -> None:
    """A message that kills the process outright (no exception to catch) comes
    back after each restart; after POISON_DELIVERIES it is terminated."""
    n = node(tmp_path)
    msgs = [FakeMsg(good(1), deliveries=2), FakeMsg(good(2), deliveries=POISON_DELIVERIES)]
    verdicts = asyncio.run(n._process(msgs))  # type: ignore[arg-type]
    assert [(m.acked, m.termed) for m in msgs] == [(True, False), (False, True)]
    assert [v.reason for v in verdicts] == [None, "poison"]  # (in the messages' order)


def test_nats_journal_failure_is_not_poison(tmp_path: Path) -> None:
    """When nothing can be journalled, no message is terminated (they are
    redelivered once the journal works again): the node stops instead."""
    n = node(tmp_path)
    assert n.pipeline.journal is not None
    n.pipeline.journal.close()
    msgs = [FakeMsg(good(1))]
    with pytest.raises(Exception):  # noqa: B017,PT011 - whatever the closed journal raises
        asyncio.run(n._process(msgs))  # type: ignore[arg-type]
    assert not msgs[0].termed
    assert not msgs[0].acked


# --- serve --tail: the task never dies silently ------------------------------------------------


async def _until(cond: Any, timeout: float = 10.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.02)


def test_tail_rejects_a_deep_line_and_reads_on_through_failures(tmp_path: Path) -> None:
    from tocsin.web.local_ingest import tail_file

    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    path = tmp_path / "in.jsonl"
    path.write_bytes(deep_json(1000) + b"\n" + good(1) + b"\n")

    async def go() -> None:
        await ex.start()
        real = ex.submit
        fails = [1]

        async def flaky(lines: Any) -> Any:  # the first submit after the deep line fails
            if fails[0] and ex.pipeline.ingress.rejected["too_deep"]:
                fails[0] = 0
                raise TimeoutError
            return await real(lines)

        ex.submit = flaky  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(tail_file(ex, path, poll_s=0.02, stop=stop))
        await _until(lambda: ex.pipeline.ingress.accepted["plot"] == 1)
        with open(path, "ab") as fh:  # a line after the failure is read too
            fh.write(deep_json(1000) + b"\n" + good(2) + b"\n")
        await _until(lambda: ex.pipeline.ingress.accepted["plot"] == 2)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 5)
        await ex.stop()

    asyncio.run(go())
    assert ex.pipeline.ingress.rejected["too_deep"] == 2


def test_healthz_is_503_when_the_tail_stopped(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    app_ = create_app(ex, tail=tmp_path)  # a directory: the tail cannot read it

    async def go() -> tuple[int, dict[str, Any]]:
        async with app_.router.lifespan_context(app_):
            transport = httpx.ASGITransport(app=app_)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                for _ in range(100):
                    r = await c.get("/healthz")
                    if r.status_code == 503:
                        break
                    await asyncio.sleep(0.05)
                return r.status_code, r.json()

    code, body = asyncio.run(go())
    assert code == 503
    assert body["status"] == "down"
    assert body["ingest"] == {"tail": "stopped"}
