"""Partner tracks: track-to-track fusion of other nodes' ``track`` messages.

A partner's confirmed track is matched to a local confirmed track by its tag
(``partner:source:id``, once seen) or by the chi-square distance of the
positions (``t2t_gate``, 3 DOF) and fused by covariance intersection (the
partner's errors are correlated with ours in unknown ways); an unmatched one
starts a confirmed local track with the partner's class and phase.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tocsin.fusion import drag
from tocsin.fusion.ballistic import Ballistic
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.estimation import Estimator
from tocsin.fusion.filters import covariance_intersection
from tocsin.fusion.lifecycle import Lifecycle
from tocsin.fusion.track import Track
from tocsin.wire.messages import Envelope, TrackBody


class PartnerTracks:
    """Track-to-track fusion (``stats``: ``t2t_new``, ``t2t_fused``;
    ``rejected``: ``nan``, ``track_cov``, ``too_late``)."""

    def __init__(
        self,
        cfg: TrackerConfig,
        stats: Counter[str],
        rejected: Counter[str],
        life: Lifecycle,
        est: Estimator,
        bal: Ballistic,
    ) -> None:
        self.cfg = cfg
        self.stats = stats
        self.rejected = rejected
        self.life = life
        self.est = est
        self.bal = bal

    def fuse(self, env: Envelope, b: TrackBody, now: float) -> tuple[float, int | None]:
        """Fuse one partner track (``now``: the newest measurement time).
        Returns the newest time after it and the key of the local track to
        report (None: nothing to report)."""
        if b.status == "deleted" or b.status == "tentative":
            return now, None
        xb = np.array(b.state_ecef, dtype=np.float64)
        pb = np.array(b.cov, dtype=np.float64).reshape(6, 6)
        pb = 0.5 * (pb + pb.T)
        if not (np.all(np.isfinite(xb)) and np.all(np.isfinite(pb))):
            self.rejected["nan"] += 1
            return now, None
        if np.linalg.eigvalsh(pb)[0] <= 0.0:
            self.rejected["track_cov"] += 1
            return now, None
        if now - b.t > self.cfg.oosm_lag_s:
            self.rejected["too_late"] += 1
            return now, None
        tag = f"{env.partner}:{env.source}:{b.id}"
        live = [tr for tr in self.life.tracks.values() if tr.status != "tentative"]
        best: Track | None = None
        best_d = self.cfg.t2t_gate
        for tr in live:
            if tag in tr.sources:
                best, best_d = tr, -1.0
                break
        if best is None and live:
            xc, pc = self.est.predict_all(self.est.gather(live, b.t))[3:5]
            dx = xc[:, :3] - xb[:3]
            s = pc[:, :3, :3] + pb[:3, :3]
            d2 = np.einsum("ni,ni->n", dx, np.linalg.solve(s, dx[..., None])[..., 0])
            i = int(np.argmin(d2))
            if d2[i] <= best_d:
                best = live[i]
        now = max(now, b.t)
        if best is None:
            tr = self.life.new_track(xb, pb, b.t, {tag}, {env.partner}, env.sent)
            tr.status = "confirmed"
            tr.confirmed_t = b.t
            tr.id = self.life.issue_id()
            tr.cls = b.class_ if b.class_ != "ballistic" else "ballistic"
            if tr.cls == "ballistic":
                tr.phase = b.phase if b.phase in ("boost", "ballistic") else "ballistic"
                tr.burnt_out = tr.coast_seen = tr.phase == "ballistic"  # as the partner saw it
            self.stats["t2t_new"] += 1
            self.bal.predictions(tr)
            return now, tr.key
        tr = best
        if b.t < tr.t:
            # older than the local track's state (covariance intersection
            # cannot go back in time)
            self.stats["t2t_stale"] += 1
            return now, None
        _, _, cbar, xc, pc, _ = self.est.predict_all(self.est.gather([tr], b.t))
        xf, pf, _ = covariance_intersection(xc[0], pc[0], xb, pb)
        tr.x = np.stack([xf, xf])
        tr.p = np.stack([pf, pf])
        tr.mu = cbar[0]
        tr.xc, tr.pc = xf, pf
        tr.t = b.t
        if tr.drag is not None and tr.drag.split:
            # the members start again from the fused state (weights kept)
            tr.drag = drag.split(tr.drag, xf, pf)
        tr.hist.clear()
        tr.last_update = b.t
        tr.last_fix = max(tr.last_fix, b.t)
        tr.last_arrival = max(tr.last_arrival, env.sent)
        tr.sources.add(tag)
        tr.partners.add(env.partner)
        if b.class_ == "ballistic" and tr.cls != "ballistic":
            tr.cls = "ballistic"
            tr.phase = "boost" if b.phase == "boost" else "ballistic"
            tr.burnt_out = tr.coast_seen = tr.phase == "ballistic"  # as the partner saw it
        if tr.status in ("coasting", "lost"):
            tr.status = "confirmed"
        self.stats["t2t_fused"] += 1
        return now, tr.key
