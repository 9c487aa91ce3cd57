"""The after-action report: one self-contained HTML file a warning officer reads.

No scripts, no web fonts, no map tiles: the map is inline SVG drawn from the area
registry's polygons, so the report opens offline and prints. Everything shown is
computed elsewhere (:mod:`tocsin.drill.run`); this module only lays it out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

Ring = Sequence[tuple[float, float]]  # (lon, lat) pairs


@dataclass(frozen=True)
class MapArea:
    code: str
    name: str
    rings: list[Ring]
    sea: bool
    #: seconds after launch of the first warning, None if never warned
    first_warned_s: float | None = None
    at_risk: bool = False


@dataclass(frozen=True)
class MapPath:
    label: str
    points: list[tuple[float, float]]  # (lon, lat)
    kind: str = "truth"  # truth | track


@dataclass(frozen=True)
class MapEllipse:
    """A predicted 95 % impact ellipse, as a polygon, and how long after launch."""

    ring: Ring
    after_launch_s: float


@dataclass(frozen=True)
class MapPoint:
    label: str
    lon: float
    lat: float
    kind: str  # launch | impact | sensor | predicted


@dataclass(frozen=True)
class TimelineEvent:
    after_launch_s: float
    what: str
    detail: str = ""


@dataclass(frozen=True)
class AreaRow:
    code: str
    name: str
    at_risk: bool
    warned: bool
    first_warned_s: float | None
    event_s: float | None  # overflight or impact, seconds after launch
    lead_s: float | None
    corrected_after_s: float | None = None  # a wrongly warned area: until its warning was dropped
    path_km: float | None = None  # a wrongly warned area: distance from the real path or impact

    @property
    def verdict(self) -> str:
        if self.at_risk and self.warned:
            return "warned in time" if (self.lead_s or 0.0) > 0 else "warned late"
        if self.at_risk:
            return "MISSED"
        if self.warned:
            parts = []
            if self.path_km is not None and math.isfinite(self.path_km):
                parts.append(f"{self.path_km:.1f} km from the real path")
            parts.append(
                "never withdrawn"
                if self.corrected_after_s is None
                else f"withdrawn after {fmt_duration(self.corrected_after_s)}"
            )
            return f"warned, not at risk ({', '.join(parts)})"
        return "-"


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    ok: bool | None = None  # None: informative, no bar


@dataclass
class ReportData:
    title: str
    scenario: str
    mode: str  # Exercise | Test | Actual
    launch_epoch: float
    headlines: list[Headline] = field(default_factory=list)
    areas: list[MapArea] = field(default_factory=list)
    paths: list[MapPath] = field(default_factory=list)
    ellipses: list[MapEllipse] = field(default_factory=list)
    points: list[MapPoint] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    rows: list[AreaRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (title, paragraph): what a figure means, in plain words
    explanations: list[tuple[str, str]] = field(default_factory=list)
    extra_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)


def fmt_offset(s: float | None) -> str:
    """``T+4:05`` style offset from launch."""
    if s is None or not math.isfinite(s):
        return "-"
    sign = "-" if s < 0 else "+"
    s = abs(s)
    return f"T{sign}{int(s // 60)}:{int(s % 60):02d}"


def fmt_duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    sign = "-" if s < 0 else ""
    s = abs(s)
    return f"{sign}{int(s // 60)} min {int(s % 60):02d} s" if s >= 60 else f"{sign}{s:.1f} s"


# --- the map ----------------------------------------------------------------------


class _Projection:
    """Equirectangular projection scaled by cos(mid-latitude), fit to a box."""

    def __init__(self, lon0: float, lon1: float, lat0: float, lat1: float, width: float) -> None:
        self.k = math.cos(math.radians((lat0 + lat1) / 2.0))
        self.lon0, self.lat1 = lon0, lat1
        self.scale = width / max((lon1 - lon0) * self.k, 1e-9)
        self.width = width
        self.height = (lat1 - lat0) * self.scale

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return ((lon - self.lon0) * self.k * self.scale, (self.lat1 - lat) * self.scale)

    def path(self, ring: Ring, close: bool = True) -> str:
        pts = [self.xy(lo, la) for lo, la in ring]
        if not pts:
            return ""
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        return d + (" Z" if close else "")


def _bounds(data: ReportData) -> tuple[float, float, float, float]:
    lons: list[float] = []
    lats: list[float] = []
    for p in data.paths:
        lons += [q[0] for q in p.points]
        lats += [q[1] for q in p.points]
    for pt in data.points:
        if pt.kind != "sensor":
            lons.append(pt.lon)
            lats.append(pt.lat)
    for a in data.areas:
        if a.first_warned_s is not None or a.at_risk:
            for r in a.rings:
                lons += [q[0] for q in r]
                lats += [q[1] for q in r]
    if not lons:
        return 123.0, 150.0, 30.0, 46.0
    pad = 1.5
    lo0, lo1 = min(lons) - pad, max(lons) + pad
    la0, la1 = min(lats) - pad, max(lats) + pad
    # at least a 12 x 8 degree window, so a short salvo still shows the coasts
    if lo1 - lo0 < 12:
        c = (lo0 + lo1) / 2
        lo0, lo1 = c - 6, c + 6
    if la1 - la0 < 8:
        c = (la0 + la1) / 2
        la0, la1 = c - 4, c + 4
    return lo0, lo1, max(la0, -85.0), min(la1, 85.0)


def _warn_colour(s: float | None, horizon: float) -> str:
    """Early warnings dark red, late ones pale orange."""
    if s is None:
        return "#e8e8e0"
    f = min(max(s / max(horizon, 1.0), 0.0), 1.0)
    r, g, b = 176 + int(70 * f), 20 + int(170 * f), 30 + int(60 * f)
    return f"#{r:02x}{g:02x}{b:02x}"


def render_map(data: ReportData, width: float = 900.0) -> str:
    lo0, lo1, la0, la1 = _bounds(data)
    pr = _Projection(lo0, lo1, la0, la1, width)
    warned = [a.first_warned_s for a in data.areas if a.first_warned_s is not None]
    horizon = max(warned) if warned else 600.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {pr.width:.0f} {pr.height:.0f}" '
        f'class="map" role="img" aria-label="map of warned areas and flight paths">',
        f'<rect width="{pr.width:.0f}" height="{pr.height:.0f}" fill="#dfeaf3"/>',
    ]
    # sea zones first (under land), then land
    for a in sorted(data.areas, key=lambda a: not a.sea):
        d = " ".join(pr.path(r) for r in a.rings)
        if not d:
            continue
        fill = _warn_colour(a.first_warned_s, horizon)
        if a.sea:
            fill_attr = (
                f'fill="{fill}" fill-opacity="0.55"' if a.first_warned_s is not None else 'fill="none"'
            )
            stroke = "#7a9bb5"
        else:
            fill_attr = f'fill="{fill}"'
            stroke = "#8a8a80"
        dash = ' stroke-dasharray="4 3"' if a.at_risk and a.first_warned_s is None else ""
        sw = "2.2" if a.at_risk else "0.6"
        stroke = "#c00000" if a.at_risk and a.first_warned_s is None else stroke
        title = html.escape(f"{a.code} {a.name}: first warned {fmt_offset(a.first_warned_s)}")
        out.append(
            f'<path d="{d}" {fill_attr} stroke="{stroke}" stroke-width="{sw}"{dash} '
            f'fill-rule="evenodd"><title>{title}</title></path>'
        )
    n = max(len(data.ellipses), 1)
    for i, e in enumerate(data.ellipses):
        op = 0.15 + 0.6 * (i + 1) / n
        out.append(
            f'<path d="{pr.path(e.ring)}" fill="none" stroke="#5b2c83" stroke-opacity="{op:.2f}" '
            f'stroke-width="1.2"><title>95 % impact ellipse at {fmt_offset(e.after_launch_s)}</title></path>'
        )
    for p in data.paths:
        colour = "#111" if p.kind == "truth" else "#1f6fb2"
        dash = "" if p.kind == "truth" else ' stroke-dasharray="6 4"'
        out.append(
            f'<path d="{pr.path(p.points, close=False)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash}><title>{html.escape(p.label)}</title></path>'
        )
    for pt in data.points:
        x, y = pr.xy(pt.lon, pt.lat)
        label = html.escape(pt.label)
        if pt.kind == "launch":
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#111"><title>{label}</title></circle>')
        elif pt.kind == "impact":
            out.append(
                f'<path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 6:.1f} M{x - 6:.1f},{y + 6:.1f} '
                f'L{x + 6:.1f},{y - 6:.1f}" stroke="#c00000" stroke-width="3"><title>{label}</title></path>'
            )
        elif pt.kind == "predicted":
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="none" stroke="#5b2c83">'
                f"<title>{label}</title></circle>"
            )
        else:
            out.append(
                f'<path d="M{x:.1f},{y - 6:.1f} L{x + 5:.1f},{y + 4:.1f} L{x - 5:.1f},{y + 4:.1f} Z" '
                f'fill="#2a7d2a"><title>{label}</title></path>'
            )
    out.append("</svg>")
    return "\n".join(out)


# --- the page ---------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1b1b;background:#fafaf7}
main{max-width:1100px;margin:0 auto;padding:0 1.2em 3em}
.banner{padding:.7em 1.2em;font-weight:700;font-size:1.25em;letter-spacing:.04em;color:#fff}
.banner.exercise{background:repeating-linear-gradient(45deg,#1d4e89,#1d4e89 18px,#24609f 18px,#24609f 36px)}
.banner.actual{background:#b00000}
h1{font-size:1.5em;margin:.8em 0 .2em} h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ccc}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:.6em}
.fig{background:#fff;border:1px solid #ddd;border-left:6px solid #999;padding:.5em .7em}
.fig.ok{border-left-color:#2a7d2a}.fig.bad{border-left-color:#c00000}
.fig .v{font-size:1.3em;font-weight:700}.fig .l{font-size:.85em;color:#555}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left}th{background:#f0f0ea}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.missed td{background:#fde2e2}tr.false td{background:#fff4d6}
svg.map{width:100%;height:auto;border:1px solid #bbb;background:#dfeaf3}
.legend{font-size:.85em;color:#444}.legend span{display:inline-block;margin-right:1.2em}
.sw{display:inline-block;width:1em;height:.8em;vertical-align:middle;margin-right:.3em;border:1px solid #888}
"""


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        tds = "".join(
            f'<td class="num">{html.escape(c)}</td>' if _numeric(c) else f"<td>{html.escape(c)}</td>"
            for c in r
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric(c: str) -> bool:
    return bool(c) and (c[0].isdigit() or c.startswith(("T+", "T-", "-0", "-1", "-2", "-3", "-4", "-5")))


_AREA_HEAD = [
    "area",
    "name",
    "at risk",
    "warned",
    "first warning",
    "overflight / impact",
    "lead time",
    "verdict",
]


def render_report(data: ReportData) -> str:
    mode = data.mode.upper()
    banner_cls = "actual" if mode == "ACTUAL" else "exercise"
    banner = f"{mode} - {'THIS WAS A DRILL. NO REAL LAUNCH.' if mode != 'ACTUAL' else 'REAL EVENT'}"
    launch = datetime.fromtimestamp(data.launch_epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    figs = []
    for h in data.headlines:
        cls = "" if h.ok is None else (" ok" if h.ok else " bad")
        mark = "" if h.ok is None else (" ✓" if h.ok else " ✗")
        figs.append(
            f'<div class="fig{cls}"><div class="v">{html.escape(h.value)}{mark}</div>'
            f'<div class="l">{html.escape(h.label)}</div></div>'
        )
    rows = [
        [
            r.code,
            r.name,
            "yes" if r.at_risk else "no",
            "yes" if r.warned else "no",
            fmt_offset(r.first_warned_s),
            fmt_offset(r.event_s),
            fmt_duration(r.lead_s),
            r.verdict,
        ]
        for r in data.rows
    ]
    classes = [
        "missed" if r.at_risk and not r.warned else ("false" if r.warned and not r.at_risk else "")
        for r in data.rows
    ]
    timeline = _table(
        ["time", "event", "detail"],
        [
            [fmt_offset(e.after_launch_s), e.what, e.detail]
            for e in sorted(data.timeline, key=lambda e: e.after_launch_s)
        ],
    )
    extra = "".join(
        f"<h2>{html.escape(title)}</h2>{_table(head, body)}" for title, head, body in data.extra_tables
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
    explained = "".join(
        f"<h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>" for title, text in data.explanations
    )
    legend = (
        '<p class="legend"><span><i class="sw" style="background:#b0141e"></i>warned early</span>'
        '<span><i class="sw" style="background:#f6be5a"></i>warned later</span>'
        '<span><i class="sw" style="background:#e8e8e0;border:2px dashed #c00000"></i>'
        "at risk, not warned</span>"
        "<span>━ true path</span><span>┅ track</span><span>◯ 95 % impact ellipses (darker = later)</span>"
        "<span>✕ impact</span><span>● launch</span><span>▲ sensor (notional)</span></p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(data.title)}</title><style>{_CSS}</style></head>
<body><div class="banner {banner_cls}">{html.escape(banner)}</div><main>
<h1>{html.escape(data.title)}</h1>
<p>Scenario <code>{html.escape(data.scenario)}</code> · launch {launch} ·
times are after launch (T+min:s).</p>
<h2>Headline figures</h2><div class="figs">{"".join(figs)}</div>
<h2>Map</h2>{render_map(data)}{legend}
<h2>Timeline</h2>{timeline}
<h2>Areas</h2>{_table(_AREA_HEAD, rows, classes)}
{extra}
{explained}
{"<h2>Notes</h2><ul>" + notes + "</ul>" if notes else ""}
</main></body></html>
"""
