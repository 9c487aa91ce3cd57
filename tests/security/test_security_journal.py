"""Journal attacks (issue 14 item 8): someone who may write ``journal.db`` but
does not hold the node's key."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.exchange.signing import generate_key, public_key_text
from tocsin.journal import Journal, entry_hash
from tocsin.runtime import Pipeline
from tocsin.wire import encode_json


def tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args], capture_output=True, text=True, timeout=60, check=False
    )


def append_forged_row(path: Path, kind: str, payload: bytes) -> None:
    """Append a row with a correct chain hash, as anyone who can write the
    file can (the chain alone is public arithmetic)."""
    db = sqlite3.connect(path)
    seq, head = db.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    ts = 1_900_000_000.0
    h = entry_hash(bytes(head), seq + 1, ts, kind, payload)
    db.execute(
        "INSERT INTO entries (seq, ts, kind, codec, payload, hash) VALUES (?, ?, ?, 0, ?, ?)",
        (seq + 1, ts, kind, payload, h),
    )
    db.commit()
    db.close()


def test_forged_row_after_the_last_checkpoint_is_visible_and_fails_strict(tmp_path: Path) -> None:
    key = generate_key()
    pub = tmp_path / "node.pub"
    pub.write_text(public_key_text(key))
    p = tmp_path / "journal.db"
    pipe = Pipeline(toy_stages(), Journal(p, synchronous="NORMAL"), checkpoint_key=key)
    for i in range(1, 6):
        pipe.submit(sample_plot(seq=i))
    pipe.close()  # a clean stop signs a last checkpoint
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "after the last checkpoint" not in r.stdout

    forged = encode_json(sample_plot(seq=99, source="JP-R9"))
    append_forged_row(p, "input", forged)
    r = tocsin("journal", "verify", str(p), "--pub", str(pub))
    assert r.returncode == 0  # the chain is intact: the row cannot be told from a real one ...
    assert "1 entries after the last checkpoint (no signature covers them)" in r.stdout  # ... but is shown
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 1
    assert "1 entries after the last signed checkpoint" in r.stderr
