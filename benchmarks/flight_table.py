"""Solve every reported flight's range and apogee and compare flight times.

Each flight is flown with its missile's number of stages where public (else the
class default) from Pyongyang (39.0 N 125.7 E) on azimuth 80°. Rows are marked
``fit`` (the boost model's constants were chosen on them) or ``held-out`` (only
checked). Prints JSON (one row per flight, with the solve time, and the worst
error of each set); ``--markdown`` prints the table used in docs/dynamics.md.

    .venv/bin/python benchmarks/flight_table.py [--markdown]
"""

from __future__ import annotations

import json
import sys
import time

from tocsin.dynamics import REPORTED_FLIGHTS, Stage, Vehicle, solve_trajectory


def main() -> None:
    rows = []
    for f in REPORTED_FLIGHTS:
        veh = None if f.stages is None else Vehicle(tuple(Stage() for _ in range(f.stages)))
        t0 = time.perf_counter()
        tr = solve_trajectory(39.0, 125.7, 80.0, range_m=f.range_m, apogee_m=f.apogee_m, vehicle=veh)
        rows.append(
            {
                "date": f.date,
                "name": f.name,
                "set": "fit" if f.fit else "held-out",
                "stages": len(tr.burns),
                "range_km": f.range_m / 1e3,
                "apogee_km": f.apogee_m / 1e3,
                "reported_min": f.flight_time_s / 60,
                "simulated_min": round(tr.flight_time_s / 60, 2),
                "error_pct": round(100 * (tr.flight_time_s - f.flight_time_s) / f.flight_time_s, 2),
                "burn_s": round(tr.burnout_t, 1),
                "solve_s": round(time.perf_counter() - t0, 3),
            }
        )
    worst = {
        s: max((abs(r["error_pct"]) for r in rows if r["set"] == s), default=None)
        for s in ("fit", "held-out")
    }
    if "--markdown" in sys.argv:
        head = ["date", "set", "flight", "stages", "reported range / apogee", "reported time"]
        head += ["simulated time", "error", "burn", "solve"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print(
                f"| {r['date']} | {r['set']} | {r['name']} | {r['stages']} "
                f"| {r['range_km']:,.0f} km / {r['apogee_km']:,.0f} km "
                f"| {r['reported_min']:.0f} min | {r['simulated_min']:.1f} min | {r['error_pct']:+.1f} % "
                f"| {r['burn_s']:.0f} s | {r['solve_s']:.2f} s |"
            )
        print(f"\nworst |error|: fit {worst['fit']:.1f} %, held-out {worst['held-out']:.1f} %")
    else:
        print(json.dumps({"benchmark": "flight_table", "worst_abs_error_pct": worst, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
