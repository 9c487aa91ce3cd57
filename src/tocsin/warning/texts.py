"""The words of a public warning in Japanese, Korean and English.

Pure functions from facts (message type, exercise or not, launch, expected
time, area names) to the text fields of one CAP ``info`` block per language.

Wording follows what the public already knows:

* Japanese follows the Cabinet Secretariat's J-Alert missile messages
  ("ミサイル発射。ミサイル発射。... 頑丈な建物や地下に避難してください。") and
  its guidance for people outdoors (go into a building or underground; if
  there is none, take cover or lie down and protect your head).
* Korean follows the Ministry of the Interior and Safety's civil-defence
  guidance (튼튼한 건물이나 지하로 대피).
* English is plain: take shelter in a sturdy building or underground.
* Sea zones get the mariners' instruction (watch for falling objects, do not
  approach debris, report it to the coast guard), as Japan's Coast Guard
  navigational warnings do after a launch.

Exercise and test alerts are unmistakable in every field a person reads:
headline and description start with 【訓練】/[훈련]/[EXERCISE] (or the test
equivalents), and the instruction ends with "this is not a real alert".
Times: Japan Standard Time / Korea Standard Time (UTC+9) in ja and ko, UTC in
en — each audience reads its own clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

Lang = Literal["ja-JP", "ko-KR", "en-US"]
LANGS: tuple[Lang, ...] = ("ja-JP", "ko-KR", "en-US")
#: each partner public's own language
HOME_LANG: dict[str, Lang] = {"JP": "ja-JP", "KR": "ko-KR", "US": "en-US"}


def langs_for(partner: str) -> tuple[Lang, ...]:
    """All three languages, the partner public's own first: a CAP reader that
    shows only the first ``info`` shows the one its public reads."""
    home = HOME_LANG.get(partner)
    return LANGS if home is None else (home, *(x for x in LANGS if x != home))


MsgType = Literal["Alert", "Update", "Cancel"]

_KST_JST = timezone(timedelta(hours=9))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the text says, independent of language."""

    msg_type: MsgType
    status: str  # Actual | Exercise | Test
    area_names: dict[Lang, list[str]]
    onset: float | None = None
    launch_t: float | None = None
    launch_lat: float | None = None
    launch_lon: float | None = None
    impact_t: float | None = None
    #: "impact" (areas may be hit), "overflight" (only passing over), "mixed"
    kind: Literal["impact", "overflight", "mixed", "manual"] = "mixed"
    reason: str = ""  # Cancel: "impact" | "no-threat" | "lost" | "manual"
    manual_text: str = ""
    #: kinds of the warned areas ("land", "sea"): sea zones get the mariners' instruction
    area_kinds: frozenset[str] = frozenset({"land"})


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

_SHELTER = {
    "ja-JP": (
        "頑丈な建物や地下に避難してください。屋外にいる場合は、直ちに近くの頑丈な建物の中か"
        "地下に避難してください。近くに適当な建物がない場合は、物陰に身を隠すか地面に伏せて"
        "頭部を守ってください。屋内では窓から離れてください。"
    ),
    "ko-KR": (
        "튼튼한 건물 안이나 지하로 대피하십시오. 야외에 있으면 즉시 가까운 튼튼한 건물이나 "
        "지하시설로 이동하십시오. 주변에 적당한 건물이 없으면 물체 뒤에 몸을 숨기거나 땅에 "
        "엎드려 머리를 보호하십시오. 실내에서는 창문에서 떨어지십시오."
    ),
    "en-US": (
        "Take shelter in a sturdy building or underground now. If you are outdoors, go "
        "immediately into the nearest sturdy building or underground. If there is no building "
        "nearby, take cover behind something solid or lie flat on the ground and protect your "
        "head. Indoors, stay away from windows."
    ),
}

_MARINERS = {
    "ja-JP": (
        "付近の船舶は落下物に十分注意してください。落下物を発見した場合は決して近寄らず、"
        "直ちに海上保安庁に通報してください。"
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

_ALL_CLEAR_INSTR = {
    "ja-JP": (
        "今後の情報に注意してください。不審な物を発見した場合は、決して近寄らず、"
        "直ちに警察や消防などに連絡してください。"
    ),
    "ko-KR": (
        "앞으로의 정보에 주의하십시오. 수상한 물체를 발견하면 절대 가까이 가지 말고 "
        "즉시 경찰이나 소방서에 신고하십시오."
    ),
    "en-US": (
        "Stay tuned for further information. If you find any suspicious object, do not "
        "approach it; report it to the police or fire service at once."
    ),
}

_SEP = {"ja-JP": "、", "ko-KR": ", ", "en-US": ", "}
_NONE = {"ja-JP": "（対象地域なし）", "ko-KR": "(대상 지역 없음)", "en-US": "(no area)"}


def _clock(t: float, lang: Lang) -> str:
    if lang == "en-US":
        return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S UTC")
    d = datetime.fromtimestamp(t, _KST_JST)
    if lang == "ja-JP":
        return d.strftime("%H時%M分%S秒") + "（日本時間）"
    return d.strftime("%H시 %M분 %S초") + " (한국시간)"


def _place(lat: float, lon: float, lang: Lang) -> str:
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    core = f"{abs(lat):.1f}°{ns} {abs(lon):.1f}°{ew}"
    if lang == "ja-JP":
        return f"{core}付近"
    if lang == "ko-KR":
        return f"{core} 부근"
    return f"near {core}"


def area_list(names: list[str], lang: Lang, limit: int = 12) -> str:
    """Area names joined the way each language lists them, shortened past ``limit``."""
    if not names:
        return _NONE[lang]
    shown = names[:limit]
    rest = len(names) - len(shown)
    s = _SEP[lang].join(shown)
    if rest > 0:
        s += {"ja-JP": f" ほか{rest}地域", "ko-KR": f" 외 {rest}개 지역", "en-US": f" and {rest} more"}[lang]
    return s


def _description(f: Facts, lang: Lang) -> str:
    names = area_list(f.area_names.get(lang, []), lang)
    launched = ""
    if f.launch_lat is not None and f.launch_lon is not None:
        where = _place(f.launch_lat, f.launch_lon, lang)
        when = _clock(f.launch_t, lang) if f.launch_t is not None else ""
        launched = {
            "ja-JP": f"{when}ごろ、{where}から弾道ミサイルが発射された模様です。",
            "ko-KR": f"{when}경 {where}에서 탄도미사일이 발사된 것으로 보입니다.",
            "en-US": f"A ballistic missile appears to have been launched {where}"
            + (f" at about {when}" if when else "")
            + ".",
        }[lang]
    else:
        launched = {
            "ja-JP": "弾道ミサイルが発射された模様です。",
            "ko-KR": "탄도미사일이 발사된 것으로 보입니다.",
            "en-US": "A ballistic missile appears to have been launched.",
        }[lang]
    if f.msg_type == "Cancel":
        body = {
            "impact": {
                "ja-JP": "ミサイルは既に落下した模様です。この警報を解除します。",
                "ko-KR": "미사일은 이미 낙하한 것으로 보입니다. 이 경보를 해제합니다.",
                "en-US": "The missile appears to have come down. This alert is cancelled.",
            },
            "no-threat": {
                "ja-JP": "以下の地域への脅威はなくなりました。この警報を解除します。",
                "ko-KR": "다음 지역에 대한 위협은 사라졌습니다. 이 경보를 해제합니다.",
                "en-US": "The areas below are no longer at risk. This alert is cancelled.",
            },
            "lost": {
                "ja-JP": "ミサイルの追跡情報が途絶えました。この警報を解除しますが、"
                "今後の情報に注意してください。",
                "ko-KR": "미사일 추적 정보가 끊겼습니다. 이 경보를 해제하지만 앞으로의 정보에 주의하십시오.",
                "en-US": "Tracking of the missile has ended. This alert is cancelled; stay alert for "
                "further information.",
            },
            "manual": {
                "ja-JP": "担当者によりこの警報は取り消されました。",
                "ko-KR": "담당자가 이 경보를 취소했습니다.",
                "en-US": "This alert has been withdrawn by the duty officers.",
            },
        }.get(f.reason or "no-threat", {})
        return launched + body.get(lang, "") + " " + names
    if f.kind == "manual":
        return f.manual_text.strip() + " " + names
    when = _clock(f.onset, lang) if f.onset is not None else ""
    if f.kind == "overflight":
        what = {
            "ja-JP": f"{when}ごろ、以下の地域の上空を通過する可能性があります：{names}。",
            "ko-KR": f"{when}경 다음 지역 상공을 통과할 가능성이 있습니다: {names}.",
            "en-US": f"It may pass over the following areas from about {when}: {names}.",
        }
    else:
        what = {
            "ja-JP": f"{when}ごろから、以下の地域に落下または上空を通過する可能性があります：{names}。",
            "ko-KR": f"{when}경부터 다음 지역에 낙하하거나 상공을 통과할 가능성이 있습니다: {names}.",
            "en-US": f"It may come down on or pass over the following areas from about {when}: {names}.",
        }
    upd = {
        "ja-JP": "【続報】予測が更新されました。" if f.msg_type == "Update" else "",
        "ko-KR": "[후속 정보] 예측이 갱신되었습니다. " if f.msg_type == "Update" else "",
        "en-US": "Update: the prediction has changed. " if f.msg_type == "Update" else "",
    }
    return upd[lang] + launched + (" " if lang != "ja-JP" else "") + what[lang]


def _headline(f: Facts, lang: Lang) -> str:
    if f.msg_type == "Cancel":
        h = {
            "ja-JP": "ミサイル情報 解除",
            "ko-KR": "미사일 경보 해제",
            "en-US": "Missile alert cancelled",
        }[lang]
    elif f.msg_type == "Update":
        h = {
            "ja-JP": "ミサイル発射情報（続報）",
            "ko-KR": "미사일 발사 경보 (후속)",
            "en-US": "Missile launch alert (update)",
        }[lang]
    else:
        h = {
            "ja-JP": "ミサイル発射。ミサイル発射。",
            "ko-KR": "미사일 발사 경보",
            "en-US": "Missile launch: take shelter now",
        }[lang]
    return _TAG.get(f.status, {}).get(lang, "") + h


def info_text(f: Facts, lang: Lang) -> InfoText:
    """The text fields of one ``info`` block."""
    tag = _TAG.get(f.status, {}).get(lang, "")
    if f.msg_type == "Cancel":
        instr = _ALL_CLEAR_INSTR[lang]
    elif f.area_kinds == frozenset({"sea"}):
        instr = _MARINERS[lang]
    elif "sea" in f.area_kinds:
        instr = _SHELTER[lang] + " " + _MARINERS[lang]
    else:
        instr = _SHELTER[lang]
    not_real = _NOT_REAL.get(f.status, {}).get(lang)
    if not_real:
        instr = instr + " " + not_real
    return InfoText(
        language=lang,
        event=_EVENT[lang],
        headline=_headline(f, lang),
        description=tag + _description(f, lang),
        instruction=instr,
        sender_name=_SENDER[lang],
        area_desc=area_list(f.area_names.get(lang, []), lang, limit=1000),
    )


__all__ = ["LANGS", "Facts", "InfoText", "Lang", "MsgType", "area_list", "info_text"]
