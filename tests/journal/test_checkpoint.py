"""The WAL checkpointed by a thread of its own (issue 17: SQLite's automatic
checkpoint ran inside the commit that crossed 1,000 pages, with an fsync of
the database file, on the pipeline thread): commits never checkpoint, the WAL
stays bounded when the thread falls behind, the rows are the same, and a
killed writer keeps every entry whose commit had returned."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tocsin.journal import Journal

PAYLOAD = 2_000  # bytes of incompressible payload an entry (no dictionary can shrink them)


def _payloads(i: int, n: int) -> list[bytes]:
    """``n`` payloads, a pure function of where they start (checked after a crash)."""
    import hashlib

    return [hashlib.shake_256(str(i + k).encode()).digest(PAYLOAD) for k in range(n)]


def _sizes(p: Path) -> tuple[int, int]:
    wal = Path(str(p) + "-wal")
    return p.stat().st_size, (wal.stat().st_size if wal.exists() else 0)


def _wait(cond: object, timeout: float = 30.0) -> None:
    t0 = time.monotonic()
    while not cond():  # type: ignore[operator]
        assert time.monotonic() - t0 < timeout, "the checkpointer did not run"
        time.sleep(0.01)


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "journal-checkpoint")


def test_commits_leave_the_checkpoint_to_the_thread(tmp_path: Path) -> None:
    """6 MB committed (1,500 pages: SQLite's own checkpoint would have run in a
    commit) with the thread idle: the database file does not grow, the WAL
    does; the thread then copies every frame, and the next commit restarts
    the WAL from its start."""
    p = tmp_path / "j.db"
    before = _threads()
    j = Journal(p, checkpoint_thread=True, checkpoint_s=3600.0)
    db0, _ = _sizes(p)
    for i in range(0, 3_000, 30):
        with j.transaction():
            j.add_many("input", _payloads(i, 30))
    db1, wal1 = _sizes(p)
    assert db1 == db0, "a commit copied the WAL into the database"
    assert wal1 > 6_000_000
    ck = j._checkpointer
    assert ck is not None
    ck.run_now()
    _wait(lambda: ck.runs >= 1)
    assert ck.last is not None
    busy, frames, copied = ck.last
    assert (busy, copied) == (0, frames)
    assert _sizes(p)[0] > 6_000_000
    with j.transaction():
        j.add("input", b"after")
    # the WAL started again from its start: one transaction's frames in it
    with sqlite3.connect(p) as other:
        _, frames, _ = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames < 10
    j.close()
    assert _threads() == before
    with Journal(p, readonly=True) as r:
        assert r.verify().ok
        assert r.count() == 3_001


def test_the_wal_stays_bounded_when_the_thread_falls_behind(tmp_path: Path) -> None:
    p = tmp_path / "j.db"
    bound = 1 << 20
    j = Journal(p, checkpoint_thread=True, checkpoint_s=3600.0, wal_bound=bound)
    tx = 32 * (PAYLOAD + 4096)  # (one transaction's frames, with its index pages, at most)
    worst = 0
    for i in range(0, 3_200, 32):
        with j.transaction():
            j.add_many("input", _payloads(i, 32))
        worst = max(worst, _sizes(p)[1])
    assert worst <= bound + tx
    assert _sizes(p)[0] > 5_000_000  # (the commits over the bound copied it in line)
    j.close()
    with Journal(p, readonly=True) as r:
        assert r.verify().ok
        assert r.count() == 3_200


def test_the_rows_are_the_same_with_or_without_the_thread(tmp_path: Path) -> None:
    """Replays read rows: a checkpoint moves pages, never changes a row."""
    rows = []
    for on in (False, True):
        p = tmp_path / f"j{on}.db"
        ticks = iter(range(10**6))
        j = Journal(p, clock=lambda t=ticks: float(next(t)), checkpoint_thread=on, checkpoint_s=0.001)
        for i in range(0, 1_000, 25):
            with j.transaction(durable=bool(i % 2)):
                j.add_many("input", _payloads(i, 25))
            j.sync()
        j.close()
        with Journal(p, readonly=True) as r:
            assert r._live is not None
            rows.append(list(r._live.raw_rows()))
    assert rows[0] == rows[1]


def test_rotation_and_close_stop_the_thread(tmp_path: Path) -> None:
    p = tmp_path / "j.db"
    before = _threads()  # (0, unless a failed test above left its journal open)
    j = Journal(p, checkpoint_thread=True, checkpoint_s=0.001, wal_bound=1 << 20)
    for i in range(0, 600, 30):
        with j.transaction():
            j.add_many("input", _payloads(i, 30))
        if i == 300:
            j.rotate()
        assert _threads() == before + 1
    j.close()
    assert _threads() == before
    with Journal(p, readonly=True) as r:
        assert r.verify().ok
        assert [e.payload for e in r.entries()] == _payloads(0, 600)


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_checkpoint import _payloads
    from tocsin.journal import Journal
    j = Journal(Path({path!r}), checkpoint_thread=True, checkpoint_s=0.002, wal_bound=256 * 1024)
    i = 0
    while True:
        with j.transaction():
            seq = j.add_many("input", _payloads(i, 10))
        i += 10
        print(seq, flush=True)  # acknowledged: its commit returned
    """
)


def test_a_killed_writer_keeps_every_entry_whose_commit_returned(tmp_path: Path) -> None:
    """kill -9 while commits, the thread's checkpoints and the in-line bound
    all run (a 256 KiB bound, a checkpoint every 2 ms): every acknowledged
    entry is there, whole, and the chain verifies. (A process crash: the
    operating system keeps what was written; power loss is SQLite's fsyncs.)"""
    for k, delay in enumerate((0.7, 1.3, 2.1)):
        p = tmp_path / f"j{k}.db"
        code = CHILD.format(tests=str(Path(__file__).parent), path=str(p))
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        acked = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < delay or acked < 200:
            line = child.stdout.readline()
            assert line, "the writer stopped by itself"
            acked = int(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for line in child.stdout:  # (what it acknowledged before it died)
            if line.strip():
                acked = int(line)
        child.stdout.close()
        with Journal(p, readonly=True) as r:
            assert r.verify().ok
            got = [e.payload for e in r.entries()]
        assert len(got) >= acked
        assert got[:acked] == _payloads(0, acked)


def test_the_live_segments_size_is_its_database_not_its_wal(tmp_path: Path) -> None:
    """--segment-mb bounds the size a segment's file has once closed: the
    database's pages, those still in the WAL included. The WAL file itself
    holds pages counted already (with the thread, up to WAL_BOUND_BYTES of
    them): counting it closed a segment that much early (session 14)."""
    p = tmp_path / "j.db"
    j = Journal(p, checkpoint_thread=True, checkpoint_s=3600.0)
    for i in range(0, 3_000, 30):  # 6 MB in the WAL, none of it checkpointed yet
        with j.transaction():
            j.add_many("input", _payloads(i, 30))
    uncheckpointed = j.live_bytes()
    db, wal = _sizes(p)
    assert wal > 6_000_000
    assert uncheckpointed > 6_000_000  # (the WAL's new pages count)
    ck = j._checkpointer
    assert ck is not None
    ck.run_now()
    _wait(lambda: ck.runs >= 1)
    assert j.live_bytes() == uncheckpointed  # where the pages are does not change it
    db, wal = _sizes(p)
    assert wal > 6_000_000  # (the WAL file is still there, all of it copied)
    assert j.live_bytes() == db
    j.close()
    assert _sizes(p) == (uncheckpointed, 0)  # the closed file's size


def test_a_segment_closes_when_its_database_reaches_the_limit_not_earlier(tmp_path: Path) -> None:
    """A pipeline rotating at max_bytes, the WAL checkpointed (by the thread,
    asked here between batches so the test does not depend on its timing):
    the closed segment's file is at least max_bytes. Counting the WAL file too
    closed it as much earlier as the WAL's high-water mark (session 14)."""
    from tocsin.exchange.samples import sample_plot
    from tocsin.runtime import Pipeline, SegmentPolicy
    from tocsin.wire import encode_json

    limit = 2**20
    j = Journal(tmp_path / "j.db", checkpoint_thread=True, checkpoint_s=3600.0)
    pipe = Pipeline([], j, segments=SegmentPolicy(max_bytes=limit, max_s=0.0))
    ck = j._checkpointer
    assert ck is not None
    seq = 0
    while pipe.rotations == 0:
        assert seq < 100_000, "never rotated"
        plots = [sample_plot(seq=seq + k, sent=1.789e9 + seq + k) for k in range(1, 201)]
        pipe.submit_batch([encode_json(p) for p in plots])
        seq += 200
        if seq % 2_000 == 0 and pipe.rotations == 0:
            runs = ck.runs
            ck.run_now()
            _wait(lambda runs=runs: ck.runs > runs)  # type: ignore[misc]
    closed = sorted(j.segments_dir.glob("*.db"))
    assert len(closed) == 1
    assert closed[0].stat().st_size >= limit
    pipe.close()
