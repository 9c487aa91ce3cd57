"""Ingress: schema, signature, replay window and partner policy checks."""

from tocsin.exchange.ingress import REASONS, Ingress, SeqWindow, Verdict
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
