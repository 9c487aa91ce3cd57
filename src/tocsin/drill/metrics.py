"""Multi-target tracking metrics: pure numpy/scipy, no I/O.

Everything here works on plain arrays (positions in metres, times in seconds);
:mod:`tocsin.drill.score` turns exchange-format messages into those arrays.

GOSPA
-----
The generalised optimal sub-pattern assignment metric (Rahmathullah,
García-Fernández, Svensson, "Generalized optimal sub-pattern assignment metric",
FUSION 2017) between a set of estimates ``X`` (``m`` points) and truths ``Y``
(``n`` points), with cut-off ``c > 0``, order ``1 <= p < inf`` and ``alpha = 2``:

.. math::

    d_p^{(c,2)}(X, Y) = \\Big( \\min_{\\gamma} \\sum_{(i,j)\\in\\gamma} d(x_i, y_j)^p
        + \\frac{c^p}{2} \\big(|X| + |Y| - 2|\\gamma|\\big) \\Big)^{1/p}

where ``gamma`` ranges over partial assignments whose pairs have ``d < c``. For
``alpha = 2`` this equals an optimal full assignment of ``min(|X|, |Y|)`` pairs on
the cut-off distance ``min(d, c)^p`` plus ``c^p / 2`` per unmatched point (a pair at
``d >= c`` costs ``c^p``, exactly one miss plus one false), which is what
:func:`gospa` solves with :func:`scipy.optimize.linear_sum_assignment`. The sum
splits into *localisation* (``sum d^p`` over pairs with ``d < c``), *missed*
(``c^p/2`` per unassigned truth) and *false* (``c^p/2`` per unassigned estimate),
reported in units of m^p as Stone Soup's ``GOSPAMetric`` does; the distance is
their sum to the power ``1/p``. With ``alpha = 2`` and ``p >= 1`` GOSPA is a metric
on finite sets (identity, symmetry, triangle inequality).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GospaResult:
    """GOSPA at one time.

    ``assign[i]`` is the estimate index assigned to truth ``i`` (``d < c``), or -1.
    ``localisation``, ``missed`` and ``false`` are in m^p and sum to
    ``distance ** p``.
    """

    distance: float
    localisation: float
    missed: float
    false: float
    n_missed: int
    n_false: int
    assign: I64
    pair_dist: F64
    """distance of each truth to its assigned estimate (NaN when unassigned)."""


def _pts(a: npt.ArrayLike) -> F64:
    x = np.asarray(a, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(0, 1) if x.size == 0 else x.reshape(-1, 1)
    if x.ndim != 2:
        raise ValueError("point sets must be (N, d) arrays")
    return x


def distance_matrix(truth: npt.ArrayLike, est: npt.ArrayLike) -> F64:
    """Euclidean distances ``(n_truth, n_est)`` between two ``(N, d)`` point sets."""
    y, x = _pts(truth), _pts(est)
    if y.shape[0] == 0 or x.shape[0] == 0:
        return np.zeros((y.shape[0], x.shape[0]))
    diff = y[:, None, :] - x[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def gospa_from_distances(dist: npt.ArrayLike, c: float, p: float = 2.0) -> GospaResult:
    """GOSPA (alpha = 2) from a truth-by-estimate distance matrix ``(n, m)``.

    Solves the assignment on ``min(d, c)^p`` (see the module docstring); pairs at
    ``d >= c`` are reported as one miss and one false.
    """
    if not (c > 0.0 and p >= 1.0):
        raise ValueError("GOSPA needs c > 0 and p >= 1")
    d = np.asarray(dist, dtype=np.float64)
    n, m = d.shape
    half = c**p / 2.0
    assign = np.full(n, -1, dtype=np.int64)
    pair = np.full(n, np.nan)
    loc = 0.0
    if n and m:
        cost = np.minimum(d, c) ** p
        rows, cols = linear_sum_assignment(cost)
        ok = d[rows, cols] < c
        assign[rows[ok]] = cols[ok]
        pair[rows[ok]] = d[rows[ok], cols[ok]]
        loc = float(np.sum(cost[rows[ok], cols[ok]]))
    n_assigned = int(np.count_nonzero(assign >= 0))
    n_missed = n - n_assigned
    n_false = m - n_assigned
    missed = half * n_missed
    false = half * n_false
    total = loc + missed + false
    return GospaResult(
        distance=float(total ** (1.0 / p)),
        localisation=loc,
        missed=missed,
        false=false,
        n_missed=n_missed,
        n_false=n_false,
        assign=assign,
        pair_dist=pair,
    )


def gospa(truth: npt.ArrayLike, est: npt.ArrayLike, c: float, p: float = 2.0) -> GospaResult:
    """GOSPA (alpha = 2) between truth points ``(n, d)`` and estimates ``(m, d)``."""
    return gospa_from_distances(distance_matrix(truth, est), c, p)


def rmse(errors: npt.ArrayLike) -> float:
    """Root mean square of position errors (m); NaN for an empty set.

    ``sqrt(mean(|e_k|^2))`` over the given error norms (NaNs ignored).
    """
    e = np.asarray(errors, dtype=np.float64)
    e = e[np.isfinite(e)]
    if e.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(e * e)))


@dataclass(frozen=True, slots=True)
class LabelStats:
    """Continuity of one truth object's track labels over time."""

    breaks: int
    """times the object was tracked at one step and untracked at the next step
    while it still existed."""
    id_switches: int
    """times the label assigned to the object changed from one tracked step to
    the next tracked step (gaps in between do not hide a change)."""
    tracked_fraction: float
    """fraction of the object's existing steps at which it was tracked."""


def label_continuity(labels: npt.ArrayLike, exists: npt.ArrayLike) -> LabelStats:
    """Track breaks and ID switches from per-step labels of one truth object.

    ``labels[k]`` is the integer id of the track assigned at step ``k`` or -1;
    ``exists[k]`` says whether the object exists at step ``k``. A *break* is a
    step ``k`` with ``labels[k] >= 0``, ``exists[k+1]`` and ``labels[k+1] < 0``;
    an *ID switch* is a change of label between consecutive tracked steps
    (the usual MOT definitions: Bernardin and Stiefelhagen, "Evaluating multiple
    object tracking performance: the CLEAR MOT metrics", 2008).
    """
    lab = np.asarray(labels, dtype=np.int64)
    ex = np.asarray(exists, dtype=bool)
    if lab.shape != ex.shape:
        raise ValueError("labels and exists must have the same shape")
    tracked = (lab >= 0) & ex
    breaks = int(np.count_nonzero(tracked[:-1] & ex[1:] & ~tracked[1:])) if lab.size > 1 else 0
    seq = lab[tracked]
    switches = int(np.count_nonzero(seq[1:] != seq[:-1])) if seq.size > 1 else 0
    n_ex = int(np.count_nonzero(ex))
    frac = float(np.count_nonzero(tracked)) / n_ex if n_ex else float("nan")
    return LabelStats(breaks=breaks, id_switches=switches, tracked_fraction=frac)


def ellipse_contains(
    east_m: npt.ArrayLike,
    north_m: npt.ArrayLike,
    semi_major_m: npt.ArrayLike,
    semi_minor_m: npt.ArrayLike,
    bearing_deg: npt.ArrayLike,
) -> npt.NDArray[np.bool_]:
    """Whether points (east, north) in the local tangent plane of an ellipse's
    centre lie inside the ellipse (boundary included); vectorised.

    The semi-major axis points along ``bearing_deg``, clockwise from north, so its
    unit vector in (east, north) is ``(sin b, cos b)`` and the semi-minor axis
    ``(cos b, -sin b)``. A point is inside when
    ``(u / a)^2 + (v / b)^2 <= 1`` with ``u``, ``v`` its components along them.
    A degenerate axis (0 m) is taken as 1 micrometre, so such an ellipse holds
    only points on its other axis (to rounding).
    """
    e = np.asarray(east_m, dtype=np.float64)
    n = np.asarray(north_m, dtype=np.float64)
    a = np.asarray(semi_major_m, dtype=np.float64)
    b = np.asarray(semi_minor_m, dtype=np.float64)
    br = np.radians(np.asarray(bearing_deg, dtype=np.float64))
    sb, cb = np.sin(br), np.cos(br)
    u = e * sb + n * cb
    v = e * cb - n * sb
    tiny = 1e-6  # m: a degenerate (0 m) axis is taken as a micrometre wide
    a = np.maximum(a, tiny)
    b = np.maximum(b, tiny)
    qu = (u / a) ** 2
    qv = (v / b) ** 2
    return np.asarray(qu + qv <= 1.0 + 1e-12)


def value_at_times(t_pred: npt.ArrayLike, values: npt.ArrayLike, t_query: npt.ArrayLike) -> F64:
    """The latest value at or before each query time (NaN when there is none).

    ``t_pred`` must be sorted ascending; ``values`` has the same length.
    """
    tp = np.asarray(t_pred, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    tq = np.asarray(t_query, dtype=np.float64)
    idx = np.searchsorted(tp, tq, side="right") - 1
    out = np.full(tq.shape, np.nan)
    ok = idx >= 0
    out[ok] = v[idx[ok]]
    return out


def hermite_positions(t: npt.ArrayLike, states: npt.ArrayLike, t_query: npt.ArrayLike) -> F64:
    """Positions at query times by cubic Hermite interpolation of sampled states.

    ``t`` ``(K,)`` ascending sample times, ``states`` ``(K, 6)`` position and
    velocity; queries outside ``[t[0], t[-1]]`` give NaN. With ``h = t1 - t0`` and
    ``s = (tq - t0) / h``: ``r = h00 r0 + h10 h v0 + h01 r1 + h11 h v1`` with the
    standard Hermite basis ``h00 = 2s^3 - 3s^2 + 1``, ``h10 = s^3 - 2s^2 + s``,
    ``h01 = -2s^3 + 3s^2``, ``h11 = s^3 - s^2`` (exact for constant acceleration).
    """
    ts = np.asarray(t, dtype=np.float64)
    x = np.asarray(states, dtype=np.float64)
    tq = np.asarray(t_query, dtype=np.float64)
    out = np.full((*tq.shape, 3), np.nan)
    if ts.size == 0:
        return out
    if ts.size == 1:
        hit = tq == ts[0]
        out[hit] = x[0, :3]
        return out
    ok = (tq >= ts[0]) & (tq <= ts[-1])
    q = tq[ok]
    i = np.clip(np.searchsorted(ts, q, side="right") - 1, 0, ts.size - 2)
    h = ts[i + 1] - ts[i]
    hs = np.where(h > 0, h, 1.0)
    s = np.where(h > 0, (q - ts[i]) / hs, 0.0)[:, None]
    s2, s3 = s * s, s * s * s
    r0, v0, r1, v1 = x[i, :3], x[i, 3:6], x[i + 1, :3], x[i + 1, 3:6]
    hh = h[:, None]
    out[ok] = (
        (2 * s3 - 3 * s2 + 1) * r0
        + (s3 - 2 * s2 + s) * hh * v0
        + (-2 * s3 + 3 * s2) * r1
        + (s3 - s2) * hh * v1
    )
    return out


__all__ = [
    "GospaResult",
    "LabelStats",
    "distance_matrix",
    "ellipse_contains",
    "gospa",
    "gospa_from_distances",
    "hermite_positions",
    "label_continuity",
    "rmse",
    "value_at_times",
]
