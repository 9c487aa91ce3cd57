"""Recorded runs for the dashboard's replay mode: a drill output directory or a
journal, read into one time-ordered list of messages (with partner link events
re-derived from the recorded arrival times)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tocsin.errors import InputError
from tocsin.journal.store import Journal
from tocsin.web.live import display_dict, message_time


@dataclass
class Recording:
    """A recorded run for the replay page: messages in time order."""

    source: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        ts = [message_time(m) for m in self.messages if m.get("kind") != "sensor"]
        doc = {
            "source": self.source,
            "t0": min(ts) if ts else None,
            "t1": max(ts) if ts else None,
            "counts": self.counts,
            "messages": self.messages,
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _jsonl_dicts(path: Path, keep: Callable[[bytes], bool] | None = None) -> Iterable[dict[str, Any]]:
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            s = line.strip()
            if not s or (keep is not None and not keep(s)):
                continue
            try:
                d = json.loads(s)
            except ValueError as exc:
                raise InputError(f"not JSON ({exc.args[0]})", file=str(path), line=n) from None
            if not isinstance(d, dict) or not isinstance(d.get("body"), dict):
                raise InputError("not an exchange-format message", file=str(path), line=n, field="body")
            yield d


def load_recording(path: str | Path) -> Recording:
    """A drill output directory (``plots.jsonl``, ``tracks.jsonl``,
    ``alerts.jsonl``; or only ``journal.db``) or a journal file.

    From a journal: the recorded outputs, the sensor descriptors among the
    inputs and the operator entries."""
    p = Path(path)
    if p.is_dir():
        tracks, alerts, plots = p / "tracks.jsonl", p / "alerts.jsonl", p / "plots.jsonl"
        if tracks.is_file() or alerts.is_file():
            msgs: list[dict[str, Any]] = []
            traffic: list[tuple[float, str, bool]] = []
            if plots.is_file():
                for d in _jsonl_dicts(plots):
                    if d.get("kind") == "sensor":
                        msgs.append(display_dict(d))
                    _note_traffic(traffic, d)
            if not any(hb for _, _, hb in traffic) and (p / "journal.db").is_file():
                traffic = _journal_traffic(p / "journal.db")  # heartbeats went to the exchange only
            msgs.extend(link_events(traffic))
            for f in (tracks, alerts):
                if f.is_file():
                    msgs.extend(display_dict(d) for d in _jsonl_dicts(f))
            return _finish(Recording(str(p)), msgs)
        if (p / "journal.db").is_file():
            p = p / "journal.db"
        else:
            raise InputError(
                "no tracks.jsonl, alerts.jsonl or journal.db here (a `tocsin drill --out` directory?)",
                file=str(p),
            )
    if not p.is_file():
        raise InputError("no such file or directory", file=str(p))
    msgs = []
    traffic = []
    with Journal(p, readonly=True) as j:
        for e in j.entries(kinds=("input", "output", "operator")):
            try:
                d = json.loads(e.payload)
            except ValueError:
                continue
            if not isinstance(d, dict):
                continue
            if e.kind == "operator":
                msgs.append({"kind": "operator", "body": {**d, "t": float(d.get("t", e.ts))}})
                continue
            if e.kind == "input":
                _note_traffic(traffic, d)
                if d.get("kind") != "sensor":
                    continue
            if isinstance(d.get("body"), dict):
                msgs.append(display_dict(d))
    msgs.extend(link_events(traffic))
    return _finish(Recording(str(p)), msgs)


def _journal_traffic(path: Path) -> list[tuple[float, str, bool]]:
    traffic: list[tuple[float, str, bool]] = []
    with Journal(path, readonly=True) as j:
        for e in j.entries(kinds=("input",)):
            try:
                d = json.loads(e.payload)
            except ValueError:
                continue
            if isinstance(d, dict):
                _note_traffic(traffic, d)
    return traffic


def _note_traffic(traffic: list[tuple[float, str, bool]], d: dict[str, Any]) -> None:
    sent, partner = d.get("sent"), d.get("partner")
    if isinstance(sent, int | float) and isinstance(partner, str):
        traffic.append((float(sent), partner, d.get("kind") == "heartbeat"))


def link_events(traffic: list[tuple[float, str, bool]], heartbeat_s: float = 5.0) -> list[dict[str, Any]]:
    """Partner link health through a recording, as ``link`` messages
    (``{"partner", "silent", "last_seen", "t"}``) at each change: the server's own
    :class:`~tocsin.exchange.links.LinkMonitor` run over the recorded arrival
    times (``sent``), checked every quarter heartbeat period. Only partners whose
    node sent heartbeats are judged (without them a quiet sky looks like a dead
    link)."""
    from tocsin.exchange.links import LinkMonitor

    judged = {p for _, p, hb in traffic if hb}
    mon = LinkMonitor(heartbeat_s)
    out: list[dict[str, Any]] = []

    def event(p: str, t: float) -> None:
        st = mon.links[p]
        out.append(
            {"kind": "link", "body": {"partner": p, "silent": st.silent, "last_seen": st.last_seen, "t": t}}
        )

    step = mon.check_every_s
    next_check: float | None = None
    for t, p, hb in sorted(x for x in traffic if x[1] in judged):
        while next_check is not None and next_check < t:
            for q in mon.check(next_check):
                event(q, next_check)
            next_check += step
        first = p not in mon.links
        back = mon.seen(p, t, heartbeat=hb)
        if first or back:
            event(p, t)
        if next_check is None:
            next_check = t + step
    return out


def _finish(rec: Recording, msgs: list[dict[str, Any]]) -> Recording:
    # sensors first (they describe the stage), then everything by time; stable
    msgs.sort(
        key=lambda m: (m.get("kind") != "sensor", message_time(m) if m.get("kind") != "sensor" else 0.0)
    )
    rec.messages = msgs
    counts: dict[str, int] = {}
    for m in msgs:
        k = str(m.get("kind"))
        counts[k] = counts.get(k, 0) + 1
    rec.counts = counts
    return rec


__all__ = ["Recording", "link_events", "load_recording"]
