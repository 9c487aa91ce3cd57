"""``tocsin simulate``: run a drill scenario into exchange-format files."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tocsin.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command(
        "simulate",
        epilog=(
            "Examples:\n\n"
            "    tocsin simulate scenarios/irbm-over-hokkaido.yaml -o plots.jsonl --truth truth.jsonl\n\n"
            "    tocsin simulate scenarios/srbm-salvo.yaml -o run/plots.jsonl --seed 7\n\n"
            "    tocsin simulate my.yaml --check        # only validate the file\n\n"
            "The language is described in docs/scenario-language.md; the shipped "
            "scenarios (scenarios/README.md) are annotated examples. The same scenario "
            "and seed always give byte-identical files."
        ),
    )
    def simulate_cmd(
        scenario: Path = typer.Argument(..., help="Scenario file (YAML).", show_default=False),
        out: Path | None = typer.Option(
            None,
            "-o",
            "--out",
            help="Plots file to write: sensor descriptors, then plots in `sent` order (JSON Lines). "
            "Required unless --check.",
            show_default=False,
        ),
        truth: Path | None = typer.Option(
            None, "--truth", help="Also write the truth file (object states and impacts, JSON Lines)."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
        check: bool = typer.Option(False, "--check", help="Validate the scenario and exit; write nothing."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bar and no summary."),
    ) -> None:
        """Simulate a scenario: missile and aircraft truth, and what every partner's
        radars and space infrared sensors report through their links.

        Writes the plots file (and, with --truth, the truth file) atomically: a
        temporary file renamed into place, so a failed run leaves nothing half
        written. A bad scenario is reported on one line naming the file, line and
        field (exit status 2)."""
        import msgspec

        from tocsin.drill.scenario import Scenario, load_scenario
        from tocsin.drill.simulate import simulate
        from tocsin.wire import JsonlWriter

        sc = load_scenario(scenario)
        if seed is not None:
            if not 0 <= seed < 2**63:
                raise InputError("the seed must be between 0 and 2**63 - 1", field="--seed")
            sc = Scenario(msgspec.structs.replace(sc.spec, seed=seed), sc.file, sc.lines)
        if check:
            if not quiet:
                typer.echo(f"{scenario}: ok")
            return
        if out is None:
            raise InputError("give the plots file with -o/--out (or use --check)", field="--out")
        show = not quiet and sys.stderr.isatty()
        if show:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("{task.description:<28}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("simulating", total=None)

                def progress(done: int, total: int, what: str) -> None:
                    bar.update(task, completed=done, total=total, description=what)

                result = simulate(sc, progress)
        else:
            result = simulate(sc)
        try:
            with JsonlWriter(out) as w:
                w.write_all(result.messages)
            if truth is not None:
                with JsonlWriter(truth) as w:
                    w.write_all(result.truth)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", file=str(exc.filename or out)) from None
        if not quiet:
            n_sensors = len(result.stats)
            lost = sum(s.lost for s in result.stats.values())
            clutter = sum(s.clutter for s in result.stats.values())
            typer.echo(
                f"{out}: {n_sensors} sensors, {result.plots} plots "
                f"({clutter} clutter, {lost} lost on links), {len(result.objects)} objects"
            )
            if truth is not None:
                typer.echo(f"{truth}: {len(result.truth)} truth messages")
