"""Helpers for the warning tests: a tiny fake area registry and track messages
built from simulated truth (no fusion tracker involved).

Tracks from truth: every ``every_s`` seconds after ``detect_after_s`` of flight,
the true state plus a synthetic covariance (``sigma_pos_m``, ``sigma_vel_mps``);
after boost an impact prediction from the 13 unscented sigma points flown to the
ground with :func:`tocsin.warning.threat.fly_to_ground` (95 % ellipse from their
spread), and the ground path of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from tocsin.dynamics.flight import Trajectory, solve_trajectory
from tocsin.geo import ecef_to_geodetic, enu_matrix, geodetic_to_ecef
from tocsin.warning.threat import fly_to_ground
from tocsin.wire import iter_jsonl, make
from tocsin.wire.messages import Ellipse, Envelope, ImpactPrediction, LaunchEstimate, TrackBody, TruthBody


@dataclass(frozen=True)
class FakeArea:
    code: str
    kind: str
    country: str
    name_en: str
    name_ja: str
    name_ko: str
    geometry: shapely.Geometry

    def cap_polygons(self, max_points: int = 100) -> list[str]:
        geoms = getattr(self.geometry, "geoms", [self.geometry])
        out = []
        for g in geoms:
            coords = list(g.exterior.coords)
            if coords[0] != coords[-1]:
                coords.append(coords[0])
            out.append(" ".join(f"{lat:.4f},{lon:.4f}" for lon, lat in coords))
        return out


class FakeRegistry:
    """Boxes on a lon/lat grid with the registry's query API."""

    def __init__(self, areas: Sequence[FakeArea]) -> None:
        self.areas = sorted(areas, key=lambda a: a.code)
        self._by = {a.code: a for a in self.areas}
        self._tree = shapely.STRtree([a.geometry for a in self.areas])

    def __iter__(self) -> Iterator[FakeArea]:
        return iter(self.areas)

    def get(self, code: str) -> FakeArea:
        return self._by[code]

    def intersecting(self, geom: shapely.Geometry) -> list[FakeArea]:
        idx = self._tree.query(geom, predicate="intersects")
        return [self.areas[i] for i in sorted({int(i) for i in idx})]

    def land(self) -> list[FakeArea]:
        return [a for a in self.areas if a.kind == "land"]

    def sea(self) -> list[FakeArea]:
        return [a for a in self.areas if a.kind == "sea"]


def grid_registry(
    lat0: float = 30.0, lat1: float = 46.0, lon0: float = 124.0, lon1: float = 150.0, step: float = 1.0
) -> FakeRegistry:
    """1-degree boxes; east of 130 E "JP", west "KR"; boxes with lon >= 144 are sea."""
    areas = []
    for i, la in enumerate(np.arange(lat0, lat1, step)):
        for j, lo in enumerate(np.arange(lon0, lon1, step)):
            country = "JP" if lo >= 130 else "KR"
            sea = lo >= 144
            code = f"{'sea:' if sea else ''}{country}-{i:02d}{j:02d}"
            areas.append(
                FakeArea(
                    code=code,
                    kind="sea" if sea else "land",
                    country=country,
                    name_en=f"Box {i}/{j}",
                    name_ja=f"区画{i}/{j}",
                    name_ko=f"구역 {i}/{j}",
                    geometry=shapely.box(lo, la, lo + step, la + step),
                )
            )
    return FakeRegistry(areas)


#: the sea box the hysteresis tests place an area in (test_keep, test_pending_close):
#: the nominal impact point, and metres per degree of latitude near 36 N (placement only)
BOX_LAT0, BOX_LON_IMP = 36.0, 134.0
M_LAT = 111_000.0


def area_north(gap_m: float) -> FakeRegistry:
    """One 20 x 20 km sea box whose south edge is ``gap_m`` north of the
    nominal impact point."""
    s = BOX_LAT0 + gap_m / M_LAT
    box = shapely.box(BOX_LON_IMP - 0.1, s, BOX_LON_IMP + 0.1, s + 0.18)
    return FakeRegistry([FakeArea("sea:JP-A", "sea", "JP", "A", "A", "A", box)])


def descending_body(
    t: float,
    north_m: float,
    lead_s: float,
    *,
    semi_major: float = 3_000.0,
    semi_minor: float = 300.0,
    manoeuvring: bool = False,
) -> TrackBody:
    """Track F-1's report at ``t``: a descending object flying east along
    BOX_LAT0 to its impact ``lead_s`` later at BOX_LON_IMP; its whole forecast
    (path and impact) moved ``north_m``; the ellipse's major axis along the
    track."""
    lat = BOX_LAT0 + north_m / M_LAT
    lon0 = BOX_LON_IMP - 1.5
    x = geodetic_to_ecef(lat, lon0, 60e3)
    lons = np.linspace(lon0, BOX_LON_IMP, 7)
    return TrackBody(
        id="F-1",
        t=t,
        state_ecef=[*map(float, x), 0.0, 2_200.0, -1_500.0],
        cov=list(np.diag([50.0**2] * 3 + [5.0**2] * 3).ravel()),
        status="confirmed",
        class_="ballistic",
        impact=ImpactPrediction(
            t=t + lead_s,
            lat=lat,
            lon=BOX_LON_IMP,
            sigma_t_s=1.0,
            ellipse=Ellipse(semi_major_m=semi_major, semi_minor_m=semi_minor, bearing_deg=90.0),
        ),
        phase="ballistic",
        quality=1.0,
        manoeuvring=manoeuvring,
        path=[[lat, float(lo), t + lead_s * i / 6] for i, lo in enumerate(lons)],
    )


def truth_objects(path: str | Path) -> dict[str, list[TruthBody]]:
    out: dict[str, list[TruthBody]] = {}
    for env in iter_jsonl(path):
        b = env.body
        if isinstance(b, TruthBody):
            out.setdefault(b.object, []).append(b)
    return out


def _sigma_points(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = 6
    ev, evec = np.linalg.eigh(p)
    d = math.sqrt(n) * (evec * np.sqrt(np.maximum(ev, 0.0))).T
    pts = np.vstack([x[None, :], x + d, x - d])
    w = np.full(2 * n + 1, 1.0 / (2 * n))
    w[0] = 0.0
    return pts, w


def predict(x: np.ndarray, p: np.ndarray, t: float) -> tuple[ImpactPrediction, list[list[float]]] | None:
    """Impact prediction and path of state x, cov p (see module doc)."""
    pts, w = _sigma_points(x, p)
    fls = fly_to_ground(pts, t, step=10.0)
    if any(f is None for f in fls):
        return None
    mean = fls[0]
    assert mean is not None
    ti = np.array([f.impact_t for f in fls if f is not None])
    la = np.array([f.impact_lat for f in fls if f is not None])
    lo = np.array([f.impact_lon for f in fls if f is not None])
    rot = enu_matrix(mean.impact_lat, mean.impact_lon)
    m_n = 111_320.0
    m_e = 111_320.0 * math.cos(math.radians(mean.impact_lat))
    en = np.stack([(lo - mean.impact_lon) * m_e, (la - mean.impact_lat) * m_n], axis=1)
    d = en - w @ en
    cov = (w[:, None] * d).T @ d + np.eye(2) * 50.0**2
    ev, evec = np.linalg.eigh(cov)
    major = evec[:, 1]
    brg = float(np.degrees(np.arctan2(major[0], major[1])) % 180.0)
    k = math.sqrt(5.991464547107979)
    del rot
    imp = ImpactPrediction(
        t=float(w @ ti),
        lat=float(mean.impact_lat),
        lon=float(mean.impact_lon),
        sigma_t_s=float(np.sqrt(w @ (ti - w @ ti) ** 2)),
        ellipse=Ellipse(
            semi_major_m=float(k * math.sqrt(ev[1])),
            semi_minor_m=float(k * math.sqrt(max(ev[0], 0.0))),
            bearing_deg=brg,
        ),
    )
    idx = np.unique(np.round(np.linspace(0, len(mean.t) - 1, min(40, len(mean.t)))).astype(int))
    path = [
        [round(float(mean.lat[i]), 5), round(float(mean.lon[i]), 5), round(float(mean.t[i]), 3)] for i in idx
    ]
    return imp, path


def tracks_from_truth(
    truth: Iterable[TruthBody],
    *,
    track_id: str = "F-1",
    every_s: float = 2.0,
    detect_after_s: float = 40.0,
    sigma_pos_m: float = 300.0,
    sigma_vel_mps: float = 8.0,
    partner: str = "JP",
    cls: str = "ballistic",
    quality: float = 0.9,
    delete_at_end: bool = True,
) -> list[Envelope]:
    """Track envelopes built from one object's truth (module doc)."""
    bodies = sorted((b for b in truth if b.state_ecef is not None), key=lambda b: b.t)
    if not bodies:
        return []
    t_launch = bodies[0].t
    first = bodies[0].state_ecef
    assert first is not None
    llat, llon, _ = ecef_to_geodetic(np.asarray(first[:3]))
    p = np.diag([sigma_pos_m**2] * 3 + [sigma_vel_mps**2] * 3)
    out: list[Envelope] = []
    next_t = t_launch + detect_after_s
    seq = 0
    last: TrackBody | None = None
    for b in bodies:
        if b.t < next_t - 1e-9:
            continue
        next_t = b.t + every_s
        assert b.state_ecef is not None
        x = np.asarray(b.state_ecef, dtype=np.float64)
        boost = b.phase == "boost"
        imp = path = None
        if not boost and cls == "ballistic":
            pr = predict(x, p, b.t)
            if pr is not None:
                imp, path = pr
                if imp.t < b.t + 1.0:
                    break
        body = TrackBody(
            id=track_id,
            t=b.t,
            state_ecef=[float(v) for v in x],
            cov=[float(v) for v in p.ravel()],
            status="confirmed",
            class_=cls,  # type: ignore[arg-type]
            sources=["JP-R1"],
            partners=[partner],
            launch=LaunchEstimate(t=t_launch, lat=float(llat), lon=float(llon), sigma_m=2000.0),
            impact=imp,
            phase="boost" if boost else "ballistic",
            quality=quality,
            path=path,
        )
        seq += 1
        out.append(make("track", body, partner=partner, source="tocsin-fusion", seq=seq, sent=b.t + 0.5))
        last = body
    if delete_at_end and last is not None:
        import msgspec

        gone = msgspec.structs.replace(last, status="deleted", t=last.t + 30.0)
        out.append(
            make("track", gone, partner=partner, source="tocsin-fusion", seq=seq + 1, sent=last.t + 30.5)
        )
    return out


def truth_from_trajectory(
    traj: Trajectory, t0: float, obj: str = "M1", step_s: float = 1.0
) -> list[TruthBody]:
    """Truth messages (flight states every ``step_s``) of a solved trajectory launched at ``t0``."""
    ts = np.arange(0.0, traj.flight_time_s, step_s)
    xs = traj.state_at(ts)
    ph = traj.phase_at(ts)
    names = ("boost", "midcourse", "reentry")
    return [
        TruthBody(
            object=obj,
            t=t0 + float(t),
            phase=names[int(p)],  # type: ignore[arg-type]
            class_="ballistic",
            state_ecef=[float(v) for v in x],
        )
        for t, x, p in zip(ts, xs, ph, strict=True)
    ]


HOKKAIDO_T0 = 1503953880.0  # 2017-08-28T20:58:00Z


def hokkaido_truth() -> list[TruthBody]:
    """The IRBM of scenarios/irbm-over-hokkaido.yaml (Sunan, az 72.7, 2,700 km, apogee 550 km)."""
    traj = solve_trajectory(39.20, 125.70, 72.7, range_m=2_700e3, apogee_m=550e3)
    return truth_from_trajectory(traj, HOKKAIDO_T0)


def open_sea_truth() -> list[TruthBody]:
    """The missile of scenarios/open-sea.yaml (600 km into the middle of the Sea of Japan)."""
    traj = solve_trajectory(40.00, 128.20, 93.0, range_m=600e3, apogee_m=200e3)
    return truth_from_trajectory(traj, 1569967890.0)
