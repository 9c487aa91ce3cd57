"""`tocsin replay`: stage set from the journal, tampered journals refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.journal import Journal
from tocsin.runtime import Pipeline, file_sinks, note_start


def live_run(data: Path) -> None:
    j = Journal(data / "journal.db", synchronous="NORMAL")
    note_start(j, "toy", "test")
    sinks = file_sinks(data, j)
    pipe = Pipeline(toy_stages(), j, sinks)
    pipe.submit_batch([sample_plot(source=f"JP-R{i % 2}", seq=i, sent=1000.0 + i) for i in range(1, 9)])
    pipe.tick(1020.0)
    pipe.close()


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "replay", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_replay_auto_toy_and_tamper(tmp_path: Path) -> None:
    data = tmp_path / "data"
    live_run(data)
    r = replay(str(data / "journal.db"), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "identical" in r.stdout
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (data / name).read_bytes()
    assert (data / "alerts.jsonl").read_bytes().count(b"\n") == 4  # 2 alerts, 2 cancels after the tick

    r = replay(str(data / "journal.db"), "-o", str(tmp_path / "o2"), "--stages", "bogus")
    assert r.returncode == 2
    assert "--stages" in r.stderr

    db = sqlite3.connect(data / "journal.db")
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET payload = replace(payload, 'JP-R1', 'JP-R9') WHERE kind = 'input'")
    db.commit()
    db.close()
    r = replay(str(data / "journal.db"), "-o", str(tmp_path / "o3"))
    assert r.returncode == 1
    assert "TAMPERED" in r.stderr
