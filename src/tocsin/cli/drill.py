"""``tocsin drill``: a whole drill (simulate -> track -> warn -> score -> report)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tocsin.errors import InputError

_EPILOG = (
    "Examples:\n\n"
    "    tocsin drill scenarios/irbm-over-hokkaido.yaml --out run/\n\n"
    "    open run/report.html                      # the after-action report\n\n"
    "    tocsin drill scenarios/srbm-salvo.yaml --out run/ --seed 7\n\n"
    "Output directory: plots.jsonl, truth.jsonl, tracks.jsonl, alerts.jsonl, cap/*.xml, "
    "journal.db (check with `tocsin journal verify`, re-run with `tocsin replay`), "
    "score.json, summary.json and report.html. Every alert of a drill has CAP status "
    "Exercise. Exit status: 0 when every threshold in the scenario's `thresholds:` is "
    "met, 1 when one is not, 2 for a bad scenario or option."
)


def register(app: typer.Typer) -> None:
    @app.command("drill", epilog=_EPILOG)
    def drill_cmd(
        scenario: Path = typer.Argument(..., help="Scenario file (YAML).", show_default=False),
        out: Path = typer.Option(
            Path("run"), "-o", "--out", help="Directory for everything the drill writes."
        ),
        seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the verdict line."),
    ) -> None:
        """Run a drill end to end and write an after-action report.

        The scenario's launches, aircraft and partner sensors are simulated; their
        reports go through the exchange exactly as in `tocsin serve` (ingress checks,
        journal, fusion, warning) on the simulated clock; tracks and alerts are
        scored against the truth and the scenario's thresholds."""
        import msgspec

        from tocsin.drill.run import run_drill
        from tocsin.drill.scenario import Scenario, load_scenario

        sc = load_scenario(scenario)
        if seed is not None:
            if not 0 <= seed < 2**63:
                raise InputError("the seed must be between 0 and 2**63 - 1", field="--seed")
            sc = Scenario(msgspec.structs.replace(sc.spec, seed=seed), sc.file, sc.lines)
        if out.exists() and not out.is_dir():
            raise InputError("exists and is not a directory", file=str(out), field="--out")

        def say(msg: str) -> None:
            if not quiet:
                print(f"  {msg}...", file=sys.stderr, flush=True)

        res = run_drill(sc, out, say)
        if not quiet:
            f = res.figures
            typer.echo(
                f"{res.name}: {res.messages} messages, {res.tracks} track reports, {res.alerts} alerts"
            )
            for label, key, unit in (
                ("first alert after launch", "first_alert_s", "s"),
                ("smallest lead time", "min_lead_s", "s"),
                ("area recall", "area_recall", ""),
                ("area precision", "area_precision", ""),
                ("false alerts", "false_alerts", ""),
                ("GOSPA mean", "gospa_mean_m", "m"),
                ("impact error at T+120 s", "impact_error_120s_m", "m"),
            ):
                v = f.get(key)
                typer.echo(
                    f"  {label:<26} {'-' if v is None else f'{v:,.2f}'.rstrip('0').rstrip('.')} {unit}"
                )
            for c in res.checks:
                mark = "pass" if c.passed else "FAIL"
                val = "-" if c.value is None else f"{c.value:g}"
                typer.echo(f"  [{mark}] {c.metric} = {val} (bar {c.bar()})")
            typer.echo(f"report: {res.report_path}")
        verdict = "PASS" if res.passed else "FAIL"
        n_fail = sum(1 for c in res.checks if not c.passed)
        typer.echo(f"{verdict}: {len(res.checks) - n_fail}/{len(res.checks)} thresholds met")
        if not res.passed:
            raise typer.Exit(1)
