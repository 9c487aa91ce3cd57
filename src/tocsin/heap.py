"""Giving freed memory back to the operating system, for processes that run for
weeks (issue 19).

A snapshot or a journal rotation allocates tens of MB for a moment (the stage
state pickled and compressed, a compression dictionary trained on thousands of
payloads). CPython frees it, but glibc's allocator keeps freed heap pages
mapped unless they sit at the top of the heap, so such moments leave the
resident size a little higher each time. :func:`trim` asks glibc to return
every free page (``malloc_trim(0)``); elsewhere (no glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim() -> None:
    """Return the allocator's free pages to the operating system (glibc)."""
    fn = _malloc_trim()
    if fn is not None:
        fn(0)


__all__ = ["trim"]
