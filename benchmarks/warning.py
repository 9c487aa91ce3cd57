"""Warning engine speed: time from a track update to its alert with many tracks live.

``N`` ballistic tracks (default 1,000) fly copies of the Hokkaido IRBM
(scenarios/irbm-over-hokkaido.yaml), each shifted in longitude by a small,
distinct amount so they warn different areas, plus one boost-phase copy per
``--boost-every`` tracks. Every track is updated ``--rounds`` times, round-robin
(the load of 1,000 tracks reporting once a second). For each ``push`` the wall
time is measured; pushes that produced alerts are the "update to alert" times.
Also: the registry size, alerts per second of engine time, and the cost of
rendering one CAP document. Then ``tocsin drill`` (a fresh process, as a user
runs it: simulate, exchange, track, warn, score, report) for each shipped
scenario and the Freedom Edge suite (``--drills``; ``--quick``: the IRBM only;
``--drills`` with no file: none): wall time, exit code, headline figures and
what each warned area heard (issue 15): messages per (public, area) story
(max, mean) and in any minute (max), the share of stories that begin with an
Alert and end with an explicit close, the announced-time error (the time the
last message before the event gave, rounded to the minute as the texts say
it, minus the true time: max magnitude and mean magnitude), the time to
correct a wrong area, and the close reasons.

``--rescore DIR ...`` scores drill output directories written by another
commit (``tocsin drill SCENARIO --out DIR`` there) with this commit's scorer,
for a side-by-side comparison of the same figures (e.g. the commit before
per-area threads: 0 % explicit closes).

Prints one JSON object.

    .venv/bin/python benchmarks/warning.py [--tracks 1000] [--rounds 3] [--quick] [--drills FILE ...]
    .venv/bin/python benchmarks/warning.py --tracks 0 --drills --rescore /tmp/old/irbm /tmp/old/srbm
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tocsin.dynamics.flight import solve_trajectory
from tocsin.warning import WarningEngine
from tocsin.warning.areas import AreaRegistry
from tocsin.warning.threat import fly_to_ground
from tocsin.wire import make
from tocsin.wire.messages import Ellipse, Envelope, ImpactPrediction, TrackBody

T0 = 1503953880.0
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = ["irbm-over-hokkaido", "icbm-lofted-sea-of-japan", "srbm-salvo", "open-sea"]
SUITE = sorted((SCENARIOS / "freedom-edge").glob("*.yaml"))


def _rot_z(x: np.ndarray, dlon_deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(dlon_deg)), math.sin(math.radians(dlon_deg))
    r = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.concatenate([x[:3] @ r.T, x[3:] @ r.T])


Update = tuple[float, np.ndarray, str, ImpactPrediction | None, list[list[float]] | None]


def base_updates(n_times: int) -> list[Update]:
    """Track states along the IRBM flight: (t, state, phase, impact, path)."""
    traj = solve_trajectory(39.20, 125.70, 72.7, range_m=2_700e3, apogee_m=550e3)
    ts = np.linspace(traj.burnout_t + 20.0, traj.flight_time_s - 120.0, n_times)
    out: list[Update] = []
    for t in ts:
        x = traj.state_at(float(t))
        fl = fly_to_ground(x[None, :], T0 + float(t))[0]
        assert fl is not None
        idx = np.unique(np.round(np.linspace(0, len(fl.t) - 1, 40)).astype(int))
        path = [[float(fl.lat[i]), float(fl.lon[i]), float(fl.t[i])] for i in idx]
        imp = ImpactPrediction(
            t=fl.impact_t,
            lat=fl.impact_lat,
            lon=fl.impact_lon,
            sigma_t_s=2.0,
            ellipse=Ellipse(semi_major_m=8000.0, semi_minor_m=2000.0, bearing_deg=75.0),
        )
        out.append((float(t), x, "ballistic", imp, path))
    boost_t = np.linspace(traj.burnout_t - 30.0, traj.burnout_t - 5.0, n_times)
    for t in boost_t:
        out.append((float(t), traj.state_at(float(t)), "boost", None, None))
    return out


def drill_wall_time(scenario: Path) -> dict[str, object]:
    """Wall time of ``tocsin drill SCENARIO`` in a fresh process, its exit code
    and headline figures (``summary.json``)."""
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tocsin", "drill", str(scenario), "--out", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t1
        row: dict[str, object] = {"scenario": scenario.name, "wall_s": round(wall, 2)}
        row["exit"] = proc.returncode
        summary = Path(tmp) / "summary.json"
        if summary.exists():
            figs = json.loads(summary.read_text())["figures"]
            for k in ("first_alert_s", "min_lead_s", "area_recall", "area_precision", "false_alerts"):
                row[k] = figs.get(k)
            row.update(area_figures(Path(tmp)))
        else:
            row["error"] = proc.stderr.strip().splitlines()[-1:] or ["no summary"]
    print(f"drill {scenario.name}: {row['wall_s']} s (exit {row['exit']})", file=sys.stderr)
    return row


def area_figures(run: Path) -> dict[str, object]:
    """What each warned area heard in one drill output directory (its
    ``alerts.jsonl`` and ``truth.jsonl``), scored with this commit's scorer."""
    from collections import Counter

    from tocsin.drill.run import _area_shapes, ground_tracks
    from tocsin.drill.warnscore import areas_at_risk, score_warnings
    from tocsin.wire import read_jsonl
    from tocsin.wire.messages import AlertBody

    truth, _ = read_jsonl(run / "truth.jsonl")
    alerts, _ = read_jsonl(run / "alerts.jsonl")
    gts = ground_tracks(truth)
    shapes, _names = _area_shapes()
    risk = areas_at_risk(gts, shapes)
    launch = min((g.launch_t for g in gts if g.ballistic), default=0.0)
    envs = [a for a in alerts if isinstance(a.body, AlertBody)]
    w = score_warnings(
        [a.body for a in envs],  # type: ignore[misc]
        risk,
        launch,
        [s.code for s in shapes if s.sea],
        partners=[a.partner for a in envs],
    )
    sizes = [len(t.split()) for _, t, _ in w.story_log]
    errs = [abs(v) for v in w.announced_error_s.values()]
    corr = [v for v in w.time_to_correct_s.values() if v is not None]
    return {
        "alert_messages": w.alerts,
        "stories": w.stories,
        "messages_per_area_max": w.messages_per_area_max,
        "messages_per_area_mean": round(sum(sizes) / len(sizes), 2) if sizes else None,
        "messages_per_area_minute_max": w.messages_per_area_minute_max,
        "first_contact_alert": w.first_contact_alert,
        "explicit_close_rate": w.explicit_close_rate,
        "announced_error_max_s": None
        if w.announced_error_max_s is None
        else round(w.announced_error_max_s, 1),
        "announced_error_mean_abs_s": round(sum(errs) / len(errs), 1) if errs else None,
        "false_areas": len(w.false_areas_land) + len(w.false_areas_sea),
        "corrected_explicitly": f"{len(corr)}/{len(w.time_to_correct_s)}",
        "time_to_correct_max_s": round(max(corr), 1) if corr else None,
        "closes": dict(Counter(end for _, _, end in w.story_log)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracks", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--boost-every", type=int, default=20, help="one boost-phase track per this many")
    ap.add_argument("--quick", action="store_true", help="200 tracks, 2 rounds, the IRBM drill only")
    ap.add_argument(
        "--drills",
        nargs="*",
        default=None,
        metavar="FILE",
        help="scenario files to run with `tocsin drill` (default: the four shipped ones and the "
        "Freedom Edge suite)",
    )
    ap.add_argument(
        "--rescore",
        nargs="*",
        default=[],
        metavar="DIR",
        help="drill output directories (of another commit) to score with this commit's scorer",
    )
    args = ap.parse_args()
    if args.quick:
        args.tracks, args.rounds = 200, 2
    if args.drills is None:
        names = SHIPPED[:1] if args.quick else SHIPPED
        args.drills = [str(SCENARIOS / f"{n}.yaml") for n in names]
        if not args.quick:
            args.drills += [str(p) for p in SUITE]
    reg = AreaRegistry.default()
    base = base_updates(args.rounds)
    cov = list(np.diag([150.0**2] * 3 + [3.0**2] * 3).ravel())
    engine = WarningEngine(registry=reg)
    pushes: list[float] = []
    to_alert: list[float] = []
    alerts = 0
    seq = 0
    engine_time = 0.0
    for rnd in range(args.rounds):
        for k in range(args.tracks):
            boost = args.boost_every > 0 and k % args.boost_every == 0
            t, x, phase, imp, path = base[args.rounds + rnd] if boost else base[rnd]
            dlon = (k % 200) * 0.05 - 5.0  # tracks spread over +-5 degrees of longitude
            xs = _rot_z(x, dlon)
            body = TrackBody(
                id=f"F-{k}",
                t=T0 + t + rnd * 0.0,
                state_ecef=[float(v) for v in xs],
                cov=cov,
                status="confirmed",
                class_="ballistic",
                phase=phase,  # type: ignore[arg-type]
                quality=1.0,
                impact=None
                if imp is None
                else ImpactPrediction(
                    t=imp.t,
                    lat=imp.lat,
                    lon=((imp.lon + dlon + 180) % 360) - 180,
                    sigma_t_s=imp.sigma_t_s,
                    ellipse=imp.ellipse,
                ),
                path=None
                if path is None
                else [[p[0], ((p[1] + dlon + 180) % 360) - 180, p[2]] for p in path],
            )
            seq += 1
            env: Envelope = make("track", body, partner="JP", source="bench", seq=seq, sent=body.t + 0.2)
            t1 = time.perf_counter()
            out = engine.push(env)
            dt = time.perf_counter() - t1
            engine_time += dt
            pushes.append(dt)
            if out:
                to_alert.append(dt)
                alerts += len(out)
    # CAP rendering alone
    from tocsin.warning.cap import CapMessage, render_cap, validate_cap
    from tocsin.warning.texts import Facts

    areas = [reg.get("JP-01"), reg.get("JP-02")]
    msg = CapMessage(
        identifier="JP.F-1.1.0",
        sender="warning@tocsin.example",
        sent=T0,
        status="Exercise",
        msg_type="Alert",
        facts=Facts(msg_type="Alert", status="Exercise", area_names={}, onset=T0 + 300),
        areas=areas,
        onset=T0 + 300,
        expires=T0 + 1800,
        polygons={a.code: a.cap_polygons() for a in areas},
    )
    n_cap = 50
    t1 = time.perf_counter()
    for _ in range(n_cap):
        xml = render_cap(msg)
    cap_ms = (time.perf_counter() - t1) / n_cap * 1e3
    t1 = time.perf_counter()
    for _ in range(n_cap):
        validate_cap(xml)
    val_ms = (time.perf_counter() - t1) / n_cap * 1e3

    drills = [drill_wall_time(Path(f)) for f in args.drills]
    rescored = [{"run": str(d), **area_figures(Path(d))} for d in args.rescore]

    def pct(v: list[float], q: float) -> float | None:
        return round(float(np.percentile(v, q)) * 1e3, 3) if v else None

    print(
        json.dumps(
            {
                "benchmark": "warning",
                "python": sys.version.split()[0],
                "areas": len(list(reg)),
                "tracks_live": args.tracks,
                "rounds": args.rounds,
                "boost_tracks": args.tracks // args.boost_every if args.boost_every else 0,
                "track_updates": len(pushes),
                "update_ms_p50": pct(pushes, 50),
                "update_ms_p99": pct(pushes, 99),
                "update_ms_mean": round(float(np.mean(pushes)) * 1e3, 3) if pushes else None,
                "updates_per_s": round(len(pushes) / engine_time, 1) if pushes else None,
                "update_to_alert_ms_p50": pct(to_alert, 50),
                "update_to_alert_ms_p99": pct(to_alert, 99),
                "alert_messages": alerts,
                "alerts_per_s": round(alerts / engine_time, 1) if engine_time else None,
                "cap_render_ms": round(cap_ms, 3),
                "cap_validate_ms": round(val_ms, 3),
                "areas_warned_at_end": sum(len(v) for v in engine.active_areas().values()),
                "drills": drills,
                "rescored": rescored,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
