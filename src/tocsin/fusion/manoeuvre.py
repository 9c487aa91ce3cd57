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

__all__ = ["DIVING_DEG", "GLIDE_RANGE", "N_DRAWS", "dive_heights", "glide_draws", "glide_footprint"]

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


def glide_draws(n: int = N_DRAWS) -> F64:
    """``(n, 7)`` fixed draws over :data:`GLIDE_RANGE` (unscrambled Sobol
    points, the corner at the origin left out): deterministic, spread evenly."""
    from scipy.stats import qmc

    m = max(1, math.ceil(math.log2(n + 1)))
    u = qmc.Sobol(d=len(GLIDE_RANGE), scramble=False).random_base2(m)[1 : n + 1]
    lo = np.array([r[0] for r in GLIDE_RANGE.values()])
    hi = np.array([r[1] for r in GLIDE_RANGE.values()])
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
        p = params(
            beta=beta * math.exp(nsig * sigma_ln_beta),
            lift=1.0,
            ld_max=ld,
            n_max=gmax * G0,
            alt_on=math.inf,  # lift on from the first descending step
            alt_off=dive_alt,
            gamma_glide=math.radians(glide),
            gamma_dive=math.radians(dive),
            k_gamma=gain,
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
    mean = w @ means
    dm = means - mean
    cov = cb + (w[:, None] * dm).T @ dm
    cov = 0.5 * (cov + cov.T)
    scale = mixture_scale(means, covs, w, mean, cov) if k > 1 else CHI2_2_95
    a, b, brg = ellipse_from_cov(cov, scale)
    lat, lon, _ = ecef_to_geodetic(c0 + mean[0] * rot[0] + mean[1] * rot[1])
    tt = np.array(dts)
    t_imp = t + float(tt.mean())
    sig_t = math.sqrt(float(tt.var()) + base.sigma_t_s**2)
    path = [pt for pt in base.path[:-1] if pt[2] < t_imp]
    path.append([round(float(lat), 5), round(float(lon), 5), round(t_imp, 3)])
    return Impact(
        t=t_imp,
        lat=float(lat),
        lon=float(lon),
        sigma_t_s=sig_t,
        semi_major_m=a,
        semi_minor_m=b,
        bearing_deg=brg,
        cov_en=(float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])),
        path=path,
        scale=scale,
    )
