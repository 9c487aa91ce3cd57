"""Scans: plots of one sensor with one time stamp, gathered as they arrive.

The tracker processes a radar's plots of one scan (or an infrared sensor's
lines of sight of one frame) together: one prediction, one gate, one
assignment. :class:`ScanBuffer` holds the scan being gathered; a scan is
complete when a plot of another scan arrives, on :meth:`Tracker.flush
<tocsin.fusion.tracker.Tracker.flush>` or :meth:`Tracker.advance
<tocsin.fusion.tracker.Tracker.advance>`, or when a partner track arrives.
"""

from __future__ import annotations

from tocsin.fusion.measurements import Meas


class ScanBuffer:
    """The scan being gathered (measurements of one ``(sensor, t)``)."""

    __slots__ = ("_key", "_scan")

    def __init__(self) -> None:
        self._scan: list[Meas] = []
        self._key: tuple[str, float] | None = None

    def __len__(self) -> int:
        return len(self._scan)

    def ends_before(self, sensor: str, t: float) -> bool:
        """Whether a plot of ``sensor`` at ``t`` belongs to another scan than
        the one being gathered (which is then complete)."""
        return self._key is not None and (sensor, t) != self._key

    def add(self, m: Meas) -> None:
        self._key = (m.sensor, m.t)
        self._scan.append(m)

    def take(self) -> list[Meas]:
        """The gathered scan (possibly empty); the buffer starts afresh."""
        scan, self._scan, self._key = self._scan, [], None
        return scan
