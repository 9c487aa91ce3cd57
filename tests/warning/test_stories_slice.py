"""A seeded slice of benchmarks/warning_stories.py (the long random search for
an area told two stories): no close while a track that named the area in its
story still admits it, with ``keep_named`` off and on; and test_keep's wander
(one story) with it on."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _sibling import load


def _load() -> ModuleType:
    return load("warning_stories")


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_a_seeded_slice_of_the_story_search_finds_no_fault(keep: bool) -> None:
    res = _load().search(12, 1, keep, shrink=False)
    assert res["faults"] == {}, res["fault_examples"]
    assert res.get("wander_two_stories", []) == []


# ---------------------------------------------------------------- the modes (session 15)


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("mode", ["reach", "manoeuvre", "handover", "land"])
def test_a_seeded_slice_of_each_new_mode_finds_no_fault(mode: str, keep: bool) -> None:
    res = _load().search(8, 1, keep, shrink=False, mode=mode)
    assert res["faults"] == {}, res["fault_examples"]


#: the first faults the reach and manoeuvre modes found (main 7b4ae1a, keep off,
#: 20 examples seed 1, shrunk): (track, north m, east m, semi-major m, ratio,
#: bearing, reports, dt s, silence before s, status, form)
SHRUNK = {
    # a boosting report names the corridor, a ballistic one drops its edge
    # boxes (a Cancel waits), a boosting report 0.2 s later whose reach covers
    # them: the Cancel went out 20 s later
    "reach": [
        (
            0,
            -281.9084144702296,
            0.0,
            4955.652484830308,
            0.46223582402504165,
            1.0,
            1,
            1.79955374579912,
            47.24955992207478,
            "confirmed",
            "boost",
        ),
        (
            0,
            -1.192092896e-07,
            1144.2896913991117,
            2500.0,
            0.05000000000000001,
            180.0,
            1,
            2.5302333368310843,
            57.07789852775607,
            "confirmed",
            "ballistic",
        ),
        (
            0,
            -1943.0097612790987,
            0.0,
            200.00000000000003,
            0.19990975083906792,
            33.47644544513547,
            1,
            2.8072393312396584,
            0.18,
            "confirmed",
            "boost",
        ),
    ],
    # F-2 flagged manoeuvring, silent 98 s (ended, its risks given a window),
    # back: 'passed' from the old window while live and manoeuvring
    "manoeuvre": [
        (
            1,
            0.0,
            59.887439251109754,
            60000.0,
            0.8319127663900767,
            139.11759450540586,
            1,
            4.0,
            0.0,
            "confirmed",
            "manoeuvring",
        ),
        (
            0,
            285.3381180190738,
            0.0,
            3221.8049610152802,
            0.7913011555948055,
            75.75277809253689,
            1,
            1.5,
            33.749129364720496,
            "confirmed",
            "ballistic",
        ),
        (
            1,
            0.0,
            0.0,
            4035.9461719576925,
            0.3350510676592179,
            17.334159771673225,
            1,
            3.3435583097231656,
            59.07058558486668,
            "confirmed",
            "ballistic",
        ),
        (
            1,
            0.0,
            0.0,
            4035.9461719576925,
            0.3350510676592179,
            17.334159771673225,
            6,
            3.3435583097231656,
            59.07058558486668,
            "confirmed",
            "ballistic",
        ),
    ],
}


@pytest.mark.parametrize("mode", sorted(SHRUNK))
@pytest.mark.parametrize("keep", [False, True])
def test_the_first_reach_and_manoeuvre_faults_stay_mended(mode: str, keep: bool) -> None:
    o = _load().play(SHRUNK[mode], keep, mode)
    assert o.faults == []


def test_the_modes_generate_what_they_claim() -> None:
    """Boosting reports give the engine a reach (a launch azimuth) or an
    unknown heading; a flagged report a manoeuvre; land areas of both
    countries and the international waters reach both publics."""
    ws = _load()
    from tocsin.warning import WarningEngine
    from tocsin.wire import make

    def threat(form: str) -> object:
        eng = WarningEngine(registry=ws.GRID)
        b = ws.body("F-1", 1.0e9, 0.0, 0.0, 2_000.0, 0.5, 0.0, form=form)
        eng.push(make("track", b, partner="US", source="fusion", seq=1, sent=b.t))
        return eng.threats()["F-1"]

    boost, unknown = threat("boost"), threat("boost_unknown")
    assert boost.phase == "boost"  # type: ignore[attr-defined]
    assert boost.reach is not None  # type: ignore[attr-defined]
    assert boost.codes  # type: ignore[attr-defined]
    assert unknown.unknown  # type: ignore[attr-defined]
    assert ws.body("F-1", 0.0, 0.0, 0.0, 2_000.0, 0.5, 0.0, form="manoeuvring").manoeuvring
    runs = [(0, 0.0, 0.0, 30_000.0, 0.5, 45.0, 5, 2.0, 0.0, "confirmed", "ballistic")]
    runs.append((0, 0.0, 0.0, 30_000.0, 0.5, 45.0, 3, 2.0, 0.0, "confirmed", "boost"))
    told = ws.play(runs, False, "land").stories
    publics = {k.split()[0] for k in told}
    assert publics == {"JP", "KR"}
    assert any(k.startswith("KR KR-") for k in told)
    assert any(k.startswith("JP JP-") for k in told)
    both = {k.split()[1] for k in told if k.startswith("JP ")} & {
        k.split()[1] for k in told if k.startswith("KR ")
    }
    assert both
    assert all(ws.land_registry().get(c).country not in ("JP", "KR") for c in both)


def test_held_names_the_hold_a_close_breaks() -> None:
    import shapely

    from tocsin.warning.threat import Threat

    ws = _load()
    area = ws.GRID.areas[0]
    near = shapely.buffer(area.geometry, 0.01)
    far = shapely.box(150.0, 10.0, 151.0, 11.0)
    th = Threat("F-1", 0.0, "ballistic", (), None, reach=near)
    assert ws.held(th, area, None, "error", 10.0) == "close_while_in_reach"
    assert ws.held(Threat("F-1", 0.0, "ballistic", (), None, reach=far), area, None, "error", 10.0) is None
    assert ws.held(Threat("F-1", 0.0, "ballistic", (), None), area, None, "error", 10.0) is None
    assert ws.held(None, area, 5.0, "passed", 10.0) == "close_while_manoeuvring"
    assert ws.held(None, area, 5.0, "fell", 10.0) is None  # come down: closing is right
    assert ws.held(None, area, 15.0, "error", 10.0) is None  # flagged only after the close


def test_may_receive_is_the_policys_release_rule() -> None:
    ws = _load()
    assert ws.may_receive("JP", "JP")
    assert ws.may_receive("KR", "KR")
    assert not ws.may_receive("KR", "JP")
    assert not ws.may_receive("JP", "KR")
    assert ws.may_receive("JP", "")
    assert ws.may_receive("KR", "")


# ---------------------------------------------------------------- session 16: descending, tick order


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_a_seeded_slice_of_the_descend_mode_finds_no_fault(keep: bool) -> None:
    # (whether its 8 draws hold a jump depends on more than the seed: hypothesis
    # also draws constants from the modules loaded, so a full tests/warning run
    # draws other examples than this file alone; the jump is asserted below)
    res = _load().search(8, 1, keep, shrink=False, mode="descend")
    assert res["faults"] == {}, res["fault_examples"]


#: a track first seen descending, its settled prediction jumping 12 km
DESCEND = [
    (0, 0.0, 0.0, 2_000.0, 0.5, 90.0, 5, 2.0, 0.0, "confirmed", "descending"),
    (0, 12_000.0, 0.0, 2_000.0, 0.5, 90.0, 10, 2.0, 0.0, "confirmed", "descending"),
]


@pytest.mark.parametrize("keep", [False, True])
def test_the_descend_mode_sees_the_jump_and_the_engine_keeps_what_it_named(keep: bool) -> None:
    o = _load().play(DESCEND, keep, "descend")
    assert o.tally["jump"] == 1
    assert o.faults == []
    assert not any(m[1] for msgs in o.stories.values() for m in msgs if m[1] != "fell")


def test_a_descending_report_is_descending_and_its_jump_is_a_manoeuvre() -> None:
    """The ``descending`` form is on its way down (the other forms' velocity
    climbs: the jump rule never fired in the searches before session 16); a
    settled prediction that then jumps 12 km (beyond both 2-km ellipses and
    ``min_buffer_m``) is read by the engine as a manoeuvre: what it named
    stays warned. The same jump of a climbing report is a correction."""
    import numpy as np

    from tocsin.warning import WarningEngine
    from tocsin.warning.threat import ThreatConfig
    from tocsin.wire import make

    ws = _load()
    cfg = ThreatConfig()
    t0 = 1.0e9
    for form, manoeuvre in (("descending", True), ("ballistic", False)):
        a = ws.body("F-1", t0, 0.0, 0.0, 2_000.0, 0.5, 90.0, t_imp=t0 + 300.0, form=form)
        b = ws.body("F-1", t0 + 2.0, 12_000.0, 0.0, 2_000.0, 0.5, 90.0, t_imp=t0 + 300.0, form=form)
        x = np.asarray(b.state_ecef)
        assert (float(x[:3] @ x[3:]) < 0.0) is manoeuvre
        assert ws.jumps(ws.settled_fix(a, cfg), b, cfg) is manoeuvre
        eng = WarningEngine(registry=ws.GRID)
        eng.push(make("track", a, partner="US", source="fusion", seq=1, sent=a.t))
        first = set(eng.active_areas()["JP"])
        assert first
        eng.push(make("track", b, partner="US", source="fusion", seq=2, sent=b.t))
        for k in range(1, 40):
            eng.advance(b.t + k)
        left = first - set(eng.active_areas()["JP"])
        assert (not left) is manoeuvre, (form, sorted(left))


def test_reports_on_ticks_and_a_hair_off_them() -> None:
    """:func:`on_ticks` puts the runs' reports on whole seconds, a run's
    first report by the other track may share its predecessor's second, and
    the shift moves every report's time and ``sent``, never its forecast."""
    ws = _load()
    runs = [
        (0, 0.0, 0.0, 2_000.0, 0.5, 90.0, 3, 1.6, 4.4, "confirmed", "ballistic"),
        (1, 0.0, 0.0, 2_000.0, 0.5, 90.0, 2, 0.4, 0.2, "confirmed", "ballistic"),
    ]
    on = ws.on_ticks(runs, 0.0)
    assert [e.body.t - 1.0e9 for e in on] == [6.0, 8.0, 10.0, 10.0, 11.0]
    assert [e.body.id for e in on] == ["F-1"] * 3 + ["F-2"] * 2
    off = ws.on_ticks(runs, ws.HAIR_S)
    for x, y in zip(on, off, strict=True):
        assert y.body.t - x.body.t == pytest.approx(ws.HAIR_S, abs=1e-6)
        assert y.sent - x.sent == pytest.approx(ws.HAIR_S, abs=1e-6)
        assert y.body.impact is not None
        assert x.body.impact is not None
        assert y.body.impact.t == x.body.impact.t


@pytest.mark.slow
def test_a_story_without_silences_is_told_alike_on_a_tick_and_a_hair_off_it() -> None:
    ws = _load()
    runs = [
        (0, 0.0, 0.0, 2_000.0, 0.5, 90.0, 4, 2.0, 0.0, "confirmed", "ballistic"),
        (0, -3_000.0, 0.0, 2_000.0, 0.5, 90.0, 12, 2.0, 0.0, "confirmed", "ballistic"),
        (0, -3_000.0, 0.0, 2_000.0, 0.5, 90.0, 12, 2.0, 0.0, "confirmed", "descending"),
    ]
    on = ws.heard_on_ticks(runs, True, 0.0)
    assert any(m[2] == "error" for msgs in on.values() for m in msgs)  # corrections: the hold is timed
    assert ws.tick_order(runs, True) == []


#: found by the tick-order search (session 16, main e98e216, seed 1, shrunk):
#: ONE boosting report on a tick, then silence. The engine declared a track
#: lost when ``t - last report > lost_after_s`` (strict; now ``>=``, less
#: 1e-9, as the cancel hold), a correction when
#: ``t - since >= cancel_hold_s`` (less 1e-9): the report on the tick is lost a
#: tick later than the same report a millisecond before it (same tick). With a
#: second track's first report at that tick an area hears "take shelter" or
#: "tracking lost, take shelter now" then "take shelter" by a hair
#: (NOTICES 19:58Z, to warn)
TICK_LOST = [(1, 399.0, 0.0, 4235.19, 0.3959, 0.0, 1, 3.49, 0.0, "confirmed", "boost")]
TICK_TWO = [
    (0, 3_000.0, -772.19, 136_623.77, 0.7062, 8.19, 1, 2.00001, 45.43, "confirmed", "boost_unknown"),
    (1, -278.73, 0.0, 105_148.56, 0.2784, 47.05, 1, 2.85, 58.31, "confirmed", "ballistic"),
]


@pytest.mark.parametrize("runs", [TICK_LOST, TICK_TWO], ids=["lost", "two-tracks"])
def test_the_tick_order_faults_found_in_session_16(runs: list[tuple[object, ...]]) -> None:
    assert _load().tick_order(runs, True) == []


#: issue item 4 (session 16): a close held by a track's reach was re-examined
#: only at that track's own next report. F-1 and F-2 name sea:JP-02-05 (and
#: its row); F-1 moves 40 km off (withdrawn: F-2 keeps them, nothing pending);
#: F-1's boosting report reaches them (not held: not F-1's, not pending); F-1
#: then silent; F-2 moves off. Before WarningEngine._rehold: "it was a
#: mistake" 20 s later while F-1 was live and its newest forecast reached
#: them (close_while_in_reach), and on the drill's clock with the impact at
#: 300 s a new Alert at 65 s when F-1 was declared lost, closed "lost" at 124 s
HELD_SILENT = [
    (0, 0.0, 0.0, 2_000.0, 0.5, 90.0, 1, 1.0, 0.0, "confirmed", "ballistic"),
    (1, 0.0, 0.0, 2_000.0, 0.5, 90.0, 1, 1.0, 0.0, "confirmed", "ballistic"),
    (0, 40_000.0, 0.0, 2_000.0, 0.5, 90.0, 1, 1.0, 0.0, "confirmed", "ballistic"),
    (0, 0.0, 0.0, 2_000.0, 0.0, 90.0, 1, 1.0, 0.0, "confirmed", "boost"),
    (1, 40_000.0, 0.0, 2_000.0, 0.5, 90.0, 1, 1.0, 0.0, "confirmed", "ballistic"),
]


@pytest.mark.parametrize("keep", [False, True])
def test_a_close_held_by_a_silent_tracks_reach_waits(keep: bool) -> None:
    ws = _load()
    o = ws.play(HELD_SILENT, keep, "reach")
    assert o.faults == []
    assert [m[0] for m in o.stories["JP sea:JP-02-05"]] == ["Alert"]
    # the same with F-1 reporting on (its boost every 2 s): held at its reports
    on = [*HELD_SILENT, (0, 0.0, 0.0, 2_000.0, 0.0, 90.0, 20, 2.0, 0.0, "confirmed", "boost")]
    assert ws.play(on, keep, "reach").faults == []
    # on the drill's clock: one story, told "tracking lost" once F-1 is lost, never corrected
    heard = ws.heard_on_ticks(HELD_SILENT, keep, 0.0)["JP sea:JP-02-05"]
    assert heard[0][:2] == ("Alert", "shelter")
    assert all(m[0] != "Cancel" for m in heard), heard
    assert heard[-1][2] in ("lost", "fell"), heard
