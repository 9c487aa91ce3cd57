"""The scan grace learned from each sensor's own intra-scan plot spacing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.exchange.scangrace import ScanGrace, ScanGraceConfig

CFG = ScanGraceConfig(max_s=0.02, min_s=0.002, factor=2.0, learn_scans=1, window=4)


def test_a_sensor_not_yet_seen_whole_gets_the_configured_grace() -> None:
    g = ScanGrace(CFG)
    assert g.grace_s() == 0.02  # nothing seen
    g.seen("JP", "R1", 10.0, at=0.0)
    assert g.grace_s() == 0.02  # its first scan: nothing known of its spacing


def test_scans_that_come_whole_end_the_grace_at_its_minimum() -> None:
    g = ScanGrace(CFG)
    g.seen("JP", "R1", 10.0, at=0.0)
    g.seen("JP", "R1", 10.0, at=0.0)  # (two plots in one request: gap 0)
    g.seen("JP", "R1", 14.0, at=4.0)  # the scan of t=10 came whole
    assert g.grace_s() == 0.002


def test_a_spread_scan_sets_the_grace_to_twice_its_gap_and_a_wide_one_to_the_maximum() -> None:
    g = ScanGrace(CFG)
    g.seen("JP", "R1", 10.0, at=0.0)
    g.seen("JP", "R1", 10.0, at=0.004)  # 4 ms after the first plot of its scan
    g.seen("JP", "R1", 14.0, at=4.0)
    assert abs(g.grace_s() - 0.008) < 1e-12
    # a later plot of the scan already taken as complete (a split) teaches its gap at once
    g.seen("JP", "R1", 14.0, at=4.015)
    assert g.grace_s() == 0.02  # 2 x 15 ms, bounded by the maximum


def test_the_grace_follows_the_sensor_of_the_latest_plot() -> None:
    g = ScanGrace(CFG)
    for k in range(3):  # R1 sends whole scans, R2 spreads them by 5 ms
        g.seen("JP", "R1", 10.0 + k, at=k)
        g.seen("KR", "R2", 10.0 + k, at=k + 0.5)
        g.seen("KR", "R2", 10.0 + k, at=k + 0.505)
    g.seen("JP", "R1", 20.0, at=10.0)
    assert g.grace_s() == 0.002
    g.seen("KR", "R2", 20.0, at=10.5)
    assert abs(g.grace_s() - 0.010) < 1e-9


def test_a_split_is_forgotten_after_the_window_of_whole_scans() -> None:
    g = ScanGrace(CFG)
    g.seen("JP", "R1", 1.0, at=0.0)
    g.seen("JP", "R1", 1.0, at=0.015)  # 15 ms gap (the grace can hold it whole)
    for k in range(2, 2 + CFG.window):
        g.seen("JP", "R1", float(k), at=float(k))
        assert g.grace_s() == 0.02  # the split is among the last `window` scans
    g.seen("JP", "R1", 99.0, at=99.0)
    assert g.grace_s() == 0.002


def _scans(g: ScanGrace, scans: list[list[float]], sensor: str = "R1") -> None:
    """One scan per list, 1 s apart: its first piece, then one piece after each gap."""
    for k, gaps in enumerate(scans):
        at = float(k)
        g.seen("JP", sensor, float(k), at=at)
        for gap in gaps:
            at += gap
            g.seen("JP", sensor, float(k), at=at)


def test_a_sensor_whose_pieces_mostly_come_later_than_the_grace_is_not_waited_for() -> None:
    # 2 of its 3 gaps within a scan were 30-40 ms: the 20-ms grace does not wait
    # for those next pieces, so waiting it after every piece buys one in three
    g = ScanGrace(CFG)
    _scans(g, [[0.03], [0.005], [0.04]])
    g.seen("JP", "R1", 9.0, at=9.0)
    assert g.grace_s() == CFG.min_s
    # scans that came in one piece have no gaps: they count neither way
    _scans(g, [[0.03], [], [], [0.04]], sensor="R2")
    g.seen("JP", "R2", 9.0, at=9.0)
    assert g.grace_s() == CFG.min_s


def test_one_wide_gap_a_scan_among_short_ones_keeps_the_grace() -> None:
    # every scan has a 30-ms gap, then pieces 3 ms apart: the grace holds those
    # (a stream cannot buy a tick after every piece with one wide gap a scan)
    g = ScanGrace(CFG)
    _scans(g, [[0.03, 0.003, 0.003]] * 3)
    g.seen("JP", "R1", 9.0, at=9.0)
    assert g.grace_s() == CFG.max_s  # 2 x 30 ms, bounded: as before the rule


def test_a_sensor_whose_gaps_the_grace_holds_half_the_time_keeps_it() -> None:
    g = ScanGrace(CFG)
    _scans(g, [[0.03, 0.004], [0.005, 0.04]])  # 2 wide of 4 gaps
    g.seen("JP", "R1", 9.0, at=9.0)
    assert g.grace_s() == CFG.max_s
    # the scan in progress counts: one more wide gap tips it
    g.seen("JP", "R1", 9.0, at=9.1)
    assert g.grace_s() == CFG.min_s
    # pieces of one scan at the same moment (two requests): gaps of 0, held
    g.seen("JP", "R1", 9.0, at=9.1)
    g.seen("JP", "R1", 9.0, at=9.1)
    assert g.grace_s() == CFG.max_s  # 3 wide of 7
    # and wide_share=1.0 turns the rule off
    off = ScanGrace(ScanGraceConfig(max_s=0.02, min_s=0.002, window=4, wide_share=1.0))
    _scans(off, [[0.03], [0.05], [0.04]])
    off.seen("JP", "R1", 9.0, at=9.0)
    assert off.grace_s() == 0.02


def test_the_wide_gaps_are_forgotten_with_their_scans() -> None:
    g = ScanGrace(CFG)  # (window 4)
    _scans(g, [[0.03], [0.03], [0.03], [0.03], [0.001], [0.001], [0.001], [0.001]])
    g.seen("JP", "R1", 9.0, at=9.0)
    assert abs(g.grace_s() - CFG.min_s) < 1e-12  # 2 x 1 ms < the minimum: the minimum, by the old rule
    _scans(g, [[0.03], [0.03], [0.03], [0.008]])
    g.seen("JP", "R1", 9.0, at=9.0)
    assert g.grace_s() == CFG.min_s  # 3 wide of 4
    g2 = ScanGrace(CFG)
    _scans(g2, [[0.03], [0.03], [0.03], [0.008], [0.008], [0.008], [0.008]])
    g2.seen("JP", "R1", 9.0, at=9.0)
    assert abs(g2.grace_s() - 0.016) < 1e-9  # the wide ones left the window: 2 x 8 ms


def test_an_end_of_scan_marker_leaves_nothing_to_wait_for_sooner() -> None:
    # the marker flushed the scan in the stage already; the grace tick only moves
    # the clock, so it keeps the configured grace (no extra ticks)
    g = ScanGrace(CFG)
    g.seen("JP", "R1", 1.0, at=0.0)
    g.seen("JP", "R1", 2.0, at=1.0, scan_end=True)
    assert g.grace_s() == 0.02


def test_sensors_remembered_are_bounded() -> None:
    g = ScanGrace(ScanGraceConfig(max_sensors=3))
    for i in range(10):
        g.seen("JP", f"R{i}", 1.0, at=0.0)
    assert len(g.learned()) == 3
    assert set(g.learned()) == {"JP/R7", "JP/R8", "JP/R9"}  # the least recently seen went


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["R1", "R2", "R3"]), st.integers(0, 5), st.floats(0.0, 0.5)),
        min_size=1,
        max_size=60,
    )
)
def test_the_grace_is_always_within_its_bounds(plots: list[tuple[str, int, float]]) -> None:
    g = ScanGrace(CFG)
    at = 0.0
    for sensor, t, dt in plots:
        at += dt
        g.seen("JP", sensor, float(t), at=at)
        assert CFG.min_s <= g.grace_s() <= CFG.max_s
