"""The shipped deploy/nats/ configuration parses (nats-server -t)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from nats_helpers import nats_server_bin

pytestmark = pytest.mark.nats
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"


@pytest.mark.parametrize("name", ["node1.conf", "node2.conf", "node3.conf"])
def test_cluster_config_is_valid(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for who in ("ADMIN", "JP", "KR", "US"):
        monkeypatch.setenv(f"TOCSIN_NATS_{who}_PASSWORD", "x")
    r = subprocess.run(
        [nats_server_bin(), "-t", "-c", name],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    text = (DEPLOY / name).read_text()
    assert "127.0.0.1" in text
    assert text.count("nats://127.0.0.1:62") == 3  # routes to all three
