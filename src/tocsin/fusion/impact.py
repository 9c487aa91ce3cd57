"""Impact and launch-point prediction from a track's state and covariance.

Impact: the 13 unscented sigma points of ``N(x, P)`` (Julier and Uhlmann 2004,
``kappa = 0``: ``x +- sqrt(6) L_i`` with ``L L^T = P``, weights 1/12) are
propagated to the ellipsoid with :func:`tocsin.fusion.propagate.to_ground`.
The impact time is their weighted mean (``sigma_t_s`` their spread); the impact
points are expressed in the local east-north-up frame at the mean point, and the
95 % ellipse is the ``chi2_2(0.95) = 5.991`` contour of their 2-D covariance:
semi-axes ``sqrt(5.991 lambda_i)``, bearing of the major axis clockwise from north.

Launch point: during boost the motion is not ballistic, so back-propagating the
current state is wrong. If the track started during boost, the launch point is
a fit of its earliest positions extrapolated to the ground
(:func:`launch_from_early`); with too few of them, the straight-line
extrapolation of its first well-estimated state back to the ground along its
velocity (motion from rest at constant acceleration:
``p_L = p0 - v0 h0 / v_up``, ``t_L = t0 - 2 h0 / v_up``); otherwise the ballistic
state is back-propagated to the ground and the unknown boost displacement is
added to the uncertainty (documented in docs/fusion.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion.propagate import to_ground
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix

F64 = NDArray[np.float64]
CHI2_2_95 = 5.991464547107979


@dataclass(frozen=True, slots=True)
class Impact:
    t: float
    lat: float
    lon: float
    sigma_t_s: float
    semi_major_m: float
    semi_minor_m: float
    bearing_deg: float
    cov_en: tuple[float, float, float]  # (var_e, cov_en, var_n), m^2
    path: list[list[float]]


@dataclass(frozen=True, slots=True)
class Launch:
    t: float
    lat: float
    lon: float
    sigma_m: float


def sigma_points(x: F64, p: F64) -> tuple[F64, F64]:
    """Unscented sigma points ``(13, 6)`` and weights ``(13,)`` (kappa = 0)."""
    n = x.shape[0]
    ev, evec = np.linalg.eigh(0.5 * (p + p.T))
    sq = evec * np.sqrt(np.maximum(ev, 0.0))  # columns: scaled eigenvectors
    d = np.sqrt(n) * sq.T
    pts = np.vstack([x[None, :], x + d, x - d])
    w = np.full(2 * n + 1, 1.0 / (2 * n))
    w[0] = 0.0
    return pts, w


def ellipse_from_cov(cov_en: F64, scale: float = CHI2_2_95) -> tuple[float, float, float]:
    """Semi-major, semi-minor axis (m) and bearing of the major axis (degrees
    clockwise from north, 0..180) of the ``scale`` contour of an (east, north)
    covariance."""
    ev, evec = np.linalg.eigh(cov_en)
    major = evec[:, 1]
    bearing = float(np.degrees(np.arctan2(major[0], major[1])) % 180.0)
    return float(np.sqrt(scale * max(ev[1], 0.0))), float(np.sqrt(scale * max(ev[0], 0.0))), bearing


def predict_impact(
    x: F64,
    p: F64,
    t: float,
    *,
    beta: float | None,
    max_time: float = 7200.0,
    path_step_s: float = 30.0,
    floor_m: float = 10.0,
) -> Impact | None:
    """Impact of the state ``x (6,)`` with covariance ``p`` known at epoch ``t``;
    ``None`` when the mean or any sigma point does not come down within
    ``max_time`` (orbital, or already on the ground). The ground track ahead
    (``path``) is the mean state's, sampled about every ``path_step_s``."""
    pts, w = sigma_points(x, p)
    samples: list[tuple[float, F64]] = []
    dt, xg = to_ground(pts, beta, direction=+1, max_time=max_time, samples=samples)
    if not np.all(np.isfinite(dt)) or dt[0] <= 0.0:
        return None
    t_mean = float(w @ dt)
    sig_t = float(np.sqrt(w @ (dt - t_mean) ** 2))
    lat, lon, _ = ecef_to_geodetic(xg[0, :3])
    rot = enu_matrix(float(lat), float(lon))
    enu = (xg[:, :3] - xg[0, :3]) @ rot.T
    mean_en = w @ enu[:, :2]
    d = enu[:, :2] - mean_en
    cov = (w[:, None] * d).T @ d + np.eye(2) * floor_m**2
    c_lat, c_lon, _ = ecef_to_geodetic(xg[0, :3] + mean_en[0] * rot[0] + mean_en[1] * rot[1])
    a, b, brg = ellipse_from_cov(cov)
    # the mean state's ground track still ahead, thinned to ~path_step_s
    keep: list[tuple[float, F64]] = [(0.0, x[:3])]
    for el, y in samples:
        if el >= float(dt[0]):
            break
        if el - keep[-1][0] >= path_step_s - 1e-9:
            keep.append((el, y[0, :3]))
    pos = np.stack([k[1] for k in keep])
    la, lo, _ = ecef_to_geodetic(pos)
    path = [
        [round(float(a_), 5), round(float(o_), 5), round(t + k[0], 3)]
        for a_, o_, k in zip(np.atleast_1d(la), np.atleast_1d(lo), keep, strict=True)
    ]
    path.append([round(float(c_lat), 5), round(float(c_lon), 5), round(t + t_mean, 3)])
    return Impact(
        t=t + t_mean,
        lat=float(c_lat),
        lon=float(c_lon),
        sigma_t_s=sig_t,
        semi_major_m=a,
        semi_minor_m=b,
        bearing_deg=brg,
        cov_en=(float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])),
        path=path,
    )


def launch_from_early(t: F64, pos: F64, var: F64) -> Launch | None:
    """Launch point from the earliest boost positions of a track: ``t (K,)``,
    ECEF ``pos (K, 3)``, position variances ``var (K,)`` (per axis).

    The ground track of the early boost is a function of height that starts
    vertical (zero slope at the pad) and bends over. Two weighted least-squares
    fits of the east and north offsets (local frame at the first sample)
    against geodetic height bracket it: a straight line (overshoots backwards:
    the climb was steeper lower down) and ``e0 + c h^2`` with zero slope at the
    ground (undershoots: the pitch-over starts within seconds). The estimate is
    their mean and half their difference is the model error (1 sigma ~ 0.5 x
    that; on noise-free SRBM to ICBM flights seen from 8-16 km the mean is
    within 0.7-3.9 km, docs/fusion.md). The launch time is where ``sqrt(h)``,
    linear in time for a climb from rest at constant acceleration, reaches 0."""
    if t.size < 4:
        return None
    lat, lon, h = ecef_to_geodetic(pos)
    h = np.asarray(h, dtype=np.float64)
    if float(h.max() - h.min()) < 1_000.0 or float(h.min()) < 0.0:
        return None
    rot = enu_matrix(float(np.atleast_1d(lat)[0]), float(np.atleast_1d(lon)[0]))
    enu = (pos - pos[0]) @ rot.T
    sw = 1.0 / np.sqrt(np.maximum(var, 1.0))
    hs = h / 10_000.0  # conditioning
    ext = []
    for a in (np.column_stack([np.ones_like(hs), hs]), np.column_stack([np.ones_like(hs), hs * hs])):
        coef = np.linalg.lstsq(a * sw[:, None], enu[:, :2] * sw[:, None], rcond=None)[0]
        cov = np.linalg.inv((a * sw[:, None]).T @ (a * sw[:, None]))
        ext.append((coef[0], float(cov[0, 0])))
    ground = 0.5 * (ext[0][0] + ext[1][0])
    model = 0.5 * float(np.linalg.norm(ext[0][0] - ext[1][0]))
    sigma = float(np.sqrt(0.5 * (ext[0][1] + ext[1][1]) + (0.5 * model) ** 2 + 1000.0**2))
    la, lo, _ = ecef_to_geodetic(pos[0] + ground[0] * rot[0] + ground[1] * rot[1] - h[0] * rot[2])
    cs = np.polyfit(t - t[0], np.sqrt(np.maximum(h, 0.0)), 1)
    t_l = t[0] - cs[1] / cs[0] if cs[0] > 0 else t[0]
    return Launch(t=float(min(t_l, t[0])), lat=float(la), lon=float(lo), sigma_m=sigma)


def launch_from_boost(x0: F64, p0: F64, t0: float) -> Launch | None:
    """Launch point from an early boost state (see module doc)."""
    lat, lon, h0 = ecef_to_geodetic(x0[:3])
    up = enu_matrix(float(lat), float(lon))[2]
    v_up = float(up @ x0[3:])
    if v_up <= 10.0 or h0 < 0.0:
        return None
    tau = float(h0) / v_up
    pl = x0[:3] - x0[3:] * tau
    la, lo, _ = ecef_to_geodetic(pl)
    # position error plus velocity error times tau, plus 10 % of the displacement
    pos_var = float(np.trace(p0[:3, :3])) / 3.0
    vel_var = float(np.trace(p0[3:, 3:])) / 3.0
    horiz = float(np.linalg.norm(x0[3:] * tau - up * (up @ (x0[3:] * tau))))
    sigma = float(np.sqrt(pos_var + vel_var * tau * tau + (0.1 * horiz) ** 2 + 1000.0**2))
    return Launch(t=t0 - 2.0 * tau, lat=float(la), lon=float(lo), sigma_m=sigma)


def launch_from_ballistic(
    x: F64, p: F64, t: float, *, beta: float | None, boost_sigma_m: float
) -> Launch | None:
    """Launch point by ballistic back-propagation of a post-boost state; the
    unknown powered flight adds ``boost_sigma_m`` of uncertainty."""
    dt, xg = to_ground(x[None, :], beta, direction=-1, max_time=3600.0)
    if not np.isfinite(dt[0]):
        return None
    la, lo, _ = ecef_to_geodetic(xg[0, :3])
    sigma = float(np.sqrt(float(np.trace(p[:3, :3])) + boost_sigma_m**2))
    return Launch(t=t - float(dt[0]), lat=float(la), lon=float(lo), sigma_m=sigma)
