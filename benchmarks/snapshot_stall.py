"""How long a snapshot holds the pipeline thread (issue 17), in one process tree.

The real stages in their own process are fed a dense air picture
(``latency.AirPicture``: ``--aircraft`` in level flight, ``--radars`` with 1-s
scans) through :meth:`Pipeline.submit_batch`, paced at real time, one batch a
radar scan, a tick a second; every ``--every-s`` seconds a snapshot is taken in
one of two ways:

* ``barrier``: :meth:`Pipeline.snapshot`, the way every periodic snapshot was
  taken before f40ec5d: wait until the stage process has answered all work in
  flight, then until the snapshot is written (f56b8d1 pickled in the stage
  process and compressed and wrote in the server; here a forked child does all
  three: the same work, waited for the same way);
* ``fork``: :meth:`Pipeline._start_snapshot`, the periodic way since f40ec5d:
  the request goes down the work stream and the stage process forks there;
  nothing is waited for.

Printed JSON, per mode: the pipeline-thread hold of each snapshot call (ms),
the longest batch (submit) hold in the run, the plot -> journalled-output lag
is not measured here (see ``latency.py --throughput``), the writer's CPU
seconds and the file size. Run ``--modes barrier,fork --repeat 2`` (interleaved).

    .venv/bin/python benchmarks/snapshot_stall.py --aircraft 300 --radars 20 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # (_sibling, also when loaded by path)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sibling import load as load_sibling


def _latency_module() -> Any:
    return load_sibling("latency")


def run(mode: str, aircraft: int, radars: int, seconds: float, every_s: float) -> dict[str, Any]:
    from tocsin.journal import Journal
    from tocsin.runtime import Pipeline, SnapshotPolicy, default_stages
    from tocsin.stageproc import StageRecipe

    lat = _latency_module()
    pic = lat.AirPicture(radars, aircraft)
    with tempfile.TemporaryDirectory(prefix="tocsin-stall-") as tmp:
        pol = SnapshotPolicy(Path(tmp) / "snapshots", every_s=0, every_entries=0)
        pipe = Pipeline(default_stages(), Journal(Path(tmp) / "j.db", synchronous="NORMAL"), snapshots=pol)
        proc = pipe.start_stage_process(StageRecipe("default"))
        proc.warmed_up()
        pipe.submit_batch(pic.sensors())
        holds: list[float] = []
        batches: list[float] = []
        backlog: list[int] = []
        cpu: list[float] = []
        sizes: list[int] = []
        plots = 0
        start = time.monotonic()
        next_snap = every_s
        n = 0
        while n < seconds:
            for k in range(radars):
                t, scan = pic.scan(n, k)
                due = start + (t - lat.T0 - 1.0)
                time.sleep(max(0.0, due - time.monotonic()))
                c0 = time.perf_counter()
                pipe.submit_batch(scan)
                pipe.collect()
                batches.append(time.perf_counter() - c0)
                plots += len(scan)
                if t - lat.T0 - 1.0 >= next_snap:
                    next_snap += every_s
                    backlog.append(pipe.stage_backlog)
                    c0 = time.perf_counter()
                    if mode == "barrier":
                        pipe.snapshot()
                    else:
                        pipe._start_snapshot()
                    holds.append(time.perf_counter() - c0)
                    if mode == "barrier":
                        cpu.append(pipe.last_snapshot_cpu_s)
                        sizes.append(pipe._last_snapshot_bytes)
            pipe.tick(lat.T0 + 1.0 + (n + 1) * pic.period)
            n += 1
        wall = time.monotonic() - start
        pipe.flush()
        if mode == "fork":
            cpu.append(pipe.last_snapshot_cpu_s)
            sizes.append(pipe._last_snapshot_bytes)
        written = pipe.snapshots_written
        pipe.close()
    return {
        "mode": mode,
        "aircraft": aircraft,
        "radars": radars,
        "plots_per_s": round(plots / wall, 1),
        "snapshots": written,
        "stage_backlog_at_snapshot": backlog,
        "snapshot_hold_ms": [round(h * 1e3, 1) for h in holds],
        "snapshot_hold_max_ms": round(max(holds) * 1e3, 1) if holds else None,
        "batch_hold_p50_ms": round(statistics.median(batches) * 1e3, 2),
        "batch_hold_max_ms": round(max(batches) * 1e3, 1),
        "writer_cpu_s_last": round(cpu[-1], 3) if cpu else None,
        "snapshot_bytes_last": sizes[-1] if sizes else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aircraft", type=int, default=300)
    ap.add_argument("--radars", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0, help="scenario seconds per run (real time)")
    ap.add_argument("--every-s", type=float, default=4.0, help="a snapshot every S seconds")
    ap.add_argument("--modes", default="barrier,fork")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    out = []
    for _ in range(args.repeat):
        for mode in args.modes.split(","):
            row = run(mode, args.aircraft, args.radars, args.seconds, args.every_s)
            print(json.dumps(row), file=sys.stderr, flush=True)
            out.append(row)
    print(json.dumps({"load": os.getloadavg(), "runs": out}, indent=1))


if __name__ == "__main__":
    main()
