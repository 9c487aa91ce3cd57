"""Impact and launch-point prediction from a track's state and covariance.

Impact: the 13 unscented sigma points of ``N(x, P)`` (Julier and Uhlmann 2004,
``kappa = 0``: ``x +- sqrt(6) L_i`` with ``L L^T = P``, weights 1/12) are
propagated to the ellipsoid with :func:`tocsin.fusion.ground.to_ground`.
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

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion import consider, ground, kernels
from tocsin.fusion import drag as drag_mod
from tocsin.fusion.drag import DragBank, members
from tocsin.fusion.measurements import RADAR, MeasRecord
from tocsin.fusion.models import transition, white_accel_q
from tocsin.fusion.propagate import height
from tocsin.geo.wgs84 import OMEGA_E, ecef_to_geodetic, enu_matrix, great_circle_distance

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
    scale: float = CHI2_2_95
    """The ellipse is ``d^T cov^-1 d <= scale``: 5.991 for a Gaussian, the
    mixture's own 95 % value otherwise."""
    may_manoeuvre: bool = False
    """The mixture of a ballistic fall and the glide the object may still fly
    (:func:`tocsin.fusion.manoeuvre.may_pull_up`): reported as
    ``TrackBody.may_manoeuvre``, whose warning names its areas however wide."""
    most_likely: Impact | None = None
    """The single most likely impact when it is not the ellipse's centre,
    with its own prediction: a may-pull-up mixture's ballistic fall, its
    heaviest component (reported as ``ImpactPrediction.most_likely``)."""


@dataclass(frozen=True, slots=True)
class Launch:
    t: float
    lat: float
    lon: float
    sigma_m: float
    #: launch azimuth at the launch point (degrees from north) and its 1-sigma,
    #: estimated during boost (:func:`launch_azimuth`); None otherwise
    azimuth_deg: float | None = None
    azimuth_sigma_deg: float | None = None


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


def _qmc_normal(n: int = 1024) -> F64:
    """``n`` fixed quasi-random standard normal points in 2-D (Sobol,
    unscrambled, the origin left out): deterministic, and ~1/n accurate."""
    from scipy.stats import norm, qmc

    u = qmc.Sobol(d=2, scramble=False).random(n)[1:]
    out: F64 = norm.ppf(np.clip(u, 1e-12, 1.0 - 1e-12))
    return out


_Z2 = _qmc_normal()


def mixture_scale(means: F64, covs: F64, w: F64, mean: F64, cov: F64, conf: float = 0.95) -> float:
    """:func:`mixture_scale_reference`, compiled
    (:func:`tocsin.fusion.kernels.mixture_scale`: equal to rounding)."""
    return float(
        kernels.mixture_scale(
            np.ascontiguousarray(means, dtype=np.float64),
            np.ascontiguousarray(covs, dtype=np.float64),
            np.ascontiguousarray(w, dtype=np.float64),
            np.ascontiguousarray(mean, dtype=np.float64),
            np.ascontiguousarray(cov, dtype=np.float64),
            _Z2,
            float(conf),
        )
    )


def mixture_scale_reference(means: F64, covs: F64, w: F64, mean: F64, cov: F64, conf: float = 0.95) -> float:
    """The ``s`` whose ellipse ``d^T cov^-1 d <= s`` about ``mean`` holds
    ``conf`` of the Gaussian mixture ``sum_j w_j N(means_j, covs_j)`` (2-D),
    by fixed quasi-random points (:data:`_Z2`). One Gaussian at ``mean``
    with ``cov`` gives the chi-square quantile (5.991 at 95 %)."""
    lj = np.linalg.cholesky(covs)  # (J, 2, 2)
    pts = means[:, None, :] + np.einsum("jab,nb->jna", lj, _Z2)
    d = pts - mean
    ci = np.linalg.inv(cov)
    q = np.einsum("jna,ab,jnb->jn", d, ci, d).ravel()
    wt = np.repeat(w / w.sum() / _Z2.shape[0], _Z2.shape[0])
    order = np.argsort(q, kind="stable")
    cum = np.cumsum(wt[order])
    k = min(int(np.searchsorted(cum, conf)), q.size - 1)
    return float(q[order][k])


def _process_noise_en(
    path: list[tuple[float, F64]], t_hit: float, x_hit: F64, rot: F64, q: tuple[float, float, float]
) -> F64:
    """:func:`_process_noise_en_reference`, compiled
    (:func:`tocsin.fusion.kernels.process_noise_en`: equal to rounding)."""
    out: F64 = kernels.process_noise_en(
        np.array([el for el, _ in path], dtype=np.float64),
        np.ascontiguousarray(np.stack([y for _, y in path]), dtype=np.float64),
        float(t_hit),
        np.ascontiguousarray(x_hit, dtype=np.float64),
        np.ascontiguousarray(rot, dtype=np.float64),
        float(q[0]),
        float(q[1]),
        float(q[2]),
    )
    return out


def _process_noise_en_reference(
    path: list[tuple[float, F64]], t_hit: float, x_hit: F64, rot: F64, q: tuple[float, float, float]
) -> F64:
    """East/north covariance at the impact point of the white-acceleration
    process noise accumulated along a trajectory (``path``: ``(elapsed,
    state (6,))`` from now; ``q``: density below the drag ceiling, above it,
    and the ceiling in metres): ``P <- Phi P Phi^T + Q(h)`` along the path
    (linearised dynamics), then the position errors carried along the
    velocity to the ground, ``dr_g = dr - v (u . dr) / (u . v)``."""
    q_air, q_vac, ceiling = q
    pq = np.zeros((6, 6))
    prev_t, prev_x = 0.0, path[0][1]
    for el, y in [*path[1:], (t_hit, x_hit)]:
        h = min(el, t_hit) - prev_t
        if h <= 0.0:
            break
        phi = transition(prev_x[None, :], np.array([h]))[0]
        qd = q_air if float(height(prev_x[None, :3])[0]) < ceiling else q_vac
        pq = phi @ pq @ phi.T + white_accel_q(np.array([h]), np.array([qd]))[0]
        prev_t, prev_x = prev_t + h, y
        if el >= t_hit:
            break
    u = x_hit[:3] / np.linalg.norm(x_hit[:3])
    v = x_hit[3:]
    uv = float(u @ v)
    m = np.eye(3) - np.outer(v, u) / (uv if abs(uv) > 1.0 else -1.0)
    c3 = m @ pq[:3, :3] @ m.T
    out: F64 = rot[:2] @ c3 @ rot[:2].T
    return out


def _cross(a: F64, b: F64) -> F64:
    """``a x b`` of two 3-vectors (numpy's ``cross`` costs ~10x more on one pair)."""
    return np.array(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], dtype=np.float64
    )


def sensor_bias_cov(
    x: F64, recs: list[MeasRecord], sigma_range_m: float, sigma_angle_rad: float, sigma_rr_mps: float
) -> F64 | None:
    """Consider covariance (6 x 6, ECEF position and velocity) of a track's
    state for the radars' residual registration biases (docs/fusion.md,
    "Sensor registration bias"); ``None`` without a radar among ``recs``.

    A bias is the same on every plot of a radar, so the filter cannot
    average it away: a radar whose azimuth reads ``d`` too high shows the
    whole flight turned by ``d`` about the site's vertical (position error
    ``d k x (r - s)``, velocity error ``d k x v``); an elevation error turns
    it about the horizontal axis across the line of sight; a range offset
    ``b`` moves it by ``b u`` (and the velocity by ``b du/dt``); a
    range-rate offset moves the velocity along ``u``. Each is a 1-sigma
    error vector (``sigma_*``: the biases' standard deviations). Radars with
    independent biases share the estimate by their position information
    (``n H^T R^-1 H`` of their plots in ``recs``, the track's last
    ``oosm_lag_s``): radar ``s`` moves it by ``A_s e`` with ``A_s = (sum
    I)^-1 I_s``, so one radar's bias counts in full and two radars at right
    angles each count where the other is weak. Infrared lines of sight are
    not counted (no bias model for them yet). The sum over radars of
    :func:`sensor_bias_columns`' outer products."""
    cols = sensor_bias_columns(x, recs, sigma_range_m, sigma_angle_rad, sigma_rr_mps)
    return consider.covariance(cols or {})


def sensor_bias_columns(
    x: F64, recs: list[MeasRecord], sigma_range_m: float, sigma_angle_rad: float, sigma_rr_mps: float
) -> dict[str, F64] | None:
    """Per radar among ``recs`` (sensor id), the error ``(6, 3|4)`` of the
    state ``x`` per one standard deviation of its range, azimuth, elevation
    (and range-rate, for a radar that measures it) bias (each reading high), the flight taken
    to be turned or moved rigidly by the bias and the radars sharing it by
    their information (:func:`sensor_bias_cov`); ``None`` without a radar,
    or with every sigma zero."""
    if sigma_range_m <= 0.0 and sigma_angle_rad <= 0.0 and sigma_rr_mps <= 0.0:
        return None
    pos, vel = x[:3], x[3:]
    seen: dict[str, tuple[int, F64, F64, F64, bool]] = {}
    for rec in recs:
        if rec[1] != RADAR:
            continue
        n = seen[rec[6]][0] if rec[6] in seen else 0
        seen[rec[6]] = (n + 1, rec[3], rec[4], rec[5], rec[2].shape[0] > 3)
    if not seen:
        return None
    names, infos, errs = [], [], []
    for name, (n, r, site, rot, has_rr) in seen.items():
        d = pos - site
        rng = math.sqrt(float(d @ d))
        if rng < 1.0:
            continue
        u = d / rng
        up = rot[2]
        h = _cross(up, u)
        hn = math.sqrt(float(h @ h))
        h = rot[0] if hn < 1e-9 else h / hn  # across the line of sight, horizontal
        e_el = _cross(u, h)
        cos_el = max(hn, 1e-3)
        info = n * (
            np.outer(u, u) / r[0, 0]
            + np.outer(h, h) / (rng * rng * cos_el * cos_el * r[1, 1])
            + np.outer(e_el, e_el) / (rng * rng * r[2, 2])
        )
        e = np.empty((6, 4 if has_rr else 3))
        e[:3, 0] = sigma_range_m * u
        e[3:, 0] = sigma_range_m * (vel - u * float(u @ vel)) / rng
        # (azimuth clockwise from north: reading high turns it the other
        # way about the vertical)
        e[:3, 1] = sigma_angle_rad * _cross(d, up)
        e[3:, 1] = sigma_angle_rad * _cross(vel, up)
        e[:3, 2] = sigma_angle_rad * _cross(d, h)
        e[3:, 2] = sigma_angle_rad * _cross(vel, h)
        if has_rr:
            e[:3, 3] = 0.0
            e[3:, 3] = sigma_rr_mps * u
        names.append(name)
        infos.append(info)
        errs.append(e)
    if not infos:
        return None
    total = np.sum(infos, axis=0)
    out: dict[str, F64] = {}
    for name, info, e in zip(names, infos, errs, strict=True):
        a = np.linalg.solve(total, info) if len(infos) > 1 else np.eye(3)
        out[name] = np.vstack([a @ e[:3], a @ e[3:]])
    return out


def predict_impact(
    x: F64,
    p: F64,
    t: float,
    *,
    beta: float | None,
    bank: DragBank | None = None,
    q: tuple[float, float, float] | None = None,
    rho_sigma: float = 0.0,
    extra_cov: F64 | None = None,
    air_informed: float | None = None,
    air_corr_m: float = 0.0,
    air_read: F64 | None = None,
    max_time: float = 7200.0,
    path_step_s: float = 30.0,
    floor_m: float = 10.0,
) -> Impact | None:
    """Impact of the state ``x (6,)`` with covariance ``p`` known at epoch
    ``t``; ``None`` when the mean or any sigma point does not come down within
    ``max_time`` (orbital, or already on the ground).

    ``beta``: the ballistic coefficient, or with ``bank`` (a
    :class:`~tocsin.fusion.drag.DragBank`) each member holding the bulk of its
    weight is predicted with its own ``beta`` (from its own state once the
    bank is split) and the impact is their mixture. ``q``: white-acceleration
    densities below and above the drag ceiling and the ceiling (m^2/s^3, m):
    the process noise still to come, propagated along the predicted path,
    widens every member's impact covariance. ``rho_sigma``: the relative
    error of the drag still to come from the air's departure from the
    standard atmosphere (:func:`tocsin.fusion.drag.density_spread`): each
    member's mean state is also propagated with ``beta`` times ``exp(-+
    rho_sigma)`` (denser, thinner air) and half the difference of the two
    impacts is one more standard deviation. With ``air_informed`` (``k`` of
    :meth:`~tocsin.fusion.drag.DragBank.informed`, 0 without a bank) that
    ``rho_sigma`` is only the size of the step: the standard deviation is the
    air's departure read along the heaviest member's path to the ground
    (:func:`tocsin.fusion.drag.density_spread_path`, correlated over
    ``air_corr_m`` of height), and the impacts' difference is scaled to it
    (linear in a small change of the drag); ``air_read``
    (:attr:`~tocsin.fusion.drag.DragBank.read`): the heights the bank read
    that drag at (without it, the height it is at now). The 95 % ellipse is the ellipse
    of the mixture's covariance scaled to hold 95 % of the mixture
    (:func:`mixture_scale`; for one member the chi-square quantile).
    ``extra_cov`` (6 x 6) is added to every member's state covariance: what
    the filter does not know it does not know (close siblings' plots it may
    have taken, :func:`tocsin.fusion.separation.ambiguity`). The
    ground track ahead (``path``) is the heaviest member's mean state's,
    sampled about every ``path_step_s``."""
    if bank is None:
        nodes = [(x, p)]
        betas = np.array([np.nan if beta is None else beta])
        w = np.ones(1)
    else:
        idx = members(bank)
        wb = bank.weights
        w = wb[idx] / wb[idx].sum()
        betas = bank.beta[idx]
        if bank.x is not None and bank.p is not None:
            nodes = [(bank.x[j], bank.p[j]) for j in idx.tolist()]
        else:
            nodes = [(x, p)] * idx.size
    if extra_cov is not None:
        nodes = [(xn, pn + extra_cov) for xn, pn in nodes]
    k = len(nodes)
    pts_l, ws_l = [], []
    for xn, pn in nodes:
        pts, ws = sigma_points(xn, pn)
        pts_l.append(pts)
        ws_l.append(ws)
    npt = pts_l[0].shape[0]
    allpts = np.vstack(pts_l)
    beta_rows: float | F64 | None
    edges = bank is not None and bool(np.any(bank.step > 0.0))
    air = rho_sigma > 0.0 and (bank is not None or beta is not None)
    if bank is None:
        beta_rows = beta
        if air and beta is not None:
            allpts = np.vstack([allpts, x[None], x[None]])
            beta_rows = np.concatenate(
                [np.full(npt, beta), [beta * np.exp(-rho_sigma), beta * np.exp(rho_sigma)]]
            )
    else:
        beta_rows = np.repeat(betas, npt)
        if edges:
            # each member's mean state at the two edges of its bin of beta
            allpts = np.vstack([allpts, np.repeat(np.stack([nd[0] for nd in nodes]), 2, axis=0)])
            half = np.exp(0.5 * bank.step[idx])
            beta_rows = np.concatenate([beta_rows, np.ravel(np.stack([betas / half, betas * half], axis=1))])
        if air:
            # each member's mean state in denser and in thinner air
            allpts = np.vstack([allpts, np.repeat(np.stack([nd[0] for nd in nodes]), 2, axis=0)])
            f = math.exp(rho_sigma)
            beta_rows = np.concatenate([beta_rows, np.ravel(np.stack([betas / f, betas * f], axis=1))])
    heavy = int(np.argmax(w))
    r0 = heavy * npt
    dt, xg, samples = ground.to_ground(allpts, beta_rows, direction=+1, max_time=max_time, sample_row=r0)
    if not np.all(np.isfinite(dt)) or np.any(dt[: k * npt : npt] <= 0.0):
        return None
    ws = ws_l[0]
    lat, lon, _ = ecef_to_geodetic(xg[r0, :3])
    rot = enu_matrix(float(lat), float(lon))
    en_all = ((xg[:, :3] - xg[r0, :3]) @ rot.T)[:, :2]
    enu = en_all[: k * npt].reshape(k, npt, 2)
    dtn = dt[: k * npt].reshape(k, npt)
    means = np.einsum("s,ksa->ka", ws, enu)
    dev = enu - means[:, None, :]
    covs = np.einsum("s,ksa,ksb->kab", ws, dev, dev) + np.eye(2) * floor_m**2
    t_within = np.zeros(k)
    extra = k * npt
    if edges:
        # the truth is anywhere in a member's bin (uniform): the spread of
        # the impact across the bin, (edge - edge)^2 / 12
        e2 = en_all[extra : extra + 2 * k].reshape(k, 2, 2)
        d_edge = e2[:, 1] - e2[:, 0]
        covs = covs + np.einsum("ka,kb->kab", d_edge, d_edge) / 12.0
        t2 = dt[extra : extra + 2 * k].reshape(k, 2)
        t_within = (t2[:, 1] - t2[:, 0]) ** 2 / 12.0
        extra += 2 * k
    if air:
        # denser / thinner air by one sigma: (difference / 2)^2
        e2 = en_all[extra : extra + 2 * k].reshape(k, 2, 2)
        d_air = 0.5 * (e2[:, 1] - e2[:, 0])
        air_scale = 1.0
        if air_informed is not None:
            # the departure the drag to come reads along its path
            hw = drag_mod.air_weights([(0.0, allpts[r0]), *samples], float(dt[r0]), float(betas[heavy]))
            h0 = float(height(allpts[r0 : r0 + 1, :3])[0])
            air_scale = (
                drag_mod.density_spread_path(h0, air_informed, air_corr_m, *hw, read=air_read) / rho_sigma
            )
            d_air = d_air * air_scale
        covs = covs + np.einsum("ka,kb->kab", d_air, d_air)
        t2 = dt[extra : extra + 2 * k].reshape(k, 2)
        t_within = t_within + (0.5 * air_scale * (t2[:, 1] - t2[:, 0])) ** 2
    if q is not None:
        path = [(0.0, allpts[r0]), *samples]
        covs = covs + _process_noise_en(path, float(dt[r0]), xg[r0], rot, q)
    t_means = dtn @ ws
    t_vars = ((dtn - t_means[:, None]) ** 2) @ ws + t_within
    mean_en = w @ means
    dm = means - mean_en
    cov = np.einsum("k,kab->ab", w, covs) + (w[:, None] * dm).T @ dm
    cov = 0.5 * (cov + cov.T)
    scale = CHI2_2_95 if k == 1 else mixture_scale(means, covs, w, mean_en, cov)
    t_mean = float(w @ t_means)
    sig_t = float(np.sqrt(w @ (t_vars + (t_means - t_mean) ** 2)))
    c_lat, c_lon, _ = ecef_to_geodetic(xg[r0, :3] + mean_en[0] * rot[0] + mean_en[1] * rot[1])
    a, b, brg = ellipse_from_cov(cov, scale)
    # the heaviest member's mean state's ground track still ahead, thinned to ~path_step_s
    keep: list[tuple[float, F64]] = [(0.0, allpts[r0, :3])]
    for el, y in samples:
        if el >= float(dt[r0]):
            break
        if el - keep[-1][0] >= path_step_s - 1e-9:
            keep.append((el, y[:3]))
    pos = np.stack([kp[1] for kp in keep])
    la, lo, _ = ecef_to_geodetic(pos)
    path_out = [
        [round(float(a_), 5), round(float(o_), 5), round(t + kp[0], 3)]
        for a_, o_, kp in zip(np.atleast_1d(la), np.atleast_1d(lo), keep, strict=True)
    ]
    path_out.append([round(float(c_lat), 5), round(float(c_lon), 5), round(t + t_mean, 3)])
    return Impact(
        t=t + t_mean,
        lat=float(c_lat),
        lon=float(c_lon),
        sigma_t_s=sig_t,
        semi_major_m=a,
        semi_minor_m=b,
        bearing_deg=brg,
        cov_en=(float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])),
        path=path_out,
        scale=scale,
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


def _bearing(lat0: float, lon0: float, lat1: float, lon1: float) -> float:
    """Initial great-circle bearing from (lat0, lon0) to (lat1, lon1), radians."""
    p0, p1 = np.radians(lat0), np.radians(lat1)
    dl = np.radians(lon1 - lon0)
    y = np.sin(dl) * np.cos(p1)
    x = np.cos(p0) * np.sin(p1) - np.sin(p0) * np.cos(p1) * np.cos(dl)
    return float(np.arctan2(y, x))


def _wrap(a: float) -> float:
    """An angle in radians to (-pi, pi]."""
    return float(np.pi - (np.pi - a) % (2.0 * np.pi))


def launch_azimuth(
    launch: Launch,
    x: F64,
    p: F64,
    t: float,
    early: list[tuple[float, F64, float]] | None = None,
) -> Launch:
    """``launch`` with the launch azimuth estimated from a boosting track's
    combined state ``x``, covariance ``p`` at time ``t`` and its earliest
    positions ``early`` (``(t, ECEF position, per-axis variance)``)
    (docs/fusion.md, "Launch azimuth during boost").

    A missile boosts in its launch plane: its ground track leaves the pad on
    the launch azimuth and keeps it. Estimates of the ground track's heading
    at the track's sub-point, each with its 1-sigma:

    - (a) the great circle from the launch point to the sub-point:
      ``sqrt(s_L^2 + s_p^2) / baseline`` (``s_L`` the launch point's sigma,
      ``s_p`` the position's sigma across that bearing);
    - (b) the heading of the horizontal velocity: the velocity's sigma
      across it over the horizontal speed;
    - (c) the chord from an early position to the sub-point (the one with the
      smallest sigma, ``sqrt(var_i + s_p^2) / distance``): positions measured
      in flight, no extrapolation to the ground.

    To each chord is added in quadrature the Coriolis bend of the ground
    track away from a great circle over the time it spans: the horizontal
    velocity turns at up to ``2 Omega (|sin lat| + cos lat |v_up| / v_h)``
    (the horizontal and the vertical motion's Coriolis terms); a chord lags
    it by half that, times the time it spans.

    The heading is their inverse-variance mean; its sigma is scaled up by the
    scatter (Birge ratio) and is never below the largest distance from the
    mean of an estimate at most 3x as uncertain as the best one: the
    estimates share errors their sigmas do not show (the current position, a
    sensor's bias; on the independent generator's biased radars the
    velocity's heading alone was off by 3.3 of its sigmas). The heading at
    the sub-point is carried back to the pad along the great circle. Not
    modelled: a yaw manoeuvre (dog-leg) in the pitch programme."""
    lat, lon, _ = ecef_to_geodetic(x[:3])
    lat_f, lon_f = float(lat), float(lon)
    rot = enu_matrix(lat_f, lon_f)
    pe = rot @ p[:3, :3] @ rot.T
    ve = rot @ p[3:, 3:] @ rot.T
    v = rot @ x[3:]
    vh = float(np.hypot(v[0], v[1]))
    # the Coriolis acceleration turns the horizontal velocity at up to
    # 2 Omega (|sin lat| + cos lat |v_up| / v_h) rad/s; a chord lags by half
    phi = float(np.radians(lat_f))
    bend = OMEGA_E * (abs(np.sin(phi)) + np.cos(phi) * abs(float(v[2])) / max(vh, 1.0))
    est: list[tuple[float, float]] = []

    def across(h: float, cov: F64) -> float:
        n = np.array([-np.cos(h), np.sin(h)])  # across the heading (east, north)
        return float(max(float(n @ cov[:2, :2] @ n), 0.0))

    def chord(plat: float, plon: float, var: float, t0: float) -> None:
        dist = float(great_circle_distance(plat, plon, lat_f, lon_f))
        if dist <= 1.0:
            return
        h = _wrap(_bearing(lat_f, lon_f, plat, plon) + np.pi)
        sig = float(np.sqrt(var + across(h, pe))) / dist
        est.append((h, float(np.hypot(sig, bend * max(t - t0, 0.0)))))

    # (a) from the launch point
    chord(launch.lat, launch.lon, launch.sigma_m**2, launch.t)
    # (b) the horizontal velocity
    if vh > 1.0:
        h_b = float(np.arctan2(v[0], v[1]))
        est.append((h_b, float(np.sqrt(across(h_b, ve))) / vh))
    # (c) from the best early position
    if early:
        best: tuple[float, float] | None = None
        n0 = len(est)
        for te, pos, var in early:
            elat, elon, _ = ecef_to_geodetic(pos)
            chord(float(elat), float(elon), float(var), te)
            if len(est) > n0:
                cand = est.pop()
                if best is None or cand[1] < best[1]:
                    best = cand
        if best is not None:
            est.append(best)
    if not est:
        return launch
    # inverse-variance mean, its sigma scaled by the scatter (Birge ratio)
    ref = est[0][0]
    hs = np.array([_wrap(h - ref) for h, _ in est])
    ss = np.array([max(s_, 1e-9) for _, s_ in est])
    w = 1.0 / ss**2
    mean = float(w @ hs / w.sum())
    sig = float(1.0 / np.sqrt(w.sum()))
    if len(est) > 1:
        chi2 = float(w @ (hs - mean) ** 2)
        sig *= float(np.sqrt(max(1.0, chi2 / (len(est) - 1))))
        # no tighter than the spread of the comparably good estimates: they
        # share errors (the current position, a sensor's bias) that their
        # sigmas do not show
        good = ss <= 3.0 * float(ss.min())
        sig = max(sig, float(np.max(np.abs(hs[good] - mean))))
    head = ref + mean
    # the heading at the sub-point back to the pad: the great circle's turn
    az = head
    if float(great_circle_distance(launch.lat, launch.lon, lat_f, lon_f)) > 1.0:
        fwd0 = _bearing(launch.lat, launch.lon, lat_f, lon_f)
        az = head + _wrap(fwd0 - _wrap(_bearing(lat_f, lon_f, launch.lat, launch.lon) + np.pi))
    return Launch(
        t=launch.t,
        lat=launch.lat,
        lon=launch.lon,
        sigma_m=launch.sigma_m,
        azimuth_deg=float(np.degrees(az)) % 360.0 % 360.0,
        azimuth_sigma_deg=float(np.degrees(min(sig, np.pi))),
    )


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
    dt, xg, _ = ground.to_ground(x[None, :], beta, direction=-1, max_time=3600.0)
    if not np.isfinite(dt[0]):
        return None
    la, lo, _ = ecef_to_geodetic(xg[0, :3])
    sigma = float(np.sqrt(float(np.trace(p[:3, :3])) + boost_sigma_m**2))
    return Launch(t=t - float(dt[0]), lat=float(la), lon=float(lo), sigma_m=sigma)
