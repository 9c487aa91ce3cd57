"""Drag: a missile's ballistic coefficient, estimated by a bank of filters.

Below the drag ceiling (120 km) the air slows an object by
``rho(h) |v| v / (2 beta)``, and ``beta = m / (C_d A)`` is not known to a
tracker: real warheads of one class differ by a factor of two to four. A
tracker that assumes one value is confidently wrong about the impact point of
every object that differs (issue 16: SRBM ellipses holding 4-16 % of impacts).

The belief about ``beta`` is a :class:`DragBank`: ``K`` hypotheses ``beta_j``
with weights. The prior is the documented range of the object's kind
(:data:`tocsin.dynamics.beta.BETA_RANGES`, public sources in docs/dynamics.md),
log-uniform (a ratio: a factor of two either way is equally likely):
``n_core`` members at the midpoints of equal steps of ``ln beta`` across the
range share ``1 - tail`` of the weight, and ``n_tail`` members on each side,
continuing the steps beyond the range, share ``tail`` (an object outside its
kind's range, or of another kind, can still be found). A missile's kind is
the re-entry class of the flight it is on (:func:`rv_kind`: the
minimum-energy range of its range and apogee, as the simulator and the
textbooks class missiles).

Above ``split_alt_m`` the members would all be the same filter: the bank is
only a belief (the track's state is every member's). At the first prediction
below it the bank *splits*: every member becomes a filter of its own (the
track's state and covariance, predicted with its own ``beta``), updated with
the same measurements; its weight is multiplied by the likelihood of each
innovation (a static multiple-model estimator, Bar-Shalom, Li and
Kirubarajan 2001, sec. 11.6.3), so the weights become the posterior of
``beta`` on the members' grid. The track's state is the mixture's mean and
covariance (spread of the members included). Impact predictions propagate
every member of non-negligible weight (:func:`tocsin.fusion.impact.predict_impact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import DRAG_CEILING_M, density, density_sigma
from tocsin.dynamics.beta import BETA_RANGES, range_class, rv_class
from tocsin.fusion import ground, kernels
from tocsin.fusion.filters import ekf_update
from tocsin.fusion.measurements import MeasArrays
from tocsin.fusion.models import ballistic_predict
from tocsin.fusion.propagate import height
from tocsin.geo.wgs84 import GM, OMEGA_E, WGS84_A, ecef_to_geodetic, great_circle_distance

F64 = NDArray[np.float64]

AIR_GRID_M = 1_000.0
"""Height bins of :func:`density_spread_path`, m."""
AIR_BINS = int(DRAG_CEILING_M // AIR_GRID_M) + 1

NOMINAL_BETA = 5_000.0
"""kg/m^2: only to find a flight's range for its class (the class decides the prior)."""


@dataclass(frozen=True, slots=True)
class DragBank:
    """The belief about one object's ``beta`` (immutable: history snapshots
    share it). ``x, p`` are the members' states once split, else None."""

    kind: str
    """What the prior was for: a kind of :data:`~tocsin.dynamics.beta.BETA_RANGES`,
    or several joined by ``+`` (an object that separated from another and may
    be either)."""
    lnb: F64
    """``(K,)`` ln beta of the members, kg/m^2: the midpoints of bins ``step`` wide."""
    logw: F64
    """``(K,)`` log weights, normalised (logsumexp 0)."""
    x: F64 | None = None
    """``(K, 6)`` members' states at the track's time (split banks)."""
    p: F64 | None = None
    """``(K, 6, 6)`` their covariances."""
    step: F64 = field(default_factory=lambda: np.zeros(0))
    """``(K,)`` width of each member's bin of ``ln beta``: the truth may lie
    anywhere in it (uniform), which the members' process noise and the
    impact ellipse account for."""
    member_kind: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """``(K,)`` index into ``kind.split("+")`` of each member's kind."""
    role: str | None = None
    """The role the prior was made for (separated objects)."""
    logw0: F64 | None = None
    """``(K,)`` the prior's log weights (:meth:`fresh`)."""
    zw: F64 | None = None
    """``(K, M)`` log of what the drag has told the bank about ``(ln beta,
    z)`` (``z`` the air's departure in sigmas at :data:`Z_NODES`, its prior
    included), for :func:`drift_air`; None until the first."""
    zref: F64 | None = None
    """``(K,)`` the log weights :func:`drift_air` last left (what has been
    read since is ``logw - zref``)."""
    read: F64 | None = None
    """``(AIR_BINS,)`` where the drag the bank has weighed was read: each
    plot that read ``beta`` (:func:`note_read`) adds its information about
    ``ln beta`` to the bin of the height it was read at; None until the
    first. The air's departure the bank has taken into its ``ln beta`` is
    the departure there, not where the object is now
    (:func:`density_spread_path`)."""

    @property
    def split(self) -> bool:
        return self.x is not None

    @property
    def beta(self) -> F64:
        out: F64 = np.exp(self.lnb)
        return out

    @property
    def weights(self) -> F64:
        out: F64 = np.exp(self.logw)
        return out

    def mean_lnb(self) -> float:
        return float(self.weights @ self.lnb)

    def sigma_lnb(self) -> float:
        w = self.weights
        m = float(w @ self.lnb)
        return math.sqrt(max(float(w @ (self.lnb - m) ** 2), 0.0))

    def informed(self) -> float:
        """How much of the belief about ``ln beta`` the drag seen so far made,
        0..1: the sensitivity ``d E[ln beta | data] / d y`` of the posterior
        mean to the value ``y`` of ``ln beta`` the drag measurements point to.
        For a likelihood Gaussian in ``ln beta`` (centre ``y``, ``sigma_m``)
        it is ``Var[ln beta | data] / sigma_m^2`` whatever the prior (the
        derivative of the posterior mean of a Gaussian location model); the
        likelihood of each member is its weight over its prior weight
        (``logw - logw0``), and ``1 / sigma_m^2`` is the curvature of a
        quadratic fitted to its logarithm, weighted by the posterior (where
        it matters). ``Var`` counts the spread within each member's bin
        (``step^2 / 12``). Where the members' likelihoods are no clean
        quadratic (members far from the truth whose filters have wandered),
        at least the share of the prior's variance the data took away,
        ``1 - Var_post / Var_prior`` (equal to the above for a Gaussian prior,
        below it for a uniform one). 0: nothing learnt (not split, flat
        likelihood); 1: the prior no longer matters. A bank without its
        prior's weights (pickled before ``logw0``) counts as fully informed."""
        logw0 = getattr(self, "logw0", None)
        if not self.split:
            return 0.0
        if logw0 is None:
            return 1.0
        w = self.weights
        bins = self.step * self.step / 12.0
        m = float(w @ self.lnb)
        u = self.lnb - m
        var = float(w @ (u * u)) + float(w @ bins)
        w0 = np.exp(logw0)
        m0 = float(w0 @ self.lnb)
        var0 = float(w0 @ (self.lnb - m0) ** 2) + float(w0 @ bins)
        shrink = min(max(1.0 - var / var0, 0.0), 1.0) if var0 > 0.0 else 0.0
        keep = w > 1e-6 * float(w.max())
        if int(keep.sum()) < 3:
            # all the weight within two bins: the drag measured beta better
            # than the bins resolve it
            return 1.0
        uk, wk = u[keep], w[keep]
        a = np.stack([np.ones_like(uk), uk, uk * uk], axis=1) * np.sqrt(wk)[:, None]
        ll = (self.logw[keep] - logw0[keep]) * np.sqrt(wk)
        coef = np.linalg.lstsq(a, ll, rcond=None)[0]
        curv = -2.0 * float(coef[2])  # 1 / sigma_m^2
        return max(shrink, min(1.0, var * curv)) if curv > 0.0 else shrink

    def kind_mass(self) -> dict[str, float]:
        """Posterior weight of each kind the prior was made of."""
        w = self.weights
        return {k: float(w[self.member_kind == i].sum()) for i, k in enumerate(self.kind.split("+"))}

    def with_states(self, x: F64 | None, p: F64 | None, logw: F64 | None = None) -> DragBank:
        return replace(self, x=x, p=p, logw=self.logw if logw is None else logw)

    def fresh(self) -> DragBank:
        """The prior this bank started from, not split: what a track re-filtered
        from a state older than the bank starts again from (every
        measurement the bank has weighed since is re-filtered too)."""
        logw0 = getattr(self, "logw0", None)  # None: pickled before it existed
        return replace(
            self, x=None, p=None, logw=self.logw if logw0 is None else logw0, zw=None, zref=None, read=None
        )


def prior(kind: str, *, n_core: int = 9, n_tail: int = 2, tail: float = 0.01) -> DragBank:
    """The prior bank of a kind (module doc): log-uniform on its range; of
    kinds joined by ``|`` (:func:`rv_kind`), on the union of their ranges."""
    rs = [BETA_RANGES[k] for k in kind.split("|")]  # type: ignore[index]
    lo, hi = math.log(min(r.lo for r in rs)), math.log(max(r.hi for r in rs))
    step = (hi - lo) / n_core
    core = lo + step * (np.arange(n_core) + 0.5)
    below = lo - step * (np.arange(n_tail, 0, -1) - 0.5)
    above = hi + step * (np.arange(1, n_tail + 1) - 0.5)
    lnb = np.concatenate([below, core, above])
    if n_tail == 0:
        w = np.full(n_core, 1.0 / n_core)
    else:
        t = np.full(n_tail, 0.5 * tail / n_tail)
        w = np.concatenate([t, np.full(n_core, (1.0 - tail) / n_core), t])
    k = lnb.shape[0]
    kinds = np.zeros(k, dtype=np.int64)
    logw = np.log(w / w.sum())
    return DragBank(kind, lnb, logw, step=np.full(k, step), member_kind=kinds, logw0=logw)


def mixture_prior(parts: list[tuple[str, float]], role: str | None = None) -> DragBank:
    """A prior over several kinds with these weights (an object known to
    have separated from another, which may be either: ``[("IRBM", 0.5),
    ("stage", 0.4), ("debris", 0.1)]``)."""
    banks = [prior(k) for k, _ in parts]
    total = sum(w for _, w in parts)
    logw = np.concatenate([b.logw + math.log(w / total) for b, (_, w) in zip(banks, parts, strict=True)])
    return DragBank(
        "+".join(k for k, _ in parts),
        np.concatenate([b.lnb for b in banks]),
        logw,
        step=np.concatenate([b.step for b in banks]),
        member_kind=np.concatenate([np.full(b.lnb.shape[0], i, dtype=np.int64) for i, b in enumerate(banks)]),
        role=role,
        logw0=logw,
    )


def kepler_apogee_m(x: F64) -> float:
    """Height of the apogee of the vacuum Kepler arc through the ECEF state
    ``x (6,)`` (inertial velocity ``v + w x r``; radius is the same in both
    frames), above the equatorial radius."""
    r = x[:3]
    v = x[3:] + np.cross(np.array([0.0, 0.0, OMEGA_E]), r)
    rn = float(np.linalg.norm(r))
    energy = float(v @ v) / 2.0 - GM / rn
    if energy >= 0.0:
        return math.inf
    a = -GM / (2.0 * energy)
    h = np.cross(r, v)
    e = math.sqrt(max(0.0, 1.0 - float(h @ h) / (GM * a)))
    return max(a * (1.0 + e), rn) - WGS84_A


def rv_kind(x: F64, launch: tuple[float, float] | None = None, max_alt_m: float = 0.0) -> str:
    """The re-entry class of the flight a coasting missile with ECEF state
    ``x (6,)`` is on: :func:`tocsin.dynamics.beta.rv_class` of its ground
    range (from ``launch`` (lat, lon), or from the state propagated back to
    the ground, to the state propagated forward to the ground) and its
    apogee (its Kepler arc's, or the highest height seen, ``max_alt_m``, if
    higher: in the air the arc has lost to drag). A depressed flight (apogee below the least-energy arc's)
    whose speed says a longer class than its range gets both, ``"SRBM|MRBM"``
    (:func:`prior`: the union of the two ranges; session 8: the MRBM prior
    alone cannot reach a depressed SRBM's beta of 2,000-2,500, and the bank
    sat on its lowest member, 10-17 % off with no spread to show for it)."""
    # the Kepler arc through the state has the flight's apogee on the way
    # down as on the way up (above the air); the highest height seen may
    # have stopped being updated before the apogee (a lofted ICBM's RV seen
    # to 1,000 km of its 6,000 was an MRBM's after the apogee, an IRBM's
    # when the bank split, and a 14,500 beta was out of its prior's reach)
    apogee = max(kepler_apogee_m(x), max_alt_m)
    if not math.isfinite(apogee):
        return "ICBM"
    dt, xg, _ = ground.to_ground(x[None, :], NOMINAL_BETA, direction=+1, max_time=7200.0)
    if not np.isfinite(dt[0]):
        return "ICBM"
    ilat, ilon, _ = ecef_to_geodetic(xg[0, :3])
    if launch is None:
        db, xb, _ = ground.to_ground(x[None, :], NOMINAL_BETA, direction=-1, max_time=7200.0)
        if not np.isfinite(db[0]):
            return "ICBM"
        blat, blon, _ = ecef_to_geodetic(xb[0, :3])
        launch = (float(blat), float(blon))
    rng = max(float(great_circle_distance(launch[0], launch[1], float(ilat), float(ilon))), 1_000.0)
    apogee = max(apogee, 1_000.0)
    by_energy = rv_class(rng, apogee)
    by_range = range_class(rng)
    if by_energy != by_range and apogee < min_energy_apogee_m(rng):
        # flown flatter than the least-energy arc: a depressed flight, which
        # the short-range class flies (KN-23, Iskander: docs/dynamics.md) and
        # whose speed says a longer class; either's re-entry vehicle
        return f"{by_range}|{by_energy}"
    return by_energy


def min_energy_apogee_m(range_m: float) -> float:
    """Apogee height of the least-energy vacuum arc of this ground range on a
    spherical Earth (burnout flight-path angle ``pi / 4 - psi / 4``, ``psi``
    the range angle; as :func:`tocsin.dynamics.flight.min_energy_apogee_m`
    finds it numerically), m."""
    psi = range_m / WGS84_A
    s = math.sin(0.5 * psi)
    nu = 2.0 * s / (1.0 + s)
    gamma = 0.25 * (math.pi - psi)
    a = WGS84_A / (2.0 - nu)
    e = math.sqrt(max(0.0, 1.0 - nu * (2.0 - nu) * math.cos(gamma) ** 2))
    return a * (1.0 + e) - WGS84_A


def split(bank: DragBank, x: F64, p: F64) -> DragBank:
    """The bank with every member a filter at the track's ``x, p``."""
    k = bank.lnb.shape[0]
    return bank.with_states(np.repeat(x[None], k, 0), np.repeat(p[None], k, 0))


def interact(bank: DragBank, w_own: float, x1: F64, p1: F64) -> DragBank:
    """The IMM interaction (mixing) step for a split bank that is a track's
    quiet model: with probability ``w_own`` the quiet model was the quiet
    model before the step, else it was the other model (state ``x1, p1``).
    Every member ``j`` starts its prediction from ``w x_j + (1 - w) x1``
    with covariance ``w P_j + (1 - w) P1 + w (1 - w) (x_j - x1)(x_j - x1)^T``;
    the weights (the belief about ``beta``) are kept. The members' mixture
    then has exactly the mean and covariance of the IMM's mixed quiet-model
    prior (Bar-Shalom, Li and Kirubarajan 2001, sec. 11.6.6), so a bank
    whose model probability has collapsed restarts from the model that
    explains the plots instead of flying on from wherever its members
    drifted (and being mixed, far off, into every prediction)."""
    assert bank.x is not None
    assert bank.p is not None
    w = min(max(w_own, 0.0), 1.0)
    if w >= 1.0:
        return bank
    d = bank.x - x1
    x = w * bank.x + (1.0 - w) * x1
    p = w * bank.p + (1.0 - w) * p1 + (w * (1.0 - w)) * np.einsum("ki,kj->kij", d, d)
    return bank.with_states(x, p)


def drag_accel(x: F64, beta: F64) -> F64:
    """Magnitude of the drag deceleration ``rho(h) |v|^2 / (2 beta)`` of
    ECEF states ``x (K, 6)``, m/s^2 (the standard atmosphere)."""
    rho = density(height(x[:, :3]))
    v2 = np.einsum("ki,ki->k", x[:, 3:], x[:, 3:])
    out: F64 = 0.5 * rho * v2 / beta
    return out


def note_read(bank: DragBank, x: F64) -> DragBank:
    """``bank`` with one plot's reading of the drag noted at the height of
    the state ``x (6,)`` it was read at (:attr:`DragBank.read`). A plot's
    information about ``ln beta`` is the square of what ``ln beta`` changes
    in what it measures: the drag deceleration ``a = rho v^2 / (2 beta)``
    changes by ``-a`` per unit of ``ln beta``, so plots of equal accuracy
    inform in proportion to ``a^2``, i.e. ``(rho(h) v^2)^2`` (``beta`` is
    the same for every plot of the bank and cancels)."""
    h = float(height(x[None, :3])[0])
    if h >= DRAG_CEILING_M:
        return bank
    rho = float(density(np.array([max(h, 0.0)]))[0])
    info = (rho * float(x[3:] @ x[3:])) ** 2
    if not info > 0.0:
        return bank
    prev = getattr(bank, "read", None)
    read = np.zeros(AIR_BINS) if prev is None else prev.copy()
    read[min(max(round(h / AIR_GRID_M), 0), AIR_BINS - 1)] += info
    return replace(bank, read=read)


def density_spread(h_now_m: float, informed: float, corr_m: float, h_low_m: float = 15_000.0) -> float:
    """1-sigma relative error of the drag still to come that the air's
    departure from the standard atmosphere makes
    (:func:`tocsin.dynamics.atmosphere.density_sigma`), for an object now at
    ``h_now_m``. Most of a re-entry's deceleration comes low down (at
    ``h_c = min(h_now, h_low_m)``), where the air departs by ``d_c`` (sigma
    ``sigma_c``). A bank that has seen drag about the height it is at now
    read it through that air's departure ``d_n`` (sigma ``sigma_n``): its
    ``ln beta`` moved by ``k d_n``, ``k`` = ``informed``
    (:meth:`DragBank.informed`: 0 before any drag, 1 once the drag alone
    decides), so what remains of the drag to come is ``d_c - k d_n``,
    the two correlated over ``corr_m`` of height: ``sigma_c^2 + k^2
    sigma_n^2 - 2 k sigma_c sigma_n exp(-|h_now - h_c| / corr_m)``. (Before
    session 7 ``k`` was 1 as soon as the bank split, 130 km up, where it has
    seen no drag: 20-40 % of ``sigma_n`` counted that no bank had taken in.)"""
    k = min(max(float(informed), 0.0), 1.0)
    hc = min(h_now_m, h_low_m)
    sc = float(density_sigma(hc))
    if k == 0.0:
        return sc
    sn = k * float(density_sigma(h_now_m))
    rho = math.exp(-abs(h_now_m - hc) / corr_m) if corr_m > 0.0 else 0.0
    return math.sqrt(max(sc * sc + sn * sn - 2.0 * sc * sn * rho, 0.0))


def air_weights(samples: list[tuple[float, F64]], t_ground: float, beta: float) -> tuple[F64, F64]:
    """Heights (m) and weights of the drag still to come along a predicted
    path (``samples``: ``(elapsed s, ECEF state)`` to the ground, reached
    ``t_ground`` s after the first; ballistic coefficient ``beta``), for
    :func:`density_spread_path`. A relative change ``d`` of the air's density
    about height ``h`` changes the deceleration there by ``d a`` (``a = rho
    v^2 / (2 beta)``) for the time ``dt`` the object spends there; the speed
    it takes off then moves the impact by what it would have flown in the
    time still to fall, less what the air damps of it on the way (drag goes
    with ``v^2``: a speed change ``dv`` decays at ``2 a / v = rho v /
    beta``): the weight is ``a dt G``, ``G = int exp(-int rho v / beta)``
    from then to the ground."""
    if len(samples) < 2:
        return np.zeros(0), np.zeros(0)
    el = np.array([s[0] for s in samples])
    xs = np.stack([s[1] for s in samples])
    h = height(xs[:, :3])
    v = np.sqrt(np.einsum("ki,ki->k", xs[:, 3:], xs[:, 3:]))
    rho = density(h)
    dt = np.maximum(np.diff(np.append(el, max(t_ground, float(el[-1])))), 0.0)
    lam = rho * v / beta
    g = np.zeros(el.size)
    acc = 0.0
    for j in range(el.size - 1, -1, -1):
        # the time still to fall, each second damped by the air on the way
        x = lam[j] * dt[j]
        acc = (dt[j] if x < 1e-9 else (1.0 - math.exp(-x)) / lam[j]) + math.exp(-x) * acc
        g[j] = acc
    w: F64 = 0.5 * rho * v * v / beta * dt * g
    return h, w


def density_spread_path(
    h_now_m: float, informed: float, corr_m: float, heights: F64, weights: F64, read: F64 | None = None
) -> float:
    """1-sigma relative error of the drag still to come from the air's
    departure from the standard (as :func:`density_spread`), with the drag
    to come spread along its path: ``weights`` at ``heights``
    (:func:`air_weights`) instead of all at one height. The departure is a
    Gauss-Markov process in height (:func:`tocsin.dynamics.atmosphere.day_air`;
    sigma :func:`~tocsin.dynamics.atmosphere.density_sigma`, correlation
    ``exp(-|dh| / corr_m)``), so the drag to come reads its weighted mean
    ``D = sum w_i d_i / sum w_i`` (variance ``w^T C w / W^2``: over a path
    many correlation lengths long, less than any one height's), and a bank
    informed by ``k`` (:meth:`DragBank.informed`) has already taken ``k d_n``
    of the air at ``h_now_m`` into its beta: what is left is ``D - k d_n``,
    variance ``w^T C w / W^2 + k^2 sigma_n^2 - 2 k sigma_n sum_i w_i C_in / W``.
    With all the weight at one height it is :func:`density_spread`. (The one
    height ``min(h_now, 15 km)`` overstated the departure a whole re-entry
    reads by 1.3-2x, and once informed said nothing is left below 15 km,
    where the air still to come lies below the air the bank read:
    benchmarks/air_calibration.py.) Without weights: :func:`density_spread`.

    ``read`` (:attr:`DragBank.read`): where the bank read the drag it has
    weighed, with each height's share of what it learnt: the departure it
    took in is their mean ``d_r = sum u_j d_j``, so ``k d_r`` replaces
    ``k d_n`` (variance ``k^2 u^T C u - 2 k w^T C u / W``). Without it the
    bank is taken to have read the air it is in now, which holds only while
    it reads: a bank that read its drag at 50 km on the way up is not
    informed by the air at 100 km it coasts through over the top (MC SRBM,
    session 13: the term was 0.30-0.35 of ``ln beta`` from 80 km up, the
    departure of the air there, where it is 0.15-0.2 of the air read)."""
    k = min(max(float(informed), 0.0), 1.0)
    tot = float(np.sum(weights))
    if weights.size == 0 or not tot > 0.0 or corr_m <= 0.0:
        return density_spread(h_now_m, k, corr_m)
    idx = np.clip(np.rint(heights / AIR_GRID_M).astype(np.int64), 0, AIR_BINS - 1)
    wb = np.bincount(idx, weights=weights, minlength=AIR_BINS) / tot
    used = np.nonzero(wb > 0.0)[0]
    hb = used * AIR_GRID_M
    sw = density_sigma(hb) * wb[used]
    var = float(sw @ np.exp(-np.abs(hb[:, None] - hb[None, :]) / corr_m) @ sw)
    if k > 0.0 and read is not None and float(np.sum(read)) > 0.0:
        # less what the bank has read of the air where it read it
        ur = read / float(np.sum(read))
        ru = np.nonzero(ur > 0.0)[0]
        hr = ru * AIR_GRID_M
        su = density_sigma(hr) * ur[ru]
        var += k * k * float(su @ np.exp(-np.abs(hr[:, None] - hr[None, :]) / corr_m) @ su)
        var -= 2.0 * k * float(sw @ np.exp(-np.abs(hb[:, None] - hr[None, :]) / corr_m) @ su)
    elif k > 0.0:
        # less what the bank has read of the air it is in
        sn = float(density_sigma(h_now_m))
        var += k * k * sn * sn - 2.0 * k * sn * float(sw @ np.exp(-np.abs(hb - h_now_m) / corr_m))
    return math.sqrt(max(var, 0.0))


def air_drift_var(h0_m: float, h1_m: float, corr_m: float) -> float:
    """Variance of the change of the air's departure from the standard
    (:func:`tocsin.dynamics.atmosphere.density_sigma`, correlated
    ``exp(-|dh| / corr_m)`` in height: the Gauss-Markov air the tracker
    assumes, :func:`density_spread_path`) between two heights:
    ``sigma_0^2 + sigma_1^2 - 2 rho sigma_0 sigma_1``. The drag a bank
    measures reads ``ln beta - d(h)``: this is how far that moves when the
    object goes from ``h0_m`` to ``h1_m`` (0 above the drag ceiling, where
    there is no drag to read; ~``2 sigma^2 |dh| / corr_m`` for a small step)."""
    if corr_m <= 0.0 or min(h0_m, h1_m) >= DRAG_CEILING_M:
        return 0.0
    s0 = float(density_sigma(min(h0_m, DRAG_CEILING_M)))
    s1 = float(density_sigma(min(h1_m, DRAG_CEILING_M)))
    rho = math.exp(-abs(h1_m - h0_m) / corr_m)
    return max(s0 * s0 + s1 * s1 - 2.0 * rho * s0 * s1, 0.0)


Z_STEP = 0.5
Z_NODES: F64 = np.arange(-3.5, 3.5 + 1e-9, Z_STEP)
"""The air's departure from the standard in sigmas (``z = d / sigma(h)``):
the nodes :func:`drift_air` keeps the belief about it on."""


def _ou_chain() -> tuple[F64, F64, F64]:
    """The Gauss-Markov air ``z`` (unit variance, correlation ``exp(-|dh| /
    L)``) as a Markov chain on :data:`Z_NODES`: rates to the neighbours
    ``sqrt(pi_j / pi_i) / dz^2`` (reversible, its stationary law exactly the
    discrete normal ``pi``), the time scaled so that ``z`` itself decays as
    ``exp(-dh / L)`` (the chain's slowest odd mode). Returns the eigen
    decomposition of its symmetrised generator (values, vectors) and
    ``sqrt(pi)``: :func:`_ou_step` is ``exp(Q du)``."""
    z = Z_NODES
    m = z.size
    q = np.zeros((m, m))
    i = np.arange(m - 1)
    q[i, i + 1] = np.exp(-(z[i + 1] ** 2 - z[i] ** 2) / 4.0) / Z_STEP**2
    q[i + 1, i] = np.exp(-(z[i] ** 2 - z[i + 1] ** 2) / 4.0) / Z_STEP**2
    q[np.arange(m), np.arange(m)] = -q.sum(axis=1)
    sp = np.exp(-(z**2) / 4.0)
    sym = sp[:, None] * q / sp[None, :]
    ev, u = np.linalg.eigh(0.5 * (sym + sym.T))
    # the mode most like z itself: its rate is the chain's time unit
    odd = int(np.argmax(np.abs(u.T @ (sp * z))))
    ev = ev / abs(float(ev[odd]))
    return ev, u, sp


_OU_EV, _OU_U, _OU_SP = _ou_chain()
_Z_LOGPI: F64 = -0.5 * Z_NODES**2 - float(np.log(np.sum(np.exp(-0.5 * Z_NODES**2))))


def _ou_step(du: float) -> F64:
    """``(M, M)`` transition of the air's ``z`` over ``du`` correlation
    lengths of height (rows: from; each row sums to 1)."""
    s = (_OU_U * np.exp(_OU_EV * du)[None, :]) @ _OU_U.T
    out: F64 = np.maximum(s / _OU_SP[:, None] * _OU_SP[None, :], 0.0)
    return out / out.sum(axis=1, keepdims=True)


def _spread(q: F64, n: int) -> tuple[NDArray[np.int64], F64]:
    """The member whose bin holds each fractional member position ``q``
    (clipped to the grid ``0..n-1``), as ``j0`` and the share ``f`` (0 or
    1) of ``j0 + 1``."""
    j = np.rint(np.clip(q, 0.0, n - 1.0)).astype(np.int64)
    j0 = np.minimum(j, n - 2)
    return j0, (j - j0).astype(np.float64)


def drift_air(
    bank: DragBank, h0_m: float, h1_m: float, corr_m: float, mix: bool = True, net: bool = True
) -> DragBank:
    """The bank after the object came down from ``h0_m`` to ``h1_m``,
    forgetting as the stationary air does. The drag a member reads is
    ``theta = ln beta - d(h)``, ``d = sigma(h) z`` the air's departure
    from the standard (:func:`tocsin.dynamics.atmosphere.density_sigma`),
    ``z`` Gauss-Markov in height (correlation ``exp(-|dh| / corr_m)``: the
    air :func:`density_spread_path` assumes). The belief is kept jointly on
    ``(ln beta, z)`` (``zw``: the members' grid of ``ln beta``, flat, times
    :data:`Z_NODES`): what the drag said since the last call (``logw -
    zref``, per member) is read at ``theta = ln beta - sigma(h0) z``
    (linear between members), ``z`` is carried to ``h1_m`` by the air's own
    law (:func:`_ou_step`: mean reversion kept, where a random walk of
    ``theta``, session 9's first version, forgets without bound on a long
    fall: 30 -> 1 km, 0.034 against the air's 0.012), and the members'
    weights are their prior (``logw0``) times the likelihood of ``theta =
    ln beta - sigma(h1) z`` at each member (over the flat prior's, so a bank
    that has read nothing keeps its prior). The members' states are mixed
    as the IMM does by what moved from member to member (``mix``); with
    ``net`` only by what moved net of the exchange both ways (two members
    trading the same weight keep their own states: session 10's mixing of
    every exchange re-seeded neighbours with each other's state at each
    step; drift on, MC depressed 30 flights: rv coverage 0.9819 -> 0.9799,
    median of medians 1,188 -> 1,160 m; 0-60 s before impact 1.000 both).
    A static air (every height reading the same ``theta``) keeps the bank
    near a static bank's: what it read about ``ln beta`` stays, only the
    air's own spread at ``h1`` is added."""
    logw0 = getattr(bank, "logw0", None)
    ceiling = DRAG_CEILING_M
    if corr_m <= 0.0 or not bank.split or logw0 is None or min(h0_m, h1_m) >= ceiling:
        return bank
    a0, a1 = min(h0_m, ceiling), min(h1_m, ceiling)
    s0 = float(density_sigma(a0))
    s1 = float(density_sigma(a1))
    tr = _ou_step(abs(a1 - a0) / corr_m)
    zw_old = getattr(bank, "zw", None)
    zref = getattr(bank, "zref", None)
    inc = bank.logw - (logw0 if zw_old is None or zref is None else zref)
    k = bank.lnb.shape[0]
    m = Z_NODES.size
    zw = np.zeros((k, m))
    loglik = bank.logw - logw0
    x = None if bank.x is None else bank.x.copy()
    pc = None if bank.p is None else bank.p.copy()
    pi = np.exp(_Z_LOGPI)
    for kk in np.unique(bank.member_kind):
        sel = np.nonzero(bank.member_kind == kk)[0]
        n = sel.size
        step = float(np.mean(bank.step[sel]))
        if n < 2 or not step > 0.0:
            zw[sel] = _Z_LOGPI[None, :]
            continue
        ii = np.arange(n, dtype=np.float64)[:, None]
        j0, f0 = _spread(ii - s0 * Z_NODES[None, :] / step, n)
        j1, f1 = _spread(ii - s1 * Z_NODES[None, :] / step, n)
        g = _Z_LOGPI[None, :] + np.zeros((n, 1)) if zw_old is None else zw_old[sel].copy()
        # each member stands for its bin of theta: between two members the
        # likelihood is their mix (linear in it, not in its log, which would
        # rule out every theta but the members' own once a bank collapses)
        v = np.exp(inc[sel] - float(np.max(inc[sel])))
        lo, hi = (1.0 - f0) * v[j0], f0 * v[j0 + 1]
        g = g + np.log(np.maximum(lo + hi, 1e-300))
        # which member a cell's theta was read by, as far as the reading says
        # (a cell between a member read and one ruled out is the first's)
        r0 = np.where(lo + hi > 0.0, lo / np.maximum(lo + hi, 1e-300), 1.0 - f0)
        g = g - float(np.max(g))
        c0 = np.exp(g)
        c1 = c0 @ tr
        # the members' likelihood at h1 over the flat prior's
        post = np.zeros(n)
        flat = np.zeros(n)
        np.add.at(post, j1, (1.0 - f1) * c1)
        np.add.at(post, j1 + 1, f1 * c1)
        np.add.at(flat, j1, (1.0 - f1) * pi[None, :])
        np.add.at(flat, j1 + 1, f1 * pi[None, :])
        loglik[sel] = np.log(np.maximum(post, 1e-300)) - np.log(np.maximum(flat, 1e-300))
        zw[sel] = np.log(np.maximum(c1, 1e-300))
        if mix and x is not None and pc is not None and bank.x is not None and bank.p is not None:
            # what moved from member j (at h0) to member l (at h1), over the
            # prior of ln beta: the IMM's mixing weights mu[j, l]
            w0 = np.exp(logw0[sel] - float(np.max(logw0[sel])))[:, None]
            a = np.zeros((n, m, n))
            r_, c_ = np.nonzero(np.ones((n, m), dtype=bool))
            a[r_, c_, j0.ravel()] += r0.ravel()
            a[r_, c_, j0.ravel() + 1] += 1.0 - r0.ravel()
            b = np.zeros((n, m, n))
            b[r_, c_, j1.ravel()] += (1.0 - f1).ravel()
            b[r_, c_, j1.ravel() + 1] += f1.ravel()
            mid = np.einsum("imj,mp->ipj", (c0 * w0)[:, :, None] * a, tr)
            flow = np.einsum("ipj,ipl->jl", mid, b)
            into = flow.sum(axis=0)
            if net:
                # only what moved: an exchange between two members that
                # leaves both their weights where they were (the air's z
                # crossing a bin edge back and forth) re-seeds each with the
                # other's state at every step, so two members' likelihoods
                # differ by one scan's drag only and cannot separate low down
                moved = np.maximum(flow - flow.T, 0.0)
                np.fill_diagonal(moved, 0.0)
                flow = moved + np.diag(into - moved.sum(axis=0))
            mu = flow / np.maximum(into[None, :], 1e-300)
            xs, ps = bank.x[sel], bank.p[sel]
            xj = mu.T @ xs
            d = xs[:, None, :] - xj[None, :, :]
            pj = np.einsum("ij,iab->jab", mu, ps) + np.einsum("ij,ija,ijb->jab", mu, d, d)
            keep = into <= 1e-300
            xj[keep] = xs[keep]
            pj[keep] = ps[keep]
            x[sel] = xj
            pc[sel] = 0.5 * (pj + np.swapaxes(pj, 1, 2))
    logw = logw0 + loglik
    logw = np.maximum(logw, float(np.max(logw)) - 30.0)
    logw = logw - _logsumexp(logw)
    return replace(bank, logw=logw, x=x, p=pc, zw=zw, zref=logw)


def predict(bank: DragBank, dt: float, q_air: float, q_vacuum: float) -> tuple[F64, F64]:
    """The members of a split bank predicted by ``dt`` s, each with its own
    ``beta``. Process noise: ``q_air`` below the drag ceiling, else
    ``q_vacuum`` (m^2/s^3, as the track's quiet model), plus the member's own
    drag uncertainty: within its bin ``beta`` is uniform, so its drag
    deceleration ``a`` is uncertain by ``a step / sqrt(12)``, taken as an
    acceleration noise of that standard deviation and 1 s correlation time
    (``q = 2 sigma_a^2 x 1 s``; without it a member whose ``beta`` is a few
    per cent off would be sure of a deceleration wrong by up to a g)."""
    assert bank.x is not None
    assert bank.p is not None
    k = bank.x.shape[0]
    d = np.full(k, dt)
    beta = bank.beta
    xp, fm = ballistic_predict(bank.x, d, beta=beta)
    q = np.where(height(bank.x[:, :3]) > DRAG_CEILING_M, q_vacuum, q_air)
    sig_a = drag_accel(bank.x, beta) * bank.step / math.sqrt(12.0)
    q = q + 2.0 * sig_a * sig_a
    pp = kernels.cov_predict(fm, np.ascontiguousarray(bank.p), d, q)
    return xp, pp


def update(
    bank: DragBank, xp: F64, pp: F64, nu: F64, h: F64, r: F64, floor: float = -30.0
) -> tuple[DragBank, float]:
    """The bank after one measurement: each member's EKF update of its
    prediction ``xp, pp`` with innovation ``nu``, Jacobian ``h`` and noise
    ``r`` (one row per member), and its weight times the innovation's
    likelihood; and the members' weighted normalised innovation squared
    (chi-square with the measurement's dimension while the drag model
    holds). Log weights are floored ``floor`` below the largest (a member
    is never ruled out for good by one bad plot)."""
    xn, pn, d2, logdet = ekf_update(xp, pp, nu, h, r)
    return reweight(bank, xn, pn, d2, logdet, floor)


def reweight(
    bank: DragBank, xn: F64, pn: F64, d2: F64, logdet: F64, floor: float = -30.0
) -> tuple[DragBank, float]:
    """:func:`update` from the members' EKF updates already made (states
    ``xn, pn``, normalised innovations squared ``d2`` and ``ln det S``;
    :func:`tocsin.fusion.kernels.update_radar_rows` for a radar plot)."""
    nis = float(bank.weights @ d2)
    logw = bank.logw - 0.5 * (d2 + logdet)
    logw = np.maximum(logw, float(np.max(logw)) + floor)
    logw = logw - _logsumexp(logw)
    return bank.with_states(xn, pn, logw), nis


def mixture(bank: DragBank) -> tuple[F64, F64]:
    """Mean and covariance of a split bank's mixture (spread of the members
    included)."""
    assert bank.x is not None
    assert bank.p is not None
    w = bank.weights
    xm = w @ bank.x
    d = bank.x - xm
    pm = np.einsum("k,kij->ij", w, bank.p) + (w[:, None] * d).T @ d
    return xm, 0.5 * (pm + pm.T)


def members(bank: DragBank, mass: float = 0.99) -> NDArray[np.int64]:
    """Indices, in order of ``beta``, of the heaviest members that hold
    ``mass`` of the weight: the ones worth an impact prediction (of a prior,
    its core; the tails are there to be found by the data, not predicted)."""
    w = bank.weights
    order = np.argsort(-w, kind="stable")
    keep = int(np.searchsorted(np.cumsum(w[order]), mass - 1e-9) + 1)
    return np.sort(order[: min(keep, w.size)])


def residual_rows(arr: MeasArrays, k: int) -> MeasArrays:
    """One measurement's arrays repeated for ``k`` members."""
    idx = np.zeros(k, dtype=np.int64)
    return arr[0], arr[1][idx], arr[2][idx], arr[3][idx], arr[4][idx]


def _logsumexp(a: F64) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.sum(np.exp(a - m))))
