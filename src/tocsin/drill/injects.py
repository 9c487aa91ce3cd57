"""Cyber injects: pure transforms over the signed, delivered message stream.

A drill runs ``simulate -> sign_stream -> apply_injects -> exchange``:

* :func:`simulate` makes every partner's messages with their arrival times
  (``sent``), including the sensor-level injects (``sensor-off``,
  ``sensor-bias``, ``ghost-missile``) and the link-level ones that change *when*
  genuine messages arrive (``link-outage``, ``link-delay``);
* :func:`sign_stream` signs each message with its partner's *drill key* and
  turns it into a :class:`Delivery`: arrival time, the link it arrives on, the raw
  JSON line;
* :func:`apply_injects` then applies, in the order the scenario lists them, the
  injects that an attacker or a broken network does to that stream:
  ``duplicate-burst``, ``replay-old``, ``forged-partner`` and ``junk-flood``.
  Each sees the output of the previous one (a duplicate burst after a junk
  flood also duplicates junk).

Every transform keeps every delivery it was given (it only adds, or moves
arrival times within a burst) and adds a documented number of new ones, each
marked with ``origin`` = the inject's type, so a report can say, per inject, how
many messages were sent and how many the exchange refused (:func:`tally`).
Randomness comes from ``default_rng([seed, 3, index of the inject])``: the same
scenario gives the same stream, byte for byte.

Drill keys (:class:`DrillKeys`) are derived from the scenario seed and the
partner code with SHA-256: anyone who has the scenario file can compute them, so
they are for drills only and must never be registered on a live exchange. The
forger's key is derived the same way under another label.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin.drill.scenario import (
    STREAM_INJECTS,
    DuplicateBurst,
    ForgedPartner,
    JunkFlood,
    ReplayOld,
    Scenario,
)
from tocsin.drill.simulate import node_id
from tocsin.errors import WireError
from tocsin.exchange.signing import PartnerPolicy, PartnerRegistry, sign
from tocsin.wire import Envelope, PlotBody, decode_json, encode_json

__all__ = [
    "ATTACKS",
    "GENUINE",
    "Delivery",
    "DrillKeys",
    "DrillStream",
    "InjectTally",
    "apply_injects",
    "attacks_accepted",
    "deliver",
    "duplicate_burst",
    "forged_partner",
    "junk_flood",
    "replay_old",
    "sign_stream",
    "tally",
]

_STREAM_INJECT = 3
GENUINE = ""
"""``Delivery.origin`` of a partner's own message."""


class Delivery(NamedTuple):
    """One line handed to the exchange."""

    t: float
    """Arrival time, Unix epoch seconds (the drill clock)."""
    partner: str
    """The link it arrives on (for forged and junk lines, not necessarily who it claims to be)."""
    data: bytes
    """The raw line (JSON, no newline)."""
    origin: str = GENUINE
    """``""`` for a partner's genuine message, else the inject type that made it."""


# --- keys -----------------------------------------------------------------------------


def _derive(seed: int, label: str) -> Ed25519PrivateKey:
    digest = hashlib.sha256(b"tocsin drill key v1\0" + seed.to_bytes(8, "big") + label.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(digest)


@dataclass
class DrillKeys:
    """Deterministic drill keys: one per partner code, and the forger's.

    ``registry()`` is the partner registry the drill's exchange must use: each
    scenario partner with its drill public key, allowed to send the default kinds
    from exactly its own sensors and its node (heartbeats, ``<code>-node``).
    """

    seed: int
    sources: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Sensor ids per partner code (the scenario's partners)."""
    _cache: dict[str, Ed25519PrivateKey] = field(default_factory=dict, repr=False)

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> DrillKeys:
        spec = scenario.spec
        return cls(spec.seed, {p.code: [*(s.id for s in p.sensors), node_id(p.code)] for p in spec.partners})

    def key(self, partner: str) -> Ed25519PrivateKey:
        """The drill key of ``partner`` (any code: unknown partners get one too)."""
        k = self._cache.get(partner)
        if k is None:
            k = self._cache[partner] = _derive(self.seed, f"partner:{partner}")
        return k

    @property
    def forger(self) -> Ed25519PrivateKey:
        """A key that belongs to no partner."""
        k = self._cache.get("\0forger")
        if k is None:
            k = self._cache["\0forger"] = _derive(self.seed, "forger")
        return k

    def registry(self) -> PartnerRegistry:
        return PartnerRegistry(
            {
                code: PartnerPolicy(code, self.key(code).public_key(), tuple(ids))
                for code, ids in sorted(self.sources.items())
            }
        )


# --- signing ----------------------------------------------------------------------------


def sign_stream(
    scenario: Scenario, messages: Iterable[Envelope], keys: DrillKeys | None = None
) -> list[Delivery]:
    """Sign every message with its partner's drill key; deliveries in arrival
    (``sent``) order, ties kept in input order."""
    ks = keys if keys is not None else DrillKeys.for_scenario(scenario)
    out = [Delivery(env.sent, env.partner, encode_json(sign(env, ks.key(env.partner)))) for env in messages]
    out.sort(key=lambda d: d.t)
    return out


@dataclass(frozen=True)
class DrillStream:
    """What the exchange of a drill receives, and how it must check it."""

    deliveries: list[Delivery]
    """Every line in arrival order: genuine signed messages and the injects' lines."""
    keys: DrillKeys
    registry: PartnerRegistry
    """The drill's partner registry (drill public keys; each partner owns its sensors)."""


def deliver(scenario: Scenario, messages: Iterable[Envelope]) -> DrillStream:
    """``sign_stream`` then ``apply_injects``: the one call a drill runner needs.

    Feed ``deliveries`` to the exchange in order, each ``data`` as raw bytes at
    ``now = t``, with an :class:`~tocsin.exchange.Ingress` built on ``registry``.
    """
    keys = DrillKeys.for_scenario(scenario)
    return DrillStream(
        apply_injects(scenario, sign_stream(scenario, messages, keys), keys), keys, keys.registry()
    )


# --- the transforms -----------------------------------------------------------------------


def _window(scenario: Scenario, from_s: float, to_s: float) -> tuple[float, float]:
    t0 = scenario.spec.start_epoch
    return t0 + from_s, t0 + to_s


def _decode(d: Delivery) -> Envelope | None:
    try:
        return decode_json(d.data)
    except (WireError, ValueError):
        return None


def duplicate_burst(
    scenario: Scenario, inj: DuplicateBurst, deliveries: Sequence[Delivery], rng: np.random.Generator
) -> list[Delivery]:
    """Each delivery on ``inj.partner``'s link arriving in the window comes
    ``1 + copies`` times, each arrival moved ``U(0, reorder_s)`` later.

    Count: ``len(out) == len(in) + copies * k`` (``k`` deliveries in the window)."""
    lo, hi = _window(scenario, inj.from_s, inj.to_s)
    out: list[Delivery] = []
    for d in deliveries:
        if d.partner != inj.partner or not lo <= d.t < hi:
            out.append(d)
            continue
        lag = (
            rng.uniform(0.0, inj.reorder_s, 1 + inj.copies) if inj.reorder_s > 0 else np.zeros(1 + inj.copies)
        )
        out.append(d._replace(t=d.t + float(lag[0])))
        out.extend(
            Delivery(d.t + float(lag[c]), d.partner, d.data, "duplicate-burst")
            for c in range(1, 1 + inj.copies)
        )
    return out


def replay_old(
    scenario: Scenario, inj: ReplayOld, deliveries: Sequence[Delivery], rng: np.random.Generator
) -> list[Delivery]:
    """Genuine deliveries of ``inj.partner`` arriving in the window are sent
    again, unchanged, ``delay_s`` later or all at ``at_s``.

    Count: ``len(out) == len(in) + k`` (``k`` genuine deliveries in the window)."""
    lo, hi = _window(scenario, inj.from_s, inj.to_s)
    captured = [d for d in deliveries if d.partner == inj.partner and d.origin == GENUINE and lo <= d.t < hi]
    if inj.at_s is not None:
        at = scenario.spec.start_epoch + inj.at_s
        # a burst: in recorded order, a microsecond apart
        again = [Delivery(at + 1e-6 * i, d.partner, d.data, "replay-old") for i, d in enumerate(captured)]
    else:
        assert inj.delay_s is not None
        again = [Delivery(d.t + inj.delay_s, d.partner, d.data, "replay-old") for d in captured]
    return [*deliveries, *again]


def _forge_body(env: Envelope, offset_m: float) -> Envelope:
    b = env.body
    if isinstance(b, PlotBody) and b.range_m is not None:
        b = msgspec.structs.replace(b, range_m=max(0.0, round(b.range_m + offset_m, 3)))
        return msgspec.structs.replace(env, body=b)
    return env


def forged_partner(
    scenario: Scenario,
    inj: ForgedPartner,
    deliveries: Sequence[Delivery],
    keys: DrillKeys,
) -> list[Delivery]:
    """Forgeries of ``inj.partner``'s genuine messages in the window (every
    ``every``-th), as the inject's ``mode`` says (see
    :class:`tocsin.drill.scenario.ForgedPartner`). Each forgery takes a fresh
    sequence number above any its source has used, arrives at the same moment as
    the message it copies, on the claimed partner's link (``foreign-source``: on
    ``by``'s link).

    Count: ``len(out) == len(in) + ceil(k / every)``."""
    lo, hi = _window(scenario, inj.from_s, inj.to_s)
    top: Counter[str] = Counter()
    genuine: list[tuple[Delivery, Envelope]] = []
    for d in deliveries:
        env = _decode(d)
        if env is None:
            continue
        top[env.source] = max(top[env.source], env.seq)
        if d.partner == inj.partner and d.origin == GENUINE and lo <= d.t < hi and env.partner == inj.partner:
            genuine.append((d, env))
    out = list(deliveries)
    for n, (d, env) in enumerate(genuine):
        if n % inj.every:
            continue
        top[env.source] += 1
        fake = msgspec.structs.replace(_forge_body(env, inj.offset_m), seq=top[env.source], sig=None)
        link = inj.partner
        if inj.mode == "bad-key":
            fake = sign(fake, keys.forger)
        elif inj.mode == "foreign-source":
            assert inj.by is not None
            link = inj.by
            fake = sign(msgspec.structs.replace(fake, partner=inj.by), keys.key(inj.by))
        elif inj.mode == "unknown-partner":
            link = inj.as_partner
            fake = sign(msgspec.structs.replace(fake, partner=inj.as_partner), keys.key(inj.as_partner))
        out.append(Delivery(d.t, link, encode_json(fake), "forged-partner"))
    return out


def _junk_line(kind: int, i: int, t: float, partner: str, inj: JunkFlood, rng: np.random.Generator) -> bytes:
    if kind == 0:  # random bytes, no newline
        raw = rng.integers(0, 256, int(rng.integers(16, 512)), dtype=np.uint8).tobytes()
        return b"\xff" + raw.replace(b"\n", b" ").replace(b"\r", b" ")
    if kind == 1:  # truncated JSON
        full = json.dumps({"v": 1, "kind": "plot", "partner": partner, "source": "junk", "seq": i, "sent": t})
        return full[: int(rng.integers(1, len(full) - 1))].encode()
    if kind == 2:  # an envelope with the wrong types
        return json.dumps(
            {
                "v": "one",
                "kind": "plot",
                "partner": partner,
                "source": 7,
                "seq": "many",
                "sent": "now",
                "body": [],
            }
        ).encode()
    if kind == 3:  # a well-formed envelope of a kind nobody knows
        return json.dumps(
            {"v": 1, "kind": "gossip", "partner": partner, "source": "junk", "seq": i, "sent": t, "body": {}}
        ).encode()
    # oversized: one huge string where a body belongs
    head = b'{"v":1,"kind":"plot","partner":"' + partner.encode() + b'","body":"'
    return head + b"A" * max(inj.oversize_bytes - len(head) - 2, 0) + b'"}'


def junk_flood(
    scenario: Scenario, inj: JunkFlood, deliveries: Sequence[Delivery], rng: np.random.Generator
) -> list[Delivery]:
    """``floor((to_s - from_s) * rate_per_s)`` junk lines on ``inj.partner``'s
    link, evenly spread over the window (with a little jitter), cycling through
    five kinds of junk (see :class:`tocsin.drill.scenario.JunkFlood`).

    Count: ``len(out) == len(in) + n``."""
    lo, hi = _window(scenario, inj.from_s, inj.to_s)
    # from the scenario's own seconds, not the epoch times: (t0 + to_s) - (t0 + from_s)
    # loses ~1e-7 s at t0 ~ 1.7e9 (0.88 s * 25/s gave 21, not 22)
    n = math.floor((inj.to_s - inj.from_s) * inj.rate_per_s + 1e-9)
    step = 1.0 / inj.rate_per_s
    out = list(deliveries)
    for i in range(n):
        t = lo + (i + float(rng.uniform(0.0, 1.0))) * step
        t = min(t, hi - 1e-6)
        out.append(Delivery(t, inj.partner, _junk_line(i % 5, i, t, inj.partner, inj, rng), "junk-flood"))
    return out


def apply_injects(
    scenario: Scenario, deliveries: Sequence[Delivery], keys: DrillKeys | None = None
) -> list[Delivery]:
    """Apply the scenario's stream injects in file order; the result is sorted by
    arrival time (stable: equal times keep their order). Other injects are
    ignored here (the simulator did them). Never raises on odd input lines."""
    ks = keys if keys is not None else DrillKeys.for_scenario(scenario)
    cur: list[Delivery] = list(deliveries)
    for i, inj in enumerate(scenario.spec.injects):
        if not isinstance(inj, STREAM_INJECTS):
            continue
        rng = np.random.default_rng([scenario.spec.seed, _STREAM_INJECT, i])
        if isinstance(inj, DuplicateBurst):
            cur = duplicate_burst(scenario, inj, cur, rng)
        elif isinstance(inj, ReplayOld):
            cur = replay_old(scenario, inj, cur, rng)
        elif isinstance(inj, ForgedPartner):
            cur = forged_partner(scenario, inj, cur, ks)
        elif isinstance(inj, JunkFlood):
            cur = junk_flood(scenario, inj, cur, rng)
    cur.sort(key=lambda d: d.t)
    return cur


# --- what was caught ----------------------------------------------------------------------


@dataclass
class InjectTally:
    """Per origin: how many lines were delivered, accepted and refused (by reason)."""

    delivered: int = 0
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "delivered": self.delivered,
            "accepted": self.accepted,
            "refused": dict(sorted(self.refused.items())),
        }


def tally(deliveries: Sequence[Delivery], reasons: Sequence[str | None]) -> dict[str, InjectTally]:
    """Join deliveries with the exchange's verdicts (``None`` = accepted, else the
    refusal reason), one per delivery in the same order, into counts per origin
    (``"genuine"`` for partners' own messages). A forgery or replay that was
    *accepted* is what the defence missed."""
    if len(deliveries) != len(reasons):
        raise ValueError("one verdict per delivery")
    out: dict[str, InjectTally] = {}
    for d, r in zip(deliveries, reasons, strict=True):
        t = out.setdefault(d.origin or "genuine", InjectTally())
        t.delivered += 1
        if r is None:
            t.accepted += 1
        else:
            t.refused[r] += 1
    return dict(sorted(out.items()))


ATTACKS = ("duplicate-burst", "replay-old", "forged-partner", "junk-flood")


def attacks_accepted(deliveries: Sequence[Delivery], reasons: Sequence[str | None]) -> int:
    """How many injected lines got through the exchange: any accepted forgery or
    junk line, and any accepted line whose exact bytes had already been accepted
    (a duplicate or replay let in twice). The drill figure ``attacks_accepted``;
    the bar is 0. One copy of a duplicated genuine message is *meant* to be
    accepted (whichever arrives first), so it does not count."""
    if len(deliveries) != len(reasons):
        raise ValueError("one verdict per delivery")
    seen: set[bytes] = set()
    n = 0
    for d, r in zip(deliveries, reasons, strict=True):
        if r is not None:
            continue
        if d.origin in ("forged-partner", "junk-flood") or d.data in seen:
            n += 1
        seen.add(d.data)
    return n
