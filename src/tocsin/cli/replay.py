"""``tocsin replay``: re-run a journal's accepted inputs through fresh stages."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(
        journal: Path = typer.Argument(..., help="Journal database (data/journal.db)."),
        out: Path = typer.Option(..., "-o", "--out", help="Directory for tracks.jsonl and alerts.jsonl."),
        check: bool = typer.Option(
            True,
            "--check/--no-check",
            help="Compare with the outputs recorded live (exit 1 on a difference).",
        ),
        stages: str = typer.Option(
            "auto", "--stages", help="auto (as recorded by the live run), default (fusion + warning) or toy."
        ),
    ) -> None:
        """Reproduce the live tracks and alerts from the journal, byte for byte."""
        from tocsin.errors import InputError
        from tocsin.journal import Journal
        from tocsin.runtime import (
            recorded_outputs,
            recorded_stage_set,
            replay_journal,
            stages_by_name,
            write_outputs,
        )
        from tocsin.wire import encode_json

        if stages not in ("auto", "default", "toy"):
            raise InputError("must be auto, default or toy", field="--stages")

        with Journal(journal, readonly=True) as j:
            res = j.verify()
            if not res.ok:
                typer.echo(f"{journal}: {res.summary()}", err=True)
                raise typer.Exit(1)
            name = (recorded_stage_set(j) or "default") if stages == "auto" else stages
            outs = replay_journal(j, stages_by_name(name))
            live = recorded_outputs(j)
        counts = write_outputs(out, outs)
        typer.echo(", ".join(f"{n} -> {out / name}" for name, n in counts.items()))
        if check:
            got = [encode_json(e) for e in outs]
            if got != live:
                n = next(
                    (i for i, (a, b) in enumerate(zip(got, live, strict=False)) if a != b),
                    min(len(got), len(live)),
                )
                typer.echo(
                    f"replay differs from the live outputs at output {n + 1} "
                    f"({len(got)} replayed, {len(live)} recorded)",
                    err=True,
                )
                raise typer.Exit(1)
            typer.echo(f"identical to the {len(live)} outputs recorded live")
