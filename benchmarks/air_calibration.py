"""Calibration of the impact ellipse's air term against the day's air the simulator flies.

Issue 16 item 2 (is each term of the impact covariance what it says?). The
simulator flies every Monte Carlo scenario through one day's air, a departure
of ``ln rho`` from the standard atmosphere drawn per scenario
(:func:`tocsin.dynamics.atmosphere.day_air`: a Gauss-Markov process in height,
sigma :func:`~tocsin.dynamics.atmosphere.density_sigma`, correlation length
drawn in 5-12 km). The tracker knows only the standard and the size of such
departures; its impact ellipse carries "the drag still to come read through
air that is not the standard" as one term. This script measures that term
against what the day's air really does, without the tracker (so nothing else
-- the filter, the drag bank, the sensors -- is in the figure):

For each flight's re-entry vehicle (the same flights as
``benchmarks/impact_coverage.py``: ``random_scenario(seed, class, index)``)
at its true state every ``--step`` s after burnout, the impact point is flown
(:func:`tocsin.dynamics.fly_free`, the simulator's own integrator) in the
day's air and in the standard with the true ``beta``; for a bank that has read
its drag at the height it is at (``k`` = 1: ``ln beta`` taken in as ``ln beta
- d(h_now)``) the second is flown with that ``beta``. The difference is the
realized displacement; ``z`` is its component along the term's direction over
the term's standard deviation, which the tracker computes two ways:

* ``single``: all the drag to come at one height, ``min(h_now, 15 km)``
  (:func:`tocsin.fusion.drag.density_spread`; the tracker before session 8);
* ``path``: the departure read along the predicted path to the ground, weighted
  by how much drag there moves the impact
  (:func:`tocsin.fusion.drag.density_spread_path`; session 8).

A calibrated term has ``std(z)`` 1 and 95 % of ``|z|`` below 1.96. Printed per
class, ``k`` and height band: ``n``, ``std_z``, ``within_1_96``,
``median_abs_z`` (0.674 for a unit Gaussian), the term's median sigma and the
median realized displacement (m).

Usage::

    .venv/bin/python benchmarks/air_calibration.py                     # 20 flights a class, ~1 min
    .venv/bin/python benchmarks/air_calibration.py --flights 30 --classes SRBM SRBM-depressed

Prints one JSON object ``{"rows": [...], "setup": {...}, "wall_s": ...}``.
Classes whose re-entry vehicles reach the air only in the last seconds (IRBM,
lofted ICBM) have an air term of metres to tens of metres against kilometres of
other terms; they are in the table but decide nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

from tocsin.drill.generate import FLIGHT_CLASSES, random_scenario
from tocsin.drill.simulate import _STREAM_AIR, _build_objects
from tocsin.dynamics.atmosphere import DAY_STEP_M, day_air
from tocsin.dynamics.flight import fly_free
from tocsin.fusion import drag, ground
from tocsin.fusion.propagate import height
from tocsin.geo import ecef_to_geodetic, enu_matrix

CORR_M = 8_000.0  # the tracker's density_corr_m default
BANDS = ((80e3, math.inf), (40e3, 80e3), (25e3, 40e3), (15e3, 25e3), (0.0, 15e3))
CLASSES = ("SRBM", "SRBM-depressed", "MRBM", "IRBM")


def _landing(x: np.ndarray, t: float, beta: float, air: np.ndarray | None) -> np.ndarray | None:
    _, xx, landed = fly_free(x, t, beta=beta, t_max=t + 20_000.0, air=air)
    return xx[-1][:3] if landed else None


def flight_rows(seed: int, cls: str, index: int, step: float, ks: tuple[float, ...]) -> list[dict[str, Any]]:
    """The z rows of one flight's re-entry vehicle (see the module doc)."""
    sc = random_scenario(seed, cls, index=index)
    objs = _build_objects(sc, None, 0)
    day = day_air(np.random.default_rng([sc.spec.seed, _STREAM_AIR]))
    knots = np.arange(day.size) * DAY_STEP_M
    out: list[dict[str, Any]] = []
    for o in objs.values():
        if o.role != "rv" or o.fate is not None or o.trajectory is None or o.beta_kg_m2 is None:
            continue
        tr, beta = o.trajectory, float(o.beta_kg_m2)
        for ts in np.arange(tr.burnout_t + 1.0, float(tr.t[-1]) - 5.0, step):
            j = int(np.searchsorted(tr.t, ts))
            x, t = tr.x[j], float(tr.t[j])
            h = float(height(x[None, :3])[0])
            if h < 2_000.0:
                continue
            p_day = _landing(x, t, beta, day)
            p_std = _landing(x, t, beta, None)
            if p_day is None or p_std is None:
                continue
            lat, lon, _ = ecef_to_geodetic(p_std)
            rot = enu_matrix(float(lat), float(lon))
            d_now = float(np.interp(h, knots, day)) if h < knots[-1] else 0.0
            # one step of the air (the low air's departure) and the path to the ground
            rs0 = drag.density_spread(h, 0.0, CORR_M)
            dt, xg, smp = ground.to_ground(
                np.stack([x, x, x]),
                np.array([beta / math.exp(rs0), beta * math.exp(rs0), beta]),
                direction=+1,
                max_time=20_000.0,
                sample_row=2,
            )
            step_en = 0.5 * (rot @ (xg[1, :3] - xg[0, :3]))[:2]
            hw = drag.air_weights([(0.0, x), *smp], float(dt[2]), beta)
            for k in ks:
                p_k = p_std if k == 0.0 else _landing(x, t, beta * math.exp(-k * d_now), None)
                if p_k is None:
                    continue
                real = (rot @ (p_day - p_k))[:2]
                row: dict[str, Any] = {
                    "class": cls,
                    "index": index,
                    "k": k,
                    "h": h,
                    "real_m": float(np.hypot(*real)),
                }
                for model, rs in (
                    ("single", drag.density_spread(h, k, CORR_M)),
                    ("path", drag.density_spread_path(h, k, CORR_M, *hw)),
                ):
                    d_air = step_en * (rs / rs0)
                    s = float(np.hypot(*d_air))
                    row[model + "_sigma_m"] = s
                    row[model + "_z"] = float(real @ d_air) / (s * s) if s > 0.0 else math.inf
                out.append(row)
    return out


def _summary(rows: list[dict[str, Any]], model: str) -> dict[str, Any]:
    z = np.array([r[model + "_z"] for r in rows])
    fin = np.isfinite(z)
    zf = z[fin]
    return {
        "std_z": round(float(np.std(zf)), 3) if zf.size else None,
        "within_1_96": round(float(np.mean(np.abs(z) < 1.96)), 3),
        "median_abs_z": round(float(np.median(np.abs(zf))), 3) if zf.size else None,
        "sigma_m_p50": round(float(np.median([r[model + "_sigma_m"] for r in rows]))),
        "zero_sigma": int(np.sum(~fin)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--flights", type=int, default=20, help="flights per class")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--classes", nargs="*", choices=FLIGHT_CLASSES, default=list(CLASSES))
    ap.add_argument("--step", type=float, default=10.0, help="seconds between states along each flight")
    args = ap.parse_args(argv)
    w0 = time.perf_counter()
    ks = (0.0, 1.0)
    rows: list[dict[str, Any]] = []
    for cls in args.classes:
        ci = FLIGHT_CLASSES.index(cls)
        for j in range(args.flights):
            index = j * len(FLIGHT_CLASSES) + ci  # impact_coverage.py's flights
            rows.extend(flight_rows(args.seed, cls, index, args.step, ks))
        print(
            f"{cls}: {sum(r['class'] == cls for r in rows)} states, {time.perf_counter() - w0:.0f} s",
            file=sys.stderr,
        )
    table: list[dict[str, Any]] = []
    for cls in args.classes:
        for k in ks:
            for lo, hi in ((0.0, math.inf), *BANDS):
                sel = [r for r in rows if r["class"] == cls and r["k"] == k and lo <= r["h"] < hi]
                if not sel:
                    continue
                table.append(
                    {
                        "class": cls,
                        "k": k,
                        "height_km": "all"
                        if hi == math.inf and lo == 0.0
                        else f"{lo / 1e3:.0f}-{hi / 1e3:.0f}",
                        "n": len(sel),
                        "realized_m_p50": round(float(np.median([r["real_m"] for r in sel]))),
                        "single": _summary(sel, "single"),
                        "path": _summary(sel, "path"),
                    }
                )
    print(
        json.dumps(
            {
                "rows": table,
                "setup": {
                    "seed": args.seed,
                    "flights_per_class": args.flights,
                    "step_s": args.step,
                    "corr_m": CORR_M,
                },
                "wall_s": round(time.perf_counter() - w0, 1),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
