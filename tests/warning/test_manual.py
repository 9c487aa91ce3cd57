"""Manual alerts: two distinct authorised operators, audited, Actual only live."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from capparselib.parsers import CAPParser
from warnhelpers import FakeArea

from tocsin.errors import ConfigError
from tocsin.warning.cap import validate_cap
from tocsin.warning.manual import ManualAlertBook, ManualAlertError, ManualAlertStore
from tocsin.warning.mode import DrillMode, LiveAuthorisation, ReplayMode, authorise_live

AREAS = {
    "JP-01": FakeArea("JP-01", "land", "JP", "Hokkaido", "北海道", "홋카이도", shapely.box(140, 42, 145, 45)),
    "JP-02": FakeArea(
        "JP-02", "land", "JP", "Aomori", "青森県", "아오모리현", shapely.box(140, 40.3, 141.5, 41.5)
    ),
}


def _get(code: str) -> FakeArea:
    return AREAS[code]


def _book(mode: object = None) -> ManualAlertBook:
    return ManualAlertBook(["aoki", "baek"], mode, area=_get)  # type: ignore[arg-type]


TEXTS = {"ja-JP": " ミサイル発射。\n 避難して下さい。 ", "en-US": "  Missile launch.\n Take shelter. "}


def test_two_distinct_operators_issue_an_alert() -> None:
    book = _book()
    p, rec = book.propose("aoki", ["JP-02", "JP-01"], TEXTS, 100.0)
    assert p.areas == ("JP-01", "JP-02")
    assert p.text == "ミサイル発射。 避難して下さい。"  # the public's own language
    assert rec.action == "propose"
    assert book.alerts == []  # nothing sent on a proposal
    env, rec2 = book.confirm(p.id, "baek", 130.0)
    assert rec2.action == "confirm"
    assert rec2.prev == rec.hash
    b = env.body
    assert b.msg_type == "Alert"
    assert b.status == "Exercise"
    assert b.areas == ["JP-01", "JP-02"]
    assert validate_cap(b.cap) == []
    assert "Missile launch. Take shelter." in b.cap
    assert "EXERCISE" in b.cap
    assert book.pending == {}
    assert b.id == "local.JP.manual-1.1.0"
    # each language block carries its own text; Korean had none, so there is no Korean block
    langs = [i["cap_language"] for i in CAPParser(b.cap).as_dict()[0]["cap_info"]]
    assert [str(x) for x in langs] == ["ja-JP", "en-US"]
    assert "<sender>warning-jp@tocsin.example</sender>" in b.cap


def test_manual_text_is_never_pasted_into_another_language() -> None:
    book = _book()
    # an English text offered as the Japanese public's own: refused, not pasted
    with pytest.raises(ManualAlertError, match="ja-JP text has no Japanese"):
        book.propose("aoki", ["JP-01"], "Missile launch. Take shelter.", 1.0)
    with pytest.raises(ManualAlertError, match="ko-KR text has no Korean"):
        book.propose("aoki", ["JP-01"], {"ja-JP": "避難して下さい。", "ko-KR": "Take shelter."}, 1.0)
    # English only, for the Japanese public: its own language is missing
    with pytest.raises(ManualAlertError, match="public's own language"):
        book.propose("aoki", ["JP-01"], {"en-US": "Take shelter."}, 1.0)
    with pytest.raises(ManualAlertError, match="no language"):
        book.propose("aoki", ["JP-01"], {"fr-FR": "Abritez-vous."}, 1.0)
    with pytest.raises(ManualAlertError, match="unknown template"):
        book.propose("aoki", ["JP-01"], "", 1.0, template="nope")
    with pytest.raises(ManualAlertError, match="no text of its own"):
        book.propose("aoki", ["JP-01"], "x", 1.0, template="missile-launch")


def test_a_template_gives_all_three_languages() -> None:
    book = _book()
    p, _ = book.propose("aoki", ["JP-01", "JP-02"], "", 1.0, template="missile-launch")
    env, _ = book.confirm(p.id, "baek", 2.0)
    infos = CAPParser(env.body.cap).as_dict()[0]["cap_info"]
    by = {str(i["cap_language"]): i for i in infos}
    assert list(by) == ["ja-JP", "ko-KR", "en-US"]
    assert "北海道、青森県の上空を通過する可能性があります" in str(by["ja-JP"]["cap_description"])
    assert "홋카이도, 아오모리현 상공을" in str(by["ko-KR"]["cap_description"])
    assert "It may pass over Hokkaido, Aomori." in str(by["en-US"]["cap_description"])
    assert str(by["ja-JP"]["cap_headline"]).endswith("ミサイル発射。ミサイル発射。")
    assert validate_cap(env.body.cap) == []


@pytest.mark.parametrize(
    ("who", "why"),
    [("aoki", "two-person"), ("mallory", "not authorised")],
)
def test_refusals_are_audited(who: str, why: str) -> None:
    book = _book()
    p, _ = book.propose("aoki", ["JP-01"], "避難", 100.0)
    with pytest.raises(ManualAlertError, match=why) as ei:
        book.confirm(p.id, who, 101.0)
    assert ei.value.record.action == "refuse"
    assert book.audit[-1] == ei.value.record
    assert book.alerts == []
    assert p.id in book.pending


def test_bad_proposals_are_refused() -> None:
    book = _book()
    with pytest.raises(ManualAlertError, match="unknown area"):
        book.propose("aoki", ["JP-99"], "避難", 1.0)
    with pytest.raises(ManualAlertError, match="at least one area"):
        book.propose("aoki", [], "避難", 1.0)
    with pytest.raises(ManualAlertError, match="text"):
        book.propose("aoki", ["JP-01"], "   ", 1.0)
    with pytest.raises(ManualAlertError, match="not authorised"):
        book.propose("eve", ["JP-01"], "避難", 1.0)
    with pytest.raises(ManualAlertError, match="no pending"):
        book.confirm("P42", "baek", 2.0)
    assert [r.action for r in book.audit] == ["refuse"] * 5
    book.verify()


def test_actual_only_from_a_live_book() -> None:
    for mode, status in ((DrillMode(), "Exercise"), (ReplayMode(), "Test")):
        book = _book(mode)
        p, _ = book.propose("aoki", ["JP-01"], "避難", 1.0)
        env, _ = book.confirm(p.id, "baek", 2.0)
        assert env.body.status == status
    live = authorise_live(LiveAuthorisation("Director", "order 1", "warning@jp.example"))
    book = _book(live)
    p, _ = book.propose("aoki", ["JP-01"], "避難", 1.0)
    env, rec = book.confirm(p.id, "baek", 2.0)
    assert env.body.status == "Actual"
    assert rec.status == "Actual"
    assert "EXERCISE" not in env.body.cap


def test_cancel_needs_one_operator_and_references_the_alert() -> None:
    book = _book()
    p, _ = book.propose("aoki", ["JP-01"], "避難", 1.0)
    env, _ = book.confirm(p.id, "baek", 2.0)
    c, rec = book.cancel(env.body.id, "aoki", 3.0)
    assert c is not None
    assert c.body.msg_type == "Cancel"
    assert c.body.references == [env.body.id]
    assert validate_cap(c.body.cap) == []
    assert rec.action == "cancel"
    with pytest.raises(ManualAlertError, match="nothing to cancel"):
        book.cancel(env.body.id, "baek", 4.0)
    p2, _ = book.propose("aoki", ["JP-02"], "避難", 5.0)
    none, _ = book.cancel(p2.id, "aoki", 6.0)  # withdrawing a proposal sends nothing
    assert none is None
    assert p2.id not in book.pending


def test_store_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    store = ManualAlertStore(tmp_path)
    with store.open(_book()) as book:
        p, _ = book.propose("aoki", ["JP-01"], "避難", 1.0)
    with store.open(_book()) as book:
        book.confirm(p.id, "baek", 2.0)
    with store.open(_book()) as book:
        assert len(book.issued) == 1
        assert [r.action for r in book.audit] == ["propose", "confirm"]
    data = json.loads(store.path.read_text())
    data["audit"][0]["operator"] = "baek"  # rewrite history: the same person twice
    store.path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="altered"), store.open(_book()):
        pass


def test_a_drill_book_cannot_be_reused_live(tmp_path: Path) -> None:
    store = ManualAlertStore(tmp_path)
    with store.open(_book()) as book:
        book.propose("aoki", ["JP-01"], "避難", 1.0)
    live = authorise_live(LiveAuthorisation("Director", "order 1", "warning@jp.example"))
    with pytest.raises(ConfigError, match="drill"), store.open(_book(live)):
        pass


def test_cli_flow(tmp_path: Path) -> None:
    """propose / confirm by the same operator (refused, exit 1) / by another / list."""
    from tocsin.web.auth import OperatorStore

    (tmp_path / "policy.toml").write_text('operators = ["aoki", "baek"]\n')
    accounts = OperatorStore(tmp_path / "operators.json")
    pw = {"aoki": "aoki-password-1", "baek": "baek-password-2"}
    for name, secret in pw.items():
        accounts.add(name, secret)
    accounts.save()
    base = [sys.executable, "-m", "tocsin", "alert"]
    common = ["--state", str(tmp_path / "book"), "--policy", str(tmp_path / "policy.toml")]
    auth = [
        "--operators",
        str(tmp_path / "operators.json"),
    ]  # each step authenticates (tests/cli/test_alert_cli.py)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120, check=False)

    script = tmp_path / "steps.py"
    # one interpreter for the whole flow keeps the test fast; each step is a fresh `main()`
    script.write_text(
        "import os, sys\n"
        "from tocsin.cli import main\n"
        "codes = []\n"
        f"pw = {pw!r}\n"
        "for argv in "
        + repr(
            [
                [
                    "propose",
                    "--operator",
                    "aoki",
                    "--area",
                    "JP-01",
                    "--text-ja",
                    "ミサイル。避難。",
                    "--text-en",
                    "Missile. Shelter.",
                    "--at",
                    "10",
                    *auth,
                ],
                ["confirm", "P1", "--operator", "aoki", "--at", "11", *auth],
                ["confirm", "P1", "--operator", "baek", "--at", "12", *auth],
                ["list", "--audit"],
            ]
        )
        + ":\n"
        "    if '--operator' in argv:\n"
        "        os.environ['TOCSIN_OPERATOR_PASSWORD'] = pw[argv[argv.index('--operator') + 1]]\n"
        "    sys.argv = ['tocsin', 'alert', *argv, *" + repr(common) + "]\n"
        "    try:\n"
        "        main()\n"
        "        codes.append(0)\n"
        "    except SystemExit as e:\n"
        "        codes.append(int(e.code or 0))\n"
        "print('CODES', codes)\n"
    )
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert "CODES [0, 1, 0, 0]" in r.stdout, r.stdout + r.stderr
    assert "two-person rule" in r.stderr
    issued = re.search(r"issued (m[0-9a-f]{8}\.JP\.manual-1\.1\.0) \(Exercise\)", r.stdout)
    assert issued, r.stdout  # the book's own identity: no two books share alert ids
    ident = issued.group(1)
    assert "refuse by aoki P1" in r.stdout
    assert (tmp_path / "book" / f"{ident}.xml").exists()
    # listing needs no operators; proposing does: a one-line error, exit 2
    r = run("list", "--state", str(tmp_path / "book"))
    assert r.returncode == 0, r.stderr
    assert f"{ident} Exercise" in r.stdout
    r = run(
        "propose", "--state", str(tmp_path / "book"), "--operator", "aoki", "--area", "JP-01", "--text", "x"
    )
    assert r.returncode == 2
    assert "operators" in r.stderr
    assert "Traceback" not in r.stderr
