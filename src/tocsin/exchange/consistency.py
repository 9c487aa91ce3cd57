"""Cross-sensor consistency: a track only one sensor sees, where others should.

A compromised or faulty sensor can report a perfectly consistent object that is
not there (a *ghost missile*). Its signature is valid, its plots fit a ballistic
flight, and the tracker will confirm it. What gives it away is geometry: other
healthy sensors, whose coverage includes the object, report nothing of it.

:class:`ConsistencyCheck` is a :class:`tocsin.stage.Stage` that keeps what the
exchange knows about every sensor (its ``sensor`` descriptor: site, maximum
range, field of regard; a ship's latest position from its plots; the time of its
latest plot, as a sign of life) and, for each ``track`` message, works out:

* ``C``, the sensors that contributed (``TrackBody.sources``);
* ``E``, the live radars that *should* see the object now: the object above the
  ground, inside the radar's range (times ``range_margin``), inside its azimuth
  sector and elevation band (shrunk by the margins), with the line of sight
  clear of the Earth ellipsoid, and the radar alive (a plot of any kind, clutter
  included, within ``alive_s``, and its partner's link carrying something,
  heartbeats included, within ``link_alive_s``; a radar that went silent, or
  whose link did, is not blamed).

When ``|C| == 1`` and ``E`` holds at least one sensor outside ``C`` while
``|C ∪ E| >= min_expected``, and no other recent track with the same state
(within ``corroborate_m`` and ``corroborate_mps``, brought to the same time) is
fed by one of those missing radars (a split track of a mis-registered radar is
not a ghost; a ghost flown beside a real salvo is, since its velocity differs),
the track is *unconfirmed by geometry*:
it is *held*, re-emitted with ``quality`` capped at ``quality_cap`` (class
kept). Once that has lasted ``suspect_after_s`` of track time, the track is
*flagged*: this message and every later one of the same track are re-emitted
with the capped quality and ``class`` set to ``unknown`` (the warning stage
does not alert on them). A flag is lifted only when a second sensor
contributes. A real missile is held only until a second radar joins its track,
normally a scan or two.

The time condition keeps real objects safe from a missed scan or two (with a
detection probability of 0.9 and one scan a second, a radar that sees the object
joins its track within seconds); the margins keep edge-of-coverage geometry from
counting against a track. Infrared satellites are never *expected* (they see
only burning motors), but count when they contribute.

Partner tracks. A track that no plot of this exchange supports (none of its
``sources`` is a sensor whose plots the check has seen: it rests on partners'
``track`` messages alone), or that carries no ``quality``, is never enough for a
public warning: it is re-emitted with class ``unknown`` and the capped quality,
unless one of its partners is in ``trusted_track_partners`` (the warning policy's
``thresholds.trusted_track_partners``; default: none). A compromised or spoofed
partner cannot raise a public alert with a made-up track; once a plot of this
exchange joins the track, the ordinary checks above apply.

Placement: the :class:`tocsin.fusion.Tracker` consumes sensor descriptors and
plots, so a stage after it would never see them. Either wrap the tracker,
``ConsistencyCheck(inner=tracker)``, which observes every input, passes it to
the tracker and reviews the tracker's outputs; or, with ``inner=None``, put it on
a stream that carries sensors, plots and tracks (it passes everything through
and reviews the tracks).

Reference: the same idea as the "expected detection" test of track-quality
assessment in multi-sensor surveillance (e.g. Blackman & Popoli, *Design and
Analysis of Modern Tracking Systems*, 1999, §15 on track confirmation and
sensor registration checks); here only as a plausibility test, not a filter.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np
from numpy.typing import NDArray

from tocsin.geo import ecef_to_geodetic, enu_matrix, geodetic_to_ecef
from tocsin.sensors.detection import earth_blocks
from tocsin.stage import Stage
from tocsin.wire import Envelope, PlotBody, SensorBody, TrackBody

__all__ = [
    "ConsistencyCheck",
    "ConsistencyConfig",
    "Flag",
    "SensorView",
    "coverage",
    "find_consistency",
    "with_consistency",
]


@dataclass(frozen=True, slots=True)
class ConsistencyConfig:
    """Parameters of the check (see the module docstring)."""

    min_expected: int = 2
    """Sensors (the contributor included) that must be expected to see the object."""
    suspect_after_s: float = 20.0
    """How long (track time) a single-sensor track may stay unconfirmed by geometry."""
    alive_s: float = 30.0
    """A radar counts as live if it reported any plot this recently ..."""
    link_alive_s: float = 15.0
    """... and its partner's link carried anything (a heartbeat will do) this
    recently: a partner whose link went silent is not blamed for seeing nothing."""
    range_margin: float = 0.9
    el_margin_deg: float = 1.0
    az_margin_deg: float = 1.0
    min_alt_m: float = 1_000.0
    """Objects lower than this are not expected anywhere (terrain, sea clutter)."""
    quality_cap: float = 0.2
    downgrade_class: bool = True
    corroborate_m: float = 30_000.0
    corroborate_mps: float = 300.0
    """Another track this close in position and velocity that one of the missing
    radars feeds counts as that radar seeing the object (a split track, e.g. of a
    mis-registered radar, is not a ghost)."""
    corroborate_s: float = 10.0
    """How recent that other track's update must be."""
    forget_s: float = 600.0
    """Tracks not heard of for this long are forgotten (bounded memory live)."""
    trusted_track_partners: frozenset[str] = frozenset()
    """Partners whose tracks alone (no plot of this exchange, or no ``quality``)
    may still raise a public warning (module doc, "Partner tracks")."""


@dataclass
class SensorView:
    """What the check knows about one sensor."""

    id: str
    partner: str
    type: str
    platform: str
    lat: float | None
    lon: float | None
    alt_m: float
    max_range_m: float | None
    az_from_deg: float | None
    az_to_deg: float | None
    min_el_deg: float
    max_el_deg: float
    last_plot_t: float = -math.inf
    _geom: tuple[tuple[float, float, float], NDArray[np.float64], NDArray[np.float64]] | None = field(
        default=None, repr=False, compare=False
    )

    def geometry(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The site in ECEF ``(3,)`` and the ECEF-to-ENU rotation ``(3, 3)``
        (cached until the sensor moves)."""
        assert self.lat is not None
        assert self.lon is not None
        key = (self.lat, self.lon, self.alt_m)
        if self._geom is None or self._geom[0] != key:
            site = np.asarray(geodetic_to_ecef(self.lat, self.lon, self.alt_m), dtype=np.float64)
            rot = np.asarray(enu_matrix(self.lat, self.lon), dtype=np.float64)
            self._geom = (key, site, rot)
        return self._geom[1], self._geom[2]

    @property
    def placed(self) -> bool:
        """A radar whose position and range are known (it can be expected)."""
        return (
            self.type == "radar" and self.lat is not None and self.lon is not None and bool(self.max_range_m)
        )

    def covers(self, xyz: NDArray[np.float64], cfg: ConsistencyConfig) -> bool:
        """True when an object at ECEF ``xyz`` is well inside this radar's coverage."""
        return self.placed and bool(coverage([self], xyz, cfg)[0])


def coverage(
    views: Sequence[SensorView], xyz: NDArray[np.float64], cfg: ConsistencyConfig
) -> NDArray[np.bool_]:
    """For placed radars ``views``, which hold ECEF point ``xyz`` well inside their
    coverage: slant range within ``range_margin`` of the maximum, elevation inside
    the band shrunk by ``el_margin_deg``, azimuth inside the sector shrunk by
    ``az_margin_deg``, and the line of sight clear of the Earth ellipsoid.

    Vectorised over the radars: azimuth/elevation in each radar's local
    east-north-up frame, ``az = atan2(e, n)``, ``el = atan2(u, hypot(e, n))``
    (as :func:`tocsin.geo.ecef_to_aer`)."""
    if not views:
        return np.zeros(0, dtype=bool)
    geo = [v.geometry() for v in views]
    site = np.stack([g[0] for g in geo])
    rot = np.stack([g[1] for g in geo])
    enu = np.einsum("sij,sj->si", rot, xyz[None, :3] - site)
    e, n, u = enu[:, 0], enu[:, 1], enu[:, 2]
    horiz = np.hypot(e, n)
    rng = np.sqrt(horiz * horiz + u * u)
    el = np.degrees(np.arctan2(u, horiz))
    az = np.degrees(np.arctan2(e, n)) % 360.0
    max_r = np.array([v.max_range_m or 0.0 for v in views], dtype=np.float64)
    el_lo = np.array([v.min_el_deg for v in views], dtype=np.float64) + cfg.el_margin_deg
    el_hi = np.array([v.max_el_deg for v in views], dtype=np.float64) - cfg.el_margin_deg
    ok: NDArray[np.bool_] = (rng <= cfg.range_margin * max_r) & (el >= el_lo) & (el <= el_hi)
    a0 = np.array([np.nan if v.az_from_deg is None else v.az_from_deg for v in views], dtype=np.float64)
    a1 = np.array([np.nan if v.az_to_deg is None else v.az_to_deg for v in views], dtype=np.float64)
    sector = ~np.isnan(a0) & ~np.isnan(a1)
    if sector.any():
        width = (a1 - a0) % 360.0
        width = np.where(width == 0.0, 360.0, width)
        rel = (az - a0) % 360.0
        inside = (rel >= cfg.az_margin_deg) & (rel <= width - cfg.az_margin_deg)
        ok &= np.where(sector, inside, True)
    if ok.any():
        ok[ok] = ~earth_blocks(site[ok], np.broadcast_to(xyz[:3], (int(ok.sum()), 3)))
    return ok


@dataclass(frozen=True, slots=True)
class Flag:
    """Why a track was flagged."""

    track: str
    t: float
    """Track time when it was flagged."""
    contributor: str
    expected: tuple[str, ...]
    """Live sensors that should have seen it and did not."""

    def as_dict(self) -> dict[str, object]:
        return {
            "track": self.track,
            "t": self.t,
            "contributor": self.contributor,
            "expected": list(self.expected),
        }


@dataclass
class _State:
    since: float | None = None
    flag: Flag | None = None
    last_t: float = -math.inf


@dataclass
class ConsistencyCheck:
    """The stage (see the module docstring)."""

    inner: Stage | None = None
    config: ConsistencyConfig = field(default_factory=ConsistencyConfig)
    sensors: dict[str, SensorView] = field(default_factory=dict)
    flags: dict[str, Flag] = field(default_factory=dict)
    """Every track ever flagged (kept after the track ends, for the report)."""
    counts: Counter[str] = field(default_factory=Counter)
    """``tracks_checked``, ``single_source``, ``held`` (messages held at low quality),
    ``flagged`` (tracks), ``downgraded`` (messages re-classed unknown), ``cleared``
    (flags lifted by a second sensor), ``track_only`` (messages held back as resting
    on untrusted partner tracks alone)."""
    partner_seen: dict[str, float] = field(default_factory=dict)
    """Latest ``sent`` of any message from each partner."""
    _tracks: dict[str, _State] = field(default_factory=dict)
    _last: dict[str, tuple[float, NDArray[np.float64], frozenset[str]]] = field(default_factory=dict)
    """Each track's latest (t, ECEF state (6,), sources)."""

    # --- the stage ------------------------------------------------------------------

    def push(self, env: Envelope) -> list[Envelope]:
        self.observe(env)
        outs = self.inner.push(env) if self.inner is not None else [env]
        return [self.review(o) for o in outs]

    def advance(self, t: float) -> list[Envelope]:
        outs = self.inner.advance(t) if self.inner is not None else []
        return [self.review(o) for o in outs]

    # --- inputs -------------------------------------------------------------------------

    def observe(self, env: Envelope) -> None:
        """Learn from a sensor descriptor or a plot; any message says its
        partner's link is alive."""
        if math.isfinite(env.sent):
            self.partner_seen[env.partner] = max(self.partner_seen.get(env.partner, -math.inf), env.sent)
        b = env.body
        if env.kind == "sensor" and isinstance(b, SensorBody):
            old = self.sensors.get(b.id)
            self.sensors[b.id] = SensorView(
                id=b.id,
                partner=env.partner,
                type=b.type,
                platform=b.platform,
                lat=b.lat if b.lat is not None else (old.lat if old else None),
                lon=b.lon if b.lon is not None else (old.lon if old else None),
                alt_m=b.alt_m or 0.0,
                max_range_m=b.max_range_m,
                az_from_deg=b.az_from_deg,
                az_to_deg=b.az_to_deg,
                min_el_deg=b.min_el_deg if b.min_el_deg is not None else 0.0,
                max_el_deg=b.max_el_deg if b.max_el_deg is not None else 90.0,
                last_plot_t=old.last_plot_t if old else -math.inf,
            )
        elif env.kind == "plot" and isinstance(b, PlotBody):
            s = self.sensors.get(b.sensor)
            if s is None or not math.isfinite(b.t):
                return
            s.last_plot_t = max(s.last_plot_t, b.t)
            if b.platform is not None and s.platform != "ground":
                s.lat, s.lon, s.alt_m = b.platform.lat, b.platform.lon, b.platform.alt_m

    # --- the check ------------------------------------------------------------------------

    def expected(self, xyz: NDArray[np.float64], t: float) -> list[str]:
        """Live radars whose coverage holds an object at ECEF ``xyz`` at time ``t``."""
        cfg = self.config
        if float(ecef_to_geodetic(xyz)[2]) < cfg.min_alt_m:
            return []
        seen = self.partner_seen
        live = [
            s
            for s in self.sensors.values()
            if s.placed
            and t - s.last_plot_t <= cfg.alive_s
            and t - seen.get(s.partner, -math.inf) <= cfg.link_alive_s
        ]
        ok = coverage(live, xyz, cfg)
        return sorted(s.id for s, yes in zip(live, ok, strict=True) if yes)

    def review(self, env: Envelope) -> Envelope:
        """A track message as it should go on (unchanged, or downgraded)."""
        b = env.body
        if env.kind != "track" or not isinstance(b, TrackBody):
            return env
        cfg = self.config
        self.counts["tracks_checked"] += 1
        st = self._tracks.setdefault(b.id, _State())
        st.last_t = max(st.last_t, b.t)
        if self.counts["tracks_checked"] % 512 == 0:
            self._forget(b.t)
        xyz = np.asarray(b.state_ecef[:3], dtype=np.float64)
        if b.status == "deleted":
            self._tracks.pop(b.id, None)
            self._last.pop(b.id, None)
            return self._downgrade(env, b) if st.flag is not None else env
        self._last[b.id] = (b.t, np.asarray(b.state_ecef, dtype=np.float64), frozenset(b.sources))
        if b.class_ != "air" and not self._own_support(env, b):
            self.counts["track_only"] += 1
            return self._downgrade(env, b)
        if b.class_ == "air" and st.flag is None:
            st.since = None  # an aircraft is never alerted on: nothing to hold
            return env
        contributors = set(b.sources)
        if len(contributors) >= 2:
            if st.flag is not None:
                self.counts["cleared"] += 1
            st.since, st.flag = None, None
            return env
        if st.flag is not None:
            return self._downgrade(env, b)
        if len(contributors) != 1:
            st.since = None
            return env
        self.counts["single_source"] += 1
        exp = self.expected(xyz, b.t)
        missing = [s for s in exp if s not in contributors]
        if (
            not missing
            or len(contributors | set(exp)) < cfg.min_expected
            or self._corroborated(b.id, b.t, self._last[b.id][1], missing)
        ):
            st.since = None
            return env
        if st.since is None:
            st.since = b.t
        if b.t - st.since < cfg.suspect_after_s:
            # unconfirmed by geometry for now: held at low quality, class kept
            self.counts["held"] += 1
            return self._downgrade(env, b, keep_class=True)
        (only,) = contributors
        st.flag = Flag(b.id, b.t, only, tuple(missing))
        self.flags[b.id] = st.flag
        self.counts["flagged"] += 1
        return self._downgrade(env, b)

    def _own_support(self, env: Envelope, b: TrackBody) -> bool:
        """May this track stand on its own (module doc, "Partner tracks")? Yes when
        it has a ``quality`` and a plot of this exchange supports it (a source that
        is a sensor whose plots were seen), or one of its partners is trusted for
        track-only warnings. Wrapping the tracker, its ``partners`` are those of
        the authenticated inputs; on a plain stream, the message's own partner."""
        trusted = self.config.trusted_track_partners
        partners = set(b.partners) if self.inner is not None else {env.partner}
        if trusted and partners & trusted:
            return True
        if b.quality is None:
            return False
        sensors = self.sensors
        return any((s := sensors.get(src)) is not None and s.last_plot_t > -math.inf for src in b.sources)

    def _forget(self, now: float) -> None:
        limit = now - self.config.forget_s
        for tid in [k for k, st in self._tracks.items() if st.last_t < limit]:
            del self._tracks[tid]
            self._last.pop(tid, None)

    def _corroborated(self, tid: str, t: float, x: NDArray[np.float64], missing: list[str]) -> bool:
        """Is there another recent track, fed by a missing radar, with the same
        state (positions compared at ``t``, the other moved on at its velocity)?"""
        cfg = self.config
        want = set(missing)
        for other, (t_o, x_o, src) in self._last.items():
            if other == tid or not (src & want) or abs(t - t_o) > cfg.corroborate_s:
                continue
            pos = x_o[:3] + x_o[3:] * (t - t_o)
            if (
                float(np.linalg.norm(pos - x[:3])) <= cfg.corroborate_m
                and float(np.linalg.norm(x_o[3:] - x[3:])) <= cfg.corroborate_mps
            ):
                return True
        return False

    def _downgrade(self, env: Envelope, b: TrackBody, *, keep_class: bool = False) -> Envelope:
        cfg = self.config
        q = cfg.quality_cap if b.quality is None else min(b.quality, cfg.quality_cap)
        nb = msgspec.structs.replace(b, quality=q)
        if cfg.downgrade_class and not keep_class:
            nb = msgspec.structs.replace(nb, class_="unknown")
            self.counts["downgraded"] += 1
        return msgspec.structs.replace(env, body=nb)


def with_consistency(stages: Sequence[Stage], config: ConsistencyConfig | None = None) -> list[Stage]:
    """``stages`` with the first tracker (a stage whose class is named ``Tracker``,
    as in :func:`tocsin.runtime.default_stages`) wrapped in a
    :class:`ConsistencyCheck`; unchanged when there is no tracker."""
    out = list(stages)
    for i, st in enumerate(out):
        if type(st).__name__ == "Tracker":
            out[i] = ConsistencyCheck(inner=st, config=config or ConsistencyConfig())
            break
    return out


def find_consistency(stages: Sequence[object]) -> ConsistencyCheck | None:
    """The consistency check among ``stages`` (for a report: its ``flags`` say
    which tracks were held back and why), or None."""
    return next((s for s in stages if isinstance(s, ConsistencyCheck)), None)
