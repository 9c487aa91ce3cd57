"""RFC 8785 canonical JSON: the fast path against the RFC's examples, the
reference implementation (PyPI ``rfc8785``) and Node's own number printing."""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.wire import MAX_DEPTH
from tocsin.wire.jcs import MAX_SAFE_INT, CanonicalError, canonical_json, canonicalize, es_number, reference

# RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text
RFC_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _f(bits: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(bits))[0])


@pytest.mark.parametrize(("bits", "text"), RFC_NUMBERS)
def test_rfc_8785_number_examples(bits: str, text: str) -> None:
    x = _f(bits)
    assert es_number(x) == text
    assert canonicalize([x]) == f"[{text}]".encode()


def test_rfc_8785_section_3_2_2_example() -> None:
    src = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    want = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(src) == want.encode()


def test_rfc_8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    # U+1F600 (a surrogate pair, D83D DE00) sorts before U+FB33 in UTF-16 order,
    # after it in code point order: the fast path hands this to the reference
    obj = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    got = canonicalize(obj).decode()
    keys = list(json.loads(got))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_integral_floats_print_as_integers_and_minus_zero_as_zero() -> None:
    assert canonicalize({"sent": 1_789_430_400.0, "z": -0.0, "a": 270.0}) == (
        b'{"a":270,"sent":1789430400,"z":0}'
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, MAX_SAFE_INT + 1, -(2**60), {1: 2}, b"x"])
def test_values_without_a_canonical_form_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonicalize({"x": bad})


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(CanonicalError):
        canonicalize({"x": "\ud800"})


def _deep_text(depth: int) -> bytes:
    """An object holding arrays: ``depth`` containers deep in all."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def _deep_value(depth: int, top: object = "a") -> dict[object, object]:
    v: list[object] = []
    inner = v
    for _ in range(depth - 2):
        nxt: list[object] = []
        inner.append(nxt)
        inner = nxt
    return {top: v}


def _nested_calls(n: int, f: Callable[[], object]) -> object:
    return f() if n == 0 else _nested_calls(n - 1, f)


def test_nesting_is_limited_as_the_decoders_limit_it_whoever_calls() -> None:
    """32 deep has a form, 33 is refused, and so is 5,000 (msgspec's own
    RecursionError before) and 100,000: a CanonicalError, never a RecursionError,
    and the same answer with most of the stack used by the caller (before, a
    text some hundreds deep passed or raised depending on the caller's stack)."""
    assert canonical_json(_deep_text(MAX_DEPTH)) == _deep_text(MAX_DEPTH)
    assert canonicalize(_deep_value(MAX_DEPTH)) == _deep_text(MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 500, 5_000, 100_000):
        with pytest.raises(CanonicalError, match="nest deeper than 32"):
            canonical_json(_deep_text(depth))
        with pytest.raises(CanonicalError, match="nest deeper than 32"):
            _nested_calls(sys.getrecursionlimit() - 150, functools.partial(canonical_json, _deep_text(depth)))
    for depth in (MAX_DEPTH + 1, 5_000):
        with pytest.raises(CanonicalError, match="nest deeper than 32"):
            canonicalize(_deep_value(depth))
        # a name outside the BMP sends the value to the reference implementation
        with pytest.raises(CanonicalError, match="nest deeper than 32"):
            canonicalize(_deep_value(depth, top="\U0001f600"))
    assert canonicalize(_deep_value(MAX_DEPTH, top="\U0001f600")) == reference(
        _deep_value(MAX_DEPTH, top="\U0001f600")
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_equals_the_reference_implementation(value: object) -> None:
    assert canonicalize(value) == reference(value)


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_prints_as_the_reference_prints_it(x: float) -> None:
    assert canonicalize([x]) == reference([x])


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_value_given_is_left_as_it_was(value: object) -> None:
    """Precheck hands the value it parsed to the canonical form and keeps
    using it: the form leaves it as it was (containers that need a change
    are copied, never changed in place; 2026-12-07: those that need none are
    passed on as they are, issue 17 (b))."""
    before = copy.deepcopy(value)
    canonicalize(value)
    assert value == before
    assert repr(value) == repr(before)


def test_a_bundle_whose_members_need_nothing_but_one_float_deep_down() -> None:
    """A signed bundle's shape: a thousand members whose strings and floats
    msgspec already writes as JCS, and in one member's body an integral
    time and a float in [1e-6, 1e-5): those two are rewritten, in that
    member only, and the bytes are the reference's."""
    members: list[dict[str, object]] = [
        {"v": 2, "kind": "plot", "partner": "JP", "source": f"JP-B{k % 20}", "seq": k + 1,
         "sent": 1789430401.025, "body": {"sensor": f"JP-B{k % 20}", "t": 1789430401.025 + k * 1e-4,
                                          "range_m": 123456.75 + k, "az_deg": 123.456, "el_deg": 2.345}}
        for k in range(1000)
    ]  # fmt: skip
    body = members[517]["body"]
    assert isinstance(body, dict)
    body["t"], body["el_deg"] = 1789430402.0, 5e-6
    value = {"v": 2, "kind": "bundle", "partner": "JP", "source": "JP-B3", "seq": 9, "sent": 1789430402.0,
             "body": {"messages": members}}  # fmt: skip
    got = canonicalize(value)
    assert got == reference(value)
    assert b'"el_deg":0.000005,"range_m":123973.75,"sensor":"JP-B17","t":1789430402}' in got
    assert got.count(b'"t":1789430402}') == 1


# ---------------------------------------------------------------- Node

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js not installed (Debian package `nodejs`)")


def _random_doubles(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out: list[float] = []
    while len(out) < n:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            out.append(x)
        out.append(rng.uniform(-1, 1) * 10 ** rng.randint(-8, 22))
        out.append(round(rng.uniform(-1e7, 1e7), rng.randint(0, 6)))
    return out


@needs_node
def test_numbers_print_as_node_prints_them() -> None:
    """Node's JSON.stringify is ECMAScript's Number::toString: the independent
    reference for the number format. Bit patterns travel as hex, so nothing is
    parsed twice."""
    xs = _random_doubles(3000, seed=8785)
    hexes = [struct.pack(">d", x).hex() for x in xs]
    script = (
        "const hs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const out = hs.map(h => JSON.stringify(Buffer.from(h, 'hex').readDoubleBE(0)));"
        "process.stdout.write(JSON.stringify(out));"
    )
    assert NODE is not None
    res = subprocess.run(
        [NODE, "-e", script], input=json.dumps(hexes), capture_output=True, text=True, check=True, timeout=60
    )
    node = json.loads(res.stdout)
    mismatches = [(x, n, es_number(x)) for x, n in zip(xs, node, strict=True) if es_number(x) != n]
    assert mismatches == []
