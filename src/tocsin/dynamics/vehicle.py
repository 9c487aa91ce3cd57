"""The boost model: a vehicle of one to three equivalent stages.

Each stage ``k`` burns with exhaust velocity ``ve`` and a thrust acceleration at
ignition ``a0`` (thrust-to-weight ``a0 / g0`` of the stack it lifts); its thrust
is constant and its mass falls linearly, so its acceleration grows as
``ve / (tau - t')`` with ``tau = ve / a0`` and ``t'`` the time since ignition
(Tsiolkovsky), and its burn lasts ``tau (1 - exp(-dv_k / ve))`` for an ideal
velocity gain ``dv_k``. The vehicle's total ideal velocity gain ``dv`` (solved
for, see :func:`tocsin.dynamics.solve_trajectory`) is split between the stages
in equal shares unless the stages say otherwise — equal shares are the optimum
for stages of equal exhaust velocity and structural ratio (e.g. Curtis, *Orbital
Mechanics for Engineering Students*, 3rd ed., sec. 11.6). A stage may wait
``coast_s`` after the previous one burns out before igniting.

Default vehicles: one stage for SRBM, MRBM and IRBM classes (Scud, Nodong and
Hwasong-12 are single-stage), two for an ICBM (Hwasong-14/15/17), three for a
satellite launcher. With one equivalent stage an ICBM would need a mass ratio
of ~40 and 80 g at burnout to reach 7,000 km apogees; two stages need ~6 each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["A0", "G0", "VE", "Burn", "Stage", "Vehicle", "default_vehicle"]

VE = 2600.0
"""Equivalent exhaust velocity, m/s (Isp ~ 265 s: liquid and solid stages alike)."""
A0 = 21.0
"""Thrust acceleration at ignition, m/s^2 (thrust-to-weight ~2.1)."""
G0 = 9.80665


@dataclass(frozen=True)
class Stage:
    """One equivalent stage (all fields optional)."""

    dv_share: float | None = None
    """Share of the vehicle's ideal velocity gain; None: an equal share of what
    the stages with a share leave."""
    ve: float = VE
    a0: float = A0
    coast_s: float = 0.0
    """Coast after the previous stage burns out, before this one ignites, s."""
    elevation: float | None = None
    """A fixed thrust elevation above the local horizontal (rad) instead of the
    pitch program: a satellite launcher's orbit insertion burn."""

    def __post_init__(self) -> None:
        if self.dv_share is not None and not (0.0 < self.dv_share < 1.0 or self.dv_share == 1.0):
            raise ValueError(f"stage dv_share must be in (0, 1], got {self.dv_share}")
        if not (self.ve > 0 and self.a0 > 0 and self.coast_s >= 0):
            raise ValueError("stage ve and a0 must be positive, coast_s not negative")


@dataclass(frozen=True)
class Burn:
    """A stage's burn in a given flight: ignition and burnout times (s after
    launch), its ideal velocity gain and thrust constants."""

    stage: int
    t_ign: float
    t_bo: float
    dv: float
    ve: float
    tau: float


@dataclass(frozen=True)
class Vehicle:
    stages: tuple[Stage, ...] = (Stage(),)

    def __post_init__(self) -> None:
        if not 1 <= len(self.stages) <= 3:
            raise ValueError(f"a vehicle has 1 to 3 stages, got {len(self.stages)}")
        given = [s.dv_share for s in self.stages if s.dv_share is not None]
        total = sum(given)
        if total > 1.0 + 1e-9 or (len(given) == len(self.stages) and abs(total - 1.0) > 1e-6):
            raise ValueError(f"stage dv_share values must add up to 1 (got {total:g})")
        if len(given) < len(self.stages) and total >= 1.0 - 1e-9:
            raise ValueError("stage dv_share values leave nothing for the stages without one")

    @property
    def n(self) -> int:
        return len(self.stages)

    def shares(self) -> tuple[float, ...]:
        given = sum(s.dv_share for s in self.stages if s.dv_share is not None)
        free = sum(1 for s in self.stages if s.dv_share is None)
        rest = (1.0 - given) / free if free else 0.0
        return tuple(rest if s.dv_share is None else s.dv_share for s in self.stages)

    def burns(self, dv: float) -> tuple[Burn, ...]:
        """The burns for a total ideal velocity gain ``dv`` (m/s)."""
        out: list[Burn] = []
        t = 0.0
        for k, (s, share) in enumerate(zip(self.stages, self.shares(), strict=True)):
            if k > 0:
                t += s.coast_s
            dvk = dv * share
            tau = s.ve / s.a0
            tb = tau * (1.0 - math.exp(-dvk / s.ve))
            out.append(Burn(k + 1, t, t + tb, dvk, s.ve, tau))
            t += tb
        return tuple(out)


_DEFAULT_STAGES = {"SRBM": 1, "MRBM": 1, "IRBM": 1, "ICBM": 2, "SLV": 3}


def default_vehicle(kind: str) -> Vehicle:
    """The default vehicle of a class (``SRBM``, ``MRBM``, ``IRBM``, ``ICBM``,
    ``SLV``): equal stages, no coasts."""
    return Vehicle(tuple(Stage() for _ in range(_DEFAULT_STAGES[kind])))
