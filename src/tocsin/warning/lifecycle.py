"""The life of a public warning about one threat: Alert -> Update* -> Cancel.

A :class:`Lifecycle` follows one track for one release (one partner's public).
It is told what *should* be warned now (:meth:`Lifecycle.update`, a
:class:`Desired` or ``None``) and what time it is (:meth:`Lifecycle.tick`), and
answers with the messages to send (:class:`Issue`). Pure and deterministic: ids
are ``<base>.<thread>.<n>``, no clock is read.

Rules (reasons in ``docs/warning.md``):

* nothing warned yet and something at risk -> **Alert**, at once;
* an area becomes at risk that the last message did not name -> **Update** at
  once (additions are never held back: lead time is what saves people);
* areas dropped or the onset earlier by more than ``onset_tolerance_s`` ->
  **Update**, but at most one per ``min_update_interval_s``; a change that
  reverts before then sends nothing (no flapping); a later onset alone is not
  news;
* nothing at risk any more for ``cancel_hold_s`` -> **Cancel** ("no-threat"),
  rate-limited like a removal; the track deleted or no longer ballistic -> **Cancel** ("lost") at
  once; ``all_clear_after_impact_s`` after the predicted impact -> **Cancel**
  ("impact", the all-clear); ``expires`` reached with no news -> **Cancel**;
* nothing changed -> nothing sent (no duplicates);
* every Update and Cancel references every earlier message of its thread, the
  last one being the message it replaces; a Cancel ends the thread — a later
  threat from the same track opens a new thread with a new Alert.

``onset`` is the earliest time the hazard reaches any warned area (overflight
or impact), ``expires`` the predicted impact plus ``expires_after_impact_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import msgspec

MsgType = Literal["Alert", "Update", "Cancel"]
CancelReason = Literal["impact", "no-threat", "lost", "expired", "manual"]


class LifecycleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    min_update_interval_s: float = 10.0
    onset_tolerance_s: float = 30.0
    expires_after_impact_s: float = 600.0
    all_clear_after_impact_s: float = 60.0
    default_expires_s: float = 1800.0
    cancel_hold_s: float = 20.0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            v = getattr(self, name)
            if not (isinstance(v, float | int) and math.isfinite(v) and v >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0 - at `$.{name}`")


@dataclass(frozen=True, slots=True)
class Desired:
    """What should be warned now."""

    areas: frozenset[str]
    onset: float | None = None
    impact_t: float | None = None


@dataclass(frozen=True, slots=True)
class Ref:
    id: str
    sent: float


@dataclass(frozen=True, slots=True)
class Issue:
    """One message to send."""

    id: str
    msg_type: MsgType
    t: float
    areas: tuple[str, ...]
    onset: float | None
    expires: float
    references: tuple[Ref, ...]
    reason: CancelReason | None = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass
class Lifecycle:
    """Alert threads of one track for one release (module doc)."""

    base: str
    cfg: LifecycleConfig = field(default_factory=LifecycleConfig)
    thread: int = 0
    active: bool = False
    sent: list[Ref] = field(default_factory=list)
    last_t: float = -math.inf
    last_areas: frozenset[str] = frozenset()
    last_onset: float | None = None
    last_expires: float = math.inf
    impact_t: float | None = None
    desired: Desired | None = None
    #: since when nothing has been at risk (for cancel_hold_s)
    empty_since: float | None = None

    # ------------------------------------------------------------ inputs

    def update(self, desired: Desired | None, t: float) -> list[Issue]:
        """New assessment at ``t`` (``None`` or no areas: nothing at risk)."""
        if desired is not None and not desired.areas:
            desired = None
        if desired is None:
            if self.empty_since is None:
                self.empty_since = t
        else:
            self.empty_since = None
        self.desired = desired
        if desired is not None:
            # the newest assessment governs: an object at risk with no impact
            # prediction now (boosting again, prediction lost) is not given the
            # all-clear on an older prediction's clock
            self.impact_t = desired.impact_t
        return self._decide(t)

    def end(self, t: float, reason: CancelReason = "lost") -> list[Issue]:
        """The track is gone (deleted, reclassified): cancel now if active."""
        self.desired = None
        if not self.active:
            return []
        return [self._cancel(t, reason)]

    def tick(self, t: float) -> list[Issue]:
        """Time passes: held-back changes, the all-clear, expiry."""
        return self._decide(t)

    # ------------------------------------------------------------ logic

    def _expires(self, t: float, impact_t: float | None) -> float:
        if impact_t is not None:
            return impact_t + self.cfg.expires_after_impact_s
        return t + self.cfg.default_expires_s

    def _decide(self, t: float) -> list[Issue]:
        d = self.desired
        if not self.active:
            if d is None:
                return []
            if d.impact_t is not None and t >= d.impact_t + self.cfg.all_clear_after_impact_s:
                return []
            return [self._issue("Alert", t, d)]
        if self.impact_t is not None and t >= self.impact_t + self.cfg.all_clear_after_impact_s:
            return [self._cancel(t, "impact")]
        if t >= self.last_expires:
            return [self._cancel(t, "expired")]
        held = t - self.last_t < self.cfg.min_update_interval_s - 1e-9
        if d is None:
            since = self.empty_since if self.empty_since is not None else t
            if held or t - since < self.cfg.cancel_hold_s - 1e-9:
                return []
            return [self._cancel(t, "no-threat")]
        if d.areas - self.last_areas:
            return [self._issue("Update", t, d)]
        # only an earlier onset is news (act sooner); a later one is not worth a message
        moved = (
            d.onset is not None
            and self.last_onset is not None
            and self.last_onset - d.onset > self.cfg.onset_tolerance_s
        )
        if (d.areas != self.last_areas or moved) and not held:
            return [self._issue("Update", t, d)]
        return []

    def _next_id(self) -> str:
        return f"{self.base}.{self.thread}.{len(self.sent)}"

    def _issue(self, kind: MsgType, t: float, d: Desired) -> Issue:
        if kind == "Alert":
            self.thread += 1
            self.sent = []
            self.active = True
            self.impact_t = d.impact_t
        expires = self._expires(t, d.impact_t if d.impact_t is not None else self.impact_t)
        msg = Issue(
            id=self._next_id(),
            msg_type=kind,
            t=t,
            areas=tuple(sorted(d.areas)),
            onset=d.onset,
            expires=expires,
            references=tuple(self.sent),
            added=tuple(sorted(d.areas - self.last_areas)) if kind == "Update" else tuple(sorted(d.areas)),
            removed=tuple(sorted(self.last_areas - d.areas)) if kind == "Update" else (),
        )
        self.sent.append(Ref(msg.id, t))
        self.last_t, self.last_areas, self.last_onset, self.last_expires = t, d.areas, d.onset, expires
        return msg

    def _cancel(self, t: float, reason: CancelReason) -> Issue:
        msg = Issue(
            id=self._next_id(),
            msg_type="Cancel",
            t=t,
            areas=tuple(sorted(self.last_areas)),
            onset=None,
            expires=t,
            references=tuple(self.sent),
            reason=reason,
            removed=tuple(sorted(self.last_areas)),
        )
        self.sent.append(Ref(msg.id, t))
        self.active = False
        self.last_t = t
        self.last_areas = frozenset()
        self.last_onset = None
        self.last_expires = math.inf
        self.impact_t = None
        self.desired = None
        self.empty_since = None
        return msg


__all__ = ["CancelReason", "Desired", "Issue", "Lifecycle", "LifecycleConfig", "MsgType", "Ref"]
