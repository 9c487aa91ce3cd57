"""Simulator speed: wall time and plots generated per second for each shipped
scenario (issue 2 asks for scenario (a), ``irbm-over-hokkaido``); or, with
``--monte-carlo N``, the time to simulate N random flights of
:mod:`tocsin.drill.generate` (what ``benchmarks/impact_coverage.py`` needs from
the simulator), per flight class.

Prints one JSON object. Each scenario is simulated ``--repeat`` times (default
3) and the best time is kept; peak memory is measured with tracemalloc on a
separate run. The Monte Carlo run simulates each flight once (the first one
includes loading the compiled integrator).

    .venv/bin/python benchmarks/simulate.py [--repeat N] [scenario.yaml ...]
    .venv/bin/python benchmarks/simulate.py --monte-carlo 200 [--seed 1]
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
    ap.add_argument("--monte-carlo", type=int, default=0, metavar="N", help="simulate N random flights")
    ap.add_argument("--seed", type=int, default=1, help="Monte Carlo seed")
    args = ap.parse_args()
    if args.monte_carlo:
        print(json.dumps(_monte_carlo(args.monte_carlo, args.seed), indent=2))
        return
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


def _monte_carlo(n: int, seed: int) -> dict[str, object]:
    from collections import defaultdict

    from tocsin.drill.generate import monte_carlo

    per: dict[str, list[float]] = defaultdict(list)
    plots: dict[str, int] = defaultdict(int)
    objects: dict[str, int] = defaultdict(int)
    t_all = time.perf_counter()
    for sc in monte_carlo(seed, n):
        t0 = time.perf_counter()
        res = simulate(sc)
        cls = sc.spec.tags[0]
        per[cls].append(time.perf_counter() - t0)
        plots[cls] += res.plots
        objects[cls] += len(res.objects)
    total = time.perf_counter() - t_all
    return {
        "benchmark": "simulate-monte-carlo",
        "flights": n,
        "seed": seed,
        "wall_s": round(total, 1),
        "per_flight_s": round(total / n, 3),
        "classes": {
            k: {
                "flights": len(v),
                "mean_s": round(sum(v) / len(v), 3),
                "max_s": round(max(v), 3),
                "plots_per_flight": round(plots[k] / len(v)),
                "objects_per_flight": round(objects[k] / len(v), 1),
            }
            for k, v in sorted(per.items())
        },
    }


if __name__ == "__main__":
    main()
