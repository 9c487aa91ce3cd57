"""JSON and MessagePack codecs for the exchange format.

Decoding is two-step: the envelope first, with the body kept raw, then the body
with the Struct its ``kind`` names. Errors become :class:`~tocsin.errors.WireError`
with ``field`` set to a JSON path such as ``$.body.range_m``; an unknown kind
raises :class:`UnknownKind` so a stream can skip and count it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from tocsin.errors import WireError
from tocsin.wire.messages import BODY_TYPES, Envelope, Ident, PartnerCode, Time


class UnknownKind(WireError):
    """A well-formed envelope whose ``kind`` this version does not know."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"unknown kind {kind!r}", field="$.kind")


class _Head(Struct, frozen=True):
    v: Literal[1, 2]
    kind: Annotated[str, Meta(min_length=1, max_length=32)]
    partner: PartnerCode
    source: Ident
    seq: Annotated[int, Meta(ge=0)]
    sent: Time
    body: msgspec.Raw
    sig: str | None = None


_json_head = msgspec.json.Decoder(_Head)
_mp_head = msgspec.msgpack.Decoder(_Head)
_json_body = {k: msgspec.json.Decoder(t) for k, t in BODY_TYPES.items()}
_mp_body = {k: msgspec.msgpack.Decoder(t) for k, t in BODY_TYPES.items()}
_json_enc = msgspec.json.Encoder()
_mp_enc = msgspec.msgpack.Encoder()

_AT = re.compile(r"\s*-\s*at `\$([^`]*)`")


def _wire_error(exc: Exception, prefix: str) -> WireError:
    """Turn a msgspec error into a WireError naming the field by JSON path.

    A body's ``__post_init__`` names its own field with ``at `$.body.x```; msgspec
    appends the decoder's path; the most specific one wins.
    """
    msg = str(exc)
    paths = _AT.findall(msg)
    text = _AT.sub("", msg).strip()
    field = None
    for p in paths:
        cand = p if p.startswith(".body") else prefix + p
        if field is None or len(cand) > len(field):
            field = cand
    if field is None:
        field = prefix or None
    return WireError(text, field=f"${field}" if field is not None else None)


def _finish(head: _Head, decoders: dict[str, Any]) -> Envelope:
    dec = decoders.get(head.kind)
    if dec is None:
        raise UnknownKind(head.kind)
    try:
        body = dec.decode(head.body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _wire_error(exc, ".body") from None
    return Envelope(
        v=head.v,
        kind=head.kind,
        partner=head.partner,
        source=head.source,
        seq=head.seq,
        sent=head.sent,
        body=body,
        sig=head.sig,
    )


def decode_json(data: bytes | str) -> Envelope:
    """Decode one JSON message. Raises WireError (or UnknownKind)."""
    try:
        head = _json_head.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _wire_error(exc, "") from None
    return _finish(head, _json_body)


def decode_msgpack(data: bytes) -> Envelope:
    """Decode one MessagePack message. Raises WireError (or UnknownKind)."""
    try:
        head = _mp_head.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _wire_error(exc, "") from None
    return _finish(head, _mp_body)


def encode_json(env: Envelope) -> bytes:
    """Encode one message as compact JSON (no trailing newline)."""
    return _json_enc.encode(env)


def encode_msgpack(env: Envelope) -> bytes:
    """Encode one message as MessagePack."""
    return _mp_enc.encode(env)


def signing_bytes(env: Envelope) -> bytes:
    """The bytes a legacy ``v: 1`` signature covers: msgspec's JSON encoding of
    the envelope without ``sig`` (v2 signatures cover RFC 8785 bytes instead:
    :func:`tocsin.exchange.signing.signed_bytes`)."""
    if env.sig is not None:
        env = msgspec.structs.replace(env, sig=None)
    return _json_enc.encode(env)
