"""``tocsin score``: score track messages against drill truth."""

from __future__ import annotations

from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command(
        "score",
        epilog=(
            "Examples:\n\n"
            "    tocsin score tracks.jsonl --truth truth.jsonl --json score.json\n\n"
            "    tocsin score tracks.jsonl --truth truth.jsonl --plots plots.jsonl\n\n"
            "    tocsin score tracks.jsonl --truth truth.jsonl --gospa-cutoff 5000 --gospa-order 1\n\n"
            "See docs/scoring.md for the definitions."
        ),
    )
    def score_cmd(
        tracks: Path = typer.Argument(..., help="Track messages (exchange-format JSON Lines)."),
        truth: Path = typer.Option(..., "--truth", help="Truth messages of the same drill (JSON Lines)."),
        json_out: Path | None = typer.Option(None, "--json", help="Also write the full report as JSON here."),
        plots: Path | None = typer.Option(
            None,
            "--plots",
            help="The sensors' plots (JSON Lines): also score the seconds each object was lost while seen.",
        ),
        c: float = typer.Option(10_000.0, "--gospa-cutoff", help="GOSPA cut-off distance c, m."),
        p: float = typer.Option(2.0, "--gospa-order", help="GOSPA order p (>= 1)."),
        dt: float = typer.Option(1.0, "--dt", help="Scoring grid step, s."),
        max_stale: float = typer.Option(
            5.0, "--max-stale", help="A track report older than this (s) at a grid time does not count."
        ),
    ) -> None:
        """Score tracks against truth: GOSPA (alpha 2), position RMSE, track breaks,
        ID switches, false tracks, launch-point error, impact-point error against
        time since launch and 95 % impact-ellipse coverage."""
        from tocsin.drill.score import ScoreConfig, format_table, score_files, to_json

        try:
            cfg = ScoreConfig(c=c, p=p, dt=dt, max_stale_s=max_stale)
        except ValueError as exc:
            raise InputError(str(exc), field="options") from None
        report = score_files(tracks, truth, cfg, plots)
        typer.echo(format_table(report), nl=False)
        if json_out is not None:
            try:
                json_out.parent.mkdir(parents=True, exist_ok=True)
                tmp = json_out.with_name(f".{json_out.name}.tmp")
                tmp.write_bytes(to_json(report) + b"\n")
                tmp.replace(json_out)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror}", file=str(json_out)) from None
            typer.echo(f"report: {json_out}")
