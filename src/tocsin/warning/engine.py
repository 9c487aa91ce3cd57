"""The warning stage: track messages in, public alert messages (with CAP 1.2) out.

:class:`WarningEngine` is a plain :class:`tocsin.stage.Stage`:

* ``push(env)`` takes a ``track`` envelope (every other kind is ignored), checks
  the policy (class ``ballistic``, status confirmed/coasting, quality), assesses
  the areas at risk (:mod:`tocsin.warning.threat`) and splits them by release
  (which partner's public receives which areas, :mod:`tocsin.warning.policy`).
  What each track puts at risk is kept per (public, area); one
  :class:`~tocsin.warning.lifecycle.AreaThread` per (public, area) turns the
  combined risk of all tracks into that area's messages: an Alert at first
  contact, Updates when its instruction or time changes, and an explicit close
  when its risk ends (passed over, fell, tracking lost, or a correction). Each
  message becomes an ``alert`` envelope carrying one CAP 1.2 document.
* ``advance(t)`` lets time pass: held-back updates and corrections, the
  all-clear after an impact, the end of a lost track's window.

Why a risk ends (the close's reason) is decided here, per track:

* the assessment no longer names an area the object has been over (its
  sub-point came within ``threat.min_buffer_m`` of it, the width of "under
  the path"): **passed**; one it never reached: the earlier warning was wrong,
  a **correction** (CAP Cancel, after the hold). During boost an area named
  before is kept while it lies anywhere in the reachable corridor (the
  far-end hold delays naming areas, it does not withdraw them);
* ``all_clear_after_impact_s`` after a predicted impact, or the track deleted
  within ``fall_window_s`` of it: **fell** (with where);
* a track deleted, reported ``lost`` by the tracker (no sensor has updated it
  for a while) or silent for ``lost_after_s``, with a settled impact
  prediction keeps its areas until the prediction says they are passed or it
  has fallen (found again, its reports govern again); one lost before its
  impact was known (in boost, or with an unsettled prediction) is **never
  silent**: its areas, and those it could still reach from its last measured
  state (:func:`~tocsin.warning.threat.assess_lost`: every flight from
  "stopped burning now" to "burned on to ``lost_max_speed_mps``"),
  stay warned ("tracking lost, stay sheltered until ...") until the latest time
  it could have come down (plus ``lost_margin_s``), then are closed as
  **lost**;
* a track reclassified as an aircraft: a **correction**.

Deterministic: no clock is read (an alert's time is the ``sent`` of the track
message that caused it, or the ``t`` given to ``advance``), alert ids are
``<instance>.<partner>.<area>.<thread>.<n>`` (``instance``: the node and run,
which a replay reproduces), tracks, releases and areas are visited in sorted
order — the same input gives byte-identical output.

The CAP ``status`` comes from the engine's *mode*, never from a caller:
``WarningEngine()`` is a :class:`~tocsin.warning.mode.DrillMode` (Exercise);
``Actual`` needs a :class:`~tocsin.warning.mode.LiveMode`.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import shapely
import shapely.ops

from tocsin.dynamics.forces import accel_ecef
from tocsin.geo import ecef_to_geodetic
from tocsin.warning.cap import CapMessage, CapReference, area_name, render_cap
from tocsin.warning.lifecycle import URGENCY, AreaThread, Cause, Desired, Instruction, Issue
from tocsin.warning.mode import DrillMode, Mode, check_status, live_sender, mode_note
from tocsin.warning.policy import Release, WarningConfig
from tocsin.warning.texts import COUNTRY_TZ, DEFAULT_TZ, LANGS, Facts, Lang, Names, langs_for
from tocsin.warning.threat import (
    Kept,
    Threat,
    ThreatConfig,
    assess,
    assess_lost,
    disc,
    held_far_end,
    keep_region,
    thrust_from_speeds,
)
from tocsin.wire.messages import AlertBody, Envelope, TrackBody, make

if TYPE_CHECKING:
    from tocsin.warning.capsign import CapSigner


class Area(Protocol):
    """What the engine needs of an area (``tocsin.warning.areas.Area`` fits)."""

    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def name_ja(self) -> str: ...
    @property
    def name_ko(self) -> str: ...
    @property
    def geometry(self) -> shapely.Geometry: ...

    def cap_polygons(self, max_points: int = 100) -> list[str]: ...


class Registry(Protocol):
    """What the engine needs of the area registry."""

    def intersecting(self, geom: shapely.Geometry) -> Sequence[Area]: ...
    def get(self, code: str) -> Area: ...


#: how often (data time) a ``push`` also runs the time-driven rules
TICK_S = 0.5
#: a track silent this long (data time) that warns nothing is forgotten
FORGET_S = 3600.0
#: a new track this close to where a followed missile is (m; its last report
#: flown on, at most ``KIN_MAX_DT_S`` old) is a piece of it or the same missile
#: tracked anew: it shares its launch point
#: below this height a descending object whose prediction jumps is manoeuvring (m)
MANOEUVRE_ALT_M = 100_000.0
KIN_RADIUS_M = 25_000.0
KIN_MAX_DT_S = 30.0

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")

#: CAP polygons per area and point budget, kept for the life of the process:
#: a pure function of the area (its geometry never changes). Computed on an
#: area's first alert they cost up to ~30 ms (a sea zone's rings simplified),
#: on the way out of that area's first "take shelter"; for all 332 areas of the
#: default registry 0.44 CPU-s, which :meth:`WarningEngine.prepare` spends
#: beforehand (the stage process's warm-up, :func:`tocsin.stageproc.warm_up`)
_CAP_POLYGONS: dict[tuple[int, int], tuple[Area, list[str]]] = {}


def cap_polygons(area: Area, max_points: int) -> list[str]:
    """``area.cap_polygons(max_points)``, computed once per process (the area
    object itself is the key: two registries may name different shapes alike)."""
    key = (id(area), max_points)
    got = _CAP_POLYGONS.get(key)
    if got is not None and got[0] is area:
        return got[1]
    polys = area.cap_polygons(max_points)
    _CAP_POLYGONS[key] = (area, polys)
    return polys


def safe_id(s: str) -> str:
    """An identifier usable in CAP ids and file names (no spaces, commas, dots)."""
    return _SAFE.sub("_", s)[:64] or "_"


def _ground_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (m) on a 6,371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a)))


def _sub_point(body: TrackBody) -> tuple[float, float, float]:
    """(lat, lon, position 1-sigma in m) of a track report."""
    la, lo, _ = ecef_to_geodetic(np.asarray(body.state_ecef[:3], dtype=np.float64))
    p = np.asarray(body.cov, dtype=np.float64).reshape(6, 6)
    sig = float(np.sqrt(max(np.trace(p[:3, :3]) / 3.0, 0.0)))
    return (float(la), float(lo), sig)


@dataclass(frozen=True, slots=True)
class _Risk:
    """What one track puts at risk in one area."""

    t: float  # when the hazard reaches the area (epoch s)
    instruction: Instruction  # shelter (may pass over) | fall (may come down here)
    impact_t: float | None = None
    #: tracking lost: since when, and the latest time it could arrive (then: close)
    lost_t: float | None = None
    until: float | None = None
    #: a track that ended with a settled prediction: close this area at ``until`` as ``ends``
    ends: str | None = None


@dataclass
class _TrackState:
    track: TrackBody
    history: deque[tuple[float, np.ndarray]] = field(default_factory=lambda: deque(maxlen=16))
    threat: Threat | None = None
    #: the latest assessment with an impact prediction (after burnout)
    ballistic: Threat | None = None
    #: sub-point (lat, lon, position sigma m) of the track's first report not classed
    #: ``air``: the origin of the boost heading (``threat._launch_plane_velocity``)
    origin: tuple[float, float, float] | None = None
    #: per release partner: area code -> what this track puts at risk there
    risks: dict[str, dict[str, _Risk]] = field(default_factory=dict)
    #: the launch point (lat, lon, sigma m) of the missile this track was born
    #: beside, when it was (``WarningEngine._kin_origin``)
    kin_launch: tuple[float, float, float] | None = None
    #: the track it was born beside (a piece of that missile or the same
    #: missile tracked anew: :meth:`WarningEngine._same_missile`)
    kin: str | None = None
    #: areas the object has been over (its sub-point within ``min_buffer_m``):
    #: one dropped after that has been *passed*; one never reached was warned in error
    reached: set[str] = field(default_factory=set)
    #: the track has been eligible to warn (confirmed ballistic, good quality)
    eligible: bool = False
    #: its latest report measured by a sensor (status confirmed) and the thrust then
    measured: TrackBody | None = None
    thrust: float | None = None
    #: ended (deleted or silent): "" live, "predicted" (follows its settled
    #: prediction), "lost" (lost before its impact was known), "fallen"
    ended: str = ""
    #: the latest settled impact prediction (lat, lon, 95 % semi-major m), and
    #: whether the object has been seen to manoeuvre on its way down (its
    #: prediction jumped beyond both ellipses): then areas are only added
    last_impact: tuple[float, float, float] | None = None
    manoeuvre: bool = False
    #: a separated piece (``role`` stage/debris) from its first report on: a
    #: track that warned as a missile and is later called a stage (the tracker
    #: may keep the spent stage on the missile's track) stays a missile for the
    #: warning: what it warned is never narrowed by a relabel
    role: str | None = None
    #: per release partner: areas the forecast withdrew whose close has not
    #: been sent -> what this track put at risk there and the thread
    #: (:attr:`AreaThread.thread`) that told it: held again if, before the
    #: close goes out, a newer forecast admits the area (``keep_named``,
    #: ``WarningEngine._hold``) or its reach or a manoeuvre holds what the
    #: track named (``WarningEngine._pending``)
    withdrawn: dict[str, dict[str, tuple[_Risk, int]]] = field(default_factory=dict)

    @property
    def warns(self) -> bool:
        return any(self.risks.values())


class _Keep:
    """:func:`~tocsin.warning.threat.keep_region` of one report, built only
    when an area it no longer names must be tested against it."""

    __slots__ = ("_body", "_cfg", "_done", "_kept", "_path")

    def __init__(self, body: TrackBody, cfg: ThreatConfig, *, path: bool) -> None:
        self._body, self._cfg, self._path = body, cfg, path
        self._done = False
        self._kept: Kept | None = None

    def times(self, areas: Sequence[Area]) -> dict[str, float]:
        if not areas:
            return {}
        if not self._done:
            self._kept, self._done = keep_region(self._body, self._cfg, path=self._path), True
        return {} if self._kept is None else self._kept.times(areas)


class WarningEngine:
    """The warning stage (module doc)."""

    #: what construction gives the engine, never taken from a snapshot
    #: (tocsin.journal.snapshot): the policy, the run mode (a snapshot must
    #: never turn a drill live or a live run into a drill), the area registry and
    #: what is derived from them
    snapshot_exclude: ClassVar[tuple[str, ...]] = (
        "config",
        "mode",
        "_registry",
        "_threat_cfg",
        "_polygons",
        "instance",
        "_origin_names",
        "_release",
        "_signer",
    )

    def __init__(
        self,
        config: WarningConfig | None = None,
        *,
        mode: Mode | None = None,
        registry: Registry | None = None,
        instance: str = "local",
        origin_names: Callable[[float, float], Names | None] | None = None,
        signer: CapSigner | None = None,
    ) -> None:
        self.config = config or WarningConfig()
        self.mode: Mode = mode if mode is not None else DrillMode()
        self._registry = registry
        self.instance = safe_id(instance)
        self._origin_names = origin_names
        #: signs every CAP document (XML-DSig; :mod:`tocsin.warning.capsign`) when given
        self._signer = signer
        self._threat_cfg = self.config.threat_config()
        self._tracks: dict[str, _TrackState] = {}
        self._seq = 0
        self._now = 0.0
        self._polygons: dict[str, list[str]] = {}
        self._last_tick = -1e300
        #: per release partner: area code -> its warning threads
        self._threads: dict[str, dict[str, AreaThread]] = {r.partner: {} for r in self.config.releases}
        #: per release partner: area code -> track id -> what that track puts at risk there
        self._by_area: dict[str, dict[str, dict[str, _Risk]]] = {r.partner: {} for r in self.config.releases}
        #: per release partner: area code -> the cause of its latest drop (for the close)
        self._release = {r.partner: r for r in self.config.releases}
        #: counters for operators and tests
        self.stats: dict[str, int] = {"tracks": 0, "ignored": 0, "assessed": 0, "alerts": 0, "lost": 0}

    # ------------------------------------------------------------ registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from tocsin.warning.areas import AreaRegistry

            self._registry = AreaRegistry.default()
        return self._registry

    # ------------------------------------------------------------ Stage

    def push(self, env: Envelope) -> list[Envelope]:
        if env.kind != "track" or not isinstance(env.body, TrackBody):
            return []
        self.stats["tracks"] += 1
        # a climbing missile's "may pull up" footprint: its far end waits for
        # the apogee (threat.held_far_end); every rule below reads this report
        body: TrackBody = held_far_end(env.body, self._threat_cfg)
        t = max(self._now, float(env.sent))
        self._now = t
        st = self._tracks.get(body.id)
        if st is None:
            st = _TrackState(track=body, role=body.role if body.role in ("stage", "debris") else None)
            self._tracks[body.id] = st
        elif body.t < st.track.t:  # a stale report of this track: keep the newer
            return self._tick(t, every=TICK_S)
        if body.status != "deleted":
            st.track = body
            if st.ended and body.status != "lost":  # the track is back: its reports govern again
                st.ended = ""
        st.history.append((body.t, np.asarray(body.state_ecef[3:], dtype=np.float64)))
        # the heading origin: the track's first report of whatever class but air. The
        # tracker calls a missile ballistic only once its velocity is well estimated
        # (a link outage or a single radar can make that tens of seconds into the
        # flight); its earlier positions are the same object's and lengthen the
        # baseline. An aircraft's path says nothing about a launch plane.
        if body.class_ == "air":
            st.origin = None
        else:
            sub = _sub_point(body)
            if st.origin is None:
                st.origin = sub
                # a track born in mid-flight near a missile already followed is a
                # piece of it (a separated stage or debris) or the same missile
                # tracked anew: it was launched where that missile was, not where
                # it was first seen (what the text says; the boost heading keeps
                # its own baseline: a salvo's missiles fly apart from one site)
                kin = self._kin_origin(st, body)
                if kin is not None:
                    st.kin_launch, st.kin = kin
            if body.status != "deleted" and (st.eligible or body.class_ == "ballistic"):
                near = disc(sub[0], sub[1], self._threat_cfg.min_buffer_m)
                st.reached.update(a.code for a in self.registry.intersecting(near))
        out: list[Envelope] = []
        if body.status == "deleted" or (body.status == "lost" and st.eligible and body.class_ != "air"):
            # gone, or no sensor has updated it for the tracker's lost_after_s: what
            # was known of it governs (never silent, module doc) until it is found again
            out += self._end(st, t)
        elif body.class_ == "air":
            # not a missile after all: every area it warned was warned in error
            for rel in self.config.releases:
                out += self._set(st, rel, {}, t, Cause("error"))
        elif self.config.eligible(body.status, body.class_, body.quality):
            out += self._assess_track(st, body, t)
        else:
            # below the thresholds (tentative, unknown class, low quality): it
            # neither raises nor changes a warning
            self.stats["ignored"] += 1
        out += self._tick(t, skip=body.id, every=TICK_S)
        return out

    def advance(self, t: float) -> list[Envelope]:
        t = max(self._now, float(t))
        self._now = t
        return self._tick(t)

    def threats(self) -> dict[str, Threat]:
        """The latest assessment of every track being followed (for displays)."""
        return {tid: st.threat for tid, st in sorted(self._tracks.items()) if st.threat is not None}

    def active_areas(self) -> dict[str, list[str]]:
        """Per release partner, the areas with an open warning (for displays and tests)."""
        return {
            p: sorted(c for c, th in threads.items() if th.active) for p, threads in self._threads.items()
        }

    # ------------------------------------------------------------ tracks

    def _assess_track(self, st: _TrackState, body: TrackBody, t: float) -> list[Envelope]:
        st.eligible = True
        if body.status == "confirmed":
            st.measured = body
            if body.phase == "boost" or body.impact is None:
                st.thrust = self._thrust(st, body)
        threat = self._assess(st, body)
        self.stats["assessed"] += 1
        st.threat = threat
        if threat.phase == "ballistic":
            st.ballistic = threat
        self._watch_manoeuvre(st, body)
        if threat.impact_t is not None and threat.phase == "ballistic" and threat.impact_t < body.t:
            return []  # predicted to have come down already: the fall rule closes it
        countries = {c: self._country(c) for c in threat.codes}
        out: list[Envelope] = []
        piece = self.config.objects.rule(st.role)
        keep = (
            _Keep(body, self._threat_cfg, path=piece is None)
            if threat.phase == "ballistic" and self._threat_cfg.keep_named
            else None
        )
        for rel in self.config.releases:
            codes = self.config.release_areas(rel, threat.codes, countries)
            if piece is not None:
                # a separated stage or debris: only where it may fall, by policy
                new = {
                    r.code: _Risk(t=r.t, instruction="debris", impact_t=threat.impact_t)
                    for r in threat.risks
                    if r.code in codes
                    and r.reason == "impact"
                    and threat.phase == "ballistic"
                    and self._piece_kind_ok(r.code, piece)
                }
                self._hold(st, rel, new, keep)
                out += self._set(st, rel, new, t)
                continue
            new = {
                r.code: _Risk(
                    t=r.t,
                    instruction="fall" if r.reason == "impact" else "shelter",
                    impact_t=threat.impact_t if threat.phase == "ballistic" else None,
                )
                for r in threat.risks
                if r.code in codes
            }
            # what this track warned before, as a live track's risk: a track
            # found again governs by its reports again, so a risk it kept while
            # lost (``_lose``, ``_end``: a window that closes it at ``until`` as
            # "lost" or "passed") is not carried on by a hold below (before: a
            # track back within its lost window, whose uncertain far end still
            # reached an area, had the area closed "tracking lost: the last time
            # it could have come down here has passed" when the old window ended)
            before = {
                c: _Risk(r.t, r.instruction, r.impact_t) for c, r in st.risks.get(rel.partner, {}).items()
            }
            # and what it withdrew whose correction has not gone out (the Cancel
            # waits ``cancel_hold_s``): the same story, named before
            pending = self._pending(st, rel, before)
            # and what another track of the same missile told whose correction
            # is pending: the same story, named before by the same missile
            # (a track that neither names nor withdraws takes none on)
            kin = {} if threat.unknown else self._kin_pending(st, rel, before | pending | new)
            if threat.reach is not None:
                # an area named before stays warned while the missile could still
                # reach it: a hold (boost far end, uncertain path end) only delays naming
                for code, r in (before | pending | kin).items():
                    if code not in new and self._in_reach(code, threat):
                        new[code] = r
            if threat.unknown:
                # the heading is not known well enough to name areas (a boosting
                # track that has lost its launch estimate: a track that took over
                # from its duplicate, Lifecycle.confirm): it neither names nor
                # withdraws an area, as a track below the thresholds (before:
                # the areas it had named were told "it has passed" while the
                # missile was still flying towards them)
                for code, r in before.items():
                    new.setdefault(code, r)
            if st.manoeuvre:
                # a manoeuvring re-entry widens, never narrows, what is warned:
                # every area named since stays until the object has come down
                for code, r in (before | pending).items():
                    new.setdefault(code, r)
            self._hold(st, rel, new, keep, kin)
            out += self._set(st, rel, new, t)
        return out

    def _hold(
        self,
        st: _TrackState,
        rel: Release,
        new: dict[str, _Risk],
        keep: _Keep | None,
        kin: dict[str, _Risk] | None = None,
    ) -> None:
        """An area this track named stays named while the forecast has not
        clearly left it (:func:`~tocsin.warning.threat.keep_region`: the
        hysteresis of the corridor and the ellipse), so a point wandering
        within its own uncertainty at a corridor's edge does not withdraw and
        re-name it on every report; its time is where the hysteresis's
        corridor (or ellipse) reaches it now, not what an older report said.

        An area withdrawn by an earlier report whose close has not gone out
        yet (a Cancel waits ``cancel_hold_s``) is the same story: if the newest
        forecast admits it again it is held again and the close is withdrawn
        (nothing sent), rather than sending "it was a mistake" while the
        forecast still admits the area and naming it anew on the next report.

        ``kin``: areas another track of the same missile told whose correction
        is pending (:meth:`_kin_pending`): held as this track's own when its
        forecast admits them (the same story: one missile's forecasts, not
        one track's, decide when it has clearly left an area), else left to
        that correction (not recorded here: this track never told them)."""
        partner = rel.partner
        old = st.risks.get(partner, {})
        threads = self._threads[partner]
        # withdrawn before, in a story still open (the thread that told it):
        # held again when the newest forecast admits it, whether its close is
        # pending or another track keeps the area at risk (an all-clear has no
        # hold: a record that waited for the other track lost the area the
        # moment that track's risk ended as "passed", "lost" or "fell")
        told = {
            c: (r, n)
            for c, (r, n) in st.withdrawn.get(partner, {}).items()
            if c not in new
            and c not in old
            and (th := threads.get(c)) is not None
            and th.active
            and th.thread == n
        }
        prior = {c: r for c, (r, _) in told.items()}
        prior.update((c, r) for c, r in old.items() if c not in new)
        taken = {c: r for c, r in (kin or {}).items() if c not in new and c not in prior}
        impact_t = st.threat.impact_t if st.threat is not None else None
        held: dict[str, float] = {}
        if keep is not None:
            held = keep.times([a for c in sorted(prior | taken) if (a := self._area(c)) is not None])
        for code, t in held.items():
            r = prior[code] if code in prior else taken[code]
            new[code] = _Risk(t, r.instruction, impact_t if r.impact_t is not None else None)
        # what this report withdraws: with its thread's number now (the close,
        # if any, goes out in that thread; a later Alert opens another)
        left = {c: rn for c, rn in told.items() if c not in held}
        left.update(
            (c, (r, threads[c].thread if c in threads else 0))
            for c, r in old.items()
            if c not in new and c not in held
        )
        if left:
            st.withdrawn[partner] = left
        else:
            st.withdrawn.pop(partner, None)

    def _pending(self, st: _TrackState, rel: Release, named: dict[str, _Risk]) -> dict[str, _Risk]:
        """The areas this track withdrew (not in ``named``) whose story is still
        open with nothing at risk there and a correction pending (a Cancel
        waits ``cancel_hold_s``), each with the risk the track had put there
        (``_TrackState.withdrawn``, kept by :meth:`_hold` with ``keep_named``
        on or off)."""
        threads = self._threads[rel.partner]
        return {
            c: _Risk(r.t, r.instruction, r.impact_t)
            for c, (r, n) in st.withdrawn.get(rel.partner, {}).items()
            if c not in named
            and (th := threads.get(c)) is not None
            and th.active
            and th.thread == n
            and th.desired is None
            and (th.cause is None or th.cause.reason == "error")
        }

    def _kin_pending(self, st: _TrackState, rel: Release, named: dict[str, _Risk]) -> dict[str, _Risk]:
        """The areas (not in ``named``) whose story is still open with nothing
        at risk and a correction pending, told by another track of the same
        missile (:meth:`_same_missile`): a track behind the story's last
        message, or one that withdrew the area in this story. Each with the
        risk that message told. (A separated piece takes none on: it warns
        only where it may fall, by policy, and never asks.)"""
        threads = self._threads[rel.partner]
        out: dict[str, _Risk] = {}
        for code in sorted(threads):
            th = threads[code]
            if (
                code in named
                or not th.active
                or th.desired is not None
                or th.last is None
                or (th.cause is not None and th.cause.reason != "error")
            ):
                continue
            told = set(th.last.tracks)
            told.update(
                tid
                for tid, o in self._tracks.items()
                if (rn := o.withdrawn.get(rel.partner, {}).get(code)) is not None and rn[1] == th.thread
            )
            if any(self._same_missile(st, tid) for tid in sorted(told)):
                d = th.last
                instruction: Instruction = "shelter" if d.instruction == "lost" else d.instruction
                out[code] = _Risk(d.onset, instruction, d.impact_t)
        return out

    def _same_missile(self, st: _TrackState, tid: str) -> bool:
        """Whether track ``tid`` followed the missile ``st`` follows, by what
        the tracks say: one parted from the other (``parent``), both parted
        from one track, or ``st`` was born beside ``tid`` (``_TrackState.kin``)
        and ``tid`` has ended in flight since (lost, or deleted before its
        fall: the same missile tracked anew). A track born beside one that
        flies on, or that fell, is not taken for it: a salvo's missiles are
        born beside one another (combined-salvo: F-6 = S-2 beside F-5 = S-1,
        F-8 = S-3 beside F-6, F-9 = S-4 beside F-8; duplicates-and-replays
        alike) and each tells its own story until its forecast names the
        area. (An ended track that told a story still open is followed until
        it closes, :meth:`_tells`.)"""
        me = st.track.id
        o = self._tracks.get(tid)
        if tid == me or o is None:
            return st.track.parent == tid and tid != me
        if st.track.parent == tid or (st.kin == tid and o.ended in ("lost", "predicted")):
            return True
        return o.track.parent == me or (st.track.parent is not None and o.track.parent == st.track.parent)

    def _area(self, code: str) -> Area | None:
        try:
            return self.registry.get(code)
        except KeyError:
            return None

    def _piece_kind_ok(self, code: str, rule: str) -> bool:
        if rule == "none":
            return False
        if rule == "land-and-sea":
            return True
        try:
            return self.registry.get(code).kind == rule
        except KeyError:
            return False

    def _watch_manoeuvre(self, st: _TrackState, body: TrackBody) -> None:
        """Mark a track whose object manoeuvres on its way down: the tracker says
        so (``manoeuvring``), or, descending below ``MANOEUVRE_ALT_M``, its
        settled impact prediction moved further than both 95 % ellipses and
        ``min_buffer_m`` together (a ballistic object's prediction only tightens
        inside its ellipse)."""
        if body.manoeuvring:  # the tracker saw it manoeuvre
            st.manoeuvre = True
            return
        imp = body.impact
        if body.phase == "boost" or imp is None or imp.ellipse is None or not self._settled(body):
            return
        cur = (imp.lat, imp.lon, imp.ellipse.semi_major_m)
        prev, st.last_impact = st.last_impact, cur
        if prev is None or st.manoeuvre:
            return
        x = np.asarray(body.state_ecef, dtype=np.float64)
        _, _, alt = ecef_to_geodetic(x[:3])
        if float(alt) > MANOEUVRE_ALT_M or float(x[:3] @ x[3:]) >= 0.0:
            return  # not on its way down in the atmosphere
        moved = _ground_m(prev[0], prev[1], cur[0], cur[1])
        if moved > prev[2] + cur[2] + self._threat_cfg.min_buffer_m:
            st.manoeuvre = True

    def _kin_origin(self, st: _TrackState, body: TrackBody) -> tuple[tuple[float, float, float], str] | None:
        """The launch point (lat, lon, sigma m) of the missile a new track was
        born beside, and that missile's track: an eligible track whose last
        report, flown on to this report's time, lies within ``KIN_RADIUS_M``
        (+ what gravity adds) of it (the nearest)."""
        x = np.asarray(body.state_ecef[:3], dtype=np.float64)
        best: tuple[float, tuple[float, float, float], str] | None = None
        for tid in sorted(self._tracks):
            o = self._tracks[tid]
            if o is st or not o.eligible or o.origin is None or o.track.class_ == "air":
                continue
            dt = body.t - o.track.t
            if not -KIN_MAX_DT_S <= dt <= KIN_MAX_DT_S:
                continue
            xo = np.asarray(o.track.state_ecef, dtype=np.float64)
            d = float(np.linalg.norm(xo[:3] + xo[3:] * dt - x))
            if d > KIN_RADIUS_M + 5.0 * dt * dt:
                continue
            la = o.track.launch
            where = (la.lat, la.lon, la.sigma_m) if la is not None else (o.kin_launch or o.origin)
            if best is None or d < best[0]:
                best = (d, where, tid)
        return (best[1], best[2]) if best is not None else None

    def _in_reach(self, code: str, threat: Threat) -> bool:
        try:
            geom = self.registry.get(code).geometry
        except KeyError:
            return False
        return bool(shapely.intersects(geom, threat.reach))

    def _end(self, st: _TrackState, t: float) -> list[Envelope]:
        """The track is gone (deleted, or silent for ``lost_after_s``)."""
        if st.ended:
            return []
        if not st.warns and not st.eligible:
            self._tracks.pop(st.track.id, None)
            return []
        bal = st.ballistic
        cfg = self.config.lifecycle
        settled = (
            bal is not None
            and bal.impact_t is not None
            and st.threat is bal
            and self._settled(st.track)
            and bal.impact_t > t - cfg.all_clear_after_impact_s
        )
        if bal is not None and bal.impact_t is not None and t >= bal.impact_t - cfg.fall_window_s:
            st.ended = "fallen"
            return self._tick_track(st, t)
        if self.config.objects.rule(st.role) is not None:
            # a separated piece cannot thrust: its fall areas stay until it has
            # fallen (the fall rule closes them); nothing else was warned
            st.ended = "predicted"
            return []
        if settled:
            assert bal is not None
            st.ended = "predicted"
            out: list[Envelope] = []
            for rel in self.config.releases:
                cur = st.risks.get(rel.partner, {})
                new = {
                    c: _Risk(r.t, r.instruction, r.impact_t, until=self._passage_end(r, bal), ends="passed")
                    if r.instruction == "shelter"
                    else _Risk(r.t, r.instruction, r.impact_t, until=None)
                    for c, r in cur.items()
                }
                out += self._set(st, rel, new, t)
            return out
        return self._lose(st, t)

    def _passage_end(self, r: _Risk, bal: Threat) -> float:
        """When a lost track with a settled prediction has passed an area it was to fly over."""
        end = r.t + self.config.lifecycle.lost_margin_s
        return (
            min(end, bal.impact_t + self.config.lifecycle.all_clear_after_impact_s) if bal.impact_t else end
        )

    def _settled(self, body: TrackBody) -> bool:
        """The impact is known: a settled ellipse, or a footprint (``manoeuvring``,
        ``may_manoeuvre``: where the object can still go, however wide, from a
        measured state), as :func:`~tocsin.warning.threat.assess` names its areas;
        a track lost with one keeps its areas until its fall, not the boost
        rule's tracking-lost corridor."""
        imp = body.impact
        return (
            body.phase != "boost"
            and imp is not None
            and imp.ellipse is not None
            and (
                imp.ellipse.semi_major_m <= self._threat_cfg.max_ellipse_m
                or bool(body.manoeuvring)
                or bool(body.may_manoeuvre)
            )
        )

    def _lose(self, st: _TrackState, t: float) -> list[Envelope]:
        """Never silent: a track lost before its impact was known keeps what it
        warned, and warns what it could still reach, until it could have got there
        (module doc; :func:`~tocsin.warning.threat.assess_lost`)."""
        self.stats["lost"] += 1
        body = st.measured or st.track
        cfg = self.config.lifecycle
        lost = assess_lost(body, self.registry, self._threat_cfg, thrust=st.thrust, origin=st.origin)
        st.threat = lost.threat
        st.ended = "lost"
        latest = lost.latest
        if st.ballistic is not None and st.ballistic.impact_t is not None:
            latest = max(latest, st.ballistic.impact_t)
        margin = cfg.lost_margin_s
        countries = {c: self._country(c) for c in lost.threat.codes}
        lost_t = body.t
        out: list[Envelope] = []
        for rel in self.config.releases:
            codes = self.config.release_areas(rel, lost.threat.codes, countries)
            new: dict[str, _Risk] = {}
            for c, r in st.risks.get(rel.partner, {}).items():
                end = lost.until.get(c, latest if r.instruction == "fall" else r.t)
                new[c] = _Risk(r.t, r.instruction, r.impact_t, lost_t=lost_t, until=max(end, r.t) + margin)
            for ar in lost.threat.risks:
                if ar.code in codes and ar.code not in new:
                    end = lost.until.get(ar.code, ar.t)
                    new[ar.code] = _Risk(ar.t, "shelter", None, lost_t=lost_t, until=max(end, ar.t) + margin)
            out += self._set(st, rel, new, t)
        return out

    # ------------------------------------------------------------ areas

    def _set(
        self, st: _TrackState, rel: Release, new: dict[str, _Risk], t: float, cause: Cause | None = None
    ) -> list[Envelope]:
        """Replace what track ``st`` puts at risk in ``rel``'s areas; areas it no
        longer names end with ``cause`` (else the cause the drop implies)."""
        partner = rel.partner
        old = st.risks.get(partner, {})
        if not new and not old:
            return []
        by_area = self._by_area[partner]
        tid = st.track.id
        causes: dict[str, Cause] = {}
        for code, r in old.items():
            if code in new:
                continue
            causes[code] = cause or self._drop_cause(st, code, r, t)
            contrib = by_area.get(code)
            if contrib is not None:
                contrib.pop(tid, None)
                if not contrib:
                    del by_area[code]
        for code, r in new.items():
            by_area.setdefault(code, {})[tid] = r
        if new:
            st.risks[partner] = new
        else:
            st.risks.pop(partner, None)
        for code in sorted(causes):
            if code not in by_area and causes[code].reason == "error":
                self._rehold(st, rel, code)
        out: list[Envelope] = []
        for code in sorted(set(old) | set(new)):
            if code in new and old.get(code) == new[code]:
                continue
            out += self._decide(rel, code, t, causes.get(code))
        return out

    def _rehold(self, st: _TrackState, rel: Release, code: str) -> None:
        """Track ``st`` was the last to keep ``code``: its correction is now
        pending. Another live track that withdrew the area in this story while
        ``st`` kept it, and whose newest report may warn (a track below the
        thresholds neither raises nor changes a warning), holds it again if
        its newest assessment holds what it
        named (the holds :meth:`_assess_track` gives a pending area: its reach,
        a manoeuvre, with ``keep_named`` its forecast's allowance), now rather
        than at its next report: a track that reports no more would otherwise
        let the correction go out while its forecast still reaches the area
        (session 15's hole (1): "it was a mistake", then a new Alert once the
        silent track was declared lost; test_stories_slice HELD_SILENT)."""
        partner = rel.partner
        th = self._threads[partner].get(code)
        area = self._area(code)
        if th is None or not th.active or area is None:
            return
        for tid in sorted(self._tracks):
            o = self._tracks[tid]
            rec = o.withdrawn.get(partner, {}).get(code)
            threat = o.threat
            if (
                o is st
                or rec is None
                or rec[1] != th.thread
                or o.ended
                or not o.eligible
                or not self.config.eligible(o.track.status, o.track.class_, o.track.quality)
                or threat is None
                or threat.unknown
                or self.config.objects.rule(o.role) is not None
            ):
                continue
            r = rec[0]
            held = o.manoeuvre or (threat.reach is not None and self._in_reach(code, threat))
            if not held and self._threat_cfg.keep_named and threat.phase == "ballistic":
                kept = keep_region(o.track, self._threat_cfg)
                at = kept.times([area]).get(code) if kept is not None else None
                if at is not None:
                    impact_t = threat.impact_t if r.impact_t is not None else None
                    r, held = _Risk(at, r.instruction, impact_t), True
            if not held:
                continue
            o.risks.setdefault(partner, {})[code] = _Risk(r.t, r.instruction, r.impact_t)
            self._by_area[partner].setdefault(code, {})[tid] = o.risks[partner][code]
            del o.withdrawn[partner][code]
            if not o.withdrawn[partner]:
                del o.withdrawn[partner]

    def _drop_cause(self, st: _TrackState, code: str, r: _Risk, t: float) -> Cause:
        """Why a track's risk to an area ended, when the track does not say."""
        if r.until is not None and t >= r.until:
            if r.ends == "passed":
                return Cause("passed")
            return Cause("lost", t=r.lost_t, until=r.until)
        bal = st.ballistic
        if bal is not None and bal.impact_t is not None and t >= bal.impact_t:
            return self._fell(st)
        return Cause("passed") if code in st.reached else Cause("error")

    def _fell(self, st: _TrackState) -> Cause:
        bal = st.ballistic
        if bal is None or bal.impact_t is None:
            return Cause("fell")
        return Cause("fell", t=bal.impact_t, lat=bal.impact_lat, lon=bal.impact_lon)

    def _desired(self, partner: str, code: str) -> Desired | None:
        contrib = self._by_area[partner].get(code)
        if not contrib:
            return None
        rs = [contrib[k] for k in sorted(contrib)]
        onset = min(r.t for r in rs)
        impacts = [r.impact_t for r in rs if r.impact_t is not None]
        if all(r.lost_t is not None for r in rs):
            return Desired(
                onset=onset,
                instruction="lost",
                tracks=tuple(sorted(contrib)),
                impact_t=max(impacts) if impacts else None,
                lost_t=min(r.lost_t for r in rs if r.lost_t is not None),
                until=max(r.until for r in rs if r.until is not None),
            )
        # the most urgent of what the tracks say (a piece's "debris" < "shelter" < "fall")
        instr: Instruction = max(
            ("shelter" if r.instruction == "lost" else r.instruction for r in rs), key=lambda i: URGENCY[i]
        )
        return Desired(
            onset=onset,
            instruction=instr,
            tracks=tuple(sorted(contrib)),
            impact_t=max(impacts) if impacts else None,
        )

    def _thread(self, partner: str, code: str) -> AreaThread:
        th = self._threads[partner].get(code)
        if th is None:
            th = AreaThread(
                base=f"{self.instance}.{partner}.{safe_id(code)}", area=code, cfg=self.config.lifecycle
            )
            self._threads[partner][code] = th
        return th

    def _decide(self, rel: Release, code: str, t: float, cause: Cause | None) -> list[Envelope]:
        th = self._thread(rel.partner, code)
        return self._emit(th.update(self._desired(rel.partner, code), t, cause), rel)

    # ------------------------------------------------------------ time

    def _tick(self, t: float, skip: str | None = None, *, every: float = 0.0) -> list[Envelope]:
        """Time-driven messages; from ``push`` at most once per ``TICK_S`` of data
        time (each push need not visit every track and area)."""
        if t - self._last_tick < every:
            return []
        self._last_tick = t
        out: list[Envelope] = []
        for tid in sorted(self._tracks):
            if tid == skip:
                continue
            out += self._tick_track(self._tracks[tid], t)
        for rel in self.config.releases:
            threads = self._threads[rel.partner]
            for code in sorted(threads):
                th = threads[code]
                if th.active or th.desired is not None:
                    out += self._emit(th.tick(t), rel)
        return out

    def _tick_track(self, st: _TrackState, t: float) -> list[Envelope]:
        cfg = self.config.lifecycle
        out: list[Envelope] = []
        bal = st.ballistic
        # silent for lost_after_s: ``>=`` (less 1e-9) as the cancel hold, so a report
        # on a tick and the same report a hair earlier (the same tick: the drill
        # pushes a tick's tracks before its advance) are lost at the same tick
        if not st.ended and st.eligible and t - st.track.t >= cfg.lost_after_s - 1e-9:
            out += self._end(st, t)  # silent: as if deleted
        if st.warns:
            # areas whose window has ended (passed by a track that ended, or a lost
            # track's latest time), then everything left once it has fallen
            for rel in self.config.releases:
                cur = st.risks.get(rel.partner)
                if not cur:
                    continue
                done = [c for c, r in cur.items() if r.until is not None and t >= r.until]
                if done:
                    keep = {c: r for c, r in cur.items() if c not in done}
                    out += self._set(st, rel, keep, t)
                    self._record_ended(st, rel, {c: cur[c] for c in done})
            fallen = (
                bal is not None
                and bal.impact_t is not None
                and t >= bal.impact_t + cfg.all_clear_after_impact_s
            )
            if fallen and st.ended != "lost" and st.warns:
                for rel in self.config.releases:
                    out += self._set(st, rel, {}, t, self._fell(st))
        if not st.warns and ((st.ended and not self._tells(st)) or t - st.track.t > FORGET_S):
            self._tracks.pop(st.track.id, None)
        return out

    def _record_ended(self, st: _TrackState, rel: Release, ended: dict[str, _Risk]) -> None:
        """This track's risk to these areas ended by time (the window of a
        track lost, or of one that ended with a settled prediction). An area
        another track still keeps at risk stays in a story this track told:
        it is recorded as withdrawn in that story (:meth:`_hold`), so if the
        track is found again with a forecast that admits the area it holds it
        (before: it had no record, and the other track's close went out while
        its newest forecast admitted the area). An area whose close is due
        has no one left to hold it: no record."""
        threads = self._threads[rel.partner]
        rec = st.withdrawn.setdefault(rel.partner, {})
        for code in sorted(ended):
            th = threads.get(code)
            if th is not None and th.active and th.desired is not None:
                r = ended[code]
                rec[code] = (_Risk(r.t, r.instruction, r.impact_t), th.thread)
        if not rec:
            st.withdrawn.pop(rel.partner, None)

    def _tells(self, st: _TrackState) -> bool:
        """Whether a story this track told is still open with a record of it
        (:attr:`_TrackState.withdrawn`): an ended track is kept for it (found
        again, it holds what its forecast admits)."""
        for partner, recs in st.withdrawn.items():
            threads = self._threads[partner]
            for code, (_, n) in recs.items():
                th = threads.get(code)
                if th is not None and th.active and th.thread == n:
                    return True
        return False

    # ------------------------------------------------------------ helpers

    def _country(self, code: str) -> str:
        try:
            return self.registry.get(code).country
        except KeyError:
            return ""

    def _thrust(self, st: _TrackState, body: TrackBody) -> float | None:
        """Thrust acceleration along the velocity from the speeds of the last
        ``boost_speed_window_s`` seconds (:func:`~tocsin.warning.threat.thrust_from_speeds`)."""
        cfg = self._threat_cfg
        recent = [(t, v) for t, v in st.history if body.t - t <= cfg.boost_speed_window_s]
        if len(recent) < 3:
            return None
        ts = np.array([t for t, _ in recent])
        sp = np.array([float(np.linalg.norm(v)) for _, v in recent])
        x = np.asarray(body.state_ecef, dtype=np.float64)
        vhat = x[3:] / max(float(np.linalg.norm(x[3:])), 1e-9)
        g_along = float(accel_ecef(x[:3], x[3:]) @ vhat)
        return thrust_from_speeds(ts, sp, g_along, cfg.boost_max_accel)

    def _assess(self, st: _TrackState, body: TrackBody) -> Threat:
        boost = body.phase == "boost" or body.impact is None
        thrust = self._thrust(st, body) if boost else None
        return assess(body, self.registry, self._threat_cfg, thrust=thrust, origin=st.origin)

    def _cap_polygons(self, areas: list[Area]) -> dict[str, list[str]]:
        """CAP polygons per area, computed once per engine (areas never change)."""
        for a in areas:
            if a.code not in self._polygons:
                self._polygons[a.code] = cap_polygons(a, self.config.max_polygon_points)
        return {a.code: self._polygons[a.code] for a in areas}

    def prepare(self) -> int:
        """Compute beforehand what an area's first alert would otherwise compute
        on its way out: the CAP polygons of every area of the registry (kept for
        the process, :func:`cap_polygons`) and the launch-origin table the
        texts name the launch from (~50 ms to import and load on the first
        alert). Changes no output. Returns how many areas."""
        from tocsin.warning.origin import origins

        origins()
        reg = self.registry
        areas = list(reg) if isinstance(reg, Iterable) else []
        for a in areas:
            cap_polygons(a, self.config.max_polygon_points)
        return len(areas)

    def sender(self, rel: Release) -> str:
        """The CAP sender of ``rel``'s public (one per public, module doc of policy)."""
        return self.config.sender_for(rel, live_sender(self.mode))

    def _tz(self, rel: Release, area: Area) -> str:
        if rel.timezone:
            return rel.timezone
        return COUNTRY_TZ.get(area.country) or COUNTRY_TZ.get(rel.partner) or DEFAULT_TZ

    def _launch(self, tracks: Sequence[str]) -> tuple[float, float, float] | None:
        """The launch point (lat, lon, 1-sigma m) of the first track: the tracker's
        estimate, else that of the missile it was born beside, else its first sub-point."""
        for tid in tracks:
            st = self._tracks.get(tid)
            if st is None:
                continue
            la = st.track.launch
            if la is not None:
                return (la.lat, la.lon, la.sigma_m)
            if st.kin_launch is not None:
                return st.kin_launch
            if st.origin is not None:
                return st.origin
        return None

    def _origin(self, where: tuple[float, float, float] | None) -> Names | None:
        if where is None:
            return None
        if self._origin_names is not None:
            return self._origin_names(where[0], where[1])
        return launch_origin_names(where[0], where[1], uncertainty_m=where[2])

    def _emit(self, issues: list[Issue], rel: Release) -> list[Envelope]:
        return [self._alert(iss, rel) for iss in issues]

    def _alert(self, iss: Issue, rel: Release) -> Envelope:
        status = check_status(self.mode, self.mode.status)
        sender = self.sender(rel)
        area = self.registry.get(iss.area)
        d = iss.desired
        close = iss.close
        names: dict[Lang, list[str]] = {lang: [_in_sentence(area, lang)] for lang in LANGS}
        tracks = iss.tracks
        where = self._launch(tracks) if tracks else None
        fall_place = None
        if close is not None and close.reason == "fell" and close.lat is not None and close.lon is not None:
            fall_place = fall_place_names(self.registry, close.lat, close.lon, rel.partner)
        facts = Facts(
            msg_type=iss.msg_type,
            status=status,
            area_names=names,
            instruction=d.instruction if d is not None else "shelter",
            close=close.reason if close is not None else None,
            previous=iss.previous,
            onset=iss.onset,
            tz=self._tz(rel, area),
            origin=self._origin(where),
            launch_lat=where[0] if where else None,
            launch_lon=where[1] if where else None,
            lost_t=(d.lost_t if d is not None else None)
            or (close.t if close and close.reason == "lost" else None),
            until=(d.until if d is not None else None) or (close.until if close else None),
            fall_t=close.t if close is not None and close.reason == "fell" else None,
            fall_place=fall_place,
            area_kinds=frozenset({area.kind}),
        )
        params: list[tuple[str, str]] = []
        if d is not None:
            params.append(("tocsin-instruction", d.instruction))
        if close is not None:
            params.append(("tocsin-close", close.reason))
        cap = render_cap(
            CapMessage(
                identifier=iss.id,
                sender=sender,
                sent=iss.t,
                status=status,
                msg_type=iss.msg_type,
                facts=facts,
                areas=[area],
                onset=iss.onset,
                expires=iss.expires,
                references=[CapReference(sender, r.id, r.sent) for r in iss.references],
                incidents=[safe_id(x) for x in tracks],
                max_polygon_points=self.config.max_polygon_points,
                polygons=self._cap_polygons([area]),
                languages=langs_for(rel.partner),
                parameters=params,
                extra_note=mode_note(self.mode),
                profile=rel.cap_profile,
            )
        )
        if self._signer is not None:
            cap = self._signer.sign(cap)
        body = AlertBody(
            id=iss.id,
            t=iss.t,
            msg_type=iss.msg_type,
            status=status,
            tracks=list(tracks),
            areas=[] if close is not None else [iss.area],
            onset=iss.onset,
            expires=iss.expires,
            references=[r.id for r in iss.references],
            cap=cap,
            closes=[iss.area] if close is not None else [],
            close=close.reason if close is not None else None,
        )
        self._seq += 1
        self.stats["alerts"] += 1
        return make("alert", body, partner=rel.partner, source=self.config.source, seq=self._seq, sent=iss.t)


# ---------------------------------------------------------------- places


def _in_sentence(area: Area, lang: Lang) -> str:
    """An area's name as it reads inside a sentence ("coastal waters off
    Hokkaido", not "Coastal waters off Hokkaido", in English)."""
    name = area_name(area, lang)
    if lang == "en-US" and area.kind == "sea":
        if name.startswith("Coastal waters"):
            return "the c" + name[1:]
        if not name.lower().startswith("the "):
            return "the " + name  # "over the Sea of Japan (East Sea)", "in the East China Sea"
    return name


_COUNTRY = {
    "JP": {"ja-JP": "日本", "ko-KR": "일본", "en-US": "Japan"},
    "KR": {"ja-JP": "韓国", "ko-KR": "대한민국", "en-US": "the Republic of Korea"},
}
_DIRS = {
    "ja-JP": ["北", "北東", "東", "南東", "南", "南西", "西", "北西"],
    "ko-KR": ["북쪽", "북동쪽", "동쪽", "남동쪽", "남쪽", "남서쪽", "서쪽", "북서쪽"],
    "en-US": ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"],
}


def fall_place_names(registry: object, lat: float, lon: float, partner: str) -> Names:
    """Where an object came down, per language: the land area; the sea zone and
    whose exclusive economic zone (estimated: the registry's sea zones reach
    200 nmi off the JP/KR coasts, docs/areas.md); or, beyond every zone, the
    distance and direction from the nearest land area, outside the EEZ."""
    at_point = getattr(registry, "at_point", None)
    hits = list(at_point(lat, lon)) if callable(at_point) else []
    land = [a for a in hits if a.kind == "land"]
    if land:
        a = land[0]
        return {lang: (area_name(a, lang) if lang != "en-US" else f"in {a.name_en}") for lang in LANGS}
    sea = [a for a in hits if a.kind == "sea"]
    if sea:
        a = sea[0]
        c = _COUNTRY.get(a.country)
        if c is None:
            return {
                lang: (area_name(a, lang) if lang != "en-US" else f"in the {a.name_en}") for lang in LANGS
            }
        return {
            "ja-JP": f"{a.name_ja}（{c['ja-JP']}の排他的経済水域（EEZ）内とみられます）",
            "ko-KR": f"{a.name_ko}({c['ko-KR']} 배타적경제수역(EEZ) 안으로 추정)",
            "en-US": f"in the {a.name_en}, inside the exclusive economic zone of {c['en-US']} (estimated)",
        }
    near = _nearest_land(registry, lat, lon)
    if near is None:
        return {
            "ja-JP": "排他的経済水域（EEZ）外の海域",
            "ko-KR": "배타적경제수역(EEZ) 밖 해상",
            "en-US": "in the sea outside the exclusive economic zones",
        }
    a, km, i = near
    c = _COUNTRY.get(partner) or _COUNTRY.get(a.country) or _COUNTRY["JP"]
    dist = f"{int(round(km, -1)):,}"
    return {
        "ja-JP": f"{a.name_ja}の{_DIRS['ja-JP'][i]}約{dist}キロメートルの、"
        f"{c['ja-JP']}の排他的経済水域（EEZ）外の海域",
        "ko-KR": f"{a.name_ko} {_DIRS['ko-KR'][i]} 약 {dist}km, {c['ko-KR']} 배타적경제수역(EEZ) 밖 해상",
        "en-US": f"about {dist} km {_DIRS['en-US'][i]} of {a.name_en}, outside the exclusive economic zone "
        f"of {c['en-US']}",
    }


def _nearest_land(registry: object, lat: float, lon: float) -> tuple[Area, float, int] | None:
    """The land area nearest to (lat, lon), its distance in km and the 8-point
    direction index (0 = north) from it to the point."""
    land = getattr(registry, "land", None)
    areas: list[Area] = list(land()) if callable(land) else []
    if not areas:
        return None
    kx = 111.32 * math.cos(math.radians(lat))
    ky = 110.57

    def to_km(xy: np.ndarray) -> np.ndarray:
        return np.stack([(xy[:, 0] - lon) * kx, (xy[:, 1] - lat) * ky], axis=1)

    origin = shapely.Point(0.0, 0.0)
    best: tuple[float, Area, shapely.Point] | None = None
    for a in areas:
        g = shapely.transform(a.geometry, to_km)
        d = float(g.distance(origin))
        if best is None or d < best[0]:
            near = shapely.ops.nearest_points(g, origin)[0]
            best = (d, a, near)
    assert best is not None
    d, a, near = best
    brg = math.degrees(math.atan2(-near.x, -near.y)) % 360.0  # from the area to the point
    return a, d, int(((brg + 22.5) % 360.0) // 45.0)


def launch_origin_names(lat: float, lon: float, *, uncertainty_m: float = 0.0) -> Names | None:
    """Where a launch came from, per language, as it reads after "from"
    (:func:`tocsin.warning.origin.launch_origin`: a country, its territorial sea
    counted as the country, or a sea); ``None`` outside the covered region (the
    text then gives the coordinates)."""
    from tocsin.warning.origin import launch_origin

    try:
        o = launch_origin(lat, lon, uncertainty_m=max(float(uncertainty_m), 0.0))
    except ValueError:
        return None
    if o.kind == "unknown":
        return None
    en = o.name_en
    if o.kind == "sea" and not en.lower().startswith("the "):
        en = "the " + en
    return {"ja-JP": o.name_ja, "ko-KR": o.name_ko, "en-US": en}


__all__ = ["WarningEngine", "fall_place_names", "launch_origin_names", "safe_id"]
