"""The two-person rule in the real page: operator A proposes a manual alert,
A cannot confirm it (neither with the disabled button nor with a forged
request), operator B confirms it and the Exercise alert appears."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import click, page_errors, serve, text, wait_for

import tocsin.warning.manual  # noqa: F401 - plainly: a broken import fails the tests
from tocsin.web.auth import OperatorStore

pytestmark = pytest.mark.browser

PW_A = "alpha-password-1"
PW_B = "bravo-password-2"


def login(drv: Any, name: str, pw: str) -> None:
    from selenium.webdriver.common.by import By

    drv.find_element(By.ID, "login-name").clear()
    drv.find_element(By.ID, "login-name").send_keys(name)
    drv.find_element(By.ID, "login-password").send_keys(pw)
    drv.find_element(By.ID, "login-button").click()
    wait_for(drv, f"document.getElementById('op-name').textContent === '{name}'")


def test_two_person_manual_alert(tmp_path: Path, browser: Any, shot: Callable[[Any, str], Path]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    data = tmp_path / "data"
    st = OperatorStore(data / "operators.json")
    st.add("alice", PW_A)
    st.add("bob", PW_B)
    st.save()
    with serve(data) as url:
        browser.get(url + "/")
        wait_for(browser, "document.body.dataset.ready === '1'")
        # a wrong password is refused on the page
        login_name = browser.find_element(By.ID, "login-name")
        login_name.send_keys("alice")
        browser.find_element(By.ID, "login-password").send_keys("not-her-password")
        browser.find_element(By.ID, "login-button").click()
        wait_for(browser, "document.getElementById('op-msg').classList.contains('error')")
        assert browser.find_element(By.ID, "operator").get_attribute("hidden") is not None
        # the session cookie is HttpOnly: the page's script cannot read it
        login(browser, "alice", PW_A)
        assert "tocsin_session" not in browser.execute_script("return document.cookie")
        wait_for(browser, "document.getElementById('manual-status').textContent === 'Exercise'")
        Select(browser.find_element(By.ID, "manual-type")).select_by_value("Alert")
        # clicking an area on the map puts it in the form (and clicking again takes it out)
        from selenium.webdriver.common.action_chains import ActionChains

        map_el = browser.find_element(By.ID, "map")
        x, y = browser.execute_script(
            "const p = window.tocsinDashboard.map.latLngToContainerPoint([43.4, 142.8]); return [p.x, p.y]"
        )
        w, h = map_el.size["width"], map_el.size["height"]
        ActionChains(browser).move_to_element_with_offset(
            map_el, int(x - w / 2), int(y - h / 2)
        ).click().perform()
        wait_for(browser, "document.getElementById('manual-areas').value === 'JP-01'")
        ActionChains(browser).move_to_element_with_offset(
            map_el, int(x - w / 2), int(y - h / 2)
        ).click().perform()
        wait_for(browser, "document.getElementById('manual-areas').value === ''")
        browser.find_element(By.ID, "manual-areas").send_keys("JP-13, JP-14")
        # a pre-scripted three-language message (a text typed in one language goes out
        # only in that language: the Japanese public's own must be Japanese)
        browser.execute_script("document.getElementById('manual-template').value = 'missile-launch'")
        browser.find_element(By.ID, "propose-button").click()
        wait_for(browser, "document.body.dataset.pending === '1'")
        # (read in one script call: the list is redrawn every few seconds)
        pid, item_text, disabled = browser.execute_script(
            "const li = document.querySelector('#pending li[data-pending-id]');"
            "return [li.dataset.pendingId, li.innerText, li.querySelector('button.confirm').disabled]"
        )
        assert "ALERT JP-13, JP-14" in item_text
        assert "proposed by alice" in item_text
        assert disabled
        # a forged confirm from alice's own session is refused by the server
        r = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const csrf = window.tocsinDashboard.state.session.csrf;"
            "fetch('/v1/manual/confirm', {method: 'POST', body: JSON.stringify({id: arguments[0]}),"
            " headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}})"
            ".then(r => r.json().then(b => done([r.status, b.reason])));",
            pid,
        )
        assert r == [403, "two_person"]
        # and a request without the CSRF token is refused before that
        r = browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/v1/manual/confirm', {method: 'POST', headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({id: arguments[0]})})"
            ".then(r => r.json().then(b => done([r.status, b.reason])));",
            pid,
        )
        assert r == [403, "csrf"]
        assert browser.find_element(By.ID, "alert-count").text == "0"
        shot(browser, "proposed")
        browser.find_element(By.ID, "logout-button").click()
        wait_for(browser, "!document.getElementById('login-form').hidden")

        # operator B confirms
        login(browser, "bob", PW_B)
        sel = f'#pending li[data-pending-id="{pid}"] button.confirm'
        wait_for(browser, f"!!document.querySelector('{sel}') && !document.querySelector('{sel}').disabled")
        click(browser, sel)
        wait_for(browser, "document.getElementById('alert-count').textContent === '1'")
        wait_for(browser, "document.body.dataset.settled === '1'")
        status, msg_type = browser.execute_script(
            "const c = document.querySelector('.alert-card'); return [c.dataset.status, c.dataset.msgType]"
        )
        assert status == "Exercise"
        assert msg_type == "Alert"
        assert "Tokyo, Kanagawa" in text(browser, ".alert-card")
        wait_for(browser, "document.body.dataset.pending === '0'")
        warned = browser.execute_script(
            "const S = window.tocsinDashboard.state;"
            "return [...S.active.values()].flatMap(b => b.areas).sort()"
        )
        assert warned == ["JP-13", "JP-14"]
        timeline = text(browser, "#timeline")
        assert "(Exercise): Tokyo, Kanagawa" in timeline
        shot(browser, "confirmed")
        assert page_errors(browser) == []
