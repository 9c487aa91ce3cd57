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
``idle_s`` without a request or ``max_age_s`` after login. Repeated failed logins
for one name are slowed down (:class:`LoginThrottle`).

The wall clock is passed in (``clock``) so tests can move time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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

    def check(self, password: str) -> bool:
        got = hash_password(password, self.salt, n=self.n, r=self.r, p=self.p)
        return hmac.compare_digest(got, self.hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "kdf": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": _b64(self.salt),
            "hash": _b64(self.hash),
            "created": self.created,
        }


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
                self.operators[name] = Operator(
                    name=name,
                    role=check_role(o["role"]),
                    salt=_unb64(o["salt"]),
                    hash=_unb64(o["hash"]),
                    n=int(o["n"]),
                    r=int(o["r"]),
                    p=int(o["p"]),
                    created=float(o.get("created", 0.0)),
                )
            except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:
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
        op = Operator(name, r, salt, hash_password(password, salt), created=self.clock())
        self.operators[name] = op
        return op

    def remove(self, name: str) -> None:
        if name not in self.operators:
            raise InputError(f"no operator {name!r}", field="name")
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
class LoginThrottle:
    """At most ``max_failures`` failed logins per name within ``window_s``.

    Past ``max_total`` failures over all names in the window the throttle is
    :meth:`flooded`: logins still work (a flood must not lock the operators out),
    but failures are no longer journalled one by one."""

    clock: Callable[[], float] = time.time
    max_failures: int = 5
    max_total: int = 60
    window_s: float = 60.0
    failures: dict[str, list[float]] = field(default_factory=dict)
    all_failures: list[float] = field(default_factory=list)
    #: a ``login_flood`` entry was journalled for the current flood
    flooded_noted: bool = False

    def flooded(self) -> bool:
        now = self.clock()
        self.all_failures = [t for t in self.all_failures if now - t < self.window_s]
        if len(self.all_failures) < self.max_total:
            self.flooded_noted = False
            return False
        return True

    def blocked(self, name: str) -> bool:
        now = self.clock()
        recent = [t for t in self.failures.get(name, []) if now - t < self.window_s]
        if recent:
            self.failures[name] = recent
        else:
            self.failures.pop(name, None)
        return len(recent) >= self.max_failures

    def failed(self, name: str) -> None:
        if len(self.failures) > 10_000:  # bounded memory under a flood of names
            self.failures.clear()
        now = self.clock()
        self.failures.setdefault(name, []).append(now)
        if len(self.all_failures) < 10 * self.max_total:
            self.all_failures.append(now)

    def succeeded(self, name: str) -> None:
        self.failures.pop(name, None)


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
    "LoginThrottle",
    "Operator",
    "OperatorStore",
    "Session",
    "SessionStore",
    "check_name",
    "check_role",
    "csrf_ok",
    "hash_password",
    "load_store",
]
