"""Warning policy: thresholds, who releases what to whose public, operators.

One :class:`WarningConfig` holds everything an operator may tune; it loads from
a TOML or YAML file (:func:`load_config`) and every error names the field::

    # policy.toml
    sender = "warning@jp.tocsin.example"
    operators = ["duty-officer-a", "duty-officer-b"]

    [thresholds]
    min_quality = 0.6               # track quality (fraction of recent scans with a hit)
    min_impact_probability = 0.02   # P(impact in area) for impact-area warnings
    trusted_track_partners = ["US"] # partner tracks alone may warn (default: none)

    [[releases]]
    partner = "JP"                  # whose public: alert envelopes carry this partner
    countries = ["JP"]              # areas of these countries go to this public
    international = true            # and sea zones of no listed country
    sender = "warning@jp.example"   # optional: CAP sender for this public
    timezone = "Asia/Tokyo"         # optional: the readers' zone (default: each area's own)
    cap_profile = "oasis"           # optional: "ipaws" writes the USA IPAWS profile (a US public)

    [objects]                       # separated pieces (a track's `role`)
    stage = "land-and-sea"          # spent stages, fairings: warn where they may fall
    debris = "land-and-sea"         # "land-and-sea" | "land" | "sea" | "none"

    [lifecycle]
    min_update_interval_s = 10

    [threat]
    max_buffer_m = 100000

Releases: each release is its own alert stream (its own ids and lifecycle),
carrying only the areas of its countries (plus international sea zones when
``international``). A partner whose public is not affected receives nothing.
Each public has its own CAP sender (:meth:`WarningConfig.sender_for`): the
release's ``sender``, else the policy's (or, live, the authorisation's) with the
partner code added to its local part (``warning@tocsin.example`` ->
``warning-jp@tocsin.example``), so aggregators that key on (sender, identifier)
never mix two publics' threads.

A live run also needs a *live authorisation* file (:func:`load_live_authorisation`)::

    live = true
    authorised_by = "Director, National Warning Centre"
    reference = "order 2026-114"
    sender = "warning@jp.tocsin.example"

which is the only way to obtain a :class:`~tocsin.warning.mode.LiveMode`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec import Meta

from tocsin.errors import ConfigError
from tocsin.limits import read_file, toml_loads, yaml_load
from tocsin.warning.lifecycle import LifecycleConfig
from tocsin.warning.mode import LiveAuthorisation, LiveMode, ModeError, authorise_live
from tocsin.warning.threat import ThreatConfig

Partner = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
Prob = Annotated[float, Meta(ge=0.0, le=1.0)]


class Thresholds(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which tracks may raise a public warning, and when an impact area counts."""

    min_quality: Prob = 0.5
    min_impact_probability: Prob = 0.01
    statuses: list[Literal["confirmed", "coasting", "lost", "tentative"]] = msgspec.field(
        default_factory=lambda: ["confirmed", "coasting", "lost"]
    )
    classes: list[Literal["ballistic"]] = msgspec.field(default_factory=lambda: ["ballistic"])
    #: partners whose tracks alone may raise a public warning. A partner ``track``
    #: that no plot of this exchange supports, or that carries no ``quality``, is
    #: held back (class ``unknown``) unless its partner is listed here
    #: (:class:`tocsin.exchange.consistency.ConsistencyCheck`; docs/security.md).
    trusted_track_partners: list[Partner] = msgspec.field(default_factory=list)


class Release(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One public that receives alerts (one alert stream)."""

    partner: Partner
    countries: list[Partner]
    international: bool = True
    #: CAP sender of this public's alerts (derived from the policy's ``sender`` when unset)
    sender: Annotated[str, Meta(pattern=r"^[^\s,<&]+$")] | None = None
    #: the readers' time zone (IANA, e.g. ``Asia/Tokyo``) for the times in the
    #: text; unset: each area's own (JST for Japan, KST for Korea)
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    #: the CAP profile of this public's documents: plain OASIS CAP 1.2, or the USA
    #: IPAWS profile v1.0 for a public reached through FEMA's IPAWS-OPEN
    #: (:mod:`tocsin.warning.cap`)
    cap_profile: Literal["oasis", "ipaws"] = "oasis"

    def __post_init__(self) -> None:
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {self.timezone!r} (an IANA name like 'Asia/Tokyo') - at `$.timezone`"
                ) from None


PieceRule = Literal["land-and-sea", "land", "sea", "none"]


class ObjectsPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How separated pieces warn (a track's ``role``, when its producer knows it).

    A spent ``stage`` (or fairing) or ``debris`` warns only the areas where it
    may *fall* (its impact ellipse; never the overflight or boost corridor: it
    neither thrusts nor explodes), in its own words ("parts separated from the
    missile may fall", :mod:`tocsin.warning.texts`), and is closed when it has
    fallen; which kinds of areas: ``land-and-sea``, ``land``, ``sea`` (mariners
    only), or ``none``. A track of unknown role or an ``rv`` is warned as a
    missile."""

    stage: PieceRule = "land-and-sea"
    debris: PieceRule = "land-and-sea"

    def rule(self, role: str | None) -> PieceRule | None:
        """The rule for a track of ``role`` (``None``: not a piece, a missile)."""
        if role == "stage":
            return self.stage
        if role == "debris":
            return self.debris
        return None


def _default_releases() -> list[Release]:
    return [Release(partner="JP", countries=["JP"]), Release(partner="KR", countries=["KR"])]


class WarningConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the warning engine can be told (module doc)."""

    sender: Annotated[str, Meta(pattern=r"^[^\s,<&]+$")] = "warning@tocsin.example"
    source: Annotated[str, Meta(min_length=1, max_length=128)] = "tocsin-warning"
    thresholds: Thresholds = msgspec.field(default_factory=Thresholds)
    releases: Annotated[list[Release], Meta(min_length=1)] = msgspec.field(default_factory=_default_releases)
    operators: list[Annotated[str, Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]] = msgspec.field(
        default_factory=list
    )
    threat: ThreatConfig = msgspec.field(default_factory=ThreatConfig)
    lifecycle: LifecycleConfig = msgspec.field(default_factory=LifecycleConfig)
    objects: ObjectsPolicy = msgspec.field(default_factory=ObjectsPolicy)
    max_polygon_points: Annotated[int, Meta(ge=4, le=10_000)] = 100

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for i, r in enumerate(self.releases):
            if r.partner in seen:
                raise ValueError(f"partner {r.partner} released twice - at `$.releases[{i}].partner`")
            seen.add(r.partner)

    def sender_for(self, release: Release, live: str | None = None) -> str:
        """The CAP sender of ``release``'s public: its own ``sender``, else the
        live authorisation's (``live``) or the policy's with the partner code
        added to the local part (one sender per public)."""
        if release.sender:
            return release.sender
        base = live or self.sender
        tag = release.partner.lower()
        local, at, domain = base.partition("@")
        return f"{local}-{tag}@{domain}" if at else f"{base}-{tag}"

    def threat_config(self) -> ThreatConfig:
        """The assessment knobs with the policy's impact threshold applied."""
        return msgspec.structs.replace(
            self.threat, min_impact_probability=self.thresholds.min_impact_probability
        )

    def eligible(self, status: str, cls: str, quality: float | None) -> bool:
        """May a track with this status, class and quality raise or change a warning?"""
        if cls not in self.thresholds.classes or status not in self.thresholds.statuses:
            return False
        if quality is None:  # no stated quality is no quality (fail closed)
            return False
        return quality >= self.thresholds.min_quality

    def release_areas(
        self, release: Release, codes: Iterable[str], countries: dict[str, str]
    ) -> frozenset[str]:
        """The codes among ``codes`` that ``release``'s public receives."""
        listed = {c for r in self.releases for c in r.countries}
        out = set()
        for code in codes:
            ctry = countries.get(code, "")
            if ctry in release.countries or (release.international and ctry not in listed):
                out.add(code)
        return frozenset(out)


def _read_mapping(path: Path) -> Any:
    try:
        raw = read_file(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        # (size, nesting and YAML alias-expansion limits: tocsin.limits)
        if path.suffix.lower() == ".toml":
            return toml_loads(raw.decode("utf-8"))
        return yaml_load(raw) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {msg}") from None


def _convert(data: Any, typ: type[Any], path: Path) -> Any:
    try:
        return msgspec.convert(data, typ)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except ValueError as exc:  # __post_init__ checks
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> WarningConfig:
    """A :class:`WarningConfig` from a TOML (``.toml``) or YAML file; a
    :class:`~tocsin.errors.ConfigError` naming the field otherwise."""
    p = Path(path)
    cfg: WarningConfig = _convert(_read_mapping(p), WarningConfig, p)
    return cfg


class _LiveFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    live: bool
    authorised_by: Annotated[str, Meta(min_length=1)]
    reference: Annotated[str, Meta(min_length=1)]
    sender: Annotated[str, Meta(pattern=r"^[^\s,<&]+$")]


def load_live_authorisation(path: str | os.PathLike[str]) -> LiveMode:
    """The live mode from an explicit live authorisation file (module doc)."""
    p = Path(path)
    f: _LiveFile = _convert(_read_mapping(p), _LiveFile, p)
    if f.live is not True:
        raise ConfigError(f"{p}: live: must be true to authorise live operation - at `$.live`")
    try:
        return authorise_live(LiveAuthorisation(f.authorised_by, f.reference, f.sender))
    except ModeError as exc:
        raise ConfigError(f"{p}: {exc}") from None


__all__ = [
    "ObjectsPolicy",
    "Release",
    "Thresholds",
    "WarningConfig",
    "load_config",
    "load_live_authorisation",
]
