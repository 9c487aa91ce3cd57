"""Local ingest for the embedded server: follow a JSON Lines file, or accept JSON
Lines on a Unix-domain socket. Both feed the same queue as ``POST /v1/messages``
(same ingress, journal and counters); a full queue makes them wait, never drop.

The file is read from its start (lines already journalled come back as counted
duplicates after a restart) and then followed as it grows; a partial last line
waits until its newline arrives. A socket client gets one JSON result line per
message line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

from tocsin.exchange.ingress import Verdict
from tocsin.web.hub import Exchange, QueueFull

MAX_LINE = 1 << 20
BATCH = 500


async def _submit(exchange: Exchange, lines: list[bytes]) -> list[Verdict]:
    """Submit until the exchange takes the batch: a full queue or any failure
    (a timeout, the journal) is waited out with backoff, counted in
    ``http_rejects`` (``local_retry``), never the end of the local ingest and never
    a line skipped (a retried batch is journalled once: the replay window)."""
    delay = 0.01
    while True:
        try:
            return await exchange.submit(lines)
        except QueueFull:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            exchange.http_rejects["local_retry"] += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def tail_file(
    exchange: Exchange, path: Path, *, poll_s: float = 0.2, stop: asyncio.Event | None = None
) -> int:
    """Follow ``path`` (waiting for it to appear); returns lines submitted when stopped."""
    stop = stop or asyncio.Event()
    n = 0
    while not path.exists():
        if stop.is_set():
            return n
        await asyncio.sleep(poll_s)
    with open(path, "rb") as fh:
        buf = b""
        while True:
            chunk = fh.read(1 << 16)
            if not chunk:
                if stop.is_set():
                    return n
                await asyncio.sleep(poll_s)
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            if len(buf) > MAX_LINE:  # a runaway line: drop it, counted like any bad input
                exchange.http_rejects["line_too_long"] += 1
                buf = b""
            batch = [ln.strip() for ln in lines if ln.strip()]
            for i in range(0, len(batch), BATCH):
                await _submit(exchange, batch[i : i + BATCH])
                n += len(batch[i : i + BATCH])


async def serve_unix_socket(exchange: Exchange, path: Path) -> asyncio.AbstractServer:
    """Accept JSON Lines on a Unix socket (mode 0600); answer one result line each."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    line = exc.partial
                    if not line.strip():
                        return
                except asyncio.LimitOverrunError:
                    writer.write(b'{"ok":false,"reason":"too_large","detail":"line over 1 MiB"}\n')
                    await writer.drain()
                    return
                if not line.strip():
                    continue
                (v,) = await _submit(exchange, [line.strip()])
                writer.write(json.dumps(v.as_dict(), separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, TimeoutError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_LINE)
    os.chmod(path, 0o600)
    return server


__all__ = ["serve_unix_socket", "tail_file"]
