"""Seeded cases: a launch (or a reported flight), the objects it makes, an aircraft
where the case wants one, a random set of notional sensors, and the exchange-format
messages they produce.

``make_case(seed, cls)`` -> :class:`Case`; ``Case.write(dir)`` writes
``plots.jsonl`` (sensor descriptors, then plots in arrival order), ``truth.jsonl``
and ``case.json`` (every drawn parameter, for reproduction and diagnosis).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import earth
from .flight import Aero, Launch, ascent, fly, free_flight
from .objects import Segment, TruthObject, fighter, missile_objects, orbit_perigee_height
from .sensors import IRSat, Radar, Report, deliver, ir_reports, radar_reports
from .vehicles import design, draw_manoeuvre, solve_design

EPOCH = 1_893_456_000.0  # 2030-01-01T00:00:00Z: cases start here plus a drawn offset
TRUTH_STEP_S = 1.0

#: flight classes of the Monte Carlo, in the order ``make_case(seed, i)`` cycles through
CLASSES = (
    "SRBM",
    "SRBM-depressed",
    "SRBM-pullup",
    "MRBM",
    "IRBM",
    "ICBM-lofted",
    "SLV",
    "SRBM-fighter",
    "IRBM-silent",
)

# Launch sites: public locations of reported launches (approximate, degrees)
SITES = {
    "Sunan": (39.20, 125.67),
    "Kusong": (39.98, 125.25),
    "Pyongsong": (39.25, 125.87),
    "Mupyong-ni": (40.61, 126.43),
    "Wonsan": (39.17, 127.48),
    "Hwangju": (38.67, 125.78),
    "Kaechon": (39.70, 125.90),
    "Sohae": (39.66, 124.70),
}

# Notional radar positions (not real sites; coastal points that could host one),
# with the direction their face points (None: all round)
RADAR_SITES = [
    ("JP-GR1", "JP", 41.05, 140.30, 280.0),  # Tsugaru strait
    ("JP-GR2", "JP", 36.20, 133.30, 300.0),  # Oki islands
    ("JP-GR3", "JP", 35.75, 135.20, 310.0),  # Tango peninsula
    ("KR-GR1", "KR", 37.55, 129.10, 10.0),  # east coast
    ("KR-GR2", "KR", 36.90, 126.90, 350.0),  # west
    ("KR-GR3", "KR", 35.10, 129.00, 0.0),  # south-east
]


@dataclass
class Case:
    seed: int
    cls: str
    t_begin: float
    t_end: float
    objects: list[TruthObject]
    radars: list[Radar]
    irs: list[IRSat]
    reports: list[Report] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    silent_after: float | None = None

    # -- output -------------------------------------------------------------
    def plot_lines(self) -> list[str]:
        lines = []
        seq: dict[str, int] = {}
        for s in [*self.radars, *self.irs]:
            seq[s.id] = 1
            lines.append(_env("sensor", s.partner, s.id, 1, self.t_begin, s.descriptor()))
        for r in sorted(self.reports, key=lambda r: (r.arrive, r.source, r.t)):
            seq[r.source] += 1
            if r.lost:
                continue
            lines.append(_env("plot", r.partner, r.source, seq[r.source], r.arrive, r.body))
        return lines

    def truth_lines(self) -> list[str]:
        lines = []
        i = 0
        for obj in self.objects:
            ts = np.arange(obj.t_start, obj.t_end, TRUTH_STEP_S)
            ts = np.append(ts, obj.t_end) if (ts.size == 0 or ts[-1] < obj.t_end - 1e-6) else ts
            xs = obj.states(ts)
            extra: dict[str, object] = {}
            if obj.kind == "ballistic":
                extra["role"] = obj.role
                if obj.parent:
                    extra["parent"] = obj.parent
                if obj.beta is not None:
                    extra["beta_kg_m2"] = round(obj.beta, 3)
            for t, x in zip(ts, xs, strict=True):
                h = earth.height(*x[:3])
                phase = "midcourse" if obj.kind == "air" else obj.phase(float(t), h)
                body = {
                    "object": obj.id,
                    "t": float(t),
                    "phase": phase,
                    "class": obj.kind,
                    "state_ecef": [float(c) for c in x],
                    **extra,
                }
                i += 1
                lines.append(_env("truth", "ZZ", "indep-truth", i, float(t), body))
            t_e, lat, lon = obj.end_point()
            imp: dict[str, object] = {
                "object": obj.id,
                "t": t_e,
                "phase": "impact",
                "class": obj.kind,
                "lat": lat,
                "lon": lon,
                **extra,
            }
            if obj.end_fate is not None:
                imp["fate"] = obj.end_fate
            i += 1
            lines.append(_env("truth", "ZZ", "indep-truth", i, t_e, imp))
        # the contract: non-decreasing sent
        lines.sort(key=lambda s: json.loads(s)["sent"])
        return lines

    def write(self, out: Path) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        p, t, c = out / "plots.jsonl", out / "truth.jsonl", out / "case.json"
        p.write_text("\n".join(self.plot_lines()) + "\n", encoding="utf-8")
        t.write_text("\n".join(self.truth_lines()) + "\n", encoding="utf-8")
        c.write_text(json.dumps(self.manifest(), indent=1, sort_keys=True), encoding="utf-8")
        return {"plots": p, "truth": t, "case": c}

    def manifest(self) -> dict[str, Any]:
        objs = []
        for o in self.objects:
            t_e, lat, lon = o.end_point()
            objs.append(
                {
                    "id": o.id,
                    "kind": o.kind,
                    "role": o.role,
                    "parent": o.parent,
                    "beta_kg_m2": o.beta,
                    "rcs_m2": o.rcs,
                    "t_start": o.t_start,
                    "t_end": t_e,
                    "end_lat": lat,
                    "end_lon": lon,
                    "fate": o.end_fate,
                    "burnout_s": o.burnout,
                }
            )
        return {
            "seed": self.seed,
            "class": self.cls,
            "t_begin": self.t_begin,
            "t_end": self.t_end,
            "silent_after": self.silent_after,
            "params": self.params,
            "objects": objs,
            "radars": [r.__dict__ for r in self.radars],
            "irs": [s.__dict__ for s in self.irs],
        }


def _env(kind: str, partner: str, source: str, seq: int, sent: float, body: dict[str, object]) -> str:
    return json.dumps(
        {
            "v": 1,
            "kind": kind,
            "partner": partner,
            "source": source,
            "seq": seq,
            "sent": round(sent, 6),
            "body": body,
        },
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


# -- launches ---------------------------------------------------------------------

# per class: Delta-v band (m/s), kick band (deg), accepted ground range (km) and
# apogee/range band; launch sites and azimuth band
_BANDS: dict[str, dict[str, Any]] = {
    "SRBM": {
        "dv": (2600, 3600),
        "kick": (22, 40),
        "range": (250, 900),
        "ratio": (0.12, 0.4),
        "sites": ["Sunan", "Hwangju", "Kaechon", "Wonsan", "Kusong"],
        "az": (60, 110),
        "design": "SRBM",
    },
    "SRBM-depressed": {
        "dv": (3200, 3900),
        "kick": (38, 56),
        "range": (250, 800),
        "ratio": (0.05, 0.13),
        "sites": ["Sunan", "Hwangju", "Kaechon", "Wonsan"],
        "az": (60, 110),
        "design": "SRBM",
    },
    "MRBM": {
        "dv": (3800, 4700),
        "kick": (8, 20),
        "range": (800, 2000),
        "ratio": (0.12, 0.4),
        "sites": ["Sunan", "Wonsan", "Hwangju", "Kusong"],
        "az": (60, 105),
        "design": "MRBM",
    },
    "IRBM": {
        "dv": (5000, 6000),
        "kick": (5, 15),
        "range": (2200, 5000),
        "ratio": (0.12, 0.35),
        "sites": ["Sunan", "Mupyong-ni", "Kusong"],
        "az": (70, 100),
        "design": "IRBM",
    },
}
_BANDS["SRBM-pullup"] = dict(_BANDS["SRBM-depressed"])
_BANDS["SRBM-fighter"] = dict(_BANDS["SRBM-depressed"])
_BANDS["IRBM-silent"] = dict(_BANDS["IRBM"])


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def _launch_drawn(rng: np.random.Generator, cls: str, t0: float) -> tuple[Launch, Any, Any, dict[str, Any]]:
    """Draw a vehicle and ascent controls in the class band; redraw until the flight's
    range and shape are in the band (the range is an outcome, not a target)."""
    b = _BANDS[cls]
    site = str(rng.choice(b["sites"]))
    lat, lon = SITES[site]
    man = draw_manoeuvre(rng) if cls == "SRBM-pullup" else None
    for _attempt in range(25):
        az = _u(rng, b["az"])
        launch = Launch(lat, lon, az, t0)
        dv = _u(rng, b["dv"])
        try:
            d = design(rng, b["design"], dv, manoeuvre=man)
        except ValueError:
            continue
        kick = _u(rng, b["kick"])
        try:
            f = fly(launch, d.vehicle, d.rv_aero, kick, 1.0, rtol=1e-7)
        except ValueError:
            continue
        rkm = f.range_m / 1e3
        ratio = f.apogee_m / f.range_m
        min_apo = 40e3 if "depressed" in cls or cls in ("SRBM-pullup", "SRBM-fighter") else 30e3
        if (
            b["range"][0] <= rkm <= b["range"][1]
            and b["ratio"][0] <= ratio <= b["ratio"][1]
            and f.apogee_m > min_apo
        ):
            params = {
                "site": site,
                "lat": lat,
                "lon": lon,
                "azimuth_deg": az,
                "dv": dv,
                "kick_deg": kick,
                "cutoff": 1.0,
                "range_km": rkm,
                "apogee_km": f.apogee_m / 1e3,
                "manoeuvre": man.__dict__ if man else None,
            }
            return launch, d, (kick, 1.0), params
    raise ValueError(f"{cls}: no flight in the class band after 25 draws")


def _launch_lofted(rng: np.random.Generator, t0: float) -> tuple[Launch, Any, Any, dict[str, Any]]:
    site = str(rng.choice(["Sunan", "Pyongsong", "Mupyong-ni"]))
    lat, lon = SITES[site]
    az = _u(rng, (75, 110))
    launch = Launch(lat, lon, az, t0)
    rng_m = _u(rng, (900e3, 1100e3))
    apo = _u(rng, (3500e3, 7500e3))
    seed = [int(x) for x in rng.integers(0, 2**31, 2)]
    s = solve_design(seed, "ICBM", launch, rng_m, apo, tol=0.03)
    params = {
        "site": site,
        "lat": lat,
        "lon": lon,
        "azimuth_deg": az,
        "dv": s.design.dv,
        "kick_deg": s.kick_deg,
        "cutoff": s.cutoff,
        "range_km": s.flown.range_m / 1e3,
        "apogee_km": s.flown.apogee_m / 1e3,
        "target_range_km": rng_m / 1e3,
        "target_apogee_km": apo / 1e3,
    }
    return launch, s.design, (s.kick_deg, s.cutoff), params


def _launch_slv(rng: np.random.Generator, t0: float) -> tuple[Launch, Any, Any, dict[str, Any]]:
    """A three-stage launcher from Sohae towards the south: a gravity turn in stage 1,
    then a linear pitch programme to horizontal; some reach orbit, some fall short
    (as the 2023 Chollima-1 launches did)."""
    lat, lon = SITES["Sohae"]
    for _attempt in range(20):
        az = _u(rng, (165.0, 180.0))
        launch = Launch(lat, lon, az, t0)
        dv = _u(rng, (10000.0, 10800.0))
        d = design(rng, "SLV", dv)
        d.vehicle.upper_pitch_deg = _u(rng, (12.0, 25.0))
        kick = _u(rng, (2.5, 4.0))
        try:
            asc = ascent(launch, d.vehicle, kick, 1.0, rtol=1e-7)
        except ValueError:
            continue
        if earth.height(*asc.state_bo[:3]) < 120e3:
            continue
        params = {
            "site": "Sohae",
            "lat": lat,
            "lon": lon,
            "azimuth_deg": az,
            "dv": dv,
            "kick_deg": kick,
            "cutoff": 1.0,
            "upper_pitch_deg": d.vehicle.upper_pitch_deg,
        }
        return launch, d, (kick, 1.0), params
    raise ValueError("SLV: no ascent above 120 km after 20 draws")


# -- sensors ------------------------------------------------------------------------


def _draw_sensors(
    rng: np.random.Generator, t_begin: float, n_range: tuple[int, int], *, force_ir: bool = False
) -> tuple[list[Radar], list[IRSat]]:
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    pool: list[tuple[str, Any]] = [("ground", s) for s in RADAR_SITES] + [
        ("ship", "US-SH1"),
        ("ship", "JP-SH1"),
    ]
    pool += [("ir", "US-IR1"), ("ir", "US-IR2")]
    picks = [pool[int(i)] for i in rng.permutation(len(pool))[:n]]
    if force_ir:  # both infrared satellites (the boost is seen from lift-off)
        picks += [p for p in pool if p[0] == "ir" and p not in picks]
    # at least two radars: the first two ground sites drawn if the pick has fewer
    if sum(1 for k, _ in picks if k != "ir") < 2:
        extra = [p for p in pool if p[0] == "ground" and p not in picks]
        picks += [
            extra[int(i)] for i in rng.permutation(len(extra))[: 2 - sum(1 for k, _ in picks if k != "ir")]
        ]
    radars: list[Radar] = []
    irs: list[IRSat] = []
    for kind, what in picks:
        lat_l = _u(rng, (0.4, 1.3))
        link = {"latency": _u(rng, (0.1, 2.0)), "jitter": _u(rng, (0.0, 0.5)), "loss": _u(rng, (0.0, 0.03))}
        if kind == "ir":
            lon = _u(rng, (95.0, 115.0)) if what == "US-IR1" else _u(rng, (140.0, 160.0))
            sig = _u(rng, (20e-6, 60e-6))
            irs.append(
                IRSat(
                    what,
                    "US",
                    lon,
                    period=_u(rng, (1.0, 8.0)),
                    sig_los=sig,
                    bias=(float(rng.normal(0, sig / 2)), float(rng.normal(0, sig / 2))),
                    mismatch=_u(rng, (0.85, 1.2)),
                    plume_offset=_u(rng, (0.0, 300.0)),
                    min_height=_u(rng, (10e3, 20e3)),
                    pd=_u(rng, (0.85, 0.99)),
                    phase=_u(rng, (0.0, 1.0)),
                    **link,
                )
            )
            continue
        if kind == "ground":
            sid, partner, la, lo, face = what
            max_r = _u(rng, (800e3, 1800e3))
            sig_r, sig_a = _u(rng, (15.0, 60.0)), _u(rng, (0.02, 0.12))
            radars.append(
                Radar(
                    sid,
                    partner,
                    "ground",
                    la,
                    lo,
                    _u(rng, (20.0, 300.0)),
                    max_r,
                    _u(rng, (0.5, 2.0)),
                    85.0,
                    (face + _u(rng, (-10.0, 10.0))) % 360.0,
                    _u(rng, (45.0, 70.0)),
                    _u(rng, (0.5, 2.0)),
                    sig_r,
                    sig_a,
                    sig_a * _u(rng, (0.8, 1.5)),
                    _u(rng, (0.5, 5.0)) if rng.random() < 0.7 else None,
                    _u(rng, (15.0, 25.0)),
                    (
                        float(rng.normal(0, 10.0)),
                        float(rng.normal(0, 0.01)),
                        float(rng.normal(0, 0.01)),
                        float(rng.normal(0, 0.3)),
                    ),
                    _u(rng, (0.85, 1.2)),
                    _u(rng, (0.0, 2.0)),
                    phase=_u(rng, (0.0, 1.0)) * 0.5,
                    **link,
                )
            )
            radars[-1].phase = float(rng.uniform(0.0, radars[-1].period))
        else:
            sid = what
            partner = sid[:2]
            la, lo = (
                (_u(rng, (38.0, 40.5)), _u(rng, (132.0, 136.0)))
                if partner == "US"
                else (_u(rng, (37.0, 39.0)), _u(rng, (134.0, 137.5)))
            )
            sp, hd = _u(rng, (3.0, 10.0)), _u(rng, (0.0, 2 * math.pi))
            sig_a = _u(rng, (0.04, 0.15))
            radars.append(
                Radar(
                    sid,
                    partner,
                    "ship",
                    la,
                    lo,
                    20.0,
                    _u(rng, (400e3, 900e3)),
                    _u(rng, (1.0, 3.0)),
                    85.0,
                    None,
                    180.0,
                    _u(rng, (1.0, 2.0)),
                    _u(rng, (20.0, 80.0)),
                    sig_a,
                    sig_a * _u(rng, (0.8, 1.5)),
                    _u(rng, (1.0, 5.0)) if rng.random() < 0.7 else None,
                    _u(rng, (13.0, 22.0)),
                    (
                        float(rng.normal(0, 15.0)),
                        float(rng.normal(0, 0.02)),
                        float(rng.normal(0, 0.02)),
                        float(rng.normal(0, 0.5)),
                    ),
                    _u(rng, (0.85, 1.2)),
                    _u(rng, (0.0, 3.0)),
                    ship_v=(sp * math.sin(hd), sp * math.cos(hd)),
                    **link,
                )
            )
            radars[-1].phase = float(rng.uniform(0.0, radars[-1].period))
    del lat_l
    return radars, irs


# -- a case ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ablation:
    """Diagnostics: each flag removes one difference from tocsin's own models, to
    show what it costs (the default is the independent model, all flags off)."""

    ideal_sensors: bool = False  # no biases, declared sigma exact, no false alarms, no loss
    rv_beta: float | None = None  # the warhead's beta fixed (tocsin assumes 5,000)
    no_sensor_bias: bool = False  # no registration biases (radar and infrared), all else as drawn


def make_case(
    seed: int,
    cls: str,
    *,
    n_sensors: tuple[int, int] = (3, 6),
    index: int = 0,
    ablation: Ablation | None = None,
) -> Case:
    """One seeded case of class ``cls`` (one of :data:`CLASSES`)."""
    ab = ablation or Ablation()
    rng = np.random.default_rng([seed, index, CLASSES.index(cls) if cls in CLASSES else 99])
    t_begin = EPOCH + float(rng.uniform(0.0, 86400.0 * 365))
    t0 = t_begin + _u(rng, (20.0, 40.0))
    params: dict[str, Any] = {}
    if cls == "ICBM-lofted":
        launch, d, ctl, params = _launch_lofted(rng, t0)
    elif cls == "SLV":
        launch, d, ctl, params = _launch_slv(rng, t0)
    else:
        launch, d, ctl, params = _launch_drawn(rng, cls, t0)
    params["class"] = cls
    if ab.rv_beta is not None:
        d.rv_aero.beta = ab.rv_beta
    asc = ascent(launch, d.vehicle, ctl[0], ctl[1])
    t_max = 8000.0 if cls in ("ICBM-lofted",) else 3000.0
    fairing = None
    if cls == "SLV":
        # fairing off once above ~110 km: find the time on the ascent
        fairing = _time_at_height(asc, 115e3)
    objects = missile_objects(rng, "M1", launch, asc, d, t_max=t_max, fairing_at=fairing)
    if cls == "SLV":
        # still up at the end: in orbit or falling
        for o in objects:
            if o.end_fate == "aloft":
                x = o.states(np.array([o.t_end]))[0]
                if orbit_perigee_height(x) > 120e3:
                    o.end_fate = "orbit"
    params["rv_beta"] = d.rv_aero.beta
    params["burnout_s"] = asc.t_burnout
    if cls == "SRBM-fighter":
        rv = objects[0]
        t_mid = t0 + _u(rng, (60.0, 110.0))
        x = rv.states(np.array([t_mid]))[0]
        la, lo, _ = earth.ecef_to_geodetic(x[:3])
        la += float(rng.normal(0, 0.1))
        lo += float(rng.normal(0, 0.1))
        objects.append(fighter(rng, "A1", la, lo, t_begin, (rv.t_end - t_begin) + 30.0))
        params["fighter_center"] = (la, lo)
    # the case lasts until the warhead (or payload) and every spent stage is down
    # (debris may still be drifting down then: its truth ends 'aloft')
    t_end = (
        max(
            o.t_end
            for o in objects
            if o.kind == "ballistic" and (o.role in ("rv", "payload") or o.role.startswith("stage"))
        )
        + 30.0
    )
    t_end = min(t_end, t0 + t_max)
    # objects that outlive the case (orbit, a slow stage): cut at t_end
    for o in objects:
        if o.t_end > t_end and o.air_t is None:
            last = o.segments[-1]
            o.segments[-1] = Segment(last.t0, t_end - o.epoch, last.sol)
            o.end_fate = o.end_fate or "aloft"
        elif o.air_t is not None and o.t_end > t_end:
            keep = o.air_t <= t_end
            o.air_t, o.air_x = o.air_t[keep], o.air_x[keep]  # type: ignore[index]
    radars, irs = _draw_sensors(rng, t_begin, n_sensors, force_ir=cls == "IRBM-silent")
    if ab.no_sensor_bias:
        # drawn as always (the same draws follow), then taken away
        for r in radars:
            r.bias = (0.0, 0.0, 0.0, 0.0)
        for s in irs:
            s.bias = (0.0, 0.0)
    if ab.ideal_sensors:
        for r in radars:
            r.bias, r.mismatch, r.clutter, r.loss = (0.0, 0.0, 0.0, 0.0), 1.0, 0.0, 0.0
        for s in irs:
            s.bias, s.mismatch, s.loss, s.plume_offset = (0.0, 0.0), 1.0, 0.0, 0.0
    case = Case(seed, cls, t_begin, t_end, objects, radars, irs, params=params)
    if cls == "IRBM-silent":
        # every sensor falls silent in boost, after the tracker could have seen enough
        # late in boost: the last 30 s before burnout (the issue 15 case: a missile
        # confirmed ballistic, then every sensor silent)
        case.silent_after = t0 + _u(rng, (max(30.0, asc.t_burnout - 30.0), asc.t_burnout - 2.0))
        for s in [*radars, *irs]:
            s.off_after = case.silent_after
    for r in radars:
        reps, _ = radar_reports(rng, r, objects, t_begin, t_end)
        deliver(rng, reps, r.latency, r.jitter, r.loss)
        case.reports += reps
    for s in irs:
        reps, _ = ir_reports(rng, s, objects, t_begin, t_end)
        deliver(rng, reps, s.latency, s.jitter, s.loss)
        case.reports += reps
    return case


def _time_at_height(asc: Any, h: float) -> float | None:
    for t0, t1, sol in asc.sol:
        ts = np.linspace(t0, t1, 200)
        ys = sol(ts)
        for i in range(ts.size):
            if earth.height(*ys[:3, i]) > h:
                return float(ts[i])
    return None


__all__ = ["CLASSES", "Aero", "Case", "free_flight", "make_case"]
