"""Sensor measurement models (radar, space infrared) with Jacobians, and
simulated detection. Pure numpy; no I/O.

* :mod:`tocsin.sensors.models` — ``radar_measure``/``radar_jacobian`` (range,
  azimuth, elevation, range rate) and ``los_measure``/``los_jacobian`` (unit line
  of sight from a space observer).
* :mod:`tocsin.sensors.detection` — which objects a sensor sees and with what
  error: field of regard, range, Earth masking, Pd, noise, bias, clutter, delays.
* :mod:`tocsin.sensors.platform` — ships and aircraft moving along courses.
"""

from tocsin.sensors.detection import (
    FieldOfRegard,
    IrDetections,
    IrSpec,
    RadarDetections,
    RadarSpec,
    detect_ir,
    detect_radar,
    earth_blocks,
    report_delays,
)
from tocsin.sensors.models import los_jacobian, los_measure, radar_jacobian, radar_measure
from tocsin.sensors.platform import Course, destination

__all__ = [
    "Course",
    "FieldOfRegard",
    "IrDetections",
    "IrSpec",
    "RadarDetections",
    "RadarSpec",
    "destination",
    "detect_ir",
    "detect_radar",
    "earth_blocks",
    "los_jacobian",
    "los_measure",
    "radar_jacobian",
    "radar_measure",
    "report_delays",
]
