"""`tocsin node` as a process against a real nats-server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nats_helpers import nats_server
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.samples import sample_plot
from tocsin.journal import Journal
from tocsin.wire import write_jsonl

pytestmark = pytest.mark.nats


def test_node_publishes_consumes_and_journals(tmp_path: Path) -> None:
    runner = CliRunner()
    reg = tmp_path / "partners.yaml"
    r = runner.invoke(
        app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key"), "--registry", str(reg)]
    )
    assert r.exit_code == 0
    write_jsonl(
        tmp_path / "plots.jsonl", [sample_plot(seq=i, sent=1_789_430_400.0 + i) for i in range(1, 11)]
    )
    with nats_server(tmp_path / "nats") as srv:
        args = [
            sys.executable, "-m", "tocsin", "node", "--partner", "JP", "--nats", srv.url,
            "--key", str(tmp_path / "jp.key"), "--partners", str(reg), "--data", str(tmp_path / "d"),
            "--publish", str(tmp_path / "plots.jsonl"), "--stages", "toy", "--max-skew", "0",
            "--idle-exit", "1.5", "--stream-max-mb", "32", "--heartbeat", "0.5", "--sync", "NORMAL",
            "--tick", "0",
        ]  # fmt: skip
        p = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        assert p.returncode == 0, p.stderr
        # 10 plots + own heartbeats, all signed and accepted; 10 tracks + 1 alert out
        assert "0 rejected, 11 outputs published" in p.stdout
    with Journal(tmp_path / "d" / "journal.db", readonly=True) as j:
        assert j.verify().ok
        assert sum(1 for _ in j.entries(kinds=["input"])) >= 10
