"""Exchange format v1: one msgspec Struct per message body, and the envelope.

The field names, units and meanings are the published contract
(``docs/exchange-format.md``); optional fields may be added, never repurposed.
Bodies omit optional fields that are unset (``omit_defaults``), so a message
written by tocsin carries only what it knows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Raw, Struct, field

# Constrained scalar types: a value outside its range is rejected at decode time
# with an error naming the field. NaN fails every range check, so NaNs are
# rejected wherever a range is given.
Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
Alt = Annotated[float, Meta(ge=-12_000.0, le=1.0e9)]
Time = Annotated[float, Meta(ge=0.0, le=1.0e11)]
Sigma = Annotated[float, Meta(gt=0.0, le=1.0e9)]
NonNeg = Annotated[float, Meta(ge=0.0, le=1.0e12)]
Coord = Annotated[float, Meta(ge=-1.0e12, le=1.0e12)]
Azimuth = Annotated[float, Meta(ge=0.0, le=360.0)]
Elevation = Annotated[float, Meta(ge=-90.0, le=90.0)]
PartnerCode = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
Ident = Annotated[str, Meta(min_length=1, max_length=128)]
Vec3 = Annotated[list[Coord], Meta(min_length=3, max_length=3)]
State6 = Annotated[list[Coord], Meta(min_length=6, max_length=6)]
Cov36 = Annotated[list[Coord], Meta(min_length=36, max_length=36)]

SensorType = Literal["radar", "ir-satellite"]
PlatformKind = Literal["ground", "ship", "space"]
TrackStatus = Literal["tentative", "confirmed", "coasting", "lost", "deleted"]
ObjectClass = Literal["ballistic", "air", "unknown"]
AlertMsgType = Literal["Alert", "Update", "Cancel"]
AlertStatus = Literal["Actual", "Exercise", "Test"]
#: why a close ends an area's warning (tocsin.warning.lifecycle.CloseReason)
AlertClose = Literal["passed", "fell", "error", "lost", "expired", "manual"]
TruthPhase = Literal["boost", "midcourse", "reentry", "impact"]
TruthClass = Literal["ballistic", "air"]
TruthRole = Literal["rv", "stage-1", "stage-2", "stage-3", "debris", "payload"]
TruthFate = Literal["orbit", "aloft"]

#: the largest sequence number: 2**53 - 1, the largest integer every JSON peer
#: reads exactly (RFC 8785 refuses larger ones; ``2**64`` once froze a source)
MAX_SEQ = 2**53 - 1

KINDS = ("sensor", "plot", "track", "alert", "heartbeat", "truth")


class Body(Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=False):
    """Base of every message body."""


class SensorBody(Body, frozen=True, omit_defaults=True):
    """kind = "sensor": a sensor's descriptor, sent at start and on change."""

    id: Ident
    type: SensorType
    platform: PlatformKind
    lat: Lat | None = None
    lon: Lon | None = None
    alt_m: Alt | None = None
    sigma_range_m: Sigma | None = None
    sigma_az_deg: Sigma | None = None
    sigma_el_deg: Sigma | None = None
    sigma_rr_mps: Sigma | None = None
    sigma_los_rad: Sigma | None = None
    max_range_m: Sigma | None = None
    scan_period_s: Sigma | None = None
    # optional additions (tocsin): minimum elevation of the field of regard
    min_el_deg: Elevation | None = None
    name: str | None = None
    # optional additions (tocsin): the rest of the field of regard (azimuth sector
    # clockwise from az_from_deg to az_to_deg; omitted: all round), for
    # cross-sensor consistency checks
    az_from_deg: Azimuth | None = None
    az_to_deg: Azimuth | None = None
    max_el_deg: Elevation | None = None

    def __post_init__(self) -> None:
        if self.platform == "ground" and (self.lat is None or self.lon is None):
            raise ValueError("a ground sensor needs `lat` and `lon` - at `$.body`")


class PlatformPos(Struct, frozen=True, omit_defaults=True):
    """Where a moving sensor was when it made a plot."""

    lat: Lat
    lon: Lon
    alt_m: Alt = 0.0


class PlotBody(Body, frozen=True, omit_defaults=True):
    """kind = "plot": one detection, either radar (range/az/el[/rr]) or space
    infrared (a line of sight from the observer)."""

    sensor: Ident
    t: Time
    # radar
    range_m: NonNeg | None = None
    az_deg: Azimuth | None = None
    el_deg: Elevation | None = None
    rr_mps: Coord | None = None
    sigma_range_m: Sigma | None = None
    sigma_az_deg: Sigma | None = None
    sigma_el_deg: Sigma | None = None
    sigma_rr_mps: Sigma | None = None
    platform: PlatformPos | None = None
    # space infrared
    observer_ecef: Vec3 | None = None
    los_ecef: Vec3 | None = None
    sigma_los_rad: Sigma | None = None
    intensity: NonNeg | None = None
    # optional addition (tocsin): the end-of-scan / end-of-sector marker. True
    # on the last plot of the sensor's scan (or sector) at time ``t``: the
    # receiver may process the scan at once instead of waiting for more plots
    scan_end: bool | None = None

    def __post_init__(self) -> None:
        radar = (self.range_m, self.az_deg, self.el_deg)
        if all(x is not None for x in radar):
            if self.observer_ecef is not None or self.los_ecef is not None:
                raise ValueError("a plot is radar or infrared, not both - at `$.body.los_ecef`")
            return
        if self.observer_ecef is not None and self.los_ecef is not None:
            n2 = sum(c * c for c in self.los_ecef)
            if abs(n2 - 1.0) > 1e-6:
                raise ValueError("`los_ecef` must be a unit vector - at `$.body.los_ecef`")
            return
        for name, val in zip(("range_m", "az_deg", "el_deg"), radar, strict=True):
            if val is None and any(x is not None for x in radar):
                raise ValueError(f"radar plot without `{name}` - at `$.body.{name}`")
        missing = "observer_ecef" if self.observer_ecef is None else "los_ecef"
        raise ValueError(
            "a plot needs range_m/az_deg/el_deg (radar) or observer_ecef/los_ecef "
            f"(infrared) - at `$.body.{missing}`"
        )

    @property
    def is_radar(self) -> bool:
        return self.range_m is not None


class LaunchEstimate(Struct, frozen=True, omit_defaults=True):
    t: Time
    lat: Lat
    lon: Lon
    sigma_m: NonNeg
    #: optional (tocsin): the launch azimuth, degrees clockwise from north at
    #: the launch point, and its 1-sigma; sent while the track is boosting
    azimuth_deg: Annotated[float, Meta(ge=0.0, lt=360.0)] | None = None
    azimuth_sigma_deg: Annotated[float, Meta(ge=0.0, le=180.0)] | None = None


class Ellipse(Struct, frozen=True, omit_defaults=True):
    semi_major_m: NonNeg
    semi_minor_m: NonNeg
    bearing_deg: Annotated[float, Meta(ge=-360.0, le=360.0)]
    confidence: Annotated[float, Meta(gt=0.0, lt=1.0)] = 0.95


class ImpactPoint(Struct, frozen=True, omit_defaults=True):
    """(optional, tocsin) one hypothesis of an impact prediction: where and
    when, and (optional) its own time sigma and 95 % ellipse."""

    t: Time
    lat: Lat
    lon: Lon
    sigma_t_s: NonNeg | None = None
    ellipse: Ellipse | None = None


class ImpactPrediction(Struct, frozen=True, omit_defaults=True):
    t: Time
    lat: Lat
    lon: Lon
    sigma_t_s: NonNeg
    ellipse: Ellipse | None = None
    #: (optional, tocsin) the single most likely impact when it is not the
    #: ellipse's centre: a footprint of two hypotheses (``may_manoeuvre``: the
    #: ballistic fall, the heavier one, and the glides beyond it) is centred
    #: between them; ``lat``/``lon`` stay the ellipse's centre, and the
    #: ellipse holds this point; with its own ``sigma_t_s`` and ``ellipse``:
    #: that hypothesis's prediction alone (the ballistic fall's)
    most_likely: ImpactPoint | None = None


class TrackBody(Body, frozen=True, omit_defaults=True):
    """kind = "track": a partner's or the fusion engine's track."""

    id: Ident
    t: Time
    state_ecef: State6
    cov: Cov36
    status: TrackStatus
    class_: ObjectClass = field(name="class")
    sources: list[str] = []
    partners: list[str] = []
    launch: LaunchEstimate | None = None
    impact: ImpactPrediction | None = None
    # optional additions (tocsin)
    phase: Literal["boost", "ballistic", "unknown"] | None = None
    quality: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    #: the ground track still ahead, as [[lat, lon, t], ...] (thinned), when predicted
    path: list[Annotated[list[float], Meta(min_length=3, max_length=3)]] | None = None
    #: what a ballistic object is, once known: the re-entry vehicle (or payload), a
    #: spent stage or debris (objects that separated from one another)
    role: Literal["rv", "stage", "debris"] | None = None
    #: the track it separated from (a stage or re-entry vehicle seen to part)
    parent: Ident | None = None
    #: a missile seen to manoeuvre in re-entry (pull-up, glide, dive): its impact
    #: prediction allows for more of it
    manoeuvring: bool | None = None
    #: a missile not seen to manoeuvre that flies as a quasi-ballistic SRBM does
    #: before its pull-up: its impact prediction covers the glide it may still
    #: fly as well as its ballistic fall (however wide, it is where it can go)
    may_manoeuvre: bool | None = None


class AlertBody(Body, frozen=True, omit_defaults=True):
    """kind = "alert": one public warning message (its CAP 1.2 XML in ``cap``)."""

    id: Ident
    t: Time
    msg_type: AlertMsgType
    status: AlertStatus
    tracks: list[str]
    areas: list[str]
    onset: Time | None = None
    expires: Time | None = None
    references: list[str] = []
    cap: str = ""
    #: (optional, tocsin) a close — an all-clear ``Update`` or a ``Cancel`` — names
    #: the areas it closes here (``areas`` is then empty: nothing is warned) and why
    closes: list[str] = []
    close: AlertClose | None = None


class SourceStat(Struct, frozen=True, omit_defaults=True):
    last_t: Time
    plots: Annotated[int, Meta(ge=0)]


class HeartbeatBody(Body, frozen=True, omit_defaults=True):
    """kind = "heartbeat": a node says it is alive and what its sources did."""

    node: Ident
    t: Time
    sources: dict[str, SourceStat] = {}


class TruthBody(Body, frozen=True, omit_defaults=True):
    """kind = "truth": simulated ground truth (drill files only, never live).

    Flight states carry ``state_ecef``; the one ``phase == "impact"`` message per
    object carries ``lat``, ``lon`` and ``t`` of the impact (or of leaving the
    simulated region)."""

    object: Ident
    t: Time
    phase: TruthPhase
    class_: TruthClass = field(name="class")
    state_ecef: State6 | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    alt_m: Alt | None = None
    # optional additions (drill truth only): what a ballistic object is
    role: TruthRole | None = None
    """``rv``: carries the warhead or payload down (a missile that does not
    separate is one ``rv``); ``stage-N``: spent stage N; ``debris``: fairing,
    interstage, fragments; ``payload``: a satellite that reached orbit."""
    parent: Ident | None = None
    """The object it separated from (stages, debris, the separated RV's launch)."""
    beta_kg_m2: Sigma | None = None
    """Its ballistic coefficient m / (Cd A) after separation, kg/m^2."""
    fate: TruthFate | None = None
    """Impact messages only: absent when the object came down there (or, in the
    air, left there); ``orbit``: in orbit at the end of the scenario (the point is
    under it then); ``aloft``: still falling when its truth ends."""

    def __post_init__(self) -> None:
        if self.phase == "impact":
            if self.lat is None or self.lon is None:
                raise ValueError("an impact truth message needs `lat` and `lon` - at `$.body.lat`")
        elif self.state_ecef is None:
            raise ValueError("a flight truth message needs `state_ecef` - at `$.body.state_ecef`")


#: most envelopes one bundle may carry (a decoder limit)
MAX_BUNDLE = 4096


class BundleBody(Body, frozen=True, omit_defaults=True):
    """kind = "bundle" (v2 only): many envelopes under one signature.

    ``messages`` are complete envelopes of the bundle's partner, without their
    own ``sig``; the bundle's signature covers them all (its RFC 8785 form).
    They are checked one by one as if they had arrived alone; a bundle never
    reaches a stage. Nested bundles are refused."""

    messages: Annotated[list[Raw], Meta(min_length=1, max_length=MAX_BUNDLE)]


BODY_TYPES: dict[str, type[Body]] = {
    "sensor": SensorBody,
    "plot": PlotBody,
    "track": TrackBody,
    "alert": AlertBody,
    "heartbeat": HeartbeatBody,
    "truth": TruthBody,
    "bundle": BundleBody,
}


class Envelope(Struct, frozen=True, omit_defaults=True):
    """The envelope around every message.

    ``sig`` is an optional addition: the partner's Ed25519 signature (base64url,
    no padding). With ``v: 2`` it covers the RFC 8785 canonical JSON of the
    envelope without ``sig``; ``v: 1`` is the legacy msgspec encoding
    (:mod:`tocsin.exchange.signing`). Both versions have the same fields.
    """

    v: Literal[1, 2]
    kind: Annotated[str, Meta(min_length=1, max_length=32)]
    partner: PartnerCode
    source: Ident
    seq: Annotated[int, Meta(ge=0, le=MAX_SEQ)]
    sent: Time
    body: Any
    sig: str | None = None


def make(
    kind: str,
    body: Body,
    *,
    partner: str,
    source: str,
    seq: int,
    sent: float,
) -> Envelope:
    """Build an envelope around a body (convenience for producers)."""
    if BODY_TYPES.get(kind) is not type(body):
        raise TypeError(f"body {type(body).__name__} does not match kind {kind!r}")
    return Envelope(v=1, kind=kind, partner=partner, source=source, seq=seq, sent=sent, body=body)


__all__ = [
    "BODY_TYPES",
    "KINDS",
    "MAX_BUNDLE",
    "MAX_SEQ",
    "AlertBody",
    "Body",
    "BundleBody",
    "Ellipse",
    "Envelope",
    "HeartbeatBody",
    "ImpactPoint",
    "ImpactPrediction",
    "LaunchEstimate",
    "PlatformPos",
    "PlotBody",
    "SensorBody",
    "SourceStat",
    "TrackBody",
    "TruthBody",
    "make",
]
