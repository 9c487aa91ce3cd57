"""Ballistic dynamics over a rotating WGS84 Earth: forces, propagation, the boost
model (one to three stages), trajectory solving, separated objects, satellite
launchers, quasi-ballistic manoeuvres, ballistic-coefficient classes and reported
flights to check against. Pure numpy/scipy (and numba for the flight
integrator); no I/O."""

from tocsin.dynamics.beta import BETA_RANGES, BetaRange, draw_beta, equivalent_range_m, rv_class
from tocsin.dynamics.flight import (
    BOOST,
    MIDCOURSE,
    MISSILE_CLASSES,
    PHASE_NAMES,
    REENTRY,
    REPORTED_FLIGHTS,
    Flight,
    ReportedFlight,
    Separation,
    Trajectory,
    fly,
    fly_free,
    orbit_heights,
    propagate,
    propagate_to_ground,
    solve_flight,
    solve_orbit,
    solve_trajectory,
)
from tocsin.dynamics.forces import (
    accel_ecef,
    air_density,
    approx_altitude,
    gravity_j2,
    state_derivative,
)
from tocsin.dynamics.manoeuvre import PullUp
from tocsin.dynamics.vehicle import Stage, Vehicle, default_vehicle

__all__ = [
    "BETA_RANGES",
    "BOOST",
    "MIDCOURSE",
    "MISSILE_CLASSES",
    "PHASE_NAMES",
    "REENTRY",
    "REPORTED_FLIGHTS",
    "BetaRange",
    "Flight",
    "PullUp",
    "ReportedFlight",
    "Separation",
    "Stage",
    "Trajectory",
    "Vehicle",
    "accel_ecef",
    "air_density",
    "approx_altitude",
    "default_vehicle",
    "draw_beta",
    "equivalent_range_m",
    "fly",
    "fly_free",
    "gravity_j2",
    "orbit_heights",
    "propagate",
    "propagate_to_ground",
    "rv_class",
    "solve_flight",
    "solve_orbit",
    "solve_trajectory",
    "state_derivative",
]
