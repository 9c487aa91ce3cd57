"""CAP documents signed as IPAWS consumers verify them: enveloped XML-DSig,
RSA-SHA256, exclusive C14N, the certificate in KeyInfo; altered, foreign or
unsigned documents refused; signed documents still schema-valid."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from tocsin.errors import ConfigError
from tocsin.warning.cap import CAP_NS, CapMessage, render_cap, validate_cap
from tocsin.warning.capsign import DSIG_NS, CapSignatureError, CapSigner, verify_cap
from tocsin.warning.texts import Facts

T = 1_800_000_000.0
NAMES = {"en-US": ["Hokkaido"], "ja-JP": ["北海道"], "ko-KR": ["홋카이도"]}


def _key_cert(cn: str = "warning-us@tocsin.example") -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def signer() -> CapSigner:
    key, pem = _key_cert()
    return CapSigner(key, pem)


def _doc() -> str:
    import shapely
    from warnhelpers import FakeArea

    area = FakeArea("JP-01", "land", "JP", "Hokkaido", "北海道", "홋카이도", shapely.box(140, 42, 145, 45))
    return render_cap(
        CapMessage(
            identifier="drill-1.US.JP-01.1.0",
            sender="warning-us@tocsin.example",
            sent=T,
            status="Exercise",
            msg_type="Alert",
            facts=Facts(
                "Alert",
                "Exercise",
                {"en-US": ["Hokkaido"], "ja-JP": ["北海道"], "ko-KR": ["홋카이도"]},
                onset=T + 300,
            ),
            areas=[area],
            onset=T + 300,
            expires=T + 1800,
        )
    )


def test_signed_cap_verifies_and_stays_valid(signer: CapSigner) -> None:
    xml = _doc()
    signed = signer.sign(xml)
    assert validate_cap(signed) == []  # the OASIS schema admits the enveloped signature
    root = etree.fromstring(signed.encode())
    sig = root[-1]
    assert sig.tag == f"{{{DSIG_NS}}}Signature"  # the last child of alert
    algs = {el.get("Algorithm") for el in sig.iter()}
    assert "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in algs
    assert "http://www.w3.org/2001/10/xml-exc-c14n#" in algs
    assert "http://www.w3.org/2000/09/xmldsig#enveloped-signature" in algs
    assert sig.find(f".//{{{DSIG_NS}}}X509Certificate") is not None
    v = verify_cap(signed, signer.cert_pem)
    assert v.signer == "CN=warning-us@tocsin.example"
    assert b"<identifier>drill-1.US.JP-01.1.0</identifier>" in v.signed_xml
    # deterministic: a replay that signs the same document with the same key gives the same bytes
    assert signer.sign(xml) == signed


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("<status>Exercise</status>", "<status>Actual</status>"), "does not verify"),
        (("Hokkaido", "Aomori"), "does not verify"),
    ],
)
def test_an_altered_document_is_refused(signer: CapSigner, change: tuple[str, str], why: str) -> None:
    signed = signer.sign(_doc())
    assert change[0] in signed
    with pytest.raises(CapSignatureError, match=why):
        verify_cap(signed.replace(*change, 1), signer.cert_pem)


def test_another_signer_or_no_signature_is_refused(signer: CapSigner) -> None:
    other_key, other_pem = _key_cert("mallory")
    forged = CapSigner(other_key, other_pem).sign(_doc())
    with pytest.raises(CapSignatureError):
        verify_cap(forged, signer.cert_pem)
    with pytest.raises(CapSignatureError, match="no ds:Signature"):
        verify_cap(_doc(), signer.cert_pem)
    with pytest.raises(CapSignatureError, match="well-formed"):
        verify_cap("<alert", signer.cert_pem)
    with pytest.raises(CapSignatureError, match="signed already"):
        signer.sign(signer.sign(_doc()))


def test_keys_load_from_files_with_one_line_errors(tmp_path: Path, signer: CapSigner) -> None:
    key_pem = signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(signer.cert_pem)
    loaded = CapSigner.from_files(tmp_path / "k.pem", tmp_path / "c.pem")
    assert verify_cap(loaded.sign(_doc()), signer.cert_pem)
    with pytest.raises(ConfigError, match="cannot read"):
        CapSigner.from_files(tmp_path / "nope.pem", tmp_path / "c.pem")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"bad\.pem: not a PEM private key"):
        CapSigner.from_files(tmp_path / "bad.pem", tmp_path / "c.pem")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="must be RSA"):
        CapSigner.from_files(tmp_path / "ec.pem", tmp_path / "c.pem")
    other_key, _ = _key_cert()
    with pytest.raises(ConfigError, match="not the signing key"):
        CapSigner(other_key, signer.cert_pem)


def test_cap_namespace_is_what_is_signed() -> None:
    assert CAP_NS == "urn:oasis:names:tc:emergency:cap:1.2"
