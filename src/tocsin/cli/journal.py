"""``tocsin journal``: verify the hash chain, show the head, list entries."""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    jr = typer.Typer(help="Inspect and verify a hash-chained journal.", no_args_is_help=True)

    @jr.command("verify")
    def verify(
        path: Path = typer.Argument(..., help="Journal database (data/journal.db)."),
        expect_head: str | None = typer.Option(
            None, "--expect-head", help="Head hash (hex) recorded elsewhere: detects entries cut off the end."
        ),
        pub: Path | None = typer.Option(
            None,
            "--pub",
            help="The node's public key: check the signed checkpoints (detects a rewritten chain).",
        ),
        strict: bool = typer.Option(
            False,
            "--strict",
            help="Also fail (exit 1) when any entry follows the last signed checkpoint (needs --pub).",
        ),
    ) -> None:
        """Walk the chain. Exit 0 when intact, 1 at the first altered, removed or
        reordered entry, 2 when the file is not a readable journal.

        Entries after the last signed checkpoint are counted: the chain alone
        cannot tell them from rows appended by someone who may write the file
        (only the node's key can sign a checkpoint). A node signs a checkpoint
        every few seconds and when it stops cleanly, so a stopped node's journal
        has none; --strict fails if it has any."""
        from tocsin.journal import Journal

        if strict and pub is None:
            raise InputError(
                "--strict needs --pub (the node's public key): without it a rewritten chain verifies",
                field="--strict",
            )

        head: bytes | None = None
        if expect_head is not None:
            try:
                head = bytes.fromhex(expect_head)
            except ValueError:
                raise InputError("not a hex hash", field="--expect-head") from None
        pk = None
        if pub is not None:
            from tocsin.exchange.signing import load_public_key

            pk = load_public_key(pub)
        with Journal(path, readonly=True) as j:
            res = j.verify(expect_head=head, public_key=pk)
        typer.echo(f"{path}: {res.summary()}")
        if not res.ok:
            raise typer.Exit(1)
        if strict and res.after_checkpoint:
            typer.echo(
                f"{path}: --strict: {res.after_checkpoint} entries after the last signed checkpoint",
                err=True,
            )
            raise typer.Exit(1)

    @jr.command("head")
    def head(path: Path = typer.Argument(..., help="Journal database.")) -> None:
        """Print the last sequence number and head hash (keep it somewhere safe)."""
        from tocsin.journal import Journal

        with Journal(path, readonly=True) as j:
            typer.echo(f"{j.last_seq} {j.head.hex()}")

    @jr.command("show")
    def show(
        path: Path = typer.Argument(..., help="Journal database."),
        kind: str | None = typer.Option(None, "--kind", help="Only entries of this kind."),
        start: int = typer.Option(1, "--from", help="First entry."),
        limit: int = typer.Option(50, "--limit", help="At most this many entries."),
    ) -> None:
        """Print entries as `seq ts kind payload` (payload truncated)."""
        from tocsin.journal import Journal

        with Journal(path, readonly=True) as j:
            for i, e in enumerate(j.entries(start, kinds=[kind] if kind else None)):
                if i >= limit:
                    break
                text = e.payload[:200].decode("utf-8", errors="replace")
                typer.echo(f"{e.seq}\t{e.ts:.3f}\t{e.kind}\t{text}")

    app.add_typer(jr, name="journal")
