"""Headless Chromium (Debian ``chromium`` + ``chromium-driver``, installed by
``scripts/setup``) driving the real dashboard served by ``tocsin serve``.

Screenshots go to ``test-artifacts/browser/`` at the repository root (ignored by
git); each test prints the paths it wrote.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1000",
]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        return "Debian chromium / chromium-driver not installed (scripts/setup installs them as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (dev extra)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (own profile directory) through chromedriver."""
    why = _missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tocsin-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save a screenshot as test-artifacts/browser/<test>-<name>.png."""

    def save(drv: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        drv.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    return save


@contextmanager
def serve(data: Path, *extra: str) -> Iterator[str]:
    """``tocsin serve`` on 127.0.0.1, any free port; yields its URL."""
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(data),
            "--stages", "toy", "--tick", "0", "--sync", "NORMAL", *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"server did not start: {line!r} {err}")
        url = line.split()[-1]
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server not healthy")
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for fh in (proc.stdout, proc.stderr):
            if fh is not None:
                fh.close()


def wait_for(drv: Any, js: str, timeout: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = drv.execute_script("return " + js)
        if v:
            return v
        if time.monotonic() > deadline:
            logs = drv.get_log("browser")
            raise AssertionError(f"timed out waiting for {js!r}; browser log: {logs}")
        time.sleep(0.1)


def page_errors(drv: Any) -> list[str]:
    """Browser console errors other than expected 401/404 probes."""
    out = []
    for e in drv.get_log("browser"):
        msg = str(e.get("message", ""))
        if e.get("level") != "SEVERE":
            continue
        if "status of 401" in msg or "status of 403" in msg or "favicon.ico" in msg:
            continue
        out.append(msg)
    return out


def text(drv: Any, css: str) -> str:
    """textContent-like visible text of the first match, read in one script call
    (panels are redrawn a few times a second: element handles go stale)."""
    v = drv.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null", css
    )
    if v is None:
        raise AssertionError(f"no element {css!r}")
    return str(v)


def click(drv: Any, css: str) -> None:
    """Click the first match (a real DOM click event, in one script call)."""
    ok = drv.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e", css
    )
    if not ok:
        raise AssertionError(f"no element {css!r}")
