"""Every shipped scenario and the whole Freedom Edge suite, end to end, as
`tocsin drill` runs them: each meets the thresholds written in its file on
merit; every alert it issues is an Exercise CAP 1.2 document that validates
against the OASIS schema, in Japanese, Korean and English; every (public,
area) ever warned first receives an Alert and last an explicit close; and the
drill's CAP feed validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tocsin.drill.run import drill_instance, run_drill
from tocsin.drill.scenario import load_scenario
from tocsin.warning.cap import CAP_NS, validate_cap
from tocsin.wire import read_jsonl

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml")) + sorted((SCENARIOS / "freedom-edge").glob("*.yaml"))

_FIRST_ALERT = (
    "goal 60 s not met: the first ballistic track comes late (radar horizons of the notional sites; the "
    "GEO infrared sensor alone gives no 3-D track; link-outage-and-delay: KR silent) and the reachable "
    "corridor of a young boost reaches no warned area for 5-15 s more. The boost corridor no longer waits "
    "for a 10-km heading baseline: it takes the tracker's launch azimuth at once (boost, 2026-12-06; first "
    "alerts 12-27 s earlier, 11 of 15 missile drills now meet 60 s: docs/warning.md section 9)"
)
_IMPACT = (
    "goal 1 km at T+300 s not met by the lofted ICBM, still after the drag-bank tracker (track, 9772dc9: "
    "it met the goal in the SRBM drills), nor since the U.S. Standard Atmosphere in simulator and tracker "
    "(session 3): the lofted ICBM's re-entry vehicle is the worst class of the impact Monte Carlo "
    "(docs/fusion.md)"
)
_BREAK = (
    "one track break at the last grid step since beta is drawn (sim d862711: the track ends 0.24 s early)"
)
_NEIGHBOUR = (
    "districts 5-21 km beside the true path (under the path = 5 km, one definition for policy and scorer) "
    "are named while an SRBM boosts, by the corridor of the tracker's launch azimuth (its 95 % heading "
    "interval, docs/warning.md section 2), and cancelled 26-27 s later once the ballistic prediction no "
    "longer holds them: salvo-through-air-traffic 4 (KR-51110, KR-51780, KR-51790, KR-51820, 8-21 km) in "
    "the USSA76 air (track, 9fa2393; 1 before it); main's fixed 15 km + 1.5 deg fan names 12 there (6-26 km, "
    "corrected in up to 119 s). A 95 % corridor names neighbours now and then by design; its width is the "
    "estimate's (coverage on independent flights: benchmarks/boost_corridor.py), not tuned to these drills"
)
_AIR = (
    "met by a small margin until the simulator's air became the U.S. Standard Atmosphere 1976 (track, "
    "session 3; before: an exponential air 14-26 % too thin at 5-20 km): the same drill with the tracker "
    "of main d79ad0f (exponential air) misses the same figure by as much or more (biased-radar "
    "precision 0.75, sea 2, correction 391.5 s; combined-salvo sea 2; ship-radar-loss precision 0.67; "
    "forged-partner T+120 s 5,454 m against 5,104 m now, and T+300 s 1,212 m > 1 km, met now): the truth "
    "moved, not the tracker (notes/track.md, Session 3)"
)
_AIR_SEA = (
    "sea:JP-28 lies 5.0 km beside the MRBM's true ground track, at the edge of the post-burnout corridor's "
    "5 km floor, and stays warned until the all-clear (385 s; main with the same USSA76 air: 393 s): " + _AIR
)
_TAMPERED = (
    _AIR
    + "; since session 8 also sea:KR-42 (24 km beside the path; sea 3, precision 0.67), named at T+66 s by "
    "the boost corridor of the tampered radar's track, which saw the missile first and carried it until two "
    "honest radars outvoted it at T+75 s (one radar against one is a tie: the older track stays; "
    "docs/fusion.md, duplicate suppression), cancelled 42 s later"
)
_HELD = (
    "keep_named on by default (session 15, the lead's policy call, docs/warning.md 'Leaving'): an area the "
    "forecast still admits at 95 % is not corrected; junk-flood's sea:KR-31 (5.70 km from the real path) "
    "and ship-radar-loss's sea:JP-32 (5.50 km) lie beside the 5-km naming edge inside every forecast's "
    "allowance and are corrected once it has clearly left them (232.9 s, 90.4 s). The 60-s bar is not "
    "loosened: for an area the forecast still admits it measures how soon a borderline area is let go, not "
    "whether it should be; off, two areas really at risk (link-outage-and-delay, salvo-through-air-traffic "
    "sea:KR-31) were told 'it was a mistake' and then 'take shelter' again"
)
#: goals a drill misses today, each with its reason: the drill must still fail
#: them (a figure that starts meeting its goal must be taken off this list)
KNOWN_SHORTFALLS: dict[str, dict[str, str]] = {
    "icbm-lofted-sea-of-japan": {"first_alert_s": _FIRST_ALERT, "impact_error_300s_m": _IMPACT},
    "irbm-over-hokkaido": {"first_alert_s": _FIRST_ALERT},
    "biased-radar": {
        "area_precision": _TAMPERED,
        "false_areas_sea": _TAMPERED,
        "time_to_correct_max_s": _AIR,
    },
    "combined-salvo": {"false_areas_sea": _AIR, "time_to_correct_max_s": _AIR_SEA},
    "forged-partner": {"impact_error_120s_m": _AIR},
    "junk-flood": {"time_to_correct_max_s": _HELD},
    "link-outage-and-delay": {"first_alert_s": _FIRST_ALERT},
    "salvo-through-air-traffic": {"false_areas_land": _NEIGHBOUR},
    "sea-impact-eez": {"first_alert_s": _FIRST_ALERT},
    "ship-radar-loss": {"area_precision": _AIR, "time_to_correct_max_s": _HELD},
    "tracking-lost-in-boost": {"first_alert_s": _FIRST_ALERT},
}


def test_every_scenario_is_here() -> None:
    assert len(SHIPPED) >= 4 + 13
    # and each drill's alert identifiers are its own (CAP ids are unique per sender, for ever)
    instances = {drill_instance(load_scenario(p)) for p in SHIPPED}
    assert len(instances) == len(SHIPPED)


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_drill_meets_its_bar_with_valid_cap_and_whole_stories(tmp_path: Path, path: Path) -> None:
    sc = load_scenario(path)
    res = run_drill(sc, tmp_path / "run")
    assert res.checks, "a shipped scenario carries thresholds"
    short = KNOWN_SHORTFALLS.get(path.stem, {})
    failed = {c.metric: (c.value, c.bar()) for c in res.checks if not c.passed}
    assert set(failed) <= set(short), {m: v for m, v in failed.items() if m not in short}
    met = sorted(set(short) - set(failed))
    assert not met, f"{path.stem} now meets {met}: take it off KNOWN_SHORTFALLS"
    assert res.stage_errors == 0
    caps = sorted((tmp_path / "run" / "cap").glob("*.xml"))
    assert len(caps) == res.alerts
    instance = drill_instance(sc)
    for cap in caps:
        text = cap.read_text(encoding="utf-8")
        assert validate_cap(text) == [], cap.name
        doc = etree.fromstring(text.encode("utf-8"))
        assert doc.findtext(f"{{{CAP_NS}}}status") == "Exercise"
        assert (doc.findtext(f"{{{CAP_NS}}}identifier") or "").startswith(instance + ".")
        langs = sorted(i.findtext(f"{{{CAP_NS}}}language") or "" for i in doc.iter(f"{{{CAP_NS}}}info"))
        assert langs == ["en-US", "ja-JP", "ko-KR"], cap.name
    w = res.warning
    if res.alerts:
        # each (public, area): an Alert first, an explicit close last
        assert w.first_contact_not_alert == []
        assert w.not_closed == []
        assert w.first_contact_alert == 1.0
        assert w.explicit_close_rate == 1.0
        # every wrongly warned area was corrected explicitly
        assert all(v is not None for v in w.time_to_correct_s.values()), w.time_to_correct_s
    alerts, st = read_jsonl(tmp_path / "run" / "alerts.jsonl")
    assert not st.errors
    # one sender per public
    senders: dict[str, set[str]] = {}
    for a in alerts:
        cap = getattr(a.body, "cap", "")
        senders.setdefault(a.partner, set()).add(cap.split("<sender>")[1].split("</sender>")[0])
    assert all(len(s) == 1 for s in senders.values())
    assert len({s for v in senders.values() for s in v}) == len(senders)
    # the feed: the warnings in force at the end (none: every story closed), valid
    feed = (tmp_path / "run" / "feed.xml").read_bytes()
    assert b"<entry>" not in feed
    if path.stem == "open-sea":
        assert res.figures["false_areas_land"] == 0
        assert not any(c for c in w.areas_warned if not c.startswith("sea:"))
