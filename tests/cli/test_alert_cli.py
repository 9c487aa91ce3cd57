"""`tocsin alert`: the two-person flow authenticates each operator (issue 14 item 6).

Before, `propose`/`confirm` took any two names with no credential. Now each step
checks the operator against the accounts file: password (+ TOTP code when the
account has one) or a signature by the operator's own Ed25519 key over the exact
step. Every refusal is audited."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest

from tocsin.cli import alert as alert_cli
from tocsin.cli import main
from tocsin.exchange.signing import generate_key, save_private_key
from tocsin.web.auth import OperatorStore, new_totp_secret, totp_code

PW_AOKI = "aoki-password-1"
PW_BAEK = "baek-password-2"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setattr(alert_cli, "FAIL_DELAY_S", 0.0)
    for var in ("TOCSIN_OPERATOR_PASSWORD", "TOCSIN_OPERATOR_TOTP", "TOCSIN_OPERATOR_KEY_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "policy.toml").write_text('operators = ["aoki", "baek"]\n')
    st = OperatorStore(tmp_path / "operators.json")
    st.add("aoki", PW_AOKI)
    st.add("baek", PW_BAEK)
    secret = new_totp_secret()
    st.set_totp("aoki", secret)
    key = generate_key()
    save_private_key(key, tmp_path / "baek.key")
    st.set_key("baek", key.public_key())
    st.add("eve", "eve-password-9")  # an account, but not an authorised operator in the policy
    st.save()
    save_private_key(generate_key(), tmp_path / "other.key")
    return {"tmp": tmp_path, "secret": secret, "key": key}


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp: Path,
    *args: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    common = ["--state", str(tmp / "book"), "--policy", str(tmp / "policy.toml")]
    with pytest.raises(SystemExit) as exc:
        main(["alert", *args, *common])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


def audit(tmp: Path) -> list[dict[str, object]]:
    return list(json.loads((tmp / "book" / "book.json").read_text())["audit"])


def test_each_step_authenticates_its_operator(
    desk: dict[str, object], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = desk["tmp"]
    assert isinstance(tmp, Path)
    secret = str(desk["secret"])
    ops = ["--operators", str(tmp / "operators.json")]
    propose = ["propose", "--operator", "aoki", "--area", "JP-01", "--text", "ミサイル。避難。",
               "--text-en", "Missile. Shelter.", *ops]  # fmt: skip

    # aoki without the one-time code, with a wrong code, with a wrong password: refused, audited
    code, _, err = run(capsys, monkeypatch, tmp, *propose, "--credentials-stdin", stdin=PW_AOKI + "\n")
    assert code == 1
    assert "authentication failed" in err
    bad = f"{(int(totp_code(secret, time.time())) + 1) % 10**6:06d}"
    code, _, _ = run(capsys, monkeypatch, tmp, *propose, "--credentials-stdin", stdin=f"{PW_AOKI}\n{bad}\n")
    assert code == 1
    good = totp_code(secret, time.time())
    code, _, _ = run(capsys, monkeypatch, tmp, *propose, "--credentials-stdin", stdin=f"wrong-pass\n{good}\n")
    assert code == 1
    assert (
        not (tmp / "book" / "book.json").exists()
        or not json.loads((tmp / "book" / "book.json").read_text())["pending"]
    )
    # right password and code: proposed
    code, out, err = run(
        capsys, monkeypatch, tmp, *propose, "--credentials-stdin", stdin=f"{PW_AOKI}\n{good}\n"
    )
    assert code == 0, err
    assert "pending P1" in out
    # the same code again (seen over a shoulder): refused
    code, _, err = run(
        capsys, monkeypatch, tmp, "cancel", "P1", "--operator", "aoki", *ops, "--credentials-stdin",
        stdin=f"{PW_AOKI}\n{good}\n",
    )  # fmt: skip
    assert code == 1
    assert "authentication failed" in err

    confirm = ["confirm", "P1", "--operator", "baek", *ops]
    # "baek" with no credential at all (the attack of issue 14): one line, exit 2, nothing issued
    code, _, err = run(capsys, monkeypatch, tmp, *confirm)
    assert code == 2
    assert err.strip().startswith("tocsin: error: --operator: no password")
    assert len(err.strip().splitlines()) == 1
    # "baek" with someone else's key, or a wrong password: refused
    code, _, err = run(capsys, monkeypatch, tmp, *confirm, "--key", str(tmp / "other.key"))
    assert code == 1
    assert "authentication failed" in err
    monkeypatch.setenv("TOCSIN_OPERATOR_PASSWORD", "not-baeks-password")
    code, _, _ = run(capsys, monkeypatch, tmp, *confirm)
    assert code == 1
    monkeypatch.delenv("TOCSIN_OPERATOR_PASSWORD")
    # eve has an account but is not authorised by the policy
    monkeypatch.setenv("TOCSIN_OPERATOR_PASSWORD", "eve-password-9")
    code, _, err = run(capsys, monkeypatch, tmp, "confirm", "P1", "--operator", "eve", *ops)
    assert code == 1
    assert "not authorised" in err
    monkeypatch.delenv("TOCSIN_OPERATOR_PASSWORD")
    assert not list((tmp / "book").glob("*.xml"))  # nothing was issued by any of that

    # baek signs with his own key: issued
    code, out, err = run(capsys, monkeypatch, tmp, *confirm, "--key", str(tmp / "baek.key"))
    assert code == 0, err
    issued = re.search(r"issued (m[0-9a-f]{8}\.JP\.manual-1\.1\.0) \(Exercise\)", out)
    assert issued, out  # the book's own identity in the id
    assert (tmp / "book" / f"{issued.group(1)}.xml").exists()

    recs = audit(tmp)
    actions = [(r["action"], r["operator"]) for r in recs]
    assert actions == [
        ("refuse", "aoki"),  # no code
        ("refuse", "aoki"),  # wrong code
        ("refuse", "aoki"),  # wrong password
        ("propose", "aoki"),
        ("refuse", "aoki"),  # reused code
        ("refuse", "baek"),  # another key
        ("refuse", "baek"),  # wrong password
        ("refuse", "eve"),  # not authorised
        ("confirm", "baek"),
    ]
    assert "authentication failed: one-time code required" in str(recs[0]["detail"])
    assert "authentication failed: wrong or reused one-time code" in str(recs[4]["detail"])
    assert str(recs[3]["detail"]).endswith("auth password+totp")
    # the confirmation carries baek's signature over exactly what he confirmed
    detail = str(recs[-1]["detail"])
    assert " auth key SHA256:" in detail
    parts = detail.split()
    stmt = base64.urlsafe_b64decode(parts[parts.index("stmt") + 1] + "==")
    sig = base64.urlsafe_b64decode(parts[parts.index("sig") + 1] + "==")
    key = desk["key"]
    key.public_key().verify(sig, stmt)  # type: ignore[attr-defined]
    doc = json.loads(stmt)
    assert doc["operator"] == "baek"
    assert doc["action"] == "confirm"
    assert doc["pending"] == "P1"
    assert doc["text"] == "ミサイル。避難。"
    assert doc["texts"] == {"en-US": "Missile. Shelter.", "ja-JP": "ミサイル。避難。"}
    assert doc["areas"] == ["JP-01"]
    assert doc["proposed_by"] == "aoki"
    assert doc["prev"] == recs[-2]["hash"]  # bound to the book as it was: good for this step only


def test_steps_need_the_accounts_file(
    desk: dict[str, object], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = desk["tmp"]
    assert isinstance(tmp, Path)
    propose = ["propose", "--operator", "aoki", "--area", "JP-01", "--text", "避難"]
    code, _, err = run(capsys, monkeypatch, tmp, *propose)
    assert code == 2
    assert err.strip() == (
        "tocsin: error: --operators: each step needs the operator's credentials: give the accounts "
        "file (tocsin operator add ...) with --operators FILE"
    )
    code, _, err = run(capsys, monkeypatch, tmp, *propose, "--operators", str(tmp / "nope.json"))
    assert code == 2
    assert err.strip() == f"tocsin: error: {tmp / 'nope.json'}: --operators: no such file"
    (tmp / "enc.key").write_bytes(b"not a key")
    code, _, err = run(capsys, monkeypatch, tmp, *propose, "--operators", str(tmp / "operators.json"),
                       "--key", str(tmp / "enc.key"))  # fmt: skip
    assert code == 2
    assert "--key: not a PEM private key" in err


def test_encrypted_operator_key_takes_its_passphrase_from_the_environment(
    desk: dict[str, object], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    tmp = desk["tmp"]
    assert isinstance(tmp, Path)
    key = desk["key"]
    pem = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery"),
    )
    (tmp / "baek-enc.key").write_bytes(pem)
    args = ["propose", "--operator", "baek", "--area", "JP-01", "--text", "避難",
            "--operators", str(tmp / "operators.json"), "--key", str(tmp / "baek-enc.key")]  # fmt: skip
    code, _, err = run(capsys, monkeypatch, tmp, *args)
    assert code == 2
    assert "TOCSIN_OPERATOR_KEY_PASSPHRASE" in err
    monkeypatch.setenv("TOCSIN_OPERATOR_KEY_PASSPHRASE", "correct horse battery")
    code, out, err = run(capsys, monkeypatch, tmp, *args)
    assert code == 0, err
    assert "pending P1" in out
