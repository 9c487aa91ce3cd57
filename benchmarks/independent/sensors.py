"""Sensors: ground and ship radars, space infrared; what they report and when.

Radar: scans every ``period`` s (first at a random phase); an object inside the
field of regard (range, elevation above ``min_el``, azimuth sector) is detected
with the Swerling-1 probability Pd = Pfa^(1 / (1 + SNR)) (Skolnik, *Introduction to
Radar Systems*, 3rd ed., ch. 2), SNR from the radar equation (R^-4, the object's
RCS); measured range, azimuth, elevation and range rate carry a per-sensor bias
(drawn once) and Gaussian noise whose true sigma is the declared one times a
drawn factor (declared sigmas are never exact); false alarms are a Poisson number
per scan, uniform in the field of regard. All plots of one scan carry the scan's
time stamp.

Space infrared (a geostationary staring/scanning sensor): a line of sight to the
plume's radiant centroid (behind the hardbody by a drawn offset) while a motor
burns and the plume is above the cloud tops; angular bias and noise.

Links: each sensor's reports reach the exchange after a processing delay, the
link latency and jitter, in order (a FIFO link); a drawn fraction is lost (its
``seq`` is used all the same, as the contract says: gaps mean loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from . import earth
from .objects import TruthObject

Arr = NDArray[np.float64]
PFA = 1e-6
R_GEO = 42_164_170.0


@dataclass
class Radar:
    id: str
    partner: str
    platform: str  # ground | ship
    lat: float
    lon: float
    alt: float
    max_range: float
    min_el: float
    max_el: float
    az_center: float | None  # None: all round
    az_half: float
    period: float
    sig_r: float
    sig_az: float
    sig_el: float
    sig_rr: float | None
    snr_max_db: float  # SNR of a 0.1 m^2 target at max_range
    bias: tuple[float, float, float, float]  # range m, az deg, el deg, rr m/s
    mismatch: float  # true sigma / declared sigma
    clutter: float  # false alarms per scan, mean
    # ship: velocity (east, north m/s)
    ship_v: tuple[float, float] = (0.0, 0.0)
    latency: float = 0.5
    jitter: float = 0.2
    loss: float = 0.01
    phase: float = 0.0
    off_after: float | None = None  # epoch s: no report after this (sensor or link silent)

    def descriptor(self) -> dict[str, object]:
        body: dict[str, object] = {
            "id": self.id,
            "type": "radar",
            "platform": self.platform,
            "sigma_range_m": self.sig_r,
            "sigma_az_deg": self.sig_az,
            "sigma_el_deg": self.sig_el,
            "max_range_m": self.max_range,
            "scan_period_s": self.period,
        }
        if self.platform == "ground":
            body.update(lat=self.lat, lon=self.lon, alt_m=self.alt)
        if self.sig_rr is not None:
            body["sigma_rr_mps"] = self.sig_rr
        return body

    def site(self, t: Arr, t_ref: float) -> tuple[Arr, Arr, Arr]:
        """(lat, lon) arrays and ECEF site velocity at times t (ship moves on a
        rhumb line at constant speed from (lat, lon) at t_ref)."""
        if self.platform == "ground":
            return np.full(t.size, self.lat), np.full(t.size, self.lon), np.zeros((t.size, 3))
        ve, vn = self.ship_v
        dt = t - t_ref
        lat = self.lat + np.degrees(vn * dt / 6_371_000.0)
        lon = self.lon + np.degrees(ve * dt / (6_371_000.0 * math.cos(math.radians(self.lat))))
        vel = np.empty((t.size, 3))
        for i in range(t.size):
            b = earth.enu_basis(float(lat[i]), float(lon[i]))
            vel[i] = ve * b[0] + vn * b[1]
        return lat, lon, vel


@dataclass
class IRSat:
    id: str
    partner: str
    lon: float
    period: float
    sig_los: float  # rad, declared
    bias: tuple[float, float]  # rad, two tangent axes
    mismatch: float
    plume_offset: float  # m behind the hardbody
    min_height: float  # m: plume visible above the cloud tops
    pd: float
    latency: float = 1.0
    jitter: float = 0.3
    loss: float = 0.01
    phase: float = 0.0
    off_after: float | None = None

    @property
    def observer(self) -> Arr:
        lo = math.radians(self.lon)
        return np.array([R_GEO * math.cos(lo), R_GEO * math.sin(lo), 0.0])

    def descriptor(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": "ir-satellite",
            "platform": "space",
            "sigma_los_rad": self.sig_los,
            "scan_period_s": self.period,
        }


@dataclass
class Report:
    source: str
    partner: str
    t: float  # measurement time
    arrive: float
    body: dict[str, object]
    lost: bool = False
    truth: str | None = None  # object id, None for a false alarm (for diagnostics only)


@dataclass
class SensorStats:
    detections: dict[str, int] = field(default_factory=dict)
    false_alarms: int = 0


def _enu_arrays(lat: Arr, lon: Arr) -> Arr:
    la, lo = np.radians(lat), np.radians(lon)
    sl, cl, so, co = np.sin(la), np.cos(la), np.sin(lo), np.cos(lo)
    b = np.empty((lat.size, 3, 3))
    b[:, 0] = np.stack([-so, co, np.zeros_like(so)], axis=1)
    b[:, 1] = np.stack([-sl * co, -sl * so, cl], axis=1)
    b[:, 2] = np.stack([cl * co, cl * so, sl], axis=1)
    return b


def _sites_ecef(lat: Arr, lon: Arr, alt: float) -> Arr:
    la, lo = np.radians(lat), np.radians(lon)
    n = earth.A / np.sqrt(1.0 - earth.E2 * np.sin(la) ** 2)
    return np.stack(
        [
            (n + alt) * np.cos(la) * np.cos(lo),
            (n + alt) * np.cos(la) * np.sin(lo),
            (n * (1 - earth.E2) + alt) * np.sin(la),
        ],
        axis=1,
    )


def radar_reports(
    rng: np.random.Generator, radar: Radar, objects: list[TruthObject], t_begin: float, t_end: float
) -> tuple[list[Report], SensorStats]:
    times = np.arange(t_begin + radar.phase, t_end, radar.period)
    if radar.off_after is not None:
        times = times[times <= radar.off_after]
    stats = SensorStats()
    if times.size == 0:
        return [], stats
    lat, lon, vsite = radar.site(times, t_begin)
    sites = _sites_ecef(lat, lon, radar.alt)
    bases = _enu_arrays(lat, lon)
    per_scan: list[list[tuple[dict[str, object], str | None]]] = [[] for _ in range(times.size)]
    snr_ref = 10 ** (radar.snr_max_db / 10.0)
    m = radar.mismatch
    for obj in objects:
        sel = (times >= obj.t_start) & (times <= obj.t_end)
        if not sel.any():
            continue
        idx = np.nonzero(sel)[0]
        x = obj.states(times[idx])
        d = x[:, :3] - sites[idx]
        rng_m = np.linalg.norm(d, axis=1)
        enu = np.einsum("nij,nj->ni", bases[idx], d)
        el = np.degrees(np.arcsin(np.clip(enu[:, 2] / rng_m, -1, 1)))
        az = np.degrees(np.arctan2(enu[:, 0], enu[:, 1])) % 360.0
        vis = (rng_m <= radar.max_range) & (el >= radar.min_el) & (el <= radar.max_el)
        if radar.az_center is not None:
            off = (az - radar.az_center + 180.0) % 360.0 - 180.0
            vis &= np.abs(off) <= radar.az_half
        # an object under the ground (the stage of an aircraft...) is never seen
        if not vis.any():
            continue
        snr = snr_ref * (obj.rcs / 0.1) * (radar.max_range / rng_m) ** 4
        pd = PFA ** (1.0 / (1.0 + snr))
        hit = vis & (rng.random(idx.size) < pd)
        rr = np.einsum("ni,ni->n", d, x[:, 3:] - vsite[idx]) / rng_m
        n = idx.size
        mr = rng_m + radar.bias[0] + rng.normal(0, radar.sig_r * m, n)
        maz = (az + radar.bias[1] + rng.normal(0, radar.sig_az * m, n)) % 360.0
        mel = np.clip(el + radar.bias[2] + rng.normal(0, radar.sig_el * m, n), -90.0, 90.0)
        mrr = rr + radar.bias[3] + (rng.normal(0, radar.sig_rr * m, n) if radar.sig_rr else 0.0)
        for j in np.nonzero(hit)[0]:
            k = int(idx[j])
            body: dict[str, object] = {
                "sensor": radar.id,
                "t": float(times[k]),
                "range_m": float(mr[j]),
                "az_deg": float(maz[j]),
                "el_deg": float(mel[j]),
            }
            if radar.sig_rr is not None:
                body["rr_mps"] = float(mrr[j])
            per_scan[k].append((body, obj.id))
            stats.detections[obj.id] = stats.detections.get(obj.id, 0) + 1
    # false alarms: uniform in range (50 km .. max), azimuth sector, elevation min..30 deg
    n_fa = rng.poisson(radar.clutter, times.size) if radar.clutter > 0 else np.zeros(times.size, dtype=int)
    for k in np.nonzero(n_fa)[0]:
        for _ in range(int(n_fa[k])):
            if radar.az_center is None:
                a = float(rng.uniform(0.0, 360.0))
            else:
                a = (radar.az_center + float(rng.uniform(-radar.az_half, radar.az_half))) % 360.0
            body = {
                "sensor": radar.id,
                "t": float(times[k]),
                "range_m": float(rng.uniform(50e3, radar.max_range)),
                "az_deg": a,
                "el_deg": float(rng.uniform(radar.min_el, min(30.0, radar.max_el))),
            }
            if radar.sig_rr is not None:
                body["rr_mps"] = float(rng.normal(0.0, 300.0))
            per_scan[k].append((body, None))
            stats.false_alarms += 1
    reports: list[Report] = []
    for k, plots in enumerate(per_scan):
        if not plots:
            continue
        order = rng.permutation(len(plots))  # a radar does not sort its plots by object
        for i in order:
            body, oid = plots[int(i)]
            if radar.platform == "ship":
                body["platform"] = {"lat": float(lat[k]), "lon": float(lon[k]), "alt_m": radar.alt}
            reports.append(Report(radar.id, radar.partner, float(times[k]), 0.0, body, truth=oid))
    return reports, stats


def _tangent_basis(u: Arr) -> tuple[Arr, Arr]:
    a = np.array([0.0, 0.0, 1.0]) if abs(u[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(u, a)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(u, e1)


def ir_reports(
    rng: np.random.Generator, sat: IRSat, objects: list[TruthObject], t_begin: float, t_end: float
) -> tuple[list[Report], SensorStats]:
    times = np.arange(t_begin + sat.phase, t_end, sat.period)
    if sat.off_after is not None:
        times = times[times <= sat.off_after]
    stats = SensorStats()
    obs = sat.observer
    reports: list[Report] = []
    for obj in objects:
        if not obj.burns:
            continue
        sel = (times >= obj.t_start) & (times <= obj.t_end)
        sel &= obj.thrusting(times)
        if not sel.any():
            continue
        idx = np.nonzero(sel)[0]
        x = obj.states(times[idx])
        for j, k in enumerate(idx):
            r = x[j, :3]
            if earth.height(*r) < sat.min_height:
                continue
            v = x[j, 3:]
            sp = float(np.linalg.norm(v))
            p = r - (sat.plume_offset * v / sp if sp > 1.0 else 0.0)
            d = p - obs
            u = d / np.linalg.norm(d)
            # the Earth must not hide it: the ray from the observer passes above the ellipsoid-ish sphere
            tca = -float(obs @ u)
            if 0 < tca < np.linalg.norm(d) and np.linalg.norm(obs + tca * u) < earth.B:
                continue
            if rng.random() > sat.pd:
                continue
            e1, e2 = _tangent_basis(u)
            da = sat.bias[0] + rng.normal(0.0, sat.sig_los * sat.mismatch)
            db = sat.bias[1] + rng.normal(0.0, sat.sig_los * sat.mismatch)
            um = u + da * e1 + db * e2
            um /= np.linalg.norm(um)
            body: dict[str, object] = {
                "sensor": sat.id,
                "t": float(times[k]),
                "observer_ecef": [float(c) for c in obs],
                "los_ecef": [float(c) for c in um],
                "sigma_los_rad": sat.sig_los,
                "intensity": float(rng.uniform(1.0, 10.0)),
            }
            reports.append(Report(sat.id, sat.partner, float(times[k]), 0.0, body, truth=obj.id))
            stats.detections[obj.id] = stats.detections.get(obj.id, 0) + 1
    reports.sort(key=lambda r: r.t)
    return reports, stats


def deliver(
    rng: np.random.Generator, reports: list[Report], latency: float, jitter: float, loss: float
) -> None:
    """Arrival times (FIFO per source) and losses, in place."""
    reports.sort(key=lambda r: r.t)
    last = -math.inf
    proc = float(rng.uniform(0.05, 0.3))
    for r in reports:
        a = r.t + proc + latency + float(rng.uniform(0.0, jitter))
        a = max(a, last)
        r.arrive = a
        last = a
        r.lost = bool(rng.random() < loss)
