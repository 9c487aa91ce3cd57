"""``tocsin track``: run the fusion tracker over a plots file, write track messages.

Order: the input is streamed in the order of its lines, which is taken as the
arrival order (``tocsin simulate`` writes plots in ``sent`` order, as a live
exchange would deliver them). Nothing is re-sorted by measurement time: a report
that arrives late is handed to the tracker late, and the tracker uses it if it is
at most ``--lag`` seconds older than the newest measurement it has seen
(re-filtering the affected tracks), or counts it as ``too_late``. ``--sort``
instead reads the whole file first and sorts it by ``sent`` (stable), for files
concatenated from several partners' recordings.

Bad lines never stop the run: each is counted by reason (the field path, or
``json``) and the first few are printed as ``file:line: field: message``;
``--strict`` makes the first bad line an error (exit status 2, nothing written).
The output is written atomically: a temporary file renamed into place at the end.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import typer

from tocsin.errors import InputError

if TYPE_CHECKING:
    from tocsin.fusion import Tracker
    from tocsin.wire import Envelope, ReadStats

#: bad lines printed in full; the rest are only counted
SHOW_BAD_LINES = 10


@dataclass
class TrackRun:
    """What one ``tocsin track`` run saw and wrote (for the summary)."""

    messages_in: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    tracks_out: int = 0
    track_ids: set[str] = field(default_factory=set)
    #: class of each track that was ever confirmed (latest class while confirmed/coasting)
    confirmed: dict[str, str] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    tracker_stats: Counter[str] = field(default_factory=Counter)
    #: the tracker's late-report lag, s
    lag_s: float = 10.0

    def confirmed_by_class(self) -> Counter[str]:
        return Counter(self.confirmed.values())


class _Progress:
    """Progress on stderr: a rich bar on a terminal, else a plain line every 10 %
    (every 10,000 messages when the total is not known, as on stdin).

    ``position(messages)`` says how far the run is, in the unit of ``total``
    (bytes of the input file, or messages when they were read and sorted first).
    """

    def __init__(self, total: int | None, position: Callable[[int], int], rich_bar: bool) -> None:
        self.total = None if total is None else max(total, 1)
        self.position = position
        self.start = time.monotonic()
        self.next_step = 10 if total is not None else 10_000
        self._bar: Any = None
        self._task: Any = None
        if rich_bar:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("tracking"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[msgs]} messages"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("tracking", total=self.total, msgs=0)

    def update(self, messages: int) -> None:
        pos = self.position(messages)
        if self._bar is not None:
            self._bar.update(self._task, completed=pos, msgs=messages)
            return
        took = time.monotonic() - self.start
        if self.total is None:
            if messages >= self.next_step:
                self.next_step = (messages // 10_000 + 1) * 10_000
                print(f"tocsin track: {messages} messages, {took:.1f} s", file=sys.stderr, flush=True)
            return
        pct = 100 * pos // self.total
        if pct >= self.next_step:
            self.next_step = (pct // 10 + 1) * 10
            print(f"tocsin track: {pct}% ({messages} messages, {took:.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _parse_confirm(text: str) -> tuple[int, int]:
    try:
        m_s, n_s = text.split("/")
        m, n = int(m_s), int(n_s)
    except ValueError:
        raise InputError(f"expected M/N such as 3/5, got {text!r}", field="--confirm") from None
    if not 1 <= m <= n:
        raise InputError(f"need 1 <= M <= N, got {text!r}", field="--confirm")
    return m, n


def _parse_beta(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        beta = float(text)
    except ValueError:
        raise InputError(f"expected a number of kg/m^2 or 'none', got {text!r}", field="--beta") from None
    if not beta > 0:
        raise InputError("the ballistic coefficient must be positive", field="--beta")
    return beta


def _check_positive(name: str, value: float | None, *, zero_ok: bool = False) -> None:
    if value is None:
        return
    ok = value >= 0 if zero_ok else value > 0
    if not ok or value != value or value == float("inf"):
        raise InputError(f"must be {'>= 0' if zero_ok else '> 0'} and finite, got {value:g}", field=name)


def _note_tracks(run: TrackRun, envs: list[Envelope]) -> None:
    from tocsin.wire import TrackBody

    for e in envs:
        body = e.body
        if not isinstance(body, TrackBody):
            continue
        run.tracks_out += 1
        run.track_ids.add(body.id)
        if body.status in ("confirmed", "coasting", "lost"):
            run.confirmed[body.id] = body.class_


def _report_bad_lines(stats: ReadStats) -> None:
    for err in stats.errors[:SHOW_BAD_LINES]:
        typer.echo(f"tocsin: warning: skipped {err}", err=True)
    more = len(stats.errors) - SHOW_BAD_LINES
    if more > 0:
        typer.echo(f"tocsin: warning: ... and {more} more bad lines", err=True)


def _counts(c: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))


def summary_lines(run: TrackRun, stats: ReadStats, out: Path) -> list[str]:
    """The human summary printed at the end of a run."""
    kinds = _counts(run.by_kind) or "none"
    lines = [f"in: {run.messages_in} messages ({kinds}) from {stats.lines} lines"]
    skipped = []
    if stats.errors:
        skipped.append(f"{len(stats.errors)} bad lines ({_counts(stats.by_reason)})")
    if stats.unknown_kinds:
        skipped.append(
            f"{sum(stats.unknown_kinds.values())} of unknown kind ({_counts(stats.unknown_kinds)})"
        )
    if skipped:
        lines.append("skipped: " + "; ".join(skipped))
    if run.rejected:
        lines.append(f"rejected by the tracker: {sum(run.rejected.values())} ({_counts(run.rejected)})")
    # late reports are never silent: used (re-filtered) or counted as too late
    lines.append(
        f"late reports: {run.tracker_stats.get('oosm_refiltered', 0)} re-filtered into their tracks, "
        f"{run.rejected.get('too_late', 0)} too late (more than {run.lag_s:g} s behind; see --lag), "
        f"{run.rejected.get('older_than_track', 0)} older than the track they belong to"
    )
    if run.tracker_stats:
        lines.append(f"tracker: {_counts(run.tracker_stats)}")
    by_class = run.confirmed_by_class()
    cls = f" ({_counts(by_class)})" if by_class else ""
    lines.append(
        f"out: {out}: {run.tracks_out} track messages, {len(run.track_ids)} tracks, "
        f"{len(run.confirmed)} confirmed{cls}"
    )
    return lines


def track_stream(
    messages: Iterator[Envelope],
    tracker: Tracker,
    write: Callable[[Envelope], None],
    run: TrackRun,
    tick: Callable[[int], None] | None = None,
    clock_s: float = 1.0,
) -> None:
    """Push every message to the tracker, write its track messages, flush at the end.

    Time passes as the messages' ``sent`` times say: every ``clock_s`` seconds of
    it the tracker is advanced (coasting, deletion, reports of tracks with no new
    plot) exactly as the live exchange ticks its stages (0: only at the end)."""
    from tocsin.wire import PlotBody

    last_t: float | None = None
    next_tick: float | None = None
    for env in messages:
        run.messages_in += 1
        run.by_kind[env.kind] += 1
        body = env.body
        if clock_s > 0 and math.isfinite(env.sent):
            if next_tick is None or env.sent - next_tick > 60 * clock_s:
                # first message, or a long silence: no tick storm over the gap
                next_tick = math.floor(env.sent / clock_s) * clock_s + (clock_s if next_tick is None else 0)
            while env.sent >= next_tick:
                ticked = tracker.advance(next_tick)
                if ticked:
                    _note_tracks(run, ticked)
                    for e in ticked:
                        write(e)
                next_tick += clock_s
        if isinstance(body, PlotBody) and (last_t is None or body.t > last_t):
            last_t = body.t
        res = tracker.push(env)
        if res:
            _note_tracks(run, res)
            for e in res:
                write(e)
        if tick is not None and run.messages_in % 256 == 0:
            tick(run.messages_in)
    res = list(tracker.flush())
    if last_t is not None:
        res.extend(tracker.advance(last_t))
    _note_tracks(run, res)
    for e in res:
        write(e)
    run.rejected.update(getattr(tracker, "rejected", None) or {})
    run.tracker_stats.update(getattr(tracker, "stats", None) or {})


def register(app: typer.Typer) -> None:
    @app.command(
        "track",
        epilog=(
            "Examples:\n\n"
            "    tocsin simulate scenarios/irbm-over-hokkaido.yaml -o plots.jsonl --truth truth.jsonl\n\n"
            "    tocsin track plots.jsonl -o tracks.jsonl\n\n"
            "    tocsin score tracks.jsonl --truth truth.jsonl\n\n"
            "    tocsin track plots.jsonl -o tracks.jsonl --lag 30 --confirm 2/3 --tentative\n\n"
            "    cat jp.jsonl kr.jsonl | tocsin track - -o tracks.jsonl --sort\n\n"
            "Input: sensor descriptors and plots (and partners' track messages) in the "
            "exchange format (docs/exchange-format.md), one per line; a plot is used "
            "only after its sensor's descriptor. Lines are taken in file order as the "
            "arrival order; reports up to --lag seconds late are re-filtered into their "
            "tracks, older ones are counted as too_late. Output: track messages "
            "(tentative only with --tentative), in the order the tracker emitted them."
        ),
    )
    def track_cmd(
        plots: str = typer.Argument(
            ...,
            help="Exchange-format JSON Lines: sensors, plots, partner tracks ('-' for stdin).",
            show_default=False,
        ),
        out: Path = typer.Option(
            ..., "-o", "--out", help="Track messages to write (JSON Lines, atomically).", show_default=False
        ),
        lag: float | None = typer.Option(
            None,
            "--lag",
            help="Oldest a late report may be, s behind the newest one, and still be used "
            "(re-filtered into its track; at most 30; tracker default 10). Older ones are "
            "counted as too late in the summary.",
            show_default=False,
        ),
        confirm: str | None = typer.Option(
            None,
            "--confirm",
            help="M/N: confirm a track after M hits in N scans (tracker default 3/5).",
            show_default=False,
        ),
        gate: float | None = typer.Option(
            None,
            "--gate",
            help="Gate probability of the chi-square test (tracker default 0.999).",
            show_default=False,
        ),
        report_interval: float | None = typer.Option(
            None,
            "--report-interval",
            help="Most one report per track per this many s, plus status changes (tracker default 1).",
            show_default=False,
        ),
        tentative: bool = typer.Option(False, "--tentative", help="Also write tentative tracks."),
        beta: str | None = typer.Option(
            None,
            "--beta",
            help="Ballistic coefficient assumed for ballistic tracks, kg/m^2, or 'none' for no drag "
            "(tracker default 5000).",
            show_default=False,
        ),
        delete_air: float | None = typer.Option(
            None,
            "--delete-air",
            help="Delete an air/unknown track after this many s without an update.",
            show_default=False,
        ),
        delete_ballistic: float | None = typer.Option(
            None,
            "--delete-ballistic",
            help="Delete a ballistic track after this many s without an update.",
            show_default=False,
        ),
        partner: str | None = typer.Option(
            None,
            "--partner",
            help="Partner code stamped on the track messages (tracker default JP).",
            show_default=False,
        ),
        source: str | None = typer.Option(
            None, "--source", help="Source name stamped on the track messages.", show_default=False
        ),
        sort: bool = typer.Option(
            False, "--sort", help="Read everything, then sort by `sent` before tracking."
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Stop at the first bad line (exit 2, nothing written)."
        ),
        progress: bool = typer.Option(
            False, "--progress", help="Show progress on stderr even when it is not a terminal."
        ),
        quiet: bool = typer.Option(
            False, "-q", "--quiet", help="No progress and no summary (warnings still shown)."
        ),
        clock: float = typer.Option(
            1.0,
            "--clock",
            min=0.0,
            help="Advance the tracker every S seconds of the messages' `sent` time, "
            "as a live node does (coast, delete, report); 0: only at the end.",
        ),
    ) -> None:
        """Track: turn partners' sensor plots into confirmed tracks with class,
        launch point and impact prediction (exchange-format track messages).

        Feeds every message to the fusion tracker (IMM extended Kalman filters,
        chi-square gating, global nearest neighbour, M-of-N confirmation) in
        arrival order and writes what it reports. Prints a summary: messages in,
        track messages and tracks out, confirmed tracks by class, and inputs
        skipped or rejected by reason. Bad lines are skipped and named by
        file:line:field; a missing file or bad option is one line, exit status 2."""
        import dataclasses

        from tocsin.fusion import Tracker, TrackerConfig
        from tocsin.fusion.config import MAX_OOSM_LAG_S
        from tocsin.wire import JsonlWriter, ReadStats, iter_jsonl

        overrides: dict[str, Any] = {}
        for name, value, zero_ok in (
            ("--lag", lag, True),
            ("--report-interval", report_interval, True),
            ("--delete-air", delete_air, False),
            ("--delete-ballistic", delete_ballistic, False),
        ):
            _check_positive(name, value, zero_ok=zero_ok)
        if lag is not None and lag > MAX_OOSM_LAG_S:
            raise InputError(f"must be at most {MAX_OOSM_LAG_S:g} s, got {lag:g}", field="--lag")
        if gate is not None and not 0.0 < gate < 1.0:
            raise InputError(f"must be between 0 and 1, got {gate:g}", field="--gate")
        pairs: tuple[tuple[str, object], ...] = (
            ("oosm_lag_s", lag),
            ("gate_prob", gate),
            ("report_interval_s", report_interval),
            ("delete_air_s", delete_air),
            ("delete_ballistic_s", delete_ballistic),
            ("partner", partner),
            ("source", source),
        )
        overrides.update({k: v for k, v in pairs if v is not None})
        if confirm is not None:
            overrides["confirm_m"], overrides["confirm_n"] = _parse_confirm(confirm)
        if beta is not None:
            overrides["beta"] = _parse_beta(beta)
        if tentative:
            overrides["report_tentative"] = True
        try:
            cfg = dataclasses.replace(TrackerConfig(), **overrides)
        except ValueError as exc:
            raise InputError(str(exc), field="options") from None

        from_stdin = plots == "-"
        label = "<stdin>" if from_stdin else plots
        if not from_stdin and not Path(plots).is_file():
            raise InputError("no such file", file=plots)
        try:
            fh: BinaryIO = sys.stdin.buffer if from_stdin else open(plots, "rb")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=plots) from None

        stats = ReadStats()
        run = TrackRun(lag_s=cfg.oosm_lag_s)
        show = not quiet and (progress or sys.stderr.isatty())
        bar: _Progress | None = None
        try:
            source_iter = iter_jsonl(fh, stats=stats, name=label)

            def checked() -> Iterator[Envelope]:
                seen = 0
                for env in source_iter:
                    if strict and len(stats.errors) > seen:
                        raise stats.errors[0]
                    seen = len(stats.errors)
                    yield env
                if strict and stats.errors:
                    raise stats.errors[0]

            messages: Iterator[Envelope] = checked()
            total: int | None = None

            def position(n: int) -> int:
                return fh.tell() if by_bytes else n

            by_bytes = not sort and not from_stdin
            if sort:
                ordered = sorted(messages, key=lambda e: e.sent)
                total, messages = len(ordered), iter(ordered)
            elif by_bytes:
                total = Path(plots).stat().st_size
            if show:
                bar = _Progress(total, position, rich_bar=sys.stderr.isatty())
            tracker = Tracker(cfg)
            try:
                with JsonlWriter(out) as w:
                    track_stream(messages, tracker, w.write, run, bar.update if bar else None, clock)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror}", file=str(exc.filename or out)) from None
        finally:
            if bar is not None:
                bar.close()
            if not from_stdin:
                fh.close()
        _report_bad_lines(stats)
        if not quiet:
            for line in summary_lines(run, stats, out):
                typer.echo(line)
