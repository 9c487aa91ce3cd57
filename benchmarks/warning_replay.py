"""Replay drills' tracks through a fresh warning engine; score what it says; print JSON.

A drill's warning stage sees only the fusion stage's track messages, in the
order the drill wrote them to ``tracks.jsonl``, and the drill's clock ticks
(every ``--tick-s`` second on whole seconds: ``tocsin drill`` ticks once a
second from the scenario's start, whole seconds in every shipped scenario).
So the warning of a drill can be re-run without simulating or tracking
anything: feed ``tracks.jsonl`` to a fresh :class:`~tocsin.warning.WarningEngine`
with the same ticks (a track sent on a tick came out of that tick: it is pushed
before the engine's ``advance`` to it, as the drill's pipeline does), tick on
after the last track until every warning is closed (at most ``--tail-s``), and
score the alerts with the drill's own scorer
(:func:`tocsin.drill.warnscore.score_warnings` against the areas really at
risk, :func:`tocsin.drill.run.warning_figures`, the thresholds in the drill's
``summary.json``). About 1-15 CPU-s a drill (the 17 base drills ~2 CPU-min).

With the drill's own policy (the defaults) the replay gives the drill's
``alerts.jsonl`` byte for byte (``same_as_drill``; ids carry the drill's
instance, read from its first alert): that is the check that the replay is the
drill's warning, not an imitation of it. With other options (``--keep on``,
``--set lifecycle.cancel_hold_s=30``, ``--config policy.toml``) it shows what
that policy would have told each public in the same drills.

Per drill (JSON ``drills.<dir name>``): the 14 warning ``figures``; ``fails``
(the drill's warning thresholds this replay misses) and ``drill_fails`` (those
the drill itself missed); ``stories``: per "<public> <area>" what a resident
there reads, in order: ``[s after launch, message type, instruction, close]``
(a warning carries its instruction: ``shelter``, ``fall``, ``debris``,
``lost`` -- "tracking lost, stay sheltered"; a close its reason: ``passed``,
``fell``, ``lost``, ``expired``, ``manual``, and ``error`` for a Cancel, "it
was a mistake"; the other is null); ``at_risk``: the
areas really at risk (truth, the scorer's rule: within 5 km of a real
post-boost path); and ``oracle``: the resident oracle's flags —

``cancel_at_risk``
    an area really at risk told "it was a mistake" (a Cancel) before the last
    object whose real path puts it at risk has come down;
``alert_after_cancel``
    any area warned again (a new Alert) after it was told "it was a mistake"
    (whether at risk or not: ``at_risk`` says which);
``not_closed``
    an area whose last message is not a close (a story left open, or one
    that simply stopped naming it);
``first_not_shelter``
    a story whose first message is not an Alert. Every Alert tells what to
    do now: ``debris`` (land: "take shelter"; sea: "vessels, keep clear", the
    sea's instruction) and, since session 15, ``lost`` (an area first warned
    while tracking is lost hears "tracking lost, take shelter now", not the
    "stay sheltered" of an Update: tocsin.warning.texts; before, that Alert
    said "stay sheltered" to people never told to take shelter).

``--compare A.json B.json`` prints what differs between two replays (or a
replay and a drill's recording: ``--record`` scores the drills' own
``alerts.jsonl`` with the same oracle): per drill, figures, failing checks,
oracle flags only in A / only in B, and the stories that differ, side by side.

::

    # the 17 base drills, the drills' policy (check: same_as_drill true in all)
    .venv/bin/python benchmarks/warning_replay.py /work/team/notes/drills-a2f812f > off.json
    # keep_named on; any policy field: --set SECTION.FIELD=VALUE (VALUE in JSON)
    .venv/bin/python benchmarks/warning_replay.py DRILLS --keep on > on.json
    .venv/bin/python benchmarks/warning_replay.py DRILLS --set lifecycle.cancel_hold_s=40
    .venv/bin/python benchmarks/warning_replay.py --compare off.json on.json

A directory argument holding no ``tracks.jsonl`` is searched two levels down
(a suite's output: ``DIR/*/`` and ``DIR/fe/*/``). Only ``tracks.jsonl``,
``truth.jsonl``, ``alerts.jsonl`` and ``summary.json`` are read; the drill's
``journal.db`` is never opened (opening a SQLite journal writes beside it).
Exit status 0, or 1 when a replay with the drills' own policy is not the
drill's alerts byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tocsin.drill.run import _area_shapes, ground_tracks, warning_figures
from tocsin.drill.warnscore import (
    AreaShape,
    GroundTrack,
    areas_at_risk,
    distance_from_paths_km,
    score_warnings,
)
from tocsin.warning import WarningEngine
from tocsin.warning.policy import WarningConfig, load_config
from tocsin.wire import read_jsonl
from tocsin.wire.codec import encode_json
from tocsin.wire.messages import AlertBody, Envelope

#: the drill's clock (tocsin.drill.run.run_drill: tick_s) and how long it runs
#: on while a warning is open (run.TAIL_S, counted here from the last track)
TICK_S = 1.0
TAIL_S = 1800.0

#: the drill figures that score the warning (tocsin.drill.run.warning_figures)
WARNING_FIGURES = tuple(warning_figures(score_warnings([], {}, 0.0)).keys())

_INSTRUCTION = re.compile(r"<valueName>tocsin-instruction</valueName>\s*<value>([a-z]{1,16})</value>")


# ---------------------------------------------------------------- inputs


@dataclass
class Drill:
    """One drill output directory, as the replay needs it."""

    name: str
    path: Path
    tracks: list[Envelope]
    ground: list[GroundTrack]
    #: area -> event time (the scorer's areas_at_risk) and -> the last impact
    #: time of the objects whose real path puts it at risk
    at_risk: dict[str, float]
    risk_until: dict[str, float]
    launch_t: float
    #: metric -> (min, max) of the drill's thresholds (its summary.json)
    checks: dict[str, tuple[float | None, float | None]]
    drill_fails: list[str]
    recorded: list[Envelope]
    recorded_lines: list[bytes]
    #: the drill wrote alerts.jsonl (an empty one: no alert at all)
    has_record: bool = True


def _shapes() -> list[AreaShape]:
    return _area_shapes()[0]


def _envs(path: Path) -> list[Envelope]:
    if not path.is_file():
        return []
    envs, st = read_jsonl(path)
    if st.errors:
        raise SystemExit(f"{path}: {len(st.errors)} unreadable lines, the first: {st.errors[0]}")
    return envs


def load_drill(path: Path, shapes: Sequence[AreaShape], name: str | None = None) -> Drill:
    """Read a drill output directory (``tocsin drill ... --out DIR``)."""
    tracks = [e for e in _envs(path / "tracks.jsonl") if e.kind == "track"]
    truth = _envs(path / "truth.jsonl")
    gts = ground_tracks(truth)
    risk = areas_at_risk(gts, shapes)
    until: dict[str, float] = {}
    for gt in gts:
        if not gt.ballistic:
            continue
        down = gt.impact_t if gt.impact_t is not None else float(gt.t[-1])
        for code in areas_at_risk([gt], shapes):
            until[code] = max(until.get(code, -math.inf), down)
    launch = min((g.launch_t for g in gts if g.ballistic), default=None)
    if launch is None:
        launch = min((e.body.t for e in truth if hasattr(e.body, "t")), default=0.0)
    checks: dict[str, tuple[float | None, float | None]] = {}
    drill_fails: list[str] = []
    summary = path / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text(encoding="utf-8"))
        for c in s.get("checks", []):
            if c["metric"] in WARNING_FIGURES:
                checks[c["metric"]] = (c.get("min"), c.get("max"))
                if not c.get("passed", True):
                    drill_fails.append(c["metric"])
    apath = path / "alerts.jsonl"
    recorded = [e for e in _envs(apath) if e.kind == "alert"]
    lines = [ln for ln in apath.read_bytes().splitlines() if ln.strip()] if apath.is_file() else []
    return Drill(
        name=name or path.name,
        path=path,
        tracks=tracks,
        ground=gts,
        at_risk=risk,
        risk_until=until,
        launch_t=float(launch),
        checks=checks,
        drill_fails=sorted(drill_fails),
        recorded=recorded,
        recorded_lines=lines,
        has_record=apath.is_file(),
    )


def drill_dirs(args: Iterable[Path]) -> list[tuple[str, Path]]:
    """(name, directory) of every drill output among ``args`` (a directory
    without tracks.jsonl: its drills one and two levels down, named
    ``sub/drill``)."""
    out: list[tuple[str, Path]] = []
    for a in args:
        if (a / "tracks.jsonl").is_file():
            out.append((a.name, a))
            continue
        found = sorted(p.parent for p in a.glob("*/tracks.jsonl")) + sorted(
            p.parent for p in a.glob("*/*/tracks.jsonl")
        )
        if not found:
            raise SystemExit(f"{a}: no drill output (tracks.jsonl) here or one or two levels down")
        out.extend((str(p.relative_to(a)), p) for p in found)
    return out


def instance_of(recorded: Sequence[Envelope]) -> str:
    """The drill's alert-id instance (``<instance>.<partner>.<area>.<thread>.<n>``)."""
    for e in recorded:
        if isinstance(e.body, AlertBody):
            return e.body.id.split(".", 1)[0]
    return "replay"


# ---------------------------------------------------------------- the replay


def replay(
    tracks: Sequence[Envelope], engine: WarningEngine, tick_s: float = TICK_S, tail_s: float = TAIL_S
) -> list[Envelope]:
    """The alert messages ``engine`` sends when fed ``tracks`` as the drill fed
    its warning stage: each tick ``advance``d once every track sent at or
    before it has been pushed (the drill ticks fusion first, whose outputs the
    warning stage takes before its own advance), then on after the last track,
    a tick at a time, until no warning is open (at most ``tail_s``)."""
    out: list[Envelope] = []
    tick: float | None = None
    for env in tracks:
        if tick is None:
            tick = math.floor(env.sent / tick_s) * tick_s
        while tick + tick_s < env.sent:
            tick += tick_s
            out += engine.advance(tick)
        out += engine.push(env)
    if tick is None:
        return out
    end = tick + tail_s
    while tick < end:
        tick += tick_s
        out += engine.advance(tick)
        if not any(engine.active_areas().values()):
            break
    return [e for e in out if e.kind == "alert"]


def config_from(base: WarningConfig, sets: Sequence[str]) -> WarningConfig:
    """``base`` with ``SECTION.FIELD=VALUE`` overrides (VALUE: JSON -- true,
    40, [1, 2] -- else a string; checked by the policy's own types)."""
    data: dict[str, Any] = msgspec.to_builtins(base)
    for s in sets:
        key, eq, raw = s.partition("=")
        if not eq or not key:
            raise SystemExit(f"--set {s!r}: write SECTION.FIELD=VALUE, e.g. threat.keep_named=true")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                raise SystemExit(f"--set {s!r}: {p!r} is not a section of the warning policy")
            node = nxt
        if parts[-1] not in node:
            raise SystemExit(f"--set {s!r}: no field {parts[-1]!r} there (fields: {', '.join(sorted(node))})")
        try:
            node[parts[-1]] = json.loads(raw)
        except ValueError:
            node[parts[-1]] = raw  # a string
    try:
        return msgspec.convert(data, WarningConfig)
    except (msgspec.ValidationError, ValueError) as exc:
        raise SystemExit(f"--set: {exc}") from None


# ---------------------------------------------------------------- what residents read


def instruction(body: AlertBody) -> str | None:
    """The instruction an Alert/Update gives (its CAP ``tocsin-instruction``)."""
    m = _INSTRUCTION.search(body.cap)
    return m.group(1) if m else None


def stories(alerts: Sequence[Envelope], launch_t: float) -> dict[str, list[list[Any]]]:
    """Per "<public> <area>": ``[s after launch, type, instruction, close]``
    of every message naming it, in the order sent (``alerts``' order)."""
    per: dict[str, list[list[Any]]] = {}
    for e in alerts:
        b = e.body
        if not isinstance(b, AlertBody):
            continue
        close = ("error" if b.msg_type == "Cancel" else b.close) if b.closes else None
        told = None if b.closes else instruction(b)
        for code in [*b.areas, *b.closes]:
            per.setdefault(f"{e.partner} {code}", []).append(
                [round(b.t - launch_t, 1), b.msg_type, told, close]
            )
    return dict(sorted(per.items()))


def oracle(heard: Mapping[str, Sequence[Sequence[Any]]], drill: Drill) -> dict[str, list[dict[str, Any]]]:
    """The resident oracle (module doc) over the stories ``heard``."""
    flags: dict[str, list[dict[str, Any]]] = {
        "cancel_at_risk": [],
        "alert_after_cancel": [],
        "not_closed": [],
        "first_not_shelter": [],
    }
    for key, msgs in heard.items():
        code = key.split(" ", 1)[1]
        at_risk = code in drill.at_risk
        down = drill.risk_until.get(code)
        cancelled: float | None = None
        opened = True  # the next message starts a story
        for t, typ, told, close in msgs:
            if typ == "Cancel":
                if at_risk and down is not None and t < down - drill.launch_t:
                    flags["cancel_at_risk"].append(
                        {"area": key, "t": t, "down": round(down - drill.launch_t, 1)}
                    )
                cancelled = t
            elif typ == "Alert" and cancelled is not None:
                flags["alert_after_cancel"].append(
                    {"area": key, "cancel_t": cancelled, "t": t, "at_risk": at_risk}
                )
                cancelled = None
            if opened and typ != "Alert":
                flags["first_not_shelter"].append({"area": key, "t": t, "first": [typ, told, close]})
            opened = close is not None
        last_t, last_typ, last_told, last_close = msgs[-1]
        if last_close is None:
            flags["not_closed"].append({"area": key, "t": last_t, "last": [last_typ, last_told]})
    return flags


# ---------------------------------------------------------------- one drill


def score(alerts: Sequence[Envelope], drill: Drill, shapes: Sequence[AreaShape]) -> dict[str, Any]:
    """The drill's warning figures of ``alerts``, the thresholds they miss, the
    stories and the oracle's flags."""
    bodies = [e.body for e in alerts if isinstance(e.body, AlertBody)]
    w = score_warnings(
        bodies,
        drill.at_risk,
        drill.launch_t,
        [s.code for s in shapes if s.sea],
        path_km=lambda codes: distance_from_paths_km(drill.ground, shapes, codes),
        partners=[e.partner for e in alerts if isinstance(e.body, AlertBody)],
    )
    figs = warning_figures(w)
    fails = []
    for m, (lo, hi) in sorted(drill.checks.items()):
        v = figs.get(m)
        if v is None or (lo is not None and v < lo) or (hi is not None and v > hi):
            fails.append(m)
    told = stories(alerts, drill.launch_t)
    return {
        "figures": figs,
        "fails": fails,
        "drill_fails": drill.drill_fails,
        "time_to_correct_s": w.time_to_correct_s,
        "at_risk": sorted(drill.at_risk),
        "oracle": oracle(told, drill),
        "stories": told,
    }


def same_as_drill(alerts: Sequence[Envelope], drill: Drill) -> dict[str, Any]:
    """Byte for byte against the drill's alerts.jsonl: the first line that differs."""
    got = [encode_json(e) for e in alerts]
    want = drill.recorded_lines
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    if first is None and len(got) != len(want):
        first = min(len(got), len(want))
    res: dict[str, Any] = {"same": first is None, "replayed": len(got), "recorded": len(want)}
    if first is not None:
        res["first_difference"] = {
            "line": first + 1,
            "replayed": _short(alerts[first]) if first < len(alerts) else None,
            "recorded": _short(drill.recorded[first]) if first < len(drill.recorded) else None,
        }
    return res


def _short(e: Envelope) -> dict[str, Any]:
    b = e.body
    assert isinstance(b, AlertBody)
    return {
        "partner": e.partner,
        "t": b.t,
        "type": b.msg_type,
        "areas": b.areas,
        "closes": b.closes,
        "id": b.id,
    }


def run(
    dirs: Sequence[tuple[str, Path]],
    cfg: WarningConfig,
    *,
    record: bool = False,
    tick_s: float = TICK_S,
    tail_s: float = TAIL_S,
    say: Any = None,
) -> dict[str, Any]:
    """Replay (or, ``record``, only score the recorded alerts of) each drill."""
    shapes = _shapes()
    default = cfg == WarningConfig()
    out: dict[str, Any] = {}
    for name, path in dirs:
        drill = load_drill(path, shapes, name)
        c0 = time.process_time()
        if record:
            alerts = drill.recorded
            row: dict[str, Any] = {}
        else:
            eng = WarningEngine(cfg, instance=instance_of(drill.recorded))
            alerts = replay(drill.tracks, eng, tick_s, tail_s)
            row = {"same_as_drill": same_as_drill(alerts, drill) if default and drill.has_record else None}
        row.update(score(alerts, drill, shapes))
        row["cpu_s"] = round(time.process_time() - c0, 1)
        out[name] = row
        if say is not None:
            sd = row.get("same_as_drill")
            flags = {k: len(v) for k, v in row["oracle"].items() if v}
            say(f"{name}: fails {row['fails']} oracle {flags} same {sd and sd['same']} cpu {row['cpu_s']}")
    return out


# ---------------------------------------------------------------- compare


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """What differs between two outputs of this tool, per drill they share."""
    da, db = a["drills"], b["drills"]
    res: dict[str, Any] = {"only_in_a": sorted(set(da) - set(db)), "only_in_b": sorted(set(db) - set(da))}
    per: dict[str, Any] = {}
    for name in sorted(set(da) & set(db)):
        x, y = da[name], db[name]
        row: dict[str, Any] = {}
        figs = {
            m: [x["figures"].get(m), y["figures"].get(m)]
            for m in x["figures"]
            if x["figures"].get(m) != y["figures"].get(m)
        }
        if figs:
            row["figures"] = figs
        if x["fails"] != y["fails"]:
            row["fails"] = [x["fails"], y["fails"]]
        for kind in x["oracle"]:
            fa = {json.dumps(f, sort_keys=True) for f in x["oracle"][kind]}
            fb = {json.dumps(f, sort_keys=True) for f in y["oracle"].get(kind, [])}
            if fa != fb:
                row.setdefault("oracle", {})[kind] = {
                    "only_in_a": [json.loads(f) for f in sorted(fa - fb)],
                    "only_in_b": [json.loads(f) for f in sorted(fb - fa)],
                }
        sx, sy = x["stories"], y["stories"]
        moved = {
            k: {"a": sx.get(k), "b": sy.get(k)} for k in sorted(set(sx) | set(sy)) if sx.get(k) != sy.get(k)
        }
        if moved:
            row["stories"] = moved
        per[name] = row or "same"
    res["drills"] = per
    res["drills_that_differ"] = sorted(n for n, r in per.items() if r != "same")
    return res


# ---------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog=(__doc__ or "").split("\n", 1)[1].replace("::\n", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("drills", nargs="*", type=Path, help="drill output directories (or a suite's: searched)")
    ap.add_argument(
        "--keep", choices=["on", "off"], help="threat.keep_named (default: the policy's; on since session 15)"
    )
    ap.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="any policy field"
    )
    ap.add_argument("--config", type=Path, help="a warning policy file (TOML/YAML), before --keep/--set")
    ap.add_argument("--record", action="store_true", help="score the drills' own alerts.jsonl, no replay")
    ap.add_argument("--tick-s", type=float, default=TICK_S, help="the drill's tick (s, default 1)")
    ap.add_argument(
        "--tail-s", type=float, default=TAIL_S, help="tick on at most this long after the last track"
    )
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="two outputs of this tool")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    a = ap.parse_args(argv)
    if a.compare:
        x, y = (json.loads(p.read_text(encoding="utf-8")) for p in a.compare)
        print(json.dumps(compare(x, y), indent=1))
        return 0
    if not a.drills:
        ap.error("give drill output directories (or --compare A B)")
    cfg = load_config(a.config) if a.config else WarningConfig()
    sets = list(a.set) + ([f"threat.keep_named={'true' if a.keep == 'on' else 'false'}"] if a.keep else [])
    cfg = config_from(cfg, sets)
    say = None if a.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    res = run(drill_dirs(a.drills), cfg, record=a.record, tick_s=a.tick_s, tail_s=a.tail_s, say=say)
    doc = {
        "policy": {"config": str(a.config) if a.config else None, "set": sets},
        "record": a.record,
        "drills": res,
    }
    print(json.dumps(doc, default=msgspec.to_builtins))
    bad = [n for n, r in res.items() if r.get("same_as_drill") and not r["same_as_drill"]["same"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
