"""Run modes: where the CAP ``status`` of every alert comes from.

A warning engine, a manual-alert book and the CAP renderer never take a status
string from a caller; they take a *mode* object and use its ``status``. The three
modes are distinct types:

* :class:`DrillMode` (``tocsin drill``, the default of ``WarningEngine()``) and
  :class:`ReplayMode` (``tocsin replay``, ``tocsin warn`` on recorded files):
  their ``status`` is typed ``Literal["Exercise", "Test"]``, so
  ``DrillMode(status="Actual")`` is a type error under ``mypy --strict``, and it
  is refused at run time too (:class:`ModeError`).
* :class:`LiveMode`: the only mode whose status may be ``Actual``. It cannot be
  built directly (its constructor needs a private token and refuses anything
  else at run time); the only way to get one is :func:`authorise_live` with a
  :class:`LiveAuthorisation` — an explicit live configuration naming who
  authorised live operation, loaded from a file that says ``live = true`` (see
  :func:`tocsin.warning.policy.load_live_authorisation`).

This is the Hawaii-2018 lesson written into types: a drill cannot send a real
alert by picking the wrong template, because the drill has no way to name one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

DrillStatus: TypeAlias = Literal["Exercise", "Test"]
"""The statuses a drill or replay can produce."""
AnyStatus: TypeAlias = Literal["Actual", "Exercise", "Test"]


class ModeError(ValueError):
    """A mode was asked for a status it may not produce."""


_DRILL_STATUSES: Final = frozenset({"Exercise", "Test"})


@dataclass(frozen=True, slots=True)
class DrillMode:
    """A drill: alerts are ``Exercise`` (or ``Test``), and say so in every language.

    ``open_inputs``: the exchange runs without a partner registry (open mode:
    unsigned inputs accepted), which only a drill may do; every CAP ``note``
    then says so (:func:`mode_note`)."""

    status: DrillStatus = "Exercise"
    name: Literal["drill"] = "drill"
    open_inputs: bool = False

    def __post_init__(self) -> None:
        if self.status not in _DRILL_STATUSES:
            raise ModeError(f"a drill can only produce Exercise or Test alerts, not {self.status!r}")

    @property
    def live(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class ReplayMode:
    """A replay of recorded traffic: alerts are ``Test`` (or ``Exercise``)."""

    status: DrillStatus = "Test"
    name: Literal["replay"] = "replay"
    #: the replayed run was in open mode (see :class:`DrillMode`)
    open_inputs: bool = False

    def __post_init__(self) -> None:
        if self.status not in _DRILL_STATUSES:
            raise ModeError(f"a replay can only produce Exercise or Test alerts, not {self.status!r}")

    @property
    def live(self) -> bool:
        return False


class _LiveToken:
    """Private capability: only :func:`authorise_live` holds the instance."""

    __slots__ = ()


_TOKEN: Final = _LiveToken()


@dataclass(frozen=True, slots=True)
class LiveAuthorisation:
    """An explicit, named authorisation to run live.

    ``authorised_by`` and ``reference`` (a decision or order number) are
    written into every Actual alert's audit trail. Build it from a live
    configuration file, never from a default."""

    authorised_by: str
    reference: str
    sender: str
    status: AnyStatus = "Actual"

    def __post_init__(self) -> None:
        if not self.authorised_by.strip():
            raise ModeError("a live authorisation needs `authorised_by`")
        if not self.reference.strip():
            raise ModeError("a live authorisation needs `reference`")
        if not self.sender.strip():
            raise ModeError("a live authorisation needs `sender`")


@dataclass(frozen=True, slots=True)
class LiveMode:
    """Live operation: the only mode that may produce ``Actual`` alerts.

    Obtain it with :func:`authorise_live`; constructing it directly raises."""

    token: _LiveToken
    authorisation: LiveAuthorisation
    status: AnyStatus = "Actual"
    name: Literal["live"] = "live"

    def __post_init__(self) -> None:
        if self.token is not _TOKEN:
            raise ModeError("LiveMode can only be obtained from authorise_live(LiveAuthorisation)")

    @property
    def live(self) -> bool:
        return True


Mode: TypeAlias = DrillMode | ReplayMode | LiveMode


def authorise_live(auth: LiveAuthorisation) -> LiveMode:
    """The one door to live operation."""
    if not isinstance(auth, LiveAuthorisation):
        raise ModeError("authorise_live needs a LiveAuthorisation")
    return LiveMode(_TOKEN, auth, auth.status)


def live_sender(mode: Mode) -> str | None:
    """The CAP sender a live authorisation names (None outside live mode): live
    alerts go out under it unless a release names its own."""
    return mode.authorisation.sender if isinstance(mode, LiveMode) else None


#: the CAP ``note`` sentence of every alert of an open-mode run
OPEN_INPUTS_NOTE = (
    "OPEN MODE: this exchange accepts unsigned inputs (no partner registry); exercise use only."
)


def mode_note(mode: Mode) -> str | None:
    """What a mode adds to the CAP ``note`` beyond its status (open mode), or None.
    A :class:`LiveMode` is never open: live operation needs a partner registry."""
    if isinstance(mode, DrillMode | ReplayMode) and mode.open_inputs:
        return OPEN_INPUTS_NOTE
    return None


def check_status(mode: Mode, status: str) -> AnyStatus:
    """Run-time guard used where a status leaves the process: ``status`` must be
    the mode's, and only a :class:`LiveMode` may say ``Actual``."""
    if status == "Actual" and not isinstance(mode, LiveMode):
        raise ModeError(f"a {mode.name} run cannot produce an Actual alert")
    if status != mode.status:
        raise ModeError(f"status {status!r} does not match the {mode.name} mode ({mode.status})")
    return mode.status


__all__ = [
    "OPEN_INPUTS_NOTE",
    "AnyStatus",
    "DrillMode",
    "DrillStatus",
    "LiveAuthorisation",
    "LiveMode",
    "Mode",
    "ModeError",
    "ReplayMode",
    "authorise_live",
    "check_status",
    "live_sender",
    "mode_note",
]
