"""Stages for the stage-process tests: the toy tracker, a gate that holds
every output until a file exists (work in flight, or a slow warning stage,
made deterministic), then the toy warner. A module of its own so that both
test files use one, and the stage process can import it (the tests put this
directory on its PYTHONPATH) when it unpickles the recipe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tocsin.exchange.samples import toy_stages
from tocsin.wire import Envelope


class GatedToy:
    """The toy tracker, then a stage that holds every output it is given until
    the file ``gate`` exists, then the toy warner."""

    def __init__(self, gate: str) -> None:
        self.gate = gate

    def __call__(self) -> list[Any]:
        tracker, warner = toy_stages()
        return [tracker, _Gate(self.gate), warner]


class _Gate:
    snapshot_exclude = ("gate",)

    def __init__(self, gate: str) -> None:
        self.gate = gate

    def push(self, env: Envelope) -> list[Envelope]:
        deadline = time.monotonic() + 30
        while not Path(self.gate).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        return [env]

    def advance(self, t: float) -> list[Envelope]:
        return []
