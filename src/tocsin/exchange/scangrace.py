"""How long to wait before a buffered radar scan is taken as complete.

Without end-of-scan markers (``scan_end``, docs/exchange-format.md) a receiver
cannot know that a scan's last plot has come: the tracker buffers the scan of
the latest plot and processes it when a plot of another scan arrives or the
stages are ticked. The server and the NATS node tick after a *scan grace*: no
message for that long after the last one. A fixed grace puts its whole length
into every first report of a scan.

:class:`ScanGrace` shortens it from what the stream itself shows: each sensor's
own spacing of the plots of one scan. For every accepted plot it notes the
arrival time (the server's wall clock, when the request or message came in) and
keeps, per sensor, the longest gap between two arrivals of plots of the same
scan (same sensor and ``t``) in each of its last ``window`` scans. The grace for
the scan now buffered (the latest plot's) is then ``factor`` times the longest
such gap of that sensor, at least ``min_s`` and at most ``max_s`` (the
configured grace, ``--scan-grace``). Until a sensor has shown a whole scan
(``learn_scans``), its grace is ``max_s``. A sensor that sends a scan's plots in one request
(or one signed bundle) shows gaps of 0 and gets ``min_s``; a plot that comes
after its scan was taken as complete (a split scan) is a gap like any other, so
the next scans of that sensor wait longer: the rule corrects itself from the
stream, never from the tracker.

*A grace that would not hold a sensor's scans together is not waited.* Of the
gaps between pieces of one scan in a sensor's remembered scans (the current one
included), if more than ``wide_share`` were longer than ``max_s`` (not even the
longest grace would have waited for that next piece: the scan was processed in
pieces there anyway), its grace is ``min_s``: each piece is processed as it
comes instead of ``max_s`` later. Safe since the tracker takes at most one plot
per track per scan even when the scan comes in pieces
(``Tracker._one_per_scan``; tentatives count a split scan as one opportunity):
a piece costs only that its plots are associated without the scan's other plots
beside them, which every gap wider than ``max_s`` already cost. The gaps such a
sensor leaves within ``max_s`` (a minority, by the rule) are then cut too. Gaps,
not scans, are counted so that the rule follows the chance that waiting pays
(the next piece comes within ``max_s``), and so that a stream cannot buy a tick
after every plot with one wide gap a scan: while the rule holds, at least half
of a sensor's gaps are longer than ``max_s``, so it brings at most about twice
the grace ticks the configured grace would.

Only *when* the tick comes changes: the tick is journalled like every tick
(with its time), so a replay of the journal is identical whatever the grace
was. Wall-clock input only; not a stage (no wall clock inside a stage).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from tocsin.exchange.ingress import Verdict
from tocsin.wire import PlotBody

__all__ = ["ScanGrace", "ScanGraceConfig"]


@dataclass(frozen=True, slots=True)
class ScanGraceConfig:
    """The grace rule's parameters (module doc)."""

    #: the configured grace, the most it waits (``--scan-grace``; the issue's
    #: bound: at most 20 ms of node time by default)
    max_s: float = 0.02
    #: the least it waits after the last message (``--scan-grace-min``): what a
    #: sensor whose scans always came whole gets (event-loop and scheduling
    #: jitter between two requests sent back to back is well under it)
    min_s: float = 0.002
    #: the grace is this many times the longest intra-scan gap seen (margin
    #: for network and scheduling jitter; 2: a gap twice the longest of the
    #: last ``window`` scans)
    factor: float = 2.0
    #: scans of a sensor seen before its own spacing is used (until then:
    #: ``max_s``). One: a scan that came whole is the evidence, and a scan
    #: split by a grace too short teaches its gap at once (the split costs that
    #: one scan's plots being associated in two parts, as every scan spread
    #: wider than ``max_s`` is anyway); waiting for more would keep a sensor
    #: revisiting every few seconds on ``max_s`` through a missile's boost
    learn_scans: int = 1
    #: scans of a sensor whose gaps are remembered
    window: int = 64
    #: the share of a sensor's intra-scan gaps (between two pieces of one scan)
    #: longer than ``max_s`` above which its grace is ``min_s`` (module doc):
    #: most of its pieces come later than any grace would wait, so waiting
    #: ``max_s`` after every piece buys the few next pieces that come sooner
    #: with ``max_s`` of every report. A majority: the grace waits while at
    #: least half of the next pieces came within it. 1.0 turns the rule off.
    wide_share: float = 0.5
    #: sensors remembered (the least recently seen is forgotten beyond it)
    max_sensors: int = 4096


@dataclass(slots=True)
class _Sensor:
    t: float
    last: float
    #: the current scan's longest gap, its gaps, and those longer than max_s
    gap: float = 0.0
    n: int = 0
    wide: int = 0
    scans: int = 0
    #: per remembered scan: its longest gap
    gaps: deque[float] = field(default_factory=deque)
    #: per remembered scan: (its gaps, those longer than max_s)
    counts: deque[tuple[int, int]] = field(default_factory=deque)


class ScanGrace:
    """Per-sensor intra-scan plot spacing, and the grace it gives (module doc)."""

    def __init__(self, config: ScanGraceConfig | None = None) -> None:
        self.config = config or ScanGraceConfig()
        self._sensors: dict[tuple[str, str], _Sensor] = {}
        #: the sensor of the latest plot seen (its scan is the one buffered)
        self._pending: tuple[str, str] | None = None
        #: the latest plot seen ended its scan (``scan_end``): nothing is buffered
        self._ended = False

    def seen(self, partner: str, sensor: str, t: float, at: float, scan_end: bool = False) -> None:
        """A plot of ``sensor`` (of ``partner``) with measurement time ``t`` was
        accepted; it arrived at wall time ``at``."""
        cfg = self.config
        key = (partner, sensor)
        st = self._sensors.get(key)
        if st is None:
            if len(self._sensors) >= cfg.max_sensors:
                self._sensors.pop(next(iter(self._sensors)))
            st = self._sensors[key] = _Sensor(
                t, at, gaps=deque(maxlen=cfg.window), counts=deque(maxlen=cfg.window)
            )
        elif st.t == t:
            gap = at - st.last
            st.gap = max(st.gap, gap)
            st.n += 1
            st.wide += gap > cfg.max_s
            st.last = max(st.last, at)
        else:
            st.gaps.append(st.gap)
            st.counts.append((st.n, st.wide))
            st.scans += 1
            st.t, st.last, st.gap, st.n, st.wide = t, at, 0.0, 0, 0
        if self._pending != key:  # (most recently seen last: the bound forgets the oldest)
            self._sensors[key] = self._sensors.pop(key)
        self._pending = key
        self._ended = scan_end

    def seen_all(self, verdicts: Iterable[Verdict], at: float) -> None:
        """:meth:`seen` for every plot the verdicts accepted (a bundle's
        members too), all arrived at ``at``."""
        prev: tuple[str, str, float] | None = None
        for v in verdicts:
            if not v.ok or v.env is None:
                continue
            for env in v.accepted_envs() if v.env.kind == "bundle" else (v.env,):
                body = env.body
                if isinstance(body, PlotBody):
                    key = (env.partner, body.sensor, body.t)
                    if key != prev or body.scan_end:  # (a scan's plots in one request: once)
                        self.seen(env.partner, body.sensor, body.t, at, bool(body.scan_end))
                        prev = key

    def grace_s(self) -> float:
        """How long to wait after the last message before the buffered scan is
        taken as complete (the scan of the latest plot)."""
        cfg = self.config
        if self._pending is None:
            return cfg.max_s
        if self._ended:
            return cfg.max_s  # (the marker flushed it: nothing waits for this tick)
        st = self._sensors.get(self._pending)
        if st is None or st.scans < cfg.learn_scans:
            return cfg.max_s
        n, wide = st.n, st.wide
        for a, b in st.counts:
            n += a
            wide += b
        if wide > cfg.wide_share * n:
            return cfg.min_s  # (its next pieces mostly come later than any grace waits)
        longest = max(max(st.gaps, default=0.0), st.gap)
        return min(cfg.max_s, max(cfg.min_s, cfg.factor * longest))

    def learned(self) -> dict[str, float]:
        """Per sensor (``partner/sensor``): the longest intra-scan gap of its
        remembered scans (seconds); for the metrics."""
        return {f"{p}/{s}": max(st.gaps, default=0.0) for (p, s), st in self._sensors.items()}
