"""Soak test of ``tocsin serve`` (issue 19): a sustained air picture in real time,
then stop, verify, restart and time recovery. Prints JSON (and, with
``--table``, a per-minute Markdown table for docs/operations.md).

One command::

    .venv/bin/python benchmarks/soak.py --minutes 20 --table > soak.json

What it does
    * starts ``tocsin serve`` (default stages: fusion and warning; open mode,
      wall clock, a node key so checkpoints are signed) on 127.0.0.1 with a
      fresh data directory;
    * feeds it, in real time, what two notional ground radars (1 s scans, pd
      0.9, Poisson clutter) see of ``--aircraft`` airliners cruising at 9-12 km
      over the Sea of Japan: one POST per radar scan (JSON Lines);
    * every ``--sample-s`` seconds samples the server's RSS and CPU (its stage
      process included, also given apart)
      (/proc), the data directory's size on disk, plot->track latency (wall
      time of a ``track`` event on /v1/events minus its ``t``, the time of the
      plot that updated it) and errors (HTTP failures, rejected messages, stage,
      sink and tick errors from /metrics);
    * then SIGTERM (exit status and how long the stop took), ``tocsin journal
      verify --pub --strict``, a restart timed until /healthz answers and the
      RSS of the restarted, idle server; then 30 s more traffic, kill -9 and a
      second restart (recovery after a crash re-runs the journal after the last
      snapshot).

Figures depend on the machine and its load; the JSON records the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tocsin.exchange.signing import generate_key, private_key_pem, public_key_text
from tocsin.geo import ecef_to_aer, geodetic_to_ecef
from tocsin.wire import PlotBody, SensorBody, encode_json, make

RADARS = (
    # id, partner, lat, lon, alt_m: notional sites ~300 km apart, so that both
    # see most of the box the aircraft fly in (as in the soak: ~2 plots
    # an aircraft a second)
    ("JP-R1", "JP", 38.60, 134.60, 150.0),
    ("KR-R1", "KR", 36.90, 132.00, 400.0),
)
MAX_RANGE_M = 450_000.0
SIGMA = {"sigma_range_m": 30.0, "sigma_az_deg": 0.05, "sigma_el_deg": 0.05}


@dataclass
class Sky:
    """Airliners flying great-circle-ish straight lines at constant speed in a
    box within both radars' reach (they turn back at the box edges)."""

    n: int
    seed: int
    lat: np.ndarray = field(init=False)
    lon: np.ndarray = field(init=False)
    alt: np.ndarray = field(init=False)
    vn: np.ndarray = field(init=False)
    ve: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.rng = rng
        self.lat = rng.uniform(36.9, 38.6, self.n)
        self.lon = rng.uniform(132.0, 134.6, self.n)
        self.alt = rng.uniform(9_000.0, 12_000.0, self.n)
        hdg = rng.uniform(0.0, 2 * math.pi, self.n)
        spd = rng.uniform(200.0, 250.0, self.n)
        self.vn, self.ve = spd * np.cos(hdg), spd * np.sin(hdg)

    def step(self, dt: float) -> None:
        self.lat += self.vn * dt / 111_320.0
        self.lon += self.ve * dt / (111_320.0 * np.cos(np.radians(self.lat)))
        self.vn = np.where((self.lat < 36.7) | (self.lat > 38.8), -self.vn, self.vn)
        self.ve = np.where((self.lon < 131.8) | (self.lon > 134.8), -self.ve, self.ve)

    def scan(self, radar: tuple[str, str, float, float, float], t: float, clutter: float) -> list[PlotBody]:
        sid, _, la, lo, alt = radar
        xyz = geodetic_to_ecef(self.lat, self.lon, self.alt)
        az, el, rng_m = ecef_to_aer(xyz, la, lo, alt)
        seen = (rng_m < MAX_RANGE_M) & (el > 0.5) & (self.rng.random(self.n) < 0.9)
        k = int(seen.sum())
        r = rng_m[seen] + self.rng.normal(0, SIGMA["sigma_range_m"], k)
        a = (az[seen] + self.rng.normal(0, SIGMA["sigma_az_deg"], k)) % 360.0
        e = el[seen] + self.rng.normal(0, SIGMA["sigma_el_deg"], k)
        m = self.rng.poisson(clutter)
        r = np.concatenate([r, self.rng.uniform(50_000.0, MAX_RANGE_M, m)])
        a = np.concatenate([a, self.rng.uniform(0.0, 360.0, m)])
        e = np.concatenate([e, self.rng.uniform(0.6, 5.0, m)])
        order = np.argsort(a)
        return [
            PlotBody(
                sensor=sid, t=t, range_m=float(r[i]), az_deg=float(a[i]) % 360.0, el_deg=float(e[i]), **SIGMA
            )
            for i in order
        ]


def _track_reader(url: str, out: Any, stop: Any) -> None:
    """In its own process (no GIL shared with the feeder): read /v1/events and
    send plot->track latencies (s) to ``out`` in small lists."""
    buf: list[float] = []
    last = time.monotonic()
    while not stop.is_set():
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as c,
                c.stream("GET", url + "/v1/events?kinds=track") as resp,
            ):
                for line in resp.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("data:"):
                        m = re.search(r'"body":\{"id":"[^"]*","t":([0-9.]+)', line)
                        if m:
                            buf.append(time.time() - float(m.group(1)))
                    if buf and time.monotonic() - last > 0.5:
                        out.put(buf)
                        buf, last = [], time.monotonic()
        except httpx.HTTPError:
            time.sleep(0.5)


class Tracks:
    """plot->track latency: wall time a ``track`` event arrives on /v1/events
    minus its ``t`` (the time of the plot that updated it), read by a separate
    process so that a busy feeder does not delay the reading."""

    def __init__(self, url: str) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.q = ctx.Queue()
        self.stop_ev = ctx.Event()
        self.proc = ctx.Process(target=_track_reader, args=(url, self.q, self.stop_ev), daemon=True)

    def start(self) -> None:
        self.proc.start()

    def take(self) -> list[float]:
        import queue

        out: list[float] = []
        while True:
            try:
                out.extend(self.q.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        self.stop_ev.set()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()


def _one_proc(pid: int) -> tuple[float, float]:
    rss = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
    with open(f"/proc/{pid}/stat") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


def proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the server and its stage process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return out


def proc_stats(pid: int, detail: dict[str, float] | None = None) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a process and its children (``tocsin serve``
    runs the stages in a child process by default); ``detail`` gets the RSS of
    each (``main``, ``child``)."""
    rss = cpu = 0.0
    for k, p in enumerate(proc_tree(pid)):
        try:
            r, c = _one_proc(p)
        except OSError:
            continue
        rss, cpu = rss + r, cpu + c
        if detail is not None:
            key = "main" if k == 0 else "child"
            detail[key] = detail.get(key, 0.0) + r
    return rss, cpu


def disk_bytes(d: Path) -> dict[str, int]:
    out = {"journal": 0, "segments": 0, "snapshots": 0, "other": 0}
    for p in d.rglob("*"):
        if not p.is_file():
            continue
        n = p.stat().st_size
        rel = p.relative_to(d).parts
        if rel[0].startswith("journal.db"):
            out["journal"] += n
        elif rel[0] == "journal.segments":
            out["segments"] += n
        elif rel[0] == "snapshots":
            out["snapshots"] += n
        else:
            out["other"] += n
    return out


def metrics(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def start(data: Path, key: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--key", str(key),
         "--clock", "wall", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = line.split()[-1]
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                start.cpu_s = proc_stats(proc.pid)[1]  # type: ignore[attr-defined]
                return proc, url, time.monotonic() - t0
        except httpx.HTTPError:
            pass
        if time.monotonic() - t0 > 600:
            proc.kill()
            raise SystemExit("server not healthy after 600 s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, float, str]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    rc = proc.wait(120)
    err = proc.stderr.read() if proc.stderr is not None else ""
    for fh in (proc.stdout, proc.stderr):
        if fh is not None:
            fh.close()
    return rc, time.monotonic() - t0, err


class Feeder:
    """Posts each radar scan at its time, in real time."""

    def __init__(self, url: str, sky: Sky, clutter: float) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.url = url
        self.sky = sky
        self.clutter = clutter
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=8))
        # a radar does not wait for the exchange's answer: scans go out on time,
        # answers (after the journal commit) are counted as they come
        self.pool = ThreadPoolExecutor(8)
        self.pending: list[Any] = []
        self.lock = threading.Lock()
        self.seq = {r[0]: 0 for r in RADARS}
        self.plots = self.accepted = self.rejected = self.http_errors = 0
        self.behind_s = 0.0
        self.answer_s: list[float] = []

    def drain(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = []

    def sensors(self) -> None:
        lines = []
        for sid, partner, la, lo, alt in RADARS:
            body = SensorBody(
                id=sid, type="radar", platform="ground", lat=la, lon=lo, alt_m=alt, max_range_m=MAX_RANGE_M,
                scan_period_s=1.0, min_el_deg=0.5, **SIGMA,
            )  # fmt: skip
            lines.append(
                encode_json(make("sensor", body, partner=partner, source=sid, seq=0, sent=time.time()))
            )
        self.post(lines)

    def post_async(self, lines: list[bytes]) -> None:
        self.pending = [f for f in self.pending if not f.done()]
        self.pending.append(self.pool.submit(self.post, lines))

    def post(self, lines: list[bytes]) -> None:
        t0 = time.monotonic()
        try:
            r = self.client.post(
                self.url + "/v1/messages",
                content=b"\n".join(lines),
                headers={"content-type": "application/x-ndjson"},
            )
        except httpx.HTTPError:
            with self.lock:
                self.http_errors += 1
            return
        if r.status_code != 200:
            with self.lock:
                self.http_errors += 1
            return
        results = r.json().get("results", [])
        with self.lock:
            self.answer_s.append(time.monotonic() - t0)
            for res in results:
                if res.get("ok"):
                    self.accepted += 1
                else:
                    self.rejected += 1

    def run(self, seconds: float, on_second: Any = None) -> None:
        t_next = math.floor(time.time()) + 1.0
        end = time.time() + seconds
        while t_next < end:
            delay = t_next - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                self.behind_s = max(self.behind_s, -delay)
            self.sky.step(1.0)
            for radar in RADARS:
                sid, partner = radar[0], radar[1]
                lines = []
                for body in self.sky.scan(radar, t_next, self.clutter):
                    self.seq[sid] += 1
                    env = make("plot", body, partner=partner, source=sid, seq=self.seq[sid], sent=t_next)
                    lines.append(encode_json(env))
                self.plots += len(lines)
                self.post_async(lines)
            if on_second is not None:
                on_second(t_next)
            t_next += 1.0


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="Duration of the sustained picture.")
    ap.add_argument("--aircraft", type=int, default=300)
    ap.add_argument("--clutter", type=float, default=15.0, help="Mean clutter plots per radar scan.")
    ap.add_argument("--sample-s", type=float, default=15.0)
    ap.add_argument(
        "--warmup-s",
        type=float,
        default=60.0,
        help="Feed this long before sampling starts (the first scans compile the tracker's kernels "
        "when the numba cache is cold); counted in plots and disk, not in the samples.",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=None, help="Data directory (default: a temporary one).")
    ap.add_argument(
        "--table", action="store_true", help="Also print the per-minute Markdown table on stderr."
    )
    ap.add_argument(
        "--serve-arg", action="append", default=[], help="Extra `tocsin serve` option (repeatable)."
    )
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="tocsin-soak-")
    base = Path(tmp.name)
    data = args.data or base / "data"
    key = generate_key()
    (base / "node.key").write_bytes(private_key_pem(key))
    (base / "node.pub").write_text(public_key_text(key))

    proc, url, startup_s = start(data, base / "node.key", args.serve_arg)
    startup_cpu_s = start.cpu_s  # type: ignore[attr-defined]
    tracks = Tracks(url)
    tracks.start()
    feeder = Feeder(url, Sky(args.aircraft, args.seed), args.clutter)
    feeder.sensors()
    if args.warmup_s > 0:
        feeder.run(args.warmup_s)
        feeder.drain()
        tracks.take()
        feeder.answer_s = []
    samples: list[dict[str, Any]] = []
    t0 = time.time()
    last = {"t": t0, "cpu": proc_stats(proc.pid)[1], "plots": 0}

    def sample(now: float) -> None:
        if now - last["t"] < args.sample_s:
            return
        parts: dict[str, float] = {}
        rss, cpu = proc_stats(proc.pid, parts)
        lat = tracks.take()
        with feeder.lock:
            ans, feeder.answer_s = feeder.answer_s, []
        m = metrics(url)
        d = disk_bytes(data)
        samples.append(
            {
                "t_s": round(now - t0, 1),
                "rss_mb": round(rss, 1),
                "rss_main_mb": round(parts.get("main", 0.0), 1),
                "rss_stages_mb": round(parts.get("child", 0.0), 1),
                "cpu_pct": round(100.0 * (cpu - last["cpu"]) / (now - last["t"]), 1),
                "disk_mb": round(sum(d.values()) / 2**20, 2),
                "disk": d,
                "plots": feeder.plots,
                "plots_per_s": round((feeder.plots - last["plots"]) / (now - last["t"]), 1),
                "track_events": len(lat),
                "plot_track_p50_ms": None if not lat else round(1000 * pct(lat, 50), 1),  # type: ignore[operator]
                "plot_track_p99_ms": None if not lat else round(1000 * pct(lat, 99), 1),  # type: ignore[operator]
                "post_answer_p50_ms": None if not ans else round(1000 * statistics.median(ans), 1),
                "http_errors": feeder.http_errors,
                "rejected": feeder.rejected,
                "stage_errors": m.get("tocsin_stage_errors_total", 0.0),
                "sink_errors": m.get("tocsin_sink_errors_total", 0.0),
                "tick_errors": m.get("tocsin_tick_errors_total", 0.0),
                "queue": m.get("tocsin_queue_depth", 0.0),
                "journal_entries": m.get("tocsin_journal_entries", 0.0),
            }
        )
        last.update(t=now, cpu=cpu, plots=feeder.plots)
        print(json.dumps(samples[-1]), file=sys.stderr, flush=True)

    feeder.run(args.minutes * 60.0, lambda _t: sample(time.time()))
    time.sleep(2.0)
    live_rss = statistics.mean(s["rss_mb"] for s in samples[-4:]) if samples else 0.0
    total_plots, accepted = feeder.plots, feeder.accepted
    disk_end = disk_bytes(data)

    # stop, verify, restart (clean), then crash and restart again
    tracks.close()
    feeder.drain()
    rc, stop_s, stop_err = stop(proc, signal.SIGTERM)
    disk_after_stop = disk_bytes(data)
    ver = subprocess.run(
        [sys.executable, "-m", "tocsin", "journal", "verify", str(data / "journal.db"), "--pub",
         str(base / "node.pub"), "--strict"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    proc2, url2, recovery_s = start(data, base / "node.key", args.serve_arg)
    recovery_cpu_s = start.cpu_s  # type: ignore[attr-defined]
    time.sleep(5.0)
    rss_after, _ = proc_stats(proc2.pid)
    feeder2 = Feeder(url2, feeder.sky, args.clutter)
    feeder2.seq = feeder.seq
    feeder2.run(30.0)
    feeder2.drain()
    os.kill(proc2.pid, signal.SIGKILL)
    proc2.wait(30)
    err2 = proc2.stderr.read() if proc2.stderr else ""
    proc3, _url3, crash_recovery_s = start(data, base / "node.key", args.serve_arg)
    crash_recovery_cpu_s = start.cpu_s  # type: ignore[attr-defined]
    time.sleep(3.0)
    rss_after_crash, _ = proc_stats(proc3.pid)
    rc3, _, err3 = stop(proc3, signal.SIGTERM)

    ts = [s["t_s"] / 60.0 for s in samples]
    warm = [i for i, t in enumerate(ts) if t >= 2.0]

    def slope_of(key: str) -> float | None:
        ys = [samples[i][key] for i in warm]
        return float(np.polyfit([ts[i] for i in warm], ys, 1)[0]) if len(warm) >= 3 else None

    slope = slope_of("rss_mb")
    lat50 = [s["plot_track_p50_ms"] for s in samples if s["plot_track_p50_ms"] is not None]
    journal_bytes = disk_after_stop["journal"] + disk_after_stop["segments"]
    rate = total_plots / (args.minutes * 60.0 + args.warmup_s)
    out = {
        "benchmark": "soak",
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "load_avg_start_end": [os.getloadavg()[0]],
        "minutes": args.minutes,
        "aircraft": args.aircraft,
        "radars": len(RADARS),
        "clutter_per_scan": args.clutter,
        "plots_sent": total_plots,
        "plots_accepted": accepted,
        "plots_per_s": round(rate, 1),
        "feeder_max_behind_s": round(feeder.behind_s, 3),
        "warmup_s": args.warmup_s,
        "startup_s": round(startup_s, 2),
        "startup_cpu_s": round(startup_cpu_s, 2),
        "live_rss_mb": round(live_rss, 1),
        "rss_slope_mb_per_min": None if slope is None else round(slope, 3),
        "rss_slope_by_process_mb_per_min": {
            k: None if (v := slope_of(f"rss_{k}_mb")) is None else round(v, 3) for k in ("main", "stages")
        },
        "plot_track_p50_ms_median": None if not lat50 else round(statistics.median(lat50), 1),
        "errors": {
            "http": feeder.http_errors,
            "rejected": feeder.rejected,
            "stage": samples[-1]["stage_errors"] if samples else None,
            "sink": samples[-1]["sink_errors"] if samples else None,
            "tick": samples[-1]["tick_errors"] if samples else None,
        },
        "disk_end": disk_end,
        "disk_after_stop": disk_after_stop,
        "journal_bytes_per_plot": round(journal_bytes / max(accepted, 1), 1),
        "disk_bytes_per_plot": round(sum(disk_after_stop.values()) / max(accepted, 1), 1),
        "disk_budget_gb_per_day_at_this_rate": round(
            journal_bytes / max(accepted, 1) * rate * 86400 / 1e9, 2
        ),
        "sigterm_exit_status": rc,
        "stop_s": round(stop_s, 2),
        "stop_stderr": stop_err.strip().splitlines()[-1:] if stop_err else [],
        "verify_strict_exit": ver.returncode,
        "verify": ver.stdout.strip(),
        "recovery_s": round(recovery_s, 2),
        "recovery_cpu_s": round(recovery_cpu_s, 2),
        "rss_after_recovery_mb": round(rss_after, 1),
        "rss_after_recovery_over_live": round(rss_after / live_rss, 2) if live_rss else None,
        "crash_recovery_s": round(crash_recovery_s, 2),
        "crash_recovery_cpu_s": round(crash_recovery_cpu_s, 2),
        "rss_after_crash_recovery_mb": round(rss_after_crash, 1),
        "recovery_lines": [ln for ln in (err2 + err3).splitlines() if "recovered" in ln],
        "final_exit_status": rc3,
        "samples": samples,
    }
    out["load_avg_start_end"].append(os.getloadavg()[0])
    print(json.dumps(out, indent=1))
    if args.table:
        print(table(samples), file=sys.stderr)


def table(samples: list[dict[str, Any]]) -> str:
    """Per-minute Markdown table (the last sample of each minute)."""
    rows = [
        "| min | RSS MB | CPU % | disk MB | plots/s | plot->track p50 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    by_min: dict[int, dict[str, Any]] = {}
    for s in samples:
        by_min[int(s["t_s"] // 60)] = s
    for m, s in sorted(by_min.items()):
        errs = s["http_errors"] + s["stage_errors"] + s["sink_errors"] + s["tick_errors"]
        rows.append(
            f"| {m + 1} | {s['rss_mb']:.0f} | {s['cpu_pct']:.0f} | {s['disk_mb']:.0f} | "
            f"{s['plots_per_s']:.0f} | {s['plot_track_p50_ms']} / {s['plot_track_p99_ms']} | {errs:.0f} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
