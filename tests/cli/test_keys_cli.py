"""`tocsin keys gen|sign|check`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.exchange.samples import sample_plot
from tocsin.exchange.signing import PartnerRegistry, verify
from tocsin.wire import read_jsonl, write_jsonl

runner = CliRunner()


def test_gen_sign_check(tmp_path: Path) -> None:
    key = tmp_path / "jp.key"
    reg = tmp_path / "partners.yaml"
    r = runner.invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(key), "--registry", str(reg)])
    assert r.exit_code == 0, r.output
    assert key.exists()
    assert (tmp_path / "jp.key.pub").exists()
    registry = PartnerRegistry.load(reg)
    pol = registry.get("JP")
    assert pol is not None
    assert pol.sources == ("JP-*",)

    src = tmp_path / "plots.jsonl"
    write_jsonl(src, [sample_plot(seq=i) for i in range(1, 4)])
    out = tmp_path / "signed.jsonl"
    r = runner.invoke(app, ["keys", "sign", str(src), "--key", str(key), "-o", str(out)])
    assert r.exit_code == 0, r.output
    msgs, _ = read_jsonl(out)
    assert len(msgs) == 3
    assert all(verify(m, pol.public_key) for m in msgs)

    r = runner.invoke(app, ["keys", "check", str(reg)])
    assert r.exit_code == 0
    assert r.output.startswith("JP  ")


def test_gen_refuses_overwrite(tmp_path: Path) -> None:
    key = tmp_path / "jp.key"
    key.write_text("x")
    r = runner.invoke(app, ["keys", "gen", "--partner", "JP", "-o", str(key)])
    assert r.exit_code != 0
    assert key.read_text() == "x"
