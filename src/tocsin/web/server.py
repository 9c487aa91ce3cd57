"""Assemble and run the embedded server (used by ``tocsin serve`` and tests)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from tocsin.exchange.ingress import Ingress
from tocsin.exchange.signing import PartnerRegistry
from tocsin.journal.store import Journal
from tocsin.runtime import Pipeline, RecoveryReport, SegmentPolicy, Sink, SnapshotPolicy, file_sinks
from tocsin.stage import Stage
from tocsin.stageproc import Spawned
from tocsin.web.app import HttpSecurity, create_app
from tocsin.web.dashboard import Dashboard
from tocsin.web.hub import Exchange, ServerConfig

#: ``Exchange.mode`` (on /healthz and the dashboard banner) without a partner registry
OPEN_MODE = "open (exercise only: unsigned inputs accepted)"


def build_exchange(
    stages: list[Stage],
    *,
    data: Path | None = None,
    registry: PartnerRegistry | None = None,
    config: ServerConfig | None = None,
    max_skew_s: float | None = 30.0,
    synchronous: str = "FULL",
    extra_sinks: Sequence[Sink] = (),
    checkpoint_key: Ed25519PrivateKey | None = None,
    checkpoint_every: int = 1000,
    checkpoint_s: float = 5.0,
    snapshot_s: float = 15.0,
    snapshot_entries: int = 100_000,
    snapshot_share: float = 0.25,
    snapshot_cost_share: float = 0.25,
    segment_bytes: int = 1024 * 1024 * 1024,
    segment_s: float = 24 * 3600.0,
    output_files: bool = True,
    recover: bool = True,
    stage_recipe: Callable[[], list[Stage]] | None = None,
    spawned: Spawned | None = None,
) -> tuple[Exchange, RecoveryReport | None]:
    """A ready :class:`Exchange`: journal in ``data/journal.db`` (recovered if it
    exists: from the latest snapshot in ``data/snapshots/`` and the journal after
    it), with ``output_files`` also ``data/tracks.jsonl`` and ``data/alerts.jsonl``
    kept live (rewritten from the journal first). With ``recover=False`` the
    caller registers its keepers (:meth:`Pipeline.keep`: the dashboard's) and
    then calls ``exchange.pipeline.recover()`` itself. ``stage_recipe`` (a
    :class:`tocsin.stageproc.StageRecipe` building the same stages) lets
    ``config.stage_process`` run them in a process of their own (``spawned``:
    one the caller started early, :func:`tocsin.stageproc.spawn`).

    The clock check only applies with the wall clock: with ``clock="data"`` the
    node's notion of now *is* the data.
    """
    cfg = config or ServerConfig()
    journal = None
    snapshots = None
    sinks: list[Sink] = []
    if data is not None:
        snapshots = SnapshotPolicy(
            Path(data) / "snapshots",
            every_s=snapshot_s,
            every_entries=snapshot_entries,
            max_share=snapshot_share,
            cost_share=snapshot_cost_share,
        )
        journal = Journal(
            Path(data) / "journal.db", synchronous=synchronous, train_off_thread=True, checkpoint_thread=True
        )
        if output_files:
            sinks.extend(file_sinks(data, journal))
    sinks.extend(extra_sinks)
    skew = max_skew_s if cfg.clock == "wall" else None
    ingress = Ingress(registry, max_skew_s=skew, recorder=journal)
    pipe = Pipeline(
        stages,
        journal,
        sinks,
        ingress=ingress,
        checkpoint_key=checkpoint_key,
        checkpoint_every=checkpoint_every,
        checkpoint_s=checkpoint_s,
        snapshots=snapshots,
        segments=SegmentPolicy(max_bytes=segment_bytes, max_s=segment_s),
    )
    if cfg.stage_process and stage_recipe is not None:
        # the stage process imports and builds its stages while this one recovers
        pipe.prespawn_stage_process(stage_recipe, spawned)
    mode = OPEN_MODE if registry is None else f"signed ({len(registry)} partners)"
    exchange = Exchange(
        pipe, cfg, mode=mode, stage_recipe=stage_recipe
    )  # registers its alert history as a keeper
    report = None
    if recover and journal is not None and journal.last_seq > 0:
        report = pipe.recover()
    return exchange, report


def build_app(
    exchange: Exchange,
    *,
    tail: Path | None = None,
    unix_socket: Path | None = None,
    dashboard: Dashboard | None = None,
    security: HttpSecurity | None = None,
) -> Starlette:
    return create_app(exchange, tail=tail, unix_socket=unix_socket, dashboard=dashboard, security=security)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


__all__ = ["OPEN_MODE", "bind", "build_app", "build_exchange"]
