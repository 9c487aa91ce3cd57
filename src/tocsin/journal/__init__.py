"""Append-only, hash-chained journal and replay."""

from tocsin.journal.store import FORMAT, SYNC_MODES, ZERO_HASH, Entry, Journal, VerifyResult, entry_hash

__all__ = ["FORMAT", "SYNC_MODES", "ZERO_HASH", "Entry", "Journal", "VerifyResult", "entry_hash"]
