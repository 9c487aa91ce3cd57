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
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tocsin.errors import InputError

if TYPE_CHECKING:
    from tocsin.journal.store import Journal
    from tocsin.warning.mode import Mode
    from tocsin.warning.policy import WarningConfig
    from tocsin.web.hub import Exchange


#: the one line of a live run refused for want of a partner registry
LIVE_NEEDS_REGISTRY = (
    "live operation needs a partner registry (--partners FILE): without one, anyone on the "
    "network could cause a public alert"
)

#: the start banner of an open-mode run (no partner registry)
OPEN_MODE_BANNER = (
    "OPEN MODE: no --partners registry: unsigned messages are accepted from anyone; "
    "for exercises only (alerts are Exercise and their CAP note says open mode)"
)


def warning_setup(
    live: Path | None, policy: Path | None, stages: str, *, open_inputs: bool = False
) -> tuple[Mode, WarningConfig | None, dict[str, Any] | None]:
    """The warning mode, the policy and the policy as plain data (for the
    journal's start note) of ``tocsin serve`` / ``tocsin node``.

    Without ``live``: a drill (Exercise; with ``open_inputs``, an open-mode drill
    whose CAP notes say so). With it: the :class:`LiveMode` of the authorisation
    file (a bad file is a one-line :class:`ConfigError`); live refuses
    ``open_inputs`` (fail closed: live means a partner registry)."""
    import msgspec

    from tocsin.warning.mode import DrillMode
    from tocsin.warning.policy import WarningConfig, load_config, load_live_authorisation

    if live is not None and open_inputs:
        raise InputError(LIVE_NEEDS_REGISTRY, field="--live")
    if live is not None and stages != "default":
        raise InputError("the toy stages cannot run live (their alerts are always Exercise)", field="--live")
    if policy is not None and stages != "default":
        raise InputError("the toy stages have no warning policy", field="--policy")
    cfg = load_config(policy) if policy is not None else None
    mode: Mode = load_live_authorisation(live) if live is not None else DrillMode(open_inputs=open_inputs)
    plain = msgspec.to_builtins(cfg if cfg is not None else WarningConfig()) if stages == "default" else None
    return mode, cfg, plain


def new_instance(role: str) -> str:
    """A fresh node-and-run identity for alert identifiers (``serve-1a2b3c4d``):
    random, recorded in the journal's start note, reused by restarts and
    replays of that journal (:func:`tocsin.runtime.recorded_instance`)."""
    import secrets

    return f"{role}-{secrets.token_hex(4)}"


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(host: str, given: list[str]) -> tuple[str, ...]:
    """The names the server answers to (``Host`` check, against DNS rebinding):
    ``--allowed-host`` if given; else the ``--host`` address (loopback: every
    loopback name). Listening on every address needs explicit names."""
    if given:
        bad = [h for h in given if not h or "/" in h or " " in h]
        if bad:
            raise InputError(f"not a host name: {bad[0]!r}", field="--allowed-host")
        return tuple(given)
    if host in ("0.0.0.0", "::", ""):
        raise InputError(
            "listening on every address: name the hosts clients use (repeatable), "
            "so a page on another name cannot reach the server (DNS rebinding)",
            field="--allowed-host",
        )
    return _LOOPBACK if host in _LOOPBACK else (host,)


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
    from tocsin.runtime import last_start_note

    last = last_start_note(journal)
    if last is None:
        if mode.live and journal.last_seq > 0:
            # whatever wrote it (an older version, another tool), it was not a
            # live run of this exchange: replaying it live would turn drill
            # inputs into Actual alerts
            raise InputError(
                "has no start note: a live run never continues it (use a new --data directory)",
                file=where,
            )
        return
    was_open = last.get("open")
    is_open = bool(getattr(mode, "open_inputs", False))
    if isinstance(was_open, bool) and was_open != is_open:
        raise InputError(
            f"recorded {'without' if was_open else 'with'} a partner registry; this run cannot "
            "continue it (its alerts would read differently; use a new --data directory)",
            file=where,
        )
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

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            # what exists once started (modules, numba's tables, the recovered
            # state) lives as long as the process: out of the cycle collector's
            # full passes, which hold every thread, the pipeline's too, while
            # they walk it (2026-12-06, this process's work at 20,000 plots/s in
            # process: 11 full passes in 12 s, up to 0.43 s each, freeing nothing)
            from tocsin.stageproc import settle

            settle()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """uvicorn re-raises SIGTERM / SIGINT after its graceful shutdown, so
            the process would end by the signal (status 143 / 130) and service
            managers would read a crash. A stop that drained, committed and closed
            the journal is a clean exit: status 0 (see ``serve``)."""
            with super().capture_signals():
                yield
                if self.exchange.closed_cleanly:
                    self._captured_signals.clear()

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
    @app.command(
        "serve",
        epilog=(
            "Examples:\n\n"
            "    tocsin serve     (open mode: http://127.0.0.1:8080, journal in ./data)\n\n"
            "    tocsin feed plots.jsonl --to http://127.0.0.1:8080 --rate 10x\n\n"
            "    tocsin serve --partners partners.yaml     (signed only)\n\n"
            "    tocsin serve --live live.toml --partners partners.yaml     (Actual alerts)\n\n"
            "    tocsin serve --replay run/     (a recorded drill on the dashboard)\n\n"
            "More in docs/operations.md."
        ),
    )
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Listen address."),
        port: int = typer.Option(8080, "--port", help="Listen port (0: any free port)."),
        data: Path = typer.Option(
            Path("data"), "--data", help="Directory for the journal, snapshots (and --outputs-files)."
        ),
        partners: Path | None = typer.Option(
            None,
            "--partners",
            help="Partner registry (YAML/JSON): require signed messages. Required with --live; "
            "without it the server runs in open mode (exercises only).",
        ),
        clock: str = typer.Option(
            "", "--clock", help="wall | data (default: wall with --partners, data without)."
        ),
        max_skew: float = typer.Option(
            30.0, "--max-skew", help="Largest |sent - now| in seconds (wall clock)."
        ),
        tick: float = typer.Option(1.0, "--tick", help="Stage tick period in seconds (0: no ticks)."),
        scan_grace: float = typer.Option(
            0.02,
            "--scan-grace",
            min=0.0,
            help="Tick at most this many seconds after input stops, so a buffered radar scan is processed "
            "at once (journalled; 0: off; needs --tick > 0). A sensor whose scans have shown their "
            "plot spacing gets twice its longest gap within a scan, at least --scan-grace-min; "
            "one most of whose gaps within a scan were longer than this gets --scan-grace-min.",
        ),
        scan_grace_min: float = typer.Option(
            0.002,
            "--scan-grace-min",
            min=0.0,
            help="The least scan grace (a sensor whose scans always came in one request, or mostly came "
            "in pieces more than --scan-grace apart).",
        ),
        trace: Path | None = typer.Option(
            None,
            "--trace",
            help="Append the pipeline's timings (monotonic clock) as JSON Lines to this file: each batch, "
            "tick, collect and output (the latency breakdown of benchmarks/latency.py).",
        ),
        sync: str = typer.Option("FULL", "--sync", help="Journal durability: FULL or NORMAL."),
        max_body: int = typer.Option(4 * 1024 * 1024, "--max-body", help="Largest request body in bytes."),
        stages: str = typer.Option("default", "--stages", help="default (fusion + warning) or toy (tests)."),
        webhooks: list[str] = typer.Option(
            [], "--webhook", help="POST alerts here, HMAC-signed with $TOCSIN_WEBHOOK_SECRET (repeatable)."
        ),
        cot: list[str] = typer.Option(
            [],
            "--cot",
            help="Send tracks, impacts, warned areas and alerts as Cursor-on-Target to a TAK server: "
            "HOST:PORT or tcp://HOST:PORT, or tls://HOST:PORT with the client certificate, key and CA "
            "files named by $TOCSIN_COT_TLS_CERT, $TOCSIN_COT_TLS_KEY, $TOCSIN_COT_TLS_CA (repeatable).",
        ),
        cot_lang: str = typer.Option(
            "en", "--cot-lang", help="Language of CoT area names, remarks and GeoChat: ja, ko or en."
        ),
        cot_tak_proto: int = typer.Option(
            0, "--cot-tak-proto", min=0, max=1, help="1: TAK Protocol v1 streaming (protobuf) instead of XML."
        ),
        key: Path | None = typer.Option(
            None, "--key", help="This node's private key: sign journal checkpoints (verify with --pub)."
        ),
        checkpoint_entries: int = typer.Option(
            1000, "--checkpoint-entries", min=1, help="With --key: sign a checkpoint every N entries..."
        ),
        checkpoint_s: float = typer.Option(
            5.0, "--checkpoint-s", min=0.0, help="... and every S seconds while entries arrive (0: never)."
        ),
        snapshot_s: float = typer.Option(
            15.0,
            "--snapshot-s",
            min=0.0,
            help="Snapshot the stages into DATA/snapshots every S seconds (0: never); a restart "
            "re-runs only the journal after the latest.",
        ),
        snapshot_entries: int = typer.Option(
            100_000, "--snapshot-entries", min=0, help="... and every N journal entries (0: never)."
        ),
        snapshot_share: float = typer.Option(
            0.25,
            "--snapshot-share",
            min=0.0,
            max=1.0,
            help="A --snapshot-s snapshot waits until the journal grew by the last snapshot's size "
            "over this share: snapshots write at most about this share of the journal's bytes "
            "(a large state is snapshotted less often; 0: no such wait).",
        ),
        snapshot_cost_share: float = typer.Option(
            0.25,
            "--snapshot-cost-share",
            min=0.0,
            max=1.0,
            help="Any snapshot waits until the stages' CPU since the last one (what a crash would "
            "re-run) is the last snapshot's measured CPU cost over this share: snapshots take at most "
            "about this share of the stages' CPU (0: no such wait).",
        ),
        segment_mb: float = typer.Option(
            1024.0,
            "--segment-mb",
            min=0.0,
            help="Close the journal's live segment at this size (MiB) and start the next (0: never); "
            "old segments go with `tocsin journal archive/prune`.",
        ),
        segment_h: float = typer.Option(
            24.0, "--segment-h", min=0.0, help="... or after this many hours (0: never)."
        ),
        outputs_files: bool = typer.Option(
            False,
            "--outputs-files",
            help="Also keep DATA/tracks.jsonl and alerts.jsonl live (a second copy of the journal's "
            "outputs; `tocsin journal export` derives them on demand).",
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
        allowed_host: list[str] = typer.Option(
            [],
            "--allowed-host",
            help="A name clients reach this server by (repeatable); any other Host header is refused "
            "(DNS rebinding). Default: the --host address (loopback: also localhost). Required "
            "with --host 0.0.0.0.",
        ),
        stage_process: str = typer.Option(
            "auto",
            "--stage-process",
            metavar="auto|on|off",
            help="Run fusion and warning in a process of their own, on a second core (requests are "
            "answered once journalled; outputs follow). auto: on with the default stages on a "
            "machine with 2 or more CPUs.",
        ),
        partner_rate: float = typer.Option(
            50_000.0,
            "--partner-rate",
            min=1.0,
            help="Messages a second each partner may send (burst: twice that); more: 429 with "
            "Retry-After. Bounds what one compromised partner adds to the journal.",
        ),
        unauth_rate: float = typer.Option(
            1_000.0,
            "--unauth-rate",
            min=1.0,
            help="Messages a second of all unauthenticated traffic together (junk, forgeries, "
            "replays; burst: five times that); more: 429.",
        ),
        allowed_origin: list[str] = typer.Option(
            [],
            "--allowed-origin",
            help="A web origin (https://name[:port]) whose pages may POST messages (repeatable); "
            "other browser origins get 403. Default: none but the server's own.",
        ),
    ) -> None:
        """Run the exchange in one process: no external service needed.

        Without --partners it runs in open mode, for exercises only: every
        alert is an Exercise and says so.
        """
        import uvicorn

        from tocsin.exchange.signing import PartnerRegistry, load_private_key
        from tocsin.journal import Journal
        from tocsin.runtime import NondeterminismError, RecoveryError, Sink, default_stages, recorded_instance
        from tocsin.stageproc import DEFAULT_PRELOAD, StageRecipe, spawn
        from tocsin.web.app import HttpSecurity
        from tocsin.web.dashboard import Dashboard, DashboardConfig, load_recording
        from tocsin.web.hub import ServerConfig
        from tocsin.web.server import bind, build_app, build_exchange

        clk = clock or ("wall" if partners is not None else "data")
        if clk not in ("wall", "data"):
            raise InputError("must be wall or data", field="--clock")
        if stages not in ("default", "toy"):
            raise InputError("must be default or toy", field="--stages")
        if stage_process not in ("auto", "on", "off"):
            raise InputError("must be auto, on or off", field="--stage-process")
        separate = stage_process == "on" or (
            stage_process == "auto" and stages == "default" and (os.cpu_count() or 1) >= 2
        )
        if replay is not None and (tail is not None or unix_socket is not None):
            raise InputError("a replay server takes no input (--tail, --socket)", field="--replay")
        if live is not None and replay is not None:
            raise InputError(
                "a live server cannot show a replay (--replay is for drills and reviews)", field="--live"
            )
        if live is not None and partners is None:
            raise InputError(LIVE_NEEDS_REGISTRY, field="--live")
        mode, wcfg, plain = warning_setup(live, policy, stages, open_inputs=partners is None)
        hosts = allowed_hosts(host, allowed_host)
        # the options are good: the stage process starts now and imports and
        # builds the stages while this one builds its own and recovers (a restart
        # takes the longer of the two, not their sum); it gets its recipe below,
        # and is ended if this start fails before that
        early = spawn(None, DEFAULT_PRELOAD if stages == "default" else ()) if separate else None
        ops_file = operators if operators is not None else data / "operators.json"
        if operators is not None and not operators.is_file():
            raise InputError("no such operator file", file=str(operators), field="--operators")
        if ops_file.exists():
            from tocsin.web.auth import load_store

            load_store(ops_file)  # a bad accounts file stops the start (one line), not a 500 at login
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
            from tocsin.transport.cot import CotPolicy, CotSink

            url = target if "://" in target else "tcp://" + target
            scheme, _, hostport = url.partition("://")
            chost, _, cport = hostport.rpartition(":")
            if scheme not in ("tcp", "tls") or not chost or not cport.isdigit():
                raise InputError(
                    f"expected HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT, got {target!r}", field="--cot"
                )
            if cot_lang not in ("ja", "ko", "en"):
                raise InputError(f"expected ja, ko or en, got {cot_lang!r}", field="--cot-lang")
            tls = {k: os.environ.get(f"TOCSIN_COT_TLS_{k.upper()}") for k in ("cert", "key", "ca")}
            if scheme == "tls" and not (tls["cert"] and tls["key"]):
                raise InputError(
                    "tls:// needs $TOCSIN_COT_TLS_CERT and $TOCSIN_COT_TLS_KEY (client certificate, key)",
                    field="--cot",
                )
            hooks.append(
                CotSink(
                    url,
                    policy=CotPolicy(lang=cot_lang),
                    tak_proto=cot_tak_proto,
                    tls_cert=tls["cert"],
                    tls_key=tls["key"],
                    tls_ca=tls["ca"],
                )
            )
        recording = load_recording(replay) if replay is not None else None
        if trace is not None:
            try:  # (the tracer appends to it once the server is built)
                trace.open("a").close()
            except OSError as exc:
                raise InputError(f"cannot write {str(trace)!r}: {exc.strerror}", field="--trace") from None
        from tocsin.exchange.admission import AdmissionConfig

        quotas = AdmissionConfig(
            partner_rate=partner_rate,
            partner_burst=2 * partner_rate,
            open_rate=partner_rate,
            open_burst=2 * partner_rate,
            unauth_rate=unauth_rate,
            unauth_burst=5 * unauth_rate,
        )
        cfg = ServerConfig(
            max_body_bytes=max_body,
            tick_s=tick,
            scan_grace_s=scan_grace,
            scan_grace_min_s=scan_grace_min,
            trace_path=str(trace) if trace is not None else None,
            clock=clk,  # type: ignore[arg-type]
            stage_process=separate,
            admission=quotas,
        )
        try:
            exchange, _ = build_exchange(
                stage_list,
                data=data,
                registry=registry,
                config=cfg,
                max_skew_s=max_skew,
                synchronous=sync,
                extra_sinks=hooks,
                checkpoint_key=load_private_key(key) if key is not None else None,
                checkpoint_every=checkpoint_entries,
                checkpoint_s=checkpoint_s,
                snapshot_s=snapshot_s,
                snapshot_entries=snapshot_entries,
                snapshot_share=snapshot_share,
                snapshot_cost_share=snapshot_cost_share,
                segment_bytes=int(segment_mb * 2**20),
                segment_s=segment_h * 3600.0,
                output_files=outputs_files,
                recover=False,  # after the dashboard registered its keepers (below)
                stage_recipe=StageRecipe.of(stages, mode, wcfg, instance),
                spawned=early,
            )
            dash = Dashboard(
                exchange,
                DashboardConfig(
                    mode="actual" if mode.live else "exercise",
                    # (live: the authorised LiveMode; open mode: manual alerts say so too)
                    manual_mode=mode if mode.live or getattr(mode, "open_inputs", False) else None,
                    replay=recording,
                    operators=ops_file,
                    manual_dir=data / "manual",
                ),
            )
            j = exchange.pipeline.journal
            report = exchange.pipeline.recover() if j is not None and j.last_seq > 0 else None
        except (NondeterminismError, RecoveryError) as exc:
            for h in hooks:
                close = getattr(h, "close", None)
                if callable(close):
                    close()
            msg = unreproducible(exc) if isinstance(exc, NondeterminismError) else str(exc)
            raise InputError(msg, file=str(jpath)) from None
        if exchange.pipeline.journal is not None:
            from tocsin.runtime import note_start

            note_start(exchange.pipeline.journal, stages, "serve", mode, plain, instance)
        if report is not None:
            typer.echo(f"{data / 'journal.db'}: {report.summary()}", err=True)
        if replay is not None and registry is None:
            # a replay server shows a recording and takes no input: nothing is open
            typer.echo(f"REPLAY: the dashboard shows {replay}; this server takes no input", err=True)
        elif registry is None:
            typer.echo(OPEN_MODE_BANNER, err=True)
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
            build_app(
                exchange,
                tail=tail,
                unix_socket=unix_socket,
                dashboard=dash,
                security=HttpSecurity(
                    allowed_hosts=hosts, allowed_origins=tuple(allowed_origin), ingest=replay is None
                ),
            ),
            log_level="warning",
            access_log=False,
            lifespan="on",
            # open event streams (every dashboard holds one) would otherwise keep
            # a SIGTERM / Ctrl-C waiting forever
            timeout_graceful_shutdown=2,
        )
        _make_server(config, exchange).run(sockets=[sock])
        if not exchange.closed_cleanly:
            # forced (a second Ctrl-C) or the shutdown failed: say so, not 0
            typer.echo(
                "tocsin serve: stopped without closing the journal cleanly; the next start recovers it",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo("tocsin serve: stopped cleanly (journal committed and closed)", err=True)
