"""Simulated detection: which objects a sensor sees at a scan, with what error.

Radar (ground or ship), one scan at time ``t``:

1. geometry from :func:`~tocsin.sensors.models.radar_measure`;
2. the object is *detectable* when it is within ``max_range_m``, inside the field
   of regard (a clockwise azimuth sector from ``az_from`` to ``az_to`` and an
   elevation band), above the ground, and the straight line from the sensor does
   not pass through the Earth (:func:`earth_blocks`);
3. a detectable object is detected with probability ``pd`` (independent draws);
4. a detection is ``z = h(x) + b + v`` with bias ``b`` and white Gaussian noise
   ``v ~ N(0, diag(sigma^2))``; azimuth is wrapped to ``[0, 2 pi)``;
5. false plots (clutter): ``N ~ Poisson(clutter_per_scan)`` per scan, uniform in
   azimuth over the sector, in elevation over the band and in range over
   ``[1 km, max_range_m]``; range rate uniform in ``+-1000 m/s``.

Space infrared (line of sight): only burning objects (boost phase) above
``min_alt_m`` are detectable, and only when the observer-object segment clears
the Earth. The reported unit vector is the true one turned by a small random
angle, ``u' = normalize(u + a e1 + b e2)`` with ``a, b ~ N(0, sigma_los^2)`` and
``e1, e2`` orthonormal and perpendicular to ``u``. Clutter is uniform in
direction over the Earth's disc as seen from the observer.

Every report is emitted ``latency_s + U(0, jitter_s)`` after its measurement
time. Everything here is pure numpy with a caller-supplied
``numpy.random.Generator``; no I/O.

Earth masking: scale ECEF by ``(1/a, 1/a, 1/b)`` so the WGS84 ellipsoid becomes
the unit sphere; a segment ``p + s (q - p)``, ``s in [0, 1]`` clears the Earth
when its closest approach to the origin is at least 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tocsin.geo import ecef_to_geodetic
from tocsin.geo.wgs84 import WGS84_A, WGS84_B
from tocsin.sensors.models import los_measure, radar_measure

F64 = NDArray[np.float64]
B8 = NDArray[np.bool_]

TWO_PI = 2.0 * math.pi

__all__ = [
    "FieldOfRegard",
    "IrDetections",
    "IrSpec",
    "RadarDetections",
    "RadarSpec",
    "detect_ir",
    "detect_radar",
    "earth_blocks",
    "report_delays",
]

_SCALE = np.array([1.0 / WGS84_A, 1.0 / WGS84_A, 1.0 / WGS84_B])


def earth_blocks(p: ArrayLike, q: ArrayLike, margin_m: float = 0.0) -> B8:
    """True where the segment from ``p`` to ``q`` (ECEF, ``(..., 3)``) passes
    through the WGS84 ellipsoid (grown by ``margin_m``, approximately).

    Endpoints themselves below the surface count as blocked.
    """
    ps = np.asarray(p, dtype=np.float64) * _SCALE
    qs = np.asarray(q, dtype=np.float64) * _SCALE
    d = qs - ps
    dd = np.einsum("...i,...i->...", d, d)
    s = np.clip(-np.einsum("...i,...i->...", ps, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    c = ps + s[..., None] * d
    r2 = np.einsum("...i,...i->...", c, c)
    limit = (1.0 + margin_m / WGS84_A) ** 2
    out: B8 = r2 < limit * (1.0 - 1e-12)
    return out


@dataclass(frozen=True)
class FieldOfRegard:
    """Azimuth sector (clockwise from ``az_from_rad`` to ``az_to_rad``; the full
    circle when they are 0 and 2 pi) and elevation band, radians."""

    az_from_rad: float = 0.0
    az_to_rad: float = TWO_PI
    el_min_rad: float = 0.0
    el_max_rad: float = math.pi / 2

    @property
    def width_rad(self) -> float:
        w = (self.az_to_rad - self.az_from_rad) % TWO_PI
        return TWO_PI if w == 0.0 and self.az_to_rad != self.az_from_rad else w

    def contains(self, az: F64, el: F64) -> B8:
        rel = np.mod(az - self.az_from_rad, TWO_PI)
        inside: B8 = (rel <= self.width_rad) & (el >= self.el_min_rad) & (el <= self.el_max_rad)
        return inside


@dataclass(frozen=True)
class RadarSpec:
    """Simulation parameters of one radar (SI units, radians)."""

    sigma_range_m: float
    sigma_az_rad: float
    sigma_el_rad: float
    max_range_m: float
    sigma_rr_mps: float | None = None
    fov: FieldOfRegard = field(default_factory=FieldOfRegard)
    pd: float = 0.9
    clutter_per_scan: float = 0.0
    bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    """Systematic error added to (range_m, az_rad, el_rad, rr_mps)."""


@dataclass(frozen=True)
class RadarDetections:
    """Plots of one scan batch: ``z (P, 4)`` (range, az, el, rr; rr is NaN when
    the radar does not measure it), the scan index ``k (P,)`` and the object index
    ``obj (P,)`` (``-1`` for clutter)."""

    z: F64
    k: NDArray[np.int64]
    obj: NDArray[np.int64]


def detect_radar(
    spec: RadarSpec,
    states: F64,
    alive: B8,
    site_ecef: ArrayLike,
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    rng: np.random.Generator,
    site_vel_ecef: ArrayLike | None = None,
) -> RadarDetections:
    """Detections over ``K`` scans of ``M`` objects.

    ``states`` is ``(M, K, 6)`` true ECEF states at the scan times, ``alive``
    ``(M, K)`` whether each object exists then; the site is ``(K, 3)`` with
    ``(K,)`` latitude/longitude (a ship) or broadcastable from ``(3,)`` and
    scalars (a ground radar). Plots come out ordered by scan, then object, then
    clutter.
    """
    m, k = alive.shape
    site = np.broadcast_to(np.asarray(site_ecef, dtype=np.float64), (k, 3))
    lat = np.broadcast_to(np.asarray(site_lat_deg, dtype=np.float64), (k,))
    lon = np.broadcast_to(np.asarray(site_lon_deg, dtype=np.float64), (k,))
    svel = (
        None
        if site_vel_ecef is None
        else np.broadcast_to(np.asarray(site_vel_ecef, dtype=np.float64), (k, 3))
    )
    zs: list[F64] = []
    ks: list[NDArray[np.int64]] = []
    objs: list[NDArray[np.int64]] = []
    sig = np.array([spec.sigma_range_m, spec.sigma_az_rad, spec.sigma_el_rad, spec.sigma_rr_mps or 0.0])
    bias = np.asarray(spec.bias, dtype=np.float64)
    if m > 0:
        flat = states.reshape(m * k, 6)
        s_rep = np.broadcast_to(site, (m, k, 3)).reshape(m * k, 3)
        la_rep = np.broadcast_to(lat, (m, k)).reshape(m * k)
        lo_rep = np.broadcast_to(lon, (m, k)).reshape(m * k)
        v_rep = None if svel is None else np.broadcast_to(svel, (m, k, 3)).reshape(m * k, 3)
        ok = alive.reshape(m * k).copy()
        z = np.full((m * k, 4), np.nan)
        if ok.any():
            z[ok] = radar_measure(
                flat[ok], s_rep[ok], la_rep[ok], lo_rep[ok], None if v_rep is None else v_rep[ok]
            )
            _, _, alt = ecef_to_geodetic(flat[ok, :3])
            sub = ok.copy()
            sub[ok] = (
                (z[ok, 0] <= spec.max_range_m)
                & spec.fov.contains(z[ok, 1], z[ok, 2])
                & (alt > 0.0)
                & ~earth_blocks(s_rep[ok], flat[ok, :3])
            )
            ok = sub
        draws = rng.random(m * k)
        det = ok & (draws < spec.pd)
        idx = np.flatnonzero(det)
        noise = rng.standard_normal((idx.size, 4)) * sig + bias
        zd = z[idx] + noise
        obj_idx, scan_idx = np.divmod(idx, k)
        zs.append(zd)
        ks.append(scan_idx.astype(np.int64))
        objs.append(obj_idx.astype(np.int64))
    # clutter
    nfa = _clutter_counts(spec.clutter_per_scan, k, rng)
    total = int(nfa.sum())
    if total:
        fov = spec.fov
        az = np.mod(fov.az_from_rad + rng.random(total) * fov.width_rad, TWO_PI)
        el = fov.el_min_rad + rng.random(total) * (fov.el_max_rad - fov.el_min_rad)
        rg = 1000.0 + rng.random(total) * max(spec.max_range_m - 1000.0, 0.0)
        rr = rng.uniform(-1000.0, 1000.0, total)
        zs.append(np.stack([rg, az, el, rr], axis=1))
        ks.append(np.repeat(np.arange(k, dtype=np.int64), nfa))
        objs.append(np.full(total, -1, dtype=np.int64))
    if not zs:
        return RadarDetections(np.empty((0, 4)), np.empty(0, np.int64), np.empty(0, np.int64))
    zall = np.concatenate(zs)
    kall = np.concatenate(ks)
    oall = np.concatenate(objs)
    zall[:, 1] = np.mod(zall[:, 1], TWO_PI)
    zall[:, 1] = np.where(zall[:, 1] >= TWO_PI, 0.0, zall[:, 1])
    zall[:, 2] = np.clip(zall[:, 2], -math.pi / 2, math.pi / 2)
    zall[:, 0] = np.maximum(zall[:, 0], 0.0)
    if spec.sigma_rr_mps is None:
        zall[:, 3] = np.nan
    order = np.lexsort((np.where(oall < 0, m + 1, oall), kall))
    return RadarDetections(zall[order], kall[order], oall[order])


@dataclass(frozen=True)
class IrSpec:
    """Simulation parameters of one space infrared sensor."""

    sigma_los_rad: float
    pd: float = 0.95
    clutter_per_scan: float = 0.0
    min_alt_m: float = 0.0
    max_range_m: float = math.inf


@dataclass(frozen=True)
class IrDetections:
    """``los (P, 3)`` unit vectors, scan index ``k (P,)``, object ``obj (P,)``
    (``-1`` for clutter)."""

    los: F64
    k: NDArray[np.int64]
    obj: NDArray[np.int64]


def _perturb(u: F64, sigma: float, rng: np.random.Generator) -> F64:
    ref = np.where(np.abs(u[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    e1 = np.cross(u, ref)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(u, e1)
    ab = rng.standard_normal((u.shape[0], 2)) * sigma
    v = u + ab[:, :1] * e1 + ab[:, 1:] * e2
    out: F64 = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def detect_ir(
    spec: IrSpec,
    states: F64,
    burning: B8,
    observer_ecef: ArrayLike,
    rng: np.random.Generator,
) -> IrDetections:
    """Line-of-sight detections over ``K`` scans of ``M`` objects from an observer
    fixed in ECEF. ``states (M, K, 6)``; ``burning (M, K)`` is True only while an
    object's motor burns (the boost phase) — nothing else is bright enough."""
    obs = np.asarray(observer_ecef, dtype=np.float64)
    m, k = burning.shape
    los_l: list[F64] = []
    ks: list[NDArray[np.int64]] = []
    objs: list[NDArray[np.int64]] = []
    if m > 0:
        flat = states.reshape(m * k, 6)
        ok = burning.reshape(m * k).copy()
        if ok.any():
            pos = flat[ok, :3]
            _, _, alt = ecef_to_geodetic(pos)
            dist = np.linalg.norm(pos - obs, axis=1)
            sub = ok.copy()
            sub[ok] = (alt >= spec.min_alt_m) & (dist <= spec.max_range_m) & ~earth_blocks(obs, pos)
            ok = sub
        det = ok & (rng.random(m * k) < spec.pd)
        idx = np.flatnonzero(det)
        if idx.size:
            u = los_measure(flat[idx], obs)
            los_l.append(_perturb(u, spec.sigma_los_rad, rng))
            obj_idx, scan_idx = np.divmod(idx, k)
            ks.append(scan_idx.astype(np.int64))
            objs.append(obj_idx.astype(np.int64))
    nfa = _clutter_counts(spec.clutter_per_scan, k, rng)
    total = int(nfa.sum())
    if total:
        # uniform in solid angle within the cone that holds the Earth's disc
        r = float(np.linalg.norm(obs))
        half = math.asin(min(WGS84_B / r, 1.0))
        cos_t = 1.0 - rng.random(total) * (1.0 - math.cos(half))
        phi = rng.random(total) * TWO_PI
        sin_t = np.sqrt(1.0 - cos_t * cos_t)
        nadir = -obs / r
        ref = np.array([0.0, 0.0, 1.0]) if abs(nadir[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(nadir, ref)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(nadir, e1)
        u = cos_t[:, None] * nadir + sin_t[:, None] * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
        los_l.append(u / np.linalg.norm(u, axis=1, keepdims=True))
        ks.append(np.repeat(np.arange(k, dtype=np.int64), nfa))
        objs.append(np.full(total, -1, dtype=np.int64))
    if not los_l:
        return IrDetections(np.empty((0, 3)), np.empty(0, np.int64), np.empty(0, np.int64))
    lall = np.concatenate(los_l)
    kall = np.concatenate(ks)
    oall = np.concatenate(objs)
    order = np.lexsort((np.where(oall < 0, m + 1, oall), kall))
    return IrDetections(lall[order], kall[order], oall[order])


def _clutter_counts(rate: float, k: int, rng: np.random.Generator) -> NDArray[np.int64]:
    if rate <= 0:
        return np.zeros(k, np.int64)
    return np.asarray(rng.poisson(rate, k), dtype=np.int64)


def report_delays(n: int, latency_s: float, jitter_s: float, rng: np.random.Generator) -> F64:
    """Delays ``latency_s + U(0, jitter_s)`` for ``n`` reports."""
    if jitter_s > 0:
        out: F64 = latency_s + rng.random(n) * jitter_s
        return out
    return np.full(n, float(latency_s))
