#!/usr/bin/env python3
"""``/v1/state`` at scale: size and build time of the dashboard's snapshot. Prints JSON.

Fills the dashboard's :class:`~tocsin.web.live.LiveState` with ``--tracks N``
ballistic tracks, each reported ``--updates`` times (trail points), and times
``snapshot()`` plus the JSON encoding the route does, for:

- ``full``: every kept trail point (60) and ``json.dumps``, the route before
  2026-12-05 (issue 19: ~1 MB, ~55 ms at 300 tracks);
- ``bounded``: what the route does now (16 trail points per track spread over the
  kept trail, ``msgspec.json``).

Best of ``--repeat`` runs each, in one process (the ratio is the figure; absolute
times depend on the machine's load, printed too)::

    .venv/bin/python benchmarks/dashboard_state.py [--tracks 300] [--updates 60]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import msgspec

from tocsin.geo import geodetic_to_ecef
from tocsin.web.live import LiveState


def _track(i: int, k: int, t: float) -> dict[str, object]:
    s = k / 100.0
    lat, lon = 38.0 + 0.01 * i + 3 * s, 125.0 + 15 * s
    x, y, z = (float(v) for v in geodetic_to_ecef(lat, lon, 4e5 * s * (1 - s)))
    path = [[lat + 0.1 * q, lon + 0.5 * q, t + 10 * q] for q in range(12)]
    return {
        "v": 1,
        "kind": "track",
        "partner": "JP",
        "sent": t,
        "body": {
            "id": f"F-{i}",
            "t": t,
            "status": "confirmed",
            "class": "ballistic",
            "state_ecef": [x, y, z, 1000.0, 1000.0, 1000.0],
            "sources": ["JP-R1", "KR-R2"],
            "partners": ["JP", "KR"],
            "quality": 0.9,
            "launch": {"t": 1000.0, "lat": 38.0, "lon": 125.0, "sigma_m": 2000.0},
            "impact": {
                "t": t + 300,
                "lat": 41.0,
                "lon": 140.0,
                "sigma_t_s": 5.0,
                "ellipse": {"semi_major_m": 20_000.0, "semi_minor_m": 8_000.0, "bearing_deg": 75.0},
            },
            "path": path,
        },
    }


def _time(fn: object, repeat: int) -> tuple[float, int]:
    best, size = math.inf, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = len(fn())  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--tracks", type=int, default=300)
    ap.add_argument("--updates", type=int, default=60, help="reports per track (trail points)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    full = LiveState(snapshot_trail=None)
    bounded = LiveState()
    for k in range(args.updates):
        for i in range(args.tracks):
            d = _track(i, k, 1000.0 + k)
            full.add(d)
            bounded.add(d)
    t_full, n_full = _time(lambda: json.dumps(full.snapshot(), separators=(",", ":")).encode(), args.repeat)
    t_b, n_b = _time(lambda: msgspec.json.encode(bounded.snapshot()), args.repeat)
    out = {
        "tracks": args.tracks,
        "updates": args.updates,
        "full": {"bytes": n_full, "ms": round(t_full * 1e3, 1)},
        "bounded": {"bytes": n_b, "ms": round(t_b * 1e3, 1)},
        "size_ratio": round(n_full / n_b, 2),
        "time_ratio": round(t_full / t_b, 2),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
