"""The narrow interface every pipeline stage implements.

A stage is a plain object: messages in, messages out, no I/O, no wall clock.
Time only moves when a message says so (its ``sent`` or body ``t``) or when the
runtime calls :meth:`Stage.advance` with a time taken from its own clock or from
a replay file. The same inputs in the same order give the same outputs, which
is what makes drills, replays and audits reproducible.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tocsin.wire.messages import Envelope


@runtime_checkable
class Stage(Protocol):
    """One step of sources -> exchange -> fusion -> warning -> sinks."""

    def push(self, env: Envelope) -> list[Envelope]:
        """Take one message; return the messages it causes (possibly none)."""
        ...

    def advance(self, t: float) -> list[Envelope]:
        """Let time pass to ``t`` (epoch seconds) with no new input; return what
        that causes (coasting, deletion, expiry, rate-limited releases)."""
        ...


def run_pipeline(stages: list[Stage], env: Envelope) -> list[Envelope]:
    """Push one message through stages in order; every output of a stage is
    pushed into the next. Returns all messages produced, in order of production."""
    produced: list[Envelope] = []
    batch = [env]
    for stage in stages:
        nxt: list[Envelope] = []
        for e in batch:
            nxt.extend(stage.push(e))
        produced.extend(nxt)
        batch = nxt
    return produced
