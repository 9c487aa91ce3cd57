"""``tocsin keys``: partner key pairs, the partner registry, signing files."""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    keys = typer.Typer(
        help="Partner Ed25519 keys: generate, register, sign message files.",
        no_args_is_help=True,
    )

    @keys.command("gen")
    def gen(
        partner: str = typer.Option(..., "--partner", help="Partner code (JP, KR, US, ...)."),
        out: Path = typer.Option(..., "-o", "--out", help="Private key file (PEM, written 0600)."),
        registry: Path | None = typer.Option(
            None, "--registry", help="Also add the partner to this registry file (YAML/JSON)."
        ),
        sources: list[str] = typer.Option([], "--source", help="Source glob (repeatable; default CODE-*)."),
        kinds: str = typer.Option("sensor,plot,track,heartbeat", "--kinds", help="Kinds allowed."),
    ) -> None:
        """Generate a key pair: OUT (private, PEM) and OUT.pub (public, base64)."""
        from tocsin.exchange.signing import (
            PartnerPolicy,
            PartnerRegistry,
            generate_key,
            public_key_text,
            save_private_key,
        )

        code = partner.upper()
        if len(code) != 2 or not code.isalpha():
            raise InputError("partner code must be two letters", field="--partner")
        if out.exists():
            raise InputError("refusing to overwrite an existing key", file=str(out))
        key = generate_key()
        pub_path = out.with_name(out.name + ".pub")
        try:
            save_private_key(key, out)
            pub_path.write_text(public_key_text(key) + "\n")
        except OSError as exc:
            raise InputError(f"cannot write the key: {exc.strerror or exc}", file=str(out)) from None
        typer.echo(f"private key: {out}\npublic key:  {pub_path}  {public_key_text(key)}")
        if registry is not None:
            reg = PartnerRegistry.load(registry) if registry.exists() else PartnerRegistry()
            pol = PartnerPolicy(
                code,
                key.public_key(),
                tuple(sources) or (f"{code}-*",),
                tuple(k.strip() for k in kinds.split(",") if k.strip()),
            )
            reg = PartnerRegistry.from_dict(reg.with_partner(pol).to_dict(), where=str(registry))
            reg.save(registry)
            typer.echo(f"registry:    {registry} ({len(reg)} partners)")

    @keys.command("sign")
    def sign_file(
        src: Path = typer.Argument(..., help="JSON Lines file of messages."),
        key: Path = typer.Option(..., "--key", help="Partner private key (PEM)."),
        out: Path = typer.Option(..., "-o", "--out", help="Signed JSON Lines output."),
    ) -> None:
        """Sign every message of a file with a partner key (messages of other
        partners are an error)."""
        from tocsin.exchange.signing import load_private_key, public_key_text, sign
        from tocsin.wire import ReadStats, iter_jsonl, write_jsonl

        k = load_private_key(key)
        if src.is_dir():
            raise InputError("is a directory, not a message file", file=str(src))
        st = ReadStats()
        try:
            msgs = list(iter_jsonl(src, stats=st))
        except FileNotFoundError:
            raise InputError("no such file", file=str(src)) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=str(src)) from None
        if st.errors:
            raise st.errors[0]
        partners = {m.partner for m in msgs}
        if len(partners) > 1:
            raise InputError(
                f"messages of several partners {sorted(partners)}", file=str(src), field="partner"
            )
        try:
            n = write_jsonl(out, (sign(m, k) for m in msgs))
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", file=str(out)) from None
        typer.echo(f"signed {n} messages with {public_key_text(k)[:12]}... -> {out}")

    @keys.command("check")
    def check(registry: Path = typer.Argument(..., help="Partner registry (YAML/JSON).")) -> None:
        """Load a registry and list its partners."""
        from tocsin.exchange.signing import PartnerRegistry, public_key_text

        reg = PartnerRegistry.load(registry)  # any problem: one line naming the file (ConfigError)
        for code, p in sorted(reg.partners.items()):
            typer.echo(
                f"{code}  {public_key_text(p.public_key)}  sources={','.join(p.sources)}  "
                f"kinds={','.join(p.kinds)}"
            )

    app.add_typer(keys, name="keys")
