"""The launch azimuth during boost and the boost corridor built from it.

Unit checks of :func:`tocsin.fusion.impact.launch_azimuth` on a synthetic
climb, and a seeded slice of benchmarks/boost_corridor.py: flights from the
independent generator (its own thrust, pitch-over kick and gravity turn,
Delta-v, site and azimuth drawn from class ranges; its own biased sensors),
tracked by tocsin; for every boost report with an azimuth the true ground track
ahead must lie inside the corridor (never narrower than the truth: the corridor
is a 95 % one, 2.448 sigma of the heading, so at least 95 % of the reports must
hold the whole true track ahead), and the
heading's sigma must be honest from both sides (not too small: |z| < 2.448 for
at least 95 % of reports; not too large: median |z| above 0.25, where a sigma
3x too large would put it near 0.22 and an honest one near 0.67).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tocsin.fusion.impact import Launch, launch_azimuth
from tocsin.geo.wgs84 import enu_matrix, geodetic_to_ecef

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from boost_corridor import check_case  # noqa: E402

PAD = (39.7, 125.9)


def _climb(az_deg: float, t: float) -> tuple[np.ndarray, list[tuple[float, np.ndarray, float]]]:
    """A missile leaving PAD on ``az_deg`` (great circle): state at ``t`` s and
    its positions every 2 s from 20 s on (ground distance 20 t^2 m, height
    50 t^2 m: a climb at 68 degrees)."""

    def pos(tt: float) -> np.ndarray:
        d = 20.0 * tt * tt
        a = math.radians(az_deg)
        lat = PAD[0] + math.degrees(d * math.cos(a) / 6_371_000.0)
        lon = PAD[1] + math.degrees(d * math.sin(a) / (6_371_000.0 * math.cos(math.radians(PAD[0]))))
        return np.asarray(geodetic_to_ecef(lat, lon, 50.0 * tt * tt), dtype=np.float64).ravel()

    x = np.concatenate([pos(t), (pos(t + 0.01) - pos(t - 0.01)) / 0.02])
    early = [(float(tt), pos(tt), 150.0**2) for tt in np.arange(20.0, t - 5.0, 2.0)]
    return x, early


def _err(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


def test_azimuth_of_a_straight_climb() -> None:
    x, early = _climb(60.0, 60.0)
    p = np.diag([150.0**2] * 3 + [20.0**2] * 3)
    la = launch_azimuth(Launch(t=0.0, lat=PAD[0], lon=PAD[1], sigma_m=2000.0), x, p, 60.0, early)
    assert la.azimuth_deg is not None
    assert la.azimuth_sigma_deg is not None
    assert abs(_err(la.azimuth_deg, 60.0)) < 2.0 * la.azimuth_sigma_deg
    assert la.azimuth_sigma_deg < 1.0
    # the launch point and time are kept
    assert (la.lat, la.lon, la.t, la.sigma_m) == (PAD[0], PAD[1], 0.0, 2000.0)


def test_a_velocity_that_disagrees_widens_the_sigma() -> None:
    x, early = _climb(60.0, 60.0)
    p = np.diag([150.0**2] * 3 + [20.0**2] * 3)
    # the velocity turned 8 degrees about the local vertical: the chords still say 60
    lat, lon = PAD[0] + 0.05, PAD[1] + 0.1
    rot = enu_matrix(lat, lon)
    v = rot @ x[3:]
    a = math.radians(8.0)
    v[:2] = [v[0] * math.cos(a) + v[1] * math.sin(a), -v[0] * math.sin(a) + v[1] * math.cos(a)]
    x2 = np.concatenate([x[:3], rot.T @ v])
    base = launch_azimuth(Launch(t=0.0, lat=PAD[0], lon=PAD[1], sigma_m=2000.0), x, p, 60.0, early)
    bent = launch_azimuth(Launch(t=0.0, lat=PAD[0], lon=PAD[1], sigma_m=2000.0), x2, p, 60.0, early)
    assert bent.azimuth_sigma_deg is not None
    assert base.azimuth_sigma_deg is not None
    assert bent.azimuth_sigma_deg > 2.0
    assert bent.azimuth_sigma_deg > 3.0 * base.azimuth_sigma_deg
    assert abs(_err(bent.azimuth_deg or 0.0, 60.0)) < 2.448 * bent.azimuth_sigma_deg


def test_without_early_positions_the_sigma_is_wider() -> None:
    x, early = _climb(60.0, 60.0)
    p = np.diag([150.0**2] * 3 + [20.0**2] * 3)
    with_early = launch_azimuth(Launch(t=0.0, lat=PAD[0], lon=PAD[1], sigma_m=2000.0), x, p, 60.0, early)
    without = launch_azimuth(Launch(t=0.0, lat=PAD[0], lon=PAD[1], sigma_m=2000.0), x, p, 60.0, None)
    assert without.azimuth_sigma_deg is not None
    assert with_early.azimuth_sigma_deg is not None
    assert without.azimuth_sigma_deg >= with_early.azimuth_sigma_deg


#: (seed, class, index) of independent flights; seed 11 was not used while the
#: estimator was developed (seed 5 was); (5, MRBM, 3) is the flight whose
#: velocity heading was off by 3.3 of its sigmas (biased radars); (23, MRBM, 2)
#: holds the one report of seed 23 (317 reports) whose corridor lost most of
#: the truth ahead (heading off by 3.0 sigma, 33 % inside): not picked to pass
SLICE = [
    (11, "SRBM", 0),
    (11, "SRBM", 2),
    (11, "MRBM", 0),
    (11, "IRBM", 1),
    (5, "MRBM", 3),
    (23, "MRBM", 2),
]


@pytest.fixture(scope="module")
def slice_rows() -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    for seed, cls, i in SLICE:
        rows += check_case(seed, cls, i)
    return rows


def test_the_true_ground_track_stays_inside_the_boost_corridor(slice_rows: list[dict[str, float]]) -> None:
    assert len(slice_rows) >= 80  # the slice exercises the rule
    inside = np.array([r["inside"] for r in slice_rows])
    assert float(np.mean(inside >= 1.0)) >= 0.95, [r for r in slice_rows if r["inside"] < 1.0][:5]


def test_the_heading_sigma_is_honest_from_both_sides(slice_rows: list[dict[str, float]]) -> None:
    z = np.array([r["z"] for r in slice_rows])
    assert float(np.mean(z < 2.448)) >= 0.95, sorted(z)[-10:]
    assert float(np.median(z)) > 0.25, float(np.median(z))
