"""Impact-prediction accuracy and 95 % ellipse coverage over seeded runs.

Not a test (no ``test_`` prefix): run it by hand, it prints JSON::

    .venv/bin/python tests/fusion/measure_impact.py --runs 20 --missile SRBM

Each run flies ``solve_trajectory`` from a notional site with a random azimuth,
observes it with two ground radars (50 m, 0.1 deg, 1 s, seeded noise), tracks it
with the default :class:`tocsin.fusion.Tracker` and scores every impact
prediction: great-circle error against the true impact point, and whether the
true point lies inside the reported ellipse.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from conftest import T0, Radar, make_plots

from tocsin.dynamics.flight import solve_trajectory
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import ecef_to_enu, geodetic_to_ecef, great_circle_distance


def mahalanobis2(lat: float, lon: float, b: object) -> float:
    """Squared Mahalanobis distance of the true point in the reported ellipse
    (chi-square with 2 degrees of freedom if the ellipse is honest)."""
    imp = b.impact  # type: ignore[attr-defined]
    e, n, _ = ecef_to_enu(geodetic_to_ecef(lat, lon, 0.0), imp.lat, imp.lon, 0.0)
    brg = math.radians(imp.ellipse.bearing_deg)
    ua = np.array([math.sin(brg), math.cos(brg)])
    ub = np.array([math.cos(brg), -math.sin(brg)])
    d = np.array([e, n])
    a, c = max(imp.ellipse.semi_major_m, 1e-9), max(imp.ellipse.semi_minor_m, 1e-9)
    return 5.991464547107979 * float((d @ ua / a) ** 2 + (d @ ub / c) ** 2)


def inside(lat: float, lon: float, b: object) -> bool:
    imp = b.impact  # type: ignore[attr-defined]
    e, n, _ = ecef_to_enu(geodetic_to_ecef(lat, lon, 0.0), imp.lat, imp.lon, 0.0)
    brg = math.radians(imp.ellipse.bearing_deg)
    ua = np.array([math.sin(brg), math.cos(brg)])  # major axis (east, north)
    ub = np.array([math.cos(brg), -math.sin(brg)])
    d = np.array([e, n])
    a, c = max(imp.ellipse.semi_major_m, 1e-9), max(imp.ellipse.semi_minor_m, 1e-9)
    return float((d @ ua / a) ** 2 + (d @ ub / c) ** 2) <= 1.0


def run(
    seed: int, missile: str, every: float, overrides: dict[str, float] | None = None
) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    az = float(rng.uniform(60.0, 110.0))
    tr = solve_trajectory(39.0, 125.5, az, missile_class=missile, dt=1.0)

    def truth(t: float) -> np.ndarray:
        return tr.state_at(t - T0)[None, :]

    radars = [
        Radar("KR-R1", 37.5, 127.5, max_range=3e6),
        Radar("JP-R1", 40.0, 137.0, max_range=3e6, offset=0.5),
    ]
    envs = make_plots(truth, T0 + 5.0, T0 + tr.flight_time_s - 1.0, radars, seed=seed)
    trk = Tracker(TrackerConfig(impact_interval_s=every, **(overrides or {})))
    rows = []
    for e in trk.push_many(envs):
        b = e.body
        if b.impact is None or b.status == "tentative":
            continue
        err = float(great_circle_distance(b.impact.lat, b.impact.lon, tr.impact_lat, tr.impact_lon))
        rows.append(
            {
                "after_launch_s": b.t - T0,
                "err_m": err,
                "dt_err_s": b.impact.t - T0 - tr.flight_time_s,
                "inside": float(inside(tr.impact_lat, tr.impact_lon, b)),
                "m2": mahalanobis2(tr.impact_lat, tr.impact_lon, b),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--missile", default="SRBM")
    ap.add_argument("--every", type=float, default=10.0, help="impact prediction interval, s")
    ap.add_argument("--config", default="{}", help="TrackerConfig overrides as JSON")
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    overrides = json.loads(args.config)
    c0 = time.perf_counter()
    rows = [
        r
        for s in range(args.first_seed, args.first_seed + args.runs)
        for r in run(s, args.missile, args.every, overrides)
    ]
    ins = [r["inside"] for r in rows]
    bins: dict[str, dict[str, float]] = {}
    for lo in range(0, 4000, 60):
        sel = [r for r in rows if lo <= r["after_launch_s"] < lo + 60]
        if sel:
            bins[f"{lo}-{lo + 60}s"] = {
                "n": len(sel),
                "median_err_km": round(float(np.median([r["err_m"] for r in sel])) / 1e3, 2),
                "p90_err_km": round(float(np.quantile([r["err_m"] for r in sel], 0.9)) / 1e3, 2),
                "coverage": round(float(np.mean([r["inside"] for r in sel])), 3),
                "mean_mahalanobis2": round(float(np.mean([r["m2"] for r in sel])), 2),
            }
    out = {
        "missile": args.missile,
        "runs": args.runs,
        "first_seed": args.first_seed,
        "config": overrides,
        "predictions": len(rows),
        "ellipse_coverage": round(float(np.mean(ins)), 3) if ins else None,
        "by_time_after_launch": bins,
        "seconds": round(time.perf_counter() - c0, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
