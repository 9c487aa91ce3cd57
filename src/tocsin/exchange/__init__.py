"""Ingress: schema, signature, replay window and partner policy checks."""
