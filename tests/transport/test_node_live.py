"""`tocsin node --live` against a real nats-server: the fusion and warning
stages of the node issue Actual alerts, and the journal says who authorised it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nats_helpers import nats_server
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.journal import Journal
from tocsin.wire import decode_json

pytestmark = pytest.mark.nats

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "irbm-over-hokkaido.yaml"
AUTH = """live = true
authorised_by = "Director, National Warning Centre"
reference = "order 2026-114"
sender = "warning@jp.tocsin.example"
"""


def test_node_live_issues_actual_alerts(tmp_path: Path) -> None:
    runner = CliRunner()
    reg = tmp_path / "partners.yaml"  # live operation needs a partner registry (issue 14)
    r = runner.invoke(
        app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key"), "--registry", str(reg)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["simulate", str(SCENARIO), "-o", str(tmp_path / "all.jsonl")])
    assert r.exit_code == 0, r.output
    # Japan's own sensors up to just after the first public alert
    jp = [ln for ln in (tmp_path / "all.jsonl").read_text().splitlines() if '"partner":"JP"' in ln][:240]
    (tmp_path / "jp.jsonl").write_text("\n".join(jp) + "\n")
    (tmp_path / "live.toml").write_text(AUTH)
    with nats_server(tmp_path / "nats") as srv:
        args = [
            sys.executable, "-m", "tocsin", "node", "--partner", "JP", "--nats", srv.url,
            "--key", str(tmp_path / "jp.key"), "--data", str(tmp_path / "d"),
            "--publish", str(tmp_path / "jp.jsonl"), "--max-skew", "0", "--idle-exit", "1.5",
            "--stream-max-mb", "32", "--heartbeat", "0", "--sync", "NORMAL", "--tick", "0",
            "--live", str(tmp_path / "live.toml"), "--partners", str(reg),
        ]  # fmt: skip
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert "LIVE: alerts are issued as Actual" in p.stderr
    # the default stages run in their own process on 2+ CPUs (--stage-process auto)
    own = (os.cpu_count() or 1) >= 2
    assert ("stages in their own process" if own else "stages in process") in p.stderr
    assert "(alerts: Actual)" in p.stderr
    with Journal(tmp_path / "d" / "journal.db", readonly=True) as j:
        assert j.verify().ok
        outs = [decode_json(e.payload) for e in j.entries(kinds=("output",))]
        notes = [json.loads(e.payload) for e in j.entries(kinds=("note",))]
    alerts = [e for e in outs if e.kind == "alert"]
    assert alerts
    assert {a.body.status for a in alerts} == {"Actual"}
    start = [n for n in notes if n.get("event") == "start"][-1]
    assert start["mode"] == "live"
    assert start["reference"] == "order 2026-114"
