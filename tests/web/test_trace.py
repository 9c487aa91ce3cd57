"""The pipeline trace (``tocsin serve --trace``) is written by a thread of its
own: the event loop and the pipeline thread only queue records (a file write
on the loop could wait on the filesystem while the journal fsyncs)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tocsin.web.hub import Tracer


def test_trace_records_are_written_in_order_by_the_trace_thread(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    tracer = Tracer(str(path))
    writers: set[str] = set()
    real = tracer._f

    class Spy:
        def write(self, s: str) -> int:
            writers.add(threading.current_thread().name)
            return real.write(s)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    tracer._f = Spy()  # type: ignore[assignment]
    for i in range(500):
        tracer.write({"ev": "batch", "i": i})
    tracer.close()
    assert writers == {"tocsin-trace"}
    assert [json.loads(x)["i"] for x in path.read_text().splitlines()] == list(range(500))
    tracer.write({"ev": "late"})  # after close: dropped, no error
