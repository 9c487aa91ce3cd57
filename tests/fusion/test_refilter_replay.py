"""Late radar plots on air tracks are re-filtered in one compiled call
(:func:`tocsin.fusion.kernels.refilter_ncv_radar`), exactly as the filter run
plot by plot would (issue 17: re-filtering was a third of the stage process
at high rates)."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from tocsin.fusion import Tracker, estimation
from tocsin.wire import Envelope, PlotBody, encode_json


@pytest.fixture(scope="module")
def late_air() -> list[Envelope]:
    import conftest

    radars = [
        conftest.Radar("KR-R1", 37.0, 132.0, max_range=4e5),
        conftest.Radar("JP-R1", 38.0, 134.0, max_range=4e5, offset=0.3, sigma_rr=1.0),
        conftest.Radar("JP-R2", 37.2, 133.8, max_range=4e5, offset=0.6),
    ]
    truth = conftest.ncv_truth(12, seed=8)
    envs = conftest.make_plots(truth, conftest.T0, conftest.T0 + 25.0, radars, seed=3)
    # JP-R1's link is 2.5 s late, and every fourth KR-R1 scan 1.5 s: both
    # reach the tracker after later scans of the same aircraft
    head = [e for e in envs if not isinstance(e.body, PlotBody)]
    plots = []
    for e in envs:
        if not isinstance(e.body, PlotBody):
            continue
        b = e.body
        lag = 2.5 if b.sensor == "JP-R1" else 1.5 if b.sensor == "KR-R1" and int(b.t) % 4 == 0 else 0.0
        plots.append(msgspec.structs.replace(e, sent=e.sent + lag))
    return head + sorted(plots, key=lambda e: e.sent)


def _run(envs: list[Envelope]) -> tuple[bytes, list[Any], dict[str, int]]:
    trk = Tracker()
    out = trk.push_many(envs)
    out.extend(trk.flush())
    states = [(t.x, t.p, t.mu, t.t, t.xc, t.pc) for t in sorted(trk.tracks, key=lambda t: t.key)]
    return b"".join(encode_json(e) + b"\n" for e in out), states, dict(trk.stats)


def test_late_radar_plots_on_air_tracks_replay_compiled_bit_for_bit(
    late_air: list[Envelope], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[int] = []
    fast = estimation.Estimator._replay_air_radar

    def counting(self: estimation.Estimator, batch: list[Any]) -> None:
        compiled.append(sum(len(recs) for _, recs in batch))
        fast(self, batch)

    monkeypatch.setattr(estimation.Estimator, "_replay_air_radar", counting)
    out, states, stats = _run(late_air)
    # the scene re-filters, and through the compiled replay (radar plots with
    # and without range rate in the same histories)
    assert stats["oosm_refiltered"] > 50
    assert sum(compiled) > 2 * stats["oosm_refiltered"]

    def plot_by_plot(self: estimation.Estimator, batch: list[Any]) -> None:
        for tr, recs in batch:
            self._replay(tr, recs)

    monkeypatch.setattr(estimation.Estimator, "_replay_air_radar", plot_by_plot)
    ref_out, ref_states, ref_stats = _run(late_air)
    assert ref_stats == stats
    assert out == ref_out
    assert len(states) == len(ref_states) > 0
    for got, want in zip(states, ref_states, strict=True):
        for a, b in zip(got, want, strict=True):
            if isinstance(a, np.ndarray):
                assert np.array_equal(a, b)
            else:
                assert a == b
