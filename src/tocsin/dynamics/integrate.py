"""Compiled flight integration: one segment of a flight (a stage burning, a coast
between stages, or the free flight to the ground), sampled on a time grid.

The forces are those of :mod:`tocsin.dynamics.forces`, with the same constants
and the same height approximation for the air density — J2 gravity, the
Coriolis and centrifugal terms of the rotating frame, exponential-atmosphere
drag ``-1/2 rho |v| v / beta`` — plus, where the segment asks for them:

* **thrust** of the boost model (:mod:`tocsin.dynamics.vehicle`): acceleration
  ``ve / (tau - (t - t_ign))`` (Tsiolkovsky: constant thrust, mass falling
  linearly) along the pitch program in the fixed launch plane: vertical for
  ``t_vert`` seconds, then an elevation falling as ``f ** pitch_exp`` of the
  powered time to the burnout elevation ``gamma_bo``;
* **lift** of a quasi-ballistic re-entry (:mod:`tocsin.dynamics.manoeuvre`):
  perpendicular to the velocity in its vertical plane, commanded to bring the
  flight-path angle to ``gamma_glide`` once the object descends below
  ``alt_on`` (the pull-up and glide) and to ``gamma_dive`` below ``alt_off``
  (the terminal dive), never more than ``ld_max`` times the drag nor
  ``n_max`` m/s^2.

Classical RK4 with a step limited by the output spacing, ``h_max``, a tenth of
the drag time scale ``2 beta / (rho |v|)`` in the air, the thrust's rise time
in boost and 0.1 s while lift acts. A segment that may reach the ground stops
there: the crossing is located by bisection of the last step (30 halvings).
The results agree with :func:`tocsin.dynamics.propagate` (numpy RK4) to
millimetres (``tests/dynamics/test_integrate.py``).

Compiled with numba and cached on disk (only the first run on a machine pays the
compilation, a few seconds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

from tocsin.dynamics.atmosphere import DAY_STEP_M, DRAG_CEILING_M, N_DAY, density1
from tocsin.dynamics.ecef import accel
from tocsin.dynamics.ecef import height as ecef_height
from tocsin.geo.wgs84 import GM

F64 = NDArray[np.float64]
_DAY_STEP = DAY_STEP_M

__all__ = ["NP", "P", "fly_segment", "params"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    return cast(_F, njit(cache=True, error_model="numpy", nogil=True)(fn))


# indices into the parameter vector (module constants: numba reads them as literals)
I_BETA = 0
I_THRUST = 1
I_VE = 2
I_TAU = 3
I_T_IGN = 4
I_NX = 5
I_NY = 6
I_NZ = 7
I_T_VERT = 8
I_T_PITCH = 9
I_GAMMA_BO = 10
I_PITCH_EXP = 11
I_LIFT = 12
I_LD_MAX = 13
I_N_MAX = 14
I_ALT_ON = 15
I_ALT_OFF = 16
I_GAMMA_GLIDE = 17
I_GAMMA_DIVE = 18
I_K_GAMMA = 19
I_H_MAX = 20
I_AIR = 21


class P:
    """Indices into the parameter vector of :func:`fly_segment` (see the
    module docstring): ``BETA`` kg/m^2 (inf: no drag); ``THRUST`` 1 while the
    motor burns; ``VE`` m/s; ``TAU = ve / a0`` s; ``T_IGN`` ignition time of the
    burning stage; ``NX, NY, NZ`` launch-plane normal; ``T_VERT`` vertical rise;
    ``T_PITCH`` end of the pitch program (final burnout); ``GAMMA_BO`` rad;
    ``PITCH_EXP``; ``LIFT`` 1 for a quasi-ballistic re-entry; ``LD_MAX``;
    ``N_MAX`` m/s^2; ``ALT_ON``, ``ALT_OFF`` m; ``GAMMA_GLIDE``, ``GAMMA_DIVE``
    rad; ``K_GAMMA`` 1/s; ``H_MAX`` largest step, s; ``AIR`` first of the
    :data:`~tocsin.dynamics.atmosphere.N_DAY` departures of the day's air
    from the standard (``ln rho``; all zero: the standard)."""

    BETA = I_BETA
    THRUST = I_THRUST
    VE = I_VE
    TAU = I_TAU
    T_IGN = I_T_IGN
    NX = I_NX
    NY = I_NY
    NZ = I_NZ
    T_VERT = I_T_VERT
    T_PITCH = I_T_PITCH
    GAMMA_BO = I_GAMMA_BO
    PITCH_EXP = I_PITCH_EXP
    LIFT = I_LIFT
    LD_MAX = I_LD_MAX
    N_MAX = I_N_MAX
    ALT_ON = I_ALT_ON
    ALT_OFF = I_ALT_OFF
    GAMMA_GLIDE = I_GAMMA_GLIDE
    GAMMA_DIVE = I_GAMMA_DIVE
    K_GAMMA = I_K_GAMMA
    H_MAX = I_H_MAX
    AIR = I_AIR


NP = 21 + N_DAY


def params(air: F64 | None = None, **kw: float) -> F64:
    """A parameter vector: no drag, no thrust, no lift, ``h_max`` 5 s, the
    standard air (or the day's ``air``, :func:`tocsin.dynamics.atmosphere.day_air`)
    and the given entries (keyword names are the :class:`P` names, lower case)."""
    p = np.zeros(NP)
    p[P.BETA] = math.inf
    p[P.H_MAX] = 5.0
    p[P.PITCH_EXP] = 1.0
    if air is not None:
        p[I_AIR:] = air
    for k, v in kw.items():
        p[getattr(P, k.upper())] = v
    return p


@_jit
def _height(x: F64) -> float:
    """Height above the ellipsoid along the geocentric radius (as
    :func:`tocsin.dynamics.forces.approx_altitude`; exact on the ellipsoid)."""
    return float(ecef_height(x[0], x[1], x[2]))


@_jit
def _density(h: float, p: F64) -> float:
    """The day's density: the standard's times ``exp`` of the departure
    (linear between the ``DAY_STEP_M`` knots)."""
    rho = density1(h)
    if rho == 0.0:
        return 0.0
    v = min(max(h, 0.0), DRAG_CEILING_M) / _DAY_STEP
    i = min(int(v), N_DAY - 2)
    u = v - i
    d = p[I_AIR + i] + u * (p[I_AIR + i + 1] - p[I_AIR + i])
    return float(rho * math.exp(d)) if d != 0.0 else float(rho)


@_jit
def _deriv(t: float, x: F64, p: F64, dive: bool, out: F64) -> None:
    rx, ry, rz, vx, vy, vz = x[0], x[1], x[2], x[3], x[4], x[5]
    r2 = rx * rx + ry * ry + rz * rz
    rn = math.sqrt(r2)
    # J2 gravity and the rotating frame (the shared kernel)
    ax, ay, az = accel(rx, ry, rz, vx, vy, vz)
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    beta = p[I_BETA]
    h = _height(x)
    drag = 0.0  # drag acceleration magnitude
    if math.isfinite(beta) and speed > 0.0:
        kd = 0.5 * _density(h, p) * speed / beta
        drag = kd * speed
        ax -= kd * vx
        ay -= kd * vy
        az -= kd * vz
    ux, uy, uz = rx / rn, ry / rn, rz / rn  # geocentric up
    if p[I_THRUST] > 0.0:
        thrust = p[I_VE] / (p[I_TAU] - (t - p[I_T_IGN]))
        nx, ny, nz = p[I_NX], p[I_NY], p[I_NZ]
        # downrange = n x up
        dx = ny * uz - nz * uy
        dy = nz * ux - nx * uz
        dz = nx * uy - ny * ux
        dn = math.sqrt(dx * dx + dy * dy + dz * dz)
        dx, dy, dz = dx / dn, dy / dn, dz / dn
        if t < p[I_T_VERT]:
            el = 0.5 * math.pi
        else:
            f = min(1.0, (t - p[I_T_VERT]) / max(p[I_T_PITCH] - p[I_T_VERT], 1e-6))
            el = 0.5 * math.pi - (0.5 * math.pi - p[I_GAMMA_BO]) * f ** p[I_PITCH_EXP]
        ce, se = math.cos(el), math.sin(el)
        ax += thrust * (ce * dx + se * ux)
        ay += thrust * (ce * dy + se * uy)
        az += thrust * (ce * dz + se * uz)
    if p[I_LIFT] > 0.0 and speed > 0.0 and drag > 0.0:
        # lift direction: up, minus its component along v
        vu = (vx * ux + vy * uy + vz * uz) / speed  # sin(gamma)
        lx, ly, lz = ux - vu * vx / speed, uy - vu * vy / speed, uz - vu * vz / speed
        ln = math.sqrt(lx * lx + ly * ly + lz * lz)
        if ln > 1e-9:
            lx, ly, lz = lx / ln, ly / ln, lz / ln
            gamma = math.asin(max(-1.0, min(1.0, vu)))
            g_n = (GM / r2 - speed * speed / rn) * math.cos(gamma)  # lift that holds gamma
            target = p[I_GAMMA_DIVE] if dive else p[I_GAMMA_GLIDE]
            cmd = g_n + p[I_K_GAMMA] * speed * (target - gamma)
            lim = min(p[I_LD_MAX] * drag, p[I_N_MAX])
            a_l = max(-lim, min(lim, cmd))
            ax += a_l * lx
            ay += a_l * ly
            az += a_l * lz
    out[0], out[1], out[2] = vx, vy, vz
    out[3], out[4], out[5] = ax, ay, az


@_jit
def _rk4(t: float, x: F64, h: float, p: F64, dive: bool, k1: F64, k2: F64, k3: F64, k4: F64, y: F64) -> None:
    """``y = x(t + h)`` by one classical Runge-Kutta step."""
    tmp = np.empty(6)
    _deriv(t, x, p, dive, k1)
    for i in range(6):
        tmp[i] = x[i] + 0.5 * h * k1[i]
    _deriv(t + 0.5 * h, tmp, p, dive, k2)
    for i in range(6):
        tmp[i] = x[i] + 0.5 * h * k2[i]
    _deriv(t + 0.5 * h, tmp, p, dive, k3)
    for i in range(6):
        tmp[i] = x[i] + h * k3[i]
    _deriv(t + h, tmp, p, dive, k4)
    for i in range(6):
        y[i] = x[i] + (h / 6.0) * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


@_jit
def _step_limit(t: float, x: F64, p: F64, lift_on: bool) -> float:
    h = p[I_H_MAX]
    if p[I_THRUST] > 0.0:
        left = p[I_TAU] - (t - p[I_T_IGN])
        h = min(h, 0.25, 0.05 * left)
    beta = p[I_BETA]
    if math.isfinite(beta):
        alt = _height(x)
        if alt < DRAG_CEILING_M:
            speed = math.sqrt(x[3] * x[3] + x[4] * x[4] + x[5] * x[5])
            rho = _density(alt, p)
            if rho > 0.0 and speed > 0.0:
                h = min(h, 1.0, 0.1 * 2.0 * beta / (rho * speed))
    if lift_on:
        h = min(h, 0.1)
    return max(h, 1e-4)


@_jit
def fly_segment(
    x0: F64, t0: float, t1: float, dt_out: float, p: F64, stop_at_ground: bool
) -> tuple[F64, F64, bool]:
    """Integrate ``x0`` (ECEF position and Earth-relative velocity) from ``t0`` to
    ``t1`` under the forces of ``p`` (see the module docstring).

    Returns ``(t, x, hit)``: samples at ``t0``, at every multiple of ``dt_out``
    after it and at ``t1`` (``x`` is ``(n, 6)``), and whether the segment stopped
    on the ground (then the last sample is the crossing, with height 0 to well
    under a millimetre).
    """
    k = math.floor(t0 / dt_out + 1e-9) + 1  # next grid point after t0
    n_max = math.ceil((t1 - t0) / dt_out) + 3
    ts = np.empty(n_max)
    xs = np.empty((n_max, 6))
    ts[0] = t0
    xs[0] = x0
    n = 1
    x = x0.copy()
    y = np.empty(6)
    z = np.empty(6)
    k1, k2, k3, k4 = np.empty(6), np.empty(6), np.empty(6), np.empty(6)
    t = t0
    hit = False
    lift = p[I_LIFT] > 0.0
    q = p.copy()
    q[I_LIFT] = 0.0  # lift acts only once armed
    # lift latch: armed once descending below ALT_ON; the dive below ALT_OFF
    armed = False
    dive = False
    while t < t1 - 1e-9 and not hit:
        t_out = min(k * dt_out, t1)
        k += 1
        if t_out - t < 1e-9:  # a grid point within rounding of the start
            continue
        while t < t_out - 1e-12:
            if lift and not dive:
                alt = _height(x)
                vr = x[0] * x[3] + x[1] * x[4] + x[2] * x[5]
                if not armed and vr < 0.0 and alt < p[I_ALT_ON]:
                    armed = True
                    q[I_LIFT] = 1.0
                if armed and alt < p[I_ALT_OFF]:
                    dive = True
            h = min(_step_limit(t, x, q, armed), t_out - t)
            _rk4(t, x, h, q, dive, k1, k2, k3, k4, y)
            if stop_at_ground and _height(y) <= 0.0:
                lo, hi = 0.0, 1.0
                for _ in range(30):
                    mid = 0.5 * (lo + hi)
                    _rk4(t, x, h * mid, q, dive, k1, k2, k3, k4, z)
                    if _height(z) <= 0.0:
                        hi = mid
                    else:
                        lo = mid
                _rk4(t, x, h * hi, q, dive, k1, k2, k3, k4, z)
                t = t + h * hi
                x[:] = z
                hit = True
                break
            t = t + h
            x[:] = y
        if not hit:
            t = t_out
        ts[n] = t
        xs[n] = x
        n += 1
    return ts[:n].copy(), xs[:n].copy(), hit
