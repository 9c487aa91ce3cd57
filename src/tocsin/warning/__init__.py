"""Areas at risk, alert lifecycle, policy and CAP 1.2 rendering.

::

    track ──► threat.assess ──► policy (eligible? which public?) ──► per (public, area):
                 (areas at risk,                                      lifecycle.AreaThread
                  onset, impact)                                      (Alert/Update*/close)
                                                                          │
                                          alert envelope (AlertBody) ◄── cap.render_cap
                                                                         (ja/ko/en)

:class:`WarningEngine` is the stage; ``WarningEngine()`` runs in drill mode
(every alert ``Exercise``). See ``docs/warning.md``.
"""

from tocsin.warning.areas import Area, AreaRegistry
from tocsin.warning.cap import CapMessage, CapProblem, render_cap, validate_cap
from tocsin.warning.engine import WarningEngine
from tocsin.warning.lifecycle import AreaThread, Cause, Desired, Issue, LifecycleConfig
from tocsin.warning.mode import (
    DrillMode,
    LiveAuthorisation,
    LiveMode,
    Mode,
    ModeError,
    ReplayMode,
    authorise_live,
)
from tocsin.warning.policy import Release, Thresholds, WarningConfig, load_config, load_live_authorisation
from tocsin.warning.threat import AreaRisk, Threat, ThreatConfig, assess

__all__ = [
    "Area",
    "AreaRegistry",
    "AreaRisk",
    "AreaThread",
    "CapMessage",
    "CapProblem",
    "Cause",
    "Desired",
    "DrillMode",
    "Issue",
    "LifecycleConfig",
    "LiveAuthorisation",
    "LiveMode",
    "Mode",
    "ModeError",
    "Release",
    "ReplayMode",
    "Threat",
    "ThreatConfig",
    "Thresholds",
    "WarningConfig",
    "WarningEngine",
    "assess",
    "authorise_live",
    "load_config",
    "load_live_authorisation",
    "render_cap",
    "validate_cap",
]
