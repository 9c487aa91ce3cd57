"""Operator accounts, login sessions and CSRF tokens for the dashboard.

Accounts live in a local JSON file (``operators.json`` in the server's data
directory, written atomically with mode 0600)::

    {"format": "tocsin-operators-1",
     "operators": {"alice": {"role": "operator", "kdf": "scrypt", "n": 16384, "r": 8, "p": 1,
                             "salt": "<base64>", "hash": "<base64>", "created": 1789430400.0}}}

Passwords are never stored: each account keeps a random 16-byte salt and the
scrypt key (RFC 7914, :func:`hashlib.scrypt`, N=2**14, r=8, p=1, 32 bytes, the
interactive-login parameters of the RFC) of its password; a check recomputes it
and compares in constant time (:func:`hmac.compare_digest`).

Roles: ``operator`` (watch, propose manual alerts, confirm another operator's
proposal) and ``supervisor`` (all of that, plus withdraw anyone's proposal and read
the operator audit log).

Sessions (:class:`SessionStore`) are in memory: a login returns a 256-bit random
token for an ``HttpOnly; SameSite=Strict`` cookie and a separate 256-bit CSRF
token that every state-changing request must echo in the ``X-CSRF-Token``
header (synchroniser-token pattern). Sessions end on logout, after
``idle_s`` without a request or ``max_age_s`` after login.

Second factor and keys (optional, per account): ``"totp"`` holds the base32
secret of an RFC 6238 authenticator (30 s steps, 6 digits, one step of clock
drift either way; a code is accepted once: a step at or before the last one
accepted for that account is refused) and ``"key"`` the base64 of the
operator's own Ed25519 public key, with which the ``tocsin alert`` command line
accepts a signature instead of the password (:func:`verify_operator`). An
account with TOTP needs its code whatever the first factor.

Failed logins slow down **the client that failed**, never the account
(:class:`LoginThrottle`, :class:`LoginGate`): someone guessing bob's password
cannot keep bob off the desk. A client is the browser, when it presents the
device token a successful login as that operator left in it
(:class:`DeviceTokens`, an HMAC over a random id, the name and an expiry; an
``HttpOnly; SameSite=Strict`` cookie), else its network address. Each client
has ``free_failures`` failures; after that each further failure doubles the
wait before its next try (1 s, 2 s, ... at most ``max_wait_s``; failures are
forgotten after ``window_s`` without one),
during which it is answered 429 with ``Retry-After`` whatever the password. A
success clears it. Clients with no device token for a name also share a
larger per-name budget (``untrusted_free``), so many addresses cannot guess one
password in parallel; an operator's own browser is never counted in, nor held
by, that budget.

The wall clock is passed in (``clock``) so tests can move time.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tocsin.errors import ConfigError, InputError
from tocsin.limits import json_loads, read_file

FORMAT = "tocsin-operators-1"
ROLES: tuple[str, ...] = ("operator", "supervisor")
Role = Literal["operator", "supervisor"]
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MIN_PASSWORD = 10
#: scrypt cost (RFC 7914 section 2: N=2**14, r=8, p=1 for interactive logins)
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_LEN = 32
#: RFC 6238 parameters every common authenticator app uses
TOTP_PERIOD = 30
TOTP_DIGITS = 6
#: steps of clock drift accepted either side of now
TOTP_DRIFT = 1


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode("ascii"), validate=True)


def hash_password(
    password: str, salt: bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> bytes:
    """scrypt(password, salt) with the given cost (RFC 7914)."""
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_LEN, maxmem=128 * r * n * 2 + 1024
    )


@dataclass(frozen=True, slots=True)
class Operator:
    """One account (no secret in it but the salted hash)."""

    name: str
    role: Role
    salt: bytes
    hash: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    created: float = 0.0
    #: base32 TOTP secret (RFC 6238), None: no second factor
    totp: str | None = None
    #: raw 32-byte Ed25519 public key of the operator's own key, None: none
    key: bytes | None = None

    def check(self, password: str) -> bool:
        got = hash_password(password, self.salt, n=self.n, r=self.r, p=self.p)
        return hmac.compare_digest(got, self.hash)

    def public_key(self) -> Ed25519PublicKey | None:
        return Ed25519PublicKey.from_public_bytes(self.key) if self.key is not None else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "role": self.role,
            "kdf": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": _b64(self.salt),
            "hash": _b64(self.hash),
            "created": self.created,
        }
        if self.totp is not None:
            d["totp"] = self.totp
        if self.key is not None:
            d["key"] = _b64(self.key)
        return d


# ---------------------------------------------------------------- second factor


def new_totp_secret() -> str:
    """A random 160-bit TOTP secret, base32 (RFC 4226 recommends >= 128 bits)."""
    import pyotp

    return pyotp.random_base32(32)


def check_totp_secret(secret: str) -> str:
    s = secret.strip().upper().replace(" ", "")
    try:
        raw = base64.b32decode(s + "=" * (-len(s) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("totp secret is not base32") from None
    if len(raw) < 16:
        raise ValueError("totp secret shorter than 128 bits")
    return s


def totp_uri(name: str, secret: str, issuer: str = "tocsin") -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or pasted)."""
    import pyotp

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=name, issuer_name=issuer
    )


def totp_code(secret: str, t: float) -> str:
    """The code for time ``t`` (what an authenticator shows; used by tests and enrolment)."""
    import pyotp

    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).at(t)


def totp_step(secret: str, code: str, t: float, *, after: int | None = None) -> int | None:
    """The time step ``code`` belongs to (now, or one step either side for clock
    drift), or None. A step at or before ``after`` (the last one accepted for
    this account) is refused: a code works once."""
    import pyotp

    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    now = int(t // TOTP_PERIOD)
    found = None
    for step in range(now - TOTP_DRIFT, now + TOTP_DRIFT + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            found = step
    if found is None or (after is not None and found <= after):
        return None
    return found


def key_fingerprint(key: bytes) -> str:
    """``SHA256:<base64>`` of the raw public key (as ssh-keygen prints keys)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key).digest()).decode().rstrip("=")


def load_operator_key(path: str | os.PathLike[str], passphrase: str | None = None) -> Ed25519PrivateKey:
    """An operator's Ed25519 private key (PEM, optionally encrypted with ``passphrase``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read key: {exc.strerror}", file=str(path), field="--key") from None
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode("utf-8") if passphrase else None
        )
    except TypeError:
        raise InputError(
            "the key is encrypted: give its passphrase in TOCSIN_OPERATOR_KEY_PASSPHRASE",
            file=str(path),
            field="--key",
        ) from None
    except ValueError:
        raise InputError(
            "not a PEM private key (or a wrong passphrase)", file=str(path), field="--key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("not an Ed25519 key", file=str(path), field="--key")
    return key


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Proof:
    """What an operator presents: a password, or a signature by their own key
    over ``statement`` (the exact step being authorised); plus a TOTP code when
    the account has one."""

    password: str | None = None
    statement: bytes | None = None
    signature: bytes | None = None
    totp: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :func:`verify_operator`: the account when the proof holds."""

    op: Operator | None
    #: the factors that were checked and held, e.g. ("password", "totp") or ("key",)
    factors: tuple[str, ...] = ()
    #: the TOTP step accepted (remember it: a code works once)
    totp_step: int | None = None
    #: why it failed (for the audit log; never shown to the client beyond "wrong")
    reason: str = ""


def verify_operator(
    store: OperatorStore, name: str, proof: Proof, t: float, *, totp_after: int | None = None
) -> Verdict:
    """Check ``proof`` for account ``name`` at time ``t`` (spends the scrypt work
    for unknown names too). A key proof needs a registered key; an account with
    TOTP needs a fresh code whichever the first factor."""
    op = store.operators.get(name)
    if proof.password is not None:
        if op is None:
            hash_password(proof.password, b"\0" * 16)  # the same time: no enumeration by timing
            return Verdict(None, reason="wrong name or password")
        if not op.check(proof.password):
            return Verdict(None, reason="wrong name or password")
        factors: tuple[str, ...] = ("password",)
    elif proof.statement is not None and proof.signature is not None:
        pub = op.public_key() if op is not None else None
        if op is None or pub is None:
            return Verdict(None, reason="no key registered for this operator")
        try:
            pub.verify(proof.signature, proof.statement)
        except InvalidSignature:
            return Verdict(None, reason="the signature does not match the operator's key")
        factors = ("key",)
    else:
        return Verdict(None, reason="no password or key given")
    if op.totp is None:
        return Verdict(op, factors)
    if not proof.totp:
        return Verdict(None, reason="one-time code required")
    step = totp_step(op.totp, proof.totp, t, after=totp_after)
    if step is None:
        return Verdict(None, reason="wrong or reused one-time code")
    return Verdict(op, (*factors, "totp"), step)


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InputError(
            "operator names are 1-32 of a-z 0-9 . _ - (lower case, no leading punctuation)", field="name"
        )
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise InputError(f"must be one of {', '.join(ROLES)}", field="role")
    return role  # type: ignore[return-value]


class OperatorStore:
    """The accounts file: load, add, remove, authenticate."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self.operators: dict[str, Operator] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        where = str(self.path)
        try:
            d = json_loads(read_file(self.path))  # (size and nesting limits: tocsin.limits)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the operator file ({exc})", file=where) from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(
                f"not a tocsin operator file (format must be {FORMAT})", file=where, field="format"
            )
        ops = d.get("operators")
        if not isinstance(ops, dict):
            raise InputError("must be an object", file=where, field="operators")
        for name, o in ops.items():
            fld = f"operators.{name}"
            try:
                check_name(name)
                if o.get("kdf") != "scrypt":
                    raise ValueError("kdf must be scrypt")
                totp = o.get("totp")
                key = o.get("key")
                if key is not None and len(_unb64(key)) != 32:
                    raise ValueError("key must be the base64 of a 32-byte Ed25519 public key")
                n, r, p = int(o["n"]), int(o["r"]), int(o["p"])
                # a damaged or hostile file must not make a login allocate gigabytes
                if not (n >= 2**10 and n & (n - 1) == 0 and r >= 1 and 128 * n * r <= 2**27 and 1 <= p <= 16):
                    raise ValueError("scrypt cost out of range (n a power of 2, 128*n*r <= 128 MiB, p 1..16)")
                self.operators[name] = Operator(
                    name=name,
                    role=check_role(o["role"]),
                    salt=_unb64(o["salt"]),
                    hash=_unb64(o["hash"]),
                    n=n,
                    r=r,
                    p=p,
                    created=float(o.get("created", 0.0)),
                    totp=check_totp_secret(totp) if totp is not None else None,
                    key=_unb64(key) if key is not None else None,
                )
            except (
                KeyError,
                TypeError,
                ValueError,
                OverflowError,
                AttributeError,
                InputError,
                binascii.Error,
            ) as exc:
                msg = exc.message if isinstance(exc, InputError) else str(exc) or type(exc).__name__
                raise InputError(f"bad account: {msg}", file=where, field=fld) from None

    def save(self) -> None:
        """Write the file atomically (temporary file, fsync, rename), mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "operators": {n: o.to_dict() for n, o in sorted(self.operators.items())}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)

    def add(self, name: str, password: str, role: str = "operator", *, replace: bool = False) -> Operator:
        check_name(name)
        r = check_role(role)
        if name in self.operators and not replace:
            raise InputError(f"operator {name!r} exists", field="name")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"password must have at least {MIN_PASSWORD} characters", field="password")
        salt = secrets.token_bytes(16)
        old = self.operators.get(name)
        op = Operator(
            name,
            r,
            salt,
            hash_password(password, salt),
            created=self.clock(),
            totp=old.totp if old is not None else None,  # a new password keeps the factors
            key=old.key if old is not None else None,
        )
        self.operators[name] = op
        return op

    def require(self, name: str) -> Operator:
        op = self.operators.get(name)
        if op is None:
            raise InputError(f"no operator {name!r}", field="name")
        return op

    def set_totp(self, name: str, secret: str | None) -> Operator:
        """Enrol (or with None remove) the account's TOTP second factor."""
        op = dataclasses.replace(
            self.require(name), totp=check_totp_secret(secret) if secret is not None else None
        )
        self.operators[name] = op
        return op

    def set_key(self, name: str, key: Ed25519PublicKey | None) -> Operator:
        """Register (or with None remove) the operator's own Ed25519 public key."""
        op = dataclasses.replace(self.require(name), key=raw_public(key) if key is not None else None)
        self.operators[name] = op
        return op

    def remove(self, name: str) -> None:
        self.require(name)
        del self.operators[name]

    def authenticate(self, name: str, password: str) -> Operator | None:
        """The account if the password matches, else None (same work either way)."""
        op = self.operators.get(name)
        if op is None:
            hash_password(password, b"\0" * 16)  # spend the same time: no user enumeration by timing
            return None
        return op if op.check(password) else None

    def __len__(self) -> int:
        return len(self.operators)

    def __iter__(self) -> Iterator[Operator]:
        return iter(sorted(self.operators.values(), key=lambda o: o.name))


@dataclass
class Session:
    token: str
    name: str
    role: Role
    csrf: str
    created: float
    last_seen: float

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "csrf": self.csrf}


@dataclass
class SessionStore:
    """In-memory login sessions (a restart logs everyone out)."""

    clock: Callable[[], float] = time.time
    idle_s: float = 3600.0
    max_age_s: float = 12 * 3600.0
    max_sessions: int = 1000
    sessions: dict[str, Session] = field(default_factory=dict)

    def create(self, op: Operator) -> Session:
        now = self.clock()
        self._expire(now)
        if len(self.sessions) >= self.max_sessions:
            oldest = min(self.sessions.values(), key=lambda s: s.last_seen)
            del self.sessions[oldest.token]
        s = Session(secrets.token_urlsafe(32), op.name, op.role, secrets.token_urlsafe(32), now, now)
        self.sessions[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        s = self.sessions.get(token)
        if s is None:
            return None
        now = self.clock()
        if now - s.last_seen > self.idle_s or now - s.created > self.max_age_s:
            del self.sessions[token]
            return None
        s.last_seen = now
        return s

    def drop(self, token: str) -> None:
        self.sessions.pop(token, None)

    def drop_user(self, name: str) -> None:
        for t in [t for t, s in self.sessions.items() if s.name == name]:
            del self.sessions[t]

    def _expire(self, now: float) -> None:
        for t in [
            t
            for t, s in self.sessions.items()
            if now - s.last_seen > self.idle_s or now - s.created > self.max_age_s
        ]:
            del self.sessions[t]


def csrf_ok(session: Session, header: str | None) -> bool:
    """True when the request echoes the session's CSRF token (constant time)."""
    return header is not None and hmac.compare_digest(header.encode(), session.csrf.encode())


@dataclass
class _Backoff:
    failures: int = 0
    #: the last failure
    seen: float = 0.0
    until: float = 0.0


@dataclass
class LoginThrottle:
    """Per-client exponential backoff (module doc); never a lockout of a name.

    Keys are clients (``device:<id>``, ``addr:<address>``) or the shared budget
    of unknown clients for one name (``name:<name>``, ``untrusted_free``
    failures). :meth:`wait` is how long the given keys must still wait;
    :meth:`failed` counts a failure against each of them. A key's failures are
    forgotten after ``window_s`` without one: a guesser who waits out every
    backoff stays at ``max_wait_s`` between tries. Memory is bounded
    (``max_keys``; the entries not in backoff go first).

    Past ``max_total`` failures over everything in a minute the throttle is
    :meth:`flooded`: failures are no longer journalled one by one."""

    clock: Callable[[], float] = time.time
    free_failures: int = 5
    untrusted_free: int = 20
    base_s: float = 1.0
    max_wait_s: float = 300.0
    window_s: float = 900.0
    max_keys: int = 10_000
    max_total: int = 60
    flood_window_s: float = 60.0
    keys: dict[str, _Backoff] = field(default_factory=dict)
    all_failures: list[float] = field(default_factory=list)
    #: a ``login_flood`` entry was journalled for the current flood
    flooded_noted: bool = False

    def _free(self, key: str) -> int:
        return self.untrusted_free if key.startswith("name:") else self.free_failures

    def wait(self, keys: Sequence[str]) -> float:
        """Seconds before a try from these keys is allowed (0: now)."""
        now = self.clock()
        w = 0.0
        for k in keys:
            b = self.keys.get(k)
            if b is not None:
                w = max(w, b.until - now)
        return max(0.0, w)

    def failed(self, keys: Sequence[str]) -> None:
        now = self.clock()
        for k in keys:
            b = self.keys.get(k)
            if b is None:
                self._make_room()
                b = self.keys[k] = _Backoff()
            if now - b.seen >= self.window_s:  # quiet that long: forgiven
                b.failures = 0
            b.failures += 1
            b.seen = now
            over = b.failures - self._free(k)
            if over > 0:
                b.until = now + min(self.max_wait_s, self.base_s * 2 ** min(over - 1, 30))
        if len(self.all_failures) < 10 * self.max_total:
            self.all_failures.append(now)

    def succeeded(self, keys: Sequence[str]) -> None:
        for k in keys:
            self.keys.pop(k, None)

    def _make_room(self) -> None:
        if len(self.keys) < self.max_keys:
            return
        now = self.clock()
        idle = [k for k, b in self.keys.items() if b.until <= now]
        for k in sorted(idle, key=lambda k: self.keys[k].seen)[: max(1, len(self.keys) // 10)]:
            del self.keys[k]
        while len(self.keys) >= self.max_keys:  # everything in backoff: the oldest goes
            del self.keys[min(self.keys, key=lambda k: self.keys[k].seen)]

    def flooded(self) -> bool:
        now = self.clock()
        self.all_failures = [t for t in self.all_failures if now - t < self.flood_window_s]
        if len(self.all_failures) < self.max_total:
            self.flooded_noted = False
            return False
        return True


class DeviceTokens:
    """Tokens a successful login leaves in the operator's browser (module doc):
    ``<id>.<expiry>.<mac>``, the MAC an HMAC-SHA256 over id, expiry and the
    operator's name with a server secret. Only the server can make one; it is
    good for one name and ``max_age_s``."""

    def __init__(
        self, secret: bytes, *, clock: Callable[[], float] = time.time, max_age_s: float = 30 * 86400.0
    ) -> None:
        if len(secret) < 32:
            raise ValueError("device-token secret must be at least 32 bytes")
        self._secret = secret
        self.clock = clock
        self.max_age_s = max_age_s

    @classmethod
    def at(cls, path: str | os.PathLike[str], **kw: Any) -> DeviceTokens:
        """The secret kept in ``path`` (created with mode 0600 if missing), so
        tokens survive a restart."""
        p = Path(path)
        try:
            secret = p.read_bytes()
        except FileNotFoundError:
            p.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_bytes(32)
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # made meanwhile by another process
                secret = p.read_bytes()
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secret)
        if len(secret) < 32:
            raise ConfigError(f"{p}: device-token secret is damaged (delete it: operators log in again)")
        return cls(secret, **kw)

    def _mac(self, ident: str, expiry: int, name: str) -> str:
        msg = f"{ident}.{expiry}.{name}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._secret, msg, hashlib.sha256).digest()[:24]).decode()

    def issue(self, name: str) -> str:
        ident = secrets.token_urlsafe(16)
        expiry = int(self.clock() + self.max_age_s)
        return f"{ident}.{expiry}.{self._mac(ident, expiry, name)}"

    def check(self, token: str | None, name: str) -> str | None:
        """The device id if ``token`` is a live token for ``name``, else None."""
        if not token or len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        ident, expiry, mac = parts[0], int(parts[1]), parts[2]
        if expiry < self.clock():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(ident, expiry, name).encode()):
            return None
        return ident


def device_cookie(name: str) -> str:
    """The cookie that holds ``name``'s device token (one per operator: two
    operators may share a desk's browser)."""
    return f"tocsin_device_{name}"


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What :meth:`LoginGate.attempt` decided (the dashboard turns it into HTTP)."""

    status: int  # 200 ok, 401 wrong, 429 wait
    op: Operator | None = None
    retry_after: int = 0
    factors: tuple[str, ...] = ()
    #: a fresh device token to set (on success)
    device_token: str | None = None
    #: the client was recognised by its device token
    trusted: bool = False
    #: journal this failure one by one (False while flooded)
    journal_failure: bool = False
    #: this failure started a flood (journal one ``login_flood`` entry)
    flood_started: bool = False
    reason: str = ""


class LoginGate:
    """Password (+ TOTP) logins with per-client backoff (module doc). Thread-safe:
    the dashboard calls :meth:`attempt` from worker threads (scrypt is slow)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, devices: DeviceTokens | None = None
    ) -> None:
        self.clock = clock
        self.throttle = LoginThrottle(clock=clock)
        self.devices = devices if devices is not None else DeviceTokens(secrets.token_bytes(32), clock=clock)
        self._lock = threading.Lock()
        #: last TOTP step accepted per account (a code works once)
        self.totp_steps: dict[str, int] = {}

    def keys(self, name: str, address: str | None, device_token: str | None) -> tuple[list[str], bool]:
        dev = self.devices.check(device_token, name)
        if dev is not None:
            return [f"device:{dev}"], True
        return [f"addr:{address or '?'}", f"name:{name}"], False

    def attempt(
        self,
        store: OperatorStore,
        name: str,
        password: str,
        totp: str | None,
        *,
        address: str | None,
        device_token: str | None,
    ) -> LoginOutcome:
        keys, trusted = self.keys(name, address, device_token)
        with self._lock:
            wait = self.throttle.wait(keys)
            if wait > 0:
                return LoginOutcome(429, retry_after=math.ceil(wait), trusted=trusted, reason="backoff")
            after = self.totp_steps.get(name)
        v = verify_operator(store, name, Proof(password=password, totp=totp), self.clock(), totp_after=after)
        with self._lock:
            if v.op is None:
                flooded = self.throttle.flooded()
                self.throttle.failed(keys)
                start = flooded and not self.throttle.flooded_noted
                if start:
                    self.throttle.flooded_noted = True
                return LoginOutcome(
                    401, trusted=trusted, journal_failure=not flooded, flood_started=start, reason=v.reason
                )
            if v.totp_step is not None:
                if v.totp_step <= self.totp_steps.get(name, -1):  # the same code raced in twice
                    self.throttle.failed(keys)
                    return LoginOutcome(401, trusted=trusted, journal_failure=True, reason="reused code")
                self.totp_steps[name] = v.totp_step
            self.throttle.succeeded(keys[:1])  # this client; the name's shared budget stays
        return LoginOutcome(
            200, op=v.op, factors=v.factors, device_token=self.devices.issue(name), trusted=trusted
        )


def load_store(path: str | os.PathLike[str]) -> OperatorStore:
    try:
        return OperatorStore(path)
    except InputError:
        raise
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None


__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "TOTP_PERIOD",
    "DeviceTokens",
    "LoginGate",
    "LoginOutcome",
    "LoginThrottle",
    "Operator",
    "OperatorStore",
    "Proof",
    "Session",
    "SessionStore",
    "Verdict",
    "check_name",
    "check_role",
    "check_totp_secret",
    "csrf_ok",
    "device_cookie",
    "hash_password",
    "key_fingerprint",
    "load_operator_key",
    "load_store",
    "new_totp_secret",
    "raw_public",
    "totp_code",
    "totp_step",
    "totp_uri",
    "verify_operator",
]
