"""benchmarks/latency.py: which input an alert answers (issue 17 (a)).

An alert the warning stage raised on a report a tick *predicted* (its ``t`` is
no plot's) answers the arrival that moved the stage clock to that ``t``, not
the track's last plot update (session 3's embedded "440 ms" was that mistake).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from latency import ScenarioLatency, pool_runs  # noqa: E402


def _track(t: float, sent: float, status: str = "confirmed") -> dict[str, object]:
    return {"kind": "track", "sent": sent, "body": {"id": "F-1", "t": t, "status": status}}


def _alert(sent: float) -> dict[str, object]:
    return {"kind": "alert", "sent": sent, "body": {"tracks": ["F-1"]}}


def test_an_alert_on_a_predicted_report_answers_the_arrival_that_moved_the_data_clock() -> None:
    book = ScenarioLatency()
    book.posted_sent(1000.2, 100.0)
    book.posted(1000.0, 100.0)  # a plot measured at 1000.0, sent 1000.2, posted at 100.0
    assert book.event(_track(1000.0, 1000.2), 100.03) == ("first", pytest.approx(0.03))
    book.posted_sent(1000.7, 100.5)
    book.posted(1000.1, 100.5)  # another sensor's plot (the report interval holds its update)
    # a tick at the data clock 1000.7 predicts the track; the warning stage alerts on it
    assert book.event(_track(1000.7, 1000.7), 100.52) == ("no_plot", None)
    got = book.event(_alert(1000.7), 100.55)
    assert got is not None
    assert got[0] == "alert_on_predicted_report"
    assert got[1] == pytest.approx(0.05)
    fig = book.figures()
    assert fig["plot_to_alert"]["p99_ms"] == pytest.approx(50.0)
    assert fig["plot_to_alert_last_plot"]["p99_ms"] == pytest.approx(550.0)  # the old definition
    assert fig["alerts_on"] == {"predicted_report": 1}


def test_an_alert_on_a_plot_update_answers_that_plot() -> None:
    book = ScenarioLatency()
    book.posted_sent(1000.2, 100.0)
    book.posted(1000.0, 100.0)
    book.event(_track(1000.0, 1000.2), 100.03)
    got = book.event(_alert(1000.2), 100.06)
    assert got is not None
    assert got[0] == "alert_on_plot_update"
    assert got[1] == pytest.approx(0.06)


def test_a_node_on_the_wall_clock_predicts_to_wall_time() -> None:
    # time.time() - time.monotonic() = 1e9: a prediction to wall time t was
    # possible from monotonic t - 1e9 on
    book = ScenarioLatency(wall_offset=1e9)
    book.posted(1e9 + 99.0, 99.0)
    book.event(_track(1e9 + 99.0, 1e9 + 99.1), 99.1)
    book.event(_track(1e9 + 100.0, 1e9 + 100.0), 100.01)
    got = book.event(_alert(1e9 + 100.0), 100.04)
    assert got is not None
    assert got[0] == "alert_on_predicted_report"
    assert got[1] == pytest.approx(0.04)


def test_repeated_runs_are_pooled_and_each_runs_p99_is_kept() -> None:
    """(a) has ~26 first reports a run, so a run's p99 is its slowest one:
    --repeat pools the runs' samples (the p99 of all of them) and keeps each
    run's own p99 with their spread."""
    runs = []
    for slow in (0.012, 0.048, 0.015):  # one slow report a run, the rest 5-8 ms
        book = ScenarioLatency()
        for k in range(26):
            t = 1000.0 + k
            book.posted(t, 10.0 * k)
            lat = slow if k == 13 else 0.005 + 0.0001 * k
            assert book.event(_track(t, t), 10.0 * k + lat) == ("first", pytest.approx(lat))
        runs.append(book.figures())
    assert [r["plot_to_track"]["n"] for r in runs] == [26, 26, 26]
    got = pool_runs(runs)
    assert got["runs"] == 3
    assert got["plot_to_track"]["n"] == 78
    assert got["plot_to_track"]["max_ms"] == pytest.approx(48.0)
    # the pooled p99 of 78 samples lies between the second and the first slowest
    assert 15.0 < got["plot_to_track"]["p99_ms"] < 48.0
    assert got["plot_to_track_p99_per_run_ms"] == [r["plot_to_track"]["p99_ms"] for r in runs]
    spread = got["plot_to_track_p99_spread_ms"]
    assert spread["min"] < spread["median"] < spread["max"]
    assert spread["max"] == runs[1]["plot_to_track"]["p99_ms"]
    assert got["plot_to_alert"] == {"n": 0}
