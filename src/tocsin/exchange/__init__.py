"""Ingress: schema, signature, replay window and partner policy checks."""

from tocsin.exchange.ingress import REASONS, Ingress, SeqWindow, Verdict
from tocsin.exchange.links import LinkMonitor, LinkState
from tocsin.exchange.signing import (
    PartnerPolicy,
    PartnerRegistry,
    generate_key,
    load_private_key,
    load_public_key,
    sign,
    verify,
)

__all__ = [
    "REASONS",
    "Ingress",
    "LinkMonitor",
    "LinkState",
    "PartnerPolicy",
    "PartnerRegistry",
    "SeqWindow",
    "Verdict",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "sign",
    "verify",
]
