"""Impact of a manoeuvring re-entry: the footprint a quasi-ballistic glide can reach.

A KN-23 / Iskander-like missile pulls up in the atmosphere into a shallow glide
and dives onto its target at the end (docs/dynamics.md). Once the tracker has
seen it manoeuvre (``Track.manoeuvring``: the IMM's manoeuvre model explained
the plots), a ballistic prediction is the wrong question: a glide from 25 km at
2 km/s carries the object 50-300 km beyond where it would fall ballistically,
and how far depends on what it *will* do, which no sensor has seen yet.

So the impact becomes a footprint: the observed state is flown to the ground
``N_DRAWS`` times with a lifting re-entry (:func:`tocsin.dynamics.integrate.fly_segment`:
lift across the velocity in its vertical plane, commanded to a glide angle and,
below a dive height, to a dive angle, never more than L/D times the drag nor a
maximum load), each time with the manoeuvre's unknowns drawn (fixed Sobol points,
deterministic) from the class range, :data:`GLIDE_RANGE`, conditioned on what
is seen: an object still flying shallower than :data:`DIVING_DEG` has not
reached its dive height (the drawn heights are squeezed below its own), one
steeper is diving already. No public source
gives these numbers for KN-23 or Iskander (public accounts describe a pull-up, a
glide and a dive); the range is the union of the two engineering guesses the
project documents -- the simulator's (docs/dynamics.md, tocsin.drill.generate:
L/D 1.5-2.5, dive below 15-25 km, glide -2 deg, dive -60 deg, 15 g, gain
0.5/s) and the independent generator's (docs/fusion.md "Independent check":
L/D 1.2-2.5, glide -6..0 deg, dive -40..-70 deg below 8-16 km, 4-12 g, time
constant 3-8 s) -- and an L/D of 2.5 is what a slender manoeuvring body can
have, below a dedicated boost-glide vehicle's ~2.6 (HTV-2; Acton, "Hypersonic
Boost-Glide Weapons", Science & Global Security 23, 2015). Every landing point
carries the uncertainty of the track's own prediction (``base``: state,
drag, air and the manoeuvre-model process noise, which also stands for a
sideways manoeuvre the vertical-plane family does not fly); the impact is that
mixture and its 95 % ellipse is the mixture's (:func:`~tocsin.fusion.impact.mixture_scale`).

The footprint only widens what is warned: it holds the ballistic point's
neighbourhood (steep dives land short of it) and the long glides.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.integrate import fly_segment, params
from tocsin.dynamics.vehicle import G0
from tocsin.fusion.impact import CHI2_2_95, Impact, ellipse_from_cov, mixture_scale
from tocsin.geo.wgs84 import ecef_to_geodetic, enu_matrix, geodetic_to_ecef

F64 = NDArray[np.float64]

__all__ = [
    "DIVING_DEG",
    "GLIDE_RANGE",
    "N_DRAWS",
    "PULLUP_ALT_M",
    "THREAT_APOGEE_M",
    "bounding_ellipse",
    "dive_heights",
    "glide_draws",
    "glide_footprint",
    "may_pull_up",
    "pullup_possible",
]

#: the manoeuvre's unknowns and their class range (module doc): lift-to-drag,
#: glide angle (deg), dive height (m), dive angle (deg), maximum load (g),
#: flight-path-angle loop gain (1/s); and the drag within its estimate
GLIDE_RANGE: dict[str, tuple[float, float]] = {
    "lift_to_drag": (1.2, 2.5),
    "glide_deg": (-6.0, 0.0),
    "dive_alt_m": (8_000.0, 25_000.0),
    "dive_deg": (-70.0, -40.0),
    "max_g": (4.0, 15.0),
    "gain_per_s": (0.125, 0.5),
    # the drag: the track's estimate, ln(beta) within +-2 of its sigma
    "beta_sigmas": (-2.0, 2.0),
}

#: trajectories flown per footprint (each ~5-10 ms compiled)
N_DRAWS = 16

#: an object whose flight-path angle is below this is already in its dive
DIVING_DEG = -30.0

#: the heights (m) a quasi-ballistic missile pulls up below, before it is
#: seen to: the union of the simulator's 30-40 km (docs/dynamics.md) and the
#: independent generator's 25-40 km (docs/fusion.md "Independent check")
PULLUP_ALT_M = (25_000.0, 40_000.0)

#: the highest apogee (m) a quasi-ballistic SRBM is reported to fly: KN-23
#: flights 2019-2021 (ROK JCS) 37-60 km, Iskander-M ~50 km (docs/dynamics.md
#: "Depressed trajectories"); the lowest is the lowest pull-up height (below
#: it nothing descends to a pull-up)
THREAT_APOGEE_M = 60_000.0


def glide_draws(n: int = N_DRAWS) -> F64:
    """``(n, 7)`` fixed draws over :data:`GLIDE_RANGE` (unscrambled Sobol
    points, the corner at the origin left out): deterministic, spread evenly."""
    return _sobol(list(GLIDE_RANGE.values()), n)


def _sobol(ranges: list[tuple[float, float]], n: int) -> F64:
    """``(n, len(ranges))`` unscrambled Sobol points over the ``(low, high)``
    ``ranges``, the corner at the origin left out."""
    from scipy.stats import qmc

    m = max(1, math.ceil(math.log2(n + 1)))
    u = qmc.Sobol(d=len(ranges), scramble=False).random_base2(m)[1 : n + 1]
    lo = np.array([r[0] for r in ranges])
    hi = np.array([r[1] for r in ranges])
    out: F64 = lo + u * (hi - lo)
    return out


_DRAWS = glide_draws()


def dive_heights(h_now: float, gamma_deg: float, drawn: F64) -> F64:
    """The dive heights (m) to fly for ``drawn`` ones (in the class range) from
    a state ``h_now`` m high with flight-path angle ``gamma_deg``: steeper than
    :data:`DIVING_DEG` it is diving already (inf: dive at once); otherwise it
    has not reached its dive height, which is below ``h_now`` (the class range
    squeezed under it, keeping its shape)."""
    lo, hi = GLIDE_RANGE["dive_alt_m"]
    if gamma_deg <= DIVING_DEG:
        return np.full(drawn.shape[0], math.inf)
    top = min(hi, h_now)
    bottom = min(lo, 0.5 * top)
    out: F64 = bottom + (drawn - lo) / (hi - lo) * (top - bottom)
    return out


def glide_footprint(
    x: F64,
    t: float,
    base: Impact,
    beta: float,
    *,
    sigma_ln_beta: float = 0.0,
    max_time: float = 3_000.0,
    draws: F64 | None = None,
) -> Impact | None:
    """The impact of a manoeuvring re-entry from state ``x`` (ECEF position and
    Earth-relative velocity) at epoch ``t``: the mixture of the landing points
    of lifting trajectories (``draws``, default :data:`_DRAWS`) with drag
    ``beta`` (kg/m^2; ``sigma_ln_beta``: its uncertainty, the draws span
    +-2 sigma of ln beta), each with ``base``'s covariance (the track's own
    prediction). None when no trajectory comes down within ``max_time``."""
    dr = _DRAWS if draws is None else draws
    x = np.array(x, dtype=np.float64)
    h_now = float(ecef_to_geodetic(x[:3])[2])
    speed = float(np.linalg.norm(x[3:]))
    sin_g = float(x[:3] @ x[3:]) / (float(np.linalg.norm(x[:3])) * speed)
    gamma = math.degrees(math.asin(max(-1.0, min(1.0, sin_g))))
    dive_at = dive_heights(h_now, gamma, dr[:, 2])
    rot = enu_matrix(base.lat, base.lon)
    c0 = geodetic_to_ecef(base.lat, base.lon, 0.0)
    en: list[F64] = []
    dts: list[float] = []
    for (ld, glide, _, dive, gmax, gain, nsig), dive_alt in zip(dr, dive_at, strict=True):
        # lift on from the first descending step
        p = _lift_params(
            ld, glide, dive, gmax, gain, beta * math.exp(nsig * sigma_ln_beta), math.inf, dive_alt
        )
        ts, xs, hit = fly_segment(x.copy(), 0.0, max_time, max_time, p, True)
        if not hit:
            continue
        en.append((rot @ (xs[-1, :3] - c0))[:2])
        dts.append(float(ts[-1]))
    if not en:
        return None
    means = np.stack(en)
    k = means.shape[0]
    cb = np.array([[base.cov_en[0], base.cov_en[1]], [base.cov_en[1], base.cov_en[2]]])
    covs = np.repeat(cb[None], k, axis=0)
    w = np.full(k, 1.0 / k)
    mean, cov = _moments(means, w, cb)
    scale = mixture_scale(means, covs, w, mean, cov) if k > 1 else CHI2_2_95
    a, b, brg = ellipse_from_cov(cov, scale)
    tt = np.array(dts)
    t_imp = t + float(tt.mean())
    sig_t = math.sqrt(float(tt.var()) + base.sigma_t_s**2)
    return _impact_at(c0, rot, mean, t_imp, sig_t, (a, b, brg, cov), base.path, scale)


def pullup_possible(x: F64, apogee_m: float) -> bool:
    """Can a flight not yet seen to manoeuvre still pull up? Its apogee is
    one a quasi-ballistic SRBM flies (between the lowest pull-up height and
    :data:`THREAT_APOGEE_M`) and it is above the lowest pull-up height, or
    below it but flying as shallow as a glide (:data:`GLIDE_RANGE`: the
    pull-up may be under way, its verdict pending). State ``x``: ECEF
    position and Earth-relative velocity."""
    lo = PULLUP_ALT_M[0]
    if not lo <= apogee_m <= THREAT_APOGEE_M:
        return False
    if float(ecef_to_geodetic(x[:3])[2]) >= lo:
        return True
    sin_g = float(x[:3] @ x[3:]) / (float(np.linalg.norm(x[:3])) * max(float(np.linalg.norm(x[3:])), 1.0))
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_g)))) >= GLIDE_RANGE["glide_deg"][0]


def _pullup_draws(n: int = N_DRAWS) -> F64:
    """:func:`glide_draws` with an eighth column, the pull-up height over
    :data:`PULLUP_ALT_M` (fixed Sobol points, deterministic)."""
    return _sobol([*GLIDE_RANGE.values(), PULLUP_ALT_M], n)


_PULLUP_DRAWS = _pullup_draws()

#: sampling of a "may pull up" trajectory (s): where its glide begins
_GLIDE_SAMPLE_S = 2.0


def _lift_params(
    ld: float, glide: float, dive: float, gmax: float, gain: float, beta: float, alt_on: float, alt_off: float
) -> F64:
    """The flight parameters of one lifting trajectory of a draw (lift to
    ``ld`` L/D, ``gmax`` g, glide and dive angles in degrees, pitch gain
    ``gain``), drag ``beta``, lift armed below ``alt_on`` and the dive below
    ``alt_off``: :func:`glide_footprint`'s and :func:`may_pull_up`'s."""
    return params(
        beta=beta,
        lift=1.0,
        ld_max=ld,
        n_max=gmax * G0,
        alt_on=alt_on,
        alt_off=alt_off,
        gamma_glide=math.radians(glide),
        gamma_dive=math.radians(dive),
        k_gamma=gain,
    )


def _heights(xs: F64) -> F64:
    h: F64 = np.asarray(ecef_to_geodetic(xs[:, :3])[2], dtype=np.float64)
    return h


def may_pull_up(
    x: F64,
    t: float,
    base: Impact,
    beta: float,
    weight: float,
    *,
    q_glide: float = 0.0,
    sigma_ln_beta: float = 0.0,
    max_time: float = 3_000.0,
) -> Impact | None:
    """The impact of a flight that may still pull up (:func:`pullup_possible`)
    but has not been seen to: the mixture of its ballistic prediction
    ``base`` (weight ``1 - weight``) and the landing points of lifting
    trajectories from ``x`` at epoch ``t`` (``weight`` shared among them).
    Each landing point carries ``base``'s covariance (the state, drag and air
    uncertainty of the flight to it) plus the manoeuvre noise ``q_glide``
    (white acceleration, m^2/s^3; the IMM's manoeuvre model, which also
    stands for a sideways manoeuvre the vertical-plane family does not fly)
    over that trajectory's own glide only, from its pull-up to the ground
    (``q T^3 / 3`` on each horizontal axis): before the pull-up the object
    flies ballistically. The trajectories are :func:`glide_footprint`'s
    with the pull-up not yet begun: lift armed below a pull-up height drawn
    over :data:`PULLUP_ALT_M` (on the way down; not above the object now
    when it is descending lower), the dive height below the pull-up. Before the pull-up nothing
    tells a pull-up SRBM from a depressed one; the ballistic ellipse alone
    held 0.097 of the pull-up predictions made before it (MC full run
    94a40ca, 30 flights), so the warned corridor widens to the glide: issue
    16 item 3. None when no trajectory comes down within ``max_time``."""
    x = np.array(x, dtype=np.float64)
    h_now = float(ecef_to_geodetic(x[:3])[2])
    descending = float(x[:3] @ x[3:]) < 0.0
    rot = enu_matrix(base.lat, base.lon)
    c0 = geodetic_to_ecef(base.lat, base.lon, 0.0)
    en: list[F64] = []
    dts: list[float] = []
    glides: list[float] = []
    ground: list[F64] = [c0]
    for ld, glide, dive_alt, dive, gmax, gain, nsig, pu in _PULLUP_DRAWS:
        on = min(pu, h_now) if descending and h_now > 0.0 else pu
        p = _lift_params(
            ld, glide, dive, gmax, gain, beta * math.exp(nsig * sigma_ln_beta), on, min(dive_alt, 0.9 * on)
        )
        ts, xs, hit = fly_segment(x.copy(), 0.0, max_time, _GLIDE_SAMPLE_S, p, True)
        if not hit:
            continue
        en.append((rot @ (xs[-1, :3] - c0))[:2])
        ground.append(xs[-1, :3])
        dts.append(float(ts[-1]))
        # the glide: from the first sample on the way down below the pull-up
        down = np.nonzero((np.einsum("ij,ij->i", xs[:, :3], xs[:, 3:]) < 0.0) & (_heights(xs) < on))[0]
        glides.append(float(ts[-1] - ts[down[0]]) if down.size else 0.0)
    if not en:
        return None
    k = len(en)
    means = np.vstack([np.zeros((1, 2)), np.stack(en)])
    w = np.concatenate([[1.0 - weight], np.full(k, weight / k)])
    cb = np.array([[base.cov_en[0], base.cov_en[1]], [base.cov_en[1], base.cov_en[2]]])
    # each landing point of a glide: the ballistic uncertainty of the flight
    # to it and the manoeuvre noise over its own glide
    tg = np.asarray(glides)
    cgs = cb[None] + (q_glide * tg**3 / 3.0)[:, None, None] * np.eye(2)[None]
    covs = np.concatenate([cb[None], cgs])
    cb = (1.0 - weight) * cb + (weight / k) * cgs.sum(axis=0)
    mean, cov = _moments(means, w, cb)
    # one ellipse for two hypotheses (the ballistic point at one end, the
    # glides beyond it): the moment-matched ellipse is centred between them
    # and reaches as far behind the ballistic point as the glides reach ahead
    # of its centre (areas the object cannot come down in); the ellipse that
    # bounds every component's 95 % ellipse does not, and holds at least 95 %
    # (fitted in the east/north plane at its own centre, where it is read:
    # an ellipse 200 km long and a few km wide turned by the meridians'
    # convergence between the ballistic point and its centre, ~1 deg, would
    # miss its own ends)
    sc = max(base.scale, CHI2_2_95)
    mean, a, b, brg, cov = bounding_ellipse(means, covs, cov, sc)
    gp = np.stack(ground)
    for _ in range(2):
        lat, lon, _h = ecef_to_geodetic(c0 + mean[0] * rot[0] + mean[1] * rot[1])
        rot_c = enu_matrix(float(lat), float(lon))
        cc = geodetic_to_ecef(float(lat), float(lon), 0.0)
        r2 = rot_c[:2] @ rot[:2].T  # the base plane's axes in this one's
        m2 = (rot_c @ (gp - cc).T).T[:, :2]
        c2, a, b, brg, cov = bounding_ellipse(m2, r2[None] @ covs @ r2.T[None], r2 @ cov @ r2.T, sc)
        rot, c0, mean = rot_c, cc, c2
    tt = np.concatenate([[base.t - t], np.array(dts)])
    t_imp = t + float(w @ tt)
    sig_t = math.sqrt(float(w @ (tt - (t_imp - t)) ** 2) + base.sigma_t_s**2)
    # the ballistic fall is the heaviest component (1 - weight against
    # weight / k for each glide): the single most likely point, reported
    # beside the footprint's centre
    return _impact_at(
        c0,
        rot,
        mean,
        t_imp,
        sig_t,
        (a, b, brg, cov),
        base.path,
        CHI2_2_95,
        may_manoeuvre=True,
        most_likely=base if 1.0 - weight >= weight / k else None,
    )


def _moments(means: F64, w: F64, cb: F64) -> tuple[F64, F64]:
    """Mean and (symmetrised) covariance of a mixture of landing points
    ``means`` ``(k, 2)`` with weights ``w`` whose components' covariances
    average to ``cb``."""
    mean: F64 = w @ means
    dm = means - mean
    cov = cb + (w[:, None] * dm).T @ dm
    out: F64 = 0.5 * (cov + cov.T)
    return mean, out


def _impact_at(
    c0: F64,
    rot: F64,
    mean: F64,
    t_imp: float,
    sig_t: float,
    ellipse: tuple[float, float, float, F64],
    base_path: list[list[float]],
    scale: float,
    *,
    may_manoeuvre: bool = False,
    most_likely: Impact | None = None,
) -> Impact:
    """The impact centred at ``mean`` (east/north, m, in the ground plane at
    ``c0`` with axes ``rot``) at ``t_imp``; ``ellipse`` = (semi-axes a, b in m,
    bearing in degrees, its east/north covariance); the path is ``base_path``
    up to ``t_imp``, ending at the new point."""
    a, b, brg, cov = ellipse
    lat, lon, _ = ecef_to_geodetic(c0 + mean[0] * rot[0] + mean[1] * rot[1])
    path = [pt for pt in base_path[:-1] if pt[2] < t_imp]
    return Impact(
        t=t_imp,
        lat=float(lat),
        lon=float(lon),
        sigma_t_s=sig_t,
        semi_major_m=a,
        semi_minor_m=b,
        bearing_deg=brg,
        cov_en=(float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])),
        path=[*path, [round(float(lat), 5), round(float(lon), 5), round(t_imp, 3)]],
        scale=scale,
        may_manoeuvre=may_manoeuvre,
        most_likely=most_likely,
    )


def bounding_ellipse(
    means: F64, covs: F64, cov: F64, scale: float = CHI2_2_95, n_theta: int = 48
) -> tuple[F64, float, float, float, F64]:
    """The ellipse (centre, semi-axes a >= b in m, bearing of a in degrees
    from north, and the covariance whose 95 % contour it is) that holds the
    95 % ellipse of every component (``means`` ``(k, 2)``, ``covs`` ``(k,
    2, 2)``, east/north; ``d^T C^-1 d <= scale``: a drag bank's mixture has
    its own 95 % value, :attr:`~tocsin.fusion.impact.Impact.scale`), its
    major axis along the major axis of ``cov`` (the mixture's): the
    least-area such ellipse over a grid of lengths. It
    holds at least 95 % of the mixture's mass (a bound, not a calibrated
    ellipse)."""
    ev, evec = np.linalg.eigh(0.5 * (cov + cov.T))
    d = evec[:, int(np.argmax(ev))]
    perp = np.array([-d[1], d[0]])
    th = np.linspace(0.0, 2.0 * math.pi, n_theta, endpoint=False)
    circ = math.sqrt(scale) * np.stack([np.cos(th), np.sin(th)])
    pts = np.concatenate(
        [
            m[:, None] + np.linalg.cholesky(c + 1e-6 * np.eye(2)) @ circ
            for m, c in zip(means, covs, strict=True)
        ],
        axis=1,
    )
    u, v = d @ pts, perp @ pts
    cu, cv = 0.5 * (u.min() + u.max()), 0.5 * (v.min() + v.max())
    du, dv = np.abs(u - cu), np.abs(v - cv)
    h = max(float(du.max()), 1.0)
    best: tuple[float, float, float] | None = None
    for a in h * (1.0 + np.geomspace(1e-3, 3.0, 64)):
        b = float(np.max(dv / np.sqrt(1.0 - (du / a) ** 2)))
        if best is None or a * b < best[0]:
            best = (a * b, float(a), b)
    assert best is not None
    _, a, b = best
    centre: F64 = cu * d + cv * perp
    if b > a:  # a short, wide family: the minor axis is along d
        a, b, d = b, a, perp
    brg = math.degrees(math.atan2(float(d[0]), float(d[1]))) % 180.0
    p2 = np.array([-d[1], d[0]])
    out_cov: F64 = (a**2 * np.outer(d, d) + b**2 * np.outer(p2, p2)) / CHI2_2_95
    return centre, a, b, brg, out_cov
