"""Where a launch came from, named as each public names it: a country or a sea.

``launch_origin(lat, lon)`` is a pure function of the launch point (degrees) to an
``Origin``: a code, a kind and names in English, Japanese and Korean::

    >>> from tocsin.warning.origin import launch_origin
    >>> o = launch_origin(39.03, 125.75)          # Pyongyang
    >>> o.code, o.kind, o.name_ja, o.name_ko, o.name_en
    ('KP', 'land', '北朝鮮', '북한', 'North Korea')
    >>> launch_origin(39.5, 134.0).name("ja-JP")   # the middle of the Sea of Japan
    '日本海'

Rules, in order (the data and its sources: ``docs/areas.md``):

1. **Land.** A point on a country's land (Natural Earth 1:10m admin-0 outlines,
   public domain, simplified to 200 m) is that country: kind ``"land"``, code the
   ISO 3166-1 alpha-2 (``"KP"``, ``"CN"``, ``"RU"``...).
2. **Territorial sea.** A point at sea within ``TERRITORIAL_SEA_M`` (12 nautical
   miles, UNCLOS art. 3) plus ``uncertainty_m`` of a country's coast is that
   country (the nearest coast wins): kind ``"coastal"``. J-Alert says
   「北朝鮮から」 for a launch off North Korea's coast too; and a launch point
   estimated from the first plots lies a few kilometres off the true one, so a
   caller that knows its launch point's uncertainty passes it (1-sigma or more)
   rather than letting a coastal site read as open sea.
3. **Sea.** Otherwise the sea holding the point: kind ``"sea"``, code
   ``"sea:<slug>"`` with the slugs of the area registry's offshore basins
   (``"sea:east-sea-sea-of-japan"``, ``"sea:yellow-sea"``, ...) plus the Bohai
   Sea, the Taiwan Strait, the South China Sea, the Bering Sea and the Pacific.
4. **Unknown.** Outside the covered box (15-60 deg N, 100-180 deg E): kind
   ``"unknown"``, code ``""``.

Names are those each public's own warning authority uses, not formal ones:
北朝鮮 / 북한 / North Korea; 日本海 / 동해 / Sea of Japan (East Sea); 黄海 / 서해 /
Yellow Sea. No outline here is a statement about sovereignty or maritime
boundaries (``docs/areas.md``).
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from tocsin.warning.areas import _aeqd, _decode_polygons, _gaussian_radius

__all__ = ["ORIGIN_FORMAT", "TERRITORIAL_SEA_M", "Origin", "OriginKind", "launch_origin", "origins"]

ORIGIN_FORMAT = "tocsin-origins/1"
#: the breadth of the territorial sea, 12 nautical miles (UNCLOS art. 3), in metres
TERRITORIAL_SEA_M = 12 * 1852.0

OriginKind = Literal["land", "coastal", "sea", "unknown"]


@dataclass(frozen=True, slots=True)
class Origin:
    """A launch origin: ``code`` (ISO 3166-1 alpha-2 for a country, ``"sea:<slug>"``
    for a sea, ``""`` when unknown), ``kind``, ``country`` (the alpha-2 code for
    ``land`` and ``coastal``, else ``""``) and the names."""

    code: str
    kind: OriginKind
    country: str
    name_en: str
    name_ja: str
    name_ko: str

    def name(self, lang: str) -> str:
        """The name in ``"en"``, ``"ja"`` or ``"ko"`` (a BCP 47 tag like ``"ko-KR"`` works)."""
        key = lang.split("-", 1)[0].lower()
        if key == "en":
            return self.name_en
        if key == "ja":
            return self.name_ja
        if key == "ko":
            return self.name_ko
        raise KeyError(f"no origin names in language {lang!r} (have en, ja, ko)")


UNKNOWN = Origin("", "unknown", "", "an unknown location", "不明な地点", "미상 지역")


@dataclass(frozen=True, slots=True)
class _Outline:
    origin: Origin
    geometry: BaseGeometry
    order: int


class _Origins:
    """The bundled outlines with STRtree indexes (one for countries, one for seas)."""

    def __init__(self, doc: dict[str, object]) -> None:
        if doc.get("format") != ORIGIN_FORMAT:
            raise ValueError(f"origin data: format {doc.get('format')!r}, expected {ORIGIN_FORMAT!r}")
        scale = float(doc["scale"])  # type: ignore[arg-type]
        box = doc["box"]
        assert isinstance(box, list)
        self.box = tuple(float(v) for v in box)
        countries: list[_Outline] = []
        seas: list[_Outline] = []
        records = doc["origins"]
        assert isinstance(records, list)
        for r in records:
            kind: OriginKind = "land" if r["kind"] == "country" else "sea"
            o = Origin(
                code=str(r["code"]),
                kind=kind,
                country=str(r["code"]) if kind == "land" else "",
                name_en=str(r["name_en"]),
                name_ja=str(r["name_ja"]),
                name_ko=str(r["name_ko"]),
            )
            outline = _Outline(o, _decode_polygons(r["polygons"], scale), int(r.get("order", 0)))
            (countries if kind == "land" else seas).append(outline)
        self.countries = tuple(sorted(countries, key=lambda c: c.origin.code))
        self.seas = tuple(sorted(seas, key=lambda s: s.order))
        self._cgeoms = np.array([c.geometry for c in self.countries], dtype=object)
        self._sgeoms = np.array([s.geometry for s in self.seas], dtype=object)
        shapely.prepare(self._cgeoms)
        shapely.prepare(self._sgeoms)
        self._ctree = shapely.STRtree(self._cgeoms)
        self._stree = shapely.STRtree(self._sgeoms)

    def inside(self, lat: float, lon: float) -> bool:
        lon0, lat0, lon1, lat1 = self.box
        return lon0 <= lon <= lon1 and lat0 <= lat <= lat1

    def land(self, lat: float, lon: float) -> Origin | None:
        cand = self._ctree.query(Point(lon, lat))
        hit = sorted(int(i) for i in cand[shapely.intersects_xy(self._cgeoms[cand], lon, lat)])
        return self.countries[hit[0]].origin if hit else None

    def coastal(self, lat: float, lon: float, meters: float) -> Origin | None:
        """The country whose land is nearest to the point, if within ``meters``."""
        radius = _gaussian_radius(lat)
        dlat = math.degrees(meters / radius) * 1.01 + 1e-6
        dlon = min(180.0, dlat / max(math.cos(math.radians(min(abs(lat) + dlat, 89.999))), 1e-6))
        window = (lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        cand = sorted(int(i) for i in self._ctree.query(shapely.box(*window)))
        if not cand:
            return None
        proj = _aeqd(lat, lon, radius)
        origin = Point(0.0, 0.0)
        best: tuple[float, int] | None = None
        for i in cand:
            near = shapely.clip_by_rect(self.countries[i].geometry, *window)
            if near.is_empty:
                continue
            d = float(shapely.transform(near, proj).distance(origin))
            if d <= meters and (best is None or d < best[0]):
                best = (d, i)
        if best is None:
            return None
        o = self.countries[best[1]].origin
        return Origin(o.code, "coastal", o.country, o.name_en, o.name_ja, o.name_ko)

    def sea(self, lat: float, lon: float) -> Origin | None:
        cand = self._stree.query(Point(lon, lat))
        hit = sorted(int(i) for i in cand[shapely.intersects_xy(self._sgeoms[cand], lon, lat)])
        return self.seas[hit[0]].origin if hit else None


@cache
def _data() -> _Origins:
    blob = files("tocsin").joinpath("data", "origins.json.gz").read_bytes()
    doc = json.loads(gzip.decompress(blob))
    return _Origins(doc)


def origins() -> list[Origin]:
    """Every origin the bundled data can give (countries by code, then seas in
    lookup order), without ``UNKNOWN``."""
    d = _data()
    return [c.origin for c in d.countries] + [s.origin for s in d.seas]


def launch_origin(lat: float, lon: float, *, uncertainty_m: float = 0.0) -> Origin:
    """The origin of a launch at (``lat``, ``lon``) degrees (module doc for the rules).

    ``uncertainty_m`` (>= 0) widens the coastal rule: a point at sea within
    ``TERRITORIAL_SEA_M + uncertainty_m`` of a country's land is named after that
    country. Longitudes may be given in -180..180 or 0..360.
    """
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90.0:
        raise ValueError(f"launch point must be finite degrees with |lat| <= 90, got ({lat}, {lon})")
    if not math.isfinite(uncertainty_m) or uncertainty_m < 0.0:
        raise ValueError(f"uncertainty_m must be finite and >= 0, got {uncertainty_m}")
    lon = (lon + 180.0) % 360.0 - 180.0
    if lon == -180.0:
        lon = 180.0
    d = _data()
    if not d.inside(lat, lon):
        return UNKNOWN
    found = d.land(lat, lon)
    if found is not None:
        return found
    found = d.coastal(lat, lon, TERRITORIAL_SEA_M + uncertainty_m)
    if found is not None:
        return found
    found = d.sea(lat, lon)
    return found if found is not None else UNKNOWN
