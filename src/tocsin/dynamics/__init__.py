"""Ballistic dynamics over a rotating WGS84 Earth: forces, propagation, boost,
trajectory solving and impact prediction. Pure numpy/scipy; no I/O."""

from tocsin.dynamics.forces import (
    accel_ecef,
    air_density,
    approx_altitude,
    gravity_j2,
    state_derivative,
)

__all__ = ["accel_ecef", "air_density", "approx_altitude", "gravity_j2", "state_derivative"]
