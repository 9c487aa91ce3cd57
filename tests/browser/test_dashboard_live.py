"""The dashboard in headless Chromium on a live server: messages POSTed to the
exchange show up over server-sent events, and a restart of the server is
survived (the page reconnects and re-syncs from the snapshot)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import page_errors, serve, text, wait_for
from fake_run import T0

from tocsin.exchange.samples import sample_plot
from tocsin.wire import SensorBody, encode_json, make

pytestmark = pytest.mark.browser
NDJSON = {"content-type": "application/x-ndjson"}


def post(url: str, lines: list[bytes]) -> dict[str, Any]:
    r = httpx.post(url + "/v1/messages", content=b"\n".join(lines), headers=NDJSON, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_live_events_and_reconnect(tmp_path: Path, browser: Any, shot: Callable[[Any, str], Path]) -> None:
    from selenium.webdriver.common.by import By

    sensor = make(
        "sensor",
        SensorBody(id="JP-R1", type="radar", platform="ground", lat=38.05, lon=138.3, max_range_m=1e6),
        partner="JP",
        source="JP-R1",
        seq=1,
        sent=T0 - 1,
    )
    port = str(free_port())
    data = tmp_path / "data"
    with serve(data, "--port", port) as url:
        browser.get(url + "/")
        wait_for(browser, "document.body.dataset.ready === '1'")
        wait_for(browser, "document.getElementById('conn').dataset.state === 'open'")
        assert "EXERCISE" in browser.find_element(By.ID, "banner").text
        assert post(url, [encode_json(sensor)])["accepted"] == 1
        # two plots: a tentative track arrives over SSE, no alert yet
        assert (
            post(url, [encode_json(sample_plot(seq=i + 2, sent=T0 + i)) for i in range(2)])["accepted"] == 2
        )
        wait_for(browser, "!!document.querySelector('#tracks tr[data-track-id=\"T-JP-R1\"]')")
        assert browser.find_element(By.ID, "alert-count").text == "0"
        # the third plot confirms it; the (toy) warning stage alerts
        post(url, [encode_json(sample_plot(seq=4, sent=T0 + 2))])
        wait_for(browser, "!!document.querySelector('.alert-card[data-alert-id=\"A-1\"]')")
        wait_for(browser, "document.body.dataset.settled === '1'")
        assert "confirmed" in text(browser, '#tracks tr[data-track-id="T-JP-R1"]')
        assert browser.find_element(By.ID, "alert-count").text == "1"
        wait_for(browser, "!!document.querySelector('#links li[data-partner=\"JP\"].ok')")
        shot(browser, "live")
    # the server goes away: the page says so, and keeps what it had
    wait_for(browser, "document.getElementById('conn').dataset.state !== 'open'")
    assert browser.find_element(By.CSS_SELECTOR, '#tracks tr[data-track-id="T-JP-R1"]')
    states_before = browser.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/v1/state')).length"
    )
    # back on the same port (recovered from its journal), with a new source the page
    # has not seen: after the reconnect it re-syncs from /v1/state
    with serve(data, "--port", port) as url:
        post(
            url,
            [
                encode_json(sample_plot(partner="KR", source="KR-R1", seq=i + 1, sent=T0 + 10 + i))
                for i in range(3)
            ],
        )
        wait_for(browser, "document.getElementById('conn').dataset.state === 'open'", timeout=20)
        wait_for(browser, "!!document.querySelector('#tracks tr[data-track-id=\"T-KR-R1\"]')", timeout=20)
        wait_for(browser, "!!document.querySelector('.alert-card[data-alert-id=\"A-2\"]')")
        assert browser.find_element(By.CSS_SELECTOR, '#tracks tr[data-track-id="T-JP-R1"]')
        states_after = browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/v1/state')).length"
        )
        assert states_after > states_before
        assert browser.find_element(By.ID, "alert-count").text == "2"
        shot(browser, "reconnected")
    assert [
        e for e in page_errors(browser) if "/v1/events" not in e and "ERR_CONNECTION_REFUSED" not in e
    ] == []
