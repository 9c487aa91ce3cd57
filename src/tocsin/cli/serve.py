"""``tocsin serve``: the embedded exchange (HTTP API, SSE, CAP feed, journal).

Alerts are ``Exercise`` unless ``--live FILE`` names a live authorisation file
(:func:`tocsin.warning.policy.load_live_authorisation`): then the warning engine
and the dashboard's manual desk run in that :class:`~tocsin.warning.mode.LiveMode`,
alerts are ``Actual`` and the dashboard banner says ACTUAL. The journal's start
note records the mode (and who authorised it) and the warning policy; a data
directory kept in one mode cannot be continued in the other.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tocsin.errors import InputError

if TYPE_CHECKING:
    from tocsin.journal.store import Journal
    from tocsin.warning.mode import Mode
    from tocsin.warning.policy import WarningConfig
    from tocsin.web.hub import Exchange


def warning_setup(
    live: Path | None, policy: Path | None, stages: str
) -> tuple[Mode, WarningConfig | None, dict[str, Any] | None]:
    """The warning mode, the policy and the policy as plain data (for the
    journal's start note) of ``tocsin serve`` / ``tocsin node``.

    Without ``live``: a drill (Exercise). With it: the :class:`LiveMode` of the
    authorisation file (a bad file is a one-line :class:`ConfigError`)."""
    import msgspec

    from tocsin.warning.mode import DrillMode
    from tocsin.warning.policy import WarningConfig, load_config, load_live_authorisation

    if live is not None and stages != "default":
        raise InputError("the toy stages cannot run live (their alerts are always Exercise)", field="--live")
    if policy is not None and stages != "default":
        raise InputError("the toy stages have no warning policy", field="--policy")
    cfg = load_config(policy) if policy is not None else None
    mode: Mode = load_live_authorisation(live) if live is not None else DrillMode()
    plain = msgspec.to_builtins(cfg if cfg is not None else WarningConfig()) if stages == "default" else None
    return mode, cfg, plain


def new_instance(role: str) -> str:
    """A fresh node-and-run identity for alert identifiers (``serve-1a2b3c4d``):
    random, recorded in the journal's start note, reused by restarts and
    replays of that journal (:func:`tocsin.runtime.recorded_instance`)."""
    import secrets

    return f"{role}-{secrets.token_hex(4)}"


def announce_live(mode: Mode, live: Path | None) -> None:
    """The loud stderr line of a live run (nothing for a drill)."""
    auth = getattr(mode, "authorisation", None)
    if mode.live and auth is not None:
        typer.echo(
            f"LIVE: alerts are issued as Actual (authorised by {auth.authorised_by}, reference "
            f"{auth.reference}; {live}). Without --live, alerts are Exercise.",
            err=True,
        )


def _engine_policy(plain: Any) -> Any:
    """A policy (plain data) without what the warning engine does not read
    (the operator list): changing only that may continue a journal."""
    if isinstance(plain, dict):
        return {k: v for k, v in plain.items() if k != "operators"}
    return plain


def unreproducible(exc: Exception) -> str:
    """The one-line message when recovery finds that this run's stages do not
    reproduce the journal's outputs."""
    return (
        f"{exc}: this run's stages do not reproduce the journal (another version or policy?); "
        "check it with `tocsin replay` and use a new --data directory"
    )


def check_resume(journal: Journal, where: str, mode: Mode, policy: dict[str, Any] | None) -> None:
    """Refuse to continue a journal recorded in another warning mode or with
    another warning policy: recovery re-runs it through this run's stages, and
    a drill's journal must not turn into Actual alerts (nor a live one into
    Exercise). Journals that predate the mode field are drill journals."""
    from tocsin.runtime import start_notes

    notes = start_notes(journal)
    if not notes:
        return
    last = notes[-1]
    was = last.get("mode", "drill")
    if was != mode.name:
        raise InputError(
            f"recorded in {was} mode; a {mode.name} run cannot continue it (use a new --data directory)",
            file=where,
        )
    if policy is not None and last.get("stages", "default") == "default":
        recorded = last.get("policy")
        if recorded is None:
            import msgspec

            from tocsin.warning.policy import WarningConfig

            recorded = msgspec.to_builtins(WarningConfig())
        if _engine_policy(recorded) != _engine_policy(policy):
            raise InputError(
                "recorded with another warning policy; this one cannot continue it "
                "(use the same --policy or a new --data directory)",
                file=where,
            )


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn waits for open connections before the app's shutdown; event
        streams (every open dashboard holds one) only end at that shutdown. So on
        SIGTERM / Ctrl-C, end the streams first (clients see ``event: closed``
        and reconnect to whatever runs next)."""

        def __init__(self, config: Any, exchange: Exchange) -> None:
            super().__init__(config)
            self.exchange = exchange

        def handle_exit(self, sig: int, frame: Any) -> None:
            hub = self.exchange.hub
            if hub is not None:
                for q in list(hub.subscribers):
                    with contextlib.suppress(asyncio.QueueFull):
                        q.put_nowait(None)
            super().handle_exit(sig, frame)

    return Server


def _make_server(config: Any, exchange: Exchange) -> Any:
    return _server_class()(config, exchange)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Listen address."),
        port: int = typer.Option(8080, "--port", help="Listen port (0: any free port)."),
        data: Path = typer.Option(
            Path("data"), "--data", help="Directory for journal.db, tracks/alerts.jsonl."
        ),
        partners: Path | None = typer.Option(
            None, "--partners", help="Partner registry (YAML/JSON): require signed messages."
        ),
        clock: str = typer.Option(
            "", "--clock", help="wall | data (default: wall with --partners, data without)."
        ),
        max_skew: float = typer.Option(
            30.0, "--max-skew", help="Largest |sent - now| in seconds (wall clock)."
        ),
        tick: float = typer.Option(1.0, "--tick", help="Stage tick period in seconds (0: no ticks)."),
        sync: str = typer.Option("FULL", "--sync", help="Journal durability: FULL or NORMAL."),
        max_body: int = typer.Option(4 * 1024 * 1024, "--max-body", help="Largest request body in bytes."),
        stages: str = typer.Option("default", "--stages", help="default (fusion + warning) or toy (tests)."),
        webhooks: list[str] = typer.Option(
            [], "--webhook", help="POST alerts here, HMAC-signed with $TOCSIN_WEBHOOK_SECRET (repeatable)."
        ),
        cot: list[str] = typer.Option(
            [], "--cot", help="Send tracks as Cursor-on-Target to HOST:PORT (TCP)."
        ),
        key: Path | None = typer.Option(
            None, "--key", help="This node's private key: sign journal checkpoints (verify with --pub)."
        ),
        tail: Path | None = typer.Option(None, "--tail", help="Also ingest a JSON Lines file, following it."),
        unix_socket: Path | None = typer.Option(
            None, "--socket", help="Also accept JSON Lines on this Unix socket (mode 0600)."
        ),
        replay: Path | None = typer.Option(
            None, "--replay", help="Dashboard replays this drill output directory or journal.db."
        ),
        operators: Path | None = typer.Option(
            None, "--operators", help="Dashboard operator accounts (default DATA/operators.json)."
        ),
        live: Path | None = typer.Option(
            None,
            "--live",
            help="Live authorisation file: alerts (and manual alerts) are ACTUAL. Without it: EXERCISE.",
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="Warning policy file (.toml or .yaml); defaults otherwise."
        ),
    ) -> None:
        """Run the exchange in one process: no external service needed."""
        import uvicorn

        from tocsin.exchange.signing import PartnerRegistry, load_private_key
        from tocsin.journal import Journal
        from tocsin.runtime import NondeterminismError, Sink, default_stages, recorded_instance
        from tocsin.web.dashboard import Dashboard, DashboardConfig, load_recording
        from tocsin.web.hub import ServerConfig
        from tocsin.web.server import bind, build_app, build_exchange

        clk = clock or ("wall" if partners is not None else "data")
        if clk not in ("wall", "data"):
            raise InputError("must be wall or data", field="--clock")
        if stages not in ("default", "toy"):
            raise InputError("must be default or toy", field="--stages")
        if live is not None and replay is not None:
            raise InputError(
                "a live server cannot show a replay (--replay is for drills and reviews)", field="--live"
            )
        mode, wcfg, plain = warning_setup(live, policy, stages)
        jpath = data / "journal.db"
        instance = None
        if jpath.is_file():
            with Journal(jpath, readonly=True) as jr:
                check_resume(jr, str(jpath), mode, plain)
                instance = recorded_instance(jr)
        instance = instance or new_instance("serve")
        announce_live(mode, live)
        if stages == "toy":
            from tocsin.exchange.samples import toy_stages

            stage_list = toy_stages()
        else:
            stage_list = default_stages(mode, wcfg, instance=instance)
        registry = PartnerRegistry.load(partners) if partners is not None else None
        hooks: list[Sink] = []
        if webhooks:
            import os

            from tocsin.transport.webhook import WebhookSink

            secret = os.environ.get("TOCSIN_WEBHOOK_SECRET", "")
            if not secret:
                raise InputError("set TOCSIN_WEBHOOK_SECRET to sign webhook bodies", field="--webhook")
            data.mkdir(parents=True, exist_ok=True)
            hooks = [
                WebhookSink(u, secret.encode(), dead_letter_path=data / "webhook-dead.jsonl")
                for u in webhooks
            ]
        for target in cot:
            from tocsin.transport.cot import CotTcpSink

            chost, _, cport = target.rpartition(":")
            if not chost or not cport.isdigit():
                raise InputError(f"expected HOST:PORT, got {target!r}", field="--cot")
            hooks.append(CotTcpSink(chost, int(cport)))
        recording = load_recording(replay) if replay is not None else None
        cfg = ServerConfig(max_body_bytes=max_body, tick_s=tick, clock=clk)  # type: ignore[arg-type]
        try:
            exchange, report = build_exchange(
                stage_list,
                data=data,
                registry=registry,
                config=cfg,
                max_skew_s=max_skew,
                synchronous=sync,
                extra_sinks=hooks,
                checkpoint_key=load_private_key(key) if key is not None else None,
            )
        except NondeterminismError as exc:
            for h in hooks:
                close = getattr(h, "close", None)
                if callable(close):
                    close()
            raise InputError(unreproducible(exc), file=str(jpath)) from None
        if exchange.pipeline.journal is not None:
            from tocsin.runtime import note_start

            note_start(exchange.pipeline.journal, stages, "serve", mode, plain, instance)
        if report is not None:
            typer.echo(
                f"recovered {report.inputs} inputs, {report.ticks} ticks from {data / 'journal.db'}; "
                f"{report.outputs_appended} outputs completed",
                err=True,
            )
        if registry is None:
            typer.echo("warning: no --partners registry: accepting unsigned messages (open mode)", err=True)
        dash = Dashboard(
            exchange,
            DashboardConfig(
                mode="actual" if mode.live else "exercise",
                manual_mode=mode if mode.live else None,
                replay=recording,
                operators=operators if operators is not None else data / "operators.json",
                manual_dir=data / "manual",
            ),
        )
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise InputError(f"cannot listen: {exc.strerror}", field="--port") from None
        actual = sock.getsockname()[1]
        typer.echo(
            f"tocsin serve: http://{host}:{actual} (stages: {len(stage_list)}, clock: {clk}, "
            f"alerts: {mode.status})",
            err=True,
        )
        print(f"listening on http://{host}:{actual}", flush=True)
        config = uvicorn.Config(
            build_app(exchange, tail=tail, unix_socket=unix_socket, dashboard=dash),
            log_level="warning",
            access_log=False,
            lifespan="on",
            # open event streams (every dashboard holds one) would otherwise keep
            # a SIGTERM / Ctrl-C waiting forever
            timeout_graceful_shutdown=2,
        )
        _make_server(config, exchange).run(sockets=[sock])
