"""``tocsin warn``: run the warning engine over a file of track messages.

Writes, into the output directory:

``alerts.jsonl``
    the alert messages (exchange format, kind ``alert``), atomically;
``<id>.xml``
    one CAP 1.2 document per alert message (ja-JP, ko-KR, en-US);
``feed.xml``
    the Atom index of the warnings still in force at the end (one entry per
    active (public, area) thread, linking to its latest ``<id>.xml``; the same
    index ``tocsin serve`` publishes at ``/feed/cap.atom``).

``--sign-key KEY.pem --sign-cert CERT.pem`` signs every CAP document (enveloped
XML-DSig, RSA-SHA256, exclusive C14N, the certificate in KeyInfo:
:mod:`tocsin.warning.capsign`), as IPAWS and other consumers verify them; the
signature is deterministic, so a re-run gives the same bytes.

The run is a drill or a replay, never live: alerts carry ``Exercise``
(``--mode drill``, the default) or ``Test`` (``--mode replay``); ``Actual``
alerts only come from a live node with a live authorisation.

Time: the file's ``sent`` order is the clock. Between messages the engine is
advanced every ``--tick`` seconds (held-back updates and all-clears go out at
the right moment), and after the last message for ``--tail`` seconds more.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import typer

from tocsin.errors import ConfigError, InputError

SHOW_BAD_LINES = 10


class _CountingReader:
    """A binary file wrapper that remembers how far it has read."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.pos = 0
        self.name = getattr(fh, "name", "<stream>")

    def __iter__(self) -> _CountingReader:
        return self

    def __next__(self) -> bytes:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.pos += len(line)
        return line

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.pos += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        line = self.fh.readline(size)
        self.pos += len(line)
        return line


def register(app: typer.Typer) -> None:
    @app.command(
        "warn",
        epilog=(
            "Examples:\n\n"
            "    tocsin track plots.jsonl -o tracks.jsonl\n\n"
            "    tocsin warn tracks.jsonl -o alerts/    # alerts.jsonl, <id>.xml per alert, feed.xml\n\n"
            "    tocsin cap validate alerts/*.xml       # against the OASIS CAP 1.2 schema\n\n"
            "    tocsin warn tracks.jsonl -o alerts/ --policy policy.toml --mode replay\n\n"
            "The policy file (TOML or YAML) sets thresholds, which partner's public "
            "receives which areas, and the lifecycle timing; docs/warning.md explains "
            "every rule and knob. Bad lines are skipped and counted (--strict: stop at the first)."
        ),
    )
    def warn_cmd(
        tracks: Path = typer.Argument(
            ...,
            help="Track messages (JSON Lines, `sent` order), e.g. from `tocsin track`.",
            show_default=False,
        ),
        out: Path = typer.Option(
            ..., "-o", "--out", help="Output directory (created if needed).", show_default=False
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="Warning policy file (.toml or .yaml); defaults otherwise."
        ),
        mode: str = typer.Option("drill", "--mode", help="drill (alerts are Exercise) or replay (Test)."),
        tick: float = typer.Option(1.0, "--tick", help="Advance the engine every TICK seconds of file time."),
        tail: float = typer.Option(
            900.0, "--tail", help="Keep the clock running TAIL seconds after the last message (all-clears)."
        ),
        strict: bool = typer.Option(False, "--strict", help="Stop at the first bad line (exit status 2)."),
        instance: str = typer.Option(
            "",
            "--instance",
            help="Identity of this run in the alert ids (letters, digits, - and _); default: warn- and a "
            "hash of the input, so a re-run reproduces them and another input never shares one.",
            show_default=False,
        ),
        sign_key: Path | None = typer.Option(
            None, "--sign-key", help="RSA private key (PEM) to sign each CAP document with (XML-DSig)."
        ),
        sign_cert: Path | None = typer.Option(
            None, "--sign-cert", help="The signer's X.509 certificate (PEM), put in each signature."
        ),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress and no summary."),
    ) -> None:
        """Assess the areas each ballistic track puts at risk and write the public
        alerts it causes: Alert, Update(s), Cancel/all-clear, each as a CAP 1.2
        document in Japanese, Korean and English."""
        from tocsin.warning import DrillMode, ReplayMode, WarningEngine, load_config
        from tocsin.warning.mode import Mode
        from tocsin.wire import Envelope, JsonlWriter, ReadStats, iter_jsonl

        if mode not in ("drill", "replay"):
            raise InputError(
                f"must be drill or replay, not {mode!r} (tocsin warn never sends live alerts)", field="--mode"
            )
        for name, val in (("--tick", tick), ("--tail", tail)):
            if not (val == val and 0 < val < 1e6):
                raise InputError(f"must be a positive number of seconds, got {val:g}", field=name)
        cfg = load_config(policy) if policy is not None else None
        run_mode: Mode = DrillMode() if mode == "drill" else ReplayMode()
        if instance and not all(c.isalnum() or c in "-_" for c in instance):
            raise InputError("letters, digits, - and _ only", field="--instance")
        signer = None
        if (sign_key is None) != (sign_cert is None):
            raise InputError("--sign-key and --sign-cert go together", field="--sign-key")
        if sign_key is not None and sign_cert is not None:
            from tocsin.warning.capsign import CapSigner

            signer = CapSigner.from_files(sign_key, sign_cert)
        engine = WarningEngine(
            cfg, mode=run_mode, instance=instance or _input_instance(tracks), signer=signer
        )
        try:
            size = tracks.stat().st_size
            fh = open(tracks, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=str(tracks)) from None
        stats = ReadStats()
        kinds: Counter[str] = Counter()
        alerts: list[Envelope] = []
        out.mkdir(parents=True, exist_ok=True)
        _forget_previous(out)
        writer = JsonlWriter(out / "alerts.jsonl")
        show_progress = not quiet and size > 1_000_000
        started = time.monotonic()
        next_pct = 10
        try:
            reader = _CountingReader(fh)
            clock: float | None = None
            for env in iter_jsonl(reader, stats=stats, name=str(tracks)):  # type: ignore[arg-type]
                if strict and stats.errors:
                    raise stats.errors[0]
                kinds[env.kind] += 1
                if clock is not None:
                    while clock + tick < env.sent:
                        clock += tick
                        alerts += engine.advance(clock)
                clock = env.sent if clock is None else max(clock, env.sent)
                alerts += engine.push(env)
                if show_progress and 100 * reader.pos // max(size, 1) >= next_pct:
                    pct = 100 * reader.pos // max(size, 1)
                    next_pct = (pct // 10 + 1) * 10
                    took = time.monotonic() - started
                    n_in = sum(kinds.values())
                    print(
                        f"tocsin warn: {pct}% ({n_in} messages, {len(alerts)} alerts, {took:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
            if strict and stats.errors:
                raise stats.errors[0]
            if clock is not None:
                end = clock + tail
                while clock < end:
                    clock = min(clock + tick, end)
                    alerts += engine.advance(clock)
            for a in alerts:
                writer.write(a)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            fh.close()
        _write_cap(out, alerts)
        if stats.errors and not quiet:
            for err in stats.errors[:SHOW_BAD_LINES]:
                typer.echo(f"tocsin: warning: skipped {err}", err=True)
            if len(stats.errors) > SHOW_BAD_LINES:
                typer.echo(
                    f"tocsin: warning: ... and {len(stats.errors) - SHOW_BAD_LINES} more bad lines", err=True
                )
        if not quiet:
            typer.echo(_summary(tracks, out, stats, kinds, alerts, engine.stats))

    _ = warn_cmd


def _input_instance(path: Path) -> str:
    """``warn-`` and 8 hex digits of the SHA-256 of the input's size and first MiB."""
    import hashlib

    h = hashlib.sha256()
    try:
        h.update(str(path.stat().st_size).encode())
        with open(path, "rb") as fh:
            h.update(fh.read(1 << 20))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return f"warn-{h.hexdigest()[:8]}"


def _forget_previous(out: Path) -> None:
    """Remove the CAP files a previous run listed in ``alerts.jsonl`` (ours, so a
    re-run into the same directory leaves no stale alert behind)."""
    from tocsin.wire import ReadStats, iter_jsonl

    prev = out / "alerts.jsonl"
    if not prev.exists():
        return
    for env in iter_jsonl(prev, stats=ReadStats()):
        ident = getattr(env.body, "id", None)
        if env.kind == "alert" and isinstance(ident, str) and "/" not in ident and not ident.startswith("."):
            (out / f"{ident}.xml").unlink(missing_ok=True)


def _write_cap(out: Path, alerts: list[Any]) -> None:
    from tocsin.web.feed import cap_index

    for a in alerts:
        if a.body.cap:
            _atomic_write(out / f"{a.body.id}.xml", a.body.cap.encode("utf-8"))
    _atomic_write(out / "feed.xml", cap_index(alerts, href=lambda i: f"{i}.xml", feed_id="urn:tocsin:warn"))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _summary(
    src: Path, out: Path, stats: Any, kinds: Counter[str], alerts: list[Any], engine_stats: dict[str, int]
) -> str:
    by_type = Counter(a.body.msg_type for a in alerts)
    status = sorted({a.body.status for a in alerts})
    areas = sorted({c for a in alerts if a.body.msg_type != "Cancel" for c in a.body.areas})
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"
    lines = [
        f"in: {src}: {stats.messages} messages ({by_kind}) from {stats.lines} lines"
        + (f"; {len(stats.errors)} bad lines skipped" if stats.errors else "")
        + (f"; {sum(stats.unknown_kinds.values())} of unknown kind skipped" if stats.unknown_kinds else ""),
        f"engine: {engine_stats.get('assessed', 0)} track updates assessed, "
        f"{engine_stats.get('ignored', 0)} below the policy thresholds",
        f"out: {out}: {len(alerts)} alert messages"
        + (
            f" ({', '.join(f'{k} {v}' for k, v in sorted(by_type.items()))}; status {', '.join(status)})"
            if alerts
            else ""
        )
        + ", CAP XML per alert, feed.xml",
        f"areas warned: {' '.join(areas) if areas else 'none'}",
    ]
    return "\n".join(lines)
