"""Repeated member names in JSON objects: found cheaply, and refused.

RFC 8259 §4: the names within an object SHOULD be unique; when they are not,
"the behavior of software that receives such an object is unpredictable": some
readers keep the last value (msgspec, Python's :mod:`json`, JavaScript), some
the first, some fail. I-JSON (RFC 7493 §2.3) forbids them, and RFC 8785, the
form a v2 signature covers, is defined on I-JSON. A message with a repeated
name is two messages to two readers under one signature, so every JSON decoder
on an input path refuses it (docs/security.md, row 10.3).

msgspec does not report them (it keeps the last), and a Python hook per object
costs more than the decode itself. The check here adds one C encode of the
value msgspec parsed, and ``bytes`` methods, no Python per member:

* in well-formed JSON every ``:`` outside a string separates one member's name
  from its value: the colons outside strings count the members *written*;
* msgspec's encoding of the parsed value has one ``:`` per member *kept*;
* the two differ exactly when an object repeats a name (the earlier member is
  dropped, its colon with it). Each object keeps at most as many members as it
  was written with, so the totals are equal only if every object is.

A text with no ``\\u`` escape writes every ``:`` inside a string as itself, as
the encoding does (no encoder escapes it), so then the two texts' plain colon
counts are equal exactly when there is no repeat: two ``bytes.count`` decide
almost every message. Otherwise the strings are taken out of both texts first
(:func:`member_count`). Only when a repeat is certain does Python's :mod:`json`
parse the text again, to say where (:func:`find_repeated`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

_enc = msgspec.json.Encoder()
_QUOTED = re.compile(rb'"[^"]*"')
_NOT_QUOTE_OR_COLON = bytes(b for b in range(256) if b not in b'":')
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def member_count(data: bytes) -> int:
    """The colons outside strings of a well-formed JSON text: how many object
    members it writes. Strings are taken out as :func:`tocsin.wire.codec.json_depth`
    takes them: escaped backslashes and escaped quotes first (in pairs from the
    left, as a JSON reader takes them), then every byte but quotes and colons,
    then the strings (empty ones by ``bytes.replace``, else a regular expression)."""
    s = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_QUOTE_OR_COLON)
    t = s.replace(b'""', b"")
    if b'"' in t:  # a string with a colon in it: take the strings out one by one
        t = _QUOTED.sub(b"", s)
    return t.count(b":")


def has_repeated(raw: bytes, value: Any) -> bool:
    """True when some object of the JSON text ``raw`` repeats a member name;
    ``value`` is what msgspec (or any reader that keeps one member per name)
    parsed from ``raw``. Exact for well-formed JSON (module doc)."""
    enc = _enc.encode(value)
    if b"\\u" not in raw and raw.count(b":") == enc.count(b":"):
        return False
    return member_count(raw) != member_count(enc)


class _Repeated:
    """An object whose name ``name`` came twice (what :func:`_pairs` returns)."""

    __slots__ = ("members", "name")

    def __init__(self, name: str, members: list[tuple[str, Any]]) -> None:
        self.name = name
        self.members = members


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Repeated:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            return _Repeated(k, pairs)
        seen.add(k)
    raise AssertionError("unreachable")  # pragma: no cover


def member_path(where: str, name: str) -> str:
    """``$.a`` or ``$["a b"]``: a member's JSON path from its object's."""
    return f"{where}.{name}" if _PLAIN_NAME.match(name) else f"{where}[{json.dumps(name)}]"


def _first_repeated(value: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, _Repeated):
            return path, v.name
        if isinstance(v, dict):
            stack.extend((x, member_path(path, k)) for k, x in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((x, f"{path}[{i}]") for i, x in reversed(list(enumerate(v))))
    return None


def find_repeated(text: bytes | str) -> tuple[str, str] | None:
    """``(object's JSON path, name)`` of the first object (in document order,
    outer first) that repeats a member name, or None. Slow (a Python hook per
    object): for the error message, and for small files. Raises ``ValueError``
    when ``text`` is not JSON."""
    return _first_repeated(json.loads(text, object_pairs_hook=_pairs))


def loads_unique(text: bytes | str) -> Any:
    """``json.loads`` refusing (``ValueError``, naming where) an object that
    repeats a member name. For files and small bodies (a Python hook per object)."""
    found: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> Any:
        out = _pairs(pairs)
        if isinstance(out, _Repeated):
            found.append(True)
        return out

    value = json.loads(text, object_pairs_hook=hook)
    if found:
        at = _first_repeated(value)
        assert at is not None
        raise ValueError(f"member name {at[1]!r} repeated in the object at {at[0]} (I-JSON, RFC 7493 §2.3)")
    return value


__all__ = ["find_repeated", "has_repeated", "loads_unique", "member_count", "member_path"]
