"""A small seeded slice of the impact-coverage Monte Carlo
(``benchmarks/impact_coverage.py``): the 95 % ellipses hold the impact point
about 95 % of the time, bounded from both sides.

SRBMs from the simulator's Monte Carlo generator (random sites, azimuths,
ranges, sensor subsets, link delays and losses, a registration bias per radar;
each warhead's ballistic coefficient drawn log-uniform in its class range by
the simulator). An
ellipse too small (the tracker that assumes one ballistic coefficient) holds
far too few; one three times too large holds nearly all, which is
miscalibration too: both bounds are checked, and shown to catch each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tocsin.drill.generate import random_scenario
from tocsin.drill.metrics import ellipse_contains
from tocsin.drill.score import score
from tocsin.drill.simulate import simulate
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.geo import ecef_to_enu, geodetic_to_ecef, great_circle_distance
from tocsin.wire import Envelope, TrackBody, TruthBody

SEED, FLIGHTS = 7, 6
LOW, HIGH = 0.90, 0.985


def _track(sim: object, cfg: TrackerConfig) -> list[Envelope]:
    """Arrival order, advanced every second of arrival time (as a node)."""
    trk = Tracker(cfg)
    out: list[Envelope] = []
    tick = None
    for env in sim.messages:  # type: ignore[attr-defined]
        if env.kind == "plot":
            tick = math.floor(env.sent) + 1.0 if tick is None else tick
            while env.sent >= tick:
                out.extend(trk.advance(tick))
                tick += 1.0
        out.extend(trk.push(env))
    out.extend(trk.flush())
    return [e for e in out if e.kind == "track"]


def _predictions(cfg: TrackerConfig) -> list[tuple[float, float, float, float, float, float, float]]:
    """(time to impact, east, north of the truth from the predicted point, a,
    b, bearing, error) of every reported impact ellipse of the slice."""
    rows = []
    for i in range(FLIGHTS):
        sim = simulate(random_scenario(SEED, "SRBM", index=i))
        tracks = _track(sim, cfg)
        rep = score(tracks, sim.truth)
        imp = next(e.body for e in sim.truth if isinstance(e.body, TruthBody) and e.body.phase == "impact")
        assert imp.lat is not None
        assert imp.lon is not None
        mine = {tid for o in rep.objects if o.object == "M1" for tid in o.tracks}
        for e in tracks:
            b = e.body
            if not (isinstance(b, TrackBody) and b.id in mine and b.impact and b.impact.ellipse):
                continue
            if b.status not in ("confirmed", "coasting", "lost"):
                continue
            en = ecef_to_enu(geodetic_to_ecef(imp.lat, imp.lon, 0.0), b.impact.lat, b.impact.lon, 0.0)
            el = b.impact.ellipse
            err = float(great_circle_distance(b.impact.lat, b.impact.lon, imp.lat, imp.lon))
            rows.append(
                (
                    imp.t - b.t,
                    float(en[0]),
                    float(en[1]),
                    el.semi_major_m,
                    el.semi_minor_m,
                    el.bearing_deg,
                    err,
                )
            )
    return rows


def _coverage(
    rows: list[tuple[float, float, float, float, float, float, float]], scale: float = 1.0
) -> float:
    a = np.array(rows)
    return float(ellipse_contains(a[:, 1], a[:, 2], scale * a[:, 3], scale * a[:, 4], a[:, 5]).mean())


@pytest.fixture(scope="module")
def shipped() -> list[tuple[float, float, float, float, float, float, float]]:
    # The simulator flies each scenario in one day's air, a departure from the
    # standard atmosphere drawn from its seed (tocsin.dynamics.atmosphere.day_air,
    # its correlation length drawn too): the tracker's default, which carries
    # the air's spread into the impact (drag.density_spread), is checked against
    # a truth it does not know exactly. The same default is checked against the
    # independent generator in tests/independent/test_indep_slice.py.
    return _predictions(TrackerConfig())


def test_the_95_percent_ellipses_hold_at_least_90_percent(
    shipped: list[tuple[float, float, float, float, float, float, float]],
) -> None:
    assert len(shipped) > 500
    assert _coverage(shipped) >= LOW
    # three times too large would be caught: it holds nearly every impact
    assert _coverage(shipped, 3.0) > HIGH
    # ... and so would one a third the size
    assert _coverage(shipped, 1.0 / 3.0) < LOW
    # the predictions converge: the last minute's are better than the rest
    late = [r[6] for r in shipped if r[0] < 60.0]
    early = [r[6] for r in shipped if r[0] >= 60.0]
    assert np.median(late) < 0.5 * np.median(early)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known shortfall (issue 16, session 3): since the simulator flies a drawn day's air (032d651) the "
        "shipped tracker's 95 % ellipses hold 0.992 of this slice's SRBM impacts: too wide. Session 6: "
        "with radar biases drawn and the tracker's bias term 0.9925 (0.930 without the term; the "
        "independent generator's SRBMs 0.979 with it, 0.872 without: docs/fusion.md). Session 7: the air's "
        "spread counted only as far as the bank has read drag through it (DragBank.informed): 0.9858. "
        "Session 8: the air read along the path (calibrated against the day's air: "
        "benchmarks/air_calibration.py): 0.9854. The bar stays; strict, so a calibrated tracker makes this "
        "fail until the mark is removed"
    ),
)
def test_the_95_percent_ellipses_are_not_too_wide(
    shipped: list[tuple[float, float, float, float, float, float, float]],
) -> None:
    assert _coverage(shipped) <= HIGH


def test_assuming_one_ballistic_coefficient_fails_the_bound() -> None:
    """The tracker before drag estimation (one beta for every warhead, no
    process noise in the impact prediction): far too confident."""
    rows = _predictions(TrackerConfig(drag_estimation=False, impact_process_noise=False))
    assert _coverage(rows) < LOW
