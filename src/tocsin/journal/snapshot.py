"""Stage snapshots: one generic way for every stage to write and load its state.

A restarted node must not re-run months of journal to rebuild what its stages
know (tracks, alert threads, replay windows). It loads the latest *snapshot*
(the state after journal entry ``covers``) and replays only the entries after
it (:meth:`tocsin.runtime.Pipeline.recover`).

What a stage's state is
    By default, its attributes (``vars(stage)`` or its ``__slots__``), minus
    the names in its class attribute ``snapshot_exclude``: what construction
    gives it (configuration, the run mode, the area registry, caches derived
    from them). Those stay as the freshly built stage has them, so a snapshot can
    never change the run's mode, policy or area data. An attribute that is itself
    a stage (``ConsistencyCheck.inner``) is captured the same way, recursively.
    A stage may instead define ``snapshot_state() -> object`` and
    ``restore_state(state) -> None``.

    Nothing per field: a stage that gains an attribute is snapshotted with it.
    ``tests/journal/test_snapshot.py`` runs every default stage through
    snapshot and restore in the middle of drills and demands outputs identical
    to an uninterrupted run, so a change that breaks this fails a test.

The bytes
    ``dumps`` pickles the state (protocol 5) and compresses it with zstd.
    ``loads`` decompresses and unpickles it with :class:`_Unpickler`, which
    admits only tocsin's own *classes* from the stage packages, numpy arrays and
    scalars, a few builtins and containers, msgspec's struct rebuild and
    shapely's WKB reader: never a function that could run arbitrary code. This
    is the second line; the first is that the runtime loads a snapshot only after
    checking it against the hash-chained (and, with a node key, signed) journal
    entry that names its SHA-256 (see :mod:`tocsin.runtime`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import zstandard

FORMAT = "tocsin-snapshot-1"

#: packages whose classes a snapshot may hold (stage state, never I/O)
_TOCSIN_PACKAGES = (
    "tocsin.dynamics",
    "tocsin.exchange",
    "tocsin.fusion",
    "tocsin.geo",
    "tocsin.journal.snapshot",
    "tocsin.runtime",
    "tocsin.sensors",
    "tocsin.warning",
    "tocsin.wire",
)

#: other globals a snapshot may name: containers, numpy's array and scalar
#: reconstruction, msgspec's struct rebuild, shapely's WKB reader
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("builtins", "bool"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "dict"),
        ("builtins", "float"),
        ("builtins", "frozenset"),
        ("builtins", "int"),
        ("builtins", "list"),
        ("builtins", "range"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("builtins", "str"),
        ("builtins", "tuple"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("msgspec._utils", "rebuild"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("shapely.io", "from_wkb"),
    }
)

#: zstd level for snapshot files: the fastest of the ordinary levels. Most of
#: the bytes are floats, which compress little at any level: on a dense air
#: picture's state (20,000 plots/s, 1,193 tracks, 66.5 MB pickled) level 3 took
#: 0.38-0.43 CPU-s for 59.5 % of the bytes, level 1 0.15 s for 63.4 %
#: (session 12, notes of speed: /tmp/speed12/packab.py)
_LEVEL = 1
#: the largest decompressed snapshot ``loads`` accepts
MAX_BYTES = 2 * 1024**3


class SnapshotError(Exception):
    """A snapshot that cannot be used (damaged, refused, or of other code)."""


# ---------------------------------------------------------------- stage state


def _is_stage(obj: object) -> bool:
    return callable(getattr(obj, "push", None)) and callable(getattr(obj, "advance", None))


def _attributes(obj: object) -> dict[str, Any]:
    d = getattr(obj, "__dict__", None)
    if d is not None:
        return dict(d)
    out: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name):
                out[name] = getattr(obj, name)
    return out


def capture(stage: object) -> Any:
    """The state of one stage (see the module doc), ready for :func:`dumps`."""
    own = getattr(stage, "snapshot_state", None)
    if callable(own):
        return {"own": own()}
    exclude = set(getattr(type(stage), "snapshot_exclude", ()))
    attrs: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for name, value in _attributes(stage).items():
        if name in exclude:
            continue
        if _is_stage(value):
            nested[name] = capture(value)
        else:
            attrs[name] = value
    return {"type": qualname(stage), "attrs": attrs, "stages": nested}


def restore(stage: object, state: Any) -> None:
    """Load ``state`` (from :func:`capture` of a stage of the same class) into
    ``stage``, a freshly built one: its excluded attributes stay as built."""
    own = getattr(stage, "restore_state", None)
    if callable(own):
        own(state["own"])
        return
    check_types([stage], [state])
    for name, value in state["attrs"].items():
        setattr(stage, name, value)
    for name, sub in state["stages"].items():
        restore(getattr(stage, name), sub)


def qualname(obj: object) -> str:
    """``module.Class`` of an object (how a snapshot names each stage)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def check_types(stages: list[Any], states: list[Any]) -> None:
    """SnapshotError unless every state (and nested stage state) was captured
    from a stage of the same class: checked before anything is restored, so a
    refused snapshot leaves the fresh stages untouched."""
    for stage, state in zip(stages, states, strict=True):
        if not isinstance(state, dict):
            raise SnapshotError(f"snapshot state of {qualname(stage)} is malformed")
        if callable(getattr(stage, "restore_state", None)):
            if "own" not in state:
                raise SnapshotError(f"snapshot state of {qualname(stage)} is malformed")
            continue
        if state.get("type") != qualname(stage):
            raise SnapshotError(f"snapshot holds a {state.get('type')}, the stage is a {qualname(stage)}")
        attrs, nested = state.get("attrs"), state.get("stages")
        if not isinstance(attrs, dict) or not isinstance(nested, dict):
            raise SnapshotError(f"snapshot state of {qualname(stage)} is malformed")
        exclude = set(getattr(type(stage), "snapshot_exclude", ()))
        for name in (*attrs, *nested):
            if not isinstance(name, str) or name in exclude:
                raise SnapshotError(
                    f"snapshot sets {name!r} of {qualname(stage)}, which comes from construction"
                )
        for name, sub in nested.items():
            inner = getattr(stage, name, None)
            if inner is None:
                raise SnapshotError(f"{qualname(stage)} has no stage {name!r}")
            check_types([inner], [sub])


#: parts of tocsin that neither define stage state nor change what the stages
#: do (the command line, transports, the drill tools, the web pages and API),
#: left out of :func:`code_fingerprint`: a fix there does not make a restarted
#: node replay its journal. The web modules holding snapshot keepers stay in.
_NOT_STATE = ("cli", "transport", "drill", "web")
_STATE_IN_WEB = ("web/hub.py", "web/live.py")


def fingerprinted(rel: Path) -> bool:
    """Whether a file (relative to the tocsin package) is covered by
    :func:`code_fingerprint`."""
    if rel.suffix not in (".py", ".gz", ".json") or "__pycache__" in rel.parts:
        return False
    return rel.parts[0] not in _NOT_STATE or rel.as_posix() in _STATE_IN_WEB


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 over tocsin's installed stage code and data (the stages, the
    runtime, the wire format, the snapshot keepers; not the command line, the
    transports or the web pages): a snapshot is loaded only by the code that
    wrote it (after an upgrade of that code the node replays instead of
    guessing how old state maps onto new classes)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if f.is_file() and fingerprinted(rel):
            h.update(str(rel).encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------- bytes


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename,
    fsync of the directory)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dumps(state: Any) -> bytes:
    """Pickle (protocol 5) and zstd-compress ``state``."""
    raw = pickle.dumps(state, protocol=5)
    return zstandard.ZstdCompressor(level=_LEVEL).compress(raw)


def loads(blob: bytes) -> Any:
    """The state :func:`dumps` wrote, through the restricted unpickler
    (:class:`SnapshotError` for anything else)."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(blob, max_output_size=MAX_BYTES)
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"not a snapshot ({exc})") from None
    return loads_pickled(raw)


def loads_pickled(raw: bytes) -> Any:
    """Unpickle ``raw`` through the restricted unpickler (a snapshot's outer
    layer, or the stage state a stage process pickled inside it)."""
    try:
        return _Unpickler(io.BytesIO(raw)).load()
    except SnapshotError:
        raise
    except Exception as exc:
        raise SnapshotError(f"unreadable snapshot ({type(exc).__name__}: {exc})") from None


class _Unpickler(pickle.Unpickler):
    """Admits only the globals a stage's state is made of (module doc)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if "." not in name and any(module == p or module.startswith(p + ".") for p in _TOCSIN_PACKAGES):
            obj = getattr(importlib.import_module(module), name, None)
            if isinstance(obj, type):
                return obj
        raise SnapshotError(f"snapshot names {module}.{name}, which a snapshot may not hold")


__all__ = [
    "FORMAT",
    "MAX_BYTES",
    "SnapshotError",
    "capture",
    "check_types",
    "code_fingerprint",
    "dumps",
    "fingerprinted",
    "loads",
    "loads_pickled",
    "qualname",
    "restore",
    "write_durably",
]
