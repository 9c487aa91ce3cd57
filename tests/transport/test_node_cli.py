"""`tocsin node` as a process against a real nats-server."""

from __future__ import annotations

import re
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
        # its start-up heap is out of the cycle collector's full passes (settle())
        m = re.search(r"start-up heap settled \((\d+) objects", p.stderr)
        assert m is not None, p.stderr
        assert int(m.group(1)) > 10_000, p.stderr
    with Journal(tmp_path / "d" / "journal.db", readonly=True) as j:
        assert j.verify().ok
        assert sum(1 for _ in j.entries(kinds=["input"])) >= 10


SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "accounts.conf"


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tocsin", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full,
        check=False,
    )


def test_node_as_a_partner_user_of_the_shipped_config(tmp_path: Path) -> None:
    """The administrator creates streams and consumers (`deploy streams`); the
    partner's node then runs with its own user, password from a file."""
    runner = CliRunner()
    reg = tmp_path / "partners.yaml"
    r = runner.invoke(
        app, ["keys", "gen", "--partner", "JP", "-o", str(tmp_path / "jp.key"), "--registry", str(reg)]
    )
    assert r.exit_code == 0
    write_jsonl(tmp_path / "plots.jsonl", [sample_plot(seq=i, sent=1_789_430_400.0 + i) for i in range(1, 6)])
    pw = {"ADMIN": "adm-secret-1", "JP": "jp-secret-1", "KR": "kr-secret-1", "US": "us-secret-1"}
    (tmp_path / "nats").mkdir()
    (tmp_path / "nats" / "accounts.conf").write_text(SHIPPED.read_text())
    (tmp_path / "jp.pw").write_text(pw["JP"] + "\n")
    import os

    env_srv = {f"TOCSIN_NATS_{k}_PASSWORD": v for k, v in pw.items()}
    old = {k: os.environ.get(k) for k in env_srv}
    os.environ.update(env_srv)  # nats-server reads the passwords from its environment
    try:
        with nats_server(tmp_path / "nats", 'include "accounts.conf"') as srv:
            node = [
                "node", "--partner", "JP", "--nats", srv.url, "--key", str(tmp_path / "jp.key"),
                "--partners", str(reg), "--data", str(tmp_path / "d"), "--stages", "toy",
                "--max-skew", "0", "--idle-exit", "1.5", "--stream-max-mb", "32", "--heartbeat", "0",
                "--sync", "NORMAL", "--tick", "0", "--user", "jp", "--password-file", str(tmp_path / "jp.pw"),
            ]  # fmt: skip
            # before the administrator's step: one line, exit 2
            p = run_cli(node)
            assert p.returncode == 2, p.stderr
            *notes, last = p.stderr.strip().splitlines()
            assert last.startswith("tocsin: error: the JetStream streams are missing")
            assert "tocsin deploy streams" in last
            # and the server's refusal, on one line
            assert notes == [
                'nats: permissions violation for publish to "$js.api.stream.create.tocsin_in_jp"'
            ]
            p = run_cli(
                ["deploy", "streams", "--partners", "JP,KR,US", "--nats", srv.url, "--user", "admin",
                 "--stream-max-mb", "32"],
                env={"TOCSIN_NATS_PASSWORD": pw["ADMIN"]},
            )  # fmt: skip
            assert p.returncode == 0, p.stderr
            assert "fusion-JP (created), fusion-KR (created), fusion-US (created)" in p.stdout
            p = run_cli([*node, "--publish", str(tmp_path / "plots.jsonl")])
            assert p.returncode == 0, p.stderr
            assert "5 accepted, 0 rejected" in p.stdout
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`tocsin ARGS` in this process (what the user sees: exit status, stdout, stderr)."""
    from tocsin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_node_takes_no_secret_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main(
        ["node", "--partner", "JP", "--key", "k", "--user", "jp", "--password", "hunter2x"], capsys
    )
    assert code == 2
    assert "No such option: --password" in err
    # a user without a password from the environment or a file: one line naming the option
    (tmp_path / "jp.key").write_text("x")
    monkeypatch.setenv("TOCSIN_NATS_PASSWORD", "")
    code, _, err = run_main(
        [
            "node",
            "--partner",
            "JP",
            "--key",
            str(tmp_path / "jp.key"),
            "--user",
            "jp",
            "--data",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2
    assert err.strip() == (
        "tocsin: error: --user: a NATS user needs its password in TOCSIN_NATS_PASSWORD or --password-file"
    )
    code, _, err = run_main(
        ["node", "--partner", "JP", "--key", str(tmp_path / "jp.key"), "--nkey", str(tmp_path / "no.nk")],
        capsys,
    )
    assert code == 2
    assert err.strip() == f"tocsin: error: {tmp_path / 'no.nk'}: --nkey: no such file"
    # a file of another partner's messages: refused before anything is sent
    from tocsin.exchange.signing import generate_key, save_private_key

    save_private_key(generate_key(), tmp_path / "real.key")
    write_jsonl(tmp_path / "kr.jsonl", [sample_plot(partner="KR", source="KR-R1", seq=1)])
    code, _, err = run_main(
        ["node", "--partner", "JP", "--key", str(tmp_path / "real.key"), "--data", str(tmp_path / "d"),
         "--publish", str(tmp_path / "kr.jsonl"), "--stages", "toy", "--nats", "nats://127.0.0.1:9"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "message of partner KR, not JP" in err
