"""``tocsin alert``: manual public alerts under the two-person rule.

One operator proposes, a different authorised operator confirms; only then is
the alert issued (``alerts.jsonl`` and ``<id>.xml`` in the state directory).
Authorised operators are listed in the policy file (``operators = [...]``).
Alerts are ``Exercise`` unless ``--live FILE`` gives a live authorisation
(:func:`tocsin.warning.policy.load_live_authorisation`); a book kept in one
mode cannot be reused in another. Every step, refusals included, is appended
to a hash-chained audit log in ``book.json``.

Exit status: 0 done, 1 refused (the refusal is audited), 2 bad input.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from tocsin.errors import ConfigError, InputError

STATE_HELP = "Directory that keeps the book of proposals, alerts and the audit log."


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
            'Example (two duty officers listed in policy.toml as operators = ["aoki", "baek"]):\n\n'
            "    tocsin alert propose --state book/ --policy policy.toml --operator aoki "
            "--area JP-01 --template missile-launch\n\n"
            "    tocsin alert propose --state book/ --policy policy.toml --operator aoki --area JP-01 "
            '--text-ja "ミサイル発射。避難して下さい。" --text-en "Missile launch. Take shelter."\n\n'
            "    tocsin alert confirm P1 --state book/ --policy policy.toml --operator baek\n\n"
            "    tocsin alert cancel m1a2b3c4d.JP.manual-1.1.0 --state book/ --policy policy.toml "
            "--operator aoki\n\n"
            "    tocsin alert list --state book/ --policy policy.toml\n\n"
            "Alerts are Exercise unless --live names a live authorisation file."
        ),
    )

    state_opt = typer.Option(..., "--state", help=STATE_HELP, show_default=False)
    policy_opt = typer.Option(None, "--policy", help="Policy file listing the authorised operators.")
    live_opt = typer.Option(None, "--live", help="Live authorisation file: alerts become Actual.")
    at_opt = typer.Option(None, "--at", help="Time of the step (epoch s); now by default.")

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
    ) -> None:
        """Propose a manual alert; nothing is sent until another operator confirms.

        Each language's text is the operators' own (--text is the public's own
        language; --text-ja/-ko/-en name theirs), or a pre-scripted
        three-language --template: a language with no text is left out of the
        alert, never filled with another language's words."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            texts: dict[str, str] = {str(b.home): text} if text else {}
            for lang, tx in (("ja-JP", text_ja), ("ko-KR", text_ko), ("en-US", text_en)):
                if tx:
                    texts[lang] = tx
            try:
                p, rec = b.propose(operator, area, texts, _now(at), template=template or None)
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
    ) -> None:
        """Confirm (and so issue) a pending alert proposed by another operator."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            try:
                env, rec = b.confirm(pending, operator, _now(at))
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
    ) -> None:
        """Withdraw a proposal or cancel an issued alert (one operator is enough)."""
        from tocsin.warning.manual import ManualAlertBook, ManualAlertError

        with _book(state, policy, live) as b:
            assert isinstance(b, ManualAlertBook)
            try:
                env, rec = b.cancel(target, operator, _now(at))
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
