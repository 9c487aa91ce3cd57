"""LinkMonitor: silent partners flagged within 2 heartbeat periods."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.exchange.links import LinkMonitor


def test_flag_and_recover() -> None:
    m = LinkMonitor(heartbeat_s=5.0)
    m.seen("JP", 0.0)
    m.seen("KR", 0.0, heartbeat=True)
    assert m.check(7.4) == []
    m.seen("JP", 7.4)
    assert m.check(7.6) == ["KR"]
    assert m.check(8.0) == []  # flagged once
    assert m.silent() == ["KR"]
    assert m.seen("KR", 9.0) is True
    assert m.silent() == []
    assert m.links["KR"].heartbeats == 1
    with pytest.raises(ValueError, match="positive"):
        LinkMonitor(heartbeat_s=0)


@given(
    hb=st.floats(0.1, 60.0),
    last=st.floats(0.0, 1e6),
    jitter=st.floats(0.0, 1.0),
)
@settings(max_examples=200, deadline=None)
def test_flagged_within_two_periods_when_checked_every_quarter(hb: float, last: float, jitter: float) -> None:
    m = LinkMonitor(heartbeat_s=hb)
    m.seen("US", last)
    t = last + jitter * m.check_every_s  # first check somewhere in the first quarter
    flagged_at = None
    while t <= last + 3 * hb:
        if m.check(t):
            flagged_at = t
            break
        t += m.check_every_s
    assert flagged_at is not None
    assert flagged_at - last <= 2 * hb
    assert flagged_at - last > 1.5 * hb  # never before 1.5 periods
