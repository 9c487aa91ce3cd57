"""Moving platforms: ships and aircraft on courses over the Earth.

A :class:`Course` is a polyline of waypoints flown at constant speed and
height; each leg follows the great circle between its ends on the mean sphere
(radius :data:`~tocsin.geo.wgs84.MEAN_RADIUS`), with geodetic latitude and
longitude used as spherical coordinates. Over a few hundred kilometres this
differs from the WGS84 geodesic by well under 0.5 %, which is far below what
matters for a sensor platform or a notional airliner track. A course given as a
start point, heading and speed is the single great circle leaving the start on
that heading (the spherical "destination point" formula).

Velocities are ECEF, from a central difference of positions over one second
(the course is piecewise smooth, so this is exact to a few mm/s away from the
waypoints).

Reference: Ed Williams, *Aviation Formulary* (great-circle interpolation and
destination point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tocsin.geo import geodetic_to_ecef
from tocsin.geo.wgs84 import MEAN_RADIUS

F64 = NDArray[np.float64]

__all__ = ["Course", "destination"]


def _unit(lat_deg: F64, lon_deg: F64) -> F64:
    la, lo = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _latlon(u: F64) -> tuple[F64, F64]:
    lat = np.degrees(np.arctan2(u[..., 2], np.hypot(u[..., 0], u[..., 1])))
    lon = np.degrees(np.arctan2(u[..., 1], u[..., 0]))
    return lat, lon


def destination(lat_deg: float, lon_deg: float, heading_deg: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` along the great circle leaving ``(lat, lon)`` on
    ``heading_deg`` (clockwise from north); longitude in [-180, 180]."""
    d = distance_m / MEAN_RADIUS
    p1, l1, th = math.radians(lat_deg), math.radians(lon_deg), math.radians(heading_deg)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(th))
    l2 = l1 + math.atan2(math.sin(th) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    lon = (math.degrees(l2) + 180.0) % 360.0 - 180.0
    return math.degrees(p2), lon


@dataclass(frozen=True)
class Course:
    """Waypoints ``(K, 2)`` (lat, lon degrees) flown from ``t0`` (any time base,
    s) at ``speed_mps`` and ``alt_m``. Before ``t0`` the platform waits at the
    first waypoint; after the last it stays at the last (ships) — see
    :attr:`end_t` for when it arrives."""

    waypoints: F64
    speed_mps: float
    alt_m: float = 0.0
    t0: float = 0.0

    @staticmethod
    def from_heading(
        lat_deg: float,
        lon_deg: float,
        heading_deg: float,
        speed_mps: float,
        duration_s: float,
        *,
        alt_m: float = 0.0,
        t0: float = 0.0,
    ) -> Course:
        """A straight (great-circle) course for ``duration_s`` seconds."""
        end = destination(lat_deg, lon_deg, heading_deg, speed_mps * max(duration_s, 0.0))
        return Course(np.array([[lat_deg, lon_deg], list(end)]), speed_mps, alt_m, t0)

    def __post_init__(self) -> None:
        wp = np.asarray(self.waypoints, dtype=np.float64)
        if wp.ndim != 2 or wp.shape[1] != 2 or wp.shape[0] < 1:
            raise ValueError("waypoints must be (K, 2) lat/lon")
        if self.speed_mps < 0:
            raise ValueError("speed must not be negative")
        object.__setattr__(self, "waypoints", wp)

    @property
    def _legs(self) -> tuple[F64, F64, F64]:
        u = _unit(self.waypoints[:, 0], self.waypoints[:, 1])
        cosang = np.clip(np.einsum("ki,ki->k", u[:-1], u[1:]), -1.0, 1.0)
        ang = np.arccos(cosang)
        cum = np.concatenate([[0.0], np.cumsum(ang * MEAN_RADIUS)])
        return u, ang, cum

    @property
    def length_m(self) -> float:
        return float(self._legs[2][-1])

    @property
    def end_t(self) -> float:
        """Time of arrival at the last waypoint."""
        if self.speed_mps == 0.0:
            return math.inf if self.waypoints.shape[0] > 1 else self.t0
        return self.t0 + self.length_m / self.speed_mps

    def latlon(self, t: ArrayLike) -> tuple[F64, F64]:
        """Latitude and longitude (degrees) at times ``t`` (``(N,)``)."""
        tq = np.atleast_1d(np.asarray(t, dtype=np.float64))
        u, ang, cum = self._legs
        if u.shape[0] == 1:
            return np.full(tq.shape, self.waypoints[0, 0]), np.full(tq.shape, self.waypoints[0, 1])
        s = np.clip((tq - self.t0) * self.speed_mps, 0.0, cum[-1])
        k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, ang.size - 1)
        a = ang[k]
        frac = np.where(a > 0, (s - cum[k]) / np.where(a > 0, a * MEAN_RADIUS, 1.0), 0.0)
        sa = np.where(a > 0, np.sin(a), 1.0)
        w0 = np.where(a > 0, np.sin((1.0 - frac) * a) / sa, 1.0)
        w1 = np.where(a > 0, np.sin(frac * a) / sa, 0.0)
        p = w0[:, None] * u[k] + w1[:, None] * u[k + 1]
        return _latlon(p)

    def ecef(self, t: ArrayLike) -> F64:
        """ECEF positions ``(N, 3)``."""
        lat, lon = self.latlon(t)
        return geodetic_to_ecef(lat, lon, self.alt_m)

    def state(self, t: ArrayLike) -> tuple[F64, F64, F64]:
        """``(lat_deg (N,), lon_deg (N,), state (N, 6))`` ECEF position and
        velocity (central difference over one second)."""
        tq = np.atleast_1d(np.asarray(t, dtype=np.float64))
        lat, lon = self.latlon(tq)
        pos = geodetic_to_ecef(lat, lon, self.alt_m)
        # central difference, one-sided at the ends of the course
        end = self.end_t if math.isfinite(self.end_t) else math.inf
        lo = np.clip(tq - 0.5, self.t0, max(end - 1.0, self.t0))
        hi = lo + 1.0
        if end - self.t0 < 1.0 or self.speed_mps == 0.0:
            vel = np.zeros_like(pos)
        else:
            vel = self.ecef(hi) - self.ecef(lo)
        return lat, lon, np.concatenate([pos, vel], axis=1)
