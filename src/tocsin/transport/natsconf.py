"""What a partner may do on the NATS bus, as nats-server configuration.

One function says what a partner's user may publish and subscribe to
(:func:`partner_permissions`); the shipped single-account cluster
(``deploy/nats/accounts.conf``, :func:`shared_accounts_conf`) and the
sovereign deployment that ``tocsin deploy nats`` writes
(:mod:`tocsin.transport.sovereign`) both use it, so they cannot drift apart.

A partner ``XX`` may

* publish its own inputs, ``tocsin.v1.<kind>.XX.<source>`` for each input kind,
  and its node's outputs, ``tocsin.v1.out.<kind>.XX`` — nothing under another
  partner's code;
* use, of the JetStream API, only what its own fusion consumers ``fusion-XX``
  (one on each partner's input stream ``TOCSIN_IN_YY``) need: list the stream
  names, look the streams and its durable consumers up, pull from them and
  acknowledge their messages (the stream token of these subjects is a
  wildcard: only the administrator creates consumers, so ``fusion-XX`` exists
  only where it was made for ``XX``). Creating, updating, deleting or purging a
  stream, creating or deleting any consumer, looking up another's, reading or
  deleting stored messages by sequence and listing consumers are all refused by
  the server. The consumers are created by the exchange's administrator
  (:func:`tocsin.transport.nats.ensure_consumers`, ``tocsin deploy streams``):
  a partner allowed to create even its own consumer could make it a push
  consumer delivering the stream onto any subject another partner listens on
  (tried against nats-server 2.15: the server delivers);
* receive replies only on its own inbox prefix ``_INBOX_XX.`` (the node
  connects with that prefix), so it cannot listen to the replies — pulled
  messages included — addressed to another partner's inbox;
* subscribe to every partner's input and output subjects: each node fuses every
  partner's inputs, that is the point of the exchange.

The subject layout is :mod:`tocsin.transport.nats`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tocsin.errors import InputError
from tocsin.transport.nats import DEFAULT_PARTNERS, INPUT_KINDS

CODE_RE = re.compile(r"^[A-Z]{2}$")


def check_codes(codes: Iterable[str]) -> list[str]:
    """Partner codes, upper-cased, two letters each, no repeats (else InputError)."""
    out: list[str] = []
    for raw in codes:
        c = raw.strip().upper()
        if not CODE_RE.match(c):
            raise InputError(f"{raw!r} is not a two-letter partner code", field="--partners")
        if c in out:
            raise InputError(f"{c} listed twice", field="--partners")
        out.append(c)
    if not out:
        raise InputError("no partner codes", field="--partners")
    return out


def inbox_prefix(code: str) -> str:
    """The reply-subject prefix a partner's connections use (``_INBOX_XX``)."""
    return f"_INBOX_{code}"


def durable_for(code: str) -> str:
    return f"fusion-{code}"


def input_subjects(code: str) -> list[str]:
    """The subjects a partner's own inputs go on."""
    return [f"tocsin.v1.{k}.{code}.>" for k in INPUT_KINDS]


def output_subject(code: str) -> str:
    return f"tocsin.v1.out.*.{code}"


def own_subjects(code: str) -> list[str]:
    """Everything a partner publishes as itself: its inputs and its node's outputs."""
    return [*input_subjects(code), output_subject(code)]


def consumer_api(code: str, prefix: str = "$JS.API") -> list[str]:
    """The JetStream API subjects a partner's node uses: list stream names, look
    up the streams and its consumers ``fusion-XX`` (one per input stream), pull
    from them, acknowledge (no create: module doc)."""
    d = durable_for(code)
    return [
        f"{prefix}.INFO",
        f"{prefix}.STREAM.NAMES",
        f"{prefix}.STREAM.INFO.*",
        f"{prefix}.CONSUMER.INFO.*.{d}",
        f"{prefix}.CONSUMER.MSG.NEXT.*.{d}",
        f"$JS.ACK.*.{d}.>",
    ]


def partner_permissions(code: str) -> dict[str, Any]:
    """The ``permissions`` block of partner ``code``'s user (module doc)."""
    return {
        "publish": {"allow": [*own_subjects(code), *consumer_api(code)]},
        "subscribe": {"allow": [f"{inbox_prefix(code)}.>", "tocsin.v1.>"]},
    }


# ---------------------------------------------------------------- rendering


def _value(v: Any, indent: int) -> str:
    pad = "  " * indent
    if isinstance(v, dict):
        if not v:
            return "{}"
        inner = "\n".join(f"{pad}  {_key(k)}: {_value(x, indent + 1)}" for k, x in v.items())
        return "{\n" + inner + f"\n{pad}}}"
    if isinstance(v, list | tuple):
        if not v:
            return "[]"
        if all(not isinstance(x, dict | list | tuple) for x in v) and sum(len(str(x)) for x in v) < 70:
            return "[" + ", ".join(_value(x, indent) for x in v) + "]"
        inner = "\n".join(f"{pad}  {_value(x, indent + 1)}" for x in v)
        return "[\n" + inner + f"\n{pad}]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, Env):
        return f"${v.name}"
    return json.dumps(str(v))


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) else json.dumps(k)


class Env:
    """A value nats-server reads from the environment (``$NAME``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def render(doc: dict[str, Any], header: Sequence[str] = ()) -> str:
    """nats-server configuration text for a dict (strings quoted, so ``$JS...``
    stays literal; :class:`Env` values become ``$NAME`` references)."""
    lines = [f"# {h}" if h else "#" for h in header]
    for k, v in doc.items():
        lines.append(f"{_key(k)}: {_value(v, 0)}")
    return "\n".join(lines) + "\n"


SHARED_PARTNERS = DEFAULT_PARTNERS
SHARED_HEADER = (
    "tocsin exchange on one shared JetStream cluster: one account, one user per partner.",
    "GENERATED by tocsin.transport.natsconf.shared_accounts_conf(); a test checks it is",
    "up to date. For a deployment where each nation runs its own servers, use",
    "`tocsin deploy nats` instead (one account per partner, NKeys, TLS).",
    "",
    "A partner XX may publish only tocsin.v1.<kind>.XX.> and tocsin.v1.out.*.XX, may use",
    "of the JetStream API only what its own consumers fusion-XX need (list and look up",
    "the streams, look up fusion-XX on each partner's input stream TOCSIN_IN_YY, pull",
    "from it, ack its messages), and receives replies",
    "only on _INBOX_XX.> (tocsin node connects with that inbox prefix). It can",
    "neither read, ack, create nor delete another partner's consumer, nor create any",
    "consumer, nor create, change, purge or delete a stream: the server refuses with",
    "a permissions violation (tests/security/test_security_nats_isolation.py). The admin user",
    "creates the streams and every partner's consumer (`tocsin deploy streams`).",
    "Passwords come from the environment.",
)


def shared_accounts_conf(partners: Sequence[str] = SHARED_PARTNERS) -> str:
    """The shipped ``deploy/nats/accounts.conf``."""
    users: list[dict[str, Any]] = [{"user": "admin", "password": Env("TOCSIN_NATS_ADMIN_PASSWORD")}]
    for code in partners:
        users.append(
            {
                "user": code.lower(),
                "password": Env(f"TOCSIN_NATS_{code}_PASSWORD"),
                "permissions": partner_permissions(code),
            }
        )
    return render({"accounts": {"EXCHANGE": {"jetstream": "enabled", "users": users}}}, SHARED_HEADER)


__all__ = [
    "Env",
    "check_codes",
    "consumer_api",
    "durable_for",
    "inbox_prefix",
    "input_subjects",
    "output_subject",
    "own_subjects",
    "partner_permissions",
    "render",
    "shared_accounts_conf",
]
