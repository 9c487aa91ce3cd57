"""Sensor measurement models (radar, space infrared) with Jacobians, and
simulated detection. Pure numpy; no I/O."""
