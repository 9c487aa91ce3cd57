"""Initiation: new tentative tracks from plots no track took.

Radar: two-point initiation. A free plot is paired with a plot of the last
``init_window_s`` seconds (another scan) that it could have come from at up to
``init_speed_max``, the slowest such pairing first; the state is the later
plot's position and the two-point velocity, and the quiet model also gets an
aircraft's velocity prior (0 +- ``init_quiet_speed_sigma`` per axis).
Infrared: a free line of sight is triangulated with another infrared
sensor's line of sight within ``ir_pair_dt_s`` that passes within
``ir_max_miss_m`` of it (position from the closest approach, velocity unknown:
``ir_init_vel_sigma``). Plots that start nothing wait in the pending lists.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from tocsin.fusion import kernels
from tocsin.fusion.association import sq_dist
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.lifecycle import Lifecycle
from tocsin.fusion.measurements import LOS, RADAR, Meas
from tocsin.fusion.models import triangulate
from tocsin.fusion.track import Track
from tocsin.geo.wgs84 import ecef_to_geodetic

F64 = NDArray[np.float64]


class Initiator:
    """Starts tentative tracks (in ``life``'s table) from free plots."""

    def __init__(self, cfg: TrackerConfig, life: Lifecycle) -> None:
        self.cfg = cfg
        self.life = life
        self._pending: list[tuple[Meas, F64, F64]] = []  # radar plot, pos, cov
        self._pending_ir: list[Meas] = []
        # free infrared lines of sight of the last ``ir_cue_s`` (burning
        # motors no track took: tocsin.fusion.ballistic.Ballistic.ir_cued);
        # bounded so that a flood of lines of sight costs a fixed amount
        self.ir_cues: deque[Meas] = deque(maxlen=256)

    def initiate(
        self, plots: list[Meas], now: float, radar_pos: tuple[F64, F64] | None = None
    ) -> list[Track]:
        """Start tracks from free plots (``now``: the newest measurement time;
        ``radar_pos``: the radar plots' ECEF positions and covariances if
        already computed)."""
        out: list[Track] = []
        lim = now - self.cfg.init_window_s
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
                    near = sq_dist(pos, ppos) <= ((rmax + 4.0 * sig) ** 2)[:, None]
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
                    tr = self.life.new_track(
                        x, p, b.t, {a.sensor, b.sensor}, {a.partner, b.partner}, max(a.sent, b.sent)
                    )
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
                    tr.born = ((a.sensor, a.t), (b.sensor, b.t))
                    out.append(tr)
                    used.add(-1 - j)
            keep = [pd for k, pd in enumerate(self._pending) if k not in used]
            for j, m in enumerate(radar):
                if (-1 - j) not in used:
                    keep.append((m, pos[j], cov[j]))
            self._pending = keep
        for m in ir:
            out.extend(self.initiate_ir(m))
        return out

    def initiate_ir(self, m: Meas) -> list[Track]:
        while self.ir_cues and self.ir_cues[0].t < m.t - self.cfg.ir_cue_s:
            self.ir_cues.popleft()
        self.ir_cues.append(m)
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
        tr = self.life.new_track(
            x, p, t, {m.sensor, pm.sensor}, {m.partner, pm.partner}, max(m.sent, pm.sent)
        )
        tr.window = deque([1], maxlen=self.cfg.confirm_n)
        tr.updates = 1
        tr.born = ((pm.sensor, pm.t), (m.sensor, m.t))
        return [tr]
