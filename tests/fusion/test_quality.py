"""Issue 16: a track's ``quality`` says how well it is held, not how precise
its impact prediction is. A lofted ICBM held by its radars whose early impact
ellipse spans a few hundred km must still be warned (widely), never dropped by
the warning stage's ``min_quality``."""

from __future__ import annotations

from collections import deque

import numpy as np

from tocsin.fusion import TrackerConfig
from tocsin.fusion.impact import Impact
from tocsin.fusion.reports import Reporter
from tocsin.fusion.track import Track
from tocsin.geo import enu_matrix, geodetic_to_ecef
from tocsin.warning import WarningEngine
from tocsin.warning.areas import AreaRegistry
from tocsin.wire.messages import AlertBody, TrackBody

T = 1_800_000_000.0


def _icbm(semi_major_m: float, *, hits: int = 10, age_s: float = 0.0) -> Track:
    """A re-entering missile over the Sea of Japan heading east for Hokkaido,
    updated ``age_s`` ago, with ``hits`` of the last 10 scans hitting, and an
    impact ellipse of ``semi_major_m`` across central Hokkaido."""
    lat, lon, h = 42.0, 137.0, 300e3
    pos = geodetic_to_ecef(lat, lon, h)
    vel = enu_matrix(lat, lon).T @ np.array([4000.0, 500.0, -2000.0])
    x = np.concatenate([pos, vel])
    p = np.diag([100.0**2] * 3 + [5.0**2] * 3)
    tr = Track(
        key=1,
        x=np.stack([x, x]),
        p=np.stack([p, p]),
        mu=np.array([0.5, 0.5]),
        t=T,
        created=T - 600.0,
        window=deque([1] * hits + [0] * (10 - hits)),
        sources={"R1"},
        partners=set(),
        status="confirmed",
        cls="ballistic",
        phase="ballistic",
        last_update=T - age_s,
    )
    tr.burnt_out = True
    a = semi_major_m
    tr.impact = Impact(
        t=T + 180.0,
        lat=43.3,
        lon=142.8,
        sigma_t_s=5.0,
        semi_major_m=a,
        semi_minor_m=a / 3.0,
        bearing_deg=80.0,
        cov_en=((a / 2.448) ** 2, 0.0, (a / 3.0 / 2.448) ** 2),
        path=[[42.0, 137.0, T], [42.5, 139.5, T + 60.0], [43.0, 141.5, T + 120.0], [43.3, 142.8, T + 180.0]],
    )
    return tr


def _quality(tr: Track) -> float:
    body = Reporter(TrackerConfig()).message(tr, tr.t).body
    assert isinstance(body, TrackBody)
    assert body.quality is not None
    return body.quality


def test_quality_is_how_well_the_track_is_held_not_the_ellipse() -> None:
    held = [_quality(_icbm(a)) for a in (2e3, 20e3, 300e3, 1_000e3)]
    # the same held track, whatever its ellipse: the ellipse is the impact precision
    assert held[0] > 0.99
    assert held == [held[0]] * 4, held
    # what does lower it: missed scans, time without a plot
    assert _quality(_icbm(300e3, hits=3)) < 0.35
    assert _quality(_icbm(300e3, age_s=30.0)) < 0.4


def test_a_held_missile_with_a_300_km_ellipse_is_warned() -> None:
    tr = _icbm(300e3)
    env = Reporter(TrackerConfig()).message(tr, tr.t)
    eng = WarningEngine(registry=AreaRegistry.default())
    out = eng.push(env) + eng.advance(tr.t + 1.0)
    alerts = [e.body for e in out if isinstance(e.body, AlertBody) and e.body.msg_type == "Alert"]
    assert alerts, f"no warning: quality {env.body.quality}, engine stats {dict(eng.stats)}"
    assert eng.stats["ignored"] == 0
    # warned widely: the areas under the path ahead, not one district
    areas = {c for a in alerts for c in a.areas}
    assert len(areas) >= 3, areas
