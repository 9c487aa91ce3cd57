"""Issue 17: status changes are reported at once, and an end-of-scan marker
makes the tracker process a scan without waiting for the next one."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import msgspec

from tocsin.drill.scenario import load_scenario
from tocsin.drill.simulate import simulate
from tocsin.fusion import Tracker, TrackerConfig
from tocsin.wire import Envelope, PlotBody

IRBM = Path(__file__).parents[2] / "scenarios" / "irbm-over-hokkaido.yaml"


@cache
def _messages() -> tuple[Envelope, ...]:
    sim = simulate(load_scenario(IRBM))
    msgs = sorted((e for e in sim.messages if e.kind in ("sensor", "plot")), key=lambda e: e.sent)
    # boost, burnout and the first minutes of impact predictions
    return tuple(e for e in msgs if e.sent < msgs[0].sent + 260.0)


@cache
def _tracked(report_interval_s: float) -> tuple[Envelope, ...]:
    trk = Tracker(TrackerConfig(report_interval_s=report_interval_s))
    out: list[Envelope] = []
    for env in _messages():
        out.extend(trk.push(env))
    out.extend(trk.flush())
    return tuple(out)


def _firsts(report_interval_s: float) -> dict[str, float]:
    """Track time of the first message: confirmed, classed ballistic, with an impact."""
    firsts: dict[str, float] = {}
    for e in _tracked(report_interval_s):
        b = e.body
        if b.status == "confirmed":
            firsts.setdefault("confirmed", b.t)
        if b.class_ == "ballistic":
            firsts.setdefault("ballistic", b.t)
        if b.impact is not None:
            firsts.setdefault("impact", b.t)
    return firsts


def test_first_classification_and_first_impact_do_not_wait_for_the_report_interval() -> None:
    every_second = _firsts(1.0)
    rarely = _firsts(60.0)
    assert set(every_second) == {"confirmed", "ballistic", "impact"}
    # a report interval of a minute holds routine updates, not the news
    assert rarely == every_second


def test_impact_moving_materially_is_reported_at_once() -> None:
    impacts = [e.body for e in _tracked(60.0) if e.body.impact is not None]
    span = impacts[-1].t - impacts[0].t
    # more reports than one a minute allows: each new (2-s) prediction that
    # moved or tightened the ellipse materially went out when it was made
    assert span < 180.0
    assert len(impacts) >= 6


def test_end_of_scan_marker_releases_the_scan_on_its_last_plot() -> None:
    t0 = _messages()[0].sent
    msgs = [e for e in _messages() if e.sent < t0 + 200.0]
    # every sensor marks the last plot of each of its scans (sensor, time stamp)
    last: dict[tuple[str, float], int] = {}
    for i, e in enumerate(msgs):
        if isinstance(e.body, PlotBody):
            last[(e.body.sensor, e.body.t)] = i
    ends = set(last.values())
    marked = [
        msgspec.structs.replace(e, body=msgspec.structs.replace(e.body, scan_end=True)) if i in ends else e
        for i, e in enumerate(msgs)
    ]

    def released_at_push(stream: list[Envelope]) -> int:
        """Track messages whose scan time equals the plot just pushed."""
        trk = Tracker()
        n = 0
        for e in stream:
            outs = trk.push(e)
            if isinstance(e.body, PlotBody):
                n += sum(1 for o in outs if o.body.t == e.body.t)
        return n

    # without markers a scan is processed only when a plot of another scan
    # arrives; with them, on the marked plot itself
    assert released_at_push(msgs) == 0
    assert released_at_push(marked) > 10


def test_the_simulator_marks_the_last_plot_of_each_scan() -> None:
    sim = simulate(load_scenario(IRBM), scan_markers=True)
    plots = [e for e in sim.messages if isinstance(e.body, PlotBody)]
    last: dict[tuple[str, float], Envelope] = {}
    for e in plots:
        assert isinstance(e.body, PlotBody)
        last[(e.body.sensor, e.body.t)] = e
    marked = [e for e in plots if isinstance(e.body, PlotBody) and e.body.scan_end]
    assert marked
    # one marker per scan, on its last plot (a scan whose last plot was lost has none)
    assert all(last[(e.body.sensor, e.body.t)] is e for e in marked if isinstance(e.body, PlotBody))
    assert len(marked) <= len(last)
    assert len(marked) >= 0.9 * len(last)
