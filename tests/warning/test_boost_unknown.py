"""A boosting track whose heading is no longer known well enough to name areas
neither names nor withdraws one (docs/warning.md section 1).

Found on freedom-edge/biased-radar: the tampered radar's track was taken over
by the honest radars' (tocsin.fusion.lifecycle.Lifecycle.confirm); the track
carrying on has its own, younger past and no launch estimate for ~12 s; its
reports then named nothing, and the sea zone already warned was told "it has
passed" while the missile still flew towards it, then warned again 12 s later.
"""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from warnhelpers import hokkaido_truth, tracks_from_truth

from tocsin.geo import ecef_to_geodetic
from tocsin.warning import WarningEngine
from tocsin.warning.areas import AreaRegistry
from tocsin.wire.messages import Envelope


@pytest.fixture(scope="module")
def registry() -> AreaRegistry:
    return AreaRegistry.default()


def _bearing_deg(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    p0, p1, dl = np.radians(lat0), np.radians(lat1), np.radians(lon1 - lon0)
    y = np.sin(dl) * np.cos(p1)
    x = np.cos(p0) * np.sin(p1) - np.sin(p0) * np.cos(p1) * np.cos(dl)
    return float(np.degrees(np.arctan2(y, x))) % 360.0


def _with_azimuth(e: Envelope) -> Envelope:
    """The report with the launch azimuth a tracker would estimate (the bearing
    from the pad to the sub-point, +- 0.5 degrees)."""
    b = e.body
    la = b.launch
    assert la is not None
    lat, lon, _ = ecef_to_geodetic(np.asarray(b.state_ecef[:3]))
    az = _bearing_deg(la.lat, la.lon, float(lat), float(lon))
    la2 = msgspec.structs.replace(la, azimuth_deg=az, azimuth_sigma_deg=0.5)
    return msgspec.structs.replace(e, body=msgspec.structs.replace(b, launch=la2))


def test_a_boost_report_without_a_heading_withdraws_no_area(registry: AreaRegistry) -> None:
    tracks = [_with_azimuth(e) for e in tracks_from_truth(hokkaido_truth(), track_id="F-3", every_s=2.0)]
    eng = WarningEngine(registry=registry)
    named: dict[str, list[str]] = {}
    last: Envelope | None = None
    since = None
    for e in tracks:
        if e.body.phase != "boost":
            break
        eng.push(e)
        last = e
        named = eng.active_areas()
        if since is None and any(named.values()):
            since = e.body.t
        if since is not None and e.body.t - since >= 16.0:
            break  # named a while ago (past the lifecycle's rate limit)
    assert since is not None, "the boost corridor named areas"
    assert last is not None
    assert last.body.phase == "boost"
    assert last.body.t - since >= 16.0
    # the next report: still boosting, no launch estimate, its position known to
    # 30 km (no baseline from its first sub-point either: the heading is unknown)
    b = last.body
    cov = np.diag([3.0e4**2] * 3 + [200.0**2] * 3)
    blind = msgspec.structs.replace(
        last,
        seq=last.seq + 1,
        sent=last.sent + 1.0,
        body=msgspec.structs.replace(b, t=b.t + 1.0, launch=None, cov=[float(v) for v in cov.ravel()]),
    )
    out = eng.push(blind)
    th = eng.threats()["F-3"]
    assert th.unknown
    assert not th.risks
    for k in range(1, 31):  # time passes with no other report
        out += eng.advance(blind.sent + k)
    # was: every area named cancelled 20 s later ("issued in error"); a held
    # update of the last assessment may still go out
    ends = [(e.body.msg_type, e.body.areas) for e in out if e.body.msg_type == "Cancel" or not e.body.areas]
    assert ends == []
    assert eng.active_areas() == named
