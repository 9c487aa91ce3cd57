"""Operator accounts, sessions, CSRF and roles (no browser, no sockets)."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tocsin.errors import InputError
from tocsin.exchange.samples import toy_stages
from tocsin.journal.store import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.auth import LoginThrottle, OperatorStore, SessionStore, csrf_ok
from tocsin.web.dashboard import COOKIE, Dashboard, DashboardConfig

PW_A = "alpha-password-1"
PW_B = "bravo-password-2"
PW_S = "sierra-password-3"


def make_store(path: Path) -> OperatorStore:
    st = OperatorStore(path)
    st.add("alice", PW_A, "operator")
    st.add("bob", PW_B, "operator")
    st.add("sue", PW_S, "supervisor")
    st.save()
    return st


def test_store_round_trip_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    make_store(path)
    text = path.read_text()
    assert PW_A not in text
    assert PW_B not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    d = json.loads(text)
    salts = {o["salt"] for o in d["operators"].values()}
    assert len(salts) == 3  # one salt per account
    st = OperatorStore(path)
    assert [o.name for o in st] == ["alice", "bob", "sue"]
    assert st.authenticate("alice", PW_A) is not None
    assert st.authenticate("alice", PW_B) is None
    assert st.authenticate("nobody", PW_A) is None
    assert st.operators["sue"].role == "supervisor"
    with pytest.raises(InputError, match="exists"):
        st.add("alice", "another-password")
    with pytest.raises(InputError, match="at least"):
        st.add("carol", "short")
    with pytest.raises(InputError, match="role"):
        st.add("carol", "long-enough-pw", "admin")
    with pytest.raises(InputError, match="name"):
        st.add("Bad Name", "long-enough-pw")
    st.remove("bob")
    st.save()
    assert "bob" not in OperatorStore(path).operators


def test_bad_store_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    make_store(path)
    d = json.loads(path.read_text())
    d["operators"]["alice"]["role"] = "root"
    path.write_text(json.dumps(d))
    with pytest.raises(InputError) as ei:
        OperatorStore(path)
    assert "operators.alice" in str(ei.value)
    assert str(path) in str(ei.value)
    path.write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        OperatorStore(path)


def test_sessions_expire_and_csrf_compares() -> None:
    now = [1000.0]
    ss = SessionStore(clock=lambda: now[0], idle_s=60, max_age_s=300)
    st = OperatorStore("/nonexistent/ops.json")
    op = st.add("alice", PW_A)
    s = ss.create(op)
    assert len(s.token) >= 40
    assert len(s.csrf) >= 40
    assert s.token != s.csrf
    assert ss.get(s.token) is s
    now[0] += 59
    assert ss.get(s.token) is s  # touched: idle clock restarts
    now[0] += 61
    assert ss.get(s.token) is None  # idle too long
    s2 = ss.create(op)
    for _ in range(6):
        now[0] += 55
        ss.get(s2.token)
    assert ss.get(s2.token) is None  # over max age even though active
    assert csrf_ok(s2, s2.csrf)
    assert not csrf_ok(s2, None)
    assert not csrf_ok(s2, s2.csrf[:-1] + "x")


def test_throttle() -> None:
    now = [0.0]
    th = LoginThrottle(clock=lambda: now[0], max_failures=3, window_s=10)
    for _ in range(3):
        assert not th.blocked("a")
        th.failed("a")
    assert th.blocked("a")
    assert not th.blocked("b")
    now[0] += 11
    assert not th.blocked("a")
    # a flood of made-up names: flooded (failures no longer journalled one by one),
    # but nobody else is locked out
    th2 = LoginThrottle(clock=lambda: now[0], max_failures=3, max_total=10, window_s=10)
    for i in range(10):
        assert not th2.flooded()
        th2.failed(f"guess-{i}")
    assert th2.flooded()
    assert not th2.blocked("anyone")
    now[0] += 11
    assert not th2.flooded()


# ---------------------------------------------------------------- over HTTP


def run(tmp_path: Path, fn: Callable[[httpx.AsyncClient, Dashboard], Awaitable[Any]]) -> Any:
    ops = tmp_path / "operators.json"
    if not ops.exists():
        make_store(ops)
    ex, _ = build_exchange(toy_stages(), data=tmp_path / "data", config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig(operators=ops))

    async def main() -> Any:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await fn(c, dash)
        finally:
            await ex.stop()
            dash.close()

    return asyncio.run(main())


async def login(c: httpx.AsyncClient, name: str, pw: str) -> dict[str, Any]:
    r = await c.post("/auth/login", json={"name": name, "password": pw})
    assert r.status_code == 200, r.text
    return dict(r.json())


def operator_entries(tmp_path: Path) -> list[dict[str, Any]]:
    with Journal(tmp_path / "data" / "journal.db", readonly=True) as j:
        return [json.loads(e.payload) for e in j.entries(kinds=("operator",))]


def test_login_cookie_csrf_roles_and_journal(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        assert (await c.get("/auth/session")).status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": "wrong-password"})
        assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice"})
        assert r.status_code == 422
        assert r.json()["field"] == "password"
        r = await c.post("/auth/login", content=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 400
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(COOKIE + "=")
        low = cookie.lower()
        assert "httponly" in low
        assert "samesite=strict" in low
        assert "path=/" in low
        assert "secure" not in low  # plain http on loopback; set on https
        sess = r.json()
        assert sess["name"] == "alice"
        assert sess["role"] == "operator"
        assert (await c.get("/auth/session")).json()["csrf"] == sess["csrf"]
        # the supervisor-only log
        r = await c.get("/v1/operator/log")
        assert r.status_code == 403
        assert r.json()["reason"] == "role"
        # logout without / with a wrong / from another site / with the CSRF token
        r = await c.post("/auth/logout")
        assert r.status_code == 403
        assert r.json()["reason"] == "csrf"
        r = await c.post("/auth/logout", headers={"X-CSRF-Token": "x" * 43})
        assert r.status_code == 403
        r = await c.post(
            "/auth/logout", headers={"X-CSRF-Token": sess["csrf"], "Origin": "http://evil.example"}
        )
        assert r.status_code == 403
        assert r.json()["reason"] == "cross_site"
        r = await c.post("/auth/logout", headers={"X-CSRF-Token": sess["csrf"], "Origin": "http://t"})
        assert r.status_code == 200
        assert (await c.get("/auth/session")).status_code == 401
        r = await c.post("/auth/logout", headers={"X-CSRF-Token": sess["csrf"]})
        assert r.status_code == 401  # the session is gone
        sup = await login(c, "sue", PW_S)
        r = await c.get("/v1/operator/log")
        assert r.status_code == 200
        events = [(e["event"], e["operator"]) for e in r.json()["entries"]]
        assert events == [
            ("login_failed", "alice"),
            ("login", "alice"),
            ("logout", "alice"),
            ("login", "sue"),
        ]
        assert sup["role"] == "supervisor"

    run(tmp_path, go)
    ents = operator_entries(tmp_path)
    assert [e["event"] for e in ents] == ["login_failed", "login", "logout", "login"]
    assert all(isinstance(e["t"], float) for e in ents)
    assert all("password" not in json.dumps(e) for e in ents)


def test_login_throttled_and_removed_account_logged_out(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        await login(c, "bob", PW_B)
        for _ in range(5):
            r = await c.post("/auth/login", json={"name": "alice", "password": "not-the-password"})
            assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A})
        assert r.status_code == 429  # even the right password waits out the window
        # `tocsin operator remove bob` while the server runs: bob's session ends
        st = OperatorStore(tmp_path / "operators.json")
        st.remove("bob")
        st.save()
        import os

        os.utime(tmp_path / "operators.json", (1.0, 1.0))  # a distinct mtime however fast this runs
        r = await c.post("/auth/login", json={"name": "bob", "password": PW_B})
        assert r.status_code == 401
        assert (await c.get("/auth/session")).status_code == 401

    run(tmp_path, go)


def test_no_accounts_means_no_login(tmp_path: Path) -> None:
    ex, _ = build_exchange(toy_stages(), config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig(operators=None))

    async def main() -> None:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                r = await c.post("/auth/login", json={"name": "alice", "password": PW_A})
                assert r.status_code == 403
                assert (await c.get("/v1/config")).json()["accounts"] is False
        finally:
            await ex.stop()

    asyncio.run(main())


def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run the command in-process; (exit status, stdout, the one-line error)."""
    from typer.testing import CliRunner

    from tocsin.cli import app, error_line

    r = CliRunner().invoke(app, list(args), input=stdin)
    if isinstance(r.exception, InputError):  # what `tocsin` prints, exit 2
        return 2, r.stdout, error_line(r.exception)
    return r.exit_code, r.stdout, ""


def test_operator_cli(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    code, out, _ = cli("operator", "add", "alice", *data, "--password-stdin", stdin=PW_A + "\n")
    assert code == 0
    assert "operator alice (operator) saved" in out
    code, _, _ = cli("operator", "add", "sue", "--role", "supervisor", *data, "--password-stdin", stdin=PW_S)
    assert code == 0
    code, out, _ = cli("operator", "list", *data)
    assert code == 0
    lines = [ln.split("\t")[:2] for ln in out.splitlines()]
    assert lines == [["alice", "operator"], ["sue", "supervisor"]]
    assert OperatorStore(tmp_path / "data" / "operators.json").authenticate("alice", PW_A) is not None
    # without --password-stdin it asks twice (hidden)
    code, _, _ = cli("operator", "add", "bob", *data, stdin=f"{PW_B}\n{PW_B}\n")
    assert code == 0
    assert OperatorStore(tmp_path / "data" / "operators.json").authenticate("bob", PW_B) is not None
    for args, stdin, want in (
        (("add", "alice"), PW_A, "exists"),
        (("add", "x y"), PW_A, "name"),
        (("add", "carol"), "short", "password"),
    ):
        code, _, err = cli("operator", *args, *data, "--password-stdin", stdin=stdin)
        assert code == 2
        assert want in err
    assert cli("operator", "remove", "alice", *data)[0] == 0
    code, _, err = cli("operator", "remove", "alice", *data)
    assert code == 2
    assert "no operator" in err
    code, _, err = cli("operator", "list", "--data", str(tmp_path / "empty"))
    assert code == 2
    assert "no operator file" in err
    # and as a real process: one line on stderr, exit 2
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "operator", "remove", "nobody", *data],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == "tocsin: error: name: no operator 'nobody'"


def test_login_flood_is_journalled_once_and_locks_nobody_out(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        dash.throttle.max_total = 3
        for i in range(6):
            r = await c.post("/auth/login", json={"name": f"guess{i}", "password": "not-a-password"})
            assert r.status_code == 401
        await login(c, "bob", PW_B)

    run(tmp_path, go)
    events = [e["event"] for e in operator_entries(tmp_path)]
    assert events == ["login_failed"] * 3 + ["login_flood", "login"]
