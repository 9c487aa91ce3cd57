"""`tocsin node` stops cleanly on SIGTERM and SIGINT (issue 19): it finishes the
batch in hand, writes a last snapshot, signs a checkpoint, closes the journal
(no WAL left) and exits 0, whether it was consuming or still connecting."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats_helpers import free_port, nats_server
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import load_public_key
from tocsin.journal import Journal
from tocsin.wire import write_jsonl

T0 = 1_789_430_400.0


def make_key(tmp: Path) -> None:
    r = CliRunner().invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(tmp / "jp.key")])
    assert r.exit_code == 0, r.output


def node(url: str, tmp: Path, *extra: str) -> subprocess.Popen[str]:
    args = [
        sys.executable, "-m", "tocsin", "node", "--partner", "JP", "--nats", url,
        "--key", str(tmp / "jp.key"), "--data", str(tmp / "d"), "--stages", "toy",
        "--max-skew", "0", "--stream-max-mb", "32", "--heartbeat", "0", "--tick", "0",
        "--sync", "NORMAL", *extra,
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 60.0) -> list[str]:
    """stderr lines up to and including the first one containing ``text``."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    raise AssertionError(f"no {text!r} from the node: {''.join(lines)}")


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def journal_closed_cleanly(tmp: Path) -> Journal:
    db = tmp / "d" / "journal.db"
    wal = Path(str(db) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was left behind"
    j = Journal(db, readonly=True)
    v = j.verify(public_key=load_public_key(tmp / "jp.key.pub"))
    assert v.ok, v.summary()
    assert v.after_checkpoint == 0, v.summary()  # `journal verify --strict` passes
    return j


@pytest.mark.nats
def test_node_stops_cleanly_on_sigterm_and_sigint(tmp_path: Path) -> None:
    make_key(tmp_path)
    write_jsonl(tmp_path / "plots.jsonl", [sample_plot(seq=i, sent=T0 + i) for i in range(1, 21)])
    with nats_server(tmp_path / "nats") as srv:
        proc = node(srv.url, tmp_path, "--publish", str(tmp_path / "plots.jsonl"))
        wait_for(proc, "consuming as fusion-JP")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the 20 plots are journalled
            with Journal(tmp_path / "d" / "journal.db", readonly=True) as j:
                if sum(1 for _ in j.entries(kinds=("input",))) >= 20:
                    break
            time.sleep(0.1)
        rc, out, err = stop(proc, signal.SIGTERM)
        assert rc == 0, err
        assert "20 accepted, 0 rejected" in out
        assert "stopped cleanly" in err
        j = journal_closed_cleanly(tmp_path)
        snap = j.last_entry("snapshot")
        assert snap is not None
        assert snap.seq >= j.last_seq - 2  # the last snapshot at the stop (+ its checkpoint)
        j.close()
        # the next start re-runs nothing; Ctrl-C stops it the same way
        proc = node(srv.url, tmp_path)
        lines = wait_for(proc, "consuming as fusion-JP")
        assert any(
            "recovered from the snapshot" in ln and "0 inputs and 0 ticks re-run" in ln for ln in lines
        )
        rc, _, err = stop(proc, signal.SIGINT)
        assert rc == 0, err
        journal_closed_cleanly(tmp_path).close()


def test_node_stops_cleanly_while_still_connecting(tmp_path: Path) -> None:
    """A service manager stopping a node that cannot reach NATS yet (it retries
    for up to --connect-attempts): exit 0, journal closed, not -15."""
    make_key(tmp_path)
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    proc = node(url, tmp_path, "--connect-attempts", "50")
    wait_for(proc, "attempt 1 of 50")
    rc, _, err = stop(proc, signal.SIGTERM)
    assert rc == 0, err
    assert "stopped before connecting" in err
    journal_closed_cleanly(tmp_path).close()
