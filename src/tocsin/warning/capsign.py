"""XML digital signatures of CAP 1.2 documents, as IPAWS and other consumers
verify them.

A signed CAP document carries one **enveloped** ``ds:Signature`` (W3C XML
Signature) as the last child of ``alert`` — where the OASIS CAP 1.2 schema and
the IPAWS profile schema admit one (``<any namespace="…xmldsig#">``) — over the
whole document (``Reference URI=""``) with the *enveloped-signature* and
*exclusive XML canonicalization 1.0* transforms, SHA-256 digest, **RSA-SHA256**
signature, and the signer's X.509 certificate in ``KeyInfo``: the profile
IPAWS-OPEN uses. The work is done by the ``signxml`` package (a maintained
implementation of the W3C recommendation; hand-rolled canonicalization is how
signature checks go wrong).

Signing is deterministic (RSA PKCS#1 v1.5 over the same canonical bytes), so a
signed document re-rendered from a replay is byte-identical when the same key
signs it.

A consumer verifies with the sender's certificate (:func:`verify_cap`, or
``tocsin cap verify FILE --cert CERT``): a document altered after signing, one
signed by another key, or one without a signature is refused with a one-line
reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree  # type: ignore[import-untyped]

from tocsin.errors import ConfigError

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


class CapSignatureError(ValueError):
    """A CAP document's signature is missing, broken, or not the expected signer's."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False)


@dataclass(frozen=True)
class CapSigner:
    """Signs CAP documents with one RSA key and its certificate (module doc)."""

    key: rsa.RSAPrivateKey
    cert_pem: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key, rsa.RSAPrivateKey):
            raise ConfigError("a CAP signing key must be RSA (IPAWS signs RSA-SHA256)")
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        pub = cert.public_key()
        if (
            not isinstance(pub, rsa.RSAPublicKey)
            or pub.public_numbers() != self.key.public_key().public_numbers()
        ):
            raise ConfigError("the CAP signing certificate is not the signing key's")

    @classmethod
    def from_files(cls, key_path: str | os.PathLike[str], cert_path: str | os.PathLike[str]) -> CapSigner:
        """The signer of a PEM private key (unencrypted, or its passphrase in
        ``TOCSIN_CAP_KEY_PASSPHRASE``) and PEM certificate; one-line errors."""
        kp, cp = Path(key_path), Path(cert_path)
        try:
            key_pem, cert_pem = kp.read_bytes(), cp.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{exc.filename}: cannot read: {exc.strerror or exc}") from None
        phrase = os.environ.get("TOCSIN_CAP_KEY_PASSPHRASE")
        try:
            key = serialization.load_pem_private_key(key_pem, phrase.encode() if phrase else None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{kp}: not a PEM private key we can read: {exc}") from None
        try:
            x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise ConfigError(f"{cp}: not a PEM certificate: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"{kp}: a CAP signing key must be RSA (IPAWS signs RSA-SHA256)")
        return cls(key, cert_pem)

    def sign(self, xml: str | bytes) -> str:
        """The document with an enveloped signature as the last child of ``alert``."""
        from signxml.algorithms import CanonicalizationMethod, SignatureMethod
        from signxml.signer import XMLSigner

        raw = xml.encode("utf-8") if isinstance(xml, str) else xml
        doc = etree.fromstring(raw, _parser())
        if doc.find(f"{{{DSIG_NS}}}Signature") is not None:
            raise CapSignatureError("the document is signed already")
        signer = XMLSigner(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed = signer.sign(doc, key=self.key, cert=self.cert_pem.decode("ascii"))
        out: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
        return out.decode("utf-8")


@dataclass(frozen=True)
class VerifiedCap:
    """A CAP document whose signature checked out: what was signed, and by whom."""

    signed_xml: bytes
    signer: str  # the certificate's subject


def verify_cap(xml: str | bytes, cert_pem: bytes) -> VerifiedCap:
    """Check the enveloped signature of a CAP document against the expected
    signer's certificate; :class:`CapSignatureError` with a one-line reason
    otherwise (no signature, altered after signing, another signer, an
    algorithm other than RSA-SHA256 with exclusive canonicalization)."""
    from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
    from signxml.verifier import XMLVerifier

    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        doc = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise CapSignatureError(f"not well-formed XML: {exc.msg}") from None
    sig = doc.find(f"{{{DSIG_NS}}}Signature")
    if sig is None:
        raise CapSignatureError("no ds:Signature in the document")
    methods = {el.get("Algorithm") for el in sig.iter(f"{{{DSIG_NS}}}SignatureMethod")}
    if methods != {RSA_SHA256}:
        raise CapSignatureError(f"signature method {sorted(m or '' for m in methods)}, expected RSA-SHA256")
    c14n = {el.get("Algorithm") for el in sig.iter(f"{{{DSIG_NS}}}CanonicalizationMethod")}
    if c14n != {EXC_C14N}:
        raise CapSignatureError("canonicalization is not exclusive XML canonicalization 1.0")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CapSignatureError(f"the expected signer's certificate is not PEM: {exc}") from None
    try:
        res = XMLVerifier().verify(raw, x509_cert=cert)
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CapSignatureError(f"signature does not verify: {msg}") from None
    result = res[0] if isinstance(res, list) else res
    return VerifiedCap(result.signed_data, cert.subject.rfc4514_string())


__all__ = ["DSIG_NS", "CapSignatureError", "CapSigner", "VerifiedCap", "verify_cap"]
