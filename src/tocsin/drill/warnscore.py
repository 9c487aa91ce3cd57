"""Scoring the public warning of a drill: who was warned, when, and should they
have been.

Truth: an area is *at risk* when the real ground track of a ballistic object
passes over it (overflight, from the end of boost on) or the real impact point
lies in it. Its *event time* is the first overflight or the impact, whichever
comes first. Aircraft never put an area at risk.

Warnings: an area is *warned* from the first ``Alert``/``Update`` whose ``areas``
list names it. Its *lead time* is event time minus first warning time; negative
means the warning came after the missile had passed or fallen.

Figures (all times in seconds):

* ``first_alert_s`` — first alert of any kind after the first launch;
* ``min_lead_s`` — the smallest lead time over areas at risk that were warned;
* ``area_recall`` — at-risk areas warned / at-risk areas (1.0 when none at risk);
* ``area_precision`` — warned areas that were at risk / warned areas (1.0 when
  none warned);
* ``false_areas`` — areas warned that were never at risk (land and sea counted
  apart), ``false_alerts`` — alert messages none of whose areas was at risk;
* ``time_to_correct_s`` — for each wrongly warned area, the time from its first
  warning until it was last dropped (an Update without it, or a Cancel) by
  every alert thread that named it, never to be warned again; ``None`` while
  never corrected. An area warned, dropped and warned again is corrected only
  when the last warning is dropped (the public was told twice), and an area
  two threads name (two missiles, two partners' releases) only when both
  drop it;
* ``false_area_path_km`` — for each wrongly warned area, how far it lies from
  the nearest real post-boost ground track or impact point (km; see
  :func:`distance_from_paths_km`): a reader can tell a neighbour a few km
  beside the path (inside the warning rules' debris allowance) from an area
  far away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import shapely
from numpy.typing import NDArray

from tocsin.wire.messages import AlertBody


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


def areas_at_risk(tracks: Iterable[GroundTrack], areas: Sequence[AreaShape]) -> dict[str, float]:
    """Area code -> event time (epoch s) for every area a ballistic object's real
    path overflew after boost or its real impact point lies in."""
    risk: dict[str, float] = {}
    for gt in tracks:
        if not gt.ballistic:
            continue
        sel = gt.t >= gt.boost_end_t
        lons, lats, ts = gt.lon[sel], gt.lat[sel], gt.t[sel]
        segs = _segments(lons, lats)
        for a in areas:
            t_in = _first_entry(a.geometry, segs, lons, lats, ts)
            if t_in is not None:
                risk[a.code] = min(risk.get(a.code, math.inf), t_in)
            if (
                gt.impact_lat is not None
                and gt.impact_lon is not None
                and gt.impact_t is not None
                and shapely.contains_xy(a.geometry, gt.impact_lon, gt.impact_lat)
            ):
                risk[a.code] = min(risk.get(a.code, math.inf), gt.impact_t)
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


def _segments(lons: NDArray[np.float64], lats: NDArray[np.float64]) -> NDArray[np.object_]:
    """The path between consecutive samples as line segments (the path is
    continuous: a narrow strip of land between two samples is overflown too);
    a segment across the antimeridian is left out."""
    if len(lons) < 2:
        return np.empty(0, dtype=object)
    coords = np.stack(
        [np.stack([lons[:-1], lats[:-1]], axis=-1), np.stack([lons[1:], lats[1:]], axis=-1)], axis=1
    )
    keep = np.abs(np.diff(lons)) < 180.0
    return np.asarray(shapely.linestrings(coords[keep]), dtype=object)


def _first_entry(
    geom: shapely.Geometry,
    segs: NDArray[np.object_],
    lons: NDArray[np.float64],
    lats: NDArray[np.float64],
    ts: NDArray[np.float64],
) -> float | None:
    """Time the path first enters ``geom`` (linear in time along a segment), or None."""
    if not len(ts):
        return None
    if len(segs) != len(ts) - 1:  # antimeridian gaps: sample points only
        inside = shapely.contains_xy(geom, lons, lats)
        return float(ts[int(np.argmax(inside))]) if inside.any() else None
    hit = shapely.intersects(geom, segs)
    if not hit.any():
        return None
    i = int(np.argmax(hit))
    seg = segs[i]
    pts = shapely.points(shapely.get_coordinates(shapely.intersection(seg, geom)))
    frac = float(np.min(shapely.line_locate_point(seg, pts, normalized=True))) if len(pts) else 0.0
    return float(ts[i] + frac * (ts[i + 1] - ts[i]))


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


@dataclass
class _AreaState:
    first_t: float
    threads: set[str]  # the alert threads warning it now
    cleared_t: float | None = None  # when the last of them dropped it


def _correction_delay(st: _AreaState) -> float | None:
    return None if st.threads or st.cleared_t is None else st.cleared_t - st.first_t


def score_warnings(
    alerts: Sequence[AlertBody],
    at_risk: Mapping[str, float],
    launch_t: float,
    sea_codes: Iterable[str] = (),
    path_km: Callable[[list[str]], Mapping[str, float]] | None = None,
) -> WarningScore:
    """Score the alert messages of a drill against the areas really at risk
    (``path_km``: gives the distance from the real paths of the areas it is
    asked about, :func:`distance_from_paths_km`)."""
    sea = set(sea_codes)
    ordered = sorted(alerts, key=lambda a: (a.t, a.id))
    warned: dict[str, _AreaState] = {}
    # which areas each alert thread (the chain of references) currently covers
    thread_areas: dict[str, set[str]] = {}
    thread_of: dict[str, str] = {}
    false_alerts = 0
    for a in ordered:
        root = next((thread_of[r] for r in a.references if r in thread_of), a.id)
        thread_of[a.id] = root
        now = set() if a.msg_type == "Cancel" else set(a.areas)
        before = thread_areas.get(root, set())
        for code in before - now:
            was = warned[code]
            was.threads.discard(root)
            if not was.threads:
                was.cleared_t = a.t
        for code in now:
            st = warned.get(code)
            if st is None:
                warned[code] = _AreaState(first_t=a.t, threads={root})
            else:
                st.threads.add(root)
        thread_areas[root] = now
        if a.msg_type != "Cancel" and now and not (now & set(at_risk)):
            false_alerts += 1
    risk = set(at_risk)
    got = set(warned)
    hit = risk & got
    lead = {c: at_risk[c] - warned[c].first_t for c in sorted(hit)}
    false_codes = sorted(got - risk)
    first_alert = (ordered[0].t - launch_t) if ordered else None
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
        statuses=sorted({a.status for a in ordered}),
    )
