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


def test_a_traced_batch_says_when_it_was_handed_to_the_stage_process_and_fsynced(tmp_path: Path) -> None:
    # (issue 17 (a): a report's input commit taken apart: journalled and handed
    # to the stage process, then fsynced while the stages work)
    import asyncio
    import time

    import httpx

    from tocsin.exchange.samples import sample_plot, toy_stages
    from tocsin.stageproc import StageRecipe
    from tocsin.web import ServerConfig, build_exchange, create_app
    from tocsin.wire import encode_json

    trace = tmp_path / "trace.jsonl"
    cfg = ServerConfig(tick_s=0, clock="data", stage_process=True, trace_path=str(trace))
    ex, _ = build_exchange(toy_stages(), data=tmp_path / "d", config=cfg, stage_recipe=StageRecipe("toy"))

    async def main() -> None:
        await ex.start()
        try:
            transport = httpx.ASGITransport(app=create_app(ex))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                for k in range(3):
                    body = b"\n".join(
                        encode_json(
                            sample_plot(source="S1", seq=10 * k + i, sent=1_789_430_400.0 + k + i / 10)
                        )
                        for i in range(1, 4)
                    )
                    r = await c.post(
                        "/v1/messages", content=body, headers={"content-type": "application/x-ndjson"}
                    )
                    assert r.json()["accepted"] == 3
                t0 = time.monotonic()
                while sum(ex.pipeline.metrics.outputs.values()) < 9 and time.monotonic() - t0 < 30:
                    await asyncio.sleep(0.01)
        finally:
            await ex.stop()

    asyncio.run(main())
    recs = [json.loads(x) for x in trace.read_text().splitlines()]
    batches = [r for r in recs if r["ev"] == "batch"]
    assert len(batches) == 3
    for b in batches:  # handed before its fsync, both within the batch's work
        assert b["start"] <= b["began"] <= b["handed"] <= b["synced"] <= b["done"]
    collects = [r for r in recs if r["ev"] == "collect"]
    assert collects
    assert all("handed" not in r for r in collects)  # a collect hands nothing (none is a batch's)
    assert all(r["start"] <= r["began"] <= r.get("synced", r["began"]) <= r["done"] for r in collects)
