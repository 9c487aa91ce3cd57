r"""Threat assessment: which areas one ballistic track puts at risk, and when.

Pure: a track message (and optionally an acceleration estimate) in, a
:class:`Threat` out; no I/O, no clock. The rules, with their reasons, are in
``docs/warning.md``; in short:

**After burnout** (``phase != "boost"`` and an impact prediction present):

1. *Path*: the predicted ground track ahead (``TrackBody.path``, ``[[lat, lon,
   t], ...]`` from now to impact; propagated here from the state when absent)
   is swept by a disc whose radius is the 95 % cross-track uncertainty at that
   point: from :math:`k\,\sigma_\perp` of the current position (``cov``
   projected on the horizontal direction normal to the velocity, :math:`k =
   \sqrt{\chi^2_2(0.95)} = 2.448`) at the start, growing linearly in time to the
   impact ellipse's radius across the track at impact, clipped to
   ``[min_buffer_m, max_buffer_m]``. Every area the swept *corridor* touches is
   at risk ("overflight"); its event time is the first corridor segment that
   touches it. Areas behind the object are not in the path any more and drop
   out.
2. *Impact*: the impact point is Gaussian with the covariance whose
   ``confidence`` contour is ``impact.ellipse`` (semi-axes
   :math:`a = \sqrt{\chi^2_2(c)}\,\sigma_1`). The probability of impact in an
   area, :math:`P(A) = \int_A \mathcal N(\mu, \Sigma)`, is estimated with a fixed
   set of 4,096 quasi-random standard-normal points (seeded, so deterministic),
   mapped through :math:`\mu + R\,\mathrm{diag}(\sigma)\,z`. An area that
   touches the 95 % ellipse is at risk ("impact") if :math:`P(A) \ge`
   ``min_impact_probability``; its event time is :math:`t_\text{impact} -
   2\sigma_t`.

**During boost** (``phase == "boost"`` or no impact prediction): the final range
is unknown, so the rule asks what the missile could reach if it kept burning
for ``boost_extra_s`` more seconds at its current acceleration (estimated from
successive track velocities, or ``boost_assumed_accel`` along the velocity):
that state is propagated ballistically to the ground, and its ground track from
the object's current sub-point to that far impact point is swept with a
corridor that widens with distance by ``boost_heading_margin_deg`` (the
launch azimuth may still change) from ``boost_min_buffer_m``. Everything short
of the far impact point is reachable (thrust can stop at any time); beyond it
is not yet. As the boost goes on the far end moves out and the next update
adds what became reachable; at burnout the post-boost rules take over and the
corridor narrows to the prediction.

The far end of that corridor is where the range is least certain: near burnout
the far point has been up to a quarter of the corridor's length beyond the real
impact (the extra thrust, and a tracker velocity that overshoots as its boost
model lets go). So the corridor stops at the later of the point
``boost_hold_fraction`` short of the far point (by ground distance) and the
point the object could reach ``boost_hold_s`` from now: areas the missile could
reach within ``boost_hold_s`` are always named, the uncertain far end waits for
the corridor to grow past it or for the ballistic prediction after burnout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec
import numpy as np
import shapely
import shapely.ops
from numpy.typing import NDArray

from tocsin.dynamics.flight import propagate
from tocsin.dynamics.forces import accel_ecef
from tocsin.geo.wgs84 import WGS84_A, WGS84_E2, ecef_to_geodetic, enu_matrix
from tocsin.warning.coast import coast, steps_within
from tocsin.wire.messages import ImpactPrediction, TrackBody

F64 = NDArray[np.float64]
K95 = math.sqrt(5.991464547107979)  # sqrt(chi2_2(0.95))
#: a track's path points travel rounded to 5 decimals of a degree (fusion/reports.py)
_PATH_ROUNDING_DEG = 1e-5


class ThreatArea(Protocol):
    """What assessment needs of an area (``tocsin.warning.areas.Area`` fits)."""

    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def geometry(self) -> shapely.Geometry: ...


class AreaIndex(Protocol):
    """What assessment needs of the area registry."""

    def intersecting(self, geom: shapely.Geometry) -> Sequence[ThreatArea]: ...


class ThreatConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Knobs of the assessment (metres, seconds, degrees). Defaults are argued in
    ``docs/warning.md``."""

    min_buffer_m: float = 5_000.0
    max_buffer_m: float = 100_000.0
    max_ellipse_m: float = 150_000.0
    min_impact_probability: float = 0.01
    boost_extra_s: float = 10.0
    boost_extra_dv_mps: float = 150.0
    boost_extra_dv_fraction: float = 0.05
    boost_max_accel: float = 150.0
    boost_speed_window_s: float = 6.0
    boost_launch_baseline_m: float = 10_000.0
    boost_assumed_accel: float = 30.0
    boost_heading_margin_deg: float = 1.5
    boost_min_buffer_m: float = 15_000.0
    #: during boost, the last fraction of the reachable corridor (by ground distance)
    #: is held back, where the missile could not be within ``boost_hold_s`` (0: off)
    boost_hold_fraction: float = 0.3
    boost_hold_s: float = 180.0
    #: during boost, an area named before stays warned while it lies ahead within
    #: this distance, inside the corridor's widening fan (m): it is still reachable
    boost_reach_m: float = 3_000_000.0
    path_step_s: float = 10.0
    max_flight_s: float = 7200.0
    #: warn during boost at all (the reachable-corridor rule); off: wait for burnout
    boost_warnings: bool = True
    #: a track lost before its impact was known may have kept burning: the fastest
    #: it could have become (m/s; an ICBM's burnout speed), for its reachable corridor
    lost_max_speed_mps: float = 7_500.0
    #: a "may pull up" footprint (``may_manoeuvre``) reported while the missile
    #: still climbs names only its most likely (ballistic) prediction's areas:
    #: the glides' far end waits for the apogee (:func:`held_far_end`)
    footprint_from_apogee: bool = True
    #: flights (extra speed 0 .. the most) swept for a lost track's corridor
    lost_flights: int = 12
    #: an area named after burnout leaves only when the forecast has clearly
    #: left it (:func:`keep_region`); off: it leaves when no rule names it.
    #: On by default (session 15, docs/warning.md "Leaving": an area really at
    #: risk is never told "it was a mistake" while the forecast admits it)
    keep_named: bool = True

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            v = getattr(self, name)
            if isinstance(v, bool):
                continue
            if not (isinstance(v, float | int) and math.isfinite(v) and v >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0 - at `$.{name}`")
        if self.min_buffer_m > self.max_buffer_m:
            raise ValueError("`min_buffer_m` must not exceed `max_buffer_m` - at `$.min_buffer_m`")
        if self.min_impact_probability > 1.0:
            raise ValueError("`min_impact_probability` must be <= 1 - at `$.min_impact_probability`")
        if self.boost_hold_fraction >= 1.0:
            raise ValueError("`boost_hold_fraction` must be < 1 - at `$.boost_hold_fraction`")


Reason = Literal["impact", "path", "boost", "lost"]


@dataclass(frozen=True, slots=True)
class AreaRisk:
    code: str
    reason: Reason
    t: float  # when the hazard reaches the area (epoch s)
    p_impact: float | None = None


@dataclass(frozen=True, slots=True)
class Threat:
    """The areas one track puts at risk at time ``t``."""

    track_id: str
    t: float
    phase: Literal["boost", "ballistic"]
    risks: tuple[AreaRisk, ...]
    impact_t: float | None
    impact_lat: float | None = None
    impact_lon: float | None = None
    corridor: shapely.Geometry | None = None
    #: where the object may still go but the rules do not name areas yet: during
    #: boost the whole reachable corridor, its held-back far end included; after
    #: burnout the path beyond where the corridor stops (too uncertain). An area
    #: named before stays warned while it lies in it (a hold delays *naming*
    #: areas, it does not withdraw them); None: the named areas are all there is
    reach: shapely.Geometry | None = None
    #: the rules could not say (a boosting track whose heading is not known
    #: well enough to name areas): it names nothing and withdraws nothing
    unknown: bool = False

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.risks)

    @property
    def onset(self) -> float | None:
        return min((r.t for r in self.risks), default=None)


# ---------------------------------------------------------------- local geometry


def _radii(lat_deg: F64) -> tuple[F64, F64]:
    """Meridian (M) and prime-vertical (N) radii of curvature, m."""
    s = np.sin(np.radians(lat_deg))
    w = np.sqrt(1.0 - WGS84_E2 * s * s)
    return WGS84_A * (1.0 - WGS84_E2) / w**3, WGS84_A / w


def offset(lat: F64, lon: F64, east: F64, north: F64) -> tuple[F64, F64]:
    """Points ``east``/``north`` metres from (lat, lon) on the local tangent plane
    (exact to well under 1 % for offsets below a few hundred km)."""
    m, n = _radii(lat)
    dlat = np.degrees(north / m)
    dlon = np.degrees(east / (n * np.cos(np.radians(lat))))
    return lat + dlat, lon + dlon


_CIRCLE = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)


def _discs(lat: F64, lon: F64, r: F64) -> F64:
    """(N, 16, 2) lon/lat rings of discs of radius r (m) around each point
    (inscribed 16-gons: at least 98 % of the radius everywhere)."""
    e = r[:, None] * np.sin(_CIRCLE)[None, :]
    n = r[:, None] * np.cos(_CIRCLE)[None, :]
    la, lo = offset(lat[:, None], lon[:, None], e, n)
    return np.stack([lo, la], axis=-1)


def corridor_segments(lat: F64, lon: F64, r: F64) -> NDArray[np.object_]:
    """Convex hulls of consecutive discs: the segments of a tube of varying
    radius along a polyline (one polygon per segment, or one disc). Longitudes
    are unwrapped along the line, so a path over the antimeridian does not wrap
    round the globe (its far part lies beyond 180 and touches no area)."""
    lon = np.degrees(np.unwrap(np.radians(lon)))
    if len(lat) == 0:
        return np.array([], dtype=object)
    rings = _discs(lat, lon, r)
    if len(lat) == 1:
        return np.array([shapely.convex_hull(shapely.multipoints(rings[0]))], dtype=object)
    pairs = np.concatenate([rings[:-1], rings[1:]], axis=1)  # (N-1, 32, 2)
    mps = shapely.multipoints(pairs.reshape(-1, 2), indices=np.repeat(np.arange(len(pairs)), pairs.shape[1]))
    return np.asarray(shapely.convex_hull(mps), dtype=object)


def ellipse_polygon(
    lat: float, lon: float, a: float, b: float, bearing_deg: float, n: int = 48
) -> shapely.Polygon:
    """The ellipse of semi-axes ``a`` (along ``bearing_deg``, clockwise from
    north) and ``b`` around (lat, lon), as a lon/lat polygon."""
    th = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    br = math.radians(bearing_deg)
    u = a * np.cos(th)
    v = b * np.sin(th)
    east = u * math.sin(br) + v * math.cos(br)
    north = u * math.cos(br) - v * math.sin(br)
    la, lo = offset(np.full(n, lat), np.full(n, lon), east, north)
    return shapely.Polygon(np.stack([lo, la], axis=-1))


def ellipse_radius(a: float, b: float, bearing_deg: float, direction_deg: float) -> float:
    """Radius of the ellipse in a given direction (both clockwise from north)."""
    al = math.radians(direction_deg - bearing_deg)
    den = math.hypot(b * math.cos(al), a * math.sin(al))
    return a * b / den if den > 0 else max(a, b)


# fixed quasi-random standard-normal sample for impact probabilities
_Z = np.random.default_rng(20170829).standard_normal((4096, 2))
_Z -= _Z.mean(axis=0)
_Z = _Z @ np.linalg.inv(np.linalg.cholesky(np.cov(_Z.T))).T  # exactly unit covariance


def impact_probabilities(
    areas: Iterable[ThreatArea],
    lat: float,
    lon: float,
    a: float,
    b: float,
    bearing_deg: float,
    confidence: float = 0.95,
) -> dict[str, float]:
    """P(impact in area) for the Gaussian whose ``confidence`` contour is the
    given ellipse (module doc)."""
    k = math.sqrt(-2.0 * math.log(1.0 - confidence))
    sa, sb = max(a, 1.0) / k, max(b, 1.0) / k
    br = math.radians(bearing_deg)
    u = _Z[:, 0] * sa
    v = _Z[:, 1] * sb
    east = u * math.sin(br) + v * math.cos(br)
    north = u * math.cos(br) - v * math.sin(br)
    la, lo = offset(np.full(len(u), lat), np.full(len(u), lon), east, north)
    out: dict[str, float] = {}
    for ar in areas:
        geom = ar.geometry
        shapely.prepare(geom)
        out[ar.code] = float(np.count_nonzero(shapely.contains_xy(geom, lo, la))) / len(u)
    return out


# ---------------------------------------------------------------- flight


@dataclass(frozen=True, slots=True)
class Flight:
    """A ballistic fly-out: ground track samples and the impact."""

    lat: F64
    lon: F64
    t: F64
    impact_t: float
    impact_lat: float
    impact_lon: float


def fly_to_ground(
    x: F64, t0: float | F64, *, step: float = 10.0, max_time: float = 7200.0
) -> list[Flight | None]:
    """Propagate states ``(N, 6)`` ballistically (no drag) to the ground, sampling
    the sub-point every ``step`` seconds; the impact is interpolated linearly in
    height within the last step. ``None`` for a state that does not come down
    within ``max_time`` or starts below the ground. ``t0``: the states' time
    (one for all, or one each).

    The steps run compiled (:mod:`tocsin.warning.coast`, the same RK4 bit for
    bit); where each flight meets the ground is found with the geodetic height
    of every step, as :func:`_fly_to_ground_numpy` does step by step."""
    y = np.atleast_2d(np.asarray(x, dtype=np.float64)).copy()
    n = y.shape[0]
    t0s = np.broadcast_to(np.asarray(t0, dtype=np.float64), (n,))
    la0, lo0, h0 = ecef_to_geodetic(y[:, :3])
    out: list[Flight | None] = [None] * n
    active = np.flatnonzero(h0 > 0.0)
    if not active.size:
        return out
    kmax = steps_within(step, max_time)
    states, steps = coast(y[active], step, max_time)
    for j, i in enumerate(active):
        m = int(steps[j])
        if m == 0:  # no step allowed (max_time <= 0)
            continue
        la, lo, h = ecef_to_geodetic(np.ascontiguousarray(states[j, 1 : m + 1, :3]))
        down = np.flatnonzero(h <= 0.0)
        if not down.size:
            if m < kmax:  # the kernel's rough height stopped it early: step on in numpy
                out[i] = _fly_to_ground_numpy(y[i : i + 1], float(t0s[i]), step=step, max_time=max_time)[0]
            continue
        k = int(down[0]) + 1  # the step that reached the ground
        lats = [float(la0[i])] + [float(v) for v in la[: k - 1]]
        lons = [float(lo0[i])] + [float(v) for v in lo[: k - 1]]
        hs = float(h0[i]) if k == 1 else float(h[k - 2])
        hk = float(h[k - 1])
        f = hs / (hs - hk) if hs > hk else 1.0
        ilat = lats[-1] + f * (float(la[k - 1]) - lats[-1])
        ilon = lons[-1] + f * (float(lo[k - 1]) - lons[-1])
        t_imp = float(t0s[i]) + (k - 1 + f) * step
        ts = float(t0s[i]) + step * np.arange(len(lats))
        out[i] = Flight(
            lat=np.append(np.asarray(lats), ilat),
            lon=np.append(np.asarray(lons), ilon),
            t=np.append(ts, t_imp),
            impact_t=t_imp,
            impact_lat=ilat,
            impact_lon=ilon,
        )
    return out


def _fly_to_ground_numpy(
    x: F64, t0: float | F64, *, step: float = 10.0, max_time: float = 7200.0
) -> list[Flight | None]:
    """:func:`fly_to_ground` stepped in numpy (its reference, and its way for a
    flight the compiled kernel stopped too early)."""
    y = np.atleast_2d(np.asarray(x, dtype=np.float64)).copy()
    n = y.shape[0]
    t0s = np.broadcast_to(np.asarray(t0, dtype=np.float64), (n,))
    la, lo, h = ecef_to_geodetic(y[:, :3])
    lats = [[float(la[i])] for i in range(n)]
    lons = [[float(lo[i])] for i in range(n)]
    hs = [float(v) for v in h]
    out: list[Flight | None] = [None] * n
    active = np.flatnonzero(h > 0.0)
    k = 0
    while active.size and k * step < max_time:
        k += 1
        y[active] = propagate(y[active], step, max_step=step)
        la, lo, h = ecef_to_geodetic(y[active, :3])
        keep = []
        for j, i in enumerate(active):
            if h[j] <= 0.0:
                f = hs[i] / (hs[i] - float(h[j])) if hs[i] > float(h[j]) else 1.0
                ilat = lats[i][-1] + f * (float(la[j]) - lats[i][-1])
                ilon = lons[i][-1] + f * (float(lo[j]) - lons[i][-1])
                t_imp = float(t0s[i]) + (k - 1 + f) * step
                ts = float(t0s[i]) + step * np.arange(len(lats[i]))
                out[i] = Flight(
                    lat=np.append(np.asarray(lats[i]), ilat),
                    lon=np.append(np.asarray(lons[i]), ilon),
                    t=np.append(ts, t_imp),
                    impact_t=t_imp,
                    impact_lat=ilat,
                    impact_lon=ilon,
                )
            else:
                lats[i].append(float(la[j]))
                lons[i].append(float(lo[j]))
                hs[i] = float(h[j])
                keep.append(i)
        active = np.asarray(keep, dtype=np.int64)
    return out


def _thin(n: int, keep: int = 60) -> NDArray[np.int64]:
    if n <= keep:
        return np.arange(n)
    idx = np.unique(np.round(np.linspace(0, n - 1, keep)).astype(np.int64))
    return idx


def _truncate(lat: F64, lon: F64, ts: F64, r: F64, max_r: float) -> tuple[F64, F64, F64, F64]:
    """The path up to where its corridor radius first exceeds ``max_r``: beyond,
    the prediction does not say which areas the object will pass over (the
    corridor is never widened past ``max_r`` to cover them all)."""
    over = np.flatnonzero(r > max_r)
    n = len(r) if over.size == 0 else int(over[0])
    if n == 0:
        return lat[:0], lon[:0], ts[:0], r[:0]
    return lat[:n], lon[:n], ts[:n], r[:n]


def _until(t_end: float, ts: F64, *cols: F64) -> tuple[F64, ...]:
    """``ts`` and the columns sampled with it, up to time ``t_end`` (the last
    sample interpolated linearly in time)."""
    if ts[-1] <= t_end:
        return (ts, *cols)
    k = int(np.searchsorted(ts, t_end, side="right"))
    if k == 0:
        return (ts[:1], *(c[:1] for c in cols))
    f = (t_end - ts[k - 1]) / max(float(ts[k] - ts[k - 1]), 1e-9)
    return (
        np.append(ts[:k], t_end),
        *(np.append(c[:k], c[k - 1] + f * (c[k] - c[k - 1])) for c in cols),
    )


def _heading(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    """Initial great-circle bearing, degrees clockwise from north."""
    p0, p1 = math.radians(lat0), math.radians(lat1)
    dl = math.radians(lon1 - lon0)
    y = math.sin(dl) * math.cos(p1)
    x = math.cos(p0) * math.sin(p1) - math.sin(p0) * math.cos(p1) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _great_circle(lat0: float, lon0: float, az_deg: float, d: F64) -> tuple[F64, F64]:
    """Points ``d`` metres from (lat0, lon0) along the great circle of initial
    bearing ``az_deg`` (spherical, mean Earth radius: ample for a corridor)."""
    R = 6_371_008.8
    p0, l0, az = math.radians(lat0), math.radians(lon0), math.radians(az_deg)
    delta = d / R
    p = np.arcsin(math.sin(p0) * np.cos(delta) + math.cos(p0) * np.sin(delta) * math.cos(az))
    lam = l0 + np.arctan2(
        math.sin(az) * np.sin(delta) * math.cos(p0), np.cos(delta) - math.sin(p0) * np.sin(p)
    )
    return np.degrees(p), np.degrees(np.unwrap(lam))


def _cross_sigma(track: TrackBody, lat: float, lon: float) -> float:
    """1-sigma horizontal position error across the velocity, m."""
    rot = enu_matrix(lat, lon)
    p = np.asarray(track.cov, dtype=np.float64).reshape(6, 6)[:3, :3]
    pe = rot @ p @ rot.T
    v = rot @ np.asarray(track.state_ecef[3:], dtype=np.float64)
    vh = v[:2]
    nv = float(np.hypot(*vh))
    if nv < 1e-6:
        return float(math.sqrt(max(0.5 * (pe[0, 0] + pe[1, 1]), 0.0)))
    perp = np.array([-vh[1], vh[0]]) / nv
    return float(math.sqrt(max(float(perp @ pe[:2, :2] @ perp), 0.0)))


def _areas_on(
    index: AreaIndex, segs: NDArray[np.object_], lat: F64, lon: F64, ts: F64
) -> tuple[dict[str, float], shapely.Geometry]:
    """Areas the corridor touches, and when: along the first segment that touches
    an area, the time at the point of the centre line where it enters the area
    (or comes nearest to it, when only the corridor's width reaches it),
    interpolated linearly in time along the segment."""
    first: dict[str, float] = {}
    # the segments as a collection: no polygon union (the costliest step)
    corridor = shapely.geometrycollections(list(segs))
    if len(segs) == 0:
        return first, corridor
    # candidates by bounding box (cheap), then each prepared area against the
    # segments whose boxes meet its box (the others cannot intersect it)
    tree = shapely.STRtree(segs)
    for ar in index.intersecting(shapely.box(*shapely.total_bounds(segs))):
        geom = ar.geometry
        shapely.prepare(geom)
        near = tree.query(geom)
        if len(near) == 0:
            continue
        near.sort()
        hit = shapely.intersects(segs[near], geom)
        if not bool(np.any(hit)):
            continue
        i = int(near[int(np.argmax(hit))])  # the first segment that touches it
        if len(ts) == 1:
            first[ar.code] = float(ts[0])
            continue
        line = shapely.LineString([(lon[i], lat[i]), (lon[i + 1], lat[i + 1])])
        inter = line.intersection(ar.geometry)
        if inter.is_empty:
            pt = shapely.ops.nearest_points(line, ar.geometry)[0]
            f = line.project(pt, normalized=True)
        else:
            # where the centre line enters it: the least of its crossings
            pts = shapely.points(shapely.get_coordinates(inter))
            f = float(np.min(shapely.line_locate_point(line, pts, normalized=True)))
        first[ar.code] = float(ts[i] + f * (ts[i + 1] - ts[i]))
    return first, corridor


# ---------------------------------------------------------------- assessment


def held_far_end(track: TrackBody, cfg: ThreatConfig) -> TrackBody:
    """The report the warning stage acts on. A "may pull up" footprint
    (``may_manoeuvre``) sent while the missile still climbs after burnout,
    with its most likely (ballistic) prediction beside it
    (``impact.most_likely`` with its own ``sigma_t_s`` and ``ellipse``), is
    read as that prediction alone: the glides' far end waits for the apogee.
    A pull-up is flown on the way down (no glide can have begun while the
    missile climbs), and until the apogee the glides' reach is the drag
    prior's spread, not a measured drag: in a drill of a plain depressed SRBM
    towards land the footprint named 48 land areas no part of it could reach
    at 23 s after burnout, all before its apogee (docs/fusion.md "Before the
    pull-up: the far end waits"). From the apogee on, the whole footprint
    is named. Like ``boost_hold_s``, a rule about when the uncertain far
    end is named, not about where the object can go: the track's report
    keeps the footprint (the fusion's 95 % region) for every other reader."""
    imp = track.impact
    if not cfg.footprint_from_apogee or not track.may_manoeuvre or imp is None or imp.most_likely is None:
        return track
    ml = imp.most_likely
    if ml.ellipse is None or ml.sigma_t_s is None:
        return track
    x = track.state_ecef
    if x[0] * x[3] + x[1] * x[4] + x[2] * x[5] < 0.0:  # descending: the whole footprint
        return track
    path = track.path
    if path:
        # the ground track ahead ends at the most likely point (the
        # footprint's path ends at its centre)
        end = [round(ml.lat, 5), round(ml.lon, 5), round(ml.t, 3)]
        path = [pt for pt in path[:-1] if pt[2] < ml.t - 1e-6] + [end]
    held = ImpactPrediction(t=ml.t, lat=ml.lat, lon=ml.lon, sigma_t_s=ml.sigma_t_s, ellipse=ml.ellipse)
    return msgspec.structs.replace(track, impact=held, path=path, may_manoeuvre=None)


def assess(
    track: TrackBody,
    index: AreaIndex,
    cfg: ThreatConfig | None = None,
    *,
    thrust: float | None = None,
    origin: tuple[float, float, float] | None = None,
) -> Threat:
    """The areas ``track`` puts at risk (module doc). ``thrust``: the thrust
    acceleration along the velocity (m/s^2) estimated by the caller from the
    track's recent speeds, used during boost (``boost_assumed_accel`` if None);
    ``origin``: (lat, lon, horizontal 1-sigma in m) of the track's first boost
    report, for the heading when the track carries no launch estimate."""
    cfg = cfg or ThreatConfig()
    boosting = track.phase == "boost" or track.impact is None
    if boosting:
        if not cfg.boost_warnings:
            return Threat(track.id, track.t, "boost", (), None)
        return _assess_boost(track, index, cfg, thrust, origin)
    return _assess_ballistic(track, index, cfg)


def thrust_from_speeds(t: F64, speed: F64, g_along: float, max_accel: float) -> float | None:
    """Thrust acceleration along the velocity from recent speeds: the least-squares
    slope of speed against time minus gravity's component along the velocity
    (``g_along``, negative when climbing), clipped to ``[0, max_accel]``.
    ``None`` with fewer than three samples spanning at least 2 s."""
    if t.size < 3 or float(t[-1] - t[0]) < 2.0:
        return None
    tc = t - t.mean()
    slope = float(tc @ (speed - speed.mean()) / (tc @ tc))
    return float(min(max(slope - g_along, 0.0), max_accel))


def _ballistic_path(track: TrackBody, cfg: ThreatConfig) -> tuple[F64, F64, F64]:
    """The predicted ground track from the sub-point to the impact point
    (lat, lon, t), thinned to at most 60 samples: the path the corridor sweeps."""
    imp = track.impact
    assert imp is not None
    x = np.asarray(track.state_ecef, dtype=np.float64)
    if track.path and len(track.path) >= 2:
        arr = np.asarray(track.path, dtype=np.float64)
        arr = arr[arr[:, 2] >= track.t - 1e-6] if np.any(arr[:, 2] >= track.t - 1e-6) else arr[-1:]
        lat, lon, ts = arr[:, 0], arr[:, 1], arr[:, 2]
        # the path may start ahead of the object (predictions are refreshed every
        # few seconds and the passed points dropped): start it at the sub-point
        if ts[0] > track.t + 1e-6:
            la0, lo0, _ = ecef_to_geodetic(x[:3])
            lat, lon, ts = np.append(float(la0), lat), np.append(float(lo0), lon), np.append(track.t, ts)
        if abs(lat[-1] - imp.lat) <= _PATH_ROUNDING_DEG and abs(lon[-1] - imp.lon) <= _PATH_ROUNDING_DEG:
            # the path ends at the impact, rounded on the wire: end it at the
            # impact itself, not with a segment of a few decimetres whose
            # heading (below: the cross-track radius at the impact is read
            # across it) is the rounding's, any direction at all
            lat, lon = lat.copy(), lon.copy()
            lat[-1], lon[-1] = imp.lat, imp.lon
        else:
            lat, lon, ts = np.append(lat, imp.lat), np.append(lon, imp.lon), np.append(ts, imp.t)
    else:
        fl = fly_to_ground(x[None, :], track.t, step=cfg.path_step_s, max_time=cfg.max_flight_s)[0]
        if fl is None:
            lat, lon, ts = np.array([imp.lat]), np.array([imp.lon]), np.array([imp.t])
        else:
            lat = np.append(fl.lat[:-1], imp.lat)
            lon = np.append(fl.lon[:-1], imp.lon)
            ts = np.append(fl.t[:-1], imp.t)
    idx = _thin(len(lat))
    return lat[idx], lon[idx], ts[idx]


def _spread(
    track: TrackBody, cfg: ThreatConfig, lat: F64, lon: F64, ts: F64
) -> tuple[float, float, float, float, bool, F64]:
    """The impact ellipse (semi-axes, bearing, confidence), whether it is
    settled, and the 95 % cross-track uncertainty of the path at each sample
    (``2.448 sigma_perp`` now, growing linearly in time to the ellipse's
    radius across the track at impact; the corridor is this, never below
    ``min_buffer_m``)."""
    imp = track.impact
    assert imp is not None
    ell = imp.ellipse
    a = ell.semi_major_m if ell else cfg.min_buffer_m
    b = ell.semi_minor_m if ell else cfg.min_buffer_m
    # an ellipse wider than max_ellipse_m is a prediction that has not settled
    # (or a track coasting without plots) and names no impact area; the
    # footprint of a re-entry seen to manoeuvre, from a measured state, is not
    # that: it is where the object can still go, however wide, and every area
    # in it is named (a manoeuvring re-entry widens, never narrows); nor is the
    # footprint of a missile that may still pull up (``may_manoeuvre``: its
    # ballistic fall and the glide it could fly instead, from a measured state)
    footprint = bool(track.manoeuvring) or bool(track.may_manoeuvre)
    settled = a <= cfg.max_ellipse_m or (footprint and track.status == "confirmed")
    brg = ell.bearing_deg if ell else 0.0
    conf = ell.confidence if ell else 0.95
    # cross-track radius: now -> at impact, linear in time
    r0 = K95 * _cross_sigma(track, float(lat[0]), float(lon[0]))
    if len(lat) >= 2:
        hd = _heading(float(lat[-2]), float(lon[-2]), float(lat[-1]), float(lon[-1]))
        r1 = ellipse_radius(min(a, cfg.max_ellipse_m), min(b, cfg.max_ellipse_m), brg, hd + 90.0)
    else:
        r1 = min(b, cfg.max_ellipse_m)
    span = max(float(ts[-1] - ts[0]), 1e-9)
    frac = np.clip((ts - ts[0]) / span, 0.0, 1.0)
    return a, b, brg, conf, settled, np.asarray(r0 + (r1 - r0) * frac, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Kept:
    """:func:`keep_region`'s answer: where a named area stays named, and when
    the hazard reaches an area there (the first keep-corridor segment that
    touches it, as :func:`assess` times the corridor; the grown ellipse:
    ``t_impact - 2 sigma_t``)."""

    segs: NDArray[np.object_]
    lat: F64
    lon: F64
    ts: F64
    ellipse: shapely.Geometry | None
    t_impact: float

    def times(self, areas: Sequence[ThreatArea]) -> dict[str, float]:
        """The areas (of those given) held, each with its event time."""
        first, _ = (
            _areas_on(_Areas(areas), self.segs, self.lat, self.lon, self.ts) if len(self.segs) else ({}, None)
        )
        if self.ellipse is not None:
            for ar in areas:
                if shapely.intersects(ar.geometry, self.ellipse):
                    first[ar.code] = min(first.get(ar.code, math.inf), self.t_impact)
        return first


class _Areas:
    """A few areas with :class:`AreaIndex`'s query."""

    def __init__(self, areas: Sequence[ThreatArea]) -> None:
        self._areas = list(areas)

    def intersecting(self, geom: shapely.Geometry) -> Sequence[ThreatArea]:
        return [a for a in self._areas if shapely.intersects(a.geometry, geom)]


def keep_region(track: TrackBody, cfg: ThreatConfig | None = None, *, path: bool = True) -> Kept | None:
    """Where an area a track named after burnout stays named: the hysteresis
    of the corridor and the ellipse (``docs/warning.md``, *Leaving*).

    :func:`assess` names an area the corridor touches (radius ``max(min_buffer_m,
    u)``, ``u`` the path's 95 % cross-track uncertainty there) or whose
    impact probability reaches ``min_impact_probability``. A prediction
    refreshed every scan moves within its own uncertainty, so an area at
    that edge would be named and withdrawn as the point wanders (a story
    per crossing). It leaves only when the debris allowance around every path
    and impact point the forecast admits at 95 % is clear of it: the path
    swept with radius ``min_buffer_m + u`` (a path moved by ``u``, and its
    allowance) and the 95 % impact ellipse grown by ``min_buffer_m``
    (Minkowski sum). Both contain what names an area, so a named area is
    always kept at first; both shrink with the uncertainty, so an area the
    forecast has clearly left is still withdrawn. ``path=False``: the ellipse's
    part only (a separated piece names only where it may fall). ``None`` for a
    boosting track (the boost rules keep their own reach)."""
    cfg = cfg or ThreatConfig()
    imp = track.impact
    if track.phase == "boost" or imp is None:
        return None
    lat, lon, ts = _ballistic_path(track, cfg)
    a, b, brg, conf, settled, unc = _spread(track, cfg, lat, lon, ts)
    r = np.maximum(unc, cfg.min_buffer_m)
    # where the naming corridor stops (the path's end too uncertain), so does this
    over = np.flatnonzero(r > cfg.max_buffer_m)
    n = 0 if not path else len(r) if over.size == 0 else int(over[0])
    lat, lon, ts, unc = lat[:n], lon[:n], ts[:n], unc[:n]
    lon = np.degrees(np.unwrap(np.radians(lon)))
    segs = corridor_segments(lat, lon, cfg.min_buffer_m + unc)
    grown = None
    if settled:
        # the 95 % ellipse (whatever confidence it is reported at) grown by the allowance
        s95 = K95 / math.sqrt(-2.0 * math.log(1.0 - conf))
        a95, b95 = max(a * s95, 1.0), max(b * s95, 1.0)
        th = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
        br = math.radians(brg)
        u, v = a95 * np.cos(th), b95 * np.sin(th)
        east = u * math.sin(br) + v * math.cos(br)
        north = u * math.cos(br) - v * math.sin(br)
        body = shapely.Polygon(np.stack([east, north], axis=-1)).buffer(cfg.min_buffer_m, quad_segs=8)
        en = shapely.get_coordinates(body)
        la, lo = offset(np.full(len(en), imp.lat), np.full(len(en), imp.lon), en[:, 0], en[:, 1])
        grown = shapely.Polygon(np.stack([lo, la], axis=-1))
    if not len(segs) and grown is None:
        return None
    return Kept(segs, lat, lon, ts, grown, imp.t - 2.0 * imp.sigma_t_s)


def _assess_ballistic(track: TrackBody, index: AreaIndex, cfg: ThreatConfig) -> Threat:
    imp = track.impact
    assert imp is not None
    lat, lon, ts = _ballistic_path(track, cfg)
    a, b, brg, conf, settled, unc = _spread(track, cfg, lat, lon, ts)
    r = np.maximum(unc, cfg.min_buffer_m)
    reach = None
    if not settled or bool(np.any(r > cfg.max_buffer_m)):
        # beyond where the corridor stops (or with an unsettled ellipse) the
        # prediction cannot say which areas the object will pass over: those
        # are not named, but one named before is not withdrawn on that account
        reach = shapely.geometrycollections(
            list(corridor_segments(lat, lon, np.minimum(r, cfg.max_ellipse_m)))
        )
    lat, lon, ts, r = _truncate(lat, lon, ts, r, cfg.max_buffer_m)
    lon = np.degrees(np.unwrap(np.radians(lon)))
    segs = corridor_segments(lat, lon, r)
    first, corridor = _areas_on(index, segs, lat, lon, ts)
    risks: dict[str, AreaRisk] = {c: AreaRisk(c, "path", t) for c, t in first.items()}
    # impact ellipse (not while it is wider than max_ellipse_m: the prediction
    # has not settled, or the track coasts without measurements)
    epoly = ellipse_polygon(imp.lat, imp.lon, max(a, cfg.min_buffer_m), max(b, cfg.min_buffer_m), brg)
    cand = list(index.intersecting(epoly)) if settled else []
    if cand:
        probs = impact_probabilities(cand, imp.lat, imp.lon, a, b, brg, conf)
        t_imp = imp.t - 2.0 * imp.sigma_t_s
        for ar in cand:
            p = probs[ar.code]
            if p >= cfg.min_impact_probability or shapely.contains_xy(ar.geometry, imp.lon, imp.lat):
                prev = risks.get(ar.code)
                risks[ar.code] = AreaRisk(ar.code, "impact", min(t_imp, prev.t) if prev else t_imp, p)
    return Threat(
        track_id=track.id,
        t=track.t,
        phase="ballistic",
        risks=tuple(risks[c] for c in sorted(risks)),
        impact_t=imp.t,
        impact_lat=imp.lat,
        impact_lon=imp.lon,
        corridor=shapely.geometrycollections([*shapely.get_parts(corridor), epoly]),
        reach=reach,
    )


def _launch_plane_velocity(
    track: TrackBody,
    cfg: ThreatConfig,
    origin: tuple[float, float, float] | None = None,
    *,
    azimuth: bool = False,
    fallback: bool = False,
) -> tuple[F64, float | None] | None:
    """The track's velocity turned, about the local vertical, onto the azimuth of
    the ground track from the estimated launch point (or, without one, from
    ``origin``, the sub-point of the track's first boost report).

    A missile boosts in its launch plane; a young track's velocity direction is
    noisy (a 2 degree error moves the far end of a 1,500 km corridor by 50 km)
    while the bearing from the launch point over a baseline of tens of km is
    steady. Used when the launch estimate (or origin) is at least
    ``boost_launch_baseline_m`` away and the bearing's 95 % error (both ends'
    across-track position errors over that distance) fits inside the corridor's
    fan, ``boost_heading_margin_deg``; ``None`` when there is no such baseline
    yet (no boost warning from a heading that noisy). With ``fallback`` (the
    caller would otherwise take the track's own, noisier velocity heading: a
    lost track's reach), a baseline ten times the origin's uncertainty is
    enough.

    With ``azimuth`` and a launch estimate carrying a launch azimuth and its
    sigma (the tracker's estimate during boost), the heading is that azimuth
    carried along the great circle from the launch point to the sub-point, at
    once (no baseline needed: its sigma says how well it is known), unless
    its 95 % half-angle reaches 90 degrees (no launch plane at all). Returns
    (velocity, heading 1-sigma in radians, or None for the baseline rule)."""
    x = np.asarray(track.state_ecef, dtype=np.float64)
    v = x[3:]
    la = track.launch
    if (
        azimuth
        and la is not None
        and la.azimuth_deg is not None
        and la.azimuth_sigma_deg is not None
        and K95 * la.azimuth_sigma_deg < 90.0
    ):
        lat, lon, _ = ecef_to_geodetic(x[:3])
        lat_f, lon_f = float(lat), float(lon)
        m, n = _radii(np.asarray(la.lat))
        dn = math.radians(lat_f - la.lat) * float(m)
        de = math.radians(lon_f - la.lon) * float(n) * math.cos(math.radians(la.lat))
        az = la.azimuth_deg
        if math.hypot(de, dn) > 1.0:
            # the great circle's turn from the launch point to the sub-point
            fwd = _heading(la.lat, la.lon, lat_f, lon_f)
            back = (_heading(lat_f, lon_f, la.lat, la.lon) + 180.0) % 360.0
            az += ((back - fwd + 180.0) % 360.0) - 180.0
        return _turn(v, lat_f, lon_f, az), math.radians(la.azimuth_sigma_deg)
    if la is not None:
        o_lat, o_lon, o_sig = la.lat, la.lon, la.sigma_m
    elif origin is not None:
        o_lat, o_lon, o_sig = origin
    else:
        return None
    lat, lon, _ = ecef_to_geodetic(x[:3])
    lat_f, lon_f = float(lat), float(lon)
    m, n = _radii(np.asarray(o_lat))
    dn = math.radians(lat_f - o_lat) * float(m)
    de = math.radians(lon_f - o_lon) * float(n) * math.cos(math.radians(o_lat))
    base = math.hypot(de, dn)
    if base < cfg.boost_launch_baseline_m:
        return None
    # the bearing's error: both ends' across-track position errors over the
    # baseline; its 95 % must fit inside the corridor's fan, which is what the
    # corridor's width allows for the heading (a wider error is not warned on)
    s_head = math.hypot(o_sig, _cross_sigma(track, lat_f, lon_f)) / base
    if fallback:
        if o_sig > 0.1 * base:
            return None
    elif K95 * s_head > math.radians(cfg.boost_heading_margin_deg):
        return None
    return _turn(v, lat_f, lon_f, _heading(o_lat, o_lon, lat_f, lon_f)), None


def _turn(v: F64, lat: float, lon: float, az_deg: float) -> F64:
    """ECEF velocity ``v`` at (lat, lon) turned about the local vertical onto
    the azimuth ``az_deg``."""
    rot = enu_matrix(lat, lon)
    venu = rot @ v
    h = math.hypot(float(venu[0]), float(venu[1]))
    a = math.radians(az_deg)
    turned = np.array([h * math.sin(a), h * math.cos(a), float(venu[2])])
    return np.asarray(rot.T @ turned, dtype=np.float64)


def _far_states(
    track: TrackBody,
    cfg: ThreatConfig,
    thrust: float | None,
    origin: tuple[float, float, float] | None,
    extra_s: float,
    dv_caps: F64,
    *,
    raw_heading: bool = False,
    azimuth: bool = False,
) -> tuple[F64, F64, F64, float | None] | None:
    """The track's state with thrust kept for up to ``extra_s`` seconds (adding
    at most each of ``dv_caps`` m/s): ``(states (N, 6), times (N,), position
    now, heading 1-sigma in radians or None)`` (:func:`_launch_plane_velocity`);
    ``None`` without a launch-plane heading (unless ``raw_heading``: the
    track's own velocity then)."""
    x = np.asarray(track.state_ecef, dtype=np.float64)
    r, got = x[:3], _launch_plane_velocity(track, cfg, origin, azimuth=azimuth, fallback=raw_heading)
    if got is None:
        if not raw_heading:
            return None
        v, az_sigma = x[3:].copy(), None
    else:
        v, az_sigma = got
    speed = float(np.linalg.norm(v))
    mag = cfg.boost_assumed_accel if thrust is None else thrust
    vhat = v / speed if speed > 1.0 else np.zeros(3)
    acc = accel_ecef(r, v) + vhat * mag
    caps = np.atleast_1d(np.asarray(dv_caps, dtype=np.float64))
    dt = np.minimum(extra_s, caps / mag) if mag > 1e-6 else np.full(caps.shape, extra_s)
    pos = r[None, :] + v[None, :] * dt[:, None] + 0.5 * acc[None, :] * (dt * dt)[:, None]
    vel = v[None, :] + acc[None, :] * dt[:, None]
    return np.concatenate([pos, vel], axis=1), track.t + dt, r, az_sigma


def _far_flight(
    track: TrackBody,
    cfg: ThreatConfig,
    thrust: float | None,
    origin: tuple[float, float, float] | None,
    extra_s: float,
    dv_cap: float,
    *,
    raw_heading: bool = False,
    azimuth: bool = False,
) -> tuple[Flight, F64, float | None] | None:
    """The ballistic flight of :func:`_far_states` with one cap, the
    position now and the heading's sigma; ``None`` also when the flight never
    comes down."""
    got = _far_states(
        track, cfg, thrust, origin, extra_s, np.array([dv_cap]), raw_heading=raw_heading, azimuth=azimuth
    )
    if got is None:
        return None
    far, t0, r, az_sigma = got
    fl = fly_to_ground(far, t0, step=cfg.path_step_s, max_time=cfg.max_flight_s)[0]
    return None if fl is None else (fl, r, az_sigma)


def _reach_corridor(
    track: TrackBody,
    index: AreaIndex,
    cfg: ThreatConfig,
    fl: Flight,
    r: F64,
    hold: bool,
    reason: Reason,
    az_sigma: float | None = None,
) -> Threat:
    """The corridor from the track's sub-point along the far flight's ground
    track, widening by ``boost_heading_margin_deg`` with distance from
    ``boost_min_buffer_m``; with ``hold``, its uncertain far end held back
    (module doc). With ``az_sigma`` (the launch azimuth's 1-sigma, radians),
    the width is what that uncertainty and the position's give instead:
    ``max(min_buffer_m, K95 sqrt(sigma_perp^2 + (d sigma_az)^2))``."""
    lat0, lon0, _ = ecef_to_geodetic(r)
    lat = np.concatenate([[float(lat0)], fl.lat])
    lon = np.concatenate([[float(lon0)], fl.lon])
    ts = np.concatenate([[track.t], fl.t])
    idx = _thin(len(lat))
    lat, lon, ts = lat[idx], lon[idx], ts[idx]
    # unwrapped first: the distances and the cut below interpolate in longitude
    lon = np.degrees(np.unwrap(np.radians(lon)))
    # distance along the ground track from the sub-point
    seg = np.hypot(
        np.diff(lat) * 111_320.0,
        np.diff(lon) * 111_320.0 * np.cos(np.radians(0.5 * (lat[1:] + lat[:-1]))),
    )
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    s_perp = _cross_sigma(track, float(lat[0]), float(lon[0]))

    def width(d: F64) -> F64:
        if az_sigma is None:
            r0 = max(cfg.boost_min_buffer_m, K95 * s_perp)
            return np.asarray(r0 + math.sin(math.radians(cfg.boost_heading_margin_deg)) * d, dtype=np.float64)
        spread = np.sin(np.minimum(K95 * az_sigma, 0.5 * math.pi)) * d
        return np.asarray(np.maximum(cfg.min_buffer_m, np.hypot(K95 * s_perp, spread)), dtype=np.float64)

    reach = None
    if hold and len(lat) >= 2:
        # the way ahead: along the heading to the far point and on, as far as a
        # missile still burning could go (``boost_reach_m``), widening as above
        az = _heading(float(lat[0]), float(lon[0]), float(lat[-1]), float(lon[-1]))
        length = max(float(dist[-1]), cfg.boost_reach_m)
        d = np.linspace(0.0, length, max(int(length // 50_000.0), 2) + 1)
        rlat, rlon = _great_circle(float(lat[0]), float(lon[0]), az, d)
        rr = np.minimum(width(d), cfg.max_buffer_m)
        reach = shapely.geometrycollections(list(corridor_segments(rlat, rlon, rr)))
    if hold and cfg.boost_hold_fraction > 0.0 and len(ts) >= 2:
        # the far end waits: it is where the range is least certain (module doc)
        t_hold = max(
            track.t + cfg.boost_hold_s,
            float(np.interp((1.0 - cfg.boost_hold_fraction) * dist[-1], dist, ts)),
        )
        ts, lat, lon, dist = _until(t_hold, ts, lat, lon, dist)
    rad = width(dist)
    lat, lon, ts, rad = _truncate(lat, lon, ts, rad, cfg.max_buffer_m)
    segs = corridor_segments(lat, lon, rad)
    first, corridor = _areas_on(index, segs, lat, lon, ts)
    risks = tuple(AreaRisk(c, reason, first[c]) for c in sorted(first))
    return Threat(
        track_id=track.id,
        t=track.t,
        phase="boost",
        risks=risks,
        impact_t=fl.impact_t,
        impact_lat=fl.impact_lat,
        impact_lon=fl.impact_lon,
        corridor=corridor,
        reach=reach,
    )


def _boost_dv_cap(track: TrackBody, cfg: ThreatConfig) -> float:
    speed = float(np.linalg.norm(np.asarray(track.state_ecef[3:], dtype=np.float64)))
    return min(cfg.boost_extra_dv_mps, cfg.boost_extra_dv_fraction * speed)


def _assess_boost(
    track: TrackBody,
    index: AreaIndex,
    cfg: ThreatConfig,
    thrust: float | None,
    origin: tuple[float, float, float] | None,
) -> Threat:
    # extra burn: boost_extra_s, or less if the thrust would add more than
    # boost_extra_dv_mps or boost_extra_dv_fraction of the current speed
    got = _far_flight(track, cfg, thrust, origin, cfg.boost_extra_s, _boost_dv_cap(track, cfg), azimuth=True)
    if got is None:
        # no heading yet (unknown: it names and withdraws nothing), or a flight
        # that never comes down (an orbit: nothing at risk ahead)
        unknown = _launch_plane_velocity(track, cfg, origin, azimuth=True) is None
        return Threat(track.id, track.t, "boost", (), None, unknown=unknown)
    fl, r, az_sigma = got
    return _reach_corridor(track, index, cfg, fl, r, hold=True, reason="boost", az_sigma=az_sigma)


@dataclass(frozen=True, slots=True)
class LostThreat:
    """What a track lost before its impact was known could still reach
    (:func:`assess_lost`): per area, the first time any possible flight could
    be over it (``threat.risks``) and the last (``until``); ``latest``: the
    latest time any of them comes down."""

    threat: Threat
    until: dict[str, float]
    latest: float


def assess_lost(
    track: TrackBody,
    index: AreaIndex,
    cfg: ThreatConfig,
    *,
    thrust: float | None,
    origin: tuple[float, float, float] | None,
) -> LostThreat:
    """The areas a track lost in boost (no impact known) could still reach.

    Its last state is flown out as a family of ``lost_flights`` flights: it
    may have stopped burning at once, or kept burning (at its last thrust, at
    least ``boost_assumed_accel``) until it had gained up to
    ``lost_max_speed_mps`` in all. Each flight's ground track from the last
    sub-point is swept like the boost rule's corridor (widening by
    ``boost_heading_margin_deg``, nothing held back): an area any of them
    touches is at risk from the first time one could be over it until the last
    (the time the slowest flight that reaches it has passed it, or comes down
    in it). Heading: the launch plane's when known, else the track's own
    velocity."""
    x = np.asarray(track.state_ecef, dtype=np.float64)
    speed = float(np.linalg.norm(x[3:]))
    mag = max(cfg.boost_assumed_accel if thrust is None else thrust, cfg.boost_assumed_accel)
    top = max(cfg.lost_max_speed_mps - speed, _boost_dv_cap(track, cfg))
    n = max(cfg.lost_flights, 2)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    latest = track.t
    corridors: list[shapely.Geometry] = []
    far: Flight | None = None
    got = _far_states(track, cfg, mag, origin, math.inf, np.linspace(0.0, top, n), raw_heading=True)
    flights = (
        fly_to_ground(got[0], got[1], step=cfg.path_step_s, max_time=cfg.max_flight_s)
        if got is not None
        else []
    )
    for fl in flights:
        if fl is None or got is None:
            continue
        r = got[2]
        far = fl
        latest = max(latest, fl.impact_t)
        th = _reach_corridor(track, index, cfg, fl, r, hold=False, reason="lost")
        if th.corridor is not None:
            corridors.append(th.corridor)
        ends = _last_touch(index, th, fl, r, cfg)
        for ar in th.risks:
            first[ar.code] = min(first.get(ar.code, math.inf), ar.t)
            last[ar.code] = max(last.get(ar.code, -math.inf), ends.get(ar.code, ar.t))
    threat = Threat(
        track_id=track.id,
        t=track.t,
        phase="boost",
        risks=tuple(AreaRisk(c, "lost", first[c]) for c in sorted(first)),
        impact_t=far.impact_t if far is not None else None,
        impact_lat=far.impact_lat if far is not None else None,
        impact_lon=far.impact_lon if far is not None else None,
        corridor=shapely.geometrycollections([g for c in corridors for g in shapely.get_parts(c)])
        if corridors
        else None,
    )
    return LostThreat(threat, last, latest)


def _last_touch(index: AreaIndex, th: Threat, fl: Flight, r: F64, cfg: ThreatConfig) -> dict[str, float]:
    """For each area of ``th``, the last time the flight's corridor touches it
    (the impact time when it comes down inside it)."""
    if not th.risks:
        return {}
    lat0, lon0, _ = ecef_to_geodetic(r)
    lat = np.concatenate([[float(lat0)], fl.lat])[::-1]
    lon = np.degrees(np.unwrap(np.radians(np.concatenate([[float(lon0)], fl.lon]))))[::-1]
    ts = np.concatenate([[th.t], fl.t])[::-1]
    idx = _thin(len(lat))
    lat, lon, ts = lat[idx], lon[idx], ts[idx]
    # the corridor's radius at each point, as _reach_corridor sweeps it (from the far end back)
    seg = np.hypot(
        np.diff(lat) * 111_320.0,
        np.diff(lon) * 111_320.0 * np.cos(np.radians(0.5 * (lat[1:] + lat[:-1]))),
    )
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    dist = dist[-1] - dist
    rad = cfg.boost_min_buffer_m + math.sin(math.radians(cfg.boost_heading_margin_deg)) * dist
    segs = corridor_segments(lat, lon, np.minimum(rad, cfg.max_buffer_m))
    hits, _ = _areas_on(index, segs, lat, lon, ts)
    return {c: t for c, t in hits.items() if c in th.codes}


def disc(lat: float, lon: float, radius_m: float) -> shapely.Polygon:
    """A disc of ``radius_m`` about (lat, lon), as a lon/lat 16-gon."""
    ring = _discs(np.array([lat]), np.array([lon]), np.array([radius_m]))[0]
    return shapely.Polygon(ring)


def under_path(index: AreaIndex, lat: F64, lon: F64, ts: F64, radius_m: float) -> dict[str, float]:
    """Areas *under the path*: those within ``radius_m`` of a ground track
    (samples ``lat``, ``lon`` in degrees at times ``ts``), each with the time
    the centre line enters it (or passes nearest to it).

    The one definition the warning policy and the drill scorer share: every
    corridor the policy sweeps is at least ``ThreatConfig.min_buffer_m`` wide
    (the debris allowance under a ballistic path), and the scorer counts an
    area at risk when the real path comes that close
    (``tocsin.drill.warnscore.areas_at_risk``). Both use
    :func:`corridor_segments` and the same first-entry rule."""
    if len(lat) == 0:
        return {}
    r = np.full(len(lat), float(radius_m))
    segs = corridor_segments(lat, lon, r)
    first, _ = _areas_on(index, segs, lat, np.degrees(np.unwrap(np.radians(lon))), ts)
    return first


__all__ = [
    "K95",
    "AreaIndex",
    "AreaRisk",
    "Flight",
    "Kept",
    "LostThreat",
    "Threat",
    "ThreatArea",
    "ThreatConfig",
    "assess",
    "assess_lost",
    "corridor_segments",
    "disc",
    "ellipse_polygon",
    "ellipse_radius",
    "fly_to_ground",
    "impact_probabilities",
    "keep_region",
    "offset",
    "thrust_from_speeds",
    "under_path",
]
