"""Shared helpers for the attack tests in tests/security/: one test per attack
named in docs/security.md (issue 14). Every test here must fail when the
defence it pins is removed."""

from __future__ import annotations
