"""The drill scenario language (YAML): parsing and validation.

A scenario file is read with PyYAML's *compose* step, so every value keeps the
line it came from, then converted into frozen :mod:`msgspec` Structs that forbid
unknown fields and check every range. Any problem becomes one
:class:`~tocsin.errors.ScenarioError` naming the file, the line and the field
(as a path like ``launches[0].apogee_km``). The language is documented, with an
annotated example, in ``docs/scenario-language.md``.

Structure (``?`` marks optional keys)::

    version?: 1
    name?: str
    description?: str
    seed: int
    start: ISO 8601 time with offset (e.g. 2017-08-29T20:57:00Z)
    duration_s: float
    truth_interval_s?: float
    launches?: [LaunchSpec]
    air?: [AirSpec]
    partners: [PartnerSpec]         # each: code, link?, sensors
    injects?: [Inject]              # tagged by `type`
    thresholds?: {metric: {min?, max?}}

Units are in the key names (``_km``, ``_m``, ``_s``, ``_deg``, ``_mps``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec import Meta, Struct

from tocsin.errors import ScenarioError
from tocsin.limits import read_file, yaml_compose

__all__ = [
    "STREAM_INJECTS",
    "AirSpec",
    "BiasSpec",
    "CourseSpec",
    "DuplicateBurst",
    "FieldOfRegardSpec",
    "ForgedPartner",
    "GhostMissile",
    "Inject",
    "IrSensorSpec",
    "JunkFlood",
    "LaunchSpec",
    "LinkDelay",
    "LinkOutage",
    "LinkSpec",
    "PartnerSpec",
    "Point",
    "PullUpSpec",
    "RadarSensorSpec",
    "ReplayOld",
    "Scenario",
    "ScenarioSpec",
    "SensorBias",
    "SensorOff",
    "SensorSpec",
    "SpacePosition",
    "StageSpec",
    "Threshold",
    "load_scenario",
    "parse_scenario",
    "scenario_from_data",
]

MISSILE_CLASS_NAMES = ("SRBM", "MRBM", "IRBM", "ICBM", "ICBM-lofted", "SLV")

Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
Heading = Annotated[float, Meta(ge=0.0, le=360.0)]
NonNeg = Annotated[float, Meta(ge=0.0, le=1.0e6)]
Positive = Annotated[float, Meta(gt=0.0, le=1.0e6)]
Prob = Annotated[float, Meta(ge=0.0, le=1.0)]
Ident = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
PartnerCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
MetricName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Beta = Annotated[float, Meta(ge=1.0, le=100_000.0)]
"""A ballistic coefficient m / (Cd A), kg/m^2."""


class _S(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base: frozen, unknown keys are errors."""


class Point(_S, frozen=True):
    """A geodetic point (degrees; height above the ellipsoid, m)."""

    lat: Lat
    lon: Lon
    alt_m: Annotated[float, Meta(ge=-500.0, le=100_000.0)] = 0.0


class SpacePosition(_S, frozen=True):
    """A position fixed in ECEF above the Earth (geostationary: lat 0,
    alt_km 35786)."""

    lat: Lat
    lon: Lon
    alt_km: Annotated[float, Meta(ge=100.0, le=200_000.0)]


class StageSpec(_S, frozen=True):
    """One stage of a launch that lists its ``stages`` (every key optional)."""

    beta_kg_m2: Beta | None = None
    """The spent stage's ballistic coefficient (default: drawn from the spent-stage
    range)."""
    dv_share: Annotated[float, Meta(gt=0.0, le=1.0)] | None = None
    """Share of the vehicle's ideal velocity gain (default: equal shares)."""
    coast_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    """Coast between the previous stage's burnout and this one's ignition."""
    thrust_to_weight: Annotated[float, Meta(gt=1.0, le=10.0)] | None = None
    """Thrust over the weight of the stack it lifts, at ignition (default 2.1)."""
    debris: Annotated[int, Meta(ge=0, le=20)] = 0
    """Debris pieces (interstage, fragments) released when this stage separates."""


class PullUpSpec(_S, frozen=True, tag_field="type", tag="pull-up"):
    """A quasi-ballistic re-entry (KN-23 / Iskander-like): pull-up and glide
    once descending below ``pullup_alt_km``, dive below ``dive_alt_km``."""

    pullup_alt_km: Annotated[float, Meta(gt=0.0, le=120.0)] = 35.0
    glide_deg: Annotated[float, Meta(gt=-90.0, le=30.0)] = -2.0
    dive_alt_km: Annotated[float, Meta(gt=0.0, le=120.0)] = 20.0
    dive_deg: Annotated[float, Meta(gt=-90.0, lt=0.0)] = -60.0
    lift_to_drag: Annotated[float, Meta(gt=0.0, le=10.0)] = 2.0
    max_g: Annotated[float, Meta(gt=0.0, le=100.0)] = 15.0

    def __post_init__(self) -> None:
        if self.dive_alt_km >= self.pullup_alt_km:
            raise ValueError("`dive_alt_km`: must be below `pullup_alt_km`")
        if self.dive_deg >= self.glide_deg:
            raise ValueError("`dive_deg`: must be steeper (more negative) than `glide_deg`")


ClassName = Literal["SRBM", "MRBM", "IRBM", "ICBM", "ICBM-lofted", "SLV"]


class LaunchSpec(_S, frozen=True):
    """One launch, or a salvo of ``count`` launches ``spacing_s`` apart."""

    site: Point
    azimuth_deg: Heading
    id: Ident | None = None
    time_s: NonNeg = 0.0
    missile_class: ClassName | None = msgspec.field(name="class", default=None)
    range_km: Annotated[float, Meta(gt=0.0, le=15_000.0)] | None = None
    apogee_km: Annotated[float, Meta(ge=20.0, le=8_000.0)] | None = None
    profile: Literal["depressed", "minimum-energy"] | None = None
    """Sets the apogee from the range: ``depressed`` one twelfth of it, at least
    40 km (the KN-23 flights of 2019: 270-690 km, apogees ~40-50 km),
    ``minimum-energy`` the apogee of the range-maximising arc."""
    orbit_km: Annotated[float, Meta(ge=150.0, le=2_000.0)] | None = None
    """Satellite launchers (``class: SLV``): height of the circular orbit
    (default 500 km)."""
    count: Annotated[int, Meta(ge=1, le=64)] = 1
    spacing_s: NonNeg = 0.0
    azimuth_spread_deg: Annotated[float, Meta(ge=0.0, le=45.0)] = 0.0
    stages: Annotated[list[StageSpec], Meta(min_length=1, max_length=3)] | None = None
    """The vehicle's stages; each one separates and falls as an object of its
    own. Default: the class's vehicle, whose spent stages are not simulated
    (satellite launchers: three stages, all simulated)."""
    fairing: bool | None = None
    """Two payload-fairing halves separate at 110 km (default: satellite
    launchers only)."""
    manoeuvre: PullUpSpec | None = None
    fails_at_s: Positive | None = None
    """Motor failure this many seconds after (each) launch, at any time before
    the last burnout: the stack falls unpowered from there."""
    fails_stage: Annotated[int, Meta(ge=1, le=3)] | None = None
    """Stage that fails: it never ignites, or stops ``fails_after_s`` into its
    burn."""
    fails_after_s: Annotated[float, Meta(ge=0.0, le=3600.0)] | None = None
    beta_kg_m2: Beta | None = None
    """The re-entry vehicle's ballistic coefficient; by default each missile's is
    drawn (seeded) from its class range (``tocsin.dynamics.beta``)."""

    def __post_init__(self) -> None:
        if self.missile_class == "SLV":
            for name in ("range_km", "apogee_km", "profile", "manoeuvre"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"`{name}`: a satellite launcher (class SLV) takes `orbit_km`, not `{name}`"
                    )
            if self.stages is not None and len(self.stages) < 2:
                raise ValueError("`stages`: a satellite launcher has 2 or 3 stages")
        else:
            if self.orbit_km is not None:
                raise ValueError("`orbit_km`: only for satellite launchers (class SLV)")
            if self.profile is not None:
                if self.apogee_km is not None:
                    raise ValueError("`apogee_km`: `profile` sets the apogee; give one or the other")
                if self.missile_class is None and self.range_km is None:
                    raise ValueError("`range_km`: `profile` needs `class` or `range_km`")
            else:
                _check_class_range_apogee(self.missile_class, self.range_km, self.apogee_km)
        if self.fails_at_s is not None and self.fails_stage is not None:
            raise ValueError("`fails_stage`: give `fails_at_s` or `fails_stage`, not both")
        if self.fails_after_s is not None and self.fails_stage is None:
            raise ValueError("`fails_after_s`: needs `fails_stage`")
        if self.fails_stage is not None and self.stages is not None and self.fails_stage > len(self.stages):
            raise ValueError(f"`fails_stage`: the vehicle has {len(self.stages)} stage(s)")
        if self.stages is not None:
            shares = [st.dv_share for st in self.stages if st.dv_share is not None]
            total = sum(shares)
            if total > 1.0 + 1e-9 or (len(shares) == len(self.stages) and abs(total - 1.0) > 1e-6):
                raise ValueError(f"`stages`: the dv_share values must add up to 1 (they add up to {total:g})")
            if len(shares) < len(self.stages) and total >= 1.0 - 1e-9:
                raise ValueError("`stages`: the dv_share values leave nothing for the stages without one")


def _check_class_range_apogee(cls: str | None, range_km: float | None, apogee_km: float | None) -> None:
    if cls is None:
        if range_km is None:
            raise ValueError("`range_km`: give `class`, or both `range_km` and `apogee_km`")
        if apogee_km is None:
            raise ValueError("`apogee_km`: give `class`, or both `range_km` and `apogee_km`")
    elif (range_km is None) != (apogee_km is None):
        missing = "apogee_km" if apogee_km is None else "range_km"
        raise ValueError(f"`{missing}`: with `class`, give both `range_km` and `apogee_km` or neither")


class AirSpec(_S, frozen=True):
    """A non-ballistic air object (airliner, military aircraft, drone) flying
    waypoints, or a straight line from ``start`` on ``heading_deg``, at constant
    speed and height."""

    speed_mps: Annotated[float, Meta(gt=0.0, le=1_000.0)]
    alt_m: Annotated[float, Meta(ge=0.0, le=25_000.0)]
    id: Ident | None = None
    kind: Literal["airliner", "military", "drone"] = "airliner"
    time_s: NonNeg = 0.0
    waypoints: Annotated[list[Point], Meta(min_length=2, max_length=200)] | None = None
    start: Point | None = None
    heading_deg: Heading | None = None

    def __post_init__(self) -> None:
        if self.waypoints is None:
            if self.start is None:
                raise ValueError("`start`: give `waypoints`, or `start` and `heading_deg`")
            if self.heading_deg is None:
                raise ValueError("`heading_deg`: give `waypoints`, or `start` and `heading_deg`")
        elif self.start is not None or self.heading_deg is not None:
            raise ValueError("`waypoints`: give `waypoints`, or `start` and `heading_deg`, not both")


class CourseSpec(_S, frozen=True):
    """A ship's course: waypoints, or ``start`` and ``heading_deg``; constant speed."""

    speed_mps: Annotated[float, Meta(ge=0.0, le=100.0)]
    waypoints: Annotated[list[Point], Meta(min_length=2, max_length=200)] | None = None
    start: Point | None = None
    heading_deg: Heading | None = None

    def __post_init__(self) -> None:
        if self.waypoints is None:
            if self.start is None:
                raise ValueError("`start`: give `waypoints`, or `start` and `heading_deg`")
            if self.heading_deg is None:
                raise ValueError("`heading_deg`: give `waypoints`, or `start` and `heading_deg`")
        elif self.start is not None or self.heading_deg is not None:
            raise ValueError("`waypoints`: give `waypoints`, or `start` and `heading_deg`, not both")


class FieldOfRegardSpec(_S, frozen=True):
    """Azimuth sector clockwise from ``az_from_deg`` to ``az_to_deg`` (0 and 360:
    all round) and elevation band."""

    az_from_deg: Heading = 0.0
    az_to_deg: Heading = 360.0
    el_min_deg: Annotated[float, Meta(ge=-10.0, le=90.0)] = 0.0
    el_max_deg: Annotated[float, Meta(ge=-10.0, le=90.0)] = 90.0

    def __post_init__(self) -> None:
        if self.el_max_deg <= self.el_min_deg:
            raise ValueError("`el_max_deg`: must be above `el_min_deg`")
        if self.az_from_deg == self.az_to_deg:
            raise ValueError("`az_to_deg`: an empty sector (use 0 and 360 for all round)")


class BiasSpec(_S, frozen=True):
    """Systematic sensor error added to every plot."""

    range_m: Annotated[float, Meta(ge=-1e5, le=1e5)] = 0.0
    az_deg: Annotated[float, Meta(ge=-10.0, le=10.0)] = 0.0
    el_deg: Annotated[float, Meta(ge=-10.0, le=10.0)] = 0.0
    rr_mps: Annotated[float, Meta(ge=-1e3, le=1e3)] = 0.0


class RadarSensorSpec(_S, frozen=True, tag_field="type", tag="radar"):
    """A ground or ship-borne radar."""

    id: Ident
    sigma_range_m: Positive
    sigma_az_deg: Annotated[float, Meta(gt=0.0, le=10.0)]
    sigma_el_deg: Annotated[float, Meta(gt=0.0, le=10.0)]
    max_range_km: Annotated[float, Meta(gt=0.0, le=10_000.0)]
    platform: Literal["ground", "ship"] = "ground"
    site: Point | None = None
    course: CourseSpec | None = None
    sigma_rr_mps: Positive | None = None
    field_of_regard: FieldOfRegardSpec = FieldOfRegardSpec()
    scan_period_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 1.0
    pd: Prob = 0.9
    clutter_per_scan: Annotated[float, Meta(ge=0.0, le=1000.0)] = 0.0
    latency_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    jitter_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    bias: BiasSpec = BiasSpec()
    name: str | None = None

    def __post_init__(self) -> None:
        if self.platform == "ground":
            if self.site is None:
                raise ValueError("`site`: a ground radar needs `site`")
            if self.course is not None:
                raise ValueError("`course`: a ground radar does not move (use platform: ship)")
        else:
            if self.course is None:
                raise ValueError("`course`: a ship radar needs `course`")
            if self.site is not None:
                raise ValueError("`site`: a ship radar has a `course`, not a `site`")


class IrSensorSpec(_S, frozen=True, tag_field="type", tag="ir-satellite"):
    """A space infrared sensor fixed in ECEF (geostationary, or a notional
    high orbit held fixed for the short span of a drill)."""

    id: Ident
    position: SpacePosition
    sigma_los_rad: Annotated[float, Meta(gt=0.0, le=0.1)]
    platform: Literal["space"] = "space"
    scan_period_s: Annotated[float, Meta(gt=0.0, le=600.0)] = 2.0
    pd: Prob = 0.95
    clutter_per_scan: Annotated[float, Meta(ge=0.0, le=1000.0)] = 0.0
    min_alt_km: Annotated[float, Meta(ge=0.0, le=200.0)] = 0.0
    max_range_km: Annotated[float, Meta(gt=0.0, le=300_000.0)] | None = None
    latency_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    jitter_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    name: str | None = None


SensorSpec = RadarSensorSpec | IrSensorSpec


class LinkSpec(_S, frozen=True):
    """The partner's link to the exchange: fixed latency, uniform extra jitter,
    independent loss probability per message."""

    latency_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    jitter_s: Annotated[float, Meta(ge=0.0, le=3600.0)] = 0.0
    loss: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.0


class PartnerSpec(_S, frozen=True):
    code: PartnerCode
    sensors: list[SensorSpec]
    link: LinkSpec = LinkSpec()


class SensorOff(_S, frozen=True, tag_field="type", tag="sensor-off"):
    """A sensor stops reporting from ``from_s`` (until ``to_s`` if given)."""

    sensor: Ident
    from_s: NonNeg
    to_s: NonNeg | None = None

    def __post_init__(self) -> None:
        if self.to_s is not None and self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")


class LinkOutage(_S, frozen=True, tag_field="type", tag="link-outage"):
    """A partner's link drops every message sent in ``[from_s, to_s)``."""

    partner: PartnerCode
    from_s: NonNeg
    to_s: NonNeg | None = None

    def __post_init__(self) -> None:
        if self.to_s is not None and self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")


class LinkDelay(_S, frozen=True, tag_field="type", tag="link-delay"):
    """A partner's link adds ``delay_s`` to messages sent in ``[from_s, to_s)``."""

    partner: PartnerCode
    delay_s: Positive
    from_s: NonNeg = 0.0
    to_s: NonNeg | None = None

    def __post_init__(self) -> None:
        if self.to_s is not None and self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")


class _Window(_S, frozen=True):
    """Shared check: ``to_s`` (when given) is after ``from_s``."""

    def __post_init__(self) -> None:
        fr: float = getattr(self, "from_s", 0.0)
        to: float | None = getattr(self, "to_s", None)
        if to is not None and to <= fr:
            raise ValueError("`to_s`: must be after `from_s`")


class SensorBias(_Window, frozen=True, tag_field="type", tag="sensor-bias"):
    """A radar's plots measured in ``[from_s, to_s)`` carry an extra systematic
    error (a mis-registered or tampered sensor: it moves its tracks off the truth
    while looking perfectly healthy). Added on top of the sensor's own ``bias``."""

    sensor: Ident
    from_s: NonNeg = 0.0
    to_s: NonNeg | None = None
    range_m: Annotated[float, Meta(ge=-1e5, le=1e5)] = 0.0
    az_deg: Annotated[float, Meta(ge=-10.0, le=10.0)] = 0.0
    el_deg: Annotated[float, Meta(ge=-10.0, le=10.0)] = 0.0
    rr_mps: Annotated[float, Meta(ge=-1e3, le=1e3)] = 0.0


class GhostMissile(_S, frozen=True, tag_field="type", tag="ghost-missile"):
    """A compromised radar reports plots of a consistent, fake ballistic flight
    that no other sensor sees. The flight is given like a launch (site, azimuth,
    time, class or range and apogee); only ``sensor`` reports it, with its own
    noise, detection probability, field of regard and range limit. The ghost is
    not in the truth: anything it causes is a false alarm."""

    sensor: Ident
    site: Point
    azimuth_deg: Heading
    id: Ident | None = None
    time_s: NonNeg = 0.0
    missile_class: Literal["SRBM", "MRBM", "IRBM", "ICBM", "ICBM-lofted"] | None = msgspec.field(
        name="class", default=None
    )
    range_km: Annotated[float, Meta(gt=0.0, le=15_000.0)] | None = None
    apogee_km: Annotated[float, Meta(ge=20.0, le=8_000.0)] | None = None
    beta_kg_m2: Beta | None = None

    def __post_init__(self) -> None:
        _check_class_range_apogee(self.missile_class, self.range_km, self.apogee_km)


class DuplicateBurst(_S, frozen=True, tag_field="type", tag="duplicate-burst"):
    """Every message of ``partner`` arriving in ``[from_s, to_s)`` is delivered
    ``1 + copies`` times, and the original and its copies each arrive up to
    ``reorder_s`` late (uniformly), so the burst is also out of order. The exchange
    must accept each message once (the replay window refuses the copies as
    ``duplicate``) and track as if nothing happened."""

    partner: PartnerCode
    from_s: NonNeg
    to_s: NonNeg
    copies: Annotated[int, Meta(ge=1, le=20)] = 2
    reorder_s: Annotated[float, Meta(ge=0.0, le=600.0)] = 2.0

    def __post_init__(self) -> None:
        if self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")


class ReplayOld(_S, frozen=True, tag_field="type", tag="replay-old"):
    """An attacker who recorded ``partner``'s signed messages that arrived in
    ``[from_s, to_s)`` sends them again, unchanged: each ``delay_s`` after its
    original, or all at once at ``at_s``. The signatures are genuine; the replay
    window must refuse them (``duplicate``, or ``stale`` once below the window
    floor) or the clock check (``clock_skew``) when they are older than the
    allowed skew."""

    partner: PartnerCode
    from_s: NonNeg
    to_s: NonNeg
    delay_s: Positive | None = None
    at_s: NonNeg | None = None

    def __post_init__(self) -> None:
        if self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")
        if (self.delay_s is None) == (self.at_s is None):
            raise ValueError("`delay_s`: give `delay_s` or `at_s` (one of them)")
        if self.at_s is not None and self.at_s < self.to_s:
            raise ValueError("`at_s`: the replay comes after the recorded window (at_s >= to_s)")


class ForgedPartner(_S, frozen=True, tag_field="type", tag="forged-partner"):
    """Messages that claim to come from ``partner`` but were not signed by it.

    The forger copies ``partner``'s real messages that arrive in ``[from_s,
    to_s)`` (every ``every``-th one), moves each plot ``offset_m`` in range (a
    fake object beside the real one) and gives it a fresh, higher sequence number,
    then, by ``mode``:

    ``bad-key``         signs with a key that is not ``partner``'s (refused:
                        ``bad_signature``);
    ``unsigned``        sends it without a signature (``missing_signature``);
    ``foreign-source``  partner ``by`` signs it with its own genuine key but
                        names ``partner``'s sensor as the source
                        (``foreign_source``);
    ``unknown-partner`` claims partner code ``as_partner``, which is not in the
                        registry (``unknown_partner``).
    """

    partner: PartnerCode
    from_s: NonNeg
    to_s: NonNeg
    mode: Literal["bad-key", "unsigned", "foreign-source", "unknown-partner"] = "bad-key"
    by: PartnerCode | None = None
    as_partner: PartnerCode = "XX"
    every: Annotated[int, Meta(ge=1, le=10_000)] = 1
    offset_m: Annotated[float, Meta(ge=-1e6, le=1e6)] = 30_000.0

    def __post_init__(self) -> None:
        if self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")
        if self.mode == "foreign-source":
            if self.by is None:
                raise ValueError("`by`: mode foreign-source needs the partner that signs (`by`)")
            if self.by == self.partner:
                raise ValueError("`by`: must be another partner than `partner`")
        elif self.by is not None:
            raise ValueError("`by`: only for mode foreign-source")


class JunkFlood(_S, frozen=True, tag_field="type", tag="junk-flood"):
    """``partner``'s link carries ``rate_per_s`` junk lines a second during
    ``[from_s, to_s)``, cycling through: random bytes, truncated JSON, an
    envelope with wrong types, a message of an unknown kind, and an oversized
    line of ``oversize_bytes``. All must be refused (``schema`` or
    ``unknown_kind``) without disturbing the genuine traffic."""

    partner: PartnerCode
    from_s: NonNeg
    to_s: NonNeg
    rate_per_s: Annotated[float, Meta(gt=0.0, le=10_000.0)] = 20.0
    oversize_bytes: Annotated[int, Meta(ge=1024, le=16_777_216)] = 65_536

    def __post_init__(self) -> None:
        if self.to_s <= self.from_s:
            raise ValueError("`to_s`: must be after `from_s`")


Inject = (
    SensorOff
    | LinkOutage
    | LinkDelay
    | SensorBias
    | GhostMissile
    | DuplicateBurst
    | ReplayOld
    | ForgedPartner
    | JunkFlood
)
STREAM_INJECTS = (DuplicateBurst, ReplayOld, ForgedPartner, JunkFlood)
"""Injects applied to the signed, delivered message stream
(:func:`tocsin.drill.injects.apply_injects`); the others act in the simulator."""


class Threshold(_S, frozen=True):
    """A pass/fail bar for one metric: pass when ``min <= value <= max``."""

    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("`max`: give `min`, `max` or both")
        for name, v in (("min", self.min), ("max", self.max)):
            if v is not None and not math.isfinite(v):
                raise ValueError(f"`{name}`: must be a finite number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`max`: must not be below `min`")


class ScenarioSpec(_S, frozen=True):
    """A whole scenario, as validated from the file."""

    seed: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    start: Annotated[datetime, Meta(tz=True)]
    duration_s: Annotated[float, Meta(gt=0.0, le=86_400.0)]
    partners: Annotated[list[PartnerSpec], Meta(min_length=1)]
    version: Literal[1] = 1
    name: str = ""
    description: str = ""
    truth_interval_s: Annotated[float, Meta(gt=0.0, le=60.0)] = 1.0
    launches: list[LaunchSpec] = []
    air: list[AirSpec] = []
    atmosphere: Literal["standard", "drawn"] = "standard"
    """The air missiles fly through: ``standard`` (default) the U.S. Standard
    Atmosphere 1976; ``drawn``: one day's departure from it drawn from ``seed``
    (:func:`tocsin.dynamics.atmosphere.day_air`; the Monte Carlo scenarios of
    :mod:`tocsin.drill.generate` use it)."""
    injects: list[Inject] = []
    thresholds: dict[MetricName, Threshold] = {}
    tags: Annotated[list[Ident], Meta(max_length=32)] = []
    """Free labels; the suite runner selects by them (``quick``: the CI subset)."""

    @property
    def start_epoch(self) -> float:
        return self.start.timestamp()


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with where it came from.

    ``lines`` maps a JSON-style path (``$.launches[0].apogee_km``) to its line
    in the file, so later checks (a trajectory that cannot be flown) can still
    point at the right line with :meth:`error`.
    """

    spec: ScenarioSpec
    file: str | None = None
    lines: Mapping[str, int] = field(default_factory=dict)

    def error(self, path: str, message: str) -> ScenarioError:
        """A :class:`ScenarioError` at ``path`` (``$.a.b[0]``), with the line of
        the nearest enclosing item that has one."""
        return ScenarioError(message, file=self.file, line=_line_for(self.lines, path), field=_display(path))


# --- loading ----------------------------------------------------------------------------


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def _node_to_py(
    node: yaml.Node, path: str, lines: dict[str, int], file: str | None, ctor: _Constructor
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = ctor.construct_object(knode, deep=True)
            kline = knode.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
                raise ScenarioError("keys must be plain names", file=file, line=kline, field=_display(path))
            skey = str(key)
            child = f"{path}.{skey}"
            if skey in out:
                raise ScenarioError("duplicate key", file=file, line=kline, field=_display(child))
            lines[child] = kline
            out[skey] = _node_to_py(vnode, child, lines, file, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_node_to_py(v, f"{path}[{i}]", lines, file, ctor) for i, v in enumerate(node.value)]
    try:
        return ctor.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. 2017-13-01 as a timestamp
        raise ScenarioError(
            f"bad value: {exc}", file=file, line=node.start_mark.line + 1, field=_display(path)
        ) from None


_AT = re.compile(r"^(?P<msg>.*?)(?: - at (?P<key>`key` in )?`(?P<path>[^`]*)`)?$", re.S)
_FIELD = re.compile(r"^`(?P<f>[A-Za-z_][A-Za-z0-9_]*)`:?\s*(?P<rest>.*)$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<f>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<f>[^`]+)`$")


def _display(path: str) -> str:
    p = path[2:] if path.startswith("$.") else ("" if path == "$" else path.lstrip("$"))
    return p or "(top level)"


def _line_for(lines: Mapping[str, int], path: str) -> int | None:
    p = path
    while True:
        if p in lines:
            return lines[p]
        if p in ("$", ""):
            return None
        cut = max(p.rfind("."), p.rfind("["))
        p = "$" if cut <= 0 else p[:cut]


def _from_validation(
    exc: msgspec.ValidationError, lines: Mapping[str, int], file: str | None
) -> ScenarioError:
    m = _AT.match(str(exc))
    assert m is not None
    msg, path = m.group("msg"), m.group("path") or "$"
    if m.group("key"):  # e.g. "- at `key` in `$.thresholds`"
        msg = f"bad key: {msg}"
    line_path = path
    if (u := _UNKNOWN.match(msg)) is not None:
        path = f"{path}.{u.group('f')}"
        line_path = path
        msg = "unknown field"
    elif (mi := _MISSING.match(msg)) is not None:
        path = f"{path}.{mi.group('f')}"
        msg = "missing required field"
    elif (f := _FIELD.match(msg)) is not None:
        path = f"{path}.{f.group('f')}"
        line_path = path
        msg = f.group("rest")
    # dict entries: msgspec writes `[...]` for the key; point at the dict
    line_path = line_path.split("[...]")[0] if "[...]" in line_path else line_path
    return ScenarioError(msg, file=file, line=_line_for(lines, line_path), field=_display(path))


def parse_scenario(text: str, file: str | None = None) -> Scenario:
    """Parse and validate scenario YAML text (see the module docstring)."""
    try:
        return _parse(text, file)
    except ScenarioError as exc:
        if "\n" in str(exc) or "\r" in str(exc):  # always one line
            raise ScenarioError(
                " ".join(exc.message.split()),
                file=exc.file,
                line=exc.line,
                field=None if exc.field is None else repr(exc.field)[1:-1],
            ) from None
        raise


def _parse(text: str, file: str | None) -> Scenario:
    try:
        # nesting, alias-expansion and size limits (tocsin.limits); a repeated key
        # is refused below (_node_to_py), naming its line and field
        root = yaml_compose(text, keys=False)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        raise ScenarioError(f"not valid YAML: {exc.problem or exc.context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", file=file) from None
    if root is None:
        raise ScenarioError("the scenario is empty", file=file, line=1)
    if not isinstance(root, yaml.MappingNode):
        raise ScenarioError("a scenario is a mapping of keys", file=file, line=root.start_mark.line + 1)
    lines: dict[str, int] = {}
    try:
        data = _node_to_py(root, "$", lines, file, _Constructor())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ScenarioError(
            f"bad value: {exc.problem}", file=file, line=None if mark is None else mark.line + 1
        ) from None
    except (ValueError, OverflowError) as exc:  # e.g. an impossible timestamp
        raise ScenarioError(f"bad value: {exc}", file=file) from None
    _check_thresholds(data.get("thresholds"), lines, file)
    try:
        spec = msgspec.convert(data, ScenarioSpec)
    except msgspec.ValidationError as exc:
        raise _from_validation(exc, lines, file) from None
    sc = Scenario(spec, file, lines)
    _check_references(sc)
    return sc


def _check_thresholds(raw: Any, lines: Mapping[str, int], file: str | None) -> None:
    """Validate ``thresholds`` entry by entry, so an error names the metric (msgspec
    reports dictionary entries without their key)."""
    if not isinstance(raw, dict):
        return  # the whole-document conversion reports the type error
    for key, val in raw.items():
        path = f"$.thresholds.{key}"
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
            raise ScenarioError(
                "metric names are lower_case_with_underscores",
                file=file,
                line=_line_for(lines, path),
                field=_display(path),
            )
        try:
            msgspec.convert(val, Threshold)
        except msgspec.ValidationError as exc:
            err = _from_validation(exc, lines, file)
            sub = err.field if err.field and err.field != "(top level)" else ""
            full = f"{path}.{sub}" if sub else path
            raise ScenarioError(
                err.message, file=file, line=_line_for(lines, full), field=_display(full)
            ) from None


def _check_references(sc: Scenario) -> None:
    spec = sc.spec
    codes: dict[str, int] = {}
    sensors: dict[str, str] = {}
    for i, p in enumerate(spec.partners):
        if p.code in codes:
            raise sc.error(f"$.partners[{i}].code", f"partner {p.code} appears twice")
        codes[p.code] = i
        for j, s in enumerate(p.sensors):
            if s.id in sensors:
                raise sc.error(f"$.partners[{i}].sensors[{j}].id", f"sensor id {s.id!r} is used twice")
            sensors[s.id] = p.code
    objects: set[str] = set()
    for i, la in enumerate(spec.launches):
        if la.id is not None:
            if la.id in objects:
                raise sc.error(f"$.launches[{i}].id", f"object id {la.id!r} is used twice")
            objects.add(la.id)
    for i, a in enumerate(spec.air):
        if a.id is not None:
            if a.id in objects:
                raise sc.error(f"$.air[{i}].id", f"object id {a.id!r} is used twice")
            objects.add(a.id)
    clash = objects & set(sensors)
    if clash:
        raise ScenarioError(f"ids used for both a sensor and an object: {sorted(clash)}", file=sc.file)
    radars = {s.id for p in spec.partners for s in p.sensors if isinstance(s, RadarSensorSpec)}
    for i, inj in enumerate(spec.injects):
        at = f"$.injects[{i}]"
        if isinstance(inj, SensorOff | SensorBias | GhostMissile) and inj.sensor not in sensors:
            raise sc.error(f"{at}.sensor", f"no sensor {inj.sensor!r} in this scenario")
        if isinstance(inj, SensorBias | GhostMissile) and inj.sensor not in radars:
            what = type(inj).__struct_config__.tag
            raise sc.error(f"{at}.sensor", f"{what} needs a radar; {inj.sensor!r} is not one")
        if (
            isinstance(inj, LinkOutage | LinkDelay | DuplicateBurst | ReplayOld | ForgedPartner | JunkFlood)
            and inj.partner not in codes
        ):
            raise sc.error(f"{at}.partner", f"no partner {inj.partner!r} in this scenario")
        if isinstance(inj, ForgedPartner):
            if inj.by is not None and inj.by not in codes:
                raise sc.error(f"{at}.by", f"no partner {inj.by!r} in this scenario")
            if inj.mode == "unknown-partner" and inj.as_partner in codes:
                raise sc.error(f"{at}.as_partner", f"{inj.as_partner} is a partner of this scenario")
        if isinstance(inj, JunkFlood) and (inj.to_s - inj.from_s) * inj.rate_per_s > 1_000_000:
            raise sc.error(f"{at}.rate_per_s", "at most 1,000,000 junk lines per inject")
        if isinstance(inj, GhostMissile):
            if inj.id is not None and inj.id in objects | set(sensors):
                raise sc.error(f"{at}.id", f"id {inj.id!r} is already used")
            if inj.time_s > spec.duration_s:
                raise sc.error(f"{at}.time_s", "ghost launch after the end of the scenario")
        for name in ("from_s", "at_s"):
            v = getattr(inj, name, None)
            if isinstance(v, float | int) and v > spec.duration_s:
                raise sc.error(f"{at}.{name}", "after the end of the scenario")
    for i, la in enumerate(spec.launches):
        if la.time_s > spec.duration_s:
            raise sc.error(f"$.launches[{i}].time_s", "launch after the end of the scenario")


def scenario_from_data(data: Mapping[str, Any], file: str | None = None) -> Scenario:
    """Validate a scenario given as plain data (what the YAML would hold), e.g.
    built by a program (:mod:`tocsin.drill.generate`); errors are
    :class:`ScenarioError` naming ``file`` and the field (no line)."""
    _check_thresholds(data.get("thresholds"), {}, file)
    try:
        spec = msgspec.convert(dict(data), ScenarioSpec)
    except msgspec.ValidationError as exc:
        raise _from_validation(exc, {}, file) from None
    sc = Scenario(spec, file, {})
    _check_references(sc)
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises :class:`ScenarioError` (never a
    bare exception) when it is missing, unreadable or invalid."""
    p = Path(path)
    try:
        text = read_file(p).decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a scenario file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text ({exc.reason})", file=str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except ValueError as exc:  # over the size limit
        raise ScenarioError(str(exc), file=str(path)) from None
    return parse_scenario(text, str(path))
