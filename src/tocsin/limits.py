"""Limits on the configuration files tocsin reads: YAML, TOML and JSON documents
(scenarios, warning policies, live authorisations, partner registries, operator
files) are input like any other, and may be hostile.

Three attacks the plain parsers do not stop:

* **deep nesting**: PyYAML, ``tomllib`` and :mod:`json` are recursive; a few
  thousand ``[`` raise ``RecursionError`` (a traceback, not a one-line error),
  and the pure-Python YAML scanner slows down with depth (libyaml is used
  when PyYAML has it: ten times faster, and limited to 1,000 levels);
* **alias bombs** ("billion laughs"): nine YAML anchors of nine aliases each
  parse in a millisecond into a few hundred nodes, which every consumer
  (msgspec conversion, a scenario walk) expands into 9**9 (~387 million);
* **size**: a file of gigabytes read whole into memory.

And one ambiguity they pass over: a **repeated key** in one mapping (JSON
object, YAML mapping). :mod:`json` and PyYAML keep the last silently, another
reader may keep the first: a registry or a policy that says two things is
refused, naming the key (TOML's parser refuses it already).

So every document is at most :data:`MAX_FILE_BYTES`, nests at most
:data:`MAX_NESTING` deep, expands (aliases followed) to at most
:data:`MAX_NODES` nodes, and repeats no key in a mapping. Violations raise the
parser's own error type (``yaml.YAMLError``, ``tomllib.TOMLDecodeError``,
``ValueError`` for JSON) so the existing one-line error paths of each loader
report them.

Message decoding has its own limits (:mod:`tocsin.wire.codec`).
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

import yaml

from tocsin.wire.names import loads_unique

#: the largest configuration file tocsin reads (bytes)
MAX_FILE_BYTES = 1024 * 1024
#: the deepest nesting of mappings/sequences (arrays/tables) in a configuration file
MAX_NESTING = 64
#: the most nodes a YAML document may expand to, aliases followed
MAX_NODES = 200_000


class LimitError(yaml.YAMLError):
    """A YAML document over a limit (a ``yaml.YAMLError``: reported as invalid YAML)."""


def read_file(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a file, refusing (``ValueError``) one over ``limit`` without
    reading more than ``limit + 1`` bytes (``/dev/zero`` is a file too). OSError
    as :func:`open` raises it."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over the limit of {limit} bytes for a configuration file")
    return data


def check_size(data: bytes | str, what: str = "file") -> None:
    """Raise ``ValueError`` when ``data`` is over :data:`MAX_FILE_BYTES`."""
    n = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if n > MAX_FILE_BYTES:
        raise ValueError(f"{what} of {n} bytes is over the limit of {MAX_FILE_BYTES}")


#: libyaml's parser when PyYAML has it (ten times faster, and its own nesting
#: limit of 1,000 levels), else the pure-Python one
_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_MERGE = "tag:yaml.org,2002:merge"


def repeated_key(node: yaml.MappingNode) -> yaml.Node | None:
    """The first key node of ``node`` whose value an earlier key of the same
    mapping has (as the safe constructor would build it: ``1`` and ``0x1``, or
    ``true`` and ``yes``, are one key); merge keys (``<<``) are not keys."""
    seen: set[Any] = set()
    build = yaml.constructor.SafeConstructor()
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
            continue  # (a collection as a key: the constructor refuses it)
        try:
            key = build.construct_object(k)
            hash(key)
        except (yaml.YAMLError, TypeError, ValueError):
            continue  # (the constructor reports it when it builds the document)
        if key in seen:
            return k
        seen.add(key)
    return None


def measure(root: yaml.Node, *, keys: bool = True) -> tuple[int, int]:
    """(nodes, depth) of ``root`` with every alias followed; each distinct node
    is visited once, so the count is computed, never expanded. A mapping that
    repeats a key raises :class:`LimitError` (:func:`repeated_key`), unless
    ``keys`` is False (a caller that refuses repeated keys itself, naming the
    field: :mod:`tocsin.drill.scenario`)."""
    size: dict[int, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        kids: list[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            if keys and not done and (k := repeated_key(node)) is not None:
                line = k.start_mark.line + 1
                raise LimitError(f"key {k.value!r} repeated in one mapping (line {line}): refused")
            kids = [n for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            kids = []
        if done or not kids:
            n = 1 + sum(size[id(k)][0] for k in kids)
            d = 1 + max((size[id(k)][1] for k in kids), default=0) if kids else 0
            size[id(node)] = (n, d)
            if n > MAX_NODES or d > MAX_NESTING:
                return n, d
            continue
        stack.append((node, True))
        # (no cycles: the safe loaders refuse recursive aliases)
        stack.extend((k, False) for k in kids if id(k) not in size)
    return size[id(root)]


def yaml_compose(text: str | bytes, *, keys: bool = True) -> yaml.Node | None:
    """``yaml.compose`` with the limits (module doc); raises ``yaml.YAMLError``.
    ``keys``: refuse a mapping that repeats a key here (False: the caller
    refuses it itself, with the file, line and field, as the scenario loader
    does: :func:`measure`)."""
    try:
        check_size(text, "the document")
    except ValueError as exc:
        raise LimitError(str(exc)) from None
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    except RecursionError:  # the pure-Python parser on deep input
        raise LimitError(f"nesting deeper than {MAX_NESTING} levels") from None
    if root is not None:
        n, d = measure(root, keys=keys)
        if d > MAX_NESTING:
            raise LimitError(f"nesting deeper than {MAX_NESTING} levels")
        if n > MAX_NODES:
            raise LimitError(f"the document expands to more than {MAX_NODES:,} nodes (YAML aliases): refused")
    return root


def yaml_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with the limits (module doc); raises ``yaml.YAMLError``."""
    root = yaml_compose(text)
    if root is None:
        return None
    return yaml.constructor.SafeConstructor().construct_document(root)


def toml_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads`` with the size and nesting limits; raises ``TOMLDecodeError``."""
    try:
        check_size(text, "the document")
    except ValueError as exc:
        raise tomllib.TOMLDecodeError(str(exc)) from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise tomllib.TOMLDecodeError("nesting deeper than the TOML parser allows") from None


def json_loads(text: str | bytes) -> Any:
    """``json.loads`` with the size and nesting limits, refusing an object that
    repeats a member name; raises ``ValueError``."""
    check_size(text, "the document")
    try:
        return loads_unique(text)
    except RecursionError:
        raise ValueError("nesting deeper than the JSON parser allows") from None


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_NODES",
    "LimitError",
    "check_size",
    "json_loads",
    "measure",
    "read_file",
    "repeated_key",
    "toml_loads",
    "yaml_compose",
    "yaml_load",
]
