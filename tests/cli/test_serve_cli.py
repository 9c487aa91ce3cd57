"""`tocsin serve` and `tocsin feed` as real processes on 127.0.0.1, and the
kill -9 crash-recovery test."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tocsin.exchange.samples import sample_plot
from tocsin.wire import write_jsonl

T0 = 1_789_430_400.0


def plots_file(path: Path, n: int) -> Path:
    msgs = []
    for i in range(n):
        src = ("JP-R1", "JP-R2", "KR-R1")[i % 3]
        msgs.append(sample_plot(partner=src[:2], source=src, seq=i // 3 + 1, sent=T0 + i * 0.01))
    write_jsonl(path, msgs)
    return path


def start_server(data: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
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
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = line.split()[-1]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server not healthy")


@contextmanager
def server(data: Path, *extra: str) -> Iterator[str]:
    proc, url = start_server(data, *extra)
    try:
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


def feed(url: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tocsin", "feed", str(path), "--to", url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_feed_events_and_replay(tmp_path: Path) -> None:
    src = plots_file(tmp_path / "plots.jsonl", 60)
    data = tmp_path / "data"
    with server(data) as url:
        with (
            httpx.Client(timeout=10) as c,
            c.stream("GET", url + "/v1/events?kinds=alert&max_events=3") as ev,
        ):
            r = feed(url, src, "--rate", "max", "--batch", "7")
            assert r.returncode == 0, r.stderr
            assert "60 sent, 60 accepted, 0 rejected" in r.stdout
            text = b"".join(ev.iter_bytes()).decode()
        assert text.count("event: alert") == 3
        r = feed(url, src, "--rate", "max")
        assert "60 rejected; duplicate: 60" in r.stdout
        m = httpx.get(url + "/metrics").text
        assert 'tocsin_messages_rejected_total{reason="duplicate"} 60' in m
        alerts = httpx.get(url + "/v1/alerts").json()
        assert len(alerts) == 3
    out = tmp_path / "replay"
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "replay", str(data / "journal.db"), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "identical to the" in r.stdout
    # no second copy of the outputs unless asked (--outputs-files): derived on demand
    assert not (data / "tracks.jsonl").exists()
    assert not (data / "alerts.jsonl").exists()
    exported = tmp_path / "exported"
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "journal", "export", str(data / "journal.db"), "-o", str(exported)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (out / name).read_bytes() == (exported / name).read_bytes()
    assert (exported / "alerts.jsonl").read_text().count("\n") == 3
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "journal", "verify", str(data / "journal.db")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0


def test_feed_paces_by_sent(tmp_path: Path) -> None:
    msgs = [sample_plot(seq=i + 1, sent=T0 + i * 0.5) for i in range(3)]
    write_jsonl(tmp_path / "p.jsonl", msgs)
    with server(tmp_path / "data") as url:
        t = time.monotonic()
        r = feed(url, tmp_path / "p.jsonl", "--rate", "1x")
        took = time.monotonic() - t
        assert "3 accepted" in r.stdout
        assert took >= 1.0  # 1.0 s of `sent` at real time


def test_feed_bad_input(tmp_path: Path) -> None:
    r = feed("http://127.0.0.1:9", tmp_path / "missing.jsonl")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    plots_file(tmp_path / "p.jsonl", 3)
    r = feed("http://127.0.0.1:9", tmp_path / "p.jsonl", "--rate", "max")
    assert r.returncode == 2
    assert "cannot reach" in r.stderr
    r = feed("http://127.0.0.1:9", tmp_path / "p.jsonl", "--rate", "fast")
    assert r.returncode == 2
    assert "--rate" in r.stderr


def test_serve_trace_file_that_cannot_be_written(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tocsin", "serve", "--port", "0", "--data", str(tmp_path / "d"),
         "--trace", str(tmp_path / "no-such-dir" / "trace.jsonl")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "--trace" in r.stderr
    assert "trace.jsonl" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_kill_9_then_restart_equals_uninterrupted_run(tmp_path: Path) -> None:
    src = plots_file(tmp_path / "plots.jsonl", 600)
    ref = tmp_path / "ref"
    with server(ref, "--outputs-files") as url:
        r = feed(url, src, "--rate", "max", "--batch", "10")
        assert "600 accepted" in r.stdout

    data = tmp_path / "crash"
    proc, url = start_server(data, "--outputs-files")
    feeder = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "feed", str(src), "--to", url, "--rate", "max", "--batch", "5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    entries = 0
    while time.monotonic() < deadline:
        with suppress(httpx.TransportError):
            entries = httpx.get(url + "/healthz", timeout=2).json()["journal"]["entries"]
        if entries > 200:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # in the middle of the stream
    proc.wait(10)
    for fh in (proc.stdout, proc.stderr):
        if fh is not None:
            fh.close()
    feeder.wait(30)
    assert entries > 200
    inputs_before = sum(1 for line in (data / "tracks.jsonl").read_text().splitlines() if line)
    assert inputs_before < 600  # really killed mid-stream

    with server(data, "--outputs-files") as url:
        r = feed(url, src, "--rate", "max", "--batch", "10")
        assert r.returncode == 0
        health = httpx.get(url + "/healthz").json()
        assert health["status"] == "ok"
    for name in ("tracks.jsonl", "alerts.jsonl"):
        assert (data / name).read_bytes() == (ref / name).read_bytes(), name
    tracks = [json.loads(x) for x in (data / "tracks.jsonl").read_text().splitlines()]
    assert len(tracks) == 600


def sse_clients(url: str) -> int:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("tocsin_sse_clients "):
            return int(float(line.split()[1]))
    raise AssertionError("no tocsin_sse_clients")


def test_event_stream_client_disconnects_are_cleaned_up(tmp_path: Path) -> None:
    with server(tmp_path / "data") as url:
        clients = [httpx.Client(timeout=5) for _ in range(3)]
        streams = [c.stream("GET", url + "/v1/events") for c in clients]
        iters = []
        for s in streams:
            it = s.__enter__().iter_bytes()
            iters.append(it)  # keep it: a dropped iterator closes the stream
            assert next(it).startswith(b": tocsin event stream")
        assert sse_clients(url) == 3
        for s, c in zip(streams, clients, strict=True):
            s.__exit__(None, None, None)
            c.close()
        deadline = time.monotonic() + 10
        while sse_clients(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sse_clients(url) == 0
        assert httpx.get(url + "/healthz").json()["status"] == "ok"


def test_signed_mode_end_to_end(tmp_path: Path) -> None:
    """serve --partners (wall clock): unsigned and foreign messages refused,
    `feed --key --restamp` accepted."""
    from typer.testing import CliRunner

    from tocsin.cli import app

    reg = tmp_path / "partners.yaml"
    for p in ("JP", "KR"):
        r = CliRunner().invoke(
            app, ["keys", "gen", "--partner", p, "-o", str(tmp_path / f"{p}.key"), "--registry", str(reg)]
        )
        assert r.exit_code == 0
    jp_only = tmp_path / "jp.jsonl"
    write_jsonl(jp_only, [sample_plot(seq=i, sent=T0 + i * 0.05) for i in range(1, 11)])
    with server(tmp_path / "data", "--partners", str(reg)) as url:
        assert httpx.get(url + "/healthz").json()["mode"] == "signed (2 partners)"
        r = feed(url, jp_only, "--rate", "max")
        assert "10 rejected; missing_signature: 10" in r.stdout
        r = feed(url, jp_only, "--rate", "max", "--key", str(tmp_path / "KR.key"))
        assert "bad_signature: 10" in r.stdout
        r = feed(url, jp_only, "--rate", "max", "--key", str(tmp_path / "JP.key"))
        assert "clock_skew: 10" in r.stdout  # recorded times are months old
        r = feed(url, jp_only, "--rate", "1x", "--key", str(tmp_path / "JP.key"), "--restamp")
        assert "10 sent, 10 accepted, 0 rejected" in r.stdout, r.stdout + r.stderr
        m = httpx.get(url + "/metrics").text
        assert 'tocsin_messages_rejected_total{reason="missing_signature"} 10' in m


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    err = proc.stderr.read() if proc.stderr is not None else ""
    for fh in (proc.stdout, proc.stderr):
        if fh is not None:
            fh.close()
    return rc, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_the_restart_replays_nothing(tmp_path: Path, sig: int) -> None:
    """SIGTERM (service managers) and SIGINT (Ctrl-C): drain, commit, snapshot,
    sign, close the WAL, exit 0; the restart loads that snapshot and re-runs
    nothing; the journal verifies --strict (a checkpoint covers every entry)."""
    from tocsin.exchange.signing import generate_key, private_key_pem, public_key_text

    key = generate_key()
    (tmp_path / "node.key").write_bytes(private_key_pem(key))
    (tmp_path / "node.pub").write_text(public_key_text(key))
    data = tmp_path / "data"
    proc, url = start_server(data, "--key", str(tmp_path / "node.key"))
    r = feed(url, plots_file(tmp_path / "plots.jsonl", 90), "--rate", "max", "--batch", "10")
    assert "90 accepted" in r.stdout
    alerts = httpx.get(url + "/v1/alerts", timeout=10).json()
    state = httpx.get(url + "/v1/state", timeout=10).json()
    assert alerts
    assert state["tracks"]
    rc, err = stop(proc, sig)
    assert rc == 0, err
    assert "stopped cleanly" in err
    wal = data / "journal.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    v = subprocess.run(
        [sys.executable, "-m", "tocsin", "journal", "verify", str(data / "journal.db"), "--pub",
         str(tmp_path / "node.pub"), "--strict"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert v.returncode == 0, v.stdout + v.stderr
    proc, url = start_server(data, "--key", str(tmp_path / "node.key"))
    # the alert history and the dashboard's picture come back from the snapshot
    # (keepers), not from reading the journal again
    assert httpx.get(url + "/v1/alerts", timeout=10).json() == alerts
    again = httpx.get(url + "/v1/state", timeout=10).json()
    assert again["tracks"] == state["tracks"]
    assert again["alerts"] == state["alerts"]
    rc, err = stop(proc, signal.SIGTERM)
    assert rc == 0
    assert "recovered from the snapshot at entry" in err
    assert "2 entries read, 0 inputs and 0 ticks re-run" in err


def test_health_command(tmp_path: Path) -> None:
    def health(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tocsin", "health", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    with server(tmp_path / "data") as url:
        r = health("--url", url)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("ok: ")
        assert "status ok" in r.stdout
        r = health("--url", url, "--max-queue", "0")
        assert r.returncode == 0
    r = health("--url", url, "--timeout", "1")  # stopped: nothing listens
    assert r.returncode == 1
    assert r.stderr.startswith("unreachable: ")
    assert r.stderr.count("\n") == 1
    r = health("--url", "127.0.0.1:8080")
    assert r.returncode == 2
    assert "--url" in r.stderr


def test_what_the_server_holds_once_started_is_out_of_the_full_collections(tmp_path: Path) -> None:
    """Issue 17: the cycle collector's full passes walked every object of the
    server (modules, numba's tables, the recovered state), holding every
    thread for up to 0.4 s at 20,000 plots/s; once started, the server
    freezes them (and counts its passes in /metrics)."""
    with server(tmp_path / "d") as url:
        text = httpx.get(url + "/metrics", timeout=10).text
    values = {ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("tocsin_gc_")}
    assert values["tocsin_gc_frozen_objects"] > 10_000
    assert 'tocsin_gc_collections_total{generation="2"}' in values
