"""Hash-chained journal: append, reopen, verify finds altered/removed/reordered entries."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.errors import ConfigError, InputError
from tocsin.journal import ZERO_HASH, Journal, entry_hash


def fill(path: Path, n: int = 10, **kw: str) -> Journal:
    j = Journal(path, clock=lambda: 1000.0, **kw)  # type: ignore[arg-type]
    for i in range(n):
        j.append("input" if i % 2 else "output", f"payload-{i}".encode())
    return j


def tamper(path: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("DROP TRIGGER entries_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def test_chain_and_reopen(tmp_path: Path) -> None:
    p = tmp_path / "j.db"
    j = fill(p, 5)
    head = j.head
    assert j.last_seq == 5
    j.close()
    j2 = Journal(p)
    assert j2.last_seq == 5
    assert j2.head == head
    e = j2.append("note", b"x")
    assert e.seq == 6
    assert e.prev_hash == head
    assert e.hash == entry_hash(head, 6, e.ts, "note", b"x")
    first = next(j2.entries())
    assert first.prev_hash == ZERO_HASH
    assert j2.verify().ok
    assert j2.verify().count == 6
    assert [x.seq for x in j2.entries(kinds=["note"])] == [6]


def test_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    j = fill(tmp_path / "j.db", 3)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        j._db.execute("UPDATE entries SET payload = x'00' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        j._db.execute("DELETE FROM entries WHERE seq = 2")


def test_transaction_rolls_back_and_restores_head(tmp_path: Path) -> None:
    j = fill(tmp_path / "j.db", 3)
    head = j.head

    def failing_batch() -> None:
        with j.transaction():
            j.append("input", b"a")
            j.append("input", b"b")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert j.last_seq == 3
    assert j.head == head
    assert j.count() == 3
    j.append("input", b"c")
    assert j.verify().ok


def test_a_transaction_writes_its_rows_at_once_and_reads_see_them(tmp_path: Path) -> None:
    """Group commit: the rows of one transaction are written by one
    executemany before the commit (not one INSERT each); a read inside the
    transaction still sees them, another connection sees nothing before the
    commit, and a failure while writing them rolls the whole group back."""
    p = tmp_path / "j.db"
    j = fill(p, 3)
    other = Journal(p, readonly=True)
    with j.transaction():
        for i in range(5):
            j.append("input", f"g-{i}".encode())
        live = j._live
        assert live is not None
        assert live._rows is not None
        assert len(live._rows) == 5
        assert [e.payload for e in j.entries(4)] == [f"g-{i}".encode() for i in range(5)]
        assert j.count() == 8
        j.append("input", b"g-5")  # (gathered again after the read)
        assert other.count() == 3
    assert other.count() == 9
    assert [e.seq for e in other.entries(4)] == list(range(4, 10))
    assert j.verify().ok
    head = j.head

    # a row the database refuses (a seq already taken) fails the group at its write
    def duplicate_seq() -> None:
        with j.transaction():
            j.append("input", b"h-0")
            j._seq -= 2  # (forces a duplicate seq: the group's write fails)
            j.append("input", b"h-1")

    with pytest.raises(sqlite3.IntegrityError):
        duplicate_seq()
    assert j.last_seq == 9
    assert j.head == head
    assert j.count() == 9
    assert j.append("input", b"h-2").seq == 10
    assert j.verify().ok


@pytest.mark.parametrize(
    ("sql", "args", "bad", "word"),
    [
        ("UPDATE entries SET payload = ? WHERE seq = 4", (b"evil",), 4, "altered"),
        ("UPDATE entries SET kind = 'note' WHERE seq = 7", (), 7, "altered"),
        ("UPDATE entries SET ts = 5.0 WHERE seq = 2", (), 2, "altered"),
        ("DELETE FROM entries WHERE seq = 5", (), 5, "missing"),
        ("DELETE FROM entries WHERE seq IN (1, 2)", (), 1, "missing"),
        ("UPDATE entries SET payload = CAST(payload AS TEXT) WHERE seq = 3", (), 3, "altered"),
    ],
)
def test_verify_names_the_first_bad_entry(
    tmp_path: Path, sql: str, args: tuple[object, ...], bad: int, word: str
) -> None:
    p = tmp_path / "j.db"
    fill(p).close()
    tamper(p, sql, *args)
    res = Journal(p, readonly=True).verify()
    assert not res.ok
    assert res.bad_seq == bad
    assert word in res.problem


def test_reordered_entries_are_found(tmp_path: Path) -> None:
    """Swap two whole rows (hashes and all) and renumber: the chain breaks at the first."""
    p = tmp_path / "j.db"
    fill(p).close()
    db = sqlite3.connect(p)
    rows = {r[0]: r[1:] for r in db.execute("SELECT seq, ts, kind, codec, payload, hash FROM entries")}
    db.close()
    tamper(p, "DELETE FROM entries WHERE seq IN (3, 4)")
    db = sqlite3.connect(p)
    db.execute("INSERT INTO entries VALUES (3, ?, ?, ?, ?, ?)", rows[4])
    db.execute("INSERT INTO entries VALUES (4, ?, ?, ?, ?, ?)", rows[3])
    db.commit()
    db.close()
    res = Journal(p, readonly=True).verify()
    assert res.bad_seq == 3
    assert "does not match its hash" in res.problem


def test_recomputed_forgery_is_caught_by_the_head(tmp_path: Path) -> None:
    """An attacker who rewrites the tail and recomputes its hashes is caught by a
    head hash kept elsewhere; cutting entries off the end likewise."""
    p = tmp_path / "j.db"
    j = fill(p)
    head = j.head
    j.close()
    tamper(p, "DELETE FROM entries WHERE seq = 10")
    res = Journal(p, readonly=True).verify(expect_head=head)
    assert not res.ok
    assert res.bad_seq == 10
    assert Journal(p, readonly=True).verify().ok


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such journal"):
        Journal(tmp_path / "nope.db", readonly=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a tocsin journal"):
        Journal(junk, readonly=True)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="not a tocsin journal"):
        Journal(other, readonly=True)
    with pytest.raises(ConfigError, match="synchronous"):
        Journal(tmp_path / "x.db", synchronous="OFF")


def test_durability_settings(tmp_path: Path) -> None:
    for mode, code in (("FULL", 2), ("NORMAL", 1)):
        j = Journal(tmp_path / f"{mode}.db", synchronous=mode)
        assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == code
        j.close()


def test_a_lazy_commit_skips_only_its_own_fsync(tmp_path: Path) -> None:
    """``durable=False`` (a tick): that commit runs with synchronous=NORMAL (no
    fsync of its own; the next durable commit's fsync covers its WAL frames),
    every other commit with FULL again, also after a failed lazy one; the
    entries are chained and read back like any other."""
    j = Journal(tmp_path / "j.db")
    modes: list[int] = []
    j.append("input", b"a")
    with j.transaction(durable=False):
        modes.append(j._db.execute("PRAGMA synchronous").fetchone()[0])
        j.add("tick", b"1")
    modes.append(j._db.execute("PRAGMA synchronous").fetchone()[0])
    j.append("tick", b"2", durable=False)

    def fail() -> None:
        with j.transaction(durable=False):
            j.add("tick", b"lost")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    modes.append(j._db.execute("PRAGMA synchronous").fetchone()[0])
    with j.transaction():
        j.append("tick", b"3", durable=False)  # (inside a durable transaction: joins it)
        modes.append(j._db.execute("PRAGMA synchronous").fetchone()[0])
    assert modes == [1, 2, 2, 2]  # NORMAL inside the lazy commit only, FULL everywhere else
    j.close()
    with Journal(tmp_path / "j.db", readonly=True) as r:
        assert [(e.kind, e.payload) for e in r.entries()] == [
            ("input", b"a"), ("tick", b"1"), ("tick", b"2"), ("tick", b"3"),
        ]  # fmt: skip
        assert r.verify().ok
    n = Journal(tmp_path / "n.db", synchronous="NORMAL")
    n.append("tick", b"1", durable=False)
    assert n._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # (a NORMAL journal stays NORMAL)
    n.close()


@given(
    payloads=st.lists(st.binary(max_size=40), min_size=2, max_size=12),
    data=st.data(),
)
@settings(max_examples=40, deadline=None)
def test_any_single_payload_change_is_found(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes], data: st.DataObject
) -> None:
    p = tmp_path_factory.mktemp("h") / "j.db"
    j = Journal(p, synchronous="NORMAL")
    for b in payloads:
        j.append("input", b)
    j.close()
    k = data.draw(st.integers(1, len(payloads)))
    new = data.draw(st.binary(max_size=40).filter(lambda b: b != payloads[k - 1]))
    tamper(p, "UPDATE entries SET payload = ? WHERE seq = ?", new, k)
    res = Journal(p, readonly=True).verify()
    assert res.bad_seq == k


def rewrite_chain(path: Path, seq: int, payload: bytes) -> None:
    """What an attacker with write access but no key does: change an entry and
    recompute every hash after it so the bare chain verifies again."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER entries_no_update")
    rows = db.execute("SELECT seq, ts, kind, codec, payload FROM entries ORDER BY seq").fetchall()
    prev = ZERO_HASH
    for s, ts, kind, codec, pl in rows:
        assert codec == 0  # small test journals are stored as they are
        pl = payload if s == seq else bytes(pl)
        h = entry_hash(prev, s, ts, kind, pl)
        db.execute("UPDATE entries SET payload = ?, hash = ? WHERE seq = ?", (pl, h, s))
        prev = h
    db.commit()
    db.close()


def test_signed_checkpoints_catch_a_recomputed_chain(tmp_path: Path) -> None:
    from tocsin.exchange.signing import generate_key

    key, other = generate_key(), generate_key()
    p = tmp_path / "j.db"
    j = fill(p, 5)
    j.checkpoint(key)
    for i in range(3):
        j.append("input", f"late-{i}".encode())
    j.checkpoint(key)
    j.close()
    good = Journal(p, readonly=True).verify(public_key=key.public_key())
    assert good.ok
    assert good.checkpoints == 2
    assert good.last_checkpoint == 9
    assert not Journal(p, readonly=True).verify(public_key=other.public_key()).ok

    rewrite_chain(p, 3, b"forged")
    assert Journal(p, readonly=True).verify().ok is False  # checkpoint no longer covers its head
    res = Journal(p, readonly=True).verify(public_key=key.public_key())
    assert not res.ok
    assert res.bad_seq == 6  # the first checkpoint after the change


def test_checkpoint_needed_when_a_key_is_given(tmp_path: Path) -> None:
    from tocsin.exchange.signing import generate_key

    p = tmp_path / "j.db"
    fill(p, 3).close()
    res = Journal(p, readonly=True).verify(public_key=generate_key().public_key())
    assert not res.ok
    assert "no signed checkpoint" in res.problem


def test_pipeline_writes_checkpoints(tmp_path: Path) -> None:
    from tocsin.exchange.samples import sample_plot, toy_stages
    from tocsin.exchange.signing import generate_key
    from tocsin.runtime import Pipeline

    key = generate_key()
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, checkpoint_key=key, checkpoint_every=10)
    for i in range(1, 11):
        pipe.submit(sample_plot(seq=i))
    pipe.close()
    with Journal(tmp_path / "j.db", readonly=True) as r:
        res = r.verify(public_key=key.public_key())
        assert res.ok
        assert res.checkpoints >= 2
        assert [e.kind for e in r.entries()][-1] == "checkpoint"  # one at close


def test_verify_counts_entries_after_the_last_checkpoint(tmp_path: Path) -> None:
    from tocsin.exchange.signing import generate_key

    key = generate_key()
    p = tmp_path / "j.db"
    j = fill(p, 4)
    res = j.verify()
    assert (res.ok, res.checkpoints, res.after_checkpoint) == (True, 0, 4)
    assert "no checkpoint: no signature covers any entry" in res.summary()
    j.checkpoint(key)
    res = j.verify(public_key=key.public_key())
    assert (res.ok, res.last_checkpoint, res.after_checkpoint) == (True, 4, 0)
    assert "after the last checkpoint" not in res.summary()
    j.append("input", b"late")
    j.append("input", b"later")
    res = j.verify(public_key=key.public_key())
    assert (res.ok, res.after_checkpoint) == (True, 2)
    assert "2 entries after the last checkpoint (no signature covers them)" in res.summary()
    assert "1 signed checkpoints" in res.summary()
    assert "signatures not checked" in j.verify().summary()
    j.close()


def test_pipeline_checkpoints_on_the_clock(tmp_path: Path) -> None:
    """Entries arriving slowly still get a checkpoint every ``checkpoint_s``
    seconds of the caller's clock, not only every ``checkpoint_every`` entries."""
    from tocsin.exchange.samples import sample_plot, toy_stages
    from tocsin.exchange.signing import generate_key
    from tocsin.runtime import Pipeline

    key = generate_key()
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, checkpoint_key=key, checkpoint_every=10_000, checkpoint_s=5.0)
    assert not pipe.housekeeping_due(100.0)  # starts the clock
    pipe.submit(sample_plot(seq=1))
    assert not pipe.housekeeping_due(104.0)
    assert pipe.housekeeping_due(105.0)
    pipe.housekeeping(105.0)
    assert j.verify(public_key=key.public_key()).after_checkpoint == 0
    assert not pipe.housekeeping_due(200.0)  # nothing new to sign
    pipe.submit(sample_plot(seq=2))
    assert not pipe.housekeeping_due(109.0)
    pipe.housekeeping(110.5)
    res = j.verify(public_key=key.public_key())
    assert (res.checkpoints, res.after_checkpoint) == (2, 0)
    j.close()


def test_recovery_notes_the_unsigned_tail_then_signs(tmp_path: Path) -> None:
    from tocsin.exchange.samples import sample_plot, toy_stages
    from tocsin.exchange.signing import generate_key
    from tocsin.runtime import Pipeline

    key = generate_key()
    p = tmp_path / "j.db"
    j = Journal(p, synchronous="NORMAL")
    pipe = Pipeline(toy_stages(), j, checkpoint_key=key, checkpoint_every=10_000, checkpoint_s=0)
    for i in range(1, 4):
        pipe.submit(sample_plot(seq=i))
    j.close()  # a crash: no checkpoint at all
    j = Journal(p, synchronous="NORMAL")
    n = j.last_seq
    rep = Pipeline(toy_stages(), j, checkpoint_key=key).recover()
    assert rep.unsigned_tail == n
    note = json.loads(list(j.entries(kinds=["note"]))[-1].payload)
    assert (note["event"], note["unsigned_tail"]) == ("recovered", n)
    res = j.verify(public_key=key.public_key())
    assert (res.ok, res.after_checkpoint) == (True, 0)
    j.close()
