"""The warning stage: track messages in, public alert messages (with CAP 1.2) out.

:class:`WarningEngine` is a plain :class:`tocsin.stage.Stage`:

* ``push(env)`` takes a ``track`` envelope (every other kind is ignored), checks
  the policy (class ``ballistic``, status confirmed/coasting, quality), assesses
  the areas at risk (:mod:`tocsin.warning.threat`), splits them by release
  (which partner's public receives which areas, :mod:`tocsin.warning.policy`),
  and drives one :class:`~tocsin.warning.lifecycle.Lifecycle` per track and
  release. Each message the lifecycle issues becomes an ``alert`` envelope
  whose body carries the CAP 1.2 document (:mod:`tocsin.warning.cap`).
* ``advance(t)`` lets time pass: held-back updates, the all-clear after impact,
  expiry.

Deterministic: no clock is read (an alert's time is the ``sent`` of the track
message that caused it, or the ``t`` given to ``advance``), alert ids are
``<partner>.<track>.<thread>.<n>``, areas and releases are visited in sorted
order — the same input gives byte-identical output.

The CAP ``status`` comes from the engine's *mode*, never from a caller:
``WarningEngine()`` is a :class:`~tocsin.warning.mode.DrillMode` (Exercise);
``Actual`` needs a :class:`~tocsin.warning.mode.LiveMode`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np
import shapely

from tocsin.dynamics.forces import accel_ecef
from tocsin.geo import ecef_to_geodetic
from tocsin.warning.cap import CapMessage, CapReference, area_name, render_cap
from tocsin.warning.lifecycle import Desired, Issue, Lifecycle
from tocsin.warning.mode import DrillMode, Mode, check_status, live_sender, mode_note
from tocsin.warning.policy import Release, WarningConfig
from tocsin.warning.texts import LANGS, Facts, Lang, langs_for
from tocsin.warning.threat import Threat, assess, thrust_from_speeds
from tocsin.wire.messages import AlertBody, Envelope, TrackBody, make


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


#: how often (data time) a ``push`` also runs the other tracks' timers
TICK_S = 0.5
#: a track silent this long (data time) with no open alert is forgotten
FORGET_S = 3600.0

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_id(s: str) -> str:
    """An identifier usable in CAP ids and file names (no spaces, commas, dots)."""
    return _SAFE.sub("_", s)[:64] or "_"


def _sub_point(body: TrackBody) -> tuple[float, float, float]:
    """(lat, lon, position 1-sigma in m) of a track report."""
    la, lo, _ = ecef_to_geodetic(np.asarray(body.state_ecef[:3], dtype=np.float64))
    p = np.asarray(body.cov, dtype=np.float64).reshape(6, 6)
    sig = float(np.sqrt(max(np.trace(p[:3, :3]) / 3.0, 0.0)))
    return (float(la), float(lo), sig)


@dataclass
class _TrackState:
    track: TrackBody
    history: deque[tuple[float, np.ndarray]] = field(default_factory=lambda: deque(maxlen=16))
    lifecycles: dict[str, Lifecycle] = field(default_factory=dict)
    threat: Threat | None = None
    #: sub-point (lat, lon, position sigma m) of the track's first report not classed
    #: ``air``: the origin of the boost heading (``threat._launch_plane_velocity``)
    origin: tuple[float, float, float] | None = None


class WarningEngine:
    """The warning stage (module doc)."""

    #: what construction gives the engine, never taken from a snapshot
    #: (tocsin.journal.snapshot): the policy, the run mode (a snapshot must
    #: never turn a drill live or a live run into a drill), the area registry and
    #: what is derived from them
    snapshot_exclude: ClassVar[tuple[str, ...]] = ("config", "mode", "_registry", "_threat_cfg", "_polygons")

    def __init__(
        self,
        config: WarningConfig | None = None,
        *,
        mode: Mode | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config or WarningConfig()
        self.mode: Mode = mode if mode is not None else DrillMode()
        self._registry = registry
        self._threat_cfg = self.config.threat_config()
        self._tracks: dict[str, _TrackState] = {}
        self._seq = 0
        self._now = 0.0
        self._polygons: dict[str, list[str]] = {}
        self._last_tick = -1e300
        #: last thread number per lifecycle base, kept after a track is dropped so a
        #: track id that comes back never reuses an alert id
        self._threads: dict[str, int] = {}
        #: counters for operators and tests
        self.stats: dict[str, int] = {"tracks": 0, "ignored": 0, "assessed": 0, "alerts": 0}

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
        body: TrackBody = env.body
        t = max(self._now, float(env.sent))
        self._now = t
        st = self._tracks.get(body.id)
        if st is None:
            st = _TrackState(track=body)
            self._tracks[body.id] = st
        elif body.t < st.track.t:  # a stale report of this track: keep the newer
            return self._tick(t, every=TICK_S)
        st.track = body
        st.history.append((body.t, np.asarray(body.state_ecef[3:], dtype=np.float64)))
        # the heading origin: the track's first report of whatever class but air. The
        # tracker calls a missile ballistic only once its velocity is well estimated
        # (a link outage or a single radar can make that tens of seconds into the
        # flight); its earlier positions are the same object's and lengthen the
        # baseline. An aircraft's path says nothing about a launch plane.
        if body.class_ == "air":
            st.origin = None
        elif st.origin is None:
            st.origin = _sub_point(body)
        out: list[Envelope] = []
        if body.status == "deleted" or body.class_ != "ballistic":
            for rel in self.config.releases:
                lc = st.lifecycles.get(rel.partner)
                if lc is not None:
                    out += self._emit(lc.end(t, "lost"), rel, st)
            if body.status == "deleted":
                self._drop(body.id)
            out += self._tick(t, skip=body.id, every=TICK_S)
            return out
        if not self.config.eligible(body.status, body.class_, body.quality):
            self.stats["ignored"] += 1
            return self._tick(t, every=TICK_S)
        threat = self._assess(st, body)
        self.stats["assessed"] += 1
        st.threat = threat
        countries = {c: self._country(c) for c in threat.codes}
        for rel in self.config.releases:
            codes = self.config.release_areas(rel, threat.codes, countries)
            desired = None
            if codes and not (threat.impact_t is not None and threat.impact_t < body.t):
                onset = min(r.t for r in threat.risks if r.code in codes)
                desired = Desired(areas=codes, onset=onset, impact_t=threat.impact_t)
            lc = st.lifecycles.get(rel.partner)
            if lc is None:
                if desired is None:
                    continue
                base = f"{rel.partner}.{safe_id(body.id)}"
                lc = Lifecycle(base=base, cfg=self.config.lifecycle, thread=self._threads.get(base, 0))
                st.lifecycles[rel.partner] = lc
            out += self._emit(lc.update(desired, t), rel, st)
        out += self._tick(t, skip=body.id, every=TICK_S)
        return out

    def threats(self) -> dict[str, Threat]:
        """The latest assessment of every track being followed (for displays)."""
        return {tid: st.threat for tid, st in sorted(self._tracks.items()) if st.threat is not None}

    def advance(self, t: float) -> list[Envelope]:
        t = max(self._now, float(t))
        self._now = t
        return self._tick(t)

    # ------------------------------------------------------------ internals

    def _tick(self, t: float, skip: str | None = None, *, every: float = 0.0) -> list[Envelope]:
        """Time-driven messages of every other track; from ``push`` at most once
        per ``TICK_S`` of data time (each push need not visit every track)."""
        if t - self._last_tick < every:
            return []
        self._last_tick = t
        out: list[Envelope] = []
        for tid in sorted(self._tracks):
            if tid == skip:
                continue
            st = self._tracks[tid]
            for rel in self.config.releases:
                lc = st.lifecycles.get(rel.partner)
                if lc is not None:
                    out += self._emit(lc.tick(t), rel, st)
            # a track silent for FORGET_S with nothing warned is forgotten (memory bound)
            if t - st.track.t > FORGET_S and not any(lc.active for lc in st.lifecycles.values()):
                self._drop(tid)
        return out

    def _drop(self, tid: str) -> None:
        st = self._tracks.pop(tid)
        for lc in st.lifecycles.values():
            self._threads[lc.base] = lc.thread

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
                self._polygons[a.code] = a.cap_polygons(self.config.max_polygon_points)
        return {a.code: self._polygons[a.code] for a in areas}

    def _emit(self, issues: list[Issue], rel: Release, st: _TrackState) -> list[Envelope]:
        out: list[Envelope] = []
        for iss in issues:
            out.append(self._alert(iss, rel, st))
        return out

    def _alert(self, iss: Issue, rel: Release, st: _TrackState) -> Envelope:
        status = check_status(self.mode, self.mode.status)
        sender = rel.sender or live_sender(self.mode) or self.config.sender
        areas = [self.registry.get(c) for c in iss.areas]
        track = st.track
        threat = st.threat
        reasons = {r.reason for r in threat.risks if r.code in iss.areas} if threat else set()
        kind = "impact" if reasons == {"impact"} else ("overflight" if "impact" not in reasons else "mixed")
        names: dict[Lang, list[str]] = {lang: [area_name(a, lang) for a in areas] for lang in LANGS}
        la = track.launch
        facts = Facts(
            msg_type=iss.msg_type,
            status=status,
            area_names=names,
            onset=iss.onset,
            launch_t=la.t if la else None,
            launch_lat=la.lat if la else None,
            launch_lon=la.lon if la else None,
            impact_t=threat.impact_t if threat else None,
            kind=kind,  # type: ignore[arg-type]
            reason=iss.reason or "",
            area_kinds=frozenset(a.kind for a in areas) or frozenset({"land"}),
        )
        ident = iss.id
        cap = render_cap(
            CapMessage(
                identifier=ident,
                sender=sender,
                sent=iss.t,
                status=status,
                msg_type=iss.msg_type,
                facts=facts,
                areas=areas,
                onset=iss.onset,
                expires=iss.expires,
                references=[CapReference(sender, r.id, r.sent) for r in iss.references],
                incidents=[safe_id(track.id)],
                max_polygon_points=self.config.max_polygon_points,
                polygons=self._cap_polygons(areas),
                languages=langs_for(rel.partner),
                extra_note=mode_note(self.mode),
            )
        )
        body = AlertBody(
            id=ident,
            t=iss.t,
            msg_type=iss.msg_type,
            status=status,
            tracks=[track.id],
            areas=list(iss.areas) if iss.msg_type != "Cancel" else [],
            onset=iss.onset,
            expires=iss.expires,
            references=[r.id for r in iss.references],
            cap=cap,
        )
        self._seq += 1
        self.stats["alerts"] += 1
        return make("alert", body, partner=rel.partner, source=self.config.source, seq=self._seq, sent=iss.t)


__all__ = ["WarningEngine", "safe_id"]
