"""Append-only, hash-chained journal and replay."""
