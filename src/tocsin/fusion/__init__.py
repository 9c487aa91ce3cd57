"""Multi-sensor, multi-target ballistic tracking.

:class:`Tracker` (a :class:`tocsin.stage.Stage`) turns ``sensor``/``plot``/partner
``track`` messages into ``track`` messages; :class:`TrackerConfig` holds its
settings. The maths lives in :mod:`tocsin.fusion.models` (motion and measurement
models), :mod:`tocsin.fusion.filters` (EKF and UKF updates, IMM, covariance
intersection), :mod:`tocsin.fusion.propagate` (fast ballistic propagation to
the ground) and :mod:`tocsin.fusion.impact` (launch point and impact
prediction). Method and measured results: ``docs/fusion.md``.
"""

from tocsin.fusion.tracker import Tracker, TrackerConfig

__all__ = ["Tracker", "TrackerConfig"]
