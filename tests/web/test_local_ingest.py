"""Local ingest: following a JSON Lines file and a Unix-domain socket."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

from tocsin.exchange.samples import sample_plot, toy_stages
from tocsin.web import ServerConfig, build_exchange
from tocsin.web.local_ingest import serve_unix_socket, tail_file
from tocsin.wire import encode_json


def cfg() -> ServerConfig:
    return ServerConfig(tick_s=0, clock="data")


async def until(cond: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond() and loop.time() < end:  # type: ignore[operator]
        await asyncio.sleep(0.02)
    assert cond()  # type: ignore[operator]


def test_tail_follows_a_growing_file(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), config=cfg())
    path = tmp_path / "live.jsonl"

    async def go() -> int:
        await ex.start()
        stop = asyncio.Event()
        task = asyncio.create_task(tail_file(ex, path, poll_s=0.02, stop=stop))
        await asyncio.sleep(0.05)  # the file does not exist yet
        lines = [encode_json(sample_plot(seq=i)) for i in range(1, 5)]
        with open(path, "wb") as fh:
            fh.write(lines[0] + b"\n" + lines[1] + b"\n" + lines[2][:20])  # a partial line
            fh.flush()
            await until(lambda: ex.pipeline.ingress.accepted["plot"] == 2)
            fh.write(lines[2][20:] + b"\n" + b"{junk\n" + lines[3] + b"\n")
        await until(lambda: ex.pipeline.ingress.accepted["plot"] == 4)
        stop.set()
        n = await asyncio.wait_for(task, 5)
        await ex.stop()
        return n

    assert asyncio.run(go()) == 5
    assert ex.pipeline.ingress.rejected["schema"] == 1


def test_unix_socket(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), config=cfg())
    sock = tmp_path / "in.sock"

    async def go() -> list[dict[str, object]]:
        await ex.start()
        server = await serve_unix_socket(ex, sock)
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        reader, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(
            encode_json(sample_plot(seq=1)) + b"\n\n" + b'{"v": 2}\n' + encode_json(sample_plot(seq=1))
        )
        await writer.drain()
        writer.write_eof()
        out = [json.loads(await reader.readline()) for _ in range(3)]
        writer.close()
        server.close()
        await ex.stop()
        return out

    res = asyncio.run(asyncio.wait_for(go(), 10))
    assert res[0]["ok"] is True
    assert res[1]["reason"] == "schema"
    assert res[2]["reason"] == "duplicate"
