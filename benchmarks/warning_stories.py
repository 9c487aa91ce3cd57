"""Search for an area told two stories (docs/warning.md, "Leaving"): prints JSON.

::

    .venv/bin/python benchmarks/warning_stories.py                      # 2,000 examples each way
    .venv/bin/python benchmarks/warning_stories.py --examples 20000 --seed 7 --keep on
    .venv/bin/python benchmarks/warning_stories.py --examples 5000 --seed 2 --keep off --mode reach
    .venv/bin/python benchmarks/warning_stories.py --mode all --examples 200   # every mode
    nice -n 10 .venv/bin/python benchmarks/warning_stories.py --mode descend --examples 1000 --cpu-limit 600

Each area hears one story: first "take shelter", last "it has passed / fell /
was a mistake", never a correction followed by a new Alert for the same threat
while the forecast still admits the area. A random search (hypothesis, no
example database, seeded) of report sequences fed to a fresh
:class:`~tocsin.warning.WarningEngine`, every message it sends checked.
``keep_named`` off and on (on: the default policy since session 15). ``--mode``:

``admit`` (the default; session 14's search, its draws unchanged)
    over a grid of 2.5-km sea boxes around the impact (96 boxes, all
    Japan's): one or two tracks, runs of reports whose whole forecast (path
    and impact) is moved north/east by up to 3 km, ellipses from 200 m to
    beyond ``max_ellipse_m`` (unsettled), any bearing and ratio, 0.5-4 s
    between reports, silences up to 70 s and reports of status ``lost``.
    Faults: ``close_while_admitted`` (and ``wander_two_stories``, keep on).
``reach``
    the same, and a run may be boosting (:func:`body`'s ``boost``: no impact
    yet, a launch azimuth: the reachable corridor, its far end held back as
    ``threat.reach``) or boosting with no heading (``boost_unknown``:
    ``threat.unknown`` unless earlier reports give a baseline); unsettled
    ellipses give a ``threat.reach`` too. Faults: ``close_while_admitted``,
    ``close_while_in_reach``; closes while the track's newest assessment is
    ``unknown`` are tallied (``close_while_unknown``), not counted: unknown
    "neither names nor withdraws", so a withdrawal made before it stands.
``manoeuvre``
    the same grid; a run may be flagged ``manoeuvring`` by the tracker.
    Faults: ``close_while_admitted``, ``close_while_in_reach``,
    ``close_while_manoeuvring``.
``handover``
    one object, two tracks: F-1's runs, its end (a last report ``lost`` or
    ``deleted``, or silence), a gap of 0-70 s, F-2's runs within 3 km of
    F-1's last forecast (the object tracked anew). Faults as ``manoeuvre``.
``land``
    the project's area registry (real prefecture, district and sea-zone
    outlines) around an impact on Busan's coast, the default releases (JP and
    KR publics: each its own country's areas, both the international
    waters), ballistic and boosting runs. Faults as ``manoeuvre``, and
    ``wrong_public``.
``descend``
    (session 16) tracks first seen on their way down (found late, or after a
    long coast: :func:`body`'s ``descending`` form; the other forms' velocity
    climbs, so the engine's jump rule never fired in the modes above), each
    run's forecast a step of up to 15 km from its track's previous one. The
    search applies the documented jump rule itself (:func:`jumps`: on its way
    down below 100 km, a settled prediction moved further than both 95 %
    ellipses and ``min_buffer_m``): from then on the track counts as
    manoeuvring. Faults as ``manoeuvre``; jumps tallied (``jump``).
``ticks``
    (session 16) the tick-order property: the runs' reports put on the
    drill's whole seconds and fed as the drill feeds them
    (warning_replay's ``replay``: a tick's reports before the engine's
    advance to it), then every report a hair (:data:`HAIR_S`, 1 ms) before
    and after its tick. Faults ``tick_order_before`` (a hair before: the
    same tick, so every area must hear the same messages within the hair)
    and ``tick_order_after`` (a hair after: the next tick; a rule timed from
    the report may fall due one tick later, nothing else may change).
    ~2.5 CPU-s an example (three replays on a 1-s clock).

``--cpu-limit S`` stops drawing once a run has used S CPU-seconds (``played``
says how many examples were played; the wander property of ``admit`` with
``--keep on`` has a budget of its own, ``wander_played``).

Faults (each counted, the first few examples kept, the first of each kind
shrunk by dropping runs and halving run lengths while the fault stays):

``close_while_admitted``
    a close (Cancel or all-clear) of an area at a moment when a track that
    named it in this story is live (confirmed, reported within
    ``lost_after_s``) and its newest report admits the area (names it; with
    ``keep_named``: or ``threat.keep_region`` holds it).
``close_while_in_reach``
    a close of an area at a moment when a live track that named it in this
    story has it in its newest assessment's ``threat.reach`` ("an area named
    before stays warned while the missile could still reach it").
``close_while_manoeuvring``
    a close other than "fell" of an area named in this story by a live track
    that has reported ``manoeuvring`` ("a manoeuvring re-entry widens, never
    narrows, what is warned ... until the object has come down").
``wrong_public``
    a warning of an area sent to a public the default releases do not give
    it (:func:`may_receive`, written from the policy's rule, not from
    ``release_areas``).
``wander_two_stories``
    with ``keep_named``: the property of tests/warning/test_keep.py (one
    track's forecast wandering north and south by up to 250 m, its 95 %
    across 300 m): the Alerts and Cancels sent differ from what the
    forecasts' allowance gives (a second Alert only after the forecast stayed
    clear of the area for ``cancel_hold_s``).

Also tallied, not faults: how many examples gave some area two or more
stories, by what closed the first (``error``, ``passed``, ``lost``, ...): a
forecast that clearly left an area for longer than ``cancel_hold_s`` and came
back is two stories by design. CI runs a derandomized slice of the same
properties (tests/warning/test_keep.py, test_stories_slice.py). Exit status 1
when any fault was found.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import msgspec
import numpy as np
import shapely
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tocsin.geo import ecef_to_geodetic, enu_matrix, geodetic_to_ecef
from tocsin.warning import WarningEngine
from tocsin.warning.areas import Area, AreaRegistry
from tocsin.warning.policy import WarningConfig
from tocsin.warning.threat import Threat, ThreatConfig, assess, keep_region
from tocsin.wire import AlertBody, make
from tocsin.wire.messages import Ellipse, Envelope, ImpactPrediction, LaunchEstimate, TrackBody

LAT0, LON_IMP = 36.0, 134.0
M_LAT = 111_000.0  # metres per degree of latitude near 36 N
M_LON = M_LAT * float(np.cos(np.radians(LAT0)))


class Grid:
    """Sea boxes of ``step_m`` on a side around the nominal impact point, with
    the registry's query API (``intersecting``, ``get``, iteration)."""

    def __init__(self, half_m: float = 10_000.0, step_m: float = 2_500.0, lead_m: float = 10_000.0) -> None:
        boxes = []
        n = round(half_m / step_m)
        for i in range(-n, n):
            for j in range(-n - int(lead_m / step_m), n):
                s, w = LAT0 + i * step_m / M_LAT, LON_IMP + j * step_m / M_LON
                g = shapely.box(w, s, w + step_m / M_LON, s + step_m / M_LAT)
                code = f"sea:JP-{i + n:02d}-{j + n + int(lead_m / step_m):02d}"
                boxes.append(Area(code, "sea", "JP", code, code, code, g))
        self.areas = sorted(boxes, key=lambda a: a.code)
        self._by = {a.code: a for a in self.areas}
        self._tree = shapely.STRtree([a.geometry for a in self.areas])

    def __iter__(self) -> Iterator[Area]:
        return iter(self.areas)

    def intersecting(self, geom: shapely.Geometry) -> list[Area]:
        return [self.areas[int(i)] for i in self._tree.query(geom, predicate="intersects")]

    def get(self, code: str) -> Area:
        return self._by[code]


GRID = Grid()


#: the nominal impact points: the sea grid's, and Busan's coast (the land
#: mode: the project's registry, its real district and prefecture outlines)
SITES: dict[str, tuple[float, float]] = {"sea": (LAT0, LON_IMP), "land": (35.10, 129.04)}

#: a report's form (the modes' generators draw it per run)
Form = Literal["ballistic", "boost", "boost_unknown", "manoeuvring", "descending"]


def body(
    tid: str,
    t: float,
    north_m: float,
    east_m: float,
    semi_major_m: float,
    ratio: float,
    bearing: float,
    status: Literal["confirmed", "lost", "deleted"] = "confirmed",
    t_imp: float | None = None,
    *,
    form: Form = "ballistic",
    site: tuple[float, float] = SITES["sea"],
) -> TrackBody:
    """A descending object flying east along the site's latitude to its
    impact at ``t_imp`` (default: 60 s after ``t``); its whole forecast (path
    and impact) moved ``north_m``/``east_m``.

    ``form``: ``ballistic`` (as above); ``manoeuvring`` (the same, flagged by
    the tracker as seen to manoeuvre in re-entry); ``boost`` (still burning at
    the same place, 60 km up, climbing east at 2.4 km/s: no impact yet, the
    tracker's launch azimuth east within +-4 degrees (``ratio``): the engine's
    reachable-corridor rule, its held-back far end a ``threat.reach``);
    ``boost_unknown`` (burning, no launch estimate: no heading unless the
    track's earlier reports give one a baseline: ``threat.unknown``);
    ``descending`` (as ``ballistic``, its velocity east 2.2 km/s and down
    1.5 km/s in the local frame: on its way down below 100 km, where the
    engine reads a jump of its settled prediction as a manoeuvre. The other
    forms' velocity, ECEF (0, 2200, -1500) m/s as in tests/warning, points
    west-south-west and 430 m/s *up* at 36 N 132.5 E: never descending)."""
    lat0, lon_c = site
    m_lon = M_LAT * float(np.cos(np.radians(lat0)))
    t_imp = t + 60.0 if t_imp is None else t_imp
    lat = lat0 + north_m / M_LAT
    lon_imp = lon_c + east_m / m_lon
    lon0 = lon_imp - 1.5
    x = geodetic_to_ecef(lat, lon0, 60e3)
    if form in ("boost", "boost_unknown"):
        v = np.asarray(enu_matrix(lat, lon0)).T @ np.array([2_300.0, 0.0, 700.0])
        launch = (
            LaunchEstimate(
                t=t - 90.0,
                lat=lat,
                lon=lon0 - 1.0,
                sigma_m=2_000.0,
                azimuth_deg=90.0 + (ratio - 0.5) * 8.0,
                azimuth_sigma_deg=1.5,
            )
            if form == "boost"
            else None
        )
        return TrackBody(
            id=tid,
            t=t,
            state_ecef=[*map(float, x), *map(float, v)],
            cov=list(np.diag([50.0**2] * 3 + [5.0**2] * 3).ravel()),
            status=status,
            class_="ballistic",
            launch=launch,
            phase="boost",
            quality=1.0,
        )
    lons = np.linspace(lon0, lon_imp, 7)
    v_ecef = [0.0, 2_200.0, -1_500.0]
    if form == "descending":
        v_ecef = list(map(float, np.asarray(enu_matrix(lat, lon0)).T @ np.array([2_200.0, 0.0, -1_500.0])))
    return TrackBody(
        id=tid,
        t=t,
        state_ecef=[*map(float, x), *v_ecef],
        cov=list(np.diag([50.0**2] * 3 + [5.0**2] * 3).ravel()),
        status=status,
        class_="ballistic",
        impact=ImpactPrediction(
            t=t_imp,
            lat=lat,
            lon=lon_imp,
            sigma_t_s=1.0,
            ellipse=Ellipse(
                semi_major_m=semi_major_m, semi_minor_m=semi_major_m * ratio, bearing_deg=bearing
            ),
        ),
        phase="ballistic",
        quality=1.0,
        path=[[lat, float(lo), t + (t_imp - t) * i / 6] for i, lo in enumerate(lons)],
        manoeuvring=True if form == "manoeuvring" else None,
    )


# one run of reports at one forecast: (track, north, east, semi-major, ratio,
# bearing, reports, dt, silence before, status[, form])
Status = Literal["confirmed", "lost", "deleted"]
Run = (
    tuple[int, float, float, float, float, float, int, float, float, Status]
    | tuple[int, float, float, float, float, float, int, float, float, Status, Form]
)

_run_fields = (
    st.integers(0, 1),
    st.one_of(st.floats(-400.0, 400.0), st.floats(-3_000.0, 3_000.0)),
    st.one_of(st.just(0.0), st.floats(-3_000.0, 3_000.0)),
    st.one_of(st.floats(200.0, 5_000.0), st.floats(5_000.0, 200_000.0)),
    st.floats(0.05, 1.0),
    st.floats(0.0, 180.0),
    st.integers(1, 25),
    st.floats(0.5, 4.0),
    st.one_of(st.just(0.0), st.floats(0.0, 70.0)),
    st.sampled_from(["confirmed"] * 9 + ["lost"]),
)

runs_st = st.lists(st.tuples(*_run_fields), min_size=1, max_size=8)


def _with_forms(forms: Sequence[Form]) -> st.SearchStrategy[list[Run]]:
    return st.lists(st.tuples(*_run_fields, st.sampled_from(list(forms))), min_size=1, max_size=8)


@st.composite
def _descend(draw: st.DrawFn) -> list[Run]:
    """Tracks first seen descending (found late, or after a long coast): runs
    as ``_run_fields`` draws them, mostly of the ``descending`` form, each
    run's forecast a step of up to 15 km (any direction; within 12 km of the
    nominal impact) from its track's previous run, so that a settled
    prediction can move further than both its ellipses and ``min_buffer_m``."""
    forms: list[Form] = ["descending", "descending", "descending", "ballistic"]
    drawn = draw(st.lists(st.tuples(*_run_fields, st.sampled_from(forms)), min_size=2, max_size=8))
    last: dict[int, tuple[float, float]] = {}
    runs: list[Run] = []
    for r in drawn:
        if r[0] in last:
            step = draw(st.one_of(st.floats(3_000.0, 15_000.0), st.floats(0.0, 3_000.0), st.just(0.0)))
            ang = np.radians(draw(st.floats(0.0, 360.0)))
            n0, e0 = last[r[0]]
            north = float(np.clip(n0 + step * np.cos(ang), -12_000.0, 12_000.0))
            east = float(np.clip(e0 + step * np.sin(ang), -12_000.0, 12_000.0))
        else:
            north, east = r[1], r[2]
        last[r[0]] = (north, east)
        runs.append((r[0], north, east, *r[3:]))
    return runs


#: the tick-order property's stories: every form (a report's dt and silence
#: are put on the drill's whole seconds, :func:`on_ticks`)
ticks_st = _with_forms(["ballistic", "ballistic", "boost", "boost_unknown", "manoeuvring", "descending"])


@st.composite
def _handover(draw: st.DrawFn) -> list[Run]:
    """One object, two tracks: F-1's runs, its end (a last report ``lost`` or
    ``deleted``, or only silence), a gap of 0-70 s, then F-2's runs, each
    forecast within 3 km of F-1's last (the same object tracked anew)."""
    first = draw(st.lists(st.tuples(*_run_fields), min_size=1, max_size=4))
    first = [(0, *r[1:]) for r in first]
    end = draw(st.sampled_from(["lost", "deleted", "silent"]))
    gap = draw(st.floats(0.0, 70.0))
    last = first[-1]
    runs: list[Run] = list(first)
    if end != "silent":
        runs.append((0, *last[1:6], 1, last[7], 0.0, end))
    second = draw(st.lists(st.tuples(*_run_fields), min_size=1, max_size=4))
    for i, r in enumerate(second):
        north = last[1] + draw(st.floats(-3_000.0, 3_000.0))
        east = last[2] + draw(st.floats(-3_000.0, 3_000.0))
        runs.append((1, north, east, *r[3:8], gap if i == 0 else r[8], r[9]))
    return runs


#: the search modes: what each generates, over which areas, and which faults it counts
MODES = ("admit", "reach", "manoeuvre", "handover", "land", "descend", "ticks")

MODE_DOC = {
    "admit": "one/two tracks, ballistic forecasts (settled or not) over the sea grid; close_while_admitted",
    "reach": "runs also boosting (heading from the launch azimuth) or boosting with no heading; "
    "+ close_while_in_reach; closes while the newest report is unknown tallied",
    "manoeuvre": "runs also flagged manoeuvring by the tracker; + close_while_manoeuvring",
    "handover": "F-1 lost/deleted/silent, F-2 carries the same object on; the faults of reach and manoeuvre",
    "land": "Busan's coast, the project's registry (real outlines, JP/KR/international areas, two "
    "publics); + wrong_public; the faults of reach",
    "descend": "tracks first seen descending (found late, after a long coast), forecasts moved up to 12 km: "
    "the engine's jump rule; + close_while_manoeuvring for a jump the search sees",
    "ticks": "the drill's 1-s clock, every report on a tick, a hair before it and a hair after it: "
    "tick_order_before, tick_order_after",
}


def strategy(mode: str) -> st.SearchStrategy[list[Run]]:
    if mode == "admit":
        return runs_st
    if mode == "reach":
        return _with_forms(["ballistic", "ballistic", "boost", "boost_unknown"])
    if mode == "manoeuvre":
        return _with_forms(["ballistic", "ballistic", "ballistic", "manoeuvring"])
    if mode == "handover":
        return _handover()
    if mode == "land":
        return _with_forms(["ballistic", "ballistic", "ballistic", "boost"])
    if mode == "descend":
        return _descend()
    if mode == "ticks":
        return ticks_st
    raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")


@dataclass
class Outcome:
    faults: list[dict[str, Any]]
    stories: dict[str, list[tuple[str, str | None, float]]]  # "<public> <area>" -> (msg_type, close, t)
    tally: Counter[str] = field(default_factory=Counter)


_LAND: AreaRegistry | None = None


def land_registry() -> AreaRegistry:
    global _LAND
    if _LAND is None:
        _LAND = AreaRegistry.default()
    return _LAND


def may_receive(partner: str, country: str) -> bool:
    """The default releases as policy states them (docs/warning.md): each
    public hears its own country's areas and those of no listed country
    (international waters), never the other country's."""
    return country == partner or country not in ("JP", "KR")


def held(
    th: Threat | None, area: Area, manoeuvring_since: float | None, close: str | None, now: float
) -> str | None:
    """Which of the engine's other holds keeps ``area`` for a live track that
    named it, from the track's newest assessment ``th`` (the fault a close
    of it then is), or None: the area lies in ``th.reach`` (a boost
    corridor's held-back far end, an unsettled or too uncertain path end:
    "an area named before stays warned while the missile could still reach
    it"), or the track has reported manoeuvring and the close is not "fell"
    ("widens, never narrows ... until the object has come down")."""
    if th is not None and th.reach is not None and shapely.intersects(area.geometry, th.reach):
        return "close_while_in_reach"
    if manoeuvring_since is not None and manoeuvring_since <= now and close != "fell":
        return "close_while_manoeuvring"
    return None


#: below this height a descending object whose settled prediction jumps is
#: manoeuvring (docs/warning.md, "A manoeuvring re-entry widens, never narrows")
JUMP_ALT_M = 100_000.0


def _ground_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (m, haversine on a 6,371-km sphere)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return float(2 * 6_371_000.0 * np.arcsin(np.sqrt(a)))


def settled_fix(b: TrackBody, cfg: ThreatConfig) -> tuple[float, float, float] | None:
    """A report's settled impact prediction (lat, lon, 95 % semi-major m):
    after boost, an ellipse within ``max_ellipse_m`` (or flagged manoeuvring)."""
    imp = b.impact
    if b.phase == "boost" or imp is None or imp.ellipse is None:
        return None
    if imp.ellipse.semi_major_m > cfg.max_ellipse_m and not b.manoeuvring:
        return None
    return (imp.lat, imp.lon, imp.ellipse.semi_major_m)


def jumps(prev: tuple[float, float, float] | None, b: TrackBody, cfg: ThreatConfig) -> bool:
    """The documented rule, written from docs/warning.md: a track on its way
    down (descending, below 100 km) whose settled prediction moves further
    than both 95 % ellipses and ``min_buffer_m`` together from its previous
    settled one is manoeuvring."""
    cur = settled_fix(b, cfg)
    if prev is None or cur is None:
        return False
    x = np.asarray(b.state_ecef[:3], dtype=np.float64)
    v = np.asarray(b.state_ecef[3:], dtype=np.float64)
    if float(ecef_to_geodetic(x)[2]) > JUMP_ALT_M or float(x @ v) >= 0.0:
        return False
    return _ground_m(prev[0], prev[1], cur[0], cur[1]) > prev[2] + cur[2] + cfg.min_buffer_m


def play(runs: Sequence[Run], keep: bool, mode: str = "admit") -> Outcome:
    """Feed the runs to a fresh engine and check every message it sends
    (the faults of ``mode``: module doc)."""
    if mode == "ticks":
        return Outcome(tick_order(runs, keep), {})
    cfg = WarningConfig(threat=ThreatConfig(keep_named=keep))
    land = mode == "land"
    reg: Any = land_registry() if land else GRID
    site = SITES["land" if land else "sea"]
    held_checks = mode != "admit"
    eng = WarningEngine(cfg, registry=reg)
    tcfg = cfg.threat_config()
    live_s = cfg.lifecycle.lost_after_s
    partners = [r.partner for r in cfg.releases]
    t, seq = 1.0e9, 0
    newest: dict[str, TrackBody] = {}
    flagged: dict[str, float] = {}  # track -> when it first reported manoeuvring (or jumped)
    fix: dict[str, tuple[float, float, float]] = {}  # track -> its latest settled prediction
    named_in_story: dict[tuple[str, str], set[str]] = {}
    faults: list[dict[str, Any]] = []
    stories: dict[str, list[tuple[str, str | None, float]]] = {}
    tally: Counter[str] = Counter()

    def admits(b: TrackBody, code: str) -> bool:
        th = eng.threats().get(b.id)
        if th is not None and code in th.codes:
            return True
        if not keep:
            return False
        kept = keep_region(b, tcfg)
        return kept is not None and code in kept.times([reg.get(code)])

    def holds(tid: str, code: str, close: str | None, now: float) -> str | None:
        th = eng.threats().get(tid)
        if th is not None and th.unknown:
            tally["close_while_unknown"] += 1
        return held(th, reg.get(code), flagged.get(tid), close, now)

    def read(out: list[Envelope], now: float) -> None:
        for e in out:
            a = e.body
            assert isinstance(a, AlertBody)
            for code in a.areas or a.closes:
                key = (e.partner, code)
                stories.setdefault(f"{e.partner} {code}", []).append((a.msg_type, a.close, now))
                if a.close is None:
                    if not may_receive(e.partner, reg.get(code).country):
                        faults.append(
                            {"kind": "wrong_public", "area": code, "public": e.partner, "t": now - 1.0e9}
                        )
                    continue
                live = [
                    tid
                    for tid in sorted(named_in_story.get(key, ()))
                    if tid in newest and newest[tid].status == "confirmed" and now - newest[tid].t < live_s
                ]
                for tid in live:
                    if admits(newest[tid], code):
                        faults.append(
                            {"kind": "close_while_admitted", "area": code, "close": a.close, "t": now - 1.0e9}
                        )
                        break
                    why = holds(tid, code, a.close, now) if held_checks else None
                    if why is not None:
                        faults.append(
                            {"kind": why, "area": code, "close": a.close, "t": now - 1.0e9, "track": tid}
                        )
                        break
                named_in_story.pop(key, None)

    # one object: every report forecasts the same impact time, 40 s after the
    # last report (the engine's last advance, 30 s, stays before it)
    t_imp = t + sum(r[8] + r[6] * r[7] for r in runs) + 40.0
    for r in runs:
        trk, north, east, semi, ratio, brg, n, dt, silence, status = r[:10]
        form: Form = r[10] if len(r) > 10 else "ballistic"  # type: ignore[misc]
        t += silence
        read(eng.advance(t), t)
        tid = f"F-{trk + 1}"
        for _ in range(n):
            t += dt
            seq += 1
            b = body(tid, t, north, east, semi, ratio, brg, status, t_imp, form=form, site=site)
            newest[tid] = b
            if b.manoeuvring and status == "confirmed":
                flagged.setdefault(tid, t)
            elif status == "confirmed":
                if jumps(fix.get(tid), b, tcfg):
                    flagged.setdefault(tid, t)
                    tally["jump"] += 1
                if (f := settled_fix(b, tcfg)) is not None:
                    fix[tid] = f
            out = eng.push(make("track", b, partner="US", source="fusion", seq=seq, sent=t))
            th = eng.threats().get(tid)
            if th is not None:
                for code in th.codes:
                    for p in partners:
                        named_in_story.setdefault((p, code), set()).add(tid)
            read(out, t)
    for _ in range(3):
        t += 10.0
        read(eng.advance(t), t)
    return Outcome(faults, stories, tally)


# ---------------------------------------------------------------- tick order

#: how far the tick-order property moves every report (s): a hair, far above
#: the engine's 1e-9 tolerances, far below the drill's 1-s clock
HAIR_S = 1e-3


def on_ticks(runs: Sequence[Run], shift: float) -> list[Envelope]:
    """The runs' reports on the drill's whole seconds (a run's ``dt`` and
    silence rounded; the first report of a run by the other track may share
    its predecessor's second), every report's time and ``sent`` moved by
    ``shift``; every forecast as :func:`play` makes it (one impact, 40.5 s
    after the last report: a prediction never on a tick, unmoved)."""
    steps: list[tuple[Run, float]] = []
    prev_trk = None
    t = 0.0
    for r in runs:
        t += round(r[8])
        for i in range(r[6]):
            first_of_other = i == 0 and prev_trk is not None and r[0] != prev_trk
            t += max(0.0 if first_of_other else 1.0, float(round(r[7])))
            steps.append((r, t))
        prev_trk = r[0]
    t0 = 1.0e9
    t_imp = t0 + t + 40.5
    out: list[Envelope] = []
    for seq, (r, tr) in enumerate(steps, 1):
        form: Form = r[10] if len(r) > 10 else "ballistic"  # type: ignore[misc]
        tb = t0 + tr + shift
        b = body(f"F-{r[0] + 1}", tb, r[1], r[2], r[3], r[4], r[5], r[9], t_imp, form=form)
        out.append(make("track", b, partner="US", source="fusion", seq=seq, sent=tb))
    return out


Heard = dict[str, list[tuple[str, str | None, str | None, float]]]


def heard_on_ticks(runs: Sequence[Run], keep: bool, shift: float) -> Heard:
    """What every (public, area) hears when :func:`on_ticks`'s reports are fed
    to a fresh engine on the drill's clock (warning_replay's ``replay``: the
    reports sent at or before a tick pushed before the engine's advance to
    it): per "<public> <area>", (message type, instruction, close, t)."""
    from _sibling import load

    wr = load("warning_replay")
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=keep)), registry=GRID)
    per: Heard = {}
    for e in wr.replay(on_ticks(runs, shift), eng):
        a = e.body
        assert isinstance(a, AlertBody)
        told = None if a.closes else wr.instruction(a)
        for code in a.areas or a.closes:
            per.setdefault(f"{e.partner} {code}", []).append((a.msg_type, told, a.close, a.t))
    return per


def differ(a: Heard, b: Heard, slack_s: float) -> dict[str, Any] | None:
    """The first area whose story differs between ``a`` and ``b`` (another
    message, instruction or close, or one ``slack_s`` or more apart), or None."""
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, []), b.get(key, [])
        for i in range(max(len(x), len(y))):
            if i >= len(x) or i >= len(y) or x[i][:3] != y[i][:3] or abs(x[i][3] - y[i][3]) > slack_s:
                short = [(m[0], m[1], m[2], round(m[3] - 1.0e9, 3)) for m in x]
                other = [(m[0], m[1], m[2], round(m[3] - 1.0e9, 3)) for m in y]
                return {"area": key, "at": i, "on_tick": short, "moved": other}
    return None


def tick_order(runs: Sequence[Run], keep: bool) -> list[dict[str, Any]]:
    """The tick-order property: reports on the ticks, and every report a hair
    (:data:`HAIR_S`) before and after its tick, must tell every area the same
    story. A hair before, the report still comes out of the same tick (the
    drill pushes a tick's tracks before the engine's advance to it): every
    message within the hair (``tick_order_before``). A hair after, it comes
    out of the next tick: a rule timed from the report (the cancel hold, the
    silence before "lost") may then fall due a tick later, never more, and
    never another message (``tick_order_after``)."""
    on = heard_on_ticks(runs, keep, 0.0)
    faults: list[dict[str, Any]] = []
    for kind, shift, slack in (
        ("tick_order_before", -HAIR_S, 2 * HAIR_S),
        ("tick_order_after", HAIR_S, 1.0 + 2 * HAIR_S),
    ):
        d = differ(on, heard_on_ticks(runs, keep, shift), slack)
        if d is not None:
            faults.append({"kind": kind, **d})
    return faults


def _box_north(gap: float) -> Area:
    s = LAT0 + gap / M_LAT
    box = shapely.box(LON_IMP - 0.1, s, LON_IMP + 0.1, s + 0.18)
    return Area("sea:JP-A", "sea", "JP", "A", "A", "A", box)


def wander(gap: float, runs: Sequence[tuple[float, int]], dt: float) -> list[str]:
    """test_keep's wander: one 20 x 20 km box ``gap`` north of the impact, a
    forecast moved north by each run's shift (300-m 95 % across): the Alerts
    and Cancels the engine sends."""
    reg = _One(_box_north(gap))
    eng = WarningEngine(WarningConfig(threat=ThreatConfig(keep_named=True)), registry=reg)
    t, out, seq = 1.0e9, [], 0
    for shift, n in runs:
        for _ in range(n):
            t += dt
            seq += 1
            b = body("F-1", t, shift, 0.0, 3_000.0, 0.1, 90.0)
            out += eng.push(make("track", b, partner="US", source="fusion", seq=seq, sent=t))
    out += eng.advance(t + 30.0)
    return [e.body.msg_type for e in out if isinstance(e.body, AlertBody) and e.body.msg_type != "Update"]


def allowance_story(gap: float, runs: Sequence[tuple[float, int]], dt: float) -> list[str]:
    """The story the hysteresis promises for :func:`wander`, from the
    forecasts alone (``assess`` names, ``keep_region`` holds): once named, a
    Cancel only after every report for ``cancel_hold_s`` has its allowance
    clear of the area (or the last ones: the engine then advances 30 s)."""
    box = _box_north(gap)
    reg = _One(box)
    cfg = ThreatConfig(keep_named=True)
    hold = WarningConfig().lifecycle.cancel_hold_s
    story: list[str] = []
    open_, since = False, None
    t = 0.0
    for shift, n in runs:
        for _ in range(n):
            t += dt
            b = body("F-1", 1.0e9 + t, shift, 0.0, 3_000.0, 0.1, 90.0)
            named = bool(assess(b, reg, cfg).codes)
            if not open_:
                if named:
                    story.append("Alert")
                    open_, since = True, None
                continue
            kept = keep_region(b, cfg)
            if named or (kept is not None and box.code in kept.times([box])):
                since = None
                continue
            since = t if since is None else since
            if t - since >= hold - 1e-9:
                story.append("Cancel")
                open_, since = False, None
    if open_ and since is not None:
        story.append("Cancel")
    return story


class _One:
    def __init__(self, box: Area) -> None:
        self.box = box

    def __iter__(self) -> Iterator[Area]:
        return iter([self.box])

    def intersecting(self, geom: shapely.Geometry) -> list[Area]:
        return [self.box] if shapely.intersects(geom, self.box.geometry) else []

    def get(self, code: str) -> Area:
        if code != self.box.code:
            raise KeyError(code)
        return self.box


wander_st = st.tuples(
    st.floats(4_950.0, 5_250.0),
    st.lists(st.tuples(st.floats(-250.0, 250.0), st.integers(1, 25)), min_size=2, max_size=6),
    st.floats(1.0, 4.0),
)


def two_stories(o: Outcome) -> list[str]:
    """Per area with two or more Alerts: what closed the story before the next."""
    out = []
    for msgs in o.stories.values():
        alerts = [i for i, m in enumerate(msgs) if m[0] == "Alert"]
        for i, j in pairwise(alerts):
            closes = [m[1] for m in msgs[i:j] if m[1] is not None]
            out.append(closes[-1] if closes else "none")
    return out


def shrunk(runs: list[Run], keep: bool, kind: str, mode: str = "admit") -> list[Run]:
    """A smaller sequence with the same fault: drop whole runs, then shorten
    runs, while the fault stays (greedy; what a reader can replay by hand:
    ``play(runs, keep, mode)``)."""

    def bad(r: list[Run]) -> bool:
        return any(f["kind"] == kind for f in play(r, keep, mode).faults)

    cur = list(runs)
    changed = True
    while changed:
        changed = False
        for i in range(len(cur)):
            cand = cur[:i] + cur[i + 1 :]
            if cand and bad(cand):
                cur, changed = cand, True
                break
        if changed:
            continue
        for i, r in enumerate(cur):
            if r[6] > 1:
                cand = [*cur[:i], (*r[:6], r[6] // 2, *r[7:]), *cur[i + 1 :]]
                if bad(cand):
                    cur, changed = cand, True
                    break
    return cur


class _OutOfTime(Exception):
    """Raised inside a drawn example once the search's CPU budget is spent."""


def search(
    examples: int,
    rng_seed: int,
    keep: bool,
    keep_examples: int = 3,
    *,
    shrink: bool = True,
    mode: str = "admit",
    cpu_limit_s: float | None = None,
) -> dict[str, Any]:
    """``examples`` drawn by ``mode``'s generator (seeded), each played with
    ``keep_named`` ``keep``: faults counted by kind, the first few kept, the
    first of each kind shrunk. ``cpu_limit_s``: stop drawing once the search
    has used this much CPU time (``played`` says how many were played)."""
    faults: Counter[str] = Counter()
    tally: Counter[str] = Counter()
    kept: dict[str, list[Any]] = {}
    stories: Counter[str] = Counter()
    n_two = 0
    cfg = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    played = 0
    t0 = time.process_time()

    @seed(rng_seed)
    @cfg
    @given(strategy(mode))
    def story(runs: list[Run]) -> None:
        nonlocal n_two, played
        if cpu_limit_s is not None and time.process_time() - t0 > cpu_limit_s:
            raise _OutOfTime
        played += 1
        o = play(runs, keep, mode)
        tally.update(o.tally)
        for f in o.faults:
            faults[f["kind"]] += 1
            if len(kept.setdefault(f["kind"], [])) < keep_examples:
                kept[f["kind"]].append({"fault": f, "runs": runs})
        two = two_stories(o)
        n_two += bool(two)
        stories.update(two)

    with contextlib.suppress(_OutOfTime):
        story()
    res: dict[str, Any] = {
        "mode": mode,
        "keep_named": keep,
        "examples": examples,
        "played": played,
        "seed": rng_seed,
        "cpu_s": round(time.process_time() - t0, 1),
        "faults": dict(faults),
        "examples_with_two_stories": n_two,
        "two_stories_by_first_close": dict(stories),
        "tally": dict(tally),
        "fault_examples": kept,
    }
    if faults and shrink:
        res["shrunk"] = {kind: shrunk(kept[kind][0]["runs"], keep, kind, mode) for kind in sorted(faults)}
    if keep and mode == "admit":
        bad: list[Any] = []
        n_wander = 0
        t1 = time.process_time()

        @seed(rng_seed)
        @cfg
        @given(wander_st)
        def wandering(w: tuple[float, list[tuple[float, int]], float]) -> None:
            nonlocal n_wander
            if cpu_limit_s is not None and time.process_time() - t1 > cpu_limit_s:
                raise _OutOfTime
            n_wander += 1
            got, want = wander(*w), allowance_story(*w)
            if got != want and len(bad) < keep_examples:
                bad.append({"wander": w, "sent": got, "allowance": want})

        with contextlib.suppress(_OutOfTime):
            wandering()
        res["wander_two_stories"] = bad
        res["wander_played"] = n_wander
        res["wander_cpu_s"] = round(time.process_time() - t1, 1)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog="modes:\n" + "\n".join(f"  {m}: {d}" for m, d in MODE_DOC.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--examples", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", choices=["on", "off", "both"], default="both")
    ap.add_argument("--mode", choices=[*MODES, "all"], default="admit", help="what to generate and check")
    ap.add_argument("--cpu-limit", type=float, default=None, help="CPU seconds per run (then stop drawing)")
    a = ap.parse_args(argv)
    keeps = {"on": [True], "off": [False], "both": [False, True]}[a.keep]
    modes = list(MODES) if a.mode == "all" else [a.mode]
    rows = [search(a.examples, a.seed, k, mode=m, cpu_limit_s=a.cpu_limit) for m in modes for k in keeps]
    print(json.dumps({"runs": rows}, default=lambda o: msgspec.to_builtins(o)))
    return 1 if any(r["faults"] or r.get("wander_two_stories") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
