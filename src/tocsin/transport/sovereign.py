"""A sovereign NATS deployment: each nation runs its own server, shares by agreement.

``tocsin deploy nats --partners JP,KR,US --out DIR`` writes one directory per
partner (:func:`write_deployment`). Each holds that nation's server
configuration and its own secrets only; what a nation gives the others is
public (its CA certificate, its leaf users' public NKeys, already in their
configurations). Per nation ``XX``:

* **its own server** (or cluster) with its own JetStream **domain** ``XX``:
  the streams ``TOCSIN_IN_<YY>`` (one per partner) / ``TOCSIN_OUT`` and the
  consumers ``fusion-XX`` live there and nowhere else;
* **accounts**: ``SYS`` (the system account, for monitoring), ``XX`` (JetStream;
  the users ``admin`` and ``node``, NKeys), and for each other partner ``YY``:
  ``TO_YY`` (what ``YY``'s server may take from here: it imports ``XX``'s own
  subjects; its only user is ``YY``'s leaf key, allowed to connect only as a
  leafnode, to publish nothing and to receive only those subjects) and
  ``FROM_YY`` (bound to this server's leafnode connection to ``YY``'s server);
* **explicit exports and imports**: ``XX`` exports its own subjects
  (``tocsin.v1.<kind>.XX.>``, ``tocsin.v1.out.*.XX``) to each ``TO_YY``, and
  imports from each ``FROM_YY`` exactly ``YY``'s own subjects — so even a
  compromised ``YY`` server cannot put a message under a third partner's
  subjects into ``XX``'s account;
* **leafnodes**: the server dials each other partner's leafnode port (TLS,
  client certificate, the NKey of its user in the peer's ``TO_XX``), binding
  its local ``FROM_YY`` account: ``YY``'s subjects flow in, nothing flows out
  that way (``XX``'s own subjects reach ``YY`` over the link ``YY`` dials);
* **TLS everywhere** (client and leafnode ports, ``verify: true``): a CA per
  nation (:mod:`tocsin.transport.pki`) signs its server's certificate and its
  clients'; the leafnode port trusts the other nations' CA certificates.

No JetStream API subject crosses a nation's boundary: no partner can read, ack,
create or delete another's consumers or streams, and within a nation the
``node`` user has the same confined permissions as on the shared cluster
(:func:`tocsin.transport.natsconf.partner_permissions`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tocsin.errors import InputError
from tocsin.transport import pki
from tocsin.transport.natsconf import (
    Env,
    check_codes,
    inbox_prefix,
    own_subjects,
    partner_permissions,
    render,
)

FORMAT = "tocsin-nats-deployment/1"
JS_MAX_FILE = 20 * 2**30
JS_MAX_MEM = 256 * 2**20


@dataclass(frozen=True)
class Endpoint:
    """One server of a nation: where it is reached (``host``) and listens
    (``bind``); ``cluster_port`` 0 for a nation with one server."""

    host: str
    client_port: int
    leaf_port: int
    http_port: int
    bind: str = "127.0.0.1"
    cluster_port: int = 0

    @property
    def client_url(self) -> str:
        return f"tls://{self.host}:{self.client_port}"

    @property
    def leaf_url(self) -> str:
        return f"tls://{self.host}:{self.leaf_port}"

    @property
    def route_url(self) -> str:
        return f"nats-route://{self.host}:{self.cluster_port}"


def new_nkey_user() -> tuple[str, str]:
    """A fresh NKey user: (seed, public key), as strings."""
    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pub = nkeys.from_seed(seed).public_key
    return seed.decode("ascii"), pub.decode("ascii")


CLUSTER_SIZES = (1, 3, 5)


def parse_endpoints(
    codes: Sequence[str],
    specs: Sequence[str],
    *,
    host: str = "127.0.0.1",
    base_port: int = 14222,
    servers: int = 1,
) -> dict[str, list[Endpoint]]:
    """Each nation's servers. ``--endpoint XX=HOST:CLIENT:LEAF[:HTTP[:CLUSTER]]``
    names one server of ``XX`` (repeat it for each server of a cluster: 1, 3 or
    5, each with a cluster port); a partner not named gets ``servers`` servers on
    ``host``, server ``k`` of partner ``i`` at ``base_port + 20*i + 4*k`` (client),
    +1 (leafnode), +2 (monitoring), +3 (cluster)."""
    if servers not in CLUSTER_SIZES:
        raise InputError("must be 1, 3 or 5", field="--servers")
    given: dict[str, list[Endpoint]] = {}
    pat = re.compile(r"^([A-Za-z]{2})=([^:\s]+):(\d+):(\d+)(?::(\d+))?(?::(\d+))?$")
    for spec in specs:
        m = pat.match(spec.strip())
        if not m:
            raise InputError(
                f"{spec!r}: expected XX=HOST:CLIENT_PORT:LEAF_PORT[:HTTP_PORT[:CLUSTER_PORT]]",
                field="--endpoint",
            )
        code = m.group(1).upper()
        if code not in codes:
            raise InputError(f"{code} is not one of --partners", field="--endpoint")
        ports = [int(m.group(i)) if m.group(i) else 0 for i in (3, 4, 5, 6)]
        if not all(0 < p < 65536 for p in ports[:2]) or not all(0 <= p < 65536 for p in ports[2:]):
            raise InputError(f"{spec!r}: ports must be 1..65535", field="--endpoint")
        h = m.group(2)
        given.setdefault(code, []).append(Endpoint(h, ports[0], ports[1], ports[2], _bind_for(h), ports[3]))
    out: dict[str, list[Endpoint]] = {}
    for i, c in enumerate(codes):
        if c in given:
            eps = given[c]
            if len(eps) not in CLUSTER_SIZES:
                raise InputError(f"{c} has {len(eps)} servers: a cluster has 1, 3 or 5", field="--endpoint")
            if len(eps) > 1 and not all(e.cluster_port for e in eps):
                raise InputError(f"{c}: each server of a cluster needs its cluster port", field="--endpoint")
            out[c] = eps
            continue
        b = base_port + 20 * i
        out[c] = [
            Endpoint(
                host,
                b + 4 * k,
                b + 4 * k + 1,
                b + 4 * k + 2,
                _bind_for(host),
                b + 4 * k + 3 if servers > 1 else 0,
            )
            for k in range(servers)
        ]
    used: dict[tuple[str, int], str] = {}
    for c, eps in out.items():
        for e in eps:
            for p in (e.client_port, e.leaf_port, e.http_port, e.cluster_port):
                if p and (e.host, p) in used:
                    raise InputError(f"{c} and {used[(e.host, p)]} both use {e.host}:{p}", field="--endpoint")
                used[(e.host, p)] = c
    return out


def _bind_for(host: str) -> str:
    return "127.0.0.1" if host in ("127.0.0.1", "localhost") else "0.0.0.0"


@dataclass(frozen=True)
class PartnerFiles:
    """What a partner's directory holds (paths relative to it)."""

    code: str
    dir: str
    #: one configuration per server: server.conf, or server-1.conf ... for a cluster
    server_confs: tuple[str, ...] = ("server.conf",)
    secrets_conf: str = "secrets.conf"
    ca: str = "tls/ca.pem"
    ca_key: str = "tls/ca-key.pem"
    server_cert: str = "tls/server-cert.pem"
    server_key: str = "tls/server-key.pem"
    peers_ca: str = "tls/peers-ca.pem"
    node_cert: str = "tls/node-cert.pem"
    node_key: str = "tls/node-key.pem"
    admin_cert: str = "tls/admin-cert.pem"
    admin_key: str = "tls/admin-key.pem"
    node_nkey: str = "nkeys/node.nk"
    admin_nkey: str = "nkeys/admin.nk"
    sys_nkey: str = "nkeys/sys.nk"


def _leaf_seed_var(peer: str) -> str:
    return f"TOCSIN_LEAF_SEED_{peer}"


def server_config(
    code: str,
    codes: Sequence[str],
    ep: Mapping[str, Sequence[Endpoint]],
    users: Mapping[str, str],
    leaf_users: Mapping[str, str],
    files: PartnerFiles,
    k: int = 0,
) -> str:
    """nats-server configuration of server ``k`` of ``code`` (module doc).
    ``users``: public NKeys of its own users (sys, admin, node); ``leaf_users``:
    for each peer, the public NKey with which that peer's servers dial in."""
    peers = [c for c in codes if c != code]
    mine_eps = ep[code]
    me = mine_eps[k]
    mine = own_subjects(code)
    accounts: dict[str, Any] = {
        "SYS": {"users": [{"nkey": users["sys"]}]},
        code: {
            "jetstream": "enabled",
            "users": [
                {"nkey": users["admin"]},
                {"nkey": users["node"], "permissions": partner_permissions(code)},
            ],
            "exports": [{"stream": s, "accounts": [f"TO_{p}" for p in peers]} for s in mine] if peers else [],
            "imports": [
                {"stream": {"account": f"FROM_{p}", "subject": s}} for p in peers for s in own_subjects(p)
            ],
        },
    }
    for p in peers:
        accounts[f"TO_{p}"] = {
            "users": [
                {
                    "nkey": leaf_users[p],
                    "allowed_connection_types": ["LEAFNODE"],
                    # over a leafnode connection "publish" is what the peer may send
                    # here (nothing) and "subscribe" what it may receive (our subjects)
                    "permissions": {"publish": {"deny": [">"]}, "subscribe": {"allow": mine}},
                }
            ],
            "imports": [{"stream": {"account": code, "subject": s}} for s in mine],
        }
        accounts[f"FROM_{p}"] = {"exports": [{"stream": s, "accounts": [code]} for s in own_subjects(p)]}
    tls_block = {
        "cert_file": files.server_cert,
        "key_file": files.server_key,
        "ca_file": files.ca,
        "verify": True,
        "timeout": 5,
    }
    clustered = len(mine_eps) > 1
    doc: dict[str, Any] = {
        "server_name": f"tocsin-{code}-{k + 1}" if clustered else f"tocsin-{code}",
        "listen": f"{me.bind}:{me.client_port}",
    }
    if me.http_port:
        doc["http"] = f"127.0.0.1:{me.http_port}"
    doc["tls"] = tls_block
    doc["jetstream"] = {
        "domain": code,
        "store_dir": f"jetstream-{k + 1}" if clustered else "jetstream",
        "max_file_store": JS_MAX_FILE,
        "max_memory_store": JS_MAX_MEM,
    }
    if clustered:  # this nation's own servers, TLS between them with its own CA
        doc["cluster"] = {
            "name": f"tocsin-{code}",
            "listen": f"{me.bind}:{me.cluster_port}",
            "routes": [e.route_url for e in mine_eps],
            "tls": tls_block,
        }
    leaf: dict[str, Any] = {"listen": f"{me.bind}:{me.leaf_port}"}
    if peers:
        leaf["tls"] = {**tls_block, "ca_file": files.peers_ca}
        leaf["remotes"] = [
            {
                "urls": [e.leaf_url for e in ep[p]],
                "account": f"FROM_{p}",
                "nkey": Env(_leaf_seed_var(p)),
                "tls": {
                    "cert_file": files.server_cert,
                    "key_file": files.server_key,
                    "ca_file": f"peers/{p}-ca.pem",
                    "timeout": 5,
                },
            }
            for p in peers
        ]
    doc["leafnodes"] = leaf
    doc["accounts"] = accounts
    doc["system_account"] = "SYS"
    conf = files.server_confs[k]
    where = f"server {k + 1} of {len(mine_eps)} of {code}'s cluster" if clustered else f"the server of {code}"
    header = (
        f"tocsin sovereign NATS: {where} (JetStream domain {code}).",
        "GENERATED by `tocsin deploy nats`; see tocsin.transport.sovereign for the layout.",
        f"Start it from this directory (relative paths): cd {files.dir} && nats-server -c {conf}",
        f"The leafnode seeds are in {files.secrets_conf} (mode 0600), included below.",
    )
    text = render(doc, header)
    # the include must come before the first use of its variables
    return text.replace("server_name:", f'include "{files.secrets_conf}"\nserver_name:', 1)


@dataclass(frozen=True)
class Deployment:
    """What :func:`write_deployment` wrote (also saved as ``deployment.json``)."""

    partners: tuple[str, ...]
    #: each nation's servers (one, or a cluster of 3 or 5)
    endpoints: dict[str, list[Endpoint]]
    files: dict[str, PartnerFiles]
    #: public NKeys: users[XX] = {"sys", "admin", "node"}; leaf[XX][YY] = the key with
    #: which XX's server dials YY's (public: every configuration names them anyway)
    users: dict[str, dict[str, str]]
    leaf: dict[str, dict[str, str]]

    def dir(self, root: Path, code: str) -> Path:
        return root / self.files[code].dir

    def urls(self, code: str) -> tuple[str, ...]:
        """Client URLs of ``code``'s servers."""
        return tuple(e.client_url for e in self.endpoints[code])

    def server_config(self, code: str, k: int = 0) -> str:
        """The configuration of ``code``'s server ``k`` (as written)."""
        peers = [p for p in self.partners if p != code]
        return server_config(
            code,
            self.partners,
            self.endpoints,
            self.users[code],
            {p: self.leaf[p][code] for p in peers},
            self.files[code],
            k,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "partners": list(self.partners),
            "endpoints": {c: [asdict(e) for e in eps] for c, eps in self.endpoints.items()},
            "files": {c: asdict(f) for c, f in self.files.items()},
            "public_nkeys": {"users": self.users, "leaf": self.leaf},
        }

    @classmethod
    def load(cls, root: Path) -> Deployment:
        path = root / "deployment.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            return cls(
                tuple(d["partners"]),
                {c: [Endpoint(**e) for e in eps] for c, eps in d["endpoints"].items()},
                {
                    c: PartnerFiles(**{**f, "server_confs": tuple(f["server_confs"])})
                    for c, f in d["files"].items()
                },
                d["public_nkeys"]["users"],
                d["public_nkeys"]["leaf"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a tocsin NATS deployment ({exc})", file=str(path)) from None


def write_deployment(
    out: Path, partners: Sequence[str], endpoints: Mapping[str, Sequence[Endpoint]]
) -> Deployment:
    """Write the whole deployment under ``out`` (which must not exist or be empty)."""
    codes = check_codes(partners)
    if out.exists() and any(out.iterdir()):
        raise InputError(
            "exists and is not empty: will not overwrite a deployment", file=str(out), field="--out"
        )
    out.mkdir(parents=True, exist_ok=True)
    files = {
        c: PartnerFiles(
            c,
            c,
            ("server.conf",)
            if len(endpoints[c]) == 1
            else tuple(f"server-{k + 1}.conf" for k in range(len(endpoints[c]))),
        )
        for c in codes
    }
    cas = {c: pki.make_ca(f"tocsin {c}", f"tocsin {c} CA") for c in codes}
    users: dict[str, dict[str, str]] = {}
    seeds: dict[str, dict[str, str]] = {}
    for c in codes:
        users[c], seeds[c] = {}, {}
        for who in ("sys", "admin", "node"):
            seeds[c][who], users[c][who] = new_nkey_user()
    # leaf[a][b]: the key with which a's server dials into b's (b holds the public half)
    leaf: dict[str, dict[str, tuple[str, str]]] = {
        a: {b: new_nkey_user() for b in codes if b != a} for a in codes
    }
    for c in codes:
        f, d = files[c], out / files[c].dir
        pki.write_pair(cas[c], d / f.ca, d / f.ca_key)
        names = {e.host for e in endpoints[c]}
        if names & {"127.0.0.1", "localhost"}:
            names |= {"127.0.0.1", "localhost"}
        pki.write_pair(
            pki.issue(cas[c], f"tocsin-{c}", f"tocsin {c}", hosts=sorted(names), server=True, client=True),
            d / f.server_cert,
            d / f.server_key,
        )
        pki.write_pair(pki.issue(cas[c], f"{c} node", f"tocsin {c}"), d / f.node_cert, d / f.node_key)
        pki.write_pair(pki.issue(cas[c], f"{c} admin", f"tocsin {c}"), d / f.admin_cert, d / f.admin_key)
        peers = [p for p in codes if p != c]
        (d / "peers").mkdir(parents=True, exist_ok=True)
        for p in peers:
            (d / "peers" / f"{p}-ca.pem").write_bytes(pki.cert_pem(cas[p].cert))
        (d / f.peers_ca).write_bytes(b"".join(pki.cert_pem(cas[p].cert) for p in peers))
        for who, path in (("node", f.node_nkey), ("admin", f.admin_nkey), ("sys", f.sys_nkey)):
            pki.write_secret(d / path, (seeds[c][who] + "\n").encode())
        secrets = render(
            {_leaf_seed_var(p): leaf[c][p][0] for p in peers},
            (f"{c}'s leafnode seeds: the keys with which this server dials the others. SECRET.",),
        )
        pki.write_secret(d / f.secrets_conf, secrets.encode())
    dep = Deployment(
        tuple(codes),
        {c: list(endpoints[c]) for c in codes},
        files,
        users,
        {a: {b: pub for b, (_, pub) in peers.items()} for a, peers in leaf.items()},
    )
    for c in codes:
        d = out / files[c].dir
        for k, name in enumerate(files[c].server_confs):
            (d / name).write_text(dep.server_config(c, k), encoding="utf-8")
        (d / "README.md").write_text(_partner_readme(c, codes, endpoints, files[c]), encoding="utf-8")
    (out / "deployment.json").write_text(json.dumps(dep.to_dict(), indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(dep), encoding="utf-8")
    return dep


def node_args(dep: Deployment, root: Path, code: str, *, admin: bool = False) -> list[str]:
    """The ``tocsin node`` / ``tocsin deploy streams`` connection options of ``code``."""
    f, d = dep.files[code], root / dep.files[code].dir
    nkey, cert, key = (
        (f.admin_nkey, f.admin_cert, f.admin_key) if admin else (f.node_nkey, f.node_cert, f.node_key)
    )
    return [
        "--nats", ",".join(dep.urls(code)),
        "--nkey", str(d / nkey),
        "--tls-ca", str(d / f.ca),
        "--tls-cert", str(d / cert),
        "--tls-key", str(d / key),
    ]  # fmt: skip


def _partner_readme(
    code: str, codes: Sequence[str], ep: Mapping[str, Sequence[Endpoint]], f: PartnerFiles
) -> str:
    peers = [c for c in codes if c != code]
    eps = ep[code]
    urls = ",".join(e.client_url for e in eps)
    if len(eps) == 1:
        start = f"""Start the server (JetStream domain `{code}`, client port {eps[0].client_port}, leafnode
port {eps[0].leaf_port}, both TLS with client certificates):

    cd {f.dir} && nats-server -c server.conf"""
        replicas = ""
    else:
        lines = "\n".join(
            f"    cd {f.dir} && nats-server -c {name}      # on {e.host}: client {e.client_port}, "
            f"leafnode {e.leaf_port}, cluster {e.cluster_port}"
            for name, e in zip(f.server_confs, eps, strict=True)
        )
        start = f"""Start the {len(eps)} servers of {code}'s cluster (JetStream domain `{code}`; client,
leafnode and cluster ports all TLS with certificates of {code}'s CA), each on its host
with this directory:

{lines}"""
        replicas = f" --replicas {min(3, len(eps))}"
    return f"""# {code}: this nation's NATS servers for tocsin

Everything here is {code}'s. Keep `secrets.conf`, `nkeys/`, `tls/*-key.pem` secret
(mode 0600); move `tls/ca-key.pem` offline once the certificates are issued.
The other nations hold only public parts of it: `tls/ca.pem` (in their
`peers/{code}-ca.pem`) and the public NKeys with which these servers dial them.

{start}

Once, as {code}'s administrator: the streams (one per partner, each its own quota)
and {code}'s fusion consumer on each

    tocsin deploy streams --partners {",".join(codes)} --nodes {code}{replicas} \\
        --nats {urls} --nkey {f.admin_nkey} --tls-ca {f.ca} --tls-cert {f.admin_cert} --tls-key {f.admin_key}

{code}'s node (its inputs and every other partner's arrive in its own stream):

    tocsin node --partner {code} --key {code.lower()}.key --partners partners.yaml \\
        --nats {urls} --nkey {f.node_nkey} --tls-ca {f.ca} \\
        --tls-cert {f.node_cert} --tls-key {f.node_key}

Links: {code} dials {", ".join(f"{p} ({', '.join(e.leaf_url for e in ep[p])})" for p in peers) or "nobody"}
and takes only their own subjects from them; they dial its leafnode port and
receive only {code}'s subjects. Inbox prefix of {code}'s clients: `{inbox_prefix(code)}`.
"""


def _readme(dep: Deployment) -> str:
    rows = "\n".join(
        f"| {c} | `{dep.files[c].dir}/` | {len(eps)} | {', '.join(e.client_url for e in eps)} | "
        f"{', '.join(e.leaf_url for e in eps)} | `{c}` |"
        for c, eps in dep.endpoints.items()
    )
    return f"""# tocsin sovereign NATS deployment ({", ".join(dep.partners)})

Written by `tocsin deploy nats`. Each directory is one nation's: give each
nation its own directory and nothing else. Layout and guarantees:
`tocsin.transport.sovereign` (module documentation) and docs/operations.md.

| partner | directory | servers | clients | leafnodes | JetStream domain |
|---|---|---|---|---|---|
{rows}

Each partner's README says how to start its servers, create its streams and run
its node.
"""


__all__ = [
    "Deployment",
    "Endpoint",
    "PartnerFiles",
    "new_nkey_user",
    "node_args",
    "parse_endpoints",
    "server_config",
    "write_deployment",
]
