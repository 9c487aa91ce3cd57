"""A partner's requests reach the worker in the order they arrived, however
long each one's decoding and signature checks take (issue 17: an overtaken
radar scan is re-filtered into every track it updates)."""

from __future__ import annotations

import asyncio
import time

from tocsin.exchange.admission import AdmissionConfig, Prechecker


def test_a_lanes_requests_leave_the_prechecker_in_arrival_order() -> None:
    def check(lines: list[bytes], fmt: str) -> list[bytes]:
        time.sleep(float(lines[0].split(b":")[1]))  # this request's verification time
        return lines

    left: list[str] = []

    async def one(pc: Prechecker, name: str, lane: str, delay: float) -> None:
        out = await pc.precheck([f"{name}:{delay}".encode()], "json", lane, 10)
        assert out == [f"{name}:{delay}".encode()]
        left.append(name)  # what the HTTP handler does next: queue it for the worker

    async def go() -> None:
        pc = Prechecker(check, AdmissionConfig(), threads=2)
        pc.start()
        try:
            tasks = []
            # the first request of lane JP is slow; the later ones are quick
            for name, lane, delay in [
                ("jp0", "1.2.3.4|JP", 0.4),
                ("jp1", "1.2.3.4|JP", 0.0),
                ("kr0", "5.6.7.8|KR", 0.0),
                ("jp2", "1.2.3.4|JP", 0.1),
                ("jp3", "1.2.3.4|JP", 0.0),
            ]:
                tasks.append(asyncio.create_task(one(pc, name, lane, delay)))
                await asyncio.sleep(0.01)
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
        finally:
            await pc.stop()

    asyncio.run(go())
    jp = [n for n in left if n.startswith("jp")]
    assert jp == ["jp0", "jp1", "jp2", "jp3"], left
    # another lane is not held behind JP's slow request
    assert left.index("kr0") < left.index("jp0"), left
