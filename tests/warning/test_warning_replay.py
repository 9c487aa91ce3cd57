"""benchmarks/warning_replay.py: a drill's tracks replayed through a fresh
warning engine are the drill's warning (its alerts.jsonl byte for byte, its
warning figures), and the resident oracle flags each way a story can go wrong
for the people in an area, and nothing in a clean story."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _sibling import load
from tocsin.drill.run import run_drill
from tocsin.drill.scenario import load_scenario
from tocsin.warning.policy import WarningConfig
from tocsin.warning.texts import Facts, info_text

# one missile over northern Tohoku, two notional radars: a drill of seconds
SCENARIO = Path(__file__).resolve().parents[1] / "data" / "mrbm-over-tohoku.yaml"


def _mod() -> ModuleType:
    return load("warning_replay")


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "mrbm"
    run_drill(load_scenario(SCENARIO), out)
    return out


@pytest.mark.slow
def test_the_replay_with_the_drills_policy_is_the_drills_warning(drill: Path) -> None:
    m = _mod()
    res = m.run([("mrbm", drill)], WarningConfig())["mrbm"]
    same = res["same_as_drill"]
    assert same["same"], same
    assert same["replayed"] == same["recorded"] > 0
    summary = json.loads((drill / "summary.json").read_text())
    for name in m.WARNING_FIGURES:
        assert res["figures"][name] == summary["figures"][name], name
    failed = sorted(
        c["metric"] for c in summary["checks"] if not c["passed"] and c["metric"] in m.WARNING_FIGURES
    )
    assert res["fails"] == res["drill_fails"] == failed
    # time-driven closes (the all-clear after the path has passed) go out on the drill's ticks
    closes = [s for story in res["stories"].values() for s in story if s[3] is not None]
    assert closes
    assert not res["oracle"]["not_closed"]


@pytest.mark.slow
def test_another_policy_is_replayed_not_copied(drill: Path) -> None:
    """A longer all-clear wait moves every "it fell" close: the replay runs the
    engine it is given (it does not hand back the drill's recording)."""
    m = _mod()
    base = m.run([("mrbm", drill)], WarningConfig())["mrbm"]
    cfg = m.config_from(WarningConfig(), ["lifecycle.all_clear_after_impact_s=200"])
    later = m.run([("mrbm", drill)], cfg)["mrbm"]
    assert later["same_as_drill"] is None  # not the drill's policy: no byte check
    fell = [(k, s[0]) for k, v in base["stories"].items() for s in v if s[3] == "fell"]
    fell2 = [(k, s[0]) for k, v in later["stories"].items() for s in v if s[3] == "fell"]
    assert fell
    assert len(fell) == len(fell2)
    assert all(t2 > t for (_, t), (_, t2) in zip(fell, fell2, strict=True))
    cmp = m.compare({"drills": {"mrbm": base}}, {"drills": {"mrbm": later}})
    assert cmp["drills_that_differ"] == ["mrbm"]
    assert cmp["drills"]["mrbm"]["stories"]
    assert m.compare({"drills": {"mrbm": base}}, {"drills": {"mrbm": base}})["drills_that_differ"] == []


def test_set_is_checked_by_the_policys_types() -> None:
    m = _mod()
    cfg = m.config_from(WarningConfig(), ["threat.keep_named=true", "lifecycle.cancel_hold_s=35"])
    assert cfg.threat.keep_named is True
    assert cfg.lifecycle.cancel_hold_s == 35
    for bad in ["threat.keep_nmaed=true", "threat=1", "lifecycle.cancel_hold_s=-5", "keep_named"]:
        with pytest.raises(SystemExit):
            m.config_from(WarningConfig(), [bad])


# ---------------------------------------------------------------- the oracle


def _drill(at_risk: dict[str, float], until: dict[str, float]) -> Any:
    m = _mod()
    return m.Drill(
        name="x",
        path=Path("."),
        tracks=[],
        ground=[],
        at_risk=at_risk,
        risk_until=until,
        launch_t=1000.0,
        checks={},
        drill_fails=[],
        recorded=[],
        recorded_lines=[],
    )


def _flags(
    stories: dict[str, list[list[Any]]], at_risk: dict[str, float], until: dict[str, float]
) -> dict[str, Any]:
    out: dict[str, Any] = _mod().oracle(stories, _drill(at_risk, until))
    return out


A, S, U, C = "Alert", "shelter", "Update", "Cancel"


def test_a_clean_story_raises_no_flag() -> None:
    f = _flags(
        {
            "JP JP-01": [[50.0, A, S, None], [80.0, U, "fall", None], [400.0, U, None, "fell"]],
            "JP sea:JP-09": [[50.0, A, S, None], [90.0, C, None, "error"]],  # a false area corrected
            "KR sea:x": [[60.0, A, "debris", None], [500.0, U, None, "passed"]],
        },
        {"JP-01": 1100.0},
        {"JP-01": 1400.0},
    )
    assert f == {k: [] for k in f}
    assert len(f) == 4


def test_a_really_at_risk_area_told_it_was_a_mistake() -> None:
    story = {"KR sea:KR-31": [[59.1, A, S, None], [151.5, C, None, "error"]]}
    f = _flags(story, {"sea:KR-31": 1300.0}, {"sea:KR-31": 1378.5})
    assert f["cancel_at_risk"] == [{"area": "KR sea:KR-31", "t": 151.5, "down": 378.5}]
    # the same Cancel after the object came down, or for an area not at risk: no flag
    assert _flags(story, {"sea:KR-31": 1100.0}, {"sea:KR-31": 1150.0})["cancel_at_risk"] == []
    assert _flags(story, {}, {})["cancel_at_risk"] == []


def test_an_area_warned_again_after_it_was_a_mistake() -> None:
    story = {
        "KR sea:KR-31": [
            [59.1, A, S, None],
            [151.5, C, None, "error"],
            [243.1, A, S, None],
            [378.5, U, None, "fell"],
        ]
    }
    f = _flags(story, {"sea:KR-31": 1300.0}, {"sea:KR-31": 1378.5})
    assert f["alert_after_cancel"] == [
        {"area": "KR sea:KR-31", "cancel_t": 151.5, "t": 243.1, "at_risk": True}
    ]
    assert f["cancel_at_risk"]
    assert not f["not_closed"]
    assert not f["first_not_shelter"]
    # an all-clear ("passed") then a new Alert is two stories, not a mistake retold
    story2 = {
        "JP a": [[10.0, A, S, None], [40.0, U, None, "passed"], [90.0, A, S, None], [99.0, C, None, "error"]]
    }
    assert _flags(story2, {}, {})["alert_after_cancel"] == []
    # each Alert after a mistake once: not one after an all-clear that came between
    story3 = {
        "JP a": [
            [10.0, A, S, None],
            [20.0, C, None, "error"],
            [30.0, A, S, None],
            [40.0, U, None, "passed"],
            [50.0, A, S, None],
            [60.0, U, None, "passed"],
        ]
    }
    assert [x["t"] for x in _flags(story3, {}, {})["alert_after_cancel"]] == [30.0]


def test_an_area_whose_last_message_is_not_a_close() -> None:
    f = _flags({"JP a": [[10.0, A, S, None], [40.0, U, "fall", None]]}, {}, {})
    assert f["not_closed"] == [{"area": "JP a", "t": 40.0, "last": [U, "fall"]}]


def test_a_first_alert_while_tracking_is_lost_tells_to_take_shelter() -> None:
    """The oracle takes an Alert with instruction ``lost`` as a story's good
    start because the text says so (tocsin.warning.texts): checked here, so a
    text that goes back to "stay sheltered" fails this test, not the oracle."""
    heard = info_text(
        Facts(
            msg_type="Alert",
            status="Actual",
            area_names={"en-US": ["Hokkaido"]},
            instruction="lost",
            lost_t=0.0,
            until=600.0,
        ),
        "en-US",
    )
    assert "take shelter now" in heard.headline
    assert heard.instruction.startswith("Take shelter now")
    f = _flags({"JP a": [[10.0, A, "lost", None], [90.0, U, None, "lost"]]}, {}, {})
    assert not f["first_not_shelter"]


def test_a_story_that_does_not_start_with_take_shelter() -> None:
    f = _flags(
        {
            "JP a": [[10.0, U, "lost", None], [90.0, U, None, "lost"]],
            "JP b": [[10.0, U, S, None], [90.0, U, None, "passed"]],
            "JP c": [
                [10.0, A, S, None],
                [20.0, U, None, "passed"],
                [30.0, U, S, None],
                [40.0, U, None, "passed"],
            ],
        },
        {},
        {},
    )
    got = {(x["area"], x["t"]) for x in f["first_not_shelter"]}
    assert got == {("JP a", 10.0), ("JP b", 10.0), ("JP c", 30.0)}


def test_story_rows_come_from_the_alert_messages() -> None:
    """Instruction from the CAP parameter, close reason from the message,
    "error" for a Cancel, times after launch, both publics apart."""
    from tocsin.wire import make
    from tocsin.wire.messages import AlertBody

    def msg(partner: str, t: float, typ: str, instr: str | None, areas: list[str], close: str | None) -> Any:
        cap = f"<valueName>tocsin-instruction</valueName>\n      <value>{instr}</value>" if instr else ""
        b = AlertBody(
            id=f"i.{partner}.{t}",
            t=t,
            msg_type=typ,  # type: ignore[arg-type]
            status="Exercise",
            tracks=["F-1"],
            areas=[] if close else areas,
            closes=areas if close else [],
            close=close,  # type: ignore[arg-type]
            cap=cap,
        )
        return make("alert", b, partner=partner, source="w", seq=1, sent=t)

    alerts = [
        msg("JP", 1010.0, "Alert", "shelter", ["a", "b"], None),
        msg("KR", 1010.0, "Alert", "fall", ["a"], None),
        msg("JP", 1030.0, "Cancel", None, ["b"], "error"),
        msg("JP", 1090.5, "Update", None, ["a"], "passed"),
    ]
    got = _mod().stories(alerts, 1000.0)
    assert got == {
        "JP a": [[10.0, A, S, None], [90.5, U, None, "passed"]],
        "JP b": [[10.0, A, S, None], [30.0, C, None, "error"]],
        "KR a": [[10.0, A, "fall", None]],
    }
    assert math.isfinite(got["JP a"][1][0])
