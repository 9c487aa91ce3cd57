"""Independent check of tocsin's fusion and warnings (issue 16, issue 15).

Generates N seeded cases with ``benchmarks/independent`` (its own physics and
sensor models; it imports nothing from tocsin), writes each as exchange-format
files, runs tocsin's public CLI on them exactly as a user would (``tocsin track``,
``tocsin warn``, and ``tocsin score`` for comparison), and computes the figures
here against the generator's exact truth. Prints one JSON object.

    .venv/bin/python benchmarks/independent_check.py --n 18 --seed 1
    .venv/bin/python benchmarks/independent_check.py --n 9 --classes SRBM,MRBM --keep runs/indep
    .venv/bin/python benchmarks/independent_check.py --n 4 --subprocess     # each tocsin run its own process

Cases cycle through the classes (``--classes``, default all of
``independent.cases.CLASSES``); case i uses seed (``--seed``, i). ``--keep DIR``
keeps every case's plots/truth/tracks/alerts and case.json (all drawn parameters)
to reproduce a finding with the CLI:

    tocsin track DIR/case-003-MRBM/plots.jsonl -o tracks.jsonl
    tocsin warn tracks.jsonl -o alerts/

Figures (per class and object role: ``rv``, ``payload``, ``stage``, ``debris``):

* ``ellipse``: predictions with a 95 % ellipse attributed to an object that came
  down; ``coverage`` (fraction holding the true impact point; goal 0.93-0.97),
  ``coverage_by_flight`` (mean of per-flight fractions: flights weigh equally),
  ``d2_mean``/``d2_median`` (squared Mahalanobis distance read from the ellipse:
  2 / 1.39 for an honest 2-D Gaussian);
* ``impact_error_m`` at 60/120/180/300 s after launch (p50/p95; the latest
  prediction made by then; ``missing``: objects in flight then with none);
* ``objects``: tracked objects, ``breaks``, ``lost_while_reported`` (objects a
  sensor kept detecting for >= 5 s while no confirmed/coasting track was on them,
  after they had been tracked; tracks are given to objects one to one at each
  second, as GOSPA does, so two close pieces need two tracks), ``never_tracked``
  (>= 10 plots, never a confirmed track), ``first_ballistic_s`` (p50/p95 from launch);
* ``warning`` per (public, area): first message type, explicit-close rate,
  messages per area per minute, most messages in 10 s, lead time, the alert's
  onset minus the true event time, false areas (warned, never at risk) and missed
  at-risk areas;
* ``crashes``: any tocsin command that exited non-zero or raised.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from independent import atmosphere, flight
from independent.cases import CLASSES, Ablation, Case, make_case
from independent.evaluate import (
    CHECKPOINTS_S,
    FusionFigures,
    fusion_figures,
    summarise,
    warning_figures,
)

ROOT = Path(__file__).resolve().parents[1]


def run_tocsin(argv: list[str], *, use_subprocess: bool = False) -> dict[str, Any]:
    """Run ``tocsin ARGV`` through its public CLI; returns rc, stdout, stderr and a
    traceback when one was raised (a crash)."""
    t0 = time.perf_counter()
    if use_subprocess:
        exe = Path(sys.executable).parent / "tocsin"
        p = subprocess.run([str(exe), *argv], capture_output=True, text=True, check=False)
        tb = p.stderr if "Traceback (most recent call last)" in p.stderr else None
        return {
            "rc": p.returncode,
            "stdout": p.stdout,
            "stderr": p.stderr,
            "traceback": tb,
            "seconds": time.perf_counter() - t0,
        }
    from tocsin.cli import main

    out, err = io.StringIO(), io.StringIO()
    rc: int = 0
    tb = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            tb = traceback.format_exc()
            rc = -1
    return {
        "rc": rc,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "traceback": tb,
        "seconds": time.perf_counter() - t0,
    }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


def run_case(
    case: Case, work: Path, *, use_subprocess: bool, registry: Any, score: bool = True, warn: bool = True
) -> dict[str, Any]:
    paths = case.write(work)
    res: dict[str, Any] = {"class": case.cls, "seed": case.seed, "dir": str(work), "crashes": [], "runs": {}}
    tracks_p = work / "tracks.jsonl"
    r = run_tocsin(["track", str(paths["plots"]), "-o", str(tracks_p)], use_subprocess=use_subprocess)
    res["runs"]["track"] = {
        "rc": r["rc"],
        "seconds": round(r["seconds"], 2),
        "summary": r["stdout"].strip()[-600:],
    }
    if r["rc"] != 0 or r["traceback"]:
        res["crashes"].append(
            {"command": "track", "rc": r["rc"], "error": (r["traceback"] or r["stderr"])[-2000:]}
        )
    tracks = _read_jsonl(tracks_p)
    tracks = [m for m in tracks if m.get("kind") == "track"]
    ff = fusion_figures(case, tracks)
    res["fusion"] = ff
    if score and tracks:
        s = run_tocsin(
            ["score", str(tracks_p), "--truth", str(paths["truth"]), "--json", str(work / "score.json")],
            use_subprocess=use_subprocess,
        )
        if s["rc"] != 0 or s["traceback"]:
            res["crashes"].append(
                {"command": "score", "rc": s["rc"], "error": (s["traceback"] or s["stderr"])[-2000:]}
            )
        elif (work / "score.json").exists():
            sj = json.loads((work / "score.json").read_text())
            res["tocsin_score"] = {
                k: sj.get(k)
                for k in (
                    "ellipse_predictions",
                    "ellipse_inside",
                    "ellipse_coverage",
                    "track_breaks",
                    "id_switches",
                    "false_tracks",
                )
            }
    if warn:
        a = run_tocsin(
            ["warn", str(tracks_p), "-o", str(work / "alerts"), "-q"], use_subprocess=use_subprocess
        )
        if a["rc"] != 0 or a["traceback"]:
            res["crashes"].append(
                {"command": "warn", "rc": a["rc"], "error": (a["traceback"] or a["stderr"])[-2000:]}
            )
        alerts = [m for m in _read_jsonl(work / "alerts" / "alerts.jsonl") if m.get("kind") == "alert"]
        res["warning"] = warning_figures(case, alerts, registry)
    return res


def _pct(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def aggregate(results: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by[r["class"]].append(r)
    out: dict[str, Any] = {}
    for cls, rs in by.items():
        c: dict[str, Any] = {"cases": len(rs)}
        # ellipse coverage per role
        ell: dict[str, Any] = {}
        roles = sorted({p["role"] for r in rs for p in r["fusion"].predictions if "d2" in p})
        for role in roles:
            preds = [
                (i, p)
                for i, r in enumerate(rs)
                for p in r["fusion"].predictions
                if p["role"] == role and "d2" in p
            ]
            inside = [p["inside"] for _, p in preds]
            d2 = [p["d2"] for _, p in preds]
            per_flight: dict[tuple[int, str], list[bool]] = defaultdict(list)
            for i, p in preds:
                per_flight[(i, p["object"])].append(p["inside"])
            by_flight = [sum(v) / len(v) for v in per_flight.values()]
            ell[role] = {
                "predictions": len(preds),
                "objects": len(per_flight),
                "coverage": _pct(sum(inside) / len(inside)) if inside else None,
                "coverage_by_flight": _pct(sum(by_flight) / len(by_flight)) if by_flight else None,
                "d2_mean": round(float(sum(d2) / len(d2)), 3) if d2 else None,
                "d2_median": round(float(sorted(d2)[len(d2) // 2]), 3) if d2 else None,
            }
        c["ellipse"] = ell
        errs: dict[str, Any] = {}
        for cp in CHECKPOINTS_S:
            vals = [x["error_m"] for r in rs for x in r["fusion"].checkpoints if x["after_s"] == cp]
            s = summarise(vals)
            s["missing"] = sum(1 for v in vals if v is None)
            errs[f"{int(cp)}"] = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items()}
        c["impact_error_m"] = errs
        objs = [o for r in rs for o in r["fusion"].objects]
        groups: dict[str, Any] = {}
        for role in sorted({o["role"] for o in objs}):
            og = [o for o in objs if o["role"] == role]
            tracked = [o for o in og if o["tracks"]]
            groups[role] = {
                "objects": len(og),
                "tracked": len(tracked),
                "tracks_per_object": _pct(sum(len(o["tracks"]) for o in tracked) / len(tracked))
                if tracked
                else None,
                "breaks": sum(o["breaks"] for o in og),
                "lost_while_reported": sum(1 for o in og if o["lost_while_reported_s"] >= 5.0),
                "lost_while_reported_s": round(sum(o["lost_while_reported_s"] for o in og), 1),
                "never_tracked": sum(1 for o in og if o["never_tracked"]),
                "first_ballistic_s": {
                    k: (round(v, 1) if isinstance(v, float) else v)
                    for k, v in summarise(o["first_ballistic_s"] for o in og).items()
                },
            }
        c["objects"] = groups
        c["false_tracks"] = sum(len(r["fusion"].false_track_ids) for r in rs)
        sc = [r.get("tocsin_score") for r in rs if r.get("tocsin_score")]
        if sc:
            n_in = sum(s.get("ellipse_inside") or 0 for s in sc)
            n_all = sum(s.get("ellipse_predictions") or 0 for s in sc)
            c["tocsin_score_ellipse_coverage"] = _pct(n_in / n_all) if n_all else None
        pairs = [p for r in rs for p in r.get("warning", {}).get("pairs", [])]
        if any("warning" in r for r in rs):
            at_risk = [p for p in pairs if p["at_risk"]]
            c["warning"] = {
                "pairs": len(pairs),
                "first_type": dict(Counter(p["first_type"] for p in pairs)),
                "explicit_close_rate": _pct(sum(p["explicit_close"] for p in pairs) / len(pairs))
                if pairs
                else None,
                "per_area_per_minute_max": round(max((p["per_minute"] or 0) for p in pairs), 2)
                if pairs
                else None,
                "max_in_10s": max((p["max_in_10s"] for p in pairs), default=None),
                "lead_s": {
                    k: (round(v, 1) if isinstance(v, float) else v)
                    for k, v in summarise(p.get("lead_s") for p in at_risk).items()
                },
                "lead_min_s": round(min((p["lead_s"] for p in at_risk), default=math.nan), 1)
                if at_risk
                else None,
                "onset_minus_true_s": {
                    k: (round(v, 1) if isinstance(v, float) else v)
                    for k, v in summarise(p.get("announced_minus_true_s") for p in at_risk).items()
                },
                "false_areas": sum(1 for p in pairs if not p["at_risk"]),
                "missed_at_risk": sum(len(r["warning"]["missed_at_risk"]) for r in rs if "warning" in r),
                "cases_with_no_warning": sum(1 for r in rs if "warning" in r and not r["warning"]["pairs"]),
            }
        c["crashes"] = sum(len(r["crashes"]) for r in rs)
        out[cls] = c
    return out


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--n", type=int, default=len(CLASSES), help="number of cases (cycling through the classes)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--classes", default=",".join(CLASSES), help=f"comma-separated, of {', '.join(CLASSES)}")
    ap.add_argument("--keep", type=Path, default=None, help="keep every case's files in this directory")
    ap.add_argument("--subprocess", action="store_true", help="run each tocsin command in its own process")
    ap.add_argument(
        "--no-score", action="store_true", help="skip `tocsin score` (its coverage for comparison)"
    )
    ap.add_argument("--no-warn", action="store_true", help="skip `tocsin warn` and the warning figures")
    ap.add_argument("--details", action="store_true", help="also print per-case figures")
    ap.add_argument(
        "--only", type=int, default=None, metavar="I", help="run only case I (same draws as in the full run)"
    )
    ap.add_argument(
        "--flights",
        type=int,
        default=0,
        metavar="K",
        help="instead: fly the reported flights of docs/dynamics.md with K drawn vehicles each; flight times",
    )
    diag = ap.add_argument_group("diagnostics (each removes one difference from tocsin's own models)")
    diag.add_argument(
        "--ideal-sensors", action="store_true", help="no biases, exact sigmas, no clutter, no loss"
    )
    diag.add_argument(
        "--no-sensor-bias",
        action="store_true",
        help="no registration biases (radar range/az/el/range rate, infrared line of sight); noise "
        "mismatch, clutter and loss as drawn",
    )
    diag.add_argument("--rv-beta", type=float, default=None, help="fix every warhead's beta (kg/m^2)")
    diag.add_argument("--constant-cd", action="store_true", help="no transonic drag rise")
    diag.add_argument(
        "--atmosphere", choices=("ussa76", "exponential"), default="ussa76", help="exponential: tocsin's own"
    )
    args = ap.parse_args()
    atmosphere.MODEL = args.atmosphere
    flight.MACH_DRAG = not args.constant_cd
    ablation = Ablation(
        ideal_sensors=args.ideal_sensors, rv_beta=args.rv_beta, no_sensor_bias=args.no_sensor_bias
    )
    if args.flights:
        print(json.dumps(reported_flights(args.flights), indent=1))
        return
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    bad = [c for c in classes if c not in CLASSES]
    if bad or args.n < 1:
        print(
            f"independent_check: error: unknown class {bad} (known: {', '.join(CLASSES)})"
            if bad
            else "independent_check: error: --n must be >= 1",
            file=sys.stderr,
        )
        sys.exit(2)
    from tocsin.warning.areas import AreaRegistry

    registry = AreaRegistry.default()
    t_start = time.perf_counter()
    results = []
    gen_failures = []
    with tempfile.TemporaryDirectory(prefix="indep-") as tmp:
        base = args.keep or Path(tmp)
        for i in range(args.n):
            if args.only is not None and i != args.only:
                continue
            cls = classes[i % len(classes)]
            t0 = time.perf_counter()
            try:
                case = make_case(args.seed, cls, index=i, ablation=ablation)
            except (ValueError, RuntimeError) as exc:
                gen_failures.append({"index": i, "class": cls, "error": str(exc)})
                continue
            gen_s = time.perf_counter() - t0
            r = run_case(
                case,
                base / f"case-{i:03d}-{cls}",
                use_subprocess=args.subprocess,
                registry=registry,
                score=not args.no_score,
                warn=not args.no_warn,
            )
            r["index"] = i
            r["generate_s"] = round(gen_s, 2)
            results.append(r)
            print(
                f"independent_check: case {i} {cls} done ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        report: dict[str, Any] = {
            "commit": _git_commit(),
            "seed": args.seed,
            "n": args.n,
            "classes": classes,
            "load_1min": round(os.getloadavg()[0], 1),
            "wall_s": round(time.perf_counter() - t_start, 1),
            "generator_failures": gen_failures,
            "by_class": aggregate(results),
            "crashes": [dict(c, case=r["index"], cls=r["class"]) for r in results for c in r["crashes"]],
        }
        if args.details:
            report["cases"] = [_case_json(r) for r in results]
    print(json.dumps(report, indent=1, default=_default))


def reported_flights(k: int) -> dict[str, Any]:
    """Each reported flight solved with K drawn vehicles: simulated vs reported time."""
    from independent.reported import FLIGHTS, fly_reported

    rows = []
    t0 = time.perf_counter()
    for f in FLIGHTS:
        runs = []
        for seed in range(1, k + 1):
            try:
                runs.append(fly_reported(f, seed))
            except ValueError as exc:
                runs.append({"seed": seed, "failed": str(exc)})
        ok = [r for r in runs if "minutes" in r]
        rows.append(
            {
                "date": f.date,
                "flight": f.name,
                "site": f.site,
                "stages": f.stages,
                "reported": f"{f.range_km:.0f} km / {f.apogee_km:.0f} km / {f.minutes:.0f} min",
                "minutes": [round(r["minutes"], 1) for r in ok],
                "error_pct": [round(100 * r["error"], 1) for r in ok],
                "worst_error_pct": round(100 * max((abs(r["error"]) for r in ok), default=math.nan), 1),
                "azimuth_deg": round(ok[0]["azimuth_deg"], 1) if ok else None,
                "burn_s": [round(r["burn_s"]) for r in ok],
                "failed": [r for r in runs if "failed" in r],
            }
        )
        print(f"independent_check: {f.date} done", file=sys.stderr, flush=True)
    worst = max((r["worst_error_pct"] for r in rows if r["minutes"]), default=None)
    return {
        "commit": _git_commit(),
        "vehicles_per_flight": k,
        "worst_error_pct": worst,
        "within_10_pct": all(r["worst_error_pct"] <= 10.0 and not r["failed"] for r in rows),
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_1min": round(os.getloadavg()[0], 1),
        "flights": rows,
    }


def _case_json(r: dict[str, Any]) -> dict[str, Any]:
    ff: FusionFigures = r["fusion"]
    return {
        "index": r["index"],
        "class": r["class"],
        "dir": r["dir"],
        "runs": r["runs"],
        "objects": ff.objects,
        "checkpoints": ff.checkpoints,
        "false_tracks": ff.false_track_ids,
        "ellipse": {
            "n": sum(1 for p in ff.predictions if "d2" in p),
            "inside": sum(1 for p in ff.predictions if p.get("inside")),
        },
        "tocsin_score": r.get("tocsin_score"),
        "warning": r.get("warning"),
        "crashes": r["crashes"],
    }


def _default(o: Any) -> Any:
    if hasattr(o, "__dict__"):
        return o.__dict__
    if hasattr(o, "item"):
        return o.item()
    return str(o)


if __name__ == "__main__":
    main()
