"""``tocsin feed``: play a message file into a running server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tocsin.errors import InputError

if TYPE_CHECKING:
    from tocsin.transport.http_feed import FeedStats


def _count_lines(path: Path) -> int:
    """Non-blank lines of a file (the progress line's total), read in blocks."""
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            n += bool(line.strip())
    return n


def register(app: typer.Typer) -> None:
    @app.command(
        "feed",
        epilog=(
            "Examples:\n\n"
            "    tocsin feed run/plots.jsonl --to http://127.0.0.1:8080\n\n"
            "    tocsin feed run/plots.jsonl --rate 10x --batch 200\n\n"
            "    tocsin feed run/plots.jsonl --key keys/JP.key --restamp\n\n"
            "A progress line goes to stderr every 5 s; the last line on stdout sums up what "
            "the server accepted and why it refused the rest."
        ),
    )
    def feed_cmd(
        src: Path = typer.Argument(..., help="JSON Lines file (plots, sensors, heartbeats)."),
        to: str = typer.Option("http://127.0.0.1:8080", "--to", help="Server URL."),
        rate: str = typer.Option("1x", "--rate", help="1x (real time), 10x, ... or max."),
        batch: int = typer.Option(500, "--batch", help="Most messages per request."),
        key: Path | None = typer.Option(None, "--key", help="Sign each message with this partner key."),
        restamp: bool = typer.Option(
            False,
            "--restamp",
            help=(
                "Re-time the file as live traffic starting now (before signing): at 1x every time "
                "moves by one offset; at other rates each message is stamped when it is sent "
                "(its motion then runs that many times faster)."
            ),
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines on stderr."),
    ) -> None:
        """Send a file's messages paced by their `sent` times; print what the server said."""
        from tocsin.exchange.signing import load_private_key, sign
        from tocsin.transport.http_feed import feed, parse_rate, restamped
        from tocsin.wire import ReadStats, iter_jsonl

        if not src.is_file():
            raise InputError("no such file", file=str(src))
        r = parse_rate(rate)
        k = load_private_key(key) if key is not None else None
        total = _count_lines(src)
        st = ReadStats()
        msgs = iter_jsonl(src, stats=st)
        stream = restamped(msgs, rate=r) if restamp else msgs
        if k is not None:
            stream = (sign(m, k) for m in stream)

        def show(s: FeedStats) -> None:
            done = s.sent
            pct = f" ({done / total:.0%})" if total else ""
            typer.echo(
                f"feed: {done:,}/{total:,} messages{pct}, {s.accepted:,} accepted, "
                f"{sum(s.rejected.values()):,} rejected, {s.elapsed_s:.0f} s",
                err=True,
            )

        stats = feed(stream, to, rate=r, batch=max(1, batch), progress=None if quiet else show)
        for err in st.errors[:5]:
            typer.echo(f"skipped: {err}", err=True)
        typer.echo(stats.summary())
