"""``tocsin feed``: play a message file into a running server."""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("feed")
    def feed_cmd(
        src: Path = typer.Argument(..., help="JSON Lines file (plots, sensors, heartbeats)."),
        to: str = typer.Option("http://127.0.0.1:8080", "--to", help="Server URL."),
        rate: str = typer.Option("1x", "--rate", help="1x (real time), 10x, ... or max."),
        batch: int = typer.Option(500, "--batch", help="Most messages per request."),
        key: Path | None = typer.Option(None, "--key", help="Sign each message with this partner key."),
        restamp: bool = typer.Option(
            False, "--restamp", help="Shift `sent` and body `t` so the first message is now (before signing)."
        ),
    ) -> None:
        """Send a file's messages paced by their `sent` times; print what the server said."""
        from tocsin.exchange.signing import load_private_key, sign
        from tocsin.transport.http_feed import feed, parse_rate, restamped
        from tocsin.wire import ReadStats, iter_jsonl

        if not src.is_file():
            raise InputError("no such file", file=str(src))
        r = parse_rate(rate)
        if restamp and r != 1.0:
            raise InputError("--restamp keeps real time: use it with --rate 1x", field="--restamp")
        k = load_private_key(key) if key is not None else None
        st = ReadStats()
        msgs = iter_jsonl(src, stats=st)
        stream = restamped(msgs) if restamp else msgs
        if k is not None:
            stream = (sign(m, k) for m in stream)
        stats = feed(stream, to, rate=r, batch=max(1, batch))
        for err in st.errors[:5]:
            typer.echo(f"skipped: {err}", err=True)
        typer.echo(stats.summary())
