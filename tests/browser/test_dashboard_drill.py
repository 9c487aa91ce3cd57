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

from tocsin.warning.areas import AreaRegistry

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
        # the areas by name in the page's language (English here), land apart from sea
        reg = AreaRegistry.default()
        shown = browser.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' .area-name')]"
            ".map((e) => [e.dataset.code, e.textContent, e.closest('[data-kind]').dataset.kind])",
            card_css,
        )
        assert {c for c, _, _ in shown} == set(first["areas"])
        for code, name, kind in shown:
            assert (name, kind) == (reg.get(code).name_en, reg.get(code).kind), code
        assert "EXERCISE" in text(browser, "#banner")
        shot(browser, "first-alert")
        # the same card in Japanese after choosing the page language
        browser.execute_script(
            "const s = document.getElementById('lang'); s.value = 'ja'; s.dispatchEvent(new Event('change'));"
        )
        wait_for(browser, "document.body.dataset.settled === '1'")
        names_ja = browser.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' .area-name')].map((e) => e.textContent)",
            card_css,
        )
        assert sorted(names_ja) == sorted(reg.get(c).name_ja for c in first["areas"])
        shot(browser, "first-alert-ja")
        # later, the widest warning (land and sea), an impact predicted: the view was fitted to it
        # (one area per message: the moment the most areas are warned at once, the latest such)
        active: set[str] = set()
        widest = (0, first["t"])
        for a in sorted(alerts, key=lambda a: a["t"]):
            active |= set(a["areas"])
            active -= set(a.get("closes") or [])
            if len(active) >= widest[0]:
                widest = (len(active), a["t"])
        t_late = widest[1] + 1.0
        browser.execute_script(
            "const s = document.getElementById('slider'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('input'));",
            t_late,
        )
        wait_for(browser, f"Math.abs(Number(document.body.dataset.replayT) - {t_late}) < 0.5")
        wait_for(browser, "document.body.dataset.settled === '1'")
        fit = browser.execute_script(
            "const D = window.tocsinDashboard; const b = D.map.getBounds();"
            "const t = [...D.state.tracks.values()].find((r) => r.cls === 'ballistic' && r.impact);"
            "return {fitted: document.body.dataset.fitted || '', id: t && t.id,"
            " inside: !!t && b.contains([t.impact.lat, t.impact.lon]) && b.contains([t.lat, t.lon])};"
        )
        assert fit["id"] is not None
        assert fit["id"] in fit["fitted"].split(",")
        assert fit["inside"]
        # warned land and warned sea look different on the map
        styles = browser.execute_script(
            "const D = window.tocsinDashboard; const out = {};"
            "for (const b of D.state.active.values()) for (const c of b.areas || []) {"
            "  const kind = D.state.areaInfo.get(c).kind;"
            "  out[kind] = D.areaStyle({properties: {code: c, kind}}); }"
            "return out;"
        )
        assert set(styles) == {"land", "sea"}
        assert styles["land"]["dashArray"] is None
        assert styles["sea"]["dashArray"]
        assert styles["land"]["fillOpacity"] > 2 * styles["sea"]["fillOpacity"]
        shot(browser, "impact-fitted")
        assert page_errors(browser) == []
