"""A quasi-ballistic re-entry: pull-up, glide and terminal dive (KN-23 / Iskander-like).

Missiles such as Russia's Iskander-M and North Korea's KN-23 fly low apogees
(~50 km) and use aerodynamic lift in the atmosphere: after apogee they pull up
into a shallow glide, which stretches and shapes the range, and dive onto the
target at the end. Lift is perpendicular to the velocity in its vertical plane;
its size is what a simple flight-path-angle loop asks for,

    a_L = (g - v^2 / r) cos(gamma) + k v (gamma_cmd - gamma),

(the first term holds the angle, the second turns towards the command), never
more than ``lift_to_drag`` times the drag acceleration (what the body's
aerodynamics can give at that speed and air density) nor ``max_g`` g. The
command is ``glide_deg`` once the object descends below ``pullup_alt_m`` and
``dive_deg`` below ``dive_alt_m``. With the lift limit tied to drag, the pull-up
is weak at 40 km and strong lower down, as it is for a real lifting body.

The figures are notional (public descriptions give the manoeuvre, not its
numbers): defaults pull up below 35 km, glide at -2°, dive at -60° below 20 km,
lift-to-drag at most 2 and 15 g. The numbers integrate in
:mod:`tocsin.dynamics.integrate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tocsin.dynamics.integrate import P
from tocsin.dynamics.vehicle import G0

__all__ = ["PullUp"]


@dataclass(frozen=True)
class PullUp:
    """Parameters of the quasi-ballistic manoeuvre (see the module docstring)."""

    pullup_alt_m: float = 35_000.0
    glide_deg: float = -2.0
    dive_alt_m: float = 20_000.0
    dive_deg: float = -60.0
    lift_to_drag: float = 2.0
    max_g: float = 15.0
    gain_per_s: float = 0.5
    """Flight-path angle loop gain k, 1/s (per m/s of speed: ``k v`` in m/s^2/rad)."""

    def __post_init__(self) -> None:
        if not (0.0 < self.dive_alt_m < self.pullup_alt_m <= 120_000.0):
            raise ValueError("need 0 < dive_alt_m < pullup_alt_m <= 120 km")
        if not (-90.0 < self.dive_deg < self.glide_deg <= 30.0):
            raise ValueError("need -90 < dive_deg < glide_deg <= 30 degrees")
        if not (0.0 < self.lift_to_drag <= 10.0 and 0.0 < self.max_g <= 100.0 and self.gain_per_s > 0.0):
            raise ValueError("lift_to_drag in (0, 10], max_g in (0, 100], gain_per_s > 0")

    def fill(self, p: NDArray[np.float64]) -> None:
        """Write the manoeuvre into a :func:`tocsin.dynamics.integrate.params` vector."""
        p[P.LIFT] = 1.0
        p[P.LD_MAX] = self.lift_to_drag
        p[P.N_MAX] = self.max_g * G0
        p[P.ALT_ON] = self.pullup_alt_m
        p[P.ALT_OFF] = self.dive_alt_m
        p[P.GAMMA_GLIDE] = math.radians(self.glide_deg)
        p[P.GAMMA_DIVE] = math.radians(self.dive_deg)
        p[P.K_GAMMA] = self.gain_per_s
