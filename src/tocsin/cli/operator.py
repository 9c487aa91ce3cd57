"""``tocsin operator``: operator accounts (add, list, remove, totp, key).

Accounts are kept in ``DATA/operators.json`` (``--data``, same directory as
``tocsin serve --data``) or in the file given by ``--file``; passwords are
stored only as salted scrypt hashes (see :mod:`tocsin.web.auth`). The same file
authenticates operators on the dashboard and in ``tocsin alert``. Optional per
account: a TOTP second factor (``totp``) and the operator's own Ed25519 key
(``key``), with which ``tocsin alert`` signs each step instead of asking for
the password.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tocsin.errors import ConfigError, InputError


def _store_path(data: Path, file: Path | None) -> Path:
    return file if file is not None else data / "operators.json"


EPILOG = (
    "Examples:\n\n"
    "    tocsin operator add aoki --data data/                 # asks for the password twice\n\n"
    "    tocsin operator totp aoki --data data/                # enrol an authenticator app\n\n"
    "    tocsin operator key baek --generate baek.key --data data/   # baek signs alert steps\n\n"
    "    tocsin operator list --data data/"
)


def register(app: typer.Typer) -> None:
    op = typer.Typer(
        help="Operator accounts: scrypt-hashed passwords, optional TOTP and Ed25519 keys.",
        no_args_is_help=True,
        epilog=EPILOG,
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
        """List accounts: name, role, created (UTC), second factor and key if any."""
        from datetime import UTC, datetime

        from tocsin.web.auth import OperatorStore

        path = _store_path(data, file)
        if not path.exists():
            raise InputError("no operator file (add one with `tocsin operator add`)", file=str(path))
        from tocsin.web.auth import key_fingerprint

        for o in OperatorStore(path):
            when = datetime.fromtimestamp(o.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            extra = (["totp"] if o.totp else []) + ([f"key {key_fingerprint(o.key)}"] if o.key else [])
            typer.echo("\t".join([o.name, o.role, when, *extra]))

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

    @op.command("totp")
    def totp(
        name: str = typer.Argument(..., help="Login name."),
        disable: bool = typer.Option(False, "--disable", help="Remove the account's second factor."),
        data: Path = data_opt,
        file: Path | None = file_opt,
    ) -> None:
        """Enrol an authenticator app (TOTP, RFC 6238) as the account's second factor.

        Prints the secret and its otpauth:// URI (give it to the operator's app,
        e.g. as a QR code), then asks for the code the app shows: the factor is
        saved only when that code is right."""
        import time

        from tocsin.web.auth import OperatorStore, new_totp_secret, totp_step, totp_uri

        path = _store_path(data, file)
        if not path.exists():
            raise InputError("no operator file", file=str(path))
        store = OperatorStore(path)
        store.require(name)
        if disable:
            store.set_totp(name, None)
            store.save()
            typer.echo(f"operator {name}: second factor removed")
            return
        secret = new_totp_secret()
        typer.echo(f"secret: {secret}")
        typer.echo(f"uri: {totp_uri(name, secret)}")
        code = typer.prompt("code shown by the app", err=True)
        if totp_step(secret, code, time.time()) is None:
            raise InputError("that is not the app's current code: nothing saved, enrol again", field="code")
        store.set_totp(name, secret)
        store.save()
        typer.echo(f"operator {name}: second factor enrolled in {path}")

    @op.command("key")
    def key_cmd(
        name: str = typer.Argument(..., help="Login name."),
        public: Path | None = typer.Option(
            None, "--public", help="The operator's Ed25519 public key (PEM or base64 of 32 bytes)."
        ),
        generate: Path | None = typer.Option(
            None,
            "--generate",
            help="Make a new key pair: private key to this file (0600), public one registered.",
        ),
        remove: bool = typer.Option(False, "--remove", help="Remove the account's key."),
        data: Path = data_opt,
        file: Path | None = file_opt,
    ) -> None:
        """Register the operator's own Ed25519 key: `tocsin alert` then accepts its signature."""
        from tocsin.exchange.signing import generate_key, load_public_key, save_private_key
        from tocsin.web.auth import OperatorStore, key_fingerprint

        if sum(x for x in (public is not None, generate is not None, remove)) != 1:
            raise InputError("give one of --public, --generate, --remove", field="key")
        path = _store_path(data, file)
        if not path.exists():
            raise InputError("no operator file", file=str(path))
        store = OperatorStore(path)
        store.require(name)
        if remove:
            store.set_key(name, None)
            store.save()
            typer.echo(f"operator {name}: key removed")
            return
        if generate is not None:
            if generate.exists():
                raise InputError("exists: will not overwrite a key", file=str(generate), field="--generate")
            k = generate_key()
            try:
                save_private_key(k, generate)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror}", file=str(generate)) from None
            pub = k.public_key()
        else:
            assert public is not None
            if not public.is_file():
                raise InputError("no such file", file=str(public), field="--public")
            try:
                pub = load_public_key(public)
            except ConfigError as exc:
                raise InputError(str(exc), field="--public") from None
        o = store.set_key(name, pub)
        store.save()
        assert o.key is not None
        typer.echo(f"operator {name}: key {key_fingerprint(o.key)} registered in {path}")

    app.add_typer(op, name="operator")
