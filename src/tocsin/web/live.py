"""What the dashboard keeps of the live picture: the latest message of every live
track with a short trail, the recent alerts, and the sensor descriptors.

:class:`LiveState` is a pipeline sink (``emit`` on the server's worker thread);
:meth:`LiveState.snapshot` serves ``/v1/state``. :class:`SensorWatcher` reads the
sensor descriptors from the journal's inputs with its own read-only connection.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from tocsin.geo import ecef_to_geodetic
from tocsin.journal.store import Journal
from tocsin.wire import Envelope


def display_dict(env: Envelope | dict[str, Any]) -> dict[str, Any]:
    """The message as plain JSON for the page, without the covariance (the page
    draws the impact ellipse the tracker already computed)."""
    d: dict[str, Any] = msgspec.to_builtins(env) if isinstance(env, Envelope) else dict(env)
    body = d.get("body")
    if isinstance(body, dict) and "cov" in body:
        body = dict(body)
        del body["cov"]
        d["body"] = body
    d.pop("sig", None)
    return d


def message_time(d: dict[str, Any]) -> float:
    """Measurement/issue time of a message (``body.t``), else when it was sent."""
    body = d.get("body")
    if isinstance(body, dict):
        t = body.get("t")
        if isinstance(t, int | float) and math.isfinite(t):
            return float(t)
    sent = d.get("sent")
    return float(sent) if isinstance(sent, int | float) else 0.0


def track_latlon(state_ecef: list[float]) -> tuple[float, float, float]:
    lat, lon, h = ecef_to_geodetic(np.asarray(state_ecef[:3], dtype=np.float64))
    return float(lat), float(lon), float(h)


class LiveState:
    """A sink keeping what the page needs after a (re)load: the latest message of
    every live track with a short trail, the recent alerts, the data time.

    :meth:`emit` runs on the server's worker thread, :meth:`snapshot` on the event
    loop: both take the lock.
    """

    def __init__(
        self,
        *,
        trail_len: int = 60,
        max_tracks: int = 5000,
        max_alerts: int = 500,
        snapshot_trail: int | None = 16,
    ) -> None:
        self.trail_len = trail_len
        #: points per trail in a snapshot (evenly spread over the kept trail, the
        #: latest always in); None: the whole trail. The page grows the trails
        #: again from the event stream, so a reload needs only their shape: at 300
        #: tracks the full trails made /v1/state ~1 MB (issue 19).
        self.snapshot_trail = snapshot_trail
        self.max_tracks = max_tracks
        self.tracks: dict[str, dict[str, Any]] = {}
        self.trails: dict[str, deque[list[float]]] = {}
        self.alerts: deque[dict[str, Any]] = deque(maxlen=max_alerts)
        self.data_t: float | None = None
        self._lock = threading.Lock()

    def emit(self, env: Envelope) -> None:
        if env.kind not in ("track", "alert"):
            return
        self.add(display_dict(env))

    def add(self, d: dict[str, Any]) -> None:
        kind = d.get("kind")
        body = d.get("body") or {}
        t = message_time(d)
        with self._lock:
            if self.data_t is None or t > self.data_t:
                self.data_t = t
            if kind == "alert":
                self.alerts.append(d)
                return
            if kind != "track":
                return
            tid = str(body.get("id"))
            if body.get("status") == "deleted":
                self.tracks.pop(tid, None)
                self.trails.pop(tid, None)
                return
            state = body.get("state_ecef")
            if not isinstance(state, list) or len(state) < 3:
                return
            if tid not in self.tracks and len(self.tracks) >= self.max_tracks:
                oldest = min(self.tracks, key=lambda k: message_time(self.tracks[k]))
                self.tracks.pop(oldest)
                self.trails.pop(oldest, None)
            self.tracks[tid] = d
            lat, lon, alt = track_latlon(state)
            trail = self.trails.setdefault(tid, deque(maxlen=self.trail_len))
            trail.append([round(lat, 5), round(lon, 5), round(alt, 1), t])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tracks = [{**d, "trail": self._thin(self.trails.get(tid, ()))} for tid, d in self.tracks.items()]
            return {"data_t": self.data_t, "tracks": tracks, "alerts": list(self.alerts)}

    def _thin(self, trail: Iterable[list[float]]) -> list[list[float]]:
        pts = list(trail)
        k = self.snapshot_trail
        if k is None or len(pts) <= k:
            return pts
        if k <= 1:
            return pts[-1:]
        n = len(pts) - 1
        return [pts[round(i * n / (k - 1))] for i in range(k)]


class SensorWatcher:
    """Sensor descriptors from the journal's accepted inputs (read-only connection,
    read incrementally)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sensors: dict[str, dict[str, Any]] = {}
        self.next_seq = 1
        self._journal: Journal | None = None
        self._lock = threading.Lock()

    def poll(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._journal is None:
                if not self.path.is_file():
                    return []
                self._journal = Journal(self.path, readonly=True)
            for e in self._journal.entries(start=self.next_seq, kinds=("input",)):
                self.next_seq = e.seq + 1
                if b'"kind":"sensor"' not in e.payload[:64]:
                    continue
                try:
                    d = json.loads(e.payload)
                    self.sensors[str(d["body"]["id"])] = display_dict(d)
                except (ValueError, KeyError, TypeError):
                    continue
            return list(self.sensors.values())

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    # tocsin.runtime.Keeper: the descriptors come back from a snapshot and the
    # journal after it; polling then goes on from there

    def snapshot_state(self) -> Any:
        with self._lock:
            return {"sensors": dict(self.sensors), "next_seq": self.next_seq}

    def restore_state(self, state: Any) -> None:
        with self._lock:
            self.sensors = dict(state["sensors"])
            self.next_seq = int(state["next_seq"])

    def replay_entry(self, entry: Any) -> None:
        with self._lock:
            self.next_seq = max(self.next_seq, entry.seq + 1)
            if entry.kind != "input" or b'"kind":"sensor"' not in entry.payload[:64]:
                return
            try:
                d = json.loads(entry.payload)
                self.sensors[str(d["body"]["id"])] = display_dict(d)
            except (ValueError, KeyError, TypeError):
                return


class _LiveKeeper:
    """The dashboard's live picture as a :class:`tocsin.runtime.Keeper`."""

    def __init__(self, live: LiveState) -> None:
        self.live = live

    def snapshot_state(self) -> Any:
        with self.live._lock:
            return {k: copy.deepcopy(v) for k, v in vars(self.live).items() if k != "_lock"}

    def restore_state(self, state: Any) -> None:
        with self.live._lock:
            for k, v in state.items():
                setattr(self.live, k, v)

    def replay_entry(self, entry: Any) -> None:
        try:
            if entry.kind == "output":
                if b'"kind":"track"' in entry.payload[:40] or b'"kind":"alert"' in entry.payload[:40]:
                    self.live.add(display_dict(json.loads(entry.payload)))
            elif entry.kind == "operator" and b'"event":"issued"' in entry.payload:
                d = json.loads(entry.payload)
                if isinstance(d.get("alert"), dict):
                    self.live.add(display_dict(d["alert"]))
        except (ValueError, TypeError, AttributeError):
            return


__all__ = ["LiveState", "SensorWatcher", "display_dict", "message_time", "track_latlon"]
