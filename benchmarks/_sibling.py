"""Load another benchmark script of this directory by path, as a module.

The benchmarks are scripts, not a package; some use another's helpers
(latency.py's trees and servers, flood.py's honest/flood runs). Each is loaded
once, under the name ``tocsin_bench_<name>`` (so a script run as ``__main__``
and the same file loaded as a sibling do not share module state by accident).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def load(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as module ``tocsin_bench_<name>`` (loaded once)."""
    mod_name = f"tocsin_bench_{name}"
    mod = sys.modules.get(mod_name)
    if mod is not None:
        return mod
    spec = importlib.util.spec_from_file_location(mod_name, HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod
