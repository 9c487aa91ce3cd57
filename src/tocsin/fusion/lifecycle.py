"""Track management: the track table and each track's life.

A track is born ``tentative`` (:mod:`tocsin.fusion.initiation`), is
``confirmed`` by M-of-N detections (``confirm_m`` of the last ``confirm_n``
opportunities; :meth:`Lifecycle.misses` counts a miss only where a sensor that
has seen the track could see it again), unless it duplicates a confirmed
missile seen through a biased sensor (:meth:`Lifecycle.ballistic_twin`);
turns ``coasting`` when no plot has updated it for ``coast_after_s``, and is
``deleted`` after ``delete_air_s`` / ``delete_ballistic_s`` (a coasting
missile past burnout is predicted forward instead, while its position is
known to ``coast_max_sigma_m``, until it lands). :meth:`Lifecycle.housekeeping`
runs these rules at a time ``t`` and makes the reports they call for.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion import separation
from tocsin.fusion.ballistic import Ballistic, above_aircraft
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.estimation import Estimator
from tocsin.fusion.measurements import RADAR, REC_KIND, REC_SENSOR, REC_T, Meas, Sensor
from tocsin.fusion.reports import Reporter
from tocsin.fusion.track import Track
from tocsin.wire.messages import Envelope

F64 = NDArray[np.float64]


class Lifecycle:
    """The track table (``tracks``, by key) and the lifecycle rules."""

    def __init__(
        self, cfg: TrackerConfig, stats: Counter[str], est: Estimator, bal: Ballistic, rep: Reporter
    ) -> None:
        self.cfg = cfg
        self.stats = stats
        self.est = est
        self.bal = bal
        self.rep = rep
        self.tracks: dict[int, Track] = {}
        bal.tracks = self.tracks  # siblings' states for impact predictions
        self._next_key = 1
        self._next_id = 1
        # each sensor's newest scan time (measurement time), for the age of
        # tentative tracks (:meth:`housekeeping`)
        self.sensor_t: dict[str, float] = {}

    def new_track(
        self, x: F64, p: F64, t: float, sources: Iterable[str], partners: Iterable[str], sent: float
    ) -> Track:
        """A new tentative track (both IMM models at ``x, p``) in the table
        (``sent``: when its last plot arrived)."""
        tr = Track(
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
            last_arrival=sent,
            last_fix=t,
            updates=2,
        )
        self._next_key += 1
        self.tracks[tr.key] = tr
        self.stats["initiated"] += 1
        return tr

    def issue_id(self) -> str:
        tid = f"F-{self._next_id}"
        self._next_id += 1
        return tid

    def live(self, t: float) -> list[Track]:
        """The tracks a scan at ``t`` may update (created by then, not ended,
        not past their predicted impact)."""
        return [
            tr
            for tr in self.tracks.values()
            if tr.created <= t
            and not tr.dead
            and (tr.impact is None or not (self.landed(tr, t) or self.grounded(tr, t)))
        ]

    @staticmethod
    def grounded(tr: Track, t: float) -> bool:
        """A missile no plot updates (coasting, lost) whose predicted impact
        time has come: it is predicted no further (its state would go under
        the ground) and is deleted once :meth:`landed`, not at once (the
        impact time is uncertain by ``sigma_t_s``; the object may still be
        falling)."""
        return (
            tr.impact is not None and tr.burnt_out and tr.status in ("coasting", "lost") and t >= tr.impact.t
        )

    @staticmethod
    def landed(tr: Track, t: float) -> bool:
        """A ballistic track past its predicted impact takes no more plots."""
        return tr.impact is not None and tr.burnt_out and t > tr.impact.t + 3.0 * tr.impact.sigma_t_s + 2.0

    @staticmethod
    def misses(live: list[Track], xc: F64, m0: Meas, pairs: NDArray[np.int64], s: Sensor | None) -> None:
        """Record a detection opportunity (hit or miss) for tentative tracks:
        only a sensor that has already detected the track, and only while the
        track is within its range, can miss it (a sensor that cannot see it -
        below its horizon, outside its field of regard - says nothing). ``s``:
        the scan's sensor."""
        if m0.kind != RADAR:
            return
        hit: set[int] | None = None  # the tracks with a gated plot (made when first needed)
        key = (m0.sensor, m0.t)
        for i, tr in enumerate(live):
            if tr.status != "tentative" or m0.t <= tr.t or m0.sensor not in tr.sources:
                continue
            if hit is None:
                hit = set(pairs[:, 0].tolist())
            if i in hit:
                continue
            if tr.opp == key:
                # another piece of a scan already counted (its plots arrived
                # apart: Tracker._one_per_scan): one opportunity, one miss
                continue
            if (
                s is not None
                and s.max_range is not None
                and float(np.linalg.norm(xc[i, :3] - m0.site)) > s.max_range
            ):
                continue
            tr.window.append(0)
            tr.opp = key

    def updated(self, trs: list[Track], ms: list[Meas], lim: float, changed: set[int]) -> None:
        """Bookkeeping after an update of each of ``trs`` by ``ms`` (once per
        track per scan): hits, sources, a coasting track confirmed again, and
        history older than ``lim`` (the late-report lag) dropped, keeping at
        least one entry. Adds their keys to ``changed``."""
        for tr, m in zip(trs, ms, strict=True):
            if m.t > tr.last_update:
                tr.last_update = m.t
            if m.sent > tr.last_arrival:
                tr.last_arrival = m.sent
            if m.kind == RADAR and m.t > tr.last_fix:
                tr.last_fix = m.t
            if m.kind != RADAR and m.t > tr.last_los:
                tr.last_los = m.t
            tr.updates += 1
            tr.sources.add(m.sensor)
            tr.partners.add(m.partner)
            if tr.status == "tentative":
                key = (m.sensor, m.t)
                if tr.opp != key:
                    tr.window.append(1)
                elif tr.window and tr.window[-1] == 0:
                    # a piece of this scan missed it, another brought its plot
                    tr.window[-1] = 1
                tr.opp = key
            elif tr.status in ("coasting", "lost"):
                tr.status = "confirmed"
                tr.same_piece = None
            changed.add(tr.key)
            hist = tr.hist
            if len(hist) > 1 and hist[0][0][REC_T] < lim:
                k = 1
                while k < len(hist) - 1 and hist[k][0][REC_T] < lim:
                    k += 1
                del hist[:k]

    def confirm(self, tr: Track) -> bool:
        """Confirm a tentative track that has met M-of-N. Near a confirmed
        ballistic track (:meth:`ballistic_twin`) it is either a second object
        that parted from it (a sensor saw both in one scan,
        :func:`tocsin.fusion.separation.codetections`): confirmed as its
        child, both ``separated``; or the same missile seen by a sensor that
        disagrees with the others (a bias): then no second track, the sensor
        is noted on the first, and this one is removed (False) -- unless the
        radars that disagree with the first outnumber those that hold it
        (:meth:`_outvoted`): then this one carries on as the first
        (:meth:`_take_over`)."""
        twin = self.ballistic_twin(tr)
        if twin is None:
            twin = self._unclassed_stack(tr)
        if twin is not None:
            if separation.codetections(tr, twin) == 0:
                if self._lost(tr, twin):
                    self._take_over(tr, twin, same_past=True)
                    self.stats["duplicates_reacquired"] += 1
                    return True
                if self._outvoted(tr, twin):
                    self._take_over(tr, twin)
                    self.stats["duplicates_outvoted"] += 1
                    return True
                twin.sources |= tr.sources
                twin.partners |= tr.partners
                del self.tracks[tr.key]
                self.stats["duplicates_suppressed"] += 1
                return False
            # a separation: the child is the parent's kind of object and
            # shares its past (launch point). A separation is a staging
            # event: what parts is a spent stage, debris or the re-entry
            # vehicle, coasting from now (never a new boost: its boost
            # corridor would name areas the missile's path never comes near);
            # a piece that is the next stage lighting is found thrusting by
            # the restart test (Ballistic.burnout_test), as after any burnout
            tr.separated = twin.separated = True
            if twin.role not in separation.SPENT:
                # which of the two now carries on is learnt again: the
                # parent's role was told at an earlier parting (MC SLV seed 1
                # index 6: the stack, told "rv" ahead of its fairings, kept
                # that role on the spent second stage it became at the next
                # separation, whose impact then had a re-entry vehicle's
                # drag prior: coverage 0.0, 15 km off)
                twin.role = twin.told = None
                twin.told_holds, twin.inside_t = True, None
            # one family: the child is a sibling of every piece the parent
            # parted from or with (two children of one stack are two
            # pieces of it too)
            family = {twin.key} | twin.siblings
            for k in family:
                if (o := self.tracks.get(k)) is not None:
                    o.siblings.add(tr.key)
            tr.siblings |= family
            xp, _ = twin.combined()
            sp = float(np.linalg.norm(xp[3:]))
            if sp > 1.0:
                tr.part_dir = twin.part_dir = xp[3:] / sp
                tr.part_t = twin.part_t = tr.t
            tr.parent = twin.id
            # a piece that parted from a missile (one not classed yet: its
            # velocity too uncertain to vote, _unclassed_stack) is a missile's
            tr.cls = "ballistic"
            if twin.cls == "unknown" and twin.confirmed_t >= tr.created:
                # two pieces of one scene, the parent confirmed after the
                # child's first plot (not a missile followed before a piece
                # parted from it): which carries on is not known, so the
                # child is not taken for a coasting piece; its own plots tell
                # (Ballistic.burnout_test). MC seed 1 SLV #27, biased radars:
                # the fairing's track, confirmed at 125 km two seconds before
                # the stack's, became its parent; the stack, taken for a
                # coasting piece, stayed on the spent second stage and every
                # later tentative on the payload was suppressed as its
                # duplicate (payload lost while reported 2 -> 58 s)
                tr.phase, tr.burnt_out = "boost", False
            elif self.cfg.separation_coasts:
                tr.phase, tr.burnt_out, tr.burnout_t = "ballistic", True, tr.t
                tr.coast_seen, tr.coast_votes = False, 0  # until its own plots show it
                tr.speeds.clear()
                tr.quiet = 0
            else:
                tr.phase, tr.burnt_out, tr.coast_seen = twin.phase, twin.burnt_out, twin.coast_seen
            tr.launch = twin.launch
            tr.max_alt = twin.max_alt
            tr.first = twin.first
            self.stats["separations"] += 1
        tr.status = "confirmed"
        tr.confirmed_t = tr.t
        tr.id = self.issue_id()
        return True

    def _unclassed_stack(self, tr: Track) -> Track | None:
        """A confirmed track not classed yet that ``tr`` parted from: within
        ``dup_dist_m`` and ``dup_speed_mps`` (+ 3 sigma) of it, higher than
        any aircraft flies (:func:`tocsin.fusion.ballistic.above_aircraft`)
        and seen by a sensor in the same scan as ``tr``
        (:func:`tocsin.fusion.separation.codetections`); None without one.

        A boosting missile's track may still be ``unknown`` when a stage
        parts: its velocity is too uncertain for the ballistic vote (Monte
        Carlo MRBM seed 1 index 17, biased radars: the missile tracked from
        t+64 s, the spent stage parting at t+101.5 s and 61 km, its track
        confirmed at t+106 s 0.8 km from the missile's, still unclassed, with
        a plot of the same radar scan). Confirmed as a track of its own, the
        stage was no one's sibling: it kept a re-entry vehicle's drag prior
        and was predicted 19.5 km off under a 2-km ellipse all flight
        (coverage 0.0). Only a co-detected one is taken: a tentative near an
        unclassed track with no plot in common is left as it was (a bias
        duplicate is judged against classed missiles only)."""
        x, p = tr.combined()
        cfg = self.cfg
        cands = [
            o
            for o in self.tracks.values()
            if not (o is tr or o.cls != "unknown" or o.status == "tentative" or o.dead)
        ]
        if not cands:
            return None
        # (in a dense air picture every aircraft is a confirmed track not
        # classed: the distance of all of them at once first, then the tests
        # one by one, in the same order, on those a hair's breadth inside
        # dup_dist_m or nearer; the exact test decides, so the result is the
        # same as testing every track in turn)
        states = [o.combined() for o in cands]
        xs = np.array([xo for xo, _ in states])
        dt = np.array([tr.t - o.t for o in cands])
        off = xs[:, :3] + xs[:, 3:] * dt[:, None] - x[:3]
        near = np.flatnonzero(np.sqrt(np.einsum("ij,ij->i", off, off)) < cfg.dup_dist_m * (1.0 + 1e-6))
        for k in near:
            other = cands[k]
            xo, po = states[k]
            pos = xo[:3] + xo[3:] * (tr.t - other.t)
            if not float(np.linalg.norm(pos - x[:3])) < cfg.dup_dist_m:
                continue
            vsig = math.sqrt(max(float(np.trace(p[3:, 3:]) + np.trace(po[3:, 3:])), 0.0))
            if (
                float(np.linalg.norm(xo[3:] - x[3:])) < cfg.dup_speed_mps + 3.0 * vsig
                and above_aircraft(xo, po, cfg.vote_sigmas)
                and separation.codetections(tr, other) > 0
            ):
                return other
        return None

    def _lost(self, tr: Track, twin: Track) -> bool:
        """Whether ``twin`` has lost the object that ``tr`` (its duplicate:
        no plot in common) has found again: the twin is ``lost`` (no plot
        for ``lost_after_s``), none has updated it since ``tr``\'s first,
        and a radar that updated it has scanned since. Then no sensor holds
        the object where the twin is, there is no bias to suppress (lofted
        ICBM MC seed 1 index 40: stage 2's track, lost 4 km off the stage
        after the unobserved midcourse, suppressed all fifteen tentative
        tracks its own two radars made of the stage in re-entry, 72 s). A
        twin whose radars have not scanned since (a slow revisit) is not
        lost, nor one that went without a plot for a scan or two: a faster
        radar, tampered or not, cannot take a track over between two scans
        of the radars that hold it."""
        if twin.status != "lost" or twin.last_update >= tr.created:
            return False
        mine = {m[REC_SENSOR] for m, _ in twin.hist if m[REC_KIND] == RADAR}
        return any(self.sensor_t.get(s, -math.inf) >= tr.created for s in mine)

    def _outvoted(self, tr: Track, twin: Track) -> bool:
        """Whether the radars that disagree with ``twin`` outnumber those
        that hold it: ``tr`` duplicates ``twin`` (no plot in common), so the
        radars that made ``tr`` (and those that made other duplicates of it
        in the last ``oosm_lag_s``) place the object elsewhere than the
        radars that updated ``twin`` in that time. The duplicate rule keeps
        the track of the majority: the old rule kept the older track,
        whoever made it (freedom-edge/biased-radar with tentative tracks
        kept alive through a missed scan: the tampered radar, +3 km in
        range, saw the missile first; its track took only its own plots and
        twelve tentative tracks of the three honest radars were suppressed
        as its duplicates for 30 s; its launch azimuth, from those early
        positions, named two land areas 46-58 km off the path). Only
        radars count (a line of sight cannot tell the two apart); a track
        that parted from another keeps the old rule (its duplicates may be
        its siblings)."""
        mine = {m[REC_SENSOR] for m, _ in twin.hist if m[REC_KIND] == RADAR}
        theirs = {m[REC_SENSOR] for m, _ in tr.hist if m[REC_KIND] == RADAR}
        since = tr.t - self.cfg.oosm_lag_s
        for s in theirs:
            twin.dissent[s] = max(twin.dissent.get(s, -math.inf), tr.t)
        if twin.separated or twin.siblings:
            return False
        dissent = {s for s, ts in twin.dissent.items() if ts >= since} - mine
        return len(dissent) > len(mine - theirs)

    def _take_over(self, tr: Track, twin: Track, same_past: bool = False) -> None:
        """``tr`` carries on as ``twin`` (its id, class, phase and what was
        reported of it), from its own plots and its own past (early
        positions, launch point: none of the outvoted track's); ``twin`` is
        removed without a message (the next report of its id is ``tr``\'s).
        ``same_past``: ``twin`` lost the object and ``tr`` found it again,
        so the twin's past is the object's (launch point, early positions,
        the pieces it parted from, where and when; its role)."""
        tr.id = twin.id
        tr.cls = twin.cls
        tr.phase, tr.burnt_out, tr.burnout_t = twin.phase, twin.burnt_out, twin.burnout_t
        tr.coast_seen, tr.role, tr.ir_cued = twin.coast_seen, twin.role, tr.ir_cued or twin.ir_cued
        tr.told, tr.told_holds, tr.told_t = twin.told, twin.told_holds, twin.told_t
        tr.inside_t = twin.inside_t
        tr.confirmed_t = twin.confirmed_t
        tr.votes_b, tr.votes_a = twin.votes_b, twin.votes_a
        tr.reported_status, tr.reported_cls = twin.reported_status, twin.reported_cls
        tr.reported_impact, tr.reported_phase = twin.reported_impact, twin.reported_phase
        tr.reported_azimuth = twin.reported_azimuth
        tr.last_report, tr.last_predicted_report = twin.last_report, twin.last_predicted_report
        tr.sources |= twin.sources
        tr.partners |= twin.partners
        if same_past:
            tr.launch, tr.boost_launch = twin.launch, twin.boost_launch
            tr.first, tr.early = twin.first, twin.early
            tr.max_alt = max(tr.max_alt, twin.max_alt)
            tr.manoeuvring = twin.manoeuvring
            tr.separated, tr.parent = twin.separated, twin.parent
            tr.part_dir, tr.part_t = twin.part_dir, twin.part_t
            tr.siblings = set(twin.siblings)
            for k in twin.siblings:
                if (o := self.tracks.get(k)) is not None:
                    o.siblings.discard(twin.key)
                    o.siblings.add(tr.key)
        tr.status = "confirmed"
        del self.tracks[twin.key]

    def ballistic_twin(self, tr: Track) -> Track | None:
        """A confirmed ballistic track that a track about to be confirmed
        duplicates: within ``dup_dist_m`` and ``dup_speed_mps`` + 3 sigma of
        it at the same time (straight-line extrapolation over the small time
        difference; a new track's velocity is poorly known).
        Only missiles: aircraft in formation keep their own tracks."""
        x, p = tr.combined()
        for other in self.tracks.values():
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

    def housekeeping(self, t: float, sent: float) -> list[Envelope]:
        """Apply the lifecycle rules at ``t``: end tracks that are dead or
        landed, drop tentative tracks that cannot be confirmed; a confirmed
        track no plot has updated for ``coast_after_s`` is ``coasting``, for
        ``lost_after_s`` ``lost``: either is predicted to ``t`` every
        ``coast_report_s`` and reported (a missile past burnout with its impact
        prediction) until it is updated again, lands, or is deleted (air and
        boosting tracks after ``delete_air_s`` / ``delete_ballistic_s``, a
        missile past burnout once its position sigma exceeds
        ``coast_max_sigma_m`` after that); report each change, and report the
        prediction of an established confirmed track no plot updated for a
        report interval.

        A track's age is the smaller of two: ``t`` minus the measurement
        time of the newest plot that updated it, and ``sent`` (the arrival
        clock) minus that plot's arrival. Plots reach the tracker seconds
        after they were measured (sensor and link latency); on a tick ``t``
        is the arrival clock, so the first alone includes the latency and a
        track whose radar revisits every 1.6 s with 2 s of latency turned
        coasting after every plot and back at the next (171 times on the
        independent SRBM-fighter case). The second alone flapped a boosting
        track to coasting (c074d96 went back from it to the first). A
        track is coasting when both say no plot has come for
        ``coast_after_s``. A tentative track's age is how long its
        sensors could have given it a plot (:meth:`_tentative_age`): with
        the arrival age alone, tentative tracks of one infrared sensor (3 s
        of latency) lived long enough to be confirmed ~10 s earlier in
        freedom-edge/biased-radar, and that early, imprecise track's boost
        corridor named two land and two sea areas more. Predictions are to ``t``."""
        out: list[Envelope] = []
        sep = [tr for tr in self.tracks.values() if tr.separated]
        if sep:
            cfg = self.cfg
            bias = (cfg.bias_range_m, math.radians(cfg.bias_angle_deg), cfg.bias_rr_mps)
            for tr in separation.decide_roles(
                sep, cfg.role_sigmas, cfg.role_min_m, cfg.role_mass, cfg.restart_window_s, bias
            ):
                self.stats["roles"] += 1
                if tr.status != "tentative":
                    out.append(self.rep.message(tr, sent))
        quiet: list[Track] = []  # confirmed, no update at t, report due
        due_before = t - self.cfg.report_interval_s + 1e-9
        established = 2 * self.cfg.confirm_n  # updates: not a track just confirmed from clutter
        coast_after = self.cfg.coast_after_s
        for tr in list(self.tracks.values()):
            age = t - tr.last_update
            if tr.dead or (tr.impact is not None and self.landed(tr, t)):
                if tr.status != "tentative":
                    tr.status = "deleted"
                    out.append(self.rep.deleted(tr, sent, t))
                del self.tracks[tr.key]
                continue
            if tr.status == "tentative":
                win = tr.window
                if (
                    sum(win) + (self.cfg.confirm_n - len(win)) < self.cfg.confirm_m
                    or self._tentative_age(tr, age, sent) > self.cfg.delete_tentative_s
                ):
                    del self.tracks[tr.key]
                continue
            # a confirmed track's age: also from the arrival clock (see above)
            age = min(age, sent - tr.last_arrival)
            if age > coast_after:
                limit = self.cfg.delete_ballistic_s if tr.ballistic else self.cfg.delete_air_s
                missile = tr.ballistic and tr.burnt_out
                if missile:
                    # a missile past burnout follows physics: keep predicting
                    # it while its position is known to better than
                    # coast_max_sigma_m, until it lands
                    sig = math.sqrt(max(float(np.trace(tr.combined()[1][:3, :3])), 0.0))
                    gone = sig > self.cfg.coast_max_sigma_m and age > limit
                else:
                    gone = age > limit
                if gone:
                    tr.status = "deleted"
                    out.append(self.rep.deleted(tr, sent, t))
                    del self.tracks[tr.key]
                    continue
                # no plot for a while (coasting), then for long (lost): the
                # state is predicted to now every coast_report_s and reported,
                # its covariance growing; never a frozen prediction. Not a
                # track confirmed a moment ago (as one born of clutter): it is
                # reported coasting once, then deleted.
                shown = tr.ballistic or tr.updates >= established
                status = "lost" if shown and age > self.cfg.lost_after_s else "coasting"
                changed = tr.status != status
                if tr.status == "confirmed" and tr.separated:
                    # where its last plots came from (separation.decide_roles)
                    tr.same_piece = separation.same_piece(tr, self.tracks)
                tr.status = status
                if (
                    shown
                    and t > tr.t
                    and (changed or t - tr.t >= self.cfg.coast_report_s)
                    and not self.grounded(tr, t)
                ):
                    self.est.coast(tr, t)
                    if missile:
                        self.bal.predictions(tr)
                    changed = True
                if changed:
                    out.append(self.rep.message(tr, sent))
                continue
            if (
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
            out.extend(self.predicted_reports(quiet, t, sent))
        return out

    def _tentative_age(self, tr: Track, age: float, sent: float) -> float:
        """How long a tentative track has gone without a plot its sensors
        could have given it: the newest scan of the sensors that saw it
        minus its last update (its sensors have scanned on and missed it),
        or, if longer, the arrival clock minus its last plot's arrival (its
        sensors have gone quiet); never more than ``age`` (measurement time:
        the clock minus its last update). On a tick the clock is arrival time,
        so ``age`` alone counts the link's latency: a radar revisiting every
        2 s with 2.5-3 s of latency never saw a tentative track live to its
        next plot (lofted ICBM, MC seed 1 index 33: the re-entry vehicle,
        parted from its stage and reported by that one radar in every scan,
        had no track for 15 s at a time, 44 s in all)."""
        seen = max((self.sensor_t.get(s, -math.inf) for s in tr.sources), default=-math.inf)
        return min(age, max(seen - tr.last_update, sent - tr.last_arrival))

    def predicted_reports(self, trs: list[Track], t: float, sent: float) -> list[Envelope]:
        """Reports of ``trs`` predicted to ``t`` (each track itself unchanged;
        a track whose prediction fails is left out)."""
        got = self.est.air_predict(trs, t)
        if got is None:
            _, _, _, xc, pc, ok = self.est.predict_all(self.est.gather(trs, t))
        else:
            xc, pc, ok = got  # the same kernels in one call
        keep = ok.tolist()
        return self.rep.messages(
            [tr for tr, k in zip(trs, keep, strict=True) if k],
            sent,
            [(t, xc[i], pc[i]) for i, k in enumerate(keep) if k],
        )
