"""Estimation: IMM prediction and update of the tracks' states.

Every track carries a two-model IMM (quiet + manoeuvre/boost) of extended (or
unscented) Kalman filters over the ECEF state ``[r, v]``; :class:`Estimator`
predicts a batch of tracks to a time (nearly-constant-velocity dynamics for
air and unknown tracks, ballistic dynamics with J2 and drag for ballistic
ones; :mod:`tocsin.fusion.models`, compiled kernels in
:mod:`tocsin.fusion.kernels`), updates them with one measurement each, and
applies a report older than a track's last update by buffered re-filtering
of the track's last ``oosm_lag_s`` seconds (:meth:`Estimator.refilter`).
Process-noise densities and sojourn times per track: docs/fusion.md.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.forces import DRAG_CEILING_M
from tocsin.fusion import kernels
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.filters import ekf_update, imm_probabilities, ukf_update
from tocsin.fusion.measurements import RADAR, Meas, MeasArrays, stack, take
from tocsin.fusion.models import (
    ballistic_predict,
    los_residual,
    ncv_predict,
    radar_predict,
    radar_residual,
    tangent_basis,
    white_accel_q,
)
from tocsin.fusion.track import Track

F64 = NDArray[np.float64]


class Gathered(NamedTuple):
    """IMM states and per-track model parameters of a list of tracks
    (:meth:`Estimator.gather`)."""

    x: F64
    p: F64
    mu: F64
    dt: F64
    q0: F64
    q1: F64
    tau0: F64
    tau1: F64
    code: NDArray[np.int64]


class Estimator:
    """IMM prediction, update and late-report re-filtering of tracks
    (``stats["oosm_refiltered"]`` counts re-filters)."""

    def __init__(self, cfg: TrackerConfig, stats: Counter[str]) -> None:
        self.cfg = cfg
        self.stats = stats

    def gather(self, trs: list[Track], t: float) -> Gathered:
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
        return Gathered(x, np.array(ps), np.array(mus), dt, q0, q1, tau0, tau1, code)

    def predict_models(
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

    def predict(self, trs: list[Track], t: float) -> tuple[F64, F64, F64]:
        """Mixed and predicted model states of ``trs`` at ``t`` and ``cbar``."""
        return self.predict_all(self.gather(trs, t))[:3]

    def predict_all(self, g: Gathered) -> tuple[F64, F64, F64, F64, F64, NDArray[np.bool_]]:
        """:meth:`predict` of gathered tracks, and the combined prediction
        ``(xc, pc)`` with which rows are physical
        (:func:`tocsin.fusion.kernels.physical`)."""
        x, p, mu, dt, q0, q1, tau0, tau1, code = g
        bal = (code & 1) > 0
        if not bal.any():
            return kernels.predict_ncv_imm(x, p, mu, dt, tau0, tau1, q0, q1)
        x0, p0, cbar = kernels.imm_mix(x, p, mu, dt, tau0, tau1)
        xp, pp = self.predict_models(x0, p0, dt, bal, q0, q1)
        xc, pc = kernels.imm_combine(xp, pp, cbar)
        return xp, pp, cbar, xc, pc, kernels.physical(xc, pc)

    @staticmethod
    def residual(xf: F64, arr: MeasArrays) -> tuple[F64, F64, F64]:
        """Residuals, Jacobians and noise for rows ``xf (M, 6)`` against the
        measurement arrays ``arr`` (one measurement per row)."""
        kind, z, r, site, rot = arr
        if kind == RADAR:
            zh, h = radar_predict(xf, site, rot, z.shape[1] == 4)
            return radar_residual(z, zh), h, r
        nu, h = los_residual(xf, site, z)
        return nu, h, r

    @staticmethod
    def ukf(x: F64, p: F64, arr: MeasArrays) -> tuple[F64, F64, F64, F64, int]:
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

    def update(
        self,
        trs: list[Track],
        arr: MeasArrays,
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
            self.write(trs, xn, pn, mu, xc, pc, t)
            return xc, pc
        if rows is not None:
            xp, pp, cbar, arr = xp[rows[0]], pp[rows[0]], cbar[rows[0]], take(arr, rows[1])
        rep = np.repeat(np.arange(n), 2)
        if self.cfg.filter == "ukf":
            xn, pn, d2, logdet, mdim = self.ukf(xp.reshape(2 * n, 6), pp.reshape(2 * n, 6, 6), take(arr, rep))
        else:
            nu, h, r = self.residual(xp.reshape(2 * n, 6), take(arr, rep))
            xn, pn, d2, logdet = ekf_update(xp.reshape(2 * n, 6), pp.reshape(2 * n, 6, 6), nu, h, r)
            mdim = nu.shape[1]
        mu = imm_probabilities(cbar, d2.reshape(n, 2), logdet.reshape(n, 2), mdim)
        xn = xn.reshape(n, 2, 6)
        pn = pn.reshape(n, 2, 6, 6)
        xc, pc = kernels.imm_combine(xn, pn, mu)
        self.write(trs, xn, pn, mu, xc, pc, t)
        return xc, pc

    @staticmethod
    def write(trs: list[Track], xn: F64, pn: F64, mu: F64, xc: F64, pc: F64, t: F64) -> None:
        """Store updated IMM states (rows, in the order of ``trs``)."""
        for i, ti in enumerate(t.tolist()):
            tr = trs[i]
            tr.x, tr.p, tr.mu, tr.t = xn[i], pn[i], mu[i], ti
            tr.xc, tr.pc = xc[i], pc[i]
            tr.coast_from = None

    def refilter(self, tr: Track, m: Meas) -> bool:
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
            xp, pp, cbar = self.predict([tr], mm.t)
            self.update([tr], stack([mm]), xp, pp, cbar, np.array([mm.t]))
        self.stats["oosm_refiltered"] += 1
        return True
