"""The CAP feed: an Atom 1.0 index (RFC 4287) of the *current* public warnings.

A CAP consumer (an alert aggregator, a broadcaster, a municipal system) polls
the feed to learn what is in force now and fetches each CAP document from its
link, as alert hubs publish CAP: one entry per **active warning thread** (a
(public, area) thread whose last message is an Alert or Update; a thread
closed by an all-clear Update or a Cancel leaves the index), titled with the
headline and area name in the public's own language, linking to the thread's
latest CAP document at a stable URL (``<base>/cap/<identifier>.xml``; the
document never changes once issued).

:class:`CurrentAlerts` keeps that state from the stream of alert envelopes
(``tocsin serve`` feeds it every alert; ``tocsin drill`` and ``tocsin warn``
build it from their alerts, :func:`cap_index`) and remembers issued documents
so a link stays valid after its thread moved on (a bounded number of closed
ones: ``keep`` documents, newest kept). Pure: no I/O, no clock. In a server it
is a :class:`tocsin.runtime.Keeper`: a restart rebuilds it from the latest
snapshot (the active threads, their documents and the last ``keep_in_snapshot``
closed ones) and the journal after it (alert outputs and the operators' issued
manual alerts), not from the whole journal.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree  # type: ignore[import-untyped]

from tocsin.wire import Envelope
from tocsin.wire.messages import AlertBody

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
_CAP_SCHEME = CAP_NS + ":"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Entry:
    """One active thread: its first message's id and its latest message."""

    thread: str
    partner: str
    latest: AlertBody
    first_t: float


def _is_close(b: AlertBody) -> bool:
    return b.msg_type == "Cancel" or bool(b.closes) or b.close is not None


def _title(b: AlertBody) -> tuple[str, str, str]:
    """(title, summary, language) from the CAP document's first ``info`` (the
    public's own language): "headline — area names"."""
    if b.cap:
        try:
            doc = etree.fromstring(
                b.cap.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
            )
            info = doc.find(f"{{{CAP_NS}}}info")
            if info is not None:
                head = (info.findtext(f"{{{CAP_NS}}}headline") or "").strip()
                desc = (info.findtext(f"{{{CAP_NS}}}description") or "").strip()
                lang = (info.findtext(f"{{{CAP_NS}}}language") or "").strip()
                names = [
                    (a.findtext(f"{{{CAP_NS}}}areaDesc") or "").strip()
                    for a in info.findall(f"{{{CAP_NS}}}area")
                ]
                area = "、".join(names) if lang.startswith("ja") else ", ".join(names)
                if head:
                    return (f"{head} — {area}" if area else head), desc, lang
        except etree.XMLSyntaxError:
            pass
    return f"{b.msg_type} ({b.status}): {', '.join(b.areas) or 'no area'}", "", ""


class CurrentAlerts:
    """The active warning threads and the CAP documents issued (module doc)."""

    def __init__(self, keep: int = 5000, keep_in_snapshot: int = 200) -> None:
        self.keep = keep
        self.keep_in_snapshot = keep_in_snapshot
        self._thread_of: dict[str, str] = {}
        self._ids: dict[str, list[str]] = {}
        self._active: dict[str, Entry] = {}
        self._docs: OrderedDict[str, str] = OrderedDict()
        self._updated = 0.0

    def add(self, env: Envelope) -> None:
        """Take one alert envelope (others are ignored)."""
        b = env.body
        if env.kind != "alert" or not isinstance(b, AlertBody):
            return
        self._updated = max(self._updated, b.t)
        root = next((self._thread_of[r] for r in b.references if r in self._thread_of), b.id)
        self._thread_of[b.id] = root
        self._ids.setdefault(root, []).append(b.id)
        if b.cap:
            self._docs[b.id] = b.cap
            self._docs.move_to_end(b.id)
            self._trim()
        if _is_close(b):
            self._active.pop(root, None)
            for i in self._ids.pop(root, []):
                self._thread_of.pop(i, None)
        else:
            prev = self._active.get(root)
            self._active[root] = Entry(root, env.partner, b, prev.first_t if prev else b.t)

    def _trim(self) -> None:
        live = {e.latest.id for e in self._active.values()}
        while len(self._docs) > self.keep:
            old = next(iter(self._docs))
            if old in live:  # never drop an active thread's document
                self._docs.move_to_end(old)
                if all(k in live for k in self._docs):
                    break
                continue
            del self._docs[old]

    # ------------------------------------------------------------ keeper

    def snapshot_state(self) -> Any:
        from tocsin.wire import encode_json

        live = {e.latest.id for e in self._active.values()}
        closed = [i for i in self._docs if i not in live][-self.keep_in_snapshot :]
        return {
            "active": [
                [e.thread, e.partner, e.first_t, encode_json(self._envelope(e))]
                for e in self._active.values()
            ],
            "ids": {k: list(v) for k, v in self._ids.items()},
            "docs": {i: self._docs[i] for i in [*closed, *(i for i in self._docs if i in live)]},
            "updated": self._updated,
        }

    def restore_state(self, state: Any) -> None:
        from tocsin.wire import decode_json

        self._active = {}
        for thread, partner, first_t, raw in state["active"]:
            env = decode_json(raw, checked=True)  # (its own snapshot)
            assert isinstance(env.body, AlertBody)
            self._active[thread] = Entry(thread, partner, env.body, first_t)
        self._ids = {k: list(v) for k, v in state["ids"].items()}
        self._thread_of = {i: root for root, ids in self._ids.items() for i in ids}
        self._docs = OrderedDict(state["docs"])
        self._updated = float(state["updated"])

    def replay_entry(self, entry: Any) -> None:
        """A journal entry after the snapshot: alert outputs, and manual alerts
        the operators issued (journalled as ``operator`` entries)."""
        from tocsin.wire import decode_json

        if entry.kind == "output" and b'"kind":"alert"' in entry.payload[:40]:
            self.add(decode_json(entry.payload, checked=True))
        elif entry.kind == "operator" and b'"event":"issued"' in entry.payload:
            import json

            try:
                self.add(decode_json(json.dumps(json.loads(entry.payload)["alert"]).encode(), checked=True))
            except Exception:  # a damaged entry must not stop recovery; verify names it
                return

    @staticmethod
    def _envelope(e: Entry) -> Envelope:
        from tocsin.wire import make

        return make("alert", e.latest, partner=e.partner, source="cap-feed", seq=1, sent=e.latest.t)

    def extend(self, envs: Iterable[Envelope]) -> CurrentAlerts:
        for e in envs:
            self.add(e)
        return self

    def entries(self) -> list[Entry]:
        """Active threads, newest message first (then by thread id)."""
        return sorted(self._active.values(), key=lambda e: (-e.latest.t, e.thread))

    def document(self, identifier: str) -> str | None:
        """The CAP document issued under ``identifier`` (None if unknown or dropped)."""
        return self._docs.get(identifier)

    @property
    def updated(self) -> float:
        return self._updated

    def atom(
        self,
        *,
        href: Callable[[str], str] = lambda i: f"cap/{i}.xml",
        feed_id: str = "urn:tocsin:cap-feed",
        title: str = "tocsin public warnings in force",
        self_href: str | None = None,
    ) -> bytes:
        """The Atom index (module doc); ``href`` maps an identifier to the URL of
        its CAP document."""
        parts: list[str] = []
        for e in self.entries():
            b = e.latest
            ttl, summary, lang = _title(b)
            lang_attr = f" xml:lang={quoteattr(lang)}" if lang else ""
            parts.append(
                "<entry>"
                f"<id>urn:tocsin:thread:{escape(e.thread)}</id>"
                f"<title{lang_attr}>{escape(ttl)}</title>"
                f"<published>{_iso(e.first_t)}</published>"
                f"<updated>{_iso(b.t)}</updated>"
                f'<link rel="alternate" type="application/cap+xml" href={quoteattr(href(b.id))}/>'
                f"<category term={quoteattr(b.msg_type)} scheme={quoteattr(_CAP_SCHEME + 'msgType')}/>"
                f"<category term={quoteattr(b.status)} scheme={quoteattr(_CAP_SCHEME + 'status')}/>"
                f'<category term={quoteattr(e.partner)} scheme="urn:tocsin:public"/>'
                + (f"<summary{lang_attr}>{escape(summary)}</summary>" if summary else "")
                + "</entry>"
            )
        self_link = f'<link rel="self" href={quoteattr(self_href)}/>' if self_href else ""
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>{escape(feed_id)}</id><title>{escape(title)}</title>"
            f"<updated>{_iso(self._updated)}</updated><author><name>tocsin</name></author>{self_link}"
            + "".join(parts)
            + "</feed>\n"
        )
        return doc.encode("utf-8")


def cap_index(
    alerts: Iterable[Envelope],
    *,
    href: Callable[[str], str] = lambda i: f"cap/{i}.xml",
    feed_id: str = "urn:tocsin:cap-feed",
    **kw: Any,
) -> bytes:
    """The Atom index of the threads ``alerts`` leave active (module doc)."""
    return CurrentAlerts().extend(alerts).atom(href=href, feed_id=feed_id, **kw)


__all__ = ["CurrentAlerts", "Entry", "cap_index"]
