"""Inputs: sensor descriptors, and plots turned into measurements.

:class:`Sensors` keeps the ``sensor`` descriptors the exchange has announced
and turns each ``plot`` message into a :class:`Meas` (radar ``[range, az,
el(, rr)]`` from a site or a moving platform, or an infrared line of sight
from an observer), refusing what it cannot use and counting why
(``rejected``: ``unknown_sensor``, ``nan``, ``too_late``, ``type_mismatch``,
``no_platform``, ``geometry``). :func:`stack` builds the batch arrays of a
scan (:data:`MeasArrays`) shared by gating, update and initiation.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from tocsin.geo.wgs84 import enu_matrix, geodetic_to_ecef
from tocsin.wire.messages import Envelope, PlotBody, SensorBody

F64 = NDArray[np.float64]

RADAR, LOS = 0, 1
_DEG = math.pi / 180.0

MeasArrays = tuple[int, F64, F64, F64, F64]
"""Measurements of one kind and dimension as arrays ``(kind, z, r, site, rot)``."""

MeasRecord = tuple[float, int, F64, F64, F64, F64, str, str, float]
"""A :class:`Meas` as a plain tuple of its fields, in order (:meth:`Meas.record`):
what a track's history keeps. A tuple of numbers, strings and arrays is left
alone by Python's cycle collector, an object is not: with hundreds of
thousands of history entries alive (a dense air picture keeps the last
``oosm_lag_s`` of every track), every full collection walked them all, in
pauses of a third of a second in the stage process (issue 17)."""

REC_T: Final = 0
"""Position of the time in a :data:`MeasRecord`."""
REC_KIND: Final = 1
REC_Z: Final = 2
REC_R: Final = 3
REC_SITE: Final = 4
REC_ROT: Final = 5
"""Positions of the kind, ``z``, ``r``, site and rotation in a :data:`MeasRecord`."""
REC_SENSOR: Final = 6
"""Position of the sensor in a :data:`MeasRecord`."""


@dataclass(slots=True)
class Sensor:
    id: str
    kind: int
    partner: str
    site: F64 | None
    rot: F64 | None
    sig: tuple[float, float, float, float | None]  # range m, az rad, el rad, rr m/s (radar) / los rad
    max_range: float | None
    min_el: float | None
    r3: F64 | None = None  # cached (range, az, el) noise covariance


@dataclass(slots=True)
class Meas:
    """One measurement ready for the filter."""

    t: float
    kind: int
    z: F64  # radar: (3|4,) range, az, el(, rr); los: unit vector (3,)
    r: F64  # (m, m)
    site: F64  # radar site or IR observer, ECEF
    rot: F64  # ECEF->ENU (radar) or identity
    sensor: str
    partner: str
    sent: float

    def record(self) -> MeasRecord:
        """This measurement as a plain tuple (:data:`MeasRecord`)."""
        return (self.t, self.kind, self.z, self.r, self.site, self.rot, self.sensor, self.partner, self.sent)

    @classmethod
    def of(cls, rec: MeasRecord) -> Meas:
        """The measurement of a :data:`MeasRecord`."""
        return cls(*rec)


def stack(ms: list[Meas]) -> MeasArrays:
    """Measurement arrays ``(kind, z, r, site, rot)`` of one kind and dimension."""
    return (
        ms[0].kind,
        np.array([m.z for m in ms]),
        np.array([m.r for m in ms]),
        np.array([m.site for m in ms]),
        np.array([m.rot for m in ms]),
    )


def take(arr: MeasArrays, idx: NDArray[np.int64]) -> MeasArrays:
    """Rows ``idx`` of measurement arrays."""
    return arr[0], arr[1][idx], arr[2][idx], arr[3][idx], arr[4][idx]


class Sensors:
    """The sensors announced so far, and plots turned into measurements
    (refusals counted in ``rejected``, shared with the tracker)."""

    def __init__(self, oosm_lag_s: float, rejected: Counter[str]) -> None:
        self.oosm_lag_s = oosm_lag_s
        self.rejected = rejected
        self._sensors: dict[str, Sensor] = {}
        self._platforms: dict[str, tuple[float, F64, F64]] = {}
        self._rcache: dict[tuple[float, float, float, float | None], F64] = {}

    def get(self, sensor: str) -> Sensor | None:
        return self._sensors.get(sensor)

    def add(self, env: Envelope, b: SensorBody) -> None:
        site = rot = None
        if b.lat is not None and b.lon is not None and b.platform != "space":
            site = geodetic_to_ecef(b.lat, b.lon, b.alt_m or 0.0)
            rot = enu_matrix(b.lat, b.lon)
        if b.type == "radar":
            sig = (
                b.sigma_range_m or 50.0,
                math.radians(b.sigma_az_deg or 0.1),
                math.radians(b.sigma_el_deg or 0.1),
                b.sigma_rr_mps,
            )
            kind = RADAR
        else:
            sig = (0.0, b.sigma_los_rad or 1e-4, 0.0, None)
            kind = LOS
        self._sensors[b.id] = Sensor(
            b.id,
            kind,
            env.partner,
            site,
            rot,
            sig,
            b.max_range_m,
            None if b.min_el_deg is None else math.radians(b.min_el_deg),
        )

    def measurement(self, env: Envelope, b: PlotBody, now: float) -> Meas | None:
        """The measurement of a plot (``now``: the newest measurement time
        seen; a plot older than that by more than ``oosm_lag_s`` is too late)."""
        s = self._sensors.get(b.sensor)
        if s is None:
            self.rejected["unknown_sensor"] += 1
            return None
        if not math.isfinite(b.t):
            self.rejected["nan"] += 1
            return None
        if now - b.t > self.oosm_lag_s:
            self.rejected["too_late"] += 1
            return None
        if b.is_radar:
            if s.kind != RADAR:
                self.rejected["type_mismatch"] += 1
                return None
            assert b.range_m is not None
            assert b.az_deg is not None
            assert b.el_deg is not None
            if not (
                math.isfinite(b.range_m)
                and math.isfinite(b.az_deg)
                and math.isfinite(b.el_deg)
                and (b.rr_mps is None or math.isfinite(b.rr_mps))
            ):
                self.rejected["nan"] += 1
                return None
            vsite: F64 | None = None
            if b.platform is not None:
                site = geodetic_to_ecef(b.platform.lat, b.platform.lon, b.platform.alt_m)
                rot = enu_matrix(b.platform.lat, b.platform.lon)
                vsite = self._platform_velocity(s.id, b.t, site)
            elif s.site is not None and s.rot is not None:
                site, rot = s.site, s.rot
            else:
                self.rejected["no_platform"] += 1
                return None
            if b.range_m <= 0.0 or (s.max_range is not None and b.range_m > 1.5 * s.max_range):
                self.rejected["geometry"] += 1
                return None
            if (
                b.rr_mps is None
                and not b.sigma_range_m
                and not b.sigma_az_deg
                and not b.sigma_el_deg
                and vsite is None
            ):
                # the common case: the sensor's own accuracy, no range rate
                if s.r3 is None:
                    s.r3 = np.diag([s.sig[0] * s.sig[0], s.sig[1] * s.sig[1], s.sig[2] * s.sig[2]])
                z = np.array((b.range_m, b.az_deg * _DEG, b.el_deg * _DEG))
                return Meas(b.t, RADAR, z, s.r3, site, rot, s.id, s.partner, env.sent)
            sr = b.sigma_range_m or s.sig[0]
            sa = math.radians(b.sigma_az_deg) if b.sigma_az_deg else s.sig[1]
            se = math.radians(b.sigma_el_deg) if b.sigma_el_deg else s.sig[2]
            srr = b.sigma_rr_mps or s.sig[3]
            with_rr = b.rr_mps is not None and srr is not None
            rkey = (sr, sa, se, srr if with_rr else None)
            r = self._rcache.get(rkey)
            if r is None:
                r = np.diag(
                    [sr * sr, sa * sa, se * se] + ([srr * srr] if srr is not None and with_rr else [])
                )
                self._rcache[rkey] = r
            if with_rr:
                assert b.rr_mps is not None
                rr = b.rr_mps
                if vsite is not None:
                    # a moving platform measures the range rate relative to
                    # itself: add its own velocity along the measured line of
                    # sight, rr_ground = rr + u . v_site
                    ca, sa_, ce, se_ = (
                        math.cos(math.radians(b.az_deg)),
                        math.sin(math.radians(b.az_deg)),
                        math.cos(math.radians(b.el_deg)),
                        math.sin(math.radians(b.el_deg)),
                    )
                    u = rot.T @ np.array([ce * sa_, ce * ca, se_])
                    rr = rr + float(u @ vsite)
                z = np.array([b.range_m, math.radians(b.az_deg), math.radians(b.el_deg), rr])
            else:
                z = np.array([b.range_m, math.radians(b.az_deg), math.radians(b.el_deg)])
            return Meas(b.t, RADAR, z, r, site, rot, s.id, s.partner, env.sent)
        if s.kind != LOS:
            self.rejected["type_mismatch"] += 1
            return None
        assert b.observer_ecef is not None
        assert b.los_ecef is not None
        obs = np.array(b.observer_ecef, dtype=np.float64)
        u = np.array(b.los_ecef, dtype=np.float64)
        if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(u))):
            self.rejected["nan"] += 1
            return None
        nu = float(np.linalg.norm(u))
        if abs(nu - 1.0) > 1e-6 or float(np.linalg.norm(obs)) < 6.2e6:
            self.rejected["geometry"] += 1
            return None
        sg = b.sigma_los_rad or s.sig[1]
        return Meas(b.t, LOS, u / nu, np.eye(2) * sg * sg, obs, np.eye(3), s.id, s.partner, env.sent)

    def _platform_velocity(self, sensor: str, t: float, pos: F64) -> F64:
        """Velocity of a moving sensor platform, by finite differences of the
        positions its plots report over at least ``5 s`` (zero until known)."""
        ref = self._platforms.get(sensor)
        if ref is None:
            self._platforms[sensor] = (t, pos, np.zeros(3))
            return np.zeros(3)
        t0, p0, v = ref
        if t - t0 >= 5.0:
            v = (pos - p0) / (t - t0)
            self._platforms[sensor] = (t, pos, v)
        return v
