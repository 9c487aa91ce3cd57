"""Repeated MessagePack map keys: the count of :func:`tocsin.wire.codec.msgpack_has_repeated`
(entries the map headers write against entries the decoded dicts kept) against
an oracle that reads every map as a list of (key, value) pairs, on items written
every way MessagePack allows (fixmap/map16/map32, fixstr/str8, shortest and
long integers), so that the shortcut (the re-encoding equals the bytes) is
taken for some and the header walk for the others; and :func:`decode_msgpack`
refusing exactly those messages, naming the first repeated key."""

from __future__ import annotations

import struct
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.exchange.samples import sample_plot
from tocsin.wire import BundleBody, DuplicateName, Envelope, decode_msgpack, encode_msgpack
from tocsin.wire.codec import (
    _MP_NOT_CONTAINER,
    MAX_DEPTH,
    find_repeated_msgpack,
    msgpack_has_repeated,
    msgpack_members,
)
from tocsin.wire.names import member_path

# an item is written from a tree in which a map is ("map", [(key, value), ...],
# form): the same key may come twice (or as 1 and true, equal to a Python dict)
_keys = st.one_of(
    st.text(alphabet="ab:é", max_size=3),
    st.integers(-2, 2),
    st.booleans(),
    st.sampled_from([1.0, 0.0]),
    st.lists(st.integers(0, 2), max_size=2).map(lambda x: ("arr", x, 0)),
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=4)
)
_forms = st.integers(0, 2)
_trees = st.recursive(
    st.tuples(_scalars, _forms).map(lambda t: ("s", *t)),
    lambda kids: st.one_of(
        st.tuples(st.lists(kids, max_size=4), _forms).map(lambda t: ("arr", *t)),
        st.tuples(st.lists(st.tuples(_keys, kids), max_size=4), _forms).map(lambda t: ("map", *t)),
    ),
    max_leaves=14,
)


def _head(n: int, form: int, fix: int, fix_max: int, c16: int, c32: int) -> bytes:
    if form == 0 and n <= fix_max:
        return bytes([fix | n])
    if form <= 1 and n < 2**16:
        return bytes([c16]) + struct.pack(">H", n)
    return bytes([c32]) + struct.pack(">I", n)


def _write(item: Any, form: int = 0) -> bytes:
    """MessagePack of a tree; ``form`` 0 is the shortest form, 1 and 2 longer ones."""
    if isinstance(item, tuple) and item[0] == "map":
        _, pairs, f = item
        body = b"".join(_write(k) + _write(v) for k, v in pairs)
        return _head(len(pairs), f, 0x80, 15, 0xDE, 0xDF) + body
    if isinstance(item, tuple) and item[0] == "arr":
        _, kids, f = item
        return _head(len(kids), f, 0x90, 15, 0xDC, 0xDD) + b"".join(_write(k) for k in kids)
    if isinstance(item, tuple) and item[0] == "s":
        return _write(item[1], item[2])
    if isinstance(item, list):
        return _write(("arr", item, form))
    if type(item) is str and form:
        b = item.encode()
        return (b"\xd9" + bytes([len(b)]) if form == 1 else b"\xda" + struct.pack(">H", len(b))) + b
    if type(item) is int and form:
        return b"\xd3" + struct.pack(">q", item)
    return msgspec.msgpack.encode(item)


def _key(k: Any) -> Any:
    """A key as the decoder holds it (an array as a tuple)."""
    if isinstance(k, tuple):
        return tuple(_key(x) for x in k[1])
    if isinstance(k, list):
        return tuple(_key(x) for x in k)
    return k


def _oracle(item: Any, path: str = "$") -> tuple[str, str] | None:
    """The first repeated key (document order, as the finder reads it)."""
    if item[0] == "arr":
        for i, kid in enumerate(item[1]):
            found = _oracle(kid, f"{path}[{i}]")
            if found is not None:
                return found
    elif item[0] == "map":
        seen: set[Any] = set()
        for k, v in item[1]:
            key = _key(k)
            name = key if type(key) is str else repr(key)
            if key in seen:
                return path, name
            seen.add(key)
            found = _oracle(v, member_path(path, key) if type(key) is str else f"{path}[{name}]")
            if found is not None:
                return found
    return None


def _tree(v: Any) -> Any:
    """A decoded value as a tree (shortest forms)."""
    if type(v) is dict:
        return ("map", [(k, _tree(x)) for k, x in v.items()], 0)
    if type(v) is list:
        return ("arr", [_tree(x) for x in v], 0)
    return ("s", v, 0)


def _entries(item: Any) -> int:
    if item[0] == "map":
        return len(item[1]) + sum(_entries(v) for _, v in item[1])
    if item[0] == "arr":
        return sum(_entries(k) for k in item[1])
    return 0


@settings(max_examples=500, deadline=None)
@given(_trees)
def test_the_count_finds_a_repeat_exactly_when_the_pairs_say_so(tree: Any) -> None:
    raw = _write(tree)
    value = msgspec.msgpack.decode(raw)
    assert msgpack_members(raw) == _entries(tree)
    want = _oracle(tree)
    assert msgpack_has_repeated(raw, value) == (want is not None)
    assert msgpack_has_repeated(raw, value, msgpack_members(raw)) == (want is not None)
    assert find_repeated_msgpack(raw) == want


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_a_message_carrying_a_repeat_anywhere_is_refused_and_named(tree: Any) -> None:
    """The tree rides in a member this version does not know: the typed decoder
    skips it, the check does not."""
    plot = _tree(msgspec.msgpack.decode(encode_msgpack(sample_plot(seq=5))))
    pairs = [*plot[1], ("x-extra", tree)]
    raw = _write(("map", pairs, 0))
    want = _oracle(("map", pairs, 0))
    if want is None:
        assert decode_msgpack(raw) == sample_plot(seq=5)
        return
    with pytest.raises(DuplicateName) as err:
        decode_msgpack(raw)
    assert (err.value.field, err.value.name) == (member_path(*want), want[1])


@pytest.mark.parametrize("where", ["top", "body", "top-last"])
def test_tocsins_own_bytes_pass_and_a_repeat_in_them_does_not(where: str) -> None:
    """tocsin writes a body's map header long (map16: omit_defaults), so its
    bytes take the path that re-encodes the typed envelope; a repeat inserted
    into them is caught there too."""
    env = sample_plot(seq=5)
    raw = encode_msgpack(env)
    assert decode_msgpack(raw) == env
    value = msgspec.msgpack.decode(raw)
    assert msgspec.msgpack.encode(value) != raw  # (the generic encoding differs: fixmap)
    if where == "body":  # a range before the signed one: a first-wins reader takes it
        head = b"\xa4body\xde\x00\x08"
        i = raw.index(head) + len(head)
        bad = raw[: i - 1] + b"\x09" + b"\xa7range_m\xcb" + struct.pack(">d", 1.0) + raw[i:]
        field = "$.body.range_m"
    else:
        i = raw.index(b"\xa3seq") if where == "top" else len(raw)
        bad = bytes([raw[0] + 1]) + raw[1:i] + b"\xa3seq\x04" + raw[i:]
        field = "$.seq"
    with pytest.raises(DuplicateName) as err:
        decode_msgpack(bad)
    assert err.value.field == field


def test_a_bundles_members_are_checked_with_it_even_when_its_depth_is_not_walked() -> None:
    """A bundle small enough that the depth walk is skipped (so no entry count
    from it) takes the re-encoding shortcut, which must not vouch for the
    members: it writes them back as they came."""
    member = encode_msgpack(sample_plot(seq=6))
    i = member.index(b"\xa3seq")
    bad = bytes([member[0] + 1]) + member[1:i] + b"\xa3seq\x04" + member[i:]
    env = Envelope(
        v=2, kind="bundle", partner="JP", source="JP-B1", seq=1, sent=1e9,
        body=BundleBody(messages=[msgspec.Raw(bad)]),
    )  # fmt: skip
    raw = encode_msgpack(env)
    assert len(raw.translate(None, _MP_NOT_CONTAINER)) <= MAX_DEPTH  # (the walk is skipped)
    assert msgspec.msgpack.encode(msgspec.msgpack.decode(raw)) != raw  # (and the generic shortcut fails)
    with pytest.raises(DuplicateName) as err:
        decode_msgpack(raw)
    assert err.value.field == "$.body.messages[0].seq"
