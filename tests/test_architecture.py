"""The core stays pure: geodesy, dynamics, sensor models, fusion and warning
never import transports, servers, storage or the CLI. This keeps every stage
usable in a drill, a replay, the embedded server or a partner node alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tocsin"
CORE = ["geo", "dynamics", "sensors", "fusion", "warning"]
FORBIDDEN = {
    "socket",
    "http",
    "urllib",
    "sqlite3",
    "asyncio",
    "subprocess",
    "nats",
    "starlette",
    "uvicorn",
    "httpx",
    "typer",
    "tocsin.transport",
    "tocsin.web",
    "tocsin.journal",
    "tocsin.cli",
    "tocsin.runtime",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _core_files() -> list[Path]:
    return sorted(p for pkg in CORE for p in (SRC / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_core_module_imports_no_io(path: Path) -> None:
    bad = {name for name in _imports(path) for f in FORBIDDEN if name == f or name.startswith(f + ".")}
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_public_names_are_exported() -> None:
    # (their order is ruff's RUF022 rule)
    import tocsin.geo
    import tocsin.wire

    for mod in (tocsin.wire, tocsin.geo):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"
