"""The words of a public warning in Japanese, Korean and English.

Pure functions from facts (message type and stage, exercise or not, where the
launch came from, the area and its own expected time, why a warning ends) to
the text fields of one CAP ``info`` block per language. Each automatic message
is about one area (``tocsin.warning.lifecycle``): it names that area in its
sentences and gives that area's own time.

Wording follows what each public already knows (sources and the review in
``docs/warning.md``, section 4):

* **Japanese** follows the Cabinet Secretariat's J-Alert ballistic-missile
  messages, stage by stage: launch and shelter (「ミサイル発射。ミサイル発射。
  北朝鮮からミサイルが発射されたものとみられます。建物の中、又は地下に避難して下さい。」),
  a possible fall here (「直ちに避難。直ちに避難。」), passed over (「ミサイル通過。
  ミサイル通過。」 with the instruction about suspicious objects), where it fell
  (落下情報), and the correction of 2023-04-13 (the possibility of a fall
  "no longer exists").
* **Korean** uses the civil-defence terms the public knows: 경계경보 (alert:
  an attack is expected; the missile may pass over), 공습경보 (air raid: it may
  come down here), 해제 (all clear), 오발령 (issued in error, the 2023-05-31
  correction); and, as the Ministry of the Interior and Safety's 2023 reform
  asks, every message says why (a missile from where) and where to go (the
  nearest underground shelter or a sturdy building).
* **English** follows IPAWS/WEA practice for the US public: short, plain,
  what / where / when / what to do ("Take shelter now in a sturdy building or
  underground").
* Sea zones get the mariners' instruction (watch for falling objects, do not
  approach debris, report it to the coast guard), as Japan's Coast Guard
  navigational warnings do; land areas the shelter instruction.

Times are the reader's: local time of the area (JST/KST; a US public its own
zone), rounded to the minute and said as "about". Exercise and test messages
are unmistakable in every field a person reads: headline and description
start with 【訓練】/[훈련]/[EXERCISE] (or the test equivalents), and the
instruction ends with "this is not a real alert".

Manual alerts carry the operators' own text per language (or a three-language
template, :mod:`tocsin.warning.manual`): a language without a text is left out
of the document, never filled with another language's words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from tocsin.warning.lifecycle import CloseReason, Instruction

Lang = Literal["ja-JP", "ko-KR", "en-US"]
LANGS: tuple[Lang, ...] = ("ja-JP", "ko-KR", "en-US")
#: each partner public's own language
HOME_LANG: dict[str, Lang] = {"JP": "ja-JP", "KR": "ko-KR", "US": "en-US"}
#: the local time zone of each country's areas (IANA); a release may name its own
COUNTRY_TZ: dict[str, str] = {"JP": "Asia/Tokyo", "KR": "Asia/Seoul"}
DEFAULT_TZ = "Asia/Tokyo"

#: a name in each language (an area, a launch origin, a place where it fell)
Names = Mapping[Lang, str]


def langs_for(partner: str) -> tuple[Lang, ...]:
    """All three languages, the partner public's own first: a CAP reader that
    shows only the first ``info`` shows the one its public reads."""
    home = HOME_LANG.get(partner)
    return LANGS if home is None else (home, *(x for x in LANGS if x != home))


MsgType = Literal["Alert", "Update", "Cancel"]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the text says, independent of language.

    ``area_names``: the area(s) the message is for, per language (one for an
    automatic message). An Alert or Update carries ``instruction`` (and
    ``onset``, the area's own expected time); a close carries ``close`` (why
    it ends) and ``previous`` (the instruction it lifts)."""

    msg_type: MsgType
    status: str  # Actual | Exercise | Test
    area_names: Mapping[Lang, list[str]]
    instruction: Instruction = "shelter"
    close: CloseReason | None = None
    previous: Instruction | None = None
    onset: float | None = None
    #: the readers' time zone (IANA name)
    tz: str = DEFAULT_TZ
    #: where the launch came from (a country or sea), per language; else the coordinates below
    origin: Names | None = None
    launch_lat: float | None = None
    launch_lon: float | None = None
    #: tracking lost at / the latest time it could arrive (instruction or close "lost")
    lost_t: float | None = None
    until: float | None = None
    #: close "fell": when and where
    fall_t: float | None = None
    fall_place: Names | None = None
    #: kinds of the warned areas ("land", "sea"): sea zones get the mariners' instruction
    area_kinds: frozenset[str] = frozenset({"land"})
    #: a manual alert: the operators' text per language (a language without one is left out)
    manual: Mapping[Lang, str] | None = None
    #: a manual alert's headline per language (a template's), else a generic one
    manual_headline: Mapping[Lang, str] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class InfoText:
    language: Lang
    event: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    area_desc: str


_SENDER = {
    "ja-JP": "tocsin 国際早期警戒情報",
    "ko-KR": "tocsin 국제 조기경보",
    "en-US": "tocsin allied early warning",
}

_EVENT = {"ja-JP": "弾道ミサイル発射", "ko-KR": "탄도미사일 발사", "en-US": "Ballistic missile launch"}

_TAG = {
    "Exercise": {"ja-JP": "【訓練】", "ko-KR": "[훈련] ", "en-US": "[EXERCISE] "},
    "Test": {"ja-JP": "【試験】", "ko-KR": "[시험] ", "en-US": "[TEST] "},
}

_NOT_REAL = {
    "Exercise": {
        "ja-JP": "これは訓練です。実際の警報ではありません。",
        "ko-KR": "이것은 훈련입니다. 실제 경보가 아닙니다.",
        "en-US": "This is an exercise. It is not a real alert.",
    },
    "Test": {
        "ja-JP": "これは試験です。実際の警報ではありません。",
        "ko-KR": "이것은 시험입니다. 실제 경보가 아닙니다.",
        "en-US": "This is a test. It is not a real alert.",
    },
}

# ---------------------------------------------------------------- instructions

_SHELTER = {
    "ja-JP": (
        "建物の中、又は地下に避難して下さい。屋外にいる場合は、直ちに近くの頑丈な建物の中か"
        "地下に避難して下さい。近くに適当な建物がない場合は、物陰に身を隠すか地面に伏せて"
        "頭部を守って下さい。屋内では窓から離れて下さい。"
    ),
    "ko-KR": (
        "가까운 지하 대피시설이나 튼튼한 건물 안으로 대피하십시오. 야외에 있으면 즉시 가까운 "
        "지하시설이나 튼튼한 건물로 이동하십시오. 주변에 적당한 건물이 없으면 물체 뒤에 몸을 "
        "숨기거나 땅에 엎드려 머리를 보호하십시오. 실내에서는 창문에서 떨어지십시오."
    ),
    "en-US": (
        "Take shelter now in a sturdy building or underground. If you are outdoors, go "
        "immediately into the nearest sturdy building or underground. If there is no building "
        "nearby, take cover behind something solid or lie flat on the ground and protect your "
        "head. Indoors, stay away from windows."
    ),
}

_FALL = {
    "ja-JP": (
        "直ちに頑丈な建物や地下に避難して下さい。近くに適当な建物がない場合は、物陰に身を隠すか"
        "地面に伏せて頭部を守って下さい。屋内では窓から離れて下さい。"
    ),
    "ko-KR": (
        "즉시 가까운 지하 대피시설로 대피하십시오. 지하시설이 없으면 튼튼한 건물 안으로 들어가 "
        "창문에서 떨어지십시오. 주변에 건물이 없으면 땅에 엎드려 머리를 보호하십시오."
    ),
    "en-US": (
        "Take shelter immediately underground or in the inner rooms of a sturdy building. If there "
        "is no building nearby, lie flat on the ground and protect your head. Stay away from windows."
    ),
}

_MARINERS = {
    "ja-JP": (
        "付近の船舶は落下物に十分注意して下さい。落下物を発見した場合は決して近寄らず、"
        "直ちに海上保安庁に通報して下さい。"
    ),
    "ko-KR": (
        "인근 해역의 선박은 낙하물에 각별히 주의하십시오. 낙하물을 발견하면 절대 접근하지 말고 "
        "즉시 해양경찰에 신고하십시오."
    ),
    "en-US": (
        "Vessels in these waters: watch for falling objects. Do not approach any debris; "
        "report it to the coast guard at once."
    ),
}

_SUSPICIOUS = {
    "ja-JP": "不審な物を発見した場合には、決して近寄らず、直ちに警察や消防などに連絡して下さい。",
    "ko-KR": "수상한 물체를 발견하면 절대 가까이 가지 말고 즉시 경찰이나 소방서에 신고하십시오.",
    "en-US": "If you find any suspicious object, do not approach it; call the police or fire service "
    "at once.",
}

_SUSPICIOUS_SEA = {
    "ja-JP": "落下物を発見した場合は決して近寄らず、直ちに海上保安庁に通報して下さい。",
    "ko-KR": "낙하물을 발견하면 절대 접근하지 말고 즉시 해양경찰에 신고하십시오.",
    "en-US": "If you find any debris, do not approach it; report it to the coast guard at once.",
}

_NO_NEED = {
    "ja-JP": "避難の必要はありません。今後の情報に注意して下さい。",
    "ko-KR": "대피할 필요가 없습니다. 앞으로의 안내에 주의하십시오.",
    "en-US": "You do not need to take shelter. Stay tuned for further information.",
}

_SEP = {"ja-JP": "、", "ko-KR": ", ", "en-US": ", "}
_NONE = {"ja-JP": "（対象地域なし）", "ko-KR": "(대상 지역 없음)", "en-US": "(no area)"}


# ---------------------------------------------------------------- time and place


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def round_minute(t: float) -> float:
    """``t`` rounded to the nearest whole minute (half a minute rounds up)."""
    return math.floor(t / 60.0 + 0.5) * 60.0


def clock(t: float, lang: Lang, tz: str = DEFAULT_TZ) -> str:
    """The local time of ``t`` in zone ``tz``, rounded to the minute, as each
    language says "at about": ``6時5分ごろ`` / ``6시 5분경`` / ``about 06:05 JST``."""
    d = datetime.fromtimestamp(round_minute(t), _zone(tz))
    if lang == "ja-JP":
        return f"{d.hour}時{d.minute}分ごろ"
    if lang == "ko-KR":
        return f"{d.hour}시 {d.minute}분경"
    return f"about {d:%H:%M} {d.tzname() or tz}"


def coordinates(lat: float, lon: float, lang: Lang) -> str:
    """A point as each language writes it (when there is no name for it)."""
    ns_ja, ew_ja = ("北緯", "東経") if lon >= 0 else ("北緯", "西経")
    if lat < 0:
        ns_ja = "南緯"
    if lang == "ja-JP":
        return f"{ns_ja}{abs(lat):.1f}度、{ew_ja}{abs(lon):.1f}度付近"
    if lang == "ko-KR":
        ns, ew = ("북위" if lat >= 0 else "남위"), ("동경" if lon >= 0 else "서경")
        return f"{ns} {abs(lat):.1f}도, {ew} {abs(lon):.1f}도 부근"
    return f"near {abs(lat):.1f}°{'N' if lat >= 0 else 'S'} {abs(lon):.1f}°{'E' if lon >= 0 else 'W'}"


def area_list(names: list[str], lang: Lang, limit: int = 12) -> str:
    """Area names joined the way each language lists them, shortened past ``limit``."""
    if not names:
        return _NONE[lang]
    shown = names[:limit]
    rest = len(names) - len(shown)
    s = _SEP[lang].join(shown)
    if rest > 0:
        s += {"ja-JP": f"ほか{rest}地域", "ko-KR": f" 외 {rest}개 지역", "en-US": f" and {rest} more"}[lang]
    return s


def _origin(f: Facts, lang: Lang) -> str:
    """Where the launch came from, as the subject of "was launched from ..."."""
    if f.origin is not None and f.origin.get(lang):
        return f.origin[lang]
    if f.launch_lat is not None and f.launch_lon is not None:
        return coordinates(f.launch_lat, f.launch_lon, lang)
    return ""


def _launched(f: Facts, lang: Lang) -> str:
    """The sentence that says a missile was launched, and from where."""
    o = _origin(f, lang)
    if lang == "ja-JP":
        return (
            f"{o}からミサイルが発射されたものとみられます。"
            if o
            else "ミサイルが発射されたものとみられます。"
        )
    if lang == "ko-KR":
        return (
            f"{o}에서 탄도미사일이 발사된 것으로 보입니다." if o else "탄도미사일이 발사된 것으로 보입니다."
        )
    return (
        f"A ballistic missile appears to have been launched from {o}."
        if o and not o.startswith("near ")
        else f"A ballistic missile appears to have been launched{' ' + o if o else ''}."
    )


def _when(f: Facts, t: float | None, lang: Lang) -> str:
    return clock(t, lang, f.tz) if t is not None else ""


# ---------------------------------------------------------------- the message stages


def _korean_level(instr: Instruction | None) -> str:
    """공습경보 (air raid: it may come down here) or 경계경보 (alert)."""
    return "공습경보" if instr == "fall" else "경계경보"


def _headline(f: Facts, lang: Lang) -> str:
    """Without the exercise tag."""
    sea = f.area_kinds == frozenset({"sea"})
    if f.manual is not None:
        if f.manual_headline is not None and f.manual_headline.get(lang):
            return f.manual_headline[lang]
        return {
            "ja-JP": "緊急情報" if f.msg_type != "Cancel" else "緊急情報 取消",
            "ko-KR": "긴급 안내" if f.msg_type != "Cancel" else "긴급 안내 취소",
            "en-US": "Emergency alert" if f.msg_type != "Cancel" else "Emergency alert withdrawn",
        }[lang]
    if f.close is not None:
        lvl = _korean_level(f.previous)
        if f.previous == "debris" and f.close in ("fell", "expired", "lost"):
            return {
                "ja-JP": "落下物情報（落下）",
                "ko-KR": f"[{lvl} 해제] 발사체 잔해 낙하",
                "en-US": "All clear: the missile parts have come down",
            }[lang]
        return {
            "passed": {
                "ja-JP": "ミサイル通過。ミサイル通過。",
                "ko-KR": f"[{lvl} 해제] 미사일 통과",
                "en-US": "All clear: the missile has passed",
            },
            "fell": {
                "ja-JP": "ミサイル落下情報",
                "ko-KR": f"[{lvl} 해제] 미사일 낙하",
                "en-US": "All clear: the missile has come down",
            },
            "lost": {
                "ja-JP": "ミサイル情報 解除（追跡途絶）",
                "ko-KR": f"[{lvl} 해제] 미사일 추적 중단",
                "en-US": "All clear: missile tracking lost, danger time has passed",
            },
            "expired": {
                "ja-JP": "ミサイル情報 解除",
                "ko-KR": f"[{lvl} 해제]",
                "en-US": "All clear: missile alert ended",
            },
            "manual": {
                "ja-JP": "ミサイル情報 取消",
                "ko-KR": f"[{lvl} 취소]",
                "en-US": "Missile alert withdrawn",
            },
            "error": {
                "ja-JP": "ミサイル情報 訂正",
                "ko-KR": f"[정정] {lvl} 오발령",
                "en-US": "Correction: missile alert withdrawn",
            },
        }[f.close][lang]
    if f.instruction == "debris":
        return {
            "ja-JP": "落下物情報。ミサイルの部品が落下する可能性があります。",
            "ko-KR": "[경계경보] 발사체 잔해 낙하 가능",
            "en-US": "Falling missile parts: " + ("vessels, keep clear" if sea else "take shelter"),
        }[lang]
    if f.instruction == "lost":
        if f.msg_type == "Alert":
            # the first word this area hears (its story starts while tracking is
            # lost): nobody here has taken shelter yet, so "stay sheltered" would
            # tell them nothing to do
            if sea:
                return {
                    "ja-JP": "ミサイル情報（追跡途絶）。船舶は落下物に注意して下さい。",
                    "ko-KR": "[경계경보] 미사일 추적 중단, 선박 주의",
                    "en-US": "Missile alert: tracking lost, vessels, watch for falling objects",
                }[lang]
            return {
                "ja-JP": "ミサイル情報（追跡途絶）。直ちに避難して下さい。",
                "ko-KR": "[경계경보] 미사일 추적 중단, 즉시 대피",
                "en-US": "Missile alert: tracking lost, take shelter now",
            }[lang]
        return {
            "ja-JP": "ミサイル情報（追跡途絶）。避難を続けて下さい。",
            "ko-KR": "[경계경보 유지] 미사일 추적 중단, 대피 유지",
            "en-US": "Missile alert: tracking lost, stay sheltered",
        }[lang]
    if f.msg_type == "Update":
        return {
            "ja-JP": "ミサイル情報（続報）" if f.instruction != "fall" else "直ちに避難。直ちに避難。",
            "ko-KR": f"[{_korean_level(f.instruction)}] 미사일 정보 갱신",
            "en-US": "Missile alert update"
            + (": take shelter immediately" if f.instruction == "fall" else ""),
        }[lang]
    if f.instruction == "fall":
        return {
            "ja-JP": "直ちに避難。直ちに避難。",
            "ko-KR": "[공습경보] 미사일 낙하 가능, 즉시 대피",
            "en-US": "Missile may come down here: take shelter immediately",
        }[lang]
    if sea:
        return {
            "ja-JP": "ミサイル発射。ミサイル発射。",
            "ko-KR": "[경계경보] 탄도미사일 발사, 선박 주의",
            "en-US": "Missile launch: vessels, watch for falling objects",
        }[lang]
    return {
        "ja-JP": "ミサイル発射。ミサイル発射。",
        "ko-KR": "[경계경보] 탄도미사일 발사, 즉시 대피",
        "en-US": "Missile launch: take shelter now",
    }[lang]


def _area(f: Facts, lang: Lang) -> str:
    return area_list(list(f.area_names.get(lang, [])), lang)


def _description(f: Facts, lang: Lang) -> str:
    """Without the exercise tag."""
    area = _area(f, lang)
    if f.manual is not None:
        return f.manual.get(lang, "").strip()
    launched = _launched(f, lang)
    if f.close is not None:
        return _close_description(f, lang, area, launched)
    when = _when(f, f.onset, lang)
    if f.instruction == "lost":
        lost = _when(f, f.lost_t, lang)
        until = _when(f, f.until, lang)
        return {
            "ja-JP": f"{launched}{lost}、ミサイルの追跡が途絶えました。{until}まで、"
            f"{area}に落下する可能性があります。",
            "ko-KR": f"{launched} {lost} 미사일 추적이 중단되었습니다. {until}까지 {area}에 "
            "낙하할 가능성이 있습니다.",
            "en-US": f"{launched} Tracking of the missile was lost at {lost}. It could still "
            f"come down in {area} until {until}.",
        }[lang]
    what: dict[Lang, str]
    if f.instruction == "debris":
        what = {
            "ja-JP": f"{when}、ミサイルから切り離された部品（ロケットの段や破片）が{area}に"
            "落下する可能性があります。",
            "ko-KR": f"{when} 분리된 발사체 부품(추진체 단 또는 파편)이 {area}에 낙하할 가능성이 있습니다.",
            "en-US": "Parts separated from it (a spent rocket stage or debris) may come down in "
            f"{area} at {when}.",
        }
    elif f.instruction == "fall":
        what = {
            "ja-JP": f"{when}、{area}に落下する可能性があります。",
            "ko-KR": f"{when} {area}에 낙하할 가능성이 있습니다.",
            "en-US": f"It may come down in {area} at {when}.",
        }
    else:
        what = {
            "ja-JP": f"{when}、{area}の上空を通過する可能性があります。",
            "ko-KR": f"{when} {area} 상공을 통과할 가능성이 있습니다.",
            "en-US": f"It may pass over {area} at {when}.",
        }
    upd = ""
    if f.msg_type == "Update":
        upd = {
            "ja-JP": "予測が更新されました。",
            "ko-KR": "예측이 갱신되었습니다.",
            "en-US": "The prediction has changed.",
        }[lang]
    sep = "" if lang == "ja-JP" else " "
    return sep.join(s for s in (upd, launched, what[lang]) if s)


def _close_description(f: Facts, lang: Lang, area: str, launched: str) -> str:
    reason = f.close
    lvl = _korean_level(f.previous)
    if reason == "passed":
        return {
            "ja-JP": f"先程、{area}の上空をミサイルが通過した模様です。",
            "ko-KR": f"조금 전 {area} 상공을 미사일이 통과한 것으로 보입니다. {area}의 {lvl}를 해제합니다.",
            "en-US": f"The missile appears to have passed over {area}. "
            f"The missile alert for {area} has ended.",
        }[lang]
    if reason == "fell" and f.previous == "debris":
        when = _when(f, f.fall_t, lang)
        place = f.fall_place.get(lang, "") if f.fall_place is not None else ""
        at = {"ja-JP": f"{place}に" if place else "", "ko-KR": f"{place}에 " if place else "",
              "en-US": f"{place} " if place else ""}[lang]  # fmt: skip
        return {
            "ja-JP": f"先程のミサイルから切り離された部品は、{when}、{at}落下したものとみられます。"
            f"{area}への警戒を解除します。",
            "ko-KR": f"분리된 발사체 부품은 {when} {at}낙하한 것으로 보입니다. {area}의 {lvl}를 해제합니다.",
            "en-US": f"The parts separated from the missile appear to have come down {at}at {when}. "
            f"The alert for {area} has ended.",
        }[lang]
    if reason == "fell":
        when = _when(f, f.fall_t, lang)
        place = f.fall_place.get(lang, "") if f.fall_place is not None else ""
        if place:
            return {
                "ja-JP": f"先程のミサイルは、{when}、{place}に落下したものとみられます。"
                f"{area}への警戒を解除します。",
                "ko-KR": f"미사일은 {when} {place}에 낙하한 것으로 보입니다. {area}의 {lvl}를 해제합니다.",
                "en-US": f"The missile appears to have come down {place} at {when}. "
                f"The missile alert for {area} has ended.",
            }[lang]
        return {
            "ja-JP": f"先程のミサイルは、{when}に落下したものとみられます。{area}への警戒を解除します。",
            "ko-KR": f"미사일은 {when} 낙하한 것으로 보입니다. {area}의 {lvl}를 해제합니다.",
            "en-US": f"The missile appears to have come down at {when}. "
            f"The missile alert for {area} has ended.",
        }[lang]
    if reason == "lost":
        lost = _when(f, f.lost_t, lang)
        until = _when(f, f.until, lang)
        return {
            "ja-JP": f"ミサイルの追跡は{lost}に途絶えました。{area}に落下する可能性のあった時刻"
            f"（{until}）を過ぎましたので、警戒を解除します。",
            "ko-KR": f"미사일 추적은 {lost} 중단되었습니다. {area}에 낙하할 수 있었던 시각({until})이 "
            f"지났으므로 {lvl}를 해제합니다.",
            "en-US": f"Tracking of the missile was lost at {lost}. The last time it could have come "
            f"down in {area} ({until}) has passed. The missile alert for {area} has ended.",
        }[lang]
    if reason == "error":
        return {
            "ja-JP": f"訂正します。先程{area}に発表したミサイル情報は誤りでした。予測が更新され、"
            f"ミサイルが{area}に飛来する可能性はなくなりました。",
            "ko-KR": f"정정합니다. 앞서 {area}에 발령된 {lvl}는 오발령입니다. 예측이 갱신되어 "
            f"미사일이 {area}로 올 가능성은 없어졌습니다.",
            "en-US": f"Correction: the missile alert sent earlier to {area} was in error. The updated "
            f"prediction shows no missile threat to {area}.",
        }[lang]
    if reason == "manual":
        return {
            "ja-JP": f"{area}に発表したミサイル情報は、担当者により取り消されました。",
            "ko-KR": f"{area}에 발령된 {lvl}는 담당자가 취소했습니다.",
            "en-US": f"The missile alert for {area} has been withdrawn by the duty officers.",
        }[lang]
    return {
        "ja-JP": f"{area}へのミサイル情報を解除します。",
        "ko-KR": f"{area}의 {lvl}를 해제합니다.",
        "en-US": f"The missile alert for {area} has ended.",
    }[lang]


def _instruction(f: Facts, lang: Lang) -> str:
    sea_only = f.area_kinds == frozenset({"sea"})
    if f.close is not None or f.msg_type == "Cancel":
        if f.close == "error" or (f.manual is not None and f.msg_type == "Cancel"):
            return _NO_NEED[lang]
        return _SUSPICIOUS_SEA[lang] if sea_only else _SUSPICIOUS[lang]
    if f.instruction == "lost" and f.until is not None:
        until = _when(f, f.until, lang)
        stay = {
            "ja-JP": f"{until}まで、建物の中、又は地下への避難を続けて下さい。",
            "ko-KR": f"{until}까지 대피시설이나 튼튼한 건물 안에서 대피를 유지하십시오.",
            "en-US": f"Stay in shelter until {until} unless told otherwise.",
        }[lang]
        if f.msg_type == "Alert":
            # first told now: the whole instruction, then how long it holds
            sep = "" if lang == "ja-JP" else " "
            if sea_only:
                watch = {
                    "ja-JP": f"{until}まで、落下物に注意して下さい。",
                    "ko-KR": f"{until}까지 낙하물에 주의하십시오.",
                    "en-US": f"Keep watch until {until} unless told otherwise.",
                }[lang]
                return _MARINERS[lang] + sep + watch
            first = _SHELTER[lang] + (sep + _MARINERS[lang] if "sea" in f.area_kinds else "")
            return first + sep + stay
        if sea_only:
            return stay if lang != "en-US" else f"Vessels: keep watch for falling objects until {until}."
        return stay
    land = _FALL[lang] if f.instruction == "fall" else _SHELTER[lang]
    if f.instruction == "debris":  # and never touch what came down
        land = land + ("" if lang == "ja-JP" else " ") + _SUSPICIOUS[lang]
    if sea_only:
        return _MARINERS[lang]
    if "sea" in f.area_kinds:
        return land + " " + _MARINERS[lang]
    return land


def info_text(f: Facts, lang: Lang) -> InfoText:
    """The text fields of one ``info`` block."""
    tag = _TAG.get(f.status, {}).get(lang, "")
    instr = _instruction(f, lang)
    not_real = _NOT_REAL.get(f.status, {}).get(lang)
    if not_real:
        instr = instr + ("" if lang == "ja-JP" else " ") + not_real
    return InfoText(
        language=lang,
        event=_EVENT[lang],
        headline=tag + _headline(f, lang),
        description=tag + _description(f, lang),
        instruction=instr,
        sender_name=_SENDER[lang],
        area_desc=area_list(list(f.area_names.get(lang, [])), lang, limit=1000),
    )


__all__ = [
    "COUNTRY_TZ",
    "DEFAULT_TZ",
    "HOME_LANG",
    "LANGS",
    "Facts",
    "InfoText",
    "Lang",
    "MsgType",
    "Names",
    "area_list",
    "clock",
    "coordinates",
    "info_text",
    "langs_for",
    "round_minute",
]
