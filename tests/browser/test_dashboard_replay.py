"""The dashboard in headless Chromium replaying a drill output directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import page_errors, serve, text, wait_for
from fake_run import T0, write_fake_run

pytestmark = pytest.mark.browser


def seek(drv: Any, t: float) -> None:
    drv.execute_script(
        "const s = document.getElementById('slider'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));",
        t,
    )
    wait_for(drv, f"Math.abs(Number(document.body.dataset.replayT) - {t}) < 0.5")
    wait_for(drv, "document.body.dataset.settled === '1'")


def test_replay_shows_tracks_alerts_and_cap_languages(
    tmp_path: Path, browser: Any, shot: Callable[[Any, str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    run_dir = write_fake_run(tmp_path / "run")
    with serve(tmp_path / "data", "--replay", str(run_dir)) as url:
        browser.get(url + "/")
        wait_for(browser, "document.body.dataset.ready === '1' && document.body.dataset.replay === 'ready'")
        banner = browser.find_element(By.ID, "banner")
        assert banner.get_attribute("data-mode") == "exercise"
        assert "EXERCISE" in banner.text
        assert "REPLAY" in banner.text
        # the slider starts with the first message: nothing in the air yet
        assert browser.find_element(By.ID, "track-count").text == "0"
        assert browser.find_element(By.ID, "alert-count").text == "0"

        # T+200 s: the ballistic track with impact prediction, the air track, the first alert
        seek(browser, T0 + 200)
        wait_for(browser, "document.querySelectorAll('#tracks tbody tr').length === 2")
        row = browser.find_element(By.CSS_SELECTOR, '#tracks tr[data-track-id="F-1"]')
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        assert cells[:4] == ["F-1", "ballistic", "confirmed", "JP-R1 KR-R1"]
        assert cells[4] == "6:40"  # impact at T0+600, slider at T0+200
        assert (
            browser.find_element(By.CSS_SELECTOR, '#tracks tr[data-track-id="A-7"]').get_attribute(
                "data-class"
            )
            == "air"
        )
        card = browser.find_element(By.CSS_SELECTOR, '.alert-card[data-alert-id="JP.F-1.1.1"]')
        assert card.get_attribute("data-status") == "Exercise"
        assert "Hokkaido, Aomori" in card.text  # area names in the page language (the browser's: en)
        assert "[EXERCISE]" in card.text  # and the CAP block in that language first
        browser.execute_script(
            "const s = document.getElementById('lang'); s.value = 'ja'; s.dispatchEvent(new Event('change'));"
        )
        wait_for(browser, "document.body.dataset.settled === '1'")
        card = browser.find_element(By.CSS_SELECTOR, '.alert-card[data-alert-id="JP.F-1.1.1"]')
        assert "北海道, 青森県" in card.text
        assert "【訓練】ミサイル発射" in card.text  # Japanese page: Japanese shown first
        card.find_element(By.CSS_SELECTOR, 'button[data-lang="ko-KR"]').click()
        wait_for(browser, "document.body.dataset.settled === '1'")
        wait_for(browser, "!document.querySelector('.alert-card .cap-info[data-lang=\"ko-KR\"]').hidden")
        card = browser.find_element(By.CSS_SELECTOR, '.alert-card[data-alert-id="JP.F-1.1.1"]')
        assert "[훈련] 미사일 발사" in card.text
        card.find_element(By.CSS_SELECTOR, 'button[data-lang="en-US"]').click()
        wait_for(browser, "document.body.dataset.settled === '1'")
        wait_for(browser, "!document.querySelector('.alert-card .cap-info[data-lang=\"en-US\"]').hidden")
        assert "This is not a real alert." in browser.find_element(By.ID, "alerts").text
        # the map: areas drawn from the registry, warned areas filled, sensors, the track layers
        timeline = browser.find_element(By.ID, "timeline").text
        assert "ALERT JP.F-1.1.1 (Exercise): Hokkaido, Aomori" in timeline
        assert "impact predicted" in timeline
        state = browser.execute_script(
            "const S = window.tocsinDashboard.state; const f = S.tracks.get('F-1');"
            "return {sensors: S.sensors.size, launch: !!f.launch, impact: !!f.impact,"
            " path: (f.path||[]).length, trail: f.trail.length, lat: f.lat, lon: f.lon, alt: f.alt}"
        )
        assert state["sensors"] == 2
        assert state["launch"]
        assert state["impact"]
        assert state["path"] == 12
        assert state["trail"] > 10
        assert 39.0 < state["lat"] < 41.2
        assert 125.7 < state["lon"] < 146.5
        assert 400_000 < state["alt"] < 560_000
        links = browser.execute_script(
            "return [...document.querySelectorAll('#links li')]"
            ".map(li => li.dataset.partner + ':' + li.className)"
        )
        assert links == ["JP:ok", "KR:ok"]
        png = shot(browser, "t200")
        assert png.stat().st_size > 20_000

        # T+300 s: the KR link is down (no heartbeat since T+245)
        seek(browser, T0 + 300)
        assert "KR SILENT" in text(browser, '#links li[data-partner="KR"].silent')
        assert "link KR SILENT" in text(browser, "#timeline")
        shot(browser, "t300-kr-silent")

        # T+400 s: the update replaced the alert (JP-02 no longer warned); KR is back
        seek(browser, T0 + 400)
        wait_for(browser, "!!document.querySelector('.alert-card[data-alert-id=\"JP.F-1.1.2\"]')")
        assert browser.find_element(By.ID, "alert-count").text == "1"
        assert text(browser, '#links li[data-partner="KR"]') == "KR ok"
        assert not browser.find_elements(By.CSS_SELECTOR, '.alert-card[data-alert-id="JP.F-1.1.1"]')

        # the end: cancelled, nothing active
        seek(browser, T0 + 620)
        wait_for(browser, "document.getElementById('alert-count').textContent === '0'")
        cancelled = browser.find_element(By.CSS_SELECTOR, '.alert-card.cancelled[data-alert-id="JP.F-1.1.3"]')
        assert "CANCEL" in cancelled.text
        shot(browser, "end")

        # back in time: the state is rebuilt, not accumulated
        seek(browser, T0 + 100)
        wait_for(browser, "document.getElementById('alert-count').textContent === '0'")
        assert not browser.find_elements(By.CSS_SELECTOR, ".alert-card.cancelled")
        # play at 60x: the slider moves by itself
        browser.execute_script("document.getElementById('speed').value = '60'")
        browser.find_element(By.ID, "play").click()
        wait_for(browser, f"Number(document.body.dataset.replayT) > {T0 + 130}")
        browser.find_element(By.ID, "play").click()
        # a hostile track id is text in the tooltip, never markup
        evil = '<img src=x id=pwn onerror="window.pwned=1">'
        shown = browser.execute_async_script(
            "const [id, done] = arguments; const D = window.tocsinDashboard;"
            "const f = D.state.tracks.get('F-1');"
            "D.apply({kind: 'track', body: {id, t: f.t, status: 'confirmed', class: 'air',"
            " state_ecef: [-3.5e6, 3.3e6, 4.0e6], sources: [id]}}); D.schedule();"
            "requestAnimationFrame(() => { const L = D.trackLayers.get(id); L.dot.openTooltip();"
            " const tip = L.dot.getTooltip().getElement();"
            " done([tip.textContent, !!document.getElementById('pwn'), !!window.pwned]); });",
            evil,
        )
        assert shown[0].startswith(evil)
        assert shown[1:] == [False, False]
        # nothing was fetched from anywhere but this server
        urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls
        assert all(u.startswith(url) for u in urls), urls
        assert page_errors(browser) == []
