"""CPU cost of the fusion tracker per scan on a drill's plots (issue 17 (a)).

A drill scenario is simulated once; its messages (sensor descriptors and plots,
in order) go through a fresh :class:`tocsin.fusion.tracker.Tracker` ``--passes``
times after one warm-up pass (numba's disk cache loaded, lazy imports done);
every scan's processing (``Tracker._process_scan``: predict, gate, assign,
update, classify, initiate, impact predictions and reports) is timed in CPU
seconds of this process (``time.process_time``: steadier than wall time on a
shared machine). Prints one JSON object: per tree, the number of scans and
p50/p90/p99/max/mean milliseconds and the total seconds.

With ``--baseline-ref REF`` the same measurement also runs on that commit's
code (a ``git archive`` of it, imported through ``PYTHONPATH`` in a child
process), alternating with this checkout's ``--repeat`` times, and the row
``ratio`` gives this tree's figures over the baseline's. Run it from the
checkout::

    .venv/bin/python benchmarks/tracker_scan_cost.py --baseline-ref 08a25a2 \\
        --scenario scenarios/irbm-over-hokkaido.yaml --passes 2 --repeat 2

The plots are simulated by this checkout's simulator in both trees (the child
gets them as exchange-format JSON lines), so both trackers see the same input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def simulate_messages(scenario: str, out: Path) -> Path:
    """The scenario's messages as JSON lines in ``out`` (this checkout's simulator)."""
    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.wire import encode_json

    msgs = simulate(load_scenario(scenario)).messages
    path = out / "messages.jsonl"
    with path.open("wb") as f:
        for env in msgs:
            f.write(encode_json(env) + b"\n")
    return path


def measure(messages: Path, passes: int) -> dict[str, Any]:
    """Per-scan CPU of the tracker importable here on ``messages``."""
    import tocsin
    from tocsin.fusion.tracker import Tracker
    from tocsin.wire import decode_json

    envs = [decode_json(line) for line in messages.read_bytes().splitlines() if line.strip()]

    def run() -> list[float]:
        tr = Tracker()
        inner = tr._process_scan
        costs: list[float] = []

        def timed(scan: Any) -> Any:
            t0 = time.process_time()
            out = inner(scan)
            costs.append(time.process_time() - t0)
            return out

        tr._process_scan = timed  # type: ignore[method-assign]
        for env in envs:
            tr.push(env)
        tr.flush()
        return costs

    run()  # warm-up: numba cache, lazy imports
    c = np.array([x for _ in range(passes) for x in run()])
    return {
        "code": str(Path(tocsin.__file__).parent.parent),
        "scans": int(c.size),
        "passes": passes,
        "p50_ms": round(float(np.percentile(c, 50)) * 1e3, 3),
        "p90_ms": round(float(np.percentile(c, 90)) * 1e3, 3),
        "p99_ms": round(float(np.percentile(c, 99)) * 1e3, 3),
        "max_ms": round(float(c.max()) * 1e3, 3),
        "mean_ms": round(float(c.mean()) * 1e3, 3),
        "total_s": round(float(c.sum()), 3),
    }


def child(src: Path | None, messages: Path, passes: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process (``src``: the tree to import)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, __file__, "--measure", str(messages), "--passes", str(passes)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="scenarios/irbm-over-hokkaido.yaml", help="drill scenario (YAML)")
    ap.add_argument("--passes", type=int, default=2, help="timed passes over the plots per measurement")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per tree (alternating)")
    ap.add_argument("--baseline-ref", help="also measure this commit's tracker (git archive), alternating")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # child mode: messages file
    a = ap.parse_args(argv)
    if a.passes < 1 or a.repeat < 1:
        print("tracker_scan_cost: --passes and --repeat must be >= 1", file=sys.stderr)
        return 2
    if a.measure:
        print(json.dumps(measure(Path(a.measure), a.passes)))
        return 0
    if not Path(a.scenario).is_file():
        print(f"tracker_scan_cost: {a.scenario}: no such scenario file", file=sys.stderr)
        return 2
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="scan-cost-") as tmp_s:
        tmp = Path(tmp_s)
        messages = simulate_messages(a.scenario, tmp)
        base: Path | None = None
        if a.baseline_ref:
            base = tmp / "baseline"
            base.mkdir()
            arch = subprocess.run(
                ["git", "archive", a.baseline_ref, "src"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=arch, check=True)
        rows: dict[str, list[dict[str, Any]]] = {"this": [], "baseline": []}
        for _ in range(a.repeat):
            if base is not None:
                rows["baseline"].append(child(base / "src", messages, a.passes))
            rows["this"].append(child(None, messages, a.passes))
    result: dict[str, Any] = {
        "scenario": a.scenario,
        "this": rows["this"],
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "wall_s": round(time.time() - t0, 1),
    }
    if base is not None:
        result["baseline_ref"] = a.baseline_ref
        result["baseline"] = rows["baseline"]
        keys = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "total_s")
        best = {k: min(r[k] for r in rows["this"]) for k in keys}
        best_b = {k: min(r[k] for r in rows["baseline"]) for k in keys}
        result["ratio"] = {k: round(best[k] / best_b[k], 3) if best_b[k] else None for k in keys}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
