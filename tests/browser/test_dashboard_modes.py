"""EXERCISE and ACTUAL look nothing alike: the banner's words, colour and
pattern differ, and so does the page title."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for

import tocsin.warning.mode  # noqa: F401 - plainly: a broken import fails the tests
from tocsin.exchange.samples import toy_stages
from tocsin.web import ServerConfig, bind, build_exchange, create_app
from tocsin.web.dashboard import Dashboard, DashboardConfig

pytestmark = pytest.mark.browser


@contextmanager
def in_process(tmp: Path, cfg: DashboardConfig) -> Iterator[str]:
    """The app under uvicorn in a thread (a live mode cannot be chosen from the
    command line yet: it needs a live authorisation object)."""
    import uvicorn

    ex, _ = build_exchange(toy_stages(), data=tmp, config=ServerConfig(tick_s=0, clock="data"))
    app = create_app(ex, dashboard=Dashboard(ex, cfg))
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    th = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        hub = ex.hub
        if hub is not None:  # end the event streams first, as `tocsin serve` does on SIGTERM
            hub.loop.call_soon_threadsafe(lambda: [q.put_nowait(None) for q in list(hub.subscribers)])
        server.should_exit = True
        th.join(10)
        sock.close()


def test_banner_exercise_versus_actual(
    tmp_path: Path, browser: Any, shot: Callable[[Any, str], Path]
) -> None:
    from tocsin.warning.mode import LiveAuthorisation, authorise_live

    live = authorise_live(LiveAuthorisation("duty officer", "order 1", "warning@jp.example"))
    seen = {}
    for name, cfg in (
        ("exercise", DashboardConfig(mode="exercise")),
        ("actual", DashboardConfig(mode="actual", manual_mode=live)),
    ):
        with in_process(tmp_path / name, cfg) as url:
            browser.get(url + "/")
            wait_for(browser, "document.body.dataset.ready === '1'")
            seen[name] = browser.execute_script(
                "const b = document.getElementById('banner'); const cs = getComputedStyle(b);"
                "return {mode: b.dataset.mode, text: b.innerText, bg: cs.backgroundColor,"
                " image: cs.backgroundImage, title: document.title}"
            )
            shot(browser, name)
    ex, ac = seen["exercise"], seen["actual"]
    assert ex["mode"] == "exercise"
    assert ac["mode"] == "actual"
    assert ex["text"].startswith("EXERCISE · 訓練 · 훈련")
    assert ac["text"].startswith("ACTUAL · 実際 · 실제")
    assert "EXERCISE" not in ac["text"]
    assert "ACTUAL" not in ex["text"]
    assert ex["title"].startswith("EXERCISE")
    assert ac["title"].startswith("ACTUAL")
    assert "repeating-linear-gradient" in ex["image"]  # striped
    assert ac["image"] == "none"  # solid
    assert ac["bg"] == "rgb(193, 18, 31)"  # red
