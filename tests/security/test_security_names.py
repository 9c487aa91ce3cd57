"""A repeated member name (I-JSON, RFC 7493 §2.3; YAML mappings likewise) is
refused on every input path that reads JSON or YAML: messages over HTTP (one
message, a bundle's member), the partner registry (JSON and YAML), the warning
policy (YAML; TOML's parser refuses it already), scenarios, the operator file,
the dashboard's request bodies. A MessagePack map that repeats a key likewise:
a signed message through the ingress (what HTTP and NATS both call), over
HTTP (one message, a bundle's member), and the canonical form a signature is
checked over (NATS: tests/transport/test_nats.py). Each document below is
accepted (the last value kept) by a reader that does not check: so each test
fails if its path stops checking (docs/security.md row 10.3)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sechelpers import one_line_error

from tocsin.drill.scenario import parse_scenario
from tocsin.errors import ConfigError, InputError, ScenarioError
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import (
    PartnerPolicy,
    PartnerRegistry,
    generate_key,
    make_bundle,
    public_key_text,
    sign,
    signed_bytes,
    verify,
)
from tocsin.warning.policy import load_config
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.auth import OperatorStore
from tocsin.wire import BundleBody, Envelope, decode_msgpack, encode_json, encode_msgpack
from tocsin.wire.jcs import CanonicalError
from tocsin.wire.names import member_path

T0 = 1_789_430_400.0
ROOT = Path(__file__).resolve().parents[2]


def _post_all(
    bodies: list[bytes], content_type: str = "application/json"
) -> list[tuple[int, str | None, str | None]]:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))

    async def main() -> list[tuple[int, str | None, str | None]]:
        await ex.start()
        try:
            transport = httpx.ASGITransport(app=create_app(ex))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                out = []
                ct = {"content-type": content_type}
                for body in bodies:
                    r = await c.post("/v1/messages", content=body, headers=ct)
                    d = r.json()
                    out.append((r.status_code, d.get("reason"), d.get("field")))
                return out
        finally:
            await ex.stop()

    return asyncio.run(main())


def test_http_refuses_a_repeated_name_in_a_message_or_a_bundle_member_and_keeps_serving() -> None:
    plot = encode_json(sample_plot(seq=5, sent=T0))
    i = plot.index(b'"seq":5')
    members = [sample_plot(seq=s, sent=T0) for s in (6, 7)]
    bundle = encode_json(make_bundle(members, partner="JP", source="JP-B1", seq=1, sent=T0))
    j = bundle.index(b'"seq":7')
    got = _post_all(
        [
            plot[:i] + b'"seq":4,' + plot[i:],  # (the decoder would keep 5)
            bundle[:j] + b'"seq":8,' + bundle[j:],
            encode_json(sample_plot(seq=9, sent=T0)),
        ]
    )
    assert got == [
        (422, "schema", "$.seq"),
        (422, "schema", "$.body.messages[1].seq"),
        (202, None, None),
    ]


def _map(pairs: list[tuple[str, Any]]) -> bytes:
    """A MessagePack map written pair by pair (a key may come twice)."""
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(msgspec.msgpack.encode(k) + msgspec.msgpack.encode(v) for k, v in pairs)


def _repeat(raw: bytes, where: str, key: str, value: Any, first: bool) -> bytes:
    """The MessagePack message ``raw`` with ``key`` of the map at ``where``
    (``$`` or ``$.body``) written once more, holding ``value``: before the one
    there (a first-wins reader takes it; msgspec keeps the signed one) or after."""
    top = list(msgspec.msgpack.decode(raw).items())
    pairs = list(top[[k for k, _ in top].index("body")][1].items()) if where == "$.body" else top
    i = [k for k, _ in pairs].index(key)
    pairs.insert(i if first else len(pairs), (key, value))
    if where == "$":
        return _map(pairs)
    return _map([(k, msgspec.Raw(_map(pairs)) if k == "body" else v) for k, v in top])


_OTHER = {int: 999, float: 1.5, str: "XX"}
JP = generate_key()
_REG = PartnerRegistry({"JP": PartnerPolicy("JP", JP.public_key(), ("JP-*",), ("plot",))})
_SIGNED = encode_msgpack(sign(sample_plot(seq=5, sent=T0), JP))
_KEYS = [("$", k) for k in ("v", "kind", "partner", "source", "seq", "sent", "sig")] + [
    ("$.body", k) for k in ("sensor", "t", "range_m", "az_deg", "sigma_el_deg")
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_KEYS), st.booleans(), st.booleans())
def test_a_signed_msgpack_message_with_a_repeated_key_is_refused_before_its_signature(
    at: tuple[str, str], first: bool, same: bool
) -> None:
    """Written before the signed one, the repeat leaves msgspec's reading (and
    the canonical form the signature covers) as signed: accepted until the
    check, while a first-wins reader acts on another message."""
    where, key = at
    value = msgspec.msgpack.decode(_SIGNED)
    old = (value["body"] if where == "$.body" else value)[key]
    bad = _repeat(_SIGNED, where, key, old if same else _OTHER[type(old)], first)
    ing = Ingress(_REG, max_skew_s=None)
    assert ing.check_bytes(_SIGNED, fmt="msgpack").ok  # (the genuine message)
    v = Ingress(_REG, max_skew_s=None).check_bytes(bad, fmt="msgpack")
    assert (v.ok, v.reason, v.field) == (False, "schema", member_path(where, key))
    # the canonical form refuses it whoever asks (verify never raises)
    env = decode_msgpack(_SIGNED)
    with pytest.raises(CanonicalError, match=f"'{key}' repeated"):
        signed_bytes(env, bad, "msgpack")
    assert not verify(env, JP.public_key(), raw=bad, fmt="msgpack")
    assert verify(env, JP.public_key(), raw=_SIGNED, fmt="msgpack")


def test_http_refuses_a_repeated_msgpack_key_in_a_message_or_a_bundle_member() -> None:
    plot = encode_msgpack(sample_plot(seq=5, sent=T0))
    members = [msgspec.Raw(encode_msgpack(sample_plot(seq=s, sent=T0))) for s in (6, 7)]
    members[1] = msgspec.Raw(_repeat(bytes(members[1]), "$", "seq", 8, True))
    bundle = Envelope(
        v=2, kind="bundle", partner="JP", source="JP-B1", seq=1, sent=T0, body=BundleBody(messages=members)
    )
    got = _post_all(
        [
            _repeat(plot, "$", "seq", 4, True),
            encode_msgpack(bundle),
            encode_msgpack(sample_plot(seq=9, sent=T0)),
        ],
        "application/msgpack",
    )
    assert got == [
        (422, "schema", "$.seq"),
        (422, "schema", "$.body.messages[1].seq"),
        (202, None, None),
    ]


def _registry_text(suffix: str) -> str:
    k1, k2 = public_key_text(generate_key()), public_key_text(generate_key())
    if suffix == ".json":
        jp = '"JP": {"public_key": "%s", "sources": ["JP-*"]}'
        return '{"partners": {' + jp.replace("%s", k1) + ", " + jp.replace("%s", k2) + "}}"
    return f'partners:\n  JP:\n    public_key: "{k1}"\n  JP:\n    public_key: "{k2}"\n'


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_registry_naming_a_partner_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    p = tmp_path / f"partners{suffix}"
    p.write_text(_registry_text(suffix))
    with pytest.raises(ConfigError, match="'JP' repeated"):
        PartnerRegistry.load(p)
    err = one_line_error(capsys, "keys", "check", str(p))
    assert str(p) in err
    assert "repeated" in err


def test_a_policy_saying_a_thing_twice_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("max_polygon_points: 100\nmax_polygon_points: 4\n")
    with pytest.raises(ConfigError, match="'max_polygon_points' repeated in one mapping \\(line 2\\)"):
        load_config(p)
    p.write_text("operators: [a]\nobjects: {}\n")
    load_config(p)  # (valid without the repeat)
    p.write_text("operators: [a]\nobjects: {}\nobjects: {}\n")
    with pytest.raises(ConfigError, match="repeated"):
        load_config(p)
    t = tmp_path / "policy.toml"
    t.write_text("max_polygon_points = 100\nmax_polygon_points = 4\n")
    with pytest.raises(ConfigError, match="not valid toml"):
        load_config(t)


def test_a_yaml_key_written_two_ways_is_one_key(tmp_path: Path) -> None:
    from tocsin.limits import LimitError, yaml_load

    assert yaml_load("1: a\n2: b\n") == {1: "a", 2: "b"}
    for text in ("1: a\n0x1: b\n", "true: a\nyes: b\n", "a: 1\n'a': 2\n"):
        with pytest.raises(LimitError, match="repeated"):
            yaml_load(text)
    # a merge key is not a key: the mapping's own keys override what it merges
    assert yaml_load("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n")["m"] == {"x": 3, "y": 2}


def test_a_scenario_with_a_repeated_key_is_refused() -> None:
    text = (ROOT / "scenarios" / "open-sea.yaml").read_text()
    parse_scenario(text, file="open-sea.yaml")
    # refused by the scenario loader's own walk, which names the line and the field
    with pytest.raises(ScenarioError, match="duplicate key") as err:
        parse_scenario(text.replace("seed: 20191002\n", "seed: 20191002\nseed: 1\n"), file="x.yaml")
    line = text.splitlines().index("seed: 20191002") + 2
    assert (err.value.line, err.value.field) == (line, "seed"), str(err.value)
    with pytest.raises(ScenarioError, match="duplicate key"):  # one key written two ways
        parse_scenario(text.replace("seed: 20191002\n", "seed: 20191002\n1: a\n0x1: b\n"), file="x.yaml")


def test_an_operator_file_with_a_repeated_name_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "operators.json"
    st = OperatorStore(p)
    st.add("alice", "alpha-password-1", "operator")
    st.save()
    OperatorStore(p)  # (loads)
    d = json.loads(p.read_text())
    entry = json.dumps(d["operators"]["alice"]).replace('"operator"', '"supervisor"')
    doc = json.dumps(d).replace('"operators": {', '"operators": {"alice": ' + entry + ", ")
    assert json.loads(doc)["operators"]["alice"]["role"] == "operator"  # (a last-wins reader)
    p.write_text(doc)
    with pytest.raises(InputError, match="'alice' repeated"):
        OperatorStore(p)
