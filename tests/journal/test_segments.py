"""Journal format 2 and segments (issue 19, bounded disk): compact payloads,
rotation with the chain carried across segments, archive and prune with
verify still working on what remains plus the archived heads."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import generate_key, public_key_text
from tocsin.journal import Journal
from tocsin.journal.store import TRAIN_AT, segments_dir
from tocsin.wire import encode_json


def tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args], capture_output=True, text=True, timeout=120, check=False
    )


def payload(i: int) -> bytes:
    src = ("JP-R1", "KR-R1")[i % 2]
    return encode_json(sample_plot(partner=src[:2], source=src, seq=i + 1, sent=1_789_430_400.0 + i * 0.1))


def fill(j: Journal, n: int, start: int = 0, batch: int = 50) -> list[bytes]:
    out = []
    for k in range(start, start + n, batch):
        with j.transaction():
            for i in range(k, min(k + batch, start + n)):
                p = payload(i)
                j.append("input", p)
                out.append(p)
    return out


def test_payloads_are_stored_compressed_and_read_back_exactly(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    want = fill(j, TRAIN_AT + 1000)
    got = [e.payload for e in j.entries()]
    assert got == want
    db = sqlite3.connect(p)
    raw, packed = db.execute(
        "SELECT SUM(codec = 0), SUM(codec > 0) FROM entries WHERE seq > ?", (TRAIN_AT + 50,)
    ).fetchone()
    stored = db.execute("SELECT SUM(length(payload)) FROM entries WHERE codec > 0").fetchone()[0]
    logical = sum(len(w) for w in want[-packed:])
    db.close()
    assert raw == 0  # every payload after the dictionary was trained is compressed ...
    assert stored < 0.5 * logical  # ... to under half its size
    assert j.verify().ok
    j.close()


def test_compressed_payload_tampering_is_found(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    fill(j, TRAIN_AT + 200)
    j.close()
    db = sqlite3.connect(p)
    db.execute("DROP TRIGGER entries_no_update")
    seq, blob = db.execute(
        "SELECT seq, payload FROM entries WHERE codec > 0 ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    db.execute("UPDATE entries SET payload = ? WHERE seq = ?", (bytes(blob[:-1]) + b"\x00", seq))
    db.commit()
    db.close()
    res = Journal(p, readonly=True).verify()
    assert not res.ok
    assert res.bad_seq == seq


def test_rotation_carries_the_chain_across_segments(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    key = generate_key()
    j = Journal(p, synchronous="NORMAL")
    reader = Journal(p, readonly=True)  # opened before any rotation
    want = fill(j, 300)
    j.checkpoint(key)
    closed = j.rotate()
    assert closed.parent == segments_dir(p)
    assert closed.name == f"{1:012d}-{301:012d}.db"
    want += fill(j, 300, start=300)
    j.rotate()
    want += fill(j, 10, start=600)
    j.checkpoint(key)
    inputs = [e.payload for e in j.entries(kinds=["input"])]
    assert inputs == want
    assert [e.seq for e in j.entries()] == list(range(1, j.last_seq + 1))
    res = j.verify(public_key=key.public_key())
    assert res.ok, res.summary()
    assert (res.segments, res.count, res.after_checkpoint) == (3, j.last_seq, 0)
    # a reader opened before the rotations sees everything after them
    assert [e.payload for e in reader.entries(kinds=["input"])] == want
    head, last = j.head, j.last_seq
    j.close()
    again = Journal(p)  # the writer reopens and continues
    assert (again.last_seq, again.head) == (last, head)
    again.append("input", payload(999))
    assert again.verify().ok
    again.close()
    reader.close()


def test_a_rotation_cut_short_is_continued(tmp_path: Path) -> None:
    """Crash after the live segment was moved away, before the new one exists."""
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    fill(j, 20)
    head = j.head
    j.close()
    d = segments_dir(p)
    d.mkdir()
    shutil.move(p, d / f"{1:012d}-{20:012d}.db")
    j = Journal(p, synchronous="NORMAL")
    assert (j.last_seq, j.head) == (20, head)
    j.append("input", b"next")
    assert j.verify().ok
    j.close()


def test_removed_segment_in_the_middle_is_named(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    for k in range(3):
        fill(j, 10, start=10 * k)
        j.rotate()
    j.close()
    (segments_dir(p) / f"{11:012d}-{20:012d}.db").unlink()
    res = Journal(p, readonly=True).verify()
    assert not res.ok
    assert res.bad_seq == 11
    assert "entries 11..20 are missing" in res.problem


def rotated_journal(tmp_path: Path, segments: int = 4) -> tuple[Path, Path]:
    key = generate_key()
    pub = tmp_path / "node.pub"
    pub.write_text(public_key_text(key))
    p = tmp_path / "data" / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    for k in range(segments):
        fill(j, 25, start=25 * k)
        j.checkpoint(key)
        if k < segments - 1:
            j.rotate()
    j.close()
    return p, pub


def test_archive_then_verify_what_remains_and_the_whole(tmp_path: Path) -> None:
    p, pub = rotated_journal(tmp_path)
    arch = tmp_path / "archive"
    r = tocsin("journal", "archive", str(p), "--to", str(arch), "--keep", "1")
    assert r.returncode == 0, r.stderr
    assert "archived 2 segments (entries 1..52)" in r.stdout
    assert len(list(segments_dir(p).glob("*.db"))) == 1
    assert len(list(arch.glob("*.db"))) == 2
    heads = [json.loads(x) for x in (segments_dir(p) / "archived.jsonl").read_text().splitlines()]
    assert [(h["first"], h["last"]) for h in heads] == [(1, 26), (27, 52)]
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "entries 1..52 archived" in r.stdout
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--archive", str(arch))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "archived" not in r.stdout  # every entry checked
    assert "104 entries in 4 segments" in r.stdout
    # a replay starts at entry 1: without the archive it refuses, with it it runs
    r = tocsin("replay", str(p), "-o", str(tmp_path / "r1"), "--stages", "toy", "--no-check")
    assert r.returncode == 2
    assert "replay with --archive DIR" in r.stderr
    r = tocsin(
        "replay", str(p), "-o", str(tmp_path / "r2"), "--stages", "toy", "--no-check", "--archive", str(arch)
    )
    assert r.returncode == 0, r.stderr
    # the whole history reads back through the archive
    with Journal(p, readonly=True, archive=arch) as j:
        assert [e.seq for e in j.entries()] == list(range(1, 105))
    # an archived file changed afterwards is named
    victim = sorted(arch.glob("*.db"))[0]
    db = sqlite3.connect(victim)
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET ts = ts + 1 WHERE seq = 3")
    db.commit()
    db.close()
    r = tocsin("journal", "verify", str(p), "--archive", str(arch))
    assert r.returncode == 1
    assert victim.name in r.stdout


def test_prune_keeps_the_heads_and_refuses_without_yes(tmp_path: Path) -> None:
    p, pub = rotated_journal(tmp_path)
    r = tocsin("journal", "prune", str(p), "--keep", "0")
    assert r.returncode == 2
    assert "--yes" in r.stderr
    assert len(list(segments_dir(p).glob("*.db"))) == 3
    r = tocsin("journal", "prune", str(p), "--keep", "0", "--yes")
    assert r.returncode == 0, r.stderr
    assert not list(segments_dir(p).glob("*.db"))
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "entries 1..78 archived" in r.stdout
    # a forged archived.jsonl that does not lead to the live segment fails
    lines = (segments_dir(p) / "archived.jsonl").read_text().splitlines()
    forged = json.loads(lines[-1])
    forged["head"] = "00" * 32
    (segments_dir(p) / "archived.jsonl").write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")
    r = tocsin("journal", "verify", str(p))
    assert r.returncode == 1
    assert "does not continue the chain" in r.stdout


def _format_1(p: Path) -> sqlite3.Connection:
    """An empty journal of format 1 (before segments and compression) at ``p``,
    open for the test to add rows to."""
    db = sqlite3.connect(p)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE entries (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL,
            payload BLOB NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
        INSERT INTO meta VALUES ('format', 'tocsin-journal-1');
        """
    )
    return db


def test_format_1_journals_are_read_and_continued(tmp_path: Path) -> None:
    from tocsin.journal.store import ZERO_HASH, entry_hash

    p = tmp_path / "old.db"
    db = _format_1(p)
    prev = ZERO_HASH
    for i in range(1, 4):
        h = entry_hash(prev, i, 1.0, "input", b"m%d" % i)
        db.execute("INSERT INTO entries VALUES (?, 1.0, 'input', ?, ?, ?)", (i, b"m%d" % i, prev, h))
        prev = h
    db.commit()
    db.close()
    j = Journal(p)
    assert (j.last_seq, j.head) == (3, prev)
    j.append("input", b"m4")
    assert [e.payload for e in j.entries()] == [b"m1", b"m2", b"m3", b"m4"]
    assert j.verify().ok
    j.rotate()  # the next segment is format 2
    j.append("input", b"m5")
    assert j.verify().ok
    j.close()


@pytest.mark.parametrize("n", [1, 3])
def test_archive_never_touches_the_live_segment(tmp_path: Path, n: int) -> None:
    p, _ = rotated_journal(tmp_path, segments=n)
    r = tocsin("journal", "prune", str(p), "--keep", "0", "--yes")
    assert r.returncode == 0, r.stderr
    assert p.is_file()
    with Journal(p, readonly=True) as j:
        assert j.verify().ok
        assert j.last_seq == 26 * n


def test_dictionary_is_trained_again_once_every_kind_of_payload_was_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal's first entries may all be plots (the tracker still starting):
    the first dictionary never saw a track output. The segment trains once more
    at ten times the first count, and later outputs compress with that."""
    from tocsin.journal import store

    monkeypatch.setattr(store, "TRAIN_AT", 600)
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL")
    fill(j, 600)  # plots only: dictionary 1
    track = json.dumps({"kind": "track", "cov": [i * 1.2345678901 for i in range(36)]}).encode()
    for k in range(0, 6000, 50):
        with j.transaction():
            for i in range(k, k + 50):
                j.append("output", track.replace(b"track", f"track{i}".encode()))
    db = sqlite3.connect(p)
    ids = [r[0] for r in db.execute("SELECT id FROM dicts ORDER BY id")]
    last_codec = db.execute("SELECT codec FROM entries ORDER BY seq DESC LIMIT 1").fetchone()[0]
    db.close()
    assert ids == [1, 2]
    assert last_codec == 2
    assert j.verify().ok
    assert [e.payload for e in j.entries()][-1] == track.replace(b"track", b"track5999")
    j.close()


def _dict_ids(p: Path) -> list[int]:
    db = sqlite3.connect(p)
    try:
        return [r[0] for r in db.execute("SELECT id FROM dicts ORDER BY id")]
    finally:
        db.close()


def test_a_server_journal_trains_its_dictionary_off_the_writers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The servers' writer (the pipeline thread) must not stop for the
    training (issue 17 (b): 0.1-1 s of CPU, twice a segment): the transaction
    that reaches the count starts it on a thread of its own and returns; the
    first transaction after it ended stores the dictionary; what was appended
    in between is stored as it was and reads back exactly."""
    import threading

    from tocsin.journal import store

    trained_on: list[str] = []
    started, release = threading.Event(), threading.Event()
    real = store.train_dictionary

    def slow_train(samples: list[bytes]) -> bytes | None:
        trained_on.append(threading.current_thread().name)
        started.set()
        release.wait(10.0)  # (a synchronous training would hold the writer here)
        return real(samples)

    monkeypatch.setattr(store, "train_dictionary", slow_train)
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL", train_off_thread=True)
    want = fill(j, TRAIN_AT + 100)  # reaches the count: the training starts
    assert started.wait(10.0)
    assert trained_on[0] != threading.current_thread().name
    assert _dict_ids(p) == []  # not trained yet: the writer went on
    want += fill(j, 100, start=TRAIN_AT + 100)
    assert _dict_ids(p) == []
    release.set()
    j._live.wait_training()  # type: ignore[union-attr]
    want += fill(j, 200, start=TRAIN_AT + 200)  # the first transaction stores it
    assert _dict_ids(p) == [1]
    db = sqlite3.connect(p)
    first_packed = db.execute("SELECT MIN(seq) FROM entries WHERE codec = 1").fetchone()[0]
    raw_after = db.execute(
        "SELECT COUNT(*) FROM entries WHERE codec = 0 AND seq > ?", (first_packed,)
    ).fetchone()[0]
    db.close()
    assert first_packed > TRAIN_AT + 200  # nothing before the dictionary was stored
    assert raw_after == 0
    assert [e.payload for e in j.entries()] == want
    assert j.verify().ok
    j.close()
    assert len(trained_on) == 1


def test_a_dictionary_trained_off_the_thread_at_a_rotation_comes_with_the_next_segment(
    tmp_path: Path,
) -> None:
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL", train_off_thread=True)
    want = fill(j, TRAIN_AT + 100)
    j._live.wait_training()  # type: ignore[union-attr]
    want += fill(j, 50, start=TRAIN_AT + 100)
    assert _dict_ids(p) == [1]
    j.rotate()
    assert _dict_ids(p) == []  # the new segment's is being trained
    j._live.wait_training()  # type: ignore[union-attr]
    want += fill(j, 50, start=TRAIN_AT + 150)
    assert _dict_ids(p) == [1]
    db = sqlite3.connect(p)
    (dict_from,) = db.execute("SELECT value FROM meta WHERE key = 'dict_from'").fetchone()
    db.close()
    assert dict_from == "rotation"  # a restart does not train it again
    assert [e.payload for e in j.entries(kinds=["input"])] == want
    assert j.verify().ok
    j.close()
    again = Journal(p, synchronous="NORMAL", train_off_thread=True)
    want += fill(j=again, n=TRAIN_AT + 100, start=len(want))
    again._live.wait_training()  # type: ignore[union-attr]
    want += fill(again, 50, start=len(want))
    assert _dict_ids(p) == [1]
    assert [e.payload for e in again.entries(kinds=["input"])] == want
    again.close()


def test_a_training_cut_short_by_a_stop_is_done_again(tmp_path: Path) -> None:
    """Stopped (or killed) before the dictionary was stored: nothing is lost;
    the reopened segment trains again once it holds enough payloads."""
    p = tmp_path / "journal.db"
    j = Journal(p, synchronous="NORMAL", train_off_thread=True)
    want = fill(j, TRAIN_AT + 50)
    j.close()  # the training's result is dropped
    assert _dict_ids(p) == []
    again = Journal(p, synchronous="NORMAL")
    want += fill(again, 50, start=len(want))  # past the count: trains (on this thread)
    assert _dict_ids(p) == [1]
    assert [e.payload for e in again.entries()] == want
    assert again.verify().ok
    again.close()


def _stored_rows(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        cols = [r[1] for r in db.execute("PRAGMA table_info(entries)")]
        return db.execute(f"SELECT {', '.join(cols)} FROM entries ORDER BY seq").fetchall()
    finally:
        db.close()


def _counting_clock() -> Callable[[], float]:
    ticks = iter(range(10**9))
    return lambda: 1_789_430_400.0 + next(ticks) * 0.001


@pytest.mark.parametrize("fmt", [2, 1])
def test_many_entries_at_once_are_the_entries_one_at_a_time(tmp_path: Path, fmt: int) -> None:
    """Journal.add_many (a bundle's members) and extend (runs of one kind)
    store exactly the rows add() stores one at a time: each its own clock
    reading, the same chain, the same codec and stored bytes (compressed or
    not, before and after the dictionary), and rolled back whole."""
    paths = {}
    for way in ("one", "many"):
        p = tmp_path / way / "journal.db"
        p.parent.mkdir()
        if fmt == 1:
            _format_1(p).close()
        j = Journal(p, synchronous="NORMAL", clock=_counting_clock())
        i = 0
        for batch in range(TRAIN_AT // 100 + 10):  # (past the dictionary's training on format 2)
            received = b"bundle-%d" % batch
            members = [payload(k) for k in range(i, i + 100)]
            members[batch % 100] = b"x"  # (one too short to compress)
            i += 100
            outputs = [payload(k)[::-1] for k in range(i, i + 3)]
            with j.transaction():
                if way == "one":
                    j.add("received", received)
                    for m in members:
                        j.add("input", m)
                    for o in outputs:
                        j.add("output", o)
                    j.add("note", b"n")
                else:
                    j.add("received", received)
                    assert j.add_many("input", members) == j.last_seq
                    assert j.add_many("input", []) == j.last_seq
                    assert j.extend([("output", o) for o in outputs] + [("note", b"n")]) == 4
        head = j.head

        def failing(j: Journal) -> None:
            with j.transaction():
                j.add_many("input", [payload(0), payload(1)])
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing(j)
        assert j.head == head
        j.add_many("input", [payload(2)])  # (outside a transaction: its own commit)
        assert j.verify().ok
        paths[way] = p
        j.close()
    one, many = _stored_rows(paths["one"]), _stored_rows(paths["many"])
    assert len(one) == (TRAIN_AT // 100 + 10) * 105 + 1
    assert one == many
    if fmt == 2:
        assert {r[3] for r in many} == {0, 1}  # (stored raw and compressed, both compared)


def test_a_journal_written_at_another_zstd_level_is_read_and_continued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payloads' zstd level went 3 -> 1 (session 13): segments written at 3
    (their dictionary trained at 3 too) are read, verified and continued, and a
    rotation trains the next dictionary at the level in force."""
    from tocsin.journal import store

    p = tmp_path / "journal.db"
    monkeypatch.setattr(store, "_LEVEL", 3)
    j = Journal(p, synchronous="NORMAL")
    want = fill(j, TRAIN_AT + 300)
    j.close()
    monkeypatch.setattr(store, "_LEVEL", 1)
    j = Journal(p, synchronous="NORMAL")
    want += fill(j, 300, start=TRAIN_AT + 300)
    j.rotate()
    want += fill(j, TRAIN_AT // 2, start=TRAIN_AT + 600)
    assert [e.payload for e in j.entries()] == want
    assert j.verify().ok
    j.close()
    db = sqlite3.connect(segments_dir(p) / f"{1:012d}-{TRAIN_AT + 600:012d}.db")
    packed = db.execute(
        "SELECT COUNT(*) FROM entries WHERE codec > 0 AND seq > ?", (TRAIN_AT + 300,)
    ).fetchone()[0]
    db.close()
    assert packed == 300  # (the rows added at level 1 with the level-3 dictionary: compressed)
    db = sqlite3.connect(p)
    packed = db.execute("SELECT COUNT(*) FROM entries WHERE codec > 0").fetchone()[0]
    db.close()
    assert packed == TRAIN_AT // 2
