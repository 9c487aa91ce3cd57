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
