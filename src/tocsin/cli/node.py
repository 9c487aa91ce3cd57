"""``tocsin node``: one partner's node on a NATS JetStream cluster.

Alerts are ``Exercise`` unless ``--live FILE`` names a live authorisation file;
then they are ``Actual`` (as ``tocsin serve --live``, :mod:`tocsin.cli.serve`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import ConfigError, InputError


def register(app: typer.Typer) -> None:
    @app.command("node")
    def node(
        partner: str = typer.Option(..., "--partner", help="This node's partner code (JP, KR, US, ...)."),
        nats_url: str = typer.Option("nats://127.0.0.1:4222", "--nats", help="NATS URL(s), comma-separated."),
        key: Path = typer.Option(..., "--key", help="This partner's private key (PEM)."),
        partners: Path | None = typer.Option(
            None, "--partners", help="Partner registry: verify every partner's signatures."
        ),
        data: Path | None = typer.Option(None, "--data", help="Journal directory (default data-<PARTNER>)."),
        publish: Path | None = typer.Option(
            None, "--publish", help="Also publish this file's messages (signed with --key)."
        ),
        replicas: int = typer.Option(1, "--replicas", help="Stream replicas when creating streams (1 or 3)."),
        stream_mb: int = typer.Option(
            10240, "--stream-max-mb", help="Input stream size limit (MiB); output: 1/5."
        ),
        user: str | None = typer.Option(None, "--user", help="NATS user."),
        password: str | None = typer.Option(
            None, "--password", envvar="TOCSIN_NATS_PASSWORD", help="NATS password."
        ),
        max_skew: float = typer.Option(30.0, "--max-skew", help="Largest |sent - now| (0: no clock check)."),
        tick: float = typer.Option(1.0, "--tick", help="Stage tick period in seconds (0: none)."),
        heartbeat: float = typer.Option(5.0, "--heartbeat", help="Heartbeat period in seconds (0: none)."),
        idle_exit: float = typer.Option(
            0.0, "--idle-exit", help="Exit after this many idle seconds (0: never)."
        ),
        stages: str = typer.Option("default", "--stages", help="default (fusion + warning) or toy (tests)."),
        sync: str = typer.Option("FULL", "--sync", help="Journal durability: FULL or NORMAL."),
        live: Path | None = typer.Option(
            None, "--live", help="Live authorisation file: alerts are ACTUAL. Without it: EXERCISE."
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="Warning policy file (.toml or .yaml); defaults otherwise."
        ),
    ) -> None:
        """Run a partner node: journal, fuse and warn on every partner's inputs, publish results back."""
        import asyncio
        import signal

        import nats

        from tocsin.cli.serve import announce_live, check_resume, new_instance, unreproducible, warning_setup
        from tocsin.exchange.ingress import Ingress
        from tocsin.exchange.signing import PartnerRegistry, load_private_key
        from tocsin.journal import Journal
        from tocsin.runtime import NondeterminismError, Pipeline, default_stages, recorded_instance
        from tocsin.transport.nats import FusionNode, ensure_streams, publish_all
        from tocsin.wire import ReadStats, iter_jsonl

        code = partner.upper()
        if len(code) != 2 or not code.isalpha():
            raise InputError("partner code must be two letters", field="--partner")
        if stages not in ("default", "toy"):
            raise InputError("must be default or toy", field="--stages")
        mode, wcfg, plain = warning_setup(live, policy, stages)
        k = load_private_key(key)
        registry = PartnerRegistry.load(partners) if partners is not None else None
        if registry is None:
            typer.echo("warning: no --partners registry: signatures are not checked (open mode)", err=True)
        to_publish = []
        if publish is not None:
            if not publish.is_file():
                raise InputError("no such file", file=str(publish))
            st = ReadStats()
            to_publish = list(iter_jsonl(publish, stats=st))
            if st.errors:
                raise st.errors[0]
            foreign = [m for m in to_publish if m.partner != code]
            if foreign:
                raise InputError(f"message of partner {foreign[0].partner}, not {code}", file=str(publish))
        ddir = data or Path(f"data-{code}")
        journal = Journal(ddir / "journal.db", synchronous=sync)
        try:
            check_resume(journal, str(ddir / "journal.db"), mode, plain)
        except InputError:
            journal.close()
            raise
        instance = recorded_instance(journal) or new_instance(f"node-{code}")
        if stages == "toy":
            from tocsin.exchange.samples import toy_stages

            stage_list = toy_stages()
        else:
            stage_list = default_stages(mode, wcfg, instance=instance)
        announce_live(mode, live)
        ingress = Ingress(registry, max_skew_s=max_skew or None, recorder=journal)
        import time

        ingress.clock = time.time
        pipe = Pipeline(stage_list, journal, ingress=ingress, checkpoint_key=k)
        if journal.last_seq:
            try:
                rep = pipe.recover()
            except NondeterminismError as exc:
                journal.close()
                raise InputError(unreproducible(exc), file=str(ddir / "journal.db")) from None
            typer.echo(f"recovered {rep.inputs} inputs from {ddir / 'journal.db'}", err=True)
        from tocsin.runtime import note_start

        note_start(journal, stages, f"node {code}", mode, plain, instance)

        async def main() -> None:
            opts: dict[str, object] = {"connect_timeout": 5, "max_reconnect_attempts": -1}
            if user:
                opts.update(user=user, password=password or "")
            try:
                nc = await nats.connect(nats_url.split(","), **opts)
            except Exception as exc:
                raise InputError(f"cannot connect: {exc}", field="--nats") from None
            js = nc.jetstream(timeout=5)
            try:
                await ensure_streams(
                    js,
                    replicas=replicas,
                    in_max_bytes=stream_mb * 2**20,
                    out_max_bytes=max(1, stream_mb // 5) * 2**20,
                )
            except Exception as exc:
                await nc.close()
                raise ConfigError(f"cannot create the JetStream streams: {exc}") from None

            def on_link(p: str, silent: bool) -> None:
                typer.echo(f"link {p}: {'SILENT' if silent else 'back'}", err=True)

            fnode = FusionNode(
                js, pipe, partner=code, key=k, tick_s=tick, heartbeat_s=heartbeat, on_link=on_link
            )
            await fnode.setup()
            if to_publish:
                n = await publish_all(js, to_publish, key=k)
                typer.echo(f"published {n} messages", err=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            typer.echo(
                f"node {code}: consuming as fusion-{code} on {nats_url} (alerts: {mode.status})", err=True
            )
            await fnode.run(stop=stop, idle_exit_s=idle_exit or None)
            s = fnode.stats
            typer.echo(
                f"node {code}: {s.fetched} fetched, {s.accepted} accepted, {s.rejected} rejected, "
                f"{s.published} outputs published"
            )
            await nc.close()

        try:
            asyncio.run(main())
        finally:
            pipe.close()
