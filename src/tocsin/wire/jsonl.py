"""Streaming JSON Lines: read messages one line at a time, write atomically.

A bad line never stops a stream: it is recorded in :class:`ReadStats` with its
file, line and field, and reading goes on. Unknown kinds are skipped and counted.
Lines are read with a bound (:data:`~tocsin.wire.MAX_MESSAGE_BYTES`): a longer
one is a rejected line, never a file read whole into memory.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

from tocsin.errors import WireError
from tocsin.wire.codec import MAX_MESSAGE_BYTES, LimitExceeded, UnknownKind, decode_json, encode_json
from tocsin.wire.messages import Envelope


@dataclass
class ReadStats:
    """What a reader saw: counts, and every rejected line."""

    lines: int = 0
    messages: int = 0
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    errors: list[WireError] = field(default_factory=list)
    #: rejected lines by reason (the field path, or "json" for undecodable lines)
    by_reason: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"{self.messages} messages from {self.lines} lines"]
        if self.unknown_kinds:
            n = sum(self.unknown_kinds.values())
            parts.append(f"{n} of unknown kind skipped ({', '.join(sorted(self.unknown_kinds))})")
        if self.errors:
            parts.append(f"{len(self.errors)} rejected")
        return "; ".join(parts)


def iter_jsonl(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    stats: ReadStats | None = None,
    name: str | None = None,
) -> Iterator[Envelope]:
    """Yield the valid messages of a JSON Lines file or binary stream.

    Rejected lines are appended to ``stats.errors`` as WireErrors carrying the
    file name, the 1-based line number and the field; blank lines are ignored.
    """
    st = stats if stats is not None else ReadStats()
    if isinstance(source, (str, os.PathLike)):
        label = name or os.fspath(source)
        with open(source, "rb") as fh:
            yield from _iter(fh, st, label)
    else:
        yield from _iter(source, st, name or str(getattr(source, "name", "<stream>")))


def _lines(fh: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``fh``, each read with a bound (None for a line longer than
    :data:`~tocsin.wire.MAX_MESSAGE_BYTES`, whose rest is skipped unread into
    memory): a file of one endless line never fills memory."""
    cap = MAX_MESSAGE_BYTES + 2  # the message, "\r\n"
    while True:
        raw = fh.readline(cap)
        if not raw:
            return
        if len(raw) == cap and not raw.endswith(b"\n"):
            while True:  # skip to the end of this line
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield raw


def _iter(fh: IO[bytes], st: ReadStats, label: str) -> Iterator[Envelope]:
    for lineno, raw in enumerate(_lines(fh), start=1):
        st.lines += 1
        if raw is None:
            exc = LimitExceeded("size", f"line over the limit of {MAX_MESSAGE_BYTES} bytes")
            exc.file, exc.line = label, lineno
            st.errors.append(exc)
            st.by_reason["$"] += 1
            continue
        line = raw.strip()
        if not line:
            continue
        try:
            env = decode_json(line)
        except UnknownKind as exc:
            st.unknown_kinds[exc.kind] += 1
            continue
        except WireError as exc:
            exc.file, exc.line = label, lineno
            st.errors.append(exc)
            st.by_reason[exc.field or "json"] += 1
            continue
        st.messages += 1
        yield env


def read_jsonl(path: str | os.PathLike[str]) -> tuple[list[Envelope], ReadStats]:
    """Read a whole file: the valid messages and the stats."""
    st = ReadStats()
    return list(iter_jsonl(path, stats=st)), st


class JsonlWriter:
    """Write messages to a JSON Lines file atomically.

    Lines go to a temporary file in the same directory, which replaces ``path``
    only when the writer is closed without error; on error it is removed, so no
    half-written file is ever left under the final name.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._fh: io.BufferedWriter = os.fdopen(fd, "wb")
        self.count = 0

    def write(self, env: Envelope) -> None:
        self._fh.write(encode_json(env))
        self._fh.write(b"\n")
        self.count += 1

    def write_all(self, envs: Iterable[Envelope]) -> None:
        for env in envs:
            self.write(env)

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


def write_jsonl(path: str | os.PathLike[str], envs: Iterable[Envelope]) -> int:
    """Write all messages atomically; returns how many."""
    with JsonlWriter(path) as w:
        w.write_all(envs)
        return w.count
