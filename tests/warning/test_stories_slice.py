"""A seeded slice of benchmarks/warning_stories.py (the long random search for
an area told two stories): no close while a track that named the area in its
story still admits it, with ``keep_named`` off and on; and test_keep's wander
(one story) with it on."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _sibling import load


def _load() -> ModuleType:
    return load("warning_stories")


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True])
def test_a_seeded_slice_of_the_story_search_finds_no_fault(keep: bool) -> None:
    res = _load().search(12, 1, keep, shrink=False)
    assert res["faults"] == {}, res["fault_examples"]
    assert res.get("wander_two_stories", []) == []
