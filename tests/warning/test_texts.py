"""What residents read: each stage of a story in its public's words, the area's
own local time rounded to the minute, where the launch came from, and no
English pasted into Japanese or Korean."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest

from tocsin.warning.lifecycle import CloseReason, Instruction
from tocsin.warning.texts import LANGS, Facts, Lang, clock, info_text, langs_for, round_minute

T = datetime(2017, 8, 28, 21, 5, 29, tzinfo=UTC).timestamp()  # 06:05:29 JST
ORIGIN = {"ja-JP": "北朝鮮", "ko-KR": "북한", "en-US": "North Korea"}
HOK = {"ja-JP": ["北海道"], "ko-KR": ["홋카이도"], "en-US": ["Hokkaido"]}


def _f(msg_type: str = "Alert", **kw: object) -> Facts:
    base: dict[str, object] = {"onset": T, "origin": ORIGIN, "tz": "Asia/Tokyo"}
    base.update(kw)
    return Facts(msg_type, "Actual", HOK, **base)  # type: ignore[arg-type]


def _all(f: Facts, lang: Lang) -> str:
    i = info_text(f, lang)
    return " | ".join((i.headline, i.description, i.instruction))


def test_times_are_local_rounded_to_the_minute_and_about() -> None:
    assert round_minute(T) == T - 29.0  # 06:05:29 rounds down to 06:05
    assert clock(T, "ja-JP") == "6時5分ごろ"
    assert clock(T + 1.0, "ja-JP") == "6時6分ごろ"  # 06:05:30 rounds up
    assert clock(T, "ko-KR", "Asia/Seoul") == "6시 5분경"
    assert clock(T, "en-US") == "about 06:05 JST"
    assert clock(T, "en-US", "Asia/Seoul") == "about 06:05 KST"
    assert clock(T, "en-US", "Pacific/Guam") == "about 07:05 ChST"  # the US public in its own zone
    for lang in LANGS:
        assert "UTC" not in _all(_f(), lang)
        assert ":29" not in _all(_f(), lang)
        assert "29秒" not in _all(_f(), lang)


def test_round_minute_is_half_up() -> None:
    assert round_minute(59.9) == 60.0
    assert round_minute(29.9) == 0.0
    assert round_minute(30.0) == 60.0


@pytest.mark.parametrize(
    ("instr", "ja", "ko", "en"),
    [
        ("shelter", "ミサイル発射。ミサイル発射。", "[경계경보]", "take shelter now"),
        ("fall", "直ちに避難。直ちに避難。", "[공습경보]", "take shelter immediately"),
    ],
)
def test_first_contact_is_urgent_and_says_where_from_and_when(instr: str, ja: str, ko: str, en: str) -> None:
    f = _f(instruction=instr)
    assert info_text(f, "ja-JP").headline.startswith(ja)
    assert info_text(f, "ko-KR").headline.startswith(ko)
    assert en in info_text(f, "en-US").headline
    assert "北朝鮮からミサイルが発射されたものとみられます。" in info_text(f, "ja-JP").description
    assert "북한에서 탄도미사일이 발사된 것으로 보입니다." in info_text(f, "ko-KR").description
    assert "launched from North Korea." in info_text(f, "en-US").description
    for lang in LANGS:
        assert clock(T, lang) in info_text(f, lang).description
    # Korea's 2023 reform: why (a missile) and where to go (an underground shelter)
    assert "지하 대피시설" in info_text(f, "ko-KR").instruction
    assert "続報" not in _all(f, "ja-JP")
    assert "update" not in _all(f, "en-US").lower()


def test_without_an_origin_name_the_coordinates_are_given_in_each_language() -> None:
    f = _f(origin=None, launch_lat=39.2, launch_lon=125.7)
    assert "北緯39.2度、東経125.7度付近から" in info_text(f, "ja-JP").description
    assert "북위 39.2도, 동경 125.7도 부근에서" in info_text(f, "ko-KR").description
    assert "near 39.2°N 125.7°E" in info_text(f, "en-US").description


CLOSES: list[tuple[CloseReason, str, str, str]] = [
    ("passed", "ミサイル通過。ミサイル通過。", "해제", "has passed"),
    ("fell", "落下", "낙하", "come down"),
    ("error", "訂正", "오발령", "in error"),
    ("lost", "追跡", "추적", "tracking lost"),
]


@pytest.mark.parametrize(("reason", "ja", "ko", "en"), CLOSES)
def test_each_close_says_why_in_each_language(reason: CloseReason, ja: str, ko: str, en: str) -> None:
    f = _f(
        "Cancel" if reason == "error" else "Update",
        close=reason,
        previous="shelter",
        fall_t=T,
        fall_place={"ja-JP": "日本海", "ko-KR": "동해", "en-US": "in the Sea of Japan"},
        lost_t=T - 300,
        until=T,
    )
    assert ja in _all(f, "ja-JP")
    assert ko in _all(f, "ko-KR")
    assert en in _all(f, "en-US").lower() or en in _all(f, "en-US")
    for lang in LANGS:
        assert info_text(f, lang).description.count(HOK[lang][0]) >= 1
    if reason == "passed":  # J-Alert's words after an overflight
        assert "不審な物を発見した場合には、決して近寄らず" in info_text(f, "ja-JP").instruction
    if reason == "fell":
        assert "日本海に落下したものとみられます" in info_text(f, "ja-JP").description
    if reason == "error":
        assert "避難の必要はありません" in info_text(f, "ja-JP").instruction


def test_korean_all_clear_lifts_the_level_it_was_given() -> None:
    f = _f("Update", close="passed", previous="fall")
    assert "[공습경보 해제]" in info_text(f, "ko-KR").headline
    f = _f("Update", close="passed", previous="shelter")
    assert "[경계경보 해제]" in info_text(f, "ko-KR").headline


def test_tracking_lost_says_what_to_do_and_until_when() -> None:
    f = _f("Update", instruction="lost", lost_t=T - 300, until=T + 600)
    ja, ko, en = (info_text(f, lang) for lang in LANGS)
    assert "追跡が途絶えました" in ja.description
    assert clock(T + 600, "ja-JP") in ja.instruction
    assert "추적이 중단" in ko.description
    assert clock(T + 600, "ko-KR") in ko.instruction
    assert "Stay in shelter until about 06:15 JST" in en.instruction


def test_an_area_first_told_while_tracking_is_lost_is_told_to_take_shelter() -> None:
    """tracking-lost-in-boost (the drill): Hokkaido and Aomori, never warned
    before, heard "tracking lost, stay sheltered" as their first message. A
    first message (CAP Alert) tells them what to do now, then until when."""
    f = _f("Alert", instruction="lost", lost_t=T - 300, until=T + 600)
    ja, ko, en = (info_text(f, lang) for lang in LANGS)
    assert "take shelter now" in en.headline
    assert "stay" not in en.headline.lower()
    assert "直ちに避難" in ja.headline
    assert "続けて" not in ja.headline
    assert "즉시 대피" in ko.headline
    assert "유지" not in ko.headline
    assert en.instruction.startswith("Take shelter now")
    assert "Stay in shelter until about 06:15 JST" in en.instruction
    assert "地下に避難して下さい" in ja.instruction
    assert clock(T + 600, "ja-JP") in ja.instruction
    assert "지하 대피시설" in ko.instruction
    assert clock(T + 600, "ko-KR") in ko.instruction
    # a sea zone first told: the mariners' words, and until when; no shelter
    sea = _f("Alert", instruction="lost", lost_t=T - 300, until=T + 600, area_kinds=frozenset({"sea"}))
    s_ja, s_ko, s_en = (info_text(sea, lang) for lang in LANGS)
    assert "vessels" in s_en.headline
    assert "shelter" not in s_en.headline
    assert s_en.instruction.startswith("Vessels in these waters")
    assert "until about 06:15 JST" in s_en.instruction
    assert "海上保安庁" in s_ja.instruction
    assert "建物" not in s_ja.instruction
    assert "건물" not in s_ko.instruction
    assert clock(T + 600, "ko-KR") in s_ko.instruction
    # an area already warned (CAP Update) keeps "stay sheltered"
    upd = info_text(_f("Update", instruction="lost", lost_t=T - 300, until=T + 600), "en-US")
    assert "stay sheltered" in upd.headline


def test_sea_zones_get_the_mariners_words_land_the_shelter() -> None:
    sea = _f(area_kinds=frozenset({"sea"}))
    assert "海上保安庁" in info_text(sea, "ja-JP").instruction
    assert "건물" not in info_text(sea, "ko-KR").instruction
    assert "Vessels" in info_text(sea, "en-US").instruction
    assert "vessels" in info_text(sea, "en-US").headline
    land = _f()
    assert "海上保安庁" not in info_text(land, "ja-JP").instruction


_ASCII_WORD = re.compile(r"[A-Za-z]{4,}")


@pytest.mark.parametrize(
    ("instr", "close"),
    [*itertools.product(["shelter", "fall", "lost"], [None]), *(("shelter", c[0]) for c in CLOSES)],
)
def test_no_english_in_japanese_or_korean_and_sentences_are_spaced(
    instr: Instruction, close: str | None
) -> None:
    f = _f(
        "Update" if close else "Alert",
        instruction=instr,
        close=close,
        lost_t=T,
        until=T + 60,
        fall_t=T,
        fall_place={"ja-JP": "日本海", "ko-KR": "동해", "en-US": "in the Sea of Japan"},
    )
    for lang in ("ja-JP", "ko-KR"):
        text = _all(f, lang)
        assert not _ASCII_WORD.search(text), (lang, text)
    for lang in ("ko-KR", "en-US"):
        d = info_text(f, lang).description
        # the old bugs: "UTC.The areas", "보입니다.다음": a sentence runs into the next
        assert not re.search(r"[.!?][^\s\d)\]]", d), (lang, d)
    for lang in LANGS:
        d = info_text(f, lang).description.rstrip()
        assert d.endswith(("。", ".", "다.")), (lang, d)  # the area's name is inside a sentence, not appended


def test_manual_alerts_carry_only_the_languages_written() -> None:
    f = Facts(
        "Alert",
        "Exercise",
        HOK,
        manual={"ja-JP": "ミサイル発射。避難して下さい。"},
    )
    ja = info_text(f, "ja-JP")
    assert ja.description == "【訓練】ミサイル発射。避難して下さい。"
    assert info_text(f, "en-US").description == "[EXERCISE] "  # no text: the renderer leaves it out


def test_langs_lead_with_the_public_language() -> None:
    assert langs_for("KR")[0] == "ko-KR"
    assert langs_for("JP")[0] == "ja-JP"
    assert langs_for("US")[0] == "en-US"
