"""Scoring the public warning of a drill: who was warned, when, how each area's
story went, and should they have been warned.

Truth: an area is *at risk* when it lies **under the path** of a ballistic
object after its boost: within ``under_path_m`` (the warning policy's
``threat.min_buffer_m``, 5 km by default: the debris allowance under every
ballistic path) of its real ground track, its impact point included. This is
the same definition, computed by the same function
(:func:`tocsin.warning.threat.under_path`), as the policy's narrowest corridor:
an area the policy warns because the real path passed 3.5 km from it is not
"wrong". Its *event time* is when the real path first comes that close.
Aircraft never put an area at risk.

Warnings: an area is *warned* from the first ``Alert``/``Update`` whose
``areas`` list names it. Its *lead time* is event time minus first warning
time; negative means the warning came after the missile had passed or fallen.
Each (public, area) has a *story*: its messages from the first that names it
to the close that ends it (an all-clear ``Update`` or a ``Cancel`` naming it in
``closes``); a later warning of the same area starts a new story.

Figures (all times in seconds):

* ``first_alert_s`` — first alert of any kind after the first launch;
* ``min_lead_s`` — the smallest lead time over areas at risk that were warned;
* ``area_recall`` — at-risk areas warned / at-risk areas (1.0 when none at risk);
* ``area_precision`` — warned areas that were at risk / warned areas (1.0 when
  none warned);
* ``false_areas`` — areas warned that were never at risk (land and sea counted
  apart); ``false_alerts`` — alert messages about nothing at risk at all: those
  whose tracks never warned an area at risk (a ghost, an aircraft called a
  missile), or, without tracks, none of whose areas was at risk. A corrected
  neighbour of a real missile's path is a false *area*, not a false alert;
* ``time_to_correct_s`` — for each wrongly warned area, the time from its first
  warning until it was explicitly closed by every thread that named it, never
  to be warned again; ``None`` while never corrected — also when a warning just
  stopped naming it (a silent drop is no correction: the people there were
  never told). An area warned, closed and warned again is corrected only at
  its last close;
* ``false_area_path_km`` — for each wrongly warned area, how far it lies from
  the nearest real post-boost ground track or impact point (km);
* the stories: ``stories``, ``first_contact_alert`` (the fraction whose first
  message is an ``Alert``: goal 1.0), ``explicit_close_rate`` (the fraction
  that end with an explicit close naming the area: goal 1.0),
  ``messages_per_area_max`` (the most messages one story had),
  ``messages_per_area_minute_max`` (the most messages one (public, area) got
  in any 60 s);
* ``announced_error_s`` — for each area at risk and warned before its event,
  the time the last message before the event announced (its ``onset``,
  rounded to the minute as the texts say it) minus the true event time;
  ``announced_error_max_s`` the largest in magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np
import shapely
from numpy.typing import NDArray

from tocsin.wire.messages import AlertBody

#: the default width of "under the path" (m): ThreatConfig().min_buffer_m
UNDER_PATH_M = 5_000.0


@dataclass(frozen=True)
class GroundTrack:
    """A truth object's ground track: times (epoch s) and geodetic lat/lon (deg)."""

    object: str
    t: NDArray[np.float64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    launch_t: float
    boost_end_t: float
    impact_t: float | None
    impact_lat: float | None
    impact_lon: float | None
    ballistic: bool = True


@dataclass(frozen=True)
class AreaShape:
    code: str
    geometry: shapely.Geometry
    sea: bool


class _ShapeIndex:
    """The area-index interface of :func:`tocsin.warning.threat.under_path`."""

    def __init__(self, areas: Sequence[AreaShape]) -> None:
        self.areas = list(areas)
        self._tree = shapely.STRtree([a.geometry for a in self.areas])

    def intersecting(self, geom: shapely.Geometry) -> list[AreaShape]:
        idx = self._tree.query(geom, predicate="intersects")
        return [self.areas[i] for i in sorted({int(i) for i in idx})]


def areas_at_risk(
    tracks: Iterable[GroundTrack], areas: Sequence[AreaShape], under_path_m: float = UNDER_PATH_M
) -> dict[str, float]:
    """Area code -> event time (epoch s) for every area under the real path of a
    ballistic object after its boost (module doc): within ``under_path_m`` of
    its ground track or impact point."""
    from tocsin.warning.threat import under_path

    index = _ShapeIndex(areas)
    risk: dict[str, float] = {}
    for gt in tracks:
        if not gt.ballistic:
            continue
        sel = gt.t >= gt.boost_end_t
        lons, lats, ts = gt.lon[sel], gt.lat[sel], gt.t[sel]
        if gt.impact_lat is not None and gt.impact_lon is not None and gt.impact_t is not None:
            lons = np.append(lons, gt.impact_lon)
            lats = np.append(lats, gt.impact_lat)
            ts = np.append(ts, max(gt.impact_t, float(ts[-1]) if len(ts) else gt.impact_t))
        if not len(ts):
            continue
        for code, t_in in under_path(index, lats, lons, ts, under_path_m).items():  # type: ignore[arg-type]
            risk[code] = min(risk.get(code, math.inf), t_in)
    return risk


_KM_PER_DEG = 6371.0088 * math.pi / 180.0  # mean Earth radius


def distance_from_paths_km(
    tracks: Iterable[GroundTrack], areas: Sequence[AreaShape], codes: Iterable[str]
) -> dict[str, float]:
    """Area code -> distance (km) from the area to the nearest real ground track
    of a ballistic object after boost, impact point included (0 when it
    touches it), for the areas ``codes``. Distances are taken in a local
    equirectangular frame about each track's impact (or last) point: within
    about 1 % of the great-circle distance at the few hundred km that matter
    here."""
    want = set(codes)
    sel_areas = [a for a in areas if a.code in want]
    out: dict[str, float] = {}
    for gt in tracks:
        if not gt.ballistic:
            continue
        keep = gt.t >= gt.boost_end_t
        lons, lats = gt.lon[keep], gt.lat[keep]
        if gt.impact_lat is not None and gt.impact_lon is not None:
            lons, lats = np.append(lons, gt.impact_lon), np.append(lats, gt.impact_lat)
        if not len(lons):
            continue
        lat0, lon0 = float(lats[-1]), float(lons[-1])
        kx = _KM_PER_DEG * math.cos(math.radians(lat0))

        def to_km(xy: NDArray[np.float64], lon0: float = lon0, kx: float = kx) -> NDArray[np.float64]:
            east = ((xy[:, 0] - lon0 + 180.0) % 360.0 - 180.0) * kx
            return np.stack([east, xy[:, 1] * _KM_PER_DEG], axis=1)

        pts = to_km(np.stack([lons, lats], axis=1))
        path = shapely.linestrings(pts) if len(pts) > 1 else shapely.points(pts[0])
        for a in sel_areas:
            d = float(shapely.distance(path, shapely.transform(a.geometry, to_km)))
            out[a.code] = min(out.get(a.code, math.inf), d)
    return out


class WarningScore(msgspec.Struct, kw_only=True):
    alerts: int
    first_alert_s: float | None
    min_lead_s: float | None
    area_recall: float
    area_precision: float
    areas_at_risk: list[str]
    areas_warned: list[str]
    missed_areas: list[str]
    false_areas_land: list[str]
    false_areas_sea: list[str]
    false_alerts: int
    lead_s: dict[str, float] = {}
    first_warned_t: dict[str, float] = {}
    time_to_correct_s: dict[str, float | None] = {}
    false_area_path_km: dict[str, float] = {}
    statuses: list[str] = []
    stories: int = 0
    first_contact_alert: float | None = None
    explicit_close_rate: float | None = None
    messages_per_area_max: int = 0
    messages_per_area_minute_max: int = 0
    announced_error_s: dict[str, float] = {}
    announced_error_max_s: float | None = None
    #: (public, area) stories that did not start with an Alert / end with an explicit close
    first_contact_not_alert: list[str] = []
    not_closed: list[str] = []
    #: per story: "<public> <area>", its message types in order, and how it ended
    story_log: list[list[str]] = []


@dataclass
class _AreaState:
    first_t: float
    threads: set[str]  # the alert threads warning it now
    cleared_t: float | None = None  # when the last of them closed it
    explicit: bool = True  # every drop so far was an explicit close


@dataclass
class _Story:
    key: str  # "<public> <area>"
    types: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    onsets: list[tuple[float, float]] = field(default_factory=list)  # (message t, announced onset)
    end: str = ""  # "close:<reason>", "Cancel", "silent", or "" while open


def _correction_delay(st: _AreaState) -> float | None:
    if st.threads or st.cleared_t is None or not st.explicit:
        return None
    return st.cleared_t - st.first_t


def _announced(t: float) -> float:
    """A time as the texts announce it: rounded to the minute."""
    return math.floor(t / 60.0 + 0.5) * 60.0


def score_warnings(
    alerts: Sequence[AlertBody],
    at_risk: Mapping[str, float],
    launch_t: float,
    sea_codes: Iterable[str] = (),
    path_km: Callable[[list[str]], Mapping[str, float]] | None = None,
    partners: Sequence[str] | None = None,
) -> WarningScore:
    """Score the alert messages of a drill against the areas really at risk
    (``path_km``: gives the distance from the real paths of the areas it is
    asked about, :func:`distance_from_paths_km`; ``partners``: the public each
    alert went to, in the order of ``alerts``)."""
    sea = set(sea_codes)
    who = list(partners) if partners is not None else [""] * len(alerts)
    if len(who) != len(alerts):
        raise ValueError("partners: one per alert")
    ordered = sorted(zip(who, alerts, strict=True), key=lambda pa: (pa[1].t, pa[1].id))
    warned: dict[str, _AreaState] = {}
    # which areas each alert thread (the chain of references) currently covers
    thread_areas: dict[str, set[str]] = {}
    thread_of: dict[str, str] = {}
    stories: dict[str, _Story] = {}  # (public, area) -> its current story
    done: list[_Story] = []
    msg_times: dict[str, list[float]] = {}
    false_alerts = 0
    for partner, a in ordered:
        root = next((thread_of[r] for r in a.references if r in thread_of), a.id)
        thread_of[a.id] = root
        before = thread_areas.get(root, set())
        now = set() if a.msg_type == "Cancel" else set(a.areas)
        closed = set(a.closes)
        if a.msg_type == "Cancel" and not closed:
            closed = set(before)  # a Cancel without ``closes`` cancels what its thread warned
        for code in before - now:
            was = warned[code]
            was.threads.discard(root)
            explicit = code in closed
            if not explicit:
                was.explicit = False
            if not was.threads:
                was.cleared_t = a.t
            key = f"{partner} {code}"
            story = stories.pop(key, None)
            if story is not None:
                if explicit:
                    story.types.append(a.msg_type)
                    story.times.append(a.t)
                    story.end = "Cancel" if a.msg_type == "Cancel" else f"close:{a.close or 'all-clear'}"
                    msg_times.setdefault(key, []).append(a.t)
                else:
                    story.end = "silent"
                done.append(story)
        for code in now:
            st = warned.get(code)
            if st is None:
                warned[code] = _AreaState(first_t=a.t, threads={root})
            else:
                st.threads.add(root)
                st.cleared_t = None
                st.explicit = True
            key = f"{partner} {code}"
            story = stories.get(key)
            if story is None:
                story = stories[key] = _Story(key)
            story.types.append(a.msg_type)
            story.times.append(a.t)
            if a.onset is not None:
                story.onsets.append((a.t, a.onset))
            msg_times.setdefault(key, []).append(a.t)
        thread_areas[root] = now
    done.extend(stories.values())  # still open at the end
    # a track is real when some message it caused named an area at risk
    real_tracks = {t for _, a in ordered if set(a.areas) & set(at_risk) for t in a.tracks}
    for _, a in ordered:
        if a.msg_type == "Cancel" or not a.areas:
            continue
        if a.tracks:
            false_alerts += not (set(a.tracks) & real_tracks)
        else:
            false_alerts += not (set(a.areas) & set(at_risk))
    risk = set(at_risk)
    got = set(warned)
    hit = risk & got
    lead = {c: at_risk[c] - warned[c].first_t for c in sorted(hit)}
    false_codes = sorted(got - risk)
    first_alert = (ordered[0][1].t - launch_t) if ordered else None
    # announced times: the last announcement before the event, per at-risk area (any public)
    announced: dict[str, float] = {}
    for s in done:
        code = s.key.split(" ", 1)[1]
        if code not in at_risk:
            continue
        before_ev = [o for t, o in s.onsets if t <= at_risk[code]]
        if before_ev:
            err = _announced(before_ev[-1]) - at_risk[code]
            if code not in announced or abs(err) > abs(announced[code]):
                announced[code] = err
    per_minute = 0
    for ts in msg_times.values():
        arr = np.sort(np.asarray(ts))
        counts = np.searchsorted(arr, arr + 60.0, side="left") - np.arange(len(arr))
        per_minute = max(per_minute, int(counts.max()) if len(counts) else 0)
    not_alert = sorted(s.key for s in done if s.types and s.types[0] != "Alert")
    not_closed = sorted(s.key for s in done if not (s.end.startswith("close") or s.end == "Cancel"))
    n = len(done)
    return WarningScore(
        alerts=len(ordered),
        first_alert_s=first_alert,
        min_lead_s=min(lead.values()) if lead else None,
        area_recall=len(hit) / len(risk) if risk else 1.0,
        area_precision=len(hit) / len(got) if got else 1.0,
        areas_at_risk=sorted(risk),
        areas_warned=sorted(got),
        missed_areas=sorted(risk - got),
        false_areas_land=[c for c in false_codes if c not in sea],
        false_areas_sea=[c for c in false_codes if c in sea],
        false_alerts=false_alerts,
        lead_s=lead,
        first_warned_t={c: s.first_t for c, s in sorted(warned.items())},
        time_to_correct_s={c: _correction_delay(warned[c]) for c in false_codes},
        false_area_path_km=dict(path_km(false_codes)) if path_km is not None and false_codes else {},
        statuses=sorted({a.status for _, a in ordered}),
        stories=n,
        first_contact_alert=(n - len(not_alert)) / n if n else None,
        explicit_close_rate=(n - len(not_closed)) / n if n else None,
        messages_per_area_max=max((len(s.types) for s in done), default=0),
        messages_per_area_minute_max=per_minute,
        announced_error_s=dict(sorted(announced.items())),
        announced_error_max_s=max(announced.values(), key=abs) if announced else None,
        first_contact_not_alert=not_alert,
        not_closed=not_closed,
        story_log=[[s.key, " ".join(s.types), s.end or "open"] for s in sorted(done, key=lambda s: s.key)],
    )
