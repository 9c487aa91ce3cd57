"""One track's state: its IMM filter, lifecycle, class, launch and impact.

A :class:`Track` is a plain record that the tracker's steps read and write:
estimation (:mod:`tocsin.fusion.estimation`: ``x, p, mu, t``, the history
``hist`` for late reports), lifecycle (:mod:`tocsin.fusion.lifecycle`:
``status``, ``window``, ``last_update``), classification and ballistic
estimation (:mod:`tocsin.fusion.ballistic`: ``cls``, ``phase``, votes,
``burnt_out``, ``launch``, ``impact``) and reports
(:mod:`tocsin.fusion.reports`: ``id``, ``last_report``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tocsin.fusion import kernels
from tocsin.fusion.impact import Impact, Launch
from tocsin.fusion.measurements import Meas

F64 = NDArray[np.float64]


@dataclass(slots=True)
class Track:
    key: int
    x: F64  # (2, 6)
    p: F64  # (2, 6, 6)
    mu: F64  # (2,)
    t: float
    created: float
    window: deque[int]
    sources: set[str]
    partners: set[str]
    id: str | None = None
    status: str = "tentative"
    reported_status: str = ""  # the status of the last report (a change is reported at once)
    cls: str = "unknown"
    phase: str = "unknown"
    last_update: float = 0.0
    last_report: float = -math.inf
    last_predicted_report: float = -math.inf  # a report of the prediction (no plot)
    # what the last report said (tocsin.fusion.reports.Reporter.news)
    reported_cls: str = "unknown"
    reported_impact: Impact | None = None
    updates: int = 0
    votes_b: int = 0
    votes_a: int = 0
    burnt_out: bool = False
    quiet: int = 0
    speeds: deque[tuple[float, F64, float]] = field(default_factory=deque)
    first: tuple[F64, F64, float] | None = None
    early: list[tuple[float, F64, float]] = field(default_factory=list)
    launch: Launch | None = None
    impact: Impact | None = None
    last_impact: float = -math.inf
    last_launch: float = -math.inf
    impact_basis: float = -math.inf
    hist: list[tuple[Meas, tuple[F64, F64, F64, float]]] = field(default_factory=list)
    dead: bool = False
    coast_from: tuple[F64, F64, F64, float] | None = None
    xc: F64 | None = None  # cached combined estimate at ``t``
    pc: F64 | None = None
    # sorted sources and partners for messages (the sets only grow: cached by size)
    src_sorted: list[str] = field(default_factory=list)
    par_sorted: list[str] = field(default_factory=list)

    def sorted_sources(self) -> tuple[list[str], list[str]]:
        """Sorted sources and partners, the same list objects until a set
        grows (messages share them: never mutated, replaced on change)."""
        if len(self.src_sorted) != len(self.sources):
            self.src_sorted = sorted(self.sources)
        if len(self.par_sorted) != len(self.partners):
            self.par_sorted = sorted(self.partners)
        return self.src_sorted, self.par_sorted

    @property
    def ballistic(self) -> bool:
        return self.cls == "ballistic"

    def combined(self) -> tuple[F64, F64]:
        if self.xc is None or self.pc is None:
            xc, pc = kernels.imm_combine(self.x[None], self.p[None], self.mu[None])
            self.xc, self.pc = xc[0], pc[0]
        return self.xc, self.pc
