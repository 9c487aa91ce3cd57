"""Monte Carlo of tocsin's impact predictions: ellipse coverage, errors, track continuity.

Issue 16 item 4. Seeded flights from :mod:`tocsin.drill.generate` (the
simulator's Monte Carlo API: a random launch of each class -- SRBM, depressed
SRBM, pull-up SRBM, MRBM, IRBM, lofted ICBM, SLV -- from a random site and
azimuth, a random subset of 2-6 notional sensors, random link latency, jitter
and loss per partner, a registration bias per radar drawn within documented
limits (:data:`tocsin.drill.generate.SENSOR_BIAS_LIMITS`; ``--no-sensor-bias``:
none, the same flights otherwise; ``--bias-law normal``: the same draws as a
normal of the same standard deviation, the law the tracker considers); every
object's ballistic coefficient drawn by the simulator, log-uniform in its kind's
range, never from the tracker's prior).
Each flight is simulated in memory and its messages fed to a fresh
:class:`tocsin.fusion.Tracker` in arrival order, the tracker advanced every
second of arrival time as a live node is (``tocsin track`` does the same). The
track messages are scored against the truth by :func:`tocsin.drill.score.score`
(GOSPA attribution of tracks to objects, c = 10 km).

Per row (flight class x role of the object: the re-entry vehicle ``rv`` -- or
an SLV's ``payload`` --, spent ``stage``, ``debris``):

* ``coverage``: fraction of the 95 % impact ellipses (every confirmed, coasting
  or lost report with an impact of a track attributed to the object) that hold
  the true impact point; ``coverage_by_time_to_impact``: the same by how long
  before the impact the prediction was made; ``coverage_by_manoeuvre_seen``: the
  same for reports that say the object manoeuvres (``manoeuvring``: a pull-up
  SRBM's glide footprint) and the others; ``flights_coverage_p10``: the 10th
  percentile of the per-object coverages (does it hold for every object, not
  only on average);
* ``coverage_per_report`` (and ``predictions_per_report``,
  ``median_error_per_report_m``, ``final_impact_error_per_report_m``): a second
  figure beside ``coverage``, never in place of it: every such report of ANY
  track scored against the object its track was on at the report's time (the
  nearest truth object to the reported position then), so a track that
  switched pieces scores each piece's predictions to that piece, and a track
  no object owns is scored too (docs/fusion.md, "Two figures per object");
* ``impact_error_m``: p50 / p95 over objects of the error of the prediction
  current 60 / 120 / 180 / 300 s after launch (objects with a prediction then);
* ``breaks_per_object``, ``tracks_per_tracked_object`` (track ids that carried
  it), ``first_ballistic_s`` (p50 / p95 of the time after
  launch of the first report classed ballistic), ``never_tracked`` (objects with
  no track at any time), ``lost_while_reported`` (objects that had a track and
  then, while a sensor was still reporting them -- a plot within 5 s -- had
  none for more than 10 s in a row, as the drill scorer measures it with the
  plots: ``tocsin.drill.score``, docs/scoring.md; ``lost_while_reported_s_max``:
  the longest such stretch of any object of the row).

Objects in orbit or still aloft at the end (truth ``fate``) have no impact
and are left out of the impact figures.

Usage::

    .venv/bin/python benchmarks/impact_coverage.py                  # 210 flights, seed 1
    .venv/bin/python benchmarks/impact_coverage.py --quick          # 14 flights
    .venv/bin/python benchmarks/impact_coverage.py --flights 70 --classes SRBM MRBM
    .venv/bin/python benchmarks/impact_coverage.py --config '{"drag_estimation": false}'
    .venv/bin/python benchmarks/impact_coverage.py --quick --no-sensor-bias  # radars without bias
    .venv/bin/python benchmarks/impact_coverage.py --classes ICBM-lofted --flights 30 --bias-law normal

``--jobs 2`` runs flights in two processes (results identical). Prints one JSON
object: ``{"rows": [...], "totals": {...}, "setup": {...}, "wall_s": ...}``;
progress on stderr.

A full run takes 45-90 minutes on two cores. ``--rows FILE`` writes each
flight's rows to FILE (JSON lines, after a first line with the run's setup) as
soon as the flight is done, so nothing finished is lost when a run is stopped;
``--resume`` reads FILE back, checks that its setup is this run's (seed, classes,
config, biases: a mismatch is refused, naming the field) and flies only the
flights not in it; the result is the same as one uninterrupted run. ``--only``
flies chosen flights of the run by index (``--only 4,11,100-104``): the same
flights, draws and classes as in the full run, for a per-object comparison
of a change on a few of them::

    .venv/bin/python benchmarks/impact_coverage.py --jobs 2 --objects --rows run.jsonl
    .venv/bin/python benchmarks/impact_coverage.py --jobs 2 --objects --rows run.jsonl --resume
    .venv/bin/python benchmarks/impact_coverage.py --objects --only 61,174
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tocsin.drill.generate import BIAS_LAWS, FLIGHT_CLASSES, random_scenario
from tocsin.drill.metrics import ellipse_contains, hermite_positions
from tocsin.drill.score import ScoreConfig, score
from tocsin.drill.simulate import SimulationResult, simulate
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import ecef_to_enu, geodetic_to_ecef, great_circle_distance
from tocsin.wire import Envelope, PlotBody, TrackBody, TruthBody

CHECKPOINTS = (60.0, 120.0, 180.0, 300.0)
TTI_BINS = ((600.0, math.inf), (300.0, 600.0), (120.0, 300.0), (60.0, 120.0), (0.0, 60.0))
REPORTED_WINDOW_S = 5.0
LOST_AFTER_S = 10.0
CLOCK_S = 1.0

Pred = tuple[float, bool, float, bool]
"""(time to impact s, true impact inside the 95 % ellipse, error m, report says manoeuvring)"""


def track_messages(sim: SimulationResult, cfg: TrackerConfig) -> tuple[list[Envelope], dict[str, int]]:
    """Feed a simulation's messages to a tracker in arrival order, advanced
    every ``CLOCK_S`` of arrival time; its track messages and rejections."""
    trk = Tracker(cfg)
    out: list[Envelope] = []
    next_tick: float | None = None
    last_t = -math.inf
    for env in sim.messages:
        if env.kind == "plot":
            if next_tick is None:
                next_tick = math.floor(env.sent / CLOCK_S) * CLOCK_S + CLOCK_S
            while env.sent >= next_tick:
                out.extend(trk.advance(next_tick))
                next_tick += CLOCK_S
            if isinstance(env.body, PlotBody):
                last_t = max(last_t, env.body.t)
        out.extend(trk.push(env))
    out.extend(trk.flush())
    if math.isfinite(last_t):
        # the rest of the scenario: coasting and lost tracks are predicted to their ends
        end = max(o.t_end for o in sim.objects.values())
        t = next_tick if next_tick is not None else last_t
        while t <= end + 30.0:
            out.extend(trk.advance(t))
            t += CLOCK_S
    return [e for e in out if e.kind == "track"], dict(trk.rejected)


def nearest_objects(
    truth: Sequence[Envelope], reports: Sequence[TrackBody]
) -> tuple[list[str | None], npt.NDArray[np.float64]]:
    """The truth object each report's track is on at the report's time: the
    one nearest to the reported position (``state_ecef``) among the objects
    flying then (launched or separated by then; one already down counts where
    it fell), and that distance (m). None (distance inf) when no object had
    flown yet. Truth positions between states: cubic Hermite, as the scorer's
    grid (:func:`tocsin.drill.metrics.hermite_positions`)."""
    states: dict[str, list[tuple[float, list[float]]]] = defaultdict(list)
    for e in truth:
        b = e.body
        if isinstance(b, TruthBody) and b.state_ecef is not None:
            states[b.object].append((b.t, list(b.state_ecef)))
    t = np.array([r.t for r in reports], dtype=np.float64)
    pos = np.array([r.state_ecef[:3] for r in reports], dtype=np.float64).reshape(-1, 3)
    best = np.full(t.size, np.inf)
    who = np.full(t.size, -1, dtype=np.int64)
    names = sorted(states)
    for k, name in enumerate(names):
        rows = sorted(states[name], key=lambda r: r[0])
        ts = np.array([r[0] for r in rows], dtype=np.float64)
        xs = np.array([r[1] for r in rows], dtype=np.float64)
        keep = np.concatenate(([True], np.diff(ts) > 0))
        ts, xs = ts[keep], xs[keep]
        # NaN before its first state (not flying yet); after its last, where it ended
        at = hermite_positions(ts, xs, np.minimum(t, ts[-1]))
        d = np.linalg.norm(at - pos, axis=1)
        ok = np.isfinite(d) & (d < best)
        best[ok] = d[ok]
        who[ok] = k
    return [names[i] if i >= 0 else None for i in who.tolist()], best


def _predictions(msgs: Sequence[TrackBody], imp: TruthBody) -> list[Pred]:
    """(time to impact, inside the 95 % ellipse, error m, manoeuvring) of each
    report's impact prediction against the true impact ``imp``."""
    if not msgs or imp.lat is None or imp.lon is None:
        return []
    plat = np.array([b.impact.lat for b in msgs if b.impact])
    plon = np.array([b.impact.lon for b in msgs if b.impact])
    enu = ecef_to_enu(geodetic_to_ecef(imp.lat, imp.lon, 0.0), plat, plon, 0.0)
    el = [b.impact.ellipse for b in msgs if b.impact and b.impact.ellipse]
    inside = ellipse_contains(
        enu[:, 0],
        enu[:, 1],
        [x.semi_major_m for x in el],
        [x.semi_minor_m for x in el],
        [x.bearing_deg for x in el],
    )
    err = great_circle_distance(plat, plon, imp.lat, imp.lon)
    return [
        (imp.t - b.t, bool(i), float(e), bool(b.manoeuvring))
        for b, i, e in zip(msgs, inside, err, strict=True)
    ]


def object_predictions(
    tracks: Sequence[Envelope], truth: Sequence[Envelope], owned: dict[str, list[str]]
) -> dict[str, tuple[list[Pred], list[Pred]]]:
    """For each object of ``owned`` (object -> the ids of the tracks the
    scorer attributed to it; objects with a true impact): the predictions
    (:func:`_predictions`) of every confirmed, coasting or lost report with an
    impact ellipse of its tracks -- the benchmark's figure since session 4 --
    and, second, of every such report of ANY track made while that track was
    on it (:func:`nearest_objects`), by report time. A track that switches
    pieces is scored to the first piece in the first figure, to each piece
    in turn in the second; a prediction of a track no object owns counts only
    in the second."""
    impacts = {
        e.body.object: e.body for e in truth if isinstance(e.body, TruthBody) and e.body.phase == "impact"
    }
    by_id: dict[str, list[TrackBody]] = defaultdict(list)
    for e in tracks:
        if isinstance(e.body, TrackBody) and e.body.status in ("confirmed", "coasting", "lost"):
            by_id[e.body.id].append(e.body)
    reported = [b for msgs in by_id.values() for b in msgs if b.impact and b.impact.ellipse]
    now_on, _ = nearest_objects(truth, reported)
    by_now: dict[str, list[TrackBody]] = defaultdict(list)
    for b, who in zip(reported, now_on, strict=True):
        if who is not None:
            by_now[who].append(b)
    out: dict[str, tuple[list[Pred], list[Pred]]] = {}
    for name, ids in owned.items():
        imp = impacts.get(name)
        if imp is None:
            continue
        msgs = [b for tid in ids for b in by_id.get(tid, []) if b.impact and b.impact.ellipse]
        out[name] = (_predictions(msgs, imp), _predictions(sorted(by_now[name], key=lambda b: b.t), imp))
    return out


def _group(role: str | None) -> str:
    if role is None or role in ("rv", "payload"):
        return "rv"
    return "stage" if role.startswith("stage") else "debris"


def run_flight(
    args: tuple[int, str, int, dict[str, Any]]
    | tuple[int, str, int, dict[str, Any], bool]
    | tuple[int, str, int, dict[str, Any], bool, str],
) -> list[dict[str, Any]]:
    """One flight: per ballistic object, what the benchmark measures.
    ``args``: seed, class, index, TrackerConfig overrides and, optionally,
    whether the radars have registration biases (default True) and how they
    are drawn (:data:`~tocsin.drill.generate.BIAS_LAWS`, default uniform)."""
    seed, cls, index, overrides = args[:4]
    sensor_bias = bool(args[4]) if len(args) > 4 else True
    bias_law = str(args[5]) if len(args) > 5 else "uniform"
    sc = random_scenario(seed, cls, index=index, sensor_bias=sensor_bias, bias_law=bias_law)
    sim = simulate(sc)
    cfg = TrackerConfig(**overrides)
    c0 = time.process_time()
    tracks, rejected = track_messages(sim, cfg)
    cpu = time.process_time() - c0
    rep = score(
        tracks,
        sim.truth,
        ScoreConfig(checkpoints_s=CHECKPOINTS, reported_window_s=REPORTED_WINDOW_S),
        plots=sim.messages,
    )
    impacts = {
        e.body.object: e.body for e in sim.truth if isinstance(e.body, TruthBody) and e.body.phase == "impact"
    }
    falls = {
        ob.object: ob.tracks
        for ob in rep.objects
        if ob.class_ == "ballistic" and sim.objects[ob.object].fate is None and ob.object in impacts
    }
    scored = object_predictions(tracks, sim.truth, falls)
    rows = []
    for ob in rep.objects:
        if ob.class_ != "ballistic":
            continue
        obj = sim.objects[ob.object]
        imp = impacts.get(ob.object)
        has_impact = imp is not None and obj.fate is None and imp.lat is not None and imp.lon is not None
        # (time to impact, inside, error m, manoeuvring) of its tracks' predictions, and per report
        preds, preds_report = scored.get(ob.object, ([], [])) if has_impact else ([], [])
        rows.append(
            {
                "seed": seed,
                "index": index,
                "class": cls,
                "object": ob.object,
                "role": ob.role,
                "group": _group(ob.role),
                "beta": ob.beta_kg_m2,
                "fate": obj.fate,
                "flight_s": obj.t_end - (ob.launch_t or obj.t_start),
                "tracks": len(ob.tracks),
                "breaks": ob.breaks,
                "tracked_fraction": ob.tracked_fraction,
                "first_ballistic_s": ob.first_ballistic_s,
                "impact_error_m_at": ob.impact_error_m_at if has_impact else [None] * len(CHECKPOINTS),
                "final_impact_error_m": ob.final_impact_error_m if has_impact else None,
                "plots": ob.plots,
                # the longest stretch, after it was first tracked, in which a plot
                # of it kept coming but no track was on it (the drill scorer's)
                "lost_while_reported_s": ob.lost_while_reported_run_s,
                "preds": preds,
                # each prediction against the object its track was on when it
                # was reported (the nearest; any track's): a track that switched
                # pieces scores its later predictions to the piece it went to
                "preds_report": preds_report,
                "final_impact_error_per_report_m": preds_report[-1][2] if preds_report else None,
                "cpu_s": round(cpu, 2),
                "too_late": rejected.get("too_late", 0),
            }
        )
    return rows


def object_figures(row: dict[str, Any]) -> dict[str, Any]:
    """One object's coverage and median error, scored as the class rows are
    (its tracks' predictions) and per report (the predictions of any track
    while on it)."""
    p, q = row["preds"], row["preds_report"]
    return {
        "coverage": round(float(np.mean([x[1] for x in p])), 3) if p else None,
        "median_error_m": round(float(np.median([x[2] for x in p]))) if p else None,
        "predictions": len(p),
        "coverage_per_report": round(float(np.mean([x[1] for x in q])), 3) if q else None,
        "median_error_per_report_m": round(float(np.median([x[2] for x in q]))) if q else None,
        "predictions_per_report": len(q),
    }


def _pct(v: list[float], q: float) -> float | None:
    return round(float(np.percentile(v, q)), 1) if v else None


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["class"], r["group"]) for r in rows}, key=lambda k: (FLIGHT_CLASSES.index(k[0]), k[1]))
    for cls, grp in keys:
        sel = [r for r in rows if r["class"] == cls and r["group"] == grp]
        preds = [p for r in sel for p in r["preds"]]
        preds_rep = [p for r in sel for p in r["preds_report"]]
        per_obj = [float(np.mean([p[1] for p in r["preds"]])) for r in sel if r["preds"]]
        cov_tti = {}
        for lo, hi in TTI_BINS:
            pb = [p[1] for p in preds if lo <= p[0] < hi]
            if pb:
                label = f"{lo:g}-{hi:g}s" if math.isfinite(hi) else f">{lo:g}s"
                cov_tti[label] = {"n": len(pb), "coverage": round(float(np.mean(pb)), 3)}
        # predictions of reports that say the object manoeuvres, and the others
        by_man = {}
        for label, flag in (("manoeuvring", True), ("not_manoeuvring", False)):
            pm = [p[1] for p in preds if p[3] is flag]
            if pm:
                by_man[label] = {"n": len(pm), "coverage": round(float(np.mean(pm)), 3)}
        errs = {}
        for i, c in enumerate(CHECKPOINTS):
            v = [r["impact_error_m_at"][i] for r in sel if r["impact_error_m_at"][i] is not None]
            errs[f"{c:g}s"] = {"n": len(v), "p50": _pct(v, 50), "p95": _pct(v, 95)}
        fb = [r["first_ballistic_s"] for r in sel if r["first_ballistic_s"] is not None]
        out.append(
            {
                "class": cls,
                "group": grp,
                "objects": len(sel),
                "flights": len({(r["seed"], r["index"]) for r in sel}),
                "predictions": len(preds),
                "coverage": round(float(np.mean([p[1] for p in preds])), 4) if preds else None,
                # the same predictions (and those of tracks no object owns) each
                # scored against the object its track was on when it was reported
                "predictions_per_report": len(preds_rep),
                "coverage_per_report": round(float(np.mean([p[1] for p in preds_rep])), 4)
                if preds_rep
                else None,
                "objects_with_predictions": len(per_obj),
                "flights_coverage_p10": _pct(per_obj, 10),
                "coverage_by_time_to_impact": cov_tti,
                "coverage_by_manoeuvre_seen": by_man,
                "impact_error_m": errs,
                "final_impact_error_m_p50": _pct(
                    [r["final_impact_error_m"] for r in sel if r["final_impact_error_m"] is not None], 50
                ),
                "final_impact_error_per_report_m_p50": _pct(
                    [
                        r["final_impact_error_per_report_m"]
                        for r in sel
                        if r["final_impact_error_per_report_m"] is not None
                    ],
                    50,
                ),
                "breaks_per_object": round(float(np.mean([r["breaks"] for r in sel])), 3),
                "tracks_per_tracked_object": round(
                    float(np.mean([r["tracks"] for r in sel if r["tracks"]] or [0.0])), 3
                ),
                "first_ballistic_s": {"n": len(fb), "p50": _pct(fb, 50), "p95": _pct(fb, 95)},
                "never_tracked": sum(1 for r in sel if r["tracks"] == 0),
                "never_tracked_with_plots": sum(1 for r in sel if r["tracks"] == 0 and r["plots"] >= 5),
                "lost_while_reported": sum(1 for r in sel if r["lost_while_reported_s"] > LOST_AFTER_S),
                "lost_while_reported_s_max": max((r["lost_while_reported_s"] for r in sel), default=0.0),
                "beta_range": [
                    min((r["beta"] for r in sel if r["beta"]), default=None),
                    max((r["beta"] for r in sel if r["beta"]), default=None),
                ],
                "cpu_s_per_flight": round(float(np.mean([r["cpu_s"] for r in sel])), 2),
            }
        )
    return out


ROWS_SETUP_KEYS = ("seed", "classes", "config", "sensor_bias", "bias_law")
"""What makes a flight of index i the same flight in two runs (the rows file's
first line): the seed, the classes cycled through, the tracker's overrides and
the radars' biases. The number of flights is not among them: flight i is flight
i whatever the run's length."""


def parse_only(text: str, n: int) -> list[int]:
    """``"4,11,100-104"`` -> the flight indices, sorted and unique; an index
    outside ``0..n-1`` or a part that is not a number or a range is refused
    (ValueError naming it)."""
    out: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        lo_s, sep, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if sep else lo
        except ValueError:
            raise ValueError(f"--only: {part!r} is not an index or a range a-b") from None
        if lo > hi:
            raise ValueError(f"--only: {part!r} runs backwards")
        for i in (lo, hi):
            if not 0 <= i < n:
                raise ValueError(f"--only: flight {i} is outside this run's 0-{n - 1} (--flights {n})")
        out.update(range(lo, hi + 1))
    return sorted(out)


def _plain(o: object) -> object:
    """JSON for the NumPy scalars in a flight's rows (a float64 is a float already)."""
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def read_rows(path: Path, setup: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """The flights a rows file holds, by index. Its setup must be ``setup``
    (each of :data:`ROWS_SETUP_KEYS`; a difference is refused, naming the field
    and both values). A last line cut short (a run stopped while writing it) is
    dropped and the file cut back to its last whole line, so the flight is
    flown again; any other bad line is refused with its line number."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    whole = text.endswith("\n")
    body = lines[:-1]  # after the last newline: "" or a line cut short
    if not body:
        raise ValueError(f"{path}: empty; not a rows file of impact_coverage.py")
    try:
        head = json.loads(body[0])
        theirs = head["setup"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}:1: not a rows file of impact_coverage.py (no setup line)") from None
    for k in ROWS_SETUP_KEYS:
        if theirs.get(k) != setup[k]:
            raise ValueError(
                f"{path}: its {k} is {theirs.get(k)!r}, this run's is {setup[k]!r}: not the same flights"
            )
    flights: dict[int, list[dict[str, Any]]] = {}
    for no, line in enumerate(body[1:], start=2):
        try:
            rec = json.loads(line)
            flights[int(rec["index"])] = list(rec["rows"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ValueError(f"{path}:{no}: not a flight's rows") from None
    if not whole:
        # cut back to the last whole line: the next flight written starts a line of its own
        with path.open("r+", encoding="utf-8") as f:
            f.truncate(len("\n".join(body).encode("utf-8")) + 1)
        print(f"{path}: its last line was cut short; that flight is flown again", file=sys.stderr)
    return flights


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--flights", type=int, default=210, help="number of flights (cycling the classes)")
    ap.add_argument("--quick", action="store_true", help="14 flights (two of each class)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--classes", nargs="*", choices=FLIGHT_CLASSES, help="only these flight classes")
    ap.add_argument("--config", default="{}", help="TrackerConfig overrides as JSON")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--objects", action="store_true", help="also print every object's row")
    ap.add_argument(
        "--no-sensor-bias",
        action="store_true",
        help="radars without registration bias (the same flights otherwise; as before session 6)",
    )
    ap.add_argument(
        "--bias-law",
        choices=BIAS_LAWS,
        default="uniform",
        help="how radar biases are drawn: uniform within the limits (default), or normal of the same sigma",
    )
    ap.add_argument(
        "--rows",
        metavar="FILE",
        help="write each flight's rows to FILE (JSON lines) as soon as it is done; --resume reads them back",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="fly only the flights not already in --rows FILE (its setup must be this run's)",
    )
    ap.add_argument("--only", metavar="LIST", help="only these flights of the run, by index: 4,11,100-104")
    args = ap.parse_args(argv)
    classes = tuple(args.classes) if args.classes else FLIGHT_CLASSES
    n = 2 * len(classes) if args.quick else args.flights
    try:
        overrides = json.loads(args.config)
    except json.JSONDecodeError as e:
        ap.error(f"--config is not JSON: {e}")
    TrackerConfig(**overrides)  # refuse a bad override before any work
    setup: dict[str, Any] = {
        "seed": args.seed,
        "classes": list(classes),
        "config": overrides,
        "sensor_bias": not args.no_sensor_bias,
        "bias_law": args.bias_law,
    }
    try:
        indices = parse_only(args.only, n) if args.only else list(range(n))
    except ValueError as e:
        ap.error(str(e))
    if args.resume and not args.rows:
        ap.error("--resume needs --rows FILE")
    rows_path = Path(args.rows) if args.rows else None
    done_before: dict[int, list[dict[str, Any]]] = {}
    if rows_path is not None and args.resume and rows_path.exists() and rows_path.stat().st_size > 0:
        try:
            done_before = read_rows(rows_path, setup)
        except ValueError as e:
            ap.error(str(e))
    elif rows_path is not None and rows_path.exists() and rows_path.stat().st_size > 0:
        ap.error(f"{rows_path} exists: pass --resume to go on with it, or remove it")
    work = [
        (args.seed, classes[i % len(classes)], i, overrides, not args.no_sensor_bias, args.bias_law)
        for i in indices
        if i not in done_before
    ]
    rows_out = None
    if rows_path is not None:
        rows_out = rows_path.open("a", encoding="utf-8")
        if not done_before:
            rows_out.write(json.dumps({"setup": setup}) + "\n")
            rows_out.flush()
    w0 = time.perf_counter()
    rows: list[dict[str, Any]] = [r for i in indices for r in done_before.get(i, [])]
    done = len(indices) - len(work)
    n = len(indices)
    if done:
        print(f"[{done}/{n}] read back from {rows_path}", file=sys.stderr, flush=True)

    def note(res: list[dict[str, Any]]) -> None:
        nonlocal done
        done += 1
        rows.extend(res)
        if rows_out is not None and res:
            rows_out.write(json.dumps({"index": res[0]["index"], "rows": res}, default=_plain) + "\n")
            rows_out.flush()
        rv = [r for r in res if r["group"] == "rv"]
        cov = [p[1] for r in rv for p in r["preds"]]
        print(
            f"[{done}/{n}] {res[0]['class'] if res else '?'} #{res[0]['index'] if res else '?'}: "
            f"{len(res)} objects, rv coverage {np.mean(cov) if cov else float('nan'):.3f}, "
            f"{time.perf_counter() - w0:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    try:
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as ex:
                for fut in as_completed([ex.submit(run_flight, w) for w in work]):
                    note(fut.result())
        else:
            for w in work:
                note(run_flight(w))
    finally:
        if rows_out is not None:
            rows_out.close()
    rows.sort(key=lambda r: (r["index"], r["object"]))
    table = aggregate(rows)
    rv = [r for r in rows if r["group"] == "rv"]
    result: dict[str, Any] = {
        "rows": table,
        "totals": {
            "flights": n,
            "objects": len(rows),
            "rv_coverage": round(float(np.mean([p[1] for r in rv for p in r["preds"]])), 4)
            if any(r["preds"] for r in rv)
            else None,
            "rv_coverage_per_report": round(float(np.mean([p[1] for r in rv for p in r["preds_report"]])), 4)
            if any(r["preds_report"] for r in rv)
            else None,
            "never_tracked_with_plots": sum(1 for r in rows if r["tracks"] == 0 and r["plots"] >= 5),
            "lost_while_reported": sum(1 for r in rows if r["lost_while_reported_s"] > LOST_AFTER_S),
        },
        "setup": setup
        | ({"only": indices} if args.only else {})
        | {
            "checkpoints_s": list(CHECKPOINTS),
            "clock_s": CLOCK_S,
        },
        "wall_s": round(time.perf_counter() - w0, 1),
    }
    if args.objects:
        # each object's own ellipse coverage and median impact error (a change
        # that breaks one flight shows here, not in the class rows)
        result["objects"] = [
            {k: v for k, v in r.items() if k not in ("preds", "preds_report")} | object_figures(r)
            for r in rows
        ]
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
