"""Ed25519 signing of envelopes and the partner registry."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.errors import ConfigError
from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import (
    PartnerPolicy,
    PartnerRegistry,
    b64_decode_any,
    generate_key,
    load_private_key,
    load_public_key,
    public_key_text,
    save_private_key,
    sign,
    verify,
)
from tocsin.wire import decode_json, encode_json

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
    ],
)
def test_registry_errors_name_the_field(tmp_path: Path, data: object, msg: str) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=msg):
        PartnerRegistry.load(p)
