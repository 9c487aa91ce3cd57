"""Names of Korean si/gun/gu in English and Japanese, derived from the Hangul name.

Build time only (``scripts/build_areas.py``). Two transcriptions of one sound model:

- ``romanize(stem)``: the Revised Romanization of Korean (Ministry of Culture and
  Tourism notice 2000-8), the system of every official English place name:
  sound changes between syllables (Jongno, Silla, Wangsimni, Gangneung, Miryang,
  Cheorwon) but no aspiration after k/t/p in nouns (Mukho); the administrative
  suffix joined by a hyphen without sound change (Jongno-gu).
- ``katakana(stem)``: the usual Japanese transcription of the pronunciation (as NHK
  writes Korean place names: スウォン, ピョンテク, チョンノ): g/d/b/j unvoiced at the
  start of a word and voiced between voiced sounds, ㅓ and ㅗ both オ, final k/p/l
  as ク/プ/ル, final n/ng as ン.

Both are pinned by a table of official names in ``tests/warning/test_areas.py``
(through the built data).
"""

from __future__ import annotations

# Hangul syllable = 0xAC00 + (L * 21 + V) * 28 + T
_L = ["g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h"]
_V = [
    "a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae",
    "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i",
]  # fmt: skip
# final consonant: (sound at the end of a syllable, consonant carried to a following
# vowel-initial syllable (liaison), what stays when a cluster splits)
_T: list[tuple[str, str, str]] = [
    ("", "", ""),
    ("k", "g", ""),  # ㄱ
    ("k", "kk", ""),  # ㄲ
    ("k", "s", "k"),  # ㄳ
    ("n", "n", ""),  # ㄴ
    ("n", "j", "n"),  # ㄵ
    ("n", "", "n"),  # ㄶ
    ("t", "d", ""),  # ㄷ
    ("l", "r", ""),  # ㄹ
    ("k", "g", "l"),  # ㄺ
    ("m", "m", "l"),  # ㄻ
    ("l", "b", "l"),  # ㄼ
    ("l", "s", "l"),  # ㄽ
    ("l", "t", "l"),  # ㄾ
    ("p", "p", "l"),  # ㄿ
    ("l", "", "l"),  # ㅀ
    ("m", "m", ""),  # ㅁ
    ("p", "b", ""),  # ㅂ
    ("p", "s", "p"),  # ㅄ
    ("t", "s", ""),  # ㅅ
    ("t", "ss", ""),  # ㅆ
    ("ng", "ng", "ng"),  # ㅇ (stays final before a vowel)
    ("t", "j", ""),  # ㅈ
    ("t", "ch", ""),  # ㅊ
    ("k", "k", ""),  # ㅋ
    ("t", "t", ""),  # ㅌ
    ("p", "p", ""),  # ㅍ
    ("t", "", ""),  # ㅎ
]


def _syllables(word: str) -> list[list[str]]:
    """[initial, vowel, final] per syllable after the sound changes between them."""
    raw: list[tuple[str, str, int]] = []
    for ch in word:
        code = ord(ch) - 0xAC00
        if not 0 <= code < 11172:
            raise ValueError(f"not a Hangul syllable: {ch!r} in {word!r}")
        raw.append((_L[code // 588], _V[(code % 588) // 28], code % 28))
    out = [[ini, vow, _T[t][0]] for ini, vow, t in raw]
    for i in range(len(out) - 1):
        t = raw[i][2]
        f, nxt = out[i][2], out[i + 1][0]
        if t and nxt == "" and _T[t][0] != "ng":  # liaison: the final moves to the vowel
            out[i][2] = _T[t][2] if _T[t][2] != "ng" else ""
            out[i + 1][0] = _T[t][1]
            continue
        if f == "k" and nxt in ("n", "m"):
            out[i][2] = "ng"
        elif f == "k" and nxt == "r":
            out[i][2], out[i + 1][0] = "ng", "n"
        elif f == "t" and nxt in ("n", "m"):
            out[i][2] = "n"
        elif f == "t" and nxt == "r":
            out[i][2], out[i + 1][0] = "n", "n"
        elif f == "p" and nxt in ("n", "m"):
            out[i][2] = "m"
        elif f == "p" and nxt == "r":
            out[i][2], out[i + 1][0] = "m", "n"
        elif f in ("m", "ng") and nxt == "r":
            out[i + 1][0] = "n"
        elif f == "n" and nxt == "r":
            out[i][2], out[i + 1][0] = "l", "l"
        elif f == "l" and nxt in ("n", "r"):
            out[i + 1][0] = "l"
    return out


def romanize(word: str) -> str:
    """Revised Romanization of a Hangul word, capitalised (``종로`` -> ``Jongno``)."""
    parts: list[str] = []
    for ini, vow, fin in _syllables(word):
        parts.append(ini + vow + fin)
    text = "".join(parts)
    return text[:1].upper() + text[1:]


_COLUMN = {"a": 0, "i": 1, "u": 2, "e": 3, "o": 4}
_ROWS = {
    "k": "カキクケコ",
    "g": "ガギグゲゴ",
    "s": "サシスセソ",
    "z": "ザジズゼゾ",
    "n": "ナニヌネノ",
    "h": "ハヒフヘホ",
    "m": "マミムメモ",
    "r": "ラリルレロ",
    "p": "パピプペポ",
    "b": "バビブベボ",
    "": "アイウエオ",
}
# consonants that do not fit a plain kana row
_SPECIAL = {
    ("t", "a"): "タ", ("t", "i"): "ティ", ("t", "u"): "トゥ", ("t", "e"): "テ", ("t", "o"): "ト",
    ("d", "a"): "ダ", ("d", "i"): "ディ", ("d", "u"): "ドゥ", ("d", "e"): "デ", ("d", "o"): "ド",
    ("ch", "a"): "チャ", ("ch", "i"): "チ", ("ch", "u"): "チュ", ("ch", "e"): "チェ", ("ch", "o"): "チョ",
    ("j", "a"): "ジャ", ("j", "i"): "ジ", ("j", "u"): "ジュ", ("j", "e"): "ジェ", ("j", "o"): "ジョ",
}  # fmt: skip
# vowel -> (glide, base vowel)
_VK = {
    "a": ("", "a"), "ae": ("", "e"), "ya": ("y", "a"), "yae": ("y", "e"), "eo": ("", "o"),
    "e": ("", "e"), "yeo": ("y", "o"), "ye": ("y", "e"), "o": ("", "o"), "wa": ("w", "a"),
    "wae": ("w", "e"), "oe": ("w", "e"), "yo": ("y", "o"), "u": ("", "u"), "wo": ("w", "o"),
    "we": ("w", "e"), "wi": ("w", "i"), "yu": ("y", "u"), "eu": ("", "u"), "ui": ("ui", "i"), "i": ("", "i"),
}  # fmt: skip
_SMALL = {"a": "ァ", "i": "ィ", "u": "ゥ", "e": "ェ", "o": "ォ"}
_SMALL_Y = {"a": "ャ", "u": "ュ", "o": "ョ"}
_FINAL_KANA = {"": "", "k": "ク", "n": "ン", "ng": "ン", "t": "ッ", "l": "ル", "m": "ム", "p": "プ"}


def _kana(cons: str, vowel: str) -> str:
    glide, base = _VK[vowel]
    if glide == "" and (cons, base) in _SPECIAL:
        return _SPECIAL[(cons, base)]
    if glide == "":
        return _ROWS[cons][_COLUMN[base]]
    if glide == "ui":  # 의 ウィ, 희 ヒ
        return "ウィ" if cons == "" else _ROWS.get(cons, _ROWS["k"])[_COLUMN["i"]]
    if glide == "y":
        if cons == "":
            return {"a": "ヤ", "u": "ユ", "o": "ヨ", "e": "イェ"}[base]
        if base == "e":  # 계 ケ, 례 レ
            return _kana(cons, "e")
        stem = {"ch": "チ", "j": "ジ", "t": "チ", "d": "ジ"}.get(cons) or _ROWS[cons][_COLUMN["i"]]
        return stem + _SMALL_Y[base]
    # w-glide
    if cons == "":
        return {"a": "ワ", "e": "ウェ", "o": "ウォ", "i": "ウィ"}[base]
    if cons == "h":
        return "フ" + _SMALL[base]
    stem = {"ch": "チュ", "j": "ジュ", "t": "トゥ", "d": "ドゥ"}.get(cons) or _ROWS[cons][_COLUMN["u"]]
    return stem + _SMALL[base]


def katakana(word: str) -> str:
    """Katakana transcription of the pronunciation of a Hangul word (``평택`` -> ``ピョンテク``)."""
    out: list[str] = []
    prev_final: str | None = None  # None: start of the word
    for ini, vow, fin in _syllables(word):
        voiced_env = prev_final is not None and prev_final in ("", "n", "ng", "m", "l")
        cons = ini
        tense = cons in ("kk", "tt", "pp", "ss", "jj")
        if tense:
            cons = {"kk": "k", "tt": "t", "pp": "p", "ss": "s", "jj": "ch"}[cons]
            if prev_final is not None and prev_final not in ("k", "t", "p"):
                out.append("ッ")
        elif cons in ("g", "d", "b", "j"):
            if not voiced_env:
                cons = {"g": "k", "d": "t", "b": "p", "j": "ch"}[cons]
        elif cons == "l":
            cons = "r"
        out.append(_kana(cons, vow))
        out.append(_FINAL_KANA[fin])
        prev_final = fin
    return "".join(out)


__all__ = ["katakana", "romanize"]
