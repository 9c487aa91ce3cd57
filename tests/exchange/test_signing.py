"""Ed25519 signing of envelopes and the partner registry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import msgspec
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.errors import ConfigError
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.samples import sample_heartbeat, sample_plot
from tocsin.exchange.signing import (
    PartnerPolicy,
    PartnerRegistry,
    b64_decode_any,
    generate_key,
    load_private_key,
    load_public_key,
    make_bundle,
    private_key_pem,
    public_key_text,
    save_private_key,
    sign,
    sign_bundle,
    sign_v1,
    signed_bytes,
    verify,
)
from tocsin.wire import Envelope, decode_json, encode_json
from tocsin.wire.jcs import CanonicalError
from tocsin.wire.messages import BundleBody

KEY = generate_key()
OTHER = generate_key()


def test_sign_verify_roundtrip_through_json() -> None:
    env = sign(sample_plot(), KEY)
    assert env.sig is not None
    assert "=" not in env.sig
    assert len(env.sig) == 86
    back = decode_json(encode_json(env))
    assert verify(back, KEY.public_key())
    assert not verify(back, OTHER.public_key())


def test_signature_is_deterministic() -> None:
    assert sign(sample_plot(), KEY).sig == sign(sample_plot(), KEY).sig


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"source": "JP-R2"},
        {"partner": "KR"},
        {"sent": 1_789_430_400.5},
    ],
)
def test_any_change_breaks_the_signature(change: dict[str, object]) -> None:
    env = sign(sample_plot(), KEY)
    forged = msgspec.structs.replace(env, **change)
    assert not verify(forged, KEY.public_key())


def test_body_change_breaks_the_signature() -> None:
    env = sign(sample_plot(), KEY)
    other = sign(sample_plot(range_m=500_001.0), KEY)
    forged = msgspec.structs.replace(env, body=other.body)
    assert not verify(forged, KEY.public_key())


@given(sig=st.one_of(st.none(), st.text(max_size=120), st.binary(max_size=80).map(lambda b: b.hex())))
@settings(max_examples=200, deadline=None)
def test_verify_never_raises_on_garbage(sig: str | None) -> None:
    env = msgspec.structs.replace(sample_plot(), sig=sig)
    assert verify(env, KEY.public_key()) is False


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@pytest.mark.parametrize("depth", [33, 5_000])
def test_verify_never_raises_on_a_deep_message(fmt: str, depth: int) -> None:
    """verify() is called on what arrived; callers limit-check first, but the
    canonical form does not depend on it: too deep is a refusal, not a
    RecursionError (a 5,000-deep text raised one before)."""
    env = sign(sample_plot(), KEY)
    if fmt == "json":
        raw = encode_json(env)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    else:
        head = msgspec.msgpack.encode(env)
        raw = bytes([head[0] + 1]) + head[1:] + msgspec.msgpack.encode("x") + b"\x91" * depth + b"\x90"
    with pytest.raises(CanonicalError):
        signed_bytes(env, raw, fmt)
    assert not verify(env, KEY.public_key(), raw=raw, fmt=fmt)


def test_keys_on_disk(tmp_path: Path) -> None:
    p = tmp_path / "jp.key"
    save_private_key(KEY, p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        save_private_key(KEY, p)
    k2 = load_private_key(p)
    assert public_key_text(k2) == public_key_text(KEY)
    (tmp_path / "jp.pub").write_text(public_key_text(KEY) + "\n")
    assert public_key_text(load_public_key(tmp_path / "jp.pub")) == public_key_text(KEY)
    assert len(b64_decode_any(public_key_text(KEY))) == 32


def test_bad_key_files(tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_text("not a key")
    with pytest.raises(ConfigError, match=r"bad\.key"):
        load_private_key(tmp_path / "bad.key")
    (tmp_path / "bad.pub").write_text("AAAA")
    with pytest.raises(ConfigError, match="32 bytes"):
        load_public_key(tmp_path / "bad.pub")
    with pytest.raises(ConfigError, match="cannot read"):
        load_private_key(tmp_path / "missing.key")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_registry_roundtrip(tmp_path: Path, suffix: str) -> None:
    reg = PartnerRegistry().with_partner(PartnerPolicy("JP", KEY.public_key(), ("JP-*",), ("plot", "sensor")))
    reg = reg.with_partner(PartnerPolicy("US", OTHER.public_key(), ("US-S?", "US-node-1"), ("plot",)))
    path = tmp_path / f"partners{suffix}"
    reg.save(path)
    back = PartnerRegistry.load(path)
    assert back.to_dict() == reg.to_dict()
    us = back.get("US")
    assert us is not None
    assert us.owns_source("US-S1")
    assert us.owns_source("US-node-1")
    assert not us.owns_source("JP-R1")
    assert not us.owns_source("US-S10")
    assert us.may_send("plot")
    assert not us.may_send("alert")


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        ({}, "partners"),
        ({"partners": {"jp": {"public_key": "x"}}}, "two capital"),
        ({"partners": {"JP": {}}}, "public_key"),
        ({"partners": {"JP": {"public_key": public_key_text(KEY), "kinds": ["bogus"]}}}, "bogus"),
        ({"partners": {"JP": {"public_key": public_key_text(KEY), "sources": [1]}}}, "sources"),
        ({"partners": {"JP": {"public_key": public_key_text(KEY), "accept_v1": "yes"}}}, "accept_v1"),
    ],
)
def test_registry_errors_name_the_field(tmp_path: Path, data: object, msg: str) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=msg):
        PartnerRegistry.load(p)


# ---------------------------------------------------------------- v2: RFC 8785 (JCS)

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "signing-vectors.json").read_text())
VKEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["private_key_seed_hex"]))
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js not installed (Debian package `nodejs`)")
PARTNER_JS = Path(__file__).with_name("jcs_partner.js")


def _registry(*, accept_v1: bool = False) -> PartnerRegistry:
    return PartnerRegistry(
        {"JP": PartnerPolicy("JP", VKEY.public_key(), ("JP-*",), ("plot", "heartbeat"), accept_v1)}
    )


def _ingress(**kw: object) -> Ingress:
    return Ingress(_registry(**kw), max_skew_s=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_published_vectors(vec: dict[str, str]) -> None:
    """docs/exchange-format.md's test vectors: canonical bytes and signature."""
    raw = vec["message"].encode()
    env = decode_json(raw)
    assert env.v == 2
    assert signed_bytes(env, raw) == vec["canonical"].encode()
    assert signed_bytes(env) == vec["canonical"].encode()  # from the decoded message, too
    assert sign(env, VKEY).sig == vec["sig"]  # Ed25519 is deterministic
    VKEY.public_key().verify(b64_decode_any(vec["sig"]), vec["canonical"].encode())
    assert public_key_text(VKEY) == VECTORS["public_key_b64"]
    v = _ingress().check_bytes(raw)
    assert v.ok, v


def test_vectors_are_the_ones_in_the_docs() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "exchange-format.md").read_text()
    assert VECTORS["private_key_seed_hex"] in doc
    assert VECTORS["public_key_b64"] in doc
    for vec in VECTORS["vectors"]:
        assert vec["canonical"] in doc
        assert vec["sig"] in doc


def test_plain_python_signer_with_the_reference_jcs() -> None:
    """A partner in Python that never imports tocsin: rfc8785 + cryptography."""
    msg = {
        "kind": "plot", "partner": "JP", "source": "JP-R2", "seq": 9, "sent": 1789430400.5, "v": 2,
        "body": {"sensor": "JP-R2", "t": 1789430400.25, "range_m": 700000.0, "az_deg": 90.0,
                 "el_deg": 20.0, "rr_mps": -0.0000042},
    }  # fmt: skip
    sig = VKEY.sign(rfc8785.dumps(msg))
    msg["sig"] = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    raw = json.dumps(msg, indent=1).encode()  # any layout: what is signed is the canonical form
    assert _ingress().check_bytes(raw).ok
    msg["seq"] = 10
    v = _ingress().check_bytes(json.dumps(msg).encode())
    assert (v.ok, v.reason) == (False, "bad_signature")


def test_unknown_optional_fields_are_covered_by_the_signature() -> None:
    """A newer partner's optional field is signed; verification uses the message
    as received, not tocsin's re-encoding (which drops the field)."""
    msg = json.loads(VECTORS["vectors"][0]["message"])
    del msg["sig"]
    msg["body"]["quality_note"] = "from a newer version"
    msg["sig"] = base64.urlsafe_b64encode(VKEY.sign(rfc8785.dumps(msg))).rstrip(b"=").decode()
    assert _ingress().check_bytes(json.dumps(msg).encode()).ok
    msg["body"]["quality_note"] = "changed in transit"
    assert _ingress().check_bytes(json.dumps(msg).encode()).reason == "bad_signature"


def test_v1_signatures_are_refused_unless_the_registry_accepts_them() -> None:
    """The stated policy: a legacy v1 signature (msgspec bytes) is refused as
    `legacy_signature` by default, and accepted - and counted - only from a
    partner whose registry entry says `accept_v1: true`."""
    env = sign_v1(sample_plot(), VKEY)
    assert env.v == 1
    ing = _ingress()
    v = ing.check_bytes(encode_json(env))
    assert (v.ok, v.reason, v.field) == (False, "legacy_signature", "$.v")
    assert ing.legacy_accepted == {}
    ing = _ingress(accept_v1=True)
    assert ing.check_bytes(encode_json(env)).ok
    assert ing.legacy_accepted == {"JP": 1}
    # accepting v1 does not accept a forged v1 signature, nor a v2 signature relabelled v1
    forged = msgspec.structs.replace(env, seq=2)
    assert ing.check_bytes(encode_json(forged)).reason == "bad_signature"
    relabelled = msgspec.structs.replace(sign(sample_plot(seq=3), VKEY), v=1)
    assert ing.check_bytes(encode_json(relabelled)).reason == "bad_signature"


def test_registry_keeps_accept_v1(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    _registry(accept_v1=True).save(p)
    pol = PartnerRegistry.load(p).get("JP")
    assert pol is not None
    assert pol.accept_v1
    _registry().save(p)
    assert "accept_v1" not in p.read_text()


# ---------------------------------------------------------------- bundles


def _plots(n: int, source: str = "JP-R1", start: int = 1) -> list[Envelope]:
    return [sample_plot(source=source, seq=start + i, sent=1_789_430_400.0 + i) for i in range(n)]


def test_bundle_members_pass_one_by_one() -> None:
    b = sign_bundle(_plots(5), VKEY, partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0)
    ing = _ingress()
    v = ing.check_bytes(encode_json(b))
    assert v.ok
    assert [p.ok for p in v.parts] == [True] * 5
    assert [e.seq for e in v.accepted_envs()] == [1, 2, 3, 4, 5]
    assert v.as_dict()["accepted"] == 5
    # the same bundle again: every member is a replay
    again = ing.check_bytes(encode_json(b))
    assert again.ok
    assert [p.reason for p in again.parts] == ["duplicate"] * 5
    assert again.parts[0].field == "$.body.messages[0].seq"
    assert again.accepted_envs() == []


def test_bundle_members_are_decoded_with_the_signature_check_and_only_for_a_good_one() -> None:
    """The precheck thread decodes an authenticated bundle's members (the
    worker only checks them in order): the verdicts are the worker's own
    decoding's, member for member; a bundle whose signature fails has none
    of its members decoded (junk costs one signature check, not n decodes)."""
    members = [
        *_plots(2),
        msgspec.Raw(b'{"v":2,"kind":"plot","partner":"JP","source":"JP-R1","seq":9}'),  # no sent/body
        msgspec.Raw(b'{"v":2,"kind":"plot","partner":"JP","source":"JP-R1","seq":10,"sent":1.0,"body":{}}'),
        sample_plot(partner="KR", source="KR-R1"),
        make_bundle(_plots(1, start=20), partner="JP", source="JP-node-1", seq=1, sent=1.0),
        *_plots(1, start=30),
    ]
    raws = [
        m
        if isinstance(m, msgspec.Raw)
        else msgspec.Raw(encode_json(msgspec.structs.replace(m, v=2, sig=None)))
        for m in members
    ]
    b = sign(
        Envelope(v=2, kind="bundle", partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0,
                 body=BundleBody(messages=raws)),
        VKEY,
    )  # fmt: skip
    data = encode_json(b)
    ing = _ingress()
    pc = ing.precheck(data)
    assert pc.problem is None
    assert pc.members is not None
    assert len(pc.members) == len(raws)
    got = ing.check_prechecked(pc)
    # the worker decoding the members itself (no precheck results)
    ref = _ingress()._check_bundle(decode_json(data), _registry().get("JP"), None, "json")
    assert [p.as_dict() for p in got.parts] == [p.as_dict() for p in ref.parts]
    assert [(p.ok, p.reason) for p in got.parts] == [
        (True, None), (True, None), (False, "schema"), (False, "schema"),
        (False, "foreign_source"), (False, "schema"), (True, None),
    ]  # fmt: skip
    assert [e.seq for e in got.accepted_envs()] == [1, 2, 30]
    # forged: the signature fails before any member is decoded
    d = json.loads(data)
    d["body"]["messages"][0]["body"]["range_m"] = 1.0
    bad = ing.precheck(json.dumps(d).encode())
    assert bad.problem is not None
    assert bad.problem[0] == "bad_signature"
    assert bad.members is None


def test_bundle_with_an_altered_member_is_refused_whole() -> None:
    b = sign_bundle(_plots(3), VKEY, partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0)
    d = json.loads(encode_json(b))
    d["body"]["messages"][1]["body"]["range_m"] = 1.0
    v = _ingress().check_bytes(json.dumps(d).encode())
    assert (v.ok, v.reason) == (False, "bad_signature")
    assert v.accepted_envs() == []


def test_bundle_members_of_another_partner_or_kind_or_source_are_refused() -> None:
    members = [
        *_plots(1),
        sample_plot(partner="KR", source="KR-R1"),
        sample_plot(source="US-S1", seq=4),
        msgspec.structs.replace(sample_heartbeat(), kind="truth"),
    ]
    b = sign_bundle(members, VKEY, partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0)
    v = _ingress().check_bytes(encode_json(b))
    assert v.ok
    got = [(p.ok, p.reason, p.field) for p in v.parts]
    assert got[0] == (True, None, None)
    assert got[1] == (False, "foreign_source", "$.body.messages[1].partner")
    assert got[2] == (False, "foreign_source", "$.body.messages[2].source")
    assert got[3][1] == "schema"


def test_nested_bundle_and_v1_bundle_are_refused() -> None:
    inner = make_bundle(_plots(1), partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0)
    b = sign_bundle([inner], VKEY, partner="JP", source="JP-node-1", seq=2, sent=1_789_430_405.0)
    v = _ingress().check_bytes(encode_json(b))
    assert [(p.reason, p.field) for p in v.parts] == [("schema", "$.body.messages[0].kind")]
    v1 = sign_v1(make_bundle(_plots(1), partner="JP", source="n", seq=3, sent=1.0), VKEY)
    assert _ingress(accept_v1=True).check_bytes(encode_json(v1)).reason == "legacy_signature"


def test_unsigned_bundle_is_refused_with_a_registry_and_expanded_in_open_mode() -> None:
    b = make_bundle(_plots(2), partner="JP", source="JP-node-1", seq=1, sent=1_789_430_405.0)
    assert _ingress().check_bytes(encode_json(b)).reason == "missing_signature"
    v = Ingress(None, max_skew_s=None).check_bytes(encode_json(b))
    assert [e.seq for e in v.accepted_envs()] == [1, 2]


# ---------------------------------------------------------------- Node


def _node(req: dict[str, object]) -> list[str]:
    assert NODE is not None
    res = subprocess.run(
        [NODE, str(PARTNER_JS)], input=json.dumps(req), capture_output=True, text=True, check=True, timeout=60
    )
    return [
        ln for ln in res.stdout.split("\n") if ln
    ]  # not splitlines(): U+2028 is no line end in JSON Lines


def _pem() -> str:
    return private_key_pem(VKEY).decode()


@needs_node
def test_node_signed_message_is_accepted_and_the_same_message_altered_is_refused() -> None:
    msgs = [
        {"kind": "plot", "partner": "JP", "source": "JP-R1", "seq": 100, "sent": 1789430400,
         "body": {"sensor": "JP-R1", "t": 1789430399.95, "range_m": 812345, "az_deg": 271.25,
                  "el_deg": 12, "rr_mps": -2104.5, "sigma_range_m": 30}},
        {"source": "JP-node-1", "kind": "heartbeat", "partner": "JP", "seq": 3, "sent": 1789430401.5,
         "body": {"t": 1789430401.5, "node": "JP-node-1",
                  "sources": {"JP-R1": {"plots": 1, "last_t": 1789430399.95}}}},
        {"kind": "plot", "partner": "JP", "source": "JP-R1", "seq": 101, "sent": 1789430400.000001,
         "body": {"sensor": "JP-R1", "t": 1.7894304e9, "range_m": 5e5, "az_deg": 0.000005, "el_deg": 1e-7,
                  "note": "\u00e9\u20ac\u2028 optional field a newer version added"}},
    ]  # fmt: skip
    lines = _node({"op": "sign", "pem": _pem(), "messages": msgs})
    assert len(lines) == 3
    ing = _ingress()
    for line in lines:
        v = ing.check_bytes(line.encode())
        assert v.ok, (line, v)
    # the same message altered (each field in turn) is refused
    for path, val in [(("seq",), 200), (("body", "range_m"), 812346), (("sent",), 1789430400.5)]:
        d = json.loads(lines[0])
        tgt = d
        for p in path[:-1]:
            tgt = tgt[p]
        tgt[path[-1]] = val
        v = _ingress().check_bytes(json.dumps(d).encode())
        assert (v.ok, v.reason) == (False, "bad_signature"), path


@needs_node
def test_node_signed_bundle_is_accepted() -> None:
    env = {"partner": "JP", "source": "JP-node-1", "seq": 1, "sent": 1789430402}
    members = [json.loads(encode_json(p)) for p in _plots(4, start=50)]
    (line,) = _node({"op": "bundle", "pem": _pem(), "envelope": env, "messages": members})
    v = _ingress().check_bytes(line.encode())
    assert v.ok
    assert [e.seq for e in v.accepted_envs()] == [50, 51, 52, 53]


@needs_node
def test_node_verifies_what_tocsin_signs() -> None:
    from cryptography.hazmat.primitives import serialization

    spki = VKEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = [encode_json(sign(e, VKEY)).decode() for e in (sample_plot(), sample_heartbeat())]
    good.append(encode_json(sign_bundle(_plots(3), VKEY, partner="JP", source="n", seq=1, sent=5.0)).decode())
    bad = json.loads(good[0])
    bad["seq"] = 99
    out = _node({"op": "verify", "pem": spki.decode(), "messages": [*good, json.dumps(bad)]})
    assert out == ["true", "true", "true", "false"]


def test_a_signature_vouches_for_the_canonical_form_of_what_is_acted_on() -> None:
    """Issue 17's review of JCS in precheck (notes/speed.md, session 13): the
    signature is checked over the RFC 8785 form of the JSON as parsed, never
    over the bytes as they came. So (1) a message signed over its raw,
    non-canonical bytes is refused even by the key holder's own signature
    (no second meaning for one signature), and (2) a repeated member name,
    which JSON readers resolve differently, is refused (``schema``, the field
    naming it) before the signature is looked at, wherever it is: before or
    after the signed member, in a bundle or in one of its members (session
    14; until then the last one counted, so one slipped in before the signed
    member was ignored, and an auditor keeping the first read another message)."""
    ing = _ingress()
    plot = sign(sample_plot(partner="JP", source="JP-R1", seq=5, sent=1_789_430_400.0), VKEY)
    raw = encode_json(plot)
    assert ing.check_bytes(raw).ok
    # (1) signed over the bytes as sent (msgspec's field order, not JCS): refused
    unsigned = msgspec.structs.replace(plot, seq=6, sig=None)
    body = encode_json(unsigned)
    assert body != signed_bytes(unsigned)
    sig = base64.urlsafe_b64encode(VKEY.sign(body)).rstrip(b"=").decode()
    forged = body[:-1] + b',"sig":"' + sig.encode() + b'"}'
    assert _ingress().check_bytes(forged).reason == "bad_signature"
    # (2) repeated names: refused before or after the signed member
    for bad in (raw[:-1] + b',"seq":999}', b'{"seq":999,' + raw[1:], b'{"seq":5,' + raw[1:]):
        v = _ingress().check_bytes(bad)
        assert (v.ok, v.reason, v.field) == (False, "schema", "$.seq")
        assert not verify(plot, VKEY.public_key(), raw=bad)  # (no canonical form: not I-JSON)
    # a bundle: a body slipped in before or after the signed one, or a repeat in a member
    members = [sample_plot(partner="JP", source="JP-R1", seq=i, sent=1_789_430_400.0) for i in (1, 2)]
    bundle = sign_bundle(members, VKEY, partner="JP", source="JP-B1", seq=1, sent=1_789_430_400.0)
    b = encode_json(bundle)
    assert _ingress().check_bytes(b).ok
    evil = encode_json(make_bundle(members[:1], partner="JP", source="JP-B1", seq=1, sent=0.0))
    evil_body = evil[evil.index(b'"body":') : -1]
    for bad in (b"{" + evil_body + b"," + b[1:], b[:-1] + b"," + evil_body + b"}"):
        v = _ingress().check_bytes(bad)
        assert (v.ok, v.reason, v.field) == (False, "schema", "$.body")
    i = b.index(b'"seq":2')
    bad = b[:i] + b'"seq":3,' + b[i:]
    v = _ingress().check_bytes(bad)
    assert (v.ok, v.reason, v.field) == (False, "schema", "$.body.messages[1].seq")
    assert not verify(bundle, VKEY.public_key(), raw=bad)
