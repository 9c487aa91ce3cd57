"""Ed25519 signatures on envelopes and bundles, and the partner registry.

One key pair per partner. The private key lives on the partner's node as an
unencrypted PKCS#8 PEM file (mode 0600); the public key is 32 raw bytes written
as base64 (one line). The signature travels in ``Envelope.sig`` as base64url
without padding (RFC 4648 §5), 86 characters for Ed25519's 64 bytes.

What a signature covers depends on the envelope's version ``v``
(docs/exchange-format.md, "Signatures"):

``v: 2`` (what :func:`sign` makes)
    the RFC 8785 (JCS) canonical JSON of the envelope as sent, without ``sig``
    (:mod:`tocsin.wire.jcs`). Any language can make it: a Node partner signs
    ``canonicalize(message)`` with its built-in ``crypto``. A received message
    is verified over the canonical form of the JSON it *arrived as* (fields
    this version does not know included), never over a re-encoding.
``v: 1`` (legacy, :func:`sign_v1`)
    tocsin's own msgspec encoding of the decoded envelope without ``sig``
    (:func:`tocsin.wire.signing_bytes`): field order and number spelling are
    msgspec's, so only tocsin can make it. A registry refuses v1 signatures
    (reason ``legacy_signature``) unless the partner's entry says
    ``accept_v1: true``; each one accepted is counted per partner
    (``Ingress.legacy_accepted``, ``/metrics``).

A *bundle* (``kind: "bundle"``, v2 only) carries many unsigned envelopes under
one signature (:func:`sign_bundle`), for high-rate sensors: one Ed25519
verification instead of one per plot.

Ed25519 (RFC 8032) is deterministic: the same key and message always give the
same signature, so signed replay files are reproducible.

The partner registry (YAML or JSON) says who may send what::

    partners:
      JP:
        public_key: "base64 of the 32 raw bytes"
        sources: ["JP-*"]                 # fnmatch globs
        kinds: [sensor, plot, heartbeat]  # kinds this partner may send
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.errors import ConfigError
from tocsin.limits import json_loads, read_file, yaml_load
from tocsin.wire import KINDS, BundleBody, Envelope, encode_json, signing_bytes
from tocsin.wire.codec import find_repeated_msgpack, msgpack_has_repeated
from tocsin.wire.jcs import CanonicalError, canonical_json, canonicalize

#: the envelope version of a message signed over its RFC 8785 canonical form
SIG_V2: Literal[2] = 2

DEFAULT_KINDS: tuple[str, ...] = ("sensor", "plot", "track", "heartbeat")


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode_any(text: str) -> bytes:
    """Decode standard or url-safe base64, with or without padding."""
    s = text.strip().replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s, validate=True)


# ---------------------------------------------------------------- keys on disk


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as standard base64 of its 32 raw bytes."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def save_private_key(key: Ed25519PrivateKey, path: str | os.PathLike[str]) -> None:
    """Write the PEM with mode 0600 (created exclusively: never overwrites)."""
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key))


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = read_file(path, 64 * 1024)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read key: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{path}: not a PEM private key (over 64 KiB)") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key")
    return key


def parse_public_key(text: str, *, where: str = "public key") -> Ed25519PublicKey:
    """A public key from base64 (raw 32 bytes) or a PEM SubjectPublicKeyInfo."""
    t = text.strip()
    if t.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(t.encode())
        except ValueError as exc:
            raise ConfigError(f"{where}: bad PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{where}: not an Ed25519 key")
        return key
    try:
        raw = b64_decode_any(t)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: not base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{where}: an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    try:
        text = read_file(path, 64 * 1024).decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read key: {exc.strerror}") from None
    except ValueError:  # over the limit, or not UTF-8
        raise ConfigError(f"{path}: not a public key (base64 or PEM text)") from None
    return parse_public_key(text, where=str(path))


# ---------------------------------------------------------------- sign / verify


def signed_bytes(env: Envelope, raw: bytes | None = None, fmt: str = "json", value: Any = None) -> bytes:
    """The bytes a signature on ``env`` covers (see the module doc).

    For ``v: 2``: the RFC 8785 form of ``raw`` (the message as received, JSON or
    MessagePack) without ``sig``; without ``raw``, of ``env`` itself (a message
    built in this process). For ``v: 1``: the legacy msgspec bytes.
    ``value``: the value :func:`tocsin.wire.decode_json_parsed` (or
    :func:`~tocsin.wire.decode_msgpack_parsed`) decoded from ``raw`` (not
    decoded again). Raises :class:`~tocsin.wire.jcs.CanonicalError` for a value
    JCS cannot express (a repeated member name or map key among them, nesting
    deeper than the decoders' limit).
    """
    if env.v == 1:
        return signing_bytes(env)
    if raw is None:
        return canonical_json(encode_json(msgspec.structs.replace(env, sig=None)))
    if fmt == "json":
        return canonical_json(raw, drop=("sig",), value=value)
    if value is None:
        try:
            value = msgspec.msgpack.decode(raw)
        except msgspec.DecodeError as exc:
            raise CanonicalError(f"not MessagePack: {exc}") from None
        except RecursionError:
            raise CanonicalError("not canonicalizable: arrays/maps nest too deep") from None
        if msgpack_has_repeated(raw, value):
            at = find_repeated_msgpack(raw) or ("$", "?")
            raise CanonicalError(f"map key {at[1]!r} repeated in the map at {at[0]} (not I-JSON)")
    if not isinstance(value, dict):
        raise CanonicalError("not a map")
    return canonicalize({k: v for k, v in value.items() if k != "sig"})


def sign(env: Envelope, key: Ed25519PrivateKey) -> Envelope:
    """Return ``env`` as a ``v: 2`` envelope signed over its RFC 8785 form."""
    env = msgspec.structs.replace(env, v=SIG_V2, sig=None)
    sig = key.sign(signed_bytes(env))
    return msgspec.structs.replace(env, sig=b64url_encode(sig))


def sign_v1(env: Envelope, key: Ed25519PrivateKey) -> Envelope:
    """Legacy: ``env`` as a ``v: 1`` envelope signed over msgspec's bytes (what
    tocsin before v2 signatures made; for tests of the acceptance policy)."""
    env = msgspec.structs.replace(env, v=1, sig=None)
    return msgspec.structs.replace(env, sig=b64url_encode(key.sign(signing_bytes(env))))


def make_bundle(
    messages: Iterable[Envelope], *, partner: str, source: str, seq: int, sent: float
) -> Envelope:
    """An unsigned ``v: 2`` bundle of ``messages`` (their own ``sig`` dropped)."""
    members = [msgspec.Raw(encode_json(msgspec.structs.replace(m, v=SIG_V2, sig=None))) for m in messages]
    return Envelope(
        v=SIG_V2,
        kind="bundle",
        partner=partner,
        source=source,
        seq=seq,
        sent=sent,
        body=BundleBody(messages=members),
    )


def sign_bundle(
    messages: Iterable[Envelope],
    key: Ed25519PrivateKey,
    *,
    partner: str,
    source: str,
    seq: int,
    sent: float,
) -> Envelope:
    """``messages`` in one bundle under one signature (see :func:`make_bundle`)."""
    return sign(make_bundle(messages, partner=partner, source=source, seq=seq, sent=sent), key)


def verify(
    env: Envelope, pub: Ed25519PublicKey, *, raw: bytes | None = None, fmt: str = "json", value: Any = None
) -> bool:
    """True when ``env.sig`` is a valid signature by ``pub`` over what ``env.v``
    says it covers (``raw``: the message as received, ``value``: its parsed
    JSON if parsed already; see :func:`signed_bytes`);
    False otherwise (missing, malformed or wrong signature, or a message JCS
    cannot express). Never raises."""
    if not env.sig:
        return False
    try:
        sig = b64_decode_any(env.sig)
    except (binascii.Error, ValueError):
        return False
    if len(sig) != 64:
        return False
    try:
        pub.verify(sig, signed_bytes(env, raw, fmt, value))
    except (InvalidSignature, CanonicalError):
        return False
    return True


# ---------------------------------------------------------------- registry


@functools.lru_cache(maxsize=65_536)
def _owns(patterns: tuple[str, ...], source: str) -> bool:
    """Does ``source`` match one of the globs? (Asked for every message: cached,
    bounded like the ingress's replay-window table.)"""
    return any(fnmatch.fnmatchcase(source, pat) for pat in patterns)


@dataclass(frozen=True, slots=True)
class PartnerPolicy:
    """What one partner may send, and the key that proves it."""

    code: str
    public_key: Ed25519PublicKey
    sources: tuple[str, ...] = ("*",)
    kinds: tuple[str, ...] = DEFAULT_KINDS
    #: accept legacy ``v: 1`` signatures from this partner (transition only;
    #: default False: refused as ``legacy_signature``)
    accept_v1: bool = False

    def owns_source(self, source: str) -> bool:
        return _owns(tuple(self.sources), source)

    def may_send(self, kind: str) -> bool:
        return kind in self.kinds


@dataclass(frozen=True, slots=True)
class PartnerRegistry:
    partners: Mapping[str, PartnerPolicy] = field(default_factory=dict)

    def get(self, code: str) -> PartnerPolicy | None:
        return self.partners.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.partners

    def __len__(self) -> int:
        return len(self.partners)

    def to_dict(self) -> dict[str, Any]:
        return {
            "partners": {
                code: {
                    "public_key": public_key_text(p.public_key),
                    "sources": list(p.sources),
                    "kinds": list(p.kinds),
                    **({"accept_v1": True} if p.accept_v1 else {}),
                }
                for code, p in sorted(self.partners.items())
            }
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "registry") -> PartnerRegistry:
        if not isinstance(data, dict) or not isinstance(data.get("partners"), dict):
            raise ConfigError(f"{where}: expected a mapping with a `partners` mapping")
        out: dict[str, PartnerPolicy] = {}
        for code, spec in data["partners"].items():
            at = f"{where}: partners.{code}"
            if not isinstance(code, str) or len(code) != 2 or not code.isupper():
                raise ConfigError(f"{at}: partner code must be two capital letters")
            if not isinstance(spec, dict) or "public_key" not in spec:
                raise ConfigError(f"{at}: needs `public_key`")
            pub = parse_public_key(str(spec["public_key"]), where=f"{at}.public_key")
            sources = _str_list(spec.get("sources", [f"{code}-*"]), f"{at}.sources")
            kinds = _str_list(spec.get("kinds", list(DEFAULT_KINDS)), f"{at}.kinds")
            bad = [k for k in kinds if k not in KINDS]
            if bad:
                raise ConfigError(f"{at}.kinds: unknown kind {bad[0]!r}")
            accept_v1 = spec.get("accept_v1", False)
            if not isinstance(accept_v1, bool):
                raise ConfigError(f"{at}.accept_v1: expected true or false")
            out[code] = PartnerPolicy(code, pub, tuple(sources), tuple(kinds), accept_v1)
        return cls(out)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PartnerRegistry:
        p = Path(path)
        what = "JSON" if p.suffix == ".json" else "YAML"
        try:
            raw = read_file(p)
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read registry: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{p}: {exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not valid {what}: not UTF-8 text (a binary file?)") from None
        try:
            # (size, nesting and YAML alias-expansion limits: tocsin.limits)
            data = json_loads(text) if p.suffix == ".json" else yaml_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            msg = " ".join(str(exc).split())
            raise ConfigError(f"{p}: not valid {what}: {msg}") from None
        return cls.from_dict(data, where=str(p))

    def save(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        data = self.to_dict()
        text = json.dumps(data, indent=2) + "\n" if p.suffix == ".json" else yaml.safe_dump(data)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, p)

    def with_partner(self, policy: PartnerPolicy) -> PartnerRegistry:
        d = dict(self.partners)
        d[policy.code] = policy
        return PartnerRegistry(d)


def _str_list(val: Any, where: str) -> list[str]:
    if isinstance(val, str):
        return [val]
    if not isinstance(val, Iterable) or not all(isinstance(x, str) for x in val):
        raise ConfigError(f"{where}: expected a list of strings")
    return list(val)


# ---------------------------------------------------------------- audit


@dataclass
class AuditReport:
    """What :func:`audit_entries` found: partners' signatures checked again
    from a journal alone."""

    #: signed inputs journalled as received whose signature verifies
    messages_verified: int = 0
    #: signed bundles (``received`` entries) that verify, and the journalled
    #: inputs shown to be members of one
    bundles_verified: int = 0
    members_covered: int = 0
    #: inputs without a signature (open mode, a partner's v1 transition
    #: without a registry entry, drills)
    unsigned: int = 0
    #: (entry seq, why) of every input or bundle that does not check out
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = (
            f"{self.messages_verified} signed messages and {self.bundles_verified} bundles "
            f"({self.members_covered} members) verify; {self.unsigned} unsigned inputs"
        )
        if self.problems:
            seq, why = self.problems[0]
            text += f"; {len(self.problems)} do not, the first at entry {seq}: {why}"
        return text


def audit_entries(entries: Iterable[Any], registry: PartnerRegistry) -> AuditReport:
    """Check every partner signature a journal can prove, from its entries
    (objects with ``seq``, ``kind``, ``payload``, in order).

    A signed input the node journalled as received (``runtime`` keeps a v2
    message's bytes unless they are much longer than its re-encoding) is
    verified over those bytes. A signed bundle is journalled once as received
    (entry kind ``received``) before its accepted members; the bundle's
    signature is verified and each member input after it must be one of the
    bundle's messages. A signed input that does neither is a problem (a
    re-encoded over-long message, or an altered entry: the hash chain, which
    ``tocsin journal verify`` checks, tells which)."""
    from tocsin.wire import decode_json

    rep = AuditReport()
    members: dict[tuple[str, str, int], Envelope] = {}
    for e in entries:
        if e.kind == "received":
            members = {}
            try:
                env = decode_json(e.payload)
            except Exception as exc:
                rep.problems.append((e.seq, f"received entry does not decode ({type(exc).__name__})"))
                continue
            pol = registry.get(env.partner)
            if pol is None:
                rep.problems.append((e.seq, f"partner {env.partner!r} is not in the registry"))
            elif not verify(env, pol.public_key, raw=e.payload):
                rep.problems.append((e.seq, f"bundle signature does not verify for {env.partner}"))
            elif isinstance(env.body, BundleBody):
                rep.bundles_verified += 1
                for m in env.body.messages:
                    try:
                        menv = decode_json(bytes(m))
                    except Exception:  # (refused at ingress, never journalled as an input)
                        continue
                    members[(menv.partner, menv.source, menv.seq)] = menv
            continue
        if e.kind != "input":
            continue
        try:
            env = decode_json(e.payload)
        except Exception as exc:
            rep.problems.append((e.seq, f"input does not decode ({type(exc).__name__})"))
            continue
        member = members.get((env.partner, env.source, env.seq))
        if member is not None:
            if member == env:
                rep.members_covered += 1
            else:
                rep.problems.append((e.seq, "input differs from the bundle member it claims to be"))
            continue
        if not env.sig:
            rep.unsigned += 1
            continue
        pol = registry.get(env.partner)
        if pol is None:
            rep.problems.append((e.seq, f"partner {env.partner!r} is not in the registry"))
        elif verify(env, pol.public_key, raw=e.payload):
            rep.messages_verified += 1
        else:
            rep.problems.append(
                (e.seq, f"signature of {env.partner} does not verify over the journalled bytes")
            )
    return rep


__all__ = [
    "DEFAULT_KINDS",
    "SIG_V2",
    "AuditReport",
    "PartnerPolicy",
    "PartnerRegistry",
    "audit_entries",
    "b64_decode_any",
    "b64url_encode",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "make_bundle",
    "parse_public_key",
    "private_key_pem",
    "public_key_text",
    "save_private_key",
    "sign",
    "sign_bundle",
    "sign_v1",
    "signed_bytes",
    "verify",
]
