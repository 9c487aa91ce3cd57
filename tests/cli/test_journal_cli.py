"""`tocsin journal verify`: exit 0 intact, 1 tampered (naming the entry), 2 bad input."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tocsin.journal import Journal


def tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_verify_exit_codes(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    with Journal(p) as j:
        for i in range(5):
            j.append("input", f"m{i}".encode())
        head = j.head.hex()
    r = tocsin("journal", "verify", str(p))
    assert r.returncode == 0, r.stderr
    assert "ok: 5 entries" in r.stdout
    r = tocsin("journal", "head", str(p))
    assert r.stdout.split() == ["5", head]

    db = sqlite3.connect(p)
    db.execute("DROP TRIGGER entries_no_update")
    db.execute("UPDATE entries SET payload = x'00' WHERE seq = 3")
    db.commit()
    db.close()
    r = tocsin("journal", "verify", str(p))
    assert r.returncode == 1
    assert "TAMPERED at entry 3" in r.stdout

    r = tocsin("journal", "verify", str(tmp_path / "missing.db"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "missing.db" in r.stderr
    (tmp_path / "junk.db").write_text("junk" * 500)
    r = tocsin("journal", "verify", str(tmp_path / "junk.db"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_verify_with_the_node_key(tmp_path: Path) -> None:
    from tocsin.exchange.signing import generate_key, public_key_text

    key = generate_key()
    p = tmp_path / "journal.db"
    with Journal(p) as j:
        j.append("input", b"m")
        j.checkpoint(key)
    (tmp_path / "node.pub").write_text(public_key_text(key))
    (tmp_path / "other.pub").write_text(public_key_text(generate_key()))
    r = tocsin("journal", "verify", str(p), "--pub", str(tmp_path / "node.pub"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 signed checkpoints" in r.stdout
    r = tocsin("journal", "verify", str(p), "--pub", str(tmp_path / "other.pub"))
    assert r.returncode == 1
    assert "signature does not verify" in r.stdout


def test_verify_strict_fails_on_entries_after_the_last_checkpoint(tmp_path: Path) -> None:
    from tocsin.exchange.signing import generate_key, public_key_text

    key = generate_key()
    p = tmp_path / "journal.db"
    pub = tmp_path / "node.pub"
    pub.write_text(public_key_text(key))
    with Journal(p) as j:
        j.append("input", b"m")
        j.checkpoint(key)
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 0, r.stdout + r.stderr
    with Journal(p) as j:
        j.append("input", b"after")
    r = tocsin("journal", "verify", str(p), "--pub", str(pub))
    assert r.returncode == 0
    assert "1 entries after the last checkpoint" in r.stdout
    r = tocsin("journal", "verify", str(p), "--pub", str(pub), "--strict")
    assert r.returncode == 1
    assert "--strict: 1 entries after the last signed checkpoint" in r.stderr
    r = tocsin("journal", "verify", str(p), "--strict")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "--strict needs --pub" in r.stderr
