"""Ingress: the checks every message passes before fusion sees it.

In order (the first failure decides the reason)::

    too_large / too_deep
                     over a decoder limit (:data:`tocsin.wire.MAX_MESSAGE_BYTES`,
                     :data:`tocsin.wire.MAX_DEPTH`): refused before decoding
    schema           the decoder's WireError (its JSON path is the field), an
                     object that repeats a member name among them
    unknown_kind     a well-formed envelope of a kind this version does not know
    unknown_partner  partner not in the registry
    missing_signature / legacy_signature / bad_signature
                     no ``sig``; a legacy ``v: 1`` signature the partner's
                     registry entry does not accept (``accept_v1``); or not a
                     valid Ed25519 signature by the partner
                     (:mod:`tocsin.exchange.signing`)
    kind_not_allowed the partner may not send this kind
    foreign_source   the source does not match the partner's source globs
    clock_skew       ``|sent - now| > max_skew_s``
    too_many_sources the replay-window table is full (bounded memory)
    seq_jump         ``seq`` more than ``max_seq_jump`` (2**32) above the source's
                     highest accepted one (``seq`` itself is at most 2**53 - 1,
                     a schema limit): one message cannot freeze a source for good
    duplicate        this (partner, source, seq) was already accepted
    stale            ``seq`` at or below the window floor ``hi - window``

and ``poison``: a message a transport gave up on (:meth:`Ingress.reject_raw`;
NATS: processing it raised, or it was redelivered too often).

A ``bundle`` (many envelopes under one v2 signature) is authenticated once;
then each member is checked from ``kind_not_allowed`` on as if it had arrived
alone (a member of another partner is ``foreign_source``, a nested bundle
``schema``). Its :class:`Verdict` is ok when the bundle itself verified, and
``parts`` holds one verdict per member, with fields named from the bundle
(``$.body.messages[3].seq``).

Signature checks come before the policy checks so an unauthenticated sender
learns nothing about the policy, and the replay window is updated last, only
for a message that passed everything else, so a forged message cannot burn a
sequence number.

Bounded rejects: every rejection is counted, by reason (``rejected``) and by
partner and reason (``rejected_by``: the partner only when authenticated, else
``-``), but only a sample is journalled in full: at most
:data:`REJECT_SAMPLE_BYTES` (1 MiB) of reject entries per partner (``-``
counting as one) per :data:`REJECT_WINDOW_S` (60 s); beyond it, one
``suppressed`` entry per partner per window says how many of which reason were
left out. So the journal grows by at most ~1 MiB per registered partner plus one
per minute under any flood of rejected messages (:class:`RejectSampler`).

The checker never reads the wall clock: ``now`` is passed to :meth:`Ingress.check`
or taken from the injected ``clock`` callable. Every rejection increments
``Ingress.rejected[reason]`` and, when a recorder is given, is written to the
journal as a ``reject`` entry; nothing here raises on bad input.

Without a registry (``registry=None``) the checker runs in *open* mode: no
signature or partner policy checks, only schema, clock and replay window. That is
the local development default of ``tocsin serve``; production nodes pass a
registry.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tocsin.errors import WireError
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, verify
from tocsin.wire import (
    BundleBody,
    Envelope,
    LimitExceeded,
    UnknownKind,
    decode_json,
    decode_json_parsed,
    decode_msgpack,
    decode_msgpack_parsed,
)

REASONS: tuple[str, ...] = (
    "too_large",
    "too_deep",
    "schema",
    "unknown_kind",
    "unknown_partner",
    "missing_signature",
    "legacy_signature",
    "bad_signature",
    "kind_not_allowed",
    "foreign_source",
    "clock_skew",
    "too_many_sources",
    "seq_jump",
    "duplicate",
    "stale",
    "poison",
)

#: reasons decided after the signature (the partner is who it says)
_AUTHENTICATED = frozenset(
    {"kind_not_allowed", "foreign_source", "clock_skew", "too_many_sources", "seq_jump", "duplicate", "stale"}
)
#: the partner label of rejects whose sender is not authenticated
UNAUTHENTICATED = "-"

_MISSING = re.compile(r"missing required field `([A-Za-z_]\w*)`")

#: how many bytes of a rejected message are kept in its journal entry
REJECT_KEEP_BYTES = 4096
#: reject entries journalled in full per partner per window (bytes), and the window
REJECT_SAMPLE_BYTES = 1 << 20
REJECT_WINDOW_S = 60.0
#: what one journal entry costs beyond its payload (hash chain, row): counted too
_ENTRY_OVERHEAD = 128


class RejectSampler:
    """The journal budget of rejects (module doc, "Bounded rejects"). ``clock``
    is monotonic time; it decides only what is journalled, never a verdict."""

    def __init__(
        self,
        budget_bytes: int = REJECT_SAMPLE_BYTES,
        window_s: float = REJECT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_bytes = budget_bytes
        self.window_s = window_s
        self.clock = clock
        #: per partner: (window start, bytes used, suppressed reasons, suppressed raw bytes)
        self._state: dict[str, tuple[float, int, Counter[str], int]] = {}

    def take(self, key: str, nbytes: int) -> tuple[bool, list[bytes]]:
        """May a reject entry of ``nbytes`` for ``key`` be journalled? And the
        summaries of windows that ended (to journal first)."""
        now = self.clock()
        out = self.due(now)
        st = self._state.get(key)
        if st is None:
            st = (now, 0, Counter(), 0)
        start, used, supp, sbytes = st
        cost = nbytes + _ENTRY_OVERHEAD
        ok = used + cost <= self.budget_bytes
        self._state[key] = (start, used + cost if ok else used, supp, sbytes)
        return ok, out

    def suppressed(self, key: str, reason: str, raw_len: int) -> None:
        start, used, supp, sbytes = self._state[key]
        supp[reason] += 1
        self._state[key] = (start, used, supp, sbytes + raw_len)

    def due(self, now: float | None = None, *, all_: bool = False) -> list[bytes]:
        """Summary payloads of the windows that are over (``all_``: every window,
        as at shutdown); those windows start again."""
        now = self.clock() if now is None else now
        out: list[bytes] = []
        for key, (start, _used, supp, sbytes) in list(self._state.items()):
            if all_ or now - start >= self.window_s:
                if supp:
                    rec = {
                        "reason": "suppressed",
                        "partner": key,
                        "counts": dict(sorted(supp.items())),
                        "messages": sum(supp.values()),
                        "raw_bytes": sbytes,
                        "window_s": self.window_s,
                        "detail": "rejects over the journal budget of this partner: counted, not journalled",
                    }
                    out.append(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
                del self._state[key]
        return out


class RejectRecorder(Protocol):
    """Where rejections are recorded (the journal implements this)."""

    def append(self, kind: str, payload: bytes) -> object: ...


#: a refusal found before any state changed: (reason, field, detail)
_Problem = tuple[str, str | None, str]


@dataclass(frozen=True, slots=True)
class Prechecked:
    """A message decoded and authenticated by :meth:`Ingress.precheck`."""

    data: bytes
    fmt: str
    env: Envelope | None
    problem: _Problem | None
    #: an authenticated bundle's members, decoded in the same thread (each an
    #: envelope, or the decoder's error): the worker only checks them
    members: tuple[Envelope | WireError, ...] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one check. ``env`` is the decoded message when there is one."""

    ok: bool
    env: Envelope | None = None
    reason: str | None = None
    field: str | None = None
    detail: str = ""
    #: a bundle's members, one verdict each (empty for a plain message)
    parts: tuple[Verdict, ...] = ()

    def accepted_envs(self) -> list[Envelope]:
        """The messages this verdict lets through: the message itself, or a
        bundle's accepted members."""
        if not self.ok or self.env is None:
            return []
        if self.env.kind == "bundle":
            return [p.env for p in self.parts if p.ok and p.env is not None]
        return [self.env]

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"ok": self.ok}
        if self.env is not None:
            d["source"] = self.env.source
            d["seq"] = self.env.seq
        if not self.ok:
            d["reason"] = self.reason
            if self.field:
                d["field"] = self.field
            d["detail"] = self.detail
        elif self.parts:
            ok = sum(1 for p in self.parts if p.ok)
            d["accepted"] = ok
            d["rejected"] = len(self.parts) - ok
            d["rejects"] = [
                {"index": i, "reason": p.reason, "field": p.field, "detail": p.detail}
                for i, p in enumerate(self.parts)
                if not p.ok
            ]
        return d


class SeqWindow:
    """Anti-replay window over one source's sequence numbers (as in IPsec, RFC 4303
    §3.4.3): the highest accepted ``hi`` and a bitmask of the ``size`` numbers at
    or below it. Bit ``i`` set means ``hi - i`` was accepted.

    ``seq > hi`` is new; ``hi - size < seq <= hi`` is new unless its bit is set;
    ``seq <= hi - size`` (at or below the floor) is refused as stale.
    """

    __slots__ = ("hi", "mask", "size")

    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError("window size must be >= 1")
        self.size = size
        self.hi = -1
        self.mask = 0

    @property
    def floor(self) -> int:
        """Sequence numbers at or below this are refused (-1: nothing seen yet)."""
        return self.hi - self.size if self.hi >= 0 else -1

    def status(self, seq: int) -> str | None:
        """None if ``seq`` would be accepted, else ``"duplicate"`` or ``"stale"``."""
        if self.hi < 0 or seq > self.hi:
            return None
        off = self.hi - seq
        if off >= self.size:
            return "stale"
        if (self.mask >> off) & 1:
            return "duplicate"
        return None

    def mark(self, seq: int) -> None:
        """Record ``seq`` as accepted (call only after :meth:`status` said None)."""
        full = (1 << self.size) - 1
        if self.hi < 0:
            self.hi, self.mask = seq, 1
        elif seq > self.hi:
            shift = seq - self.hi
            self.mask = ((self.mask << shift) | 1) & full if shift < self.size else 1
            self.hi = seq
        else:
            self.mask |= 1 << (self.hi - seq)

    def accept(self, seq: int) -> str | None:
        """Check and mark in one step; returns the refusal reason or None."""
        st = self.status(seq)
        if st is None:
            self.mark(seq)
        return st


class Ingress:
    """Checks messages against schema, partner policy, signatures, clock and replay.

    Parameters
    ----------
    registry:
        Partner keys and policy; ``None`` runs in open mode (see module doc).
    window:
        Replay window per source, in sequence numbers.
    max_skew_s:
        Largest accepted ``|sent - now|``; ``None`` disables the clock check.
    clock:
        Called for ``now`` when :meth:`check` is not given one.
    recorder:
        Gets a ``reject`` journal entry for every rejection.
    max_sources:
        Bound on the replay-window table (memory under a flood of new names).
    max_seq_jump:
        Largest step above a source's highest accepted ``seq`` (``seq_jump``). A
        heartbeat's ``seq`` is its time in ms: 2**32 allows a 49-day outage.
    sampler:
        The journal budget of rejects (:class:`RejectSampler`).
    """

    def __init__(
        self,
        registry: PartnerRegistry | None = None,
        *,
        window: int = 1024,
        max_skew_s: float | None = 30.0,
        clock: Callable[[], float] | None = None,
        recorder: RejectRecorder | None = None,
        max_sources: int = 65_536,
        max_seq_jump: int = 2**32,
        sampler: RejectSampler | None = None,
    ) -> None:
        self.registry = registry
        self.window = window
        self.max_skew_s = max_skew_s
        self.clock = clock
        self.recorder = recorder
        self.max_sources = max_sources
        self.max_seq_jump = max_seq_jump
        self.sampler = sampler or RejectSampler()
        self.windows: dict[tuple[str, str], SeqWindow] = {}
        self.accepted: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        #: rejects by (partner, reason): the partner when authenticated, else "-"
        self.rejected_by: Counter[tuple[str, str]] = Counter()
        #: messages accepted under a legacy v1 signature, per partner
        self.legacy_accepted: Counter[str] = Counter()

    @property
    def open_mode(self) -> bool:
        return self.registry is None

    # ------------------------------------------------------------ entry points

    def check_bytes(self, data: bytes, *, now: float | None = None, fmt: str = "json") -> Verdict:
        """Decode (JSON or ``fmt="msgpack"``) and check one message."""
        return self.check_prechecked(self.precheck(data, fmt), now=now)

    def check(
        self, env: Envelope, *, now: float | None = None, raw: bytes | None = None, fmt: str = "json"
    ) -> Verdict:
        """Check one decoded message; on success its sequence number is consumed.

        ``raw`` is the message as received (JSON, or MessagePack with
        ``fmt="msgpack"``): a v2 signature is verified over its canonical form.
        Without it, over the canonical form of ``env`` itself."""
        problem = self._auth_problem(env, raw, fmt)
        if problem is not None:
            return self._reject(env, *problem, raw)
        return self._after_auth(env, now, raw, fmt)

    # ------------------------------------------------------------ precheck

    def precheck(self, data: bytes, fmt: str = "json") -> Prechecked:
        """Decode and authenticate one message without touching any state:
        safe to run in another thread while the worker checks and journals
        earlier messages (Ed25519 verification releases the GIL). Nothing is
        counted or journalled until :meth:`check_prechecked`."""
        value = None
        try:
            if fmt == "json":
                env, value = decode_json_parsed(data)
            else:
                env, value = decode_msgpack_parsed(data)
        except WireError as exc:
            return Prechecked(data, fmt, None, decode_problem(exc))
        problem = self._auth_problem(env, data, fmt, value)
        members = None
        if problem is None and isinstance(env.body, BundleBody):
            # (stateless too: decoded here, off the worker, which checks them in order)
            members = tuple(_decode_member(bytes(m), fmt) for m in env.body.messages)
        return Prechecked(data, fmt, env, problem, members)

    def precheck_many(self, lines: Sequence[bytes], fmt: str = "json") -> list[Prechecked]:
        return [self.precheck(ln, fmt) for ln in lines]

    def check_prechecked(self, pc: Prechecked, *, now: float | None = None) -> Verdict:
        """The rest of the checks, in order, for a :meth:`precheck` result (which
        must come from this ingress: its registry decided the signature)."""
        if pc.problem is not None:
            return self._reject(pc.env, *pc.problem, pc.data)
        assert pc.env is not None
        return self._after_auth(pc.env, now, pc.data, pc.fmt, pc.members)

    # ------------------------------------------------------------ steps

    def _auth_problem(self, env: Envelope, raw: bytes | None, fmt: str, value: Any = None) -> _Problem | None:
        """Partner, signature version and signature (no state, no counters);
        ``value``: ``raw`` parsed already (:func:`~tocsin.wire.decode_json_parsed`)."""
        reg = self.registry
        if reg is None:
            return None
        pol = reg.get(env.partner)
        if pol is None:
            return ("unknown_partner", "$.partner", f"unknown partner {env.partner!r}")
        if not env.sig:
            return ("missing_signature", "$.sig", "message is not signed")
        if env.v == 1 and (not pol.accept_v1 or env.kind == "bundle"):
            return (
                "legacy_signature",
                "$.v",
                f"v1 signatures (tocsin's msgspec bytes) are not accepted from {env.partner}: "
                "sign v 2 over RFC 8785 canonical JSON (docs/exchange-format.md)",
            )
        if not verify(env, pol.public_key, raw=raw, fmt=fmt, value=value):
            return ("bad_signature", "$.sig", f"signature does not verify for {env.partner}")
        return None

    def _after_auth(
        self,
        env: Envelope,
        now: float | None,
        raw: bytes | None,
        fmt: str,
        members: tuple[Envelope | WireError, ...] | None = None,
    ) -> Verdict:
        pol = self.registry.get(env.partner) if self.registry is not None else None
        if isinstance(env.body, BundleBody):
            return self._check_bundle(env, pol, now, fmt, members)
        return self._admit(env, pol, now, raw)

    def _check_bundle(
        self,
        env: Envelope,
        pol: PartnerPolicy | None,
        now: float | None,
        fmt: str,
        members: tuple[Envelope | WireError, ...] | None = None,
    ) -> Verdict:
        """The members of an authenticated (or, in open mode, any) bundle
        (``members``: decoded already, by :meth:`precheck`)."""
        assert isinstance(env.body, BundleBody)
        if members is None or len(members) != len(env.body.messages):
            members = tuple(_decode_member(bytes(m), fmt) for m in env.body.messages)
        parts: list[Verdict] = []
        for i, (m, menv) in enumerate(zip(env.body.messages, members, strict=True)):
            at = f"$.body.messages[{i}]"
            data = bytes(m)
            if isinstance(menv, WireError):
                reason, fld, detail = decode_problem(menv)
                parts.append(self._reject(None, reason, fld or "$", detail, data, at))
                continue
            if isinstance(menv.body, BundleBody):
                parts.append(self._reject(menv, "schema", "$.kind", "a bundle inside a bundle", data, at))
            elif menv.partner != env.partner:
                parts.append(
                    self._reject(
                        menv,
                        "foreign_source",
                        "$.partner",
                        f"a bundle of {env.partner} carries a message of {menv.partner}",
                        data,
                        at,
                    )
                )
            else:
                parts.append(self._admit(menv, pol, now, data, at))
        return Verdict(True, env, parts=tuple(parts))

    def _admit(
        self, env: Envelope, pol: PartnerPolicy | None, now: float | None, raw: bytes | None, at: str = "$"
    ) -> Verdict:
        """Policy, clock and replay window: the checks after authentication."""
        if pol is not None:
            if not pol.may_send(env.kind):
                return self._reject(
                    env, "kind_not_allowed", "$.kind", f"{env.partner} may not send {env.kind!r}", raw, at
                )
            if not pol.owns_source(env.source):
                return self._reject(
                    env,
                    "foreign_source",
                    "$.source",
                    f"{env.source!r} is not a source of {env.partner}",
                    raw,
                    at,
                )
        if self.max_skew_s is not None:
            t_now = now if now is not None else (self.clock() if self.clock is not None else None)
            if t_now is not None and abs(env.sent - t_now) > self.max_skew_s:
                return self._reject(
                    env,
                    "clock_skew",
                    "$.sent",
                    f"sent is {env.sent - t_now:+.3f} s from the node clock (limit {self.max_skew_s:g} s)",
                    raw,
                    at,
                )
        key = (env.partner, env.source)
        win = self.windows.get(key)
        if win is None:
            if len(self.windows) >= self.max_sources:
                return self._reject(env, "too_many_sources", "$.source", "replay-window table full", raw, at)
            win = self.windows[key] = SeqWindow(self.window)
        elif win.hi >= 0 and env.seq - win.hi > self.max_seq_jump:
            return self._reject(
                env,
                "seq_jump",
                "$.seq",
                f"seq {env.seq} of {env.source} is more than {self.max_seq_jump} above its highest {win.hi}",
                raw,
                at,
            )
        st = win.accept(env.seq)
        if st is not None:
            detail = (
                f"seq {env.seq} of {env.source} already accepted"
                if st == "duplicate"
                else f"seq {env.seq} of {env.source} is at or below the window floor {win.floor}"
            )
            return self._reject(env, st, "$.seq", detail, raw, at)
        self.accepted[env.kind] += 1
        if env.v == 1 and pol is not None:
            self.legacy_accepted[env.partner] += 1
        return Verdict(True, env)

    def restore(self, env: Envelope) -> None:
        """Mark an already-accepted message (crash recovery from the journal)."""
        key = (env.partner, env.source)
        win = self.windows.get(key)
        if win is None:
            win = self.windows[key] = SeqWindow(self.window)
        if win.status(env.seq) is None:
            win.mark(env.seq)
        self.accepted[env.kind] += 1

    def reject_raw(self, data: bytes, reason: str, detail: str) -> Verdict:
        """Count and journal (bounded) a message a transport refuses before
        ingress could check it (e.g. ``poison``)."""
        return self._reject(None, reason, "$", detail, data)

    # Stage-like use: accepted messages pass through, rejected ones vanish
    # (counted and journalled).
    def push(self, env: Envelope) -> list[Envelope]:
        return self.check(env).accepted_envs()

    def advance(self, t: float) -> list[Envelope]:
        return []

    # ------------------------------------------------------------ internals

    def _reject(
        self,
        env: Envelope | None,
        reason: str,
        field: str | None,
        detail: str,
        raw: bytes | None,
        at: str = "$",
    ) -> Verdict:
        if at != "$" and field is not None and field.startswith("$"):
            field = at + field[1:]
        self.rejected[reason] += 1
        authenticated = env is not None and reason in _AUTHENTICATED and self.registry is not None
        who = env.partner if authenticated and env is not None else UNAUTHENTICATED
        self.rejected_by[(who, reason)] += 1
        if self.recorder is not None:
            payload = reject_payload(env, reason, field, detail, raw)
            ok, summaries = self.sampler.take(who, len(payload))
            for summary in summaries:
                self.recorder.append("reject", summary)
            if ok:
                self.recorder.append("reject", payload)
            else:
                self.sampler.suppressed(who, reason, len(raw) if raw is not None else 0)
        return Verdict(False, env, reason, field, detail)

    def flush_rejects(self) -> None:
        """Journal the counts of rejects left out of every window so far (at a
        clean stop: no window's summary is lost)."""
        if self.recorder is not None:
            for summary in self.sampler.due(all_=True):
                self.recorder.append("reject", summary)


def _decode_member(data: bytes, fmt: str) -> Envelope | WireError:
    """A bundle member decoded, or the decoder's error. (Its size and nesting
    are within the decoder limits already: the bundle holding it was checked
    against them whole, :func:`tocsin.wire.codec.check_limits`.)"""
    try:
        return decode_json(data, checked=True) if fmt == "json" else decode_msgpack(data, checked=True)
    except WireError as exc:
        return exc.with_traceback(None)  # (no frame kept alive with it)


def decode_problem(exc: WireError) -> tuple[str, str | None, str]:
    """(reason, field, detail) of a message the decoder refused."""
    if isinstance(exc, LimitExceeded):
        return ("too_large" if exc.what == "size" else "too_deep", exc.field, exc.message)
    if isinstance(exc, UnknownKind):
        return ("unknown_kind", exc.field, exc.message)
    fld = exc.field
    m = _MISSING.search(exc.message)
    if m is not None and (fld is None or fld == "$"):
        fld = f"$.{m.group(1)}"
    return ("schema", fld, exc.message)


def reject_payload(
    env: Envelope | None, reason: str, field: str | None, detail: str, raw: bytes | None
) -> bytes:
    """The journal payload of a rejection: reason, field, who, and the first bytes."""
    rec: dict[str, object] = {"reason": reason, "field": field, "detail": detail}
    if env is not None:
        rec.update(partner=env.partner, source=env.source, seq=env.seq, kind=env.kind)
    if raw is not None:
        rec["raw"] = raw[:REJECT_KEEP_BYTES].decode("utf-8", errors="replace")
        rec["raw_len"] = len(raw)
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


__all__ = [
    "REASONS",
    "REJECT_SAMPLE_BYTES",
    "REJECT_WINDOW_S",
    "UNAUTHENTICATED",
    "Ingress",
    "Prechecked",
    "RejectRecorder",
    "RejectSampler",
    "SeqWindow",
    "Verdict",
    "decode_problem",
    "reject_payload",
]
