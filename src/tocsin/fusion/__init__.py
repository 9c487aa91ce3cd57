"""Multi-sensor, multi-target ballistic tracking.

:class:`Tracker` (a :class:`tocsin.stage.Stage`) turns ``sensor``/``plot``/partner
``track`` messages into ``track`` messages; :class:`TrackerConfig` holds its
settings. The maths lives in :mod:`tocsin.fusion.models` (motion and measurement
models), :mod:`tocsin.fusion.filters` (EKF, IMM, covariance intersection) and
:mod:`tocsin.fusion.impact` (launch point and impact prediction).
"""

from tocsin.fusion.tracker import Tracker, TrackerConfig

__all__ = ["Tracker", "TrackerConfig"]
