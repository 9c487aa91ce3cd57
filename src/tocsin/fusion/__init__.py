"""Multi-sensor, multi-target ballistic tracking.

:class:`Tracker` (a :class:`tocsin.stage.Stage`) turns ``sensor``/``plot``/partner
``track`` messages into ``track`` messages; :class:`TrackerConfig` holds its
settings. Each step of the tracker is a module of its own name (``measurements``,
``scans``, ``estimation``, ``association``, ``initiation``, ``lifecycle``,
``ballistic``, ``reports``, ``partners``; the map is in :mod:`tocsin.fusion.tracker`).
The maths lives in :mod:`tocsin.fusion.models` (motion and measurement
models), :mod:`tocsin.fusion.filters` (EKF and UKF updates, IMM, covariance
intersection), :mod:`tocsin.fusion.propagate` (fast ballistic propagation to
the ground) and :mod:`tocsin.fusion.impact` (launch point and impact
prediction). Method and measured results: ``docs/fusion.md``.
"""

from tocsin.fusion.config import TrackerConfig
from tocsin.fusion.tracker import Tracker

__all__ = ["Tracker", "TrackerConfig"]
