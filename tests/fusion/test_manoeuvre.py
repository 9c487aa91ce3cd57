"""A manoeuvring re-entry (pull-up SRBM, issue 16): the impact is the footprint a
quasi-ballistic glide can reach, checked against the independent generator's
pull-up (its own lift loop, Mach-dependent drag and atmosphere; no tocsin code).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from independent.cases import Case, make_case  # noqa: E402
from independent.evaluate import K2_95, ellipse_d2  # noqa: E402
from tocsin.fusion import Tracker, TrackerConfig  # noqa: E402
from tocsin.fusion.impact import Impact, predict_impact  # noqa: E402
from tocsin.fusion.manoeuvre import GLIDE_RANGE, dive_heights, glide_draws, glide_footprint  # noqa: E402
from tocsin.geo import ecef_to_geodetic  # noqa: E402
from tocsin.wire import TrackBody, iter_jsonl  # noqa: E402


@pytest.fixture(scope="module")
def case() -> Case:
    # a 4-6 g pull-up below 35 km, glide -2.2 deg, dive -47 deg below 14 km, L/D 1.8
    return make_case(8, "SRBM-pullup", index=2)


def _d2(
    lat: float, lon: float, semi_major_m: float, semi_minor_m: float, bearing_deg: float, truth: Any
) -> float:
    ell = {"semi_major_m": semi_major_m, "semi_minor_m": semi_minor_m, "bearing_deg": bearing_deg}
    return ellipse_d2(lat, lon, ell, truth[1], truth[2])


def _imp_d2(imp: Impact, truth: Any) -> float:
    return _d2(imp.lat, imp.lon, imp.semi_major_m, imp.semi_minor_m, imp.bearing_deg, truth)


def test_draws_cover_the_class_range() -> None:
    d = glide_draws()
    assert d.shape == (16, len(GLIDE_RANGE))
    for j, (lo, hi) in enumerate(GLIDE_RANGE.values()):
        assert lo <= d[:, j].min() < lo + 0.2 * (hi - lo)
        assert hi - 0.2 * (hi - lo) < d[:, j].max() <= hi
    assert np.array_equal(d, glide_draws())  # deterministic


def test_a_glide_not_yet_diving_dives_below_where_it_is() -> None:
    """Seen gliding at 12 km, the object has not reached its dive height: every
    drawn one is below 12 km (not "dives at once" for the draws above it);
    seen diving, it dives on."""
    drawn = glide_draws()[:, 2]
    at12 = dive_heights(12_000.0, -3.0, drawn)
    assert np.all(at12 <= 12_000.0)
    assert np.ptp(at12) > 4_000.0  # still spread
    assert np.all(dive_heights(40_000.0, -3.0, drawn) == drawn)  # above the range: as drawn
    assert np.all(np.isinf(dive_heights(12_000.0, -50.0, drawn)))


def test_the_footprint_from_the_true_state_holds_the_glide(case: Case) -> None:
    """From the true state in the descent below 30 km (a tight base
    prediction), the footprint's 95 % ellipse holds the independent glide's
    impact at every stage, where the ballistic prediction misses it by far."""
    rv = next(o for o in case.objects if o.role == "rv")
    truth = rv.end_point()
    ts = np.arange(rv.t_start, truth[0] - 1.0, 1.0)
    xs = rv.states(ts)
    h = np.asarray(ecef_to_geodetic(xs[:, :3])[2])
    down = np.nonzero((h < 30e3) & (np.einsum("ij,ij->i", xs[:, :3], xs[:, 3:]) < 0.0))[0]
    p = np.diag([100.0**2] * 3 + [5.0**2] * 3)
    for frac in (0.0, 0.25, 0.5, 0.75):
        k = int(down[0] + frac * (len(ts) - 1 - down[0]))
        base = predict_impact(xs[k], p, float(ts[k]), beta=float(rv.beta))
        assert base is not None
        fp = glide_footprint(xs[k], float(ts[k]), base, float(rv.beta))
        assert fp is not None
        assert _imp_d2(base, truth) > 4 * K2_95, (frac, _imp_d2(base, truth))
        assert _imp_d2(fp, truth) <= K2_95, (frac, _imp_d2(fp, truth), fp.semi_major_m)
        # it only widens: the ballistic point lies inside the footprint too
        assert (
            _d2(fp.lat, fp.lon, fp.semi_major_m, fp.semi_minor_m, fp.bearing_deg, (0, base.lat, base.lon))
            <= K2_95
        )


def _track(case: Case, tmp: Path, cfg: TrackerConfig) -> list[TrackBody]:
    paths = case.write(tmp)
    trk = Tracker(cfg)
    out = []
    tick: float | None = None
    for e in iter_jsonl(paths["plots"]):
        if e.kind == "plot":
            if tick is None:
                tick = math.floor(e.sent) + 1.0
            while e.sent >= tick:
                out += trk.advance(tick)
                tick += 1.0
        out += trk.push(e)
    out += trk.flush()
    return [e.body for e in out if isinstance(e.body, TrackBody)]


def test_the_tracker_follows_a_pullup_to_a_footprint_that_holds_it(case: Case, tmp_path: Path) -> None:
    """Plots of the independent pull-up through the tracker: once it reports the
    object ``manoeuvring``, its 95 % ellipses hold the impact most of the time
    (0.70 measured; the ballistic prediction: never)."""
    rv = next(o for o in case.objects if o.role == "rv")
    truth = rv.end_point()

    def coverage(cfg: TrackerConfig) -> tuple[int, float]:
        inside = [
            _d2(b.impact.lat, b.impact.lon, e.semi_major_m, e.semi_minor_m, e.bearing_deg, truth) <= K2_95
            for b in _track(case, tmp_path, cfg)
            if b.manoeuvring and b.impact is not None and (e := b.impact.ellipse) is not None
        ]
        return len(inside), float(np.mean(inside)) if inside else 0.0

    n, cov = coverage(TrackerConfig())
    assert n >= 30
    assert cov >= 0.6, cov
    n0, cov0 = coverage(TrackerConfig(glide_footprint=False))
    assert n0 >= 30
    assert cov0 <= 0.1, cov0
