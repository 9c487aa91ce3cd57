"""The Stone Soup benchmark does not time a run in which one of tocsin's
compiled kernels was loaded or compiled (benchmarks/README.md: a cold numba
cache cost tocsin 7.0 s against 0.8 s warm at N50 c0): such a run is
thrown away and run again."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numba
import pytest

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "tracker_vs_stonesoup.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[Any]:
    spec = importlib.util.spec_from_file_location("_tvs_bench", _BENCH)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)


def test_a_run_that_compiles_a_kernel_is_run_again(bench: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = bench.make_scenario(2, 1.0, 6.0, 1)
    cfg = bench.tocsin_config()
    bench.run_tocsin(sc, cfg)  # loads the kernels this scene uses (thrown away in a fresh process)
    warm_trk, warm = bench.run_tocsin(sc, cfg)
    assert warm.cold_runs == 0

    # a tocsin module with a kernel compiled at its first call, inside the first timed run
    probe_mod = types.ModuleType("tocsin._cold_probe")

    def _twice(x: float) -> float:
        return 2.0 * x

    probe_mod.probe = numba.njit(cache=False)(_twice)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tocsin._cold_probe", probe_mod)
    real = bench.Tracker

    class Probed(real):  # type: ignore[misc,valid-type]
        def flush(self) -> Any:
            probe_mod.probe(1.0)  # type: ignore[attr-defined]
            return super().flush()

    monkeypatch.setattr(bench, "Tracker", Probed)
    trk, spent = bench.run_tocsin(sc, cfg)
    assert spent.cold_runs == 1
    assert [e.body for e in trk] == [e.body for e in warm_trk]
    # warm now: nothing thrown away
    assert bench.run_tocsin(sc, cfg)[1].cold_runs == 0
