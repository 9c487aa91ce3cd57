"""A radar scan whose plots reach the tracker apart (each plot's own latency;
another sensor's plot between them ends the gathering) is processed in pieces
(:mod:`tocsin.fusion.scans`). A sensor gives one plot per object per scan, so
a track takes at most one plot of a scan however many pieces it comes in
(``Tracker._one_per_scan``), and a tentative track counts one detection
opportunity per scan (``Lifecycle.misses``/``updated``, ``Track.opp``).

Before: MC SLV seed 1 index 146 (biased radars), stage 2 coasting 20-75 m
from the stack, the ship radars' plots 200-1,500 m off: 213 of 1,923 updates to
t+230 s were a scan's second plot to one track, and stage 2's plots never
started a track that lived (lost while reported 32 s). Plots from
:mod:`tocsin.sensors.models` (conftest)."""

from __future__ import annotations

from collections import Counter, deque
from types import SimpleNamespace
from typing import Any

import numpy as np
from conftest import T0, Radar, bare_track, make_plots
from numpy.typing import NDArray

from tocsin.fusion import Tracker, TrackerConfig
from tocsin.fusion.lifecycle import Lifecycle
from tocsin.fusion.measurements import RADAR, REC_SENSOR, REC_T
from tocsin.geo import enu_matrix, geodetic_to_ecef
from tocsin.wire import PlotBody

F64 = NDArray[np.float64]


def _pair(gap_m: float) -> Any:
    """Two bodies at 150 km, 4.9 km/s south-south-east, ``gap_m`` apart along
    the track (a stage coasting just behind the stack it parted from)."""
    lat, lon = 31.0, 127.0
    p0 = geodetic_to_ecef(lat, lon, 150e3)
    m = enu_matrix(lat, lon)
    v = np.array([1800.0, -4500.0, 300.0]) @ m
    u = v / np.linalg.norm(v)

    def f(t: float) -> F64:
        a = p0 + v * (t - T0)
        return np.array([np.concatenate([a, v]), np.concatenate([a - u * gap_m, v])])

    return f


RADARS = [
    Radar("JP-S1", 33.0, 129.5, sigma_r=25.0, sigma_deg=0.05, max_range=3e6),
    Radar("KR-S1", 35.0, 131.0, sigma_r=25.0, sigma_deg=0.05, max_range=3e6, offset=0.5),
]


def test_a_track_takes_one_plot_of_a_scan_that_arrives_in_pieces() -> None:
    envs = make_plots(_pair(60.0), T0, T0 + 30.0, RADARS, seed=3)
    trk = Tracker(TrackerConfig())
    for e in envs:
        trk.push(e)
        if isinstance(e.body, PlotBody):
            trk.flush()  # every plot its own piece of its scan
    # plots of one scan: two (one per body); each track held at most one
    seen: Counter[tuple[int, str, float]] = Counter()
    for tr in trk._life.tracks.values():
        for r, _ in tr.hist:
            seen[(tr.key, r[REC_SENSOR], r[REC_T])] += 1
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:5]
    # and the second body's plots, no longer taken by the first body's track,
    # made a confirmed track of their own
    confirmed = [tr for tr in trk._life.tracks.values() if tr.status != "tentative"]
    assert len(confirmed) == 2, [(tr.id, tr.status) for tr in trk._life.tracks.values()]


def _scan(sensor: str, t: float) -> Any:
    return SimpleNamespace(
        kind=RADAR, t=t, sensor=sensor, site=np.zeros(3), sent=t, partner=sensor[:2], record=lambda: ()
    )


def test_a_scan_in_pieces_is_one_detection_opportunity_of_a_tentative_track() -> None:
    tr = bare_track(np.array([7.0e6, 0.0, 0.0, 0.0, 7.0e3, 0.0]), 10.0)
    tr.sources = {"JP-S1"}
    tr.window = deque([1, 1], maxlen=5)
    xc = tr.x[:1]
    none = np.zeros((0, 2), dtype=np.int64)
    # two pieces of JP-S1's scan at t=11 without its plot: one miss
    Lifecycle.misses([tr], xc, _scan("JP-S1", 11.0), none, None)
    Lifecycle.misses([tr], xc, _scan("JP-S1", 11.0), none, None)
    assert list(tr.window) == [1, 1, 0]
    # a third piece brings its plot: that scan was a hit
    life = Tracker(TrackerConfig())._life
    life.updated([tr], [_scan("JP-S1", 11.0)], 0.0, set())
    assert list(tr.window) == [1, 1, 1]
    # the next scan is another opportunity
    Lifecycle.misses([tr], xc, _scan("JP-S1", 12.0), none, None)
    assert list(tr.window) == [1, 1, 1, 0]
