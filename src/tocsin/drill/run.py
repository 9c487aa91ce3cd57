"""One drill, end to end: simulate -> exchange -> fusion -> warning -> score -> report.

:func:`run_drill` runs a scenario through the same :class:`tocsin.runtime.Pipeline`
that ``tocsin serve`` uses (ingress checks, hash-chained journal, the default
stages), driven by the simulated arrival times instead of a wall clock, so a
drill proves the code that runs live. The warning stage runs in exercise mode:
every alert a drill produces carries ``status = Exercise``.

Delivery: the simulated messages and each partner node's heartbeats are
signed with deterministic drill keys and run through the scenario's cyber
injects (:func:`tocsin.drill.injects.deliver`); the exchange checks them against
the drill's partner registry exactly as a live node checks its partners.

What lands in the output directory:

``plots.jsonl``
    every message as delivered to the exchange (sensor descriptors and plots);
``truth.jsonl``
    simulated ground truth;
``journal.db``
    the run's journal (``tocsin journal verify``, ``tocsin replay``);
``tracks.jsonl``, ``alerts.jsonl``, ``cap/<id>.xml``
    the exchange's outputs;
``feed.xml``
    the CAP feed as a consumer would see it at the end of the drill: the Atom
    index of the warnings still in force, linking to ``cap/<id>.xml``
    (:mod:`tocsin.web.feed`; ``tocsin serve`` publishes the same at
    ``/feed/cap.atom``);
``score.json``
    tracking score (:mod:`tocsin.drill.score`) and warning score
    (:mod:`tocsin.drill.warnscore`);
``summary.json``
    headline figures, each threshold of the scenario with pass/fail, ingress
    rejections by reason;
``report.html``
    the after-action report (self-contained, opens offline).

Alert identifiers carry the drill's *instance*, ``drill-<8 hex>`` from a hash
of the scenario (:func:`drill_instance`): two scenarios never share one, and a
drill re-run gives the same ones (byte-identical outputs).

The clock: messages are fed in arrival order in one batch per ``tick_s`` of
simulated time; after each batch every stage is advanced to the batch's end
(``Pipeline.tick``), so time-driven behaviour (coasting, alert expiry, the
all-clear) happens at the same simulated moments in every run. After the
scenario's end the clock runs on (at most ``TAIL_S``) until every warning is
closed: a drill shows each area's story to its end.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from tocsin.drill.injects import Delivery, DrillStream, attacks_accepted, deliver, tally
from tocsin.drill.report import (
    AreaRow,
    Headline,
    MapArea,
    MapEllipse,
    MapPath,
    MapPoint,
    ReportData,
    TimelineEvent,
    fmt_offset,
    render_report,
)
from tocsin.drill.scenario import LinkDelay, LinkOutage, RadarSensorSpec, Scenario
from tocsin.drill.score import ScoreReport, headline_figures, score
from tocsin.drill.simulate import SimulationResult, simulate
from tocsin.drill.warnscore import (
    AreaShape,
    GroundTrack,
    WarningScore,
    areas_at_risk,
    distance_from_paths_km,
    score_warnings,
)
from tocsin.exchange.consistency import find_consistency
from tocsin.exchange.ingress import Ingress
from tocsin.exchange.links import LinkMonitor
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry
from tocsin.geo import ecef_to_geodetic, enu_to_ecef
from tocsin.journal.store import Journal
from tocsin.runtime import Pipeline, Raw, default_stages, note_start
from tocsin.stage import Stage
from tocsin.wire import Envelope, make, write_jsonl
from tocsin.wire.messages import AlertBody, HeartbeatBody, TrackBody, TruthBody

ProgressFn = Callable[[str], None]

#: the exchange's clock-skew limit in a drill (as ``tocsin serve``'s default)
MAX_SKEW_S = 30.0

#: figures whose threshold compares a count of rejected messages, by ingress reason
REJECT_FIGURES = {
    "rejected_signature": ("bad_signature", "missing_signature"),
    "rejected_replay": ("duplicate", "stale"),
    "rejected_partner": ("unknown_partner", "foreign_source", "kind_not_allowed"),
    "rejected_clock": ("clock_skew",),
    "rejected_schema": ("schema", "unknown_kind"),
}


@dataclass(frozen=True)
class Check:
    """One threshold of the scenario against the measured figure."""

    metric: str
    value: float | None
    min: float | None
    max: float | None

    @property
    def passed(self) -> bool:
        if self.value is None or not math.isfinite(self.value):
            return False
        if self.min is not None and self.value < self.min:
            return False
        return not (self.max is not None and self.value > self.max)

    def bar(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min:g} .. {self.max:g}"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"


@dataclass
class DrillOutcome:
    """What a drill measured and where it wrote it."""

    name: str
    out: Path
    figures: dict[str, float | None]
    checks: list[Check]
    rejected: dict[str, int]
    tracking: ScoreReport
    warning: WarningScore
    report_path: Path
    messages: int = 0
    tracks: int = 0
    alerts: int = 0
    stage_errors: int = 0
    injects: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per origin (``genuine`` or an inject type): delivered, accepted, refused by reason."""
    notes: list[str] = field(default_factory=list)
    held: list[dict[str, object]] = field(default_factory=list)
    """Tracks the cross-partner consistency check held back: one sensor only,
    while others that should have seen them did not (``track``, ``t``,
    ``contributor``, ``expected``, ``alerted``: whether any alert named it)."""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "passed": self.passed,
            "figures": self.figures,
            "checks": [
                {"metric": c.metric, "value": c.value, "min": c.min, "max": c.max, "passed": c.passed}
                for c in self.checks
            ],
            "rejected": self.rejected,
            "injects": self.injects,
            "messages": self.messages,
            "tracks": self.tracks,
            "alerts": self.alerts,
            "stage_errors": self.stage_errors,
            "notes": self.notes,
            "held": self.held,
        }


def impact_headline(
    figures: dict[str, float | None], checked: AbstractSet[str] = frozenset()
) -> tuple[str, str]:
    """(label, figure key) of the impact error to headline: the horizon a threshold
    is set on if any, else the earliest horizon with a value (a long boost has no
    impact prediction at T+60 s), else T+120 s."""
    keys = sorted(
        (k for k in figures if k.startswith("impact_error_") and k.endswith("s_m")),
        key=lambda k: float(k[len("impact_error_") : -len("s_m")]),
    )
    pick = next((k for k in keys if k in checked), None)
    pick = pick or next((k for k in keys if figures[k] is not None), None) or "impact_error_120s_m"
    return f"impact error at T+{pick[len('impact_error_') : -len('s_m')]} s", pick


# --- truth -----------------------------------------------------------------------------


def drill_instance(scenario: Scenario) -> str:
    """The alert-identifier instance of a drill: ``drill-`` and the first 8 hex
    digits of the SHA-256 of the scenario (its parsed spec: the same for the
    same file and seed, different for any other)."""
    import hashlib

    digest = hashlib.sha256(msgspec.json.encode(scenario.spec)).hexdigest()
    return f"drill-{digest[:8]}"


def ground_tracks(truth: Iterable[Envelope]) -> list[GroundTrack]:
    """Ground tracks of the truth objects in ``truth`` messages (for warning scoring)."""
    by_obj: dict[str, list[TruthBody]] = defaultdict(list)
    for env in truth:
        if env.kind == "truth" and isinstance(env.body, TruthBody):
            by_obj[env.body.object].append(env.body)
    out: list[GroundTrack] = []
    for name in sorted(by_obj):
        bodies = sorted(by_obj[name], key=lambda b: b.t)
        flying = [b for b in bodies if b.state_ecef is not None]
        impact = next((b for b in bodies if b.phase == "impact"), None)
        if impact is not None and impact.fate is not None:
            impact = None  # in orbit, or still falling, when its truth ends: not an impact
        if not flying:
            continue
        t = np.array([b.t for b in flying])
        xyz = np.array([b.state_ecef[:3] for b in flying if b.state_ecef is not None])
        lat, lon, _ = ecef_to_geodetic(xyz)
        boost = [b.t for b in flying if b.phase == "boost"]
        ballistic = flying[0].class_ == "ballistic"
        out.append(
            GroundTrack(
                object=name,
                t=t,
                lat=np.asarray(lat, dtype=np.float64),
                lon=np.asarray(lon, dtype=np.float64),
                launch_t=float(t[0]),
                boost_end_t=float(max(boost)) if boost else float(t[0]),
                impact_t=impact.t if impact is not None else None,
                impact_lat=impact.lat if impact is not None else None,
                impact_lon=impact.lon if impact is not None else None,
                ballistic=ballistic,
            )
        )
    return out


def _under_path_m(stages: Sequence[Stage]) -> float:
    """The width of "under the path" the drill's warning policy uses (its
    narrowest corridor, ``threat.min_buffer_m``): the scorer uses the same."""
    from tocsin.warning.policy import WarningConfig

    for st in stages:
        cfg = getattr(st, "config", None)
        if isinstance(cfg, WarningConfig):
            return cfg.threat.min_buffer_m
    return WarningConfig().threat.min_buffer_m


def _area_shapes() -> tuple[list[AreaShape], dict[str, str]]:
    from tocsin.warning.areas import AreaRegistry

    reg = AreaRegistry.default()
    shapes = [AreaShape(a.code, a.geometry, a.kind == "sea") for a in reg]
    return shapes, {a.code: a.name_en for a in reg}


# --- delivery --------------------------------------------------------------------------


#: how long the clock may run past the scenario's end while warnings are still open
TAIL_S = 1800.0


def _warnings_open(stages: Sequence[Stage]) -> bool:
    """Does a warning stage still hold an open warning?"""
    for st in stages:
        active = getattr(st, "active_areas", None)
        if callable(active) and any(active().values()):
            return True
    return False


#: the period of each partner node's heartbeat in a drill (as ``tocsin node``)
HEARTBEAT_S = 5.0


def heartbeats(scenario: Scenario, period_s: float = HEARTBEAT_S) -> list[Envelope]:
    """Each partner node's heartbeats through the scenario, over its link: none
    while a ``link-outage`` holds, late by a ``link-delay``'s seconds while it
    holds, and the link's fixed latency otherwise. Source ``<partner>-node``."""
    spec = scenario.spec
    t0 = spec.start_epoch
    out: list[Envelope] = []
    for p in spec.partners:
        node = f"{p.code}-node"
        for i, rel in enumerate(np.arange(0.0, spec.duration_s + 1e-9, period_s).tolist()):
            late = p.link.latency_s
            lost = False
            for inj in spec.injects:
                if not isinstance(inj, LinkOutage | LinkDelay) or inj.partner != p.code:
                    continue
                if inj.from_s <= rel and (inj.to_s is None or rel < inj.to_s):
                    if isinstance(inj, LinkOutage):
                        lost = True
                    else:
                        late += inj.delay_s
            if lost:
                continue
            t = t0 + rel
            out.append(
                make(
                    "heartbeat",
                    HeartbeatBody(node=node, t=t),
                    partner=p.code,
                    source=node,
                    seq=i + 1,
                    sent=t + late,
                )
            )
    return out


def _registry(stream: DrillStream, scenario: Scenario) -> PartnerRegistry:
    """The drill's partner registry, each partner also owning its node's source."""
    return PartnerRegistry(
        {
            p.code: PartnerPolicy(
                p.code,
                stream.keys.key(p.code).public_key(),
                (*(s.id for s in p.sensors), f"{p.code}-node"),
            )
            for p in scenario.spec.partners
        }
    )


def _batches(items: Sequence[Delivery], tick_s: float) -> Iterable[tuple[float, list[Delivery]]]:
    """Deliveries grouped by arrival into ``tick_s`` windows: (window end, deliveries)."""
    if not items:
        return
    cur: list[Delivery] = []
    end = items[0].t + tick_s
    for d in items:
        while d.t >= end:
            yield end, cur
            cur = []
            end += tick_s
        cur.append(d)
    yield end, cur


class _Collect:
    def __init__(self) -> None:
        self.tracks: list[Envelope] = []
        self.alerts: list[Envelope] = []

    def emit(self, env: Envelope) -> None:
        if env.kind == "track":
            self.tracks.append(env)
        elif env.kind == "alert":
            self.alerts.append(env)


def _link_outages(sc: Scenario) -> list[LinkOutage]:
    return [i for i in sc.spec.injects if isinstance(i, LinkOutage)]


# --- the run ----------------------------------------------------------------------------


def run_drill(
    scenario: Scenario,
    out: Path,
    progress: ProgressFn | None = None,
    *,
    stages: Sequence[Stage] | None = None,
    tick_s: float = 1.0,
) -> DrillOutcome:
    """Run ``scenario`` end to end, write everything into ``out`` (created; a
    previous drill's files there are replaced) and return what it measured."""
    say = progress if progress is not None else (lambda _m: None)
    spec = scenario.spec
    out.mkdir(parents=True, exist_ok=True)
    say("simulating")
    sim = simulate(scenario)
    write_jsonl(out / "plots.jsonl", sim.messages)
    write_jsonl(out / "truth.jsonl", sim.truth)

    stream = deliver(scenario, [*sim.messages, *heartbeats(scenario)])
    items = stream.deliveries

    jpath = out / "journal.db"
    for old in (jpath, jpath.with_suffix(".db-wal"), jpath.with_suffix(".db-shm")):
        old.unlink(missing_ok=True)
    journal = Journal(jpath, synchronous="NORMAL")
    instance = drill_instance(scenario)
    note_start(journal, "default", "drill", instance=instance)
    sink = _Collect()
    pipe = Pipeline(
        list(stages) if stages is not None else default_stages(instance=instance),
        journal,
        [sink],
        ingress=Ingress(_registry(stream, scenario), max_skew_s=MAX_SKEW_S),
    )
    links = LinkMonitor(heartbeat_s=HEARTBEAT_S)
    outages = _link_outages(scenario)
    flags: dict[str, list[float]] = defaultdict(list)
    reasons: list[str | None] = []
    say(f"exchange, fusion and warning: {len(items)} messages")
    end_t = spec.start_epoch + spec.duration_s
    last = spec.start_epoch
    try:
        for t_end, batch in _batches(items, tick_s):
            if batch:
                verdicts = pipe.submit_batch([Raw(d.data) for d in batch], now=t_end)
                for v in verdicts:
                    reasons.append(None if v.ok else (v.reason or "refused"))
                    if v.ok and v.env is not None:
                        links.seen(v.env.partner, v.env.sent, heartbeat=v.env.kind == "heartbeat")
            pipe.tick(t_end)
            for p in links.check(t_end):
                flags[p].append(t_end)
            last = t_end
        t = last
        while t < end_t:
            t = min(t + tick_s, end_t)
            pipe.tick(t)
            for p in links.check(t):
                flags[p].append(t)
        # the clock runs on past the scenario's end until every warning is
        # closed (the all-clear comes after the fall), for at most TAIL_S
        while t < end_t + TAIL_S and _warnings_open(pipe.stages):
            t += tick_s
            pipe.tick(t)
    finally:
        pipe.close()
    caught = {k: v.as_dict() for k, v in tally(items, reasons).items()}

    tracks, alerts = sink.tracks, sink.alerts
    write_jsonl(out / "tracks.jsonl", tracks)
    write_jsonl(out / "alerts.jsonl", alerts)
    cap_dir = out / "cap"
    shutil.rmtree(cap_dir, ignore_errors=True)
    cap_dir.mkdir()
    for a in alerts:
        body = a.body
        if isinstance(body, AlertBody) and body.cap:
            (cap_dir / f"{body.id}.xml").write_text(body.cap, encoding="utf-8")
    from tocsin.web.feed import cap_index

    (out / "feed.xml").write_bytes(cap_index(alerts, feed_id=f"urn:tocsin:{instance}"))

    say("scoring")
    tracking = score(tracks, sim.truth, plots=(m for m in sim.messages if m.kind in ("sensor", "plot")))
    gts = ground_tracks(sim.truth)
    shapes, names = _area_shapes()
    risk = areas_at_risk(gts, shapes, _under_path_m(pipe.stages))
    launch_t = min((g.launch_t for g in gts if g.ballistic), default=spec.start_epoch)
    alert_envs = [a for a in alerts if isinstance(a.body, AlertBody)]
    alert_bodies = [a.body for a in alert_envs if isinstance(a.body, AlertBody)]
    warning = score_warnings(
        alert_bodies,
        risk,
        launch_t,
        [s.code for s in shapes if s.sea],
        path_km=lambda codes: distance_from_paths_km(gts, shapes, codes),
        partners=[a.partner for a in alert_envs],
    )

    rejected = dict(sorted(pipe.ingress.rejected.items()))
    figures = _figures(tracking, warning, rejected, outages, flags, spec.start_epoch)
    figures["attacks_accepted"] = float(attacks_accepted(items, reasons))
    checks = [Check(name, figures.get(name), th.min, th.max) for name, th in sorted(spec.thresholds.items())]
    alerted_tracks = {t for a in alert_bodies for t in a.tracks}
    check = find_consistency(pipe.stages)
    held = [
        {**f.as_dict(), "alerted": f.track in alerted_tracks}
        for f in (sorted(check.flags.values(), key=lambda f: f.t) if check is not None else [])
    ]
    notes = [
        "Run in exercise mode: every alert carries status "
        f"{', '.join(warning.statuses) or 'Exercise (none was issued)'}.",
        f"{len(items)} messages delivered, {sum(rejected.values())} refused by the exchange.",
    ]
    if held:
        n_alerted = sum(1 for h in held if h["alerted"])
        notes.append(
            f"The cross-partner consistency check held {len(held)} single-sensor track(s) back; "
            f"{n_alerted} of them had been named in an alert before they were held."
        )
    if pipe.metrics.stage_errors:
        notes.append(f"{pipe.metrics.stage_errors} stage errors were counted (see the journal).")
    outcome = DrillOutcome(
        name=spec.name or (Path(scenario.file).stem if scenario.file else "drill"),
        out=out,
        figures=figures,
        checks=checks,
        rejected=rejected,
        tracking=tracking,
        warning=warning,
        report_path=out / "report.html",
        messages=len(items),
        injects=caught,
        tracks=len(tracks),
        alerts=len(alerts),
        stage_errors=pipe.metrics.stage_errors,
        notes=notes,
        held=held,
    )
    (out / "score.json").write_bytes(
        msgspec.json.format(msgspec.json.encode({"tracking": tracking, "warning": warning}), indent=2)
    )
    (out / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(outcome.summary()), indent=2))
    say("writing the report")
    data = build_report(scenario, sim, outcome, tracks, alert_bodies, gts, shapes, names, risk)
    outcome.report_path.write_text(render_report(data), encoding="utf-8")
    return outcome


def warning_figures(warning: WarningScore) -> dict[str, float | None]:
    """The drill's warning figures (the names its thresholds use) from a
    warning score: what :func:`run_drill` reports and checks, also for a
    replay of a drill's tracks through another warning policy
    (benchmarks/warning_replay.py)."""
    figs: dict[str, float | None] = {
        "first_alert_s": warning.first_alert_s,
        "min_lead_s": warning.min_lead_s,
        "area_recall": warning.area_recall,
        "area_precision": warning.area_precision,
        "false_alerts": float(warning.false_alerts),
        "false_areas_land": float(len(warning.false_areas_land)),
        "false_areas_sea": float(len(warning.false_areas_sea)),
        "missed_areas": float(len(warning.missed_areas)),
    }
    figs["first_contact_alert"] = warning.first_contact_alert
    figs["explicit_close_rate"] = warning.explicit_close_rate
    figs["messages_per_area_max"] = float(warning.messages_per_area_max)
    figs["messages_per_area_minute_max"] = float(warning.messages_per_area_minute_max)
    figs["announced_error_max_s"] = warning.announced_error_max_s
    corr = [v for v in warning.time_to_correct_s.values() if v is not None]
    uncorrected = sum(1 for v in warning.time_to_correct_s.values() if v is None)
    figs["time_to_correct_max_s"] = max(corr) if corr and not uncorrected else (None if uncorrected else 0.0)
    return figs


def _figures(
    tracking: ScoreReport,
    warning: WarningScore,
    rejected: dict[str, int],
    outages: Sequence[LinkOutage],
    flags: dict[str, list[float]],
    start: float,
) -> dict[str, float | None]:
    figs = warning_figures(warning)
    for k, v in headline_figures(tracking).items():
        if k.startswith("impact_error_m_at_") and k.endswith("s"):
            k = f"impact_error_{k.removeprefix('impact_error_m_at_')}_m"
        figs[k] = v
    for name, reasons in REJECT_FIGURES.items():
        figs[name] = float(sum(rejected.get(r, 0) for r in reasons))
    figs["rejected_total"] = float(sum(rejected.values()))
    if outages:
        delays = []
        for o in outages:
            t_out = start + o.from_s
            t_flag = next((t for t in flags.get(o.partner, []) if t >= t_out), None)
            delays.append(t_flag - t_out if t_flag is not None else math.inf)
        worst = max(delays)
        figs["link_outage_detect_s"] = None if math.isinf(worst) else worst
    return figs


# --- the report ---------------------------------------------------------------------------


def _ellipse_ring(
    lat: float, lon: float, a: float, b: float, bearing_deg: float
) -> list[tuple[float, float]]:
    th = np.linspace(0.0, 2.0 * math.pi, 49)
    brg = math.radians(bearing_deg)
    # major axis along the bearing (clockwise from north), minor across it
    e = a * np.cos(th) * math.sin(brg) + b * np.sin(th) * math.cos(brg)
    n = a * np.cos(th) * math.cos(brg) - b * np.sin(th) * math.sin(brg)
    xyz = enu_to_ecef(np.stack([e, n, np.zeros_like(e)], axis=1), lat, lon, 0.0)
    la, lo, _ = ecef_to_geodetic(xyz)
    return [(float(o), float(p)) for o, p in zip(np.atleast_1d(lo), np.atleast_1d(la), strict=True)]


def _fmt(v: float | None, unit: str = "", nd: int = 0) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:,.{nd}f}{unit}"


def build_report(
    scenario: Scenario,
    sim: SimulationResult,
    outcome: DrillOutcome,
    tracks: Sequence[Envelope],
    alerts: Sequence[AlertBody],
    gts: Sequence[GroundTrack],
    shapes: Sequence[AreaShape],
    names: dict[str, str],
    risk: dict[str, float],
) -> ReportData:
    """The after-action report's content (see :mod:`tocsin.drill.report`)."""
    spec = scenario.spec
    w, tr = outcome.warning, outcome.tracking
    launch_t = min((g.launch_t for g in gts if g.ballistic), default=spec.start_epoch)
    checks = {c.metric: c for c in outcome.checks}

    def ok(metric: str) -> bool | None:
        c = checks.get(metric)
        return None if c is None else c.passed

    f = outcome.figures
    label_ie, key_ie = impact_headline(f, set(checks))
    headlines = [
        Headline("first alert after launch", fmt_offset(w.first_alert_s), ok("first_alert_s")),
        Headline("smallest lead time", _fmt(w.min_lead_s, " s"), ok("min_lead_s")),
        Headline("areas at risk warned", f"{_fmt(100 * w.area_recall)} %", ok("area_recall")),
        Headline("warned areas really at risk", f"{_fmt(100 * w.area_precision)} %", ok("area_precision")),
        Headline("false alerts", str(w.false_alerts), ok("false_alerts")),
        Headline(
            "areas first told by an Alert",
            "-" if w.first_contact_alert is None else f"{100 * w.first_contact_alert:.0f} %",
            ok("first_contact_alert"),
        ),
        Headline(
            "areas told it is over (explicit close)",
            "-" if w.explicit_close_rate is None else f"{100 * w.explicit_close_rate:.0f} %",
            ok("explicit_close_rate"),
        ),
        Headline("GOSPA mean", _fmt(tr.gospa_mean, " m"), ok("gospa_mean_m")),
        Headline(label_ie, _fmt(f.get(key_ie), " m"), ok(key_ie)),
        Headline(
            "95 % ellipse coverage",
            "-" if tr.ellipse_coverage is None else f"{100 * tr.ellipse_coverage:.0f} %",
            ok("ellipse_coverage"),
        ),
        Headline("messages refused", str(sum(outcome.rejected.values())), None),
    ]

    # map: truth paths, confirmed track paths, areas near the action, ellipses
    paths = [MapPath(g.object, list(zip(g.lon.tolist(), g.lat.tolist(), strict=True)), "truth") for g in gts]
    by_track: dict[str, list[TrackBody]] = defaultdict(list)
    for env in tracks:
        if isinstance(env.body, TrackBody):
            by_track[env.body.id].append(env.body)
    ellipses: list[MapEllipse] = []
    points: list[MapPoint] = []
    for tid, bodies in sorted(by_track.items()):
        conf = [b for b in bodies if b.status in ("confirmed", "coasting")]
        if not conf:
            continue
        xyz = np.array([b.state_ecef[:3] for b in conf])
        la, lo, _ = ecef_to_geodetic(xyz)
        paths.append(
            MapPath(
                tid, list(zip(np.atleast_1d(lo).tolist(), np.atleast_1d(la).tolist(), strict=True)), "track"
            )
        )
        last_bucket = -1
        for b in conf:
            imp = b.impact
            if imp is None or imp.ellipse is None:
                continue
            bucket = int((b.t - launch_t) // 60)
            if bucket != last_bucket:
                last_bucket = bucket
                ring = _ellipse_ring(
                    imp.lat,
                    imp.lon,
                    imp.ellipse.semi_major_m,
                    imp.ellipse.semi_minor_m,
                    imp.ellipse.bearing_deg,
                )
                ellipses.append(MapEllipse(ring, b.t - launch_t))
        lb = next((b.launch for b in reversed(conf) if b.launch is not None), None)
        if lb is not None:
            points.append(MapPoint(f"{tid} launch estimate", lb.lon, lb.lat, "predicted"))
    for g in gts:
        if g.ballistic:
            points.append(MapPoint(f"{g.object} launch", float(g.lon[0]), float(g.lat[0]), "launch"))
            if g.impact_lat is not None and g.impact_lon is not None:
                points.append(MapPoint(f"{g.object} impact", g.impact_lon, g.impact_lat, "impact"))
    for partner in spec.partners:
        for sensor in partner.sensors:
            if isinstance(sensor, RadarSensorSpec) and sensor.site is not None:
                points.append(MapPoint(sensor.id, sensor.site.lon, sensor.site.lat, "sensor"))

    warned = set(w.areas_warned)
    lons = [pt[0] for mp in paths for pt in mp.points] + [p.lon for p in points]
    lats = [pt[1] for mp in paths for pt in mp.points] + [p.lat for p in points]
    box = (min(lons) - 3, min(lats) - 3, max(lons) + 3, max(lats) + 3) if lons else None
    areas: list[MapArea] = []
    for s in shapes:
        keep = s.code in warned or s.code in risk
        if not keep and box is not None and not s.sea:
            x0, y0, x1, y1 = s.geometry.bounds
            keep = x1 >= box[0] and x0 <= box[2] and y1 >= box[1] and y0 <= box[3]
        if not keep:
            continue
        rings = _rings(s.geometry)
        first = w.first_warned_t.get(s.code)
        areas.append(
            MapArea(
                s.code,
                names.get(s.code) or s.code,
                rings,
                s.sea,
                None if first is None else first - launch_t,
                s.code in risk,
            )
        )

    timeline = [TimelineEvent(g.launch_t - launch_t, f"launch {g.object}", "") for g in gts if g.ballistic]
    for g in gts:
        if g.ballistic and g.impact_t is not None:
            timeline.append(
                TimelineEvent(
                    g.impact_t - launch_t, f"impact {g.object}", f"{g.impact_lat:.2f}, {g.impact_lon:.2f}"
                )
            )
    for tid, bodies in sorted(by_track.items()):
        first_conf = next((b for b in bodies if b.status == "confirmed"), None)
        if first_conf is not None:
            timeline.append(
                TimelineEvent(first_conf.t - launch_t, f"track {tid} confirmed", first_conf.class_)
            )
        bal = next((b for b in bodies if b.class_ == "ballistic" and b.status == "confirmed"), None)
        if bal is not None and bal is not first_conf:
            timeline.append(TimelineEvent(bal.t - launch_t, f"track {tid} classified ballistic", ""))
    for a in sorted(alerts, key=lambda a: (a.t, a.id)):
        timeline.append(
            TimelineEvent(a.t - launch_t, f"{a.msg_type} {a.id} ({a.status})", ", ".join(a.areas) or "-")
        )

    rows = []
    for code in sorted(warned | set(risk)):
        first = w.first_warned_t.get(code)
        ev = risk.get(code)
        rows.append(
            AreaRow(
                code,
                names.get(code, code),
                code in risk,
                code in warned,
                None if first is None else first - launch_t,
                None if ev is None else ev - launch_t,
                w.lead_s.get(code),
                w.time_to_correct_s.get(code),
                w.false_area_path_km.get(code),
            )
        )

    check_rows = [
        [
            c.metric,
            _fmt(c.value, nd=2 if c.value is not None and abs(c.value) < 10 else 0),
            c.bar(),
            "pass" if c.passed else "FAIL",
        ]
        for c in outcome.checks
    ]
    per_obj = [
        [
            o.object,
            o.class_,
            _fmt(None if o.tracked_fraction is None else 100 * o.tracked_fraction, " %"),
            str(len(o.tracks)),
            str(o.breaks),
            _fmt(o.rmse_m, " m"),
            _fmt(o.launch_error_m, " m"),
            _fmt(o.final_impact_error_m, " m"),
        ]
        for o in tr.objects
    ]
    extra: list[tuple[str, list[str], list[list[str]]]] = []
    if check_rows:
        extra.append(("Thresholds", ["figure", "value", "bar", "result"], check_rows))
    extra.append(
        (
            "Tracking per object",
            ["object", "class", "tracked", "tracks", "breaks", "RMSE", "launch error", "final impact error"],
            per_obj,
        )
    )
    imp_rows = [
        [f"T+{a.after_s:g} s", str(a.point_m.n), _fmt(a.point_m.mean, " m"), _fmt(a.point_m.max, " m")]
        for a in tr.impact_at
    ]
    extra.append(("Impact prediction after launch", ["time", "objects", "mean error", "max error"], imp_rows))
    if set(outcome.injects) - {"genuine"}:
        inj_rows = []
        for origin, d in outcome.injects.items():
            refused = d.get("refused")
            ref = refused if isinstance(refused, dict) else {}
            caught = ", ".join(f"{k} {v}" for k, v in ref.items()) or "-"
            verdict = (
                "-" if origin == "genuine" else ("all refused" if d.get("accepted") == 0 else "SOME ACCEPTED")
            )
            inj_rows.append([origin, str(d.get("delivered")), str(d.get("accepted")), caught, verdict])
        extra.append(
            (
                "Injected messages: what the exchange caught",
                ["origin", "delivered", "accepted", "refused (reason count)", "verdict"],
                inj_rows,
            )
        )
    if outcome.held:
        extra.append(
            (
                "Cross-partner consistency: tracks held back",
                ["track", "flagged", "seen only by", "should also have been seen by", "public alert"],
                [
                    [
                        str(h["track"]),
                        fmt_offset(float(h["t"]) - launch_t),  # type: ignore[arg-type]
                        str(h["contributor"]),
                        ", ".join(h["expected"]),  # type: ignore[arg-type]
                        "named in an alert before it was held" if h["alerted"] else "none (caught)",
                    ]
                    for h in outcome.held
                ],
            )
        )
    if w.story_log:
        extra.append(
            (
                "Each area's story (per public: its messages in order, and how it ended)",
                ["public", "area", "name", "messages", "ended"],
                [
                    [
                        key.split(" ", 1)[0],
                        key.split(" ", 1)[1],
                        names.get(key.split(" ", 1)[1], ""),
                        types,
                        end,
                    ]
                    for key, types, end in w.story_log
                ],
            )
        )
    if outcome.rejected:
        extra.append(
            (
                "Messages refused by the exchange",
                ["reason", "count"],
                [[k, str(v)] for k, v in outcome.rejected.items()],
            )
        )
    return ReportData(
        title=f"After-action report: {spec.name or 'drill'}",
        scenario=scenario.file or spec.name,
        mode="Exercise",
        launch_epoch=launch_t,
        headlines=headlines,
        areas=areas,
        paths=paths,
        ellipses=ellipses,
        points=points,
        timeline=timeline,
        rows=rows,
        notes=outcome.notes,
        explanations=[("What GOSPA counts", gospa_explained(tr))],
        extra_tables=extra,
    )


def gospa_explained(tr: ScoreReport) -> str:
    """A paragraph on what the GOSPA figure of this drill is made of: it counts
    every truth object (aircraft too) and every track, so an object no sensor
    sees adds the cut-off penalty at every step, whatever the missile's accuracy."""
    if tr.gospa_mean is None:
        return "No GOSPA: the drill had no truth objects on the scoring grid."
    c, p = tr.c, tr.p
    parts = [
        f"GOSPA (c = {c / 1000:g} km, p = {p:g}) scores the whole air picture at every second: each truth "
        f"object, aircraft included, is matched to at most one track; a matched pair adds its distance "
        f"(up to c), and every object without a track and every track without an object adds c/2^(1/p) "
        f"({c / 2 ** (1 / p) / 1000:.1f} km) to the step's figure. It is not a missile-accuracy figure."
    ]
    loc, missed, false = tr.localisation_mean or 0.0, tr.missed_mean or 0.0, tr.false_mean or 0.0
    tot = loc + missed + false
    if tot > 0:
        parts.append(
            f"This drill's mean {tr.gospa_mean:,.0f} m is {100 * loc / tot:.0f} % localisation (matched "
            f"pairs), {100 * missed / tot:.0f} % objects without a track, {100 * false / tot:.0f} % tracks "
            "without an object (shares of the mean GOSPA^p)."
        )
    unseen = [o for o in tr.objects if (o.tracked_fraction or 0.0) < 0.5]
    if unseen:
        names = ", ".join(
            f"{o.object} ({o.class_}, tracked {100 * (o.tracked_fraction or 0.0):.0f} % of its time)"
            for o in unseen
        )
        parts.append(
            f"Objects tracked less than half their time: {names}. Each adds the missed-object penalty at "
            "every step it was not tracked — an aircraft no sensor can see (beyond every radar's field of "
            "regard or below its horizon) dominates the figure without any tracking error."
        )
    ball = [o for o in tr.objects if o.class_ == "ballistic" and o.rmse_m is not None]
    if ball:
        parts.append(
            "For the missiles themselves read the position RMSE ("
            + ", ".join(f"{o.object} {o.rmse_m:,.0f} m" for o in ball)
            + ") and the impact-point errors."
        )
    return " ".join(parts)


def _rings(geom: object) -> list[Sequence[tuple[float, float]]]:
    import shapely

    out: list[Sequence[tuple[float, float]]] = []
    for poly in shapely.get_parts(geom):
        if isinstance(poly, shapely.Polygon):
            out.append([(float(x), float(y)) for x, y in poly.exterior.coords])
    return out


__all__ = [
    "Check",
    "DrillOutcome",
    "build_report",
    "drill_instance",
    "gospa_explained",
    "ground_tracks",
    "run_drill",
    "warning_figures",
]
