"""Where the launch came from, as each message says it: named from the bundled
outlines (北朝鮮から / 북한에서 / from North Korea), and the same for a track the
tracker started in mid-flight beside a missile already followed (a separated
piece, or the same missile tracked anew), whose first sub-point is no launch."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from warnhelpers import hokkaido_truth, tracks_from_truth

from tocsin.geo import ecef_to_geodetic
from tocsin.warning import WarningEngine
from tocsin.warning.areas import AreaRegistry
from tocsin.warning.engine import launch_origin_names
from tocsin.wire.messages import AlertBody, Envelope


@pytest.fixture(scope="module")
def registry() -> AreaRegistry:
    return AreaRegistry.default()


@pytest.fixture(scope="module")
def hok_tracks() -> list[Envelope]:
    return tracks_from_truth(hokkaido_truth(), track_id="F-17", every_s=6.0)


def _said(out: list[Envelope]) -> str:
    return " ".join(e.body.cap for e in out if isinstance(e.body, AlertBody))


def test_the_first_contact_names_the_launch_country(
    registry: AreaRegistry, hok_tracks: list[Envelope]
) -> None:
    eng = WarningEngine(registry=registry)
    out: list[Envelope] = []
    for e in hok_tracks[:40]:
        out += eng.push(e)
    alerts = [e for e in out if e.body.msg_type == "Alert"]
    assert alerts
    for e in alerts:
        assert "北朝鮮からミサイルが発射されたものとみられます。" in e.body.cap
        assert "북한에서 탄도미사일이 발사된 것으로 보입니다." in e.body.cap
        assert "launched from North Korea." in e.body.cap
        assert "°N" not in e.body.cap  # a name, not coordinates


def test_a_track_born_in_mid_flight_beside_a_missile_shares_its_launch(
    registry: AreaRegistry, hok_tracks: list[Envelope]
) -> None:
    # the tracker follows the missile as F-17, then starts F-18 on the same object
    # over the Sea of Japan (a track break, or a separated piece): F-18's first
    # sub-point is at sea, its launch is still North Korea's
    n = 30
    first = hok_tracks[:n]
    later = [
        msgspec.structs.replace(e, body=msgspec.structs.replace(e.body, id="F-18", launch=None))
        for e in hok_tracks[n:]
    ]
    x0 = np.asarray(later[0].body.state_ecef[:3])
    lat, lon, _ = ecef_to_geodetic(x0)
    assert launch_origin_names(float(lat), float(lon)) not in (None, launch_origin_names(40.0, 125.0))
    eng = WarningEngine(registry=registry)
    for e in first:
        eng.push(e)
    eng.push(
        msgspec.structs.replace(first[-1], body=msgspec.structs.replace(first[-1].body, status="deleted"))
    )
    out: list[Envelope] = []
    for e in later[:30]:
        out += eng.push(e)
    by_new = [e for e in out if "F-18" in e.body.tracks]
    assert by_new
    said = _said(by_new)
    assert "北朝鮮から" in said
    assert "launched from North Korea." in said
    assert "launched from the Sea of Japan" not in said
    # a track born far from every followed missile keeps its own first sub-point
    eng = WarningEngine(registry=registry)
    out = []
    for e in later[:30]:
        out += eng.push(e)
    assert "launched from North Korea." not in _said(out)


def test_origin_names_read_in_each_language() -> None:
    assert launch_origin_names(39.03, 125.75) == {"ja-JP": "北朝鮮", "ko-KR": "북한", "en-US": "North Korea"}
    sea = launch_origin_names(39.5, 134.0)
    assert sea is not None
    assert sea["ja-JP"] == "日本海"
    assert sea["en-US"].startswith("the ")
    assert launch_origin_names(-33.9, 151.2) is None  # outside the outlines: the text gives coordinates
