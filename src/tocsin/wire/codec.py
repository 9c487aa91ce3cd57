"""JSON and MessagePack codecs for the exchange format.

Decoding is two-step: the envelope first, with the body kept raw, then the body
with the Struct its ``kind`` names. Errors become :class:`~tocsin.errors.WireError`
with ``field`` set to a JSON path such as ``$.body.range_m``; an unknown kind
raises :class:`UnknownKind` so a stream can skip and count it.

Limits (every path that decodes a message comes through here: HTTP, the tail
file, the Unix socket, NATS, message files given to the CLI, the journal): a
message over :data:`MAX_MESSAGE_BYTES` or nesting arrays/objects deeper than
:data:`MAX_DEPTH` is refused with :class:`LimitExceeded` (a WireError, field
``$``) before the decoder sees it. The format's own messages nest at most four
deep (envelope, body, impact, ellipse), a bundle eight. The depth is measured
exactly (strings stripped, then innermost bracket pairs removed once per level,
in C); a cheap count of opening brackets skips that for almost every message.
The decoder itself is recursive (msgspec counts its depth against Python's
recursion limit): without the limit, ~1,000 nested objects raised
``RecursionError`` out of every path, a crash before any signature check.

An object that repeats a member name is refused too (:class:`DuplicateName`,
field = the repeated member's path): I-JSON (RFC 7493 §2.3) forbids it, and two
readers would read two messages from it (:mod:`tocsin.wire.names`). A MessagePack
map that repeats a key likewise (:func:`msgpack_has_repeated`). A bundle is
checked whole, members included, so its members are not checked again; bytes
this node wrote itself (its journal, its stage process's hand-over) are decoded
with ``checked=True``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from tocsin.errors import WireError
from tocsin.wire.messages import BODY_TYPES, MAX_SEQ, Envelope, Ident, PartnerCode, Time
from tocsin.wire.names import find_repeated, has_repeated, member_path


class UnknownKind(WireError):
    """A well-formed envelope whose ``kind`` this version does not know."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"unknown kind {kind!r}", field="$.kind")


#: the largest message any decoder accepts (bytes; a bundle of 4,096 plots fits)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: the deepest nesting of arrays and objects (maps) any decoder accepts
MAX_DEPTH = 32


class DuplicateName(WireError):
    """An object of the message repeats a member name (``field``: the repeated
    member's JSON path, e.g. ``$.body.messages[3].seq``)."""

    def __init__(self, where: str, name: str) -> None:
        self.name = name
        super().__init__(
            f"member name {name!r} repeated in the object at {where} (I-JSON, RFC 7493 §2.3: "
            "readers differ on which one counts)",
            field=member_path(where, name),
        )


class LimitExceeded(WireError):
    """A message over :data:`MAX_MESSAGE_BYTES` (``what="size"``) or nested
    deeper than :data:`MAX_DEPTH` (``what="depth"``)."""

    def __init__(self, what: str, message: str) -> None:
        self.what = what
        super().__init__(message, field="$")


_QUOTED = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")


def json_depth(data: bytes, limit: int = MAX_DEPTH) -> int | None:
    """None when the JSON text nests arrays/objects at most ``limit`` deep (or
    is malformed in a way the decoder refuses before going deeper), else a
    depth over the limit. Exact for well-formed JSON.

    Strings are taken out before brackets are counted: first the escaped
    backslashes and the escaped quotes (in pairs from the left, as a JSON
    reader takes them), then every byte but quotes and brackets, then what
    lies between two quotes, all with bytes methods (a 1,000-plot bundle:
    ~0.2 instead of ~2.3 us a plot with one regular expression over it)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return None
    s = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    # strings with no bracket in them are now '""': when taking those pairs
    # out leaves no quote, every string was one of them (pairs from the left
    # are the strings); else the regular expression takes the strings out
    t = s.replace(b'""', b"")
    s = (t if b'"' not in t else _QUOTED.sub(b"", s)).translate(_SQUARE)
    passes = 0
    while s:
        t = s.replace(b"[]", b"")
        if t == s:
            # no pair left: malformed (the remainder reads "]]..[[.."); the
            # decoder fails on it, but only after descending into the openers
            d = passes + s.count(b"[")
            return d if d > limit else None
        passes += 1
        if passes > limit:
            return passes
        s = t
    return None


_MP_NOT_CONTAINER = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))
#: bytes after the type byte of fixed-size MessagePack types
_MP_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
_MP_FIXED.update({0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17})
#: str/bin/ext with a length: (bytes of the length, extra bytes before the data)
_MP_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}
_MP_SIZED.update({0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)})
#: array/map with a length: (bytes of the length, items per count)
_MP_COLL = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}


def msgpack_depth(data: bytes, limit: int = MAX_DEPTH) -> int | None:
    """:func:`json_depth` for MessagePack: walks the item headers (skipping
    payloads) with an explicit stack; bytes that could be container headers are
    counted first, so most messages skip the walk."""
    if len(data.translate(None, _MP_NOT_CONTAINER)) <= limit:
        return None
    return _mp_walk(data, limit)[0]


def _mp_walk(data: bytes, limit: int) -> tuple[int | None, int]:
    """``(a depth over limit or None, map entries written)``: the walk of
    :func:`msgpack_depth`, counting the maps' key-value pairs as it goes
    (:func:`msgpack_has_repeated`). The count is exact for a well-formed item;
    on malformed bytes the walk stops (the decoder refuses them)."""
    n, i, entries = len(data), 0, 0
    left = [1]  # items still to read in each open container (the top: one value)
    while left and i < n:
        b = data[i]
        i += 1
        left[-1] -= 1
        count = -1
        if b <= 0x7F or b >= 0xE0:  # fixint
            pass
        elif b <= 0x8F:  # fixmap
            count = 2 * (b & 0x0F)
            entries += b & 0x0F
        elif b <= 0x9F:  # fixarray
            count = b & 0x0F
        elif b <= 0xBF:  # fixstr
            i += b & 0x1F
        elif b in _MP_FIXED:
            i += _MP_FIXED[b]
        elif b in _MP_SIZED:
            w, extra = _MP_SIZED[b]
            i += w + extra + int.from_bytes(data[i : i + w], "big")
        elif b in _MP_COLL:
            w, per = _MP_COLL[b]
            count = int.from_bytes(data[i : i + w], "big")
            if per == 2:
                entries += count
            count *= per
            i += w
        else:  # 0xC1 is never used: the decoder refuses it
            return None, entries
        if count >= 0:
            if len(left) > limit:
                return len(left), entries
            if count > 0:
                left.append(count)
        while left and left[-1] == 0:
            left.pop()
    return None, entries


def _mp_item(data: bytes, i: int) -> tuple[int, int, int]:
    """The MessagePack item header at ``i``: ``(where its contents begin (a
    scalar: where the next item begins), items in it (-1: a scalar), 1 for a
    map else 0)``. Raises ``IndexError``/``ValueError`` past the end or on 0xC1."""
    b = data[i]
    i += 1
    if b <= 0x7F or b >= 0xE0:  # fixint
        return i, -1, 0
    if b <= 0x8F:  # fixmap
        return i, 2 * (b & 0x0F), 1
    if b <= 0x9F:  # fixarray
        return i, b & 0x0F, 0
    if b <= 0xBF:  # fixstr
        return i + (b & 0x1F), -1, 0
    if b in _MP_FIXED:
        return i + _MP_FIXED[b], -1, 0
    if b in _MP_SIZED:
        w, extra = _MP_SIZED[b]
        return i + w + extra + int.from_bytes(data[i : i + w], "big"), -1, 0
    if b in _MP_COLL:
        w, per = _MP_COLL[b]
        return i + w, per * int.from_bytes(data[i : i + w], "big"), int(per == 2)
    raise ValueError("0xC1 is never used")


def msgpack_members(data: bytes) -> int:
    """How many map entries (key-value pairs) the MessagePack item ``data``
    writes, from the maps' headers (payloads skipped; a Python step an item)."""
    return _mp_walk(data, len(data) + 1)[1]


def _kept_members(value: Any) -> int:
    """Map entries in a value msgspec decoded (dicts; a map key is never a map)."""
    total, stack = 0, [value]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            total += len(v)
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
    return total


def msgpack_has_repeated(raw: bytes, value: Any, written: int | None = None) -> bool:
    """True when some map of the MessagePack item ``raw`` repeats a key (keys
    equal as Python compares them: ``1``, ``1.0`` and ``true`` are one key, as
    in the dict a decoder builds); ``value``: what msgspec decoded from
    ``raw`` (it keeps one entry per key). The entries ``raw``'s map headers
    write (``written``: counted already by the limits' walk) are compared with
    those ``value`` kept: they differ exactly when a key repeated. Without
    ``written``, when encoding ``value`` gives ``raw`` back (a shortest-form
    encoder wrote it), no entry was dropped: one C encode and a compare."""
    if written is None:
        try:
            if _mp_enc.encode(value) == raw:
                return False
        except (msgspec.EncodeError, TypeError, ValueError, OverflowError):
            pass
        written = msgpack_members(raw)
    return written != _kept_members(value)


def _mp_key(v: Any) -> Any:
    return tuple(_mp_key(x) for x in v) if type(v) is list else v


def find_repeated_msgpack(data: bytes) -> tuple[str, str] | None:
    """``(map's path, key)`` of the first repeated key of the MessagePack item
    ``data`` (in document order), or None. For the error message only: a
    Python step an item and a decode a key (``data`` within the decoder limits)."""

    def walk(i: int, path: str) -> tuple[int, tuple[str, str] | None]:
        i, count, is_map = _mp_item(data, i)
        if count <= 0:
            return i, None
        if not is_map:
            for j in range(count):
                i, found = walk(i, f"{path}[{j}]")
                if found is not None:
                    return i, found
            return i, None
        seen: set[Any] = set()
        for _ in range(count // 2):
            k0 = i
            i, _ = walk(i, path)  # (a key holds no map)
            key = _mp_key(msgspec.msgpack.decode(data[k0:i]))
            name = key if type(key) is str else repr(key)
            if key in seen:
                return i, (path, name)
            seen.add(key)
            i, found = walk(i, member_path(path, key) if type(key) is str else f"{path}[{name}]")
            if found is not None:
                return i, found
        return i, None

    try:
        return walk(0, "$")[1]
    except (IndexError, ValueError, TypeError, msgspec.DecodeError, RecursionError):
        return None


def check_limits(data: bytes, fmt: str = "json") -> None:
    """Raise :class:`LimitExceeded` when ``data`` is over a decoder limit."""
    if fmt == "json":
        _check_size(data)
        if json_depth(data) is not None:
            raise _too_deep()
    else:
        _check_msgpack_limits(data)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_MESSAGE_BYTES:
        raise LimitExceeded("size", f"message of {len(data)} bytes is over the limit of {MAX_MESSAGE_BYTES}")


def _too_deep() -> LimitExceeded:
    return LimitExceeded("depth", f"arrays/objects nest deeper than {MAX_DEPTH} levels")


def _check_msgpack_limits(data: bytes) -> int | None:
    """:func:`check_limits` for MessagePack; returns the map entries written
    when the depth had to be walked (else None: the walk was skipped)."""
    _check_size(data)
    if len(data.translate(None, _MP_NOT_CONTAINER)) <= MAX_DEPTH:
        return None
    d, written = _mp_walk(data, MAX_DEPTH)
    if d is not None:
        raise _too_deep()
    return written


class _Head(Struct, frozen=True):
    v: Literal[1, 2]
    kind: Annotated[str, Meta(min_length=1, max_length=32)]
    partner: PartnerCode
    source: Ident
    seq: Annotated[int, Meta(ge=0, le=MAX_SEQ)]
    sent: Time
    body: msgspec.Raw
    sig: str | None = None


_json_head = msgspec.json.Decoder(_Head)
_mp_head = msgspec.msgpack.Decoder(_Head)
_json_body = {k: msgspec.json.Decoder(t) for k, t in BODY_TYPES.items()}
_mp_body = {k: msgspec.msgpack.Decoder(t) for k, t in BODY_TYPES.items()}
_json_enc = msgspec.json.Encoder()
_json_any = msgspec.json.Decoder()
_mp_enc = msgspec.msgpack.Encoder()
_mp_any = msgspec.msgpack.Decoder()

_AT = re.compile(r"\s*-\s*at `\$([^`]*)`")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")


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
    missing = _MISSING.fullmatch(text)
    if missing is not None:  # name the missing field itself, not its object
        field = f"{field or prefix}.{missing.group(1)}"
    if not isinstance(exc, msgspec.ValidationError):  # (a DecodeError subclass)
        # not JSON (or MessagePack) at all: no field to name ("json" in counts)
        if text == "Input data was truncated":
            text = "JSON is malformed: the line ends before the message does"
        return WireError(text, field=f"${field}" if field else None)
    if field is None:
        field = prefix
    # valid JSON that does not fit the schema names a field ("$" = the message)
    return WireError(text, field=f"${field}")


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


def decode_json(data: bytes | str, *, checked: bool = False) -> Envelope:
    """Decode one JSON message. Raises WireError (UnknownKind, LimitExceeded,
    DuplicateName). ``checked``: ``data`` is part of a message that passed
    :func:`check_limits` and the names check (a bundle's member: no larger and
    no deeper than the bundle, checked with it), or bytes this node wrote
    itself (its journal, its stage process's hand-over): neither is measured
    again."""
    return _decode_json(data, checked)[0]


def decode_json_parsed(data: bytes) -> tuple[Envelope, Any]:
    """:func:`decode_json` of a message from outside, with the JSON value its
    names check parsed (a v2 signature's canonical form is made from that
    value: :func:`tocsin.wire.jcs.canonical_json`, so the text is parsed once)."""
    return _decode_json(data, False)


def _decode_json(data: bytes | str, checked: bool) -> tuple[Envelope, Any]:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not checked:
        check_limits(raw, "json")
    value = None
    unread: msgspec.DecodeError | None = None
    try:
        if not checked:
            # a repeated name first: the last one, which the decoder keeps,
            # may not fit the schema, and the repeat is what is wrong
            try:
                value = _json_any.decode(raw)
            except msgspec.DecodeError as exc:
                unread = exc  # (the typed decode below says where, if it can)
            else:
                if has_repeated(raw, value):
                    raise _duplicate(raw)
        head = _json_head.decode(raw)
        env = _finish(head, _json_body)
        if unread is not None:
            # what the typed decoder skipped unread (an unknown member's 1e400)
            # cannot be checked for repeated names: refused, never passed unchecked
            text = _AT.sub("", str(unread)).strip()
            raise WireError(f"{text} (in a member this version does not read)", field="$")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _wire_error(exc, "") from None
    except RecursionError:  # cannot happen under MAX_DEPTH; never a crash if it does
        raise LimitExceeded("depth", "arrays/objects nest too deep for the decoder") from None
    return env, value


def _duplicate(raw: bytes) -> DuplicateName:
    try:
        at = find_repeated(raw)
    except (ValueError, RecursionError):  # (msgspec read it, json cannot: refused all the same)
        at = None
    return DuplicateName(*(at or ("$", "?")))


def decode_msgpack(data: bytes, *, checked: bool = False) -> Envelope:
    """Decode one MessagePack message. Raises WireError (UnknownKind,
    LimitExceeded, DuplicateName: a map that repeats a key, as for JSON).
    ``checked``: as for :func:`decode_json`."""
    return _decode_msgpack(data, checked)[0]


def decode_msgpack_parsed(data: bytes) -> tuple[Envelope, Any]:
    """:func:`decode_msgpack` of a message from outside, with the value its
    repeated-key check decoded (a v2 signature's canonical form is made from
    it: :func:`tocsin.exchange.signing.signed_bytes`, not decoded again)."""
    return _decode_msgpack(data, False)


def _decode_msgpack(data: bytes, checked: bool) -> tuple[Envelope, Any]:
    written = None if checked else _check_msgpack_limits(data)
    value = None
    unread: msgspec.DecodeError | None = None
    try:
        if not checked:
            try:
                value = _mp_any.decode(data)
            except msgspec.DecodeError as exc:
                unread = exc
        env: Envelope | None = None
        failed: Exception | None = None
        try:
            env = _finish(_mp_head.decode(data), _mp_body)
        except (msgspec.ValidationError, msgspec.DecodeError, UnknownKind) as exc:
            failed = exc
        # a repeated key before anything else (as for JSON): the last one, which
        # the decoder keeps, may not fit the schema, and the repeat is what is wrong
        if value is not None and _repeats(data, value, env, written):
            raise DuplicateName(*(find_repeated_msgpack(data) or ("$", "?")))
        if failed is not None:
            raise failed
        assert env is not None
        if unread is not None:
            # what the typed decoder skipped unread (a map keyed by a map, in a
            # member this version does not know) cannot be checked: refused
            text = _AT.sub("", str(unread)).strip()
            raise WireError(f"{text} (in a member this version does not read)", field="$")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _wire_error(exc, "") from None
    except RecursionError:
        raise LimitExceeded("depth", "arrays/objects nest too deep for the decoder") from None
    return env, value


def _repeats(data: bytes, value: Any, env: Envelope | None, written: int | None) -> bool:
    """:func:`msgpack_has_repeated` of a message, first asking whether ``data``
    is exactly this node's encoding of the envelope it decoded to (tocsin's
    senders: a Struct's map header is written long, so the generic encoding
    differs): an encoding never repeats a key, so then nothing repeated. Not
    for a bundle: its members are written back as they came (``Raw``)."""
    if written is None and env is not None and env.kind != "bundle" and _mp_enc.encode(env) == data:
        return False
    return msgpack_has_repeated(data, value, written)


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
