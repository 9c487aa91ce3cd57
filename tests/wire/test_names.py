"""Repeated member names (I-JSON, RFC 7493 §2.3): the cheap count of
:mod:`tocsin.wire.names` against Python's json with a hook per object, on JSON
texts written every way JSON allows (escapes, ``\\u`` escapes of ``:`` and of
letters, colons and quotes inside strings, whitespace)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.wire.names import find_repeated, has_repeated, loads_unique, member_count

# a text is written from a tree in which an object is a list of (name, value)
# pairs: the same name may come twice
_names = st.text(alphabet='ab:"\\/é\n', min_size=0, max_size=4)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    _names,
)
_trees = st.recursive(
    _scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.lists(st.tuples(_names, kids), max_size=4).map(lambda p: ("obj", p)),
    ),
    max_leaves=16,
)


def _string(s: str, escape: int) -> str:
    """``s`` as a JSON string: 0 plainly, 1 every character escaped as \\uXXXX,
    2 only the colons escaped, 3 ASCII-only (json.dumps' default)."""
    if escape == 1:
        return '"' + "".join(f"\\u{ord(c):04x}" for c in s) + '"'
    out = json.dumps(s, ensure_ascii=escape == 3)
    return out.replace(":", "\\u003a") if escape == 2 else out


def _write(tree: Any, escape: int, space: str) -> str:
    if isinstance(tree, tuple):
        members = [f"{_string(k, escape)}{space}:{space}{_write(v, escape, space)}" for k, v in tree[1]]
        return "{" + f",{space}".join(members) + "}"
    if isinstance(tree, list):
        return "[" + f",{space}".join(_write(v, escape, space) for v in tree) + "]"
    if isinstance(tree, str):
        return _string(tree, escape)
    return json.dumps(tree)


def _members(tree: Any) -> int:
    if isinstance(tree, tuple):
        return len(tree[1]) + sum(_members(v) for _, v in tree[1])
    if isinstance(tree, list):
        return sum(_members(v) for v in tree)
    return 0


def _oracle(text: str) -> bool:
    repeated = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            repeated.append(True)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return bool(repeated)


@settings(max_examples=400, deadline=None)
@given(_trees, st.integers(0, 3), st.sampled_from(["", " ", "\n\t "]))
def test_the_count_finds_a_repeat_exactly_when_a_hook_per_object_does(
    tree: Any, escape: int, space: str
) -> None:
    text = _write(tree, escape, space).encode()
    assert member_count(text) == _members(tree)
    assert has_repeated(text, msgspec.json.decode(text)) == _oracle(text.decode())


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b'{"a":1,"a":2}', ("$", "a")),
        (b'{"a":{"b":[0,{"c":1,"c":1}]}}', ("$.a.b[1]", "c")),
        # a name written two ways is one name
        (b'{"seq":1,"s\\u0065q":2}', ("$", "seq")),
        # an escaped colon inside one string and a repeat elsewhere: the
        # colon counts alone would be equal (4 written, 4 encoded)
        (b'{"x\\u003a":"\\u003a","k":[{"y":1,"y":2}]}', ("$.k[0]", "y")),
        (b'{"a b":{"c:d":0,"c:d":1}}', ('$["a b"]', "c:d")),
    ],
)
def test_a_repeat_is_found_and_named(text: bytes, where: tuple[str, str]) -> None:
    assert has_repeated(text, msgspec.json.decode(text))
    assert find_repeated(text) == where
    with pytest.raises(ValueError, match="repeated"):
        loads_unique(text)


@pytest.mark.parametrize(
    "text",
    [b'{"a":1,"b":{"a":2}}', b'[{"a":1},{"a":2}]', b'{"t":"12:00:00","u":"\\u003a"}', b'{"\\"":":"}', b"{}"],
)
def test_the_same_name_in_two_objects_is_no_repeat(text: bytes) -> None:
    assert not has_repeated(text, msgspec.json.decode(text))
    assert find_repeated(text) is None
    assert loads_unique(text) == json.loads(text)
