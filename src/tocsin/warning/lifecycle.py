"""The story of one warned area, told to one public: Alert -> Update* -> close.

A resident hears about *their* area: a cell broadcast or a municipal radio
delivers by area, and a CAP aggregator keys a warning on its reference chain.
So a warning thread is kept per (public, area): an :class:`AreaThread` is told
what *should* be said about its area now (:meth:`AreaThread.update` with a
:class:`Desired` or ``None`` and, when the risk has ended, its :class:`Cause`)
and what time it is (:meth:`AreaThread.tick`), and answers with the messages to
send (:class:`Issue`). Pure and deterministic: ids are
``<base>.<thread>.<n>``, no clock is read.

Rules (reasons in ``docs/warning.md``):

* first contact (nothing said yet, the area now at risk) -> **Alert**, at once,
  in the urgent wording (``take shelter``);
* its instruction becomes more urgent (``shelter`` -> ``fall`` or ``lost``) ->
  **Update** at once; a less urgent one is not news (a story never steps down:
  "it may fall here" is not followed by "it may only pass over"), except
  tracking regained after ``lost``; that, or the expiry coming near while the
  threat stands -> **Update**, at most one per ``min_update_interval_s``; an
  expected time earlier by more than ``onset_tolerance_s`` or later by more
  than ``onset_later_tolerance_s`` (still ahead), announced as another minute
  (texts give it rounded), or a later end of a lost track's window ->
  **Update**, at most one per ``time_update_interval_s`` (the instruction
  already says "now"; a change that reverts before then sends nothing);
* the risk has ended -> an explicit **close** to this area, once
  ``min_update_interval_s`` has passed since its last message:

  - ``passed`` (the object has flown past it), ``fell`` (the object has come
    down, where), ``lost`` (tracking was lost and the latest time it could
    have arrived has passed), ``expired``: CAP ``Update`` with responseType
    ``AllClear`` (what a consumer reads as "over");
  - ``error`` (no longer at risk before the object got there: the warning was
    wrong): CAP ``Cancel``, and only after ``cancel_hold_s`` with nothing at
    risk (a threat that returns within the hold sends nothing);

* nothing changed -> nothing sent (no duplicates);
* every Update and close references every earlier message of its thread (the
  last one being the message it replaces); a close ends the thread, a later
  threat to the same area opens a new one with a new Alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import msgspec

MsgType = Literal["Alert", "Update", "Cancel"]
#: what an area is told to do: watch for falling parts of the missile (a
#: separated stage or debris may fall here), take shelter (the object may pass
#: over), take shelter at once (it may come down here), stay sheltered
#: (tracking was lost)
Instruction = Literal["debris", "shelter", "fall", "lost"]
#: why an area's warning ended
CloseReason = Literal["passed", "fell", "error", "lost", "expired", "manual"]

URGENCY: dict[str, int] = {"debris": 1, "shelter": 2, "fall": 3, "lost": 3}


class LifecycleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Timing of an area's messages (seconds)."""

    #: at most one Update (or close) per area this often, unless the instruction becomes more urgent
    min_update_interval_s: float = 10.0
    #: an expected time earlier by more than this is news (act sooner)
    onset_tolerance_s: float = 30.0
    #: an expected time later by more than this is news too (the time people read)
    onset_later_tolerance_s: float = 120.0
    #: an Update that only changes the time: at most one per this interval (the
    #: instruction already says "now"; a boost-phase time estimate moves a lot)
    time_update_interval_s: float = 30.0
    #: CAP ``expires``: this long after the predicted impact (or a lost track's latest fall time)
    expires_after_impact_s: float = 600.0
    #: the all-clear ("fell") this long after the predicted impact
    all_clear_after_impact_s: float = 60.0
    #: CAP ``expires`` when no impact time is known
    default_expires_s: float = 1800.0
    #: a correction (Cancel) only after nothing has been at risk this long
    cancel_hold_s: float = 20.0
    #: a track no report has updated for this long is treated as lost (data time)
    lost_after_s: float = 60.0
    #: a lost track's areas stay warned this long past the latest time it could arrive
    lost_margin_s: float = 60.0
    #: a track deleted no earlier than this before its predicted impact has come down
    fall_window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            v = getattr(self, name)
            if not (isinstance(v, float | int) and math.isfinite(v) and v >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0 - at `$.{name}`")


@dataclass(frozen=True, slots=True)
class Desired:
    """What should be said about an area now."""

    onset: float  # when the hazard is expected there (overflight or fall), epoch s
    instruction: Instruction = "shelter"
    tracks: tuple[str, ...] = ()
    impact_t: float | None = None  # predicted impact (for expires)
    lost_t: float | None = None  # instruction "lost": when tracking was lost
    until: float | None = None  # instruction "lost": the latest time it could arrive


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an area's risk ended (the close's reason and what it says)."""

    reason: CloseReason
    t: float | None = None  # fell: when it came down; lost: when tracking was lost
    lat: float | None = None  # fell: where (predicted impact point)
    lon: float | None = None
    until: float | None = None  # lost: the latest time it could have arrived


@dataclass(frozen=True, slots=True)
class Ref:
    id: str
    sent: float


@dataclass(frozen=True, slots=True)
class Issue:
    """One message to send, about one area."""

    id: str
    msg_type: MsgType
    t: float
    area: str
    onset: float | None
    expires: float
    references: tuple[Ref, ...]
    #: an Alert or Update: what the area is told (and the facts behind it)
    desired: Desired | None = None
    #: a close: why it ends (Update with AllClear, or Cancel for ``error``)
    close: Cause | None = None
    #: the instruction this thread last gave (a close says what it lifts)
    previous: Instruction | None = None
    #: the tracks behind it (a close: those behind the message it closes)
    tracks: tuple[str, ...] = ()

    @property
    def closes(self) -> bool:
        return self.close is not None


def _minute(t: float) -> float:
    """The whole minute a time is announced as (texts say it rounded)."""
    return math.floor(t / 60.0 + 0.5)


@dataclass
class AreaThread:
    """The warning threads of one area for one public (module doc)."""

    base: str
    area: str
    cfg: LifecycleConfig = field(default_factory=LifecycleConfig)
    thread: int = 0
    active: bool = False
    sent: list[Ref] = field(default_factory=list)
    last_t: float = -math.inf
    last: Desired | None = None  # what the last Alert/Update said
    last_expires: float = math.inf
    desired: Desired | None = None
    cause: Cause | None = None
    #: since when nothing has been at risk (for cancel_hold_s)
    empty_since: float | None = None
    #: messages sent in all threads of this area (for operators and tests)
    messages: int = 0

    # ------------------------------------------------------------ inputs

    def update(self, desired: Desired | None, t: float, cause: Cause | None = None) -> list[Issue]:
        """The area's risk at ``t``: ``desired`` (``None``: not at risk, ended
        by ``cause``; no cause: a wrong warning, corrected after the hold)."""
        if desired is None:
            if self.desired is not None or self.empty_since is None:
                self.empty_since = t
            if cause is not None:
                self.cause = cause
        else:
            self.empty_since = None
            self.cause = None
        self.desired = desired
        return self._decide(t)

    def tick(self, t: float) -> list[Issue]:
        """Time passes: held-back updates and closes, expiry."""
        return self._decide(t)

    # ------------------------------------------------------------ logic

    def _expires(self, t: float, d: Desired) -> float:
        if d.until is not None:
            return d.until + self.cfg.expires_after_impact_s
        if d.impact_t is not None:
            return max(d.impact_t, d.onset) + self.cfg.expires_after_impact_s
        return max(t, d.onset) + self.cfg.default_expires_s

    def _decide(self, t: float) -> list[Issue]:
        d = self.desired
        if not self.active:
            return [] if d is None else [self._issue("Alert", t, d)]
        last = self.last
        assert last is not None
        held = t - self.last_t < self.cfg.min_update_interval_s - 1e-9
        if d is None:
            cause = self.cause or Cause("error")
            if t >= self.last_expires:
                return [self._close(t, cause if cause.reason != "error" else Cause("expired"))]
            if held:
                return []
            if cause.reason == "error":
                since = self.empty_since if self.empty_since is not None else t
                if t - since < self.cfg.cancel_hold_s - 1e-9:
                    return []
            return [self._close(t, cause)]
        if URGENCY[d.instruction] > URGENCY[last.instruction]:
            return [self._issue("Update", t, d)]
        if URGENCY[d.instruction] < URGENCY[last.instruction] and last.instruction != "lost":
            d = replace(d, instruction=last.instruction)  # never steps down (below)
        if held:
            return []
        tol = self.cfg.onset_tolerance_s
        # a story never steps down: once told it may fall here, an area is not
        # told "only overflight" (flapping near the probability threshold sends
        # nothing); tracking regained after "lost" is news
        changed = d.instruction != last.instruction and (
            URGENCY[d.instruction] >= URGENCY[last.instruction] or last.instruction == "lost"
        )
        timely = t - self.last_t >= self.cfg.time_update_interval_s - 1e-9
        retimed = _minute(d.onset) != _minute(last.onset) and (
            last.onset - d.onset > tol
            or (d.onset - last.onset > self.cfg.onset_later_tolerance_s and d.onset > t)
        )
        news = (
            changed
            or (retimed and timely)
            or (d.until is not None and last.until is not None and d.until - last.until > tol and timely)
            or t >= self.last_expires - self.cfg.min_update_interval_s
        )
        return [self._issue("Update", t, d)] if news else []

    def _next_id(self) -> str:
        return f"{self.base}.{self.thread}.{len(self.sent)}"

    def _issue(self, kind: MsgType, t: float, d: Desired) -> Issue:
        if kind == "Alert":
            self.thread += 1
            self.sent = []
            self.active = True
        expires = self._expires(t, d)
        msg = Issue(
            id=self._next_id(),
            msg_type=kind,
            t=t,
            area=self.area,
            onset=d.onset,
            expires=expires,
            references=tuple(self.sent),
            desired=d,
            previous=self.last.instruction if self.last is not None and kind == "Update" else None,
            tracks=d.tracks,
        )
        self.sent.append(Ref(msg.id, t))
        self.messages += 1
        self.last_t, self.last, self.last_expires = t, d, expires
        return msg

    def _close(self, t: float, cause: Cause) -> Issue:
        msg = Issue(
            id=self._next_id(),
            msg_type="Cancel" if cause.reason == "error" else "Update",
            t=t,
            area=self.area,
            onset=None,
            expires=t,
            references=tuple(self.sent),
            close=cause,
            previous=self.last.instruction if self.last is not None else None,
            tracks=self.last.tracks if self.last is not None else (),
        )
        self.sent.append(Ref(msg.id, t))
        self.messages += 1
        self.active = False
        self.last_t = t
        self.last = None
        self.last_expires = math.inf
        self.desired = None
        self.cause = None
        self.empty_since = None
        return msg


__all__ = [
    "URGENCY",
    "AreaThread",
    "Cause",
    "CloseReason",
    "Desired",
    "Instruction",
    "Issue",
    "LifecycleConfig",
    "MsgType",
    "Ref",
]
