"""The multi-sensor, multi-target tracker stage.

One :class:`Tracker` takes exchange-format messages (``sensor`` descriptors,
``plot`` detections, partners' ``track`` messages) and returns ``track`` messages.
It never reads a clock: time is the measurement time of the plots, or the ``t``
given to :meth:`Tracker.advance`.

Per scan (plots of one sensor with one time stamp, grouped as they arrive):

1. every live track is predicted to the scan time with a two-model IMM of EKFs
   (quiet model + manoeuvre/boost model; NCV dynamics for air and unknown
   tracks, ballistic dynamics for ballistic ones; :mod:`tocsin.fusion.filters`);
2. candidate pairs are found with a k-d tree on ECEF positions, then gated
   exactly with the chi-square test on the innovation (99.9 %);
3. the gate graph is split into connected components and each component is
   solved by global nearest neighbour (``linear_sum_assignment`` on
   ``d^2 + ln det S``), so cost grows with local density;
4. assigned tracks are updated (a report older than the track's last update is
   applied by buffered re-filtering of the track's last ``oosm_lag_s`` seconds);
5. unassigned radar plots start tracks by two-point initiation (velocity gated)
   with a plot from the last few seconds; unassigned infrared lines of sight start
   tracks by triangulation with another infrared sensor's line of sight;
6. M-of-N confirmation, coasting and deletion; classification; launch point and
   impact prediction for ballistic tracks; reports at most once per
   ``report_interval_s`` per track, plus on status changes.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.stats import chi2

from tocsin.dynamics.forces import DRAG_CEILING_M
from tocsin.fusion import kernels
from tocsin.fusion.filters import (
    covariance_intersection,
    ekf_update,
    imm_probabilities,
    inv_det,
    ukf_update,
)
from tocsin.fusion.impact import (
    Impact,
    Launch,
    launch_from_ballistic,
    launch_from_boost,
    launch_from_early,
    predict_impact,
)
from tocsin.fusion.models import (
    ballistic_predict,
    los_residual,
    ncv_predict,
    radar_predict,
    radar_residual,
    tangent_basis,
    triangulate,
    white_accel_q,
)
from tocsin.fusion.propagate import deriv, height
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix, geodetic_to_ecef
from tocsin.wire.messages import (
    Ellipse,
    Envelope,
    ImpactPrediction,
    LaunchEstimate,
    PlotBody,
    SensorBody,
    TrackBody,
)

F64 = NDArray[np.float64]

RADAR, LOS = 0, 1
_DEG = math.pi / 180.0


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tracker settings (SI units, seconds of measurement time)."""

    partner: str = "JP"
    source: str = "tocsin-fusion"
    filter: Literal["ekf", "ukf"] = "ekf"
    """Measurement update: extended (default, see docs/fusion.md for the
    comparison) or unscented. Prediction is the same for both."""
    report_interval_s: float = 1.0
    report_tentative: bool = False
    oosm_lag_s: float = 10.0
    gate_prob: float = 0.999
    q_air: float = 1.0
    """Quiet-model white-acceleration density for air/unknown tracks, m^2/s^3."""
    q_ballistic: float = 0.001
    """Quiet-model density for ballistic tracks (J3+, drag and model errors)."""
    q_maneuver: float = 400.0
    """Manoeuvre model density for aircraft, m^2/s^3."""
    q_ballistic_vacuum: float = 1.0e-5
    """Quiet-model density for ballistic tracks above the drag ceiling (120 km)."""
    q_boost: float = 3.0e4
    """Manoeuvre model density until a track is known to be an aircraft or past
    burnout: covers boost thrust up to ~20 g (``q ~ a^2 dt``), m^2/s^3."""
    burnout_window_s: float = 8.0
    burnout_accel: float = 6.0
    """Along-track specific force (m/s^2) below which a missile is coasting."""
    burnout_votes: int = 4
    imm_tau_s: float = 30.0
    """Mean sojourn time in each model (s) of a track not known to be an
    aircraft (coast or thrust: either may last)."""
    imm_tau_air_quiet_s: float = 1000.0
    """Mean sojourn time in the quiet model of an aircraft (s): it flies
    straight for minutes."""
    imm_tau_air_maneuver_s: float = 20.0
    """Mean sojourn time in the manoeuvre model of an aircraft (s): a turn is short."""
    beta: float | None = 5000.0
    """Ballistic coefficient assumed for ballistic tracks, kg/m^2 (None: no drag)."""
    init_speed_max: float = 8000.0
    init_quiet_speed_sigma: float | None = 350.0
    """Velocity prior (m/s per axis, about 0) fused into the quiet model of a
    track started from two radar plots; None: none."""
    init_window_s: float = 3.0
    confirm_m: int = 3
    confirm_n: int = 5
    coast_after_s: float = 3.0
    delete_air_s: float = 12.0
    delete_ballistic_s: float = 90.0
    delete_tentative_s: float = 4.0
    coast_max_sigma_m: float = 50_000.0
    """A coasting missile is kept (and predicted) while its position sigma is below this."""
    coast_report_s: float = 2.0
    """Prediction step and report interval of coasting missiles."""
    impact_interval_s: float = 2.0
    boost_launch_sigma_m: float = 150_000.0
    ir_pair_dt_s: float = 1.0
    ir_max_miss_m: float = 5_000.0
    ir_init_vel_sigma: float = 2_000.0
    dup_dist_m: float = 10_000.0
    dup_speed_mps: float = 200.0
    """A track about to be confirmed this close (position and velocity) to a
    confirmed ballistic track is the same missile seen through a biased sensor:
    it is not confirmed (``stats["duplicates_suppressed"]``)."""
    t2t_gate: float = 30.0
    """Chi-square gate (3 DOF, position) for partner tracks."""

    def __post_init__(self) -> None:
        if not (1 <= self.confirm_m <= self.confirm_n):
            raise ValueError("need 1 <= confirm_m <= confirm_n")
        if self.oosm_lag_s < 0 or self.report_interval_s < 0:
            raise ValueError("lags and intervals must be >= 0")


class _Gathered(NamedTuple):
    """IMM states and per-track model parameters of a list of tracks
    (:meth:`Tracker._gather`)."""

    x: F64
    p: F64
    mu: F64
    dt: F64
    q0: F64
    q1: F64
    tau0: F64
    tau1: F64
    code: NDArray[np.int64]


@dataclass(slots=True)
class _Sensor:
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
class _Meas:
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


@dataclass(slots=True)
class _Track:
    key: int
    x: F64  # (2, 6)
    p: F64  # (2, 6, 6)
    mu: F64  # (2,)
    t: float
    created: float
    window: deque[int]
    sources: set[str]
    partners: set[str]
    id: str | None = None
    status: str = "tentative"
    cls: str = "unknown"
    phase: str = "unknown"
    last_update: float = 0.0
    last_report: float = -math.inf
    last_predicted_report: float = -math.inf  # a report of the prediction (no plot)
    updates: int = 0
    votes_b: int = 0
    votes_a: int = 0
    burnt_out: bool = False
    quiet: int = 0
    speeds: deque[tuple[float, F64, float]] = field(default_factory=deque)
    first: tuple[F64, F64, float] | None = None
    early: list[tuple[float, F64, float]] = field(default_factory=list)
    launch: Launch | None = None
    impact: Impact | None = None
    last_impact: float = -math.inf
    last_launch: float = -math.inf
    impact_basis: float = -math.inf
    hist: list[tuple[_Meas, tuple[F64, F64, F64, float]]] = field(default_factory=list)
    dead: bool = False
    coast_from: tuple[F64, F64, F64, float] | None = None
    xc: F64 | None = None  # cached combined estimate at ``t``
    pc: F64 | None = None
    # sorted sources and partners for messages (the sets only grow: cached by size)
    src_sorted: list[str] = field(default_factory=list)
    par_sorted: list[str] = field(default_factory=list)

    def sorted_sources(self) -> tuple[list[str], list[str]]:
        """Sorted sources and partners, the same list objects until a set
        grows (messages share them: never mutated, replaced on change)."""
        if len(self.src_sorted) != len(self.sources):
            self.src_sorted = sorted(self.sources)
        if len(self.par_sorted) != len(self.partners):
            self.par_sorted = sorted(self.partners)
        return self.src_sorted, self.par_sorted

    @property
    def ballistic(self) -> bool:
        return self.cls == "ballistic"

    def combined(self) -> tuple[F64, F64]:
        if self.xc is None or self.pc is None:
            xc, pc = kernels.imm_combine(self.x[None], self.p[None], self.mu[None])
            self.xc, self.pc = xc[0], pc[0]
        return self.xc, self.pc


def _sq_dist(a: F64, b: F64) -> F64:
    """Squared distances ``(N, M)`` between points ``a (N, 3)`` and ``b (M, 3)``
    as ``|a|^2 + |b|^2 - 2 a.b`` (one matrix product), about the points'
    centroid so that ECEF magnitudes do not cancel (error ~1e-16 of the spread
    squared, far below the gates' metres)."""
    c = b.mean(axis=0)
    a0, b0 = a - c, b - c
    d2 = np.sum(a0 * a0, axis=1)[:, None] + np.sum(b0 * b0, axis=1)[None, :] - 2.0 * (a0 @ b0.T)
    return np.maximum(d2, 0.0)


class Tracker:
    """Multi-sensor multi-target tracker (a :class:`tocsin.stage.Stage`).

    ``push(env)`` takes one message and ``push_many(envs)`` a batch; plots are
    buffered into scans (same sensor, same time stamp) and a scan is processed
    when a message of another scan arrives, on :meth:`flush` or on
    :meth:`advance`. ``rejected`` counts refused inputs by reason.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.cfg = config or TrackerConfig()
        self.rejected: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self._sensors: dict[str, _Sensor] = {}
        self._tracks: dict[int, _Track] = {}
        self._next_key = 1
        self._next_id = 1
        self._seq = 0
        self._now = -math.inf
        self._scan: list[_Meas] = []
        self._scan_key: tuple[str, float] | None = None
        self._pending: list[tuple[_Meas, F64, F64]] = []  # radar plot, pos, cov
        self._pending_ir: list[_Meas] = []
        self._platforms: dict[str, tuple[float, F64, F64]] = {}
        self._rcache: dict[tuple[float, float, float, float | None], F64] = {}
        self._gate = {m: float(chi2.ppf(self.cfg.gate_prob, m)) for m in (2, 3, 4)}

    # --- public ---------------------------------------------------------------

    @property
    def tracks(self) -> list[_Track]:
        return list(self._tracks.values())

    def push(self, env: Envelope) -> list[Envelope]:
        out: list[Envelope] = []
        kind = env.kind
        body = env.body
        if kind == "plot" and isinstance(body, PlotBody):
            key = (body.sensor, body.t)
            if self._scan_key is not None and key != self._scan_key:
                out.extend(self.flush())
            m = self._measurement(env, body)
            if m is None:
                return out
            self._scan_key = key
            self._scan.append(m)
            return out
        if kind == "sensor" and isinstance(body, SensorBody):
            self._add_sensor(env, body)
            return out
        if kind == "track" and isinstance(body, TrackBody):
            if env.source == self.cfg.source:
                return out
            out.extend(self.flush())
            out.extend(self._partner_track(env, body))
            return out
        return out

    def push_many(self, envs: Iterable[Envelope]) -> list[Envelope]:
        out: list[Envelope] = []
        for env in envs:
            out.extend(self.push(env))
        out.extend(self.flush())
        return out

    def flush(self) -> list[Envelope]:
        """Process the buffered scan now."""
        if not self._scan:
            return []
        scan, self._scan, self._scan_key = self._scan, [], None
        return self._process_scan(scan)

    def advance(self, t: float) -> list[Envelope]:
        out = self.flush()
        out.extend(self._housekeeping(t, t))
        return out

    # --- inputs ---------------------------------------------------------------

    def _add_sensor(self, env: Envelope, b: SensorBody) -> None:
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
        self._sensors[b.id] = _Sensor(
            b.id,
            kind,
            env.partner,
            site,
            rot,
            sig,
            b.max_range_m,
            None if b.min_el_deg is None else math.radians(b.min_el_deg),
        )

    def _measurement(self, env: Envelope, b: PlotBody) -> _Meas | None:
        s = self._sensors.get(b.sensor)
        if s is None:
            self.rejected["unknown_sensor"] += 1
            return None
        if not math.isfinite(b.t):
            self.rejected["nan"] += 1
            return None
        if self._now - b.t > self.cfg.oosm_lag_s:
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
                return _Meas(b.t, RADAR, z, s.r3, site, rot, s.id, s.partner, env.sent)
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
            return _Meas(b.t, RADAR, z, r, site, rot, s.id, s.partner, env.sent)
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
        return _Meas(b.t, LOS, u / nu, np.eye(2) * sg * sg, obs, np.eye(3), s.id, s.partner, env.sent)

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

    # --- filtering ------------------------------------------------------------

    def _gather(self, trs: list[_Track], t: float) -> _Gathered:
        """The IMM states of ``trs`` as arrays ``x (N, 2, 6)``, ``p``,
        ``mu``, the steps ``dt`` to ``t``, the per-track process-noise
        densities of the quiet and the manoeuvre model ``q0, q1`` and mean
        sojourn times ``tau0, tau1`` (:func:`tocsin.fusion.kernels.imm_params`:
        the manoeuvre model covers thrust, ``q_boost``, until a track is known
        to be an aircraft or a missile past burnout; a ballistic track's quiet
        density drops to ``q_ballistic_vacuum`` above the drag ceiling, where
        nothing unmodelled is left but J3+ gravity), the tracks' class codes
        (bit 0 ballistic, 1 past burnout, 2 aircraft, 3 tentative)."""
        xs, ps, mus, ts, codes = [], [], [], [], []
        for tr in trs:
            xs.append(tr.x)
            ps.append(tr.p)
            mus.append(tr.mu)
            ts.append(tr.t)
            cls = tr.cls
            codes.append(
                (cls == "ballistic") + 2 * tr.burnt_out + 4 * (cls == "air") + 8 * (tr.status == "tentative")
            )
        x = np.array(xs)
        code = np.array(codes, dtype=np.int64)
        cfg = self.cfg
        q0, q1, tau0, tau1 = kernels.imm_params(
            code,
            x,
            cfg.q_air,
            cfg.q_ballistic,
            cfg.q_ballistic_vacuum,
            cfg.q_maneuver,
            cfg.q_boost,
            DRAG_CEILING_M,
            cfg.imm_tau_s,
            cfg.imm_tau_air_quiet_s,
            cfg.imm_tau_air_maneuver_s,
        )
        dt = t - np.array(ts)
        return _Gathered(x, np.array(ps), np.array(mus), dt, q0, q1, tau0, tau1, code)

    def _predict_models(
        self, x: F64, p: F64, dt: F64, bal: NDArray[np.bool_], q0: F64, q1: F64
    ) -> tuple[F64, F64]:
        """Predict ``(N, 2, 6)`` model states by ``dt (N,)`` (some ballistic)."""
        n = x.shape[0]
        xf = x.reshape(2 * n, 6)
        pf = p.reshape(2 * n, 6, 6)
        d2 = np.repeat(dt, 2)
        b2 = np.repeat(bal, 2)
        q2 = np.stack([q0, q1], axis=1).ravel()
        if bal.all():
            xp, fm = ballistic_predict(xf, d2, beta=self.cfg.beta)
        else:
            xp = np.empty_like(xf)
            fm = np.empty_like(pf)
            xp[~b2], fm[~b2] = ncv_predict(xf[~b2], d2[~b2])
            xp[b2], fm[b2] = ballistic_predict(xf[b2], d2[b2], beta=self.cfg.beta)
        pp = fm @ pf @ np.transpose(fm, (0, 2, 1)) + white_accel_q(d2, q2)
        return xp.reshape(n, 2, 6), pp.reshape(n, 2, 6, 6)

    def _predict(self, trs: list[_Track], t: float) -> tuple[F64, F64, F64]:
        """Mixed and predicted model states of ``trs`` at ``t`` and ``cbar``."""
        return self._predict_all(self._gather(trs, t))[:3]

    def _predict_all(self, g: _Gathered) -> tuple[F64, F64, F64, F64, F64, NDArray[np.bool_]]:
        """:meth:`_predict` of gathered tracks, and the combined prediction
        ``(xc, pc)`` with which rows are physical
        (:func:`tocsin.fusion.kernels.physical`)."""
        x, p, mu, dt, q0, q1, tau0, tau1, code = g
        bal = (code & 1) > 0
        if not bal.any():
            return kernels.predict_ncv_imm(x, p, mu, dt, tau0, tau1, q0, q1)
        x0, p0, cbar = kernels.imm_mix(x, p, mu, dt, tau0, tau1)
        xp, pp = self._predict_models(x0, p0, dt, bal, q0, q1)
        xc, pc = kernels.imm_combine(xp, pp, cbar)
        return xp, pp, cbar, xc, pc, kernels.physical(xc, pc)

    @staticmethod
    def _stack(ms: list[_Meas]) -> tuple[int, F64, F64, F64, F64]:
        """Measurement arrays ``(kind, z, r, site, rot)`` of one kind and dimension."""
        return (
            ms[0].kind,
            np.array([m.z for m in ms]),
            np.array([m.r for m in ms]),
            np.array([m.site for m in ms]),
            np.array([m.rot for m in ms]),
        )

    @staticmethod
    def _residual(xf: F64, arr: tuple[int, F64, F64, F64, F64]) -> tuple[F64, F64, F64]:
        """Residuals, Jacobians and noise for rows ``xf (M, 6)`` against the
        measurement arrays ``arr`` (one measurement per row)."""
        kind, z, r, site, rot = arr
        if kind == RADAR:
            zh, h = radar_predict(xf, site, rot, z.shape[1] == 4)
            return radar_residual(z, zh), h, r
        nu, h = los_residual(xf, site, z)
        return nu, h, r

    @staticmethod
    def _ukf(x: F64, p: F64, arr: tuple[int, F64, F64, F64, F64]) -> tuple[F64, F64, F64, F64, int]:
        """Unscented update of rows ``x, p`` with one measurement per row."""
        kind, z, r, site, rot = arr
        if kind == RADAR:
            rr = z.shape[1] == 4

            def hfun(pts: F64, rows: NDArray[np.int64]) -> F64:
                return radar_predict(pts, site[rows], rot[rows], rr)[0]

            xn, pn, d2, ld = ukf_update(x, p, z, r, hfun, radar_residual)
            return xn, pn, d2, ld, z.shape[1]
        # line of sight: measured and predicted unit vectors on the tangent
        # basis of the predicted one (as in the EKF)
        d = x[:, :3] - site
        u0 = d / np.linalg.norm(d, axis=1)[:, None]
        b1, b2 = tangent_basis(u0)

        def hlos(pts: F64, rows: NDArray[np.int64]) -> F64:
            dd = pts[:, :3] - site[rows]
            uu = dd / np.linalg.norm(dd, axis=1)[:, None]
            return np.stack(
                [np.einsum("ni,ni->n", b1[rows], uu), np.einsum("ni,ni->n", b2[rows], uu)], axis=1
            )

        zm = np.stack([np.einsum("ni,ni->n", b1, z), np.einsum("ni,ni->n", b2, z)], axis=1)
        xn, pn, d2, ld = ukf_update(x, p, zm, r, hlos, np.subtract)
        return xn, pn, d2, ld, 2

    @staticmethod
    def _take(arr: tuple[int, F64, F64, F64, F64], idx: NDArray[np.int64]) -> tuple[int, F64, F64, F64, F64]:
        return arr[0], arr[1][idx], arr[2][idx], arr[3][idx], arr[4][idx]

    def _update(
        self,
        trs: list[_Track],
        arr: tuple[int, F64, F64, F64, F64],
        xp: F64,
        pp: F64,
        cbar: F64,
        t: F64,
        rows: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    ) -> tuple[F64, F64]:
        """IMM update of predicted ``xp, pp (N, 2, ...)`` with one measurement per
        track (arrays ``arr``, one kind and dimension; with ``rows``, track
        ``trs[k]`` is row ``rows[0][k]`` of the predictions and takes
        measurement ``rows[1][k]``); writes back into the tracks and returns
        their combined estimates ``(xc, pc)``."""
        n = len(trs)
        if self.cfg.filter == "ekf" and arr[0] == RADAR:
            ti, mj = rows if rows is not None else (np.arange(n), np.arange(n))
            xn, pn, mu, xc, pc = kernels.update_radar(xp, pp, cbar, ti, arr[1], arr[3], arr[4], arr[2], mj)
            self._write(trs, xn, pn, mu, xc, pc, t)
            return xc, pc
        if rows is not None:
            xp, pp, cbar, arr = xp[rows[0]], pp[rows[0]], cbar[rows[0]], self._take(arr, rows[1])
        rep = np.repeat(np.arange(n), 2)
        if self.cfg.filter == "ukf":
            xn, pn, d2, logdet, mdim = self._ukf(
                xp.reshape(2 * n, 6), pp.reshape(2 * n, 6, 6), self._take(arr, rep)
            )
        else:
            nu, h, r = self._residual(xp.reshape(2 * n, 6), self._take(arr, rep))
            xn, pn, d2, logdet = ekf_update(xp.reshape(2 * n, 6), pp.reshape(2 * n, 6, 6), nu, h, r)
            mdim = nu.shape[1]
        mu = imm_probabilities(cbar, d2.reshape(n, 2), logdet.reshape(n, 2), mdim)
        xn = xn.reshape(n, 2, 6)
        pn = pn.reshape(n, 2, 6, 6)
        xc, pc = kernels.imm_combine(xn, pn, mu)
        self._write(trs, xn, pn, mu, xc, pc, t)
        return xc, pc

    @staticmethod
    def _write(trs: list[_Track], xn: F64, pn: F64, mu: F64, xc: F64, pc: F64, t: F64) -> None:
        """Store updated IMM states (rows, in the order of ``trs``)."""
        for i, ti in enumerate(t.tolist()):
            tr = trs[i]
            tr.x, tr.p, tr.mu, tr.t = xn[i], pn[i], mu[i], ti
            tr.xc, tr.pc = xc[i], pc[i]
            tr.coast_from = None

    def _refilter(self, tr: _Track, m: _Meas) -> bool:
        """Insert a late measurement into the track's history and re-run the
        filter from the state before it (buffered re-filtering)."""
        k = 0
        while k < len(tr.hist) and tr.hist[k][0].t <= m.t:
            k += 1
        snap = tr.hist[k][1] if k < len(tr.hist) else (tr.coast_from or (tr.x, tr.p, tr.mu, tr.t))
        if snap[3] > m.t:
            return False
        later = [h[0] for h in tr.hist[k:]]
        del tr.hist[k:]
        tr.x, tr.p, tr.mu, tr.t = snap
        tr.xc = tr.pc = None
        for mm in [m, *later]:
            tr.hist.append((mm, (tr.x, tr.p, tr.mu, tr.t)))
            xp, pp, cbar = self._predict([tr], mm.t)
            self._update([tr], self._stack([mm]), xp, pp, cbar, np.array([mm.t]))
        self.stats["oosm_refiltered"] += 1
        return True

    # --- one scan -------------------------------------------------------------

    def _process_scan(self, scan: list[_Meas]) -> list[Envelope]:
        t = scan[0].t
        sent = max(m.sent for m in scan)
        self.stats["scans"] += 1
        self.stats["plots"] += len(scan)
        newest = max(self._now, t)
        radar = scan[0].kind == RADAR
        # the radar range-rate is used only if every plot of the scan has it
        if radar and len({m.z.shape[0] for m in scan}) > 1:
            for m in scan:
                m.z, m.r = m.z[:3], m.r[:3, :3]
        # the scan's measurement arrays and (radar) plot positions, built once
        # and shared by the pre-gate, the gate, the update and the initiation
        arr = self._stack(scan)
        plots = None
        if radar:
            rc = arr[2] if arr[2].shape[1] == 3 else np.ascontiguousarray(arr[2][:, :3, :3])
            plots = kernels.radar_to_ecef(arr[1], arr[3], arr[4], rc)
        live = [
            tr
            for tr in self._tracks.values()
            if tr.created <= t and not tr.dead and (tr.impact is None or not self._landed(tr, t))
        ]
        g = self._gather(live, t) if live else None
        if g is not None and plots is not None:
            keep = self._near(g, plots)
            if not keep.all():
                idx = np.flatnonzero(keep)
                live = [live[i] for i in idx.tolist()]
                g = _Gathered._make(a[idx] for a in g)
        assigned_tr: list[_Track] = []
        assigned_m: list[_Meas] = []
        comb: tuple[F64, F64] | None = None  # the assigned tracks' combined estimates
        free = list(range(len(scan)))
        changed: set[int] = set()
        if live and g is not None:
            xp, pp, cbar, xc, pc, ok = self._predict_all(g)
            if not ok.all():
                # a prediction that has left the physical world (through the
                # ground, or numerically): the track ends now
                for i in np.flatnonzero(~ok).tolist():
                    live[i].dead = True
                    self.stats["diverged_or_landed"] += 1
                kept = np.flatnonzero(ok)
                live = [live[i] for i in kept.tolist()]
                xp, pp, cbar, xc, pc = xp[kept], pp[kept], cbar[kept], xc[kept], pc[kept]
        if live:
            pairs, d2 = self._gate_pairs(xc, pc, arr, plots)
            self._misses(live, xc, scan[0], pairs)
            if pairs.shape[0]:
                ti, mj = self._assign(pairs, d2, len(live), len(scan))
                used = set(mj.tolist())
                free = [j for j in range(len(scan)) if j not in used]
                fwd_t: list[_Track] = []
                fwd_m: list[_Meas] = []
                fwd_i: list[int] = []
                fwd_j: list[int] = []
                for i, j in zip(ti.tolist(), mj.tolist(), strict=True):
                    tr = live[i]
                    if t >= tr.t:
                        fwd_t.append(tr)
                        fwd_m.append(scan[j])
                        fwd_i.append(i)
                        fwd_j.append(j)
                    elif not self._refilter(tr, scan[j]):
                        free.append(j)
                        continue
                    assigned_tr.append(tr)
                    assigned_m.append(scan[j])
                if fwd_t:
                    # one scan: one time, one kind and dimension
                    for tr, m in zip(fwd_t, fwd_m, strict=True):
                        tr.hist.append((m, (tr.x, tr.p, tr.mu, tr.t)))
                    rows = (np.array(fwd_i, dtype=np.int64), np.array(fwd_j, dtype=np.int64))
                    fwd_c = self._update(fwd_t, arr, xp, pp, cbar, np.full(len(fwd_t), t), rows)
                    if len(fwd_t) == len(assigned_tr):
                        comb = fwd_c
        self._now = newest
        lim = newest - self.cfg.oosm_lag_s
        for tr, m in zip(assigned_tr, assigned_m, strict=True):
            # lifecycle after an update (inline: once per track per scan)
            if m.t > tr.last_update:
                tr.last_update = m.t
            tr.updates += 1
            tr.sources.add(m.sensor)
            tr.partners.add(m.partner)
            if tr.status == "tentative":
                tr.window.append(1)
            elif tr.status == "coasting":
                tr.status = "confirmed"
            changed.add(tr.key)
            # drop history older than the late-report lag (keep at least one)
            hist = tr.hist
            if len(hist) > 1 and hist[0][0].t < lim:
                k = 1
                while k < len(hist) - 1 and hist[k][0].t < lim:
                    k += 1
                del hist[:k]
        self._classify(assigned_tr, comb)
        if free:
            fr = sorted(free)
            fplots = None
            if plots is not None:
                fa = np.array(fr, dtype=np.int64)
                fplots = (plots[0][fa], plots[1][fa])
            for tr in self._initiate([scan[j] for j in fr], fplots):
                changed.add(tr.key)
        return self._reports(changed, sent)

    def _near(self, g: _Gathered, plots: tuple[F64, F64]) -> NDArray[np.bool_]:
        """Cheap pre-gate before the filter prediction: keep the tentative
        tracks (their misses are counted) and the tracks whose straight-line
        extrapolation comes within a generous distance of a plot of this radar
        scan (5 sigma of the track position, the drift of up to 20 g over the
        interval, 5 sigma of the plot, plus 20 km). ``g``: the gathered
        tracks; ``plots``: the scan's plot positions and covariances (ECEF).
        Returns which tracks to keep."""
        ppos, pcov = plots
        tent = (g.code & 8) > 0
        if g.x.shape[0] * ppos.shape[0] <= 250_000:
            return kernels.near(g.x, g.p, g.mu, g.dt, ppos, pcov, tent)
        x, p = kernels.imm_combine(g.x, g.p, g.mu)
        dt = g.dt
        psig = np.sqrt(np.trace(pcov, axis1=1, axis2=2))
        pos = x[:, :3] + x[:, 3:] * dt[:, None]
        sig = np.sqrt(np.maximum(np.trace(p[:, :3, :3], axis1=1, axis2=2), 0.0))
        rad = 5.0 * sig + 100.0 * dt * dt + 20_000.0
        tree = cKDTree(ppos)
        ok = tree.query_ball_point(pos, r=rad + 5.0 * float(psig.max()), return_length=True) > 0
        return ok | tent

    @staticmethod
    def _landed(tr: _Track, t: float) -> bool:
        """A ballistic track past its predicted impact takes no more plots."""
        return tr.impact is not None and tr.burnt_out and t > tr.impact.t + 3.0 * tr.impact.sigma_t_s + 2.0

    def _gate_pairs(
        self, xc: F64, pc: F64, arr: tuple[int, F64, F64, F64, F64], plots: tuple[F64, F64] | None
    ) -> tuple[NDArray[np.int64], F64]:
        """Gated (track, plot) pairs and their costs ``d^2 + ln det S``:
        candidates by position distance (4.5 sigma of track and plot; all
        pairs for small scans), then the exact chi-square test."""
        n, m = xc.shape[0], arr[1].shape[0]
        if arr[0] == RADAR and plots is not None and n * m <= 250_000:
            return kernels.gate_radar(
                xc,
                pc,
                arr[1],
                arr[3],
                arr[4],
                arr[2],
                self._gate[arr[1].shape[1]],
                plots[0],
                plots[1],
                n * m > 64,
            )
        if plots is not None and n * m > 64:
            ppos, pcov = plots
            rad_t = 4.5 * np.sqrt(np.trace(pc[:, :3, :3], axis1=1, axis2=2))
            rad_p = 4.5 * np.sqrt(np.trace(pcov, axis1=1, axis2=2))
            if n * m <= 250_000:
                lim = rad_t[:, None] + rad_p[None, :]
                ia, ja = np.nonzero(_sq_dist(xc[:, :3], ppos) <= lim * lim)
            else:
                # a k-d tree on track positions, queried with every plot
                tree = cKDTree(xc[:, :3])
                cand = tree.query_ball_point(ppos, r=float(rad_t.max()) + rad_p)
                lens = np.fromiter(map(len, cand), dtype=np.int64, count=m)
                ia = np.fromiter(chain.from_iterable(cand), dtype=np.int64, count=int(lens.sum()))
                ja = np.repeat(np.arange(m), lens)
                dist = np.linalg.norm(xc[ia, :3] - ppos[ja], axis=1)
                keep = dist <= rad_t[ia] + rad_p[ja]
                ia, ja = ia[keep], ja[keep]
        else:
            ia = np.repeat(np.arange(n), m)
            ja = np.tile(np.arange(m), n)
        if ia.size == 0:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        nu, h, r = self._residual(xc[ia], self._take(arr, ja))
        s = h @ pc[ia] @ np.transpose(h, (0, 2, 1)) + r
        s = 0.5 * (s + np.transpose(s, (0, 2, 1)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sinv, det = inv_det(s)
            logdet = np.log(np.where(det > 0.0, det, 1.0))
            d2 = np.einsum("ni,ni->n", nu, np.einsum("nij,nj->ni", sinv, nu))
        good = (det > 0.0) & np.isfinite(det) & np.isfinite(d2)
        ok = (d2 <= self._gate[nu.shape[1]]) & good
        pairs = np.stack([ia[ok], ja[ok]], axis=1)
        return pairs, (d2 + logdet)[ok]

    @staticmethod
    def _assign(
        pairs: NDArray[np.int64], cost: F64, n: int, m: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """GNN per connected component of the gate graph (union-find over the
        gated pairs: the cost grows with the size of each component, not with
        tracks x plots). A pair whose track and plot are in no other pair is
        its own component and is assigned directly."""
        alone = kernels.alone(pairs, n, m)
        if alone.all():
            return pairs[:, 0].copy(), pairs[:, 1].copy()
        ti_out: list[int] = pairs[alone, 0].tolist()
        mj_out: list[int] = pairs[alone, 1].tolist()
        rest = np.flatnonzero(~alone)
        pairs, cost = pairs[rest], cost[rest]
        parent = list(range(n + m))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        pi_l = pairs[:, 0].tolist()
        pj_l = pairs[:, 1].tolist()
        for a, b in zip(pi_l, pj_l, strict=True):
            ra, rb = find(a), find(n + b)
            if ra != rb:
                parent[ra] = rb
        comps: dict[int, list[int]] = {}
        for k, a in enumerate(pi_l):
            comps.setdefault(find(a), []).append(k)
        for ks in comps.values():
            if len(ks) == 1:
                ti_out.append(pi_l[ks[0]])
                mj_out.append(pj_l[ks[0]])
                continue
            grp = np.array(ks)
            pi, pj, pc = pairs[grp, 0], pairs[grp, 1], cost[grp]
            ut, ri = np.unique(pi, return_inverse=True)
            um, ci = np.unique(pj, return_inverse=True)
            big = 1e6 + float(np.abs(pc).max())
            cm = np.full((ut.size, um.size), big)
            cm[ri, ci] = pc - float(pc.min()) + 1.0  # positive costs, order kept
            r_idx, c_idx = linear_sum_assignment(cm)
            ok = cm[r_idx, c_idx] < big
            ti_out.extend(ut[r_idx[ok]].tolist())
            mj_out.extend(um[c_idx[ok]].tolist())
        return np.array(ti_out, dtype=np.int64), np.array(mj_out, dtype=np.int64)

    def _misses(self, live: list[_Track], xc: F64, m0: _Meas, pairs: NDArray[np.int64]) -> None:
        """Record a detection opportunity (hit or miss) for tentative tracks:
        only a sensor that has already detected the track, and only while the
        track is within its range, can miss it (a sensor that cannot see it -
        below its horizon, outside its field of regard - says nothing)."""
        if m0.kind != RADAR:
            return
        s = self._sensors.get(m0.sensor)
        hit = np.zeros(len(live), dtype=bool)
        hit[pairs[:, 0]] = True
        for i, tr in enumerate(live):
            if tr.status != "tentative" or hit[i] or m0.t <= tr.t or m0.sensor not in tr.sources:
                continue
            if (
                s is not None
                and s.max_range is not None
                and float(np.linalg.norm(xc[i, :3] - m0.site)) > s.max_range
            ):
                continue
            tr.window.append(0)

    # --- initiation -----------------------------------------------------------

    def _new_track(self, x: F64, p: F64, t: float, sources: Iterable[str], partners: Iterable[str]) -> _Track:
        tr = _Track(
            key=self._next_key,
            x=np.stack([x, x]),
            p=np.stack([p, p]),
            mu=np.array([0.8, 0.2]),
            t=t,
            created=t,
            window=deque([1, 1], maxlen=self.cfg.confirm_n),
            sources=set(sources),
            partners=set(partners),
            last_update=t,
            updates=2,
        )
        self._next_key += 1
        self._tracks[tr.key] = tr
        self.stats["initiated"] += 1
        return tr

    def _initiate(self, plots: list[_Meas], radar_pos: tuple[F64, F64] | None = None) -> list[_Track]:
        """Start tracks from free plots (``radar_pos``: the radar plots' ECEF
        positions and covariances if already computed)."""
        out: list[_Track] = []
        lim = self._now - self.cfg.init_window_s
        self._pending = [pd for pd in self._pending if pd[0].t >= lim]
        self._pending_ir = [pd for pd in self._pending_ir if pd.t >= lim]
        radar = [m for m in plots if m.kind == RADAR]
        ir = [m for m in plots if m.kind == LOS]
        if radar:
            if radar_pos is not None and len(radar) == len(plots):
                pos, cov = radar_pos
            else:
                z = np.array([m.z[:3] for m in radar])
                site = np.array([m.site for m in radar])
                rot = np.array([m.rot for m in radar])
                rc = np.array([m.r[:3, :3] for m in radar])
                pos, cov = kernels.radar_to_ecef(z, site, rot, rc)
            used: set[int] = set()
            if self._pending:
                ppos = np.array([pd[1] for pd in self._pending])
                rmax = self.cfg.init_speed_max * self.cfg.init_window_s
                sig = np.sqrt(np.trace(cov, axis1=1, axis2=2))
                cands: list[list[int]]
                if len(radar) * ppos.shape[0] <= 250_000:
                    # all distances at once (one matrix product) instead of a k-d tree
                    near = _sq_dist(pos, ppos) <= ((rmax + 4.0 * sig) ** 2)[:, None]
                    cands = [[] for _ in radar]
                    for j, k in zip(*(a.tolist() for a in np.nonzero(near)), strict=True):
                        cands[j].append(k)
                else:
                    cands = cKDTree(ppos).query_ball_point(pos, r=rmax + 4.0 * sig)
                for j, lst in enumerate(cands):
                    best, best_v = -1, math.inf
                    for k in lst:
                        if k in used:
                            continue
                        pm, pp_, pc_ = self._pending[k]
                        dt = radar[j].t - pm.t
                        if abs(dt) < 0.05:
                            continue
                        d = float(np.linalg.norm(pos[j] - pp_))
                        slack = 4.0 * math.sqrt(float(np.trace(cov[j] + pc_)))
                        if d > self.cfg.init_speed_max * abs(dt) + slack:
                            continue
                        v = max(d - slack, 0.0) / abs(dt)
                        if v < best_v:
                            best, best_v = k, v
                    if best < 0:
                        continue
                    used.add(best)
                    pm, pp_, pc_ = self._pending[best]
                    a, b = (pm, radar[j]) if pm.t < radar[j].t else (radar[j], pm)
                    pa, ca = (pp_, pc_) if a is pm else (pos[j], cov[j])
                    pb, cb = (pos[j], cov[j]) if a is pm else (pp_, pc_)
                    dt = b.t - a.t
                    x = np.concatenate([pb, (pb - pa) / dt])
                    p = np.zeros((6, 6))
                    p[:3, :3] = cb
                    p[:3, 3:] = cb / dt
                    p[3:, :3] = cb / dt
                    p[3:, 3:] = (ca + cb) / dt**2 + np.eye(3) * 100.0
                    tr = self._new_track(x, p, b.t, {a.sensor, b.sensor}, {a.partner, b.partner})
                    sv = self.cfg.init_quiet_speed_sigma
                    if sv is not None:
                        # the quiet model's hypothesis: an aircraft, whose
                        # speed is a few hundred m/s: fuse the two-point
                        # velocity with 0 +- sv per axis (the manoeuvre model
                        # keeps the plain two-point state: a missile's)
                        s_v = p[3:, 3:] + np.eye(3) * (sv * sv)
                        k_g = p[:, 3:] @ np.linalg.inv(s_v)
                        tr.x[0] = x - k_g @ x[3:]
                        p0 = p - k_g @ p[3:, :]
                        tr.p[0] = 0.5 * (p0 + p0.T)
                    tr.created = a.t
                    out.append(tr)
                    used.add(-1 - j)
            keep = [pd for k, pd in enumerate(self._pending) if k not in used]
            for j, m in enumerate(radar):
                if (-1 - j) not in used:
                    keep.append((m, pos[j], cov[j]))
            self._pending = keep
        for m in ir:
            out.extend(self._initiate_ir(m))
        return out

    def _initiate_ir(self, m: _Meas) -> list[_Track]:
        best, best_miss = -1, math.inf
        mid = np.zeros(3)
        for k, pm in enumerate(self._pending_ir):
            if pm.sensor == m.sensor or abs(pm.t - m.t) > self.cfg.ir_pair_dt_s:
                continue
            pt, miss, rng = triangulate(pm.site[None], pm.z[None], m.site[None], m.z[None])
            if not np.all(np.isfinite(rng)) or np.any(rng <= 0.0):
                continue
            sig = math.sqrt(m.r[0, 0]) * float(rng.max())
            lim = self.cfg.ir_max_miss_m + 4.0 * sig + 3000.0 * abs(pm.t - m.t)
            _, _, alt = ecef_to_geodetic(pt[0])
            if float(miss[0]) <= lim and -1000.0 <= float(alt) <= 3.0e6 and float(miss[0]) < best_miss:
                best, best_miss, mid = k, float(miss[0]), pt[0]
        if best < 0:
            self._pending_ir.append(m)
            return []
        pm = self._pending_ir.pop(best)
        far = float(max(np.linalg.norm(mid - m.site), np.linalg.norm(mid - pm.site)))
        sp = math.sqrt(m.r[0, 0]) * far
        pos_var = sp * sp + best_miss**2 + (3000.0 * abs(pm.t - m.t)) ** 2 + 500.0**2
        p = np.diag([pos_var] * 3 + [self.cfg.ir_init_vel_sigma**2] * 3)
        x = np.concatenate([mid, np.zeros(3)])
        t = max(m.t, pm.t)
        tr = self._new_track(x, p, t, {m.sensor, pm.sensor}, {m.partner, pm.partner})
        tr.window = deque([1], maxlen=self.cfg.confirm_n)
        tr.updates = 1
        return [tr]

    # --- after an update: lifecycle, class, launch, impact ------------------------

    def _classify(self, trs: list[_Track], comb: tuple[F64, F64] | None = None) -> None:
        """Classification rule (docs/fusion.md), evaluated after each update on
        well-estimated tracks (largest velocity sigma < 150 m/s): a *ballistic*
        vote when speed > 1.2 km/s, altitude > 30 km or climb rate > 250 m/s; an
        *air* vote when speed < 400 m/s, altitude < 20 km and |climb| < 100 m/s.
        Ballistic after 3 consecutive ballistic votes, air after 5 consecutive air
        votes. Ballistic is final; air may become ballistic, never the reverse."""
        if not trs:
            return
        if comb is None:
            cs = [tr.combined() for tr in trs]
            x = np.array([c[0] for c in cs])
            p = np.array([c[1] for c in cs])
        else:
            x, p = comb
        # largest velocity variance <= 150^2 (eigenvalues only where neither
        # the trace nor a diagonal element decides it); height along the
        # geocentric radius (within 0.5 m of the geodetic height below 80 km)
        good_a, alt_a, vz_a, speed_a, pvar_a = kernels.classify_features(x, p, 150.0**2)
        if (good_a == 2).any():
            amb = np.flatnonzero(good_a == 2)
            good_a[amb] = np.linalg.eigvalsh(p[amb, 3:, 3:])[:, -1] <= 150.0**2
        good = good_a.tolist()
        alt = alt_a.tolist()
        vz = vz_a.tolist()
        speed = speed_a.tolist()
        pvar = pvar_a.tolist()
        for i, tr in enumerate(trs):
            if not good[i]:
                continue
            vote_b = speed[i] > 1200.0 or alt[i] > 30_000.0 or vz[i] > 250.0
            vote_a = speed[i] < 400.0 and alt[i] < 20_000.0 and abs(vz[i]) < 100.0
            if tr.first is None and tr.updates >= 4:
                tr.first = (x[i].copy(), p[i].copy(), tr.t)
            if (
                not tr.burnt_out
                and alt[i] < 80_000.0
                and len(tr.early) < 40
                and (not tr.early or tr.t - tr.early[-1][0] >= 0.5)
                and (not tr.early or tr.t - tr.early[0][0] <= 30.0)
            ):
                tr.early.append((tr.t, x[i, :3].copy(), pvar[i]))
            tr.votes_b = tr.votes_b + 1 if vote_b else 0
            tr.votes_a = tr.votes_a + 1 if vote_a else 0
            if tr.cls != "ballistic" and tr.votes_b >= 3:
                tr.cls = "ballistic"
                tr.phase = "boost"
            elif tr.cls == "unknown" and tr.votes_a >= 5:
                tr.cls = "air"
            if tr.cls == "ballistic" and not tr.burnt_out:
                self._burnout_test(tr, x[i], p[i])

    def _burnout_test(self, tr: _Track, x: F64, p: F64) -> None:
        """Thrust test. Over windows of ``burnout_window_s`` or longer the observed
        acceleration ``(v1 - v0) / dt`` minus the modelled one (gravity, Coriolis,
        centrifugal at the window's midpoint) is the specific force of thrust and
        drag; its component along the velocity is positive only under thrust.
        Burnout is declared when that component plus 2 sigma (sigma from the
        two velocity covariances) stays below ``burnout_accel`` for
        ``burnout_votes`` consecutive updates: no impact point is predicted
        until the track is confidently coasting."""
        tr.speeds.append((tr.t, x.copy(), float(np.trace(p[3:, 3:]))))
        while tr.speeds and tr.speeds[0][0] < tr.t - 4.0 * self.cfg.burnout_window_s:
            tr.speeds.popleft()
        old = [sp for sp in tr.speeds if tr.t - sp[0] >= self.cfg.burnout_window_s]
        if not old:
            return
        t0 = np.array([sp[0] for sp in old])
        x0 = np.array([sp[1] for sp in old])
        v0var = np.array([sp[2] for sp in old])
        span = tr.t - t0
        mid = 0.5 * (x0 + x[None, :])
        grav = deriv(mid, None)[:, 3:]
        a_ng = (x[None, 3:] - x0[:, 3:]) / span[:, None] - grav
        vm = mid[:, 3:] / np.maximum(np.linalg.norm(mid[:, 3:], axis=1), 1.0)[:, None]
        along = np.einsum("ni,ni->n", a_ng, vm)
        sig = np.sqrt((v0var + float(np.trace(p[3:, 3:]))) / 3.0) / span
        # windows from burnout_window_s to 4x that: the best-resolved one decides
        if float(np.min(along + 2.0 * sig)) < self.cfg.burnout_accel:
            tr.quiet += 1
        else:
            tr.quiet = 0
        if tr.quiet >= self.cfg.burnout_votes:
            tr.burnt_out = True
            tr.phase = "ballistic"
            tr.speeds.clear()

    def _predictions(self, tr: _Track) -> None:
        if not (tr.ballistic and tr.burnt_out and tr.status != "tentative"):
            return
        # re-predict every impact_interval_s of track time, or every 1 % of the
        # time still to go when that is longer (an ICBM an hour out)
        togo = tr.impact.t - tr.t if tr.impact is not None else 0.0
        if tr.t - tr.last_impact < max(self.cfg.impact_interval_s, 0.01 * togo):
            return
        if tr.impact is not None and tr.last_update <= tr.impact_basis:
            # coasting since the last prediction: no new information, and
            # propagating the prediction forward gives the same impact
            return
        tr.impact_basis = tr.last_update
        tr.last_impact = tr.t
        # the IMM's combined estimate: after burnout both models are the same
        # ballistic model and converge; just after it, the spread between them
        # (the thrust tail) is part of the honest uncertainty
        x, p = tr.combined()
        imp = predict_impact(x, p, tr.t, beta=self.cfg.beta)
        self.stats["impact_predictions"] += 1
        if imp is None:
            # at or below the ground, or not coming down within the horizon:
            # an earlier prediction stays (a coasting track reaching the
            # ground is then ended by _landed)
            if tr.impact is not None and height(x[None, :3])[0] <= 0.0:
                tr.dead = True
            return
        tr.impact = imp
        if tr.launch is not None and tr.t - tr.last_launch < 10.0:
            return
        tr.last_launch = tr.t
        launch = None
        if len(tr.early) >= 4:
            launch = launch_from_early(
                np.array([e[0] for e in tr.early]),
                np.stack([e[1] for e in tr.early]),
                np.array([e[2] for e in tr.early]),
            )
        if launch is None and tr.first is not None:
            x0, p0, t0 = tr.first
            _, _, h0 = ecef_to_geodetic(x0[:3])
            if float(h0) < 60_000.0:
                launch = launch_from_boost(x0, p0, t0)
        if launch is None:
            launch = launch_from_ballistic(
                x, p, tr.t, beta=self.cfg.beta, boost_sigma_m=self.cfg.boost_launch_sigma_m
            )
        tr.launch = launch

    # --- partner tracks (track-to-track fusion) -------------------------------------

    def _partner_track(self, env: Envelope, b: TrackBody) -> list[Envelope]:
        if b.status == "deleted" or b.status == "tentative":
            return []
        xb = np.array(b.state_ecef, dtype=np.float64)
        pb = np.array(b.cov, dtype=np.float64).reshape(6, 6)
        pb = 0.5 * (pb + pb.T)
        if not (np.all(np.isfinite(xb)) and np.all(np.isfinite(pb))):
            self.rejected["nan"] += 1
            return []
        if np.linalg.eigvalsh(pb)[0] <= 0.0:
            self.rejected["track_cov"] += 1
            return []
        if self._now - b.t > self.cfg.oosm_lag_s:
            self.rejected["too_late"] += 1
            return []
        tag = f"{env.partner}:{env.source}:{b.id}"
        live = [tr for tr in self._tracks.values() if tr.status != "tentative"]
        best: _Track | None = None
        best_d = self.cfg.t2t_gate
        for tr in live:
            if tag in tr.sources:
                best, best_d = tr, -1.0
                break
        if best is None and live:
            xc, pc = self._predict_all(self._gather(live, b.t))[3:5]
            dx = xc[:, :3] - xb[:3]
            s = pc[:, :3, :3] + pb[:3, :3]
            d2 = np.einsum("ni,ni->n", dx, np.linalg.solve(s, dx[..., None])[..., 0])
            i = int(np.argmin(d2))
            if d2[i] <= best_d:
                best = live[i]
        self._now = max(self._now, b.t)
        if best is None:
            tr = self._new_track(xb, pb, b.t, {tag}, {env.partner})
            tr.status = "confirmed"
            tr.id = self._issue_id()
            tr.cls = b.class_ if b.class_ != "ballistic" else "ballistic"
            if tr.cls == "ballistic":
                tr.phase = b.phase if b.phase in ("boost", "ballistic") else "ballistic"
                tr.burnt_out = tr.phase == "ballistic"
            self.stats["t2t_new"] += 1
            self._predictions(tr)
            return self._reports({tr.key}, env.sent)
        tr = best
        if b.t < tr.t:
            return []
        _, _, cbar, xc, pc, _ = self._predict_all(self._gather([tr], b.t))
        xf, pf, _ = covariance_intersection(xc[0], pc[0], xb, pb)
        tr.x = np.stack([xf, xf])
        tr.p = np.stack([pf, pf])
        tr.mu = cbar[0]
        tr.xc, tr.pc = xf, pf
        tr.t = b.t
        tr.hist.clear()
        tr.last_update = b.t
        tr.sources.add(tag)
        tr.partners.add(env.partner)
        if b.class_ == "ballistic" and tr.cls != "ballistic":
            tr.cls = "ballistic"
            tr.phase = "boost" if b.phase == "boost" else "ballistic"
            tr.burnt_out = tr.phase == "ballistic"
        if tr.status == "coasting":
            tr.status = "confirmed"
        self.stats["t2t_fused"] += 1
        return self._reports({tr.key}, env.sent)

    # --- lifecycle and output ----------------------------------------------------

    def _issue_id(self) -> str:
        tid = f"F-{self._next_id}"
        self._next_id += 1
        return tid

    def _housekeeping(self, t: float, sent: float) -> list[Envelope]:
        out: list[Envelope] = []
        quiet: list[_Track] = []  # confirmed, no update at t, report due
        due_before = t - self.cfg.report_interval_s + 1e-9
        established = 2 * self.cfg.confirm_n  # updates: not a track just confirmed from clutter
        for tr in list(self._tracks.values()):
            age = t - tr.last_update
            if tr.dead or self._landed(tr, t):
                if tr.status != "tentative":
                    tr.status = "deleted"
                    out.append(self._message(tr, sent))
                del self._tracks[tr.key]
                continue
            if tr.status == "tentative":
                win = tr.window
                if (
                    sum(win) + (self.cfg.confirm_n - len(win)) < self.cfg.confirm_m
                    or age > self.cfg.delete_tentative_s
                ):
                    del self._tracks[tr.key]
                continue
            limit = self.cfg.delete_ballistic_s if tr.ballistic else self.cfg.delete_air_s
            if tr.ballistic and tr.burnt_out and age > self.cfg.coast_after_s:
                # a coasting missile follows physics: keep predicting it (and
                # reporting the prediction) while its position is known to
                # better than coast_max_sigma_m, until it lands
                sig = math.sqrt(max(float(np.trace(tr.combined()[1][:3, :3])), 0.0))
                if sig > self.cfg.coast_max_sigma_m and age > limit:
                    tr.status = "deleted"
                    out.append(self._message(tr, sent))
                    del self._tracks[tr.key]
                    continue
                changed = tr.status != "coasting"
                tr.status = "coasting"
                if t - tr.t >= self.cfg.coast_report_s:
                    self._coast(tr, t)
                    self._predictions(tr)
                    changed = True
                if changed:
                    out.append(self._message(tr, sent))
                continue
            if age > limit:
                tr.status = "deleted"
                out.append(self._message(tr, sent))
                del self._tracks[tr.key]
            elif age > self.cfg.coast_after_s and tr.status == "confirmed":
                tr.status = "coasting"
                out.append(self._message(tr, sent))
            elif (
                tr.status == "confirmed"
                and tr.t < t
                and tr.updates >= established
                and max(tr.last_update, tr.last_predicted_report) <= due_before
            ):
                quiet.append(tr)
        if quiet:
            # an established confirmed track that no plot has updated for a
            # report interval is still reported once an interval: its
            # prediction to t, the track itself unchanged (consumers see that
            # it is alive and where it should be; until coast_after_s, when it
            # turns coasting). A track confirmed a moment ago is not: that
            # keeps a track born of clutter from being shown for seconds.
            _, _, _, xc, pc, ok = self._predict_all(self._gather(quiet, t))
            keep = ok.tolist()
            out.extend(
                self._messages(
                    [tr for tr, k in zip(quiet, keep, strict=True) if k],
                    sent,
                    [(t, xc[i], pc[i]) for i, k in enumerate(keep) if k],
                )
            )
        return out

    def _coast(self, tr: _Track, t: float) -> None:
        """Move a coasting track's estimate forward to ``t`` by prediction
        alone (kept: the state after its last update, for late reports)."""
        if tr.coast_from is None:
            tr.coast_from = (tr.x, tr.p, tr.mu, tr.t)
        xp, pp, cbar, xc, pc, _ = self._predict_all(self._gather([tr], t))
        tr.x, tr.p, tr.mu, tr.t = xp[0], pp[0], cbar[0], t
        tr.xc, tr.pc = xc[0], pc[0]
        self.stats["coast_steps"] += 1

    def _reports(self, changed: set[int], sent: float) -> list[Envelope]:
        due: list[_Track] = []
        for key in sorted(changed):
            tr = self._tracks.get(key)
            if tr is None:
                continue
            status_change = False
            if tr.status == "tentative" and sum(tr.window) >= self.cfg.confirm_m:
                twin = self._ballistic_twin(tr)
                if twin is not None:
                    # the same missile seen by a sensor that disagrees with the
                    # others (a bias): no second track; note the sensor
                    twin.sources |= tr.sources
                    twin.partners |= tr.partners
                    del self._tracks[tr.key]
                    self.stats["duplicates_suppressed"] += 1
                    continue
                tr.status = "confirmed"
                tr.id = self._issue_id()
                status_change = True
            if tr.status == "tentative" and not self.cfg.report_tentative:
                continue
            if status_change or tr.t - tr.last_report >= self.cfg.report_interval_s - 1e-9:
                if tr.cls == "ballistic":
                    self._predictions(tr)
                due.append(tr)
        out = self._messages(due, sent)
        out.extend(self._housekeeping(self._now, sent))
        return out

    def _ballistic_twin(self, tr: _Track) -> _Track | None:
        """A confirmed ballistic track that a track about to be confirmed
        duplicates: within ``dup_dist_m`` and ``dup_speed_mps`` + 3 sigma of
        it at the same time (straight-line extrapolation over the small time
        difference; a new track's velocity is poorly known).
        Only missiles: aircraft in formation keep their own tracks."""
        x, p = tr.combined()
        for other in self._tracks.values():
            if other is tr or not other.ballistic or other.status == "tentative" or other.dead:
                continue
            xo, po = other.combined()
            pos = xo[:3] + xo[3:] * (tr.t - other.t)
            vsig = math.sqrt(max(float(np.trace(p[3:, 3:]) + np.trace(po[3:, 3:])), 0.0))
            if (
                float(np.linalg.norm(pos - x[:3])) < self.cfg.dup_dist_m
                and float(np.linalg.norm(xo[3:] - x[3:])) < self.cfg.dup_speed_mps + 3.0 * vsig
            ):
                return other
        return None

    def _quality(self, tr: _Track, sig: float, t: float) -> float:
        """Track quality in [0, 1] (docs/fusion.md): the hit fraction of the
        confirmation window, times ``exp(-age / 30 s)`` for the time since the
        last measurement, times ``1 / (1 + (sigma_pos / 2 km)^2)`` (``sig`` the
        position sigma, ``sqrt(trace P_pos)``); for a missile past burnout with
        an impact prediction, also times ``1 / (1 + (a95 / 20 km)^2)`` with
        ``a95`` the ellipse's semi-major axis."""
        win = tr.window
        hits = min(1.0, sum(win) / len(win)) if win else 0.0
        age = t - tr.last_update
        q = hits * (math.exp(-age / 30.0) if age > 0.0 else 1.0) / (1.0 + (sig / 2000.0) ** 2)
        if tr.impact is not None and tr.phase == "ballistic":
            q /= 1.0 + (tr.impact.semi_major_m / 20_000.0) ** 2
        # to 3 decimals (floor(x + 0.5): a fraction of round()'s cost)
        return math.floor(min(1.0, max(0.0, q)) * 1000.0 + 0.5) / 1000.0

    def _message(self, tr: _Track, sent: float) -> Envelope:
        return self._messages([tr], sent)[0]

    def _messages(
        self, trs: list[_Track], sent: float, preds: list[tuple[float, F64, F64]] | None = None
    ) -> list[Envelope]:
        """Track messages for ``trs`` (in order), from the combined estimates,
        or from ``preds`` (time, state, covariance per track: a prediction
        reported without changing the track; it does not count against the
        report interval of updates)."""
        out: list[Envelope] = []
        partner_code, source = self.cfg.partner, self.cfg.source
        for i, tr in enumerate(trs):
            if preds is None:
                t_rep = tr.t
                xc, pc = tr.combined()
            else:
                t_rep, xc, pc = preds[i]
            xl = xc.tolist()
            pl = pc.ravel().tolist()
            if tr.id is None:
                tr.id = f"T-{tr.key}"
            sources, partners = tr.sorted_sources()
            if preds is None:
                tr.last_report = t_rep
            else:
                tr.last_predicted_report = t_rep
            launch = impact = None
            path = None
            if tr.launch is not None:
                la = tr.launch
                launch = LaunchEstimate(t=max(la.t, 0.0), lat=la.lat, lon=la.lon, sigma_m=la.sigma_m)
            if tr.impact is not None and tr.phase == "ballistic":
                im = tr.impact
                impact = ImpactPrediction(
                    t=im.t,
                    lat=im.lat,
                    lon=im.lon,
                    sigma_t_s=im.sigma_t_s,
                    ellipse=Ellipse(
                        semi_major_m=im.semi_major_m, semi_minor_m=im.semi_minor_m, bearing_deg=im.bearing_deg
                    ),
                )
                # the ground track ahead: where the track is now, then the
                # predicted points still in the future (ending at the impact)
                plat, plon, _ = ecef_to_geodetic(xc[:3])
                path = [[round(float(plat), 5), round(float(plon), 5), round(t_rep, 3)]]
                path.extend(pt for pt in im.path if pt[2] > t_rep + 1e-6)
            body = TrackBody(
                id=tr.id,
                t=t_rep,
                state_ecef=xl,
                cov=pl,
                status=tr.status,  # type: ignore[arg-type]
                class_=tr.cls,  # type: ignore[arg-type]
                sources=sources,
                partners=partners,
                launch=launch,
                impact=impact,
                phase=tr.phase,  # type: ignore[arg-type]
                quality=self._quality(tr, math.sqrt(max(pl[0] + pl[7] + pl[14], 0.0)), t_rep),
                path=path,
            )
            self._seq += 1
            out.append(
                Envelope(
                    v=1,
                    kind="track",
                    partner=partner_code,
                    source=source,
                    seq=self._seq,
                    sent=sent,
                    body=body,
                )
            )
        return out
