"""Simulator speed: wall time and plots generated per second for each shipped
scenario (issue 2 asks for scenario (a), ``irbm-over-hokkaido``).

Prints one JSON object. Each scenario is simulated ``--repeat`` times (default
3) and the best time is kept; peak memory is measured with tracemalloc on a
separate run.

    .venv/bin/python benchmarks/simulate.py [--repeat N] [scenario.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

from tocsin.drill.scenario import load_scenario
from tocsin.drill.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    paths = args.scenarios or sorted((ROOT / "scenarios").glob("*.yaml"))
    rows = []
    for p in paths:
        sc = load_scenario(p)
        best = float("inf")
        res = None
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            res = simulate(sc)
            best = min(best, time.perf_counter() - t0)
        assert res is not None
        tracemalloc.start()
        simulate(sc)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(
            {
                "scenario": p.stem,
                "simulated_s": sc.spec.duration_s,
                "plots": res.plots,
                "truth_messages": len(res.truth),
                "wall_s": round(best, 3),
                "plots_per_s": round(res.plots / best),
                "faster_than_real_time": round(sc.spec.duration_s / best, 1),
                "peak_mib": round(peak / 2**20, 1),
            }
        )
    print(json.dumps({"benchmark": "simulate", "repeat": args.repeat, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
