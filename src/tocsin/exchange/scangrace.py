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

*A grace that cannot hold a sensor's scans whole is not waited.* Of a sensor's
remembered scans that arrived in more than one piece (a longest gap above 0),
if more than ``wide_share`` had a gap longer than ``max_s`` (not even the
longest grace would have kept them whole: they were processed in pieces
anyway), its grace is ``min_s``: each piece is processed as it comes instead of
``max_s`` later. Safe since the tracker takes at most one plot per track per
scan even when the scan comes in pieces (``Tracker._one_per_scan``; tentatives
count a split scan as one opportunity): a piece costs only that its plots are
associated without the scan's other plots beside them, which every scan spread
wider than ``max_s`` already paid. Such a sensor's scans that *would* have
come whole within ``max_s`` (a minority, by the rule) are then split too.

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
    #: the share of a sensor's split scans (those that came in more than one
    #: piece) spread wider than ``max_s`` above which its grace is ``min_s``
    #: (module doc): most of its scans are processed in pieces whatever the
    #: grace, so waiting ``max_s`` after every piece buys the few it could hold
    #: whole with ``max_s`` of every report. A majority: the grace waits while
    #: it holds at least half of them whole. 1.0 turns the rule off.
    wide_share: float = 0.5
    #: sensors remembered (the least recently seen is forgotten beyond it)
    max_sensors: int = 4096


@dataclass(slots=True)
class _Sensor:
    t: float
    last: float
    gap: float = 0.0
    scans: int = 0
    gaps: deque[float] = field(default_factory=deque)


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
            st = self._sensors[key] = _Sensor(t, at, gaps=deque(maxlen=cfg.window))
        elif st.t == t:
            st.gap = max(st.gap, at - st.last)
            st.last = max(st.last, at)
        else:
            st.gaps.append(st.gap)
            st.scans += 1
            st.t, st.last, st.gap = t, at, 0.0
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
        split = wide = 0
        longest = st.gap
        for g in (*st.gaps, st.gap):
            if g > 0.0:
                split += 1
                wide += g > cfg.max_s
                longest = max(longest, g)
        if wide > cfg.wide_share * split:
            return cfg.min_s  # (its scans come in pieces whatever it waits)
        return min(cfg.max_s, max(cfg.min_s, cfg.factor * longest))

    def learned(self) -> dict[str, float]:
        """Per sensor (``partner/sensor``): the longest intra-scan gap of its
        remembered scans (seconds); for the metrics."""
        return {f"{p}/{s}": max(st.gaps, default=0.0) for (p, s), st in self._sensors.items()}
