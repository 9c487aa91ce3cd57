"""Vehicles drawn from public ranges, and what each separated object's drag is.

Every uncertain figure is drawn (uniformly, from ``numpy.random.Generator``) from
the range below; nothing comes from tocsin's priors or scenario files. Ranges and
their sources are listed in docs/fusion.md ("Independent check"):

* structural ratio, vacuum Isp, thrust-to-weight at ignition, body diameter per
  class: CSIS Missile Threat country pages (Scud-B/C, KN-23, Nodong, Hwasong-12/14/
  15/17/18), Sutton & Biblarz, *Rocket Propulsion Elements* 9th ed. (Isp of
  storable liquids and composite solids; structural ratios);
* re-entry vehicle mass, base diameter and hypersonic C_d: the same pages and
  Regan & Anandakrishnan, *Dynamics of Atmospheric Re-Entry* (1993), ch. 2/9
  (sphere-cone drag);
* tumbling stages and debris: C_d ~ 0.8-1.3 of a tumbling cylinder (Hoerner,
  *Fluid-Dynamic Drag*, 1965) on the mean projected area, a quarter of the
  surface for a convex body (Cauchy).

The propellant load is sized (Tsiolkovsky) so the vehicle can fly the requested
range and apogee with margin: the cut-off of the last stage (solved) does the
energy management, as a liquid engine's shut-down or a solid motor's thrust
termination would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import earth
from .flight import Aero, Flown, Launch, Manoeuvre, Stage, Vehicle, solve_controls


@dataclass(frozen=True)
class ClassRanges:
    stages: int
    isp1: tuple[float, float]
    isp_upper: tuple[float, float]
    tw1: tuple[float, float]
    tw_upper: tuple[float, float]
    eps: tuple[float, float]  # structural ratio m_dry / (m_dry + m_prop)
    diameter: tuple[float, float]
    payload: tuple[float, float]  # RV (or satellite) mass, kg
    rv_diameter: tuple[float, float]
    rv_cd: tuple[float, float]  # hypersonic C_d on the RV's base area (unitary: body's)
    separates: bool
    coast: tuple[float, float] = (0.0, 0.0)


CLASSES: dict[str, ClassRanges] = {
    # Scud-B/C, Hwasong-5/6, KN-23: one stage, the body comes down with the warhead
    "SRBM": ClassRanges(
        1,
        (235, 265),
        (0, 0),
        (1.8, 2.8),
        (0, 0),
        (0.12, 0.22),
        (0.88, 1.0),
        (500, 1000),
        (0.88, 1.0),
        (0.25, 0.45),
        separates=False,
    ),
    # Nodong class: one stage, separating warhead
    "MRBM": ClassRanges(
        1,
        (240, 270),
        (0, 0),
        (1.6, 2.4),
        (0, 0),
        (0.09, 0.15),
        (1.25, 1.4),
        (700, 1200),
        (0.9, 1.25),
        (0.15, 0.35),
        separates=True,
    ),
    # Hwasong-12 class
    "IRBM": ClassRanges(
        1,
        (270, 310),
        (0, 0),
        (1.6, 2.4),
        (0, 0),
        (0.07, 0.12),
        (1.5, 1.7),
        (500, 1000),
        (0.9, 1.2),
        (0.10, 0.30),
        separates=True,
    ),
    # Hwasong-14/15/17/18/19: two or three stages
    "ICBM": ClassRanges(
        2,
        (270, 310),
        (290, 320),
        (1.5, 2.3),
        (0.8, 1.8),
        (0.07, 0.12),
        (1.8, 2.9),
        (500, 1500),
        (0.8, 1.4),
        (0.08, 0.30),
        separates=True,
        coast=(0.0, 8.0),
    ),
    # Unha-3 / Chollima-1 class: three stages, satellite 100-300 kg, fairing
    "SLV": ClassRanges(
        3,
        (250, 290),
        (280, 320),
        (1.3, 1.8),
        (0.7, 1.5),
        (0.08, 0.14),
        (2.4, 2.5),
        (100, 300),
        (1.0, 1.5),
        (1.0, 2.0),
        separates=True,
        coast=(2.0, 10.0),
    ),
}


def draw(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(lo if hi <= lo else rng.uniform(lo, hi))


def kepler_burnout_speed(range_m: float, apogee_m: float) -> float:
    """Vacuum burnout speed (inertial, from the ground, no rotation) of the symmetric
    Kepler arc with this ground range and apogee height."""
    r0 = earth.A
    ra = r0 + apogee_m
    psi = range_m / r0
    e = (ra - r0) / (ra - r0 * math.cos(psi / 2.0))
    p = ra * (1.0 - e)
    a = p / (1.0 - e * e)
    return math.sqrt(earth.GM * (2.0 / r0 - 1.0 / a))


@dataclass
class Design:
    """A drawn vehicle and the aerodynamics of what comes down."""

    cls: str
    vehicle: Vehicle
    rv_aero: Aero
    rv_mass: float
    stage_aero: list[Aero]  # per stage, as a tumbling spent body
    stage_mass: list[float]
    stage_dims: list[tuple[float, float]]  # (diameter, length)
    rcs_rv: float
    rcs_body: float
    dv: float  # ideal velocity gain, m/s


def tumbling_beta(mass: float, diameter: float, length: float, cd: float) -> float:
    surface = math.pi * diameter * length + 2.0 * math.pi * diameter**2 / 4.0
    return mass / (cd * surface / 4.0)


def first_dv(range_m: float, apogee_m: float, stages: int) -> float:
    """A first guess of the ideal velocity gain: the vacuum burnout speed plus
    gravity and drag losses (the flight solver raises it when it is short)."""
    v_bo = kepler_burnout_speed(range_m, apogee_m)
    steep = min(1.0, apogee_m / max(range_m, 1.0))
    low = max(0.0, 0.15 - apogee_m / max(range_m, 1.0)) / 0.15  # depressed: drag losses
    loss = 300.0 + 500.0 * steep + 600.0 * low + (400.0 if stages > 1 else 0.0)
    return v_bo + loss


def design(
    rng: np.random.Generator,
    cls: str,
    dv: float,
    *,
    manoeuvre: Manoeuvre | None = None,
    stages: int | None = None,
) -> Design:
    """Draw a vehicle of class ``cls`` with ideal velocity gain ``dv`` (m/s). The
    same generator state gives the same draws whatever ``dv`` is (so the solver can
    re-size the propellant without changing anything else)."""
    cr = CLASSES[cls]
    n = stages or cr.stages
    isp = [draw(rng, cr.isp1)] + [
        draw(rng, cr.isp_upper if cr.isp_upper[1] else cr.isp1) for _ in range(n - 1)
    ]
    tw = [draw(rng, cr.tw1)] + [
        draw(rng, cr.tw_upper if cr.tw_upper[1] else (0.8, 1.8)) for _ in range(n - 1)
    ]
    eps = [draw(rng, cr.eps) for _ in range(n)]
    diam1 = draw(rng, cr.diameter)
    payload = draw(rng, cr.payload)
    split = 1.0 + 0.2 * rng.random()
    shrink = [0.7 + 0.3 * rng.random() for _ in range(n)]
    bulk = [draw(rng, (900.0, 1200.0)) for _ in range(n)]
    coasts = [draw(rng, cr.coast) for _ in range(n)]
    sl = draw(rng, (0.86, 0.92))
    cd_body, body_rise = draw(rng, (0.2, 0.4)), draw(rng, (0.5, 1.0))
    t_vert, t_kick = draw(rng, (4.0, 10.0)), draw(rng, (4.0, 12.0))
    rise = draw(rng, (0.3, 1.0))
    d_rv_draw = draw(rng, cr.rv_diameter)
    cd_rv = draw(rng, cr.rv_cd)
    cd_tumble = [draw(rng, (0.8, 1.3)) for _ in range(n)]
    rise_stage = [draw(rng, (0.3, 1.0)) for _ in range(n)]
    rcs_rv = 10 ** draw(rng, (-2.0, -0.7))  # 0.01-0.2 m^2
    rcs_body = 10 ** draw(rng, (0.0, 1.0))  # 1-10 m^2
    # Delta-v split: equal shares, the first a little larger (drawn)
    w = np.array([split] + [1.0] * (n - 1))
    dvs = dv * w / w.sum()
    above = payload
    built: list[Stage] = []
    for k in reversed(range(n)):
        ratio = math.exp(dvs[k] / (isp[k] * earth.G0))
        e = eps[k]
        if e * ratio >= 0.95:
            raise ValueError(f"stage {k + 1} cannot give {dvs[k]:.0f} m/s with structural ratio {e:.2f}")
        m0 = above * ratio * (1.0 - e) / (1.0 - e * ratio)
        m_st = m0 - above
        d = diam1 if (k == 0 or cls == "SLV") else diam1 * shrink[k]
        length = m_st / (bulk[k] * math.pi * d * d / 4.0)
        built.append(
            Stage(
                m_prop=m_st * (1.0 - e),
                m_dry=m_st * e,
                isp_vac=isp[k],
                thrust_vac=tw[k] * m0 * earth.G0,
                diameter=d,
                length=length,
                coast_before=coasts[k] if k > 0 else 0.0,
                sl_ratio=sl if k == 0 else 0.97,
            )
        )
        above = m0
    stage_list = list(reversed(built))
    veh = Vehicle(
        stages=stage_list,
        payload_mass=payload,
        cd_body=cd_body,
        body_rise=body_rise,
        t_vertical=t_vert,
        t_kick=t_kick,
        separates=cr.separates,
    )
    if cr.separates:
        rv_mass, d_rv = payload, d_rv_draw
    else:  # the body comes down nose first: warhead + last stage's dry mass
        rv_mass, d_rv = payload + stage_list[-1].m_dry, stage_list[-1].diameter
    rv_beta = rv_mass / (cd_rv * math.pi * d_rv**2 / 4.0)
    stage_aero = [
        Aero(tumbling_beta(st.m_dry, st.diameter, st.length, cd_tumble[k]), rise=rise_stage[k])
        for k, st in enumerate(stage_list)
    ]
    return Design(
        cls,
        veh,
        Aero(rv_beta, rise=rise, manoeuvre=manoeuvre),
        rv_mass,
        stage_aero,
        [st.m_dry for st in stage_list],
        [(st.diameter, st.length) for st in stage_list],
        rcs_rv,
        rcs_body,
        dv,
    )


def draw_manoeuvre(rng: np.random.Generator) -> Manoeuvre:
    """A KN-23 / Iskander-like pull-up: public accounts give the behaviour (pull-up
    in the terminal phase, a shallow glide, a steep dive), not the figures: these
    ranges are engineering guesses and are stated as such."""
    return Manoeuvre(
        h_pull=draw(rng, (25e3, 40e3)),
        h_dive=draw(rng, (8e3, 16e3)),
        glide_deg=draw(rng, (-6.0, 0.0)),
        dive_deg=draw(rng, (-70.0, -40.0)),
        l_over_d=draw(rng, (1.2, 2.5)),
        n_max=draw(rng, (4.0, 12.0)),
        tau_s=draw(rng, (3.0, 8.0)),
    )


@dataclass
class Solved:
    design: Design
    kick_deg: float
    cutoff: float
    flown: Flown


def solve_design(
    seed: Sequence[int],
    cls: str,
    launch: Launch,
    range_m: float,
    apogee_m: float,
    *,
    manoeuvre: Manoeuvre | None = None,
    stages: int | None = None,
    tol: float = 0.02,
    attempts: int = 8,
) -> Solved:
    """Draw a vehicle (from ``seed``) and fly it to ``range_m`` / ``apogee_m``: the
    propellant is re-sized upwards (Delta-v x 1.12 a time) while the flight needs more
    than a full burn; the other draws stay the same."""
    n = stages or CLASSES[cls].stages
    dv = first_dv(range_m, apogee_m, n)
    last: Exception | None = None
    for _ in range(attempts):
        try:
            d = design(np.random.default_rng(list(seed)), cls, dv, manoeuvre=manoeuvre, stages=n)
        except ValueError as exc:  # a stage cannot carry that much: one more stage, or give up
            if stages is None and n < 3:
                n += 1
                continue
            raise ValueError(f"{cls}: {exc}") from None
        try:
            kick, cut, flown = solve_controls(launch, d.vehicle, d.rv_aero, range_m, apogee_m, tol=tol)
        except ValueError as exc:
            last = exc
            dv *= 1.12
            continue
        if cut > 0.995:  # solved at the edge: give it margin, so the cut-off is real
            dv *= 1.06
            continue
        return Solved(d, kick, cut, flown)
    raise ValueError(f"{cls} {range_m / 1e3:.0f} km / {apogee_m / 1e3:.0f} km: {last}")
