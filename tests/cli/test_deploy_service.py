"""deploy/systemd and deploy/container run tocsin as a service: restart on
failure, stop with SIGTERM (which `serve` answers with a clean exit 0, see
test_serve_cli.py), and health checks with `tocsin health`. These tests keep
the recipes in step with the CLI: every option they pass must exist."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import typer
import yaml

from tocsin.cli import app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def options(command: str) -> set[str]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}


def tocsin_calls(text: str) -> list[tuple[str, list[str]]]:
    """(command, its --options) of every `tocsin <command> ...` in a text."""
    calls = []
    for m in re.finditer(r"tocsin[\"',\s]+(serve|health|journal)\b([^\n;|&]*)", text.replace("\\\n", " ")):
        calls.append((m.group(1), re.findall(r"--[a-z][a-z-]*", m.group(2))))
    return calls


def test_systemd_units() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "tocsin-serve.service")
    svc = unit["Service"]
    assert svc["Restart"] == "on-failure"
    assert svc["KillSignal"] == "SIGTERM"
    assert "tocsin serve" in svc["ExecStart"]
    assert "tocsin health" in svc["ExecStartPost"]
    health = (DEPLOY / "systemd" / "tocsin-health.service").read_text()
    assert "systemctl restart tocsin-serve.service" in health
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(DEPLOY / "systemd" / "tocsin-health.timer")
    assert timer["Timer"]["OnUnitActiveSec"] == "15"
    env = (DEPLOY / "systemd" / "tocsin.env").read_text()
    assert "TOCSIN_HOST=127.0.0.1" in env


def test_container_recipe() -> None:
    text = (DEPLOY / "container" / "Containerfile").read_text()
    assert "STOPSIGNAL SIGTERM" in text
    assert re.search(r"^HEALTHCHECK .*tocsin\", \"health\"", text, re.M | re.S)
    compose = yaml.safe_load((DEPLOY / "container" / "compose.yaml").read_text())
    svc = compose["services"]["tocsin"]
    assert svc["restart"] == "on-failure"
    assert svc["healthcheck"]["test"][:3] == ["CMD", "tocsin", "health"]
    assert all(p.startswith("127.0.0.1:") for p in svc["ports"])


def test_every_option_the_recipes_pass_exists() -> None:
    known = {c: options(c) for c in ("serve", "health")}
    seen = 0
    for f in [*(DEPLOY / "systemd").iterdir(), *(DEPLOY / "container").iterdir()]:
        for cmd, opts in tocsin_calls(f.read_text()):
            if cmd not in known:
                continue
            unknown = [o for o in opts if o not in known[cmd]]
            assert not unknown, f"{f.name}: tocsin {cmd} has no {unknown}"
            seen += 1
    assert seen >= 6
