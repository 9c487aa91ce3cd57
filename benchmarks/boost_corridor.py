"""Coverage of the warning engine's boost corridor on launches tocsin did not make.

Flights from the independent generator (benchmarks/independent: its own thrust,
mass flow, pitch-over kick and gravity turn, Delta-v, kick angle, site and
azimuth drawn from class ranges; its own biased, lossy sensors) are tracked by
tocsin's tracker in process. For every boost-phase track report carrying a
launch azimuth (docs/fusion.md, "Launch azimuth during boost") on the
missile, the boost corridor is built as the warning engine builds it
(tocsin.warning.threat: heading and width from the azimuth and its sigma), but
without the far-end hold and the ``max_buffer_m`` cut, which only shorten it.
Two figures per report:

- ``inside``: the share of the true ground track from now to the corridor's far
  end (points whose projection on the corridor's centre line falls before its
  end) that lies inside the corridor. Goal 1.0: the corridor must never be
  narrower than the truth can be.
- ``z``: the error of the heading the corridor uses (vs the true velocity
  heading at that time) over its sigma. For an honest sigma, |z| < 1.96 for
  ~95 % of reports and the median |z| is ~0.67; a sigma 3x too large gives a
  median ~0.22 (the corridor wider than it needs to be).

    .venv/bin/python benchmarks/boost_corridor.py [--seed 11] [--n 4] [--classes SRBM,MRBM,IRBM]

Prints one JSON object: per class and over all, reports, share of reports
fully inside, the smallest ``inside``, |z| quantiles, share |z| < 1.96.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from independent.cases import make_case
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.tracker import Tracker
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix
from tocsin.warning import threat
from tocsin.wire.codec import decode_json


class _NoAreas:
    def intersecting(self, geom: Any) -> list[Any]:
        return []


def check_case(seed: int, cls: str, index: int) -> list[dict[str, float]]:
    """One independent flight: a row per boost report with a launch azimuth."""
    case = make_case(seed, cls, index=index)
    rv = case.objects[0]
    t_bo = rv.epoch + rv.burnout
    cfg = threat.ThreatConfig(max_buffer_m=1.0e7)
    tk = Tracker(TrackerConfig())
    rows: list[dict[str, float]] = []
    for line in case.plot_lines():
        env = decode_json(line)
        if env.kind == "plot" and env.body.t > t_bo + 5.0:  # type: ignore[union-attr]
            break
        for msg in tk.push(env):
            b = msg.body
            la = getattr(b, "launch", None)
            if b.class_ != "ballistic" or b.phase != "boost" or la is None or la.azimuth_deg is None:  # type: ignore[union-attr]
                continue
            x = np.asarray(b.state_ecef, dtype=np.float64)  # type: ignore[union-attr]
            tt = np.arange(max(b.t, rv.t_start), min(rv.t_end, b.t + 3000.0), 2.0)  # type: ignore[union-attr]
            xs = rv.states(tt)
            if tt.size == 0 or float(np.linalg.norm(xs[0, :3] - x[:3])) > 20_000.0:
                continue  # a track on another object
            got = threat._far_flight(
                b,
                cfg,
                None,
                None,
                cfg.boost_extra_s,
                threat._boost_dv_cap(b, cfg),
                azimuth=True,  # type: ignore[arg-type]
            )
            if got is None:
                continue
            fl, r, az_sigma = got
            th = threat._reach_corridor(
                b,
                _NoAreas(),
                cfg,
                fl,
                r,
                hold=False,
                reason="boost",
                az_sigma=az_sigma,  # type: ignore[arg-type]
            )
            lat0, lon0, _ = ecef_to_geodetic(x[:3])
            centre = shapely.LineString(
                np.column_stack([np.r_[float(lon0), fl.lon], np.r_[float(lat0), fl.lat]])
            )
            la_t, lo_t, _ = ecef_to_geodetic(xs[:, :3])
            pts = shapely.points(lo_t, la_t)
            ahead = shapely.line_locate_point(centre, pts) < 0.999 * centre.length
            inside = shapely.intersects(th.corridor, pts[ahead]) if bool(ahead.any()) else np.ones(1, bool)
            # the heading the corridor flies vs the true velocity heading now
            s0 = rv.states(np.array([b.t]))[0]  # type: ignore[union-attr]
            sl, so, _ = ecef_to_geodetic(s0[:3])
            ve = enu_matrix(float(sl), float(so)) @ s0[3:]
            vt = threat._launch_plane_velocity(b, cfg, None, azimuth=True)  # type: ignore[arg-type]
            assert vt is not None
            assert vt[1] is not None
            vn = enu_matrix(float(lat0), float(lon0)) @ vt[0]
            err = (math.degrees(math.atan2(vn[0], vn[1]) - math.atan2(ve[0], ve[1])) + 180.0) % 360.0 - 180.0
            rows.append(
                {
                    "t": float(b.t - rv.t_start),  # type: ignore[union-attr]
                    "inside": float(np.mean(inside)),
                    "z": abs(err) / max(math.degrees(vt[1]), 1e-9),
                    "az_err_deg": err,
                    "az_sigma_deg": math.degrees(vt[1]),
                }
            )
    return rows


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    if not rows:
        return {"reports": 0}
    z = np.array([r["z"] for r in rows])
    ins = np.array([r["inside"] for r in rows])
    return {
        "reports": len(rows),
        "fully_inside": round(float(np.mean(ins >= 1.0)), 4),
        "inside_min": round(float(ins.min()), 4),
        "z_median": round(float(np.median(z)), 3),
        "z_p95": round(float(np.quantile(z, 0.95)), 3),
        "z_below_1_96": round(float(np.mean(z < 1.96)), 4),
        "az_sigma_deg_median": round(float(np.median([r["az_sigma_deg"] for r in rows])), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--n", type=int, default=4, help="flights per class")
    ap.add_argument("--classes", default="SRBM,SRBM-depressed,MRBM,IRBM")
    a = ap.parse_args()
    t0 = time.time()
    out: dict[str, Any] = {"seed": a.seed, "n": a.n, "classes": {}}
    every: list[dict[str, float]] = []
    for cls in a.classes.split(","):
        rows: list[dict[str, float]] = []
        for i in range(a.n):
            try:
                rows += check_case(a.seed, cls, i)
            except ValueError as e:  # the generator found no flight in the class band
                print(f"{cls} {i}: {e}", file=sys.stderr)
        out["classes"][cls] = summary(rows)
        every += rows
    out["all"] = summary(every)
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
