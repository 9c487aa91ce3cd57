"""``tocsin alert``: manual public alerts under the two-person rule.

One operator proposes, a different authorised operator confirms; only then is
the alert issued (``alerts.jsonl`` and ``<id>.xml`` in the state directory).
Authorised operators are listed in the policy file (``operators = [...]``).
Alerts are ``Exercise`` unless ``--live FILE`` gives a live authorisation
(:func:`tocsin.warning.policy.load_live_authorisation`); a book kept in one
mode cannot be reused in another. Every step, refusals included, is appended
to a hash-chained audit log in ``book.json``.

Each step that changes the book authenticates its operator against the
accounts file (``--operators``, made with ``tocsin operator``), as the
dashboard's login does: the password (asked for on the terminal, or from
``$TOCSIN_OPERATOR_PASSWORD``, or the first line of stdin with
``--credentials-stdin``), or instead a signature by the operator's own Ed25519
key (``--key``; passphrase of an encrypted key from
``$TOCSIN_OPERATOR_KEY_PASSPHRASE``) over the exact step (operator, action,
target, areas, text, time and the hash of the book's last audit entry), plus
the one-time code when the account has a TOTP factor (terminal,
``$TOCSIN_OPERATOR_TOTP`` or the next line of stdin). The audit entry records
how (``auth password+totp``, or ``auth key SHA256:... stmt ... sig ...``: the
signed statement and signature, verifiable later with the operator's public
key). A failed authentication is an audited refusal and costs
:data:`FAIL_DELAY_S`; secrets are never command-line arguments.

Exit status: 0 done, 1 refused (the refusal is audited), 2 bad input.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tocsin.errors import ConfigError, InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tocsin.warning.manual import ManualAlertBook
    from tocsin.web.auth import OperatorStore

STATE_HELP = "Directory that keeps the book of proposals, alerts and the audit log."
#: seconds a failed authentication costs (slows guessing through the command line)
FAIL_DELAY_S = 1.0


@dataclass
class Credentials:
    """What one operator presented for one step (never from the command line)."""

    password: str | None = None
    totp: str | None = None
    key: Ed25519PrivateKey | None = None


def _collect(operator: str, store: OperatorStore, key: Path | None, from_stdin: bool) -> Credentials:
    """The operator's secrets, before the book is locked: a key file or a
    password, and the one-time code if the account has TOTP."""
    from tocsin.web.auth import load_operator_key

    acct = store.operators.get(operator)
    lines: list[str] = []
    if from_stdin:
        lines = [ln.rstrip("\r\n") for ln in sys.stdin.read(4096).splitlines()]

    def secret(prompt: str, env: str) -> str | None:
        if from_stdin:
            return lines.pop(0) if lines else None
        if os.environ.get(env):
            return os.environ[env]
        if sys.stdin.isatty():
            return str(typer.prompt(prompt, hide_input=True, err=True))
        return None

    creds = Credentials()
    if key is not None:
        creds.key = load_operator_key(key, os.environ.get("TOCSIN_OPERATOR_KEY_PASSPHRASE") or None)
    else:
        creds.password = secret(f"password for {operator}", "TOCSIN_OPERATOR_PASSWORD")
        if not creds.password:
            raise InputError(
                "no password: type it when asked, or give it in $TOCSIN_OPERATOR_PASSWORD or on stdin "
                "with --credentials-stdin (or sign with --key)",
                field="--operator",
            )
    if acct is not None and acct.totp is not None:
        creds.totp = secret(f"one-time code for {operator}", "TOCSIN_OPERATOR_TOTP")
    return creds


def _statement(book: ManualAlertBook, operator: str, action: str, t: float, what: dict[str, Any]) -> bytes:
    """The exact step an operator's key signs (canonical JSON; bound to the
    book's last audit entry, so a signature is good for this step only)."""
    doc = {
        "format": "tocsin-alert-step/1",
        "operator": operator,
        "action": action,
        "t": t,
        "prev": book.audit[-1].hash if book.audit else "",
        "mode": book.mode.status,
        **what,
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _authenticate(
    book: ManualAlertBook,
    store: OperatorStore,
    operator: str,
    creds: Credentials,
    t: float,
    action: str,
    what: dict[str, Any],
    target: str = "",
) -> str:
    """Check the operator's credentials for this step: the ``auth`` text for
    the audit entry, or raise the audited refusal (after :data:`FAIL_DELAY_S`)."""
    from tocsin.web.auth import Proof, key_fingerprint, verify_operator

    stmt = sig = None
    if creds.key is not None:
        stmt = _statement(book, operator, action, t, what)
        sig = creds.key.sign(stmt)
    proof = Proof(password=creds.password, statement=stmt, signature=sig, totp=creds.totp)
    v = verify_operator(store, operator, proof, time.time(), totp_after=book.totp_steps.get(operator))
    if v.op is None:
        time.sleep(FAIL_DELAY_S)
        raise book.refuse(t, operator, target, f"authentication failed: {v.reason}")
    if v.totp_step is not None:
        book.totp_steps[operator] = v.totp_step
    auth = "+".join(v.factors)
    if stmt is not None and sig is not None and v.op.key is not None:
        b64 = base64.urlsafe_b64encode
        auth += (
            f" {key_fingerprint(v.op.key)} stmt {b64(stmt).decode().rstrip('=')}"
            f" sig {b64(sig).decode().rstrip('=')}"
        )
    return auth


def _accounts(operators: Path | None) -> OperatorStore:
    from tocsin.web.auth import OperatorStore

    if operators is None:
        raise InputError(
            "each step needs the operator's credentials: give the accounts file "
            "(tocsin operator add ...) with --operators FILE",
            field="--operators",
        )
    if not operators.is_file():
        raise InputError("no such file", file=str(operators), field="--operators")
    store = OperatorStore(operators)
    if not len(store):
        raise InputError("no accounts in it", file=str(operators), field="--operators")
    return store


@contextmanager
def _book(
    state: Path, policy: Path | None, live: Path | None, *, read_only: bool = False
) -> Iterator[object]:
    from tocsin.warning.manual import ManualAlertBook, ManualAlertStore
    from tocsin.warning.mode import DrillMode, Mode
    from tocsin.warning.policy import WarningConfig, load_config, load_live_authorisation

    cfg = load_config(policy) if policy is not None else WarningConfig()
    if not cfg.operators and not read_only:
        raise ConfigError(
            "no authorised operators: list them in a policy file (operators = [...]) given with --policy"
        )
    mode: Mode = load_live_authorisation(live) if live is not None else DrillMode()
    book = ManualAlertBook(cfg.operators, mode, config=cfg)
    store = ManualAlertStore(state)
    with store.open(book) as b:
        yield b
        _publish(state, b)


def _publish(state: Path, book: object) -> None:
    from tocsin.warning.manual import ManualAlertBook
    from tocsin.wire import write_jsonl

    assert isinstance(book, ManualAlertBook)
    write_jsonl(state / "alerts.jsonl", book.alerts)
    for env in book.alerts:
        p = state / f"{env.body.id}.xml"
        if not p.exists():
            tmp = p.with_name(f".{p.name}.tmp")
            tmp.write_text(env.body.cap, encoding="utf-8")
            tmp.replace(p)


def _now(at: float | None) -> float:
    return time.time() if at is None else at


def register(app: typer.Typer) -> None:
    alert_app = typer.Typer(
        help="Manual public alerts: propose, confirm (a second operator), cancel, list.",
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
        epilog=(
            'Example (two duty officers listed in policy.toml as operators = ["aoki", "baek"], '
            "with accounts made by `tocsin operator add` in data/operators.json):\n\n"
            "    tocsin alert propose --state book/ --policy policy.toml --operators data/operators.json "
            "--operator aoki --area JP-01 --template missile-launch  # asks the password\n\n"
            "    tocsin alert propose --state book/ --policy policy.toml --operators data/operators.json "
            '--operator aoki --area JP-01 --text-ja "ミサイル発射。避難して下さい。" '
            '--text-en "Missile launch. Take shelter."\n\n'
            "    tocsin alert confirm P1 --state book/ --policy policy.toml --operators data/operators.json "
            "--operator baek --key baek.key   # baek signs with his own key\n\n"
            "    tocsin alert cancel m1a2b3c4d.JP.manual-1.1.0 --state book/ --policy policy.toml "
            "--operators data/operators.json --operator aoki\n\n"
            "    tocsin alert list --state book/ --policy policy.toml --audit\n\n"
            "Alerts are Exercise unless --live names a live authorisation file. Passwords and codes "
            "are asked on the terminal, or read from $TOCSIN_OPERATOR_PASSWORD / $TOCSIN_OPERATOR_TOTP, "
            "or from stdin (--credentials-stdin: the password, then the code), never from arguments."
        ),
    )

    state_opt = typer.Option(..., "--state", help=STATE_HELP, show_default=False)
    policy_opt = typer.Option(None, "--policy", help="Policy file listing the authorised operators.")
    live_opt = typer.Option(None, "--live", help="Live authorisation file: alerts become Actual.")
    at_opt = typer.Option(None, "--at", help="Time of the step (epoch s); now by default.")
    operators_opt = typer.Option(
        None,
        "--operators",
        help="Accounts file (tocsin operator add): the operator of each step is authenticated against it.",
    )
    key_opt = typer.Option(
        None, "--key", help="Sign the step with the operator's own Ed25519 key (PEM) instead of a password."
    )
    stdin_opt = typer.Option(
        False,
        "--credentials-stdin",
        help="Read the password (unless --key) and then the one-time code (if enrolled) from stdin.",
    )

    def _refused(exc: Exception) -> None:
        from tocsin.warning.manual import ManualAlertError

        assert isinstance(exc, ManualAlertError)
        typer.echo(f"tocsin: refused: {exc}", err=True)
        typer.echo(exc.record.line(), err=True)
        raise typer.Exit(1)

    @alert_app.command("propose")
    def propose_cmd(
        operator: str = typer.Option(..., "--operator", help="Who proposes.", show_default=False),
        area: list[str] = typer.Option(
            ..., "--area", help="Area code (repeat), e.g. JP-01.", show_default=False
        ),
        text: str = typer.Option(
            "",
            "--text",
            help="What the public should know and do, in the public's own language.",
            show_default=False,
        ),
        text_ja: str = typer.Option("", "--text-ja", help="The text in Japanese.", show_default=False),
        text_ko: str = typer.Option("", "--text-ko", help="The text in Korean.", show_default=False),
        text_en: str = typer.Option("", "--text-en", help="The text in English.", show_default=False),
        template: str = typer.Option(
            "",
            "--template",
            help="A pre-scripted three-language alert instead of a text: missile-launch, missile-fall.",
            show_default=False,
        ),
        state: Path = state_opt,
        policy: Path | None = policy_opt,
        live: Path | None = live_opt,
        at: float | None = at_opt,
        operators: Path | None = operators_opt,
        key: Path | None = key_opt,
        credentials_stdin: bool = stdin_opt,
    ) -> None:
        """Propose a manual alert; nothing is sent until another operator confirms.

        Each language's text is the operators' own (--text is the public's own
        language; --text-ja/-ko/-en name theirs), or a pre-scripted
        three-language --template: a language with no text is left out of the
        alert, never filled with another language's words."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        store = _accounts(operators)
        creds = _collect(operator, store, key, credentials_stdin)
        t = _now(at)
        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            texts: dict[str, str] = {str(b.home): text} if text else {}
            for lang, tx in (("ja-JP", text_ja), ("ko-KR", text_ko), ("en-US", text_en)):
                if tx:
                    texts[lang] = tx
            try:
                what: dict[str, Any] = {"areas": sorted(set(area))}
                if template:
                    what["template"] = template
                else:
                    what["texts"] = {k: " ".join(v.split()) for k, v in sorted(texts.items())}
                auth = _authenticate(b, store, operator, creds, t, "propose", what)
                p, rec = b.propose(operator, area, texts, t, template=template or None, auth=auth)
            except ManualAlertError as exc:
                refused: Exception | None = exc
            else:
                refused = None
                typer.echo(rec.line())
                typer.echo(f"pending {p.id}: a second authorised operator must confirm it")
        if refused is not None:
            _refused(refused)

    @alert_app.command("confirm")
    def confirm_cmd(
        pending: str = typer.Argument(..., help="Pending id (P1, ...).", show_default=False),
        operator: str = typer.Option(
            ..., "--operator", help="Who confirms (not the proposer).", show_default=False
        ),
        state: Path = state_opt,
        policy: Path | None = policy_opt,
        live: Path | None = live_opt,
        at: float | None = at_opt,
        operators: Path | None = operators_opt,
        key: Path | None = key_opt,
        credentials_stdin: bool = stdin_opt,
    ) -> None:
        """Confirm (and so issue) a pending alert proposed by another operator."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        store = _accounts(operators)
        creds = _collect(operator, store, key, credentials_stdin)
        t = _now(at)
        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            try:
                p = b.pending.get(pending)
                what: dict[str, Any] = {"pending": pending}
                if p is not None:  # what exactly is being confirmed
                    what.update(
                        areas=list(p.areas),
                        text=p.text,
                        texts=dict(p.texts),
                        template=p.template,
                        proposed_by=p.proposed_by,
                    )
                auth = _authenticate(b, store, operator, creds, t, "confirm", what, pending)
                env, rec = b.confirm(pending, operator, t, auth=auth)
            except ManualAlertError as exc:
                refused: Exception | None = exc
            else:
                refused = None
                typer.echo(rec.line())
                typer.echo(f"issued {env.body.id} ({env.body.status}): {state / (env.body.id + '.xml')}")
        if refused is not None:
            _refused(refused)

    @alert_app.command("cancel")
    def cancel_cmd(
        target: str = typer.Argument(..., help="Pending id or issued alert id.", show_default=False),
        operator: str = typer.Option(..., "--operator", help="Who cancels.", show_default=False),
        state: Path = state_opt,
        policy: Path | None = policy_opt,
        live: Path | None = live_opt,
        at: float | None = at_opt,
        operators: Path | None = operators_opt,
        key: Path | None = key_opt,
        credentials_stdin: bool = stdin_opt,
    ) -> None:
        """Withdraw a proposal or cancel an issued alert (one operator is enough)."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        store = _accounts(operators)
        creds = _collect(operator, store, key, credentials_stdin)
        t = _now(at)
        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            try:
                auth = _authenticate(b, store, operator, creds, t, "cancel", {"target": target}, target)
                env, rec = b.cancel(target, operator, t, auth=auth)
            except ManualAlertError as exc:
                refused: Exception | None = exc
            else:
                refused = None
                typer.echo(rec.line())
                if env is not None:
                    typer.echo(f"issued {env.body.id} (Cancel, {env.body.status})")
        if refused is not None:
            _refused(refused)

    @alert_app.command("list")
    def list_cmd(
        state: Path = state_opt,
        policy: Path | None = policy_opt,
        live: Path | None = live_opt,
        audit: bool = typer.Option(False, "--audit", help="Also print the whole audit log."),
    ) -> None:
        """Pending proposals, issued alerts and (with --audit) the audit log."""
        from tocsin.warning.manual import ManualAlertBook

        if not (state / "book.json").exists():
            raise InputError("no manual-alert book here yet", file=str(state))
        with _book(state, policy, live, read_only=True) as b:
            assert isinstance(b, ManualAlertBook)
            typer.echo(f"mode: {b.mode.name} ({b.mode.status})")
            typer.echo(f"pending: {len(b.pending)}")
            for p in b.pending.values():
                typer.echo(f"  {p.id} by {p.proposed_by} at {p.t:.0f}: {' '.join(p.areas)}: {p.text}")
            typer.echo(f"issued: {len(b.issued)}")
            for i in b.issued.values():
                flag = " (cancelled)" if i.cancelled else ""
                typer.echo(
                    f"  {i.id} {i.status}{flag}: proposed by {i.proposed_by}, confirmed by {i.confirmed_by}, "
                    f"{' '.join(i.areas)}"
                )
            if audit:
                typer.echo("audit:")
                for r in b.audit:
                    typer.echo("  " + r.line())

    app.add_typer(alert_app, name="alert")
