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
from tocsin.exchange.signing import generate_key
from tocsin.journal.store import Journal
from tocsin.web import ServerConfig, build_exchange, create_app
from tocsin.web.auth import (
    DeviceTokens,
    LoginThrottle,
    OperatorStore,
    Proof,
    SessionStore,
    csrf_ok,
    new_totp_secret,
    totp_code,
    totp_step,
    verify_operator,
)
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


def test_throttle_backs_off_per_client_never_per_name() -> None:
    now = [0.0]
    th = LoginThrottle(clock=lambda: now[0], free_failures=3, untrusted_free=6, base_s=1, max_wait_s=8)
    a, b = ["addr:10.0.0.1", "name:bob"], ["addr:10.0.0.2", "name:bob"]
    for _ in range(3):  # the free failures
        assert th.wait(a) == 0
        th.failed(a)
    assert th.wait(a) == 0
    waits = []
    for _ in range(6):
        th.failed(a)
        waits.append(th.wait(a))
        now[0] += waits[-1]  # wait it out, fail again
    assert waits == [1, 2, 4, 8, 8, 8]  # doubling, capped
    th.failed(a)
    # another address is not slowed by a's failures ... except through the shared
    # budget of unknown clients for the name (6 here), which a's 10 failures used up
    assert th.wait(["addr:10.0.0.2"]) == 0
    assert th.wait(b) == 8
    # a device that logged in as bob before is keyed by its token alone: never held
    assert th.wait(["device:bobs-browser"]) == 0
    th.succeeded(["device:bobs-browser"])
    # success clears the client's own backoff
    th.succeeded(["addr:10.0.0.1"])
    assert th.wait(["addr:10.0.0.1"]) == 0
    # failures are forgotten after a quiet window: the next one starts again from free
    now[0] += th.window_s + 1
    assert th.wait(b) == 0
    th.failed(b)
    assert th.wait(b) == 0
    assert th.keys["name:bob"].failures == 1
    # a flood of failures is noticed (journalled once), and locks nobody out
    th2 = LoginThrottle(clock=lambda: now[0], max_total=10)
    for i in range(10):
        assert not th2.flooded()
        th2.failed([f"addr:10.0.1.{i}", f"name:guess{i}"])
    assert th2.flooded()
    assert th2.wait(["addr:10.0.9.9", "name:bob"]) == 0
    now[0] += 61
    assert not th2.flooded()


def test_throttle_memory_is_bounded() -> None:
    now = [0.0]
    th = LoginThrottle(clock=lambda: now[0], max_keys=100)
    for i in range(1000):
        th.failed([f"addr:10.{i // 256}.{i % 256}.1"])
    assert len(th.keys) <= 100


def test_device_tokens() -> None:
    now = [1000.0]
    dt = DeviceTokens(b"k" * 32, clock=lambda: now[0], max_age_s=100)
    tok = dt.issue("bob")
    ident = dt.check(tok, "bob")
    assert ident is not None
    assert dt.check(tok, "alice") is None  # good for one name only
    assert DeviceTokens(b"x" * 32, clock=lambda: now[0]).check(tok, "bob") is None  # another server's
    parts = tok.split(".")
    assert dt.check(f"{parts[0]}.{int(parts[1]) + 1000}.{parts[2]}", "bob") is None  # expiry edited
    assert dt.check("", "bob") is None
    assert dt.check("a.b.c", "bob") is None
    now[0] += 101
    assert dt.check(tok, "bob") is None  # expired


def test_totp_codes_once_within_drift() -> None:
    secret = new_totp_secret()
    t = 1_789_430_400.0
    code = totp_code(secret, t)
    step = totp_step(secret, code, t)
    assert step == int(t // 30)
    assert totp_step(secret, code, t + 30) == step  # one step of drift is accepted
    assert totp_step(secret, code, t + 61) is None  # two is not
    assert totp_step(secret, code, t, after=step) is None  # a code works once
    assert totp_step(secret, "000000" if code != "000000" else "111111", t) is None
    assert totp_step(secret, "12345", t) is None
    assert totp_step(secret, "abcdef", t) is None


def test_operator_factors_round_trip_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "ops.json"
    st = make_store(path)
    secret = new_totp_secret()
    st.set_totp("alice", secret)
    key = generate_key()
    st.set_key("bob", key.public_key())
    st.save()
    st = OperatorStore(path)
    assert st.operators["alice"].totp == secret
    assert st.operators["bob"].key is not None
    t = 1_789_430_400.0
    ok = verify_operator(st, "alice", Proof(password=PW_A, totp=totp_code(secret, t)), t)
    assert ok.op is not None
    assert ok.factors == ("password", "totp")
    assert verify_operator(st, "alice", Proof(password=PW_A), t).op is None  # the code is required
    assert verify_operator(st, "alice", Proof(password=PW_B, totp=totp_code(secret, t)), t).op is None
    stmt = b"confirm P1"
    v = verify_operator(st, "bob", Proof(statement=stmt, signature=key.sign(stmt)), t)
    assert v.op is not None
    assert v.factors == ("key",)
    assert verify_operator(st, "bob", Proof(statement=b"confirm P2", signature=key.sign(stmt)), t).op is None
    other = generate_key()
    assert verify_operator(st, "bob", Proof(statement=stmt, signature=other.sign(stmt)), t).op is None
    assert (
        verify_operator(st, "alice", Proof(statement=stmt, signature=key.sign(stmt)), t).op is None
    )  # no key
    # a new password keeps the factors
    st.add("alice", "another-password-9", replace=True)
    assert st.operators["alice"].totp == secret
    # a damaged factor names the account and field
    d = json.loads(path.read_text())
    d["operators"]["bob"]["key"] = "AAAA"
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"operators\.bob: bad account: key"):
        OperatorStore(path)
    d["operators"]["bob"].pop("key")
    d["operators"]["bob"]["n"] = 2**24  # a login would need 2 GiB
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match="scrypt cost"):
        OperatorStore(path)


# ---------------------------------------------------------------- over HTTP


def run(
    tmp_path: Path,
    fn: Callable[[httpx.AsyncClient, Dashboard], Awaitable[Any]],
    clock: Callable[[], float] | None = None,
) -> Any:
    ops = tmp_path / "operators.json"
    if not ops.exists():
        make_store(ops)
    ex, _ = build_exchange(toy_stages(), data=tmp_path / "data", config=ServerConfig(tick_s=0, clock="data"))
    dash = Dashboard(ex, DashboardConfig(operators=ops), **({"clock": clock} if clock else {}))

    async def main() -> Any:
        app = create_app(ex, dashboard=dash)
        await ex.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                c.app = app  # type: ignore[attr-defined]  # for more clients: other_client()
                return await fn(c, dash)
        finally:
            await ex.stop()
            dash.close()

    return asyncio.run(main())


def other_client(c: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    """A second browser, from another address, on the same server."""
    app = c.app  # type: ignore[attr-defined]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://t"
    )


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
    assert all("password" not in e and PW_A not in json.dumps(e) for e in ents)


def test_a_login_body_repeating_a_name_or_nested_deep_is_refused(tmp_path: Path) -> None:
    """A request body is input like a message: a repeated member name (a
    last-wins reader would log alice in with the second password) is 400, and
    so is a body nested 60,000 deep (it was a RecursionError: 500)."""

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        ct = {"content-type": "application/json"}
        body = b'{"name":"alice","password":"wrong-password","password":"%s"}' % PW_A.encode()
        r = await c.post("/auth/login", content=body, headers=ct)
        assert (r.status_code, r.json()["reason"]) == (400, "schema")
        assert "'password' repeated" in r.json()["detail"]
        assert (await c.get("/auth/session")).status_code == 401
        r = await c.post("/auth/login", content=b"[" * 60_000, headers=ct)
        assert (r.status_code, r.json()["reason"]) == (400, "schema")
        await login(c, "alice", PW_A)  # (the same password, once: logged in)

    run(tmp_path, go)


def test_login_throttled_and_removed_account_logged_out(tmp_path: Path) -> None:
    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        await login(c, "bob", PW_B)
        for _ in range(6):  # five free failures, then this client waits
            r = await c.post("/auth/login", json={"name": "alice", "password": "not-the-password"})
            assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A})
        assert r.status_code == 429  # even the right password waits out this client's backoff
        assert r.headers["Retry-After"] == "1"
        assert r.json()["reason"] == "throttled"
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
        async with other_client(c, "10.6.6.6") as mallory:
            for i in range(6):
                r = await mallory.post(
                    "/auth/login", json={"name": f"guess{i}", "password": "not-a-password"}
                )
                assert r.status_code == 401
        await login(c, "bob", PW_B)

    run(tmp_path, go)
    events = [e["event"] for e in operator_entries(tmp_path)]
    assert events == ["login_failed"] * 3 + ["login_flood", "login"]


def test_guessing_bobs_password_never_locks_bob_out(tmp_path: Path) -> None:
    """Issue 14: five wrong passwords for bob locked bob's correct password out for
    a minute. Now failures slow the client that made them: bob's own browser
    (a device token from an earlier login) and any other address log in at once
    however long the guessing goes on; the guesser waits longer and longer."""

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        async with other_client(c, "10.9.9.9") as mallory, other_client(c, "10.1.1.1") as bobs_browser:
            r = await bobs_browser.post("/auth/login", json={"name": "bob", "password": PW_B})
            assert r.status_code == 200
            assert any(ck.name == "tocsin_device_bob" for ck in bobs_browser.cookies.jar)
            # five wrong passwords for bob (the issue's attack), then bob, from anywhere
            for _ in range(5):
                r = await mallory.post("/auth/login", json={"name": "bob", "password": "wrong-guess-123"})
                assert r.status_code == 401
            for client in (bobs_browser, c):
                r = await client.post("/auth/login", json={"name": "bob", "password": PW_B})
                assert r.status_code == 200, r.text
            # bob himself on a new machine: five typos, then the right password
            async with other_client(c, "10.3.3.3") as typist:
                for _ in range(5):
                    r = await typist.post("/auth/login", json={"name": "bob", "password": "bravo-pasword-2"})
                    assert r.status_code == 401
                r = await typist.post("/auth/login", json={"name": "bob", "password": PW_B})
                assert r.status_code == 200, r.text
            # a long guessing run, each backoff waited out: mallory is slowed, bob's browser never is
            codes, waits = [], []
            for _ in range(40):
                r = await mallory.post("/auth/login", json={"name": "bob", "password": "wrong-guess-123"})
                codes.append(r.status_code)
                waits.append(dash.gate.throttle.wait(["addr:10.9.9.9", "name:bob"]))
                r = await bobs_browser.post("/auth/login", json={"name": "bob", "password": PW_B})
                assert r.status_code == 200, r.text  # never held, whatever mallory does
                now[0] += waits[-1] + 0.001
            assert set(codes) == {401}
            assert waits[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
            assert set(waits[10:]) == {300}  # doubled up to the cap, and kept there
            now[0] += 1
            r = await mallory.post("/auth/login", json={"name": "bob", "password": "wrong-guess-123"})
            assert r.status_code == 401
            r = await mallory.post("/auth/login", json={"name": "bob", "password": PW_B})
            assert r.status_code == 429  # even the right password, from the guesser
            assert r.headers["Retry-After"] == "300"
            # a new address is held by the shared budget of unknown clients for bob
            # (the guesser's failures spent it); bob's own browser is not
            async with other_client(c, "10.5.5.5") as fresh:
                r = await fresh.post("/auth/login", json={"name": "bob", "password": PW_B})
                assert r.status_code == 429
            # a forged or another operator's device token does not make mallory trusted
            mallory.cookies.set("tocsin_device_bob", "x.99999999999.y", path="/auth/login")
            r = await mallory.post("/auth/login", json={"name": "bob", "password": PW_B})
            assert r.status_code == 429

    import time as _time

    now = [_time.time()]
    run(tmp_path, go, clock=lambda: now[0])
    events = [(e["event"], e.get("trusted_device")) for e in operator_entries(tmp_path)]
    assert ("login_failed", False) in events


def test_totp_second_factor_over_http(tmp_path: Path) -> None:
    ops = tmp_path / "operators.json"
    st = make_store(ops)
    secret = new_totp_secret()
    st.set_totp("alice", secret)
    st.save()
    import time as _time

    async def go(c: httpx.AsyncClient, dash: Dashboard) -> None:
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A})
        assert r.status_code == 401  # no code: no session, and no hint that the password was right
        assert r.json()["detail"] == "wrong name, password or code"
        code = totp_code(secret, _time.time())
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A, "totp": wrong})
        assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": "wrong-password", "totp": code})
        assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A, "totp": code})
        assert r.status_code == 200, r.text
        # the same code again (seen over a shoulder): refused
        async with other_client(c, "10.2.2.2") as c2:
            r = await c2.post("/auth/login", json={"name": "alice", "password": PW_A, "totp": code})
            assert r.status_code == 401
        r = await c.post("/auth/login", json={"name": "alice", "password": PW_A, "totp": "1" * 20})
        assert r.status_code == 422
        assert r.json()["field"] == "totp"
        # an account without TOTP logs in with its password alone
        await login(c, "bob", PW_B)

    run(tmp_path, go)
    logins = [e for e in operator_entries(tmp_path) if e["event"] == "login"]
    assert [(e["operator"], e["factors"]) for e in logins] == [
        ("alice", ["password", "totp"]),
        ("bob", ["password"]),
    ]


def test_operator_cli_totp_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time as _time

    import tocsin.web.auth as auth_mod

    data = ["--data", str(tmp_path / "data")]
    assert cli("operator", "add", "aoki", *data, "--password-stdin", stdin=PW_A)[0] == 0
    secret = new_totp_secret()
    monkeypatch.setattr(auth_mod, "new_totp_secret", lambda: secret)
    # a wrong code at enrolment: nothing saved
    code, out, err = cli(
        "operator",
        "totp",
        "aoki",
        *data,
        stdin="000000\n" if totp_code(secret, _time.time()) != "000000" else "111111\n",
    )
    assert code == 2
    assert "nothing saved" in err
    assert OperatorStore(tmp_path / "data" / "operators.json").operators["aoki"].totp is None
    code, out, _ = cli("operator", "totp", "aoki", *data, stdin=totp_code(secret, _time.time()) + "\n")
    assert code == 0
    assert f"secret: {secret}" in out
    assert "otpauth://totp/tocsin:aoki?secret=" in out
    assert OperatorStore(tmp_path / "data" / "operators.json").operators["aoki"].totp == secret
    # keys: generated (private key 0600, public one registered) or given
    code, out, _ = cli("operator", "key", "aoki", "--generate", str(tmp_path / "aoki.key"), *data)
    assert code == 0
    assert "key SHA256:" in out
    assert stat.S_IMODE((tmp_path / "aoki.key").stat().st_mode) == 0o600
    code, _, err = cli("operator", "key", "aoki", "--generate", str(tmp_path / "aoki.key"), *data)
    assert code == 2
    assert "will not overwrite" in err
    code, out, _ = cli("operator", "list", *data)
    assert code == 0
    row = out.strip().split("\t")
    assert row[:2] == ["aoki", "operator"]
    assert row[3] == "totp"
    assert row[4].startswith("key SHA256:")
    code, _, err = cli("operator", "key", "aoki", *data)
    assert code == 2
    assert "one of --public, --generate, --remove" in err
    assert cli("operator", "totp", "aoki", "--disable", *data)[0] == 0
    assert cli("operator", "key", "aoki", "--remove", *data)[0] == 0
    o = OperatorStore(tmp_path / "data" / "operators.json").operators["aoki"]
    assert (o.totp, o.key) == (None, None)
    assert o.check(PW_A)
