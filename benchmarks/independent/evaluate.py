"""Figures from tocsin's outputs against the independent truth, computed here
(not with tocsin's scorer): ellipse coverage, impact errors, breaks, losses,
first ballistic track; per (public, area) warning figures.

Every function takes plain data: the :class:`~independent.cases.Case` (truth
objects with exact states, and which sensor detected what when), and the track
and alert messages as decoded JSON dicts.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import earth
from .cases import Case

Arr = NDArray[np.float64]

#: chi-square 2-dof quantile of a 95 % ellipse
K2_95 = -2.0 * math.log(1.0 - 0.95)
CHECKPOINTS_S = (60.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 2400.0)
COUNTED = ("confirmed", "coasting", "lost")
STALE_S = 5.0


def role_group(role: str) -> str:
    if role in ("rv", "payload"):
        return role
    if role.startswith("stage"):
        return "stage"
    return role


def ellipse_d2(pred_lat: float, pred_lon: float, ell: dict[str, float], lat: float, lon: float) -> float:
    """Squared Mahalanobis distance of the true point from the predicted one, read
    from the 95 % ellipse (semi-axes = sqrt(K2) sigma); the truth is inside the
    ellipse when d2 <= K2_95. East-north plane at the predicted point."""
    p = earth.geodetic_to_ecef(pred_lat, pred_lon, 0.0)
    q = earth.geodetic_to_ecef(lat, lon, 0.0)
    en = earth.enu_basis(pred_lat, pred_lon) @ (q - p)
    e, n = float(en[0]), float(en[1])
    b = math.radians(float(ell["bearing_deg"]))
    u = e * math.sin(b) + n * math.cos(b)  # along the major axis
    v = e * math.cos(b) - n * math.sin(b)
    conf = float(ell.get("confidence", 0.95))
    k2 = -2.0 * math.log(1.0 - conf)
    a, bm = max(float(ell["semi_major_m"]), 1e-3), max(float(ell["semi_minor_m"]), 1e-3)
    return k2 * ((u / a) ** 2 + (v / bm) ** 2)


@dataclass
class Attributed:
    """Track messages, each with the truth object it belongs to (or None)."""

    msgs: list[dict[str, Any]]
    obj: list[str | None]
    dist: list[float]
    gate: list[float] = field(default_factory=list)


def attribute(case: Case, tracks: Sequence[dict[str, Any]]) -> Attributed:
    """Each counted track message goes to the nearest truth object alive at its
    time, if within max(5 km, 3 sigma of its position), at most 50 km."""
    msgs = [m for m in tracks if m["body"].get("status") in COUNTED]
    if not msgs:
        return Attributed([], [], [], [])
    t = np.array([float(m["body"]["t"]) for m in msgs])
    pos = np.array([m["body"]["state_ecef"][:3] for m in msgs], dtype=float)
    sig = np.array(
        [math.sqrt(max(0.0, float(np.trace(np.array(m["body"]["cov"]).reshape(6, 6)[:3, :3])))) for m in msgs]
    )
    gate = np.minimum(np.maximum(5e3, 3.0 * sig), 50e3)
    best = np.full(len(msgs), np.inf)
    who: list[str | None] = [None] * len(msgs)
    for obj in case.objects:
        sel = (t >= obj.t_start) & (t <= obj.t_end)
        if not sel.any():
            continue
        idx = np.nonzero(sel)[0]
        x = obj.states(t[idx])
        d = np.linalg.norm(x[:, :3] - pos[idx], axis=1)
        for j, i in enumerate(idx):
            if d[j] < best[i] and d[j] <= gate[i]:
                best[i] = d[j]
                who[i] = obj.id
    return Attributed(msgs, who, [float(b) for b in best], [float(g) for g in gate])


def tracked_one_to_one(
    grid: Arr,
    msgs: Sequence[tuple[float, str, str, Arr, float]],
    objects: Sequence[tuple[str, float, float, Callable[[Arr], Arr]]],
    stale_s: float = STALE_S,
) -> dict[str, Arr]:
    """Which objects have a track on them at each ``grid`` time, one track to
    one object. ``msgs``: ``(t, status, track id, position (3,), gate m)`` of
    the counted track messages; ``objects``: ``(id, t_start, t_end,
    states(t) -> (n, 6))``. At each grid time every track's latest message
    at most ``stale_s`` old (confirmed or coasting) is compared with every
    object alive then (its state at the message's time) and tracks are
    assigned to objects one to one (the most pairs within the gates, then the
    least total distance: GOSPA's assignment). Nearest-object attribution
    alone, where several tracks may go to one object, calls an object lost
    whenever it flies closer to another than the tracks' errors (pieces of
    one missile after a separation): both tracks go to the other one."""
    from scipy.optimize import linear_sum_assignment

    out = {oid: np.zeros(grid.size, dtype=bool) for oid, *_ in objects}
    counted = sorted((m for m in msgs if m[1] in ("confirmed", "coasting")), key=lambda m: m[0])
    if not counted or not objects:
        return out
    mt = np.array([m[0] for m in counted])
    mpos = np.array([m[3] for m in counted], dtype=float)
    mgate = np.array([m[4] for m in counted])
    # distance of every message from every object (its state at the message's time)
    dist = np.stack(
        [np.linalg.norm(states(np.clip(mt, t0, t1))[:, :3] - mpos, axis=1) for _, t0, t1, states in objects],
        axis=1,
    )
    ok = np.stack([(mt >= t0) & (mt <= t1) for _, t0, t1, _ in objects], axis=1) & (dist <= mgate[:, None])
    by_track: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(counted):
        by_track[m[2]].append(i)
    idx = {tid: np.array(v) for tid, v in by_track.items()}
    big = 1e12
    for gi, g in enumerate(grid):
        cur = []
        for v in idx.values():
            k = int(np.searchsorted(mt[v], g, side="right")) - 1
            if k >= 0 and g - mt[v[k]] <= stale_s:
                cur.append(int(v[k]))
        if not cur:
            continue
        cost = np.where(ok[cur], dist[cur], big)
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] < big:
                out[objects[j][0]][gi] = True
    return out


@dataclass
class FusionFigures:
    predictions: list[dict[str, Any]] = field(default_factory=list)  # one per ellipse prediction
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    false_track_ids: list[str] = field(default_factory=list)


def fusion_figures(case: Case, tracks: Sequence[dict[str, Any]]) -> FusionFigures:
    att = attribute(case, tracks)
    out = FusionFigures()
    objs = {o.id: o for o in case.objects}
    launch_t = min(o.t_start for o in case.objects if o.kind == "ballistic")
    # ellipse predictions
    for m, oid in zip(att.msgs, att.obj, strict=True):
        imp = m["body"].get("impact")
        if oid is None or imp is None:
            continue
        o = objs[oid]
        if o.kind != "ballistic" or o.end_fate is not None:
            continue
        t_imp, lat, lon = o.end_point()
        err = earth.surface_distance_m(float(imp["lat"]), float(imp["lon"]), lat, lon)
        rec: dict[str, Any] = {
            "object": oid,
            "role": role_group(o.role),
            "t": float(m["body"]["t"]),
            "after_launch_s": float(m["body"]["t"]) - launch_t,
            "error_m": err,
            "time_error_s": float(imp["t"]) - t_imp,
            "status": m["body"]["status"],
            "track": m["body"]["id"],
        }
        ell = imp.get("ellipse")
        if ell:
            d2 = ellipse_d2(float(imp["lat"]), float(imp["lon"]), ell, lat, lon)
            rec.update(
                d2=d2,
                inside=d2 <= K2_95,
                semi_major_m=float(ell["semi_major_m"]),
                semi_minor_m=float(ell["semi_minor_m"]),
            )
        out.predictions.append(rec)
    # impact error at checkpoints (warhead / payload only)
    for o in case.objects:
        if o.role not in ("rv",) or o.end_fate is not None:
            continue
        preds = [p for p in out.predictions if p["object"] == o.id]
        for c in CHECKPOINTS_S:
            cur = [p for p in preds if p["after_launch_s"] <= c]
            if o.t_end - launch_t < c:
                continue
            out.checkpoints.append(
                {"object": o.id, "after_s": c, "error_m": cur[-1]["error_m"] if cur else None}
            )
    # per object: tracked, breaks, lost while reported, first ballistic
    seen: dict[str, list[float]] = defaultdict(list)
    for r in case.reports:
        if r.truth is not None and not r.lost:
            seen[r.truth].append(r.t)
    by_obj: dict[str, list[tuple[float, str, str, str]]] = defaultdict(list)
    track_objs: dict[str, set[str]] = defaultdict(set)
    for m, oid in zip(att.msgs, att.obj, strict=True):
        b = m["body"]
        if oid is not None:
            by_obj[oid].append((float(b["t"]), b["status"], b.get("class", "unknown"), b["id"]))
            track_objs[b["id"]].add(oid)
    all_ids = {m["body"]["id"] for m in tracks if m["body"].get("status") in ("confirmed", "coasting")}
    out.false_track_ids = sorted(i for i in all_ids if i not in track_objs)
    # tracked: a track on it, one track to one object (tracked_one_to_one)
    cmsgs = [
        (float(b["t"]), b["status"], b["id"], np.array(b["state_ecef"][:3]), g)
        for b, g in zip((m["body"] for m in att.msgs), att.gate, strict=True)
    ]
    grid_all = np.arange(math.floor(case.t_begin), case.t_end, 1.0)
    on = tracked_one_to_one(grid_all, cmsgs, [(o.id, o.t_start, o.t_end, o.states) for o in case.objects])
    for o in case.objects:
        st = np.array(sorted(seen.get(o.id, [])))
        msgs = sorted(by_obj.get(o.id, []))
        rec = {
            "object": o.id,
            "kind": o.kind,
            "role": role_group(o.role),
            "plots": int(st.size),
            "tracks": sorted({x[3] for x in msgs}),
            "first_ballistic_s": None,
            "breaks": 0,
            "lost_while_reported_s": 0.0,
            "reported_untracked_after_first_s": 0.0,
            "never_tracked": False,
        }
        ok_t = grid_all[on[o.id]]
        if o.kind == "ballistic":
            bal = [x[0] for x in msgs if x[2] == "ballistic"]
            if bal:
                rec["first_ballistic_s"] = bal[0] - o.t_start if o.parent is None else bal[0] - launch_t
        if st.size >= 10 and ok_t.size == 0:
            rec["never_tracked"] = True
        if ok_t.size and st.size:
            sel = (grid_all >= ok_t[0]) & (grid_all < min(o.t_end, case.t_end))
            grid = grid_all[sel]
            # seen(t): a detection in (t - 3, t]; tracked(t): a track's confirmed/coasting report in
            # (t - STALE, t] within its gate, that track assigned to it one to one
            si = np.searchsorted(st, grid, side="right")
            seen_now = (si > 0) & (grid - st[np.maximum(si - 1, 0)] <= 3.0)
            tracked = on[o.id][sel]
            gap = seen_now & ~tracked
            rec["lost_while_reported_s"] = float(gap.sum())
            rec["breaks"] = int(np.sum(tracked[:-1] & ~tracked[1:] & seen_now[1:]))
        out.objects.append(rec)
    return out


# -- warnings -------------------------------------------------------------------

_RESPONSE = re.compile(r"<responseType>([^<]+)</responseType>")


def _closes(body: dict[str, Any]) -> set[str]:
    """Areas a message closes: a Cancel's areas, an all-clear Update's areas, or an
    explicit list the engine gives (optional fields)."""
    areas = set(body.get("areas") or [])
    explicit: set[str] = set()
    for key in ("closes", "closed_areas", "close_areas"):
        v = body.get(key)
        if isinstance(v, (list, dict)):
            explicit |= {str(a) for a in v}
    if explicit:
        return explicit
    if body.get("msg_type") == "Cancel":
        return areas
    resp = set(_RESPONSE.findall(body.get("cap") or ""))
    if resp and resp <= {"AllClear", "None"}:
        return areas
    return set()


@dataclass
class AreaTruth:
    """Areas at risk: code -> (event time, kind) where kind is 'impact' or 'overflight'."""

    risk: dict[str, tuple[float, str]]
    near: dict[str, float]  # code -> distance (km) to the nearest real path / impact (areas warned)


def area_truth(case: Case, registry: Any) -> dict[str, tuple[float, str]]:
    """Every area a warhead's (or payload's, or spent stage's) real ground track
    overflew after boost, or that holds its impact point: code -> (first time, kind).
    Ground track sampled every 2 s (densified to ~5 km steps)."""
    import shapely

    risk: dict[str, tuple[float, str]] = {}
    for o in case.objects:
        if o.kind != "ballistic" or o.role == "debris":
            continue
        t0 = o.epoch + o.burnout
        if o.t_end <= t0:
            continue
        ts = np.arange(t0, o.t_end, 2.0)
        xs = o.states(ts)
        ll = [earth.ecef_to_geodetic(x[:3])[:2] for x in xs]
        pts = [(lon, lat) for lat, lon in ll]
        if len(pts) >= 2:
            for i in range(len(pts) - 1):
                seg = shapely.LineString([pts[i], pts[i + 1]])
                for a in registry.intersecting(seg):
                    if a.code not in risk or risk[a.code][0] > ts[i]:
                        risk[a.code] = (float(ts[i]), "overflight")
        if o.end_fate is None:
            t_e, lat, lon = o.end_point()
            for a in registry.at_point(lat, lon):
                risk[a.code] = (min(t_e, risk.get(a.code, (t_e, ""))[0]), "impact")
    return risk


def warning_figures(case: Case, alerts: Sequence[dict[str, Any]], registry: Any) -> dict[str, Any]:
    risk = area_truth(case, registry)
    launch_t = min(o.t_start for o in case.objects if o.kind == "ballistic")
    threads: dict[tuple[str, str], list[tuple[float, str, bool, dict[str, Any]]]] = defaultdict(list)
    for env in alerts:
        b = env["body"]
        public = env.get("partner", "?")
        closes = _closes(b)
        for a in set(b.get("areas") or []) | closes:
            threads[(public, a)].append((float(b["t"]), b["msg_type"], a in closes, b))
    pairs = []
    for (public, area), msgs in sorted(threads.items()):
        msgs.sort(key=lambda x: x[0])
        first_t, first_type, _, first_b = msgs[0]
        last_close = msgs[-1][2]
        n = len(msgs)
        span_min = max((msgs[-1][0] - first_t) / 60.0, 1.0 / 60.0)
        times = [m[0] for m in msgs]
        storm = max(sum(1 for x in times if t <= x < t + 10.0) for t in times)
        rec: dict[str, Any] = {
            "public": public,
            "area": area,
            "first_type": first_type,
            "first_after_launch_s": first_t - launch_t,
            "messages": n,
            "per_minute": n / span_min if n > 1 else None,
            "max_in_10s": storm,
            "explicit_close": bool(last_close),
            "at_risk": area in risk,
        }
        if area in risk:
            ev_t, kind = risk[area]
            rec["lead_s"] = ev_t - first_t
            rec["event"] = kind
            on = first_b.get("onset")
            rec["announced_minus_true_s"] = (float(on) - ev_t) if on is not None else None
        pairs.append(rec)
    warned = {p["area"] for p in pairs}
    missed = sorted(a for a in risk if a not in warned)
    return {"pairs": pairs, "at_risk": sorted(risk), "missed_at_risk": missed}


def summarise(values: Iterable[float | None]) -> dict[str, Any]:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"n": 0}
    return {
        "n": int(v.size),
        "p50": float(np.percentile(v, 50)),
        "p95": float(np.percentile(v, 95)),
        "max": float(v.max()),
    }
