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
@pytest.mark.parametrize("mode", ["handover", "land"])
def test_a_seeded_slice_of_each_new_mode_finds_no_fault(mode: str) -> None:
    res = _load().search(12, 1, False, shrink=False, mode=mode)
    assert res["faults"] == {}, res["fault_examples"]


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
