"""The engine as a state machine: any sequence of track updates (moving paths,
impacts, quality dips, reclassification, deletion, time passing) gives, per
(public, area), a valid story — an Alert first, Updates in its thread, an
explicit close last — with valid CAP."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from warnhelpers import grid_registry

from tocsin.geo import geodetic_to_ecef
from tocsin.warning import WarningEngine
from tocsin.warning.cap import validate_cap
from tocsin.wire import make
from tocsin.wire.messages import Ellipse, Envelope, ImpactPrediction, TrackBody

REG = grid_registry()

update = st.fixed_dictionaries(
    {
        "track": st.sampled_from(["A", "B"]),
        "dt": st.floats(min_value=0.0, max_value=40.0),
        "lat": st.floats(min_value=34.0, max_value=40.0),
        "lon0": st.floats(min_value=126.0, max_value=132.0),
        "length": st.floats(min_value=0.5, max_value=8.0),
        "tti": st.floats(min_value=-30.0, max_value=900.0),
        "semi": st.floats(min_value=500.0, max_value=200e3),
        "status": st.sampled_from(["confirmed", "confirmed", "coasting", "tentative", "deleted"]),
        "cls": st.sampled_from(["ballistic", "ballistic", "ballistic", "air", "unknown"]),
        "quality": st.floats(min_value=0.0, max_value=1.0),
        "advance": st.floats(min_value=0.0, max_value=200.0),
    }
)


def _env(u: dict[str, object], t: float, seq: int) -> Envelope:
    lat, lon0, length = float(u["lat"]), float(u["lon0"]), float(u["length"])  # type: ignore[arg-type]
    tti = float(u["tti"])  # type: ignore[arg-type]
    semi = float(u["semi"])  # type: ignore[arg-type]
    x = geodetic_to_ecef(lat, lon0, 200e3)
    lons = np.linspace(lon0, lon0 + length, 5)
    body = TrackBody(
        id=str(u["track"]),
        t=t,
        state_ecef=[*map(float, x), 3000.0, 0.0, 0.0],
        cov=list(np.diag([300.0**2] * 3 + [10.0**2] * 3).ravel()),
        status=u["status"],  # type: ignore[arg-type]
        class_=u["cls"],  # type: ignore[arg-type]
        impact=ImpactPrediction(
            t=t + tti,
            lat=lat,
            lon=lon0 + length,
            sigma_t_s=3.0,
            ellipse=Ellipse(semi_major_m=semi, semi_minor_m=semi / 2, bearing_deg=90.0),
        ),
        phase="ballistic",
        quality=float(u["quality"]),  # type: ignore[arg-type]
        path=[[lat, float(lo), t + max(tti, 1.0) * i / 4] for i, lo in enumerate(lons)],
    )
    return make("track", body, partner="US", source="fusion", seq=seq, sent=t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(update, min_size=1, max_size=25))
def test_any_track_sequence_gives_valid_threads(updates: list[dict[str, object]]) -> None:
    eng = WarningEngine(registry=REG)
    t = 1.0e9
    out: list[Envelope] = []
    for i, u in enumerate(updates):
        t += float(u["dt"])  # type: ignore[arg-type]
        out += eng.push(_env(u, t, i + 1))
        adv = float(u["advance"])  # type: ignore[arg-type]
        if adv > 0:
            t += adv
            out += eng.advance(t)
    out += eng.advance(t + 9000.0)
    target(float(len(out)))  # steer the search towards sequences that alert a lot
    threads: dict[str, list[Envelope]] = defaultdict(list)
    open_by_area: dict[tuple[str, str], str | None] = {}
    last_t = -math.inf
    for e in out:
        b = e.body
        assert b.status == "Exercise"
        assert b.t >= last_t
        last_t = b.t
        base, thread, n = b.id.rsplit(".", 2)
        key = f"{base}.{thread}"
        instance, partner, _ = base.split(".", 2)
        assert (instance, partner) == ("local", e.partner)
        named = (*b.areas, *b.closes)
        assert len(named) == 1, "one message, one area"
        area = named[0]
        assert REG.get(area).country == e.partner  # every area goes to the right public
        prev = threads[key]
        assert int(n) == len(prev)
        assert b.references == [p.body.id for p in prev]
        if b.msg_type == "Alert":
            assert not prev
            assert open_by_area.get((e.partner, area)) is None, "an Alert while the area's thread is open"
            open_by_area[e.partner, area] = key
            assert b.areas == [area]
        else:
            assert open_by_area.get((e.partner, area)) == key, "an Update/close outside the open thread"
            if b.closes:
                assert b.areas == []
                assert b.msg_type == ("Cancel" if b.close == "error" else "Update")
                open_by_area[e.partner, area] = None
            else:
                assert b.msg_type == "Update"
                assert b.areas == [area]
        prev.append(e)
        assert validate_cap(b.cap) == []
    # every story ends with an explicit close
    assert all(v is None for v in open_by_area.values()), open_by_area
