"""kill -9 a partner node in the middle of a JetStream stream; the restarted node's
journal ends with the same outputs as an uninterrupted node's."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from nats_helpers import nats_server
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import load_private_key
from tocsin.journal import Journal
from tocsin.runtime import recorded_outputs
from tocsin.transport.nats import ensure_streams, publish_all

pytestmark = [pytest.mark.nats, pytest.mark.slow]
T0 = 1_789_430_400.0


def node_cmd(url: str, tmp: Path, partner: str, data: Path) -> list[str]:
    return [
        sys.executable, "-m", "tocsin", "node", "--partner", partner, "--nats", url,
        "--key", str(tmp / f"{partner.lower()}.key"), "--partners", str(tmp / "partners.yaml"),
        "--data", str(data), "--stages", "toy", "--max-skew", "0", "--idle-exit", "1.5",
        "--stream-max-mb", "32", "--heartbeat", "0", "--tick", "0", "--sync", "NORMAL",
    ]  # fmt: skip


def inputs_in(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM entries WHERE kind='input'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_kill_9_node_then_restart(tmp_path: Path) -> None:
    runner = CliRunner()
    reg = tmp_path / "partners.yaml"
    for p in ("JP", "KR"):
        r = runner.invoke(
            app,
            ["keys", "gen", "--partner", p, "-o", str(tmp_path / f"{p.lower()}.key"), "--registry", str(reg)],
        )
        assert r.exit_code == 0
    jp = load_private_key(tmp_path / "jp.key")
    msgs = [sample_plot(source=f"JP-R{i % 4}", seq=i // 4 + 1, sent=T0 + i * 0.01) for i in range(1500)]

    with nats_server(tmp_path / "nats") as srv:

        async def fill() -> None:
            nc = await nats.connect(srv.url, connect_timeout=5)
            js = nc.jetstream(timeout=5)
            await ensure_streams(js, in_max_bytes=32 * 2**20, out_max_bytes=6 * 2**20)
            await publish_all(js, msgs, key=jp)
            await nc.close()

        asyncio.run(asyncio.wait_for(fill(), 20))

        # reference: KR's node consumes the whole stream uninterrupted
        ref = subprocess.run(
            node_cmd(srv.url, tmp_path, "KR", tmp_path / "ref"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ref.returncode == 0, ref.stderr

        # JP's node is killed with SIGKILL mid-stream, then restarted
        data = tmp_path / "jp"
        proc = subprocess.Popen(
            node_cmd(srv.url, tmp_path, "JP", data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while inputs_in(data / "journal.db") < 300 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.kill()
        proc.wait(10)
        before = inputs_in(data / "journal.db")
        assert 0 < before < 1500
        again = subprocess.run(
            node_cmd(srv.url, tmp_path, "JP", data), capture_output=True, text=True, timeout=60, check=False
        )
        assert again.returncode == 0, again.stderr

    with (
        Journal(tmp_path / "ref" / "journal.db", readonly=True) as a,
        Journal(data / "journal.db", readonly=True) as b,
    ):
        assert b.verify().ok
        assert inputs_in(data / "journal.db") == 1500  # every message journalled exactly once
        assert recorded_outputs(b) == recorded_outputs(a)
        assert len(recorded_outputs(a)) > 1500
