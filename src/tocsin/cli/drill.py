"""``tocsin drill``: a whole drill (simulate -> track -> warn -> score -> report)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tocsin.errors import InputError

_EPILOG = (
    "Three forms:\n\n"
    "    tocsin drill SCENARIO.yaml --out run/     # one drill\n\n"
    "    tocsin drill suite DIR --out runs/today/   # every scenario of DIR\n\n"
    "    tocsin drill compare RUN_A RUN_B           # deltas of two suite runs\n\n"
    "Examples:\n\n"
    "    tocsin drill scenarios/irbm-over-hokkaido.yaml --out run/\n\n"
    "    open run/report.html                      # the after-action report\n\n"
    "    tocsin drill suite scenarios/freedom-edge/ --out runs/2026-11-25/\n\n"
    "    tocsin drill compare runs/2026-11-20/ runs/2026-11-25/\n\n"
    "Output directory: plots.jsonl, truth.jsonl, tracks.jsonl, alerts.jsonl, cap/*.xml, "
    "journal.db (check with `tocsin journal verify`, re-run with `tocsin replay`), "
    "score.json, summary.json and report.html. Every alert of a drill has CAP status "
    "Exercise. A suite writes one such directory per scenario plus summary.json and "
    "summary.html. Exit status: 0 when every threshold in the scenarios' `thresholds:` "
    "is met (compare: when nothing got worse), 1 when one is not, 2 for a bad scenario "
    "or option."
)


def register(app: typer.Typer) -> None:
    @app.command("drill", epilog=_EPILOG)
    def drill_cmd(
        args: list[str] = typer.Argument(
            ...,
            help="SCENARIO.yaml, or `suite DIR`, or `compare RUN_A RUN_B`.",
            show_default=False,
            metavar="SCENARIO | suite DIR | compare RUN_A RUN_B",
        ),
        out: Path | None = typer.Option(
            None, "-o", "--out", help="Directory for everything the drill (or suite) writes. [default: run]"
        ),
        seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed (one drill)."),
        jobs: int | None = typer.Option(
            None, "-j", "--jobs", help="Suite: worker processes (default: min(2, CPUs))."
        ),
        tag: list[str] = typer.Option([], "--tag", help="Suite: only scenarios with this tag (repeatable)."),
        all_rows: bool = typer.Option(False, "--all", help="Compare: also list figures that did not change."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the verdict line."),
    ) -> None:
        """Run a drill end to end and write an after-action report; or a whole suite;
        or compare two suite runs.

        The scenario's launches, aircraft and partner sensors are simulated; their
        reports are signed with drill keys, put through the scenario's cyber injects
        and go through the exchange exactly as in `tocsin serve` (ingress checks,
        journal, fusion, warning) on the simulated clock; tracks and alerts are
        scored against the truth and the scenario's thresholds."""
        if args[0] == "suite":
            if len(args) != 2:
                raise InputError("give one directory: tocsin drill suite DIR --out OUT", field="DIR")
            _suite(Path(args[1]), out or Path("runs"), jobs, tag, quiet)
        elif args[0] == "compare":
            if len(args) != 3:
                raise InputError("give two runs: tocsin drill compare RUN_A RUN_B", field="RUN")
            _compare(Path(args[1]), Path(args[2]), all_rows)
        else:
            if len(args) != 1:
                raise InputError(
                    f"unexpected argument {args[1]!r} (one scenario per drill)", field="SCENARIO"
                )
            _one(Path(args[0]), out or Path("run"), seed, quiet)


def _suite(directory: Path, out: Path, jobs: int | None, tags: list[str], quiet: bool) -> None:
    from tocsin.drill.suite import format_suite, run_suite

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    res = run_suite(directory, out, jobs, say, tags=tags)
    if not quiet:
        typer.echo(format_suite(res))
    met, total = res.checks_met
    verdict = "PASS" if res.failed == 0 and res.errors == 0 else "FAIL"
    typer.echo(
        f"{verdict}: {res.passed}/{len(res.rows)} scenarios passed, {met}/{total} thresholds met; "
        f"summary: {out / 'summary.html'}"
    )
    if res.failed or res.errors:
        raise typer.Exit(1)


def _compare(run_a: Path, run_b: Path, all_rows: bool) -> None:
    from tocsin.drill.suite import compare, format_comparison

    cmp = compare(run_a, run_b)
    typer.echo(format_comparison(cmp, all_rows=all_rows))
    if cmp.count("worse"):
        raise typer.Exit(1)


def _one(scenario: Path, out: Path, seed: int | None, quiet: bool) -> None:
    import msgspec

    from tocsin.drill.run import impact_headline, run_drill
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
        label_ie, key_ie = impact_headline(f, {c.metric for c in res.checks})
        typer.echo(f"{res.name}: {res.messages} messages, {res.tracks} track reports, {res.alerts} alerts")
        for label, key, unit in (
            ("first alert after launch", "first_alert_s", "s"),
            ("smallest lead time", "min_lead_s", "s"),
            ("area recall", "area_recall", ""),
            ("area precision", "area_precision", ""),
            ("false alerts", "false_alerts", ""),
            ("GOSPA mean", "gospa_mean_m", "m"),
            (label_ie, key_ie, "m"),
        ):
            v = f.get(key)
            typer.echo(f"  {label:<26} {'-' if v is None else f'{v:,.2f}'.rstrip('0').rstrip('.')} {unit}")
        for c in res.checks:
            mark = "pass" if c.passed else "FAIL"
            val = "-" if c.value is None else f"{c.value:g}"
            typer.echo(f"  [{mark}] {c.metric} = {val} (bar {c.bar()})")
        typer.echo(f"report: {res.report_path}")
    verdict = "PASS" if res.passed else "FAIL"
    n_fail = sum(1 for c in res.checks if not c.passed)
    if res.checks:
        typer.echo(f"{verdict}: {len(res.checks) - n_fail}/{len(res.checks)} thresholds met")
    else:
        typer.echo("PASS: the scenario sets no thresholds (add `thresholds:` to score it)")
    if not res.passed:
        raise typer.Exit(1)
