"""CPU of the warning stage per track report on a drill, in process (issue 17 (a)).

The drill's messages are fed to the tracker in 10-ms slices of their ``sent``
time with a tick after each slice (what ``tocsin serve`` does with its 20-ms
scan grace, without the timing noise); every track report the tracker makes is
pushed to a fresh :class:`~tocsin.warning.WarningEngine` and the thread CPU
time of each ``push`` is recorded (CPU time, not wall time: the figure moves
less with the machine's load). Reported per phase of the report (boost /
ballistic / other): count, sum, p50, p99, max; and the pushes that made alerts (each
area's first alert is the public's "take shelter"), with the engine prepared
as the stage process prepares it (:meth:`WarningEngine.prepare`) unless
``--cold``. ``--baseline-ref REF`` runs the same measurement on that commit's
code (a git archive of it; an engine without ``prepare`` runs cold), one after
the other, ``--repeat`` times each. Prints one JSON object.

    .venv/bin/python benchmarks/warning_cost.py --baseline-ref 08a25a2 --repeat 2
    .venv/bin/python benchmarks/warning_cost.py --scenario scenarios/icbm-lofted-sea-of-japan.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(scenario: Path, cold: bool) -> dict[str, Any]:
    """The measurement, with whatever ``tocsin`` is importable (module doc)."""
    from tocsin.drill.scenario import load_scenario
    from tocsin.drill.simulate import simulate
    from tocsin.fusion import Tracker, TrackerConfig
    from tocsin.warning import WarningEngine
    from tocsin.wire import Envelope, TrackBody

    msgs = sorted(simulate(load_scenario(scenario)).messages, key=lambda e: e.sent)
    t0 = msgs[0].sent
    slices: dict[int, list[Envelope]] = {}
    for e in msgs:
        slices.setdefault(int((e.sent - t0) / 0.01), []).append(e)
    tracker = Tracker(TrackerConfig())
    engine = WarningEngine(instance="bench")
    prepared = False
    if not cold and callable(getattr(engine, "prepare", None)):
        engine.prepare()
        prepared = True
    cost: dict[str, list[float]] = {"boost": [], "ballistic": [], "other": []}
    alerts: list[dict[str, Any]] = []

    def push(reports: list[Envelope]) -> None:
        for r in reports:
            c0 = time.thread_time()
            out = engine.push(r)
            dt = time.thread_time() - c0
            body = r.body
            phase = body.phase if isinstance(body, TrackBody) and body.phase in cost else "other"
            cost[phase].append(dt)
            if out:
                alerts.append(
                    {
                        "t_s": round(r.sent - t0, 3),
                        "phase": phase,
                        "alerts": len(out),
                        "cpu_ms": round(dt * 1e3, 2),
                    }
                )

    data_t = t0
    for k in sorted(slices):
        for e in slices[k]:
            data_t = max(data_t, e.sent)
            push(tracker.push(e))
        push(tracker.advance(data_t))
        engine.advance(data_t)

    def stats(a: list[float]) -> dict[str, Any]:
        if not a:
            return {"n": 0}
        x = np.asarray(a) * 1e3
        return {
            "n": int(x.size),
            "sum_ms": round(float(x.sum()), 1),
            "p50_ms": round(float(np.percentile(x, 50)), 2),
            "p99_ms": round(float(np.percentile(x, 99)), 2),
            "max_ms": round(float(x.max()), 2),
        }

    return {
        "prepared": prepared,
        "boost_reports": stats(cost["boost"]),
        "ballistic_reports": stats(cost["ballistic"]),
        "other_reports": stats(cost["other"]),
        "alert_pushes": alerts[:12],
        "alert_pushes_total": len(alerts),
    }


def run_tree(code: Path | None, scenario: Path, cold: bool) -> dict[str, Any]:
    """One measurement in a fresh process (this checkout, or ``code``'s tree)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code / "src")
    args = [sys.executable, str(Path(__file__).resolve()), "--one", "--scenario", str(scenario.resolve())]
    if cold:
        args.append("--cold")
    got = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=code or ROOT)
    out: dict[str, Any] = json.loads(got.stdout)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "irbm-over-hokkaido.yaml")
    ap.add_argument("--baseline-ref", default=None, help="also measure this commit's code, same run")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per code tree (interleaved)")
    ap.add_argument(
        "--cold", action="store_true", help="do not prepare the engine (CAP polygons on first alerts)"
    )
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.scenario, a.cold)))
        return
    res: dict[str, Any] = {"scenario": str(a.scenario), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        if a.baseline_ref:
            base = Path(tmp) / "base"
            base.mkdir()
            arch = subprocess.run(
                ["git", "-C", str(ROOT), "archive", a.baseline_ref], capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(base)], input=arch.stdout, check=True)
        for i in range(max(1, a.repeat)):
            res["runs"].append({"tree": "this", "run": i, **run_tree(None, a.scenario, a.cold)})
            if base is not None:
                res["runs"].append({"tree": a.baseline_ref, "run": i, **run_tree(base, a.scenario, a.cold)})
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
