"""Ballistic dynamics over a rotating WGS84 Earth: forces, propagation, the boost
model, trajectory solving and reported flights to check against. Pure
numpy/scipy; no I/O."""

from tocsin.dynamics.flight import (
    BOOST,
    MIDCOURSE,
    MISSILE_CLASSES,
    PHASE_NAMES,
    REENTRY,
    REPORTED_FLIGHTS,
    ReportedFlight,
    Trajectory,
    propagate,
    propagate_to_ground,
    solve_trajectory,
)
from tocsin.dynamics.forces import (
    accel_ecef,
    air_density,
    approx_altitude,
    gravity_j2,
    state_derivative,
)

__all__ = [
    "BOOST",
    "MIDCOURSE",
    "MISSILE_CLASSES",
    "PHASE_NAMES",
    "REENTRY",
    "REPORTED_FLIGHTS",
    "ReportedFlight",
    "Trajectory",
    "accel_ecef",
    "air_density",
    "approx_altitude",
    "gravity_j2",
    "propagate",
    "propagate_to_ground",
    "solve_trajectory",
    "state_derivative",
]
