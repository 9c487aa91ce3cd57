"""The README's dashboard step on a real drill: `tocsin drill` writes a run
directory, `tocsin serve --replay` shows it, and the page shows the missile's
track and the drill's alerts at the time they were issued."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import page_errors, serve, text, wait_for

pytestmark = pytest.mark.browser

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "mrbm-over-tohoku.yaml"


def test_a_real_drill_unfolds_on_the_map(
    tmp_path: Path, browser: Any, shot: Callable[[Any, str], Path]
) -> None:
    from tocsin.drill.run import run_drill
    from tocsin.drill.scenario import load_scenario

    run = tmp_path / "run"
    outcome = run_drill(load_scenario(SCENARIO), run)
    alerts = [json.loads(line)["body"] for line in (run / "alerts.jsonl").read_text().splitlines()]
    first = min(alerts, key=lambda a: a["t"])
    assert outcome.alerts > 0

    with serve(tmp_path / "data", "--replay", str(run)) as url:
        browser.get(url + "/")
        wait_for(browser, "document.body.dataset.ready === '1' && document.body.dataset.replay === 'ready'")
        t = first["t"] + 5.0
        browser.execute_script(
            "const s = document.getElementById('slider'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('input'));",
            t,
        )
        wait_for(browser, f"Math.abs(Number(document.body.dataset.replayT) - {t}) < 0.5")
        wait_for(browser, "document.body.dataset.settled === '1'")
        # the missile's track, classified ballistic, with a time to impact
        wait_for(browser, "document.querySelector('#tracks tr[data-class=\"ballistic\"]') !== null")
        row = text(browser, '#tracks tr[data-class="ballistic"]')
        assert "ballistic" in row
        # the first alert of the drill, as an Exercise, naming its areas
        card_css = f'.alert-card[data-alert-id="{first["id"]}"]'
        wait_for(browser, f"document.querySelector('{card_css}') !== null")
        card = browser.execute_script(
            "const c = document.querySelector(arguments[0]);"
            "return {status: c.dataset.status, text: c.innerText}",
            card_css,
        )
        assert card["status"] == "Exercise"
        assert all(code in card["text"] for code in first["areas"][:3])
        assert "EXERCISE" in text(browser, "#banner")
        shot(browser, "first-alert")
        assert page_errors(browser) == []
