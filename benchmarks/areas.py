#!/usr/bin/env python3
"""Area index and launch-origin lookups: load time and per-query cost. Prints JSON.

The warning engine asks the area registry which areas a threat shape (a corridor
polygon or an impact ellipse) intersects on every track update; alerts ask for the
launch origin. This measures, on seeded random inputs over the region
(24-46 N, 122-146 E):

- ``load_s``: ``AreaRegistry.default()`` / the origin data, first call, in a fresh
  process (data only: imports timed apart);
- ``at_point_us``, ``within_100km_us``, ``corridor_us`` (``intersecting`` with a
  600 km x 30 km corridor polygon), ``ellipse_us`` (``intersecting`` with a 50 km
  ellipse), ``launch_origin_us`` (and ``launch_origin_land_us`` on land points);
- the registry's area counts.

Compare two commits by running this script in each checkout, back to back::

    .venv/bin/python benchmarks/areas.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

LOAD = """
import time, json
import tocsin.warning.areas, tocsin.warning.origin
t = time.perf_counter(); tocsin.warning.areas.AreaRegistry.default(); a = time.perf_counter() - t
t = time.perf_counter(); tocsin.warning.origin._data(); o = time.perf_counter() - t
print(json.dumps([a, o]))
"""


def _per_call(fn: Callable[[Any], object], args: list[Any], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for a in args:
            fn(a)
        best = min(best, (time.perf_counter() - t) / len(args))
    return best * 1e6


def _corridor(lat: float, lon: float, az: float, length_m: float, width_m: float) -> Polygon:
    """A rectangle ``length_m`` x ``width_m`` from (lat, lon) along azimuth ``az``
    (small-distance flat-earth approximation: fine for a benchmark shape)."""
    k = 1.0 / 111_320.0
    c = math.cos(math.radians(lat))
    dx, dy = math.sin(math.radians(az)), math.cos(math.radians(az))
    px, py = -dy, dx
    pts = []
    for s, w in ((0.0, -1.0), (length_m, -1.0), (length_m, 1.0), (0.0, 1.0)):
        e = dx * s + px * w * width_m / 2.0
        n = dy * s + py * w * width_m / 2.0
        pts.append((lon + e * k / c, lat + n * k))
    return Polygon(pts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=2000, help="random queries per kind (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    loads = [
        json.loads(
            subprocess.run([sys.executable, "-c", LOAD], capture_output=True, check=True, text=True).stdout
        )
        for _ in range(3)
    ]
    from tocsin.warning.areas import AreaRegistry
    from tocsin.warning.origin import launch_origin

    reg = AreaRegistry.default()
    rng = np.random.default_rng(args.seed)
    n = args.n
    lat = rng.uniform(24.0, 46.0, n)
    lon = rng.uniform(122.0, 146.0, n)
    pts = list(zip(lat.tolist(), lon.tolist(), strict=True))
    corridors = [
        _corridor(la, lo, float(az), 600_000.0, 30_000.0)
        for (la, lo), az in zip(pts, rng.uniform(0, 360, n), strict=True)
    ]
    ellipses = [shapely.buffer(shapely.Point(lo, la), 0.45) for la, lo in pts]
    land = [(la, lo) for la, lo in pts if any(a.kind == "land" for a in reg.at_point(la, lo))]
    launch_origin(*pts[0])
    out = {
        "load_areas_s": round(min(x[0] for x in loads), 4),
        "load_origins_s": round(min(x[1] for x in loads), 4),
        "at_point_us": round(_per_call(lambda p: reg.at_point(*p), pts), 1),
        "within_100km_us": round(
            _per_call(lambda p: reg.within_distance(p[0], p[1], 100_000.0), pts[:200]), 1
        ),
        "corridor_us": round(_per_call(reg.intersecting, corridors), 1),
        "ellipse_us": round(_per_call(reg.intersecting, ellipses), 1),
        "launch_origin_us": round(_per_call(lambda p: launch_origin(*p), pts), 1),
        "launch_origin_land_us": round(_per_call(lambda p: launch_origin(*p), land or pts[:1]), 1),
        "areas": len(reg),
        "land_areas": len(reg.land()),
        "sea_areas": len(reg.sea()),
        "n": n,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
