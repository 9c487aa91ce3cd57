"""Association: which plot of a scan updates which track.

Three steps per scan, each cheaper than the next is exact:

1. :meth:`Associator.near`: a pre-gate before the filter prediction, on
   straight-line extrapolations (a compiled kernel looking only at the plots
   near each track on one axis: ``O(n log m)`` plus the close pairs), drops
   the tracks no plot of a radar scan comes near;
2. :meth:`Associator.gate_pairs`: candidate (track, plot) pairs by position
   distance, then the exact chi-square test on the innovation
   (``gate_prob``, 99.9 %), with costs ``d^2 + ln det S``;
3. :meth:`Associator.assign`: global nearest neighbour
   (``linear_sum_assignment``) per connected component of the gate graph, so
   cost grows with local density, not with tracks x plots.
"""

from __future__ import annotations

from itertools import chain

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.special import gammaincinv

from tocsin.fusion import kernels
from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.estimation import Estimator, Gathered
from tocsin.fusion.filters import inv_det
from tocsin.fusion.measurements import RADAR, MeasArrays, take

F64 = NDArray[np.float64]


def sq_dist(a: F64, b: F64) -> F64:
    """Squared distances ``(N, M)`` between points ``a (N, 3)`` and ``b (M, 3)``
    as ``|a|^2 + |b|^2 - 2 a.b`` (one matrix product), about the points'
    centroid so that ECEF magnitudes do not cancel (error ~1e-16 of the spread
    squared, far below the gates' metres)."""
    c = b.mean(axis=0)
    a0, b0 = a - c, b - c
    d2 = np.sum(a0 * a0, axis=1)[:, None] + np.sum(b0 * b0, axis=1)[None, :] - 2.0 * (a0 @ b0.T)
    return np.maximum(d2, 0.0)


class Associator:
    """Gating and assignment of one scan's plots to tracks."""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        # the chi-square quantile as scipy.stats.chi2.ppf computes it (bit for
        # bit), without importing scipy.stats (~0.5 CPU-s at every start)
        self.gate = {m: float(2.0 * gammaincinv(m / 2.0, cfg.gate_prob)) for m in (2, 3, 4)}

    def near(self, g: Gathered, plots: tuple[F64, F64]) -> NDArray[np.int64]:
        """Cheap pre-gate before the filter prediction: keep the tentative
        tracks (their misses are counted) and the tracks whose straight-line
        extrapolation comes within a generous distance of a plot of this radar
        scan (5 sigma of the track position, the drift of up to 20 g over the
        interval, 5 sigma of the plot, plus 20 km). ``g``: the gathered
        tracks; ``plots``: the scan's plot positions and covariances (ECEF).
        Returns the rows to keep, in order."""
        ppos, pcov = plots
        return kernels.near_rows(g.x, g.p, g.mu, g.dt, ppos, pcov, g.code)

    def gate_pairs(
        self, xc: F64, pc: F64, arr: MeasArrays, plots: tuple[F64, F64] | None
    ) -> tuple[NDArray[np.int64], F64]:
        """Gated (track, plot) pairs and their costs ``d^2 + ln det S``:
        candidates by position distance (4.5 sigma of track and plot; all
        pairs for small scans), then the exact chi-square test."""
        n, m = xc.shape[0], arr[1].shape[0]
        if arr[0] == RADAR and plots is not None:
            # (any size: the kernel looks only at the plots near each track)
            return kernels.gate_radar(
                xc,
                pc,
                arr[1],
                arr[3],
                arr[4],
                arr[2],
                self.gate[arr[1].shape[1]],
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
                ia, ja = np.nonzero(sq_dist(xc[:, :3], ppos) <= lim * lim)
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
        nu, h, r = Estimator.residual(xc[ia], take(arr, ja))
        s = h @ pc[ia] @ np.transpose(h, (0, 2, 1)) + r
        s = 0.5 * (s + np.transpose(s, (0, 2, 1)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sinv, det = inv_det(s)
            logdet = np.log(np.where(det > 0.0, det, 1.0))
            d2 = np.einsum("ni,ni->n", nu, np.einsum("nij,nj->ni", sinv, nu))
        good = (det > 0.0) & np.isfinite(det) & np.isfinite(d2)
        ok = (d2 <= self.gate[nu.shape[1]]) & good
        pairs = np.stack([ia[ok], ja[ok]], axis=1)
        return pairs, (d2 + logdet)[ok]

    def model_gate(
        self,
        pairs: NDArray[np.int64],
        cost: F64,
        g: Gathered,
        xp: F64,
        pp: F64,
        cbar: F64,
        arr: MeasArrays,
        plots: tuple[F64, F64] | None,
    ) -> tuple[NDArray[np.int64], F64]:
        """The manoeuvre model's own gate for the ``candidates`` (track rows
        that no plot of the scan came near in the combined gate, below): a target
        that has just begun to turn hard is far outside the combined
        prediction while its quiet model still holds most of the probability,
        but inside the manoeuvre model's prediction ``xp[:, 1], pp[:, 1]``.
        Its pairs cost ``d^2 + ln det S - 2 ln cbar`` (the model's share of
        the mixture likelihood, ``cbar``: the model's predicted probability),
        so a plot in the combined gate of another track still wins. The
        candidates: established tracks (``g``, the gathered rows of ``xp``)
        whose manoeuvre model is a manoeuvre (``q1`` below ``q_boost``), not
        thrust. Returns the pairs and costs with these added."""
        rows = kernels.model_gate_rows(g.code, g.q1, self.cfg.q_boost, pairs)
        if rows.shape[0] == 0:
            return pairs, cost
        p1, c1 = self.gate_pairs(
            np.ascontiguousarray(xp[rows, 1]), np.ascontiguousarray(pp[rows, 1]), arr, plots
        )
        if p1.shape[0] == 0:
            return pairs, cost
        tr = rows[p1[:, 0]]
        c1 = c1 - 2.0 * np.log(np.maximum(cbar[tr, 1], 1e-6))
        return np.concatenate([pairs, np.stack([tr, p1[:, 1]], axis=1)]), np.concatenate([cost, c1])

    @staticmethod
    def assign(
        pairs: NDArray[np.int64], cost: F64, n: int, m: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """GNN per connected component of the gate graph (union-find over the
        gated pairs: the cost grows with the size of each component, not with
        tracks x plots). A pair whose track and plot are in no other pair is
        its own component and is assigned directly."""
        alone = kernels.alone(pairs, n, m)
        if False not in alone.tolist():
            both = pairs.T.copy()
            return both[0], both[1]
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
