"""Score tracks against truth: GOSPA, RMSE, continuity, launch and impact errors.

Input is exchange-format messages: ``track`` envelopes (the tracker's output,
:class:`~tocsin.wire.TrackBody`) and ``truth`` envelopes
(:class:`~tocsin.wire.TruthBody`); other kinds are ignored. The maths lives in
:mod:`tocsin.drill.metrics`; this module lines the messages up on a common time
grid and assembles a :class:`ScoreReport` (a msgspec Struct, JSON-serialisable).

Method (see ``docs/scoring.md``):

* Grid: ``t_k = t_first_truth + k * dt`` up to the last truth time.
* Truth position at ``t_k``: cubic Hermite interpolation of the truth states
  (position and velocity) of the object; an object exists from its first to its
  last flight state.
* Track position at ``t_k``: from the track's latest message at or before
  ``t_k``, if no older than ``max_stale_s`` and its status is confirmed,
  coasting or lost, extrapolated ``r + v dt`` (plus ``g dt^2 / 2`` with point-mass
  gravity for tracks classed ballistic). A ``deleted`` message ends the track.
* GOSPA per step on 3-D ECEF positions (cut-off ``c``, order ``p``, alpha 2); its
  optimal assignment (pairs closer than ``c``) is the truth-to-track association
  used for RMSE, breaks, ID switches and false tracks.
* Each track is attributed to the truth object it was assigned to most often;
  launch and impact predictions of a track (from its confirmed, coasting or
  lost reports) are scored against that object.
  Confirmed tracks never assigned to any object are false tracks.
* Lost while reported (when the sensors' plots are given): each plot is
  attributed to the truth object nearest to it (a radar plot's position; a line
  of sight's closest approach) within ``plot_gate_m`` + 4 sigma, clutter to
  none; an object is *reported* at a grid step when one of its plots is at
  most ``reported_window_s`` old, and *lost while reported* at a step after it
  was first tracked where it is reported but no track is assigned to it.
  Per object: seconds lost while reported, the longest such stretch and the
  ids of the tracks that carried it (``tracks``).
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from tocsin.drill.metrics import (
    ellipse_contains,
    gospa_from_distances,
    hermite_positions,
    label_continuity,
    rmse,
)
from tocsin.errors import InputError
from tocsin.geo import GM, ecef_to_enu, ecef_to_geodetic, enu_matrix, geodetic_to_ecef, great_circle_distance
from tocsin.wire import Envelope, PlotBody, ReadStats, SensorBody, TrackBody, TruthBody, iter_jsonl

F64 = npt.NDArray[np.float64]

COUNTED_STATUSES = ("confirmed", "coasting", "lost")


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    """How to score. Distances in metres, times in seconds."""

    c: float = 10_000.0
    """GOSPA cut-off distance (m): the largest error still counted as localisation."""
    p: float = 2.0
    """GOSPA order."""
    dt: float = 1.0
    """Grid step (s)."""
    max_stale_s: float = 5.0
    """A track whose latest report is older than this at a grid time is absent."""
    checkpoints_s: tuple[float, ...] = (60.0, 120.0, 180.0, 300.0)
    """Times after launch at which the impact prediction is scored."""
    series_step_s: float = 10.0
    """Bin width of the impact-error-against-time-since-launch series."""
    statuses: tuple[str, ...] = COUNTED_STATUSES
    """Track statuses that count as reported tracks."""
    plot_gate_m: float = 3_000.0
    """A plot belongs to the truth object nearest to it within this (plus 4
    sigma of the plot) or to none (clutter)."""
    reported_window_s: float = 3.0
    """An object is reported at a grid step when one of its plots is at most this old."""
    lost_run_min_s: float = 5.0
    """An object counts in ``objects_lost_while_reported`` when it was lost
    while reported for at least this long in a row."""

    def __post_init__(self) -> None:
        if not (self.c > 0 and math.isfinite(self.c)):
            raise ValueError("c must be a positive number")
        if not (self.p >= 1 and math.isfinite(self.p)):
            raise ValueError("p must be >= 1")
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError("dt must be positive")
        if not self.max_stale_s >= 0:
            raise ValueError("max_stale_s must be >= 0")
        if not self.series_step_s > 0:
            raise ValueError("series_step_s must be positive")


class ErrorStat(msgspec.Struct, frozen=True):
    """Summary of a set of errors (m or s); None when the set is empty."""

    n: int
    mean: float | None = None
    median: float | None = None
    max: float | None = None


class ImpactAt(msgspec.Struct, frozen=True):
    """Impact-point error (m) and impact-time error (s, absolute) of the
    prediction current at ``after_s`` seconds after launch, over ballistic objects
    (``n`` of them had a prediction by then)."""

    after_s: float
    point_m: ErrorStat
    time_s: ErrorStat


class Series(msgspec.Struct, frozen=True):
    """Per grid step values. GOSPA components are in m^p (Stone Soup's
    convention); ``gospa`` is the distance in m; ``rmse_m`` is over the pairs
    assigned at that step (None when there are none)."""

    t: list[float]
    gospa: list[float]
    localisation: list[float]
    missed: list[float]
    false: list[float]
    n_truth: list[int]
    n_tracks: list[int]
    rmse_m: list[float | None]


class ObjectScore(msgspec.Struct, frozen=True):
    object: str
    class_: str = msgspec.field(name="class")
    steps: int = 0
    tracked_fraction: float | None = None
    breaks: int = 0
    id_switches: int = 0
    tracks: list[str] = []
    rmse_m: float | None = None
    launch_error_m: float | None = None
    launch_time_error_s: float | None = None
    impact_error_m_at: list[float | None] = []
    """Impact-point error at each of the config's checkpoints (None: no prediction)."""
    final_impact_error_m: float | None = None
    ellipse_predictions: int = 0
    ellipse_inside: int = 0
    role: str | None = None
    """From the truth: ``rv``, ``stage-N``, ``debris``, ``payload`` (None: not given)."""
    parent: str | None = None
    """The object it separated from (its checkpoints count from that one's launch)."""
    beta_kg_m2: float | None = None
    launch_t: float | None = None
    """When the flight it belongs to was launched (its first truth time, or its root's)."""
    first_ballistic_s: float | None = None
    """Seconds after ``launch_t`` of the first confirmed/coasting/lost report
    classed ballistic of a track attributed to it (None: never)."""
    plots: int | None = None
    """Sensor plots attributed to it (None: plots not given)."""
    lost_while_reported_s: float | None = None
    """Seconds, after it was first tracked, at which a plot of it was at most
    ``reported_window_s`` old but no track was on it (None: plots not given)."""
    lost_while_reported_run_s: float | None = None
    """The longest such stretch, s."""


class ScoreReport(msgspec.Struct, frozen=True):
    """Everything :func:`score` measured; ``msgspec.json.encode`` gives the JSON."""

    c: float
    p: float
    dt: float
    steps: int
    truth_objects: int
    tracks_reported: int
    gospa_mean: float | None
    localisation_mean: float | None
    missed_mean: float | None
    false_mean: float | None
    rmse_m: float | None
    track_breaks: int
    id_switches: int
    false_tracks: int
    false_track_ids: list[str]
    launch_error_m: ErrorStat
    impact_at: list[ImpactAt]
    impact_series: list[ImpactAt]
    """Mean errors of all predictions made in each bin of time since launch
    (``after_s`` is the bin's start)."""
    ellipse_predictions: int
    ellipse_inside: int
    ellipse_coverage: float | None
    objects: list[ObjectScore]
    series: Series
    lost_while_reported_s: float | None = None
    """Sum over objects of :attr:`ObjectScore.lost_while_reported_s` (None: plots not given)."""
    objects_lost_while_reported: int | None = None
    """Objects lost while reported for ``lost_run_min_s`` or longer in a row."""


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _stat(values: Sequence[float] | F64) -> ErrorStat:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return ErrorStat(n=0)
    return ErrorStat(n=int(v.size), mean=float(v.mean()), median=float(np.median(v)), max=float(v.max()))


@dataclass
class _Truth:
    name: str
    cls: str
    t: list[float] = field(default_factory=list)
    x: list[list[float]] = field(default_factory=list)
    impact: TruthBody | None = None
    role: str | None = None
    parent: str | None = None
    beta: float | None = None


@dataclass
class _Track:
    name: str
    msgs: list[TrackBody] = field(default_factory=list)


def _collect(
    tracks: Iterable[Envelope], truth: Iterable[Envelope]
) -> tuple[dict[str, _Truth], dict[str, _Track]]:
    objs: dict[str, _Truth] = {}
    for env in truth:
        if env.kind != "truth" or not isinstance(env.body, TruthBody):
            continue
        b = env.body
        o = objs.setdefault(b.object, _Truth(b.object, b.class_))
        if b.role is not None:
            o.role = b.role
        if b.parent is not None:
            o.parent = b.parent
        if b.beta_kg_m2 is not None:
            o.beta = b.beta_kg_m2
        if b.phase == "impact":
            o.impact = b
        elif b.state_ecef is not None:
            o.t.append(b.t)
            o.x.append(list(b.state_ecef))
    trk: dict[str, _Track] = {}
    for env in tracks:
        if env.kind != "track" or not isinstance(env.body, TrackBody):
            continue
        trk.setdefault(env.body.id, _Track(env.body.id)).msgs.append(env.body)
    for tr in trk.values():
        tr.msgs.sort(key=lambda m: m.t)
    return objs, trk


def _root(o: _Truth, objs: dict[str, _Truth]) -> _Truth:
    """The object ``o`` separated from, and so on up: the launched vehicle (a
    stage's or a re-entry vehicle's launch point and checkpoints are its
    launch's, not its separation's)."""
    seen = {o.name}
    while o.parent is not None and o.parent in objs and o.parent not in seen and objs[o.parent].t:
        o = objs[o.parent]
        seen.add(o.name)
    return o


def _track_positions(tr: _Track, grid: F64, cfg: ScoreConfig) -> F64:
    """(T, 3) positions of one track on the grid, NaN where not reported."""
    out = np.full((grid.size, 3), np.nan)
    if not tr.msgs:
        return out
    ts = np.array([m.t for m in tr.msgs])
    idx = np.searchsorted(ts, grid, side="right") - 1
    ok = idx >= 0
    if not ok.any():
        return out
    counted = np.array([m.status in cfg.statuses for m in tr.msgs])
    ballistic = np.array([m.class_ == "ballistic" for m in tr.msgs])
    states = np.array([m.state_ecef for m in tr.msgs], dtype=np.float64)
    ii = idx[ok]
    age = grid[ok] - ts[ii]
    good = counted[ii] & (age <= cfg.max_stale_s)
    r = states[ii, :3]
    v = states[ii, 3:]
    rn = np.linalg.norm(r, axis=1, keepdims=True)
    grav = np.where(ballistic[ii][:, None], -GM * r / np.maximum(rn, 1.0) ** 3, 0.0)
    pos = r + v * age[:, None] + 0.5 * grav * (age * age)[:, None]
    pos[~good] = np.nan
    out[ok] = pos
    return out


def _plot_positions(plots: Iterable[Envelope]) -> tuple[F64, F64, F64, F64, F64]:
    """Every plot as ``(t, kind, a, b, lim)``: radar plots (kind 0) with their
    ECEF position ``a`` and position sigma (m) ``lim``; lines of sight (kind 1)
    with the observer ``a``, the unit line ``b`` and the angular sigma (rad)
    ``lim``. Plots whose site is unknown are left out."""
    sensors: dict[str, SensorBody] = {}
    rows: list[tuple[float, int, list[float], list[float], float]] = []
    sites: dict[tuple[float, float, float], tuple[F64, F64]] = {}
    for env in plots:
        b = env.body
        if isinstance(b, SensorBody):
            sensors[b.id] = b
            continue
        if not isinstance(b, PlotBody):
            continue
        sd = sensors.get(b.sensor)
        if b.is_radar:
            if b.platform is not None:
                lat, lon, alt = b.platform.lat, b.platform.lon, b.platform.alt_m
            elif sd is not None and sd.lat is not None and sd.lon is not None:
                lat, lon, alt = sd.lat, sd.lon, sd.alt_m or 0.0
            else:
                continue
            key = (lat, lon, alt)
            if key not in sites:
                sites[key] = (np.asarray(geodetic_to_ecef(lat, lon, alt)), np.asarray(enu_matrix(lat, lon)))
            site, rot = sites[key]
            assert b.range_m is not None
            assert b.az_deg is not None
            assert b.el_deg is not None
            az, el = math.radians(b.az_deg), math.radians(b.el_deg)
            enu = b.range_m * np.array(
                [math.cos(el) * math.sin(az), math.cos(el) * math.cos(az), math.sin(el)]
            )
            sr = b.sigma_range_m or (sd.sigma_range_m if sd is not None else None) or 50.0
            sa = math.radians(b.sigma_az_deg or (sd.sigma_az_deg if sd is not None else None) or 0.1)
            rows.append((b.t, 0, (site + rot.T @ enu).tolist(), [0.0, 0.0, 0.0], sr + sa * b.range_m))
        elif b.observer_ecef is not None and b.los_ecef is not None:
            sg = b.sigma_los_rad or (sd.sigma_los_rad if sd is not None else None) or 5e-5
            rows.append((b.t, 1, list(b.observer_ecef), list(b.los_ecef), sg))
    if not rows:
        z = np.zeros(0)
        return z, z, np.zeros((0, 3)), np.zeros((0, 3)), z
    return (
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        np.array([r[4] for r in rows]),
    )


def attribute_plots(
    plots: Iterable[Envelope], truth_t: list[F64], truth_x: list[F64], gate_m: float
) -> list[F64]:
    """Measurement times of the plots of each truth object (``truth_t[k]``,
    ``truth_x[k]``: its sorted states): a plot belongs to the object nearest
    to it at the plot's time (a radar plot's position; a line of sight's
    closest approach, ahead of the observer) within ``gate_m`` + 4 sigma, or
    to none (clutter, or a plot of something the truth does not hold)."""
    t, kind, a, b, sig = _plot_positions(plots)
    n_obj = len(truth_t)
    out: list[list[float]] = [[] for _ in range(n_obj)]
    if t.size == 0 or n_obj == 0:
        return [np.zeros(0) for _ in range(n_obj)]
    radar = kind == 0
    for lo in range(0, t.size, 20_000):
        sl = slice(lo, lo + 20_000)
        tq = t[sl]
        best = np.full(tq.size, np.inf)
        who = np.full(tq.size, -1, dtype=np.int64)
        for k in range(n_obj):
            pos = hermite_positions(truth_t[k], truth_x[k], tq)
            rel = pos - a[sl]
            along = np.einsum("ij,ij->i", rel, b[sl])
            perp = rel - along[:, None] * b[sl]
            d = np.where(radar[sl], np.linalg.norm(rel, axis=1), np.linalg.norm(perp, axis=1))
            lim = gate_m + 4.0 * np.where(radar[sl], sig[sl], sig[sl] * np.abs(along))
            ok = np.isfinite(d) & (d <= lim) & (radar[sl] | (along > 0.0)) & (d < best)
            best[ok] = d[ok]
            who[ok] = k
        for i in np.flatnonzero(who >= 0).tolist():
            out[int(who[i])].append(float(tq[i]))
    return [np.sort(np.asarray(v, dtype=np.float64)) for v in out]


def _lost_while_reported(
    plot_t: F64, grid: F64, tracked: npt.NDArray[np.bool_], window: float
) -> tuple[float, float]:
    """Seconds (grid steps x dt) at which the object was reported (a plot at
    most ``window`` old) but not ``tracked``, after its first tracked step;
    and the longest such stretch."""
    if plot_t.size == 0 or not tracked.any() or grid.size < 2:
        return 0.0, 0.0
    dt = float(grid[1] - grid[0])
    i = np.searchsorted(plot_t, grid, side="right") - 1
    reported = (i >= 0) & (grid - plot_t[np.maximum(i, 0)] <= window)
    after = np.arange(grid.size) >= int(np.argmax(tracked))
    lost = reported & ~tracked & after
    run = worst = 0
    for v in lost.tolist():
        run = run + 1 if v else 0
        worst = max(worst, run)
    return float(np.count_nonzero(lost)) * dt, worst * dt


def score(
    tracks: Iterable[Envelope],
    truth: Iterable[Envelope],
    config: ScoreConfig | None = None,
    plots: Iterable[Envelope] | None = None,
) -> ScoreReport:
    """Score track messages against truth messages (see the module docstring);
    with ``plots`` (the sensors' ``sensor`` and ``plot`` messages) also the
    seconds each object was lost while reported."""
    cfg = config if config is not None else ScoreConfig()
    objs_d, trk_d = _collect(tracks, truth)
    objs = [o for o in sorted(objs_d.values(), key=lambda o: o.name) if o.t]
    trks = sorted(trk_d.values(), key=lambda t: t.name)

    # --- grid and positions -------------------------------------------------------
    if objs:
        t0 = min(min(o.t) for o in objs)
        t1 = max(max(o.t) for o in objs)
        n_steps = math.floor((t1 - t0) / cfg.dt + 1e-9) + 1
        grid: F64 = t0 + cfg.dt * np.arange(n_steps, dtype=np.float64)
    else:
        grid = np.zeros(0)
    T = grid.size
    truth_pos = np.full((len(objs), T, 3), np.nan)
    truth_t: list[F64] = []
    truth_x: list[F64] = []
    for k, o in enumerate(objs):
        order = np.argsort(np.asarray(o.t), kind="stable")
        ts = np.asarray(o.t)[order]
        xs = np.asarray(o.x, dtype=np.float64)[order]
        keep = np.concatenate(([True], np.diff(ts) > 0))
        truth_t.append(ts[keep])
        truth_x.append(xs[keep])
        truth_pos[k] = hermite_positions(ts[keep], xs[keep], grid)
    plot_t = None if plots is None else attribute_plots(plots, truth_t, truth_x, cfg.plot_gate_m)
    track_pos = np.full((len(trks), T, 3), np.nan)
    for j, tr in enumerate(trks):
        track_pos[j] = _track_positions(tr, grid, cfg)
    truth_ex = np.isfinite(truth_pos[..., 0])
    track_ex = np.isfinite(track_pos[..., 0])

    # --- GOSPA per step -----------------------------------------------------------
    labels = np.full((len(objs), T), -1, dtype=np.int64)
    pair_err = np.full((len(objs), T), np.nan)
    g_d, g_l, g_m, g_f, s_rmse = (np.zeros(T) for _ in range(5))
    n_truth = truth_ex.sum(axis=0).astype(int)
    n_tracks = track_ex.sum(axis=0).astype(int)
    for k in range(T):
        yi = np.flatnonzero(truth_ex[:, k])
        xj = np.flatnonzero(track_ex[:, k])
        diff = truth_pos[yi, k][:, None, :] - track_pos[xj, k][None, :, :]
        dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        res = gospa_from_distances(dist, cfg.c, cfg.p)
        g_d[k], g_l[k], g_m[k], g_f[k] = res.distance, res.localisation, res.missed, res.false
        hit = res.assign >= 0
        labels[yi[hit], k] = xj[res.assign[hit]]
        pair_err[yi[hit], k] = res.pair_dist[hit]
        s_rmse[k] = rmse(res.pair_dist)

    # --- attribution of tracks to objects -----------------------------------------
    owner: dict[int, int] = {}
    for j in range(len(trks)):
        cnt = Counter(int(i) for i in np.nonzero(labels == j)[0])
        if cnt:
            owner[j] = max(cnt.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    reported = [j for j in range(len(trks)) if track_ex[j].any()]
    false_ids = [trks[j].name for j in reported if j not in owner]

    # --- per object ---------------------------------------------------------------
    cps = np.asarray(cfg.checkpoints_s, dtype=np.float64)
    cp_point: list[list[float]] = [[] for _ in cps]
    cp_time: list[list[float]] = [[] for _ in cps]
    ser_since: list[float] = []
    ser_point: list[float] = []
    ser_time: list[float] = []
    launch_errs: list[float] = []
    ell_n = ell_in = 0
    tot_breaks = tot_sw = 0
    tot_lost = 0.0
    n_lost = 0
    objects: list[ObjectScore] = []
    for k, o in enumerate(objs):
        lc = label_continuity(labels[k], truth_ex[k])
        n_plots = lost_s = lost_run = None
        if plot_t is not None:
            n_plots = int(plot_t[k].size)
            lost_s, lost_run = _lost_while_reported(plot_t[k], grid, labels[k] >= 0, cfg.reported_window_s)
            tot_lost += lost_s
            n_lost += lost_run >= cfg.lost_run_min_s
        tot_breaks += lc.breaks
        tot_sw += lc.id_switches
        mine = [j for j, own in owner.items() if own == k]
        # launch and impact predictions count from confirmed/coasting reports only
        msgs = sorted((m for j in mine for m in trks[j].msgs if m.status in cfg.statuses), key=lambda m: m.t)
        root = _root(o, objs_d)
        launch_t = float(min(root.t))
        first_bal = next((m.t - launch_t for m in msgs if m.class_ == "ballistic"), None)
        l_err = l_terr = None
        imp_at: list[float | None] = [None] * cps.size
        final_imp = None
        o_ell_n = o_ell_in = 0
        if o.cls == "ballistic":
            first = np.asarray(root.x[int(np.argmin(root.t))][:3])
            lat0, lon0, _ = ecef_to_geodetic(first)
            with_launch = [m for m in msgs if m.launch is not None]
            if with_launch:
                la = with_launch[-1].launch
                assert la is not None
                l_err = float(great_circle_distance(la.lat, la.lon, lat0, lon0))
                l_terr = float(la.t - launch_t)
                launch_errs.append(l_err)
            preds = [m for m in msgs if m.impact is not None]
            if preds and o.impact is not None and o.impact.lat is not None and o.impact.lon is not None:
                ilat, ilon, it = o.impact.lat, o.impact.lon, o.impact.t
                pt = np.array([m.t for m in preds])
                plat = np.array([m.impact.lat for m in preds if m.impact is not None])
                plon = np.array([m.impact.lon for m in preds if m.impact is not None])
                ptim = np.array([m.impact.t for m in preds if m.impact is not None])
                perr = great_circle_distance(plat, plon, ilat, ilon)
                terr = np.abs(ptim - it)
                since = pt - launch_t
                ser_since.extend(since.tolist())
                ser_point.extend(perr.tolist())
                ser_time.extend(terr.tolist())
                idx = np.searchsorted(since, cps, side="right") - 1
                for c_i, i in enumerate(idx):
                    if i >= 0:
                        imp_at[c_i] = float(perr[i])
                        cp_point[c_i].append(float(perr[i]))
                        cp_time[c_i].append(float(terr[i]))
                final_imp = float(perr[-1])
                # ellipse coverage: true impact in the local ENU plane at each prediction
                ell = [(m.impact, i) for i, m in enumerate(preds) if m.impact and m.impact.ellipse]
                if ell:
                    ii = np.array([i for _, i in ell])
                    true_ecef = geodetic_to_ecef(ilat, ilon, 0.0)
                    enu = ecef_to_enu(true_ecef, plat[ii], plon[ii], 0.0)
                    el = [imp.ellipse for imp, _ in ell if imp.ellipse is not None]
                    inside = ellipse_contains(
                        enu[:, 0],
                        enu[:, 1],
                        [e.semi_major_m for e in el],
                        [e.semi_minor_m for e in el],
                        [e.bearing_deg for e in el],
                    )
                    o_ell_n, o_ell_in = int(inside.size), int(np.count_nonzero(inside))
                    ell_n += o_ell_n
                    ell_in += o_ell_in
        objects.append(
            ObjectScore(
                object=o.name,
                class_=o.cls,
                steps=int(truth_ex[k].sum()),
                tracked_fraction=_num(lc.tracked_fraction),
                breaks=lc.breaks,
                id_switches=lc.id_switches,
                tracks=[trks[j].name for j in sorted(mine)],
                rmse_m=_num(rmse(pair_err[k])),
                launch_error_m=l_err,
                launch_time_error_s=l_terr,
                impact_error_m_at=imp_at,
                final_impact_error_m=final_imp,
                ellipse_predictions=o_ell_n,
                ellipse_inside=o_ell_in,
                role=o.role,
                parent=o.parent,
                beta_kg_m2=o.beta,
                launch_t=launch_t,
                first_ballistic_s=first_bal,
                plots=n_plots,
                lost_while_reported_s=lost_s,
                lost_while_reported_run_s=lost_run,
            )
        )

    impact_at = [
        ImpactAt(after_s=float(c), point_m=_stat(cp_point[i]), time_s=_stat(cp_time[i]))
        for i, c in enumerate(cps)
    ]
    impact_series: list[ImpactAt] = []
    if ser_since:
        s = np.asarray(ser_since)
        sp, st = np.asarray(ser_point), np.asarray(ser_time)
        b = np.floor(s / cfg.series_step_s).astype(np.int64)
        for bi in np.unique(b):
            sel = b == bi
            impact_series.append(
                ImpactAt(after_s=float(bi * cfg.series_step_s), point_m=_stat(sp[sel]), time_s=_stat(st[sel]))
            )

    def mean_or_none(a: F64) -> float | None:
        return float(a.mean()) if a.size else None

    return ScoreReport(
        c=cfg.c,
        p=cfg.p,
        dt=cfg.dt,
        steps=T,
        truth_objects=len(objs),
        tracks_reported=len(reported),
        gospa_mean=mean_or_none(g_d),
        localisation_mean=mean_or_none(g_l),
        missed_mean=mean_or_none(g_m),
        false_mean=mean_or_none(g_f),
        rmse_m=_num(rmse(pair_err.ravel())),
        track_breaks=tot_breaks,
        id_switches=tot_sw,
        false_tracks=len(false_ids),
        false_track_ids=false_ids,
        launch_error_m=_stat(launch_errs),
        impact_at=impact_at,
        impact_series=impact_series,
        ellipse_predictions=ell_n,
        ellipse_inside=ell_in,
        ellipse_coverage=(ell_in / ell_n) if ell_n else None,
        objects=objects,
        series=Series(
            t=grid.tolist(),
            gospa=g_d.tolist(),
            localisation=g_l.tolist(),
            missed=g_m.tolist(),
            false=g_f.tolist(),
            n_truth=n_truth.tolist(),
            n_tracks=n_tracks.tolist(),
            rmse_m=[_num(x) for x in s_rmse],
        ),
        lost_while_reported_s=None if plot_t is None else tot_lost,
        objects_lost_while_reported=None if plot_t is None else n_lost,
    )


def _read(path: str | Path, want: str) -> list[Envelope]:
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=str(path))
    stats = ReadStats()
    try:
        envs = list(iter_jsonl(p, stats=stats))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    if stats.errors:
        raise stats.errors[0]
    if not any(e.kind == want for e in envs) and want == "truth":
        raise InputError("no truth messages in this file", file=str(path), field="$.kind")
    return envs


def score_files(
    tracks_path: str | Path,
    truth_path: str | Path,
    config: ScoreConfig | None = None,
    plots_path: str | Path | None = None,
) -> ScoreReport:
    """Read two exchange-format JSON Lines files and score them (with a third,
    the sensors' plots, also the seconds each object was lost while reported).

    Raises :class:`~tocsin.errors.InputError` naming the file, line and field of
    the first bad line, or the file when it is missing or holds no truth.
    """
    plots = None if plots_path is None else _read(plots_path, "plot")
    return score(_read(tracks_path, "track"), _read(truth_path, "truth"), config, plots)


def to_json(report: ScoreReport) -> bytes:
    """The report as indented JSON (UTF-8)."""
    return msgspec.json.format(msgspec.json.encode(report), indent=2)


def headline_figures(report: ScoreReport) -> dict[str, float | None]:
    """The few tracking figures an after-action report leads with (None when not
    measurable): mean GOSPA (m), position RMSE (m), false tracks, ID switches,
    track breaks, mean launch-point error (m), mean impact-point error (m) at each
    checkpoint (``impact_error_m_at_<s>s``) and the 95 % ellipse coverage."""
    out: dict[str, float | None] = {
        "gospa_mean_m": report.gospa_mean,
        "rmse_m": report.rmse_m,
        "false_tracks": float(report.false_tracks),
        "id_switches": float(report.id_switches),
        "track_breaks": float(report.track_breaks),
        "launch_error_m": report.launch_error_m.mean,
    }
    for a in report.impact_at:
        out[f"impact_error_m_at_{a.after_s:g}s"] = a.point_m.mean
    out["ellipse_coverage"] = report.ellipse_coverage
    if report.lost_while_reported_s is not None:
        out["lost_while_reported_s"] = report.lost_while_reported_s
        out["objects_lost_while_reported"] = float(report.objects_lost_while_reported or 0)
    return out


def _f(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def format_table(report: ScoreReport, width: int = 100) -> str:
    """A readable summary of a report (rich tables rendered to text)."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None)

    summ = Table(title="Tracking score", show_header=False)
    summ.add_column("metric")
    summ.add_column("value", justify="right")
    rows = [
        ("grid steps (dt s)", f"{report.steps} ({report.dt:g})"),
        ("truth objects / tracks reported", f"{report.truth_objects} / {report.tracks_reported}"),
        (f"GOSPA mean, m (c={report.c:g}, p={report.p:g})", _f(report.gospa_mean, "{:,.1f}")),
        (
            "  localisation / missed / false, mean m^p",
            " / ".join(
                _f(x, "{:.3g}") for x in (report.localisation_mean, report.missed_mean, report.false_mean)
            ),
        ),
        ("position RMSE, m", _f(report.rmse_m, "{:,.1f}")),
        ("track breaks", str(report.track_breaks)),
        (
            "lost while reported, s (objects)",
            "-"
            if report.lost_while_reported_s is None
            else f"{report.lost_while_reported_s:,.0f} ({report.objects_lost_while_reported})",
        ),
        ("ID switches", str(report.id_switches)),
        ("false tracks", str(report.false_tracks)),
        (
            "launch-point error mean (max), m",
            (
                f"{_f(report.launch_error_m.mean)} ({_f(report.launch_error_m.max)})"
                if report.launch_error_m.n
                else "-"
            ),
        ),
        (
            "95 % ellipse coverage",
            (
                f"{report.ellipse_coverage:.1%} ({report.ellipse_inside}/{report.ellipse_predictions})"
                if report.ellipse_coverage is not None
                else "-"
            ),
        ),
    ]
    for r in rows:
        summ.add_row(*r)
    con.print(summ)

    if any(a.point_m.n for a in report.impact_at):
        imp = Table(title="Impact prediction after launch")
        for col in ("after launch, s", "objects", "point error mean, m", "max, m", "time error mean, s"):
            imp.add_column(col, justify="right")
        for a in report.impact_at:
            imp.add_row(
                f"{a.after_s:g}",
                str(a.point_m.n),
                _f(a.point_m.mean),
                _f(a.point_m.max),
                _f(a.time_s.mean, "{:.1f}"),
            )
        con.print(imp)

    if report.objects:
        obj = Table(title="Per object")
        for col in (
            "object",
            "class",
            "tracked",
            "tracks",
            "breaks",
            "lost s",
            "switches",
            "RMSE, m",
            "launch err, m",
            "final impact err, m",
            "ellipse in",
        ):
            text = col in ("object", "class")
            obj.add_column(col, justify="left" if text else "right", no_wrap=text)
        for o in report.objects:
            obj.add_row(
                o.object,
                o.class_,
                _f(o.tracked_fraction, "{:.0%}"),
                str(len(o.tracks)),
                str(o.breaks),
                _f(o.lost_while_reported_s),
                str(o.id_switches),
                _f(o.rmse_m, "{:,.1f}"),
                _f(o.launch_error_m),
                _f(o.final_impact_error_m),
                f"{o.ellipse_inside}/{o.ellipse_predictions}" if o.ellipse_predictions else "-",
            )
        # as wide as it needs (never "ballis…"), up to a bound: long names widen it
        wide = Console(file=buf, width=max(width, 160), force_terminal=False, color_system=None)
        wide.print(obj)
    return buf.getvalue()


__all__ = [
    "ErrorStat",
    "ImpactAt",
    "ObjectScore",
    "ScoreConfig",
    "ScoreReport",
    "Series",
    "format_table",
    "headline_figures",
    "score",
    "score_files",
    "to_json",
]
