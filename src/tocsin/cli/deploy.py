"""``tocsin deploy``: set up the NATS side of an exchange.

* ``deploy nats`` — write a sovereign deployment: one server, account, CA and
  set of NKey users per nation, linked by leafnodes (see
  :mod:`tocsin.transport.sovereign`).
* ``deploy streams`` — the administrator's step on a running JetStream: create
  (or, with ``--update``, reconfigure) the input and output streams and each
  partner's durable fusion consumer. Partner users may not create either (see
  :mod:`tocsin.transport.natsconf`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import ConfigError, InputError

EPILOG = (
    "Examples:\n\n"
    "    tocsin deploy nats --partners JP,KR,US --out nats-deploy/      # a one-host trial\n\n"
    "    tocsin deploy nats --partners JP,KR --out dep/ --endpoint JP=nats.jp.example:4222:7422 "
    "--endpoint KR=nats.kr.example:4222:7422\n\n"
    "    TOCSIN_NATS_PASSWORD=... tocsin deploy streams --partners JP,KR,US --replicas 3 --user admin "
    "--nats nats://127.0.0.1:4222   # the shipped cluster (deploy/nats)"
)


def register(app: typer.Typer) -> None:
    dep = typer.Typer(
        help="Set up the NATS side of an exchange: a sovereign deployment, its streams and consumers.",
        no_args_is_help=True,
        epilog=EPILOG,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @dep.command("nats", epilog=EPILOG)
    def nats_cmd(
        partners: str = typer.Option(..., "--partners", help="Partner codes, comma-separated (JP,KR,US)."),
        out: Path = typer.Option(..., "--out", help="Directory to write (must be new or empty)."),
        endpoint: list[str] = typer.Option(
            [],
            "--endpoint",
            help="XX=HOST:CLIENT_PORT:LEAF_PORT[:HTTP_PORT[:CLUSTER_PORT]]: one server of XX (repeat; "
            "3 or 5 of them for a cluster).",
        ),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Host of every server not given by --endpoint (a one-host trial)."
        ),
        base_port: int = typer.Option(
            14222,
            "--base-port",
            help="Ports of servers not given by --endpoint: base+20i+4k (+1 leaf, +2 http, +3 cluster).",
        ),
        servers: int = typer.Option(
            1, "--servers", help="Servers per nation not given by --endpoint: 1, or a cluster of 3 or 5."
        ),
    ) -> None:
        """Write a sovereign NATS deployment: per nation its servers, accounts, CA, NKey users and links."""
        from tocsin.transport.natsconf import check_codes
        from tocsin.transport.sovereign import parse_endpoints, write_deployment

        codes = check_codes(partners.split(","))
        if len(codes) < 2:
            raise InputError("an exchange needs at least two partners", field="--partners")
        if not 1024 <= base_port <= 65535 - 20 * len(codes):
            raise InputError(f"must be 1024..{65535 - 20 * len(codes)}", field="--base-port")
        eps = parse_endpoints(codes, endpoint, host=host, base_port=base_port, servers=servers)
        try:
            dep = write_deployment(out, codes, eps)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", file=str(exc.filename or out)) from None
        for c in dep.partners:
            srv = dep.endpoints[c]
            typer.echo(
                f"{c}: {out / dep.files[c].dir}/  {len(srv)} server{'s' if len(srv) > 1 else ''}  clients "
                + ",".join(e.client_url for e in srv)
                + "  leafnodes "
                + ",".join(e.leaf_url for e in srv)
            )
        typer.echo(f"give each nation its own directory only; start with {out / 'README.md'}")

    @dep.command("streams", epilog=EPILOG)
    def streams(
        partners: str = typer.Option(
            ...,
            "--partners",
            help="Partner codes, comma-separated: each gets its input stream TOCSIN_IN_XX (its own quota).",
        ),
        nodes: str | None = typer.Option(
            None,
            "--nodes",
            help="Whose fusion nodes read here (comma-separated; default: every partner): node XX gets "
            "its consumer fusion-XX on every input stream. A sovereign server: --nodes <its own code>.",
        ),
        nats_url: str = typer.Option("nats://127.0.0.1:4222", "--nats", help="NATS URL(s), comma-separated."),
        replicas: int = typer.Option(
            1, "--replicas", help="Stream replicas (1, or 3 on a 3-server cluster)."
        ),
        stream_mb: int = typer.Option(
            10240,
            "--stream-max-mb",
            help="Each partner's input stream quota (MiB; full: that partner's publishes are refused, "
            "nothing stored is dropped); output stream: 1/5.",
        ),
        update: bool = typer.Option(
            False, "--update", help="Bring existing streams to this configuration too."
        ),
        user: str | None = typer.Option(
            None, "--user", help="NATS user; its password from $TOCSIN_NATS_PASSWORD or --password-file."
        ),
        password_file: Path | None = typer.Option(
            None, "--password-file", help="File whose first line is the NATS password."
        ),
        nkey: Path | None = typer.Option(None, "--nkey", help="NKey seed file of the administrator."),
        creds: Path | None = typer.Option(None, "--creds", help="NATS credentials file (JWT + NKey seed)."),
        tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA certificate of the servers (PEM)."),
        tls_cert: Path | None = typer.Option(None, "--tls-cert", help="TLS client certificate (PEM)."),
        tls_key: Path | None = typer.Option(None, "--tls-key", help="Its private key (PEM)."),
    ) -> None:
        """Create the exchange's streams and every partner's fusion consumer (administrator)."""
        import asyncio

        import nats

        from tocsin.cli.node import nats_auth
        from tocsin.transport.nats import ensure_consumers, ensure_streams
        from tocsin.transport.natsconf import check_codes

        codes = check_codes(partners.split(","))
        readers = codes if nodes is None else check_codes(nodes.split(","))
        if replicas not in (1, 3, 5):
            raise InputError("must be 1, 3 or 5", field="--replicas")
        auth = nats_auth(nats_url, user, password_file, nkey, creds, tls_ca, tls_cert, tls_key)

        async def main() -> list[str]:
            try:
                nc = await nats.connect(connect_timeout=5, max_reconnect_attempts=2, **auth.connect_kwargs())
            except Exception as exc:
                raise InputError(f"cannot connect: {exc}", field="--nats") from None
            try:
                js = nc.jetstream(timeout=5)
                await ensure_streams(
                    js,
                    replicas=replicas,
                    partners=codes,
                    update=update,
                    in_max_bytes=stream_mb * 2**20,
                    out_max_bytes=max(1, stream_mb // 5) * 2**20,
                )
                return await ensure_consumers(js, readers, partners=codes)
            except Exception as exc:
                why = str(exc) or type(exc).__name__
                hint = (
                    "an older layout's stream TOCSIN_IN holds these subjects: let the nodes drain it, "
                    "then delete it (nats stream rm TOCSIN_IN)"
                    if "overlap" in why.lower()
                    else "does this user administer the account?"
                )
                raise ConfigError(f"cannot set up the streams and consumers: {why} ({hint})") from None
            finally:
                await nc.close()

        made = asyncio.run(main())
        typer.echo(
            f"streams ready ({replicas} replica{'s' if replicas > 1 else ''}): "
            + ", ".join(f"TOCSIN_IN_{c}" for c in codes)
            + ", TOCSIN_OUT; consumers (on each input stream) "
            + ", ".join(f"fusion-{c}" + (" (created)" if f"fusion-{c}" in made else "") for c in readers)
        )

    app.add_typer(dep, name="deploy")
