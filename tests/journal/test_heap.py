"""tocsin.heap.trim gives freed heap pages back to the system (issue 19: RSS
that steps up at each snapshot or rotation and never comes down)."""

from __future__ import annotations

import pytest

from tocsin import heap


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(heap._malloc_trim() is None, reason="not glibc")
def test_trim_returns_freed_fragmented_heap_to_the_system() -> None:
    # 100 MB of small objects, then all freed but one in 200: the survivors pin
    # the heap's top, so the allocator keeps the free pages until trimmed
    blocks = [bytearray(1000) for _ in range(100_000)]
    keep = blocks[::200]
    del blocks
    before = rss_kb()
    heap.trim()
    after = rss_kb()
    assert before - after > 50_000, (before, after)
    assert len(keep) == 500
