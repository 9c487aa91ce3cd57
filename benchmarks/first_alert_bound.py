"""How much the boost-phase estimate holds back the first alert (docs/warning.md,
"What sets the first alert").

For each drill output directory (``tocsin drill SCENARIO --out DIR``, or one
scenario's directory of ``tocsin drill suite``), the fused tracks
(``tracks.jsonl``) are replayed through a fresh warning engine (default policy,
as the drill's) twice: as they were, and with every report of a boosting track
(``phase`` boost) given the true state of the nearest simulated missile
(``truth.jsonl``, if within ``--within`` m): what a perfect boost-phase estimate
would have warned, with the same reports at the same times. The engine ticks
every second of arrival time, as the drill's pipeline does. Prints one JSON
object: per drill, the first alert and the first alert naming a land area,
seconds after the first launch, with its areas, both ways.

    .venv/bin/python benchmarks/first_alert_bound.py DIR [DIR ...] [--within 10000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from tocsin.warning import WarningEngine
from tocsin.wire import AlertBody, Envelope, TrackBody
from tocsin.wire.codec import decode_json

Truth = dict[str, tuple[np.ndarray, np.ndarray]]


def read_truth(path: Path) -> Truth:
    """Per missile (truth class not ``air``): times (N,) and ECEF states (N, 6)."""
    rows: dict[str, list[tuple[float, list[float]]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        b = json.loads(line)["body"]
        if b.get("class") == "air" or b.get("state_ecef") is None:
            continue
        rows.setdefault(b["object"], []).append((float(b["t"]), b["state_ecef"]))
    out: Truth = {}
    for k, v in rows.items():
        out[k] = (np.array([t for t, _ in v]), np.array([x for _, x in v], dtype=np.float64))
    return out


def true_state(truth: Truth, body: TrackBody, within_m: float) -> list[float] | None:
    """The true state at ``body.t`` of the missile nearest the report's
    position, if it is within ``within_m``; None otherwise."""
    if body.state_ecef is None:
        return None
    pos = np.asarray(body.state_ecef[:3], dtype=np.float64)
    best: tuple[float, list[float]] | None = None
    for ts, xs in truth.values():
        if not ts[0] <= body.t <= ts[-1]:
            continue
        st = [float(np.interp(body.t, ts, xs[:, k])) for k in range(6)]
        d = float(np.linalg.norm(np.asarray(st[:3]) - pos))
        if d <= within_m and (best is None or d < best[0]):
            best = (d, st)
    return None if best is None else best[1]


def first_alerts(
    tracks: list[Envelope], launch_t: float, truth: Truth | None, within_m: float
) -> dict[str, Any]:
    """Replay ``tracks`` (in file order) through a fresh engine; with ``truth``,
    boosting tracks' states replaced (:func:`true_state`). The first alert and
    the first naming a land area (``None`` if none)."""
    eng = WarningEngine(instance="bound")
    found: dict[str, Any] = {"first": None, "first_land": None}
    tick: float | None = None

    def see(t: float, outs: list[Envelope]) -> None:
        for o in outs:
            if o.kind != "alert" or not isinstance(o.body, AlertBody) or o.body.msg_type != "Alert":
                continue
            rec = {"t_s": round(t - launch_t, 2), "areas": list(o.body.areas)}
            if found["first"] is None:
                found["first"] = rec
            if found["first_land"] is None and any(not a.startswith("sea:") for a in o.body.areas):
                found["first_land"] = rec

    for env in tracks:
        if found["first"] is not None and found["first_land"] is not None:
            break
        if tick is None:
            tick = math.floor(env.sent)
        while tick + 1.0 <= env.sent:
            tick += 1.0
            see(tick, eng.advance(tick))
        b = env.body
        if truth is not None and isinstance(b, TrackBody) and b.phase == "boost":
            st = true_state(truth, b, within_m)
            if st is not None:
                env = msgspec.structs.replace(env, body=msgspec.structs.replace(b, state_ecef=st))
        see(env.sent, eng.push(env))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="drill output directories")
    ap.add_argument("--within", type=float, default=10_000.0, help="largest track-to-truth distance, m")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    for d in args.dirs:
        truth = read_truth(d / "truth.jsonl")
        if not truth:
            out[d.name] = None  # no missile
            continue
        launch_t = min(float(ts[0]) for ts, _ in truth.values())
        tracks = [decode_json(line) for line in (d / "tracks.jsonl").read_text(encoding="utf-8").splitlines()]
        out[d.name] = {
            "as_fused": first_alerts(tracks, launch_t, None, args.within),
            "true_boost": first_alerts(tracks, launch_t, truth, args.within),
        }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
