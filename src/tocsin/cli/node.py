"""``tocsin node``: one partner's node on a NATS JetStream cluster.

Alerts are ``Exercise`` unless ``--live FILE`` names a live authorisation file;
then they are ``Actual`` (as ``tocsin serve --live``, :mod:`tocsin.cli.serve`).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tocsin.errors import ConfigError, InputError

if TYPE_CHECKING:
    import asyncio

    from tocsin.transport.nats import NatsAuth

_C = TypeVar("_C")


class ConnectErrors:
    """What the client's error callback said during the initial connect: an
    attempt fails as soon as it says anything (the client would retry on its own
    for ever)."""

    def __init__(self) -> None:
        import asyncio

        self.last = ""
        self.event = asyncio.Event()

    def said(self, msg: str) -> None:
        self.last = msg
        self.event.set()


async def connect_bounded(
    connect: Callable[[], Awaitable[_C]],
    url: str,
    attempts: int,
    errors: ConnectErrors,
    *,
    attempt_timeout_s: float = 8.0,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> _C:
    """Connect with a bounded retry policy: ``attempts`` tries, each ended by its
    first error or after ``attempt_timeout_s``, with backoff 0.5 s doubling up
    to 10 s between them; one stderr line per failed attempt; then a one-line
    :class:`InputError` (exit 2)."""
    import asyncio
    import contextlib

    pause = sleep or asyncio.sleep
    delay = 0.5
    why = ""
    for i in range(1, attempts + 1):
        errors.last = ""
        errors.event.clear()
        task = asyncio.ensure_future(connect())
        failed = asyncio.ensure_future(errors.event.wait())
        await asyncio.wait({task, failed}, timeout=attempt_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        failed.cancel()
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        if task.done() and not task.cancelled():
            exc = task.exception()
            why = errors.last or str(exc) or type(exc).__name__
        else:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            why = errors.last or f"no answer in {attempt_timeout_s:g} s"
        why = " ".join(why.split())
        if i < attempts:
            typer.echo(
                f"nats: cannot connect to {url} ({why}); attempt {i} of {attempts}, retrying in {delay:g} s",
                err=True,
            )
            await pause(delay)
            delay = min(delay * 2, 10.0)
    raise InputError(f"cannot connect to {url} after {attempts} attempts ({why})", field="--nats")


async def unless_stopped(aw: Awaitable[_C], stop: asyncio.Event) -> tuple[bool, _C | None]:
    """``(True, result)`` of ``aw``, or ``(False, None)`` when ``stop`` is set
    first (``aw`` is then cancelled): a signal during a long start-up step
    (connecting with retries, waiting for JetStream) ends it at once."""
    import asyncio
    import contextlib

    task = asyncio.ensure_future(aw)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return False, None


def nats_auth(
    urls: str,
    user: str | None,
    password_file: Path | None,
    nkey: Path | None,
    creds: Path | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    *,
    inbox: str | None = None,
) -> NatsAuth:
    """Connection settings from the command line: a password only from
    ``$TOCSIN_NATS_PASSWORD`` or ``--password-file``, never an argument."""
    import os

    from tocsin.transport.nats import NatsAuth, read_secret_file, split_urls

    password = None
    if password_file is not None:
        password = read_secret_file(password_file, "--password-file")
    elif user is not None:
        password = os.environ.get("TOCSIN_NATS_PASSWORD") or None
    auth = NatsAuth(
        urls=split_urls(urls),
        user=user,
        password=password,
        nkey_seed=nkey,
        creds=creds,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        inbox_prefix=f"_INBOX_{inbox}" if inbox else None,
    )
    auth.check()
    return auth


def register(app: typer.Typer) -> None:
    @app.command(
        "node",
        epilog=(
            "Examples:\n\n"
            "    tocsin deploy streams --partners JP,KR,US --nats nats://127.0.0.1:4222\n\n"
            "    tocsin node --partner JP --key jp.key --partners partners.yaml\n\n"
            "    tocsin node --partner JP --key jp.key --partners partners.yaml \\\n"
            "        --nkey nkeys/node.nk --tls-ca tls/ca.pem \\\n"
            "        --tls-cert tls/node-cert.pem --tls-key tls/node-key.pem \\\n"
            "        --nats tls://127.0.0.1:4222     (a `tocsin deploy nats` directory)\n\n"
            "    tocsin node ... --live live.toml --policy policy.toml     (Actual alerts)\n\n"
            "SIGTERM or Ctrl-C stops it cleanly (exit 0). More in docs/operations.md."
        ),
    )
    def node(
        partner: str = typer.Option(..., "--partner", help="This node's partner code (JP, KR, US, ...)."),
        nats_url: str = typer.Option("nats://127.0.0.1:4222", "--nats", help="NATS URL(s), comma-separated."),
        key: Path = typer.Option(..., "--key", help="This partner's private key (PEM)."),
        partners: Path | None = typer.Option(
            None,
            "--partners",
            help="Partner registry: verify every partner's signatures. Required with --live; "
            "without it the node runs in open mode (exercises only).",
        ),
        data: Path | None = typer.Option(None, "--data", help="Journal directory (default data-<PARTNER>)."),
        publish: Path | None = typer.Option(
            None, "--publish", help="Also publish this file's messages (signed with --key)."
        ),
        replicas: int = typer.Option(1, "--replicas", help="Stream replicas when creating streams (1 or 3)."),
        stream_mb: int = typer.Option(
            10240,
            "--stream-max-mb",
            help="When creating streams: each partner's input stream quota (MiB); output: 1/5.",
        ),
        user: str | None = typer.Option(
            None, "--user", help="NATS user; its password from $TOCSIN_NATS_PASSWORD or --password-file."
        ),
        password_file: Path | None = typer.Option(
            None,
            "--password-file",
            help="File whose first line is the NATS password (never on the command line).",
        ),
        nkey: Path | None = typer.Option(
            None, "--nkey", help="NKey seed file of this node's NATS user (tocsin deploy nats writes it)."
        ),
        creds: Path | None = typer.Option(None, "--creds", help="NATS credentials file (JWT + NKey seed)."),
        tls_ca: Path | None = typer.Option(
            None, "--tls-ca", help="CA certificate that signed the servers' (PEM)."
        ),
        tls_cert: Path | None = typer.Option(
            None, "--tls-cert", help="This node's TLS client certificate (PEM)."
        ),
        tls_key: Path | None = typer.Option(
            None, "--tls-key", help="The client certificate's private key (PEM)."
        ),
        max_skew: float = typer.Option(30.0, "--max-skew", help="Largest |sent - now| (0: no clock check)."),
        tick: float = typer.Option(1.0, "--tick", help="Stage tick period in seconds (0: none)."),
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
            help="The least scan grace (a sensor whose scans always came whole, or mostly came "
            "in pieces more than --scan-grace apart).",
        ),
        heartbeat: float = typer.Option(5.0, "--heartbeat", help="Heartbeat period in seconds (0: none)."),
        idle_exit: float = typer.Option(
            0.0, "--idle-exit", help="Exit after this many idle seconds (0: never)."
        ),
        stages: str = typer.Option("default", "--stages", help="default (fusion + warning) or toy (tests)."),
        stage_process: str = typer.Option(
            "auto",
            "--stage-process",
            metavar="auto|on|off",
            help="Run fusion and warning in a process of their own, on a second core: a batch is "
            "acknowledged once journalled and each output is published as soon as its stage made "
            "it (a track update does not wait for the warning stage). auto: on with the default "
            "stages on a machine with 2 or more CPUs.",
        ),
        sync: str = typer.Option("FULL", "--sync", help="Journal durability: FULL or NORMAL."),
        checkpoint_entries: int = typer.Option(
            1000, "--checkpoint-entries", min=1, help="Sign a journal checkpoint every N entries..."
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
        live: Path | None = typer.Option(
            None, "--live", help="Live authorisation file: alerts are ACTUAL. Without it: EXERCISE."
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="Warning policy file (.toml or .yaml); defaults otherwise."
        ),
        connect_attempts: int = typer.Option(
            10,
            "--connect-attempts",
            min=1,
            help="Attempts to reach NATS at start (backoff 0.5 s doubling to 10 s), then exit 2. "
            "Once connected, outages are ridden out.",
        ),
    ) -> None:
        """Run a partner node: journal, fuse and warn on every partner's inputs, publish results back."""
        import asyncio
        import signal

        import nats

        from tocsin.cli.serve import (
            LIVE_NEEDS_REGISTRY,
            OPEN_MODE_BANNER,
            announce_live,
            check_resume,
            new_instance,
            unreproducible,
            warning_setup,
        )
        from tocsin.exchange.ingress import Ingress
        from tocsin.exchange.signing import PartnerRegistry, load_private_key
        from tocsin.journal import Journal
        from tocsin.runtime import (
            NondeterminismError,
            Pipeline,
            RecoveryError,
            SegmentPolicy,
            SnapshotPolicy,
            default_stages,
            recorded_instance,
        )
        from tocsin.transport.nats import FusionNode, ensure_streams, publish_all
        from tocsin.wire import ReadStats, iter_jsonl

        code = partner.upper()
        if len(code) != 2 or not code.isalpha():
            raise InputError("partner code must be two letters", field="--partner")
        auth = nats_auth(nats_url, user, password_file, nkey, creds, tls_ca, tls_cert, tls_key, inbox=code)
        if stages not in ("default", "toy"):
            raise InputError("must be default or toy", field="--stages")
        if stage_process not in ("auto", "on", "off"):
            raise InputError("must be auto, on or off", field="--stage-process")
        import os

        separate = stage_process == "on" or (
            stage_process == "auto" and stages == "default" and (os.cpu_count() or 1) >= 2
        )
        if live is not None and partners is None:
            raise InputError(LIVE_NEEDS_REGISTRY, field="--live")
        mode, wcfg, plain = warning_setup(live, policy, stages, open_inputs=partners is None)
        k = load_private_key(key)
        registry = PartnerRegistry.load(partners) if partners is not None else None
        if registry is None:
            typer.echo(OPEN_MODE_BANNER, err=True)
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
        journal = Journal(
            ddir / "journal.db", synchronous=sync, train_off_thread=True, checkpoint_thread=True
        )
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
        pipe = Pipeline(
            stage_list,
            journal,
            ingress=ingress,
            checkpoint_key=k,
            checkpoint_every=checkpoint_entries,
            checkpoint_s=checkpoint_s,
            snapshots=SnapshotPolicy(
                ddir / "snapshots",
                every_s=snapshot_s,
                every_entries=snapshot_entries,
                max_share=snapshot_share,
                cost_share=snapshot_cost_share,
            ),
            segments=SegmentPolicy(max_bytes=int(segment_mb * 2**20), max_s=segment_h * 3600.0),
        )
        if journal.last_seq:
            try:
                rep = pipe.recover()
            except NondeterminismError as exc:
                journal.close()
                raise InputError(unreproducible(exc), file=str(ddir / "journal.db")) from None
            except RecoveryError as exc:
                journal.close()
                raise InputError(str(exc), file=str(ddir / "journal.db")) from None
            typer.echo(f"{ddir / 'journal.db'}: {rep.summary()}", err=True)
        from tocsin.runtime import note_start

        note_start(journal, stages, f"node {code}", mode, plain, instance)
        if separate:
            from tocsin.stageproc import StageProcessError, StageRecipe

            try:  # (from the recovered state)
                pipe.start_stage_process(StageRecipe.of(stages, mode, wcfg, instance))
            except StageProcessError as exc:
                pipe.close()
                raise InputError(str(exc), field="--stage-process") from None

        # the input streams: the registry's partners (and this one); open mode
        # makes the shipped partners' and its own, and reads every one there is
        from tocsin.transport.nats import DEFAULT_PARTNERS

        read_partners = sorted({code, *registry.partners}) if registry is not None else None
        stream_partners = read_partners or sorted({code, *DEFAULT_PARTNERS})

        async def main() -> None:
            connected = False
            errors = ConnectErrors()
            # SIGTERM (service managers) and SIGINT (Ctrl-C) stop the node cleanly
            # at any point, connecting included: the journal is closed (a last
            # snapshot, a signed checkpoint, the WAL truncated) and it exits 0
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)

            async def on_error(exc: Exception) -> None:  # one line, never nats-py's traceback
                msg = str(exc).removeprefix("nats: ") or type(exc).__name__
                if connected:
                    typer.echo(f"nats: {msg}", err=True)
                else:  # (the attempts of connect_bounded say it, once each)
                    errors.said(msg)

            opts: dict[str, Any] = {
                "connect_timeout": 5,
                # once connected, ride out any outage (reconnects forever, each error one line)
                "max_reconnect_attempts": -1,
                "error_cb": on_error,
            }
            opts.update(auth.connect_kwargs())
            done, nc = await unless_stopped(
                connect_bounded(
                    lambda: nats.connect(**opts), nats_url, connect_attempts, errors, attempt_timeout_s=8.0
                ),
                stop,
            )
            if not done or nc is None:
                typer.echo(f"node {code}: stopped before connecting to NATS", err=True)
                return
            connected = True
            try:
                await run_connected(nc, stop)
            finally:
                await nc.close()

        async def run_connected(nc: Any, stop: asyncio.Event) -> None:
            js = nc.jetstream(timeout=5)
            try:
                await ensure_streams(
                    js,
                    replicas=replicas,
                    partners=stream_partners,
                    in_max_bytes=stream_mb * 2**20,
                    out_max_bytes=max(1, stream_mb // 5) * 2**20,
                )
            except Exception as exc:
                why = str(exc) or type(exc).__name__
                raise ConfigError(
                    f"the JetStream streams are missing and could not be created ({why}); with partner "
                    "credentials the exchange administrator creates them (tocsin deploy streams)"
                ) from None

            def on_link(p: str, silent: bool) -> None:
                typer.echo(f"link {p}: {'SILENT' if silent else 'back'}", err=True)

            fnode = FusionNode(
                js,
                pipe,
                partner=code,
                partners=read_partners,
                key=k,
                tick_s=tick,
                heartbeat_s=heartbeat,
                on_link=on_link,
                scan_grace_s=scan_grace,
                scan_grace_min_s=scan_grace_min,
            )
            done, _ = await unless_stopped(fnode.setup(), stop)
            if not done:
                return
            if to_publish:
                n = await publish_all(js, to_publish, key=k)
                typer.echo(f"published {n} messages", err=True)
            # what exists once started (modules, numba's tables, the recovered
            # state, the NATS client) lives as long as the process: out of the
            # cycle collector's full passes, which hold every thread while they
            # walk it (as `tocsin serve` does: up to 0.43 s a pass at 20,000
            # plots/s, freeing nothing)
            from tocsin.stageproc import settle

            settle()
            typer.echo(
                f"node {code}: consuming as fusion-{code} on {nats_url} (alerts: {mode.status}), "
                f"stages {'in their own process' if separate else 'in process'}, "
                f"start-up heap settled ({gc.get_freeze_count()} objects out of the full collector passes)",
                err=True,
            )
            await fnode.run(stop=stop, idle_exit_s=idle_exit or None)
            s = fnode.stats
            typer.echo(
                f"node {code}: {s.fetched} fetched, {s.accepted} accepted, {s.rejected} rejected, "
                f"{s.published} outputs published"
            )

        try:
            asyncio.run(main())
        finally:
            pipe.close()  # a last snapshot, a signed checkpoint, the WAL checkpointed and removed
        typer.echo(f"node {code}: stopped cleanly (journal committed and closed)", err=True)
