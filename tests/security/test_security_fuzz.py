"""Issue 14 item 3: the fuzz harness (benchmarks/fuzz.py) on a small seeded
slice in CI: every input path (wire decoders, ingress, JSON Lines, scenario,
policy, live authorisation, registry and operator files, `cap validate`)
answers mutated input with its documented error or a verdict, never anything
else. The full run (10**6 inputs) is the benchmark's: see docs/security.md."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz.py"


def fuzz_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tocsin_bench_fuzz", BENCH)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (dataclasses resolve annotations through it)
    spec.loader.exec_module(mod)
    return mod


def test_seeded_fuzz_slice_finds_no_crash() -> None:
    fuzz = fuzz_module()
    report = fuzz.run(2500, seed=20261205, slow_s=20.0)
    bad = {k: v.get("examples") for k, v in report["targets"].items() if v["crashes"] or v["slow"]}
    assert report["crashes"] == 0, bad
    assert report["slow"] == 0, bad
    assert set(report["targets"]) == set(fuzz.SHARES)
    assert all(t["inputs"] > 0 for t in report["targets"].values())


def test_the_harness_reports_a_crash() -> None:
    """A target that raises what it does not document is counted (so the
    slice above can fail)."""
    fuzz = fuzz_module()
    corpus = fuzz.build_corpus()
    table = fuzz._targets(corpus, Path("/nonexistent"))
    seeds, _, allowed = table["wire-json"]

    def broken(data: bytes) -> object:
        raise RecursionError("as the decoder did before issue 14")

    orig = fuzz._targets
    fuzz._targets = lambda c, t: {"wire-json": (seeds, broken, allowed)}
    try:
        report = fuzz.run(50, seed=1, targets=["wire-json"])
    finally:
        fuzz._targets = orig
    assert report["crashes"] == 50
    assert report["targets"]["wire-json"]["examples"][0]["error"].startswith("RecursionError")
