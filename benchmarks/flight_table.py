"""Solve every reported flight's range and apogee and compare flight times.

Prints JSON (one row per flight, with the solve time); ``--markdown`` prints the
table used in docs/dynamics.md instead.
"""

from __future__ import annotations

import json
import sys
import time

from tocsin.dynamics import REPORTED_FLIGHTS, solve_trajectory


def main() -> None:
    rows = []
    for f in REPORTED_FLIGHTS:
        t0 = time.perf_counter()
        tr = solve_trajectory(39.0, 125.7, 80.0, range_m=f.range_m, apogee_m=f.apogee_m)
        rows.append(
            {
                "date": f.date,
                "name": f.name,
                "range_km": f.range_m / 1e3,
                "apogee_km": f.apogee_m / 1e3,
                "reported_min": f.flight_time_s / 60,
                "simulated_min": round(tr.flight_time_s / 60, 2),
                "error_pct": round(100 * (tr.flight_time_s - f.flight_time_s) / f.flight_time_s, 2),
                "burn_s": round(tr.burnout_t, 1),
                "solve_s": round(time.perf_counter() - t0, 3),
            }
        )
    if "--markdown" in sys.argv:
        head = ["date", "flight", "reported range / apogee", "reported time", "simulated time"]
        head += ["error", "burn", "solve"]
        print("| " + " | ".join(head) + " |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['date']} | {r['name']} | {r['range_km']:,.0f} km / {r['apogee_km']:,.0f} km "
                f"| {r['reported_min']:.0f} min | {r['simulated_min']:.1f} min | {r['error_pct']:+.1f} % "
                f"| {r['burn_s']:.0f} s | {r['solve_s']:.2f} s |"
            )
    else:
        print(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
