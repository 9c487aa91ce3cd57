"""Dashboard under load: can the page keep drawing with hundreds of live tracks?

Starts ``tocsin serve`` (toy stages) on 127.0.0.1, opens the dashboard in
headless Chromium (Debian ``chromium`` + ``chromium-driver``), and, for each
``--tracks N``, feeds the page's own message handler (the one the event stream
calls) with N ballistic tracks spread over the map, each updated once a second
(with launch point, impact ellipse and a 12-point predicted path), for
``--seconds`` seconds. A requestAnimationFrame loop records the gaps between
frames. Then the same through the server: ``--sse-sources`` plots from
N sources POSTed at once, and the time until the page shows all N tracks.

Prints one JSON object: per N, frames drawn, p50/p95/max frame gap (ms), and
the SSE end-to-end time. A gap of 16.7 ms is a perfect 60 fps; the page is
"not stalling" while max stays well under a second.

    .venv/bin/python benchmarks/dashboard_load.py [--tracks 100 500 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

FEED_JS = """
const N = arguments[0], SECONDS = arguments[1], done = arguments[arguments.length - 1];
const D = window.tocsinDashboard;
const gaps = []; let last = performance.now(); let running = true;
function frame(ts) { gaps.push(ts - last); last = ts; if (running) requestAnimationFrame(frame); }
requestAnimationFrame(frame);
const A = 6378137.0, E2 = 0.00669437999014;
function ecef(lat, lon, h) {
  const p = lat * Math.PI / 180, l = lon * Math.PI / 180, s = Math.sin(p);
  const n = A / Math.sqrt(1 - E2 * s * s);
  return [(n + h) * Math.cos(p) * Math.cos(l), (n + h) * Math.cos(p) * Math.sin(l), (n * (1 - E2) + h) * s];
}
const t0 = 1789430400; let k = 0; const start = performance.now();
const timer = setInterval(() => {
  const el = (performance.now() - start) / 1000;
  if (el > SECONDS) {
    clearInterval(timer); running = false;
    const g = gaps.slice(2).sort((a, b) => a - b);
    const q = (x) => g[Math.min(g.length - 1, Math.floor(x * g.length))];
    done({frames: g.length, p50_ms: q(0.5), p95_ms: q(0.95), max_ms: g[g.length - 1],
          tracks_shown: Number(document.body.dataset.tracks)});
    return;
  }
  // a tenth of the tracks every 100 ms: each track once a second
  for (let j = 0; j < N / 10; j++, k++) {
    const i = k % N, t = t0 + el, s = (el / 60 + i / N) % 1;
    const lat0 = 33 + (i % 20), lon0 = 124 + (i % 7);
    const lat = lat0 + 3 * s, lon = lon0 + 15 * s, h = 4 * 500000 * s * (1 - s);
    const st = ecef(lat, lon, h);
    const path = [];
    for (let q = 0; q < 12; q++) {
      const u = s + (1 - s) * q / 11;
      path.push([lat0 + 3 * u, lon0 + 15 * u, t + 60 * (u - s)]);
    }
    D.apply({kind: "track", body: {id: "B-" + i, t, status: "confirmed", class: "ballistic",
      state_ecef: [st[0], st[1], st[2], 1000, 1000, 1000], sources: ["JP-R1"], partners: ["JP"],
      launch: {t: t0, lat: lat0, lon: lon0, sigma_m: 2000},
      impact: {t: t + 60 * (1 - s), lat: lat0 + 3, lon: lon0 + 15, sigma_t_s: 5,
               ellipse: {semi_major_m: 50000 * (1 - s) + 5000, semi_minor_m: 20000, bearing_deg: 75}},
      path}});
  }
  D.schedule();
}, 100);
"""


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data), "--stages", "toy",
         "--tick", "0", "--sync", "NORMAL"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[-1]
    for _ in range(200):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, nargs="*", default=[100, 500, 1000])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sse-sources", type=int, default=300)
    args = ap.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tocsin.exchange.samples import sample_plot
    from tocsin.wire import encode_json

    tmp = Path(tempfile.mkdtemp(prefix="tocsin-dash-bench-"))
    proc, url = start_server(tmp / "data")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for f in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1600,1000", f"--user-data-dir={tmp / 'profile'}"):  # fmt: skip
        opts.add_argument(f)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_script_timeout(args.seconds + 60)
    out: dict[str, object] = {"seconds": args.seconds, "runs": []}
    try:
        for n in args.tracks:
            drv.get(url + "/")
            while drv.execute_script("return document.body.dataset.ready") != "1":
                time.sleep(0.05)
            r = drv.execute_async_script(FEED_JS, n, args.seconds)
            out["runs"].append({"tracks": n, **r})  # type: ignore[attr-defined]
        # through the server: plots -> toy tracker -> SSE -> page
        drv.get(url + "/")
        while drv.execute_script("return document.body.dataset.ready") != "1":
            time.sleep(0.05)
        time.sleep(1.0)
        m = args.sse_sources
        lines = [
            encode_json(sample_plot(source=f"JP-Q{i}", seq=1, sent=1_789_430_400.0 + i * 1e-3))
            for i in range(m)
        ]
        t = time.perf_counter()
        r2 = httpx.post(url + "/v1/messages", content=b"\n".join(lines),
                        headers={"content-type": "application/x-ndjson"}, timeout=60)  # fmt: skip
        posted = time.perf_counter() - t
        while drv.execute_script("return Number(document.body.dataset.tracks)") < m:
            time.sleep(0.01)
            if time.perf_counter() - t > 60:
                break
        out["sse"] = {
            "sources": m,
            "accepted": r2.json()["accepted"],
            "post_s": round(posted, 3),
            "all_tracks_on_page_s": round(time.perf_counter() - t, 3),
        }
    finally:
        drv.quit()
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)
    for run in out["runs"]:  # type: ignore[attr-defined]
        for k in ("p50_ms", "p95_ms", "max_ms"):
            run[k] = round(run[k], 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
