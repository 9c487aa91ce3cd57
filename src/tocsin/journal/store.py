"""An append-only, hash-chained journal in SQLite, in segments.

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
the first checkpoint after the change unless the rewriter holds the node's key.
Entries after the last checkpoint are counted (:attr:`VerifyResult.after_checkpoint`):
no signature covers them yet. SQLite triggers refuse UPDATE and DELETE as a guard
against accidents; the chain is what proves integrity.

Entry kinds used by the runtime: ``input`` (an accepted message, compact JSON
with its signature), ``tick`` (``{"t": ...}``: time advanced with no input),
``output`` (a message a stage produced), ``reject`` (a refused message and why),
``note`` (start, stop, recovery), ``checkpoint``, ``snapshot`` (see
:mod:`tocsin.runtime`), ``operator``.

**Segments.** ``journal.db`` is the *live* segment. :meth:`Journal.rotate`
closes it and moves it to ``journal.segments/<first>-<last>.db`` (sequence
numbers, 12 digits each); a new live segment continues the chain: its ``meta``
table holds ``first_seq`` and ``prev_hash``, the head of the segment before.
Reading (:meth:`Journal.entries`, :meth:`Journal.verify`) runs across all
segments. ``tocsin journal archive`` and ``prune`` remove closed segments from
the front; ``journal.segments/archived.jsonl`` keeps, for each, its first and
last sequence numbers, its head hash and the SHA-256 of its file, so verify
still checks that what remains continues exactly where the removed part ended.

**Storage** (format ``tocsin-journal-2``). The ``entries`` table stores
``(seq, ts, kind, codec, payload, hash)``: ``prev_hash`` is the hash of the row
before (or the segment's ``prev_hash``), not stored twice; ``codec`` 0 means the
payload is stored as is, ``n > 0`` that it is zstd-compressed with dictionary
``n`` of the ``dicts`` table. The dictionary is trained on the segment's (or,
after a rotation, the previous segment's) own payloads once there are enough of
them; a payload is compressed only when that makes it smaller. The hash covers
the payload as recorded, not as stored: the storage can change without touching
the chain, and a changed dictionary breaks the hashes of what it decodes.
A writer opened with ``train_off_thread=True`` (the servers: ``tocsin serve``,
``tocsin node``) trains on a thread of its own: the samples are read in the
transaction that reaches the count, the training (zstd releases the GIL while
it trains: 0.1-1 s of CPU on a few thousand payloads) runs beside the writer,
and the dictionary is stored by the first transaction after it is ready;
payloads appended meanwhile are stored as they were until then. Which entries
are compressed then depends on timing; what they hold, and the chain, do not.
A crash before the dictionary is stored loses nothing: the segment trains
again once it holds enough payloads.
Journals of format ``tocsin-journal-1`` (a ``prev_hash`` column, no codec) are
read and continued as they are; new segments are format 2.

Durability: the database runs in WAL mode. ``synchronous="FULL"`` (default)
fsyncs the WAL on every commit, so a committed entry survives power loss;
``"NORMAL"`` fsyncs only at checkpoints — it survives a process crash (kill -9)
but may lose the last commits on power loss, in exchange for much faster commits.
A *lazy* commit (``append(..., durable=False)``, ``transaction(durable=False)``)
skips the fsync of that one commit under ``"FULL"``: its entries are in the WAL
(they survive a process crash) and become durable with the next durable commit,
whose fsync covers every frame written before it (the WAL is appended in
order, and SQLite recovers it frame by frame up to the last valid commit). A
caller uses it for an entry nothing outside depends on until a later durable
commit (a tick: its outputs are journalled with a durable commit before any
is emitted, and the next batch's inputs are durable before they are acknowledged),
or commits lazily, starts work on the entries and then :meth:`Journal.sync`
(a batch's inputs: the stage process starts on them during the fsync).
:meth:`Journal.close` checkpoints the WAL into the database and truncates it.

Checkpoints: SQLite copies the WAL into the database file every 1,000 pages
(``wal_autocheckpoint``) *inside the commit that crosses the mark*, with an
fsync of the database file: that commit takes the copy and the fsync too (at
20,000 plots/s, one commit in ~20; 48-197 ms instead of ~45 under load,
session 13). With ``checkpoint_thread=True`` (``tocsin serve``, ``tocsin
node``) commits never checkpoint: a thread of its own, on its own connection,
runs a PASSIVE checkpoint every :data:`CHECKPOINT_S` (it copies what was
committed before it began, never waits for the writer, and syncs the WAL before
and the database after, as SQLite's own does). The WAL restarts from its start
at the first write after a checkpoint that caught up with every commit; should
the writer outrun the thread, the WAL would grow, so it is bounded: a commit
that leaves it over :data:`WAL_BOUND_BYTES` checkpoints in line, as before
(most of the copying is done by then), and the file is cut back to that size
when the WAL restarts. Checkpoints move committed pages and change no row: what
a commit made durable stays so (its own fsync, or :meth:`Journal.sync`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.errors import ConfigError, InputError

ZERO_HASH = bytes(32)
FORMAT = "tocsin-journal-2"
FORMAT_V1 = "tocsin-journal-1"
SYNC_MODES = ("FULL", "NORMAL")
#: with ``checkpoint_thread``: the thread's checkpoint interval, and the WAL size past which a
#: commit checkpoints in line (module doc). 1 s: about as often as wal_autocheckpoint's 1,000
#: pages at 20,000 plots/s; 32 MiB: 8 x those pages, a few seconds of that rate
CHECKPOINT_S = 1.0
WAL_BOUND_BYTES = 32 * 1024 * 1024
#: entry kinds with an index (see _SCHEMA)
_MARKED = ("snapshot", "checkpoint", "note")
#: payloads shorter than this are stored as they are
_MIN_COMPRESS = 48
#: a segment trains its dictionary once it holds this many payloads worth compressing
TRAIN_AT = 2_000
_DICT_BYTES = 16_384
#: zstd level of the payloads (and of the dictionary's training). 1, not 3 (session 13, in process:
#: bundle members 1.57 -> 1.28 us each for 0.2 % more bytes, a raw bundle 0.75 -> 0.33 us a plot and 10 %
#: fewer bytes; the IRBM drill's track outputs 15.7 -> 8.9 us each, same size). A frame decodes the same
#: whatever its level: journals written at 3 are read and continued (tests/journal/test_segments.py)
_LEVEL = 1
#: what a row costs besides its payload and hashes (sequence number, time,
#: kind, codec, SQLite's cell and index overhead), for Journal.appended_bytes
_ROW_BYTES = 24
_SEGMENT_NAME = re.compile(r"^(\d{12})-(\d{12})\.db$")

_SCHEMA_COMMON = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- where the snapshots, checkpoints and notes are (small: only those rows), so a
-- restart finds the latest (and the last start note) without scanning the journal
CREATE INDEX IF NOT EXISTS entries_snapshots ON entries(seq) WHERE kind = 'snapshot';
CREATE INDEX IF NOT EXISTS entries_checkpoints ON entries(seq) WHERE kind = 'checkpoint';
CREATE INDEX IF NOT EXISTS entries_notes ON entries(seq) WHERE kind = 'note';
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
"""

_SCHEMA_V2 = (
    """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    codec INTEGER NOT NULL,
    payload BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS dicts_no_update BEFORE UPDATE ON dicts
    BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
"""
    + _SCHEMA_COMMON
)

_SCHEMA_V1 = (
    """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
"""
    + _SCHEMA_COMMON
)


_INSERT_V1 = "INSERT INTO entries (seq, ts, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_V2 = "INSERT INTO entries (seq, ts, kind, codec, payload, hash) VALUES (?, ?, ?, ?, ?, ?)"


_HEAD = struct.Struct(">QdH")
_LEN = struct.Struct(">Q")


def entry_hash(prev_hash: bytes, seq: int, ts: float, kind: str, payload: bytes) -> bytes:
    """The chain hash of one entry (see the module docstring)."""
    k = kind.encode("utf-8")
    return hashlib.sha256(
        b"".join((prev_hash, _HEAD.pack(seq, ts, len(k)), k, _LEN.pack(len(payload)), payload))
    ).digest()


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
    #: entries 1..archived are no longer here (archived or pruned): only their
    #: recorded heads were checked against what remains
    archived: int = 0
    segments: int = 1

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
            where = ""
            if self.segments > 1:
                where = f" in {self.segments} segments"
            if self.archived:
                where += f", entries 1..{self.archived} archived (their heads continue into these)"
            return f"ok: {self.count} entries{where}, head {self.head.hex()}{cp}{tail}"
        return f"TAMPERED at entry {self.bad_seq}: {self.problem} ({self.count} entries verified before it)"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A closed segment file (``first``..``last``)."""

    first: int
    last: int
    path: Path


@dataclass(frozen=True, slots=True)
class ArchivedHead:
    """One line of ``archived.jsonl``: a segment no longer in the directory."""

    first: int
    last: int
    head: bytes
    sha256: str
    file: str
    where: str


# ---------------------------------------------------------------- one file


class _Segment:
    """One SQLite file of the journal (format 1 or 2)."""

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool,
        synchronous: str = "FULL",
        first_seq: int = 1,
        prev_hash: bytes = ZERO_HASH,
        dictionary: bytes | None = None,
        train_off_thread: bool = False,
        rotation_training: _Training | None = None,
        wal_bound: int | None = None,
    ) -> None:
        self.path = path
        self.readonly = readonly
        #: the WAL size past which a commit checkpoints in line (None: SQLite's
        #: automatic checkpoint, in the commit that crosses 1,000 pages)
        self.wal_bound = wal_bound
        self.wal_path = path.with_name(path.name + "-wal")
        #: train on a thread of its own (module doc); the training under way
        self.train_off_thread = train_off_thread
        self._training: _Training | None = None
        #: rows of the open transaction not yet written (:meth:`begin_rows`)
        self._rows: list[tuple[Any, ...]] | None = None
        if readonly:
            if not path.is_file():
                raise InputError("no such journal", file=str(path))
            uri = f"file:{path.resolve()}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            fmt = self._format()
            if fmt is None and not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(f"PRAGMA synchronous={synchronous}")
                self.db.executescript("BEGIN IMMEDIATE;" + _SCHEMA_V2)
                for k, v in (
                    ("format", FORMAT),
                    ("first_seq", str(first_seq)),
                    ("prev_hash", prev_hash.hex()),
                ):
                    self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (k, v))
                if dictionary is not None:
                    self.db.execute("INSERT INTO dicts VALUES (1, ?)", (dictionary,))
                    self.db.execute("INSERT INTO meta VALUES ('dict_from', 'rotation')")
                self.db.execute("COMMIT")
                fmt = FORMAT
            elif not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute(f"PRAGMA synchronous={synchronous}")
                self.db.executescript(_SCHEMA_V2 if fmt == FORMAT else _SCHEMA_V1)
            if fmt not in (FORMAT, FORMAT_V1):
                raise InputError("not a tocsin journal", file=str(path))
            self.version = 2 if fmt == FORMAT else 1
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
            self.first_seq = int(meta.get("first_seq", "1"))
            self.meta_dict_from = meta.get("dict_from", "")
            self.prev_hash = bytes.fromhex(meta.get("prev_hash", ZERO_HASH.hex()))
            last = self.db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            self.dicts: dict[int, zstandard.ZstdCompressionDict] = {}
            if self.version == 2:
                for i, data in self.db.execute("SELECT id, data FROM dicts ORDER BY id"):
                    self.dicts[int(i)] = zstandard.ZstdCompressionDict(bytes(data))
        except (sqlite3.DatabaseError, ValueError, zstandard.ZstdError) as exc:
            self.db.close()
            raise InputError(f"not a tocsin journal ({exc})", file=str(path)) from None
        except InputError:
            self.db.close()
            raise
        if wal_bound is not None and not readonly:
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self.db.execute(f"PRAGMA journal_size_limit={int(wal_bound)}")
        self.last_seq: int = last[0] if last else self.first_seq - 1
        self.head: bytes = bytes(last[1]) if last else self.prev_hash
        self._compressor: zstandard.ZstdCompressor | None = None
        self._dict_id = max(self.dicts) if self.dicts else 0
        if self._dict_id:
            self._compressor = _compressor(self.dicts[self._dict_id])
        # a dictionary from the segment before (rotation) has seen every kind of
        # payload: no training here; otherwise train at TRAIN_AT and once more
        # at ten times that (see maybe_train)
        self._may_train = self.meta_dict_from != "rotation" and self._dict_id < 2
        self._next_train = TRAIN_AT if not self._dict_id else 10 * TRAIN_AT
        if rotation_training is not None and not self._dict_id:
            # the segment before's dictionary, still being trained off the thread
            self._training = rotation_training

    def _format(self) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else str(row[0])

    # writing

    def insert_many(
        self, kind: str, payloads: Sequence[bytes], entries: Sequence[tuple[int, float, bytes]]
    ) -> int:
        """Store entries of one ``kind`` (one or many: a bundle's members are the
        server's hot path): ``entries`` holds each payload's ``(seq, ts, hash)``,
        in chain order after :attr:`head`. Returns the bytes stored (payloads as
        stored, hashes). Inside a transaction (:meth:`begin_rows`) the rows wait
        in memory for :meth:`flush` (one ``executemany`` before the commit)."""
        rows = self._rows if self._rows is not None else []
        n = 0
        if self.version == 1:
            prev = self.head
            for p, (seq, ts, h) in zip(payloads, entries, strict=True):
                rows.append((seq, ts, kind, p, prev, h))
                n += len(p) + len(prev) + len(h) + _ROW_BYTES
                prev = h
        else:
            comp = self._compressor
            compress = comp.compress if comp is not None else None
            did = self._dict_id
            for p, (seq, ts, h) in zip(payloads, entries, strict=True):
                if compress is not None and len(p) >= _MIN_COMPRESS:
                    z = compress(p)
                    if len(z) < len(p):
                        rows.append((seq, ts, kind, did, z, h))
                        n += len(z) + len(h) + _ROW_BYTES
                        continue
                rows.append((seq, ts, kind, 0, p, h))
                n += len(p) + len(h) + _ROW_BYTES
        if self._rows is None and rows:
            self.db.executemany(_INSERT_V1 if self.version == 1 else _INSERT_V2, rows)
        if entries:
            self.last_seq, self.head = entries[-1][0], entries[-1][2]
        return n

    def begin_rows(self) -> None:
        """From now on :meth:`insert_many` gathers rows for :meth:`flush` (a
        transaction is open: nothing is durable before its commit anyway)."""
        self._rows = []

    def flush(self) -> None:
        """Write the gathered rows (one ``executemany``); they stay uncommitted.
        Every read of this segment calls it first, so a reader in the writer's
        transaction sees its own rows as before."""
        rows = self._rows
        if rows:
            self._rows = []
            self.db.executemany(_INSERT_V1 if self.version == 1 else _INSERT_V2, rows)

    def end_rows(self) -> None:
        """Back to one INSERT per row (after the commit or the rollback; rows not
        flushed are dropped with the rollback)."""
        self._rows = None

    def maybe_train(self) -> None:
        """Train the segment's dictionary from its own payloads once there are
        enough, and once more at ten times that (inside the caller's
        transaction): the first entries of a journal may not show every kind
        of payload yet (a tracker still starting makes no track outputs), and a
        dictionary that never saw track outputs compresses them poorly."""
        if self.version != 2:
            return
        training = self._training
        if training is not None:
            if not training.done():
                return  # (trained off the thread: stored by a later transaction)
            self._training = None
            self._store_dictionary(training.result, rotation=training.rotation)
            return
        n = self.last_seq - self.first_seq + 1
        if not self._may_train or n < self._next_train:
            return
        self.flush()
        decode = self.decoder()
        samples = [
            decode(int(c), bytes(p))
            for c, p in self.db.execute(
                "SELECT codec, payload FROM entries WHERE length(payload) >= ? ORDER BY seq DESC LIMIT ?",
                (_MIN_COMPRESS // 2, 4 * TRAIN_AT),
            )
        ]
        if self.train_off_thread:
            self._training = _Training(samples)
            return
        self._store_dictionary(train_dictionary([x for x in samples if len(x) >= _MIN_COMPRESS]))

    def _store_dictionary(self, d: bytes | None, *, rotation: bool = False) -> None:
        """Record a trained dictionary (inside the caller's transaction) and
        compress with it from now on; None: too few or too uniform samples,
        try again at twice the count."""
        if d is None:
            if not rotation:
                self._next_train *= 2
            return
        new = self._dict_id + 1
        self.db.execute("INSERT INTO dicts VALUES (?, ?)", (new, d))
        if rotation:
            # as if it had come with the segment (a later restart does not train)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('dict_from', 'rotation')")
            self.meta_dict_from = "rotation"
        self.dicts[new] = zstandard.ZstdCompressionDict(d)
        self._dict_id = new
        self._compressor = _compressor(self.dicts[new])
        self._next_train = 10 * TRAIN_AT
        self._may_train = not rotation and new < 2

    def wait_training(self) -> None:
        """Wait for a training under way to end (its dictionary is stored by
        the next transaction)."""
        if self._training is not None:
            self._training.wait()

    # reading

    def decoder(self) -> Callable[[int, bytes], bytes]:
        if self.version == 1 or not self.dicts:
            return _raw_payload
        decs = {i: zstandard.ZstdDecompressor(dict_data=d) for i, d in self.dicts.items()}

        def decode(codec: int, stored: bytes) -> bytes:
            if codec == 0:
                return stored
            dec = decs.get(codec)
            if dec is None:
                raise ValueError(f"unknown codec {codec}")
            return dec.decompress(stored)

        return decode

    def rows(self, start: int, kinds: list[str] | None) -> Iterator[Entry]:
        """Entries from ``start`` (optionally only some kinds), payloads decoded."""
        self.flush()
        if self.version == 1:
            q = "SELECT seq, ts, kind, payload, prev_hash, hash FROM entries WHERE seq >= ?"
            args: list[object] = [start]
            if kinds is not None:
                q += f" AND kind IN ({','.join('?' * len(kinds))})"
                args.extend(kinds)
            for r in self.db.execute(q + " ORDER BY seq", args):
                yield Entry(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]), bytes(r[5]))
            return
        decode = self.decoder()
        if kinds is None:
            prev = self._hash_before(start)
            for seq, ts, kind, codec, stored, h in self.db.execute(
                "SELECT seq, ts, kind, codec, payload, hash FROM entries WHERE seq >= ? ORDER BY seq",
                (start,),
            ):
                h = bytes(h)
                yield Entry(seq, ts, kind, _decoded(decode, codec, stored, seq), prev, h)
                prev = h
            return
        q = (
            "SELECT e.seq, e.ts, e.kind, e.codec, e.payload, e.hash, "
            "(SELECT p.hash FROM entries p WHERE p.seq = e.seq - 1) FROM entries e "
            f"WHERE e.seq >= ? AND e.kind IN ({','.join('?' * len(kinds))}) ORDER BY e.seq"
        )
        for seq, ts, kind, codec, stored, h, p in self.db.execute(q, [start, *kinds]):
            prev = bytes(p) if p is not None else self.prev_hash
            yield Entry(seq, ts, kind, _decoded(decode, codec, stored, seq), prev, bytes(h))

    def raw_rows(self) -> Iterator[tuple[Any, ...]]:
        """Rows as stored, with the stored prev_hash (format 1) or None, for verify."""
        self.flush()
        if self.version == 1:
            yield from self.db.execute(
                "SELECT seq, ts, kind, 0, payload, hash, prev_hash FROM entries ORDER BY seq"
            )
        else:
            yield from self.db.execute(
                "SELECT seq, ts, kind, codec, payload, hash, NULL FROM entries ORDER BY seq"
            )

    def _hash_before(self, seq: int) -> bytes:
        if seq <= self.first_seq:
            return self.prev_hash
        self.flush()
        row = self.db.execute("SELECT hash FROM entries WHERE seq = ?", (seq - 1,)).fetchone()
        return bytes(row[0]) if row is not None else self.prev_hash

    def row(self, seq: int) -> Entry | None:
        return next(iter(self.rows_between(seq, seq)), None)

    def rows_between(self, lo: int, hi: int) -> list[Entry]:
        out = []
        for e in self.rows(lo, None):
            if e.seq > hi:
                break
            out.append(e)
        return out

    def marked_desc(self, kind: str, limit: int) -> list[int]:
        self.flush()
        return [
            int(r[0])
            for r in self.db.execute(
                f"SELECT seq FROM entries WHERE kind = '{kind}' ORDER BY seq DESC LIMIT ?", (limit,)
            )
        ]

    def bound_wal(self) -> bool:
        """After a commit: checkpoint in line if the WAL is over :attr:`wal_bound`
        (the checkpointer thread fell behind). True when it did."""
        if self.wal_bound is None:
            return False
        try:
            if self.wal_path.stat().st_size <= self.wal_bound:
                return False
        except FileNotFoundError:
            return False
        with contextlib.suppress(sqlite3.OperationalError):  # (busy: the thread is at it)
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return True

    def close(self) -> None:
        self.wait_training()  # (no thread outlives its journal; its result is dropped)
        if not self.readonly:
            with contextlib.suppress(sqlite3.DatabaseError):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()


def _raw_payload(codec: int, stored: bytes) -> bytes:
    return stored


def _decoded(decode: Callable[[int, bytes], bytes], codec: int, stored: Any, seq: int) -> bytes:
    try:
        return decode(int(codec), bytes(stored))
    except (zstandard.ZstdError, ValueError, TypeError):
        # a payload that does not decode hashes as its stored bytes: verify names the entry
        return (
            b"\0undecodable:" + bytes(stored) if isinstance(stored, bytes | memoryview) else b"\0undecodable"
        )


def _compressor(d: zstandard.ZstdCompressionDict) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=_LEVEL, dict_data=d, write_checksum=False, write_dict_id=False)


class _Checkpointer:
    """PASSIVE checkpoints of one live segment's WAL on a thread of its own,
    on its own connection (``checkpoint_thread``; module doc)."""

    def __init__(self, path: Path, synchronous: str, every_s: float) -> None:
        self.path, self.synchronous, self.every_s = path, synchronous, every_s
        #: checkpoints run; the last one's (busy, WAL frames, frames checkpointed); failures
        self.runs = 0
        self.last: tuple[int, int, int] | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            # (a checkpoint syncs the WAL before it copies and the database after,
            # under FULL and NORMAL alike)
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            while True:
                self._now.wait(self.every_s)
                self._now.clear()
                if self._stop.is_set():
                    return
                try:
                    row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.last = (int(row[0]), int(row[1]), int(row[2]))
                    self.runs += 1
                except sqlite3.Error:  # (busy, or the disk: the writer's commits say so)
                    self.errors += 1
        finally:
            db.close()

    def run_now(self) -> None:
        """Checkpoint now rather than at the next interval."""
        self._now.set()

    def stop(self) -> None:
        self._stop.set()
        self._now.set()
        self._thread.join()


class _Training:
    """A dictionary trained on a thread of its own (``train_off_thread``).
    ``rotation``: for the segment after the one the samples came from."""

    def __init__(self, samples: list[bytes], *, rotation: bool = False) -> None:
        self.rotation = rotation
        self.result: bytes | None = None
        self._thread = threading.Thread(
            target=self._run, args=(samples,), name="journal-dictionary", daemon=True
        )
        self._thread.start()

    def _run(self, samples: list[bytes]) -> None:
        self.result = train_dictionary([x for x in samples if len(x) >= _MIN_COMPRESS])

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()


def train_dictionary(samples: list[bytes]) -> bytes | None:
    """A zstd dictionary for these payloads, or None when they are too few."""
    if len(samples) < 500:
        return None
    data: list[bytes | bytearray | memoryview] = list(samples)
    try:
        return zstandard.train_dictionary(_DICT_BYTES, data, level=_LEVEL).as_bytes()
    except zstandard.ZstdError:
        return None


# ---------------------------------------------------------------- the journal


class Journal:
    """Append-only hash-chained journal (one writer), in segments (module doc).

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
        archive: str | os.PathLike[str] | None = None,
        train_off_thread: bool = False,
        checkpoint_thread: bool = False,
        checkpoint_s: float = CHECKPOINT_S,
        wal_bound: int = WAL_BOUND_BYTES,
    ) -> None:
        sync = synchronous.upper()
        if sync not in SYNC_MODES:
            raise ConfigError(f"journal synchronous must be one of {SYNC_MODES}, got {synchronous!r}")
        self.path = Path(path)
        self.segments_dir = segments_dir(self.path)
        #: a directory that ``tocsin journal archive`` moved segments to: reading
        #: (entries, verify) then starts there, for the whole history
        self.archive = Path(archive) if archive is not None else None
        self.clock = clock
        self.readonly = readonly
        self.synchronous = sync
        #: zstd dictionaries trained on a thread of their own (module doc)
        self.train_off_thread = train_off_thread and not readonly
        #: the WAL checkpointed by a thread of its own, bounded (module doc)
        self.checkpoint_s = checkpoint_s
        self._wal_bound = wal_bound if checkpoint_thread and not readonly else None
        self._checkpointer: _Checkpointer | None = None
        closed = self.closed_segments()
        if not self.path.is_file() and not closed and readonly:
            raise InputError("no such journal", file=str(self.path))
        first, prev, dictionary = 1, ZERO_HASH, None
        if closed and not self.path.is_file():
            # a rotation stopped between moving the old live segment away and
            # creating the new one: continue the chain from the last closed one
            last = _Segment(closed[-1].path, readonly=True)
            first, prev = last.last_seq + 1, last.head
            last.close()
        self._live: _Segment | None = None
        if self.path.is_file() or not readonly:
            self._live = _Segment(
                self.path,
                readonly=readonly,
                synchronous=sync,
                first_seq=first,
                prev_hash=prev,
                dictionary=dictionary,
                train_off_thread=self.train_off_thread,
                wal_bound=self._wal_bound,
            )
            self._seq, self._head = self._live.last_seq, self._live.head
            self._start_checkpointer()
        else:
            self._seq, self._head = first - 1, prev
        self._inode = _inode(self.path)
        self._in_tx = False
        self._last_ts = 0.0
        #: about how many bytes this writer appended since it opened the journal
        #: (stored payloads, hashes and row overhead; rolled-back ones included)
        self.appended_bytes = 0

    def _start_checkpointer(self) -> None:
        if self._wal_bound is not None:
            self._checkpointer = _Checkpointer(self.path, self.synchronous, self.checkpoint_s)

    def _stop_checkpointer(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    def _refresh(self) -> None:
        """A reader's view after the writer rotated: reopen the live segment."""
        ino = _inode(self.path)
        if not self.readonly or ino == self._inode or ino is None:
            return
        if self._live is not None:
            self._live.close()
        self._live = _Segment(self.path, readonly=True)
        self._seq, self._head, self._inode = self._live.last_seq, self._live.head, ino

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._live is not None
        return self._live.db

    # ------------------------------------------------------------ writing

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def head(self) -> bytes:
        return self._head

    @property
    def first_seq(self) -> int:
        """The first entry still here (1 unless segments were archived or pruned)."""
        closed = self.closed_segments()
        if closed:
            return closed[0].first
        return self.first_live_seq

    @property
    def first_live_seq(self) -> int:
        """The first sequence number of the live segment."""
        return self._live.first_seq if self._live is not None else self._seq + 1

    def append(self, kind: str, payload: bytes, *, ts: float | None = None, durable: bool = True) -> Entry:
        """One entry, committed by itself (outside a transaction); ``durable=False``:
        a lazy commit (module doc: durable with the next durable commit)."""
        prev = self._head
        if durable or self._in_tx:
            seq = self.add(kind, payload, ts=ts)
        else:
            with self.transaction(durable=False):
                seq = self.add(kind, payload, ts=ts)
        return Entry(seq, self._last_ts, kind, payload, prev, self._head)

    def add(self, kind: str, payload: bytes, *, ts: float | None = None) -> int:
        """:meth:`append` without building the :class:`Entry` (the hot path:
        one per accepted message); returns its sequence number."""
        live = self._live
        if self.readonly or live is None:
            raise ConfigError(f"{self.path}: journal opened read-only")
        seq = self._seq + 1
        t = self._last_ts = self.clock() if ts is None else ts
        h = entry_hash(self._head, seq, t, kind, payload)
        self.appended_bytes += live.insert_many(kind, (payload,), ((seq, t, h),))
        self._seq, self._head = seq, h
        return seq

    def add_many(self, kind: str, payloads: Sequence[bytes]) -> int:
        """:meth:`add` for several entries of one ``kind``, in order, in one
        commit (the caller's transaction, or one of their own): the same
        entries (each its own clock reading, the same chain) with one Python
        loop instead of three calls each. Returns the last sequence number."""
        live = self._live
        if self.readonly or live is None:
            raise ConfigError(f"{self.path}: journal opened read-only")
        if not payloads:
            return self._seq
        k = kind.encode("utf-8")
        nk = len(k)
        sha256, head_pack, len_pack, join, clock = hashlib.sha256, _HEAD.pack, _LEN.pack, b"".join, self.clock
        seq, h, t = self._seq, self._head, self._last_ts
        entries: list[tuple[int, float, bytes]] = []
        for p in payloads:
            seq += 1
            t = clock()
            # (entry_hash, inlined)
            h = sha256(join((h, head_pack(seq, t, nk), k, len_pack(len(p)), p))).digest()
            entries.append((seq, t, h))
        with self.transaction():
            self.appended_bytes += live.insert_many(kind, payloads, entries)
            self._seq, self._head, self._last_ts = seq, h, t
        return seq

    def append_many(self, items: Iterable[tuple[str, bytes]]) -> list[Entry]:
        with self.transaction():
            return [self.append(k, p) for k, p in items]

    def extend(self, items: Iterable[tuple[str, bytes]]) -> int:
        """:meth:`append_many` without the :class:`Entry` objects (one commit);
        returns how many were appended."""
        n = 0
        with self.transaction():
            kind, run = "", list[bytes]()
            for k, p in items:
                if k != kind and run:
                    self.add_many(kind, run)
                    run = []
                kind = k
                run.append(p)
                n += 1
            if run:
                self.add_many(kind, run)
        return n

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Group appends into one commit; nested use joins the outer one.
        ``durable=False``: a lazy commit (no fsync under ``"FULL"``; module doc)."""
        if self._in_tx:
            yield
            return
        seq, head = self._seq, self._head
        live = self._live
        assert live is not None
        lazy = not durable and self.synchronous == "FULL"
        if lazy:
            live.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._transaction(live, seq, head):
                yield
        finally:
            if lazy:
                live.db.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _transaction(self, live: _Segment, seq: int, head: bytes) -> Iterator[None]:
        live.db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        live.begin_rows()
        try:
            yield
            live.flush()  # (the group's rows in one executemany)
            live.maybe_train()
        except BaseException:
            live.end_rows()
            live.db.execute("ROLLBACK")
            self._seq, self._head = seq, head
            live.last_seq, live.head = seq, head
            raise
        else:
            live.db.execute("COMMIT")
        finally:
            live.end_rows()
            self._in_tx = False
        live.bound_wal()

    def sync(self) -> None:
        """Make every commit so far durable (lazy ones included): under
        ``"FULL"``, fsync the live segment's write-ahead log, as a durable
        commit's own fsync would (the WAL is appended in order; a checkpoint
        has already synced what it moved into the database). The caller that
        commits lazily, acts on the entries (hands them to the stage process)
        and then calls this overlaps that work with the fsync; nothing may be
        acknowledged or emitted before this returns. Raises ``OSError`` if the
        fsync fails: what was committed lazily is then of unknown durability
        (the caller must stop: :class:`tocsin.runtime.Pipeline` fails closed).
        Nothing under ``"NORMAL"`` (it never promised power-loss durability)."""
        live = self._live
        if self.readonly or live is None or self._in_tx or self.synchronous != "FULL":
            return
        wal = live.path.with_name(live.path.name + "-wal")
        try:
            _fsync_file(wal)
        except FileNotFoundError:  # (no WAL now: everything is in the database)
            _fsync_file(live.path)

    def rotate(self) -> Path:
        """Close the live segment, move it to ``journal.segments/`` and start a
        new live one that continues the chain (its dictionary trained on the
        closed segment's latest payloads). Returns the closed segment's path."""
        live = self._live
        if self.readonly or live is None or self._in_tx:
            raise ConfigError(f"{self.path}: cannot rotate here")
        if self._seq < live.first_seq:
            raise ConfigError(f"{self.path}: the live segment is empty")
        first, last, head = live.first_seq, self._seq, self._head
        samples = (
            [
                live.decoder()(int(c), bytes(p))
                for c, p in live.db.execute(
                    "SELECT codec, payload FROM entries WHERE length(payload) >= ? ORDER BY seq DESC LIMIT ?",
                    (_MIN_COMPRESS, 4 * TRAIN_AT),
                )
            ]
            if live.version == 2
            else []
        )
        dictionary, training = None, None
        if self.train_off_thread:
            training = _Training(samples, rotation=True)
        else:
            dictionary = train_dictionary(samples)
        self._stop_checkpointer()
        live.close()
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        dest = self.segments_dir / f"{first:012d}-{last:012d}.db"
        _fsync_file(self.path)
        os.replace(self.path, dest)
        for suffix in ("-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        _fsync_dir(self.segments_dir)
        _fsync_dir(self.path.parent)
        self._live = _Segment(
            self.path,
            readonly=False,
            synchronous=self.synchronous,
            first_seq=last + 1,
            prev_hash=head,
            dictionary=dictionary,
            train_off_thread=self.train_off_thread,
            rotation_training=training,
            wal_bound=self._wal_bound,
        )
        self._start_checkpointer()
        return dest

    def live_bytes(self) -> int:
        """Bytes of the live segment's database as its writer sees it (pages
        still in the WAL included): the size its file has once closed, which
        ``--segment-mb`` bounds. Not the files on disk: the WAL holds pages
        the database file holds already, up to ``WAL_BOUND_BYTES`` with the
        checkpoint thread (counted, they closed a segment ~28 MB early)."""
        if self._live is None:
            return 0
        db = self._live.db
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
        return int(pages) * int(size)

    def close(self) -> None:
        """Commit nothing more: checkpoint the WAL into the database, truncate it
        and close."""
        self._stop_checkpointer()
        if self._live is not None:
            self._live.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ segments

    def closed_segments(self) -> list[SegmentInfo]:
        """The closed segments still in ``journal.segments/``, oldest first."""
        out = []
        if self.segments_dir.is_dir():
            for p in self.segments_dir.iterdir():
                m = _SEGMENT_NAME.match(p.name)
                if m:
                    out.append(SegmentInfo(int(m.group(1)), int(m.group(2)), p))
        return sorted(out, key=lambda s: s.first)

    def archived_heads(self) -> list[ArchivedHead]:
        """What ``archived.jsonl`` records of segments removed from the front."""
        return read_archived(self.segments_dir)

    def _files_from(self, start: int) -> list[Path]:
        """Segment files holding entries from ``start`` on, oldest first: archived
        ones (with ``archive``) not here any more, then the closed ones here
        (not the live one)."""
        self._refresh()
        live_first = self._live.first_seq if self._live is not None else self._seq + 1
        here = [s for s in self.closed_segments() if s.last >= start and s.first < live_first]
        files = [s.path for s in here]
        if self.archive is not None:
            first_here = here[0].first if here else live_first
            for a in self.archived_heads():
                if a.last >= start and a.first < first_here and (self.archive / a.file).is_file():
                    files.append(self.archive / a.file)
        return sorted(files, key=lambda p: p.name)

    def _segments_from(self, start: int) -> Iterator[_Segment]:
        for path in self._files_from(start):
            seg = _Segment(path, readonly=True)
            try:
                yield seg
            finally:
                seg.close()
        if self._live is not None:
            yield self._live

    # ------------------------------------------------------------ reading

    def entries(self, start: int = 1, kinds: Iterable[str] | None = None) -> Iterator[Entry]:
        """Entries in ``seq`` order from ``start`` (optionally only some kinds),
        across every segment still here."""
        ks = list(kinds) if kinds is not None else None
        for seg in self._segments_from(start):
            yield from seg.rows(start, ks)

    def entry(self, seq: int) -> Entry | None:
        """One entry by sequence number."""
        for seg in self._segments_from(seq):
            if seg.first_seq <= seq <= seg.last_seq:
                return seg.row(seq)
        return None

    def entries_of_kind_desc(self, kind: str, limit: int) -> Iterator[Entry]:
        """The newest ``limit`` entries of ``kind`` (``snapshot``,
        ``checkpoint`` or ``note``: found through their index), newest first:
        in the live segment, then the closed ones."""
        if kind not in _MARKED:
            raise ValueError(f"no index of {kind!r} entries")
        found = 0
        segs: list[tuple[SegmentInfo | None, _Segment | None]] = [(None, self._live)]
        segs += [(info, None) for info in reversed(self.closed_segments())]
        for info, seg in segs:
            own = seg is None
            if own:
                assert info is not None
                seg = _Segment(info.path, readonly=True)
            assert seg is not None
            try:
                seqs = seg.marked_desc(kind, limit - found)
                rows = [seg.row(s) for s in seqs]
            finally:
                if own:
                    seg.close()
            for e in rows:
                if e is not None:
                    found += 1
                    yield e
            if found >= limit:
                return

    def last_entry(self, kind: str) -> Entry | None:
        """The newest ``snapshot`` or ``checkpoint`` entry."""
        return next(self.entries_of_kind_desc(kind, 1), None)

    def count(self) -> int:
        """Entries still here (across segments)."""
        n = 0
        for seg in self._segments_from(1):
            seg.flush()
            n += int(seg.db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        return n

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
        """Walk the chain across segments; report the first entry that is missing,
        altered or out of place, or (with ``public_key``) the first checkpoint
        whose signature fails. Segments removed from the front must be recorded
        in ``archived.jsonl``, and what remains must continue their last head."""
        prev, expected, n, cps = ZERO_HASH, 1, 0, 0
        last_cp: int | None = None
        last_cp_entry = 0
        archived = 0
        nseg = 0
        heads = self.archived_heads()
        by_first = {a.first: a for a in heads}
        for a in heads:
            if self.archive is not None and (self.archive / a.file).is_file():
                break  # read from the archive below, from here on
            if a.first != expected:
                return VerifyResult(
                    False, 0, prev, expected, f"archived.jsonl: segment {a.file} does not start at {expected}"
                )
            expected, prev, archived = a.last + 1, a.head, a.last
        try:
            for seg in self._segments_from(expected):
                nseg += 1
                rec = by_first.get(seg.first_seq)
                from_archive = self.archive is not None and seg.path.parent == self.archive
                if rec is not None and from_archive and _sha256_file(seg.path) != rec.sha256:
                    return VerifyResult(
                        False,
                        n,
                        prev,
                        seg.first_seq,
                        f"archived segment {seg.path.name} differs from the one archived.jsonl records",
                        cps,
                        last_cp,
                        segments=nseg,
                    )
                if seg.first_seq != expected or seg.prev_hash != prev:
                    if seg.first_seq > expected:
                        problem = (
                            f"entries {expected}..{seg.first_seq - 1} are missing "
                            "(a segment removed without being recorded as archived)"
                        )
                        return VerifyResult(False, n, prev, expected, problem, cps, last_cp, segments=nseg)
                    return VerifyResult(
                        False,
                        n,
                        prev,
                        seg.first_seq,
                        f"segment {seg.path.name} does not continue the chain before it",
                        cps,
                        last_cp,
                        segments=nseg,
                    )
                decode = seg.decoder()
                for seq, ts, kind, codec, stored, stored_h, stored_prev in seg.raw_rows():
                    if seq != expected:
                        return VerifyResult(
                            False,
                            n,
                            prev,
                            expected,
                            f"entries {expected}..{seq - 1} are missing (removed)",
                            segments=nseg,
                        )
                    if stored_prev is not None and bytes(stored_prev) != prev:
                        return VerifyResult(
                            False,
                            n,
                            prev,
                            seq,
                            "prev_hash does not match the entry before it "
                            "(entries removed, reordered or replaced)",
                            segments=nseg,
                        )
                    if (
                        not isinstance(ts, float | int)
                        or not isinstance(kind, str)
                        or not isinstance(stored, bytes)
                        or not isinstance(codec, int)
                    ):
                        return VerifyResult(
                            False, n, prev, seq, "entry has wrong column types (altered)", segments=nseg
                        )
                    payload = _decoded(decode, codec, stored, seq)
                    h = entry_hash(prev, seq, float(ts), kind, payload)
                    if h != bytes(stored_h):
                        return VerifyResult(
                            False, n, prev, seq, "content does not match its hash (altered)", segments=nseg
                        )
                    if kind == "checkpoint":
                        problem = check_checkpoint(payload, seq - 1, prev, public_key)
                        if problem:
                            return VerifyResult(False, n, prev, seq, problem, cps, last_cp, segments=nseg)
                        cps += 1
                        last_cp, last_cp_entry = seq - 1, seq
                    prev = h
                    expected += 1
                    n += 1
        except sqlite3.DatabaseError as exc:
            raise InputError(f"unreadable journal ({exc})", file=str(self.path)) from None
        last = expected - 1
        if expect_head is not None and prev != expect_head:
            return VerifyResult(
                False, n, prev, last + 1, "head differs from the expected head (entries cut off the end?)"
            )
        if public_key is not None and cps == 0 and n > 0:
            return VerifyResult(
                False, n, prev, None, "no signed checkpoint to check the key against", 0, None, n
            )
        after = last - last_cp_entry if last_cp is not None else n
        return VerifyResult(
            True, n, prev, None, "", cps, last_cp, after, public_key is not None, archived, max(nseg, 1)
        )


def segment_head(path: Path, first: int, prev: bytes) -> tuple[bytes, str]:
    """The head hash of one closed segment file, checked: it must start at
    ``first`` after head ``prev`` and its chain must hold. ``(head, "")`` or
    ``(prev, what is wrong)``."""
    seg = _Segment(path, readonly=True)
    try:
        if seg.first_seq != first or seg.prev_hash != prev:
            return prev, "does not continue the chain before it"
        decode, h, expected = seg.decoder(), prev, first
        for seq, ts, kind, codec, stored, stored_h, _ in seg.raw_rows():
            if seq != expected:
                return prev, f"entries {expected}..{seq - 1} are missing"
            h = entry_hash(h, seq, float(ts), kind, _decoded(decode, codec, stored, seq))
            if h != bytes(stored_h):
                return prev, f"entry {seq} does not match its hash"
            expected += 1
        return h, ""
    finally:
        seg.close()


def segments_dir(path: Path) -> Path:
    """Where the closed segments of the journal whose live segment is ``path`` go."""
    return path.with_name(path.stem + ".segments")


def read_archived(directory: Path) -> list[ArchivedHead]:
    p = directory / "archived.jsonl"
    out: list[ArchivedHead] = []
    if not p.is_file():
        return out
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                ArchivedHead(
                    int(d["first"]),
                    int(d["last"]),
                    bytes.fromhex(d["head"]),
                    str(d["sha256"]),
                    str(d["file"]),
                    str(d.get("where", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            raise InputError("not an archived-head record", file=str(p), line=i) from None
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


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


__all__ = [
    "CHECKPOINT_S",
    "FORMAT",
    "SYNC_MODES",
    "WAL_BOUND_BYTES",
    "ZERO_HASH",
    "ArchivedHead",
    "Entry",
    "Journal",
    "SegmentInfo",
    "VerifyResult",
    "check_checkpoint",
    "entry_hash",
    "read_archived",
    "segment_head",
    "segments_dir",
]
