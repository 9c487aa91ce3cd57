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

import math
from collections import Counter
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.forces import DRAG_CEILING_M
from tocsin.fusion import consider, drag, kernels, separation
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.filters import ekf_update, imm_probabilities, ukf_update
from tocsin.fusion.impact import sensor_bias_columns
from tocsin.fusion.measurements import (
    RADAR,
    REC_KIND,
    REC_R,
    REC_ROT,
    REC_SENSOR,
    REC_SITE,
    REC_T,
    REC_Z,
    Meas,
    MeasArrays,
    MeasRecord,
    stack,
    take,
)
from tocsin.fusion.models import (
    ballistic_predict,
    los_residual,
    ncv_predict,
    radar_predict,
    radar_residual,
    tangent_basis,
)
from tocsin.fusion.propagate import height
from tocsin.fusion.track import Track

F64 = NDArray[np.float64]


def along_accel_q(v0: F64, v1: F64, dt: float, q: float) -> F64:
    """Process noise ``(6, 6)`` of a white acceleration of density ``q``
    along one direction over ``|dt|``: the velocity's, the mean of its
    directions before (``v0``) and after (``v1``) the step. A thrust along
    the velocity (a rocket's, give or take its steering): what it adds to
    the position and velocity stays on that line, so an estimate of the
    thrust from the axes a sensor sees carries to the axis it does not."""
    e = v0 / max(float(np.linalg.norm(v0)), 1e-9) + v1 / max(float(np.linalg.norm(v1)), 1e-9)
    e = e / max(float(np.linalg.norm(e)), 1e-9)
    ee = np.outer(e, e)
    a = abs(dt)
    out = np.empty((6, 6))
    out[:3, :3] = (q * a**3 / 3.0) * ee
    out[:3, 3:] = (q * a**2 / 2.0) * ee
    out[3:, :3] = out[:3, 3:]
    out[3:, 3:] = (q * a) * ee
    return out


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
    key: NDArray[np.int64]
    t0: F64
    """The tracks' own times (``dt`` is from these)."""
    drag: NDArray[np.object_] | None
    """Each track's :class:`~tocsin.fusion.drag.DragBank` to predict member by
    member, or None (None: no track has a bank)."""
    beta: F64 | None
    """Each track's ballistic coefficient for its IMM prediction (its bank's
    mean, else ``TrackerConfig.beta``; NaN: none); None: ``beta`` for all."""
    thrust: F64 | None = None
    """Per track, the density (m^2/s^3) of the manoeuvre model's acceleration
    noise along its velocity (0: none; ``TrackerConfig.los_thrust``); None:
    none for all."""
    ballistic: bool = True
    """Whether a row may be ballistic (``code`` bit 0; False: none is, and
    :meth:`Estimator.predict_all` takes the compiled NCV path at once)."""

    def take(self, idx: NDArray[np.int64]) -> Gathered:
        """The rows ``idx``."""
        drag, beta, thrust = self.drag, self.beta, self.thrust
        return Gathered(
            self.x[idx],
            self.p[idx],
            self.mu[idx],
            self.dt[idx],
            self.q0[idx],
            self.q1[idx],
            self.tau0[idx],
            self.tau1[idx],
            self.code[idx],
            self.key[idx],
            self.t0[idx],
            None if drag is None else drag[idx],
            None if beta is None else beta[idx],
            None if thrust is None else thrust[idx],
            self.ballistic,
        )


class Estimator:
    """IMM prediction, update and late-report re-filtering of tracks
    (``stats["oosm_refiltered"]`` counts re-filters, ``stats["coast_steps"]``
    predictions without a plot).

    A track with a split drag bank (:mod:`tocsin.fusion.drag`) is predicted
    and updated member by member; its IMM states both hold the members'
    mixture. Member predictions made for a time wait in ``_bank_pred`` until
    an update or a coast step at that time takes them."""

    def __init__(self, cfg: TrackerConfig, stats: Counter[str]) -> None:
        self.cfg = cfg
        self.stats = stats
        self._bank_pred: dict[int, tuple[float, F64, F64, drag.DragBank]] = {}
        # imm_params' settings in its order (q_air, q_ballistic,
        # q_ballistic_vacuum, q_maneuver, q_boost, the drag ceiling, tau,
        # tau_air_quiet, tau_air_maneuver), as kernels.imm_params_rows and
        # kernels.air_radar_scan take them
        self._par = np.array(
            [
                cfg.q_air,
                cfg.q_ballistic,
                cfg.q_ballistic_vacuum,
                cfg.q_maneuver,
                cfg.q_boost,
                DRAG_CEILING_M,
                cfg.imm_tau_s,
                cfg.imm_tau_air_quiet_s,
                cfg.imm_tau_air_maneuver_s,
            ]
        )

    def gather(self, trs: list[Track], t: float, los: bool = False) -> Gathered:
        """The IMM states of ``trs`` as arrays ``x (N, 2, 6)``, ``p``,
        ``mu``, the steps ``dt`` to ``t``, the per-track process-noise
        densities of the quiet and the manoeuvre model ``q0, q1`` and mean
        sojourn times ``tau0, tau1`` (:func:`tocsin.fusion.kernels.imm_params`:
        the manoeuvre model covers thrust, ``q_boost``, until a track is known
        to be an aircraft or a missile past burnout; a ballistic track's quiet
        density drops to ``q_ballistic_vacuum`` above the drag ceiling, where
        nothing unmodelled is left but J3+ gravity), the tracks' class codes
        (bit 0 ballistic, 1 past burnout, 2 aircraft, 3 tentative).

        ``los``: for a scan of lines of sight. Space infrared sees only
        burning motors, and one line of sight fixes the two axes across it,
        not the one along it. A missile that has been past a burnout (an upper
        stage, the stack after a separation) and that no radar plot or partner
        track has placed for ``lost_after_s`` (:attr:`Track.last_fix`: beyond
        every radar; a radar's gap of a few seconds beside a burning lower
        stage is not that) is then predicted with a thrust model
        (``los_thrust``): its manoeuvre
        model's acceleration noise lies along its velocity (``q_boost``),
        with ``q_los_thrust_cross`` across it. With isotropic noise nothing
        ties the motion along the line of sight to what the lines of sight
        show across it: an orbit-insertion burn seen only by one
        geostationary sensor was gated out within 10 s as the coasting
        prediction fell behind (MC SLV seed 1 index 69: payload lost for
        64 s while reported). Not for a spent stage or debris seen coasting:
        it has no motor left (:meth:`Ballistic.burnout_test
        <tocsin.fusion.ballistic.Ballistic.burnout_test>`); the payload's
        burn starts beside the spent stage it parted from and coasted with,
        and a thrust model on that stage's track let it follow the first
        lines of sight of the burn (SLV index 69: stage 2 impact error 3.4 ->
        16 km)."""
        xs, ps, mus, ts, codes, keys = [], [], [], [], [], []
        banks = False
        nbal = 0
        for tr in trs:
            xs.append(tr.x)
            ps.append(tr.p)
            mus.append(tr.mu)
            ts.append(tr.t)
            keys.append(tr.key)
            banks = banks or tr.drag is not None
            cls = tr.cls
            bal = cls == "ballistic"
            nbal += bal
            codes.append(
                bal
                + 2 * tr.burnt_out
                + 4 * (cls == "air")
                + 8 * (tr.status == "tentative")
                + 16 * tr.manoeuvring
            )
        x = np.array(xs)
        code = np.array(codes, dtype=np.int64)
        cfg = self.cfg
        q0, q1, tau0, tau1 = kernels.imm_params_rows(code, x, *self._par)
        t0 = np.array(ts)
        dt = t - t0
        drag = beta = None
        if banks:
            # member by member: split (or to be split) banks of missiles not
            # manoeuvring; the others fly with their bank's mean beta
            drag = np.empty(len(trs), dtype=object)
            drag[:] = [None if tr.manoeuvring else tr.drag for tr in trs]
            b0 = math.nan if cfg.beta is None else cfg.beta
            beta = np.array([b0 if tr.drag is None else math.exp(tr.drag.mean_lnb()) for tr in trs])
            for i, tr in enumerate(trs):
                # in the air, a missile's second model allows a manoeuvre
                if tr.drag is not None and (
                    tr.manoeuvring or tr.drag.split or float(height(tr.x[0:1, :3])[0]) < cfg.drag_split_alt_m
                ):
                    q1[i] = cfg.q_reentry_maneuver
        if nbal and ((code & 3) == 3).any():
            # a missile just past burnout: the next stage may light; or one
            # that a space-infrared line of sight took within los_burn_s: a
            # motor burns on it (space infrared sees nothing else), seen by
            # radars too (MC SLV seed 1 index 167: a radar saw the payload's
            # orbit-insertion burn, its plots fell out of the ballistic gate
            # after ~12 s of it; 34: the same)
            for i, tr in enumerate(trs):
                if (
                    tr.burnt_out
                    and tr.cls == "ballistic"
                    and tr.status == "confirmed"
                    and (
                        t - tr.burnout_t < cfg.restart_window_s
                        or (
                            t - tr.last_los < cfg.los_burn_s
                            and not (tr.role in separation.SPENT and tr.coast_seen)
                        )
                    )
                ):
                    q1[i] = cfg.q_boost
        thrust = None
        if los and cfg.los_thrust and nbal:
            th = np.zeros(len(trs))
            for i, tr in enumerate(trs):
                if (
                    tr.cls == "ballistic"
                    and tr.status != "tentative"
                    and tr.burnout_t > -math.inf
                    and t - tr.last_fix > cfg.lost_after_s
                    and not (tr.role in separation.SPENT and tr.coast_seen)
                ):
                    th[i] = cfg.q_boost
                    q1[i] = cfg.q_los_thrust_cross
            if th.any():
                thrust = th
        key = np.array(keys, dtype=np.int64)
        return Gathered(
            x,
            np.array(ps),
            np.array(mus),
            dt,
            q0,
            q1,
            tau0,
            tau1,
            code,
            key,
            t0,
            drag,
            beta,
            thrust,
            nbal > 0,
        )

    def _air_rows(self, trs: list[Track]) -> tuple[F64, F64, F64, F64, NDArray[np.int64]] | None:
        """The IMM states, times and class codes (:meth:`gather`'s) of
        ``trs`` when none is ballistic or has a drag bank (None otherwise)."""
        xs, ps, mus, ts, codes = [], [], [], [], []
        for tr in trs:
            cls = tr.cls
            if cls == "ballistic" or tr.drag is not None:
                return None
            xs.append(tr.x)
            ps.append(tr.p)
            mus.append(tr.mu)
            ts.append(tr.t)
            # Estimator.gather's code (bit 0, ballistic, is clear here)
            codes.append(
                2 * tr.burnt_out + 4 * (cls == "air") + 8 * (tr.status == "tentative") + 16 * tr.manoeuvring
            )
        return np.array(xs), np.array(ps), np.array(mus), np.array(ts), np.array(codes, dtype=np.int64)

    def air_predict(self, trs: list[Track], t: float) -> tuple[F64, F64, NDArray[np.bool_]] | None:
        """``predict_all(gather(trs, t))``'s combined prediction and
        physical rows in one compiled call (:func:`tocsin.fusion.kernels.air_predict`)
        for tracks none of which is ballistic or has a drag bank, a line of
        sight aside (None: not such tracks)."""
        got = self._air_rows(trs)
        if got is None:
            return None
        x, p, mu, t0, code = got
        return kernels.air_predict(x, p, mu, t0, code, t, self._par)

    def air_radar_scan(
        self,
        trs: list[Track],
        t: float,
        arr: MeasArrays,
        plots: tuple[F64, F64],
        gate: float,
        model_gate: bool,
    ) -> tuple[NDArray[np.int64], F64, NDArray[np.int64], tuple[F64, F64, F64, F64, F64]] | None:
        """The all-air radar scan in one compiled call
        (:func:`tocsin.fusion.kernels.air_radar_scan`: pre-gate, prediction,
        gate, the manoeuvre model's gate, and the EKF update when the
        assignment is the gated pairs themselves) for tracks none of which is
        ballistic or has a drag bank, with the EKF: the kept rows, their
        combined prediction, the gated pairs and the pairs' updated
        ``(x, P, mu, xc, pc)``, nothing written to the tracks. None: not such
        a scan, or one the step-by-step path must take (:meth:`gather`,
        :meth:`predict_all`, :class:`~tocsin.fusion.association.Associator`,
        :meth:`update`: the same kernels, the same bits)."""
        if self.cfg.filter != "ekf":
            return None
        got = self._air_rows(trs)
        if got is None:
            return None
        status, rows, xc, pairs, xn, pn, mu, xcn, pcn = kernels.air_radar_scan(
            *got,
            t,
            self._par,
            plots[0],
            plots[1],
            arr[1],
            arr[3],
            arr[4],
            arr[2],
            gate,
            model_gate,
        )
        if status:
            return None
        return rows, xc, pairs, (xn, pn, mu, xcn, pcn)

    def predict_models(
        self,
        x: F64,
        p: F64,
        dt: F64,
        bal: NDArray[np.bool_],
        q0: F64,
        q1: F64,
        beta: F64 | None = None,
        thrust: F64 | None = None,
    ) -> tuple[F64, F64]:
        """Predict ``(N, 2, 6)`` model states by ``dt (N,)`` (some ballistic;
        ``beta``: per track, else ``TrackerConfig.beta``; ``thrust``: per
        track, the manoeuvre model's acceleration noise density along its
        velocity, :attr:`Gathered.thrust`)."""
        n = x.shape[0]
        xf = x.reshape(2 * n, 6)
        pf = p.reshape(2 * n, 6, 6)
        d2 = np.repeat(dt, 2)
        b2 = np.repeat(bal, 2)
        q2 = np.stack([q0, q1], axis=1).ravel()
        bb: float | F64 | None = self.cfg.beta
        if beta is not None and self.cfg.beta is not None:
            bb = np.repeat(beta, 2)
        if bal.all():
            xp, fm = ballistic_predict(xf, d2, beta=bb)
        else:
            xp = np.empty_like(xf)
            fm = np.empty_like(pf)
            xp[~b2], fm[~b2] = ncv_predict(xf[~b2], d2[~b2])
            xp[b2], fm[b2] = ballistic_predict(
                xf[b2], d2[b2], beta=bb if bb is None or np.ndim(bb) == 0 else np.asarray(bb)[b2]
            )
        pp = kernels.cov_predict(fm, np.ascontiguousarray(pf), d2, q2)
        pp = pp.reshape(n, 2, 6, 6)
        xp = xp.reshape(n, 2, 6)
        if thrust is not None:
            for i in np.flatnonzero(thrust > 0.0).tolist():
                pp[i, 1] += along_accel_q(x[i, 1, 3:], xp[i, 1, 3:], float(dt[i]), float(thrust[i]))
        return xp, pp

    def predict(self, trs: list[Track], t: float, los: bool = False) -> tuple[F64, F64, F64]:
        """Mixed and predicted model states of ``trs`` at ``t`` and ``cbar``
        (``los``: for a line of sight, :meth:`gather`)."""
        return self.predict_all(self.gather(trs, t, los))[:3]

    def predict_all(self, g: Gathered) -> tuple[F64, F64, F64, F64, F64, NDArray[np.bool_]]:
        """:meth:`predict` of gathered tracks, and the combined prediction
        ``(xc, pc)`` with which rows are physical
        (:func:`tocsin.fusion.kernels.physical`)."""
        x, p, mu, dt, q0, q1, tau0, tau1, code, _, _, drag, beta, thrust, maybe_bal = g
        if not maybe_bal:
            return kernels.predict_ncv_imm(x, p, mu, dt, tau0, tau1, q0, q1)
        bal = (code & 1) > 0
        if not bal.any():
            return kernels.predict_ncv_imm(x, p, mu, dt, tau0, tau1, q0, q1)
        x0, p0, cbar = kernels.imm_mix(x, p, mu, dt, tau0, tau1)
        xp, pp = self.predict_models(x0, p0, dt, bal, q0, q1, beta, thrust)
        xc, pc = kernels.imm_combine(xp, pp, cbar)
        ok = kernels.physical(xc, pc)
        if drag is not None:
            self._predict_banks(g, xp, pp, cbar, xc, pc, ok)
        return xp, pp, cbar, xc, pc, ok

    def _predict_banks(
        self, g: Gathered, xp: F64, pp: F64, cbar: F64, xc: F64, pc: F64, ok: NDArray[np.bool_]
    ) -> None:
        """Member by member prediction of the tracks with drag banks that are
        split, or low enough to split (``drag_split_alt_m``): the members'
        mixture is their quiet model (row 0 of ``xp, pp``; the manoeuvre
        model, row 1, is the IMM's own), and ``xc, pc, ok`` are recombined;
        the members wait in ``_bank_pred``. A bank whose quiet model more
        probably starts from the manoeuvre model's state restarts from the
        IMM's mixed prior first (``bank_interaction``, :func:`tocsin.fusion.drag.interact`)."""
        assert g.drag is not None
        cfg = self.cfg
        for i, bank in enumerate(g.drag.tolist()):
            if bank is None:
                continue
            if bank.x is None:
                x0, p0 = kernels.imm_combine(g.x[i : i + 1], g.p[i : i + 1], g.mu[i : i + 1])
                if float(height(x0[:, :3])[0]) > cfg.drag_split_alt_m:
                    continue
                bank = drag.split(bank, x0[0], p0[0])
            dt = float(g.dt[i])
            if cfg.bank_interaction:
                # the IMM's mixing for the quiet model: w1 = mu1 p10 / cbar0 is
                # the probability that the quiet model's prior is the manoeuvre
                # model's state. Where that is the more probable origin (the
                # quiet model's probability has collapsed: no plot fits the
                # members any more) the members restart from the mixed prior;
                # otherwise they fly on from their own states (a static
                # multiple-model bank: mixing them a little towards the
                # manoeuvre model, which flies the mean beta, at every plot
                # blurred what they learn about beta: irbm-over-hokkaido's
                # 180-s impact error 295 -> 1,823 m, srbm-salvo's 998 -> 1,433 m)
                p10 = 1.0 - math.exp(-abs(dt) / float(g.tau1[i]))
                w1 = float(g.mu[i, 1]) * p10 / max(float(cbar[i, 0]), 1e-12)
                if w1 > 0.5:
                    bank = drag.interact(bank, 1.0 - w1, g.x[i, 1], g.p[i, 1])
                    self.stats["bank_restarts"] += 1
            xs, ps = drag.predict(bank, dt, cfg.q_ballistic, cfg.q_ballistic_vacuum)
            if cfg.bank_air_drift and cfg.density_corr_m > 0.0:
                # the drag it reads moves with the air it comes down through
                w = bank.weights
                hh = height(np.stack([w @ bank.x, w @ xs])[:, :3])
                moved = drag.drift_air(
                    bank.with_states(xs, ps), float(hh[0]), float(hh[1]), cfg.density_corr_m
                )
                assert moved.x is not None
                assert moved.p is not None
                bank, xs, ps = moved.with_states(bank.x, bank.p), moved.x, moved.p
            xm, pm = drag.mixture(bank.with_states(xs, ps))
            self._bank_pred[int(g.key[i])] = (float(g.t0[i]) + dt, xs, ps, bank)
            xp[i, 0] = xm
            pp[i, 0] = pm
            c, cp = kernels.imm_combine(xp[i : i + 1], pp[i : i + 1], cbar[i : i + 1])
            xc[i] = c[0]
            pc[i] = cp[0]
            ok[i] = bool(kernels.physical(c, cp)[0])

    def _take_bank_at(self, tr: Track, t: float) -> drag.DragBank | None:
        """The members of ``tr`` predicted to ``t`` (None: none waiting)."""
        pend = self._bank_pred.pop(tr.key, None)
        if pend is None or abs(pend[0] - t) > 1e-9:
            return None
        _, xs, ps, bank = pend
        return bank.with_states(xs, ps)

    def _update_banks(
        self, trs: list[Track], arr: MeasArrays, mj: NDArray[np.int64], t: F64, xc: F64, pc: F64
    ) -> None:
        """Member by member update of the tracks (already updated as IMMs,
        in the order of ``trs``, track ``k`` taking measurement ``mj[k]`` at
        ``t[k]``) whose drag banks were predicted: each member's EKF update and
        likelihood; the members' mixture is the quiet model (the manoeuvre
        model and the model probabilities are the IMM's); the rows of ``xc,
        pc`` are recombined. A track whose manoeuvre model has taken over
        (``maneuver_prob``) is manoeuvring: the drag model no longer holds,
        the bank keeps only its belief about beta, and the IMM goes on."""
        for k, tr in enumerate(trs):
            if tr.drag is None:
                continue
            pend = self._take_bank_at(tr, float(t[k]))
            if pend is None:
                continue
            n = pend.lnb.shape[0]
            assert pend.x is not None
            assert pend.p is not None
            if arr[0] == RADAR:
                j = int(mj[k])
                xn, pn, d2, logdet = kernels.update_radar_rows(
                    pend.x, pend.p, arr[1][j], arr[3][j], arr[4][j], arr[2][j]
                )
                bank, _ = drag.reweight(pend, xn, pn, d2, logdet)
            else:
                nu, h, r = self.residual(pend.x, drag.residual_rows(take(arr, mj[k : k + 1]), n))
                bank, _ = drag.update(pend, pend.x, pend.p, nu, h, r)
            if not self._reads_beta(tr, pend, float(t[k])):
                # the members follow the plot; the belief about beta stays
                bank = bank.with_states(bank.x, bank.p, pend.logw)
            else:
                # where it read the drag (the air's departure it takes in)
                bank = drag.note_read(bank, pend.weights @ pend.x)
            xm, pm = drag.mixture(bank)
            tr.x = np.stack([xm, tr.x[1]])
            tr.p = np.stack([pm, tr.p[1]])
            c, cp = kernels.imm_combine(tr.x[None], tr.p[None], tr.mu[None])
            tr.xc, tr.pc = c[0], cp[0]
            xc[k] = c[0]
            pc[k] = cp[0]
            tr.drag = bank
            # within restart_window_s of burnout the second model is thrust
            # (a next stage), not a re-entry manoeuvre: no verdict from it
            thrust = float(t[k]) - tr.burnout_t < self.cfg.restart_window_s
            lead = float(tr.mu[1]) > self.cfg.maneuver_prob and not thrust
            tr.nis_hits = [*tr.nis_hits[-1:], lead]
            if all(tr.nis_hits) and len(tr.nis_hits) == 2:
                # the manoeuvre model has explained the plots twice running
                tr.nis_hits = []
                if tr.phase == "ballistic" and float(xm[:3] @ xm[3:]) < 0.0:
                    # on the way down through the air: a re-entry manoeuvre
                    # (pull-up, glide, dive); the drag model no longer holds
                    tr.declare_manoeuvre()
                    self.stats["manoeuvres"] += 1
                elif tr.burnt_out and not (tr.role in separation.SPENT and tr.coast_seen):
                    # on the way up it is thrust: a next stage after the restart
                    # window, or the stack that carried on burning after a
                    # separation (confirmed as a coasting child). Taken for a
                    # manoeuvre, a lofted ICBM's re-entry vehicle carried the
                    # manoeuvre noise into every later impact (8,000-km
                    # ellipses in space); left to the drag bank, thrust read as
                    # drag made it "debris" 590 km short (MC seed 1 index 5)
                    tr.reignite()
                    self.stats["reignitions"] += 1

    def _reads_beta(self, tr: Track, bank: drag.DragBank, t: float) -> bool:
        """Whether a plot at ``t`` tells the bank of a separated piece
        anything about ``beta`` (members ``bank.x`` predicted to ``t``): not
        above the drag ceiling,
        where no member feels any air, nor within ``restart_window_s`` of the
        track's burnout (a separated child: of its confirmation), where the
        tracker itself still allows thrust and the state is still converging
        from it. Weights moved there are moved by something else than the
        air: in vacuum the members' likelihoods differ only by how their
        states and covariances came out of the air, so whatever the model does
        not explain (a radar's registration bias, a close sibling's plots; not
        traced further) moves them; within the window the thrust's transient
        reads as drag. Monte Carlo seed 1, biased radars: MRBM
        #59's spent stage (``beta`` 466) drifted over 400 s of vacuum to
        ``debris`` (mean ``beta`` ~15), 25 km off (coverage 0.60); #38's
        (``beta`` 962) was read as ``beta`` ~130 on its way up within 20 s
        of its burnout and predicted 18-19 km short under a 13-km ellipse for
        450 s (coverage 0.15); both 1.00 with the weights kept there
        (tests/fusion/test_drag_learning.py). Confined to separated pieces:
        for every track it also moved the drills' SRBMs (freedom-edge impact
        errors at 120-300 s up by 100-1,000 m, junk-flood's time to correct
        60 -> 223 s: the window's drag after a clean burnout is real), and no
        single missile's vacuum drift was measured."""
        if not tr.separated:
            # measured on separated pieces only (below); a single missile's
            # bank learns as before
            return True
        if t - tr.burnout_t < self.cfg.restart_window_s:
            return False
        assert bank.x is not None
        return float(np.min(height(bank.x[:, :3]))) <= DRAG_CEILING_M

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
        mj_all = rows[1] if rows is not None else np.arange(n)
        # the tracks' predicted model states (the bias sensitivity's gains)
        prior = None
        if self.cfg.bias_sensitivity:
            prior = (xp[rows[0]], pp[rows[0]]) if rows is not None else (xp, pp)
        if self.cfg.filter == "ekf" and arr[0] == RADAR:
            ti, mj = rows if rows is not None else (np.arange(n), np.arange(n))
            xn, pn, mu, xc, pc = kernels.update_radar(xp, pp, cbar, ti, arr[1], arr[3], arr[4], arr[2], mj)
            self.write(trs, xn, pn, mu, xc, pc, t)
            if self._bank_pred:
                self._update_banks(trs, arr, mj_all, t, xc, pc)
            if prior is not None:
                self.bias_sens(trs, prior[0], prior[1], t)
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
        if self._bank_pred:
            self._update_banks(trs, arr, mj_all, t, xc, pc)
        if prior is not None:
            self.bias_sens(trs, prior[0], prior[1], t)
        return xc, pc

    def bias_sens(self, trs: list[Track], xp: F64, pp: F64, t: F64) -> None:
        """The filter's sensitivity to its radars' biases
        (:mod:`tocsin.fusion.consider`) after the update just made of each
        ballistic track of ``trs`` (its predicted model states ``xp[k], pp[k]``,
        the plot the newest entry of its ``hist``, its model probabilities
        already updated): carried from its last entry by the ballistic
        transition (``Phi S``), then ``(I - K H) S + K`` with the combined
        estimate's gain. A track with no entry yet (just started, or just
        called ballistic) starts from the flight turned rigidly by its
        radars' biases (:func:`tocsin.fusion.impact.sensor_bias_columns` of its
        history: the filter has followed the plots it was started from in
        full)."""
        cfg = self.cfg
        sig = np.array(
            [
                cfg.bias_range_m,
                math.radians(cfg.bias_angle_deg),
                math.radians(cfg.bias_angle_deg),
                cfg.bias_rr_mps,
            ]
        )
        if not np.any(sig > 0.0):
            return
        todo: list[tuple[int, Track, MeasRecord]] = []
        for k, tr in enumerate(trs):
            if not tr.ballistic or not tr.hist:
                continue
            rec = tr.hist[-1][0]
            if rec[REC_T] != float(t[k]):
                continue
            todo.append((k, tr, rec))
        if not todo:
            return
        # the last entries carried to the plots' time, in one call
        moved = [
            (i, tr.bias_sens[-1])
            for i, (_, tr, _) in enumerate(todo)
            if tr.bias_sens and float(t[todo[i][0]]) != tr.bias_sens[-1][0]
        ]
        phis: dict[int, F64] = {}
        if moved:
            x0 = np.stack([e[1] for _, e in moved])
            dts = np.array([float(t[todo[i][0]]) - e[0] for i, e in moved])
            betas = np.array([self._sens_beta(todo[i][1]) for i, _ in moved])
            _, phi = ballistic_predict(x0, dts, beta=betas)
            phis = {i: phi[n] for n, (i, _) in enumerate(moved)}
        for i, (k, tr, rec) in enumerate(todo):
            x_new, _ = tr.combined()
            if tr.bias_sens:
                s = tr.bias_sens[-1][2]
                if i in phis:
                    s = consider.propagate(s, phis[i])
            else:
                recent = [h[0] for h in tr.hist[:-1] if float(t[k]) - h[0][REC_T] <= cfg.oosm_lag_s]
                cols = sensor_bias_columns(xp[k, 0], recent, float(sig[0]), float(sig[1]), float(sig[3]))
                s = consider.padded(cols or {})
            xm = xp[k]
            if rec[REC_KIND] == RADAR:
                nm = rec[REC_Z].shape[0]
                site = np.broadcast_to(rec[REC_SITE], (2, 3))
                rot = np.broadcast_to(rec[REC_ROT], (2, 3, 3))
                _, hm = radar_predict(xm, np.ascontiguousarray(site), np.ascontiguousarray(rot), nm == 4)
                sensor: str | None = rec[REC_SENSOR]
            else:
                site = np.broadcast_to(rec[REC_SITE], (2, 3))
                z = np.broadcast_to(rec[REC_Z], (2, 3))
                _, hm = los_residual(xm, np.ascontiguousarray(site), np.ascontiguousarray(z))
                sensor = None
            kg, kh = consider.effective_gain(pp[k], hm, rec[REC_R], tr.mu)
            s = consider.update(s, kg, kh, sensor, sig)
            ent = tr.bias_sens
            ent.append((float(t[k]), x_new.copy(), s))
            # kept back to the oldest snapshot a re-filter can restore
            oldest = tr.hist[0][1][3]
            while len(ent) > 1 and ent[1][0] <= oldest:
                del ent[0]

    def _sens_beta(self, tr: Track) -> float:
        """The ballistic coefficient a track's bias sensitivity is carried
        with (its bank's mean, else the tracker's; NaN: none)."""
        if tr.drag is not None:
            return math.exp(tr.drag.mean_lnb())
        return float("nan") if self.cfg.beta is None else self.cfg.beta

    @staticmethod
    def write(trs: list[Track], xn: F64, pn: F64, mu: F64, xc: F64, pc: F64, t: F64) -> None:
        """Store updated IMM states (rows, in the order of ``trs``)."""
        for i, ti in enumerate(t.tolist()):
            tr = trs[i]
            tr.x, tr.p, tr.mu, tr.t = xn[i], pn[i], mu[i], ti
            tr.xc, tr.pc = xc[i], pc[i]
            tr.coast_from = None

    def keeps_bank(self, tr: Track, t_snap: float) -> bool:
        """Whether a re-filter of ``tr`` from its state at ``t_snap`` keeps a
        drag bank made since (:meth:`Track.restore`, from its prior). Kept,
        the bank weighs the re-filtered plots again; dropped, it came back
        only at the next impact prediction, and every later late plot within
        oosm_lag_s dropped it again (the replayed states held none): a
        depressed SRBM flying level at 42 km flew beta 5,000 through dense
        air, 50-600 m/s off with a 1-m/s sigma (MC seed 1 index 120: rv
        coverage 0.40 at 1379440; SRBM index 189: 0.65). Not kept:

        - for a state from the restart window after the burnout
          (``restart_window_s``), where the tracker itself still allows for a
          next stage: a bank made there may hold thrust (MC lofted ICBM
          index 12: a child confirmed on the burning stack kept one made 7.5
          s after its confirmation and followed the stack as a spent stage;
          rv coverage 0.84 -> 0.50);
        - for a state older than ``oosm_lag_s`` (the track coasted since):
          its bank was made from predictions alone, with nothing to weigh
          again but the role it was made for (index 12 again: a child lost
          at t+126 s re-filtered at t+1,051 s with the bank of the stage it
          was wrongly called).

        A state from before the burnout gets no bank at all
        (:meth:`Track.restore`)."""
        return t_snap >= tr.burnout_t + self.cfg.restart_window_s and tr.t - t_snap <= self.cfg.oosm_lag_s

    def refilter(self, tr: Track, m: Meas) -> bool:
        """Insert a late measurement into the track's history and re-run the
        filter from the state before it (buffered re-filtering)."""
        return self.refilter_many([(tr, m)])[0]

    def refilter_many(self, late: list[tuple[Track, Meas]]) -> list[bool]:
        """:meth:`refilter` of late measurements of different tracks (one
        each): whether each was used (False: older than the track's history).
        Air tracks re-filtered with radar plots only (no drag bank, EKF) are
        replayed together in one compiled call
        (:func:`tocsin.fusion.kernels.refilter_ncv_radar`: the same
        prediction and update kernels in the same order, so the same bits);
        the others one plot at a time."""
        ok = [False] * len(late)
        fast: list[tuple[Track, list[MeasRecord]]] = []
        queued: set[int] = set()
        for n, (tr, m) in enumerate(late):
            if id(tr) in queued:
                # a second late plot of a track waiting to be replayed
                self._replay_air_radar(fast)
                fast, queued = [], set()
            # the first entry later than m (the history is in time order;
            # a late plot is near its end)
            hist = tr.hist
            k = len(hist)
            while k > 0 and hist[k - 1][0][REC_T] > m.t:
                k -= 1
            snap = tr.hist[k][1] if k < len(tr.hist) else (tr.coast_from or tr.snapshot())
            if snap[3] > m.t:
                continue
            recs = [m.record(), *(h[0] for h in tr.hist[k:])]
            del tr.hist[k:]
            tr.restore(snap, self.keeps_bank(tr, snap[3]))
            # the bias sensitivity as it was at the snapshot (none kept: the
            # next update starts it afresh from the rigid turn)
            while tr.bias_sens and tr.bias_sens[-1][0] > snap[3]:
                tr.bias_sens.pop()
            ok[n] = True
            self.stats["oosm_refiltered"] += 1
            if (
                self.cfg.filter == "ekf"
                and tr.drag is None
                and tr.cls != "ballistic"
                and all(rec[REC_KIND] == RADAR for rec in recs)
            ):
                fast.append((tr, recs))
                queued.add(id(tr))
                continue
            self._replay(tr, recs)
        if fast:
            self._replay_air_radar(fast)
        return ok

    def _replay(self, tr: Track, recs: list[MeasRecord]) -> None:
        """Re-run the filter of a restored track with ``recs``, one at a
        time (the reference of :meth:`_replay_air_radar`)."""
        for rec in recs:
            mm = Meas.of(rec)
            tr.hist.append((rec, tr.snapshot()))
            xp, pp, cbar = self.predict([tr], mm.t, mm.kind != RADAR)
            self.update([tr], stack([mm]), xp, pp, cbar, np.array([mm.t]))

    def _replay_air_radar(self, fast: list[tuple[Track, list[MeasRecord]]]) -> None:
        """The compiled replay of :meth:`refilter_many` (tracks restored to
        the state before their first record; records all radar)."""
        trs = [tr for tr, _ in fast]
        g = self.gather(trs, 0.0)
        recs = [rec for _, rr in fast for rec in rr]
        n_st = len(recs)
        start = np.zeros(len(fast) + 1, dtype=np.int64)
        np.cumsum([len(rr) for _, rr in fast], out=start[1:])
        ts = np.array([rec[REC_T] for rec in recs])
        z = np.zeros((n_st, 4))
        r = np.zeros((n_st, 4, 4))
        md = np.empty(n_st, dtype=np.int64)
        for s, rec in enumerate(recs):
            zi, ri = rec[REC_Z], rec[REC_R]
            d = zi.shape[0]
            md[s] = d
            z[s, :d] = zi
            r[s, :d, :d] = ri
        site = np.array([rec[REC_SITE] for rec in recs])
        rot = np.array([rec[REC_ROT] for rec in recs])
        xs, ps, mus, xcs, pcs = kernels.refilter_ncv_radar(
            g.x, g.p, g.mu, g.t0, g.tau0, g.tau1, g.q0, g.q1, start, ts, z, md, site, rot, r
        )
        for i, (tr, rr) in enumerate(fast):
            for s in range(int(start[i]), int(start[i + 1])):
                tr.hist.append((rr[s - int(start[i])], tr.snapshot()))
                tr.x, tr.p, tr.mu, tr.t = xs[s], ps[s], mus[s], float(ts[s])
                tr.xc, tr.pc = xcs[s], pcs[s]
                tr.coast_from = None

    def coast(self, tr: Track, t: float) -> None:
        """Move a track's estimate forward to ``t`` by prediction alone (kept:
        the state after its last update, for late reports)."""
        if tr.coast_from is None:
            tr.coast_from = tr.snapshot()
        xp, pp, cbar, xc, pc, _ = self.predict_all(self.gather([tr], t))
        tr.x, tr.p, tr.mu, tr.t = xp[0], pp[0], cbar[0], t
        tr.xc, tr.pc = xc[0], pc[0]
        if tr.drag is not None:
            bank = self._take_bank_at(tr, t)
            if bank is not None:
                tr.drag = bank
        self.stats["coast_steps"] += 1
