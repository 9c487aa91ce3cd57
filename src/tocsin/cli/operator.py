"""``tocsin operator``: dashboard operator accounts (add, list, remove).

Accounts are kept in ``DATA/operators.json`` (``--data``, same directory as
``tocsin serve --data``) or in the file given by ``--file``; passwords are
stored only as salted scrypt hashes (see :mod:`tocsin.web.auth`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tocsin.errors import InputError


def _store_path(data: Path, file: Path | None) -> Path:
    return file if file is not None else data / "operators.json"


def register(app: typer.Typer) -> None:
    op = typer.Typer(
        help="Dashboard operator accounts (local, scrypt-hashed passwords).", no_args_is_help=True
    )
    data_opt = typer.Option(Path("data"), "--data", help="Server data directory (holds operators.json).")
    file_opt = typer.Option(None, "--file", help="Accounts file (default DATA/operators.json).")

    @op.command("add")
    def add(
        name: str = typer.Argument(..., help="Login name (a-z 0-9 . _ -)."),
        role: str = typer.Option("operator", "--role", help="operator or supervisor."),
        password_stdin: bool = typer.Option(
            False, "--password-stdin", help="Read the password from the first line of stdin."
        ),
        replace: bool = typer.Option(False, "--replace", help="Replace an existing account (new password)."),
        data: Path = data_opt,
        file: Path | None = file_opt,
    ) -> None:
        """Add an account; asks for the password twice unless --password-stdin."""
        from tocsin.web.auth import OperatorStore, check_name, check_role

        check_name(name)
        check_role(role)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        path = _store_path(data, file)
        store = OperatorStore(path)
        store.add(name, password, role, replace=replace)
        store.save()
        typer.echo(f"operator {name} ({role}) saved in {path}")

    @op.command("list")
    def list_(data: Path = data_opt, file: Path | None = file_opt) -> None:
        """List accounts: name, role, created (UTC)."""
        from datetime import UTC, datetime

        from tocsin.web.auth import OperatorStore

        path = _store_path(data, file)
        if not path.exists():
            raise InputError("no operator file (add one with `tocsin operator add`)", file=str(path))
        for o in OperatorStore(path):
            when = datetime.fromtimestamp(o.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            typer.echo(f"{o.name}\t{o.role}\t{when}")

    @op.command("remove")
    def remove(
        name: str = typer.Argument(..., help="Login name."),
        data: Path = data_opt,
        file: Path | None = file_opt,
    ) -> None:
        """Remove an account (a running server picks it up at its next login check)."""
        from tocsin.web.auth import OperatorStore

        path = _store_path(data, file)
        if not path.exists():
            raise InputError("no operator file", file=str(path))
        store = OperatorStore(path)
        store.remove(name)
        store.save()
        typer.echo(f"operator {name} removed from {path}")

    app.add_typer(op, name="operator")
