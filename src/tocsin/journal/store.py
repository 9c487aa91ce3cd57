"""An append-only, hash-chained journal in SQLite.

Every entry is ``(seq, ts, kind, payload, prev_hash, hash)`` where ``seq`` counts
from 1 with no gaps, ``ts`` is when the node recorded it (epoch seconds; audit
only, never fed to a stage), ``kind`` says what it is and ``payload`` holds its
bytes. The chain:

.. math::

    h_0 = 0^{256}, \\qquad
    h_n = \\mathrm{SHA256}(h_{n-1} \\,\\|\\, \\mathrm{canon}(n, ts_n, kind_n, payload_n))

    \\mathrm{canon} = \\mathrm{u64be}(n) \\,\\|\\, \\mathrm{f64be}(ts) \\,\\|\\,
        \\mathrm{u16be}(|kind|) \\,\\|\\, kind \\,\\|\\, \\mathrm{u64be}(|payload|) \\,\\|\\, payload

so changing, removing or reordering any entry breaks the chain at that entry
and :meth:`Journal.verify` names it. Cutting entries off the *end* leaves a
valid shorter chain: to detect that, keep the head hash elsewhere (``tocsin
journal head``) and pass it as ``expect_head``.

A chain alone can be recomputed by someone who may write the file. Signed
checkpoints close that gap: :meth:`Journal.checkpoint` appends a ``checkpoint``
entry holding the sequence number and head hash before it and the node's
Ed25519 signature over ``b"tocsin-journal-checkpoint\0" || u64be(seq) || head``;
``verify(public_key=...)`` checks every checkpoint, so a rewritten chain fails at
the first checkpoint after the change unless the rewriter holds the node's key. SQLite triggers refuse UPDATE
and DELETE as a guard against accidents; the chain is what proves integrity.

Entry kinds used by the runtime: ``input`` (an accepted message, compact JSON
with its signature), ``tick`` (``{"t": ...}``: time advanced with no input),
``output`` (a message a stage produced), ``reject`` (a refused message and why),
``note`` (start, stop, recovery).

Durability: the database runs in WAL mode. ``synchronous="FULL"`` (default)
fsyncs the WAL on every commit, so a committed entry survives power loss;
``"NORMAL"`` fsyncs only at checkpoints — it survives a process crash (kill -9)
but may lose the last commits on power loss, in exchange for much faster commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.errors import ConfigError, InputError

ZERO_HASH = bytes(32)
#: entry kinds with an index (see _SCHEMA)
_MARKED = ("snapshot", "checkpoint")
FORMAT = "tocsin-journal-1"
SYNC_MODES = ("FULL", "NORMAL")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
-- where the snapshots and checkpoints are (small: only those rows), so a
-- restart finds the latest without scanning the journal
CREATE INDEX IF NOT EXISTS entries_snapshots ON entries(seq) WHERE kind = 'snapshot';
CREATE INDEX IF NOT EXISTS entries_checkpoints ON entries(seq) WHERE kind = 'checkpoint';
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
"""


def entry_hash(prev_hash: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    """The chain hash of one entry (see the module docstring)."""
    k = kind.encode("utf-8")
    h = hashlib.sha256()
    h.update(prev_hash)
    h.update(struct.pack(">QdH", seq, ts, len(k)))
    h.update(k)
    h.update(struct.pack(">Q", len(payload)))
    h.update(payload)
    return h.digest()


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    ts: float
    kind: str
    payload: bytes
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` or the first bad entry (``bad_seq``) and what is wrong with it."""

    ok: bool
    count: int
    head: bytes
    bad_seq: int | None = None
    problem: str = ""
    checkpoints: int = 0
    last_checkpoint: int | None = None
    #: entries after the last checkpoint entry (all of them when there is none):
    #: no signature covers them, so whoever can write the file could have
    #: appended them (``tocsin journal verify --strict`` fails on any)
    after_checkpoint: int = 0
    #: whether the checkpoints' signatures were checked (a public key was given)
    signatures_checked: bool = False

    def summary(self) -> str:
        if self.ok:
            cp = ""
            if self.checkpoints:
                what = "signed checkpoints"
                if not self.signatures_checked:
                    what = "checkpoints (signatures not checked)"
                cp = f", {self.checkpoints} {what} (last covers entry {self.last_checkpoint})"
            tail = ""
            if self.after_checkpoint:
                tail = (
                    f"; {self.after_checkpoint} entries after the last checkpoint (no signature covers them)"
                    if self.checkpoints
                    else "; no checkpoint: no signature covers any entry"
                )
            return f"ok: {self.count} entries, head {self.head.hex()}{cp}{tail}"
        return f"TAMPERED at entry {self.bad_seq}: {self.problem} ({self.count} entries verified before it)"


class Journal:
    """Append-only hash-chained journal (one writer).

    Use :meth:`transaction` to commit several appends at once (one fsync); an
    append outside a transaction commits by itself.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
    ) -> None:
        sync = synchronous.upper()
        if sync not in SYNC_MODES:
            raise ConfigError(f"journal synchronous must be one of {SYNC_MODES}, got {synchronous!r}")
        self.path = Path(path)
        self.clock = clock
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise InputError("no such journal", file=str(self.path))
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={sync}")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None or row[0] != FORMAT:
                raise InputError("not a tocsin journal", file=str(self.path))
            last = self._db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(f"not a tocsin journal ({exc})", file=str(self.path)) from None
        self.synchronous = sync
        self._seq: int = last[0] if last else 0
        self._head: bytes = bytes(last[1]) if last else ZERO_HASH
        self._in_tx = False

    # ------------------------------------------------------------ writing

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def head(self) -> bytes:
        return self._head

    def append(self, kind: str, payload: bytes, *, ts: float | None = None) -> Entry:
        if self.readonly:
            raise ConfigError(f"{self.path}: journal opened read-only")
        seq = self._seq + 1
        t = self.clock() if ts is None else ts
        h = entry_hash(self._head, seq, t, kind, payload)
        self._db.execute(
            "INSERT INTO entries (seq, ts, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, t, kind, payload, self._head, h),
        )
        e = Entry(seq, t, kind, payload, self._head, h)
        self._seq, self._head = seq, h
        return e

    def append_many(self, items: Iterable[tuple[str, bytes]]) -> list[Entry]:
        with self.transaction():
            return [self.append(k, p) for k, p in items]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group appends into one commit; nested use joins the outer one."""
        if self._in_tx:
            yield
            return
        seq, head = self._seq, self._head
        self._db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._seq, self._head = seq, head
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_tx = False

    def close(self) -> None:
        """Checkpoint the WAL into the database, truncate it, and close (the
        -wal file goes when the last connection closes)."""
        if not self.readonly:
            with suppress(sqlite3.DatabaseError):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading

    def entries(self, start: int = 1, kinds: Iterable[str] | None = None) -> Iterator[Entry]:
        """Entries in ``seq`` order from ``start`` (optionally only some kinds)."""
        q = "SELECT seq, ts, kind, payload, prev_hash, hash FROM entries WHERE seq >= ?"
        args: list[object] = [start]
        if kinds is not None:
            ks = list(kinds)
            q += f" AND kind IN ({','.join('?' * len(ks))})"
            args.extend(ks)
        q += " ORDER BY seq"
        for row in self._db.execute(q, args):
            yield Entry(row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]))

    def entry(self, seq: int) -> Entry | None:
        """One entry by sequence number."""
        row = self._db.execute(
            "SELECT seq, ts, kind, payload, prev_hash, hash FROM entries WHERE seq = ?", (seq,)
        ).fetchone()
        if row is None:
            return None
        return Entry(row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]))

    def entries_of_kind_desc(self, kind: str, limit: int) -> Iterator[Entry]:
        """The newest ``limit`` entries of ``kind`` (``snapshot`` or
        ``checkpoint``: found through their index), newest first."""
        if kind not in _MARKED:
            raise ValueError(f"no index of {kind!r} entries")
        rows = self._db.execute(
            "SELECT seq, ts, kind, payload, prev_hash, hash FROM entries "
            f"WHERE kind = '{kind}' ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        for row in rows:
            yield Entry(row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]))

    def last_entry(self, kind: str) -> Entry | None:
        """The newest ``snapshot`` or ``checkpoint`` entry."""
        return next(self.entries_of_kind_desc(kind, 1), None)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def checkpoint(self, key: Ed25519PrivateKey) -> Entry:
        """Append a checkpoint signed with the node's key (see the module doc)."""
        seq, head = self._seq, self._head
        sig = key.sign(_checkpoint_bytes(seq, head))
        payload = json.dumps(
            {"seq": seq, "head": head.hex(), "sig": base64.urlsafe_b64encode(sig).rstrip(b"=").decode()},
            separators=(",", ":"),
        ).encode()
        return self.append("checkpoint", payload)

    def verify(
        self, expect_head: bytes | None = None, public_key: Ed25519PublicKey | None = None
    ) -> VerifyResult:
        """Walk the chain; report the first entry that is missing, altered or out of
        place, or (with ``public_key``) the first checkpoint whose signature fails."""
        prev = ZERO_HASH
        prev_seq = 0
        expected = 1
        n = 0
        cps = 0
        last_cp: int | None = None
        try:
            rows = self._db.execute(
                "SELECT seq, ts, kind, payload, prev_hash, hash FROM entries ORDER BY seq"
            )
            for seq, ts, kind, payload, prev_hash, stored in rows:
                if seq != expected:
                    return VerifyResult(
                        False, n, prev, expected, f"entries {expected}..{seq - 1} are missing (removed)"
                    )
                if bytes(prev_hash) != prev:
                    return VerifyResult(
                        False,
                        n,
                        prev,
                        seq,
                        "prev_hash does not match the entry before it "
                        "(entries removed, reordered or replaced)",
                    )
                if (
                    not isinstance(ts, float | int)
                    or not isinstance(kind, str)
                    or not isinstance(payload, bytes)
                ):
                    return VerifyResult(False, n, prev, seq, "entry has wrong column types (altered)")
                h = entry_hash(prev, seq, float(ts), kind, bytes(payload))
                if h != bytes(stored):
                    return VerifyResult(False, n, prev, seq, "content does not match its hash (altered)")
                if kind == "checkpoint":
                    problem = check_checkpoint(bytes(payload), prev_seq, prev, public_key)
                    if problem:
                        return VerifyResult(False, n, prev, seq, problem, cps, last_cp)
                    cps += 1
                    last_cp = prev_seq
                prev_seq = seq
                prev = h
                expected += 1
                n += 1
        except sqlite3.DatabaseError as exc:
            raise InputError(f"unreadable journal ({exc})", file=str(self.path)) from None
        if expect_head is not None and prev != expect_head:
            return VerifyResult(
                False, n, prev, n + 1, "head differs from the expected head (entries cut off the end?)"
            )
        if public_key is not None and cps == 0 and n > 0:
            return VerifyResult(
                False, n, prev, None, "no signed checkpoint to check the key against", 0, None, n
            )
        after = n - (last_cp + 1) if last_cp is not None else n
        return VerifyResult(True, n, prev, None, "", cps, last_cp, after, public_key is not None)


def _checkpoint_bytes(seq: int, head: bytes) -> bytes:
    return b"tocsin-journal-checkpoint\0" + struct.pack(">Q", seq) + head


def check_checkpoint(payload: bytes, prev_seq: int, prev: bytes, public_key: Ed25519PublicKey | None) -> str:
    """What is wrong with a checkpoint entry's payload that should cover entry
    ``prev_seq`` with head ``prev`` (and, with a key, be signed by it); "" if nothing."""
    try:
        d = json.loads(payload)
        seq, head, sig_text = int(d["seq"]), bytes.fromhex(d["head"]), str(d["sig"])
        sig = base64.urlsafe_b64decode(sig_text + "=" * (-len(sig_text) % 4))
    except (ValueError, KeyError, TypeError):
        return "checkpoint entry is malformed"
    if seq != prev_seq or head != prev:
        return "checkpoint does not cover the entry before it"
    if public_key is not None:
        try:
            public_key.verify(sig, _checkpoint_bytes(seq, head))
        except InvalidSignature:
            return "checkpoint signature does not verify (journal rewritten, or wrong key)"
    return ""


__all__ = ["FORMAT", "SYNC_MODES", "ZERO_HASH", "Entry", "Journal", "VerifyResult", "entry_hash"]
