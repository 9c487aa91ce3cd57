"""A suite of drills: run a directory of scenarios, summarise, compare two runs.

:func:`run_suite` runs every ``*.yaml`` scenario of a directory through the
single-drill runner (:func:`tocsin.drill.run.run_drill`), in parallel worker
processes when ``jobs > 1``, each into ``out/<scenario file stem>/``, and writes

``out/summary.json``
    one row per scenario (its figures, every threshold with pass/fail, messages
    refused by reason, the report's relative path, wall time, or the one-line
    error that stopped it) and suite-wide figures;
``out/summary.html``
    the same as one self-contained table (a row per scenario, a column per
    figure, each cell coloured by its threshold) linking each drill's report.

:func:`compare` reads two such runs (directories or their ``summary.json``) and
returns the per-figure deltas, scenario by scenario, each marked better, worse
or same by the direction of the figure (from the scenario's threshold when it
has one: ``max`` means lower is better, ``min`` higher).

One failing scenario never stops the suite: a bad file or a crash becomes that
row's ``error`` and the row fails.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tocsin.drill.scenario import Scenario, load_scenario
from tocsin.errors import InputError, ScenarioError

__all__ = [
    "CompareRow",
    "Comparison",
    "Outcome",
    "Runner",
    "SuiteResult",
    "SuiteRow",
    "compare",
    "default_jobs",
    "discover",
    "format_comparison",
    "format_suite",
    "load_summary",
    "render_summary_html",
    "run_suite",
]

ProgressFn = Callable[[str], None]

#: figures where a lower value is better, when the scenario has no threshold saying so
LOWER_IS_BETTER = (
    "first_alert_s",
    "false_alerts",
    "false_areas_land",
    "false_areas_sea",
    "missed_areas",
    "time_to_correct_max_s",
    "gospa_mean_m",
    "rmse_m",
    "false_tracks",
    "id_switches",
    "track_breaks",
    "launch_error_m",
    "link_outage_detect_s",
    "stage_errors",
)
HIGHER_IS_BETTER = ("min_lead_s", "area_recall", "area_precision", "ellipse_coverage")


class Outcome(Protocol):
    """What the single-drill runner returns (:class:`tocsin.drill.run.DrillOutcome`)."""

    @property
    def report_path(self) -> Path: ...

    def summary(self) -> dict[str, object]: ...


Runner = Callable[[Scenario, Path, ProgressFn | None], Outcome]


def _default_runner(scenario: Scenario, out: Path, progress: ProgressFn | None) -> Outcome:
    from tocsin.drill.run import run_drill

    return run_drill(scenario, out, progress)


@dataclass
class SuiteRow:
    """One scenario of a suite run."""

    file: str
    stem: str
    name: str = ""
    tags: list[str] = field(default_factory=list)
    passed: bool = False
    figures: dict[str, float | None] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    injects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per origin (``genuine`` or an inject type): delivered, accepted, refused by reason."""
    report: str | None = None
    """The drill's report, relative to the suite's output directory."""
    wall_s: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class SuiteResult:
    """A whole suite run (what ``summary.json`` holds)."""

    suite: str
    out: str
    rows: list[SuiteRow]
    jobs: int
    wall_s: float
    figures: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    """Per figure over the scenarios that measured it: n, mean, min, max."""

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if not r.passed and r.error is None)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.error is not None)

    @property
    def checks_met(self) -> tuple[int, int]:
        checks = [c for r in self.rows for c in r.checks]
        return sum(1 for c in checks if c.get("passed")), len(checks)

    def as_dict(self) -> dict[str, object]:
        met, total = self.checks_met
        return {
            "suite": self.suite,
            "out": self.out,
            "jobs": self.jobs,
            "wall_s": round(self.wall_s, 3),
            "scenarios": len(self.rows),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "checks_met": met,
            "checks_total": total,
            "figures": self.figures,
            "rows": [asdict(r) for r in self.rows],
        }


# --- running --------------------------------------------------------------------------------


def default_jobs() -> int:
    """``min(2, cpus)``: drills are CPU-bound and the machines are shared."""
    return max(1, min(2, os.cpu_count() or 1))


def discover(directory: Path, tags: Sequence[str] = ()) -> list[Path]:
    """The scenario files of ``directory`` (``*.yaml``, ``*.yml``), sorted; with
    ``tags``, only those carrying every one of them (files that do not load are
    kept, so their error is reported)."""
    if not directory.is_dir():
        raise InputError("not a directory of scenarios", file=str(directory))
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not tags:
        return files
    keep = []
    for p in files:
        try:
            have = set(load_scenario(p).spec.tags)
        except ScenarioError:
            keep.append(p)
            continue
        if set(tags) <= have:
            keep.append(p)
    return keep


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ScenarioError | InputError) else f"{type(exc).__name__}: {text}"


def _run_one(path: str, out: str, runner: Runner | None) -> SuiteRow:
    """Run one scenario (in a worker process or inline); never raises."""
    p = Path(path)
    row = SuiteRow(file=str(p), stem=p.stem)
    t0 = time.perf_counter()
    try:
        sc = load_scenario(p)
        row.name = sc.spec.name or p.stem
        row.tags = list(sc.spec.tags)
        dest = Path(out) / p.stem
        res = (runner or _default_runner)(sc, dest, None)
        s = res.summary()
        row.passed = bool(s.get("passed", False))
        figs, checks, rej, notes, inj = (
            s.get(k) for k in ("figures", "checks", "rejected", "notes", "injects")
        )
        if isinstance(inj, dict):
            row.injects = {str(k): dict(v) for k, v in inj.items() if isinstance(v, dict)}
        row.figures = {str(k): _num(v) for k, v in figs.items()} if isinstance(figs, dict) else {}
        row.checks = [dict(c) for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []
        row.rejected = (
            {str(k): int(v) for k, v in rej.items() if isinstance(v, int)} if isinstance(rej, dict) else {}
        )
        row.notes = [str(n) for n in notes] if isinstance(notes, list) else []
        try:
            row.report = Path(res.report_path).resolve().relative_to(Path(out).resolve()).as_posix()
        except ValueError:
            row.report = str(res.report_path)
    except Exception as exc:  # one scenario's failure is its row's, not the suite's
        row.passed = False
        row.error = _one_line(exc)
    row.wall_s = round(time.perf_counter() - t0, 3)
    return row


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _aggregate(rows: Sequence[SuiteRow]) -> dict[str, dict[str, float | int | None]]:
    names = sorted({k for r in rows for k in r.figures})
    out: dict[str, dict[str, float | int | None]] = {}
    for k in names:
        vals = [v for r in rows if (v := r.figures.get(k)) is not None]
        out[k] = {
            "n": len(vals),
            "mean": (sum(vals) / len(vals)) if vals else None,
            "min": min(vals) if vals else None,
            "max": max(vals) if vals else None,
        }
    return out


def run_suite(
    directory: Path,
    out: Path,
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    *,
    tags: Sequence[str] = (),
    runner: Runner | None = None,
) -> SuiteResult:
    """Run every scenario of ``directory`` (optionally only those with all of
    ``tags``) into ``out/<stem>/``; write ``out/summary.json`` and
    ``out/summary.html``; return the result.

    ``jobs`` worker processes (default :func:`default_jobs`; 1 runs inline).
    ``progress`` gets one line per finished scenario (``[3/12] name: PASS (41.2 s)``).
    ``runner`` replaces :func:`tocsin.drill.run.run_drill` (it must be picklable,
    a module-level function, when ``jobs > 1``).
    """
    files = discover(directory, tags)
    if not files:
        raise InputError(
            "no scenario files (*.yaml) here" + (f" tagged {list(tags)}" if tags else ""), file=str(directory)
        )
    n_jobs = default_jobs() if jobs is None else jobs
    if n_jobs < 1:
        raise InputError("must be at least 1", field="--jobs")
    out.mkdir(parents=True, exist_ok=True)
    say = progress if progress is not None else (lambda _m: None)
    t0 = time.perf_counter()
    rows: list[SuiteRow] = []

    def done(row: SuiteRow) -> None:
        rows.append(row)
        verdict = "ERROR" if row.error else ("PASS" if row.passed else "FAIL")
        extra = f": {row.error}" if row.error else ""
        say(f"[{len(rows)}/{len(files)}] {row.stem}: {verdict} ({row.wall_s:.1f} s){extra}")

    say(f"running {len(files)} scenarios with {min(n_jobs, len(files))} worker(s)")
    if n_jobs == 1 or len(files) == 1:
        for p in files:
            done(_run_one(str(p), str(out), runner))
    else:
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(files))) as pool:
            futs: dict[Future[SuiteRow], Path] = {
                pool.submit(_run_one, str(p), str(out), runner): p for p in files
            }
            for fut in as_completed(futs):
                try:
                    done(fut.result())
                except Exception as exc:  # a worker that died (killed, out of memory)
                    p = futs[fut]
                    done(SuiteRow(file=str(p), stem=p.stem, error=_one_line(exc)))
    rows.sort(key=lambda r: r.stem)
    res = SuiteResult(
        suite=str(directory),
        out=str(out),
        rows=rows,
        jobs=n_jobs,
        wall_s=time.perf_counter() - t0,
        figures=_aggregate(rows),
    )
    (out / "summary.json").write_text(json.dumps(res.as_dict(), indent=2, sort_keys=False) + "\n", "utf-8")
    (out / "summary.html").write_text(render_summary_html(res), "utf-8")
    return res


# --- the HTML summary -----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.3em}table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f3f3f3;font-size:12px;font-weight:600;max-width:7em}td.l,th.l{text-align:left}
td.name{min-width:16em}
.pass{background:#dff3df}.fail{background:#f8d7d7}.err{background:#fde9c8}
small{color:#555}
"""


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.3g}" if abs(v) < 10 else f"{v:,.0f}"


def _bar(c: Mapping[str, Any]) -> str:
    lo, hi = c.get("min"), c.get("max")
    if lo is not None and hi is not None:
        return f"{lo:g}..{hi:g}"
    return f"&ge; {lo:g}" if lo is not None else f"&le; {hi:g}"


def _attacks(row: SuiteRow) -> dict[str, tuple[int, int]]:
    """Injected lines per inject type: (delivered, got through). A duplicate
    burst's accepted copy stands in for its original (whichever came first), so
    only copies accepted beyond the genuine messages count as got through."""
    out = {}
    gen = row.injects.get("genuine", {})
    for origin, t in sorted(row.injects.items()):
        if origin == "genuine":
            continue
        sent = int(t.get("delivered", 0) or 0)
        acc = int(t.get("accepted", 0) or 0)
        if origin == "duplicate-burst":
            extra = int(gen.get("accepted", 0) or 0) + acc - int(gen.get("delivered", 0) or 0)
            acc = max(0, extra)
        out[origin] = (sent, acc)
    return out


def _wrap(metric: str) -> str:
    """A figure name that may break after its underscores."""
    return "_<wbr>".join(html.escape(p) for p in metric.split("_"))


def _common_prefix(names: Sequence[str]) -> str:
    """The shared ``"Series: "`` part of every scenario name, if any."""
    if len(names) < 2:
        return ""
    head = names[0].split(": ", 1)[0] + ": "
    return head if all(n.startswith(head) and len(n) > len(head) for n in names) else ""


def render_summary_html(res: SuiteResult) -> str:
    """The suite's one-page summary (self-contained HTML, opens offline)."""
    esc = html.escape
    metrics = sorted({c["metric"] for r in res.rows for c in r.checks})
    extra = [k for k in ("injected: stopped / sent",) if any(_attacks(r) for r in res.rows)]
    met, total = res.checks_met
    head = "".join(f"<th>{_wrap(m)}</th>" for m in metrics) + "".join(f"<th>{e}</th>" for e in extra)
    names = [r.name or r.stem for r in res.rows]
    prefix = _common_prefix(names)
    body = []
    for r in res.rows:
        label = esc((r.name or r.stem)[len(prefix) :] or r.stem)
        link = f'<a href="{esc(r.report)}">{label}</a>' if r.report else label
        if r.error is not None:
            verdict = '<td class="l err">ERROR</td>'
            cells = f'<td class="l err" colspan="{len(metrics) + len(extra)}">{esc(r.error)}</td>'
        else:
            verdict = f'<td class="l {"pass" if r.passed else "fail"}">{"PASS" if r.passed else "FAIL"}</td>'
            by = {c["metric"]: c for c in r.checks}
            cs = []
            for m in metrics:
                c = by.get(m)
                if c is None:
                    v = r.figures.get(m)
                    cs.append(f"<td>{_fmt(v)}</td>" if v is not None else "<td></td>")
                else:
                    cls = "pass" if c.get("passed") else "fail"
                    cs.append(
                        f'<td class="{cls}">{_fmt(_num(c.get("value")))}<br><small>{_bar(c)}</small></td>'
                    )
            if extra:
                parts = []
                for origin, (sent, accepted) in _attacks(r).items():
                    cls = "pass" if accepted == 0 else "fail"
                    parts.append(f'<span class="{cls}">{esc(origin)} {sent - accepted}/{sent}</span>')
                cs.append(f'<td class="l"><small>{"<br>".join(parts) or "-"}</small></td>')
            cells = "".join(cs)
        tags = esc(", ".join(r.tags))
        body.append(
            f'<tr><td class="l name">{link}<br><small>{esc(r.stem)}.yaml &middot; {tags}</small></td>'
            f"{verdict}{cells}<td>{r.wall_s:.1f}</td></tr>"
        )
    figs = "".join(
        f'<tr><td class="l">{esc(k)}</td><td>{v["n"]}</td><td>{_fmt(_num(v["mean"]))}</td>'
        f"<td>{_fmt(_num(v['min']))}</td><td>{_fmt(_num(v['max']))}</td></tr>"
        for k, v in res.figures.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drill suite: {esc(res.suite)}</title>
<style>{_CSS}</style></head><body>
<h1>Drill suite {esc(res.suite)}{(": " + esc(prefix.rstrip(": "))) if prefix else ""}</h1>
<p>{len(res.rows)} scenarios: <b>{res.passed} passed</b>, {res.failed} failed, {res.errors} errors;
{met} of {total} thresholds met. {res.jobs} worker(s), {res.wall_s:.0f} s.
Every alert of a drill has CAP status Exercise.</p>
<table><thead><tr><th class="l">scenario</th><th class="l">result</th>{head}<th>wall s</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
<h2>Suite figures</h2>
<table><thead><tr><th class="l">figure</th><th>scenarios</th><th>mean</th><th>min</th><th>max</th>
</tr></thead>
<tbody>{figs}</tbody></table>
</body></html>
"""


def format_suite(res: SuiteResult) -> str:
    """A plain-text table of a suite run (for the terminal)."""
    lines = []
    w = max([len(r.stem) for r in res.rows] + [8])
    for r in res.rows:
        if r.error is not None:
            lines.append(f"{r.stem:<{w}}  ERROR  {r.error}")
            continue
        fails = [c["metric"] for c in r.checks if not c.get("passed")]
        ok = sum(1 for c in r.checks if c.get("passed"))
        verdict = "PASS " if r.passed else "FAIL "
        tail = f"  failed: {', '.join(fails)}" if fails else ""
        lines.append(f"{r.stem:<{w}}  {verdict}  {ok}/{len(r.checks)} thresholds{tail}")
    met, total = res.checks_met
    lines.append(
        f"{res.passed}/{len(res.rows)} scenarios passed, {met}/{total} thresholds met "
        f"({res.wall_s:.0f} s, {res.jobs} worker(s)); summary: {Path(res.out) / 'summary.html'}"
    )
    return "\n".join(lines)


# --- comparing two runs ---------------------------------------------------------------------------------


def load_summary(run: Path) -> dict[str, Any]:
    """A suite run's ``summary.json`` (``run`` is the directory or the file)."""
    path = run / "summary.json" if run.is_dir() else run
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError("no summary.json: not a suite run", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise InputError("not a suite summary (no `rows`)", file=str(path), field="rows")
    for i, r in enumerate(data["rows"]):
        if not isinstance(r, dict) or not isinstance(r.get("stem"), str):
            raise InputError("a row without `stem`", file=str(path), field=f"rows[{i}].stem")
        if not isinstance(r.get("figures", {}), dict):
            raise InputError("`figures` is not a mapping", file=str(path), field=f"rows[{i}].figures")
    return data


@dataclass(frozen=True)
class CompareRow:
    """One figure of one scenario in two runs."""

    scenario: str
    figure: str
    a: float | None
    b: float | None
    delta: float | None
    verdict: str
    """``better``, ``worse``, ``same``, ``changed`` (no direction known),
    ``new`` or ``gone`` (measured in one run only)."""
    passed_a: bool | None = None
    passed_b: bool | None = None


@dataclass
class Comparison:
    """Per-figure deltas between run A and run B."""

    a: str
    b: str
    rows: list[CompareRow]
    only_a: list[str]
    only_b: list[str]
    verdicts: dict[str, tuple[str, str]]
    """Per scenario: (A's result, B's result), each PASS, FAIL or ERROR."""

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "rows": [asdict(r) for r in self.rows],
            "only_a": self.only_a,
            "only_b": self.only_b,
            "verdicts": {k: list(v) for k, v in self.verdicts.items()},
        }

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.rows if r.verdict == verdict)


def _direction(figure: str, checks: Iterable[Mapping[str, Any]]) -> int:
    """+1 when higher is better, -1 when lower is, 0 when unknown."""
    for c in checks:
        if c.get("metric") == figure:
            if c.get("max") is not None and c.get("min") is None:
                return -1
            if c.get("min") is not None and c.get("max") is None:
                return +1
    if figure in LOWER_IS_BETTER or figure.startswith("impact_error_"):
        return -1
    if figure in HIGHER_IS_BETTER:
        return +1
    return 0


def _verdict(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return "ERROR"
    return "PASS" if row.get("passed") else "FAIL"


def compare(run_a: Path, run_b: Path, *, rel_tol: float = 1e-3) -> Comparison:
    """Per-figure deltas ``b - a`` of every scenario present in both runs; a
    change within ``rel_tol`` (relative, default 0.1 %) is ``same``."""
    sa, sb = load_summary(run_a), load_summary(run_b)
    ra = {r["stem"]: r for r in sa["rows"]}
    rb = {r["stem"]: r for r in sb["rows"]}
    rows: list[CompareRow] = []
    verdicts: dict[str, tuple[str, str]] = {}
    for stem in sorted(set(ra) & set(rb)):
        a, b = ra[stem], rb[stem]
        verdicts[stem] = (_verdict(a), _verdict(b))
        fa = {k: _num(v) for k, v in (a.get("figures") or {}).items()}
        fb = {k: _num(v) for k, v in (b.get("figures") or {}).items()}
        ca = {c.get("metric"): c for c in a.get("checks") or [] if isinstance(c, dict)}
        cb = {c.get("metric"): c for c in b.get("checks") or [] if isinstance(c, dict)}
        checks = list(cb.values()) + list(ca.values())
        for fig in sorted(set(fa) | set(fb)):
            va, vb = fa.get(fig), fb.get(fig)
            pa = ca[fig].get("passed") if fig in ca else None
            pb = cb[fig].get("passed") if fig in cb else None
            if va is None and vb is None:
                continue
            if va is None or vb is None:
                rows.append(CompareRow(stem, fig, va, vb, None, "new" if va is None else "gone", pa, pb))
                continue
            d = vb - va
            if math.isclose(va, vb, rel_tol=rel_tol, abs_tol=1e-12):
                verdict = "same"
            else:
                sgn = _direction(fig, checks)
                verdict = "changed" if sgn == 0 else ("better" if d * sgn > 0 else "worse")
            rows.append(CompareRow(stem, fig, va, vb, d, verdict, pa, pb))
    return Comparison(
        a=str(run_a),
        b=str(run_b),
        rows=rows,
        only_a=sorted(set(ra) - set(rb)),
        only_b=sorted(set(rb) - set(ra)),
        verdicts=verdicts,
    )


def format_comparison(cmp: Comparison, *, all_rows: bool = False) -> str:
    """A plain-text table of the comparison; unchanged figures only with ``all_rows``."""
    lines = [f"A: {cmp.a}", f"B: {cmp.b}"]
    rows = [r for r in cmp.rows if all_rows or r.verdict != "same"]
    if rows:
        ws = max(len(r.scenario) for r in rows)
        wf = max(len(r.figure) for r in rows)
        lines.append(f"{'scenario':<{ws}}  {'figure':<{wf}}  {'A':>12}  {'B':>12}  {'B - A':>12}  verdict")
        for r in rows:
            d = "-" if r.delta is None else f"{r.delta:+,.4g}"
            a, b = _fmt(r.a), _fmt(r.b)
            lines.append(f"{r.scenario:<{ws}}  {r.figure:<{wf}}  {a:>12}  {b:>12}  {d:>12}  {r.verdict}")
    for stem, (va, vb) in cmp.verdicts.items():
        if va != vb:
            lines.append(f"{stem}: {va} -> {vb}")
    for stem in cmp.only_a:
        lines.append(f"{stem}: only in A")
    for stem in cmp.only_b:
        lines.append(f"{stem}: only in B")
    lines.append(
        f"{cmp.count('better')} better, {cmp.count('worse')} worse, {cmp.count('same')} same, "
        f"{cmp.count('changed')} changed, {cmp.count('new')} new, {cmp.count('gone')} gone"
    )
    return "\n".join(lines)
