"""A sovereign NATS deployment: each nation runs its own server, shares by agreement.

``tocsin deploy nats --partners JP,KR,US --out DIR`` writes one directory per
partner (:func:`write_deployment`). Each holds that nation's server
configuration and its own secrets only; what a nation gives the others is
public (its CA certificate, its leaf users' public NKeys, already in their
configurations). Per nation ``XX``:

* **its own server** (or cluster) with its own JetStream **domain** ``XX``:
  the streams ``TOCSIN_IN``/``TOCSIN_OUT`` and the consumer ``fusion-XX`` live
  there and nowhere else;
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
    """Where a nation's server is reached (``host``) and listens (``bind``)."""

    host: str
    client_port: int
    leaf_port: int
    http_port: int
    bind: str = "127.0.0.1"

    @property
    def client_url(self) -> str:
        return f"tls://{self.host}:{self.client_port}"

    @property
    def leaf_url(self) -> str:
        return f"tls://{self.host}:{self.leaf_port}"


def new_nkey_user() -> tuple[str, str]:
    """A fresh NKey user: (seed, public key), as strings."""
    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pub = nkeys.from_seed(seed).public_key
    return seed.decode("ascii"), pub.decode("ascii")


def parse_endpoints(
    codes: Sequence[str], specs: Sequence[str], *, host: str = "127.0.0.1", base_port: int = 14222
) -> dict[str, Endpoint]:
    """Endpoints from ``XX=HOST:CLIENT_PORT:LEAF_PORT[:HTTP_PORT]`` (any partner
    not named gets ``host`` and ports ``base_port + 10 * i`` (+1 leaf, +2 http))."""
    given: dict[str, Endpoint] = {}
    pat = re.compile(r"^([A-Za-z]{2})=([^:\s]+):(\d+):(\d+)(?::(\d+))?$")
    for spec in specs:
        m = pat.match(spec.strip())
        if not m:
            raise InputError(
                f"{spec!r}: expected XX=HOST:CLIENT_PORT:LEAF_PORT[:HTTP_PORT]", field="--endpoint"
            )
        code = m.group(1).upper()
        if code not in codes:
            raise InputError(f"{code} is not one of --partners", field="--endpoint")
        ports = [int(m.group(i)) for i in (3, 4)] + [int(m.group(5)) if m.group(5) else 0]
        if not all(0 < p < 65536 for p in ports[:2]) or not 0 <= ports[2] < 65536:
            raise InputError(f"{spec!r}: ports must be 1..65535", field="--endpoint")
        h = m.group(2)
        given[code] = Endpoint(h, ports[0], ports[1], ports[2], bind=_bind_for(h))
    out: dict[str, Endpoint] = {}
    for i, c in enumerate(codes):
        out[c] = given.get(c) or Endpoint(
            host, base_port + 10 * i, base_port + 10 * i + 1, base_port + 10 * i + 2, bind=_bind_for(host)
        )
    used: dict[tuple[str, int], str] = {}
    for c, e in out.items():
        for p in (e.client_port, e.leaf_port, e.http_port):
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
    server_conf: str = "server.conf"
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
    ep: Mapping[str, Endpoint],
    users: Mapping[str, str],
    leaf_users: Mapping[str, str],
    files: PartnerFiles,
) -> str:
    """nats-server configuration of ``code``'s server (module doc). ``users``:
    public NKeys of its own users (sys, admin, node); ``leaf_users``: for each
    peer, the public NKey with which that peer's server dials in."""
    peers = [c for c in codes if c != code]
    me = ep[code]
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
    doc: dict[str, Any] = {
        "server_name": f"tocsin-{code}",
        "listen": f"{me.bind}:{me.client_port}",
    }
    if me.http_port:
        doc["http"] = f"127.0.0.1:{me.http_port}"
    doc["tls"] = tls_block
    doc["jetstream"] = {
        "domain": code,
        "store_dir": "jetstream",
        "max_file_store": JS_MAX_FILE,
        "max_memory_store": JS_MAX_MEM,
    }
    leaf: dict[str, Any] = {"listen": f"{me.bind}:{me.leaf_port}"}
    if peers:
        leaf["tls"] = {**tls_block, "ca_file": files.peers_ca}
        leaf["remotes"] = [
            {
                "urls": [ep[p].leaf_url],
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
    header = (
        f"tocsin sovereign NATS: the server of {code} (JetStream domain {code}).",
        "GENERATED by `tocsin deploy nats`; see tocsin.transport.sovereign for the layout.",
        f"Start it from this directory (relative paths): cd {files.dir} && nats-server -c server.conf",
        f"The leafnode seeds are in {files.secrets_conf} (mode 0600), included below.",
    )
    text = render(doc, header)
    # the include must come before the first use of its variables
    return text.replace("server_name:", f'include "{files.secrets_conf}"\nserver_name:', 1)


@dataclass(frozen=True)
class Deployment:
    """What :func:`write_deployment` wrote (also saved as ``deployment.json``)."""

    partners: tuple[str, ...]
    endpoints: dict[str, Endpoint]
    files: dict[str, PartnerFiles]
    #: public NKeys: users[XX] = {"sys", "admin", "node"}; leaf[XX][YY] = the key with
    #: which XX's server dials YY's (public: every configuration names them anyway)
    users: dict[str, dict[str, str]]
    leaf: dict[str, dict[str, str]]

    def dir(self, root: Path, code: str) -> Path:
        return root / self.files[code].dir

    def server_config(self, code: str) -> str:
        """``code``'s server configuration (as written)."""
        peers = [p for p in self.partners if p != code]
        return server_config(
            code,
            self.partners,
            self.endpoints,
            self.users[code],
            {p: self.leaf[p][code] for p in peers},
            self.files[code],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "partners": list(self.partners),
            "endpoints": {c: asdict(e) for c, e in self.endpoints.items()},
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
                {c: Endpoint(**e) for c, e in d["endpoints"].items()},
                {c: PartnerFiles(**f) for c, f in d["files"].items()},
                d["public_nkeys"]["users"],
                d["public_nkeys"]["leaf"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a tocsin NATS deployment ({exc})", file=str(path)) from None


def write_deployment(out: Path, partners: Sequence[str], endpoints: Mapping[str, Endpoint]) -> Deployment:
    """Write the whole deployment under ``out`` (which must not exist or be empty)."""
    codes = check_codes(partners)
    if out.exists() and any(out.iterdir()):
        raise InputError(
            "exists and is not empty: will not overwrite a deployment", file=str(out), field="--out"
        )
    out.mkdir(parents=True, exist_ok=True)
    files = {c: PartnerFiles(c, c) for c in codes}
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
        ep = endpoints[c]
        pki.write_pair(cas[c], d / f.ca, d / f.ca_key)
        hosts = sorted(
            {ep.host, "127.0.0.1", "localhost"} if ep.host in ("127.0.0.1", "localhost") else {ep.host}
        )
        pki.write_pair(
            pki.issue(cas[c], f"tocsin-{c}", f"tocsin {c}", hosts=hosts, server=True, client=True),
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
        dict(endpoints),
        files,
        users,
        {a: {b: pub for b, (_, pub) in peers.items()} for a, peers in leaf.items()},
    )
    for c in codes:
        d = out / files[c].dir
        (d / files[c].server_conf).write_text(dep.server_config(c), encoding="utf-8")
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
        "--nats", dep.endpoints[code].client_url,
        "--nkey", str(d / nkey),
        "--tls-ca", str(d / f.ca),
        "--tls-cert", str(d / cert),
        "--tls-key", str(d / key),
    ]  # fmt: skip


def _partner_readme(code: str, codes: Sequence[str], ep: Mapping[str, Endpoint], f: PartnerFiles) -> str:
    peers = [c for c in codes if c != code]
    e = ep[code]
    return f"""# {code}: this nation's NATS server for tocsin

Everything here is {code}'s. Keep `secrets.conf`, `nkeys/`, `tls/*-key.pem` secret
(mode 0600); move `tls/ca-key.pem` offline once the certificates are issued.
The other nations hold only public parts of it: `tls/ca.pem` (in their
`peers/{code}-ca.pem`) and the public NKeys with which this server dials them.

Start the server (JetStream domain `{code}`, client port {e.client_port}, leafnode
port {e.leaf_port}, both TLS with client certificates):

    cd {f.dir} && nats-server -c server.conf

Once, as {code}'s administrator: the streams and {code}'s fusion consumer

    tocsin deploy streams --partners {code} --nats {e.client_url} --nkey {f.admin_nkey} \\
        --tls-ca {f.ca} --tls-cert {f.admin_cert} --tls-key {f.admin_key}

{code}'s node (its inputs and every other partner's arrive in its own stream):

    tocsin node --partner {code} --key {code.lower()}.key --partners partners.yaml \\
        --nats {e.client_url} --nkey {f.node_nkey} --tls-ca {f.ca} \\
        --tls-cert {f.node_cert} --tls-key {f.node_key}

Links: this server dials {", ".join(f"{p} ({ep[p].leaf_url})" for p in peers) or "nobody"}
and takes only their own subjects from them; they dial its leafnode port and
receive only {code}'s subjects. Inbox prefix of {code}'s clients: `{inbox_prefix(code)}`.
"""


def _readme(dep: Deployment) -> str:
    rows = "\n".join(
        f"| {c} | `{dep.files[c].dir}/` | {e.client_url} | {e.leaf_url} | `{c}` |"
        for c, e in dep.endpoints.items()
    )
    return f"""# tocsin sovereign NATS deployment ({", ".join(dep.partners)})

Written by `tocsin deploy nats`. Each directory is one nation's: give each
nation its own directory and nothing else. Layout and guarantees:
`tocsin.transport.sovereign` (module documentation) and docs/operations.md.

| partner | directory | clients | leafnodes | JetStream domain |
|---|---|---|---|---|
{rows}

Each partner's README says how to start its server, create its streams and run
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
