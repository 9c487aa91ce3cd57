"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes a v2 signature covers.

JCS serialises a JSON value with no whitespace, object members sorted by the
UTF-16 code units of their names, strings with only the mandatory escapes
(``"``, ``\\``, and control characters: ``\\b \\t \\n \\f \\r`` or lowercase
``\\u00xx``), and every number as ECMAScript's ``Number.prototype.toString``
prints the IEEE-754 double (``1789430400``, not ``1789430400.0``; ``1e+21``;
``0.000001``; ``-0`` as ``0``). A partner in any language (Node's
``JSON.stringify`` of a parsed value with sorted keys is JCS) produces the
same bytes, so an Ed25519 signature over them verifies here.

:func:`canonicalize` is a fast path over :mod:`msgspec` (sorted keys, the same
string escapes) that rewrites the only floats whose msgspec spelling differs
from ECMAScript's: integral values, values of 2**53 and above, and 1e-6 <=
|x| < 1e-5. Values it cannot handle exactly (member names outside the Basic
Multilingual Plane, where UTF-16 order differs from code point order) go to
the maintained reference implementation, PyPI ``rfc8785`` (Trail of Bits).
``tests/wire/test_jcs.py`` checks the fast path against that library with
property tests, against the RFC's own examples and against Node.

Nesting is limited as the decoders limit it (:data:`~tocsin.wire.codec.MAX_DEPTH`
arrays/objects): deeper values are refused with :class:`CanonicalError`, here,
whoever calls (a text ~1,000 deep made msgspec raise ``RecursionError``, and
where between 33 and ~1,000 that happened depended on the caller's own stack:
two verifiers could have disagreed on one message).

Integers outside ±(2**53 - 1) cannot be represented exactly by a JSON peer
that uses doubles; like ``rfc8785`` we refuse them (:class:`CanonicalError`)
rather than sign a value a partner would read differently. NaN and infinities
are not JSON and are refused too.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import rfc8785

from tocsin.wire.codec import MAX_DEPTH
from tocsin.wire.names import find_repeated, has_repeated

#: the largest integer every JSON peer reads exactly (an IEEE-754 double's 53 bits)
MAX_SAFE_INT = 2**53 - 1

_enc = msgspec.json.Encoder(order="sorted")
_dec = msgspec.json.Decoder()


class CanonicalError(ValueError):
    """The value has no RFC 8785 form (a non-finite number, an integer beyond
    ±(2**53 - 1), a lone surrogate, a non-string object key), or is over a
    limit (nesting deeper than :data:`~tocsin.wire.codec.MAX_DEPTH`)."""


class _NeedsReference(Exception):
    """Internal: hand the whole value to the reference implementation."""


def es_number(x: float) -> str:
    """``x`` as ECMAScript's Number::toString prints it (ECMA-262 §6.1.6.1.20),
    from the shortest round-trip digits (Python's ``repr`` gives the same digits)."""
    if not math.isfinite(x):
        raise CanonicalError(f"{x!r} is not a JSON number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))
    mant, _, exp_s = r.partition("e")
    exp = int(exp_s) if exp_s else 0
    int_part, _, frac = mant.partition(".")
    digits = int_part + frac
    stripped = len(digits) - len(digits.lstrip("0"))
    digits = digits.strip("0")
    k = len(digits)
    # x = 0.d1d2...dk * 10**n
    n = len(int_part) + exp - stripped
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        out = f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def _fix(v: Any, depth: int = 1) -> Any:
    """``v``, or a copy of it, in which msgspec's sorted encoding is exactly JCS
    (``depth``: the containers ``v`` would be inside of, itself included).

    An object or array none of whose members needs a change is returned as
    it is, not copied, and its strings and its floats that msgspec already
    spells as ECMAScript does are passed over without a call: a signed
    bundle's members are almost all such (issue 17 (b): the walk was ~4 of
    the server's ~30 CPU us a plot; 3.6-3.7 -> 2.5-2.6 us a plot on the
    20,000 plots/s picture, 2026-12-07, load ~9). The same checks in the
    same order as a copy of every container: the same bytes, the same errors."""
    t = type(v)
    if t is dict:
        if depth > MAX_DEPTH:
            raise _too_deep()
        out: dict[str, Any] | None = None
        for k, x in v.items():
            if type(k) is not str:
                raise CanonicalError("object keys must be strings")
            if not k.isascii() and any(ord(c) > 0xFFFF for c in k):
                raise _NeedsReference
            tx = type(x)
            if tx is str or (
                tx is float and not x.is_integer() and math.isfinite(x) and not 1e-6 <= abs(x) < 1e-5
            ):
                continue  # (as msgspec writes it: _fix would return it as it is)
            y = _fix(x, depth + 1)
            if y is not x:
                if out is None:
                    out = dict(v)
                out[k] = y
        return v if out is None else out
    if t is list or t is tuple:
        if depth > MAX_DEPTH:
            raise _too_deep()
        items: list[Any] | None = None if t is list else list(v)
        for i, x in enumerate(v):
            tx = type(x)
            if tx is str or (
                tx is float and not x.is_integer() and math.isfinite(x) and not 1e-6 <= abs(x) < 1e-5
            ):
                continue
            y = _fix(x, depth + 1)
            if y is not x:
                if items is None:
                    items = list(v)
                items[i] = y
        return v if items is None else items
    if t is str or v is None or t is bool:
        return v
    if t is float:
        if v.is_integer():
            if -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
                return int(v)  # also -0.0 -> 0
            return msgspec.Raw(es_number(v).encode())
        if not math.isfinite(v):
            raise CanonicalError(f"{v!r} is not a JSON number")
        a = abs(v)
        if 1e-6 <= a < 1e-5:
            return msgspec.Raw(es_number(v).encode())
        return v
    if t is int:
        if not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            raise CanonicalError(f"integer {v} is outside ±(2**53 - 1): not exact in every JSON peer")
        return v
    raise CanonicalError(f"{t.__name__} is not a JSON value")


def _too_deep() -> CanonicalError:
    return CanonicalError(f"arrays/objects nest deeper than {MAX_DEPTH} levels (the decoders' limit)")


def _check_depth(value: Any) -> None:
    """:class:`CanonicalError` when ``value`` nests containers deeper than
    :data:`~tocsin.wire.codec.MAX_DEPTH` (an explicit stack: no recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        t = type(v)
        if t is dict or t is list or t is tuple:
            if d > MAX_DEPTH:
                raise _too_deep()
            stack.extend((x, d + 1) for x in (v.values() if t is dict else v))


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value given as Python builtins (dict, list,
    str, int, float, bool, None). Raises :class:`CanonicalError`."""
    try:
        fixed = _fix(value)
    except _NeedsReference:
        _check_depth(value)  # (_fix stopped at the name: the reference recurses)
        return _reference(value)
    try:
        return _enc.encode(fixed)
    except (UnicodeEncodeError, msgspec.EncodeError) as exc:  # lone surrogates
        raise CanonicalError(f"not canonicalizable: {exc}") from None


def _reference(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError) as exc:
        raise CanonicalError(f"not canonicalizable: {exc}") from None


def reference(value: Any) -> bytes:
    """The reference implementation's bytes (PyPI ``rfc8785``), for tests and audits."""
    return _reference(value)


def canonical_json(data: bytes | str, *, drop: tuple[str, ...] = (), value: Any = None) -> bytes:
    """Parse one JSON object and return its RFC 8785 bytes without the top-level
    members named in ``drop`` (``("sig",)`` for the bytes a signature covers).
    An object that repeats a member name has no RFC 8785 form (RFC 8785 §3.1
    takes I-JSON input): :class:`CanonicalError`. ``value``: what
    :func:`tocsin.wire.codec.decode_json_parsed` parsed from these same bytes
    (names checked there), so they are not parsed again."""
    if value is None:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        try:
            value = _dec.decode(raw)
            repeated = has_repeated(raw, value)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise CanonicalError(f"not JSON: {exc}") from None
        except RecursionError:  # (msgspec counts its depth against Python's recursion limit)
            raise _too_deep() from None
        if repeated:
            try:
                at = find_repeated(raw) or ("$", "?")
            except (ValueError, RecursionError):  # (json cannot read what msgspec did: refused the same)
                at = ("$", "?")
            raise CanonicalError(f"member name {at[1]!r} repeated in the object at {at[0]} (not I-JSON)")
    if type(value) is not dict:
        raise CanonicalError("not a JSON object")
    obj = {k: v for k, v in value.items() if k not in drop} if drop else value
    return canonicalize(obj)


__all__ = ["MAX_SAFE_INT", "CanonicalError", "canonical_json", "canonicalize", "es_number", "reference"]
