"""Ballistic estimation: classification, burnout, launch point and impact.

After each update, :meth:`Ballistic.classify` votes on the well-estimated
tracks (``ballistic`` / ``air`` / ``unknown``), keeps a boosting missile's
earliest positions for its launch point, and runs the thrust test
(:meth:`Ballistic.burnout_test`) until the missile is coasting.
:meth:`Ballistic.predictions` then predicts the impact point with its 95 %
ellipse and the launch point (maths in :mod:`tocsin.fusion.impact`).
Rules and measured results: docs/fusion.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.forces import DRAG_CEILING_M
from tocsin.dynamics.vehicle import G0
from tocsin.fusion import consider, drag, kernels, separation
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.impact import (
    Launch,
    launch_azimuth,
    launch_from_ballistic,
    launch_from_boost,
    launch_from_early,
    predict_impact,
    sensor_bias_cov,
)
from tocsin.fusion.manoeuvre import glide_footprint, may_pull_up, pullup_possible
from tocsin.fusion.measurements import REC_T, Meas
from tocsin.fusion.models import ballistic_predict
from tocsin.fusion.propagate import deriv, height
from tocsin.fusion.track import Track
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix

F64 = NDArray[np.float64]


BALLISTIC_ALT_M = 30_000.0
"""m: a track this high (by ``vote_sigmas`` of its height) votes ballistic: no
aircraft flies there (docs/fusion.md, classification)."""


def above_aircraft(x: F64, p: F64, sigmas: float) -> bool:
    """Whether the estimate ``x, p`` is higher than any aircraft flies
    (:data:`BALLISTIC_ALT_M`) by ``sigmas`` of its height, whatever its
    velocity's uncertainty (the ballistic vote also needs a well-estimated
    velocity; a height does not)."""
    _, alt, _, _, _, sig = kernels.classify_features(x[None], p[None], 150.0**2)
    return bool(alt[0] - sigmas * sig[0, 0] > BALLISTIC_ALT_M)


def lift_across(mid: F64, vm: F64, a_ng: F64) -> tuple[F64, F64, F64]:
    """Per window (rows): the specific force ``a_ng``'s part across the
    unit velocity ``vm`` in the vertical plane (lift: drag and thrust act
    along the velocity), the cosine of the flight-path angle, and that unit
    direction across the velocity; ``mid`` the windows' midpoint states.
    The lift test (:meth:`Ballistic.lift_test`) and the re-entry manoeuvre
    test (:meth:`Ballistic.reentry_lift`) read the same force."""
    up = mid[:, :3] / np.linalg.norm(mid[:, :3], axis=1)[:, None]
    sin_g = np.einsum("ni,ni->n", vm, up)
    cos_g = np.sqrt(np.maximum(1.0 - sin_g * sin_g, 0.0))
    n = up - sin_g[:, None] * vm
    n /= np.maximum(np.linalg.norm(n, axis=1), 1e-9)[:, None]
    return np.einsum("ni,ni->n", a_ng, n), cos_g, n


class Ballistic:
    """Classification, burnout and the launch and impact predictions of
    ballistic tracks (``stats["impact_predictions"]`` counts predictions)."""

    def __init__(self, cfg: TrackerConfig, stats: Counter[str]) -> None:
        self.cfg = cfg
        self.stats = stats
        #: every track by key (the lifecycle's table): a separated track's
        #: close siblings widen its impact (:func:`separation.ambiguity`)
        self.tracks: dict[int, Track] = {}

    def classify(
        self,
        trs: list[Track],
        comb: tuple[F64, F64] | None = None,
        ir_cues: Sequence[Meas] = (),
    ) -> None:
        """Classification rule (docs/fusion.md), evaluated after each update on
        well-estimated tracks (largest velocity sigma < 150 m/s): a *ballistic*
        vote when speed > 1.2 km/s, altitude > 30 km or climb rate > 250 m/s; an
        *air* vote when speed < 400 m/s, altitude < 20 km and |climb| < 100 m/s.
        Ballistic after 3 consecutive ballistic votes, air after 5 consecutive air
        votes; air may become ballistic, and ballistic air only when it flies as
        only an aircraft can for ``demote_air_s`` (:meth:`demote`).
        Tracks still unknown are also put to the lift test (an air vote needs
        lift, a confident absence of lift is a ballistic vote) and, in their
        first updates, to the space-infrared cue (ballistic at once)."""
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
        # a ballistic vote needs the estimate beyond its threshold by
        # ``vote_sigmas`` of its own uncertainty (one-sided): a young or
        # mis-associated aircraft track with a 100-m/s velocity sigma must not
        # vote "climbing at 250 m/s" on its noise
        # (one compiled call: the features and the ballistic vote of every row)
        rows = kernels.classify_rows(x, p, 150.0**2, self.cfg.vote_sigmas, BALLISTIC_ALT_M).tolist()
        for i, tr in enumerate(trs):
            good_i, alt_i, vz_i, speed_i, pvar_i, bvote_i = rows[i]
            if good_i == 2.0:
                good_i = float(np.linalg.eigvalsh(p[i, 3:, 3:])[-1] <= 150.0**2)
            if not good_i:
                continue
            if alt_i > tr.max_alt:
                tr.max_alt = alt_i
            vote_b = bvote_i == 1.0
            vote_a = speed_i < 400.0 and alt_i < 20_000.0 and abs(vz_i) < 100.0
            if tr.first is None and tr.updates >= 4:
                tr.first = (x[i].copy(), p[i].copy(), tr.t)
            if (
                not tr.burnt_out
                and alt_i < 80_000.0
                and len(tr.early) < 40
                and (not tr.early or tr.t - tr.early[-1][0] >= 0.5)
                and (not tr.early or tr.t - tr.early[0][0] <= 30.0)
            ):
                tr.early.append((tr.t, x[i, :3].copy(), pvar_i))
            if tr.cls == "unknown" and not tr.ir_cued and ir_cues and tr.updates <= 8:
                # one geometric coincidence with a burning motor decides
                # (the 3 votes guard against noisy speed/height estimates)
                tr.ir_cued = self.ir_cued(tr, x[i], p[i], ir_cues)
                if tr.ir_cued:
                    self.stats["ir_cued"] += 1
                    vote_b, vote_a = True, False
                    tr.votes_b = 2
            if tr.cls == "ballistic" and self.cfg.demote_air_s > 0.0:
                if tr.kin:
                    tr.kin.clear()
                if self.demote(tr, x[i], speed_i, alt_i):
                    continue
            elif tr.cls != "unknown":
                if tr.kin:
                    tr.kin.clear()
            elif not vote_b and speed_i > 50.0:
                # a body with no lift is not an aircraft, however slow: a
                # missile whose motor failed, seen only once it coasts
                tr.lift = self.lift_test(tr, x[i], p[i, 3:, 3:])
                if tr.lift == -2:
                    vote_b, vote_a = True, False
                elif tr.lift < 0:
                    vote_a = False
            tr.votes_b = tr.votes_b + 1 if vote_b else 0
            tr.votes_a = tr.votes_a + 1 if vote_a else 0
            if tr.cls != "ballistic" and tr.votes_b >= 3:
                tr.cls = "ballistic"
                tr.phase = "boost"
            elif tr.cls == "unknown" and tr.votes_a >= 5:
                tr.cls = "air"
            if tr.cls == "ballistic":
                self.burnout_test(tr, x[i], p[i])
                if not tr.burnt_out:
                    self.boost_launch(tr, x[i], p[i])

    def demote(self, tr: Track, x: F64, speed: float, alt: float) -> bool:
        """A track classed ballistic (on noisy votes, a mis-associated plot, a
        stray infrared cue) that then flies as only an aircraft can for
        ``demote_air_s`` is an aircraft: it becomes ``air`` (True), and the
        warnings it raised are withdrawn as a mistake (the warning engine's
        rule for an ``air`` report). Judged on its positions over that time,
        not its velocity (a ballistic model's velocity estimate of an
        aircraft swings by +-100 m/s in climb): slow (< 400 m/s) and low
        (< 20 km) throughout, covering ground at over 100 m/s, climbing or
        sinking at under half of that on average, and **holding its height**:
        the vertical acceleration of a least-squares parabola through its
        heights under a quarter of g. Nothing without lift does that: it falls
        with g, or, slowed to its terminal speed in the air, drops straight
        down (a failed motor's missile at its 9-km apogee: ~100 m/s, falling
        within seconds); a re-entry vehicle, manoeuvring or not, flies at
        kilometres per second; a boosting missile climbs."""
        win = self.cfg.demote_air_s
        if not (speed < 400.0 and alt < 20_000.0):
            tr.level.clear()
            return False
        lv = tr.level
        lv.append((tr.t, x[:3].copy(), alt))
        while len(lv) > 2 and lv[1][0] <= tr.t - win:
            lv.popleft()
        span = tr.t - lv[0][0]
        if span < win or len(lv) < 8:
            return False
        ts = np.array([e[0] for e in lv]) - tr.t
        hs = np.array([e[2] for e in lv])
        c2 = float(np.polyfit(ts, hs, 2)[0])
        dh = hs[-1] - hs[0]
        chord = float(np.linalg.norm(lv[-1][1] - lv[0][1]))
        ground = math.sqrt(max(chord * chord - dh * dh, 0.0)) / span
        if ground <= 100.0 or abs(dh / span) >= 0.5 * ground or abs(2.0 * c2) >= 0.25 * 9.80665:
            return False
        tr.demote()
        self.stats["demoted_air"] += 1
        return True

    def ir_cued(self, tr: Track, x: F64, p: F64, cues: Sequence[Meas]) -> bool:
        """Was this track seen burning by space infrared before it was
        tracked? Its position run back in a straight line to the time of a
        free line of sight of the last ``ir_cue_s`` (one no track took) lies
        within ``ir_max_miss_m`` + 3 sigma of position and velocity + the
        acceleration ``ir_cue_accel`` the straight line misses
        (``a dt^2 / 2``) of that line, above the ground. Space infrared sees
        only burning motors (tocsin.sensors.detection), so such a track is a
        missile even if its motor stopped before a radar saw it. Asked in a
        track's first 8 updates only (the cue is about what came before it)."""
        cfg = self.cfg
        sp = math.sqrt(float(np.trace(p[:3, :3])))
        sv = math.sqrt(float(np.trace(p[3:, 3:])))
        near = [m for m in cues if 0.0 < tr.t - m.t <= cfg.ir_cue_s]
        if not near:
            return False
        dt = tr.t - np.array([m.t for m in near])
        site = np.array([m.site for m in near])
        u = np.array([m.z for m in near])
        rel = x[None, :3] - x[None, 3:] * dt[:, None] - site
        along = np.einsum("ni,ni->n", rel, u)
        miss = np.linalg.norm(rel - along[:, None] * u, axis=1)
        tol = cfg.ir_max_miss_m + 3.0 * (sp + sv * dt) + 0.5 * cfg.ir_cue_accel * dt * dt
        ok = (along > 0.0) & (miss <= tol)
        if not ok.any():
            return False
        return bool((height(site[ok] + along[ok, None] * u[ok]) > 0.0).any())

    def lift_test(self, tr: Track, x: F64, pv: F64) -> int:
        """Lift test: -2 no lift, -1 less lift than an aircraft's, +1 more,
        +2 lift, 0 no window yet. Over windows of
        ``lift_window_s`` to 4x that, the observed acceleration minus the
        modelled one (gravity, Coriolis, centrifugal at the window's midpoint)
        is the specific force; lift is its part across the velocity in the
        vertical plane (drag and thrust act along the velocity). Anything that
        stays up on wings or rotors carries about ``g cos(gamma)`` of it
        (gamma: flight-path angle; in a level turn too, the lift's vertical
        part still holds the weight); a coasting or falling body, none. *No
        lift* when the 2-sigma upper bound of that force (sigma from the two
        velocity covariances along that direction) is below ``lift_fraction``
        of ``g cos(gamma)`` in the best-resolved window; *lift* when its 2-sigma
        lower bound is above it there (windows start once the track is
        ``lift_window_s`` old); otherwise -1 / +1 by which
        side of that threshold (halfway between a ballistic body's 0 and an
        aircraft's ``g cos(gamma)``: the likelier of the two) the best-resolved
        window's estimate falls. On a near-vertical path (cos gamma -> 0) the
        threshold falls to 0: only a confidently downward force is *no lift*."""
        cfg = self.cfg
        w = cfg.lift_window_s
        if not tr.kin or tr.t - tr.kin[-1][0] >= 0.5:
            tr.kin.append((tr.t, x.copy(), pv.copy()))
        while tr.kin[0][0] < tr.t - 4.0 * w:
            tr.kin.popleft()
        # windows start once the track is past its first ``w`` seconds: a
        # young track's velocity is still converging from its initiation
        # (in a dense air picture often from plots of two aircraft) by more
        # than its covariance says, which reads as a spurious force
        old = [k for k in tr.kin if tr.t - k[0] >= w and k[0] >= tr.created + w]
        if not old:
            return 0
        t0 = np.array([k[0] for k in old])
        x0 = np.array([k[1] for k in old])
        p0 = np.array([k[2] for k in old])
        span = tr.t - t0
        mid = 0.5 * (x0 + x[None, :])
        a_ng = (x[None, 3:] - x0[:, 3:]) / span[:, None] - deriv(mid, None)[:, 3:]
        vm = mid[:, 3:] / np.maximum(np.linalg.norm(mid[:, 3:], axis=1), 1.0)[:, None]
        lift, cos_g, n = lift_across(mid, vm, a_ng)
        sig = np.sqrt(np.einsum("ni,nij,nj->n", n, p0 + pv[None], n)) / span
        need = cfg.lift_fraction * G0 * cos_g
        # both confident verdicts from the best-resolved window: taking "no
        # lift" from *any* of up to 24 overlapping windows is a multiple
        # comparison that a mis-associated aircraft track's wobble passes
        k = int(np.argmin(sig))
        if float(lift[k] + 2.0 * sig[k] - need[k]) < 0.0:
            return -2
        if float(lift[k] - 2.0 * sig[k] - need[k]) > 0.0:
            return 2
        return 1 if float(lift[k] - need[k]) >= 0.0 else -1

    def burnout_test(self, tr: Track, x: F64, p: F64) -> None:
        """Thrust test. Over windows of ``burnout_window_s`` or longer the observed
        acceleration ``(v1 - v0) / dt`` minus the modelled one (gravity, Coriolis,
        centrifugal at the window's midpoint) is the specific force of thrust and
        drag; its component along the velocity is positive only under thrust.
        Burnout is declared when that component plus 2 sigma (sigma from the
        two velocity covariances) stays below ``burnout_accel`` for
        ``burnout_votes`` consecutive updates: no impact point is predicted
        until the track is confidently coasting. Past burnout the same test
        watches for the next stage: the component *minus* 2 sigma above
        ``burnout_accel`` for ``burnout_votes`` updates is a motor burning
        again (a multi-stage missile or launcher): the track is boosting again,
        its impact prediction withdrawn until the next burnout."""
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
        if not tr.burnt_out:
            tr.quiet = tr.quiet + 1 if float(np.min(along + 2.0 * sig)) < self.cfg.burnout_accel else 0
            if tr.quiet >= self.cfg.burnout_votes:
                tr.burnt_out = True
                tr.burnout_t = tr.t
                tr.phase = "ballistic"
                tr.coast_seen = True
                tr.quiet = 0
                tr.speeds.clear()  # the next stage is judged on coasting data only
            return
        if not tr.coast_seen:
            # a piece confirmed at a separation counts as past burnout
            # without its own plots having shown it coasting: until they do,
            # a spent role told meanwhile is not final (below)
            coasting = float(np.min(along + 2.0 * sig)) < self.cfg.burnout_accel
            tr.coast_votes = tr.coast_votes + 1 if coasting else 0
            tr.coast_seen = tr.coast_votes >= self.cfg.burnout_votes
        if tr.role in separation.SPENT and tr.coast_seen:
            # a spent stage or debris, seen coasting, has no motor left: what
            # looks like thrust is two close pieces' plots mixed up, never a
            # next stage. Not so for a piece called spent before it was seen
            # coasting: the stack that carried on burning after a separation
            # is confirmed as a "coasting" child, and its drag bank (reading
            # the thrust as drag) or a sibling seen ahead of it at its
            # confirmation made it spent (MC lofted ICBM seed 1 index 5:
            # "debris" on the burning stack, the re-entry vehicle predicted
            # 548 km short all flight)
            tr.quiet = 0
            return
        tr.quiet = tr.quiet + 1 if float(np.max(along - 2.0 * sig)) > self.cfg.burnout_accel else 0
        if tr.quiet >= self.cfg.burnout_votes:
            tr.reignite()
            self.stats["reignitions"] += 1
            return
        self.reentry_lift(tr, x, mid, a_ng, vm, sig)

    def reentry_lift(self, tr: Track, x: F64, mid: F64, a_ng: F64, vm: F64, sig: F64) -> None:
        """Re-entry manoeuvre test, on the thrust test's windows
        (``burnout_window_s`` to 4x that before the state ``x``; per window
        ``mid`` the midpoint state, ``a_ng`` the specific force, ``vm`` the
        unit velocity, ``sig`` the acceleration sigma). A
        ballistic body has no specific force across its velocity (drag and
        thrust act along it); a quasi-ballistic pull-up, glide or dive has
        about ``g cos(gamma)`` of it or more (holding a shallow glide against
        gravity; pulling up or pushing over into the dive). The same
        threshold as the lift test: the best-resolved window's ``|lift|``
        less 2 sigma above ``lift_fraction`` of ``g cos(gamma)`` for
        ``burnout_votes`` updates running, on the way down, below the drag
        ceiling, is a manoeuvre (:meth:`Track.declare_manoeuvre`). The
        IMM's verdict (:mod:`tocsin.fusion.estimation`) needs its
        manoeuvre model ahead twice running, which a glide's steady ~1 g
        rarely gives: the drag bank and the quiet model's noise absorb it
        for tens of seconds (MC pull-up #72: the verdict 141 s after the
        pull-up, this test's windows read 0.1 +- 0.2 m/s^2 before it and
        > 5 m/s^2 from ~30 s after it)."""
        if (
            tr.manoeuvring
            or tr.phase != "ballistic"
            or tr.role in separation.SPENT
            or tr.t - tr.burnout_t < self.cfg.restart_window_s
            or float(x[:3] @ x[3:]) >= 0.0
            or float(height(x[None, :3])[0]) >= DRAG_CEILING_M
        ):
            tr.lift_votes = 0
            return
        lift, cos_g, _ = lift_across(mid, vm, a_ng)
        k = int(np.argmin(sig))
        seen = abs(float(lift[k])) - 2.0 * float(sig[k]) > self.cfg.lift_fraction * G0 * float(cos_g[k])
        tr.lift_votes = tr.lift_votes + 1 if seen else 0
        if tr.lift_votes >= self.cfg.burnout_votes:
            tr.declare_manoeuvre()
            self.stats["manoeuvres"] += 1
            self.stats["manoeuvres_lift"] += 1

    def boost_launch(self, tr: Track, x: F64, p: F64) -> None:
        """The launch point and azimuth of a boosting missile, at most once a
        second of track time: the launch point from its earliest positions
        (else from its first boost state), the azimuth from it and the state
        (:func:`~tocsin.fusion.impact.launch_azimuth`). Only while it climbs:
        a falling object classed ballistic in ``boost`` (a piece seen only on
        its way down) has no launch plane to find."""
        if tr.t - tr.last_boost_launch < 1.0:
            return
        tr.last_boost_launch = tr.t
        lat, lon, _ = ecef_to_geodetic(x[:3])
        if float(enu_matrix(float(lat), float(lon))[2] @ x[3:]) <= 0.0:
            tr.boost_launch = None
            return
        la = self._launch_seen(tr)
        tr.boost_launch = None if la is None else launch_azimuth(la, x, p, tr.t, tr.early)

    def predictions(self, tr: Track) -> None:
        """The impact point of a confirmed missile past burnout (every
        ``impact_interval_s`` of track time, or 1 % of the time still to go).
        Not of a piece confirmed at a separation (past burnout by
        declaration, ``separation_coasts``) until its own plots have shown it
        coasting (``Track.coast_seen``): the burnout test's rule, no impact
        until the track is seen coasting, for a piece that may be the stack
        still burning. Which of two pieces parting in boost carries on
        burning is not known at the parting; the restart test finds the
        burning one (boost again, no prediction until its next burnout), but
        only once its windows resolve the thrust, and until then its
        predictions were a coasting fall from a state under thrust: MC lofted
        ICBM seed 1 index 40, the stack's child confirmed at t+120.7 s while
        stage 2 burns, restart seen at t+162.7 s, its predictions 605 km
        short meanwhile (index 5: 838 km)."""
        if not (tr.ballistic and tr.burnt_out and tr.status != "tentative"):
            return
        if not tr.coast_seen:
            return
        # re-predict every impact_interval_s of track time, or every 1 % of the
        # time still to go when that is longer (an ICBM an hour out)
        togo = tr.impact.t - tr.t if tr.impact is not None else 0.0
        if tr.t - tr.last_impact < max(self.cfg.impact_interval_s, 0.01 * togo):
            return
        if tr.impact is not None and tr.t <= tr.impact_basis:
            # neither updated nor predicted forward since the last prediction
            return
        # a track predicted forward without plots (coasting, lost) is
        # re-predicted from its grown covariance: never a frozen prediction
        tr.impact_basis = tr.t
        tr.last_impact = tr.t
        # the IMM's combined estimate: after burnout both models are the same
        # ballistic model and converge; just after it, the spread between them
        # (the thrust tail) is part of the honest uncertainty
        x, p = tr.combined()
        cfg = self.cfg
        bank = None
        if cfg.drag_estimation:
            if tr.drag is None or not tr.drag.split:
                # the prior: the documented range of the re-entry class of
                # the flight it is on, from its range and apogee (fixed once
                # the bank has split)
                if tr.launch is None:
                    tr.launch = self._launch(tr, x, p, cfg.beta)
                    tr.last_launch = tr.t
                la = tr.launch
                kind = drag.rv_kind(x, None if la is None else (la.lat, la.lon), tr.max_alt)
                if tr.separated:
                    # a separated object: rv or spent (tocsin.fusion.separation);
                    # the prior of the role the geometry told (one told by the
                    # bank itself is its posterior, not a prior)
                    parts = separation.prior_parts(kind, tr.prior_role)
                    label = "+".join(k for k, _ in parts)
                    if tr.drag is None or tr.drag.kind != label or tr.drag.role != tr.prior_role:
                        tr.drag = drag.mixture_prior(parts, role=tr.prior_role)
                elif tr.drag is None or tr.drag.kind != kind:
                    tr.drag = drag.prior(kind)
            elif tr.separated and tr.drag.role != tr.prior_role:
                # a role the geometry told since the split (a re-filter from an
                # older snapshot may also bring back the bank as it was
                # before). Not a role the bank told (Track.told): since
                # 7681c03 that re-entered the bank as its prior at each
                # prediction, the bank's own posterior counted twice
                # (role_mass 0.97 -> ~0.999)
                tr.drag = separation.retold(tr.drag, tr.prior_role)
            bank = tr.drag
        q = (cfg.q_ballistic, cfg.q_ballistic_vacuum, DRAG_CEILING_M) if cfg.impact_process_noise else None
        if tr.manoeuvring:
            # it may go on manoeuvring all the way down
            q = (cfg.q_reentry_maneuver, cfg.q_reentry_maneuver, DRAG_CEILING_M)
        rs = 0.0
        k_air: float | None = None
        # where the bank read its drag (None: pickled before DragBank.read, or the rule off)
        air_read = getattr(bank, "read", None) if cfg.air_read_heights else None
        if cfg.density_corr_m > 0.0 and (bank is not None or cfg.beta is not None):
            # the step: the low air's departure; the spread itself is read
            # along the path to the ground (drag.density_spread_path), less
            # what the bank has read of the air it is in (bank.informed)
            rs = drag.density_spread(float(height(x[None, :3])[0]), 0.0, cfg.density_corr_m)
            k_air = 0.0 if bank is None else bank.informed()
            if cfg.air_read_heights and bank is not None and air_read is None:
                # a bank that has read no drag took in none of the air: what
                # moved its weights was the role's evidence, not the air
                k_air = 0.0
        extra = separation.ambiguity(tr, self.tracks, cfg.dup_dist_m, cfg.dup_speed_mps)
        # the radars' residual registration biases (they do not average out)
        # (of the radars with plots in the last oosm_lag_s; the history keeps
        # the last oosm_lag_s before the latest update, however old)
        recent = [h[0] for h in tr.hist if tr.t - h[0][REC_T] <= cfg.oosm_lag_s]
        if cfg.bias_sensitivity and tr.bias_sens:
            # the filter's own sensitivity to each radar's bias (consider.py)
            cb = self.bias_sens_cov(tr, x, cfg.beta if bank is None else math.exp(bank.mean_lnb()))
        else:
            cb = sensor_bias_cov(
                x, recent, cfg.bias_range_m, math.radians(cfg.bias_angle_deg), cfg.bias_rr_mps
            )
            cb = self.bias_consider(tr, x, cb, cfg.beta if bank is None else math.exp(bank.mean_lnb()))
        if cb is not None:
            extra = cb if extra is None else extra + cb
        imp = predict_impact(
            x,
            p,
            tr.t,
            beta=cfg.beta,
            bank=bank,
            q=q,
            rho_sigma=rs,
            extra_cov=extra,
            air_informed=k_air,
            air_corr_m=cfg.density_corr_m,
            air_read=air_read,
        )
        self.stats["impact_predictions"] += 1
        if (
            imp is not None
            and tr.manoeuvring
            and cfg.glide_footprint
            and tr.role not in separation.SPENT
            and float(height(x[None, :3])[0]) < DRAG_CEILING_M
        ):
            # a lifting re-entry: where a glide from here can take it
            b_m = math.exp(bank.mean_lnb()) if bank is not None else (cfg.beta or drag.NOMINAL_BETA)
            fp = glide_footprint(x, tr.t, imp, b_m, sigma_ln_beta=0.0 if bank is None else bank.sigma_lnb())
            self.stats["glide_footprints"] += 1
            if fp is not None:
                imp = fp
        elif (
            imp is not None
            and not tr.manoeuvring
            and cfg.pullup_prior > 0.0
            and cfg.glide_footprint
            and tr.role not in separation.SPENT
            and pullup_possible(x, max(drag.kepler_apogee_m(x), tr.max_alt))
        ):
            # not seen to manoeuvre, but flying as a pull-up SRBM does until
            # it pulls up: the corridor widens to the glide (issue 16 item 3),
            # from burnout on (where it can go; the ballistic fall travels
            # with it as the most likely point). While the track still climbs
            # the glides' reach is the drag prior's spread, not a measured
            # drag: the warning stage holds that far end back until the
            # apogee (threat.ThreatConfig.footprint_from_apogee; docs/fusion.md
            # "Before the pull-up: the far end waits")
            b_m = math.exp(bank.mean_lnb()) if bank is not None else (cfg.beta or drag.NOMINAL_BETA)
            fp = may_pull_up(
                x,
                tr.t,
                imp,
                b_m,
                cfg.pullup_prior,
                q_glide=0.0,
                sigma_ln_beta=0.0 if bank is None else bank.sigma_lnb(),
            )
            self.stats["pullup_mixtures"] += 1
            if fp is not None:
                imp = fp
        if imp is None:
            # at or below the ground, or not coming down within the horizon:
            # an earlier prediction stays (a coasting or lost track reaching
            # the ground is ended by Lifecycle.landed)
            if tr.impact is not None and tr.status == "confirmed" and height(x[None, :3])[0] <= 0.0:
                tr.dead = True
            return
        tr.impact = imp
        if tr.launch is not None and tr.t - tr.last_launch < 10.0:
            return
        tr.last_launch = tr.t
        tr.launch = self._launch(tr, x, p, cfg.beta if bank is None else math.exp(bank.mean_lnb()))

    def bias_consider(self, tr: Track, x: F64, cb: F64 | None, beta: float | None) -> F64 | None:
        """The radars' registration-bias consider covariance of the track's
        state ``x`` now: ``cb`` (:func:`~tocsin.fusion.impact.sensor_bias_cov`
        of the radars in its last ``oosm_lag_s``) while there are any, kept
        with the state it was for (``Track.bias_consider``); without a radar
        in the window (coasting, or infrared only) the last one, carried
        along the flight since: ``Phi C Phi^T``, ``Phi`` the ballistic
        transition from the state it was kept with (``beta``: the bank's
        mean, or the tracker's). The error a bias put into the state when
        the radars last saw it does not go when they stop (it is the state's
        own, flown on by the same dynamics: a Schmidt-Kalman consider
        state, Schmidt 1966, without the updates' share), where before
        session 10 the term vanished the moment no radar was in the window
        (MC lofted ICBM #103, biased radars: d2 25-34 of the position
        error, 3 dof, for 48 min of coast; rv coverage 0.24). Plots of a
        sensor with no bias model (infrared) would correct part of it:
        not counted (the term stays on the safe side)."""
        if cb is not None:
            tr.bias_consider = (tr.t, x.copy(), cb)
            return cb
        kept = tr.bias_consider
        if kept is None:
            return None
        t0, x0, c0 = kept
        dt = tr.t - t0
        if not dt > 0.0:
            return c0
        _, phi = ballistic_predict(x0[None, :], np.array([dt]), beta=beta)
        c = phi[0] @ c0 @ phi[0].T
        c = 0.5 * (c + c.T)
        tr.bias_consider = (tr.t, x.copy(), c)
        return c

    @staticmethod
    def bias_sens_cov(tr: Track, x: F64, beta: float | None) -> F64 | None:
        """The consider covariance of the state ``x`` now from the track's
        sensitivity to its radars' biases (``Track.bias_sens``, kept by the
        updates: :meth:`Estimator.bias_sens
        <tocsin.fusion.estimation.Estimator.bias_sens>`), carried from its
        last entry by the ballistic transition (``beta``: the bank's mean,
        or the tracker's) when the track has moved on since without a plot
        (coasting); the carried entry is kept (the next carry starts there,
        a re-filter from an older snapshot drops it)."""
        t0, x0, s = tr.bias_sens[-1]
        dt = tr.t - t0
        if dt > 0.0:
            _, phi = ballistic_predict(x0[None, :], np.array([dt]), beta=beta)
            s = consider.propagate(s, phi[0])
            if t0 > tr.last_update and len(tr.bias_sens) > 1:
                # (a carried entry replaces the one carried before it)
                tr.bias_sens[-1] = (tr.t, x.copy(), s)
            else:
                tr.bias_sens.append((tr.t, x.copy(), s))
        return consider.covariance(s)

    def _launch_seen(self, tr: Track) -> Launch | None:
        """Launch point from what was seen of the boost: the early boost
        positions, else the first boost state (below 60 km); None if neither."""
        if len(tr.early) >= 4:
            launch = launch_from_early(
                np.array([e[0] for e in tr.early]),
                np.stack([e[1] for e in tr.early]),
                np.array([e[2] for e in tr.early]),
            )
            if launch is not None:
                return launch
        if tr.first is not None:
            x0, p0, t0 = tr.first
            _, _, h0 = ecef_to_geodetic(x0[:3])
            if float(h0) < 60_000.0:
                return launch_from_boost(x0, p0, t0)
        return None

    def _launch(self, tr: Track, x: F64, p: F64, beta: float | None) -> Launch | None:
        """Launch point: from the early boost positions, else the first
        boost state, else by ballistic back-propagation with ``beta``."""
        launch = self._launch_seen(tr)
        if launch is None:
            launch = launch_from_ballistic(x, p, tr.t, beta=beta, boost_sigma_m=self.cfg.boost_launch_sigma_m)
        return launch
