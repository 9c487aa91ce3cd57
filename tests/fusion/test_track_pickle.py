"""A track's late-report history (``hist``) pickles column by column: a
snapshot of a dense air picture must not cost more than the data it stands
for (issue 17 (b): 198,508 entries took 9.5 CPU-s one by one), and what comes
back must re-filter late plots exactly as the track it was taken from."""

from __future__ import annotations

import dataclasses
import pickle
from collections import deque
from typing import Any

import msgspec
import numpy as np
import pytest

from tocsin.fusion import Tracker, TrackerConfig
from tocsin.fusion.track import Track
from tocsin.journal import snapshot as snap
from tocsin.wire import Envelope, PlotBody, encode_json


@pytest.fixture(scope="module")
def scen() -> Any:
    import conftest

    return conftest


@pytest.fixture(scope="module")
def late_stream(scen: Any) -> list[Envelope]:
    """The SRBM seen by two radars, one of them 8 s late (re-filtered)."""
    tr = scen.srbm_trajectory()
    envs = scen.make_plots(
        scen.srbm_truth(tr), scen.T0 + 5.0, scen.T0 + tr.flight_time_s - 1.0, scen.two_radars(), seed=5
    )
    head = [e for e in envs if e.kind != "plot"]
    plots = [
        msgspec.structs.replace(e, sent=e.sent + 8.0)
        if isinstance(e.body, PlotBody) and e.body.sensor == "JP-R1"
        else e
        for e in envs
        if e.kind == "plot"
    ]
    return head + sorted(plots, key=lambda e: e.sent)


def _same(a: Any, b: Any) -> bool:
    """Equal value for value: types, dtypes, shapes, bytes, writeable flags."""
    if isinstance(a, np.ndarray):
        return (
            type(b) is np.ndarray
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
            and a.flags.writeable == b.flags.writeable
        )
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    return type(a) is type(b) and (a == b or (a != a and b != b))


def test_a_restored_tracker_refilters_late_plots_as_the_original(late_stream: list[Envelope]) -> None:
    half = len(late_stream) // 2
    cfg = TrackerConfig(oosm_lag_s=30.0)
    original = Tracker(cfg)
    original.push_many(late_stream[:half])
    held = [t for t in original.tracks if len(t.hist) > 5]
    assert held, "no track with a history to pickle"

    # (the way a node's snapshot takes it: capture, pickle + zstd, restricted load)
    restored = Tracker(cfg)
    snap.restore(restored, snap.loads(snap.dumps(snap.capture(original))))
    for a, b in zip(original.tracks, restored.tracks, strict=True):
        assert _same(a.hist, b.hist)
        # arrays entries shared (a sensor's site) are still one object
        sites_a = {id(r[0][4]) for r in a.hist}
        sites_b = {id(r[0][4]) for r in b.hist}
        assert len(sites_a) == len(sites_b)

    out_a = original.push_many(late_stream[half:])
    out_b = restored.push_many(late_stream[half:])
    assert original.stats["oosm_refiltered"] > 0
    assert [encode_json(e) for e in out_a] == [encode_json(e) for e in out_b]


def test_hist_is_pickled_in_columns_not_entry_by_entry(late_stream: list[Envelope]) -> None:
    tracker = Tracker(TrackerConfig(oosm_lag_s=30.0))
    tracker.push_many(late_stream[: len(late_stream) // 2])
    tr = max(tracker.tracks, key=lambda t: len(t.hist))
    n = len(tr.hist)
    assert n > 20
    state = tr.__getstate__()
    packed = state[[f for f in Track.__dataclass_fields__].index("hist")]
    arrays = 0

    def count(o: Any) -> None:
        nonlocal arrays
        if isinstance(o, np.ndarray):
            arrays += 1
        elif isinstance(o, tuple | list):
            for v in o:
                count(v)

    count(packed)
    # one stack per array column (4 in the record, 3 in the state), an index
    # per column with shared arrays (at most those 7), and one array per column
    # of numbers (the record's times and kind, the state's time: 4), whatever
    # the number of entries
    assert arrays <= 18 < n
    back = pickle.loads(pickle.dumps(tr, protocol=5))
    assert _same(tr.hist, back.hist)  # (a number comes back as the Python float or int it was)
    for rec, _ in back.hist:
        assert all(a.flags.writeable for a in rec[2:6])
        assert type(rec[0]) is float
        assert type(rec[1]) is int


def test_columns_of_numbers_come_back_exactly() -> None:
    """Times and kinds travel as float64/int64 arrays and come back as the
    same Python numbers, bit for bit (NaN, -0.0, infinities); a column mixing
    types, or an int beyond int64, stays a list."""
    x, p, mu = np.zeros((2, 6)), np.stack([np.eye(6), np.eye(6)]), np.array([0.5, 0.5])
    site, rot, r = np.zeros(3), np.eye(3), np.eye(3)
    times = [1.0, -0.0, float("nan"), float("inf"), 5e-324, 1.0000000000000002]
    kinds: list[Any] = [0, 1, 2**63 - 1, -(2**63), 7, 3]
    odd: list[Any] = [1.0, 2, 3.0, 4.0, 5.0, 6.0]  # (an int among floats)
    huge: list[Any] = [0, 1, 2, 3, 4, 2**64]
    hist: list[Any] = [
        ((t, k, np.ones(3), r, site, rot, "R1", "JP", o), (x, p, mu, h, None))
        for t, k, o, h in zip(times, kinds, odd, huge, strict=True)
    ]
    tr = Track(
        key=1, x=x, p=p, mu=mu, t=3.0, created=0.0, window=deque(), sources=set(), partners=set(), hist=hist
    )
    back = pickle.loads(pickle.dumps(tr, protocol=5))
    assert _same(tr.hist, back.hist)
    for (a, _), (b, _) in zip(tr.hist, back.hist, strict=True):
        assert np.float64(a[0]).tobytes() == np.float64(b[0]).tobytes()  # (the sign of -0.0 too)
    assert [type(h[0][8]) for h in back.hist] == [float, int, float, float, float, float]
    assert back.hist[5][1][3] == 2**64


def test_odd_entries_keep_their_own_layout() -> None:
    """Arrays that cannot be stacked as they are (another shape, not
    C-contiguous, read-only) stay as they were, one by one."""
    x = np.zeros((2, 6))
    p = np.stack([np.eye(6), np.eye(6)])
    mu = np.array([0.5, 0.5])
    site = np.array([1.0, 2.0, 3.0])
    rot = np.eye(3)
    ro = np.ones(3)
    ro.flags.writeable = False
    hist: list[Any] = [
        ((1.0, 0, np.array([1.0, 2.0, 3.0]), np.eye(3), site, rot, "R1", "JP", 1.0), (x, p, mu, 0.5, None)),
        (
            (2.0, 0, np.array([1.0, 2.0, 3.0, 4.0]), np.eye(3), site, rot, "R1", "JP", 2.0),
            (x, p, mu, 1.5, None),
        ),
        ((3.0, 0, np.arange(6.0)[::2], np.eye(3), site, ro, "R2", "JP", 3.0), (x, p, mu, 2.5, None)),
    ]
    tr = Track(
        key=1, x=x, p=p, mu=mu, t=3.0, created=0.0, window=deque(), sources=set(), partners=set(), hist=hist
    )
    back = pickle.loads(pickle.dumps(tr, protocol=5))
    assert _same(tr.hist, back.hist)
    assert back.hist[0][0][4] is back.hist[1][0][4] is back.hist[2][0][4]
    assert back.hist[0][1][0] is back.hist[2][1][0]
